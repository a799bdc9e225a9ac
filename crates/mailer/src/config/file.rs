//! The `--config` file: TOML whose keys are the flags' names in snake_case (`smtp_port = 2525`),
//! read into typed fields. A value of the wrong type or a key no service knows is an error naming
//! the file, the key and the line: a misspelled `smtp_prot` or a quoted `smtp_port = "2525"` would
//! otherwise leave the service running on a default nobody chose.
//!
//! One file serves every service (the worker ignores the API's `listen`, and so on), so every key
//! of every service is known here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::worker::TlsMode;

/// Every key the file may hold; all optional. A key is its flag's name in snake_case (two keys of
/// `mailer dlt-worker` say whose they are: `dlt_group`, `dlt_log_file`), with the flag's meaning,
/// unit and default.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    // Every service.
    /// Bootstrap servers (`--brokers`).
    pub brokers: Option<String>,
    /// librdkafka properties, as `-X key=value` gives them (the flags win).
    #[serde(default)]
    pub properties: BTreeMap<String, Property>,
    /// The topic e-mails are published to (`--topic`).
    pub topic: Option<String>,
    /// The dead-letter topic (`--dlt-topic`).
    pub dlt_topic: Option<String>,
    /// The topic of delivery status events (`--status-topic`).
    pub status_topic: Option<String>,
    /// The Zipkin spans are exported to (`--zipkin-url`).
    pub zipkin_url: Option<String>,
    // `mailer api`.
    /// The address the API listens on (`--listen`).
    pub listen: Option<SocketAddr>,
    /// How long the API waits for Kafka's acknowledgement, ms (`--send-timeout-ms`).
    pub send_timeout_ms: Option<u64>,
    /// Requests per second allowed per client address; 0 turns the limit off (`--rate-limit`).
    pub rate_limit: Option<f64>,
    // `mailer worker` and `mailer dlt-worker`.
    /// Static group membership id (`--instance-id`).
    pub instance_id: Option<String>,
    /// Where to serve `GET /metrics` (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
    // `mailer worker`.
    /// The worker's consumer group (`--group` of `mailer worker`).
    pub group: Option<String>,
    /// Deliveries in all, the first included (`--attempts`).
    pub attempts: Option<u32>,
    /// Delay before the first retry, ms (`--delay-ms`).
    pub delay_ms: Option<u64>,
    /// Growth of the delay per retry; 1 keeps it fixed (`--multiplier`).
    pub multiplier: Option<f64>,
    /// Cap on the delay, ms (`--max-delay-ms`).
    pub max_delay_ms: Option<u64>,
    /// Suffix of the dead-letter topic (`--dlt-suffix`).
    pub dlt_suffix: Option<String>,
    /// SMTP server host (`--smtp-host`).
    pub smtp_host: Option<String>,
    /// SMTP server port (`--smtp-port`).
    pub smtp_port: Option<u16>,
    /// TLS to the SMTP server: `none`, `starttls` or `tls` (`--smtp-tls`).
    pub smtp_tls: Option<TlsMode>,
    /// SMTP user name (`--smtp-username`).
    pub smtp_username: Option<String>,
    /// SMTP password, a secret (`--smtp-password`).
    pub smtp_password: Option<String>,
    /// Give up on an SMTP exchange after this long, ms (`--smtp-timeout-ms`).
    pub smtp_timeout_ms: Option<u64>,
    /// E-mails on their way at once, and the SMTP connections kept open for them
    /// (`--max-in-flight`).
    pub max_in_flight: Option<usize>,
    /// Which e-mails may be sent at the same time: `key`, `partition` or `unordered` (`--order`).
    pub order: Option<crate::worker::Order>,
    /// Each stage in Spring's consumer group for it (`--spring-stage-groups`).
    pub spring_stage_groups: Option<bool>,
    // `mailer dlt-worker`.
    /// The dead-letter worker's consumer group (`--group` of `mailer dlt-worker`).
    pub dlt_group: Option<String>,
    /// A file the dead-letter worker appends its JSON lines to (`--log-file` of
    /// `mailer dlt-worker`).
    pub dlt_log_file: Option<PathBuf>,
    /// `true`: the dead-letter worker does not print its JSON lines (`--no-stdout`).
    pub no_stdout: Option<bool>,
    /// Slack incoming-webhook URL, a secret (`--slack-webhook`).
    pub slack_webhook: Option<String>,
    /// Dead letters with the same error within this many seconds make one alert
    /// (`--alert-window-secs`).
    pub alert_window_secs: Option<u64>,
}

