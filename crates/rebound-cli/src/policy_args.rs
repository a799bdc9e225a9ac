//! The retry policy as flags, for commands that derive a chain's topics from it: the flags of
//! `rebound chain`, plus the suffix and reuse settings Spring's `@RetryableTopic` has.

use std::time::Duration;

use clap::Args;
use rebound::{Backoff, RetryPolicy, TopicReuse, TopicSuffixing};

#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Deliveries in all, the first one included.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Delay before the first retry, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub delay_ms: u64,
    /// Growth of the delay per retry (1 = fixed back-off).
    #[arg(long, default_value_t = 1.0)]
    pub multiplier: f64,
    /// Cap on the delay, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub max_delay_ms: u64,
    /// Suffix of the retry topics (before the delay or index).
    #[arg(long, default_value = "-retry")]
    pub retry_suffix: String,
    /// Suffix of the dead-letter topic.
    #[arg(long, default_value = "-dlt")]
    pub dlt_suffix: String,
    /// One retry topic per attempt when delays repeat (Spring's MULTIPLE_TOPICS:
    /// `-retry-4000-0`, `-retry-4000-1`; `-retry-0`, … for a fixed back-off).
    #[arg(long)]
    pub topic_per_attempt: bool,
    /// Suffix retry topics with their index instead of their delay (SUFFIX_WITH_INDEX_VALUE).
    #[arg(long)]
    pub index_suffixing: bool,
}

impl PolicyArgs {
    pub fn policy(&self) -> RetryPolicy {
        let delay = Duration::from_millis(self.delay_ms);
        let backoff = if self.multiplier == 1.0 {
            Backoff::Fixed(delay)
        } else {
            Backoff::exponential(delay, self.multiplier)
                .with_max(Duration::from_millis(self.max_delay_ms))
        };
        let mut policy = RetryPolicy::new(self.attempts)
            .backoff(backoff)
            .retry_suffix(self.retry_suffix.clone())
            .dlt_suffix(self.dlt_suffix.clone());
        if self.topic_per_attempt {
            policy = policy.topic_reuse(TopicReuse::TopicPerAttempt);
        }
        if self.index_suffixing {
            policy = policy.topic_suffixing(TopicSuffixing::IndexValue);
        }
        policy
    }
}
