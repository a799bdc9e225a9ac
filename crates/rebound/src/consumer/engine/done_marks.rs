//! Which records above the committed offset are already done, carried in the commit's metadata
//! so a restart redoes less, in every processing order.
//!
//! Records finish out of order (records of other keys, records at once, a record whose copy is
//! still on its way while the next ones are handled), and the committed offset stops at the
//! lowest record not finished: one slow record leaves everything finished above it to be handled
//! again by the next owner of the partition. Kafka keeps a string of metadata with each committed offset (up to
//! the broker's `offset.metadata.max.bytes`, 4096 by default), as Confluent's Parallel Consumer
//! uses it; the next owner reads it and skips what it marks.
//!
//! The text is `rebound-done:1:<next>:<hex>`: `next` is the committed offset it belongs to (a
//! mark written for another offset, or by another tool, is ignored), and bit *i* of the hex
//! bitmap (most significant bit first) says whether offset `next + 1 + i` is done. `next`
//! itself never is: it is the lowest record not finished.

use std::collections::HashSet;
use std::fmt::Write;

use crate::consumer::cluster;
use crate::consumer::context::Context;
use crate::consumer::registry::Tp;

const PREFIX: &str = "rebound-done:1:";

/// At most this many offsets above the committed one are marked: 8,192 bits take 2,048 hex
/// characters, half of what Kafka keeps by default. Finished records beyond are handled again.
pub(crate) const MAX_MARKED: i64 = 8192;

/// The metadata saying that `done` (offsets above `next`) are finished. `None` when none is.
pub(crate) fn encode(next: i64, done: impl IntoIterator<Item = i64>) -> Option<String> {
    let mut bits = Vec::new();
    for offset in done {
        let i = offset - next - 1;
        if !(0..MAX_MARKED).contains(&i) {
            continue;
        }
        let i = i as usize;
        if bits.len() <= i / 8 {
            bits.resize(i / 8 + 1, 0u8);
        }
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    if bits.is_empty() {
        return None;
    }
    let mut text = format!("{PREFIX}{next}:");
    for byte in bits {
        let _ = write!(text, "{byte:02x}");
    }
    Some(text)
}

/// The offsets `metadata` marks done, when it was written for committed offset `next`.
pub(crate) fn decode(metadata: &str, next: i64) -> HashSet<i64> {
    let mut done = HashSet::new();
    let Some((written_for, hex)) = metadata
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once(':'))
    else {
        return done;
    };
    if written_for.parse() != Ok(next) || hex.len() % 2 != 0 {
        return done;
    }
    for (index, pair) in hex.as_bytes().chunks(2).enumerate() {
        let Some(byte) = std::str::from_utf8(pair)
            .ok()
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        else {
            return HashSet::new(); // Corrupt: trust none of it.
        };
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                done.insert(next + 1 + (index * 8 + bit) as i64);
            }
        }
    }
    done
}

/// The records finished above the committed offset of `tp`, as its commit's metadata marks them;
/// empty when none are, or the broker does not say.
pub(super) async fn done_before(context: &Context, tp: &Tp) -> HashSet<i64> {
    cluster::committed(&context.consumer, &tp.topic, tp.partition)
        .await
        .map(|(next, metadata)| decode(&metadata, next))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marks_read_back_for_their_own_offset_only() {
        let text = encode(100, [101, 103, 110]).unwrap();
        assert_eq!(text, "rebound-done:1:100:a040");
        assert_eq!(decode(&text, 100), HashSet::from([101, 103, 110]));
        assert!(decode(&text, 99).is_empty(), "written for another offset");
        assert_eq!(encode(100, []), None);
        assert_eq!(encode(100, [100, 50]), None, "nothing above next");
    }

    #[test]
    fn foreign_or_corrupt_metadata_marks_nothing() {
        for text in [
            "",
            "spring",
            "rebound-done:1:100",
            "rebound-done:1:100:zz",
            "rebound-done:1:100:a",
            "rebound-done:2:100:ff",
        ] {
            assert!(decode(text, 100).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn marks_stay_within_what_kafka_keeps() {
        let text = encode(0, 1..=100_000).unwrap();
        assert!(text.len() <= 4096, "{} bytes", text.len());
        assert_eq!(decode(&text, 0).len(), MAX_MARKED as usize);
    }

    proptest! {
        #[test]
        fn what_is_encoded_is_decoded(next in 0i64..1_000_000, done in proptest::collection::hash_set(1i64..=MAX_MARKED, 0..300)) {
            let done: HashSet<i64> = done.into_iter().map(|d| next + d).collect();
            let decoded = encode(next, done.iter().copied()).map(|t| decode(&t, next)).unwrap_or_default();
            prop_assert_eq!(decoded, done);
        }
    }
}
