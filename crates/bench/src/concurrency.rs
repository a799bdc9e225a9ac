//! Scenario 8: records at once inside a partition (`ProcessingOrder`).
//!
//! A handler that waits 20 ms (an I/O stand-in) on 8 partitions and 1,000 keys: `Partition`
//! order is bounded by one record per partition at a time (8 / 20 ms = 400 records/s), `Key` and
//! `Unordered` by `max_in_flight / 20 ms`. The same with 5 % of the keys failing once into the
//! retry chain (200 ms back-off). And the bookkeeping's own cost: a no-op handler in `Key` and
//! `Unordered` order against `Partition` order on the happy path's records.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use rebound::{Backoff, Failure, ProcessingOrder, Record, RetryPolicy};

use crate::kit::{self, Tally};
use crate::report::{ratio, runs, thousands, Runs, Table};
use crate::Ctx;

/// The handler's stand-in for I/O.
const WORK: Duration = Duration::from_millis(20);
/// Records per run with the slow handler in `Partition` order (10 s at its bound).
const SLOW_RECORDS: u64 = 4_000;
/// Records per run with the slow handler in `Key` and `Unordered` order (3.75 s at their bound;
/// over 4,000, 1.3 s, single runs spread from 0.75 to 0.94 of the bound).
const CONCURRENT_RECORDS: u64 = 12_000;
/// Records per run with 5 % of the keys failing. More than [`SLOW_RECORDS`]: a failing key's
/// records run one after another through their 200 ms back-offs (key order), and over 4,000
/// records (1.3 s at the bound) that tail alone is a fifth of the run; over 20,000 it is what the
/// issue asks about, the pace of the other keys beside the failing ones.
const FAILING_RECORDS: u64 = 20_000;
/// Keys the records are spread over.
const KEYS: u64 = 1_000;
/// `max_in_flight` of the concurrent runs.
const IN_FLIGHT: usize = 64;

/// One run's settings.
#[derive(Clone, Copy)]
struct Run {
    order: ProcessingOrder,
    work: Duration,
    /// Records whose key is a multiple of this fail once (20: 5 % of the keys).
    failing_every: Option<u64>,
}

/// Where a failing key's time goes, between its handler calls: from a record's failure to the
/// start of its retry (200 ms of it is the back-off), and from the retry's end to the start of
/// the key's next record.
#[derive(Default)]
struct ChainGaps {
    last_end: Mutex<HashMap<u64, Instant>>,
    to_retry: Mutex<Vec<Duration>>,
    to_next: Mutex<Vec<Duration>>,
}

impl ChainGaps {
    fn started(&self, key: u64, attempt: u32) {
        let Some(end) = self.last_end.lock().unwrap().get(&key).copied() else {
            return;
        };
        let gaps = if attempt > 1 {
            &self.to_retry
        } else {
            &self.to_next
        };
        gaps.lock().unwrap().push(end.elapsed());
    }

    fn ended(&self, key: u64) {
        self.last_end.lock().unwrap().insert(key, Instant::now());
    }

    fn summary(&self) -> String {
        let describe = |gaps: &Mutex<Vec<Duration>>| {
            let mut gaps = gaps.lock().unwrap().clone();
            gaps.sort();
            let at = |q: f64| {
                gaps.get(((gaps.len() as f64 - 1.0) * q) as usize)
                    .map_or(0, |d| d.as_millis())
            };
            format!(
                "p50 {} ms, p95 {} ms, max {} ms ({} gaps)",
                at(0.5),
                at(0.95),
                at(1.0),
                gaps.len()
            )
        };
        format!(
            "failure to its retry's start: {}; retry's end to the key's next record: {}",
            describe(&self.to_retry),
            describe(&self.to_next)
        )
    }
}

async fn run(ctx: &Ctx, topic: &str, records: u64, run: Run) -> Result<f64> {
    // Every record is counted once: when handled, whether on its first or its second delivery.
    let tally = Tally::new(records);
    let handler_tally = tally.clone();
    let gaps = Arc::new(ChainGaps::default());
    let handler_gaps = gaps.clone();
    let policy = RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(200)));
    let consumer = ctx
        .rebound(topic, "concurrency")
        .policy(policy)
        .processing_order(run.order)
        .max_in_flight(IN_FLIGHT)
        .handler(move |record: Record| {
            let (tally, gaps) = (handler_tally.clone(), handler_gaps.clone());
            async move {
                black_box(record.payload());
                let key: u64 = record
                    .key_text()
                    .and_then(|k| k.trim_start_matches("key").parse().ok())
                    .unwrap_or(0);
                let fails = run
                    .failing_every
                    .is_some_and(|every| key.is_multiple_of(every));
                if fails {
                    gaps.started(key, record.attempt());
                }
                if !run.work.is_zero() {
                    tokio::time::sleep(run.work).await;
                }
                if fails {
                    gaps.ended(key);
                }
                if fails && record.attempt() == 1 {
                    return Err(Failure::msg("451 mailbox busy"));
                }
                tally.tick();
                Ok(())
            }
        })
        .build()?;
    kit::run_rebound(consumer, &tally, "concurrency").await?;
    if run.failing_every.is_some() {
        eprintln!("    {}", gaps.summary());
    }
    Ok(tally.rate())
}

fn keyed(i: u64, partitions: i32) -> kit::Spec {
    kit::Spec {
        partition: (i % partitions as u64) as i32,
        key: format!("key{}", i % KEYS),
        payload: kit::payload(i, "ok"),
        headers: None,
    }
}

