//! `rebound dlt redrive`: the library's redrive with a person's controls around it (a progress
//! bar, Ctrl-C) and its outcome as lines.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use rebound::KafkaConfig;
use rebound_ops as ops;
use rebound_ops::redrive::{share_of_percent, Outcome, RedriveOptions, RedriveProgress};
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
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .expect("template"),
        );
        bar
    });
    let progress = |now: RedriveProgress| {
        if let Some(bar) = &bar {
            bar.set_length(now.total as u64);
            bar.set_position(now.sent as u64);
            bar.set_message(progress_message(&now));
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
    let watched = options.canary.is_some() || options.pause_above.is_some();
    eprintln!(
        "redrive {}: {verb} {}, skipped {}{}{} in {elapsed:.1} s",
        report.run,
        report.sent(),
        report.skipped(),
        if watched && !report.dry_run {
            format!(", {} came back to the DLT while it ran", report.returned)
        } else {
            String::new()
        },
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    );
    if let Some(pause) = &report.paused {
        eprintln!(
            "paused: {pause}; the rest were released (see the ledger). Find out why they fail \
             again (rebound dlt list {dlt} --since 10m), then run the same command again."
        );
    }
    Ok(printed?)
}

/// What the bar says beside the count: the canary's wait, the copies back.
fn progress_message(now: &RedriveProgress) -> String {
    let back = if now.returned > 0 {
        format!("{} came back", now.returned)
    } else {
        String::new()
    };
    match now.waiting_until.and_then(|until| until.time_until()) {
        Some(left) => format!("canary out, the rest in {} s {back}", left.as_secs()),
        None => back,
    }
}

/// `--pause-above`: `20%` or `20` is 0.2; from 0 to 100.
pub(super) fn parse_percent(text: &str) -> Result<f64, String> {
    share_of_percent(text)
        .ok_or_else(|| format!("`{text}` is not a percentage from 0 to 100 (e.g. 20%)"))
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
            } => writeln!(
                out,
                "{position}\tsent to {}",
                line(&copy.in_topic(topic).to_string())
            )?,
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
