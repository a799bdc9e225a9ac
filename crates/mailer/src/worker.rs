//! `mailer worker`: the e-mail service. Consumes `email.send` through Rebound's retry chain and
//! sends each e-mail over SMTP.
//!
//! Classification, as the SMTP reply says: a refused connection, a timeout or a 4xx reply is
//! transient (the retry topics take it); a 5xx reply (unknown mailbox, rejected) is permanent
//! (straight to the DLT); a payload that does not decode is permanent too.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rebound::{
    Failure, FailureClass, KafkaConfig, ProcessingOrder, Record, RetryPolicy, RetryingConsumer,
};

use crate::message::EmailMessage;
use crate::metrics::Metrics;
use crate::status::{State, StatusEvent, StatusPublisher};

/// How the worker speaks TLS to the SMTP server; the same names for the flag, the environment
/// and the `--config` file: `none`, `starttls`, `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on loopback or a private network).
    #[default]
    None,
    /// STARTTLS after connecting (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server and how the worker talks to it.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The server's host name or address (default `127.0.0.1`); also the name TLS verifies.
    pub host: String,
    /// The server's port (default 25).
    pub port: u16,
    /// TLS to the server (default none).
    pub tls: TlsMode,
    /// The user name; with `password`, the worker authenticates. `None` by default.
    pub username: Option<String>,
    /// The password, a secret; only used with `username`. `None` by default.
    pub password: Option<String>,
    /// How long one SMTP exchange may take before it counts as a transient failure (default
    /// 10 s); a handler call gets three times this.
    pub timeout: Duration,
    /// E-mails on their way at once: the consumer's `max_in_flight`, and the SMTP connections
    /// the transport keeps open for them (one SMTP session carries one e-mail at a time).
    pub connections: usize,
}

/// Which e-mails the worker sends at the same time (the consumer's [`ProcessingOrder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// E-mails to one recipient (the record key) one after another, in order, through the retry
    /// chain too; e-mails to others at the same time.
    #[default]
    Key,
    /// One e-mail at a time per partition.
    Partition,
    /// Any e-mail beside any other.
    Unordered,
}

impl Order {
    fn processing_order(self) -> ProcessingOrder {
        match self {
            Order::Key => ProcessingOrder::Key,
            Order::Partition => ProcessingOrder::Partition,
            Order::Unordered => ProcessingOrder::Unordered,
        }
    }
}

