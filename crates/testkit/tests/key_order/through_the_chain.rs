//! Keys in order through the retry chain, a poisoned key that slows no other, a held key across a restart, and a chain that cannot keep key order.

use std::collections::BTreeSet;

use super::*;

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

    let calls = Recorder::new();
    let consumer = consumer(
        &topic,
        &unique("key-order-group"),
        short_chain(3),
        Duration::from_millis(20),
        &calls,
        scenario_fails,
    )
    .build()
    .unwrap();
    let chain = consumer.chain().clone();
    let dlt = chain.dlt.clone().unwrap();
    let run = RunningConsumer::spawn(consumer);

    // Every record is done: handled (the others), or dead-lettered (poison's 6, dead1's first).
    let expected_dead = per_key as i64 + 1;
    let handled = |keyed: &HashMap<String, Vec<Call>>| -> usize {
        keyed
            .iter()
            .filter(|(k, _)| *k != "poison")
            .map(|(_, c)| {
                c.iter()
                    .map(|c| key_seq(c).1)
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .sum()
    };
    wait_for(
        Duration::from_secs(60),
        "every record handled or dead-lettered",
        || {
            let (keyed, dead) = (by_key(&calls.calls()), count(&dlt));
            let done = handled(&keyed) >= (keys.len() - 1) * per_key as usize;
            let state = match done && dead >= expected_dead {
                true => Ok(()),
                false => {
                    let mut seen: Vec<String> = keyed
                        .iter()
                        .map(|(key, calls)| format!("{key}: {:?}", seqs(calls)))
                        .collect();
                    seen.sort();
                    Err(format!(
                        "{dead} dead letters; (seq, attempt) by key:\n{}",
                        seen.join("\n")
                    ))
                }
            };
            async move { state }
        },
    )
    .await;
    run.stop().await.unwrap();

    let calls = calls.calls();
    assert_key_order(&calls);
    let keyed = by_key(&calls);
    // The retried records went through the chain (attempt 2 seen) without breaking the order.
    assert!(keyed["member0@naver.com"].iter().any(|c| c.attempt == 2));
    // Poison's records each took three deliveries, one after another in order.
    let poison = seqs(&keyed["poison"]);
    let expected: Vec<(u32, u32)> = (0..per_key)
        .flat_map(|s| (1..=3).map(move |a| (s, a)))
        .collect();
    assert_eq!(poison, expected);
    // Records of different keys ran at once.
    let most = most_at_once(&calls);
    assert!(most >= 4, "at most {most} calls at once");
    // The poisoned key (6 records x 3 deliveries with 0.3 s and 0.6 s waits) took far longer
    // than any other key, and no other key waited for it.
    let last_end = |key: &str| keyed[key].iter().map(Call::ended).max().unwrap();
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
    let calls = Recorder::new();
    let build = || {
        consumer(
            &topic,
            &group,
            policy(),
            Duration::ZERO,
            &calls,
            first_fails,
        )
        .build()
        .unwrap()
    };
    let first = build();
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
    assert_eq!(calls.len(), 1, "a:0 failed once, its retry not due yet");

    // a:1 arrives; a second consumer of the group must run a:0's retry before it.
    let producer = producer();
    produce(&producer, &topic, None, Some("a"), b"a:1", &Headers::new()).await;
    let run = RunningConsumer::spawn(build());
    wait_until(
        Duration::from_secs(60),
        "a:0 retried and a:1 handled",
        || {
            let done = calls.len() == 3;
            async move { done }
        },
    )
    .await;
    run.stop().await.unwrap();
    let order = seqs(&by_key(&calls.calls())["a"]);
    assert_eq!(
        order,
        [(0, 1), (0, 2), (1, 1)],
        "a:1 waited for a:0's retry"
    );
    assert_key_order(&calls.calls());
}

/// Key order cannot hold when a retry topic has fewer partitions: the consumer says so at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_is_refused_when_the_chain_cannot_keep_it() {
    init_tracing();
    let topic = unique("key-refused");
    create_topic(&topic, 4).await;
    let builder = consumer(
        &topic,
        &unique("key-refused-group"),
        RetryPolicy::new(2),
        Duration::ZERO,
        &Recorder::new(),
        |_, _, _| None,
    );
    let retry_topic = format!("{topic}-retry");
    create_topic(&retry_topic, 2).await;
    let error = RunningConsumer::spawn(builder.build().unwrap())
        .ended()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&format!("{retry_topic} has 2")), "{text}");
}
