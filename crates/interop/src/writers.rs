//! The other dialects' real writers as processes (interop/kafka-writers): a Kafka Connect
//! standalone worker, a share consumer that rejects records, a Kafka Streams application; and the
//! golden capture of the dead letters they write.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rebound::Record;
use serde_json::{json, Value};

use crate::{kafka_writers_classpath, tail, Process};

/// `java -cp <writers> <main> <args>`, its output in `<dir>/<name>.log`.
pub fn java(dir: &Path, name: &str, main: &str, args: &[&str]) -> Process {
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(kafka_writers_classpath())
        // Small heaps: four engineers' tests share two cores and a JVM each.
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1"])
        .arg(main)
        .args(args);
    Process::spawn(dir, name, &mut command)
}

/// Waits, two minutes at most, until `topic` holds `at_least` records while `writer` runs; a
/// writer that died fails the wait at once, with the end of its log.
pub async fn wait_for_records(writer: &mut Process, what: &str, topic: &str, at_least: i64) {
    testkit::wait_for(Duration::from_secs(120), what, || {
        let alive = writer.alive();
        assert!(
            alive,
            "{} died:\n{}",
            writer.name,
            tail(&writer.log_text(), 40)
        );
        let held = testkit::count(topic);
        async move {
            match held >= at_least {
                true => Ok(()),
                false => Err(format!("{held} records in {topic}")),
            }
        }
    })
    .await
}

/// Writes `lines` (`key=value`) to `<dir>/<name>`, returning its path as text.
pub fn properties(dir: &Path, name: &str, lines: &[(&str, &str)]) -> String {
    let path = dir.join(name);
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&path, text).expect("write properties");
    path.display().to_string()
}

/// A dead letter as a golden file keeps it: its key, value and timestamp, and each header's name
/// and bytes (hex) with the text they spell when they are UTF-8.
pub fn golden(record: &Record) -> Value {
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    json!({
        "key_hex": record.key().map(hex),
        "value_hex": record.payload().map(hex),
        "timestamp": record.timestamp().map(|t| t.as_i64()),
        "headers": record.headers().iter().map(|h| json!({
            "key": h.key,
            "value_hex": h.value.as_deref().map(hex),
            "text": h.value.as_deref().and_then(|v| std::str::from_utf8(v).ok()),
        })).collect::<Vec<_>>(),
    })
}

/// With `REBOUND_CAPTURE_GOLDEN=<folder>`, writes `records` there as `<name>.json` (how the
/// golden files in crates/rebound-ops/tests/golden/ were made); otherwise does nothing.
pub fn capture(name: &str, records: &[Record]) {
    if let Ok(folder) = std::env::var("REBOUND_CAPTURE_GOLDEN") {
        std::fs::create_dir_all(&folder).expect("golden folder");
        let all: Vec<Value> = records.iter().map(golden).collect();
        let path = Path::new(&folder).join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&all).unwrap()).expect("write golden");
        eprintln!("captured {}", path.display());
    }
}
