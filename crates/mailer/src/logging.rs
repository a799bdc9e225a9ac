//! The services' log lines: text (or JSON with `MAILER_LOG_FORMAT=json`) on stderr, UTF-8 intact,
//! so that a Korean subject reads as Korean in the log.

/// Installs the subscriber; `RUST_LOG` filters (default: info, librdkafka's warnings).
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
