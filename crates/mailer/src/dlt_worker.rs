//! `mailer dlt-worker`: the dead-letter service of the scenario. For each dead letter it
//! 1. ships one structured JSON line to the log system (stdout and/or a file), and
//! 2. alerts Slack through an incoming webhook. Dead letters with the same error (same
//!    fingerprint) within a window become one alert plus one summary that counts them.
//!
//! If Slack is down the handler fails, and Rebound calls it again with back-off without
//! committing: the dead letter is acknowledged only once it is alerted (or folded into a pending
//! summary). The webhook URL is a secret: only its host is ever logged.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::{Failure, KafkaConfig, Record, RetryingConsumer};
use rebound_ops::stats::fingerprint;
use rebound_ops::DeadLetter;
use serde_json::json;

use crate::message::EmailMessage;
use crate::metrics::Metrics;
use crate::status::{State, StatusEvent, StatusPublisher};

/// The dead-letter service, as `mailer dlt-worker` resolves it ([`crate::config::DltSettings`]).
pub struct DltWorker {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// The dead-letter topic it consumes.
    pub dlt_topic: String,
    /// Its consumer group.
    pub group: String,
    /// Its static group membership id; `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// Where each dead e-mail's `dead` status event goes, for the API.
    pub status_topic: String,
    /// Whether each dead letter's JSON line goes to stdout.
    pub log_stdout: bool,
    /// A file the JSON lines are appended to as well.
    pub log_file: Option<PathBuf>,
    /// The Slack incoming-webhook URL (a secret: only its host is logged); `None`: no alerts.
    pub slack_webhook: Option<String>,
    /// Dead letters with the same error fingerprint within this window make one alert, then one
    /// summary that counts them.
    pub group_window: Duration,
    /// The process's metrics: its dead letters and alerts, and the library's (`rebound::metrics`);
    /// the caller serves them (`--metrics-listen`).
    pub metrics: Arc<Metrics>,
}

/// Posts to a Slack incoming webhook.
#[derive(Clone)]
pub struct Slack {
    client: reqwest::Client,
    url: String,
}

impl Slack {
    /// A client of the webhook at `url`, with a 10 s timeout per post.
    pub fn new(url: String) -> anyhow::Result<Slack> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Slack { client, url })
    }

    /// The webhook's host: what may be logged of it.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_else(|| "(invalid url)".into())
    }

    /// Posts `message` (Slack's JSON); an error names the host and what went wrong, never the URL.
    pub async fn post(&self, message: &serde_json::Value) -> Result<(), SlackError> {
        let response = self
            .client
            .post(&self.url)
            .json(message)
            .send()
            .await
            .map_err(|e| {
                SlackError(format!(
                    "could not reach {}: {}",
                    self.host(),
                    e.without_url()
                ))
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SlackError(format!(
                "{} answered {}",
                self.host(),
                response.status()
            )))
        }
    }
}

/// Why an alert did not reach Slack; the dead letter's handling fails transiently and is retried.
#[derive(Debug, thiserror::Error)]
#[error("Slack alert failed: {0}")]
pub struct SlackError(String);

/// Open grouping windows by error fingerprint.
#[derive(Default)]
struct Windows {
    open: HashMap<String, Window>,
}

struct Window {
    opened: Instant,
    suppressed: usize,
    example: String,
    dlt: String,
}

impl DltWorker {
    /// Consumes the dead-letter topic until SIGINT or SIGTERM: logs, alerts and publishes each dead
    /// letter's status.
    pub async fn run(self) -> anyhow::Result<()> {
        let publisher = StatusPublisher::new(&self.kafka, &self.status_topic).await?;
        let slack = self.slack_webhook.clone().map(Slack::new).transpose()?;
        if let Some(slack) = &slack {
            tracing::info!(host = %slack.host(), "alerting Slack");
        }
        let windows: Arc<Mutex<Windows>> = Arc::default();
        if let Some(slack) = slack.clone() {
            tokio::spawn(flush_summaries(slack, windows.clone(), self.group_window));
        }
        let shared = Arc::new(Shipper {
            log_stdout: self.log_stdout,
            log_file: self.log_file.clone(),
            logged: Mutex::default(),
            slack,
            windows,
            window: self.group_window,
            publisher,
        });
        metrics::describe_counter!("mailer_dead_letters_total", "Dead letters logged.");
        metrics::describe_counter!("mailer_alerts_total", "Slack alerts posted, by kind.");
        metrics::describe_counter!(
            "mailer_alert_failures_total",
            "Slack alerts that failed (retried).",
        );
        let handler = move |record: Record| {
            let shared = shared.clone();
            async move { shared.handle(record).await }
        };
        let mut builder =
            RetryingConsumer::dead_letters(self.kafka.clone(), &self.dlt_topic, &self.group)
                .handler(handler);
        if let Some(id) = &self.instance_id {
            builder = builder.instance_id(id);
        }
        builder.build()?.run(rebound::shutdown_signal()).await?;
        Ok(())
    }
}

struct Shipper {
    log_stdout: bool,
    log_file: Option<PathBuf>,
    /// Dead letters already logged by this process: a retried alert does not log twice.
    logged: Mutex<HashSet<(String, i32, i64)>>,
    slack: Option<Slack>,
    windows: Arc<Mutex<Windows>>,
    window: Duration,
    publisher: StatusPublisher,
}

