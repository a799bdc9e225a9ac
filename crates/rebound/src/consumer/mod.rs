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
//! One job per file, from the face down to what every task shares:
//!
//! | file | job |
//! |---|---|
//! | `builder.rs` | the builder, the face over `settings.rs`; `builder/migration.rs` its options for a shop moving from Spring |
//! | `runtime.rs` | start: topics checked or created, clients made, the poll thread started; stop |
//! | `poller.rs` | the poll thread: dispatch to partition tasks, pause and resume |
//! | `rebalance.rs` | the rebalance callbacks: stop revoked partitions' tasks, commit |
//! | `engine/` | one partition's task, the same for every processing order (its own table) |
//! | `key_order/` | `ProcessingOrder::Key`: one optional gate the engine calls (its own table) |
//! | `growth.rs` | the retry topics and the DLT grown with the main topic |
//! | `forward/` | delivering a failed record's copy: the first try queued at once, then tried until acknowledged, refusals |
//! | `dead_letters.rs` | a record on the DLT: Spring's log line and the dead-letter hook |
//! | `handler.rs` | calling the handler: panics and timeouts, in-place retries |
//! | `context.rs` | what every task shares: settings, consumer, producer, budgets |
//! | `producer.rs` | the copy producer: idempotent, `acks=all`, the source's partition number |
//! | `cluster.rs` | the cluster questions a task asks, off the async runtime's threads |
//! | `registry.rs` | which partitions this member owns, their tasks, which are paused |
//! | `settings.rs` | what a consumer is built with; which topics it reads and writes |
//! | `groups.rs` | the groups it reads them in: one, or Spring's group per stage |
//! | `stages.rs` | which stages of the chain it reads |
//! | `route.rs` | pure decisions: which attempt, when due, which next hop |
//! | `refusal.rs` | pure: whether a refusal is for good, smaller copy shapes, retry refused → DLT |
//! | `events.rs` | what the runtime reports to an observer |

mod builder;
mod cluster;
mod context;
mod dead_letters;
mod engine;
mod events;
mod forward;
mod groups;
mod growth;
mod handler;
mod key_order;
mod poller;
mod producer;
mod rebalance;
mod refusal;
mod registry;
mod route;
mod runtime;
mod settings;
mod stages;

pub use builder::RetryingConsumerBuilder;
pub use events::Event;
pub use handler::Handler;
pub use runtime::RetryingConsumer;
pub use settings::{ProcessingOrder, DEFAULT_MAX_IN_FLIGHT};
pub use stages::Stages;

// The attempt span (`crate::trace`) reads the consumer's group and chain.
pub(crate) use context::Context;
