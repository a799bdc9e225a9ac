//! Spring Kafka as a contender in scenarios 1-3 (issue 23): the scenario's own Spring Boot service
//! (`interop/spring-email`, the jar the interop tests use) in its benchmark mode
//! (`--interop.shape=bench`), run as `java -jar` on the same topic contents with a fresh group.
//!
//! Its `@RetryableTopic` listener only counts (scenario 2: fails each record's first delivery;
//! scenario 3: notes each retry delivery's lateness against `retry_topic-backoff-timestamp`), with
//! `concurrency` = this machine's cores. It reports on stdout, which goes to a log file this module
//! reads: `BENCH assigned` once every container has its partitions, `BENCH progress count=…
//! first_us=… last_us=…` (epoch µs of the first record handled and of the last one counted), and
//! `BENCH done …` once it counted the records asked; lateness goes to a file. Throughput is
//! measured as [`crate::kit::Tally`] measures it (first record handled to last), and the JVM's
//! CPU time from its partitions' assignment to the last record (the JVM's start-up, a few CPU
//! seconds, is left out: it would swamp a short run's figure).
//!
//! The jar is not built here: when it is missing or older than its sources the bench says how to
//! build it and runs without Spring. Spring's log is deleted after a run that went well, unless
//! `REBOUND_BENCH_SPRING_LOGS` is set; `REBOUND_BENCH_SPRING_ARGS` adds arguments to its command
//! line (Spring properties as `--key=value`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::process::{tail, Process};
use testkit::SpringBuild;

use crate::kit;
use crate::report::{median, quantile, ratio, thousands, Runs, Table};
use crate::Ctx;

/// How long the JVM may take to start and be assigned its partitions (a loaded 2-core machine
/// takes 10-30 s).
const START: Duration = Duration::from_secs(180);

/// How long the count may stand still before a run is declared stalled (as [`kit::Tally::wait`]).
const STALL: Duration = Duration::from_secs(90);

/// The command that builds the jar.
const BUILD: &str = "cargo run -p interop --bin build-spring-peer";

