//! `rebound`: the command for people on call. Its dead-letter commands (list, show, redrive,
//! discard, tail, stats) come with the operations stage; this first version names the chain a
//! policy derives, which is what an operator needs to find the topics.

use std::time::Duration;

use clap::{Parser, Subcommand};
use rebound::{Backoff, RetryPolicy, TopicChain};

/// Retry topics, dead letters and redrive for Kafka.
///
/// Rebound gives Rust consumers Spring Kafka's retry topics and dead-letter topic, with the same
/// names and headers. This command is the operator's side.
#[derive(Parser)]
#[command(name = "rebound", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the topics a retry policy derives for a main topic, as Spring Kafka names them.
    ///
    /// Example: `rebound chain email.send --attempts 5 --delay-ms 1000 --multiplier 2 --dlt-suffix .dlt`
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
    let cli = Cli::parse();
    match cli.command {
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
            println!("{}\tmain", chain.main);
            for retry in &chain.retries {
                println!(
                    "{}\tretry, attempts {:?}, delay {} ms",
                    retry.name,
                    retry.attempts,
                    retry.delay.as_millis()
                );
            }
            if let Some(dlt) = &chain.dlt {
                println!("{dlt}\tdead letters");
            }
        }
    }
    Ok(())
}