impl Shipper {
    async fn handle(&self, record: Record) -> Result<(), Failure> {
        let position = (
            record.topic().to_string(),
            record.partition(),
            record.offset(),
        );
        let dead = DeadLetter::from_record(record);
        if self.logged.lock().expect("lock").insert(position) {
            self.log(&dead)?;
            metrics::counter!("mailer_dead_letters_total").increment(1);
        }
        if let Some(slack) = &self.slack {
            self.alert(slack, &dead).await?;
        }
        let id = email_id(&dead);
        if let Some(id) = id {
            let mut event = StatusEvent::new(&id, State::Dead);
            event.reason = Some(dead.error_message().to_string());
            event.attempt = dead.attempts;
            self.publisher.publish(&event).await;
        }
        Ok(())
    }

    /// One JSON line per dead letter, UTF-8 intact.
    fn log(&self, dead: &DeadLetter) -> Result<(), Failure> {
        let line = log_line(dead).to_string();
        if self.log_stdout {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").map_err(Failure::transient)?;
            out.flush().map_err(Failure::transient)?;
        }
        if let Some(path) = &self.log_file {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(Failure::transient)?;
            writeln!(file, "{line}").map_err(Failure::transient)?;
        }
        Ok(())
    }

    async fn alert(&self, slack: &Slack, dead: &DeadLetter) -> Result<(), Failure> {
        let print = fingerprint(dead.error_message());
        {
            let mut windows = self.windows.lock().expect("lock");
            if let Some(window) = windows.open.get_mut(&print) {
                if window.opened.elapsed() < self.window {
                    window.suppressed += 1;
                    return Ok(());
                }
            }
        }
        match slack.post(&alert_message(dead)).await {
            Ok(()) => {
                metrics::counter!("mailer_alerts_total", "kind" => "dead_letter").increment(1);
                tracing::info!(dead_letter = %dead.record.coordinates(), "alerted Slack");
                self.windows.lock().expect("lock").open.insert(
                    print,
                    Window {
                        opened: Instant::now(),
                        suppressed: 0,
                        example: dead.error_message().to_string(),
                        dlt: dead.record.topic().to_string(),
                    },
                );
                Ok(())
            }
            Err(e) => {
                metrics::counter!("mailer_alert_failures_total").increment(1);
                Err(Failure::transient(e))
            }
        }
    }
}

/// The e-mail's id, named as the worker names it ([`EmailMessage::identify`]), when the payload
/// is an e-mail at all.
fn email_id(dead: &DeadLetter) -> Option<String> {
    let mut email: EmailMessage = dead.record.json().ok()?;
    email.identify(&dead.record);
    Some(email.id)
}

/// The JSON log line of a dead letter: where it died and came from, the error, the attempts and
/// the payload (as JSON when it is JSON).
pub fn log_line(dead: &DeadLetter) -> serde_json::Value {
    let payload = dead.record.payload().map(|p| {
        serde_json::from_slice::<serde_json::Value>(p)
            .unwrap_or_else(|_| String::from_utf8_lossy(p).into_owned().into())
    });
    json!({
        "event": "dead_letter",
        "dead_letter": dead.record.coordinates(),
        "key": dead.record.key_text(),
        "original": dead.origin.as_ref().map(|o| json!({"topic": o.topic, "partition": o.partition, "offset": o.offset})),
        "attempts": dead.attempts,
        "error_class": dead.failure.class,
        "error": dead.failure.message,
        "exception": dead.failure.fqcn,
        "first_failed_at": dead.first_failed_at,
        "died_at": dead.died_at(),
        "payload": payload,
    })
}

/// Slack's incoming-webhook format: a text fallback plus blocks with the essentials.
pub fn alert_message(dead: &DeadLetter) -> serde_json::Value {
    let recipient = dead.record.key_text().unwrap_or_else(|| "(no key)".into());
    let attempts = dead.attempts.map_or("?".into(), |a| a.to_string());
    let error = dead.error_message();
    let (dlt, position) = (dead.record.topic(), dead.position());
    let dead_letter = dead.record.coordinates();
    let redrive = format!("rebound dlt redrive {dlt} --at {position}");
    let text = format!(
        ":rotating_light: E-mail to {recipient} dead-lettered after {attempts} attempts: {error}\nDead letter: {dead_letter}\nRedrive when fixed: `{redrive}`"
    );
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(":rotating_light: *E-mail to {recipient} dead-lettered*")}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Error*\n{error}")},
                {"type": "mrkdwn", "text": format!("*Attempts*\n{attempts}")},
                {"type": "mrkdwn", "text": format!("*Dead letter*\n{dead_letter}")},
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("Redrive when fixed: `{redrive}`")}},
        ],
    })
}

/// Posts one summary per window that folded dead letters in, when the window closes.
async fn flush_summaries(slack: Slack, windows: Arc<Mutex<Windows>>, window: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let due: Vec<(String, usize, String, String)> = {
            let mut windows = windows.lock().expect("lock");
            let closed: Vec<String> = windows
                .open
                .iter()
                .filter(|(_, w)| w.opened.elapsed() >= window)
                .map(|(k, _)| k.clone())
                .collect();
            closed
                .into_iter()
                .filter_map(|k| {
                    windows
                        .open
                        .remove(&k)
                        .map(|w| (k, w.suppressed, w.example, w.dlt))
                })
                .filter(|(_, n, _, _)| *n > 0)
                .collect()
        };
        for (_, count, example, dlt) in due {
            let text = format!(
                ":rotating_light: {count} more e-mails dead-lettered with the same error in the last {} s: {example}\nSee them: `rebound dlt list {dlt} --status pending`",
                window.as_secs()
            );
            let mut delay = Duration::from_secs(1);
            while let Err(e) = slack.post(&json!({"text": text})).await {
                tracing::warn!(error = %e, "summary alert failed; trying again in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            tracing::info!(count, "posted a grouped alert");
        }
    }
}
