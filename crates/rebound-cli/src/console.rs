//! `rebound console`: the web console (`rebound_console`) with the command's connection flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rebound::KafkaConfig;
use rebound_console::{Console, Settings, Tokens};

use crate::operator::operator_name;

/// The console's own flags (the connection flags are global).
#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// Where to listen. A non-loopback address needs tokens.
    #[arg(long, env = "REBOUND_CONSOLE_LISTEN", default_value = "127.0.0.1:8686")]
    pub listen: SocketAddr,
    /// A file of tokens, one `role:token` or `role:name:token` per line (`#` comments). Tokens
    /// in REBOUND_CONSOLE_TOKENS are added to these.
    #[arg(long, env = "REBOUND_CONSOLE_TOKENS_FILE", value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Nobody can redrive or discard: every role is capped to viewer.
    #[arg(long, env = "REBOUND_CONSOLE_READ_ONLY")]
    pub read_only: bool,
    /// Link each dead letter to its trace: a URL with `{trace_id}`, e.g.
    /// `http://127.0.0.1:9411/zipkin/traces/{trace_id}` (dead letters with a `traceparent`).
    #[arg(long, env = "REBOUND_CONSOLE_TRACE_URL", value_name = "TEMPLATE")]
    pub trace_url: Option<String>,
}

pub async fn run(kafka: KafkaConfig, args: ConsoleArgs) -> anyhow::Result<()> {
    let tokens = Tokens::load(args.tokens_file.as_deref())?;
    let settings = Settings {
        listen: args.listen,
        tokens,
        read_only: args.read_only,
        local_operator: operator_name(),
        trace_url: args.trace_url,
        ..Settings::default()
    };
    let console = Console::new(kafka, settings)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    eprintln!(
        "rebound console on http://{address}{}",
        if args.read_only { " (read-only)" } else { "" }
    );
    console
        .serve(listener, async {
            rebound::shutdown_signal().await;
        })
        .await?;
    Ok(())
}
