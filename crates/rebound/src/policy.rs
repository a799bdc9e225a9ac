//! What to do when a handler fails: how many attempts, how long to wait between them, and where a
//! record goes when it runs out of attempts.
//!
//! The defaults mirror Spring Kafka's `@RetryableTopic` so that a Rust worker and a Java worker
//! configured alike derive the same topic names (see [`crate::naming`]).

use std::time::Duration;

/// How the delay before each retry grows.
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial * multiplier^(n-1)` before retry `n`, capped at `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// How much each delay grows over the previous one.
        multiplier: f64,
        /// The longest delay.
        max: Duration,
    },
}

impl Backoff {
    /// Spring's `@Backoff(delay, multiplier)` with its default cap of 30 s.
    pub fn exponential(initial: Duration, multiplier: f64) -> Self {
        Backoff::Exponential {
            initial,
            multiplier,
            max: Duration::from_secs(30),
        }
    }

    /// Replaces the cap of an exponential back-off; a fixed back-off is left as it is.
    pub fn with_max(self, cap: Duration) -> Self {
        match self {
            Backoff::Exponential {
                initial,
                multiplier,
                ..
            } => Backoff::Exponential {
                initial,
                multiplier,
                max: cap,
            },
            fixed => fixed,
        }
    }

    /// The delay after failed attempt `failed_attempt` (1-based), before the next one.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        match self {
            Backoff::Fixed(delay) => *delay,
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let exponent = failed_attempt.saturating_sub(1).min(64) as i32;
                let millis = initial.as_millis() as f64 * multiplier.powi(exponent);
                let capped = millis.min(max.as_millis() as f64).max(0.0);
                Duration::from_millis(capped.round() as u64)
            }
        }
    }
}

/// In-place retries inside the consumer before a record is handed to the retry topics. Good for
/// faults that last milliseconds (a dropped connection); they hold up the record's partition
/// while they run, so keep them short.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockingRetries {
    /// Total in-place attempts (1 means no blocking retry). `u32::MAX` means retry until it works,
    /// which is what a dead-letter listener wants for an alert that must not be dropped.
    pub attempts: u32,
    /// The delay between in-place tries.
    pub backoff: Backoff,
}

impl BlockingRetries {
    /// `attempts` tries in place (the first included), `backoff` between them.
    pub fn new(attempts: u32, backoff: Backoff) -> Self {
        BlockingRetries {
            attempts: attempts.max(1),
            backoff,
        }
    }

    /// Retries forever with the given back-off: the record is never given up.
    pub fn forever(backoff: Backoff) -> Self {
        BlockingRetries {
            attempts: u32::MAX,
            backoff,
        }
    }
}

/// How retry topics are suffixed when several attempts share one delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicReuse {
    /// Spring's default (`SameIntervalTopicReuseStrategy.SINGLE_TOPIC`): attempts that wait the same
    /// delay share one topic.
    #[default]
    SingleTopic,
    /// One topic per attempt (`MULTIPLE_TOPICS`): equal delays get `-0`, `-1`, … after the name.
    TopicPerAttempt,
}

/// How a retry topic's suffix is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicSuffixing {
    /// `-retry-1000`: the delay in milliseconds (Spring's `SUFFIX_WITH_DELAY_VALUE`, the default).
    #[default]
    DelayValue,
    /// `-retry-0`, `-retry-1`: the index of the retry (Spring's `SUFFIX_WITH_INDEX_VALUE`).
    IndexValue,
}

/// The whole retry configuration of one consumer: the Rust spelling of `@RetryableTopic`.
///
/// ```
/// use std::time::Duration;
/// use rebound::{Backoff, RetryPolicy};
///
/// // The scenario: 5 attempts, 1 s doubling, dead letters in `email.send.dlt`.
/// let policy = RetryPolicy::new(5)
///     .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
///     .dlt_suffix(".dlt");
/// assert_eq!(policy.retry_delays(), vec![
///     Duration::from_secs(1), Duration::from_secs(2),
///     Duration::from_secs(4), Duration::from_secs(8),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: f64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry_suffix: String,
    pub(crate) dlt_suffix: String,
    pub(crate) dlt: bool,
    pub(crate) blocking: Option<BlockingRetries>,
    pub(crate) reuse: TopicReuse,
    pub(crate) suffixing: TopicSuffixing,
}

