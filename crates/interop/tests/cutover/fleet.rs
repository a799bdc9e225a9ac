//! A mixed fleet that loses its Spring member to `kill -9`.

use super::*;

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
    let Setup {
        _turn,
        dir,
        main,
        chain,
        group,
        mails,
        producer,
    } = setup("fleet").await;

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
