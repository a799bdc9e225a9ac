//! Counts that tell an operator what is going on in a DLT: by error (similar messages grouped
//! under one fingerprint), by original topic, by hour; and the age of the oldest pending one.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use rebound::EpochMillis;

use crate::dead_letter::Status;
use crate::Listed;

/// The counts of a selection of dead letters (its JSON is `rebound dlt stats --json`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    /// Dead letters counted.
    pub total: usize,
    /// Of which pending.
    pub pending: usize,
    /// Of which redriven.
    pub redriven: usize,
    /// Of which discarded.
    pub discarded: usize,
    /// `(fingerprint, count, one example message)`, most frequent first.
    pub by_error: Vec<(String, usize, String)>,
    /// Original topic (`(unknown)` without provenance headers) to count.
    pub by_topic: BTreeMap<String, usize>,
    /// Hour (`YYYY-MM-DDTHH`, UTC) to count.
    pub by_hour: BTreeMap<String, usize>,
    /// Age in ms of the oldest pending dead letter.
    pub oldest_pending_ms: Option<i64>,
}

/// Replaces the parts of a message that vary between occurrences of the same fault (addresses,
/// ids, numbers, quoted values) so that they group together.
pub fn fingerprint(message: &str) -> String {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "<email>"),
            (
                r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
                "<uuid>",
            ),
            (r"\b(0x)?[0-9a-fA-F]{12,}\b", "<hex>"),
            (r#""[^"]*"|'[^']*'"#, "<str>"),
            (r"\d+", "<n>"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("valid fingerprint regex"), with))
        .collect()
    });
    let first_line = message.lines().next().unwrap_or("");
    rules
        .iter()
        .fold(first_line.to_string(), |text, (re, with)| {
            re.replace_all(&text, *with).into_owned()
        })
}

/// The counts of `listed`; ages are measured at `now`.
pub fn stats(listed: &[Listed], now: EpochMillis) -> Stats {
    let mut stats = Stats {
        total: listed.len(),
        ..Stats::default()
    };
    let mut errors: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for l in listed {
        let dl = &l.dead_letter;
        match l.status {
            Status::Pending => {
                stats.pending += 1;
                if let Some(died) = dl.died_at() {
                    let age = now.as_i64() - died.as_i64();
                    stats.oldest_pending_ms =
                        Some(stats.oldest_pending_ms.map_or(age, |a| a.max(age)));
                }
            }
            Status::Redriven => stats.redriven += 1,
            Status::Discarded => stats.discarded += 1,
        }
        let message = dl.error_message();
        let slot = errors
            .entry(fingerprint(message))
            .or_insert((0, message.to_string()));
        slot.0 += 1;
        let topic = dl
            .origin
            .as_ref()
            .map_or("(unknown)".to_string(), |o| o.topic.clone());
        *stats.by_topic.entry(topic).or_default() += 1;
        if let Some(died) = dl.died_at() {
            *stats.by_hour.entry(hour(died)).or_default() += 1;
        }
    }
    stats.by_error = errors
        .into_iter()
        .map(|(f, (n, example))| (f, n, example))
        .collect();
    stats
        .by_error
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stats
}

/// `YYYY-MM-DDTHH` in UTC.
fn hour(at: EpochMillis) -> String {
    humantime::format_rfc3339_seconds(at.to_system_time()).to_string()[..13].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_messages_share_a_fingerprint() {
        let a = fingerprint("451 4.3.0 mailbox fail@naver.com busy, try again in 30 s");
        let b = fingerprint("451 4.3.0 mailbox other@example.org busy, try again in 5 s");
        assert_eq!(a, b);
        assert_eq!(
            a,
            "<n> <n>.<n>.<n> mailbox <email> busy, try again in <n> s"
        );
        assert_ne!(fingerprint("550 no such user"), a);
        assert_eq!(
            fingerprint("잘못된 이메일 주소로 인해 발송 실패"),
            "잘못된 이메일 주소로 인해 발송 실패"
        );
    }

    #[test]
    fn hours_are_utc() {
        assert_eq!(hour(EpochMillis::new(1_764_320_000_000)), "2025-11-28T08");
    }
}
