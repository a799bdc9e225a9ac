//! What a redrive does with one selected dead letter, decided before anything is written: skip it
//! (and why), or send it to which topic and partition. Pure, so every rule is a table row below.

use crate::dead_letter::Status;
use crate::id::Source;
use crate::listed::Listed;
use crate::skip::SkipReason;

use super::RedriveOptions;

/// A dead letter to send, and where.
#[derive(Debug)]
pub(crate) struct Plan {
    pub listed: Listed,
    pub topic: String,
    /// `None`: the key decides (the producer's partitioner).
    pub partition: Option<i32>,
}

/// The plan for `listed`, or why it is skipped. The rules, in order:
///
/// 1. A dead letter without its payload is never sent, even forced.
/// 2. Unless forced: one already redriven is skipped, one discarded is skipped when read from the
///    DLT (its archive copy is what gets redriven), and one redriven `poison_after` times or more
///    (its stamp plus the ledger's count) is a poison loop.
/// 3. The target is the run's `to`, else the original topic from its headers, else it is skipped.
/// 4. Going back to its original topic, it goes to its original partition (order with its
///    neighbours kept); elsewhere the key decides.
pub(crate) fn plan(listed: Listed, options: &RedriveOptions) -> Result<Plan, SkipReason> {
    let (topic, partition) = target(&listed, options)?;
    Ok(Plan {
        listed,
        topic,
        partition,
    })
}

/// Where [`plan`] sends `listed` (topic, partition), or why it skips it.
pub(crate) fn target(
    listed: &Listed,
    options: &RedriveOptions,
) -> Result<(String, Option<i32>), SkipReason> {
    // Never, even forced: the copy would be an empty record in place of the real one.
    if let Some(omitted) = &listed.dead_letter.payload_omitted {
        return Err(SkipReason::PayloadOmitted {
            why: omitted.clone(),
        });
    }
    if !options.force {
        match listed.status {
            Status::Redriven => return Err(SkipReason::AlreadyRedriven),
            Status::Discarded if options.source == Source::Dlt => {
                return Err(SkipReason::Discarded)
            }
            _ => {}
        }
        let times = listed.dead_letter.redrive_count + listed.history.redrives;
        if times >= options.poison_after {
            return Err(SkipReason::PoisonLoop { times });
        }
    }
    let origin = listed.dead_letter.origin.as_ref();
    let topic = options
        .to
        .clone()
        .or_else(|| origin.map(|o| o.topic.clone()))
        .ok_or(SkipReason::NoOriginalTopic)?;
    // Back to the same partition when going home; elsewhere the key decides.
    let partition = origin
        .filter(|o| options.to.is_none() || options.to.as_deref() == Some(o.topic.as_str()))
        .and_then(|o| o.partition);
    Ok((topic, partition))
}

#[cfg(test)]
mod tests {
    use rebound::headers::{self as h, Headers};
    use rebound::Record;

    use super::*;
    use crate::dead_letter::DeadLetter;
    use crate::ledger::History;

    /// A dead letter as the tests describe it.
    #[derive(Clone, Copy)]
    struct Dead {
        origin: Option<(&'static str, Option<i32>)>,
        /// Its own `rebound-redrive-count` stamp.
        stamped: u32,
        payload_omitted: bool,
        status: Status,
        /// Redrives the ledger counts.
        ledger_redrives: u32,
    }

    const PENDING: Dead = Dead {
        origin: Some(("email.send", Some(2))),
        stamped: 0,
        payload_omitted: false,
        status: Status::Pending,
        ledger_redrives: 0,
    };

    fn listed(dead: Dead, source: Source) -> Listed {
        let mut headers = Headers::new();
        if let Some((topic, partition)) = dead.origin {
            headers.push(h::ORIGINAL_TOPIC, topic.to_string());
            if let Some(p) = partition {
                headers.push(h::ORIGINAL_PARTITION, h::encode_i32(p));
            }
        }
        if dead.stamped > 0 {
            headers.push(h::REDRIVE_COUNT, dead.stamped.to_string());
        }
        if dead.payload_omitted {
            headers.push(h::PAYLOAD_OMITTED, "1048576 bytes over max.message.bytes");
        }
        let record = Record::new("email.send.dlt", 0, 7)
            .with_key("fail@naver.com")
            .with_headers(headers);
        let history = History {
            status: Some(dead.status).filter(|s| *s != Status::Pending),
            redrives: dead.ledger_redrives,
            last: None,
        };
        Listed::new(DeadLetter::from_record(record), source, history)
    }

