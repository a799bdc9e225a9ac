//! Wall-clock instants as Kafka and Spring carry them: milliseconds since the Unix epoch.
//!
//! Record timestamps, due times of retry records, failure times and ledger entries are all such
//! instants; one type for them keeps "a time" from being mistaken for "a duration" or an offset,
//! and [`EpochMillis::now`] is the one clock reading of the workspace.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in milliseconds since the Unix epoch (UTC), as Kafka timestamps are.
///
/// ```
/// use std::time::Duration;
/// use rebound::EpochMillis;
///
/// let failed = EpochMillis::new(1_764_320_000_000);
/// let due = failed + Duration::from_secs(1);
/// assert_eq!(due.as_i64(), 1_764_320_001_000);
/// assert_eq!(due.since(failed), Some(Duration::from_secs(1)));
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct EpochMillis(i64);

impl EpochMillis {
    /// The instant `millis` after the epoch.
    pub const fn new(millis: i64) -> Self {
        EpochMillis(millis)
    }

    /// Now, rounded up to the next millisecond: a due time computed from it is never before the
    /// real instant plus the delay, so a retry is never handled early.
    pub fn now() -> Self {
        EpochMillis(micros_since_epoch().saturating_add(999) / 1000)
    }

    /// Milliseconds since the epoch.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// How long from `earlier` to this instant; `None` when `earlier` is later.
    pub fn since(self, earlier: EpochMillis) -> Option<Duration> {
        let ms = self.0.checked_sub(earlier.0)?;
        u64::try_from(ms).ok().map(Duration::from_millis)
    }

    /// How long from now until this instant, to the microsecond; `None` when it has passed.
    pub fn time_until(self) -> Option<Duration> {
        let wait = self
            .0
            .saturating_mul(1000)
            .saturating_sub(micros_since_epoch());
        u64::try_from(wait)
            .ok()
            .filter(|w| *w > 0)
            .map(Duration::from_micros)
    }

    /// The instant as a [`SystemTime`] (instants before the epoch read as the epoch).
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

impl std::ops::Add<Duration> for EpochMillis {
    type Output = EpochMillis;

    fn add(self, delay: Duration) -> EpochMillis {
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        EpochMillis(self.0.saturating_add(ms))
    }
}

impl From<i64> for EpochMillis {
    fn from(millis: i64) -> Self {
        EpochMillis(millis)
    }
}

/// The decimal milliseconds, as Rebound's own time headers and the ledger write them.
impl fmt::Display for EpochMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for EpochMillis {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(EpochMillis)
    }
}

fn micros_since_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_never_before_the_clock() {
        let before = SystemTime::now();
        let now = EpochMillis::now();
        assert!(now.to_system_time() >= before - Duration::from_millis(1));
        assert!(now.to_system_time() + Duration::from_millis(1) >= before);
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let late = EpochMillis::new(i64::MAX - 1) + Duration::from_secs(10);
        assert_eq!(late, EpochMillis::new(i64::MAX));
        assert_eq!(EpochMillis::new(5).since(EpochMillis::new(10)), None);
        assert_eq!(EpochMillis::new(0).time_until(), None);
        // The extremes a corrupt back-off header can hold: a wait longer than a day, and none.
        let never = EpochMillis::new(i64::MAX).time_until();
        assert!(never.is_some_and(|w| w > Duration::from_secs(365 * 24 * 3600)));
        assert_eq!(EpochMillis::new(i64::MIN).time_until(), None);
    }

    #[test]
    fn text_round_trips() {
        let t: EpochMillis = "1764320000000".parse().unwrap();
        assert_eq!(t.to_string(), "1764320000000");
        assert!("soon".parse::<EpochMillis>().is_err());
    }
}
