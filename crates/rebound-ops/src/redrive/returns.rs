//! Watching a redrive's own outcome: which of the copies it sent died again and came back to the
//! DLT. A copy carries the run's id (`rebound-redrive-id`) and the dead letter it came from
//! (`rebound-redriven-from`); a consumer that fails it again forwards it with its headers (Rebound
//! does, and so does Spring's dead-letter publisher), so a record in the DLT with this run's id
//! is one of its copies back. Counted once per dead letter: a copy dead-lettered twice (a
//! consumer killed between its DLT write and its commit) is one return.
//!
//! The watch starts at the DLT's end as it was before the first copy went out (a follow starting
//! at "the end" when it is assigned could miss a fast return), on a thread of its own because
//! librdkafka's polls block; it stops when dropped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::Offset;

use rebound::headers::{REDRIVEN_FROM, REDRIVE_ID};
use rebound::{KafkaConfig, Record};

use crate::error::Error;
use crate::reader;

/// The copies of one run that came back, as the watch found them so far.
#[derive(Debug)]
pub(super) struct Returns {
    seen: Arc<Mutex<HashSet<String>>>,
    stop: Arc<AtomicBool>,
}

impl Returns {
    /// Starts watching `dlt` for copies of `run`, from its end now.
    pub(super) async fn watch(kafka: &KafkaConfig, dlt: &str, run: &str) -> Result<Returns, Error> {
        let ends: Vec<(i32, i64)> = reader::watermarks(kafka, dlt)
            .await?
            .into_iter()
            .map(|(partition, _, high)| (partition, high))
            .collect();
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kafka, dlt, run) = (kafka.clone(), dlt.to_string(), run.to_string());
        let (seen_, stop_) = (seen.clone(), stop.clone());
        std::thread::Builder::new()
            .name("redrive-returns".into())
            .spawn(move || {
                // A partition the DLT gained since the look holds only new records.
                let start = |partition| {
                    ends.iter()
                        .find(|(p, _)| *p == partition)
                        .map_or(Offset::Beginning, |(_, end)| Offset::Offset(*end))
                };
                let followed = reader::blocking::follow_from(&kafka, &dlt, &start, &stop_, |r| {
                    if let Some(from) = returned_from(&r, &run) {
                        seen_.lock().expect("returns lock").insert(from);
                    }
                });
                if let Err(e) = followed {
                    tracing::warn!(error = %e, "stopped watching {dlt} for redriven records coming back");
                }
            })
            .map_err(|e| Error::Interrupted(format!("could not start watching a DLT: {e}")))?;
        Ok(Returns { seen, stop })
    }

    /// How many dead letters of the run came back so far.
    pub(super) fn count(&self) -> usize {
        self.seen.lock().expect("returns lock").len()
    }
}

impl Drop for Returns {
    fn drop(&mut self) {
        // The follower notices within one poll (200 ms). Not joined: a drop never blocks an
        // async caller.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The dead letter `record` is a returned copy of, when it is a copy of `run`.
fn returned_from(record: &Record, run: &str) -> Option<String> {
    let headers = record.headers();
    // `text` reads the last value: a redrive replaces the stamps of earlier ones anyway.
    (headers.text(REDRIVE_ID)? == run)
        .then(|| headers.text(REDRIVEN_FROM))
        .flatten()
}

#[cfg(test)]
mod tests {
    use rebound::headers::Headers;

    use super::*;

    fn record(stamps: &[(&str, &str)]) -> Record {
        let mut headers = Headers::new();
        for (key, value) in stamps {
            headers.push(*key, value.to_string());
        }
        Record::new("email.send.dlt", 0, 9).with_headers(headers)
    }

    #[test]
    fn a_copy_of_the_run_is_a_return_of_the_dead_letter_it_came_from() {
        let copy = record(&[(REDRIVE_ID, "r1"), (REDRIVEN_FROM, "email.send.dlt-0@7")]);
        assert_eq!(
            returned_from(&copy, "r1").as_deref(),
            Some("email.send.dlt-0@7")
        );
        assert_eq!(returned_from(&copy, "r2"), None, "another run's copy");
        assert_eq!(returned_from(&record(&[]), "r1"), None, "a first death");
        let no_origin = record(&[(REDRIVE_ID, "r1")]);
        assert_eq!(returned_from(&no_origin, "r1"), None);
    }
}
