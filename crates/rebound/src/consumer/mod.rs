//! The consumer runtime: one polling thread, one task per partition.
//!
//! ```text
//!  poll thread ──records──▶ partition task ─┬─ ok ──────────────▶ store offset
//!   (pause/resume,                           ├─ transient ─▶ copy to retry topic ─▶ store offset
//!    rebalances)                             └─ permanent ─▶ copy to DLT ─────────▶ store offset
//! ```
//!
//! A dedicated thread polls librdkafka without pause, so the member never leaves its group while
//! partitions wait, and the rebalance callbacks can wait for in-flight records before committing.
//! Each partition's task handles its records in offset order; a retry record waits in memory
//! until it is due, so it is handled on time without re-fetching, while other partitions go on.
//! A partition whose task falls behind is paused (and resumed when it catches up) to bound memory.
//! librdkafka commits stored offsets every 500 ms, on revocation and at shutdown.
//!
//! One job per file, in the order a record meets them:
//!
//! | file | job |
//! |---|---|
//! | `builder.rs` | the settings a consumer is built with |
//! | `runtime.rs` | start: topics checked or created, clients made, the poll thread started; stop |
//! | `poller.rs` | the poll thread: dispatch to partition tasks, pause and resume |
//! | `rebalance.rs` | the rebalance callbacks: stop revoked partitions' tasks, commit |
//! | `registry.rs` | which partitions this member owns, their tasks, which are paused |
//! | `partition.rs` | one partition's loop, one record at a time (`ProcessingOrder::Partition`) |
//! | `concurrent.rs` | one partition's loop, records at once (`ProcessingOrder::Key`, `Unordered`) |
//! | `in_flight.rs` | pure: the offset to store around records finishing out of order; key queues |
//! | `done_marks.rs` | pure: the records finished above the committed offset, in its metadata |
//! | `held_keys.rs` | `Key` order through the retry chain: which keys a retry record holds |
//! | `parked_keys.rs` | `hold_until_redriven`: which keys wait behind a pending dead letter |
//! | `dead_letter_follower.rs` | the thread that reads the DLT and its ledger for `parked_keys.rs` |
//! | `order.rs` | whether `Key` order can hold on this cluster, checked at start |
//! | `process.rs` | one record: its attempt, its due time, the handler, the start of its copy |
//! | `handler.rs` | calling the handler: panics and timeouts, in-place retries |
//! | `route.rs` | pure decisions: which attempt, when due, which next hop |
//! | `forward.rs` | delivering a failed record's copy: the producer, tries until acknowledged |
//! | `refusal.rs` | pure: whether a refusal is for good, smaller copy shapes, retry refused → DLT |
//! | `progress.rs` | which offset may be stored around copies in flight; the copy budget |
//! | `dead_letters.rs` | a record on the DLT: Spring's log line and the dead-letter hook |
//! | `events.rs` | what the runtime reports to an observer |

mod builder;
mod concurrent;
mod dead_letter_follower;
mod dead_letters;
mod done_marks;
mod events;
mod forward;
mod handler;
mod held_keys;
mod in_flight;
mod order;
mod parked_keys;
mod partition;
mod poller;
mod process;
mod progress;
mod rebalance;
mod refusal;
mod registry;
mod route;
mod runtime;

pub use builder::{ProcessingOrder, RetryingConsumerBuilder, DEFAULT_MAX_IN_FLIGHT};
pub use events::Event;
pub use handler::Handler;
pub use runtime::RetryingConsumer;
