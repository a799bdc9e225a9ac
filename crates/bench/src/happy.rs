//! Scenario 1 (happy path, and its scaling with partitions) and scenario 4 (poison isolation).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::kit::{self, Tally};
use crate::report::{median, ratio, runs, thousands, Runs, Table, CONTENDER_COLUMNS};
use crate::Ctx;

const STALL: Duration = Duration::from_secs(90);

/// Runs a blocking baseline loop on its own thread until `tally` is done (or stalls).
pub async fn run_baseline(
    tally: &Arc<Tally>,
    what: &str,
    body: impl FnOnce(CancellationToken) -> Result<()> + Send + 'static,
) -> Result<()> {
    let abort = CancellationToken::new();
    let thread = {
        let abort = abort.clone();
        tokio::task::spawn_blocking(move || body(abort))
    };
    let waited = tally.wait(what, STALL).await;
    abort.cancel();
    thread.await??;
    waited
}

/// The hand-written consumer: poll, handle (a no-op that touches the payload), store the
/// offset; librdkafka commits stored offsets every 500 ms.
fn baseline_consume(
    kafka: KafkaConfig,
    topic: String,
    tally: Arc<Tally>,
    abort: CancellationToken,
) -> Result<()> {
    let group = kit::unique("base");
    let consumer: BaseConsumer = kafka
        .client_config(&kit::baseline_consumer_config(&group))
        .create()?;
    consumer.subscribe(&[&topic])?;
    while !tally.done.is_cancelled() && !abort.is_cancelled() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                black_box(m.payload());
                tally.tick();
                consumer.store_offset_from_message(&m)?;
            }
            Some(Err(e)) => eprintln!("  baseline: {e}"),
            None => {}
        }
    }
    Ok(())
}

/// Rebound with a no-op handler (and the default policy: 3 attempts, 1 s back-off).
async fn rebound_consume(ctx: &Ctx, topic: &str, tally: &Arc<Tally>) -> Result<()> {
    let handler_tally = tally.clone();
    let consumer = ctx
        .rebound(topic, "rebound")
        .policy(RetryPolicy::default())
        .handler(move |record: Record| {
            let tally = handler_tally.clone();
            async move {
                black_box(&record.payload);
                tally.tick();
                Ok(())
            }
        })
        .build()?;
    kit::run_rebound(consumer, tally, "rebound").await
}

