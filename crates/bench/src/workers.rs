//! Scenario 1c: the happy path with one worker process, then two in the same consumer group.
//!
//! Each worker is this binary, re-executed with the hidden `throughput-worker` subcommand, running
//! either the hand-written baseline consumer or Rebound. A worker prints its progress on stdout
//! (`progress <count> <first µs> <last µs>`, epoch microseconds, every 20 ms, and `done ...` once
//! stopped). The parent knows the group is through when the group's committed offsets reach the
//! topic's high watermarks, whichever process handled what.
//!
//! Two processes do not join the group at the same instant: the first may handle records alone
//! for a while, and a rebalance hands some records to the other process again. So the figure that
//! says how a second process scales is the group's rate once every process has handled a record;
//! the head start and the records handled twice are reported beside it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rebound::{KafkaConfig, Record, RetryPolicy, RetryingConsumer};
use tokio_util::sync::CancellationToken;

use crate::happy::{baseline_consume, buffered_note};
use crate::kit::{self, Tally};
use crate::report::{median, ratio, runs, thousands, Table};
use crate::Ctx;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum Contender {
    Baseline,
    Rebound,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    #[arg(long, value_enum)]
    contender: Contender,
    /// Records buffered per partition before it is paused (Rebound's default if absent).
    #[arg(long)]
    max_buffered: Option<usize>,
}

