//! Scenario 2 (every record takes one retry hop) and scenario 3 (delay precision).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rebound::headers as h;
use rebound::naming::TopicChain;
use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy, RELIABLE_PRODUCER};
use tokio_util::sync::CancellationToken;

use crate::happy::run_baseline;
use crate::kit::{self, Tally};
use crate::report::{median, quantile, ratio, thousands, Runs, Table, CONTENDER_COLUMNS};
use crate::Ctx;

/// A policy whose retry topic and DLT are this run's own (`-r<run>-retry`, `-r<run>-dlt`), so
/// that a later run's fresh group does not read an earlier run's copies.
pub fn per_run(policy: RetryPolicy, run: &str) -> RetryPolicy {
    policy
        .retry_suffix(format!("-{run}-retry"))
        .dlt_suffix(format!("-{run}-dlt"))
}

pub fn chain_names(main: &str, policy: &RetryPolicy) -> Vec<String> {
    TopicChain::new(main, policy)
        .topic_names()
        .into_iter()
        .skip(1)
        .map(String::from)
        .collect()
}

/// Delivery reports of the baseline's producer: which source records' copies were acknowledged.
#[derive(Default)]
pub struct Acks {
    acked: Mutex<Vec<(i32, i64)>>,
    failed: AtomicBool,
}

impl Acks {
    /// The sources whose copies were acknowledged since the last call; an error once a copy
    /// failed for good.
    pub fn take(&self) -> Result<Vec<(i32, i64)>> {
        if self.failed.load(Ordering::SeqCst) {
            bail!("baseline: a copy failed");
        }
        Ok(std::mem::take(&mut *self.acked.lock().expect("acks")))
    }
}

pub struct AckContext(Arc<Acks>);

/// The baselines' producer of copies, with Rebound's settings ([`RELIABLE_PRODUCER`]),
/// reporting each copy's source (partition, offset) to the returned [`Acks`].
pub fn copy_producer(kafka: &KafkaConfig) -> Result<(BaseProducer<AckContext>, Arc<Acks>)> {
    let acks = Arc::new(Acks::default());
    let producer = kafka
        .client_config(RELIABLE_PRODUCER)
        .create_with_context(AckContext(acks.clone()))?;
    Ok((producer, acks))
}

