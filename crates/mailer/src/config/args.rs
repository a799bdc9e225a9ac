//! The services' flags (each with its environment variable) and how they resolve, with the
//! `--config` file and the defaults, into the settings a service runs with: a flag wins over its
//! environment variable (clap decides that), which wins over the file's key, which wins over the
//! default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rebound::naming::dlt_topic;
use rebound::{Backoff, KafkaConfig, RetryPolicy};

use super::file::{ConfigError, File};
use crate::worker::{Order, SmtpSettings, TlsMode};

/// The scenario's DLT suffix (`email.send.dlt`), where Spring's default is `-dlt`: the worker's
/// policy appends it, and the other services find the DLT by it.
const DEFAULT_DLT_SUFFIX: &str = ".dlt";

/// What every Kafka-facing service takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Bootstrap servers [default: 127.0.0.1:9092]
    #[arg(long, env = "KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Any librdkafka property, repeatable: -X security.protocol=SASL_SSL (over the file's
    /// `[properties]` table)
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// The topic e-mails are published to [default: email.send]
    #[arg(long, env = "MAILER_TOPIC")]
    pub topic: Option<String>,
    /// The dead-letter topic [default: the topic's name + .dlt]
    #[arg(long, env = "MAILER_DLT_TOPIC")]
    pub dlt_topic: Option<String>,
    /// The topic of delivery status events [default: email.status]
    #[arg(long, env = "MAILER_STATUS_TOPIC")]
    pub status_topic: Option<String>,
    /// A TOML file with any of these settings, under the flags' names in snake_case
    /// (`smtp_port = 2525`); a flag or variable given wins over it. A key no service knows, or a
    /// value of the wrong type, is an error.
    #[arg(long, env = "MAILER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Export spans to this Zipkin (`http://host:port`): one trace per e-mail, every attempt a
    /// span [default: no export]
    #[arg(long, env = "REBOUND_ZIPKIN_URL")]
    pub zipkin_url: Option<String>,
}

/// The settings every Kafka-facing service resolves.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The cluster: the bootstrap servers (default `127.0.0.1:9092`), then the file's
    /// `[properties]`, then the `-X` properties over them.
    pub kafka: KafkaConfig,
    /// The topic e-mails are published to (default `email.send`).
    pub topic: String,
    /// The dead-letter topic (default: `topic` with `.dlt` appended).
    pub dlt_topic: String,
    /// The topic of delivery status events (default `email.status`).
    pub status_topic: String,
    /// Where spans go (`--zipkin-url`); none: no export.
    pub zipkin_url: Option<String>,
}

impl Common {
    /// Reads the `--config` file once and resolves the shared settings; the file is handed back
    /// for the service's own.
    pub fn resolve(self) -> Result<(Shared, File), ConfigError> {
        let file = File::read(self.config.as_deref())?;
        let brokers = self
            .brokers
            .or_else(|| file.brokers.clone())
            .unwrap_or_else(|| "127.0.0.1:9092".into());
        let kafka = file
            .properties
            .iter()
            .fold(KafkaConfig::new(brokers), |kafka, (key, value)| {
                kafka.property(key, value.to_string())
            })
            .properties_from_args(&self.property)?;
        let topic = self
            .topic
            .or_else(|| file.topic.clone())
            .unwrap_or_else(|| "email.send".into());
        let dlt_topic = self
            .dlt_topic
            .or_else(|| file.dlt_topic.clone())
            .unwrap_or_else(|| dlt_topic(&topic, DEFAULT_DLT_SUFFIX));
        let status_topic = self
            .status_topic
            .or_else(|| file.status_topic.clone())
            .unwrap_or_else(|| "email.status".into());
        let zipkin_url = self.zipkin_url.or_else(|| file.zipkin_url.clone());
        let shared = Shared {
            kafka,
            topic,
            dlt_topic,
            status_topic,
            zipkin_url,
        };
        Ok((shared, file))
    }
}

/// The flags of `mailer api`.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The flags every Kafka-facing service takes.
    #[command(flatten)]
    pub common: Common,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MAILER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// How long to wait for Kafka's acknowledgement before answering 503, ms [default: 5000]
    #[arg(long, env = "MAILER_SEND_TIMEOUT_MS")]
    pub send_timeout_ms: Option<u64>,
    /// Requests per second allowed per client address (bursts of twice that); more get 429.
    /// 0 turns the limit off [default: 100]
    #[arg(long, env = "MAILER_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
}

