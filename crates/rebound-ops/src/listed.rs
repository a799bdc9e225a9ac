//! [`Listed`]: a dead letter with its handling state, what a listing gives and a filter keeps.

use crate::dead_letter::{DeadLetter, Status};
use crate::id::{DeadLetterId, Source};
use crate::ledger::History;

/// A dead letter with its handling state.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The dead letter, decoded.
    pub dead_letter: DeadLetter,
    /// Its handling state (pending when the ledger does not mention it).
    pub status: Status,
    /// What the ledger says about it.
    pub history: History,
    /// Which dead letter it is: its key in the ledger.
    pub id: DeadLetterId,
}

impl Listed {
    /// `dead_letter`, read from `source`, with its ledger `history`.
    pub fn new(dead_letter: DeadLetter, source: Source, history: History) -> Listed {
        Listed {
            id: DeadLetterId::new(source, dead_letter.position()),
            status: history.status(),
            dead_letter,
            history,
        }
    }
}
