//! The journal of the test workers (`chain-worker`, `chaos-worker`): one line per successful
//! handling, `id worker attempt topic-partition@offset`, appended by several processes to one
//! file. The tests read it to know what was handled, by whom and on which attempt.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use rebound::Record;

/// A worker's end of the journal.
pub struct Journal {
    file: Mutex<File>,
    worker: String,
}

impl Journal {
    /// Opens `path` for appending (`O_APPEND`), as worker `worker`.
    pub fn open(path: &Path, worker: &str) -> io::Result<Journal> {
        Ok(Journal {
            file: Mutex::new(OpenOptions::new().create(true).append(true).open(path)?),
            worker: worker.to_string(),
        })
    }

    /// Notes that job `id` was handled from `record`. One `write(2)` per line: with `O_APPEND`
    /// the lines of concurrent workers stay whole (`writeln!` writes a line in pieces, which
    /// interleaved on Kafka's pace).
    pub fn handled(&self, id: u64, record: &Record) -> io::Result<()> {
        let line = format!(
            "{id} {} {} {}\n",
            self.worker,
            record.attempt(),
            record.coordinates()
        );
        self.file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes())
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The job's id, from the record's JSON payload (`{"id": N, …}`).
    pub id: u64,
    /// The name of the worker that handled it, as given to [`Journal::open`].
    pub worker: String,
    /// The delivery that succeeded: 1 on the main topic, 2 on the first retry topic, and so on.
    pub attempt: u32,
    /// The record handled, `topic-partition@offset`.
    pub source: String,
}

impl Entry {
    /// The topic and partition of the record handled (from [`Entry::source`]).
    pub fn topic_partition(&self) -> Option<(&str, i32)> {
        let (topic_partition, _offset) = self.source.rsplit_once('@')?;
        let (topic, partition) = topic_partition.rsplit_once('-')?;
        Some((topic, partition.parse().ok()?))
    }
}

/// Every whole line of the journal at `path` (none before the first is written). A last line
/// without its newline is being written: it is left for the next read.
pub fn read(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            Some(Entry {
                id: parts.next()?.parse().ok()?,
                worker: parts.next()?.to_string(),
                attempt: parts.next()?.parse().ok()?,
                source: parts.next()?.to_string(),
            })
        })
        .collect()
}
