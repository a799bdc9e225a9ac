//! Reading topics without joining a consumer group: partition counts, watermarks, every record a
//! topic holds now (streamed, never collected here), or a live follow.
//!
//! librdkafka's consumer calls block the calling thread (metadata requests, polls, up to seconds
//! on a slow cluster). The async functions here run them on Tokio's blocking pool, so an
//! operation awaited on a runtime never stalls its workers (a web console serving other requests,
//! the CLI's Ctrl-C handler). [`blocking`] has the same reads for callers that are threads
//! themselves.

pub mod blocking;
mod resume;

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use rebound::{KafkaConfig, Record};

use crate::error::Error;
use crate::id::Position;

pub use blocking::follow;
pub(crate) use resume::Resume;

/// Chunks of records read ahead of the caller: enough to keep the reading thread polling while
/// the caller decodes, few enough that a slow caller holds little.
const READ_AHEAD: usize = 8;

/// Records handed over together: one wake-up of the caller per chunk, not per record (waking it
/// for each was a sixth of the reading thread's time, BENCHMARKS.md 5c).
const CHUNK: usize = 128;

/// Partition count of `topic`, `None` when it does not exist.
pub async fn partitions(kafka: &KafkaConfig, topic: &str) -> Result<Option<i32>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::partitions(&kafka, &topic)).await
}

/// `(partition, low, high)`: the watermarks of every partition of `topic` (empty when it does not
/// exist).
pub async fn watermarks(kafka: &KafkaConfig, topic: &str) -> Result<Vec<(i32, i64, i64)>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::watermarks(&kafka, &topic)).await
}

/// The record at `position` in `topic`, `None` when there is none there: one record read, not the
/// topic (a console showing one dead letter of a hundred thousand).
pub async fn read_at(
    kafka: &KafkaConfig,
    topic: &str,
    position: Position,
) -> Result<Option<Record>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::read_at(&kafka, &topic, position.partition, position.offset)).await
}

/// Every record in `topic` now, one at a time: in offset order within each partition, partitions
/// interleaved. Records written while reading are left for the next read. The read starts at the
/// first [`Scan::next`] on a blocking-pool thread and stops when the [`Scan`] is dropped.
///
/// ```no_run
/// # async fn run(kafka: &rebound::KafkaConfig) -> Result<(), rebound_ops::Error> {
/// let mut records = rebound_ops::reader::scan(kafka, "email.send.dlt");
/// let mut bytes = 0;
/// while let Some(record) = records.next().await {
///     bytes += record?.payload().map_or(0, <[u8]>::len);
/// }
/// # Ok(())
/// # }
/// ```
pub fn scan(kafka: &KafkaConfig, topic: &str) -> Scan {
    Scan::not_started(kafka, topic, false)
}

/// [`scan`] that keeps its consumer at the end, to read on from there ([`Scan::resume`]).
pub(crate) fn scan_resumable(kafka: &KafkaConfig, topic: &str) -> Scan {
    Scan::not_started(kafka, topic, true)
}

/// A topic being read to its end: see [`scan`].
#[derive(Debug)]
pub struct Scan {
    state: ScanState,
}

#[derive(Debug)]
enum ScanState {
    NotStarted {
        kafka: KafkaConfig,
        topic: String,
        /// Keep the consumer at the end ([`scan_resumable`]).
        keep: bool,
    },
    Reading {
        chunks: mpsc::Receiver<Vec<Record>>,
        /// The chunk being handed out, in reverse (popped from the end).
        chunk: Vec<Record>,
        reader: JoinHandle<Result<Option<Resume>, Error>>,
    },
    Done {
        /// Where a resumable scan that reached the end ended. Asserted unwind-safe so that a
        /// [`Scan`] stays `UnwindSafe` as it was (a librdkafka consumer is not; only this
        /// crate takes it out, whole, and reads with it after).
        resume: Option<AssertUnwindSafe<Resume>>,
    },
}

