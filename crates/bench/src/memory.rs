//! Scenario 6: peak RSS of a worker process holding a backlog behind a long delay.
//!
//! The retry topic is filled with copies due in an hour; a Rebound worker (this binary,
//! re-executed with the hidden `mem-worker` subcommand) reads what it will and holds it. The
//! parent samples the child's `/proc/<pid>/status` until its RSS stops growing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rebound::naming::TopicChain;
use rebound::{Backoff, KafkaConfig, Record, RetryPolicy, RetryingConsumer};

use crate::kit;
use crate::report::Table;
use crate::Ctx;

const MIB: f64 = 1024.0 * 1024.0;
const TARGET_MIB: f64 = 64.0;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Main topic of the chain (its `-retry` topic holds the backlog).
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    /// Records buffered per partition before it is paused (the library's default if absent).
    #[arg(long)]
    max_buffered: Option<usize>,
}

/// The child: a Rebound worker with a 1 h fixed back-off, run until SIGTERM.
pub async fn worker(kafka: KafkaConfig, args: WorkerArgs) -> Result<()> {
    let mut builder = RetryingConsumer::builder(kafka, &args.topic, &args.group)
        .policy(worker_policy())
        .handler(|_: Record| async { Ok(()) });
    if let Some(n) = args.max_buffered {
        builder = builder.max_buffered(n);
    }
    builder.build()?.run(rebound::shutdown_signal()).await?;
    Ok(())
}

/// The child's policy: one retry topic, whose records are due in an hour (they stay in memory).
fn worker_policy() -> RetryPolicy {
    RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(3600)))
}

/// `VmRSS` and `VmHWM` of `pid`, in bytes.
fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

struct Sample {
    peak: u64,
    settled: u64,
    secs: f64,
}

/// Runs a worker on `main` with extra `-X` properties until its RSS has not grown by more than
/// 1 MiB for 8 s (and at least 15 s in all, the group join included).
async fn measure(
    ctx: &Ctx,
    main: &str,
    extra: &[String],
    max_buffered: Option<usize>,
) -> Result<Sample> {
    let exe = std::env::current_exe().context("where is this binary?")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--brokers").arg(ctx.kafka.brokers());
    for p in ctx.properties.iter().chain(extra) {
        cmd.arg("-X").arg(p);
    }
    cmd.args(["mem-worker", "--topic", main, "--group"])
        .arg(kit::unique("mem"))
        .stdin(Stdio::null());
    if let Some(n) = max_buffered {
        cmd.arg("--max-buffered").arg(n.to_string());
    }
    let mut child = cmd.spawn().context("could not start the worker")?;
    let pid = child.id();
    let started = Instant::now();
    let (mut max_rss, mut grew_at) = (0u64, Instant::now());
    let mut peak = 0;
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(status) = child.try_wait()? {
            break Err(anyhow::anyhow!("the worker exited early ({status})"));
        }
        let Some((now, hwm)) = rss(pid) else {
            continue;
        };
        peak = hwm;
        if now > max_rss + (MIB as u64) {
            max_rss = now;
            grew_at = Instant::now();
        }
        max_rss = max_rss.max(now);
        let settled = grew_at.elapsed() >= Duration::from_secs(8)
            && started.elapsed() >= Duration::from_secs(15);
        if settled {
            break Ok(now);
        }
        if started.elapsed() > Duration::from_secs(180) {
            break Ok(now);
        }
    };
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = outcome?;
    Ok(Sample {
        peak,
        settled,
        secs: started.elapsed().as_secs_f64(),
    })
}

