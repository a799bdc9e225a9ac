//! The network-fault test's parts around the workers: the two worker processes, the paced
//! producer and the journal's timeline.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::KafkaConfig;
use testkit::journal::Entry;
use testkit::process::Process;

use super::{ATTEMPTS, DELAY_MS, MESSAGE_TIMEOUT_MS, SESSION_TIMEOUT_MS};

/// The two worker processes and where their output goes.
pub(crate) struct Workers {
    pub(crate) dir: PathBuf,
    pub(crate) journal: PathBuf,
    pub(crate) processes: Vec<Process>,
}

impl Workers {
    pub(crate) fn start(
        &mut self,
        name: &str,
        kafka: &KafkaConfig,
        topic: &str,
        group: &str,
        order: &str,
    ) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaos-worker"));
        command
            .args(["--topic", topic, "--group", group, "--instance-id", name])
            .args(["--attempts", &ATTEMPTS.to_string()])
            .args(["--delay-ms", &DELAY_MS.to_string(), "--multiplier", "2"])
            .args(["--dlt-suffix", ".dlt", "--order", order])
            .arg("--journal")
            .arg(&self.journal)
            .args(["-X", &format!("session.timeout.ms={SESSION_TIMEOUT_MS}")])
            .args(["-X", "heartbeat.interval.ms=1000"])
            .args(["-X", &format!("message.timeout.ms={MESSAGE_TIMEOUT_MS}")])
            .env("RUST_LOG", "warn,rebound=info");
        let log = self.dir.join(format!("{name}.log"));
        self.processes
            .push(Process::spawn_on(kafka, &log, name, &mut command));
    }

    pub(crate) fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The workers that exited by themselves, with how.
    pub(crate) fn exited(&mut self) -> Vec<String> {
        self.processes
            .iter_mut()
            .filter_map(|p| p.exited().map(|status| format!("{}: {status}", p.name)))
            .collect()
    }

    /// SIGTERM to both, then wait (SIGKILL after 15 s).
    pub(crate) fn stop(&mut self) {
        for process in &self.processes {
            process.terminate();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for process in &mut self.processes {
            process.stop_within(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

/// Produces `n` records `{"id": i}`, keyed by id, evenly over `window`, straight to the broker
/// (not through the proxy). Panics if one cannot be produced.
pub(crate) async fn produce_paced(
    producer: FutureProducer,
    topic: String,
    n: u64,
    window: Duration,
) {
    let start = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for id in 0..n {
        let due = start + window.mul_f64(id as f64 / n as f64);
        tokio::time::sleep_until(due.into()).await;
        let (producer, topic) = (producer.clone(), topic.clone());
        // A task per record: a send is enqueued only once its future is polled.
        sends.spawn(async move {
            let key = id.to_string();
            let payload = format!(r#"{{"id":{id}}}"#);
            let record = FutureRecord::to(&topic).key(&key).payload(&payload);
            producer
                .send(record, Timeout::After(Duration::from_secs(30)))
                .await
                .unwrap_or_else(|(e, _)| panic!("producing {id} failed: {e}"));
        });
    }
    while let Some(sent) = sends.join_next().await {
        sent.unwrap();
    }
}

/// The journal as the run goes: every entry with the time the test first saw it (read every
/// 50 ms or so, so good to a tenth of a second).
pub(crate) struct Timeline {
    pub(crate) path: PathBuf,
    pub(crate) seen: Vec<(Instant, Entry)>,
}

impl Timeline {
    /// Reads what was appended since the last call; returns the new entries.
    pub(crate) fn update(&mut self) -> &[(Instant, Entry)] {
        let now = Instant::now();
        let all = testkit::journal::read(&self.path);
        let before = self.seen.len();
        self.seen
            .extend(all.into_iter().skip(before).map(|entry| (now, entry)));
        &self.seen[before..]
    }

    pub(crate) fn count_by(&self, worker: &str) -> usize {
        self.seen.iter().filter(|(_, e)| e.worker == worker).count()
    }

    pub(crate) fn by_since<'a>(
        &'a self,
        worker: &'a str,
        since: Instant,
    ) -> impl Iterator<Item = &'a Entry> {
        self.seen
            .iter()
            .filter(move |(at, e)| *at >= since && e.worker == worker)
            .map(|(_, e)| e)
    }
}
