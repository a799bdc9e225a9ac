//! How dead letters look: the table and JSON lines of `list`, `archive` and `tail`, the detail of
//! `show`, the report of `stats`. Scripts parse these, so their text only ever grows.

use rebound::headers::Headers;
use rebound_ops::describe::{header_text, payload_text};
use rebound_ops::{self as ops, DeadLetter, Listed};

use crate::filters::format_time;

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

pub(super) fn print_list(listed: &[Listed], json: bool) {
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

pub(super) fn print_detail(dlt: &str, l: &Listed) {
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

pub(super) fn print_stats(dlt: &str, stats: &ops::stats::Stats) {
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
