//! Scenario 10: the web console at 10,000 and 100,000 dead letters. How long its index takes to
//! be ready after the first request for a DLT, how much memory it holds, and the latency of the
//! DLT page (plain, filtered by error, by key, and a late page), p50 and p95, through the console's
//! own router (no network in between: the server's time, not the client's).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use axum::body::{to_bytes, Body};
use axum::http::{header, Request};
use axum::Router;
use rebound::headers::{self as h, Headers};
use rebound_console::{Console, Settings};
use tower::ServiceExt;

use crate::kit::{self, Spec};
use crate::report::{thousands, Table};
use crate::Ctx;

/// Requests per page kind.
const REQUESTS: usize = 100;

/// Failure messages the dead letters share (a DLT has few distinct failures).
const ERRORS: [&str; 8] = [
    "451 4.2.1 mailbox busy, try again later",
    "550 5.1.1 잘못된 이메일 주소로 인해 발송 실패",
    "421 4.7.0 too many connections",
    "554 5.7.1 message rejected as spam",
    "timed out after 10 s",
    "connection refused",
    "552 5.2.2 mailbox full",
    "payload is not JSON: expected value at line 1 column 1",
];

/// Dead letter `i`: its message one of [`ERRORS`] in 3 variants, or (`distinct`) its own, as a
/// DLT fed by a failure that writes an id into every message (the regex filter's worst case:
/// the index matches each distinct message once).
fn dead_letter(i: u64, distinct: bool) -> Spec {
    let variant = if distinct { i } else { i % 3 };
    let mut headers = Headers::new();
    headers.push(h::ORIGINAL_TOPIC, "email.send".to_string());
    headers.push(h::ORIGINAL_PARTITION, h::encode_i32(0));
    headers.push(h::ORIGINAL_OFFSET, h::encode_i64(i as i64));
    headers.push(
        h::EXCEPTION_MESSAGE,
        format!("{} (#{variant})", ERRORS[(i % 8) as usize]),
    );
    headers.push(h::FAILURE_CLASS, "transient".to_string());
    headers.push(h::ATTEMPTS, h::encode_i32(5));
    let to = format!("member{}@naver.com", i % 5000);
    Spec {
        partition: 0,
        payload: serde_json::json!({"from": "sender@naver.com", "to": to, "subject": "제목", "body": "내용"})
            .to_string()
            .into_bytes(),
        key: to,
        headers: Some(headers),
    }
}

async fn get(router: &Router, path: &str) -> Result<(Duration, String)> {
    let request = Request::get(path)
        .header(header::HOST, "127.0.0.1:8686")
        .body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await?;
    let took = started.elapsed();
    if !status.is_success() {
        bail!("{path}: {status}");
    }
    Ok((took, String::from_utf8_lossy(&body).into_owned()))
}

/// The process's resident memory, in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// Scenario 10.
pub async fn console(ctx: &Ctx) -> Result<()> {
    // (dead letters, every message distinct)
    let sizes: &[(u64, bool)] = if ctx.quick {
        &[(1_000, false), (5_000, false), (5_000, true)]
    } else {
        &[(10_000, false), (100_000, false), (100_000, true)]
    };
    let largest = sizes.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut table = Table::new(&[
        "dead letters",
        "ready after",
        "RSS grew",
        "page",
        "p50 ms",
        "p95 ms",
    ]);
    let mut worst_p95_at_largest = 0.0f64;
    for &(n, distinct) in sizes {
        let dlt = format!("{}.dlt", kit::unique("console"));
        kit::create_topics(&ctx.kafka, &[&dlt], 1).await?;
        kit::fill(&ctx.kafka, &dlt, n, |i| dead_letter(i, distinct)).await?;
        let before = rss_mib();
        let console = Console::new(ctx.kafka.clone(), Settings::default())?;
        let router = console.router();
        let list = format!("/dlt/{dlt}");
        let started = Instant::now();
        loop {
            let (_, body) = get(&router, &list).await?;
            if !body.contains("<strong>loading</strong>") {
                break;
            }
            if started.elapsed() > Duration::from_secs(300) {
                bail!("the index of {n} dead letters was not ready within 300 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ready = started.elapsed();
        let grew = rss_mib() - before;
        // Ready means every dead letter is in the index, not that it gave up waiting.
        let (_, body) = get(&router, &list).await?;
        let indexed = format!("{} dead letters indexed", n);
        if !body.contains(&indexed) {
            bail!("ready, but the page does not say \"{indexed}\"");
        }
        let pages = [
            ("first page", list.clone()),
            ("error filter", format!("{list}?error=mailbox")),
            ("key filter", format!("{list}?key=member7%40naver.com")),
            ("page 50", format!("{list}?page=50")),
            (
                "regex filter",
                format!("{list}?error=mail%28box%29%3F+%28busy%7Cfull%29&regex=1"),
            ),
        ];
        for (i, (name, path)) in pages.iter().enumerate() {
            let mut took = Vec::with_capacity(REQUESTS);
            for _ in 0..REQUESTS {
                took.push(get(&router, path).await?.0);
            }
            took.sort();
            let (p50, p95) = (percentile(&took, 0.5), percentile(&took, 0.95));
            if n == largest {
                worst_p95_at_largest = worst_p95_at_largest.max(p95);
            }
            let first = i == 0;
            table.row(vec![
                if first && distinct {
                    format!("{}, every message distinct", thousands(n as f64))
                } else if first {
                    thousands(n as f64)
                } else {
                    String::new()
                },
                if first {
                    format!("{:.1} s", ready.as_secs_f64())
                } else {
                    String::new()
                },
                if first {
                    format!("{grew:.0} MiB")
                } else {
                    String::new()
                },
                (*name).to_string(),
                format!("{p50:.1}"),
                format!("{p95:.1}"),
            ]);
        }
        eprintln!("  {n} dead letters: ready after {ready:?}, RSS grew {grew:.0} MiB");
        drop(router);
        drop(console);
        ctx.cleanup(&[dlt]).await;
    }
    println!(
        "The DLT page through the console's router ({REQUESTS} requests per page kind, one after \
         another, release build); the index starts on the first request and is ready when it has \
         read the DLT and its ledger as they were then. RSS: the benchmark process's growth from \
         before the console was made to its index being ready."
    );
    println!();
    table.print();
    ctx.target(
        "10. console, DLT page",
        &format!("p95 ≤ 100 ms at {} dead letters", thousands(largest as f64)),
        format!("worst p95 {worst_p95_at_largest:.1} ms"),
        Some(worst_p95_at_largest <= 100.0),
    );
    Ok(())
}
