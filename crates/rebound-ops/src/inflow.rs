//! How many records arrived in a topic per time bucket over the last hours (a DLT's inflow),
//! measured without reading a single record.
//!
//! Kafka answers "the first offset at or after this timestamp" for every partition in one small
//! ListOffsets request, from its time index. Asked at each bucket boundary, the records that
//! arrived in a bucket are the difference of the offsets at its two boundaries. So a DLT of a
//! hundred thousand dead letters costs 25 small requests for 24 hourly buckets (plus two for the
//! watermarks and one for metadata), where counting by reading would fetch every record: cheap
//! enough for a console to measure every DLT of a cluster in the background.
//!
//! What the count means: records by their timestamp. Rebound's copies carry the time they were
//! written (CreateTime), and so do Spring's (`DeadLetterPublishingRecoverer` sets no timestamp
//! and keeps the original in `kafka_dlt-original-timestamp`), so for a DLT that is when the
//! record was dead-lettered. Records removed
//! by retention are not counted (the topic no longer knows when they came), so a bucket older
//! than the retention reads 0. Timestamps out of order (a producer setting old ones) shift
//! counts between buckets, as Kafka's time index does for any reader.

use std::time::Duration;

use rebound::{EpochMillis, KafkaConfig};

use crate::error::Error;
use crate::reader::blocking::{self, OffsetsAtTimes};
use crate::reader::unblock;

/// Records that arrived in a topic per bucket of time (see the [module](self)).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inflow {
    /// Where the first bucket starts.
    pub start: EpochMillis,
    /// How wide each bucket is.
    pub width: Duration,
    /// Records per bucket, oldest first.
    pub counts: Vec<u64>,
}

impl Inflow {
    /// Records in every bucket together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Where bucket `index` starts.
    pub fn bucket_start(&self, index: usize) -> EpochMillis {
        let width = i64::try_from(self.width.as_millis()).unwrap_or(i64::MAX);
        EpochMillis::new(
            self.start
                .as_i64()
                .saturating_add(width.saturating_mul(index as i64)),
        )
    }
}

/// The records that arrived in `topic` in each of `buckets` buckets `width` wide, the last one
/// ending at `end`. An `end` in the future is fine: the last bucket is then still filling (a
/// console passes [`next_boundary`] so its bars are the clock's hours). Asks one ListOffsets
/// request per boundary for all partitions, and reads no record. [`Error::NoSuchTopic`] when the
/// topic does not exist.
pub async fn inflow(
    kafka: &KafkaConfig,
    topic: &str,
    buckets: usize,
    width: Duration,
    end: EpochMillis,
) -> Result<Inflow, Error> {
    let boundaries = boundaries(buckets, width, end);
    let (kafka, topic, times) = (kafka.clone(), topic.to_string(), boundaries.clone());
    let answers = unblock(move || blocking::offsets_at_times(&kafka, &topic, &times)).await?;
    Ok(Inflow {
        start: boundaries[0],
        width,
        counts: bucket_counts(buckets, &answers),
    })
}

/// The first instant after `now` that is a whole multiple of `width` since the epoch (UTC): with
/// an hour, the next full hour, so buckets ending there start on the hour.
pub fn next_boundary(now: EpochMillis, width: Duration) -> EpochMillis {
    let width = i64::try_from(width.as_millis()).unwrap_or(i64::MAX).max(1);
    EpochMillis::new((now.as_i64().div_euclid(width) + 1).saturating_mul(width))
}

/// The `buckets + 1` boundaries of buckets `width` wide ending at `end`, oldest first.
fn boundaries(buckets: usize, width: Duration, end: EpochMillis) -> Vec<EpochMillis> {
    let width = i64::try_from(width.as_millis()).unwrap_or(i64::MAX);
    (0..=buckets)
        .map(|i| {
            let before_end = width.saturating_mul((buckets - i) as i64);
            EpochMillis::new(end.as_i64().saturating_sub(before_end))
        })
        .collect()
}

