//! [`ParseError`]: text an operator typed that is not a position, dead-letter id or status.
//! Its own file, below both the ids that are parsed and the operations' errors that carry one.

/// Text that is not a position, dead-letter id or status; the message quotes it and shows the
/// expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No `@` between partition and offset.
    #[error("`{0}` is not partition@offset (example: 0@17)")]
    NotAPosition(String),
    /// The part before `@` is not a partition number.
    #[error("bad partition in `{0}`")]
    BadPartition(String),
    /// The part after `@` is not an offset.
    #[error("bad offset in `{0}`")]
    BadOffset(String),
    /// A position, but not written as the ledger writes ids (`3@17`, `archive:0@5`).
    #[error("`{0}` is not a dead-letter id (examples: 3@17, archive:0@5)")]
    NotAnId(String),
    /// Not one of the handling states.
    #[error("unknown status `{0}` (pending, redriven, discarded)")]
    UnknownStatus(String),
}

impl ParseError {
    /// The same error about `text`: a part was parsed, the whole is what the reader typed.
    pub(crate) fn about(self, text: &str) -> ParseError {
        let text = text.to_string();
        match self {
            ParseError::NotAPosition(_) => ParseError::NotAPosition(text),
            ParseError::BadPartition(_) => ParseError::BadPartition(text),
            ParseError::BadOffset(_) => ParseError::BadOffset(text),
            ParseError::NotAnId(_) => ParseError::NotAnId(text),
            ParseError::UnknownStatus(_) => ParseError::UnknownStatus(text),
        }
    }
}
