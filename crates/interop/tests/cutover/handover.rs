//! The cut-overs again, each side in its own layout: Spring in a group per stage, Rebound in one
//! group, the committed offsets moved between them by `rebound groups handover` at the cut.

use std::process::Output;

use super::cut_over::{assert_handed_over, assert_waiting_at_cut};
use super::*;

/// The scenario's policy as `rebound groups handover` takes it (the same as [`policy`]).
const POLICY: [&str; 8] = [
    "--attempts",
    "5",
    "--delay-ms",
    "1000",
    "--multiplier",
    "2",
    "--dlt-suffix",
    ".dlt",
];

/// Runs `rebound groups handover <main> --group <group> --to <to> --include-dlt` and waits until
/// it succeeds: it refuses while the stopped side's members are still in a group (a member that
/// left gracefully is gone at once; the wait covers the broker's bookkeeping). Returns its output.
async fn hand_over(main: &str, group: &str, to: &str) -> Output {
    let rebound = workspace_binary("rebound");
    let run = || {
        let mut args = vec!["groups", "handover", main, "--group", group, "--to", to];
        args.extend(POLICY);
        args.push("--include-dlt");
        std::process::Command::new(&rebound)
            .args(&args)
            .env("KAFKA_BROKERS", kafka().brokers())
            .output()
            .expect("run rebound")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = run();
        if output.status.success() {
            return output;
        }
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains("live member") && Instant::now() < deadline,
            "rebound groups handover --to {to} failed: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_to_rebound_through_the_handover_command() {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup("s2r-handover").await;

    let mut spring = start_spring(&dir, "spring", &main, &group, &mails);
    spring.wait_started().await;
    let mut observe_spring = || spring_deliveries(&spring.events(), &chain, &group);
    send_waves_before_cut(&producer, &main, &mails, &mut observe_spring).await;

    // The cut: Spring stops gracefully, then its stage groups' offsets move into G.
    terminate(&mut spring);
    let before = spring_deliveries(&spring.events(), &chain, &group);
    let in_hand = before.iter().filter(|d| d.outcome.is_none()).count();
    send(&producer, &main, &in_wave(&mails, 5)).await;
    let at_cut = waiting(&before, &mails);
    assert_waiting_at_cut(&at_cut, &before);
    let moved = hand_over(&main, &group, "single").await;

    // Rebound takes over in its one group.
    let log = ReboundLog::default();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, Layout::OneGroup, &log));
    let mut observe = || [before.clone(), log.deliveries()].concat();
    let (deliveries, behind) =
        wait_finished(&chain, &group, Layout::OneGroup, &mails, &mut observe).await;
    rebound.stop().await.unwrap();

    let audit = audit(&mails, &deliveries, &chain, Some("Rebound"));
    report(
        "spring-to-rebound-handover",
        &format!(
            "waiting at the cut: {at_cut:?}; deliveries without an outcome: {in_hand}; the \
             hand-over:\n\n```\n{}```",
            String::from_utf8_lossy(&moved.stdout)
        ),
        &audit,
    );
    assert_handed_over(&audit, in_hand, "Rebound", "Spring");
    assert_caught_up(&behind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_to_spring_through_the_handover_command() {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup("r2s-handover").await;

    let log = ReboundLog::default();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, Layout::OneGroup, &log));
    let mut observe_rebound = || log.deliveries();
    send_waves_before_cut(&producer, &main, &mails, &mut observe_rebound).await;

    // The cut: Rebound stops gracefully, then G's offsets move into Spring's stage groups.
    rebound.stop().await.unwrap();
    let before = log.deliveries();
    let in_hand = log.copies_pending();
    send(&producer, &main, &in_wave(&mails, 5)).await;
    let at_cut = waiting(&before, &mails);
    assert_waiting_at_cut(&at_cut, &before);
    let moved = hand_over(&main, &group, "spring-stages").await;

    // Spring takes over in its stage groups.
    let mut spring = start_spring(&dir, "spring", &main, &group, &mails);
    let mut observe = || {
        let spring_side = spring_deliveries(&spring.events(), &chain, &group);
        [before.clone(), spring_side].concat()
    };
    let (deliveries, behind) =
        wait_finished(&chain, &group, Layout::StageGroups, &mails, &mut observe).await;
    terminate(&mut spring);

    let audit = audit(&mails, &deliveries, &chain, Some("Spring"));
    report(
        "rebound-to-spring-handover",
        &format!(
            "waiting at the cut: {at_cut:?}; copies not acknowledged at the cut: {in_hand}; the \
             hand-over:\n\n```\n{}```",
            String::from_utf8_lossy(&moved.stdout)
        ),
        &audit,
    );
    assert_handed_over(&audit, in_hand, "Spring", "Rebound");
    assert_caught_up(&behind);
}
