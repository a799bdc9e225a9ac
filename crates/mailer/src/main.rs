//! `mailer`: the e-mail system of the scenario. See `mailer --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mailer::config::{self, pick, Kafka};
use mailer::metrics::Metrics;
use mailer::worker::{SmtpSettings, TlsMode};
use rebound::{Backoff, RetryPolicy};

/// The e-mail system of the scenario, on Rebound.
///
/// A member service asks `mailer api` to send an e-mail; the API validates it, publishes it to
/// Kafka (`email.send`) and answers 202. `mailer worker` sends it over SMTP, retrying through
/// `email.send-retry-1000` … `-8000` on temporary failures; what cannot be sent lands in
/// `email.send.dlt`, where `mailer dlt-worker` logs it and alerts Slack.
///
/// Every setting is a flag, an environment variable and a key of the `--config` TOML file.
/// `mailer demo` runs the whole story on this machine.
#[derive(Parser)]
#[command(name = "mailer", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The producer service: POST /emails, GET /emails/{id}, /healthz, /metrics.
    Api(ApiArgs),
    /// The e-mail service: consumes email.send and sends over SMTP with retry topics and a DLT.
    Worker(WorkerArgs),
    /// The dead-letter service: logs each dead letter as JSON and alerts Slack.
    DltWorker(DltArgs),
    /// A real SMTP server for the demo and tests (451 for fail@naver.com, 550 for nobody@naver.com).
    SmtpSink(SmtpSinkArgs),
    /// A stand-in for Slack's incoming webhook that prints what it receives.
    WebhookSink(WebhookSinkArgs),
    /// Run the whole scenario locally and print what happened (needs a broker: `cargo xtask demo`).
    Demo(mailer::demo::DemoArgs),
}

#[derive(Args)]
struct ApiArgs {
    #[command(flatten)]
    kafka: Kafka,
    /// Address to listen on.
    #[arg(long, env = "MAILER_LISTEN")]
    listen: Option<SocketAddr>,
    /// How long to wait for Kafka's acknowledgement before answering 503.
    #[arg(long, env = "MAILER_SEND_TIMEOUT_MS")]
    send_timeout_ms: Option<u64>,
    /// Requests per second allowed per client address (bursts of twice that); more get 429.
    /// 0 turns the limit off.
    #[arg(long, env = "MAILER_RATE_LIMIT")]
    rate_limit: Option<f64>,
}

#[derive(Args)]
struct WorkerArgs {
    #[command(flatten)]
    kafka: Kafka,
    /// Consumer group.
    #[arg(long, env = "MAILER_GROUP")]
    group: Option<String>,
    /// Static group membership id: give each worker its own, stable across restarts.
    #[arg(long, env = "MAILER_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Deliveries in all, the first included.
    #[arg(long, env = "MAILER_ATTEMPTS")]
    attempts: Option<u32>,
    /// Delay before the first retry, ms.
    #[arg(long, env = "MAILER_DELAY_MS")]
    delay_ms: Option<u64>,
    /// Growth of the delay per retry.
    #[arg(long, env = "MAILER_MULTIPLIER")]
    multiplier: Option<f64>,
    /// Cap on the delay, ms.
    #[arg(long, env = "MAILER_MAX_DELAY_MS")]
    max_delay_ms: Option<u64>,
    /// Suffix of the dead-letter topic.
    #[arg(long, env = "MAILER_DLT_SUFFIX")]
    dlt_suffix: Option<String>,
    #[arg(long, env = "MAILER_SMTP_HOST")]
    smtp_host: Option<String>,
    #[arg(long, env = "MAILER_SMTP_PORT")]
    smtp_port: Option<u16>,
    #[arg(long, env = "MAILER_SMTP_TLS", value_enum)]
    smtp_tls: Option<TlsMode>,
    #[arg(long, env = "MAILER_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// Prefer the environment variable for secrets.
    #[arg(long, env = "MAILER_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    #[arg(long, env = "MAILER_SMTP_TIMEOUT_MS")]
    smtp_timeout_ms: Option<u64>,
    /// Where to serve GET /metrics.
    #[arg(long, env = "MAILER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct DltArgs {
    #[command(flatten)]
    kafka: Kafka,
    #[arg(long, env = "MAILER_DLT_GROUP")]
    group: Option<String>,
    #[arg(long, env = "MAILER_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Append the JSON log lines to this file as well as stdout.
    #[arg(long, env = "MAILER_DLT_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Do not print the JSON log lines to stdout.
    #[arg(long)]
    no_stdout: bool,
    /// Slack incoming-webhook URL (a secret: prefer the environment variable).
    #[arg(long, env = "MAILER_SLACK_WEBHOOK", hide_env_values = true)]
    slack_webhook: Option<String>,
    /// Dead letters with the same error within this many seconds make one alert and one summary.
    #[arg(long, env = "MAILER_ALERT_WINDOW_SECS")]
    alert_window_secs: Option<u64>,
    #[arg(long, env = "MAILER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct SmtpSinkArgs {
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// Append each received message to this file (JSON lines).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Recipients answered with 451 (repeatable).
    #[arg(long, default_value = "fail@naver.com")]
    transient: Vec<String>,
    /// Recipients answered with 550 (repeatable).
    #[arg(long, default_value = "nobody@naver.com")]
    permanent: Vec<String>,
}

