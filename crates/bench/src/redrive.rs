//! Scenario 5: redriving dead letters, against a hand-written consume → produce copy; and the
//! accuracy of `--rate`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rebound::naming::{archive_topic, ledger_topic};
use rebound::{KafkaConfig, RELIABLE_PRODUCER};
use rebound_ops::redrive::{redrive as rebound_redrive, RedriveOptions};
use rebound_ops::Filter;
use tokio_util::sync::CancellationToken;

use crate::kit;
use crate::report::{median, ratio, runs, thousands, Table};
use crate::Ctx;

/// Counts acknowledged copies.
#[derive(Default)]
struct Delivered {
    ok: AtomicU64,
    failed: AtomicBool,
}

struct CountContext(Arc<Delivered>);

impl ClientContext for CountContext {}

impl ProducerContext for CountContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                eprintln!("  baseline: a copy was not acknowledged: {e}");
                self.0.failed.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The hand-written copy: read the DLT by assignment up to its end, copy each record (key,
/// payload, headers, same partition) through a producer with Rebound's settings
/// ([`RELIABLE_PRODUCER`]: idempotent, `acks=all`), pipelined, and
/// wait until every copy is acknowledged. Returns the seconds it took.
fn baseline_copy(kafka: KafkaConfig, dlt: String, target: String, n: u64) -> Result<f64> {
    let started = Instant::now();
    let consumer: BaseConsumer = kafka
        .client_config(&[
            ("group.id", "bench-copy"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("fetch.wait.max.ms", "10"),
        ])
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&dlt), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0) as i32;
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(&dlt, p, Duration::from_secs(10))?;
        if high > low {
            ends.insert(p, high);
            list.add_partition_offset(&dlt, p, Offset::Offset(low))?;
        }
    }
    consumer.assign(&list)?;
    let delivered = Arc::new(Delivered::default());
    let producer: BaseProducer<CountContext> = kafka
        .client_config(RELIABLE_PRODUCER)
        .create_with_context(CountContext(delivered.clone()))?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        producer.poll(Duration::ZERO);
        let m = match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => bail!("baseline: reading {dlt}: {e}"),
            None if last_progress.elapsed() > Duration::from_secs(60) => {
                bail!("baseline: no progress reading {dlt} for 60 s")
            }
            None => continue,
        };
        last_progress = Instant::now();
        let end = ends.get(&m.partition()).copied().unwrap_or(0);
        if m.offset() + 1 >= end {
            ends.remove(&m.partition());
        }
        if m.offset() >= end {
            continue;
        }
        let mut copy = BaseRecord::to(&target).partition(m.partition());
        if let Some(headers) = m.headers() {
            let owned = headers.iter().fold(
                OwnedHeaders::new_with_capacity(headers.count()),
                |acc, h| {
                    acc.insert(Header {
                        key: h.key,
                        value: h.value,
                    })
                },
            );
            copy = copy.headers(owned);
        }
        if let Some(k) = m.key() {
            copy = copy.key(k);
        }
        if let Some(p) = m.payload() {
            copy = copy.payload(p);
        }
        kit::send_waiting(&producer, copy)?;
    }
    producer.flush(Duration::from_secs(60))?;
    if delivered.failed.load(Ordering::SeqCst) || delivered.ok.load(Ordering::Relaxed) != n {
        bail!(
            "baseline: {} of {n} copies acknowledged",
            delivered.ok.load(Ordering::Relaxed)
        );
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Fills a fresh DLT with `n` dead letters whose original topic is `origin`.
async fn make_dlt(ctx: &Ctx, dlt: &str, origin: &str, n: u64) -> Result<()> {
    kit::create_topics(&ctx.kafka, &[dlt], ctx.partitions).await?;
    let partitions = ctx.partitions;
    kit::fill(&ctx.kafka, dlt, n, |i| {
        kit::copy(i, partitions, origin, None)
    })
    .await
}

/// Completion times of a redrive's sends, from its progress callback.
struct Completions {
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    done: AtomicU64,
}

impl Completions {
    fn new() -> Completions {
        Completions {
            first: Mutex::new(None),
            last: Mutex::new(None),
            done: AtomicU64::new(0),
        }
    }

    fn note(&self) {
        let now = Instant::now();
        self.first.lock().expect("first").get_or_insert(now);
        *self.last.lock().expect("last") = Some(now);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Completions per second between the first and the last.
    fn rate(&self) -> f64 {
        let (first, last) = (
            *self.first.lock().expect("first"),
            *self.last.lock().expect("last"),
        );
        match (first, last) {
            (Some(f), Some(l)) if l > f => {
                (self.done.load(Ordering::Relaxed) - 1) as f64 / (l - f).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

/// Runs Rebound's redrive of every dead letter of `dlt`; returns (seconds, send-phase rate).
async fn rebound_run(ctx: &Ctx, dlt: &str, n: u64, rate: Option<f64>) -> Result<(f64, f64)> {
    let options = RedriveOptions {
        rate,
        ..RedriveOptions::new("rebound-bench")
    };
    let completions = Completions::new();
    let progress = |_: rebound_ops::redrive::RedriveProgress| completions.note();
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let report = rebound_redrive(
        &ctx.kafka,
        dlt,
        &Filter::default(),
        &options,
        &progress,
        &cancel,
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    if report.sent() as u64 != n {
        bail!(
            "rebound redrive sent {} of {n} ({} skipped)",
            report.sent(),
            report.skipped()
        );
    }
    Ok((elapsed, completions.rate()))
}

pub async fn redrive(ctx: &Ctx) -> Result<()> {
    let n = ctx.dead_letters;
    let base_target = kit::unique("redrive-base-target");
    let rebound_target = kit::unique("redrive-target");
    kit::create_topics(&ctx.kafka, &[&base_target, &rebound_target], ctx.partitions).await?;
    let mut topics = vec![base_target.clone(), rebound_target.clone()];
    let (mut base, mut rebound) = (Vec::new(), Vec::new());
    for run in 1..=ctx.repeat {
        // A fresh DLT per run: Rebound's ledger remembers what it redrove.
        let dlt = kit::unique(&format!("redrive{run}-dlt"));
        topics.extend([dlt.clone(), ledger_topic(&dlt), archive_topic(&dlt)]);
        make_dlt(ctx, &dlt, &rebound_target, n).await?;
        let (kafka, d, t) = (ctx.kafka.clone(), dlt.clone(), base_target.clone());
        let secs = kit::blocking(move || baseline_copy(kafka, d, t, n)).await?;
        base.push(n as f64 / secs);
        let (secs, _) = rebound_run(ctx, &dlt, n, None).await?;
        rebound.push(n as f64 / secs);
        eprintln!(
            "  run {run}: baseline {:.0}/s, rebound {:.0}/s",
            base[run - 1],
            rebound[run - 1]
        );
    }
    let r = median(&rebound) / median(&base);
    println!(
        "{n} dead letters over {} partitions (written with a batching producer, linger 20 ms). \
         Dead letters per second, wall time from the call to the last copy acknowledged \
         (reading the DLT included; no consumer group on either side).\n",
        ctx.partitions
    );
    let mut table = Table::new(&["contender", "median records/s", "runs", "Rebound/baseline"]);
    table.row(vec![
        "baseline: assign + read to end → produce (idempotent, acks=all, pipelined)".into(),
        thousands(median(&base)),
        runs(&base, thousands),
        String::new(),
    ]);
    table.row(vec![
        "Rebound: `ops::redrive::redrive` (ledger read, claims, copies, ledger entries)".into(),
        thousands(median(&rebound)),
        runs(&rebound, thousands),
        ratio(r),
    ]);
    table.print();
    ctx.target(
        "5. redrive",
        "Rebound ≥ 0.90 × baseline",
        format!(
            "{} ({} vs {} records/s)",
            ratio(r),
            thousands(median(&rebound)),
            thousands(median(&base))
        ),
        Some(r >= 0.90),
    );

    // --rate accuracy.
    let m = ctx.rate_records;
    let mut table = Table::new(&["run", "asked/s", "achieved/s", "error"]);
    let mut errors = Vec::new();
    for run in 1..=ctx.repeat {
        let dlt = kit::unique(&format!("rate{run}-dlt"));
        topics.extend([dlt.clone(), ledger_topic(&dlt), archive_topic(&dlt)]);
        make_dlt(ctx, &dlt, &rebound_target, m).await?;
        let (_, achieved) = rebound_run(ctx, &dlt, m, Some(ctx.rate)).await?;
        let error = (achieved - ctx.rate) / ctx.rate;
        errors.push(error.abs());
        table.row(vec![
            run.to_string(),
            thousands(ctx.rate),
            format!("{achieved:.0}"),
            format!("{:+.1}%", error * 100.0),
        ]);
        eprintln!(
            "  rate run {run}: asked {:.0}/s, achieved {achieved:.0}/s",
            ctx.rate
        );
    }
    println!(
        "Rate limit: {m} dead letters redriven with `rate: {}`; achieved = acknowledged copies per \
         second between the first and the last acknowledgement.\n",
        ctx.rate
    );
    table.print();
    let worst = errors.iter().copied().fold(0.0, f64::max);
    ctx.target(
        "5. redrive --rate",
        "achieved within 5% of asked",
        format!("worst error {:.1}% at {}/s", worst * 100.0, ctx.rate),
        Some(worst <= 0.05),
    );
    ctx.cleanup(&topics).await;
    Ok(())
}
