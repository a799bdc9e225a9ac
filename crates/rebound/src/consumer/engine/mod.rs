//! The partition engine: one task per partition, the same for every processing order.
//!
//! | file | job |
//! |---|---|
//! | `task.rs` | one partition's task: takes records, starts them, sends copies, stores progress |
//! | `task/stopping.rs` | a task stopping: finishes what is in hand, starts nothing new |
//! | `admission.rs` | what differs between the orders: which record may start |
//! | `copies.rs` | copies of failed records: the copy budget, then in flight until acknowledged |
//! | `feed.rs` | the records the poller hands the task, and the flow-control gauge |
//! | `record_life.rs` | one record: its attempt number, its due time, a permit, then its attempt |
//! | `parked.rs` | `hold_until_redriven`: a parked key's record follows its dead letter into the DLT |
//! | `attempt.rs` | one attempt of the handler: called and polled once at once, then concluded |
//! | `window.rs` | pure: the offset before the lowest unfinished record |
//! | `done_marks.rs` | pure: the records finished above the committed offset, in its metadata |
//! | `offsets.rs` | handing the window's offset and marks to librdkafka |

mod admission;
mod attempt;
mod copies;
mod done_marks;
mod feed;
mod offsets;
mod parked;
mod record_life;
mod task;
mod window;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::registry::{ExitGuard, Gauge};

pub(crate) use task::PartitionTask;

/// How the poller controls a partition's task.
pub(crate) struct PartitionControl {
    /// Stop taking records; finish the ones in hand.
    pub stop: CancellationToken,
    /// Drop the records in hand, uncommitted.
    pub abort: CancellationToken,
    /// Records handed to the task and not yet taken, and whether the partition is paused.
    pub gauge: Arc<Gauge>,
    /// Tells the poller when the task has ended, however it ends.
    pub exit: ExitGuard,
}
