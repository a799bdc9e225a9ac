//! A DLT's inflow per hour on a real broker (`rebound_ops::inflow`), from ListOffsets by
//! timestamp and no record read: records stamped in three different hours of the last day count
//! in their hours' buckets, over every partition; older records stay out; an empty topic counts
//! nothing; a topic that does not exist is an error that names it.
//!
//! (In testkit's tests rather than rebound-ops' own: testkit depends on rebound-ops, so this
//! needs no new dependency edge.)

use std::time::{Duration, Instant};

use rebound::EpochMillis;
use rebound_ops::inflow::{inflow, next_boundary};
use testkit::*;

const HOUR: Duration = Duration::from_secs(3600);
const HOUR_MS: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_count_in_the_hour_of_their_timestamp() {
    let dlt = format!("{}.dlt", unique("inflow"));
    create_topic(&dlt, 3).await;
    // The buckets are the clock's hours of the last day, the last one the hour now filling.
    let end = next_boundary(EpochMillis::now(), HOUR);
    let start = end.as_i64() - 24 * HOUR_MS;
    // (bucket, records): 30 hours ago (before the window), 19, 10 and 0 hours ago (the last
    // bucket, stamped at its start: never after now, which the broker would refuse).
    let hours: [(i64, i64); 4] = [(-6, 4), (5, 3), (14, 7), (23, 2)];
    let producer = producer();
    for (bucket, records) in hours {
        for i in 0..records {
            let at = EpochMillis::new(start + bucket * HOUR_MS + i * 1000);
            produce_at(&producer, &dlt, (i % 3) as i32, b"{}", at).await;
        }
    }

    let asked = Instant::now();
    let measured = inflow(&kafka(), &dlt, 24, HOUR, end).await.unwrap();
    eprintln!(
        "inflow of {dlt} (3 partitions, 16 records) in {:?}",
        asked.elapsed()
    );

    let mut expected = vec![0u64; 24];
    expected[5] = 3;
    expected[14] = 7;
    expected[23] = 2;
    assert_eq!(measured.counts, expected);
    assert_eq!(measured.start, EpochMillis::new(start));
    assert_eq!(measured.width, HOUR);
    assert_eq!(
        measured.total(),
        12,
        "the 4 records before the window stay out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_topic_counts_nothing_and_a_missing_one_is_named() {
    let empty = format!("{}.dlt", unique("inflow-empty"));
    create_topic(&empty, 2).await;
    let end = next_boundary(EpochMillis::now(), HOUR);
    let measured = inflow(&kafka(), &empty, 24, HOUR, end).await.unwrap();
    assert_eq!(measured.counts, vec![0; 24]);

    let missing = format!("{}.dlt", unique("inflow-missing"));
    let refused = inflow(&kafka(), &missing, 24, HOUR, end).await.unwrap_err();
    assert!(
        matches!(&refused, rebound_ops::Error::NoSuchTopic(t) if *t == missing),
        "{refused}"
    );
}