/// A copy of `m` for `topic`, same partition, key and payload, with `headers`; its delivery
/// report names `m`.
pub fn copy_of<'a>(
    m: &'a BorrowedMessage<'_>,
    topic: &'a str,
    headers: OwnedHeaders,
) -> BaseRecord<'a, [u8], [u8], Box<(i32, i64)>> {
    let mut copy = BaseRecord::with_opaque_to(topic, Box::new((m.partition(), m.offset())))
        .partition(m.partition())
        .headers(headers);
    if let Some(k) = m.key() {
        copy = copy.key(k);
    }
    if let Some(p) = m.payload() {
        copy = copy.payload(p);
    }
    copy
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<(i32, i64)>;

    fn delivery(&self, result: &DeliveryResult<'_>, source: Box<(i32, i64)>) {
        match result {
            Ok(_) => self.0.acked.lock().expect("acks").push(*source),
            Err((e, _)) => {
                eprintln!("  baseline: a copy was not acknowledged: {e}");
                self.0.failed.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The hand-written one-hop loop, as a careful user writes it: one consumer reads the main topic
/// and the retry topic; a main-topic record "fails" and is copied to the retry topic (same
/// partition) by an idempotent `acks=all` producer, pipelined; its offset is stored once the copy
/// is acknowledged. A retry-topic record succeeds and its offset is stored.
/// With `spring_headers`, each copy carries the ~15 headers Rebound writes (same sizes), to tell
/// the cost of the headers from the cost of the loop.
fn baseline_one_hop(
    kafka: KafkaConfig,
    main: String,
    retry: String,
    spring_headers: bool,
    tally: Arc<Tally>,
    abort: CancellationToken,
) -> Result<()> {
    let group = kit::unique("base-hop");
    let consumer: BaseConsumer = kafka
        .client_config(&kit::baseline_consumer_config(&group))
        .create()?;
    consumer.subscribe(&[&main, &retry])?;
    let (producer, acks) = copy_producer(&kafka)?;
    let attempt = 2i32.to_be_bytes();
    while !tally.done.is_cancelled() && !abort.is_cancelled() {
        producer.poll(Duration::ZERO);
        let acked = acks.take()?;
        if !acked.is_empty() {
            let mut highest: HashMap<i32, i64> = HashMap::new();
            for (p, o) in acked {
                let e = highest.entry(p).or_insert(o);
                *e = (*e).max(o);
            }
            let mut list = TopicPartitionList::new();
            for (p, o) in highest {
                list.add_partition_offset(&main, p, Offset::Offset(o + 1))?;
            }
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
        if m.topic() == main {
            tally.start();
            let headers = if spring_headers {
                kit::hop_headers(
                    &main,
                    m.partition(),
                    m.offset(),
                    Some(rebound::EpochMillis::now().as_i64()),
                )
                .to_kafka()
            } else {
                OwnedHeaders::new().insert(Header {
                    key: h::ATTEMPTS,
                    value: Some(&attempt[..]),
                })
            };
            kit::send_waiting(&producer, copy_of(&m, &retry, headers))?;
        } else {
            std::hint::black_box(m.payload());
            tally.tick();
            consumer.store_offset_from_message(&m)?;
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    Ok(())
}

/// Rebound with a handler that fails attempt 1 (transient) and succeeds on attempt 2.
async fn rebound_one_hop(
    ctx: &Ctx,
    main: &str,
    policy: RetryPolicy,
    tally: &Arc<Tally>,
) -> Result<()> {
    let handler_tally = tally.clone();
    let consumer = ctx
        .rebound(main, "rebound-hop")
        .policy(policy)
        .handler(move |record: Record| {
            let tally = handler_tally.clone();
            async move {
                if record.attempt() == 1 {
                    tally.start();
                    return Err(Failure::transient(rebound::Message(
                        "first attempt fails".into(),
                    )));
                }
                std::hint::black_box(&record.payload());
                tally.tick();
                Ok(())
            }
        })
        .build()?;
    kit::run_rebound(consumer, tally, "rebound one hop").await
}

/// Scenario 2: every record fails once, then succeeds from the retry topic (0 ms back-off).
/// Throughput = records fully done (second attempt succeeded) per second.
pub async fn one_hop(ctx: &Ctx) -> Result<()> {
    let n = ctx.hop_records;
    let main = kit::unique("hop");
    kit::create_topics(&ctx.kafka, &[&main], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &main, n, |i| {
        kit::plain(i, ctx.partitions, "ok")
    })
    .await?;
    let mut topics = vec![main.clone()];
    let (mut base, mut heavy, mut rebound) = (Runs::default(), Runs::default(), Runs::default());
    let mut spring = Runs::default();
    for run in 1..=ctx.repeat {
        if ctx.runs_baseline() {
            for (spring_headers, runs) in [(false, &mut base), (true, &mut heavy)] {
                let retry = format!("{main}-base{run}{}", if spring_headers { "h" } else { "" });
                kit::create_topics(&ctx.kafka, &[&retry], ctx.partitions).await?;
                topics.push(retry.clone());
                let tally = Tally::new(n);
                let (kafka, m, tl) = (ctx.kafka.clone(), main.clone(), tally.clone());
                let meter = ctx.meter();
                run_baseline(&tally, "baseline one hop", move |abort| {
                    baseline_one_hop(kafka, m, retry, spring_headers, tl, abort)
                })
                .await?;
                runs.push(tally.rate(), meter.per_record(n));
            }
        }
        if ctx.runs_rebound() {
            let policy = per_run(
                RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::ZERO)),
                &format!("r{run}"),
            );
            topics.extend(chain_names(&main, &policy));
            let tally = Tally::new(n);
            let meter = ctx.meter();
            rebound_one_hop(ctx, &main, policy, &tally).await?;
            rebound.push(tally.rate(), meter.per_record(n));
        }
        if let Some(peer) = &ctx.spring {
            let spec = crate::spring::Spec::one_hop(&main, run, n);
            topics.extend(spec.chain());
            if let Some(out) = crate::spring::contend(ctx, peer, &spec).await {
                spring.push(out.rate, out.cpu);
            }
        }
        eprintln!(
            "  run {run}: baseline {:.0}/s, baseline with headers {:.0}/s, rebound {:.0}/s, \
             spring {:.0}/s",
            base.rate.last().copied().unwrap_or(f64::NAN),
            heavy.rate.last().copied().unwrap_or(f64::NAN),
            rebound.rate.last().copied().unwrap_or(f64::NAN),
            spring.rate.last().copied().unwrap_or(f64::NAN)
        );
    }
    let r = rebound.median() / base.median();
    println!(
        "{n} records, {} partitions; attempt 1 fails, attempt 2 (from the retry topic, 0 ms \
         back-off) succeeds. Records fully done per second, from the first attempt-1 handled to \
         the last attempt-2 handled.\n",
        ctx.partitions
    );
    let mut table = Table::new(&CONTENDER_COLUMNS);
    table.row(base.row(
        "baseline: consume → produce (idempotent, acks=all, pipelined) → store offset on ack; \
         the same consumer reads the second topic",
        String::new(),
    ));
    table.row(heavy.row(
        "the same baseline, each copy carrying Rebound's ~15 Spring/Rebound headers",
        format!(
            "(Rebound/this: {})",
            ratio(rebound.median() / heavy.median())
        ),
    ));
    table.row(rebound.row(
        &format!(
            "Rebound: 2 attempts, fixed 0 ms back-off (`-retry` topic){}",
            crate::happy::buffered_note(ctx)
        ),
        ratio(r),
    ));
    crate::spring::row(ctx, &mut table, &spring, &rebound);
    table.print();
    ctx.target(
        "2. one retry hop",
        "Rebound ≥ 0.85 × baseline",
        format!(
            "{} ({} vs {} records/s){}",
            ratio(r),
            thousands(rebound.median()),
            thousands(base.median()),
            crate::happy::buffered_note(ctx)
        ),
        (!r.is_nan()).then_some(r >= 0.85),
    );
    crate::spring::target(ctx, "2. one retry hop", &spring, &rebound);
    ctx.cleanup(&topics).await;
    Ok(())
}

/// Scenario 3: every record fails on attempt 1 and goes through a 1 s retry topic; on attempt 2
/// the handler notes how late it runs compared with the due time in the record's
/// `retry_topic-backoff-timestamp` header.
pub async fn delay(ctx: &Ctx) -> Result<()> {
    let n = ctx.delay_records;
    let main = kit::unique("delay");
    kit::create_topics(&ctx.kafka, &[&main], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &main, n, |i| {
        kit::plain(i, ctx.partitions, "ok")
    })
    .await?;
    let mut topics = vec![main.clone()];
    let mut table = Table::new(&[
        "run",
        "p50 ms",
        "p99 ms",
        "max ms",
        "min ms",
        "handled early",
        "handled",
        "first failure → last handled (s)",
    ]);
    let (mut p99s, mut spans, mut early_total) = (Vec::new(), Vec::new(), 0usize);
    let mut all = Vec::new();
    for run in 1..=ctx.repeat {
        let policy = per_run(
            RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(1))),
            &format!("r{run}"),
        );
        topics.extend(chain_names(&main, &policy));
        let tally = Tally::new(n);
        let lateness = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
        let (handler_tally, handler_lateness) = (tally.clone(), lateness.clone());
        let consumer = ctx
            .rebound(&main, "rebound-delay")
            .policy(policy)
            .handler(move |record: Record| {
                let now_us = kit::now_micros();
                let tally = handler_tally.clone();
                let lateness = handler_lateness.clone();
                async move {
                    if record.attempt() == 1 {
                        tally.start();
                        return Err(Failure::transient(rebound::Message(
                            "first attempt fails".into(),
                        )));
                    }
                    let due_ms = record
                        .headers()
                        .last(h::BACKOFF_TIMESTAMP)
                        .and_then(|b| h::decode_big_integer(h::BACKOFF_TIMESTAMP, b).ok());
                    if let Some(due_ms) = due_ms {
                        let late_ms = (now_us - due_ms * 1000) as f64 / 1000.0;
                        lateness.lock().expect("lateness").push(late_ms);
                    }
                    tally.tick();
                    Ok(())
                }
            })
            .build()?;
        kit::run_rebound(consumer, &tally, "rebound delay").await?;
        let mut v = std::mem::take(&mut *lateness.lock().expect("lateness"));
        v.sort_by(f64::total_cmp);
        let early = v.iter().filter(|x| **x < 0.0).count();
        early_total += early;
        p99s.push(quantile(&v, 0.99));
        table.row(vec![
            run.to_string(),
            format!("{:.1}", quantile(&v, 0.5)),
            format!("{:.1}", quantile(&v, 0.99)),
            format!("{:.1}", quantile(&v, 1.0)),
            format!("{:.1}", v.first().copied().unwrap_or(f64::NAN)),
            early.to_string(),
            v.len().to_string(),
            format!("{:.2}", tally.span()),
        ]);
        spans.push(tally.span());
        eprintln!(
            "  run {run}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, early {early}",
            quantile(&v, 0.5),
            quantile(&v, 0.99),
            quantile(&v, 1.0)
        );
        all.extend(v);
    }
    all.sort_by(f64::total_cmp);
    table.row(vec![
        "all runs".into(),
        format!("{:.1}", quantile(&all, 0.5)),
        format!("{:.1}", quantile(&all, 0.99)),
        format!("{:.1}", quantile(&all, 1.0)),
        format!("{:.1}", all.first().copied().unwrap_or(f64::NAN)),
        early_total.to_string(),
        all.len().to_string(),
        format!("{:.2} (median)", median(&spans)),
    ]);
    let spring_p99 = crate::spring::delay_rows(ctx, &main, n, &mut table, &mut topics).await;
    println!(
        "{n} records over {} partitions, all fail on attempt 1 and wait 1 s in a retry topic. \
         Lateness = handled time − due time (the `retry_topic-backoff-timestamp` header, epoch ms; \
         Rebound rounds the due time up to the next ms, so a lateness under 1 ms is within its \
         resolution). The last column is the whole trip of the burst: from the first attempt-1 \
         failure to the last attempt-2 handled (1 s of it is the delay).\n",
        ctx.partitions
    );
    table.print();
    let p99 = median(&p99s);
    if ctx.spring.is_some() {
        println!(
            "Spring's rows: the same records through its `@RetryableTopic` chain (2 attempts, \
             fixed 1 s back-off, one `-retry` topic), lateness taken in its listener against the \
             same header. p99 lateness, median of runs: Rebound {p99:.1} ms, Spring \
             {spring_p99:.1} ms.\n"
        );
    }
    ctx.target(
        "3. delay precision",
        "p99 lateness ≤ 25 ms, none early",
        format!(
            "p99 {p99:.1} ms (median of runs), max {:.1} ms, {early_total} early",
            quantile(&all, 1.0)
        ),
        Some(p99 <= 25.0 && early_total == 0),
    );
    if let Some(peer) = &ctx.spring {
        ctx.target(
            "3. delay precision",
            "Rebound vs Spring Kafka p99 lateness (no target)",
            format!(
                "p99 {p99:.1} ms vs {spring_p99:.1} ms (medians of runs), {}",
                peer.label()
            ),
            None,
        );
    }
    ctx.cleanup(&topics).await;
    Ok(())
}
