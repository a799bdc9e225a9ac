//! Whether a DLT a person named is on the cluster, and if not, which DLTs are: a typo in
//! `rebound dlt list email.sned.dlt` must not read as "no dead letters".

use rdkafka::consumer::Consumer;
use rebound::naming::{classify, TopicRole};
use rebound::KafkaConfig;

use crate::error::Error;
use crate::reader::blocking::{assigning_consumer, partitions_with};
use crate::reader::unblock;

use super::TIMEOUT;

/// How many existing DLTs the error names; the rest are counted.
const NAMED: usize = 5;

/// Checks that `dlt` is a topic on the cluster. When it is not, the error
/// ([`Error::NoSuchDlt`]) names the dead-letter topics that are, the names closest to `dlt`
/// first. One metadata request when it exists, two when it does not.
pub async fn require_dlt(kafka: &KafkaConfig, dlt: &str) -> Result<(), Error> {
    let (kafka, dlt) = (kafka.clone(), dlt.to_string());
    unblock(move || require_dlt_blocking(&kafka, &dlt)).await
}

fn require_dlt_blocking(kafka: &KafkaConfig, dlt: &str) -> Result<(), Error> {
    let consumer = assigning_consumer(kafka)?;
    if partitions_with(&consumer, dlt)?.is_some() {
        return Ok(());
    }
    let metadata = consumer.fetch_metadata(None, TIMEOUT)?;
    let dlts = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name())
        .filter(|name| matches!(classify(name), Some((_, TopicRole::Dlt))));
    let (nearest, more) = nearest(dlts, dlt, NAMED);
    Err(Error::NoSuchDlt {
        topic: dlt.to_string(),
        nearest,
        more,
    })
}

/// The `keep` names closest to `typed` (fewest character edits, then by name), and how many
/// others there are.
fn nearest<'a>(
    names: impl Iterator<Item = &'a str>,
    typed: &str,
    keep: usize,
) -> (Vec<String>, usize) {
    let mut ranked: Vec<(usize, &str)> = names.map(|n| (edit_distance(n, typed), n)).collect();
    ranked.sort_unstable();
    let more = ranked.len().saturating_sub(keep);
    let kept = ranked.into_iter().take(keep).map(|(_, n)| n.to_string());
    (kept.collect(), more)
}

/// Levenshtein's distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_character_edits() {
        let cases = [
            ("", "", 0),
            ("email.send.dlt", "email.send.dlt", 0),
            ("email.send.dlt", "email.sned.dlt", 2),
            ("email.send.dlt", "email.send-dlt", 1),
            ("email.send.dlt", "email.send", 4),
            ("", "abc", 3),
            ("메일.dlt", "메일-dlt", 1),
        ];
        for (a, b, expected) in cases {
            assert_eq!(edit_distance(a, b), expected, "{a} / {b}");
            assert_eq!(edit_distance(b, a), expected, "{b} / {a}");
        }
    }

    #[test]
    fn the_closest_names_come_first_and_the_rest_are_counted() {
        let names = [
            "orders-dlt",
            "email.send-dlt",
            "email.send.dlt",
            "billing.DLT",
            "audit.dlt",
            "email.sent.dlt",
            "payments-dlt",
        ];
        let (named, more) = nearest(names.into_iter(), "email.sned.dlt", 3);
        assert_eq!(
            named,
            ["email.send.dlt", "email.send-dlt", "email.sent.dlt"]
        );
        assert_eq!(more, 4);
        assert_eq!(
            nearest(names[..2].iter().copied(), "x", 5),
            (
                vec!["orders-dlt".to_string(), "email.send-dlt".to_string()],
                0
            )
        );
        assert_eq!(nearest(std::iter::empty(), "x", 5), (Vec::new(), 0));
    }

    #[test]
    fn the_error_names_what_exists() {
        let error = |nearest: &[&str], more| Error::NoSuchDlt {
            topic: "email.sned.dlt".into(),
            nearest: nearest.iter().map(|n| n.to_string()).collect(),
            more,
        };
        assert_eq!(
            error(&["email.send.dlt", "orders-dlt"], 0).to_string(),
            "topic email.sned.dlt does not exist; the dead-letter topics on this cluster are \
             email.send.dlt, orders-dlt"
        );
        assert_eq!(
            error(&["email.send.dlt"], 212).to_string(),
            "topic email.sned.dlt does not exist; the dead-letter topics on this cluster are \
             email.send.dlt and 212 more"
        );
        assert_eq!(
            error(&[], 0).to_string(),
            "topic email.sned.dlt does not exist, and this cluster has no dead-letter topic"
        );
    }
}
