//! The partition engine: one task per partition, the same for every processing order.
//!
//! | file | job |
//! |---|---|
//! | `task.rs` | one partition's task: takes records, starts them, sends copies, stores progress |
//! | `admission.rs` | what differs between the orders: which record may start |
//! | `record_life.rs` | one record: its attempt, its due time, a permit, the handler, its copy |
//! | `window.rs` | pure: the offset before the lowest unfinished record |
//! | `done_marks.rs` | pure: the records finished above the committed offset, in its metadata |
//! | `offsets.rs` | handing the window's offset and marks to librdkafka |

mod admission;
mod done_marks;
mod offsets;
mod record_life;
mod task;
mod window;

pub(crate) use task::{PartitionControl, PartitionTask};
