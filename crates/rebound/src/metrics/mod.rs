//! The consumer's metrics, through the [`metrics`](https://docs.rs/metrics) facade: a service
//! that installs a recorder (`metrics-exporter-prometheus`, StatsD, …) gets them; one that does
//! not pays a branch per record, and no allocation (the handles are registered once per topic).
//!
//! Install the recorder before [`run`](crate::RetryingConsumer::run): the handles are registered
//! there, and a handle registered before any recorder stays a no-op.
//!
//! Every metric carries `group` (the consumer group of the stage's member). Per record, `topic`
//! is the topic the record was read from and `stage` its place in the chain: `main`, `retry` or
//! `dlt`.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | `rebound_records_handled_total` | counter | group, topic, stage | the handler succeeded (on a DLT: the dead-letter hook) |
//! | `rebound_records_failed_total` | counter | group, topic, stage, class | the handler failed for good on this delivery, or the dead-letter hook failed once (`class`: `transient`, `permanent`, `undecodable`) |
//! | `rebound_records_retried_total` | counter | group, topic, stage | a failed record's copy was acknowledged by a retry topic |
//! | `rebound_records_dead_lettered_total` | counter | group, topic, stage | a failed record's copy was acknowledged by a DLT |
//! | `rebound_copy_failures_total` | counter | group, topic, stage | a copy could not be written (it is tried again) |
//! | `rebound_handler_duration_seconds` | histogram | group, topic, stage | the handler's time, in-place retries included |
//! | `rebound_lateness_seconds` | histogram | group, topic, stage | on a retry topic: how long after its due time a record reached its handler |
//! | `rebound_copies_in_flight` | gauge | group | copies sent and not yet acknowledged (bounded by `copy_budget`) |
//! | `rebound_keys_held` | gauge | group | in `Key` order, keys whose later records wait behind a record in the retry chain |
//! | `rebound_consumer_lag` | gauge | group, topic, partition | records after the last finished one: the partition's high watermark minus the offset stored for commit, from librdkafka's statistics (every 5 s) |

mod chain;
mod lag;

pub(crate) use chain::{ChainMetrics, CopyGauge};
pub(crate) use lag::{LagGauges, STATISTICS_INTERVAL_MS};

/// Records whose handler succeeded.
pub const RECORDS_HANDLED: &str = "rebound_records_handled_total";
/// Records whose handler failed for good on this delivery.
pub const RECORDS_FAILED: &str = "rebound_records_failed_total";
/// Failed records copied to a retry topic (acknowledged).
pub const RECORDS_RETRIED: &str = "rebound_records_retried_total";
/// Failed records copied to a dead-letter topic (acknowledged).
pub const RECORDS_DEAD_LETTERED: &str = "rebound_records_dead_lettered_total";
/// Copies that could not be written, each tried again.
pub const COPY_FAILURES: &str = "rebound_copy_failures_total";
/// The handler's time per delivery, in seconds.
pub const HANDLER_DURATION: &str = "rebound_handler_duration_seconds";
/// How late a retry record reached its handler after its due time, in seconds.
pub const LATENESS: &str = "rebound_lateness_seconds";
/// Copies in flight.
pub const COPIES_IN_FLIGHT: &str = "rebound_copies_in_flight";
/// Keys held in `Key` order.
pub const KEYS_HELD: &str = "rebound_keys_held";
/// Records not yet finished per partition.
pub const CONSUMER_LAG: &str = "rebound_consumer_lag";

/// Gives the installed recorder each metric's unit and help text (Prometheus's `# HELP`).
/// [`run`](crate::RetryingConsumer::run) calls it; a service may call it earlier.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(RECORDS_HANDLED, "Records whose handler succeeded.");
    describe_counter!(
        RECORDS_FAILED,
        "Records whose handler failed for good on this delivery, by failure class."
    );
    describe_counter!(
        RECORDS_RETRIED,
        "Failed records copied to a retry topic (acknowledged)."
    );
    describe_counter!(
        RECORDS_DEAD_LETTERED,
        "Failed records copied to a dead-letter topic (acknowledged)."
    );
    describe_counter!(
        COPY_FAILURES,
        "Copies that could not be written (each tried again)."
    );
    describe_histogram!(
        HANDLER_DURATION,
        Unit::Seconds,
        "The handler's time per delivery, in-place retries included."
    );
    describe_histogram!(
        LATENESS,
        Unit::Seconds,
        "How long after its due time a retry record reached its handler."
    );
    describe_gauge!(
        COPIES_IN_FLIGHT,
        "Copies of failed records sent and not yet acknowledged."
    );
    describe_gauge!(
        KEYS_HELD,
        "Key order: keys whose later records wait behind a record in the retry chain."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records after the last finished one: high watermark minus the stored offset."
    );
}
