//! `rebound-bench`: what Rebound costs compared with the best a user could hand-write with
//! rdkafka, measured back to back on the same broker and the same topic contents (issue 6).
//!
//! Run it with `cargo xtask bench [ARGS]`, which starts the test broker first. Figures and the
//! exact commands are recorded in `BENCHMARKS.md`.

// Every module is private to this binary, so `pub` in them already means "this crate": the
// lint would only ask to spell it `pub(crate)` everywhere.
#![allow(unreachable_pub)]

mod api;
mod broker;
mod concurrency;
mod console;
mod happy;
mod kit;
mod memory;
mod one_hop;
mod poison;
mod redrive;
mod report;
mod smtp;
mod spring;
mod workers;

use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rebound::KafkaConfig;

/// Benchmarks Rebound against hand-written rdkafka loops on a real broker.
///
/// Each scenario produces its records once into fresh topics, then runs the baseline and Rebound
/// back to back on the same contents, each with its own fresh consumer group, `--repeat` times,
/// and prints the medians and the ratio Rebound/baseline as Markdown tables.
///
/// Throughput is measured from the first record handled to the last one handled: the group join
/// is not counted.
#[derive(Parser)]
#[command(name = "rebound-bench", version)]
struct Cli {
    /// Records of the throughput scenarios (happy, scaling, workers, poison); the other sizes follow it.
    #[arg(long, default_value_t = 500_000)]
    records: u64,
    /// Partitions of the topics (scaling runs 1, 4 and 8 whatever this says).
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Runs of each contender; the tables show the median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Scenarios to run, comma-separated, or `all`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    scenario: Vec<Scenario>,
    /// Small sizes for a smoke run, not for figures (20k records, 2k one-hop, 4k dead letters,
    /// 2k delayed, 20k/200k backlog, 3 s of API load; the second-worker scenario keeps 400k).
    #[arg(long)]
    quick: bool,
    /// Bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Run on a fresh broker of the benchmark's own (REBOUND_BROKER's flavour, Kafka by default;
    /// free ports, deleted at the end) instead of --brokers; on Tansu with the header index Tansu
    /// 0.6.0 lacks (see BENCHMARKS.md). Recommended: the shared broker's history skews the
    /// figures, and a benchmark's load slows the broker for everyone.
    #[arg(long)]
    private_broker: bool,
    /// With --private-broker: leave Tansu's schema as it ships (no index on its header table).
    #[arg(long, requires = "private_broker")]
    no_header_index: bool,
    /// A librdkafka property for every client, baselines and Rebound alike (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    property: Vec<String>,
    /// Records of the one-hop scenario (default: --records / 10, so 50k: a hop costs much more
    /// than a read on Tansu).
    #[arg(long)]
    hop_records: Option<u64>,
    /// Records of the second-worker scenario (default: 4 x --records, at least 400k): the second
    /// process joins the group 3-8 s after the first starts, so the topic must outlast that.
    #[arg(long)]
    worker_records: Option<u64>,
    /// Records through the 1 s retry topic in the delay scenario.
    #[arg(long)]
    delay_records: Option<u64>,
    /// Dead letters in the redrive scenario (default: --records / 5, so 100k).
    #[arg(long)]
    dead_letters: Option<u64>,
    /// Records per second asked of the rate-limited redrive.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Dead letters redriven at --rate.
    #[arg(long)]
    rate_records: Option<u64>,
    /// Backlog sizes of the memory scenario, comma-separated.
    #[arg(long, value_delimiter = ',')]
    backlog: Vec<u64>,
    /// An extra memory run per value (repeatable), to show which settings bound the worker's
    /// memory: comma-separated librdkafka `key=value` properties, and `buffered=N` for the
    /// consumer's `max_buffered(N)`. Example: `buffered=250,queued.max.messages.kbytes=4096`.
    #[arg(long, value_name = "SETTINGS")]
    mem_variant: Vec<String>,
    /// `max_buffered` of every Rebound consumer of scenarios 1-4 (the library's default if
    /// absent), to see what its flow control costs.
    #[arg(long)]
    max_buffered: Option<usize>,
    /// `max_copies_in_flight` of every Rebound consumer of scenarios 1-4 (the library's default
    /// if absent), to see what bounding the copies of failed records costs.
    #[arg(long)]
    max_copies_in_flight: Option<usize>,
    /// Which contenders scenarios 1-3 run, comma-separated (`rebound` alone is handy under a
    /// profiler). `spring` adds the scenario's Spring Kafka service (interop/spring-email, built by
    /// `cargo run -p interop --bin build-spring-peer`) to scenarios 1-3; `all` is
    /// `baseline,rebound,spring`. Scenarios 4 and 1c run the baseline and Rebound as asked here.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "both")]
    contenders: Vec<Contender>,
    /// Seconds a Spring Kafka run may take from its assignment before it is stopped and measured
    /// over the records it counted so far (each failing record can cost Spring up to
    /// `fetch.max.wait.ms`, 500 ms, so scenarios 2 and 3 can take Spring hours).
    #[arg(long, default_value_t = 120)]
    spring_seconds: u64,
    /// The `mailer` binary for the API scenario (default: `mailer` beside this binary).
    #[arg(long)]
    mailer_bin: Option<std::path::PathBuf>,
    /// Seconds of load per API measurement.
    #[arg(long, default_value_t = 10)]
    api_seconds: u64,
    /// Delete each scenario's topics when it ends. Off by default: on Tansu (SQLite) deleting a
    /// big topic is one long transaction that stalls the broker for everyone using it.
    #[arg(long)]
    delete_topics: bool,
    /// Export Rebound's attempt spans to this Zipkin (`http://host:port`) as the mailer does, to
    /// measure what tracing costs (the library is always built with its `opentelemetry` feature
    /// here, through the mailer; without this flag no tracer is installed and the spans are
    /// OpenTelemetry's no-ops).
    #[arg(long, env = "REBOUND_BENCH_ZIPKIN_URL")]
    zipkin_url: Option<String>,
    /// Install a Prometheus recorder (the mailer's) before anything runs, so that every Rebound
    /// consumer records its metrics (`rebound::metrics`): beside a run without it, what they cost.
    #[arg(long)]
    metrics_recorder: bool,
    #[command(subcommand)]
    hidden: Option<Hidden>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Scenario {
    All,
    Happy,
    Scaling,
    Workers,
    OneHop,
    Delay,
    Poison,
    Redrive,
    Memory,
    Api,
    Concurrency,
    Smtp,
    Console,
}

/// A value of `--contenders`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Contender {
    /// The baseline and Rebound.
    Both,
    /// The hand-written rdkafka baseline.
    Baseline,
    /// Rebound.
    Rebound,
    /// The scenario's Spring Kafka service (scenarios 1-3).
    Spring,
    /// The baseline, Rebound and Spring.
    All,
}

