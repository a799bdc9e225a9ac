//! The e-mail system of the scenario, built on `rebound` like any user's service:
//!
//! - [`api`]: the producer service. Validates `POST /emails` before anything enters Kafka, answers
//!   `202` only after the broker acknowledged, and tells the caller what really happened.
//! - [`worker`]: the e-mail service. Consumes `email.send` through Rebound's retry chain and sends
//!   real e-mail over SMTP.
//! - [`dlt_worker`]: the dead-letter service. Logs each dead letter as one JSON line and alerts
//!   Slack, grouping floods.
//! - [`smtp_sink`], [`webhook_sink`]: a real SMTP server and a Slack stand-in for the demo and tests.
//! - [`demo`]: runs all of it with sample traffic and prints what happened.
//! - [`config`]: the services' settings (flags, environment, `--config` file); [`logging`]: their
//!   log lines; [`telemetry`]: their spans, exported to Zipkin.

pub mod api;
pub mod config;
pub mod demo;
pub mod dlt_worker;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod smtp_sink;
pub mod status;
pub mod telemetry;
pub mod webhook_sink;
pub mod worker;