/// A librdkafka property's value: librdkafka takes text, and TOML lets a number or a boolean be
/// written bare (`linger.ms = 5`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a string, a number or a boolean (quote a dotted name: \"linger.ms\" = 5)"
)]
pub enum Property {
    /// A quoted value: `"security.protocol" = "SASL_SSL"`.
    Text(String),
    /// A bare integer: `"linger.ms" = 5`.
    Integer(i64),
    /// A bare number with a fraction or an exponent: `0.5`.
    Float(f64),
    /// A bare `true` or `false`.
    Boolean(bool),
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Property::Text(s) => f.write_str(s),
            Property::Integer(i) => write!(f, "{i}"),
            Property::Float(x) => write!(f, "{x}"),
            Property::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// Why the settings could not be read; each says where to look.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` could not be read.
    #[error("could not read the configuration file {}: {error}", path.display())]
    Read {
        /// The file, as given.
        path: PathBuf,
        /// Why the operating system refused it.
        error: std::io::Error,
    },
    /// A TOML syntax error, a value of the wrong type, or an unknown key.
    #[error("{}{}: {problem}", path.display(), at(key.as_deref(), *line))]
    Invalid {
        /// The file, as given.
        path: PathBuf,
        /// The key, dotted (`properties.linger.ms`); `None` when the problem is not one key's.
        key: Option<String>,
        /// The line, from 1, when the TOML parser says where.
        line: Option<usize>,
        /// What is wrong, on one line.
        problem: String,
    },
    /// A `-X` property that is not `key=value`.
    #[error(transparent)]
    Property(#[from] rebound::ConfigError),
}

/// `: key `smtp_port`, line 3`, or as much of it as is known.
fn at(key: Option<&str>, line: Option<usize>) -> String {
    match (key, line) {
        (Some(key), Some(line)) => format!(": key `{key}`, line {line}"),
        (Some(key), None) => format!(": key `{key}`"),
        (None, Some(line)) => format!(": line {line}"),
        (None, None) => String::new(),
    }
}

impl File {
    /// The file at `path`, or no settings without one.
    pub fn read(path: Option<&Path>) -> Result<File, ConfigError> {
        let Some(path) = path else {
            return Ok(File::default());
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        File::parse(&text, path)
    }

    /// The settings in `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<File, ConfigError> {
        serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key: (key != ".").then_some(key),
                line: inner
                    .span()
                    .map(|span| text[..span.start].matches('\n').count() + 1),
                // TOML's syntax errors span lines ("invalid string\nexpected `"`"): one line.
                problem: inner
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_into_typed_settings_or_refused_with_the_key_and_the_line() {
        let path = Path::new("/etc/mailer.toml");
        let good = "brokers = \"kafka:9092\"\nsmtp_port = 2525\nsmtp_tls = \"starttls\"\n\
                    multiplier = 2\nlisten = \"0.0.0.0:8080\"\n\
                    [properties]\n\"linger.ms\" = 5\n\"security.protocol\" = \"SASL_SSL\"\n";
        let file = File::parse(good, path).unwrap();
        assert_eq!(file.brokers.as_deref(), Some("kafka:9092"));
        assert_eq!(file.smtp_port, Some(2525));
        assert_eq!(file.smtp_tls, Some(TlsMode::Starttls));
        assert_eq!(file.multiplier, Some(2.0), "an integer where a float goes");
        assert_eq!(file.listen, Some("0.0.0.0:8080".parse().unwrap()));
        let properties: Vec<(String, String)> = file
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert_eq!(
            properties,
            [
                ("linger.ms".into(), "5".into()),
                ("security.protocol".into(), "SASL_SSL".into())
            ]
        );
        assert_eq!(File::parse("", path).unwrap(), File::default());
        let missing = File::read(Some(Path::new("/no/such/mailer.toml"))).unwrap_err();
        assert!(
            missing.to_string().contains("/no/such/mailer.toml"),
            "{missing}"
        );

        // (file, the error must contain each of these)
        let bad: &[(&str, &[&str])] = &[
            (
                "smtp_port = \"2525\"",
                &[
                    "/etc/mailer.toml",
                    "key `smtp_port`",
                    "line 1",
                    "expected u16",
                ],
            ),
            (
                "topic = \"t\"\nsmtp_port = 70000",
                &["key `smtp_port`", "line 2"],
            ),
            (
                "listen = \"localhost\"",
                &["key `listen`", "socket address"],
            ),
            ("smtp_tls = \"ssl\"", &["key `smtp_tls`", "starttls"]),
            (
                "topic = \"t\"\nsmtp_prot = 25",
                &[
                    "/etc/mailer.toml",
                    "line 2",
                    "unknown field `smtp_prot`",
                    "smtp_port",
                ],
            ),
            (
                "[properties]\n\"linger.ms\" = [5]",
                &[
                    "key `properties.linger.ms`",
                    "a string, a number or a boolean",
                ],
            ),
            (
                "[properties]\nlinger.ms = 5",
                &["key `properties.linger`", "quote a dotted name"],
            ),
            ("smtp_port = \n", &["/etc/mailer.toml", "line 1"]),
        ];
        for (text, wanted) in bad {
            let error = File::parse(text, path).unwrap_err().to_string();
            for w in *wanted {
                assert!(error.contains(w), "{text:?}: {error:?} lacks {w:?}");
            }
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }
}
