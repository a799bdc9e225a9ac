//! The services' settings. Every setting is a flag, an environment variable (`MAILER_…`,
//! `KAFKA_BROKERS`) and a key of the TOML file given with `--config`, with the same name:
//! `--smtp-port`, `MAILER_SMTP_PORT`, `smtp_port = 2525` (two keys of `mailer dlt-worker` say
//! whose they are: `dlt_group`, `dlt_log_file`). Flags win over the environment, which wins over
//! the file, which wins over the default.
//!
//! The file is read into typed fields ([`File`]); a bad value or an unknown key stops the service
//! with an error naming the file, the key and the line, instead of a silent default.

mod args;
mod file;

pub use args::{
    ApiArgs, ApiSettings, Common, DltArgs, DltSettings, Shared, WorkerArgs, WorkerSettings,
};
pub use file::{ConfigError, File, Property};
