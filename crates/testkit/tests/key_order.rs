//! `ProcessingOrder::Key` on a real broker: records of different keys run at once, a key's
//! records run one after another in offset order through the retry chain and the DLT, a poisoned
//! key slows no other, and a key held by a retry record stays held across a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::headers::Headers;
use rebound::{
    Backoff, Failure, ProcessingOrder, Record, RetryPolicy, RetryingConsumer,
    RetryingConsumerBuilder,
};
use testkit::*;

/// One handler call: which record (key, sequence number within the key), which delivery, and
/// when it started and ended.
#[derive(Debug, Clone)]
struct Call {
    key: String,
    seq: u32,
    attempt: u32,
    started: Instant,
    ended: Instant,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// Payload `key:seq`; the handler sleeps `work` and fails as `fails(key, seq, attempt)` says.
fn consumer(
    topic: &str,
    group: &str,
    policy: RetryPolicy,
    work: Duration,
    calls: Calls,
    fails: fn(&str, u32, u32) -> Option<Failure>,
) -> RetryingConsumerBuilder {
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    RetryingConsumer::builder(kafka(), topic, group)
        .policy(policy)
        .processing_order(ProcessingOrder::Key)
        .max_in_flight(16)
        .handler(move |record: Record| {
            let (calls, in_flight) = (calls.clone(), in_flight.clone());
            async move {
                let text = record.text()?.to_string();
                let (key, seq) = text.split_once(':').expect("key:seq");
                let seq: u32 = seq.parse().expect("seq");
                let started = Instant::now();
                in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(work).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                calls.lock().unwrap().push(Call {
                    key: key.to_string(),
                    seq,
                    attempt: record.attempt(),
                    started,
                    ended: Instant::now(),
                });
                match fails(key, seq, record.attempt()) {
                    Some(failure) => Err(failure),
                    None => Ok(()),
                }
            }
        })
}

fn short_chain(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts).backoff(Backoff::exponential(Duration::from_millis(300), 2.0))
}

/// Every key's calls, in the order they started.
fn by_key(calls: &Calls) -> HashMap<String, Vec<Call>> {
    let mut keys: HashMap<String, Vec<Call>> = HashMap::new();
    for call in calls.lock().unwrap().iter() {
        keys.entry(call.key.clone()).or_default().push(call.clone());
    }
    for calls in keys.values_mut() {
        calls.sort_by_key(|c| c.started);
    }
    keys
}

/// The audit: within a key, no call starts before the one before it ended, and sequence numbers
/// never go back (a record's retries come before the next record of its key).
fn assert_key_order(calls: &Calls) {
    for (key, calls) in by_key(calls) {
        for pair in calls.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            assert!(
                after.started >= before.ended,
                "key {key}: {after:?} started while {before:?} ran"
            );
            assert!(
                after.seq >= before.seq,
                "key {key}: seq {} ran after seq {}",
                after.seq,
                before.seq
            );
        }
    }
}