#[derive(Args)]
struct WebhookSinkArgs {
    #[arg(long, default_value = "127.0.0.1:9099")]
    listen: SocketAddr,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Answer 500 to this many first requests.
    #[arg(long, default_value_t = 0)]
    fail_first: usize,
    /// Answer 503 while this file exists.
    #[arg(long)]
    down_while: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    config::init_logging();
    match Cli::parse().command {
        Command::Api(args) => {
            let file = args.kafka.file()?;
            let listen = pick(args.listen, &file, "listen", "127.0.0.1:8080".parse()?);
            let timeout = pick(args.send_timeout_ms, &file, "send_timeout_ms", 5000);
            mailer::api::run(
                args.kafka.kafka()?,
                args.kafka.topic(),
                args.kafka.status_topic(),
                listen,
                Duration::from_millis(timeout),
                Some(pick(args.rate_limit, &file, "rate_limit", 100.0)).filter(|r| *r > 0.0),
            )
            .await
        }
        Command::Worker(args) => {
            let file = args.kafka.file()?;
            let delay = Duration::from_millis(pick(args.delay_ms, &file, "delay_ms", 1000));
            let multiplier = pick(args.multiplier, &file, "multiplier", 2.0);
            let max_delay =
                Duration::from_millis(pick(args.max_delay_ms, &file, "max_delay_ms", 30_000));
            let backoff = if multiplier == 1.0 {
                Backoff::Fixed(delay)
            } else {
                Backoff::exponential(delay, multiplier).with_max(max_delay)
            };
            let policy = RetryPolicy::new(pick(args.attempts, &file, "attempts", 5))
                .backoff(backoff)
                .dlt_suffix(pick(
                    args.dlt_suffix,
                    &file,
                    "dlt_suffix",
                    ".dlt".to_string(),
                ));
            let metrics = Arc::new(Metrics::default());
            if let Some(listen) = args
                .metrics_listen
                .or_else(|| file.string("metrics_listen").and_then(|s| s.parse().ok()))
            {
                tokio::spawn(mailer::metrics::serve(listen, metrics.clone()));
            }
            let smtp = SmtpSettings {
                host: pick(args.smtp_host, &file, "smtp_host", "127.0.0.1".to_string()),
                port: pick(args.smtp_port, &file, "smtp_port", 25),
                tls: args.smtp_tls.unwrap_or_default(),
                username: args.smtp_username.or_else(|| file.string("smtp_username")),
                password: args.smtp_password.or_else(|| file.string("smtp_password")),
                timeout: Duration::from_millis(pick(
                    args.smtp_timeout_ms,
                    &file,
                    "smtp_timeout_ms",
                    10_000,
                )),
            };
            mailer::worker::Worker {
                kafka: args.kafka.kafka()?,
                topic: args.kafka.topic(),
                group: pick(args.group, &file, "group", "email-send-group".to_string()),
                instance_id: args.instance_id.or_else(|| file.string("instance_id")),
                policy,
                smtp,
                status_topic: args.kafka.status_topic(),
                metrics,
            }
            .run()
            .await
        }
        Command::DltWorker(args) => {
            let file = args.kafka.file()?;
            let metrics = Arc::new(Metrics::default());
            if let Some(listen) = args
                .metrics_listen
                .or_else(|| file.string("metrics_listen").and_then(|s| s.parse().ok()))
            {
                tokio::spawn(mailer::metrics::serve(listen, metrics.clone()));
            }
            mailer::dlt_worker::DltWorker {
                kafka: args.kafka.kafka()?,
                dlt_topic: args.kafka.dlt_topic(),
                group: pick(
                    args.group,
                    &file,
                    "dlt_group",
                    "email-send-dlt-group".to_string(),
                ),
                instance_id: args.instance_id.or_else(|| file.string("instance_id")),
                status_topic: args.kafka.status_topic(),
                log_stdout: !args.no_stdout,
                log_file: args
                    .log_file
                    .or_else(|| file.string("dlt_log_file").map(PathBuf::from)),
                slack_webhook: args.slack_webhook.or_else(|| file.string("slack_webhook")),
                group_window: Duration::from_secs(pick(
                    args.alert_window_secs,
                    &file,
                    "alert_window_secs",
                    60,
                )),
                metrics,
            }
            .run()
            .await
        }
        Command::SmtpSink(args) => {
            mailer::smtp_sink::SmtpSink {
                listen: args.listen,
                out: args.out,
                transient: args.transient,
                permanent: args.permanent,
            }
            .run()
            .await
        }
        Command::WebhookSink(args) => {
            mailer::webhook_sink::WebhookSink {
                listen: args.listen,
                out: args.out,
                fail_first: args.fail_first,
                down_while: args.down_while,
            }
            .run()
            .await
        }
        Command::Demo(args) => mailer::demo::run(args).await,
    }
}