/// What `mailer api` runs with.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The cluster and the topics.
    pub shared: Shared,
    /// The address the HTTP API listens on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// How long a request waits for Kafka's acknowledgement before it gets 503 (default 5 s).
    pub send_timeout: Duration,
    /// Requests per second allowed per client address, bursts of twice that (default 100);
    /// `None`: no limit.
    pub rate_limit: Option<f64>,
}

impl ApiArgs {
    /// Resolves the flags over the environment, the `--config` file and the defaults.
    pub fn resolve(self) -> Result<ApiSettings, ConfigError> {
        let (shared, file) = self.common.resolve()?;
        Ok(ApiSettings {
            shared,
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            send_timeout: Duration::from_millis(
                self.send_timeout_ms
                    .or(file.send_timeout_ms)
                    .unwrap_or(5000),
            ),
            rate_limit: Some(self.rate_limit.or(file.rate_limit).unwrap_or(100.0))
                .filter(|r| *r > 0.0),
        })
    }
}

/// The flags of `mailer worker`.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The flags every Kafka-facing service takes.
    #[command(flatten)]
    pub common: Common,
    /// Consumer group [default: email-send-group]
    #[arg(long, env = "MAILER_GROUP")]
    pub group: Option<String>,
    /// Static group membership id: give each worker its own, stable across restarts
    #[arg(long, env = "MAILER_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Deliveries in all, the first included [default: 5]
    #[arg(long, env = "MAILER_ATTEMPTS")]
    pub attempts: Option<u32>,
    /// Delay before the first retry, ms [default: 1000]
    #[arg(long, env = "MAILER_DELAY_MS")]
    pub delay_ms: Option<u64>,
    /// Growth of the delay per retry; 1 keeps it fixed [default: 2]
    #[arg(long, env = "MAILER_MULTIPLIER")]
    pub multiplier: Option<f64>,
    /// Cap on the delay, ms [default: 30000]
    #[arg(long, env = "MAILER_MAX_DELAY_MS")]
    pub max_delay_ms: Option<u64>,
    /// Suffix of the dead-letter topic [default: .dlt]
    #[arg(long, env = "MAILER_DLT_SUFFIX")]
    pub dlt_suffix: Option<String>,
    /// SMTP server host [default: 127.0.0.1]
    #[arg(long, env = "MAILER_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP server port [default: 25]
    #[arg(long, env = "MAILER_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// TLS to the SMTP server [default: none]
    #[arg(long, env = "MAILER_SMTP_TLS", value_enum)]
    pub smtp_tls: Option<TlsMode>,
    /// SMTP user name (with the password: authenticate)
    #[arg(long, env = "MAILER_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password; prefer the environment variable for secrets
    #[arg(long, env = "MAILER_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Give up on an SMTP exchange after this long, ms (a transient failure) [default: 10000]
    #[arg(long, env = "MAILER_SMTP_TIMEOUT_MS")]
    pub smtp_timeout_ms: Option<u64>,
    /// E-mails on their way at once, and the SMTP connections kept open for them [default: 16]
    #[arg(long, env = "MAILER_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Which e-mails may be sent at the same time: `key` (e-mails to one recipient one after
    /// another, in order; the others at once), `partition` (one at a time per partition) or
    /// `unordered` [default: key]
    #[arg(long, env = "MAILER_ORDER", value_enum)]
    pub order: Option<Order>,
    /// Read each stage in the consumer group Spring Kafka reads it in (`email-send-group`,
    /// `email-send-group-retry-1000`, …), to share the chain with a Spring service while moving
    /// to or from it; the order is then `partition` unless `--order unordered` (file key:
    /// `spring_stage_groups`)
    #[arg(long, env = "MAILER_SPRING_STAGE_GROUPS")]
    pub spring_stage_groups: bool,
    /// Where to serve GET /metrics [default: nowhere]
    #[arg(long, env = "MAILER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// What `mailer worker` runs with.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The cluster and the topics.
    pub shared: Shared,
    /// The consumer group (default `email-send-group`).
    pub group: String,
    /// The static group membership id; `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// The retry chain: 5 deliveries in all, delays from 1 s doubling up to 30 s, DLT suffix
    /// `.dlt` by default; a multiplier of 1 makes the delay fixed.
    pub policy: RetryPolicy,
    /// The SMTP server and how the worker talks to it.
    pub smtp: SmtpSettings,
    /// Where to serve `GET /metrics`; `None` (the default): nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Which e-mails may be sent at the same time (default: by key, the recipient; by
    /// partition with Spring's stage groups).
    pub order: Order,
    /// Each stage in Spring's consumer group for it.
    pub spring_stage_groups: bool,
}

