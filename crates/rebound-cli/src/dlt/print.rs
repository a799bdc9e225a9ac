//! How dead letters look: the table and JSON lines of `list`, `archive` and `tail`, the detail of
//! `show`, the report of `stats`. Scripts parse these, so their text only ever grows.
//!
//! Everything a dead letter's producer wrote (key, headers, payload, the topic names in them)
//! goes through [`rebound_ops::visible`] on its way out, so it cannot drive the operator's terminal;
//! values are kept as they are until then, so the JSON faces carry the exact text.
//! Each function writes to `out` (stdout, locked) and returns its error, so a reader that has
//! gone away (`| head`) ends the output instead of a panic (see `main`).

use std::io::Write;

use rebound::headers::Headers;
use rebound_ops::describe::{header_text, payload_text};
use rebound_ops::{self as ops, DeadLetter, Listed};

use crate::filters::format_time;
use rebound_ops::visible::{self, line, lines};

fn origin_text(dl: &DeadLetter) -> String {
    dl.origin
        .as_ref()
        .map_or("-".into(), |o| o.coordinates().to_string())
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
        "dialect": dl.dialect,
        "owner": dl.owner,
        "warnings": dl.warnings,
        "payload_omitted": dl.payload_omitted,
    })
}

pub(super) fn print_list(
    out: &mut impl Write,
    listed: &[Listed],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        for l in listed {
            writeln!(out, "{}", visible::json(&summary_json(l))?)?;
        }
        return Ok(());
    }
    print_row(
        out,
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
    )?;
    for l in listed {
        let dl = &l.dead_letter;
        print_row(
            out,
            [
                dl.position().to_string(),
                line(&dl.record.key_text().unwrap_or_else(|| "-".into())).into_owned(),
                line(&origin_text(dl)).into_owned(),
                dl.attempts.map_or("-".into(), |a| a.to_string()),
                format_time(dl.first_failed_at),
                format_time(dl.died_at()),
                line(dl.error_class()).into_owned(),
                l.status.as_str().to_string(),
                line(dl.error_message().lines().next().unwrap_or("")).into_owned(),
            ],
        )?;
    }
    Ok(())
}

fn print_row(out: &mut impl Write, cells: [String; 9]) -> std::io::Result<()> {
    let [position, key, origin, attempts, first, died, class, status, error] = cells;
    writeln!(out, "{position:<10} {key:<24} {origin:<32} {attempts:>3} {first:<20} {died:<20} {class:<11} {status:<9} {error}")
}

fn headers_json(headers: &Headers) -> serde_json::Value {
    headers
        .iter()
        .map(|hd| serde_json::json!({"key": hd.key, "value": header_text(&hd.key, hd.value.as_deref())}))
        .collect()
}

pub(super) fn detail_json(l: &Listed) -> serde_json::Value {
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

pub(super) fn print_detail(out: &mut impl Write, dlt: &str, l: &Listed) -> std::io::Result<()> {
    let dl = &l.dead_letter;
    writeln!(
        out,
        "dead letter   {}",
        line(&dl.position().in_topic(dlt).to_string())
    )?;
    writeln!(out, "status        {}", l.status.as_str())?;
    if let Some(last) = &l.history.last {
        writeln!(
            out,
            "last action   {:?} by {} at {}",
            last.action,
            line(&last.by),
            format_time(Some(last.at))
        )?;
    }
    writeln!(out, "dialect       {}", dl.dialect)?;
    if let Some(owner) = &dl.owner {
        writeln!(out, "failed by     {}", line(&owner.to_string()))?;
    }
    if let Some(source) = &dl.source {
        writeln!(
            out,
            "source        {}-{}@{} (a share-group pointer: key and payload are the source's)",
            line(source.topic()),
            source.partition(),
            source.offset()
        )?;
    }
    if let Some(why) = &dl.payload_omitted {
        writeln!(out, "not redrivable {}", line(why))?;
    }
    for warning in &dl.warnings {
        writeln!(out, "warning       {}", line(warning))?;
    }
    writeln!(
        out,
        "key           {}",
        line(&dl.body().key_text().unwrap_or_else(|| "-".into()))
    )?;
    writeln!(out, "origin        {}", line(&origin_text(dl)))?;
    writeln!(
        out,
        "attempts      {}",
        dl.attempts.map_or("-".into(), |a| a.to_string())
    )?;
    writeln!(out, "first failed  {}", format_time(dl.first_failed_at))?;
    writeln!(out, "died          {}", format_time(dl.died_at()))?;
    writeln!(out, "class         {}", line(dl.error_class()))?;
    writeln!(out, "error         {}", line(dl.error_message()))?;
    writeln!(
        out,
        "redriven      {} times",
        dl.redrive_count + l.history.redrives
    )?;
    writeln!(out, "\nheaders:")?;
    for hd in dl.record.headers().iter() {
        writeln!(
            out,
            "  {:<36} {}",
            line(&hd.key),
            line(&header_text(&hd.key, hd.value.as_deref()))
        )?;
    }
    if let Some(trace) = &dl.failure.stacktrace {
        writeln!(out, "\nstack trace:\n{}", lines(trace))?;
    }
    writeln!(
        out,
        "\npayload:\n{}",
        lines(&payload_text(dl.body().payload()))
    )?;
    Ok(())
}

pub(super) fn print_stats(
    out: &mut impl Write,
    dlt: &str,
    stats: &ops::stats::Stats,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} dead letters ({} pending, {} redriven, {} discarded)",
        line(dlt),
        stats.total,
        stats.pending,
        stats.redriven,
        stats.discarded
    )?;
    if let Some(age) = stats.oldest_pending_ms {
        writeln!(
            out,
            "oldest pending: {}",
            humantime::format_duration(std::time::Duration::from_secs((age / 1000).max(0) as u64))
        )?;
    }
    writeln!(out, "\nby error:")?;
    for (fingerprint, count, example) in &stats.by_error {
        writeln!(out, "  {count:>6}  {}", line(fingerprint))?;
        if example != fingerprint {
            writeln!(
                out,
                "          e.g. {}",
                line(example.lines().next().unwrap_or(""))
            )?;
        }
    }
    writeln!(out, "\nby original topic:")?;
    for (topic, count) in &stats.by_topic {
        writeln!(out, "  {count:>6}  {}", line(topic))?;
    }
    writeln!(out, "\nby hour (UTC):")?;
    for (hour, count) in &stats.by_hour {
        writeln!(out, "  {count:>6}  {hour}:00")?;
    }
    Ok(())
}