/// Scenario 8.
pub async fn concurrency(ctx: &Ctx) -> Result<()> {
    let slow_records = if ctx.quick { 1_000 } else { SLOW_RECORDS };
    let failing_records = if ctx.quick { 1_000 } else { FAILING_RECORDS };
    let concurrent_records = if ctx.quick { 1_000 } else { CONCURRENT_RECORDS };
    let partitions = ctx.partitions;
    let bound = IN_FLIGHT as f64 / WORK.as_secs_f64();
    let partition_bound = partitions as f64 / WORK.as_secs_f64();
    let slow = |order, failing_every| Run {
        order,
        work: WORK,
        failing_every,
    };
    let cases = [
        (
            "Partition, 20 ms handler",
            slow(ProcessingOrder::Partition, None),
            slow_records,
            partition_bound,
        ),
        (
            "Key, 20 ms handler",
            slow(ProcessingOrder::Key, None),
            concurrent_records,
            bound,
        ),
        (
            "Unordered, 20 ms handler",
            slow(ProcessingOrder::Unordered, None),
            concurrent_records,
            bound,
        ),
        (
            "Key, 20 ms handler, 5 % of keys fail once",
            slow(ProcessingOrder::Key, Some(20)),
            failing_records,
            bound,
        ),
    ];
    let mut table = Table::new(&[
        "run",
        "median records/s",
        "runs",
        "bound records/s",
        "of the bound",
    ]);
    let mut rates = Vec::new();
    for (name, settings, records, bound) in cases {
        let mut measured = Runs::default();
        for _ in 0..ctx.repeat {
            // A fresh topic per run: the retry topics of a failing run stay out of the next one.
            let topic = kit::unique("concurrency");
            kit::create_topics(&ctx.kafka, &[&topic], partitions).await?;
            kit::fill(&ctx.kafka, &topic, records, |i| keyed(i, partitions)).await?;
            measured.push(
                run(ctx, &topic, records, settings).await?,
                (f64::NAN, f64::NAN),
            );
            ctx.cleanup(&[topic]).await;
        }
        let median = measured.median();
        eprintln!("  {name}: {median:.0}/s");
        table.row(vec![
            name.to_string(),
            thousands(median),
            runs(&measured.rate, thousands),
            thousands(bound),
            ratio(median / bound),
        ]);
        rates.push(median);
    }
    println!(
        "{slow_records} records in Partition order, {concurrent_records} in Key and Unordered, {failing_records} with failing keys; over {partitions} partitions and {KEYS} keys; the handler waits 20 ms; \
         `max_in_flight({IN_FLIGHT})` in Key and Unordered order. Bound: one record per partition at \
         a time in Partition order ({partitions} / 20 ms), `max_in_flight` / 20 ms otherwise. Records \
         per second from the first handled to the last."
    );
    println!();
    table.print();
    let key_ratio = rates[1] / bound;
    ctx.target(
        "8. Key order, 20 ms handler",
        "≥ 0.9 × max_in_flight / 20 ms",
        format!(
            "{:.2} ({:.0} of {:.0} records/s; {:.1} × Partition order)",
            key_ratio,
            rates[1],
            bound,
            rates[1] / rates[0]
        ),
        Some(key_ratio >= 0.9),
    );
    let failing_ratio = rates[3] / bound;
    ctx.target(
        "8. Key order, 5 % of keys into the retry chain",
        "≥ 0.8 × max_in_flight / 20 ms",
        format!("{:.2} ({:.0} records/s)", failing_ratio, rates[3]),
        Some(failing_ratio >= 0.8),
    );

    // The bookkeeping: a no-op handler on the happy path's records, Key and Unordered against
    // Partition, the three alternating so that a change of load falls on all of them.
    let topic = kit::unique("concurrency-noop");
    kit::create_topics(&ctx.kafka, &[&topic], partitions).await?;
    kit::fill(&ctx.kafka, &topic, ctx.records, |i| keyed(i, partitions)).await?;
    let noop = |order| Run {
        order,
        work: Duration::ZERO,
        failing_every: None,
    };
    let orders = [
        ProcessingOrder::Partition,
        ProcessingOrder::Key,
        ProcessingOrder::Unordered,
    ];
    let mut by_order: [Runs; 3] = Default::default();
    for _ in 0..ctx.repeat {
        for (order, runs) in orders.iter().zip(by_order.iter_mut()) {
            runs.push(
                run(ctx, &topic, ctx.records, noop(*order)).await?,
                (f64::NAN, f64::NAN),
            );
        }
    }
    ctx.cleanup(&[topic]).await;
    let partition = by_order[0].median();
    println!();
    println!("No-op handler, {} records, {KEYS} keys:", ctx.records);
    println!();
    let mut table = Table::new(&["run", "median records/s", "runs", "of Partition order"]);
    for (name, runs_of) in ["Partition order", "Key order", "Unordered"]
        .iter()
        .zip(&by_order)
    {
        let of_partition = runs_of.median() / partition;
        table.row(vec![
            (*name).into(),
            thousands(runs_of.median()),
            runs(&runs_of.rate, thousands),
            match *name {
                "Partition order" => String::new(),
                _ => ratio(of_partition),
            },
        ]);
    }
    table.print();
    for (name, runs_of) in [("Key", &by_order[1]), ("Unordered", &by_order[2])] {
        let of_partition = runs_of.median() / partition;
        ctx.target(
            &format!("8. {name} order, no-op handler"),
            "≥ 0.95 × Partition order",
            format!(
                "{of_partition:.2} ({:.0} vs {:.0} records/s)",
                runs_of.median(),
                partition
            ),
            Some(of_partition >= 0.95),
        );
    }
    Ok(())
}
