//! Scenario 1: the happy path, and its scaling with partitions.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rebound::naming::TopicChain;
use rebound::{KafkaConfig, Record, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::kit::{self, Tally};
use crate::report::{ratio, runs, thousands, Runs, Table, CONTENDER_COLUMNS};
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
pub fn baseline_consume(
    kafka: KafkaConfig,
    topic: String,
    group: String,
    tally: Arc<Tally>,
    abort: CancellationToken,
) -> Result<()> {
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

/// Rebound with a no-op handler that counts every record, until `tally` is done; `what` names
/// the run in a stall's error.
pub async fn rebound_consume(
    ctx: &Ctx,
    topic: &str,
    policy: RetryPolicy,
    tally: &Arc<Tally>,
    what: &str,
) -> Result<()> {
    let handler_tally = tally.clone();
    let consumer = ctx
        .rebound(topic, "rebound")
        .policy(policy)
        .handler(move |record: Record| {
            let tally = handler_tally.clone();
            async move {
                black_box(&record.payload());
                tally.tick();
                Ok(())
            }
        })
        .build()?;
    kit::run_rebound(consumer, tally, what).await
}

/// Baseline then Rebound (then Spring, `with_spring` and `--contenders spring`) on `topic` (`n`
/// records), `repeat` times.
async fn pair(ctx: &Ctx, topic: &str, n: u64, with_spring: bool) -> Result<(Runs, Runs, Runs)> {
    let (mut base, mut rebound, mut spring) = (Runs::default(), Runs::default(), Runs::default());
    for run in 1..=ctx.repeat {
        if ctx.runs_baseline() {
            let tally = Tally::new(n);
            let (kafka, t, tl) = (ctx.kafka.clone(), topic.to_string(), tally.clone());
            let meter = ctx.meter();
            run_baseline(&tally, "baseline", move |abort| {
                baseline_consume(kafka, t, kit::unique("base"), tl, abort)
            })
            .await?;
            base.push(tally.rate(), meter.per_record(n));
        }
        if ctx.runs_rebound() {
            let tally = Tally::new(n);
            let meter = ctx.meter();
            // The default policy: 3 attempts, 1 s back-off.
            rebound_consume(ctx, topic, RetryPolicy::default(), &tally, "rebound").await?;
            rebound.push(tally.rate(), meter.per_record(n));
        }
        if let Some(peer) = ctx.spring.as_ref().filter(|_| with_spring) {
            let spec = crate::spring::Spec::happy(topic, run, n);
            if let Some(out) = crate::spring::contend(ctx, peer, &spec).await {
                spring.push(out.rate, out.cpu);
            }
        }
        eprintln!(
            "  run {run}: baseline {:.0}/s, rebound {:.0}/s, spring {:.0}/s",
            base.rate.last().copied().unwrap_or(f64::NAN),
            rebound.rate.last().copied().unwrap_or(f64::NAN),
            spring.rate.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok((base, rebound, spring))
}

/// Scenario 1: `records` records, no-op handler.
pub async fn happy(ctx: &Ctx) -> Result<()> {
    let topic = kit::unique("happy");
    kit::create_topics(&ctx.kafka, &[&topic], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &topic, ctx.records, |i| {
        kit::plain(i, ctx.partitions, "ok")
    })
    .await?;
    let (base, rebound, spring) = pair(ctx, &topic, ctx.records, true).await?;
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
    crate::spring::row(ctx, &mut table, &spring, &rebound);
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
    crate::spring::target(ctx, "1. happy path", &spring, &rebound);
    let mut topics = chain_topics(&topic);
    topics.extend(crate::spring::topics(ctx, &topic));
    ctx.cleanup(&topics).await;
    Ok(())
}

/// Notes a non-default `max_buffered` or `max_copies_in_flight` in labels.
pub fn buffered_note(ctx: &Ctx) -> String {
    let mut note = String::new();
    if let Some(n) = ctx.max_buffered {
        note.push_str(&format!(", `max_buffered({n})`"));
    }
    if let Some(n) = ctx.max_copies_in_flight {
        note.push_str(&format!(", `max_copies_in_flight({n})`"));
    }
    note
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
        let (base, rebound, _) = pair(ctx, &topic, ctx.records, false).await?;
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
    TopicChain::new(topic, &RetryPolicy::default())
        .topic_names()
        .into_iter()
        .map(String::from)
        .collect()
}
