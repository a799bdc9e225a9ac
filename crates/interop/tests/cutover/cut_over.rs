//! The cut-overs: Spring to Rebound, and back; once with both sides in Spring's group per stage
//! (Rebound's `group_per_stage(true)`), once with each side in its own layout and the offsets
//! moved at the cut by `rebound groups handover` ([`hand_over`]).

use super::handover::hand_over;
use super::*;

/// How the side taking over reads the chain, and what happens at the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Rebound reads each stage in Spring's group for it: nothing to move.
    SameGroups,
    /// Rebound reads every stage in the one group `G`; `rebound groups handover` moves the
    /// offsets between the layouts at the cut.
    HandOver,
}

impl Cut {
    /// Rebound's layout in this cut-over.
    fn rebound_layout(self) -> Layout {
        match self {
            Cut::SameGroups => Layout::StageGroups,
            Cut::HandOver => Layout::OneGroup,
        }
    }

    /// What the report says of the cut's hand-over.
    fn moved(self, output: Option<std::process::Output>) -> String {
        match output {
            Some(output) => format!(
                "; the hand-over:\n\n```\n{}```",
                String::from_utf8_lossy(&output.stdout)
            ),
            None => String::new(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_to_rebound_with_emails_at_every_stage() {
    spring_to_rebound("s2r", "spring-to-rebound", Cut::SameGroups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_to_rebound_through_the_handover_command() {
    spring_to_rebound("s2r-handover", "spring-to-rebound-handover", Cut::HandOver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_to_spring_with_emails_at_every_stage() {
    rebound_to_spring("r2s", "rebound-to-spring", Cut::SameGroups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_to_spring_through_the_handover_command() {
    rebound_to_spring("r2s-handover", "rebound-to-spring-handover", Cut::HandOver).await;
}

async fn spring_to_rebound(test: &str, report_name: &str, cut: Cut) {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup(test).await;

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
    let moved = match cut {
        Cut::HandOver => Some(hand_over(&main, &group, "single").await),
        Cut::SameGroups => None,
    };

    // Rebound takes over with the same policy and rule.
    let log = ReboundLog::default();
    let layout = cut.rebound_layout();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, layout, &log));
    let mut observe = || [before.clone(), log.deliveries()].concat();
    let (deliveries, behind) = wait_finished(&chain, &group, layout, &mails, &mut observe).await;
    rebound.stop().await.unwrap();

    let audit = audit(&mails, &deliveries, &chain, Some("Rebound"));
    report(
        report_name,
        &format!(
            "waiting at the cut: {at_cut:?}; Spring exited {} ms after SIGTERM, deliveries \
             without an outcome: {in_hand}{}",
            stopped_in.as_millis(),
            cut.moved(moved)
        ),
        &audit,
    );
    assert_handed_over(&audit, in_hand, "Rebound", "Spring");
    assert_caught_up(&behind);
}

async fn rebound_to_spring(test: &str, report_name: &str, cut: Cut) {
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup(test).await;

    let log = ReboundLog::default();
    let layout = cut.rebound_layout();
    let rebound = RunningConsumer::spawn(rebound_worker(&main, &group, layout, &log));
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
    let moved = match cut {
        Cut::HandOver => Some(hand_over(&main, &group, "spring-stages").await),
        Cut::SameGroups => None,
    };

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
        report_name,
        &format!(
            "waiting at the cut: {at_cut:?}; Rebound stopped in {} ms, copies not acknowledged \
             then: {in_hand}{}",
            stopped_in.as_millis(),
            cut.moved(moved)
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
