//! `rebound dlt …`: the dead-letter commands.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use rebound::headers::{self as h, Headers};
use rebound::KafkaConfig;
use rebound_ops::redrive::{Outcome, RedriveOptions};
use rebound_ops::{self as ops, DeadLetter, Listed, Position, Source};
use tokio_util::sync::CancellationToken;

use crate::filters::{format_time, Selection};
use crate::operator::operator_name;
use crate::skips::skip_text;

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
    /// Example: rebound dlt redrive email.send.dlt --error '451' --rate 50 --dry-run
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

pub async fn run(kafka: KafkaConfig, command: DltCommand) -> anyhow::Result<()> {
    match command {
        DltCommand::List {
            dlt,
            selection,
            archived,
            json,
        } => {
            let source = if archived {
                Source::Archive
            } else {
                Source::Dlt
            };
            let listed = ops::list(&kafka, &dlt, source, &selection.filter()?).await?;
            print_list(&listed, json);
        }
        DltCommand::Archive {
            dlt,
            selection,
            json,
        } => {
            let listed = ops::list(&kafka, &dlt, Source::Archive, &selection.filter()?).await?;
            print_list(&listed, json);
        }
        DltCommand::Show {
            dlt,
            position,
            archived,
            json,
        } => {
            let source = if archived {
                Source::Archive
            } else {
                Source::Dlt
            };
            let listed = ops::show(&kafka, &dlt, source, position).await?;
            if json {
                println!("{}", detail_json(&listed));
            } else {
                print_detail(&dlt, &listed);
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
            by,
        } => {
            if rate.is_some_and(|r| r <= 0.0) {
                anyhow::bail!("--rate must be more than 0");
            }
            let options = RedriveOptions {
                to,
                dry_run,
                rate,
                force,
                poison_after,
                source: if archived {
                    Source::Archive
                } else {
                    Source::Dlt
                },
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
            let by = by.unwrap_or_else(operator_name);
            let report =
                ops::discard::discard(&kafka, &dlt, &selection.filter()?, &reason, &by, dry_run)
                    .await?;
            for (position, copy) in &report.archived {
                match copy {
                    Some(copy) => println!(
                        "{position}\tdiscarded; archived at {}-{copy}",
                        rebound::naming::archive_topic(&dlt)
                    ),
                    None => println!("{position}\twould be archived and discarded"),
                }
            }
            for (position, why) in &report.skipped {
                println!("{position}\tskipped: {}", skip_text(why));
            }
            let verb = if dry_run {
                "would discard"
            } else {
                "discarded"
            };
            eprintln!(
                "{verb} {}, skipped {}",
                report.archived.len(),
                report.skipped.len()
            );
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
                ops::reader::follow(&kafka, &dlt, from_beginning, &stop, |record| {
                    // A live dead letter has no ledger history yet.
                    let listed = Listed::new(
                        DeadLetter::from_record(record),
                        Source::Dlt,
                        ops::History::default(),
                    );
                    print_list(std::slice::from_ref(&listed), json);
                })
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
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print_stats(&dlt, &stats);
            }
        }
    }
    Ok(())
}

async fn redrive(
    kafka: &KafkaConfig,
    dlt: &str,
    selection: &Selection,
    options: &RedriveOptions,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        rebound::shutdown_signal().await;
        eprintln!("stopping after the records in flight…");
        on_signal.cancel();
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .expect("template"),
        );
        bar
    });
    let progress = |done: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    let started = std::time::Instant::now();
    let report = ops::redrive::redrive(
        kafka,
        dlt,
        &selection.filter()?,
        options,
        &progress,
        &cancel,
    )
    .await
    .context("redrive failed; what was sent is recorded in the ledger")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for (position, outcome) in &report.outcomes {
        match outcome {
            Outcome::Sent {
                topic,
                copy: Some(copy),
            } => println!("{position}\tsent to {topic}-{copy}"),
            Outcome::Sent { topic, copy: None } => println!("{position}\twould be sent to {topic}"),
            Outcome::Skipped { reason } => {
                println!("{position}\tskipped: {}", skip_text(reason))
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let verb = if report.dry_run { "would send" } else { "sent" };
    eprintln!(
        "redrive {}: {verb} {}, skipped {}{} in {elapsed:.1} s",
        report.run,
        report.sent(),
        report.skipped(),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    );
    Ok(())
}

fn origin_text(dl: &DeadLetter) -> String {
    match &dl.origin {
        Some(o) => format!(
            "{}-{}@{}",
            o.topic,
            o.partition.map_or("?".into(), |p| p.to_string()),
            o.offset.map_or("?".into(), |p| p.to_string())
        ),
        None => "-".into(),
    }
}

fn summary_json(l: &Listed) -> serde_json::Value {
    let dl = &l.dead_letter;
    serde_json::json!({
        "dlt": dl.record.topic(),
        "position": dl.position().to_string(),
        "key": dl.record.key_text(),
        "origin": dl.origin.as_ref().map(|o| serde_json::json!({
            "topic": o.topic, "partition": o.partition, "offset": o.offset, "consumer_group": o.consumer_group,
        })),
        "attempts": dl.attempts,
        "first_failed_at": dl.first_failed_at,
        "died_at": dl.died_at(),
        "class": dl.failure.class,
        "error": dl.failure.message,
        "status": l.status.as_str(),
        "redrive_count": dl.redrive_count + l.history.redrives,
    })
}

fn print_list(listed: &[Listed], json: bool) {
    if json {
        for l in listed {
            println!("{}", summary_json(l));
        }
        return;
    }
    print_row(
        [
            "POSITION",
            "KEY",
            "ORIGIN",
            "TRY",
            "FIRST FAILED",
            "DIED",
            "CLASS",
            "STATUS",
            "ERROR",
        ]
        .map(String::from),
    );
    for l in listed {
        let dl = &l.dead_letter;
        print_row([
            dl.position().to_string(),
            dl.record.key_text().unwrap_or_else(|| "-".into()),
            origin_text(dl),
            dl.attempts.map_or("-".into(), |a| a.to_string()),
            format_time(dl.first_failed_at),
            format_time(dl.died_at()),
            dl.error_class().to_string(),
            l.status.as_str().to_string(),
            dl.error_message().lines().next().unwrap_or("").to_string(),
        ]);
    }
}

fn print_row(cells: [String; 9]) {
    let [position, key, origin, attempts, first, died, class, status, error] = cells;
    println!("{position:<10} {key:<24} {origin:<32} {attempts:>3} {first:<20} {died:<20} {class:<11} {status:<9} {error}");
}

/// A header's value for people: decoded when Rebound knows the header, text when it is UTF-8,
/// hex otherwise.
fn header_text(key: &str, value: Option<&[u8]>) -> String {
    let Some(bytes) = value else {
        return "(null)".into();
    };
    let decoded = h::decode_known(key, bytes).map(|value| match value {
        h::Decoded::Attempt(attempt) => attempt.to_string(),
        h::Decoded::Time(at) => format!("{at} ({})", format_time(Some(at))),
        h::Decoded::Partition(partition) => partition.to_string(),
        h::Decoded::Offset(offset) => offset.to_string(),
        other => format!("{other:?}"),
    });
    decoded.unwrap_or_else(|| match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("0x{}", hex(bytes)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn payload_text(payload: Option<&[u8]>) -> String {
    let Some(bytes) = payload else {
        return "(null)".into();
    };
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return serde_json::to_string_pretty(&value).unwrap_or_default();
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace()));
    match text {
        Some(text) => text.to_string(),
        None => bytes
            .chunks(16)
            .enumerate()
            .map(|(i, chunk)| format!("{:08x}  {}", i * 16, hex(chunk)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn headers_json(headers: &Headers) -> serde_json::Value {
    headers
        .iter()
        .map(|hd| serde_json::json!({"key": hd.key, "value": header_text(&hd.key, hd.value.as_deref())}))
        .collect()
}

fn detail_json(l: &Listed) -> serde_json::Value {
    let mut value = summary_json(l);
    let dl = &l.dead_letter;
    value["headers"] = headers_json(dl.record.headers());
    value["stacktrace"] = dl.failure.stacktrace.clone().into();
    value["exception"] = dl.failure.fqcn.clone().into();
    value["payload"] = match dl
        .record
        .payload()
        .map(serde_json::from_slice::<serde_json::Value>)
    {
        Some(Ok(json)) => json,
        _ => payload_text(dl.record.payload()).into(),
    };
    value
}

fn print_detail(dlt: &str, l: &Listed) {
    let dl = &l.dead_letter;
    println!("dead letter   {dlt}-{}", dl.position());
    println!("status        {}", l.status.as_str());
    if let Some(last) = &l.history.last {
        println!(
            "last action   {:?} by {} at {}",
            last.action,
            last.by,
            format_time(Some(last.at))
        );
    }
    println!(
        "key           {}",
        dl.record.key_text().unwrap_or_else(|| "-".into())
    );
    println!("origin        {}", origin_text(dl));
    println!(
        "attempts      {}",
        dl.attempts.map_or("-".into(), |a| a.to_string())
    );
    println!("first failed  {}", format_time(dl.first_failed_at));
    println!("died          {}", format_time(dl.died_at()));
    println!("class         {}", dl.error_class());
    println!("error         {}", dl.error_message());
    println!(
        "redriven      {} times",
        dl.redrive_count + l.history.redrives
    );
    println!("\nheaders:");
    for hd in dl.record.headers().iter() {
        println!(
            "  {:<36} {}",
            hd.key,
            header_text(&hd.key, hd.value.as_deref())
        );
    }
    if let Some(trace) = &dl.failure.stacktrace {
        println!("\nstack trace:\n{trace}");
    }
    println!("\npayload:\n{}", payload_text(dl.record.payload()));
}

fn print_stats(dlt: &str, stats: &ops::stats::Stats) {
    println!(
        "{dlt}: {} dead letters ({} pending, {} redriven, {} discarded)",
        stats.total, stats.pending, stats.redriven, stats.discarded
    );
    if let Some(age) = stats.oldest_pending_ms {
        println!(
            "oldest pending: {}",
            humantime::format_duration(std::time::Duration::from_secs((age / 1000).max(0) as u64))
        );
    }
    println!("\nby error:");
    for (fingerprint, count, example) in &stats.by_error {
        println!("  {count:>6}  {fingerprint}");
        if example != fingerprint {
            println!("          e.g. {}", example.lines().next().unwrap_or(""));
        }
    }
    println!("\nby original topic:");
    for (topic, count) in &stats.by_topic {
        println!("  {count:>6}  {topic}");
    }
    println!("\nby hour (UTC):");
    for (hour, count) in &stats.by_hour {
        println!("  {count:>6}  {hour}:00");
    }
}
