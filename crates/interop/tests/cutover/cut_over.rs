//! The cut-overs: Spring to Rebound, and back.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_to_rebound_with_emails_at_every_stage() {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup("s2r").await;

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
    assert_waiting_at_cut(&at_cut, &before);

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
    assert_handed_over(&audit, in_hand, "Rebound", "Spring");
    assert_caught_up(&behind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_to_spring_with_emails_at_every_stage() {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup("r2s").await;

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
    assert_waiting_at_cut(&at_cut, &before);

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
    assert_handed_over(&audit, in_hand, "Spring", "Rebound");
    assert_caught_up(&behind);
}

/// At the cut, e-mails wait in `-retry-2000` and `-retry-4000` (`before`: the deliveries then).
fn assert_waiting_at_cut(at_cut: &[(&str, usize)], before: &[Delivery]) {
    assert!(
        waiting_in(at_cut, "retry-2000") > 0 && waiting_in(at_cut, "retry-4000") > 0,
        "at the cut, e-mails wait in -retry-2000 and -retry-4000: {at_cut:?}\n{}",
        listing(before)
    );
}

/// `taker` took over from `giver`: every walk as planned, nothing `giver` finished handled
/// again, no more duplicates or extra copies than `giver` had in hand at the cut, and both
/// sides handled some.
fn assert_handed_over(audit: &Audit, in_hand: usize, taker: &str, giver: &str) {
    assert_walks(audit);
    assert!(
        audit.rehandled.is_empty(),
        "{taker} handled again what {giver} had finished: {:?}\n{}",
        audit.rehandled,
        audit.table
    );
    assert!(
        audit.duplicates <= in_hand && audit.extra_copies <= in_hand,
        "{} (in {giver}'s hand at the cut: {in_hand})\n{}",
        audit.summary(),
        audit.table
    );
    assert!(audit.by_spring > 0 && audit.by_rebound > 0);
}