/// The SMTP client for `smtp`: a pool of up to `connections` sessions, TLS and credentials as
/// set.
pub fn transport(smtp: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls = match smtp.tls {
        TlsMode::None => Tls::None,
        TlsMode::Starttls => Tls::Required(TlsParameters::new(smtp.host.clone())?),
        TlsMode::Tls => Tls::Wrapper(TlsParameters::new(smtp.host.clone())?),
    };
    // A pool of open sessions, one per e-mail in flight: without it every e-mail paid a TCP
    // connection, the greeting and EHLO before its MAIL FROM.
    let pool = PoolConfig::new().max_size(u32::try_from(smtp.connections).unwrap_or(u32::MAX));
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout))
        .pool_config(pool);
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// The e-mail as lettre builds it: UTF-8 subject and body, intact.
pub fn build_message(email: &EmailMessage) -> Result<Message, Failure> {
    let mailbox = |field: &str, value: &str| {
        value.parse::<Mailbox>().map_err(|e| {
            Failure::permanent(rebound::Message(format!(
                "{field} address {value:?} is invalid: {e}"
            )))
        })
    };
    let mut builder = Message::builder()
        .from(mailbox("from", &email.from)?)
        .to(mailbox("to", &email.to)?)
        .subject(email.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for cc in &email.cc {
        builder = builder.cc(mailbox("cc", cc)?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    // 8bit keeps the Korean text readable on the wire (current servers speak 8BITMIME); a body
    // with over-long lines falls back to lettre's own choice of encoding.
    let body = Body::new_with_encoding(email.body.clone(), ContentTransferEncoding::EightBit)
        .unwrap_or_else(Body::new);
    builder.body(body).map_err(|e| {
        Failure::permanent(rebound::Message(format!("could not build the e-mail: {e}")))
    })
}

/// Why sending failed, as the SMTP server said.
#[derive(Debug, thiserror::Error)]
#[error("SMTP send to {to} failed: {source}")]
pub struct SendError {
    /// The recipient.
    pub to: String,
    /// lettre's error: the server's reply, a timeout or a connection failure.
    #[source]
    pub source: lettre::transport::smtp::Error,
}

/// The e-mail service, as `mailer worker` resolves it ([`crate::config::WorkerSettings`]).
pub struct Worker {
    /// The cluster.
    pub kafka: KafkaConfig,
    /// The main topic it consumes; the retry topics and the DLT are named after it.
    pub topic: String,
    /// Its consumer group.
    pub group: String,
    /// Its static group membership id; `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// The retry chain: attempts, delays, DLT suffix.
    pub policy: RetryPolicy,
    /// The SMTP server, and how many e-mails are on their way at once.
    pub smtp: SmtpSettings,
    /// Which e-mails may be sent at the same time.
    pub order: Order,
    /// Each stage in Spring's consumer group for it.
    pub spring_stage_groups: bool,
    /// Where the `sent` and `retrying` status events go, for the API.
    pub status_topic: String,
    /// The process's metrics: the library counts sends (handled), failures, retries and dead
    /// letters by topic and stage (`rebound::metrics`); the caller serves them (`--metrics-listen`).
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Consumes the chain until SIGINT or SIGTERM, sending each e-mail over SMTP and publishing
    /// its status.
    pub async fn run(self) -> anyhow::Result<()> {
        let transport = Arc::new(transport(&self.smtp)?);
        let publisher = StatusPublisher::new(&self.kafka, &self.status_topic).await?;
        let policy = self.policy.clone();
        let handler = {
            let (transport, publisher, policy) =
                (transport.clone(), publisher.clone(), policy.clone());
            move |record: Record| {
                let (transport, publisher, policy) =
                    (transport.clone(), publisher.clone(), policy.clone());
                async move { send(&transport, &publisher, &policy, record).await }
            }
        };
        let mut builder = RetryingConsumer::builder(self.kafka.clone(), &self.topic, &self.group)
            .policy(self.policy)
            .handler(handler)
            .processing_order(self.order.processing_order())
            .group_per_stage(self.spring_stage_groups)
            .max_in_flight(self.smtp.connections)
            .handler_timeout(self.smtp.timeout * 3);
        if let Some(id) = &self.instance_id {
            builder = builder.instance_id(id);
        }
        builder.build()?.run(rebound::shutdown_signal()).await?;
        Ok(())
    }
}

async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    publisher: &StatusPublisher,
    policy: &RetryPolicy,
    record: Record,
) -> Result<(), Failure> {
    let mut email: EmailMessage = record.json()?;
    email.identify(&record);
    let message = build_message(&email)?;
    match transport.send(message).await {
        Ok(_) => {
            tracing::info!(id = %email.id, to = %email.to, subject = %email.subject, attempt = record.attempt(), "e-mail sent");
            let mut event = StatusEvent::new(&email.id, State::Sent);
            event.attempt = Some(record.attempt());
            publisher.publish(&event).await;
            Ok(())
        }
        Err(source) => {
            let permanent = source.is_permanent();
            let error = SendError {
                to: email.to.clone(),
                source,
            };
            tracing::warn!(id = %email.id, to = %email.to, attempt = record.attempt(), "e-mail not sent: {error}");
            if !permanent && record.attempt() < policy.attempts() {
                let mut event = StatusEvent::new(&email.id, State::Retrying);
                event.attempt = Some(record.attempt());
                event.max_attempts = Some(policy.attempts());
                let delay = policy
                    .retry_delays()
                    .get(record.attempt() as usize - 1)
                    .copied()
                    .unwrap_or_default();
                event.next_attempt_at =
                    Some(rebound::EpochMillis::now().as_i64() + delay.as_millis() as i64);
                event.reason = Some(error.to_string());
                publisher.publish(&event).await;
            }
            Err(if permanent {
                Failure::permanent(error)
            } else {
                Failure::transient(error)
            })
        }
    }
}

/// The class a send failure gets, for tests and docs.
pub fn class_of(error: &lettre::transport::smtp::Error) -> FailureClass {
    if error.is_permanent() {
        FailureClass::Permanent
    } else {
        FailureClass::Transient
    }
}