impl WorkerArgs {
    /// Resolves the flags over the environment, the `--config` file and the defaults.
    pub fn resolve(self) -> Result<WorkerSettings, ConfigError> {
        let (shared, file) = self.common.resolve()?;
        let spring_stage_groups =
            self.spring_stage_groups || file.spring_stage_groups.unwrap_or(false);
        let delay = Duration::from_millis(self.delay_ms.or(file.delay_ms).unwrap_or(1000));
        let multiplier = self.multiplier.or(file.multiplier).unwrap_or(2.0);
        let max_delay =
            Duration::from_millis(self.max_delay_ms.or(file.max_delay_ms).unwrap_or(30_000));
        let backoff = if multiplier == 1.0 {
            Backoff::Fixed(delay)
        } else {
            Backoff::exponential(delay, multiplier).with_max(max_delay)
        };
        let policy = RetryPolicy::new(self.attempts.or(file.attempts).unwrap_or(5))
            .backoff(backoff)
            .dlt_suffix(
                self.dlt_suffix
                    .or(file.dlt_suffix)
                    .unwrap_or_else(|| DEFAULT_DLT_SUFFIX.into()),
            );
        let smtp = SmtpSettings {
            host: self
                .smtp_host
                .or(file.smtp_host)
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: self.smtp_port.or(file.smtp_port).unwrap_or(25),
            tls: self.smtp_tls.or(file.smtp_tls).unwrap_or_default(),
            username: self.smtp_username.or(file.smtp_username),
            password: self.smtp_password.or(file.smtp_password),
            timeout: Duration::from_millis(
                self.smtp_timeout_ms
                    .or(file.smtp_timeout_ms)
                    .unwrap_or(10_000),
            ),
            connections: self
                .max_in_flight
                .or(file.max_in_flight)
                .unwrap_or(16)
                .max(1),
        };
        Ok(WorkerSettings {
            shared,
            group: self
                .group
                .or(file.group)
                .unwrap_or_else(|| "email-send-group".into()),
            instance_id: self.instance_id.or(file.instance_id),
            policy,
            smtp,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            order: self
                .order
                .or(file.order)
                .unwrap_or(match spring_stage_groups {
                    // Key order needs one member per partition number across the stages.
                    true => Order::Partition,
                    false => Order::default(),
                }),
            spring_stage_groups,
        })
    }
}