/// Which contenders run (`--contenders`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Contenders {
    baseline: bool,
    rebound: bool,
}

impl Contenders {
    fn of(list: &[Contender]) -> Contenders {
        let has = |c: Contender| list.contains(&c) || list.contains(&Contender::All);
        Contenders {
            baseline: has(Contender::Baseline) || has(Contender::Both),
            rebound: has(Contender::Rebound) || has(Contender::Both),
        }
    }
}

#[derive(Subcommand)]
enum Hidden {
    /// The memory scenario's worker process (run by the benchmark itself).
    #[command(hide = true)]
    MemWorker(memory::WorkerArgs),
    /// A worker process of the second-worker scenario (run by the benchmark itself).
    #[command(hide = true)]
    ThroughputWorker(workers::WorkerArgs),
}

/// What every scenario gets.
pub struct Ctx {
    /// The cluster every client talks to: `--brokers` (or the private broker) with the `-X`
    /// properties.
    pub kafka: KafkaConfig,
    /// The local broker process serving `kafka`, for its CPU time.
    pub broker_pid: Option<String>,
    /// Which contenders scenarios 1-3 run; ask [`Ctx::runs_baseline`],
    /// [`Ctx::runs_rebound`] and [`Ctx::spring`].
    contenders: Contenders,
    /// The scenario's Spring Kafka service, when `--contenders` asks for it and its jar is built
    /// (scenarios 1-3 then run it too).
    pub spring: Option<spring::Peer>,
    /// Records of the throughput scenarios (`--records`, default 500k; 20k with `--quick`).
    pub records: u64,
    /// Partitions of the scenarios' topics (`--partitions`, default 8).
    pub partitions: i32,
    /// Runs of each contender; the tables show the median (`--repeat`, default 3).
    pub repeat: usize,
    /// A smoke run with small sizes (`--quick`): the figures mean nothing.
    pub quick: bool,
    /// Whether each scenario deletes its topics when it ends (`--delete-topics`, default off).
    pub delete_topics: bool,
    /// `-X` properties, passed on to child processes.
    pub properties: Vec<String>,
    /// Records of the one-hop scenario (`--hop-records`, default `records / 10`).
    pub hop_records: u64,
    /// Records of the second-worker scenario (`--worker-records`, default 4 x `records`, at least
    /// 400k): the topic must outlast the second process's join.
    pub worker_records: u64,
    /// Records through the 1 s retry topic in the delay scenario (`--delay-records`, default
    /// 10k; 2k with `--quick`).
    pub delay_records: u64,
    /// Dead letters in the redrive scenario (`--dead-letters`, default `records / 5`).
    pub dead_letters: u64,
    /// Records per second asked of the rate-limited redrive (`--rate`, default 2000).
    pub rate: f64,
    /// Dead letters redriven at `rate` (`--rate-records`, default 10k; 2k with `--quick`).
    pub rate_records: u64,
    /// Backlog sizes of the memory scenario, in records (`--backlog`, default 100k and 1M; 20k
    /// and 200k with `--quick`).
    pub backlog: Vec<u64>,
    /// One extra memory run per value (`--mem-variant`): comma-separated librdkafka
    /// `key=value` properties and `buffered=N`; none by default.
    pub mem_variants: Vec<String>,
    /// `max_buffered` of every Rebound consumer of scenarios 1-4; `None` keeps the library's
    /// default.
    pub max_buffered: Option<usize>,
    /// `max_copies_in_flight` of every Rebound consumer of scenarios 1-4; `None` keeps the
    /// library's default.
    pub max_copies_in_flight: Option<usize>,
    /// The `mailer` binary of the API scenario; `None` means `mailer` beside this binary.
    pub mailer_bin: Option<std::path::PathBuf>,
    /// Seconds of load per API measurement (`--api-seconds`, default 10).
    pub api_seconds: u64,
    /// One line per target: scenario, target, measured, verdict.
    pub summary: std::sync::Mutex<Vec<[String; 4]>>,
}

