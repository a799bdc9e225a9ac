//! What the runtime reports as it goes, for metrics and audits: register a closure with
//! [`RetryingConsumerBuilder::on_event`](super::RetryingConsumerBuilder::on_event).

use std::time::Duration;

use crate::failure::FailureClass;

/// One thing that happened to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// The handler succeeded.
    Handled {
        topic: &'a str,
        attempt: u32,
        latency: Duration,
    },
    /// The handler failed for good on this delivery (in-place retries exhausted or not retryable).
    Failed {
        topic: &'a str,
        attempt: u32,
        class: FailureClass,
        latency: Duration,
    },
    /// A failed record's copy was acknowledged by a retry topic.
    Forwarded { from: &'a str, to: &'a str },
    /// A failed record's copy was acknowledged by the DLT.
    DeadLettered { from: &'a str, to: &'a str },
    /// A copy could not be written; the source offset stays uncommitted and it is tried again.
    ForwardFailed { from: &'a str, to: &'a str },
}

pub(crate) type Observer = std::sync::Arc<dyn Fn(&Event<'_>) + Send + Sync>;