/// The flags of `mailer dlt-worker`.
#[derive(Args, Debug, Clone)]
pub struct DltArgs {
    /// The flags every Kafka-facing service takes.
    #[command(flatten)]
    pub common: Common,
    /// Consumer group of the dead-letter topic (file key: `dlt_group`)
    /// [default: email-send-dlt-group]
    #[arg(long, env = "MAILER_DLT_GROUP")]
    pub group: Option<String>,
    /// Static group membership id: give each worker its own, stable across restarts
    #[arg(long, env = "MAILER_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Append the JSON log lines to this file as well as stdout (file key: `dlt_log_file`)
    #[arg(long, env = "MAILER_DLT_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Do not print the JSON log lines to stdout
    #[arg(long)]
    pub no_stdout: bool,
    /// Slack incoming-webhook URL (a secret: prefer the environment variable)
    #[arg(long, env = "MAILER_SLACK_WEBHOOK", hide_env_values = true)]
    pub slack_webhook: Option<String>,
    /// Dead letters with the same error within this many seconds make one alert and one summary
    /// [default: 60]
    #[arg(long, env = "MAILER_ALERT_WINDOW_SECS")]
    pub alert_window_secs: Option<u64>,
    /// Where to serve GET /metrics [default: nowhere]
    #[arg(long, env = "MAILER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// What `mailer dlt-worker` runs with.
#[derive(Debug, Clone)]
pub struct DltSettings {
    /// The cluster and the topics.
    pub shared: Shared,
    /// The consumer group of the dead-letter topic (default `email-send-dlt-group`).
    pub group: String,
    /// The static group membership id; `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// Whether each dead letter's JSON line goes to stdout (default: yes; `--no-stdout` says no).
    pub log_stdout: bool,
    /// A file the JSON lines are appended to as well; `None` (the default): none.
    pub log_file: Option<PathBuf>,
    /// The Slack incoming-webhook URL, a secret; `None` (the default): no alerts.
    pub slack_webhook: Option<String>,
    /// Dead letters with the same error within this window make one alert and one summary
    /// (default 60 s).
    pub group_window: Duration,
    /// Where to serve `GET /metrics`; `None` (the default): nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

impl DltArgs {
    /// Resolves the flags over the environment, the `--config` file and the defaults.
    pub fn resolve(self) -> Result<DltSettings, ConfigError> {
        let (shared, file) = self.common.resolve()?;
        Ok(DltSettings {
            shared,
            group: self
                .group
                .or(file.dlt_group)
                .unwrap_or_else(|| "email-send-dlt-group".into()),
            instance_id: self.instance_id.or(file.instance_id),
            log_stdout: !(self.no_stdout || file.no_stdout.unwrap_or(false)),
            log_file: self.log_file.or(file.dlt_log_file),
            slack_webhook: self.slack_webhook.or(file.slack_webhook),
            group_window: Duration::from_secs(
                self.alert_window_secs
                    .or(file.alert_window_secs)
                    .unwrap_or(60),
            ),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Worker {
        #[command(flatten)]
        args: WorkerArgs,
    }

    #[derive(Parser)]
    struct Dlt {
        #[command(flatten)]
        args: DltArgs,
    }

    fn parse<P: Parser>(flags: &[&str]) -> P {
        P::try_parse_from(std::iter::once("mailer").chain(flags.iter().copied())).unwrap()
    }

    /// The only test that sets `MAILER_*` variables (the process's environment is shared by the
    /// tests running beside it): every case runs here, one after the other.
    #[test]
    fn a_flag_wins_over_the_environment_which_wins_over_the_file_which_wins_over_the_default() {
        let dir = std::env::temp_dir().join(format!("mailer-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mailer.toml");
        std::fs::write(
            &file,
            "smtp_port = 2525\ntopic = \"from-file\"\ndlt_group = \"dlt-from-file\"\n\
             no_stdout = true\n[properties]\n\"client.id\" = \"from-file\"\n",
        )
        .unwrap();
        let config = file.to_str().unwrap();
        // (uses the file, MAILER_SMTP_PORT, --smtp-port, the port the worker uses)
        let cases: &[(bool, Option<&str>, Option<&str>, u16)] = &[
            (false, None, None, 25),
            (true, None, None, 2525),
            (true, Some("2526"), None, 2526),
            (true, Some("2526"), Some("2527"), 2527),
            (false, Some("2526"), None, 2526),
            (false, None, Some("2527"), 2527),
        ];
        for (with_file, env, flag, port) in cases {
            match env {
                Some(value) => std::env::set_var("MAILER_SMTP_PORT", value),
                None => std::env::remove_var("MAILER_SMTP_PORT"),
            }
            let mut flags = Vec::new();
            if *with_file {
                flags.extend(["--config", config]);
            }
            if let Some(flag) = flag {
                flags.extend(["--smtp-port", flag]);
            }
            let settings = parse::<Worker>(&flags).args.resolve().unwrap();
            assert_eq!(
                settings.smtp.port, *port,
                "file {with_file}, env {env:?}, flag {flag:?}"
            );
        }
        std::env::remove_var("MAILER_SMTP_PORT");

        // The shared settings and the dead-letter worker's own keys follow the same order.
        let settings = parse::<Worker>(&["--config", config, "-X", "client.id=from-flag"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(settings.shared.topic, "from-file");
        assert_eq!(settings.shared.dlt_topic, "from-file.dlt");
        assert_eq!(
            settings.shared.kafka.properties().last(),
            Some(&("client.id".to_string(), "from-flag".to_string())),
            "-X after the file's [properties]: later wins"
        );
        let dlt = parse::<Dlt>(&["--config", config]).args.resolve().unwrap();
        assert_eq!(
            (dlt.group.as_str(), dlt.log_stdout),
            ("dlt-from-file", false)
        );
        let dlt = parse::<Dlt>(&["--config", config, "--group", "g"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(dlt.group, "g");

        // A bad file stops every service, whatever the flags say.
        std::fs::write(&file, "smtp_port = \"2525\"\n").unwrap();
        let error = parse::<Worker>(&["--config", config, "--smtp-port", "25"])
            .args
            .resolve()
            .unwrap_err();
        assert!(error.to_string().contains("key `smtp_port`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
