//! What each side did: Spring's deliveries from its events, Rebound's from its log, and the two workers as the tests start them.

use super::*;

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Handled,
    Failed,
}

/// One delivery of a record to a handler (the DLT's handler included), by either side.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) by: &'static str,
    pub(crate) to: String,
    pub(crate) stage: usize,
    pub(crate) partition: i64,
    pub(crate) offset: i64,
    pub(crate) attempt: Option<u32>,
    pub(crate) at: i64,
    pub(crate) due: Option<i64>,
    pub(crate) payload: String,
    /// `None`: in hand when its process stopped.
    pub(crate) outcome: Option<Outcome>,
}

pub(crate) fn recipient(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v["to"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<not the scenario's message: {payload}>"))
}

pub(crate) fn stage_of(chain: &[String], topic: &str) -> usize {
    chain
        .iter()
        .position(|t| t == topic)
        .unwrap_or_else(|| panic!("{topic} is not a topic of the chain"))
}

/// The peer's deliveries, in the order it wrote them: `delivery` events of the listener (main
/// and retry topics) with the `handled` or `failed` that followed, and Spring's own DLT handler
/// (its `handled` events on the DLT). Also checks that Spring read each stage in its group.
pub(crate) fn spring_deliveries(events: &[Value], chain: &[String], group: &str) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    for e in events {
        let Some(topic) = e["topic"].as_str() else {
            continue;
        };
        let stage = stage_of(chain, topic);
        let (partition, offset) = (
            e["partition"].as_i64().unwrap(),
            e["offset"].as_i64().unwrap(),
        );
        let kind = e["event"].as_str().unwrap();
        if matches!(kind, "handled" | "failed") {
            assert_eq!(
                e["group"].as_str(),
                Some(stage_group(group, chain, stage).as_str()),
                "Spring's group for {topic}"
            );
        }
        let delivery = |outcome| {
            let payload = e["payload"].as_str().unwrap_or_default().to_string();
            Delivery {
                by: "Spring",
                to: recipient(&payload),
                stage,
                partition,
                offset,
                attempt: match stage {
                    DLT => None,
                    _ => Some(e["attempt"].as_u64().unwrap_or(1) as u32),
                },
                at: e["at"].as_i64().unwrap(),
                due: e["due"].as_i64().filter(|_| stage != DLT),
                payload,
                outcome,
            }
        };
        match (kind, stage) {
            ("delivery", _) => out.push(delivery(None)),
            ("handled", DLT) => out.push(delivery(Some(Outcome::Handled))),
            ("handled" | "failed", _) => {
                let outcome = match kind {
                    "handled" => Outcome::Handled,
                    _ => Outcome::Failed,
                };
                let open = out.iter_mut().find(|d| {
                    (d.stage, d.partition, d.offset) == (stage, partition, offset)
                        && d.outcome.is_none()
                });
                open.expect("an outcome follows its delivery").outcome = Some(outcome);
            }
            _ => {}
        }
    }
    out
}

/// The group Spring reads a stage in: `G`, `G-retry-1000`, …, `G.dlt`.
pub(crate) fn stage_group(group: &str, chain: &[String], stage: usize) -> String {
    match stage {
        0 => group.to_string(),
        _ => format!("{group}{}", &chain[stage][chain[0].len()..]),
    }
}

/// What Rebound's handlers saw, and how many failed deliveries' copies were acknowledged.
#[derive(Clone, Default)]
pub(crate) struct ReboundLog {
    pub(crate) deliveries: Arc<Mutex<Vec<Delivery>>>,
    pub(crate) failed: Arc<AtomicUsize>,
    pub(crate) copied: Arc<AtomicUsize>,
}

impl ReboundLog {
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Failed deliveries whose copy was not acknowledged: in hand at a stop.
    pub(crate) fn copies_pending(&self) -> usize {
        self.failed.load(Ordering::SeqCst) - self.copied.load(Ordering::SeqCst)
    }

    pub(crate) fn note(&self, record: &Record, chain: &[String], outcome: Outcome) {
        let payload = String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned();
        let stage = stage_of(chain, record.topic());
        self.deliveries.lock().unwrap().push(Delivery {
            by: "Rebound",
            to: recipient(&payload),
            stage,
            partition: record.partition().into(),
            offset: record.offset(),
            attempt: (stage != DLT).then(|| record.attempt()),
            at: rebound::EpochMillis::now().as_i64(),
            due: record
                .headers()
                .last(h::BACKOFF_TIMESTAMP)
                .and_then(|v| h::decode_big_integer(h::BACKOFF_TIMESTAMP, v).ok())
                .filter(|_| stage != DLT),
            payload,
            outcome: Some(outcome),
        });
    }
}

/// A Rebound worker of the chain in Spring's group per stage, with the DLT's handler (in
/// `G.dlt`, as Spring's own DLT container), Partition order, the rule above.
pub(crate) fn rebound_worker(main: &str, group: &str, log: &ReboundLog) -> RetryingConsumer {
    let chain = scenario_chain(main);
    let (events, handled, dead) = (log.clone(), log.clone(), log.clone());
    let (chain_in, chain_dead) = (chain.clone(), chain);
    RetryingConsumer::builder(kafka(), main, group)
        .policy(policy())
        .group_per_stage(true)
        .stages(Stages::ALL)
        .processing_order(ProcessingOrder::Partition)
        .on_event(move |event| match event {
            Event::Failed { .. } => {
                events.failed.fetch_add(1, Ordering::SeqCst);
            }
            Event::Forwarded { .. } | Event::DeadLettered { .. } => {
                events.copied.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        })
        .handler(move |record: Record| {
            let (log, chain) = (handled.clone(), chain_in.clone());
            async move {
                let verdict = rule(&recipient(record.text()?));
                let outcome = match verdict {
                    Ok(()) => Outcome::Handled,
                    Err(_) => Outcome::Failed,
                };
                log.note(&record, &chain, outcome);
                verdict
            }
        })
        .dlt_handler(move |record: Record| {
            let (log, chain) = (dead.clone(), chain_dead.clone());
            async move {
                log.note(&record, &chain, Outcome::Handled);
                Ok(())
            }
        })
        .build()
        .unwrap()
}

/// The peer on the chain in group `group`, failing `mails`' `fail-` and `cast-` recipients;
/// Spring's own DLT container in `G.dlt`, not the blog's DLT consumer (no stage of the chain).
pub(crate) fn start_spring(
    dir: &std::path::Path,
    name: &str,
    main: &str,
    group: &str,
    mails: &[Mail],
) -> Spring {
    let list = |kind| {
        mails
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.to.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (fail, cast) = (list(Kind::Fail), list(Kind::Cast));
    Spring::start(
        dir,
        name,
        &[
            ("interop.topic", main),
            ("interop.group", group),
            ("interop.fail-to", &fail),
            ("interop.class-cast-to", &cast),
            ("interop.run", "main,retry,dlt"),
            // A member killed with -9 leaves its partitions to the others after this long
            // (kafka-clients' default is 45 s); the broker's minimum.
            (
                "spring.kafka.consumer.properties.session.timeout.ms",
                "6000",
            ),
            (
                "spring.kafka.consumer.properties.heartbeat.interval.ms",
                "1000",
            ),
        ],
    )
}
