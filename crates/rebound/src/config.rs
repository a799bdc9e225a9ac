//! How to reach the cluster: bootstrap servers plus any librdkafka property, so SASL and TLS
//! clusters work without code changes.

use rdkafka::ClientConfig;

/// Broker address and librdkafka properties, shared by every client Rebound creates.
///
/// ```
/// let kafka = rebound::KafkaConfig::new("127.0.0.1:9092")
///     .property("security.protocol", "SASL_SSL")
///     .property("sasl.mechanism", "PLAIN");
/// assert_eq!(kafka.brokers(), "127.0.0.1:9092");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    brokers: String,
    properties: Vec<(String, String)>,
}

/// The producer settings of every copy Rebound writes (retry hops, dead letters, redrives, the
/// ledger): idempotent, acknowledged by all in-sync replicas, and failing a send within 30 s so the
/// caller can report it and try again, rather than librdkafka's default of 5 minutes in silence.
///
/// Idempotence has one cost worth knowing (BENCHMARKS.md): librdkafka 2.12's idempotent producer
/// busy-waits while a partition has its 5 produce requests in flight and more records queued, so
/// a worker burns a core for as long as the broker takes that long to acknowledge copies.
/// `-X enable.idempotence=false -X max.in.flight.requests.per.connection=1` removes the spin and
/// keeps copies in order, at the price of a duplicate copy when a lost response is retried.
pub const RELIABLE_PRODUCER: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("message.timeout.ms", "30000"),
];

/// The environment variable that names the brokers, read by [`KafkaConfig::from_env`].
pub const BROKERS_ENV: &str = "KAFKA_BROKERS";

impl KafkaConfig {
    /// Brokers to bootstrap from (`host:port[,host:port…]`), no properties yet.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            properties: Vec::new(),
        }
    }

    /// `KAFKA_BROKERS`, or `127.0.0.1:9092` when unset.
    pub fn from_env() -> Self {
        KafkaConfig::new(std::env::var(BROKERS_ENV).unwrap_or_else(|_| "127.0.0.1:9092".into()))
    }

    /// Sets any librdkafka property (later values win), like kcat's `-X key=value`.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Parses `key=value` pairs as given to `-X`.
    pub fn properties_from_args<I, S>(mut self, args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for arg in args {
            let arg = arg.as_ref();
            let (key, value) = arg
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ConfigError::BadProperty(arg.to_string()))?;
            self.properties.push((key.trim().into(), value.into()));
        }
        Ok(self)
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The user's librdkafka properties, in the order given.
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// A librdkafka configuration: Rebound's `defaults` first, then the brokers, then the user's
    /// properties, so that the user always has the last word.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        config.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }
}

#[derive(Debug, thiserror::Error)]
/// A configuration that cannot be used, with what to write instead.
pub enum ConfigError {
    #[error("librdkafka property `{0}` is not of the form key=value (example: -X security.protocol=SASL_SSL)")]
    /// A `-X` argument without `=`.
    BadProperty(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_win_over_defaults() {
        let kafka = KafkaConfig::new("b:9092")
            .properties_from_args(["acks=1", "client.id=x=y"])
            .unwrap();
        let config = kafka.client_config(&[("acks", "all")]);
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("client.id"), Some("x=y"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }

    #[test]
    fn malformed_property_is_named() {
        let err = KafkaConfig::new("b")
            .properties_from_args(["nonsense"])
            .unwrap_err();
        assert!(err.to_string().contains("nonsense"));
    }
}
