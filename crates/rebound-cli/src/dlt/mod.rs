//! `rebound dlt …`: the dead-letter commands.

mod discard;
mod print;
mod redrive;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Subcommand;
use rebound::KafkaConfig;
use rebound_ops::discard::DiscardOptions;
use rebound_ops::redrive::{Canary, RedriveOptions, DEFAULT_PAUSE_ABOVE};
use rebound_ops::{self as ops, DeadLetter, Listed, Position, Source};

use crate::filters::Selection;
use crate::operator::operator_name;
use rebound_ops::visible;

use discard::discard;
use print::{detail_json, print_detail, print_list, print_stats};
use redrive::redrive;

#[derive(Subcommand, Debug)]
pub enum DltCommand {
    /// One row per dead letter: position, key, origin, attempts, times, error, handling status.
    ///
    /// Example: rebound dlt list email.send.dlt --status pending --error 'mailbox' --since 2h
    List {
        dlt: String,
        #[command(flatten)]
        selection: Selection,
        /// List the archive of discarded dead letters instead.
        #[arg(long)]
        archived: bool,
        /// One JSON object per line, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one dead letter: every header decoded, the failure, the payload.
    ///
    /// Example: rebound dlt show email.send.dlt 0@3
    Show {
        dlt: String,
        position: Position,
        #[arg(long)]
        archived: bool,
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their original topic (from their headers) or --to another.
    ///
    /// Retry and failure headers are removed (the record starts again at attempt 1) and redrive
    /// headers added (id, count, when, by whom). Each dead letter is claimed in the ledger first,
    /// so two operators running the same command send it once. A dead letter already redriven is
    /// skipped unless --force; one redriven --poison-after times is flagged as a poison loop.
    /// Ctrl-C stops between records: what was sent is recorded, the rest released.
    ///
    /// A redrive can watch its own outcome: its copies that fail again come back to the DLT with
    /// its run id. --canary N sends N first and waits --canary-wait (longer than the retry
    /// chain's delays) before the rest; --pause-above stops sending when more than that share of
    /// the copies sent came back, releasing the rest with the reason in the ledger.
    ///
    /// Example: rebound dlt redrive email.send.dlt --error '451' --rate 50 --dry-run
    ///
    /// Example: rebound dlt redrive email.send.dlt --error '451' --canary 10 --canary-wait 30s
    Redrive {
        dlt: String,
        #[command(flatten)]
        selection: Selection,
        /// Send to this topic instead of each dead letter's original topic.
        #[arg(long)]
        to: Option<String>,
        /// Show what would be sent; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// At most this many records per second.
        #[arg(long, value_name = "N/S")]
        rate: Option<f64>,
        /// Send again what was already redriven, and poison loops.
        #[arg(long)]
        force: bool,
        /// A dead letter redriven this many times is a poison loop.
        #[arg(long, default_value_t = 3)]
        poison_after: u32,
        /// Redrive from the archive of discarded dead letters.
        #[arg(long)]
        archived: bool,
        /// Send this many first, then wait --canary-wait before the rest (pausing instead when
        /// more than --pause-above of them came back).
        #[arg(long, value_name = "N")]
        canary: Option<usize>,
        /// How long the rest waits after the canary: longer than the retry chain's delays plus
        /// the handling, or a copy failing again has not reached the DLT yet.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
        canary_wait: std::time::Duration,
        /// Pause when more than this share of the copies sent came back to the DLT: `20%` (or
        /// `20`). Default with --canary: 20%; without, the redrive does not watch.
        #[arg(long, value_name = "PERCENT", value_parser = redrive::parse_percent)]
        pause_above: Option<f64>,
        /// Who runs it, for the ledger (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// Mark dead letters as discarded, after writing an archive copy (payload, headers, reason,
    /// who, when). Nothing is deleted from Kafka; `rebound dlt archive` lists the copies and
    /// `rebound dlt redrive --archived` can send them later.
    ///
    /// Example: rebound dlt discard email.send.dlt --key nobody@naver.com --reason "member deleted"
    Discard {
        dlt: String,
        #[command(flatten)]
        selection: Selection,
        /// Why, for whoever looks later.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        by: Option<String>,
    },
    /// List the archive of discarded dead letters.
    Archive {
        dlt: String,
        #[command(flatten)]
        selection: Selection,
        #[arg(long)]
        json: bool,
    },
    /// Follow new dead letters live, one line each (Ctrl-C to stop).
    Tail {
        dlt: String,
        /// Start with the dead letters already there.
        #[arg(long)]
        from_beginning: bool,
        #[arg(long)]
        json: bool,
    },
    /// Counts by error (similar messages grouped), by original topic, by hour; the oldest pending.
    Stats {
        dlt: String,
        #[command(flatten)]
        selection: Selection,
        #[arg(long)]
        json: bool,
    },
}

/// Where `--archived` says to read: the archive, or the DLT.
fn source_of(archived: bool) -> Source {
    if archived {
        Source::Archive
    } else {
        Source::Dlt
    }
}

impl DltCommand {
    /// The DLT the command reads.
    fn dlt(&self) -> &str {
        match self {
            DltCommand::List { dlt, .. }
            | DltCommand::Show { dlt, .. }
            | DltCommand::Redrive { dlt, .. }
            | DltCommand::Discard { dlt, .. }
            | DltCommand::Archive { dlt, .. }
            | DltCommand::Tail { dlt, .. }
            | DltCommand::Stats { dlt, .. } => dlt,
        }
    }
}

pub async fn run(kafka: KafkaConfig, command: DltCommand) -> anyhow::Result<()> {
    // A DLT that is not there would read as one without dead letters: a typo would look like
    // good news. The error names the DLTs that are there instead.
    ops::topics::require_dlt(&kafka, command.dlt()).await?;
    match command {
        DltCommand::List {
            dlt,
            selection,
            archived,
            json,
        } => {
            let source = source_of(archived);
            let listed = ops::list(&kafka, &dlt, source, &selection.filter()?).await?;
            print_list(&mut std::io::stdout().lock(), &listed, json)?;
        }
        DltCommand::Archive {
            dlt,
            selection,
            json,
        } => {
            let listed = ops::list(&kafka, &dlt, Source::Archive, &selection.filter()?).await?;
            print_list(&mut std::io::stdout().lock(), &listed, json)?;
        }
        DltCommand::Show {
            dlt,
            position,
            archived,
            json,
        } => {
            let source = source_of(archived);
            let listed = ops::show(&kafka, &dlt, source, position).await?;
            let out = &mut std::io::stdout().lock();
            if json {
                writeln!(out, "{}", visible::json(&detail_json(&listed))?)?;
            } else {
                print_detail(out, &dlt, &listed)?;
            }
        }
        DltCommand::Redrive {
            dlt,
            selection,
            to,
            dry_run,
            rate,
            force,
            poison_after,
            archived,
            canary,
            canary_wait,
            pause_above,
            by,
        } => {
            if rate.is_some_and(|r| r <= 0.0) {
                anyhow::bail!("--rate must be more than 0");
            }
            let canary = canary.map(|first| Canary {
                first,
                wait: canary_wait,
            });
            let options = RedriveOptions {
                to,
                dry_run,
                rate,
                force,
                poison_after,
                source: source_of(archived),
                pause_above: pause_above.or(canary.map(|_| DEFAULT_PAUSE_ABOVE)),
                canary,
                ..RedriveOptions::new(by.unwrap_or_else(operator_name))
            };
            redrive(&kafka, &dlt, &selection, &options).await?;
        }
        DltCommand::Discard {
            dlt,
            selection,
            reason,
            dry_run,
            by,
        } => {
            let options = DiscardOptions {
                reason,
                by: by.unwrap_or_else(operator_name),
                dry_run,
            };
            discard(&kafka, &dlt, &selection, &options).await?;
        }
        DltCommand::Tail {
            dlt,
            from_beginning,
            json,
        } => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            tokio::spawn(async move {
                rebound::shutdown_signal().await;
                flag.store(true, Ordering::SeqCst);
            });
            tokio::task::spawn_blocking(move || {
                let mut printed = Ok(());
                ops::reader::follow(&kafka, &dlt, from_beginning, &stop, |record| {
                    // A live dead letter has no ledger history yet.
                    let listed = Listed::new(
                        DeadLetter::from_record(record),
                        Source::Dlt,
                        ops::History::default(),
                    );
                    let out = &mut std::io::stdout().lock();
                    if let Err(error) = print_list(out, std::slice::from_ref(&listed), json) {
                        // Nobody reads any more (`| head` has what it wanted): stop following.
                        printed = Err(error);
                        stop.store(true, Ordering::SeqCst);
                    }
                })?;
                printed
            })
            .await??;
        }
        DltCommand::Stats {
            dlt,
            selection,
            json,
        } => {
            let listed = ops::list(&kafka, &dlt, Source::Dlt, &selection.filter()?).await?;
            let stats = ops::stats::stats(&listed, rebound::EpochMillis::now());
            let out = &mut std::io::stdout().lock();
            if json {
                writeln!(out, "{}", visible::json(&stats)?)?;
            } else {
                print_stats(out, &dlt, &stats)?;
            }
        }
    }
    Ok(())
}