impl Ctx {
    /// Adds a line to the closing table of targets; `met: None` reads `n/a` (nothing to judge).
    pub fn target(&self, scenario: &str, target: &str, measured: String, met: Option<bool>) {
        let verdict = match met {
            Some(met) => report::verdict(met).to_string(),
            None => "n/a".to_string(),
        };
        self.summary.lock().expect("summary").push([
            scenario.to_string(),
            target.to_string(),
            measured,
            verdict,
        ]);
    }

    /// A Rebound consumer of `topic` with a fresh group, as every scenario builds it.
    pub fn rebound(&self, topic: &str, group: &str) -> rebound::RetryingConsumerBuilder {
        let mut builder =
            rebound::RetryingConsumer::builder(self.kafka.clone(), topic, &kit::unique(group));
        if let Some(n) = self.max_buffered {
            builder = builder.max_buffered(n);
        }
        if let Some(n) = self.max_copies_in_flight {
            builder = builder.max_copies_in_flight(n);
        }
        builder
    }

    /// Starts counting the CPU time of this process and of the local broker, for per-record
    /// figures.
    pub fn meter(&self) -> kit::Meter {
        kit::Meter::start(self.broker_pid.as_deref())
    }

    /// Whether the hand-written rdkafka baseline runs (`--contenders both`, `all` or `baseline`).
    pub fn runs_baseline(&self) -> bool {
        self.contenders.baseline
    }