/// The Spring peer's jar and what it reported about itself.
#[derive(Clone)]
pub struct Peer {
    jar: PathBuf,
    /// How long a run may take from its assignment (`--spring-seconds`); then it is stopped and
    /// measured over the records it counted.
    budget: Duration,
    /// `REBOUND_BENCH_SPRING_ARGS`, split: more arguments for the peer.
    args: Vec<String>,
    /// Consumers per listener container (`@KafkaListener(concurrency)`): the machine's cores.
    pub concurrency: usize,
    /// `spring-kafka=… spring-boot=…`, from the first run.
    version: Arc<Mutex<Option<String>>>,
    /// (counted, asked) of the runs stopped at the budget since the last table row.
    stopped: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Peer {
    /// The built jar (`REBOUND_SPRING_BOOT=4`: the Spring Boot 4 one, as the interop tests pick
    /// it), or why Spring cannot run: the jar is missing or older than its sources, or there is
    /// no `java`.
    pub fn find(budget: Duration) -> Result<Peer, String> {
        let build = SpringBuild::chosen()?;
        let jar = build.jar.clone();
        if !build.is_built() {
            return Err(format!(
                "{} is not built: build it with `{BUILD}`",
                jar.display()
            ));
        }
        if !build.is_fresh() {
            return Err(format!(
                "{} is older than its sources: build it again with `{BUILD}`",
                jar.display()
            ));
        }
        let java = Command::new("java").arg("-version").output();
        if !java.is_ok_and(|o| o.status.success()) {
            return Err("no `java` on PATH (Java 17+)".into());
        }
        Ok(Peer {
            jar: jar.canonicalize().unwrap_or(jar),
            budget,
            args: std::env::var("REBOUND_BENCH_SPRING_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            version: Default::default(),
            stopped: Default::default(),
        })
    }

    /// Says which runs were stopped at the budget (and forgets them): `; stopped after 120 s at
    /// 1,234 / 1,301 of 10,000 records`; empty when none was.
    fn stopped_note(&self) -> String {
        let stopped = std::mem::take(&mut *self.stopped.lock().expect("stopped"));
        let Some((_, asked)) = stopped.first() else {
            return String::new();
        };
        let counts: Vec<String> = stopped.iter().map(|(c, _)| thousands(*c as f64)).collect();
        format!(
            "; {} stopped after {} s at {} of {} records",
            if stopped.len() == 1 { "a run" } else { "runs" },
            self.budget.as_secs(),
            counts.join(" / "),
            thousands(*asked as f64)
        )
    }

    /// A line for the run's header.
    pub fn describe(&self) -> String {
        format!(
            "Spring Kafka: `java -jar {}{}` (`@RetryableTopic` listener that only counts, \
             concurrency {}, Spring's and the JVM's default settings; its CPU time is reported \
             from its partitions' assignment to the last record; a run still going {} s after \
             its assignment is stopped and measured over the records it counted)",
            self.jar.display(),
            self.args
                .iter()
                .map(|a| format!(" {a}"))
                .collect::<String>(),
            self.concurrency,
            self.budget.as_secs()
        )
    }

    /// The contender's name in tables: `Spring Kafka 3.3.10 (Spring Boot 3.5.7), concurrency 2`.
    pub fn label(&self) -> String {
        let version = self.version.lock().expect("version").clone();
        let version = version.unwrap_or_default();
        let field = |name: &str| {
            version
                .split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or("?")
                .to_string()
        };
        let args = if self.args.is_empty() {
            String::new()
        } else {
            format!(", `{}`", self.args.join(" "))
        };
        format!(
            "Spring Kafka {} (Spring Boot {}), `@RetryableTopic`, concurrency {}{args}",
            field("spring-kafka="),
            field("spring-boot="),
            self.concurrency
        )
    }
}

/// One run of the Spring service.
pub struct Spec<'a> {
    /// The main topic (already filled).
    pub topic: &'a str,
    /// This run's tag: its retry topics and DLT are `<topic>-<tag>-retry` and `<topic>-<tag>-dlt`,
    /// so that a later run's fresh group does not read an earlier run's copies.
    pub tag: String,
    /// `@RetryableTopic(attempts)`.
    pub attempts: u32,
    /// The fixed back-off, ms.
    pub delay_ms: u64,
    /// Records to count before the run ends.
    pub records: u64,
    /// Fail each record's first delivery (scenarios 2 and 3).
    pub fail_first: bool,
    /// Note each retry delivery's lateness (scenario 3).
    pub lateness: bool,
}

impl Spec<'_> {
    /// The retry topic and DLT Spring creates for this run (with the main topic's partitions).
    pub fn chain(&self) -> Vec<String> {
        vec![
            format!("{}-{}-retry", self.topic, self.tag),
            format!("{}-{}-dlt", self.topic, self.tag),
        ]
    }
}

/// What one run measured.
pub struct Outcome {
    /// Records counted: all of [`Spec::records`], or fewer when the run was stopped at
    /// `--spring-seconds`.
    pub count: u64,
    /// Records counted per second, from the first record handled to the last one counted.
    pub rate: f64,
    /// Seconds from the first record handled to the last one counted.
    pub span: f64,
    /// (JVM, broker) CPU µs per record counted, from the assignment to the last record.
    pub cpu: (f64, f64),
    /// Each retry delivery's lateness, ms (with [`Spec::lateness`]).
    pub lateness: Vec<f64>,
}

/// What the peer reported so far.
#[derive(Default)]
struct Seen {
    version: Option<String>,
    assigned: bool,
    count: u64,
    first_us: Option<i64>,
    last_us: Option<i64>,
    done: bool,
    errors: Vec<String>,
}

impl Seen {
    fn line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("BENCH ") else {
            return;
        };
        let (what, fields) = rest.split_once(' ').unwrap_or((rest, ""));
        match what {
            "version" => self.version = Some(fields.to_string()),
            "assigned" => self.assigned = true,
            "progress" | "done" => {
                for field in fields.split_whitespace() {
                    match field.split_once('=') {
                        Some(("count", v)) => self.count = v.parse().unwrap_or(self.count),
                        Some(("first_us", v)) => self.first_us = v.parse().ok(),
                        Some(("last_us", v)) => self.last_us = v.parse().ok(),
                        _ => {}
                    }
                }
                self.done |= what == "done";
            }
            "error" => self.errors.push(fields.to_string()),
            _ => {}
        }
    }
}