/// Baseline then Rebound on `topic` (`n` records), `repeat` times.
async fn pair(ctx: &Ctx, topic: &str, n: u64) -> Result<(Runs, Runs)> {
    let (mut base, mut rebound) = (Runs::default(), Runs::default());
    for run in 1..=ctx.repeat {
        if ctx.runs_baseline() {
            let tally = Tally::new(n);
            let (kafka, t, tl) = (ctx.kafka.clone(), topic.to_string(), tally.clone());
            let meter = ctx.meter();
            run_baseline(&tally, "baseline", move |abort| {
                baseline_consume(kafka, t, tl, abort)
            })
            .await?;
            base.push(tally.rate(), meter.per_record(n));
        }
        if ctx.runs_rebound() {
            let tally = Tally::new(n);
            let meter = ctx.meter();
            rebound_consume(ctx, topic, &tally).await?;
            rebound.push(tally.rate(), meter.per_record(n));
        }
        eprintln!(
            "  run {run}: baseline {:.0}/s, rebound {:.0}/s",
            base.rate.last().copied().unwrap_or(f64::NAN),
            rebound.rate.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok((base, rebound))
}

/// Scenario 1: `records` records, no-op handler.
pub async fn happy(ctx: &Ctx) -> Result<()> {
    let topic = kit::unique("happy");
    kit::create_topics(&ctx.kafka, &[&topic], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &topic, ctx.records, |i| {
        kit::plain(i, ctx.partitions, "ok")
    })
    .await?;
    let (base, rebound) = pair(ctx, &topic, ctx.records).await?;
    let r = rebound.median() / base.median();
    let mut table = Table::new(&CONTENDER_COLUMNS);
    table.row(base.row(
        "baseline: rdkafka BaseConsumer, store offset after handling",
        String::new(),
    ));
    table.row(rebound.row(
        &format!(
            "Rebound: RetryingConsumer, no-op handler{}",
            buffered_note(ctx)
        ),
        ratio(r),
    ));
    println!(
        "{} records of 200 bytes, {} partitions. CPU per record: the whole run of each \
         contender (group join included) divided by the records.\n",
        ctx.records, ctx.partitions
    );
    table.print();
    ctx.target(
        "1. happy path",
        "Rebound ≥ 0.95 × baseline",
        format!(
            "{} ({} vs {} records/s){}",
            ratio(r),
            thousands(rebound.median()),
            thousands(base.median()),
            buffered_note(ctx)
        ),
        (!r.is_nan()).then_some(r >= 0.95),
    );
    ctx.cleanup(&chain_topics(&topic)).await;
    Ok(())
}

/// Notes a non-default `max_buffered` in labels.
pub fn buffered_note(ctx: &Ctx) -> String {
    ctx.max_buffered
        .map(|n| format!(", `max_buffered({n})`"))
        .unwrap_or_default()
}

/// Scenario 1 with 1, 4 and 8 partitions.
pub async fn scaling(ctx: &Ctx) -> Result<()> {
    let mut table = Table::new(&[
        "partitions",
        "baseline records/s",
        "Rebound records/s",
        "Rebound/baseline",
    ]);
    for partitions in [1, 4, 8] {
        let topic = kit::unique(&format!("scale{partitions}"));
        kit::create_topics(&ctx.kafka, &[&topic], partitions).await?;
        kit::fill(&ctx.kafka, &topic, ctx.records, |i| {
            kit::plain(i, partitions, "ok")
        })
        .await?;
        let (base, rebound) = pair(ctx, &topic, ctx.records).await?;
        table.row(vec![
            partitions.to_string(),
            format!(
                "{} ({})",
                thousands(base.median()),
                runs(&base.rate, thousands)
            ),
            format!(
                "{} ({})",
                thousands(rebound.median()),
                runs(&rebound.rate, thousands)
            ),
            ratio(rebound.median() / base.median()),
        ]);
        ctx.cleanup(&chain_topics(&topic)).await;
    }
    println!(
        "{} records of 200 bytes, no-op handler{}; medians, runs in brackets.\n",
        ctx.records,
        buffered_note(ctx)
    );
    table.print();
    Ok(())
}

/// The topics Rebound's default policy creates beside `topic`.
pub fn chain_topics(topic: &str) -> Vec<String> {
    vec![
        topic.to_string(),
        format!("{topic}-retry"),
        format!("{topic}-dlt"),
    ]
}

/// What record `i` of the poison scenario is: 1% permanent, 5% transient (fails once), the rest
/// healthy.
fn poison_kind(i: u64) -> &'static str {
    match i % 100 {
        0 => "permanent",
        1..=5 => "transient",
        _ => "ok",
    }
}

/// Scenario 4: 1% permanent and 5% transient failures among healthy records. Compares the pace at
/// which Rebound gets through the main topic up to the last healthy record with the happy-path
/// pace of Rebound on the same contents (its scenario 1 figure, measured here back to back).
pub async fn poison(ctx: &Ctx) -> Result<()> {
    let n = ctx.records;
    let topic = kit::unique("poison");
    kit::create_topics(&ctx.kafka, &[&topic], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &topic, n, |i| {
        kit::plain(i, ctx.partitions, poison_kind(i))
    })
    .await?;
    let healthy_n = (0..n).filter(|i| poison_kind(*i) == "ok").count() as u64;
    let policy = |tag: String| {
        crate::one_hop::per_run(
            RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(1))),
            &tag,
        )
    };
    let mut topics = vec![topic.clone()];

    let (mut clean, mut mixed, mut healthy_rates) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=ctx.repeat {
        let (clean_policy, mixed_policy) = (policy(format!("c{run}")), policy(format!("m{run}")));
        topics.extend(crate::one_hop::chain_names(&topic, &clean_policy));
        topics.extend(crate::one_hop::chain_names(&topic, &mixed_policy));
        // Reference: the same records, every one handled fine (scenario 1's Rebound figure).
        let tally = Tally::new(n);
        let handler_tally = tally.clone();
        let consumer = ctx
            .rebound(&topic, "clean")
            .policy(clean_policy)
            .handler(move |record: Record| {
                let tally = handler_tally.clone();
                async move {
                    black_box(&record.payload);
                    tally.tick();
                    Ok(())
                }
            })
            .build()?;
        kit::run_rebound(consumer, &tally, "rebound (no failures)").await?;
        clean.push(tally.rate());

        // The poisoned run: the tally counts healthy records; failing ones only mark the start.
        let tally = Tally::new(healthy_n);
        let handler_tally = tally.clone();
        let consumer = ctx
            .rebound(&topic, "mixed")
            .policy(mixed_policy)
            .handler(move |record: Record| {
                let tally = handler_tally.clone();
                async move {
                    let kind = kit::kind_of(record.payload.as_deref().unwrap_or_default());
                    match kind {
                        "permanent" => {
                            tally.start();
                            Err(Failure::permanent(rebound::failure::Message(
                                "poison record".into(),
                            )))
                        }
                        "transient" if record.attempt == 1 => {
                            tally.start();
                            Err(Failure::transient(rebound::failure::Message(
                                "temporary fault".into(),
                            )))
                        }
                        "transient" => Ok(()),
                        _ => {
                            tally.tick();
                            Ok(())
                        }
                    }
                }
            })
            .build()?;
        kit::run_rebound(consumer, &tally, "rebound (poisoned)").await?;
        // Main-topic records passed per second until the last healthy one was handled.
        mixed.push(n as f64 / tally.span());
        healthy_rates.push(tally.rate());
        eprintln!(
            "  run {run}: no failures {:.0}/s, poisoned {:.0}/s ({:.0} healthy/s)",
            clean[run - 1],
            mixed[run - 1],
            healthy_rates[run - 1]
        );
    }
    let r = median(&mixed) / median(&clean);
    println!(
        "{n} records, {} partitions: 1% fail permanently (to the DLT), 5% fail once (retry topic, \
         1 s), {healthy_n} healthy. Pace = main-topic records per second up to the last healthy \
         record handled (so that a failure costing nothing gives 1.00).\n",
        ctx.partitions
    );
    let mut table = Table::new(&["run", "median pace records/s", "runs", "ratio"]);
    table.row(vec![
        "Rebound, every record fine (scenario 1 figure)".into(),
        thousands(median(&clean)),
        runs(&clean, thousands),
        String::new(),
    ]);
    table.row(vec![
        format!(
            "Rebound, 1% permanent + 5% transient (healthy records: {}/s)",
            thousands(median(&healthy_rates))
        ),
        thousands(median(&mixed)),
        runs(&mixed, thousands),
        ratio(r),
    ]);
    table.print();
    ctx.target(
        "4. poison isolation",
        "healthy pace ≥ 0.95 × scenario 1",
        format!(
            "{} ({} vs {} records/s){}",
            ratio(r),
            thousands(median(&mixed)),
            thousands(median(&clean)),
            buffered_note(ctx)
        ),
        Some(r >= 0.95),
    );
    ctx.cleanup(&topics).await;
    Ok(())
}
