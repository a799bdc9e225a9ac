//! When a redrive stops itself. Pure, so the rule is a table of rows below.
//!
//! A redrive sends dead letters back to a consumer that failed them; if the cause is not fixed
//! they die again, each after the chain's whole back-off, and a person finds out after the whole
//! selection went round. A canary sends a few first and waits at least as long as the chain's
//! delays; the rule then compares the share of the copies that came back with the threshold.

use std::fmt;
use std::time::Duration;

/// The share of returns a canary allows when its caller names none: one copy in five coming
/// back says the cause is not fixed (a few records failing for reasons of their own do not).
pub const DEFAULT_PAUSE_ABOVE: f64 = 0.2;

/// Send the first `first` dead letters, then wait `wait` before the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canary {
    /// How many go first.
    pub first: usize,
    /// How long the rest waits after the first are acknowledged: at least the retry chain's
    /// delays plus the handling time, or a copy failing again has not reached the DLT yet.
    pub wait: Duration,
}

/// Why a redrive paused itself: more than `threshold` of the `sent` copies came back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pause {
    /// Copies acknowledged when it paused.
    pub sent: usize,
    /// Of them, the dead letters whose copies came back to the DLT.
    pub returned: usize,
    /// The share (0 to 1) it was allowed.
    pub threshold: f64,
}

impl Pause {
    /// The pause the rule calls for, if any: once at least `at_least` copies are out (a canary
    /// judges its whole sample), `returned` of `sent` is more than `threshold` of them.
    pub(crate) fn judge(
        sent: usize,
        returned: usize,
        threshold: f64,
        at_least: usize,
    ) -> Option<Pause> {
        let over = sent >= at_least.max(1) && returned as f64 > threshold * sent as f64;
        over.then_some(Pause {
            sent,
            returned,
            threshold,
        })
    }
}

/// `3 of 10 redriven copies came back to the DLT (30 %, more than the 20 % allowed)`.
impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = 100.0 * self.returned as f64 / self.sent.max(1) as f64;
        write!(
            f,
            "{} of {} redriven copies came back to the DLT ({}, more than the {} allowed)",
            self.returned,
            self.sent,
            percent(share),
            percent(100.0 * self.threshold),
        )
    }
}

/// The share a person writes as a percentage (`20%`, `20`, ` 2.5 % `): 0.2, 0.025; `None`
/// unless it is a number from 0 to 100. Every face reads `--pause-above` (and its form field)
/// through this, so they accept the same.
pub fn share_of_percent(text: &str) -> Option<f64> {
    let number = text.trim().trim_end_matches('%').trim();
    number
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .map(|p| p / 100.0)
}

/// `30 %`, `2.5 %`: no trailing zeros.
fn percent(value: f64) -> String {
    let text = format!("{value:.1}");
    format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_redrive_pauses() {
        // (sent, returned, threshold, at_least) → pauses
        let rows = [
            ((10, 3, 0.2, 10), true),
            ((10, 2, 0.2, 10), false), // exactly the share allowed
            ((9, 9, 0.2, 10), false),  // the canary's sample is not all out yet
            ((1, 1, 0.2, 1), true),    // no canary: judged from the first copy
            ((0, 0, 0.0, 1), false),   // nothing sent
            ((5, 1, 0.0, 1), true),    // a zero threshold: any return pauses
            ((5, 0, 0.0, 1), false),
            ((100, 100, 1.0, 1), false), // 100 %: never pauses
            ((0, 0, 0.2, 0), false),     // a canary of 0 behaves as none
        ];
        for ((sent, returned, threshold, at_least), pauses) in rows {
            let got = Pause::judge(sent, returned, threshold, at_least);
            assert_eq!(
                got.is_some(),
                pauses,
                "{returned} of {sent} back, {threshold} allowed, judged from {at_least}"
            );
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(share_of_percent("20%"), Some(0.2));
        assert_eq!(share_of_percent("20"), Some(0.2));
        assert_eq!(share_of_percent(" 0 % "), Some(0.0));
        assert_eq!(share_of_percent("100%"), Some(1.0));
        assert_eq!(share_of_percent("2.5%"), Some(0.025));
        for refused in ["120%", "-1", "a fifth", "NaN", ""] {
            assert_eq!(share_of_percent(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn a_pause_says_what_it_saw() {
        let pause = Pause::judge(10, 3, 0.2, 10).unwrap();
        assert_eq!(
            pause.to_string(),
            "3 of 10 redriven copies came back to the DLT (30 %, more than the 20 % allowed)"
        );
        let pause = Pause::judge(40, 1, 0.0, 1).unwrap();
        assert_eq!(
            pause.to_string(),
            "1 of 40 redriven copies came back to the DLT (2.5 %, more than the 0 % allowed)"
        );
    }
}
