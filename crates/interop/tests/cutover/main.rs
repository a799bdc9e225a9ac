//! Test 5 of INTEROP.md (issue 24): a service cut over from Spring to Rebound and back, with
//! e-mails waiting at every stage of the scenario's chain (`-retry-1000` … `-retry-8000`, `.dlt`,
//! 5 attempts), and a mixed fleet that loses a member to `kill -9`.
//!
//! Both sides apply one rule to the recipient: `ok-…` is sent, `fail-…` fails with the blog's
//! Korean message every time (5 deliveries, then the DLT), `cast-…` fails with a
//! `ClassCastException` that Spring never retries (straight to the DLT). The peer has no rule
//! that fails an e-mail a few times and then lets it through, so every e-mail's walk is fixed in
//! advance, and the audit holds each e-mail to it: one delivery at every stage its walk has
//! (main, each retry topic, the DLT's handler), one copy in every topic it is sent to, on time,
//! with the attempt number of its stage and its payload (Korean included) byte for byte.
//!
//! E-mails go in in waves spaced on what the running side reports, so that at the cut one wave
//! waits in `-retry-4000` or `-retry-8000`, one in `-retry-4000`, one in `-retry-2000`, one in
//! `-retry-1000`, and one is sent after the cut (waiting in the main topic). Each test writes its
//! audit, one row per e-mail, to `target/interop/cutover-<test>-boot<3|4>.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use rebound::headers::{self as h, Headers};
use rebound::{
    Backoff, Event, Failure, ProcessingOrder, Record, RetryPolicy, RetryingConsumer, Stages,
};
use serde_json::Value;
use testkit::group::committed_offsets;
use testkit::{kafka, produce, read_all, unique, Cluster, RunningConsumer};

const KOREAN: &str = "잘못된 이메일 주소로 인해 발송 실패";
const PARTITIONS: i32 = 2;
/// The stages of the scenario's chain, in the order of [`scenario_chain`].
const STAGES: [&str; 6] = [
    "main",
    "retry-1000",
    "retry-2000",
    "retry-4000",
    "retry-8000",
    "dlt",
];
const DLT: usize = 5;

/// One test of this file at a time: each runs a JVM beside Rebound on 2 cores, and where the
/// e-mails wait at the cut depends on both sides getting the CPU they ask for.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the rule does with an e-mail, by its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Sent at once.
    Ok,
    /// Fails with the blog's message on every delivery: 5 deliveries, then the DLT.
    Fail,
    /// Fails with a `ClassCastException` (Spring's fatal exceptions; Rebound's permanent
    /// failure): straight to the DLT.
    Cast,
}

impl Kind {
    fn of(to: &str) -> Kind {
        match to.split('-').next() {
            Some("fail") => Kind::Fail,
            Some("cast") => Kind::Cast,
            _ => Kind::Ok,
        }
    }

    /// The stages its walk has; the last is where it ends.
    fn walk(self) -> &'static [usize] {
        match self {
            Kind::Ok => &[0],
            Kind::Fail => &[0, 1, 2, 3, 4, DLT],
            Kind::Cast => &[0, DLT],
        }
    }
}

/// The rule as Rebound's handler applies it (the peer's is `interop.fail-to` and
/// `interop.class-cast-to`).
fn rule(to: &str) -> Result<(), Failure> {
    match Kind::of(to) {
        Kind::Ok => Ok(()),
        Kind::Fail => Err(Failure::msg(KOREAN)),
        Kind::Cast => Err(Failure::permanent(
            "java.lang.ClassCastException: 발송 횟수는 숫자가 아님",
        )),
    }
}

/// One e-mail of a test.
#[derive(Debug, Clone)]
struct Mail {
    to: String,
    kind: Kind,
    wave: usize,
    /// The scenario's message as sent (its Korean subject and body included).
    payload: String,
}

/// Wave `wave`: `ok` e-mails sent at once, `fail` failing ones, `cast` fatal ones.
fn wave(test: &str, wave: usize, ok: usize, fail: usize, cast: usize) -> Vec<Mail> {
    let mut mails = Vec::new();
    for (kind, name, n) in [
        (Kind::Ok, "ok", ok),
        (Kind::Fail, "fail", fail),
        (Kind::Cast, "cast", cast),
    ] {
        for i in 0..n {
            let to = format!("{name}-{test}-w{wave}-{i}@naver.com");
            mails.push(Mail {
                payload: email(&to).to_string(),
                to,
                kind,
                wave,
            });
        }
    }
    mails
}

