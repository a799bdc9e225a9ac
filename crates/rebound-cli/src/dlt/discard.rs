//! `rebound dlt discard`: the library's discard, its outcome as lines and a summary on stderr.

use std::io::Write;

use rebound::naming::archive_topic;
use rebound::KafkaConfig;
use rebound_ops::discard::{discard as discard_selected, DiscardOptions, DiscardReport};
use rebound_ops::visible::line;

use crate::filters::Selection;
use crate::skips::skip_text;

/// Discards what `selection` selects in `dlt`, then prints one line per selected dead letter
/// and a summary on stderr.
pub(super) async fn discard(
    kafka: &KafkaConfig,
    dlt: &str,
    selection: &Selection,
    options: &DiscardOptions,
) -> anyhow::Result<()> {
    let report = discard_selected(kafka, dlt, &selection.filter()?, options).await?;
    // As redrive's, the summary is written even when stdout's reader has gone.
    let printed = print_discarded(&mut std::io::stdout().lock(), dlt, &report);
    let verb = if options.dry_run {
        "would discard"
    } else {
        "discarded"
    };
    eprintln!(
        "{verb} {}, skipped {}",
        report.archived.len(),
        report.skipped.len()
    );
    Ok(printed?)
}

/// One line per dead letter a discard selected.
fn print_discarded(out: &mut impl Write, dlt: &str, report: &DiscardReport) -> std::io::Result<()> {
    let archive = archive_topic(dlt);
    for (position, copy) in &report.archived {
        match copy {
            Some(copy) => writeln!(
                out,
                "{position}\tdiscarded; archived at {}",
                line(&copy.in_topic(&archive).to_string())
            )?,
            None => writeln!(out, "{position}\twould be archived and discarded")?,
        }
    }
    for (position, why) in &report.skipped {
        // A skip's reason may quote a header (why a payload was omitted).
        writeln!(out, "{position}\tskipped: {}", line(&skip_text(why)))?;
    }
    Ok(())
}
