//! Settings shared by the services. Every setting is a flag, an environment variable
//! (`MAILER_…`, `KAFKA_BROKERS`) and a key of the TOML file given with `--config`, with the same
//! name: `--smtp-port`, `MAILER_SMTP_PORT`, `smtp_port = 2525`. Flags win over the environment,
//! which wins over the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rebound::KafkaConfig;

#[derive(Args, Debug, Clone)]
pub struct Kafka {
    /// Bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Any librdkafka property, repeatable: -X security.protocol=SASL_SSL
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// The topic e-mails are published to.
    #[arg(long, env = "MAILER_TOPIC")]
    pub topic: Option<String>,
    /// The dead-letter topic.
    #[arg(long, env = "MAILER_DLT_TOPIC")]
    pub dlt_topic: Option<String>,
    /// The topic of delivery status events.
    #[arg(long, env = "MAILER_STATUS_TOPIC")]
    pub status_topic: Option<String>,
    /// A TOML file with any of these settings (same names, snake_case).
    #[arg(long, env = "MAILER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The file's settings, read once; a flag or variable given explicitly wins.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct File {
    #[serde(flatten)]
    pub values: BTreeMap<String, toml::Value>,
}

impl File {
    pub fn read(path: Option<&PathBuf>) -> anyhow::Result<File> {
        let Some(path) = path else {
            return Ok(File::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))
    }

    pub fn string(&self, key: &str) -> Option<String> {
        scalar(self.values.get(key)?)
    }
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A setting from the flag, else the file, else the default.
pub fn pick<T: std::str::FromStr>(flag: Option<T>, file: &File, key: &str, default: T) -> T {
    flag.or_else(|| file.string(key).and_then(|s| s.parse().ok()))
        .unwrap_or(default)
}

impl Kafka {
    pub fn file(&self) -> anyhow::Result<File> {
        File::read(self.config.as_ref())
    }

    pub fn kafka(&self) -> anyhow::Result<KafkaConfig> {
        let file = self.file()?;
        let brokers = pick(
            self.brokers.clone(),
            &file,
            "brokers",
            "127.0.0.1:9092".to_string(),
        );
        let mut kafka = KafkaConfig::new(brokers);
        if let Some(toml::Value::Table(props)) = file.values.get("properties") {
            for (k, v) in props {
                if let Some(v) = scalar(v) {
                    kafka = kafka.property(k, v);
                }
            }
        }
        Ok(kafka.properties_from_args(&self.property)?)
    }

    pub fn topic(&self) -> String {
        let file = self.file().unwrap_or_default();
        pick(self.topic.clone(), &file, "topic", "email.send".into())
    }

    pub fn dlt_topic(&self) -> String {
        let file = self.file().unwrap_or_default();
        pick(
            self.dlt_topic.clone(),
            &file,
            "dlt_topic",
            format!("{}.dlt", self.topic()),
        )
    }

    pub fn status_topic(&self) -> String {
        let file = self.file().unwrap_or_default();
        pick(
            self.status_topic.clone(),
            &file,
            "status_topic",
            "email.status".into(),
        )
    }
}

/// Logs as text lines (or JSON with `MAILER_LOG_FORMAT=json`) to stderr, UTF-8 intact.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,rdkafka=warn,librdkafka=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if std::env::var("MAILER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
