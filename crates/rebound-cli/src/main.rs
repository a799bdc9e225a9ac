//! `rebound`: the command for people on call. Thin faces over `rebound_ops`.

// Every module is private to this binary, so `pub` in them already means "this crate": the
// lint would only ask to spell it `pub(crate)` everywhere.
#![allow(unreachable_pub)]

mod connection;
mod console;
mod dlt;
mod filters;
mod groups;
mod operator;
mod policy_args;
mod skips;

use std::io::Write;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rebound::naming::TopicChain;
use rebound::{Backoff, RetryPolicy};

use rebound_ops::visible::{self, line};

/// Retry topics, dead letters and redrive for Kafka.
///
/// Rebound gives Rust consumers Spring Kafka's retry topics and dead-letter topic, with the same
/// names and headers. This command is the operator's side: find the chains, look at dead letters,
/// send them back when the fault is fixed, or discard them while keeping an archive.
///
/// Handling state (who redrove or discarded what, and when) lives in Kafka, in `<dlt>.ledger` and
/// `<dlt>.archive` beside each DLT, so every operator sees the same state.
///
/// A typical incident:
///
///   rebound topics                                       # which chain is filling up?
///   rebound dlt stats email.send.dlt                     # which error, since when?
///   rebound dlt list email.send.dlt --error 451 --since 1h
///   rebound dlt show email.send.dlt 0@12                 # one in full
///   rebound dlt redrive email.send.dlt --error 451 --dry-run
///   rebound dlt redrive email.send.dlt --error 451 --rate 50
///   rebound dlt discard email.send.dlt --key nobody@naver.com --reason "member left"
#[derive(Parser)]
#[command(name = "rebound", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(flatten)]
    connection: connection::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every retry chain on the cluster: main topic, retry topics, DLT, with record counts,
    /// consumer groups and their lag. Recognises Spring's names.
    Topics {
        /// One JSON object per chain.
        #[arg(long)]
        json: bool,
        /// A dead-letter queue no naming convention finds (a Kafka Connect sink's
        /// `errors.deadletterqueue.topic.name`, a Streams application's
        /// `errors.dead.letter.queue.topic.name`); repeatable, added to `REBOUND_DLQS`
        /// (comma-separated). Share groups' `dlq.*` are found without it.
        #[arg(long = "dlt", value_name = "TOPIC")]
        dlts: Vec<String>,
    },
    /// Dead letters: list, show, redrive, discard, archive, tail, stats.
    #[command(subcommand)]
    Dlt(Box<dlt::DltCommand>),
    /// A chain's consumer groups: `handover` moves its committed offsets between Spring Kafka's
    /// stage groups (G, G-retry-1000, …, G.dlt) and Rebound's one group (G), both ways.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// A web console for dead letters: the chains, each DLT grouped by failure, one dead letter
    /// in full, the ledger; redrive and discard from a browser, with a dry-run count to confirm.
    ///
    /// Open http://127.0.0.1:8686 in a browser. Operators redrive and discard from there: each
    /// action shows a dry-run count to type back, and the equivalent `rebound dlt` command. Every
    /// action is written to the ledger first, as the `rebound dlt` commands do.
    ///
    /// Safe by default. Without tokens the console listens on loopback only and answers only to
    /// localhost names; whoever reaches it acts as you ($USER@host). To listen on another
    /// address, give tokens, one per line, `role:token` or `role:name:token` (roles viewer,
    /// operator, admin; the name is who acts in the ledger):
    ///
    ///   echo "operator:alice:$(openssl rand -hex 32)" >> tokens.txt
    ///   rebound console --listen 0.0.0.0:8686 --tokens-file tokens.txt
    ///
    /// or put them in REBOUND_CONSOLE_TOKENS (entries separated by spaces or lines); both are
    /// read. A browser trades its token for a session cookie at /login. --read-only makes
    /// everyone a viewer. Put TLS in front (a reverse proxy) when it leaves the machine.
    ///
    /// Environment: KAFKA_BROKERS, REBOUND_CONFIG, REBOUND_CONSOLE_LISTEN,
    /// REBOUND_CONSOLE_TOKENS_FILE, REBOUND_CONSOLE_TOKENS, REBOUND_CONSOLE_READ_ONLY.
    #[command(verbatim_doc_comment)]
    Console(console::ConsoleArgs),
    /// Print the topics a retry policy derives for a main topic, as Spring Kafka names them.
    ///
    /// Example: rebound chain email.send --attempts 5 --delay-ms 1000 --multiplier 2 --dlt-suffix .dlt
    Chain {
        /// The main topic.
        topic: String,
        /// Deliveries in all, the first one included.
        #[arg(long, default_value_t = 3)]
        attempts: u32,
        /// Delay before the first retry, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        delay_ms: u64,
        /// Growth of the delay per retry (1 = fixed back-off).
        #[arg(long, default_value_t = 1.0)]
        multiplier: f64,
        /// Cap on the delay, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        max_delay_ms: u64,
        /// Suffix of the dead-letter topic.
        #[arg(long, default_value = "-dlt")]
        dlt_suffix: String,
    },
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run_reporting());
    // Dropping a runtime waits for every blocking-pool task, and `rebound console` may leave one
    // asking the cluster for its chains (a minute and more on a large cluster) when it stops;
    // what the command does is done by now, so it does not wait for that.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run_reporting() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rdkafka=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        // The reader of stdout has gone (`rebound topics | head`): the output ends there, quietly
        // and successfully, as it would have had it been shorter. Rust ignores SIGPIPE, so
        // `println!` would panic on the EPIPE; every face writes with `writeln!` instead and
        // returns the error up to here. Restoring SIGPIPE's default (the process dies silently)
        // was the other way, but it would also kill a redrive or discard that is still writing
        // to Kafka and its ledger, between a claim and its release, for a closed pipe; and
        // `tail` would only notice at its next line either way.
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

