//! The chaos test's worker processes: started, killed with SIGKILL, restarted and watched.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::audit::WorkerRun;
use testkit::process::Process;
use testkit::unique;

use super::{ATTEMPTS, SESSION_TIMEOUT_MS};

/// One worker process of the group, with a stable instance id.
pub(crate) struct Worker {
    pub(crate) id: String,
    pub(crate) process: Process,
}

pub(crate) struct Fleet {
    pub(crate) kafka: rebound::KafkaConfig,
    pub(crate) topic: String,
    pub(crate) group: String,
    pub(crate) dir: PathBuf,
    pub(crate) journal: PathBuf,
    pub(crate) workers: Vec<Worker>,
    pub(crate) kills: usize,
    pub(crate) unexpected_exits: Vec<String>,
    /// The workers' `--order`.
    pub(crate) order: &'static str,
}

impl Fleet {
    /// No worker yet, of the group of a run on `kafka`, in `order`.
    pub(crate) fn new(kafka: rebound::KafkaConfig, run: &WorkerRun, order: &'static str) -> Fleet {
        Fleet {
            kafka,
            topic: run.topic.clone(),
            group: unique("chaos-group"),
            dir: run.dir.clone(),
            journal: run.journal.clone(),
            workers: Vec::new(),
            kills: 0,
            unexpected_exits: Vec::new(),
            order,
        }
    }

    /// Starts worker `id` on the private broker; its log (`<id>.log`) is appended to across
    /// restarts.
    pub(crate) fn spawn(&self, id: &str) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaos-worker"));
        command
            .args(["--topic", &self.topic, "--group", &self.group])
            .args(["--instance-id", id])
            .args(["--attempts", &ATTEMPTS.to_string(), "--delay-ms", "50"])
            .args(["--multiplier", "2", "--dlt-suffix", ".dlt"])
            .args(["--order", self.order])
            .arg("--journal")
            .arg(&self.journal)
            .args(["-X", &format!("session.timeout.ms={SESSION_TIMEOUT_MS}")])
            .args(
                std::env::var("REBOUND_CHAOS_DEBUG")
                    .map(|d| vec!["-X".to_string(), format!("debug={d}")])
                    .unwrap_or_default(),
            )
            .env(
                "RUST_LOG",
                std::env::var("REBOUND_CHAOS_WORKER_LOG")
                    .unwrap_or_else(|_| "warn,rebound=info".into()),
            );
        let log = self.dir.join(format!("{id}.log"));
        Process::spawn_on(&self.kafka, &log, id, &mut command)
    }

    pub(crate) fn start(&mut self, id: &str) {
        let process = self.spawn(id);
        self.workers.push(Worker {
            id: id.to_string(),
            process,
        });
    }

    pub(crate) fn kill_9(&mut self, index: usize) -> String {
        let worker = &mut self.workers[index];
        worker.process.kill();
        self.kills += 1;
        worker.id.clone()
    }

    pub(crate) fn restart(&mut self, index: usize) {
        let id = self.workers[index].id.clone();
        self.workers[index].process = self.spawn(&id);
    }

    /// Restarts any worker that exited by itself, and notes it: a worker must not die.
    pub(crate) fn watch(&mut self) {
        for index in 0..self.workers.len() {
            if let Some(status) = self.workers[index].process.exited() {
                let id = self.workers[index].id.clone();
                eprintln!("chaos: worker {id} exited by itself ({status}); restarting it");
                self.unexpected_exits.push(format!("{id}: {status}"));
                self.restart(index);
            }
        }
    }

    /// SIGTERM to every worker, then wait (SIGKILL after 15 s).
    pub(crate) fn stop_all(&mut self) {
        for worker in &self.workers {
            worker.process.terminate();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for worker in &mut self.workers {
            worker
                .process
                .stop_within(deadline.saturating_duration_since(Instant::now()));
        }
    }
}
