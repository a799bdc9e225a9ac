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

mod audit;
mod cut_over;
mod deliveries;
mod fleet;
mod progress;

use audit::*;
use deliveries::*;
use progress::*;

pub(crate) const KOREAN: &str = "잘못된 이메일 주소로 인해 발송 실패";
pub(crate) const PARTITIONS: i32 = 2;
/// The stages of the scenario's chain, in the order of [`scenario_chain`].
pub(crate) const STAGES: [&str; 6] = [
    "main",
    "retry-1000",
    "retry-2000",
    "retry-4000",
    "retry-8000",
    "dlt",
];
pub(crate) const DLT: usize = 5;

/// One test of this file at a time: each runs a JVM beside Rebound on 2 cores, and where the
/// e-mails wait at the cut depends on both sides getting the CPU they ask for.
pub(crate) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the rule does with an e-mail, by its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Sent at once.
    Ok,
    /// Fails with the blog's message on every delivery: 5 deliveries, then the DLT.
    Fail,
    /// Fails with a `ClassCastException` (Spring's fatal exceptions; Rebound's permanent
    /// failure): straight to the DLT.
    Cast,
}

impl Kind {
    pub(crate) fn of(to: &str) -> Kind {
        match to.split('-').next() {
            Some("fail") => Kind::Fail,
            Some("cast") => Kind::Cast,
            _ => Kind::Ok,
        }
    }

    /// The stages its walk has; the last is where it ends.
    pub(crate) fn walk(self) -> &'static [usize] {
        match self {
            Kind::Ok => &[0],
            Kind::Fail => &[0, 1, 2, 3, 4, DLT],
            Kind::Cast => &[0, DLT],
        }
    }
}

/// The rule as Rebound's handler applies it (the peer's is `interop.fail-to` and
/// `interop.class-cast-to`).
pub(crate) fn rule(to: &str) -> Result<(), Failure> {
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
pub(crate) struct Mail {
    pub(crate) to: String,
    pub(crate) kind: Kind,
    pub(crate) wave: usize,
    /// The scenario's message as sent (its Korean subject and body included).
    pub(crate) payload: String,
}

/// Wave `wave`: `ok` e-mails sent at once, `fail` failing ones, `cast` fatal ones.
pub(crate) fn wave(test: &str, wave: usize, ok: usize, fail: usize, cast: usize) -> Vec<Mail> {
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
pub(crate) fn waves(test: &str) -> Vec<Mail> {
    [
        wave(test, 1, 2, 2, 1),
        wave(test, 2, 1, 2, 0),
        wave(test, 3, 1, 2, 0),
        wave(test, 4, 1, 2, 1),
        wave(test, 5, 2, 2, 1),
    ]
    .concat()
}

pub(crate) fn in_wave(mails: &[Mail], n: usize) -> Vec<Mail> {
    mails.iter().filter(|m| m.wave == n).cloned().collect()
}

/// Sends `mails` to the main topic, keyed by recipient (the peer's producer with
/// `interop.key=to`; the same bytes as its `KafkaTemplate<String, String>`).
pub(crate) async fn send(producer: &FutureProducer, main: &str, mails: &[Mail]) {
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
pub(crate) fn policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt")
}

/// What every test starts from: its turn (one at a time), its folder, the scenario's chain
/// created under a unique main topic, a unique group, its waves of e-mails and a producer.
pub(crate) struct Setup {
    pub(crate) _turn: tokio::sync::MutexGuard<'static, ()>,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) main: String,
    pub(crate) chain: Vec<String>,
    pub(crate) group: String,
    pub(crate) mails: Vec<Mail>,
    pub(crate) producer: FutureProducer,
}

/// Waits for the test's turn and sets up test `test` (`s2r`, `r2s`, `fleet`).
pub(crate) async fn setup(test: &str) -> Setup {
    let turn = ONE_AT_A_TIME.lock().await;
    let dir = temp_dir(&format!("cutover-{test}"));
    let main = unique("email.send");
    let chain = scenario_chain(&main);
    create_topics(&chain, PARTITIONS).await;
    Setup {
        _turn: turn,
        dir,
        main,
        chain,
        group: unique("email-send-group"),
        mails: waves(test),
        producer: testkit::producer(),
    }
}
