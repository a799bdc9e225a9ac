//! How a record's place is written for people and in Rebound's own headers:
//! `topic-partition@offset`, the way Spring's logs name a record (`email.send-0@17`). A record's
//! coordinates ([`Record::coordinates`](crate::Record::coordinates)), where a dead letter came
//! from (its provenance headers), and which dead letter a redriven or archived copy was made
//! from (`rebound-redriven-from`, `rebound-dead-letter`) are all written by this one `Display`.

use std::fmt;

/// Where a record is, or was: `topic-partition@offset`. A part that provenance headers do not
/// give (Spring's plain publisher may leave one out, or a header is damaged) is written `?`.
///
/// ```
/// use rebound::Coordinates;
///
/// assert_eq!(Coordinates::new("email.send", 0, 17).to_string(), "email.send-0@17");
/// let partly = Coordinates { partition: None, ..Coordinates::new("email.send", 0, 17) };
/// assert_eq!(partly.to_string(), "email.send-?@17");
/// assert!(!partly.is_complete());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coordinates<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition, when known.
    pub partition: Option<i32>,
    /// The offset in the partition, when known.
    pub offset: Option<i64>,
}

impl<'a> Coordinates<'a> {
    /// The record at `offset` of `partition` in `topic`.
    pub const fn new(topic: &'a str, partition: i32, offset: i64) -> Self {
        Coordinates {
            topic,
            partition: Some(partition),
            offset: Some(offset),
        }
    }

    /// Whether partition and offset are both known: the coordinates name one record.
    pub fn is_complete(&self) -> bool {
        self.partition.is_some() && self.offset.is_some()
    }
}

/// `topic-partition@offset`, `?` for a part not known.
impl fmt::Display for Coordinates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.topic)?;
        f.write_str("-")?;
        write_or_unknown(f, self.partition)?;
        f.write_str("@")?;
        write_or_unknown(f, self.offset)
    }
}

fn write_or_unknown(f: &mut fmt::Formatter<'_>, part: Option<impl fmt::Display>) -> fmt::Result {
    match part {
        Some(part) => write!(f, "{part}"),
        None => f.write_str("?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_read_as_spring_logs_a_record() {
        let at = |partition, offset| Coordinates {
            topic: "email.send.dlt",
            partition,
            offset,
        };
        let cases = [
            (at(Some(0), Some(17)), "email.send.dlt-0@17", true),
            (
                at(Some(12), Some(i64::MAX)),
                "email.send.dlt-12@9223372036854775807",
                true,
            ),
            (at(None, Some(17)), "email.send.dlt-?@17", false),
            (at(Some(3), None), "email.send.dlt-3@?", false),
            (at(None, None), "email.send.dlt-?@?", false),
        ];
        for (coordinates, text, complete) in cases {
            assert_eq!(coordinates.to_string(), text);
            assert_eq!(coordinates.is_complete(), complete, "{text}");
        }
        // A topic name may hold dashes and `@` of its own; the last `-` before the numbers is ours.
        assert_eq!(Coordinates::new("a-b@c", -1, 0).to_string(), "a-b@c--1@0");
    }
}