/// Whether `error` is a write to a closed pipe. Kafka's errors are not `io::Error`s, so this is
/// stdout's reader having gone, not the broker's connection.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Topics { json, dlts } => topics(&cli.connection.kafka()?, json, dlts).await?,
        Command::Dlt(command) => dlt::run(cli.connection.kafka()?, *command).await?,
        Command::Groups(command) => groups::run(&cli.connection.kafka()?, command).await?,
        Command::Console(args) => console::run(cli.connection.kafka()?, args).await?,
        Command::Chain {
            topic,
            attempts,
            delay_ms,
            multiplier,
            max_delay_ms,
            dlt_suffix,
        } => {
            let delay = Duration::from_millis(delay_ms);
            let backoff = if multiplier == 1.0 {
                Backoff::Fixed(delay)
            } else {
                Backoff::exponential(delay, multiplier)
                    .with_max(Duration::from_millis(max_delay_ms))
            };
            let policy = RetryPolicy::new(attempts)
                .backoff(backoff)
                .dlt_suffix(dlt_suffix);
            let chain = TopicChain::new(&topic, &policy);
            let out = &mut std::io::stdout().lock();
            writeln!(out, "{}\tmain", chain.main)?;
            for retry in &chain.retries {
                writeln!(
                    out,
                    "{}\tretry, attempts {:?}, delay {} ms",
                    retry.name,
                    retry.attempts,
                    retry.delay.as_millis()
                )?;
            }
            if let Some(dlt) = &chain.dlt {
                writeln!(out, "{dlt}\tdead letters")?;
            }
        }
    }
    Ok(())
}

async fn topics(
    kafka: &rebound::KafkaConfig,
    json: bool,
    mut dlts: Vec<String>,
) -> anyhow::Result<()> {
    dlts.extend(rebound_ops::topics::dlqs_from_env());
    let chains = rebound_ops::topics::discover_with(kafka, &dlts).await?;
    // A consumer group's id is any string its client chose (Kafka restricts only topic names),
    // so the names here are escaped as dead letters' text is; for topics it costs nothing.
    let out = &mut std::io::stdout().lock();
    if json {
        for chain in &chains {
            writeln!(out, "{}", visible::json(chain)?)?;
        }
        return Ok(());
    }
    if chains.is_empty() {
        writeln!(out, "no retry chains found")?;
    }
    for chain in chains {
        writeln!(out, "{}", line(&chain.main))?;
        for topic in chain.topics {
            let groups = topic
                .groups
                .iter()
                .map(|(g, lag)| format!("{} (lag {lag})", line(g)))
                .collect::<Vec<_>>()
                .join(", ");
            let role = format!("{:?}", topic.role).to_lowercase();
            // A DLT says whose dead letters it holds: `dlt spring`, `dlt connect`, …
            let role = match topic.dialect {
                Some(dialect) => format!("{role} {dialect}"),
                None => role,
            };
            writeln!(
                out,
                "  {:<16} {:<48} {:>3} partitions {:>9} records  {}",
                role,
                line(&topic.name),
                topic.partitions,
                topic.records,
                if groups.is_empty() {
                    "-".into()
                } else {
                    groups
                }
            )?;
        }
    }
    Ok(())
}
