//! Streamed reads against a real broker (`KAFKA_BROKERS`): a scan yields every record once, in
//! offset order per partition, and can be dropped half-way; `list` keeps only what its filter
//! selects, oldest first; one record is read by its position; a topic that does not exist reads
//! as empty.

use std::collections::BTreeMap;

use rdkafka::producer::FutureRecord;
use rebound::headers as h;
use rebound_ops::{reader, Filter, Ledger, Position, Source};

mod support;

use support::{kafka, producer, unique};

/// Writes `n` records to each partition of `topic`; record `i` of partition `p` has key `p-i`,
/// a failure message and the timestamp `times(p, i)`.
async fn fill(topic: &str, partitions: i32, n: i64, times: impl Fn(i32, i64) -> i64) {
    let producer = producer();
    let mut sends = Vec::new();
    for p in 0..partitions {
        for i in 0..n {
            let key = format!("{p}-{i}");
            let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                key: h::EXCEPTION_MESSAGE,
                value: Some("boom"),
            });
            let record = FutureRecord::<String, str>::to(topic)
                .partition(p)
                .key(&key)
                .payload("{}")
                .timestamp(times(p, i))
                .headers(headers);
            sends.push(producer.send_result(record).expect("queue"));
        }
    }
    for send in sends {
        send.await
            .unwrap()
            .map_err(|(e, _)| e)
            .expect("acknowledged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_yields_every_record_once_in_offset_order() {
    let topic = unique("scan");
    rebound::admin::create_topics(&kafka(), &[&topic], 3, -1)
        .await
        .unwrap();
    fill(&topic, 3, 100, |_, i| 1_764_320_000_000 + i).await;

    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut records = reader::scan(&kafka(), &topic);
    while let Some(record) = records.next().await {
        let record = record.unwrap();
        offsets
            .entry(record.partition())
            .or_default()
            .push(record.offset());
    }
    assert!(records.next().await.is_none(), "the end stays the end");
    let expected: Vec<i64> = (0..100).collect();
    assert_eq!(offsets.len(), 3);
    for (partition, offsets) in &offsets {
        assert_eq!(offsets, &expected, "partition {partition}");
    }

    // A scan dropped half-way stops its reader; the next one starts afresh.
    let mut first = reader::scan(&kafka(), &topic);
    for _ in 0..10 {
        first.next().await.unwrap().unwrap();
    }
    drop(first);
    let mut again = reader::scan(&kafka(), &topic);
    let mut count = 0;
    while let Some(record) = again.next().await {
        record.unwrap();
        count += 1;
    }
    assert_eq!(count, 300);
    let watermarks = reader::watermarks(&kafka(), &topic).await.unwrap();
    assert_eq!(watermarks, [(0, 0, 100), (1, 0, 100), (2, 0, 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_is_read_by_its_position() {
    let topic = unique("read-at");
    rebound::admin::create_topics(&kafka(), &[&topic], 2, -1)
        .await
        .unwrap();
    fill(&topic, 2, 5, |_, i| 1_764_320_000_000 + i).await;
    let at = |partition, offset| Position { partition, offset };
    let record = reader::read_at(&kafka(), &topic, at(1, 3))
        .await
        .unwrap()
        .expect("a record at 1@3");
    assert_eq!((record.partition(), record.offset()), (1, 3));
    assert_eq!(record.key(), Some("1-3".as_bytes()));
    for (position, why) in [
        (at(1, 5), "past the end"),
        (at(0, -1), "before the start"),
        (at(2, 0), "no such partition"),
        (at(-1, 0), "a negative partition"),
    ] {
        let read = reader::read_at(&kafka(), &topic, position).await.unwrap();
        assert!(read.is_none(), "{why}");
    }
    let nowhere = unique("nowhere");
    assert!(reader::read_at(&kafka(), &nowhere, at(0, 0))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_keeps_the_oldest_the_limit_allows() {
    let dlt = unique("listed") + ".dlt";
    rebound::admin::create_topics(&kafka(), &[&dlt], 2, -1)
        .await
        .unwrap();
    // Later offsets died earlier, and the partitions interleave in time.
    fill(&dlt, 2, 50, |p, i| {
        1_764_320_000_000 + (100 - 2 * i) + i64::from(p)
    })
    .await;

    let all = rebound_ops::list(&kafka(), &dlt, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 100);
    let died: Vec<_> = all.iter().map(|l| l.dead_letter.died_at()).collect();
    assert!(died.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    let limited = rebound_ops::list(
        &kafka(),
        &dlt,
        Source::Dlt,
        &Filter {
            limit: Some(3),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    let ids = |listed: &[rebound_ops::Listed]| -> Vec<String> {
        listed.iter().map(|l| l.id.to_string()).collect()
    };
    assert_eq!(ids(&limited), ids(&all[..3]));
    assert_eq!(ids(&limited), ["0@49", "1@49", "0@48"]);

    let one = rebound_ops::show(&kafka(), &dlt, Source::Dlt, "1@7".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(one.dead_letter.record.key_text().as_deref(), Some("1-7"));
    let missing = rebound_ops::show(&kafka(), &dlt, Source::Dlt, "1@70".parse().unwrap()).await;
    assert!(matches!(missing, Err(rebound_ops::Error::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_does_not_exist_reads_as_empty() {
    let dlt = unique("nowhere") + ".dlt";
    assert!(reader::scan(&kafka(), &dlt).next().await.is_none());
    assert_eq!(reader::partitions(&kafka(), &dlt).await.unwrap(), None);
    assert!(reader::watermarks(&kafka(), &dlt).await.unwrap().is_empty());
    assert!(Ledger::read(&kafka(), &dlt)
        .await
        .unwrap()
        .entries
        .is_empty());
    let listed = rebound_ops::list(&kafka(), &dlt, Source::Archive, &Filter::default())
        .await
        .unwrap();
    assert!(listed.is_empty());
}
