//! Following a run: waiting for deliveries, what waits where at the cut, who is behind, and stopping Spring.

use super::*;

/// Waits until `condition` holds on what `observe` returns; panics with it otherwise.
pub(crate) async fn wait_deliveries(
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

pub(crate) fn listing(deliveries: &[Delivery]) -> String {
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
pub(crate) fn failed_at(deliveries: &[Delivery], mails: &[Mail], stage: usize) -> bool {
    mails.iter().filter(|m| m.kind == Kind::Fail).all(|m| {
        deliveries
            .iter()
            .any(|d| d.to == m.to && d.stage == stage && d.outcome == Some(Outcome::Failed))
    })
}

/// Every e-mail of `mails` was handled on the main topic, one way or the other.
pub(crate) fn left_main(deliveries: &[Delivery], mails: &[Mail]) -> bool {
    mails.iter().all(|m| {
        deliveries
            .iter()
            .any(|d| d.to == m.to && d.stage == 0 && d.outcome.is_some())
    })
}

/// Sends waves 1-4, each when the one before has gone far enough that, at the cut (when wave
/// 4 has left the main topic), wave 1 waits in `-retry-4000` (or just went on to `-retry-8000`),
/// wave 2 in `-retry-4000`, wave 3 in `-retry-2000` and wave 4 in `-retry-1000`.
pub(crate) async fn send_waves_before_cut(
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
pub(crate) fn waiting(deliveries: &[Delivery], mails: &[Mail]) -> Vec<(&'static str, usize)> {
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

pub(crate) fn waiting_in(at_cut: &[(&str, usize)], stage: &str) -> usize {
    at_cut
        .iter()
        .find(|(s, _)| *s == stage)
        .map_or(0, |(_, n)| *n)
}

/// Whether the e-mail's walk ended: sent, or its dead letter handled.
pub(crate) fn finished(deliveries: &[Delivery], mail: &Mail) -> bool {
    let last = *mail.kind.walk().last().unwrap();
    deliveries
        .iter()
        .any(|d| d.to == mail.to && d.stage == last && d.outcome == Some(Outcome::Handled))
}

/// The stages whose group has not committed every record of its topic, as
/// `<group> <topic>-<partition>: <committed> of <records>`.
pub(crate) fn behind(chain: &[String], group: &str) -> Vec<String> {
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
pub(crate) async fn wait_finished(
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
pub(crate) fn terminate(spring: &mut Spring) {
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