impl Scan {
    fn not_started(kafka: &KafkaConfig, topic: &str, keep: bool) -> Scan {
        Scan {
            state: ScanState::NotStarted {
                kafka: kafka.clone(),
                topic: topic.to_string(),
                keep,
            },
        }
    }

    /// Starts the read now (connecting, finding the end, reading ahead) instead of at the first
    /// [`Scan::next`]: a caller with something else to wait for first overlaps the two.
    pub(crate) fn start(&mut self) {
        if let ScanState::NotStarted { kafka, topic, keep } = &mut self.state {
            let (kafka, topic, keep) = (kafka.clone(), std::mem::take(topic), *keep);
            let (sender, chunks) = mpsc::channel(READ_AHEAD);
            let reader = tokio::task::spawn_blocking(move || {
                let consumer = blocking::assigning_consumer(&kafka)?;
                let mut chunk = Vec::with_capacity(CHUNK);
                let read = blocking::scan_with(&consumer, &topic, |record| {
                    chunk.push(record);
                    if chunk.len() < CHUNK {
                        return ControlFlow::Continue(());
                    }
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    // A closed channel: the caller dropped the scan; stop reading.
                    match sender.blocking_send(full) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    }
                });
                // The records before an error too (the caller sees them, then the error). A
                // caller that dropped the scan takes nothing: the send fails, harmlessly.
                if !chunk.is_empty() {
                    let _ = sender.blocking_send(chunk);
                }
                match read? {
                    Some(next) if keep => Ok(Some(Resume::new(consumer, topic, next))),
                    _ => {
                        close_later(consumer);
                        Ok(None)
                    }
                }
            });
            self.state = ScanState::Reading {
                chunks,
                chunk: Vec::new(),
                reader,
            };
        }
    }

    /// The next record; `None` at the end of what the topic held when the read started. After an
    /// error, `None`.
    pub async fn next(&mut self) -> Option<Result<Record, Error>> {
        loop {
            match &mut self.state {
                ScanState::NotStarted { .. } => self.start(),
                ScanState::Reading {
                    chunks,
                    chunk,
                    reader,
                } => {
                    if let Some(record) = chunk.pop() {
                        return Some(Ok(record));
                    }
                    if let Some(mut next) = chunks.recv().await {
                        next.reverse();
                        *chunk = next;
                        continue;
                    }
                    // The channel closes when the reader returns: at the end, or on an error the
                    // caller must see (a read cut short is not an end).
                    return match joined(reader.await) {
                        Ok(resume) => {
                            let resume = resume.map(AssertUnwindSafe);
                            self.state = ScanState::Done { resume };
                            None
                        }
                        Err(e) => {
                            self.state = ScanState::Done { resume: None };
                            Some(Err(e))
                        }
                    };
                }
                ScanState::Done { .. } => return None,
            }
        }
    }

    /// Where a scan made by [`scan_resumable`] ended, once [`Scan::next`] said `None` after the
    /// last record: its consumer, to read what was written since ([`Resume::read_to`]). `None`
    /// before the end, after an error, or for a plain [`scan`].
    pub(crate) fn resume(self) -> Option<Resume> {
        match self.state {
            ScanState::Done { resume } => resume.map(|resume| resume.0),
            _ => None,
        }
    }
}

/// Drops a librdkafka client on Tokio's blocking pool (at once without a runtime): destroying
/// one waits for its threads to stop, a tenth of a second and more, which no caller that is done
/// with it needs to wait for (it was part of every read's end: the listing, the claims read back,
/// BENCHMARKS.md 5d).
pub(crate) fn close_later<T: Send + 'static>(client: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(client))),
        Err(_) => drop(client),
    }
}

/// Runs `read` on Tokio's blocking pool.
pub(crate) async fn unblock<T, F>(read: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    joined(tokio::task::spawn_blocking(read).await)
}

/// The result of a blocking-pool task. A panic there is the caller's panic; a task the runtime
/// cancelled (it is shutting down) is [`Error::Interrupted`].
fn joined<T>(result: Result<Result<T, Error>, tokio::task::JoinError>) -> Result<T, Error> {
    match result {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(Error::Interrupted(e.to_string())),
        },
    }
}