/// The most calls that overlapped in time.
fn most_at_once(calls: &Calls) -> usize {
    let calls = calls.lock().unwrap();
    let mut edges: Vec<(Instant, i32)> = calls
        .iter()
        .flat_map(|c| [(c.started, 1), (c.ended, -1)])
        .collect();
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

async fn produce_keys(topic: &str, keys: &[String], per_key: u32) {
    let producer = producer();
    for seq in 0..per_key {
        for key in keys {
            let payload = format!("{key}:{seq}");
            produce(
                &producer,
                topic,
                None,
                Some(key),
                payload.as_bytes(),
                &Headers::new(),
            )
            .await;
        }
    }
}

/// Key `poison` always fails; every third record of the others fails once; `dead` keys fail
/// permanently on their first record only.
fn scenario_fails(key: &str, seq: u32, attempt: u32) -> Option<Failure> {
    if key == "poison" {
        return Some(Failure::msg("잘못된 이메일 주소로 인해 발송 실패"));
    }
    if key.starts_with("dead") && seq == 0 {
        return Some(Failure::permanent("no such mailbox"));
    }
    (seq % 3 == 1 && attempt == 1).then(|| Failure::msg("451 mailbox busy"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_keep_their_order_through_the_retry_chain_and_a_poisoned_key_slows_no_other() {
    init_tracing();
    let topic = unique("key-order");
    create_topic(&topic, 4).await;
    let mut keys: Vec<String> = (0..24).map(|k| format!("member{k}@naver.com")).collect();
    keys.push("poison".into());
    keys.push("dead1".into());
    let per_key = 6;
    produce_keys(&topic, &keys, per_key).await;

    let calls: Calls = Arc::default();
    let consumer = consumer(
        &topic,
        &unique("key-order-group"),
        short_chain(3),
        Duration::from_millis(20),
        calls.clone(),
        scenario_fails,
    )
    .build()
    .unwrap();
    let chain = consumer.chain().clone();
    let dlt = chain.dlt.clone().unwrap();
    let run = RunningConsumer::spawn(consumer);

    // Every record is done: handled (the others), or dead-lettered (poison's 6, dead1's first).
    let expected_dead = per_key as i64 + 1;
    let handled = || -> usize {
        by_key(&calls)
            .iter()
            .filter(|(k, _)| *k != "poison")
            .map(|(_, c)| {
                c.iter()
                    .map(|c| c.seq)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            })
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled() < (keys.len() - 1) * per_key as usize || count(&dlt) < expected_dead {
        if Instant::now() > deadline {
            let seen: Vec<String> = by_key(&calls)
                .iter()
                .map(|(key, calls)| {
                    let seqs: Vec<(u32, u32)> = calls.iter().map(|c| (c.seq, c.attempt)).collect();
                    format!("{key}: {seqs:?}")
                })
                .collect();
            panic!(
                "not every record was done within 60 s ({} dead letters):\n{}",
                count(&dlt),
                seen.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.stop().await.unwrap();

    assert_key_order(&calls);
    let keyed = by_key(&calls);
    // The retried records went through the chain (attempt 2 seen) without breaking the order.
    assert!(keyed["member0@naver.com"].iter().any(|c| c.attempt == 2));
    // Poison's records each took three deliveries, one after another in order.
    let poison: Vec<(u32, u32)> = keyed["poison"].iter().map(|c| (c.seq, c.attempt)).collect();
    let expected: Vec<(u32, u32)> = (0..per_key)
        .flat_map(|s| (1..=3).map(move |a| (s, a)))
        .collect();
    assert_eq!(poison, expected);
    // Records of different keys ran at once.
    let most = most_at_once(&calls);
    assert!(most >= 4, "at most {most} calls at once");
    // The poisoned key (6 records x 3 deliveries with 0.3 s and 0.6 s waits) took far longer
    // than any other key, and no other key waited for it.
    let last_end = |key: &str| keyed[key].iter().map(|c| c.ended).max().unwrap();
    let others_done = keys
        .iter()
        .filter(|k| *k != "poison")
        .map(|k| last_end(k))
        .max()
        .unwrap();
    assert!(
        others_done < last_end("poison"),
        "the other keys finished after the poisoned one"
    );
}

/// A retry record holds its key for the next consumer too: after a restart, the key's next
/// record on the main topic waits for the retry left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_held_by_a_retry_record_stays_held_across_a_restart() {
    init_tracing();
    let topic = unique("key-held");
    create_topic(&topic, 2).await;
    let group = unique("key-held-group");
    let policy = || RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(3)));
    fn first_fails(_: &str, seq: u32, attempt: u32) -> Option<Failure> {
        (seq == 0 && attempt == 1).then(|| Failure::msg("451 mailbox busy"))
    }

    // The first consumer fails a:0 into the retry topic (due in 3 s) and stops before it is due.
    let calls: Calls = Arc::default();
    let first = consumer(
        &topic,
        &group,
        policy(),
        Duration::ZERO,
        calls.clone(),
        first_fails,
    )
    .build()
    .unwrap();
    let retry_topic = first.chain().retries[0].name.clone();
    let run = RunningConsumer::spawn(first);
    produce_keys(&topic, &["a".to_string()], 1).await;
    wait_until(
        Duration::from_secs(30),
        "a:0 copied to the retry topic",
        || {
            let copied = count(&retry_topic) == 1;
            async move { copied }
        },
    )
    .await;
    run.stop().await.unwrap();
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "a:0 failed once, its retry not due yet"
    );

    // a:1 arrives; a second consumer of the group must run a:0's retry before it.
    let producer = producer();
    produce(&producer, &topic, None, Some("a"), b"a:1", &Headers::new()).await;
    let second = consumer(
        &topic,
        &group,
        policy(),
        Duration::ZERO,
        calls.clone(),
        first_fails,
    )
    .build()
    .unwrap();
    let run = RunningConsumer::spawn(second);
    wait_until(
        Duration::from_secs(60),
        "a:0 retried and a:1 handled",
        || {
            let done = calls.lock().unwrap().len() == 3;
            async move { done }
        },
    )
    .await;
    run.stop().await.unwrap();
    let order: Vec<(u32, u32)> = by_key(&calls)["a"]
        .iter()
        .map(|c| (c.seq, c.attempt))
        .collect();
    assert_eq!(
        order,
        [(0, 1), (0, 2), (1, 1)],
        "a:1 waited for a:0's retry"
    );
    assert_key_order(&calls);
}

/// Key order cannot hold when a retry topic has fewer partitions: the consumer says so at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_is_refused_when_the_chain_cannot_keep_it() {
    init_tracing();
    let topic = unique("key-refused");
    create_topic(&topic, 4).await;
    let calls: Calls = Arc::default();
    let builder = consumer(
        &topic,
        &unique("key-refused-group"),
        RetryPolicy::new(2),
        Duration::ZERO,
        calls,
        |_, _, _| None,
    );
    let retry_topic = format!("{topic}-retry");
    create_topic(&retry_topic, 2).await;
    let error = builder
        .build()
        .unwrap()
        .run(std::future::pending())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&format!("{retry_topic} has 2")), "{text}");
}

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
    let calls: Calls = Arc::default();
    let start = |calls: Calls| {
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
        by_key(&calls)
            .get(key)
            .map(|c| c.iter().map(|c| (c.seq, c.attempt)).collect())
            .unwrap_or_default()
    };

    let (dlt, run) = start(calls.clone());
    let mut keys: Vec<String> = (0..6).map(|k| format!("member{k}@naver.com")).collect();
    keys.extend(["held".to_string(), "gone".to_string()]);
    produce_keys(&topic, &keys, 4).await;
    // held:1 dies after its retry; held:2 and held:3 follow it into the DLT without running;
    // gone:0 dies at once and gone:1..3 follow it. Every other key runs all four.
    wait_until(
        Duration::from_secs(60),
        "7 dead letters and 28 handler calls",
        || {
            let done = count(&dlt) == 7 && calls.lock().unwrap().len() == 6 * 4 + 3 + 1;
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
    let (_, run) = start(calls.clone());
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
    let options = rebound_ops::redrive::RedriveOptions::new("tester");
    let cancel = tokio_util::sync::CancellationToken::new();
    let report = rebound_ops::redrive::redrive(&kafka, &dlt, &filter, &options, &|_| {}, &cancel)
        .await
        .unwrap();
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
    let options = rebound_ops::discard::DiscardOptions {
        reason: "member left".into(),
        by: "tester".into(),
        dry_run: false,
    };
    let report = rebound_ops::discard::discard(&kafka, &dlt, &filter, &options)
        .await
        .unwrap();
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
    assert_key_order(&calls);
}

/// A rebalance between two live members while keys are held by their retries: whichever member
/// gets a key's partitions runs the key's retry before its next record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_while_keys_are_held_keeps_their_order() {
    init_tracing();
    let topic = unique("key-rebalance");
    create_topic(&topic, 2).await;
    let group = unique("key-rebalance-group");
    // Long enough that the second member joins while every retry waits for its due time.
    let policy = || RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(6)));
    fn first_fails(_: &str, seq: u32, attempt: u32) -> Option<Failure> {
        (seq == 0 && attempt == 1).then(|| Failure::msg("451 mailbox busy"))
    }
    let start = |calls: Calls| {
        let consumer = consumer(&topic, &group, policy(), Duration::ZERO, calls, first_fails)
            .build()
            .unwrap();
        let retry_topic = consumer.chain().retries[0].name.clone();
        let run = RunningConsumer::spawn(consumer);
        (retry_topic, run)
    };
    let keys: Vec<String> = (0..8).map(|k| format!("member{k}@naver.com")).collect();

    let (first_calls, second_calls): (Calls, Calls) = Default::default();
    let (retry_topic, first) = start(first_calls.clone());
    produce_keys(&topic, &keys, 1).await;
    wait_until(
        Duration::from_secs(30),
        "every key's first record in the retry topic",
        || {
            let copied = count(&retry_topic) == keys.len() as i64;
            async move { copied }
        },
    )
    .await;
    let (_, second) = start(second_calls.clone());
    let producer = producer();
    for key in &keys {
        let payload = format!("{key}:1");
        produce(
            &producer,
            &topic,
            None,
            Some(key),
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    let all = || -> Calls {
        let mut merged = first_calls.lock().unwrap().clone();
        merged.extend(second_calls.lock().unwrap().iter().cloned());
        Arc::new(Mutex::new(merged))
    };
    wait_until(
        Duration::from_secs(60),
        "every key's retry and next record handled",
        || {
            let done = all().lock().unwrap().len() == keys.len() * 3;
            async move { done }
        },
    )
    .await;
    let (first, second) = tokio::join!(first.stop(), second.stop());
    first.unwrap();
    second.unwrap();

    assert!(
        !second_calls.lock().unwrap().is_empty(),
        "the second member got partitions in the rebalance"
    );
    let merged = all();
    for (key, calls) in by_key(&merged) {
        let order: Vec<(u32, u32)> = calls.iter().map(|c| (c.seq, c.attempt)).collect();
        assert_eq!(order, [(0, 1), (0, 2), (1, 1)], "key {key}");
    }
    assert_key_order(&merged);
}

/// Records finished above a stuck one are marked in the commit's metadata: the next owner of the
/// partition handles the stuck record again, and skips them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_finished_above_a_stuck_one_are_not_handled_again_by_the_next_owner() {
    init_tracing();
    let topic = unique("key-marks");
    create_topic(&topic, 1).await;
    let group = unique("key-marks-group");
    let keys: Vec<String> = (0..50).map(|k| format!("member{k}@naver.com")).collect();
    produce_keys(&topic, &keys, 1).await;
    // The first consumer's handler never finishes member0's record (offset 0).
    let start = |calls: Arc<Mutex<Vec<String>>>, stuck: bool| {
        let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
            .processing_order(ProcessingOrder::Key)
            .shutdown_grace(Duration::from_millis(300))
            .handler(move |record: Record| {
                let calls = calls.clone();
                async move {
                    let text = record.text()?.to_string();
                    if stuck && text.starts_with("member0@") {
                        std::future::pending::<()>().await;
                    }
                    calls.lock().unwrap().push(text);
                    Ok(())
                }
            })
            .build()
            .unwrap();
        RunningConsumer::spawn(consumer)
    };

    let first_calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let run = start(first_calls.clone(), true);
    wait_until(
        Duration::from_secs(30),
        "49 records handled around the stuck one",
        || {
            let done = first_calls.lock().unwrap().len() == 49;
            async move { done }
        },
    )
    .await;
    run.stop().await.unwrap();

    // A record after them: once the next owner handled it, it took every record before it.
    let producer = producer();
    produce(
        &producer,
        &topic,
        None,
        Some("last"),
        b"last:0",
        &Headers::new(),
    )
    .await;
    let second_calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let run = start(second_calls.clone(), false);
    wait_until(Duration::from_secs(30), "the last record handled", || {
        let done = second_calls.lock().unwrap().iter().any(|c| c == "last:0");
        async move { done }
    })
    .await;
    run.stop().await.unwrap();
    let mut second = second_calls.lock().unwrap().clone();
    second.sort();
    assert_eq!(
        second,
        ["last:0", "member0@naver.com:0"],
        "only the stuck record was handled again"
    );
}
