//! # rebound-ops: operating dead letters
//!
//! What a person on call does with a retry chain, as a library: list, show, redrive, discard and
//! archive dead letters, count them, measure a DLT's inflow per hour, follow a DLT live, and
//! find the chains on a cluster. The `rebound` command is a thin face over this crate, so a web
//! console can be another; a consumer service depends on `rebound` alone and carries none of this.
//!
//! Handling state lives in Kafka, in a ledger topic beside each DLT (see [`ledger`]), so every
//! operator on every machine sees the same state and no database is needed.
//!
//! ```no_run
//! use rebound::KafkaConfig;
//! use rebound_ops::{Filter, Source};
//!
//! # async fn run() -> Result<(), rebound_ops::Error> {
//! let kafka = KafkaConfig::from_env();
//! let listed = rebound_ops::list(&kafka, "email.send.dlt", Source::Dlt, &Filter::default()).await?;
//! for listed in listed {
//!     let dead_letter = &listed.dead_letter;
//!     println!("{} {} {}", dead_letter.position(), listed.status.as_str(), dead_letter.error_message());
//! }
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod dead_letter;
pub mod describe;
pub mod dialect;
pub mod discard;
mod error;
mod filter;
pub mod handover;
mod id;
pub mod inflow;
pub mod ledger;
mod list;
mod listed;
mod parse_error;
pub mod pointer;
pub mod reader;
pub mod redrive;
mod skip;
pub mod stats;
mod time_bound;
pub mod topics;
pub mod visible;
mod write;

pub use dead_letter::{DeadLetter, Status};
pub use error::Error;
pub use filter::Filter;
pub use id::{DeadLetterId, Position, Source};
pub use ledger::{History, Ledger};
pub use list::{list, show};
pub use listed::Listed;
pub use parse_error::ParseError;
pub use skip::SkipReason;
pub use time_bound::{parse_time_bound, parse_time_bound_now, TimeBoundError};
