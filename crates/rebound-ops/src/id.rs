//! Naming a dead letter: where it sits ([`Position`]), which topic it was read from ([`Source`]),
//! and both together ([`DeadLetterId`]), the key of its ledger entries.
//!
//! The text forms are on disk (ledger keys and entries, `rebound-redriven-from`) and in the
//! command's output, so they never change: `3@17` for a dead letter in the DLT, `archive:0@5` for
//! an archived copy. Parsing an id accepts exactly what [`Display`](fmt::Display) writes, so an
//! id read from the ledger is the one that was written.

use std::fmt;
use std::str::FromStr;

use rebound::Coordinates;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::parse_error::ParseError;

/// Where a dead letter sits in its topic: `partition@offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
}

impl Position {
    /// This position in `topic`: `topic-p@o`, how a dead letter is named in the headers of the
    /// copies made from it (`rebound-redriven-from`, `rebound-dead-letter`) and to people.
    pub fn in_topic(self, topic: &str) -> Coordinates<'_> {
        Coordinates::new(topic, self.partition, self.offset)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// `p@o`, spaces around either number allowed (a person types it).
impl FromStr for Position {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, o) = s
            .split_once('@')
            .ok_or_else(|| ParseError::NotAPosition(s.to_string()))?;
        Ok(Position {
            partition: p
                .trim()
                .parse()
                .map_err(|_| ParseError::BadPartition(s.to_string()))?,
            offset: o
                .trim()
                .parse()
                .map_err(|_| ParseError::BadOffset(s.to_string()))?,
        })
    }
}

/// As its text, `p@o` (the ledger's `copy` field).
impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where dead letters are read from: the DLT itself, or the archive of discarded ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Source {
    /// The dead-letter topic.
    #[default]
    Dlt,
    /// `<dlt>.archive`: the copies of discarded dead letters.
    Archive,
}

impl Source {
    /// The topic this source reads for `dlt`.
    pub fn topic(self, dlt: &str) -> String {
        match self {
            Source::Dlt => dlt.to_string(),
            Source::Archive => rebound::naming::archive_topic(dlt),
        }
    }

    /// What an id of this source starts with.
    fn prefix(self) -> &'static str {
        match self {
            Source::Dlt => "",
            Source::Archive => ARCHIVE_PREFIX,
        }
    }
}

const ARCHIVE_PREFIX: &str = "archive:";

/// One dead letter of a DLT, in the DLT itself or in its archive: the key of its ledger entries.
///
/// ```
/// use rebound_ops::{DeadLetterId, Position, Source};
///
/// let id: DeadLetterId = "archive:0@5".parse().unwrap();
/// assert_eq!(id.source, Source::Archive);
/// assert_eq!(id.position, Position { partition: 0, offset: 5 });
/// assert_eq!(id.to_string(), "archive:0@5");
/// assert_eq!(DeadLetterId::new(Source::Dlt, Position { partition: 3, offset: 17 }).to_string(), "3@17");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeadLetterId {
    /// The topic it is read from.
    pub source: Source,
    /// Where it sits there.
    pub position: Position,
}

impl DeadLetterId {
    /// The dead letter at `position` in `source`.
    pub const fn new(source: Source, position: Position) -> Self {
        DeadLetterId { source, position }
    }
}

/// `p@o` for the DLT, `archive:p@o` for the archive.
impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.source.prefix(), self.position)
    }
}

/// Exactly the text [`Display`](fmt::Display) writes: no spaces, no leading zeros or signs, so
/// two ids are equal exactly when their texts are.
impl FromStr for DeadLetterId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (source, position) = match s.strip_prefix(ARCHIVE_PREFIX) {
            Some(rest) => (Source::Archive, rest),
            None => (Source::Dlt, s),
        };
        // Errors name the whole text, prefix included: that is what the reader has in front of them.
        let position = position.parse().map_err(|e: ParseError| e.about(s))?;
        let id = DeadLetterId::new(source, position);
        if id.to_string() != s {
            return Err(ParseError::NotAnId(s.to_string()));
        }
        Ok(id)
    }
}

/// As its text (the ledger's `dead_letter` field).
impl Serialize for DeadLetterId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeadLetterId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, offset: i64) -> Position {
        Position { partition, offset }
    }

    #[test]
    fn ids_round_trip_through_their_text() {
        let cases = [
            ("3@17", DeadLetterId::new(Source::Dlt, at(3, 17))),
            ("0@0", DeadLetterId::new(Source::Dlt, at(0, 0))),
            ("archive:0@5", DeadLetterId::new(Source::Archive, at(0, 5))),
            (
                "archive:12@9223372036854775807",
                DeadLetterId::new(Source::Archive, at(12, i64::MAX)),
            ),
        ];
        for (text, id) in cases {
            assert_eq!(text.parse::<DeadLetterId>(), Ok(id), "{text}");
            assert_eq!(id.to_string(), text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<DeadLetterId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        type Case = (&'static str, ParseError);
        let not_an_id = |s: &str| ParseError::NotAnId(s.into());
        let cases: &[Case] = &[
            ("", ParseError::NotAPosition("".into())),
            ("17", ParseError::NotAPosition("17".into())),
            ("archive:", ParseError::NotAPosition("archive:".into())),
            ("archive:3", ParseError::NotAPosition("archive:3".into())),
            ("@17", ParseError::BadPartition("@17".into())),
            ("3@", ParseError::BadOffset("3@".into())),
            ("x@1", ParseError::BadPartition("x@1".into())),
            ("3@17@1", ParseError::BadOffset("3@17@1".into())),
            ("dlt:3@17", ParseError::BadPartition("dlt:3@17".into())),
            (
                "ARCHIVE:3@17",
                ParseError::BadPartition("ARCHIVE:3@17".into()),
            ),
            (
                "archive:archive:3@17",
                ParseError::BadPartition("archive:archive:3@17".into()),
            ),
            // Readable as a position, but not as the ledger writes ids.
            (" 3@17", not_an_id(" 3@17")),
            ("3 @ 17", not_an_id("3 @ 17")),
            ("03@17", not_an_id("03@17")),
            ("+3@17", not_an_id("+3@17")),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<DeadLetterId>().as_ref(),
                Err(expected),
                "{text:?}"
            );
        }
        assert!(serde_json::from_str::<DeadLetterId>("\"3-17\"").is_err());
        assert!(serde_json::from_str::<DeadLetterId>("17").is_err());
    }

    #[test]
    fn positions_forgive_spaces_and_say_what_is_wrong() {
        assert_eq!(" 3 @ 17 ".parse(), Ok(at(3, 17)));
        let message = |s: &str| s.parse::<Position>().unwrap_err().to_string();
        assert_eq!(
            message("17"),
            "`17` is not partition@offset (example: 0@17)"
        );
        assert_eq!(message("a@17"), "bad partition in `a@17`");
        assert_eq!(message("3@b"), "bad offset in `3@b`");
    }

    #[test]
    fn a_position_in_a_topic_names_the_dead_letter() {
        assert_eq!(
            at(3, 17).in_topic("email.send.dlt").to_string(),
            "email.send.dlt-3@17"
        );
        assert_eq!(
            at(0, 5)
                .in_topic(&Source::Archive.topic("email.send.dlt"))
                .to_string(),
            "email.send.dlt.archive-0@5"
        );
    }

    #[test]
    fn sources_name_their_topic() {
        assert_eq!(Source::Dlt.topic("email.send.dlt"), "email.send.dlt");
        assert_eq!(
            Source::Archive.topic("email.send.dlt"),
            "email.send.dlt.archive"
        );
    }
}
