//! The threads that keep a DLT's index current: one follows the DLT, one its ledger, and (once
//! asked for) one its archive, each from the beginning and then live
//! (`rebound_ops::reader::follow`), on threads of their own because librdkafka's polls block. A
//! ledger or archive that does not exist yet (nothing was ever redriven or discarded) is looked
//! for again every second; a follower that fails starts over, and the index skips what it has
//! already taken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rebound::naming::{archive_topic, ledger_topic};
use rebound::KafkaConfig;
use rebound_ops::reader::blocking;

use super::{DltIndex, Side};

/// Starts the followers of `sides` of `index`; they stop when `stop` is set.
pub(crate) fn start(
    kafka: &KafkaConfig,
    index: &Arc<DltIndex>,
    sides: &[Side],
    stop: &Arc<AtomicBool>,
) {
    for &side in sides {
        let (kafka, index, stop) = (kafka.clone(), index.clone(), stop.clone());
        let name = match side {
            Side::Dlt => "console-dlt",
            Side::Archive => "console-archive",
            Side::Ledger => "console-ledger",
        };
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&kafka, &index, side, &stop));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start an index follower");
        }
    }
}

fn run(kafka: &KafkaConfig, index: &DltIndex, side: Side, stop: &AtomicBool) {
    let topic = match side {
        Side::Dlt => index.dlt.clone(),
        Side::Archive => archive_topic(&index.dlt),
        Side::Ledger => ledger_topic(&index.dlt),
    };
    while !stop.load(Ordering::SeqCst) {
        let watermarks = match blocking::watermarks(kafka, &topic) {
            Ok(watermarks) => watermarks,
            Err(e) => {
                index.failed(side, format!("reading {topic}: {e}"));
                pause(stop, Duration::from_secs(2));
                continue;
            }
        };
        index.starting(side, &watermarks);
        if watermarks.is_empty() {
            // Not there (yet): caught up with nothing; look again soon.
            pause(stop, Duration::from_secs(1));
            continue;
        }
        let followed =
            blocking::follow(kafka, &topic, true, stop, |record| index.take(side, record));
        if let Err(e) = followed {
            index.failed(side, format!("following {topic}: {e}"));
            pause(stop, Duration::from_secs(2));
        }
    }
}

/// Waits `time`, or less when `stop` is set.
fn pause(stop: &AtomicBool, time: Duration) {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < time && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        waited += step;
    }
}