/// Waves 1-4 go in before the cut, wave 5 after it.
fn waves(test: &str) -> Vec<Mail> {
    [
        wave(test, 1, 2, 2, 1),
        wave(test, 2, 1, 2, 0),
        wave(test, 3, 1, 2, 0),
        wave(test, 4, 1, 2, 1),
        wave(test, 5, 2, 2, 1),
    ]
    .concat()
}

fn in_wave(mails: &[Mail], n: usize) -> Vec<Mail> {
    mails.iter().filter(|m| m.wave == n).cloned().collect()
}

/// Sends `mails` to the main topic, keyed by recipient (the peer's producer with
/// `interop.key=to`; the same bytes as its `KafkaTemplate<String, String>`).
async fn send(producer: &FutureProducer, main: &str, mails: &[Mail]) {
    for mail in mails {
        produce(
            producer,
            main,
            None,
            Some(&mail.to),
            mail.payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
}

/// The scenario's policy on Rebound's side.
fn policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt")
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Handled,
    Failed,
}

/// One delivery of a record to a handler (the DLT's handler included), by either side.
#[derive(Debug, Clone)]
struct Delivery {
    by: &'static str,
    to: String,
    stage: usize,
    partition: i64,
    offset: i64,
    attempt: Option<u32>,
    at: i64,
    due: Option<i64>,
    payload: String,
    /// `None`: in hand when its process stopped.
    outcome: Option<Outcome>,
}

fn recipient(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v["to"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<not the scenario's message: {payload}>"))
}

fn stage_of(chain: &[String], topic: &str) -> usize {
    chain
        .iter()
        .position(|t| t == topic)
        .unwrap_or_else(|| panic!("{topic} is not a topic of the chain"))
}

/// The peer's deliveries, in the order it wrote them: `delivery` events of the listener (main
/// and retry topics) with the `handled` or `failed` that followed, and Spring's own DLT handler
/// (its `handled` events on the DLT). Also checks that Spring read each stage in its group.
fn spring_deliveries(events: &[Value], chain: &[String], group: &str) -> Vec<Delivery> {
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
fn stage_group(group: &str, chain: &[String], stage: usize) -> String {
    match stage {
        0 => group.to_string(),
        _ => format!("{group}{}", &chain[stage][chain[0].len()..]),
    }
}

/// What Rebound's handlers saw, and how many failed deliveries' copies were acknowledged.
#[derive(Clone, Default)]
struct ReboundLog {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    failed: Arc<AtomicUsize>,
    copied: Arc<AtomicUsize>,
}

impl ReboundLog {
    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Failed deliveries whose copy was not acknowledged: in hand at a stop.
    fn copies_pending(&self) -> usize {
        self.failed.load(Ordering::SeqCst) - self.copied.load(Ordering::SeqCst)
    }

    fn note(&self, record: &Record, chain: &[String], outcome: Outcome) {
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
fn rebound_worker(main: &str, group: &str, log: &ReboundLog) -> RetryingConsumer {
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
fn start_spring(
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

/// Waits until `condition` holds on what `observe` returns; panics with it otherwise.
async fn wait_deliveries(
    what: &str,
    observe: &mut dyn FnMut() -> Vec<Delivery>,
    condition: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let deliveries = observe();
        if condition(&deliveries) {
            return deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 60 s; deliveries:\n{}",
            listing(&deliveries)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn listing(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| {
            format!(
                "{} {} {}-{}@{} attempt {:?} at {} due {:?} {:?}\n",
                d.by,
                d.to,
                STAGES[d.stage],
                d.partition,
                d.offset,
                d.attempt,
                d.at,
                d.due,
                d.outcome
            )
        })
        .collect()
}

/// Every `fail-` e-mail of `mails` failed at `stage`.
fn failed_at(deliveries: &[Delivery], mails: &[Mail], stage: usize) -> bool {
    mails.iter().filter(|m| m.kind == Kind::Fail).all(|m| {
        deliveries
            .iter()
            .any(|d| d.to == m.to && d.stage == stage && d.outcome == Some(Outcome::Failed))
    })
}

/// Every e-mail of `mails` was handled on the main topic, one way or the other.
fn left_main(deliveries: &[Delivery], mails: &[Mail]) -> bool {
    mails.iter().all(|m| {
        deliveries
            .iter()
            .any(|d| d.to == m.to && d.stage == 0 && d.outcome.is_some())
    })
}

/// Sends waves 1-4, each when the one before has gone far enough that, at the cut (when wave
/// 4 has left the main topic), wave 1 waits in `-retry-4000` (or just went on to `-retry-8000`),
/// wave 2 in `-retry-4000`, wave 3 in `-retry-2000` and wave 4 in `-retry-1000`.
async fn send_waves_before_cut(
    producer: &FutureProducer,
    main: &str,
    mails: &[Mail],
    observe: &mut dyn FnMut() -> Vec<Delivery>,
) {
    let wave = |n| in_wave(mails, n);
    send(producer, main, &wave(1)).await;
    let w1 = wave(1);
    wait_deliveries("wave 1 failed in -retry-2000", observe, |d| {
        failed_at(d, &w1, 2)
    })
    .await;
    send(producer, main, &wave(2)).await;
    let w2 = wave(2);
    wait_deliveries("wave 2 failed in -retry-2000", observe, |d| {
        failed_at(d, &w2, 2)
    })
    .await;
    send(producer, main, &wave(3)).await;
    let w3 = wave(3);
    wait_deliveries("wave 3 failed in -retry-1000", observe, |d| {
        failed_at(d, &w3, 1)
    })
    .await;
    send(producer, main, &wave(4)).await;
    let w4 = wave(4);
    wait_deliveries("wave 4 left the main topic", observe, |d| left_main(d, &w4)).await;
}

/// Where each e-mail of `mails` waits after `deliveries`: the next stage of its walk, or
/// `done` once its last stage handled it. Counted per stage, in the chain's order.
fn waiting(deliveries: &[Delivery], mails: &[Mail]) -> Vec<(&'static str, usize)> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for mail in mails {
        let done = deliveries
            .iter()
            .filter(|d| d.to == mail.to && d.outcome.is_some())
            .map(|d| d.stage)
            .max();
        let next = match done {
            None => 0,
            Some(stage) => mail
                .kind
                .walk()
                .iter()
                .copied()
                .find(|s| *s > stage)
                .unwrap_or(STAGES.len()),
        };
        *counts.entry(next).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(stage, n)| (STAGES.get(stage).copied().unwrap_or("done"), n))
        .collect()
}

fn waiting_in(at_cut: &[(&str, usize)], stage: &str) -> usize {
    at_cut
        .iter()
        .find(|(s, _)| *s == stage)
        .map_or(0, |(_, n)| *n)
}

/// Whether the e-mail's walk ended: sent, or its dead letter handled.
fn finished(deliveries: &[Delivery], mail: &Mail) -> bool {
    let last = *mail.kind.walk().last().unwrap();
    deliveries
        .iter()
        .any(|d| d.to == mail.to && d.stage == last && d.outcome == Some(Outcome::Handled))
}

/// The stages whose group has not committed every record of its topic, as
/// `<group> <topic>-<partition>: <committed> of <records>`.
fn behind(chain: &[String], group: &str) -> Vec<String> {
    let reader: BaseConsumer = kafka().client_config(&[]).create().unwrap();
    let mut behind = Vec::new();
    for (stage, topic) in chain.iter().enumerate() {
        let stage_group = stage_group(group, chain, stage);
        let committed = committed_offsets(&stage_group, &[topic], PARTITIONS);
        for p in 0..PARTITIONS {
            let (_, high) = reader
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            let at = committed.get(&(topic.clone(), p)).map(|c| c.0);
            if high > 0 && at != Some(high) {
                behind.push(format!("{stage_group} {topic}-{p}: {at:?} of {high}"));
            }
        }
    }
    behind
}

/// Waits until every e-mail's walk ended and every stage's group committed every record of its
/// topic (nothing more is on its way). Once every walk ended, the groups get 15 s more; then
/// the deliveries are returned with the groups still behind, for the test to audit first (the
/// audit says best what went wrong) and fail on after.
async fn wait_finished(
    chain: &[String],
    group: &str,
    mails: &[Mail],
    observe: &mut dyn FnMut() -> Vec<Delivery>,
) -> (Vec<Delivery>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut ended: Option<Instant> = None;
    loop {
        let deliveries = observe();
        let open: Vec<&str> = mails
            .iter()
            .filter(|m| !finished(&deliveries, m))
            .map(|m| m.to.as_str())
            .collect();
        if open.is_empty() {
            let ended = *ended.get_or_insert_with(Instant::now);
            let behind = behind(chain, group);
            if behind.is_empty() || ended.elapsed() > Duration::from_secs(15) {
                return (deliveries, behind);
            }
        }
        assert!(
            Instant::now() < deadline,
            "within 90 s, these e-mails did not finish their walk: {open:?}\ndeliveries:\n{}",
            listing(&deliveries)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM, as a service manager stops the service; waits until the JVM is gone by itself.
fn terminate(spring: &mut Spring) {
    spring.process.terminate();
    let deadline = Instant::now() + Duration::from_secs(30);
    while spring.process.alive() {
        assert!(
            Instant::now() < deadline,
            "Spring still running 30 s after SIGTERM:\n{}",
            tail(&spring.process.log_text(), 60)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The audit of one test: each e-mail against its walk.
#[derive(Debug, Default)]
struct Audit {
    sent: usize,
    /// E-mails whose walk ended: sent, or dead-lettered and their dead letter handled.
    delivered: usize,
    /// Deliveries beyond one per e-mail and stage.
    duplicates: usize,
    /// Records beyond one per e-mail in a retry topic or the DLT.
    extra_copies: usize,
    /// E-mails whose walk did not end.
    lost: Vec<String>,
    /// E-mails the side that took over handled again at a stage the other side had finished.
    rehandled: Vec<String>,
    /// Anything else off the walk: a stage skipped or not of the walk, a wrong attempt number,
    /// a delivery before its due time, a payload not as sent, a wrong outcome.
    problems: Vec<String>,
    by_spring: usize,
    by_rebound: usize,
    /// The audit's rows, one per e-mail (markdown).
    table: String,
}

impl Audit {
    fn summary(&self) -> String {
        format!(
            "sent {}, delivered {}, duplicates {}, lost {}, extra copies {}, re-handled from an \
             earlier stage {} (deliveries: Spring {}, Rebound {})",
            self.sent,
            self.delivered,
            self.duplicates,
            self.lost.len(),
            self.extra_copies,
            self.rehandled.len(),
            self.by_spring,
            self.by_rebound
        )
    }
}

fn problem(audit: &mut Audit, mail: &Mail, what: String) {
    audit.problems.push(format!("{}: {what}", mail.to));
}

/// Holds every e-mail of `mails` to its walk. `taken_over_by`: the side that took over at the
/// cut, whose deliveries must all be at stages the other side had not finished.
fn audit(
    mails: &[Mail],
    deliveries: &[Delivery],
    chain: &[String],
    taken_over_by: Option<&str>,
) -> Audit {
    let copies: Vec<Vec<Record>> = chain[1..].iter().map(|t| read_all(t)).collect();
    let mut audit = Audit {
        sent: mails.len(),
        by_spring: deliveries.iter().filter(|d| d.by == "Spring").count(),
        by_rebound: deliveries.iter().filter(|d| d.by == "Rebound").count(),
        ..Audit::default()
    };
    audit.table = format!(
        "| e-mail | walk | {} | copies | verdict |\n|---|---|{}---|---|\n",
        STAGES.join(" | "),
        "---|".repeat(STAGES.len())
    );
    for d in deliveries {
        if !mails.iter().any(|m| m.to == d.to) {
            audit
                .problems
                .push(format!("a delivery of no e-mail sent: {d:?}"));
        }
    }
    for mail in mails {
        let walk = mail.kind.walk();
        let mine: Vec<&Delivery> = deliveries.iter().filter(|d| d.to == mail.to).collect();
        let mut cells = Vec::new();
        for (stage, name) in STAGES.iter().enumerate() {
            let here: Vec<&&Delivery> = mine.iter().filter(|d| d.stage == stage).collect();
            cells.push(
                here.iter()
                    .map(|d| match d.by {
                        "Spring" => "S",
                        _ => "R",
                    })
                    .collect::<Vec<_>>()
                    .join("+"),
            );
            audit.duplicates += here.len().saturating_sub(1);
            if !walk.contains(&stage) && !here.is_empty() {
                problem(
                    &mut audit,
                    mail,
                    format!("delivered at {name}, not of its walk"),
                );
            }
            for d in &here {
                if stage != DLT && d.attempt != Some(stage as u32 + 1) {
                    problem(
                        &mut audit,
                        mail,
                        format!("attempt {:?} at {name}", d.attempt),
                    );
                }
                if let Some(due) = d.due {
                    if d.at < due {
                        problem(
                            &mut audit,
                            mail,
                            format!("{} handled it at {name} {} ms early", d.by, due - d.at),
                        );
                    }
                }
                if d.payload != mail.payload {
                    problem(
                        &mut audit,
                        mail,
                        format!("payload at {name}: {}", d.payload),
                    );
                }
                let expected = match stage == *walk.last().unwrap() {
                    true => Outcome::Handled,
                    false => Outcome::Failed,
                };
                if d.outcome.is_some_and(|o| o != expected) {
                    problem(&mut audit, mail, format!("{:?} at {name}", d.outcome));
                }
            }
        }
        // The copies: one in every topic the walk sends it to, the payload as sent, the blog's
        // message in a failing e-mail's dead letter.
        let mut copy_cells = Vec::new();
        for (i, records) in copies.iter().enumerate() {
            let stage = i + 1;
            let mine: Vec<&Record> = records
                .iter()
                .filter(|r| r.key_text().as_deref() == Some(mail.to.as_str()))
                .collect();
            let expected = usize::from(walk.contains(&stage));
            audit.extra_copies += mine.len().saturating_sub(expected);
            copy_cells.push(mine.len().to_string());
            for record in &mine {
                if testkit::text(record) != mail.payload {
                    problem(&mut audit, mail, format!("copy in {}", STAGES[stage]));
                }
            }
            if expected == 1 && mine.is_empty() && finished(deliveries, mail) {
                problem(&mut audit, mail, format!("no copy in {}", STAGES[stage]));
            }
            if stage == DLT && mail.kind == Kind::Fail {
                for record in &mine {
                    let message = record.headers().text(h::EXCEPTION_MESSAGE);
                    if !message.as_deref().is_some_and(|m| m.contains(KOREAN)) {
                        problem(
                            &mut audit,
                            mail,
                            format!("dead letter's message {message:?}"),
                        );
                    }
                }
            }
        }
        // A stage of the walk skipped on the way to a later one.
        let reached = mine.iter().map(|d| d.stage).max();
        for stage in walk {
            if reached.is_some_and(|r| r > *stage) && !mine.iter().any(|d| d.stage == *stage) {
                problem(
                    &mut audit,
                    mail,
                    format!("stage {} skipped", STAGES[*stage]),
                );
            }
        }
        // The side that took over starts where the other one left the e-mail.
        let mut verdict = "ok".to_string();
        if let Some(new) = taken_over_by {
            let old_done = mine
                .iter()
                .filter(|d| d.by != new && d.outcome.is_some())
                .map(|d| d.stage)
                .max();
            let new_first = mine.iter().filter(|d| d.by == new).map(|d| d.stage).min();
            if let (Some(old), Some(first)) = (old_done, new_first) {
                if first <= old {
                    audit.rehandled.push(mail.to.clone());
                    verdict = format!("re-handled from {}", STAGES[first]);
                }
            }
        }
        if finished(deliveries, mail) {
            audit.delivered += 1;
        } else {
            audit.lost.push(mail.to.clone());
            verdict = "lost".into();
        }
        let _ = writeln!(
            audit.table,
            "| {} | {:?} | {} | {} | {verdict} |",
            mail.to,
            mail.kind,
            cells.join(" | "),
            copy_cells.join("/")
        );
    }
    audit
}

/// Writes the audit to `target/interop/cutover-<test>-boot<3|4>.md` and prints its summary.
fn report(test: &str, notes: &str, audit: &Audit) {
    let boot = std::env::var("REBOUND_SPRING_BOOT").unwrap_or_else(|_| "3".into());
    let out = repo_root().join("target/interop");
    std::fs::create_dir_all(&out).unwrap();
    let text = format!(
        "# {test} (Spring Boot {boot})\n\n{notes}\n\n{}\n\nS: Spring, R: Rebound; copies: records \
         in -retry-1000/…/-retry-8000/.dlt.\n\n{}",
        audit.summary(),
        audit.table
    );
    std::fs::write(out.join(format!("cutover-{test}-boot{boot}.md")), text).unwrap();
    eprintln!("{test} (Boot {boot}): {notes}; {}", audit.summary());
}

/// The checks every test makes, whatever it allows in duplicates.
fn assert_walks(audit: &Audit) {
    assert!(
        audit.lost.is_empty(),
        "lost: {:?}\n{}",
        audit.lost,
        audit.table
    );
    assert!(
        audit.problems.is_empty(),
        "off their walk:\n{}\n{}",
        audit.problems.join("\n"),
        audit.table
    );
}

/// Every stage's group committed every record of its topic: nothing is left for a consumer
/// joining later, and each stage's offsets are in Spring's group for it.
fn assert_caught_up(behind: &[String]) {
    assert!(
        behind.is_empty(),
        "stage groups that did not commit every record of their topic: {behind:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_to_rebound_with_emails_at_every_stage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = temp_dir("cutover-s2r");
    let main = unique("email.send");
    let chain = scenario_chain(&main);
    create_topics(&chain, PARTITIONS).await;
    let group = unique("email-send-group");
    let mails = waves("s2r");
    let producer = testkit::producer();

    let mut spring = start_spring(&dir, "spring", &main, &group, &mails);
    spring.wait_started().await;
    let mut observe_spring = || spring_deliveries(&spring.events(), &chain, &group);
    send_waves_before_cut(&producer, &main, &mails, &mut observe_spring).await;

    // The cut: a graceful stop. What Spring did is all it will do.
    let stopping = Instant::now();
    terminate(&mut spring);
    let stopped_in = stopping.elapsed();
    let before = spring_deliveries(&spring.events(), &chain, &group);
    let in_hand = before.iter().filter(|d| d.outcome.is_none()).count();
    send(&producer, &main, &in_wave(&mails, 5)).await;
    let at_cut = waiting(&before, &mails);
    assert!(
        waiting_in(&at_cut, "retry-2000") > 0 && waiting_in(&at_cut, "retry-4000") > 0,
        "at the cut, e-mails wait in -retry-2000 and -retry-4000: {at_cut:?}\n{}",
        listing(&before)
    );

    // Rebound takes over in the same groups, with the same policy and rule.
    let log = ReboundLog::default();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, &log));
    let mut observe = || [before.clone(), log.deliveries()].concat();
    let (deliveries, behind) = wait_finished(&chain, &group, &mails, &mut observe).await;
    rebound.stop().await.unwrap();

    let audit = audit(&mails, &deliveries, &chain, Some("Rebound"));
    report(
        "spring-to-rebound",
        &format!(
            "waiting at the cut: {at_cut:?}; Spring exited {} ms after SIGTERM, deliveries \
             without an outcome: {in_hand}",
            stopped_in.as_millis()
        ),
        &audit,
    );
    assert_walks(&audit);
    assert!(
        audit.rehandled.is_empty(),
        "Rebound handled again what Spring had finished: {:?}\n{}",
        audit.rehandled,
        audit.table
    );
    assert!(
        audit.duplicates <= in_hand && audit.extra_copies <= in_hand,
        "{} (in Spring's hand at the cut: {in_hand})\n{}",
        audit.summary(),
        audit.table
    );
    assert!(audit.by_spring > 0 && audit.by_rebound > 0);
    assert_caught_up(&behind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_to_spring_with_emails_at_every_stage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = temp_dir("cutover-r2s");
    let main = unique("email.send");
    let chain = scenario_chain(&main);
    create_topics(&chain, PARTITIONS).await;
    let group = unique("email-send-group");
    let mails = waves("r2s");
    let producer = testkit::producer();

    let log = ReboundLog::default();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, &log));
    let mut observe_rebound = || log.deliveries();
    send_waves_before_cut(&producer, &main, &mails, &mut observe_rebound).await;

    // The cut: Rebound stops gracefully (records in hand finished, copies acknowledged,
    // offsets committed).
    let stopping = Instant::now();
    rebound.stop().await.unwrap();
    let stopped_in = stopping.elapsed();
    let before = log.deliveries();
    let in_hand = log.copies_pending();
    send(&producer, &main, &in_wave(&mails, 5)).await;
    let at_cut = waiting(&before, &mails);
    assert!(
        waiting_in(&at_cut, "retry-2000") > 0 && waiting_in(&at_cut, "retry-4000") > 0,
        "at the cut, e-mails wait in -retry-2000 and -retry-4000: {at_cut:?}\n{}",
        listing(&before)
    );

    // Spring takes over in the same groups.
    let mut spring = start_spring(&dir, "spring", &main, &group, &mails);
    let mut observe = || {
        let spring_side = spring_deliveries(&spring.events(), &chain, &group);
        [before.clone(), spring_side].concat()
    };
    let (deliveries, behind) = wait_finished(&chain, &group, &mails, &mut observe).await;
    terminate(&mut spring);

    let audit = audit(&mails, &deliveries, &chain, Some("Spring"));
    report(
        "rebound-to-spring",
        &format!(
            "waiting at the cut: {at_cut:?}; Rebound stopped in {} ms, copies not acknowledged \
             then: {in_hand}",
            stopped_in.as_millis()
        ),
        &audit,
    );
    assert_walks(&audit);
    assert!(
        audit.rehandled.is_empty(),
        "Spring handled again what Rebound had finished: {:?}\n{}",
        audit.rehandled,
        audit.table
    );
    assert!(
        audit.duplicates <= in_hand && audit.extra_copies <= in_hand,
        "{} (in Rebound's hand at the cut: {in_hand})\n{}",
        audit.summary(),
        audit.table
    );
    assert!(audit.by_spring > 0 && audit.by_rebound > 0);
    assert_caught_up(&behind);
}

/// Every stage's group has two members, each with one of the two partitions.
fn split_in_every_stage(chain: &[String], group: &str) -> bool {
    (0..chain.len()).all(|stage| {
        Cluster::default()
            .group(&stage_group(group, chain, stage))
            .is_some_and(|g| {
                g.state == "Stable"
                    && g.members.len() == 2
                    && g.members.iter().all(|m| m.partitions.len() == 1)
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_fleet_loses_spring_to_kill_9() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = temp_dir("cutover-fleet");
    let main = unique("email.send");
    let chain = scenario_chain(&main);
    create_topics(&chain, PARTITIONS).await;
    let group = unique("email-send-group");
    let mails = waves("fleet");
    let producer = testkit::producer();

    // One Spring instance and one Rebound worker in every stage's group at once.
    let mut spring = start_spring(&dir, "spring", &main, &group, &mails);
    spring.wait_started().await;
    let log = ReboundLog::default();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, &log));
    testkit::wait_until(
        Duration::from_secs(60),
        "each stage's two partitions split between Spring and Rebound",
        || async { split_in_every_stage(&chain, &group) },
    )
    .await;
    let mut observe_both = || {
        let spring_side = spring_deliveries(&spring.events(), &chain, &group);
        [spring_side, log.deliveries()].concat()
    };
    send_waves_before_cut(&producer, &main, &mails, &mut observe_both).await;

    // Spring crashes; its partitions go to Rebound once its session expires.
    spring.process.kill();
    let spring_side = spring_deliveries(&spring.events(), &chain, &group);
    let in_hand = spring_side.iter().filter(|d| d.outcome.is_none()).count();
    let at_kill = waiting(&[spring_side.clone(), log.deliveries()].concat(), &mails);
    assert!(
        !spring_side.is_empty() && !log.deliveries().is_empty(),
        "both sides delivered before the kill"
    );
    send(&producer, &main, &in_wave(&mails, 5)).await;
    let mut observe = || [spring_side.clone(), log.deliveries()].concat();
    let (deliveries, behind) = wait_finished(&chain, &group, &mails, &mut observe).await;
    rebound.stop().await.unwrap();

    let audit = audit(&mails, &deliveries, &chain, None);
    report(
        "mixed-fleet-kill-9",
        &format!(
            "waiting at the kill: {at_kill:?}; Spring's deliveries without an outcome: {in_hand}"
        ),
        &audit,
    );
    assert_walks(&audit);
    assert_caught_up(&behind);
}
