//! `rebound dlt redrive`: the library's redrive with a person's controls around it (a progress
//! bar, Ctrl-C) and its outcome as lines.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use rebound::KafkaConfig;
use rebound_ops as ops;
use rebound_ops::redrive::{Outcome, RedriveOptions};
use tokio_util::sync::CancellationToken;

use crate::filters::Selection;
use crate::skips::skip_text;
use rebound_ops::visible::line;

/// Runs a redrive with a progress bar on a terminal and Ctrl-C stopping it between records, then
/// prints one line per selected dead letter and a summary on stderr.
pub(super) async fn redrive(
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
    // The summary goes to stderr even when stdout's reader has gone (`| head`): the redrive
    // itself is done by now.
    let printed = print_outcomes(&mut std::io::stdout().lock(), &report);
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
    Ok(printed?)
}

/// One line per selected dead letter. The original topic and a skip's reason come from the dead
/// letter's headers, so they are escaped.
fn print_outcomes(
    out: &mut impl Write,
    report: &ops::redrive::RedriveReport,
) -> std::io::Result<()> {
    for (position, outcome) in &report.outcomes {
        match outcome {
            Outcome::Sent {
                topic,
                copy: Some(copy),
            } => writeln!(out, "{position}\tsent to {}-{copy}", line(topic))?,
            Outcome::Sent { topic, copy: None } => {
                writeln!(out, "{position}\twould be sent to {}", line(topic))?
            }
            Outcome::Skipped { reason } => {
                writeln!(out, "{position}\tskipped: {}", line(&skip_text(reason)))?
            }
        }
    }
    Ok(())
}
