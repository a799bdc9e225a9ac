//! Scenario 4: poison isolation. 1 % of the records fail for good and 5 % fail once, among
//! healthy ones; how fast do the healthy ones still get through?
//!
//! Both contenders run twice on the same contents: every record fine, then poisoned. Rebound's
//! ratio (poisoned / fine) is the target. The hand-written baseline's ratio shows what the
//! broker allows any client: it writes the same copies with the same headers, pipelined.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::happy::{baseline_consume, buffered_note, rebound_consume, run_baseline};
use crate::kit::{self, Tally};
use crate::one_hop::{chain_names, copy_of, copy_producer, per_run};
use crate::report::{median, ratio, runs, thousands, Table};
use crate::Ctx;

/// What record `i` is: 1% permanent, 5% transient (fails once), the rest healthy.
fn poison_kind(i: u64) -> &'static str {
    match i % 100 {
        0 => "permanent",
        1..=5 => "transient",
        _ => "ok",
    }
}

/// Per partition of the main topic: the offsets whose copy is still in flight, oldest first, and
/// the offset after the last record handled. What may be stored is the oldest copy in flight, or
/// everything handled when none is.
#[derive(Default)]
struct InOrder {
    in_flight: VecDeque<i64>,
    next: i64,
    stored: i64,
}

impl InOrder {
    fn committable(&self) -> i64 {
        self.in_flight.front().copied().unwrap_or(self.next)
    }
}

/// The hand-written poison loop, as a careful user writes it: one consumer reads the main topic
/// and the retry topic. A healthy record is handled in place. A failing one is copied, with the
/// ~15 headers Rebound writes, to the retry topic (transient) or the dead-letter topic
/// (permanent) by an idempotent `acks=all` producer, pipelined; offsets are stored in order, never
/// past a copy not yet acknowledged. A retry-topic copy is handled as soon as it is read (no 1 s
/// wait: the broker does the same work, and the pace counts main-topic records only).
fn baseline_poison(
    kafka: KafkaConfig,
    main: String,
    retry: String,
    dlt: String,
    tally: Arc<Tally>,
    abort: CancellationToken,
) -> Result<()> {
    let group = kit::unique("base-poison");
    let consumer: BaseConsumer = kafka
        .client_config(&kit::baseline_consumer_config(&group))
        .create()?;
    consumer.subscribe(&[&main, &retry])?;
    let (producer, acks) = copy_producer(&kafka)?;
    let mut partitions: HashMap<i32, InOrder> = HashMap::new();
    while !tally.done.is_cancelled() && !abort.is_cancelled() {
        producer.poll(Duration::ZERO);
        for (p, o) in acks.take()? {
            let state = partitions.entry(p).or_default();
            if let Some(i) = state.in_flight.iter().position(|x| *x == o) {
                state.in_flight.remove(i);
            }
        }
        let mut list = TopicPartitionList::new();
        for (p, state) in partitions.iter_mut() {
            let offset = state.committable();
            if offset > state.stored {
                state.stored = offset;
                list.add_partition_offset(&main, *p, Offset::Offset(offset))?;
            }
        }
        if list.count() > 0 {
            if let Err(e) = consumer.store_offsets(&list) {
                eprintln!("  baseline: could not store offsets: {e}");
            }
        }
        let m = match consumer.poll(Duration::from_millis(5)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                eprintln!("  baseline: {e}");
                continue;
            }
            None => continue,
        };
        if m.topic() != main {
            black_box(m.payload());
            consumer.store_offset_from_message(&m)?;
            continue;
        }
        let state = partitions.entry(m.partition()).or_default();
        state.next = m.offset() + 1;
        let target = match kit::kind_of(m.payload().unwrap_or_default()) {
            "permanent" => (&dlt, None),
            "transient" => (&retry, Some(rebound::EpochMillis::now().as_i64() + 1_000)),
            _ => {
                black_box(m.payload());
                tally.tick();
                continue;
            }
        };
        tally.start();
        state.in_flight.push_back(m.offset());
        let headers = kit::hop_headers(&main, m.partition(), m.offset(), target.1).to_kafka();
        kit::send_waiting(&producer, copy_of(&m, target.0, headers))?;
    }
    let _ = producer.flush(Duration::from_secs(30));
    Ok(())
}

/// Rebound whose handler fails the poisoned records: the tally counts healthy records; failing
/// ones only mark the start of the span.
async fn rebound_poisoned(
    ctx: &Ctx,
    topic: &str,
    policy: RetryPolicy,
    tally: &Arc<Tally>,
) -> Result<()> {
    let handler_tally = tally.clone();
    let consumer = ctx
        .rebound(topic, "mixed")
        .policy(policy)
        .handler(move |record: Record| {
            let tally = handler_tally.clone();
            async move {
                match kit::kind_of(record.payload().unwrap_or_default()) {
                    "permanent" => {
                        tally.start();
                        Err(Failure::permanent(rebound::Message("poison record".into())))
                    }
                    "transient" if record.attempt() == 1 => {
                        tally.start();
                        Err(Failure::transient(rebound::Message(
                            "temporary fault".into(),
                        )))
                    }
                    "transient" => Ok(()),
                    _ => {
                        black_box(&record.payload());
                        tally.tick();
                        Ok(())
                    }
                }
            }
        })
        .build()?;
    kit::run_rebound(consumer, tally, "rebound (poisoned)").await
}

