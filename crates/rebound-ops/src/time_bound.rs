//! The one reading of a time a person types to bound a selection of dead letters: `--since` and
//! `--until` of `rebound dlt`, the console's `since` and `until` fields. Either an instant in
//! RFC 3339 (`2026-11-28T09:00:00Z`) or an age before now (`30m`, `2h`, `1d`).
//!
//! Both faces read it here so that a link copied from the console and the command it shows
//! select the same dead letters, and so that an age reaching back before 1970 (no record is
//! that old; `18446744073709551615s` once made the command panic) is refused the same way.

use std::time::{Duration, UNIX_EPOCH};

use rebound::EpochMillis;

/// Why a text is not a time bound. The message quotes the text; a caller names the field
/// (`--since`, `until`) in front of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeBoundError {
    /// Neither RFC 3339 nor an age.
    #[error("`{0}` is neither a time (2026-11-28T09:00:00Z) nor an age (2h)")]
    NotATime(String),
    /// An age longer than the time since 1970-01-01, the earliest time a record can carry.
    #[error(
        "`{0}` reaches back before 1970, earlier than any record: give a shorter age (90d) or a time (2026-11-28T09:00:00Z)"
    )]
    BeforeTheEpoch(String),
}

/// The instant `text` means when read at `now`: RFC 3339, or an age before `now`. Surrounding
/// spaces are ignored (a person types it).
///
/// ```
/// use rebound::EpochMillis;
/// use rebound_ops::parse_time_bound;
///
/// let now = EpochMillis::new(1_764_320_400_000);
/// assert_eq!(parse_time_bound("2h", now), Ok(EpochMillis::new(1_764_313_200_000)));
/// assert_eq!(parse_time_bound("2025-11-28T09:00:00Z", now), Ok(EpochMillis::new(1_764_320_400_000)));
/// assert!(parse_time_bound("18446744073709551615s", now).is_err());
/// ```
pub fn parse_time_bound(text: &str, now: EpochMillis) -> Result<EpochMillis, TimeBoundError> {
    let text = text.trim();
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        // humantime reads years from 1970 only, so the time is never before the epoch.
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        return Ok(EpochMillis::new(millis(since_epoch).unwrap_or(i64::MAX)));
    }
    let age = match humantime::parse_duration(text) {
        Ok(age) => age,
        Err(humantime::DurationError::NumberOverflow) => {
            return Err(TimeBoundError::BeforeTheEpoch(text.to_string()))
        }
        Err(_) => return Err(TimeBoundError::NotATime(text.to_string())),
    };
    millis(age)
        .and_then(|age| now.as_i64().checked_sub(age))
        .filter(|at| *at >= 0)
        .map(EpochMillis::new)
        .ok_or_else(|| TimeBoundError::BeforeTheEpoch(text.to_string()))
}

/// [`parse_time_bound`] at [`EpochMillis::now`].
pub fn parse_time_bound_now(text: &str) -> Result<EpochMillis, TimeBoundError> {
    parse_time_bound(text, EpochMillis::now())
}

/// Whole milliseconds, `None` past `i64::MAX`.
fn millis(duration: Duration) -> Option<i64> {
    i64::try_from(duration.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: EpochMillis = EpochMillis::new(1_764_320_400_000); // 2025-11-28T09:00:00Z

    #[test]
    fn times_and_ages_read_as_instants() {
        let at = |ms: i64| Ok(EpochMillis::new(ms));
        let cases: &[(&str, Result<EpochMillis, TimeBoundError>)] = &[
            ("2025-11-28T09:00:00Z", at(1_764_320_400_000)),
            ("2025-11-28T09:00:00.250Z", at(1_764_320_400_250)),
            ("2025-11-28 09:00:00", at(1_764_320_400_000)),
            ("1970-01-01T00:00:00Z", at(0)),
            (" 2h ", at(1_764_313_200_000)),
            ("30m", at(1_764_318_600_000)),
            ("1d", at(1_764_234_000_000)),
            ("0s", at(1_764_320_400_000)),
            ("1764320400s", at(0)),
        ];
        for (text, expected) in cases {
            assert_eq!(&parse_time_bound(text, NOW), expected, "{text:?}");
        }
    }

    #[test]
    fn ages_before_1970_are_refused_not_clamped() {
        for text in [
            "1764320401s",
            "100y",
            "18446744073709551615s",
            "18446744073709551616s",
            "99999999999999999999999d",
        ] {
            assert_eq!(
                parse_time_bound(text, NOW),
                Err(TimeBoundError::BeforeTheEpoch(text.into())),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_time_bound("18446744073709551615s", NOW)
                .unwrap_err()
                .to_string(),
            "`18446744073709551615s` reaches back before 1970, earlier than any record: give a \
             shorter age (90d) or a time (2026-11-28T09:00:00Z)"
        );
    }

    #[test]
    fn other_text_says_which_forms_are_meant() {
        for text in ["", "yesterday-ish", "2h ago", "1969-12-31T23:59:59Z", "-2h"] {
            assert_eq!(
                parse_time_bound(text, NOW),
                Err(TimeBoundError::NotATime(text.into())),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_time_bound("soon", NOW).unwrap_err().to_string(),
            "`soon` is neither a time (2026-11-28T09:00:00Z) nor an age (2h)"
        );
    }
}