/// Records per bucket from each partition's offsets at the `buckets + 1` boundaries.
///
/// A boundary after a partition's last record answers nothing (Kafka's -1): no record arrived
/// from there on, so it stands for the next boundary's offset, and for the high watermark at the
/// end. Offsets are kept within the watermarks: one below the log start (retention removed
/// records since, or the log start moved past the boundary) counts from the log start, one past
/// the high watermark (written while asking) counts to it. The offsets asked at different
/// moments are then made non-decreasing from the newest back, so no bucket is negative.
pub(crate) fn bucket_counts(buckets: usize, partitions: &[OffsetsAtTimes]) -> Vec<u64> {
    let mut counts = vec![0u64; buckets];
    for partition in partitions {
        let (low, high) = (partition.low, partition.high.max(partition.low));
        let mut later = high;
        let mut offsets = vec![high; buckets + 1];
        for (slot, answer) in offsets.iter_mut().zip(&partition.at).rev() {
            let offset = answer.unwrap_or(later).clamp(low, high).min(later);
            *slot = offset;
            later = offset;
        }
        for (count, pair) in counts.iter_mut().zip(offsets.windows(2)) {
            *count += (pair[1] - pair[0]) as u64;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn partition(low: i64, high: i64, at: &[Option<i64>]) -> OffsetsAtTimes {
        OffsetsAtTimes {
            partition: 0,
            at: at.to_vec(),
            low,
            high,
        }
    }

    #[test]
    fn bucket_counts_from_boundary_offsets() {
        // Kafka's -1 (librdkafka's `Offset::End`): no record at or after the boundary.
        const END: Option<i64> = None;
        // (what, low, high, offsets at the boundaries, counts)
        type Row<'a> = (&'a str, i64, i64, &'a [Option<i64>], &'a [u64]);
        let rows: &[Row] = &[
            (
                "every boundary answered",
                0,
                10,
                &[Some(0), Some(3), Some(3), Some(10)],
                &[3, 0, 7],
            ),
            (
                "the last boundary is after the last record: the high watermark",
                0,
                9,
                &[Some(0), Some(4), END],
                &[4, 5],
            ),
            (
                "every boundary after the last record: nothing arrived",
                0,
                50,
                &[END, END, END],
                &[0, 0],
            ),
            ("an empty partition", 0, 0, &[END, END, END], &[0, 0]),
            (
                "records before the window are not counted",
                0,
                30,
                &[Some(20), Some(25), END],
                &[5, 5],
            ),
            (
                "a boundary with nothing after it, then a record written while asking",
                0,
                7,
                &[Some(2), END, Some(7)],
                &[5, 0],
            ),
            (
                "retention moved the log start past two boundaries",
                500,
                600,
                &[Some(400), Some(450), Some(520), Some(600)],
                &[0, 20, 80],
            ),
            (
                "retention removed everything before the last bucket",
                500,
                600,
                &[Some(500), Some(500), Some(500), END],
                &[0, 0, 100],
            ),
            (
                "records written after the watermark was read stay out",
                0,
                10,
                &[Some(0), Some(5), Some(12)],
                &[5, 5],
            ),
            (
                "answers out of order never make a negative bucket",
                0,
                8,
                &[Some(5), Some(3), Some(8)],
                &[0, 5],
            ),
        ];
        for (what, low, high, at, expected) in rows {
            let buckets = at.len() - 1;
            let counts = bucket_counts(buckets, &[partition(*low, *high, at)]);
            assert_eq!(counts, *expected, "{what}");
        }
    }

    #[test]
    fn partitions_add_up() {
        let partitions = [
            partition(0, 10, &[Some(0), Some(4), None]),
            partition(0, 3, &[None, None, None]),
            partition(100, 130, &[Some(100), Some(101), Some(110)]),
        ];
        assert_eq!(bucket_counts(2, &partitions), vec![5, 15]);
        assert_eq!(bucket_counts(2, &[]), vec![0, 0]);
    }

    #[test]
    fn boundaries_end_at_the_end() {
        let end = EpochMillis::new(10 * 3_600_000);
        let b = boundaries(3, HOUR, end);
        assert_eq!(
            b,
            [7, 8, 9, 10].map(|h| EpochMillis::new(h * 3_600_000)),
            "oldest first, buckets + 1 of them"
        );
    }

    #[test]
    fn the_next_boundary_is_the_next_full_hour() {
        let rows = [
            (14 * 3_600_000 + 1, 15 * 3_600_000),
            (14 * 3_600_000 + 3_599_999, 15 * 3_600_000),
            // On the hour itself: the hour just begun is a bucket of its own.
            (14 * 3_600_000, 15 * 3_600_000),
        ];
        for (now, next) in rows {
            assert_eq!(
                next_boundary(EpochMillis::new(now), HOUR),
                EpochMillis::new(next),
                "{now}"
            );
        }
    }

    #[test]
    fn a_bucket_starts_width_after_the_last() {
        let inflow = Inflow {
            start: EpochMillis::new(3_600_000),
            width: HOUR,
            counts: vec![1, 2, 3],
        };
        assert_eq!(inflow.bucket_start(2), EpochMillis::new(3 * 3_600_000));
        assert_eq!(inflow.total(), 6);
    }
}
