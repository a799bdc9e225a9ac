use anyhow::{bail, Result};

/// Which broker software runs: `REBOUND_BROKER=kafka` (default) or `REBOUND_BROKER=tansu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Apache Kafka in KRaft mode (see [`crate::kafka`]).
    Kafka,
    /// Tansu 0.6.0 with its SQLite engine (see [`crate::tansu`]).
    Tansu,
}

impl Flavor {
    /// The variable that chooses the flavour.
    pub const ENV: &'static str = "REBOUND_BROKER";

    /// The flavour `REBOUND_BROKER` names; Kafka when it is unset or empty.
    pub fn from_env() -> Result<Flavor> {
        match std::env::var(Self::ENV) {
            Err(_) => Ok(Flavor::Kafka),
            Ok(s) => Flavor::parse(&s),
        }
    }

    fn parse(s: &str) -> Result<Flavor> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "kafka" => Ok(Flavor::Kafka),
            "tansu" => Ok(Flavor::Tansu),
            other => bail!(
                "{}={other:?} is not a broker this project runs; use `kafka` (the default) or `tansu`",
                Self::ENV
            ),
        }
    }

    /// A name for messages and file names.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Kafka => "kafka",
            Flavor::Tansu => "tansu",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_blind_and_default_to_kafka() {
        assert_eq!(Flavor::parse("").unwrap(), Flavor::Kafka);
        assert_eq!(Flavor::parse("Kafka").unwrap(), Flavor::Kafka);
        assert_eq!(Flavor::parse(" tansu ").unwrap(), Flavor::Tansu);
        let err = Flavor::parse("redpanda").unwrap_err().to_string();
        assert!(
            err.contains("REBOUND_BROKER") && err.contains("redpanda"),
            "{err}"
        );
    }
}