    fn options(f: impl FnOnce(&mut RedriveOptions)) -> RedriveOptions {
        let mut options = RedriveOptions::new("tester");
        f(&mut options);
        options
    }

    type Expected = Result<(&'static str, Option<i32>), SkipReason>;

    #[test]
    fn which_dead_letters_go_where() {
        let home = Ok(("email.send", Some(2)));
        let omitted = || SkipReason::PayloadOmitted {
            why: "1048576 bytes over max.message.bytes".into(),
        };
        let cases: Vec<(&str, Dead, RedriveOptions, Expected)> = vec![
            ("pending goes home", PENDING, options(|_| {}), home.clone()),
            (
                "--to elsewhere: the key decides the partition",
                PENDING,
                options(|o| o.to = Some("email.replay".into())),
                Ok(("email.replay", None)),
            ),
            (
                "--to its own topic: still its partition",
                PENDING,
                options(|o| o.to = Some("email.send".into())),
                home.clone(),
            ),
            (
                "no original partition: the key decides",
                Dead {
                    origin: Some(("email.send", None)),
                    ..PENDING
                },
                options(|_| {}),
                Ok(("email.send", None)),
            ),
            (
                "no origin and no --to",
                Dead {
                    origin: None,
                    ..PENDING
                },
                options(|_| {}),
                Err(SkipReason::NoOriginalTopic),
            ),
            (
                "no origin, but --to",
                Dead {
                    origin: None,
                    ..PENDING
                },
                options(|o| o.to = Some("email.send".into())),
                Ok(("email.send", None)),
            ),
            (
                "already redriven",
                Dead {
                    status: Status::Redriven,
                    ledger_redrives: 1,
                    ..PENDING
                },
                options(|_| {}),
                Err(SkipReason::AlreadyRedriven),
            ),
            (
                "already redriven, forced",
                Dead {
                    status: Status::Redriven,
                    ledger_redrives: 1,
                    ..PENDING
                },
                options(|o| o.force = true),
                home.clone(),
            ),
            (
                "already redriven wins over the poison loop",
                Dead {
                    status: Status::Redriven,
                    ledger_redrives: 5,
                    ..PENDING
                },
                options(|_| {}),
                Err(SkipReason::AlreadyRedriven),
            ),
            (
                "discarded, from the DLT",
                Dead {
                    status: Status::Discarded,
                    ..PENDING
                },
                options(|_| {}),
                Err(SkipReason::Discarded),
            ),
            (
                "discarded, from the archive",
                Dead {
                    status: Status::Discarded,
                    ..PENDING
                },
                options(|o| o.source = Source::Archive),
                home.clone(),
            ),
            (
                "discarded, forced",
                Dead {
                    status: Status::Discarded,
                    ..PENDING
                },
                options(|o| o.force = true),
                home.clone(),
            ),
            (
                "poison loop: its stamp and the ledger add up",
                Dead {
                    stamped: 2,
                    ledger_redrives: 1,
                    ..PENDING
                },
                options(|_| {}),
                Err(SkipReason::PoisonLoop { times: 3 }),
            ),
            (
                "one short of the poison loop",
                Dead {
                    stamped: 2,
                    ..PENDING
                },
                options(|_| {}),
                home.clone(),
            ),
            (
                "a lower poison threshold",
                Dead {
                    stamped: 1,
                    ..PENDING
                },
                options(|o| o.poison_after = 1),
                Err(SkipReason::PoisonLoop { times: 1 }),
            ),
            (
                "poison loop, forced",
                Dead {
                    stamped: 7,
                    ..PENDING
                },
                options(|o| o.force = true),
                home.clone(),
            ),
            (
                "payload omitted",
                Dead {
                    payload_omitted: true,
                    ..PENDING
                },
                options(|_| {}),
                Err(omitted()),
            ),
            (
                "payload omitted, even forced, before any other rule",
                Dead {
                    payload_omitted: true,
                    origin: None,
                    status: Status::Redriven,
                    ..PENDING
                },
                options(|o| o.force = true),
                Err(omitted()),
            ),
        ];
        for (name, dead, options, expected) in cases {
            let got = plan(listed(dead, options.source), &options).map(|p| (p.topic, p.partition));
            let expected = expected.map(|(topic, partition)| (topic.to_string(), partition));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn the_plan_keeps_the_dead_letter_it_sends() {
        let plan = plan(listed(PENDING, Source::Archive), &options(|_| {})).unwrap();
        assert_eq!(plan.listed.id.to_string(), "archive:0@7");
    }
}