    /// Whether Rebound runs (`--contenders both`, `all` or `rebound`).
    pub fn runs_rebound(&self) -> bool {
        self.contenders.rebound
    }

    /// Deletes `topics` if `--delete-topics` asks for it; otherwise leaves them for a later look.
    pub async fn cleanup(&self, topics: &[String]) {
        if self.delete_topics {
            kit::delete_topics(&self.kafka, topics).await;
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    let _tracing = mailer::telemetry::install("rebound-bench", cli.zipkin_url.as_deref())?;
    let recorder = cli.metrics_recorder.then(mailer::metrics::Metrics::default);
    if let Some(hidden) = cli.hidden {
        let kafka = KafkaConfig::new(&cli.brokers).properties_from_args(&cli.property)?;
        return runtime.block_on(async {
            match hidden {
                Hidden::MemWorker(args) => memory::worker(kafka, args).await,
                Hidden::ThroughputWorker(args) => workers::worker(kafka, args).await,
            }
        });
    }
    let private = if cli.private_broker {
        Some(broker::PrivateBroker::start(!cli.no_header_index)?)
    } else {
        None
    };
    let brokers = private
        .as_ref()
        .map_or(cli.brokers.clone(), |b| b.address.clone());
    let kafka = KafkaConfig::new(&brokers).properties_from_args(&cli.property)?;
    if cli.repeat == 0 || cli.partitions < 1 {
        bail!("--repeat and --partitions must be at least 1");
    }
    let quick = cli.quick;
    let records = if quick && cli.records == 500_000 {
        20_000
    } else {
        cli.records
    };
    let broker_pid = kit::broker_pid(&brokers);
    let all = cli.scenario.contains(&Scenario::All);
    let wanted = |s: Scenario| all || cli.scenario.contains(&s);
    let spring_wanted = cli
        .contenders
        .iter()
        .any(|c| matches!(c, Contender::Spring | Contender::All))
        && [Scenario::Happy, Scenario::OneHop, Scenario::Delay]
            .into_iter()
            .any(wanted);
    let spring = if spring_wanted {
        spring::Peer::find(std::time::Duration::from_secs(cli.spring_seconds))
    } else {
        Err(String::new())
    };
    let ctx = Ctx {
        kafka,
        broker_pid: broker_pid.clone(),
        contenders: Contenders::of(&cli.contenders),
        spring: spring.as_ref().ok().cloned(),
        records,
        partitions: cli.partitions,
        repeat: cli.repeat,
        quick,
        delete_topics: cli.delete_topics,
        properties: cli.property.clone(),
        hop_records: cli.hop_records.unwrap_or((records / 10).max(1)),
        worker_records: cli.worker_records.unwrap_or((records * 4).max(400_000)),
        delay_records: cli
            .delay_records
            .unwrap_or(if quick { 2_000 } else { 10_000 }),
        dead_letters: cli.dead_letters.unwrap_or((records / 5).max(1)),
        rate: cli.rate,
        rate_records: cli
            .rate_records
            .unwrap_or(if quick { 2_000 } else { 10_000 }),
        backlog: if !cli.backlog.is_empty() {
            cli.backlog.clone()
        } else if quick {
            vec![20_000, 200_000]
        } else {
            vec![100_000, 1_000_000]
        },
        mem_variants: cli.mem_variant.clone(),
        max_buffered: cli.max_buffered,
        max_copies_in_flight: cli.max_copies_in_flight,
        mailer_bin: cli.mailer_bin.clone(),
        api_seconds: cli.api_seconds,
        summary: Default::default(),
    };

    println!("# rebound-bench");
    println!();
    match &private {
        Some(b) => println!("- brokers: {brokers}, a fresh private {}", b.describe()),
        None => println!("- brokers: {brokers}"),
    }
    println!("- {}", machine());
    match &broker_pid {
        Some(pid) => println!("- broker: local process, pid {pid} (its CPU time is reported)"),
        None => println!("- broker: not a local process (no broker CPU figures)"),
    }
    println!(
        "- records: {}, partitions: {}, repeat: {}{}",
        ctx.records,
        ctx.partitions,
        ctx.repeat,
        if quick { " (--quick)" } else { "" }
    );
    match &spring {
        Ok(peer) => println!("- {}", peer.describe()),
        Err(why) if spring_wanted => {
            println!("- Spring Kafka: **skipped**: {why}");
            eprintln!("Spring Kafka is skipped: {why}");
        }
        Err(_) => {}
    }
    println!("- load average at start: {}", kit::loadavg());
    if recorder.is_some() {
        println!(
            "- **metrics recorded**: a Prometheus recorder is installed (`--metrics-recorder`)"
        );
    }
    if quick {
        println!(
            "- **--quick: a smoke run, not figures.** At 20k records each partition's backlog \
             fits in one Fetch response: when librdkafka's first Fetch covers one partition and \
             the next, ~0.5 s later (on Tansu), the rest, a contender measures that gap; when its \
             first Fetch covers all, it measures memory speed. Ratios can be 10x either way"
        );
    }
    println!("- throughput is measured from the first record handled to the last one handled;");
    println!("  the consumer-group join is not counted");
    println!();

    let started = Instant::now();
    runtime.block_on(async {
        let steps: [(Scenario, &str); 12] = [
            (Scenario::Happy, "1. happy path"),
            (Scenario::Scaling, "1b. happy path, scaling with partitions"),
            (Scenario::Workers, "1c. happy path, a second worker process"),
            (Scenario::OneHop, "2. one retry hop"),
            (Scenario::Delay, "3. delay precision"),
            (Scenario::Poison, "4. poison isolation"),
            (Scenario::Redrive, "5. redrive"),
            (Scenario::Memory, "6. memory"),
            (Scenario::Api, "7. API"),
            (
                Scenario::Concurrency,
                "8. records at once inside a partition",
            ),
            (Scenario::Smtp, "9. e-mail over SMTP"),
            (
                Scenario::Console,
                "10. the web console at 10k and 100k dead letters",
            ),
        ];
        for (scenario, title) in steps {
            if !wanted(scenario) {
                continue;
            }
            println!("## {title}");
            println!();
            eprintln!("== {title} (load {})", kit::loadavg());
            let t = Instant::now();
            let result = match scenario {
                Scenario::Happy => happy::happy(&ctx).await,
                Scenario::Scaling => happy::scaling(&ctx).await,
                Scenario::Workers => workers::workers(&ctx).await,
                Scenario::OneHop => one_hop::one_hop(&ctx).await,
                Scenario::Delay => one_hop::delay(&ctx).await,
                Scenario::Poison => poison::poison(&ctx).await,
                Scenario::Redrive => redrive::redrive(&ctx).await,
                Scenario::Memory => memory::memory(&ctx).await,
                Scenario::Api => api::api(&ctx).await,
                Scenario::Concurrency => concurrency::concurrency(&ctx).await,
                Scenario::Smtp => smtp::smtp(&ctx).await,
                Scenario::Console => console::console(&ctx).await,
                Scenario::All => Ok(()),
            };
            if let Err(e) = result {
                println!("**failed**: {e:#}");
                println!();
                ctx.target(title, "(scenario)", format!("failed: {e:#}"), Some(false));
            }
            println!(
                "_{title}: {:.0} s, load average after: {}_",
                t.elapsed().as_secs_f64(),
                kit::loadavg()
            );
            println!();
        }
    });

    println!("## Targets");
    println!();
    let mut table = report::Table::new(&["scenario", "target", "measured", "verdict"]);
    for line in ctx.summary.lock().expect("summary").iter() {
        table.row(line.to_vec());
    }
    table.print();
    println!(
        "_total {:.0} s, load average at the end: {}_",
        started.elapsed().as_secs_f64(),
        kit::loadavg()
    );
    if let Some(recorder) = recorder {
        // Proof that the run recorded: the records handled, summed over every series.
        let handled: f64 = recorder
            .render()
            .lines()
            .filter(|l| l.starts_with(rebound::metrics::RECORDS_HANDLED))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        println!("_metrics: {handled} records counted in `rebound_records_handled_total`_");
    }
    Ok(())
}

/// CPU model and count, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("machine: {cpus} x {model}")
}