pub async fn memory(ctx: &Ctx) -> Result<()> {
    let mut variants: Vec<(String, Vec<String>, Option<usize>)> =
        vec![("library defaults".to_string(), Vec::new(), None)];
    for spec in &ctx.mem_variants {
        let (mut label, mut properties, mut buffered) = (Vec::new(), Vec::new(), None);
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.strip_prefix("buffered=") {
                Some(n) => {
                    let n: usize = n
                        .parse()
                        .with_context(|| format!("bad buffered= in {spec:?}"))?;
                    buffered = Some(n);
                    label.push(format!("`max_buffered({n})`"));
                }
                None => {
                    properties.push(item.to_string());
                    label.push(format!("`{item}`"));
                }
            }
        }
        variants.push((label.join(" "), properties, buffered));
    }
    let mut table = Table::new(&[
        "backlog",
        "worker settings",
        "peak RSS (VmHWM)",
        "RSS settled",
        "RSS on an empty chain",
    ]);
    let mut topics = Vec::new();
    // What each variant takes with nothing to read: the check below needs a baseline that does
    // not depend on how fast the broker is (a sample a second after start is already past the
    // backlog on a fast broker).
    let empty = kit::unique("mem-empty");
    let empty_retry = format!("{empty}-retry");
    kit::create_topics(&ctx.kafka, &[&empty, &empty_retry], ctx.partitions).await?;
    topics.extend([empty.clone(), empty_retry, format!("{empty}-dlt")]);
    let mut idle = Vec::new();
    for (label, extra, buffered) in &variants {
        let s = measure(ctx, &empty, extra, *buffered).await?;
        eprintln!(
            "  empty chain, {label}: settled {:.1} MiB",
            s.settled as f64 / MIB
        );
        idle.push(s.settled);
    }
    let mut peaks: Vec<(u64, usize, f64)> = Vec::new();
    for &size in &ctx.backlog {
        let main = kit::unique(&format!("mem{size}"));
        let chain = TopicChain::new(&main, &worker_policy());
        let retry = chain.retries[0].name.clone();
        kit::create_topics(&ctx.kafka, &[&main, &retry], ctx.partitions).await?;
        topics.extend(chain.topic_names().into_iter().map(String::from));
        let due = rebound::EpochMillis::now().as_i64() + 3_600_000;
        let partitions = ctx.partitions;
        kit::fill(&ctx.kafka, &retry, size, |i| {
            kit::copy(i, partitions, &main, Some(due))
        })
        .await?;
        for (v, (label, extra, buffered)) in variants.iter().enumerate() {
            let s = measure(ctx, &main, extra, *buffered).await?;
            eprintln!(
                "  backlog {size}, {label}: peak {:.1} MiB, settled {:.1} MiB, empty chain {:.1} MiB ({:.0} s)",
                s.peak as f64 / MIB,
                s.settled as f64 / MIB,
                idle[v] as f64 / MIB,
                s.secs
            );
            if s.settled < idle[v] + 2 * MIB as u64 {
                bail!(
                    "the worker's RSS hardly exceeds an idle worker's ({:.1} vs {:.1} MiB): did it read the backlog?",
                    s.settled as f64 / MIB,
                    idle[v] as f64 / MIB,
                );
            }
            peaks.push((size, v, s.peak as f64 / MIB));
            table.row(vec![
                size.to_string(),
                label.clone(),
                format!("{:.1} MiB", s.peak as f64 / MIB),
                format!("{:.1} MiB", s.settled as f64 / MIB),
                format!("{:.1} MiB", idle[v] as f64 / MIB),
            ]);
        }
    }
    println!(
        "A retry topic ({} partitions) holds the backlog, every record due in an hour, with \
         Rebound's hop headers (~15 headers, 200-byte payload). One worker process per row (and one per \
         setting on an empty chain, for the last column), sampled every 250 ms until its RSS stopped growing for 8 s. One run per row (memory is \
         not noisy).\n",
        ctx.partitions
    );
    table.print();
    for (v, (label, _, _)) in variants.iter().enumerate() {
        let of: Vec<(u64, f64)> = peaks
            .iter()
            .filter(|(_, vv, _)| *vv == v)
            .map(|(s, _, p)| (*s, *p))
            .collect();
        let (Some(small), Some(large)) = (of.first(), of.last()) else {
            continue;
        };
        let flat = large.1 <= small.1 * 1.10 + 2.0;
        ctx.target(
            "6. memory",
            &format!("≤ {TARGET_MIB} MiB and flat ({label})"),
            format!(
                "{:.1} MiB at {} vs {:.1} MiB at {}",
                small.1, small.0, large.1, large.0
            ),
            Some(large.1 <= TARGET_MIB && small.1 <= TARGET_MIB && flat),
        );
    }
    ctx.cleanup(&topics).await;
    Ok(())
}