/// Reads the lines a process appends to its log, as they come.
struct Follow {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Follow {
    fn lines(&mut self) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut text = Vec::new();
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            if file.seek(SeekFrom::Start(self.offset)).is_ok() {
                let _ = file.read_to_end(&mut text);
            }
        }
        self.offset += text.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&text));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let complete: String = self.partial.drain(..=end).collect();
        complete.lines().map(String::from).collect()
    }
}

/// Runs the Spring service on `spec`'s chain with a fresh group until it counted `spec.records`
/// records, then stops it.
pub async fn run(ctx: &Ctx, peer: &Peer, spec: &Spec<'_>) -> Result<Outcome> {
    let dir = std::env::temp_dir().join(kit::unique("spring"));
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("spring.log");
    let lateness_file = dir.join("lateness.txt");
    let group = kit::unique("spring");
    let properties = [
        (
            "spring.kafka.bootstrap-servers",
            ctx.kafka.brokers().to_string(),
        ),
        ("interop.shape", "bench".into()),
        ("interop.run", "main,retry,dlt".into()),
        ("interop.topic", spec.topic.into()),
        ("interop.group", group),
        ("interop.attempts", spec.attempts.to_string()),
        ("interop.delay", spec.delay_ms.to_string()),
        ("interop.multiplier", "0".into()),
        ("interop.retry-suffix", format!("-{}-retry", spec.tag)),
        ("interop.dlt-suffix", format!("-{}-dlt", spec.tag)),
        ("bench.concurrency", peer.concurrency.to_string()),
        ("bench.partitions", ctx.partitions.to_string()),
        ("bench.records", spec.records.to_string()),
        ("bench.fail-first", spec.fail_first.to_string()),
        ("bench.lateness", spec.lateness.to_string()),
        ("bench.lateness-file", lateness_file.display().to_string()),
    ];
    let mut command = Command::new("java");
    command.arg("-jar").arg(&peer.jar);
    for (key, value) in &properties {
        command.arg(format!("--{key}={value}"));
    }
    // More of Spring's properties, to look into a run (`--logging.level.org.springframework.kafka=DEBUG`).
    command.args(&peer.args);
    let started = Instant::now();
    let mut process = Process::spawn_on(&ctx.kafka, &log, "spring", &mut command);
    let pid = process.id().to_string();
    let result = watch(ctx, peer, spec, &mut process, &pid, started).await;
    // SIGTERM: Spring stops its containers and commits, as a service manager stops it, and the
    // peer writes the lateness it noted.
    process.terminate();
    tokio::task::spawn_blocking(move || process.stop_within(Duration::from_secs(20))).await?;
    let result = result.and_then(|mut outcome| {
        if spec.lateness {
            outcome.lateness = std::fs::read_to_string(&lateness_file)
                .with_context(|| format!("reading {}", lateness_file.display()))?
                .lines()
                .filter_map(|l| l.trim().parse::<f64>().ok())
                .collect();
        }
        Ok(outcome)
    });
    if result.is_ok() && std::env::var_os("REBOUND_BENCH_SPRING_LOGS").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("  Spring's log is kept in {}", log.display());
    }
    result
}

