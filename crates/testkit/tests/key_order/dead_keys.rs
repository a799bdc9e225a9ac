//! A key whose record died stays held until its dead letters are redriven.

use super::*;

/// Whether key `held`'s record 1 still fails (until the test "fixes the fault").
static HELD_FAULT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `held:1` fails while the fault lasts (through the retry chain into the DLT); `gone:0` always
/// fails for good.
fn held_fails(key: &str, seq: u32, _attempt: u32) -> Option<Failure> {
    let faulty = HELD_FAULT.load(std::sync::atomic::Ordering::SeqCst);
    match (key, seq) {
        ("held", 1) if faulty => Some(Failure::msg("451 mailbox busy")),
        ("gone", 0) => Some(Failure::permanent("no such mailbox")),
        _ => None,
    }
}

/// The payloads of `dlt`'s dead letters of `key`, in DLT order, with whether each is marked as
/// held behind another.
fn dead_letters_of(dlt: &str, key: &str) -> Vec<(String, bool)> {
    read_all(dlt)
        .iter()
        .filter(|r| r.key() == Some(key.as_bytes()))
        .map(|r| {
            let error = rebound::headers::FailureInfo::read(r.headers())
                .message
                .unwrap_or_default();
            (text(r), error.contains("held behind the dead letter"))
        })
        .collect()
}

/// `hold_until_redriven`: a key whose record died stays held, its later records follow it into
/// the DLT in order (across a restart too, rebuilt from the DLT), other keys flow; a redrive of
/// the key brings them back in order, after which the key flows again; a discard releases too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_key_stays_held_until_its_dead_letters_are_redriven() {
    init_tracing();
    let topic = unique("key-hold-dead");
    create_topic(&topic, 2).await;
    let group = unique("key-hold-dead-group");
    let calls = Recorder::new();
    let start = |calls: &Recorder| {
        let consumer = consumer(
            &topic,
            &group,
            RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(200))),
            Duration::from_millis(5),
            calls,
            held_fails,
        )
        .hold_until_redriven(true)
        .build()
        .unwrap();
        let dlt = consumer.chain().dlt.clone().unwrap();
        let run = RunningConsumer::spawn(consumer);
        (dlt, run)
    };
    let calls_of = |key: &str| -> Vec<(u32, u32)> {
        by_key(&calls.calls())
            .get(key)
            .map(|c| seqs(c))
            .unwrap_or_default()
    };

    let (dlt, run) = start(&calls);
    let mut keys: Vec<String> = (0..6).map(|k| format!("member{k}@naver.com")).collect();
    keys.extend(["held".to_string(), "gone".to_string()]);
    produce_keys(&topic, &keys, 4).await;
    // held:1 dies after its retry; held:2 and held:3 follow it into the DLT without running;
    // gone:0 dies at once and gone:1..3 follow it. Every other key runs all four.
    wait_until(
        Duration::from_secs(60),
        "7 dead letters and 28 handler calls",
        || {
            let done = count(&dlt) == 7 && calls.len() == 6 * 4 + 3 + 1;
            async move { done }
        },
    )
    .await;
    assert_eq!(calls_of("held"), [(0, 1), (1, 1), (1, 2)]);
    assert_eq!(calls_of("gone"), [(0, 1)]);
    let parked = |seqs: &[u32]| -> Vec<(String, bool)> {
        seqs.iter()
            .enumerate()
            .map(|(i, s)| (format!("held:{s}"), i > 0))
            .collect()
    };
    assert_eq!(dead_letters_of(&dlt, "held"), parked(&[1, 2, 3]));

    // A restart: the next consumer rebuilds the parked keys from the DLT before it runs a
    // main-topic record, so held:4 follows the others.
    run.stop().await.unwrap();
    produce(
        &producer(),
        &topic,
        None,
        Some("held"),
        b"held:4",
        &Headers::new(),
    )
    .await;
    let (_, run) = start(&calls);
    wait_until(
        Duration::from_secs(60),
        "held:4 parked behind held:1",
        || {
            let done = dead_letters_of(&dlt, "held").len() == 4;
            async move { done }
        },
    )
    .await;
    assert_eq!(dead_letters_of(&dlt, "held"), parked(&[1, 2, 3, 4]));

    // The fault is fixed; a person redrives the key: its records come back in their order.
    HELD_FAULT.store(false, std::sync::atomic::Ordering::SeqCst);
    let kafka = kafka();
    let filter = rebound_ops::Filter {
        key: Some("held".into()),
        ..Default::default()
    };
    let report = redrive_selected(&kafka, &dlt, &filter, "tester").await;
    assert_eq!(report.sent(), 4);
    wait_until(
        Duration::from_secs(60),
        "held:1..4 handled after the redrive",
        || {
            let done = calls_of("held").len() == 3 + 4;
            async move { done }
        },
    )
    .await;
    // Once the ledger says every dead letter of the key is redriven, the key flows again.
    produce(
        &producer(),
        &topic,
        None,
        Some("held"),
        b"held:5",
        &Headers::new(),
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "held:5 handled, not parked",
        || {
            let done = calls_of("held").len() == 3 + 4 + 1;
            async move { done }
        },
    )
    .await;
    assert_eq!(
        calls_of("held"),
        [
            (0, 1),
            (1, 1),
            (1, 2),
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1)
        ]
    );

    // Discarding a dead key's letters releases it as well.
    let filter = rebound_ops::Filter {
        key: Some("gone".into()),
        ..Default::default()
    };
    let report = discard_selected(&kafka, &dlt, &filter, "member left", "tester").await;
    assert_eq!(report.archived.len(), 4);
    produce(
        &producer(),
        &topic,
        None,
        Some("gone"),
        b"gone:4",
        &Headers::new(),
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "gone:4 handled after the discard",
        || {
            let done = calls_of("gone").contains(&(4, 1));
            async move { done }
        },
    )
    .await;
    run.stop().await.unwrap();
    assert_eq!(count(&dlt), 8, "nothing else went to the DLT");
    assert_key_order(&calls.calls());
}
