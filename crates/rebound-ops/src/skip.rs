//! Why an operation left a selected dead letter alone. The reasons are data, not sentences: the
//! library cannot know how its caller lets a person override them (a flag, a button), so each
//! face words them itself; [`Display`](std::fmt::Display) is the plain statement without advice.

use std::fmt;

use crate::dead_letter::Status;

/// Why a selected dead letter was not redriven or discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Redrive: it was redriven already (a forced run sends it again).
    AlreadyRedriven,
    /// Redrive from the DLT: it was discarded (its archive copy can be redriven).
    Discarded,
    /// Redrive: it was redriven this many times already, at least the poison-loop threshold (a
    /// forced run sends it again).
    PoisonLoop {
        /// Redrives so far: the dead letter's own stamp plus the ledger's.
        times: u32,
    },
    /// Redrive: the DLT refused its full copy, so it carries no payload; sending it would put an
    /// empty record in place of the real one, even when forced.
    PayloadOmitted {
        /// Why the payload was omitted, from its `rebound-payload-omitted` header.
        why: String,
    },
    /// Redrive: its headers name no original topic and the run named no target.
    NoOriginalTopic,
    /// Redrive: another run claimed it first in the ledger.
    ClaimedByAnotherRun,
    /// Redrive: the run was stopped before sending it (its claim was released).
    Interrupted,
    /// Redrive: the run paused itself before sending it, too many of its copies having come
    /// back to the DLT (its claim was released; the report says how many).
    Paused,
    /// Discard: it was handled already.
    AlreadyHandled(Status),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyRedriven => f.write_str("already redriven"),
            SkipReason::Discarded => f.write_str("discarded"),
            SkipReason::PoisonLoop { times } => {
                write!(f, "poison loop: redriven {times} times already")
            }
            SkipReason::PayloadOmitted { why } => write!(
                f,
                "its payload was too large to be dead-lettered: {why}; re-publish that record instead"
            ),
            SkipReason::NoOriginalTopic => f.write_str("no original topic in its headers"),
            SkipReason::ClaimedByAnotherRun => {
                f.write_str("claimed by another redrive run at the same time")
            }
            SkipReason::Interrupted => f.write_str("interrupted before sending"),
            SkipReason::Paused => f.write_str(
                "the run paused before sending it: too many of its copies came back to the DLT",
            ),
            SkipReason::AlreadyHandled(status) => write!(f, "already {}", status.as_str()),
        }
    }
}