/// Follows the running peer's reports until it is done; measures.
async fn watch(
    ctx: &Ctx,
    peer: &Peer,
    spec: &Spec<'_>,
    process: &mut Process,
    pid: &str,
    started: Instant,
) -> Result<Outcome> {
    let mut follow = Follow {
        path: process.log.clone(),
        offset: 0,
        partial: String::new(),
    };
    let mut seen = Seen::default();
    let mut cpu0 = None;
    let mut assigned_at = None;
    let (mut moved, mut count) = (Instant::now(), 0);
    loop {
        for line in follow.lines() {
            seen.line(&line);
        }
        if let Some(error) = seen.errors.first() {
            bail!("the Spring peer: {error}");
        }
        if seen.assigned && cpu0.is_none() {
            let jvm = kit::cpu_seconds(pid).unwrap_or(f64::NAN);
            let broker = ctx.broker_pid.as_deref().and_then(kit::cpu_seconds);
            eprintln!(
                "  spring: assigned after {:.1} s, {jvm:.1} CPU s to start",
                started.elapsed().as_secs_f64()
            );
            cpu0 = Some((jvm, broker));
            assigned_at = Some(Instant::now());
        }
        if seen.done {
            break;
        }
        if assigned_at.is_some_and(|at| at.elapsed() > peer.budget) {
            eprintln!(
                "  spring: stopped after {} s at {} of {} records",
                peer.budget.as_secs(),
                seen.count,
                spec.records
            );
            break;
        }
        if seen.count != count {
            (moved, count) = (Instant::now(), seen.count);
        }
        if !process.alive() {
            bail!(
                "the Spring peer exited at {} of {} records; its log ends:\n{}",
                seen.count,
                spec.records,
                tail(&process.log_text(), 40)
            );
        }
        if !seen.assigned && started.elapsed() > START {
            bail!(
                "the Spring peer was not assigned its partitions within {} s; its log ends:\n{}",
                START.as_secs(),
                tail(&process.log_text(), 40)
            );
        }
        if seen.assigned && moved.elapsed() > STALL {
            bail!(
                "Spring: stalled at {} of {} records for {} s; its log ends:\n{}",
                seen.count,
                spec.records,
                STALL.as_secs(),
                tail(&process.log_text(), 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jvm = kit::cpu_seconds(pid).unwrap_or(f64::NAN);
    let broker = ctx.broker_pid.as_deref().and_then(kit::cpu_seconds);
    let (jvm0, broker0) = cpu0.unwrap_or((f64::NAN, None));
    let n = seen.count.max(1) as f64;
    let broker_us = match (broker0, broker) {
        (Some(b0), Some(b)) => (b - b0) * 1e6 / n,
        _ => f64::NAN,
    };
    if peer.version.lock().expect("version").is_none() {
        *peer.version.lock().expect("version") = seen.version.clone();
    }
    let span = match (seen.first_us, seen.last_us) {
        (Some(first), Some(last)) if last > first => (last - first) as f64 / 1e6,
        _ => f64::NAN,
    };
    Ok(Outcome {
        count: seen.count,
        rate: seen.count as f64 / span,
        span,
        cpu: ((jvm - jvm0) * 1e6 / n, broker_us),
        lateness: Vec::new(),
    })
}

/// [`run`], a failure printed (the scenario goes on without Spring's figure) rather than
/// returned.
pub async fn contend(ctx: &Ctx, peer: &Peer, spec: &Spec<'_>) -> Option<Outcome> {
    match run(ctx, peer, spec).await {
        Ok(outcome) => {
            if outcome.count < spec.records {
                let mut stopped = peer.stopped.lock().expect("stopped");
                stopped.push((outcome.count, spec.records));
            }
            Some(outcome)
        }
        Err(e) => {
            eprintln!("  spring: {e:#}");
            let first = format!("{e:#}");
            let first = first.lines().next().unwrap_or_default();
            println!("**A Spring Kafka run failed** (its log is on stderr): {first}\n");
            None
        }
    }
}

impl<'a> Spec<'a> {
    /// Scenario 1, run `run`: Rebound's default policy (3 attempts, 1 s fixed back-off); every
    /// record succeeds on its first delivery.
    pub fn happy(topic: &'a str, run: usize, records: u64) -> Spec<'a> {
        Spec {
            topic,
            tag: format!("s{run}"),
            attempts: 3,
            delay_ms: 1000,
            records,
            fail_first: false,
            lateness: false,
        }
    }

    /// Scenario 2, run `run`: 2 attempts, fixed 0 ms back-off; each record's first delivery
    /// fails, its second (from the retry topic) is counted.
    pub fn one_hop(topic: &'a str, run: usize, records: u64) -> Spec<'a> {
        Spec {
            attempts: 2,
            delay_ms: 0,
            fail_first: true,
            ..Spec::happy(topic, run, records)
        }
    }

    /// Scenario 3, run `run`: 2 attempts, fixed 1 s back-off; each record's first delivery fails,
    /// its second is counted and its lateness noted.
    pub fn delay(topic: &'a str, run: usize, records: u64) -> Spec<'a> {
        Spec {
            delay_ms: 1000,
            lateness: true,
            ..Spec::one_hop(topic, run, records)
        }
    }
}

/// The topics Spring's runs of a scenario made beside `topic` (none without Spring), for
/// `--delete-topics`.
pub fn topics(ctx: &Ctx, topic: &str) -> Vec<String> {
    if ctx.spring.is_none() {
        return Vec::new();
    }
    (1..=ctx.repeat)
        .flat_map(|run| Spec::happy(topic, run, 0).chain())
        .collect()
}

/// Spring's row in a contender table (its ratio cell says Rebound/Spring); nothing without
/// Spring.
pub fn row(ctx: &Ctx, table: &mut Table, spring: &Runs, rebound: &Runs) {
    let Some(peer) = &ctx.spring else {
        return;
    };
    table.row(spring.row(
        &format!(
            "{} (CPU from its assignment on{})",
            peer.label(),
            peer.stopped_note()
        ),
        format!(
            "(Rebound/Spring: {})",
            ratio(rebound.median() / spring.median())
        ),
    ));
}

/// Rebound/Spring in the closing table of targets; nothing without Spring.
pub fn target(ctx: &Ctx, scenario: &str, spring: &Runs, rebound: &Runs) {
    let Some(peer) = &ctx.spring else {
        return;
    };
    ctx.target(
        scenario,
        "Rebound/Spring Kafka (no target)",
        format!(
            "{} ({} vs {} records/s, {})",
            ratio(rebound.median() / spring.median()),
            thousands(rebound.median()),
            thousands(spring.median()),
            peer.label()
        ),
        None,
    );
}

/// A row of the delay table: lateness quantiles of `sorted` (ms), early ones, how many, the
/// burst's span.
pub fn lateness_row(label: String, sorted: &[f64], span: String) -> Vec<String> {
    vec![
        label,
        format!("{:.1}", quantile(sorted, 0.5)),
        format!("{:.1}", quantile(sorted, 0.99)),
        format!("{:.1}", quantile(sorted, 1.0)),
        format!("{:.1}", sorted.first().copied().unwrap_or(f64::NAN)),
        sorted.iter().filter(|x| **x < 0.0).count().to_string(),
        sorted.len().to_string(),
        span,
    ]
}

/// Scenario 3's Spring runs on `main` (`n` records): a row per run and one for all runs in
/// `table`, their topics added to `topics`. Returns the median of the runs' p99 lateness (NaN
/// without Spring or when every run failed).
pub async fn delay_rows(
    ctx: &Ctx,
    main: &str,
    n: u64,
    table: &mut Table,
    topics: &mut Vec<String>,
) -> f64 {
    let Some(peer) = &ctx.spring else {
        return f64::NAN;
    };
    let (mut p99s, mut spans, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=ctx.repeat {
        let spec = Spec::delay(main, run, n);
        topics.extend(spec.chain());
        let Some(out) = contend(ctx, peer, &spec).await else {
            continue;
        };
        let mut v = out.lateness;
        v.sort_by(f64::total_cmp);
        p99s.push(quantile(&v, 0.99));
        spans.push(out.span);
        eprintln!(
            "  spring run {run}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            quantile(&v, 0.5),
            quantile(&v, 0.99),
            quantile(&v, 1.0)
        );
        table.row(lateness_row(
            format!("Spring, run {run}"),
            &v,
            format!("{:.2}", out.span),
        ));
        all.extend(v);
    }
    all.sort_by(f64::total_cmp);
    table.row(lateness_row(
        format!("**{}**, all runs{}", peer.label(), peer.stopped_note()),
        &all,
        format!("{:.2} (median)", median(&spans)),
    ));
    median(&p99s)
}