impl Default for RetryPolicy {
    /// Spring's defaults: 3 attempts, 1 s fixed back-off, `-dlt`.
    fn default() -> Self {
        RetryPolicy::new(3)
    }
}

impl RetryPolicy {
    /// `attempts` counts every delivery, the first one included (Spring's `attempts`).
    pub fn new(attempts: u32) -> Self {
        RetryPolicy {
            attempts: attempts.max(1),
            backoff: Backoff::Fixed(Duration::from_secs(1)),
            jitter: 0.0,
            timeout: None,
            retry_suffix: "-retry".into(),
            dlt_suffix: "-dlt".into(),
            dlt: true,
            blocking: None,
            reuse: TopicReuse::SingleTopic,
            suffixing: TopicSuffixing::DelayValue,
        }
    }

    /// How the delay grows between deliveries (Spring's `@Backoff`).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Spreads each delay by up to `fraction` (0.0–1.0) of itself, later only: a record is never
    /// due before its nominal delay. Topic names keep the nominal delays.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Gives up (to the DLT) once this much time has passed since the original record's timestamp.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry topics' suffix (default `-retry`).
    pub fn retry_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.retry_suffix = suffix.into();
        self
    }

    /// The DLT's suffix (default `-dlt`; the scenario uses `.dlt`).
    pub fn dlt_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.dlt_suffix = suffix.into();
        self
    }

    /// No dead-letter topic: a record that runs out of attempts is logged and skipped.
    pub fn without_dlt(mut self) -> Self {
        self.dlt = false;
        self
    }

    /// Tries in place before a record leaves for a retry topic (Spring's blocking retries).
    pub fn blocking_retries(mut self, blocking: BlockingRetries) -> Self {
        self.blocking = Some(blocking);
        self
    }

    /// Whether equal trailing delays share one retry topic (Spring's default) or get one each.
    pub fn topic_reuse(mut self, reuse: TopicReuse) -> Self {
        self.reuse = reuse;
        self
    }

    /// Whether retry topics are suffixed with their delay (default) or their index.
    pub fn topic_suffixing(mut self, suffixing: TopicSuffixing) -> Self {
        self.suffixing = suffixing;
        self
    }

    /// Deliveries in all, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether records out of attempts go to a DLT.
    pub fn has_dlt(&self) -> bool {
        self.dlt
    }

    /// The in-place retries, if any.
    pub fn blocking(&self) -> Option<&BlockingRetries> {
        self.blocking.as_ref()
    }

    /// The longest a record may spend in the chain, counted from the first record's timestamp.
    pub fn overall_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The nominal delay before each retry, one per retry topic hop (`attempts - 1` of them).
    pub fn retry_delays(&self) -> Vec<Duration> {
        (1..self.attempts)
            .map(|n| self.backoff.delay_after(n))
            .collect()
    }

    /// The delay to wait after failed attempt `n`, jitter applied.
    pub(crate) fn delay_with_jitter(&self, failed_attempt: u32) -> Duration {
        let nominal = self.backoff.delay_after(failed_attempt);
        if self.jitter == 0.0 {
            return nominal;
        }
        let extra = nominal.as_secs_f64() * self.jitter * rand::random::<f64>();
        nominal + Duration::from_secs_f64(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_delays_double() {
        let policy = RetryPolicy::new(5).backoff(Backoff::exponential(Duration::from_secs(1), 2.0));
        let delays: Vec<u128> = policy
            .retry_delays()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 8000]);
    }

    #[test]
    fn exponential_is_capped() {
        let backoff =
            Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4));
        let delays: Vec<u128> = (1..=5)
            .map(|n| backoff.delay_after(n).as_millis())
            .collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn jitter_never_shortens_a_delay() {
        let policy = RetryPolicy::new(4)
            .backoff(Backoff::Fixed(Duration::from_millis(100)))
            .jitter(0.5);
        for _ in 0..100 {
            let d = policy.delay_with_jitter(1);
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
    }

    #[test]
    fn one_attempt_means_no_retry_topic() {
        assert!(RetryPolicy::new(1).retry_delays().is_empty());
        assert_eq!(RetryPolicy::new(0).attempts(), 1);
    }
}