/// The child: consumes `topic` in `group` with a no-op handler until SIGTERM, printing progress.
pub async fn worker(kafka: KafkaConfig, args: WorkerArgs) -> Result<()> {
    let tally = Tally::new(u64::MAX);
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            rebound::shutdown_signal().await;
            stop.cancel();
        }
    });
    let reporter = tokio::spawn({
        let (tally, stop) = (tally.clone(), stop.clone());
        async move {
            let mut shown = 0;
            while !stop.is_cancelled() {
                let count = tally.count();
                if count != shown {
                    shown = count;
                    print_progress("progress", &tally);
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    });
    match args.contender {
        Contender::Baseline => {
            let (tally, abort) = (tally.clone(), stop.clone());
            kit::blocking(move || baseline_consume(kafka, args.topic, args.group, tally, abort))
                .await?
        }
        Contender::Rebound => {
            let handler_tally = tally.clone();
            let mut builder = RetryingConsumer::builder(kafka, &args.topic, &args.group)
                .policy(RetryPolicy::default())
                .handler(move |record: Record| {
                    let tally = handler_tally.clone();
                    async move {
                        std::hint::black_box(&record.payload());
                        tally.tick();
                        Ok(())
                    }
                });
            if let Some(n) = args.max_buffered {
                builder = builder.max_buffered(n);
            }
            builder.build()?.run(stop.clone().cancelled_owned()).await?;
        }
    }
    stop.cancel();
    let _ = reporter.await;
    print_progress("done", &tally);
    Ok(())
}

fn print_progress(what: &str, tally: &Tally) {
    let (first, last) = tally.epoch_span().unwrap_or((0, 0));
    println!("{what} {} {first} {last}", tally.count());
}

/// What the parent knows of one worker, from its stdout.
#[derive(Default)]
struct Progress {
    /// (last handled, epoch µs; records handled by then), one per progress line.
    samples: Vec<(i64, u64)>,
    first_us: Option<i64>,
    last_us: i64,
    count: u64,
    done: bool,
}

impl Progress {
    fn read(&mut self, line: &str) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [what, count, first, last] = fields[..] else {
            return;
        };
        let (Ok(count), Ok(first), Ok(last)) = (
            count.parse::<u64>(),
            first.parse::<i64>(),
            last.parse::<i64>(),
        ) else {
            return;
        };
        if count > 0 {
            self.first_us = Some(first);
            self.last_us = last;
            self.samples.push((last, count));
        }
        self.count = count;
        self.done |= what == "done";
    }

    /// Records this worker had handled by `t` (epoch µs), to the resolution of its reports.
    fn count_at(&self, t: i64) -> u64 {
        self.samples
            .iter()
            .take_while(|(last, _)| *last <= t)
            .last()
            .map_or(0, |(_, count)| *count)
    }
}

struct Worker {
    process: std::process::Child,
    progress: Arc<Mutex<Progress>>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn_worker(ctx: &Ctx, topic: &str, group: &str, contender: Contender) -> Result<Worker> {
    let exe = std::env::current_exe().context("where is this binary?")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--brokers").arg(ctx.kafka.brokers());
    for p in &ctx.properties {
        cmd.arg("-X").arg(p);
    }
    cmd.args(["throughput-worker", "--topic", topic, "--group", group])
        .arg("--contender")
        .arg(match contender {
            Contender::Baseline => "baseline",
            Contender::Rebound => "rebound",
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if let Some(n) = ctx.max_buffered {
        cmd.arg("--max-buffered").arg(n.to_string());
    }
    let mut process = cmd.spawn().context("could not start a worker process")?;
    let stdout = process.stdout.take().context("the worker's stdout")?;
    let progress = Arc::new(Mutex::new(Progress::default()));
    let reader = std::thread::spawn({
        let progress = progress.clone();
        move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                progress.lock().expect("progress").read(&line);
            }
        }
    });
    Ok(Worker {
        process,
        progress,
        reader,
    })
}

/// True when `group` has committed, on every partition, the high watermark in `highs`.
fn group_is_through(checker: &BaseConsumer, topic: &str, highs: &[i64]) -> bool {
    let mut list = TopicPartitionList::new();
    for p in 0..highs.len() as i32 {
        list.add_partition(topic, p);
    }
    let Ok(committed) = checker.committed_offsets(list, Duration::from_secs(10)) else {
        return false;
    };
    committed.elements().iter().all(|e| match e.offset() {
        Offset::Offset(o) => o >= highs[e.partition() as usize],
        _ => false,
    })
}

/// One run of `processes` workers of `contender` in a fresh group over `topic`.
struct Outcome {
    /// Records per second of the group once every worker had handled a record.
    steady: f64,
    /// Records per second from the first record handled to the last.
    whole: f64,
    /// How long the first worker handled records alone (s).
    head_start: f64,
    /// Records handled more than once (a rebalance hands them to another worker).
    twice: u64,
    /// CPU of the workers and of the broker over the run, µs per record.
    cpu: (f64, f64),
}

async fn run_group(
    ctx: &Ctx,
    topic: &str,
    highs: &[i64],
    contender: Contender,
    processes: usize,
) -> Result<Outcome> {
    let n: i64 = highs.iter().sum();
    let group = kit::unique("workers");
    let broker0 = ctx.broker_pid.as_deref().and_then(kit::cpu_seconds);
    let mut workers = Vec::new();
    for _ in 0..processes {
        workers.push(spawn_worker(ctx, topic, &group, contender)?);
    }
    let checker: BaseConsumer = ctx
        .kafka
        .client_config(&[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
        ])
        .create()?;
    let (mut seen, mut since) = (0, Instant::now());
    let mut client_cpu = 0.0;
    let waited: Result<()> = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some((i, status)) = workers
            .iter_mut()
            .enumerate()
            .find_map(|(i, w)| w.process.try_wait().ok().flatten().map(|s| (i, s)))
        {
            break Err(anyhow::anyhow!("worker {i} exited early ({status})"));
        }
        let total: u64 = workers
            .iter()
            .map(|w| w.progress.lock().expect("progress").count)
            .sum();
        if total != seen {
            (seen, since) = (total, Instant::now());
        } else if since.elapsed() > Duration::from_secs(90) {
            break Err(anyhow::anyhow!(
                "{processes} {contender:?} workers stalled at {total} of {n} records"
            ));
        }
        if total >= n as u64 && group_is_through(&checker, topic, highs) {
            client_cpu = workers
                .iter()
                .map(|w| kit::cpu_seconds(&w.process.id().to_string()).unwrap_or(f64::NAN))
                .sum();
            break Ok(());
        }
    };
    let broker_cpu = match (ctx.broker_pid.as_deref(), broker0) {
        (Some(pid), Some(b0)) => kit::cpu_seconds(pid).map_or(f64::NAN, |b| b - b0),
        _ => f64::NAN,
    };
    for w in &workers {
        let _ = Command::new("kill")
            .args(["-TERM", &w.process.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for w in &mut workers {
        while w.process.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = w.process.kill();
                let _ = w.process.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    waited?;
    let mut progress = Vec::new();
    for w in workers {
        let _ = w.reader.join();
        let p = Arc::try_unwrap(w.progress)
            .map_err(|_| anyhow::anyhow!("a worker's reader is still running"))?
            .into_inner()
            .expect("progress");
        if !p.done {
            eprintln!("  (a worker did not report its final count; using its last progress)");
        }
        progress.push(p);
    }
    let firsts: Vec<i64> = progress.iter().filter_map(|p| p.first_us).collect();
    let Some(&first) = firsts.iter().min() else {
        bail!("no worker handled a record");
    };
    let all_joined = firsts.len() == processes;
    if !all_joined {
        eprintln!(
            "  only {} of {processes} workers handled a record: the group was through before \
             every process had joined (use more --worker-records)",
            firsts.len()
        );
    }
    let all_in = *firsts.iter().max().expect("a worker");
    let end = progress.iter().map(|p| p.last_us).max().unwrap_or(first);
    let total: u64 = progress.iter().map(|p| p.count).sum();
    let before: u64 = progress.iter().map(|p| p.count_at(all_in)).sum();
    let secs = |us: i64| us as f64 / 1e6;
    let per_record = |cpu: f64| cpu * 1e6 / n as f64;
    Ok(Outcome {
        // No figure for a group that never had every process at work.
        steady: if all_joined {
            (total - before) as f64 / secs(end - all_in)
        } else {
            f64::NAN
        },
        whole: total as f64 / secs(end - first),
        head_start: secs(all_in - first),
        twice: total.saturating_sub(n as u64),
        cpu: (per_record(client_cpu), per_record(broker_cpu)),
    })
}

/// Scenario 1c: one worker process, then two, for each contender, `repeat` times.
pub async fn workers(ctx: &Ctx) -> Result<()> {
    let topic = kit::unique("workers");
    kit::create_topics(&ctx.kafka, &[&topic], ctx.partitions).await?;
    kit::fill(&ctx.kafka, &topic, ctx.worker_records, |i| {
        kit::plain(i, ctx.partitions, "ok")
    })
    .await?;
    let highs: Vec<i64> = rebound_ops::reader::blocking::watermarks(&ctx.kafka, &topic)?
        .into_iter()
        .map(|(_, _, high)| high)
        .collect();
    let mut contenders = Vec::new();
    if ctx.runs_baseline() {
        contenders.push(Contender::Baseline);
    }
    if ctx.runs_rebound() {
        contenders.push(Contender::Rebound);
    }
    // outcomes[contender][processes - 1] = one Outcome per run
    let mut outcomes: Vec<[Vec<Outcome>; 2]> =
        contenders.iter().map(|_| Default::default()).collect();
    for run in 1..=ctx.repeat {
        for (c, contender) in contenders.iter().enumerate() {
            for processes in [1, 2] {
                let o = run_group(ctx, &topic, &highs, *contender, processes).await?;
                eprintln!(
                    "  run {run}, {contender:?} x {processes}: {:.0}/s once all in, {:.0}/s whole, \
                     head start {:.1} s, {} twice",
                    o.steady, o.whole, o.head_start, o.twice
                );
                outcomes[c][processes - 1].push(o);
            }
        }
    }
    let mut table = Table::new(&[
        "contender",
        "processes",
        "records/s once all hold partitions",
        "runs",
        "whole run records/s",
        "head start of the first (s)",
        "handled twice",
        "workers' CPU µs/record",
        "broker CPU µs/record",
        "2 processes / 1",
    ]);
    let mut steady_medians = Vec::new();
    for (c, contender) in contenders.iter().enumerate() {
        let one = median(&outcomes[c][0].iter().map(|o| o.steady).collect::<Vec<_>>());
        for processes in [1usize, 2] {
            let of = &outcomes[c][processes - 1];
            let pick = |f: &dyn Fn(&Outcome) -> f64| median(&of.iter().map(f).collect::<Vec<_>>());
            let steady: Vec<f64> = of.iter().map(|o| o.steady).collect();
            table.row(vec![
                match contender {
                    Contender::Baseline => "baseline: rdkafka BaseConsumer".to_string(),
                    Contender::Rebound => format!("Rebound{}", buffered_note(ctx)),
                },
                processes.to_string(),
                thousands(median(&steady)),
                runs(&steady, thousands),
                thousands(pick(&|o| o.whole)),
                format!("{:.1}", pick(&|o| o.head_start)),
                thousands(pick(&|o| o.twice as f64)),
                format!("{:.0}", pick(&|o| o.cpu.0)),
                format!("{:.0}", pick(&|o| o.cpu.1)),
                if processes == 2 {
                    ratio(median(&steady) / one)
                } else {
                    String::new()
                },
            ]);
            steady_medians.push((*contender, processes, median(&steady)));
        }
    }
    println!(
        "{} records of 200 bytes, {} partitions, no-op handler. Each row is a fresh consumer \
         group of worker processes (this binary re-executed), medians of {} runs. \"Once all \
         hold partitions\" counts from the moment the last process to join handled its first \
         record; the group is through when its committed offsets reach the high watermarks. \
         CPU covers each whole run, group join included.\n",
        ctx.worker_records, ctx.partitions, ctx.repeat
    );
    table.print();
    let growth = |c: Contender| {
        let of = |p: usize| {
            steady_medians
                .iter()
                .find(|(cc, pp, _)| *cc == c && *pp == p)
                .map_or(f64::NAN, |(_, _, r)| *r)
        };
        of(2) / of(1)
    };
    ctx.target(
        "1c. a second worker process",
        "report",
        format!(
            "2 processes / 1: Rebound {}, baseline {}",
            ratio(growth(Contender::Rebound)),
            ratio(growth(Contender::Baseline))
        ),
        None,
    );
    ctx.cleanup(&[topic]).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_give_the_count_at_any_time() {
        let mut p = Progress::default();
        p.read("progress 10 1000 1500");
        p.read("progress 30 1000 2500");
        p.read("garbage");
        p.read("done 35 1000 3000");
        assert_eq!(
            (p.count, p.first_us, p.last_us, p.done),
            (35, Some(1000), 3000, true)
        );
        assert_eq!(p.count_at(999), 0);
        assert_eq!(p.count_at(1500), 10);
        assert_eq!(p.count_at(2999), 30);
        assert_eq!(p.count_at(3000), 35);
    }
}
