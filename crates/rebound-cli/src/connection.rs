//! How the command reaches the cluster: `--brokers`/`KAFKA_BROKERS`, `-X key=value` librdkafka
//! properties (like kcat), and an optional TOML file with the same names:
//!
//! ```toml
//! brokers = "kafka-1:9092,kafka-2:9092"
//! [properties]
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "PLAIN"
//! ```
//!
//! Flags win over the environment, which wins over the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rebound::KafkaConfig;

#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", global = true)]
    pub brokers: Option<String>,
    /// Any librdkafka property, repeatable: -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub property: Vec<String>,
    /// A TOML file with `brokers` and a `[properties]` table.
    #[arg(long, env = "REBOUND_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
struct FileConfig {
    brokers: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

impl Connection {
    pub fn kafka(&self) -> anyhow::Result<KafkaConfig> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("could not read the config file {}", path.display())
                })?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not valid TOML", path.display()))?
            }
            None => FileConfig::default(),
        };
        let brokers = self
            .brokers
            .clone()
            .or(file.brokers)
            .unwrap_or_else(|| "127.0.0.1:9092".into());
        let mut kafka = KafkaConfig::new(brokers);
        for (k, v) in file.properties {
            kafka = kafka.property(k, v);
        }
        Ok(kafka.properties_from_args(&self.property)?)
    }
}
