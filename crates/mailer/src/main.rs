//! `mailer`: the e-mail system of the scenario. See `mailer --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use mailer::config::{ApiArgs, DltArgs, WorkerArgs};
use mailer::metrics::Metrics;
use mailer::telemetry;

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

/// How a service's settings resolve, under each service's options.
const SETTINGS_HELP: &str = "Each setting: the flag, else its environment variable, else the key \
of the --config file with the flag's name in snake_case (--smtp-port: smtp_port = 2525), else the \
default. A key no service knows, or a value of the wrong type, stops the service with an error \
naming the file, the key and the line.";

#[derive(Subcommand)]
enum Command {
    /// The producer service: POST /emails, GET /emails/{id}, /healthz, /metrics.
    #[command(after_help = SETTINGS_HELP)]
    Api(ApiArgs),
    /// The e-mail service: consumes email.send and sends over SMTP with retry topics and a DLT.
    #[command(after_help = SETTINGS_HELP)]
    Worker(WorkerArgs),
    /// The dead-letter service: logs each dead letter as JSON and alerts Slack.
    #[command(after_help = SETTINGS_HELP)]
    DltWorker(DltArgs),
    /// A real SMTP server for the demo and tests (451 for fail@naver.com, 550 for nobody@naver.com).
    SmtpSink(SmtpSinkArgs),
    /// A stand-in for Slack's incoming webhook that prints what it receives.
    WebhookSink(WebhookSinkArgs),
    /// Run the whole scenario locally and print what happened (needs a broker: `cargo xtask demo`).
    Demo(mailer::demo::DemoArgs),
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
    /// Answer each message this many ms after its last line, as a slow relay would.
    #[arg(long, default_value_t = 0)]
    answer_delay_ms: u64,
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
    mailer::logging::init_logging();
    match Cli::parse().command {
        Command::Api(args) => {
            let s = args.resolve()?;
            let _tracing = telemetry::install("mailer-api", s.shared.zipkin_url.as_deref())?;
            mailer::api::run(
                s.shared.kafka,
                s.shared.topic,
                s.shared.status_topic,
                s.listen,
                s.send_timeout,
                s.rate_limit,
            )
            .await
        }
        Command::Worker(args) => {
            let s = args.resolve()?;
            let _tracing = telemetry::install("mailer-worker", s.shared.zipkin_url.as_deref())?;
            mailer::worker::Worker {
                kafka: s.shared.kafka,
                topic: s.shared.topic,
                group: s.group,
                instance_id: s.instance_id,
                policy: s.policy,
                smtp: s.smtp,
                order: s.order,
                spring_stage_groups: s.spring_stage_groups,
                status_topic: s.shared.status_topic,
                metrics: serve_metrics(s.metrics_listen),
            }
            .run()
            .await
        }
        Command::DltWorker(args) => {
            let s = args.resolve()?;
            let _tracing = telemetry::install("mailer-dlt-worker", s.shared.zipkin_url.as_deref())?;
            mailer::dlt_worker::DltWorker {
                kafka: s.shared.kafka,
                dlt_topic: s.shared.dlt_topic,
                group: s.group,
                instance_id: s.instance_id,
                status_topic: s.shared.status_topic,
                log_stdout: s.log_stdout,
                log_file: s.log_file,
                slack_webhook: s.slack_webhook,
                group_window: s.group_window,
                metrics: serve_metrics(s.metrics_listen),
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
                answer_delay: std::time::Duration::from_millis(args.answer_delay_ms),
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

/// The service's metrics, served at `GET /metrics` on `listen` when given.
fn serve_metrics(listen: Option<SocketAddr>) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::default());
    if let Some(listen) = listen {
        tokio::spawn(mailer::metrics::serve(listen, metrics.clone()));
    }
    metrics
}
