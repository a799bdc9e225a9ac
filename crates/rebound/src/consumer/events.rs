//! What the runtime reports as it goes, for metrics and audits: register a closure with
//! [`RetryingConsumerBuilder::on_event`](super::RetryingConsumerBuilder::on_event).

use std::time::Duration;

use crate::failure::FailureClass;

/// One thing that happened to one record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The handler succeeded.
    Handled {
        /// The topic it was read from.
        topic: &'a str,
        /// Which delivery it was.
        attempt: u32,
        /// How long the handler took (in-place retries included).
        latency: Duration,
    },
    /// The handler failed for good on this delivery (in-place retries exhausted or not retryable).
    Failed {
        /// The topic it was read from.
        topic: &'a str,
        /// Which delivery it was.
        attempt: u32,
        /// How the failure was classified.
        class: FailureClass,
        /// How long the handler took (in-place retries included).
        latency: Duration,
    },
    /// A failed record's copy was acknowledged by a retry topic.
    Forwarded {
        /// The topic the record was read from.
        from: &'a str,
        /// The topic of the copy.
        to: &'a str,
    },
    /// A failed record's copy was acknowledged by the DLT.
    DeadLettered {
        /// The topic the record was read from.
        from: &'a str,
        /// The topic of the copy.
        to: &'a str,
    },
    /// A copy could not be written; the source offset stays uncommitted and it is tried again.
    ForwardFailed {
        /// The topic the record was read from.
        from: &'a str,
        /// The topic of the copy.
        to: &'a str,
    },
}

pub(crate) type Observer = std::sync::Arc<dyn Fn(&Event<'_>) + Send + Sync>;