/// The pace of a contender over one run: main-topic records per second up to the last healthy
/// record handled (so that failures costing nothing give the same pace as no failures).
#[derive(Default)]
struct Paces {
    clean: Vec<f64>,
    poisoned: Vec<f64>,
    healthy: Vec<f64>,
}

impl Paces {
    fn ratio(&self) -> f64 {
        median(&self.poisoned) / median(&self.clean)
    }

    fn rows(&self, table: &mut Table, who: &str) {
        table.row(vec![
            format!("{who}, every record fine"),
            thousands(median(&self.clean)),
            runs(&self.clean, thousands),
            String::new(),
        ]);
        table.row(vec![
            format!(
                "{who}, 1% permanent + 5% transient (healthy records: {}/s)",
                thousands(median(&self.healthy))
            ),
            thousands(median(&self.poisoned)),
            runs(&self.poisoned, thousands),
            ratio(self.ratio()),
        ]);
    }
}

/// Scenario 4: compares each contender's pace through the poisoned records with its own pace
/// through the same records all fine, measured back to back.
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
        per_run(
            RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(1))),
            &tag,
        )
    };
    let mut topics = vec![topic.clone()];
    let (mut base, mut rebound) = (Paces::default(), Paces::default());
    for run in 1..=ctx.repeat {
        if ctx.runs_baseline() {
            let tally = Tally::new(n);
            let (kafka, t, tl) = (ctx.kafka.clone(), topic.clone(), tally.clone());
            run_baseline(&tally, "baseline (no failures)", move |abort| {
                baseline_consume(kafka, t, kit::unique("base"), tl, abort)
            })
            .await?;
            base.clean.push(tally.rate());

            let (retry, dlt) = (
                format!("{topic}-b{run}-retry"),
                format!("{topic}-b{run}-dlt"),
            );
            kit::create_topics(&ctx.kafka, &[&retry, &dlt], ctx.partitions).await?;
            topics.extend([retry.clone(), dlt.clone()]);
            let tally = Tally::new(healthy_n);
            let (kafka, t, tl) = (ctx.kafka.clone(), topic.clone(), tally.clone());
            run_baseline(&tally, "baseline (poisoned)", move |abort| {
                baseline_poison(kafka, t, retry, dlt, tl, abort)
            })
            .await?;
            base.poisoned.push(n as f64 / tally.span());
            base.healthy.push(tally.rate());
        }
        if ctx.runs_rebound() {
            let (clean_policy, mixed_policy) =
                (policy(format!("c{run}")), policy(format!("m{run}")));
            topics.extend(chain_names(&topic, &clean_policy));
            topics.extend(chain_names(&topic, &mixed_policy));
            let tally = Tally::new(n);
            rebound_consume(ctx, &topic, clean_policy, &tally, "rebound (no failures)").await?;
            rebound.clean.push(tally.rate());
            let tally = Tally::new(healthy_n);
            rebound_poisoned(ctx, &topic, mixed_policy, &tally).await?;
            rebound.poisoned.push(n as f64 / tally.span());
            rebound.healthy.push(tally.rate());
        }
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        eprintln!(
            "  run {run}: baseline {:.0}/s fine, {:.0}/s poisoned; rebound {:.0}/s fine, {:.0}/s poisoned",
            last(&base.clean),
            last(&base.poisoned),
            last(&rebound.clean),
            last(&rebound.poisoned)
        );
    }
    println!(
        "{n} records, {} partitions: 1% fail permanently (to the DLT), 5% fail once (retry topic, \
         1 s), {healthy_n} healthy. Pace = main-topic records per second up to the last healthy \
         record handled (so that a failure costing nothing gives 1.00). The baseline writes the \
         same copies with the same ~15 headers (idempotent, acks=all, pipelined, offsets stored \
         in order), so its ratio is what the broker allows a client that does this work.\n",
        ctx.partitions
    );
    let mut table = Table::new(&["run", "median pace records/s", "runs", "poisoned / fine"]);
    if ctx.runs_baseline() {
        base.rows(&mut table, "baseline (hand-written)");
    }
    if ctx.runs_rebound() {
        rebound.rows(&mut table, &format!("Rebound{}", buffered_note(ctx)));
    }
    table.print();
    if ctx.runs_rebound() {
        let r = rebound.ratio();
        let against = if ctx.runs_baseline() {
            format!(
                "; the hand-written baseline: {} ({} vs {})",
                ratio(base.ratio()),
                thousands(median(&base.poisoned)),
                thousands(median(&base.clean))
            )
        } else {
            String::new()
        };
        ctx.target(
            "4. poison isolation",
            "healthy pace ≥ 0.95 × scenario 1",
            format!(
                "{} ({} vs {} records/s){}{against}",
                ratio(r),
                thousands(median(&rebound.poisoned)),
                thousands(median(&rebound.clean)),
                buffered_note(ctx)
            ),
            Some(r >= 0.95),
        );
    }
    ctx.cleanup(&topics).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stored_no_further_than_the_oldest_copy_in_flight() {
        let mut p = InOrder {
            next: 10,
            ..InOrder::default()
        };
        assert_eq!(p.committable(), 10);
        p.in_flight.extend([4, 7]);
        assert_eq!(p.committable(), 4);
        p.in_flight.pop_front();
        assert_eq!(p.committable(), 7);
    }

    #[test]
    fn one_record_in_a_hundred_is_permanent_and_five_transient() {
        let kinds: Vec<&str> = (0..100).map(poison_kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "permanent").count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == "transient").count(), 5);
    }
}
