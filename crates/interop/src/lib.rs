//! Support for the interoperability tests (`tests/`): the scenario's Spring Boot service
//! (`interop/spring-email`, built once and cached), run as a process beside Rebound's binaries on
//! the real broker (`KAFKA_BROKERS`). See INTEROP.md.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rebound::headers::{Header, Headers};
use serde_json::Value;
// The process helpers live in testkit (the mailer's own tests use them too); re-exported so that
// the interop tests find everything they need in `interop::*`.
use testkit::process::newest;
pub use testkit::process::{json_lines, service, tail, temp_dir, Process};

pub mod writers;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The Maven project of the Spring peer.
pub fn spring_project() -> PathBuf {
    repo_root().join("interop/spring-email")
}

/// The peer's runnable jar, built when it is missing or older than its sources: first with
/// `mvn -q -o package -DskipTests` (offline, the usual case once Maven's cache is warm), then
/// online when the cache is cold. One build at a time: a mutex within this process and a lock
/// folder (`target/.build-lock`, created atomically) across processes.
///
/// `REBOUND_SPRING_BOOT=4` selects the Spring Boot 4 build (`pom-boot4.xml`, spring-kafka 4.0,
/// `target/boot4/spring-email-boot4.jar`); the default is Spring Boot 3.5 (`pom.xml`).
pub fn spring_jar() -> PathBuf {
    let build = testkit::SpringBuild::chosen().unwrap_or_else(|e| panic!("{e}"));
    maven_jar(&build.project, build.pom, build.jar, "the Spring peer")
}

/// The Maven project of the other dialects' real writers (Kafka Connect, a share consumer, Kafka
/// Streams): `interop/kafka-writers`.
pub fn kafka_writers_project() -> PathBuf {
    repo_root().join("interop/kafka-writers")
}

/// The writers' class path (`target/kafka-writers.jar` and `target/lib/*`), built as the Spring
/// peer is ([`spring_jar`]) when missing or older than its sources.
pub fn kafka_writers_classpath() -> String {
    let project = kafka_writers_project();
    let jar = maven_jar(
        &project,
        "pom.xml",
        project.join("target/kafka-writers.jar"),
        "the Kafka writers",
    );
    format!("{}:{}/target/lib/*", jar.display(), project.display())
}

/// `jar`, built from `project`'s `pom` when missing or older than the pom or `src/`; one build at
/// a time across threads and processes.
fn maven_jar(project: &Path, pom: &str, jar: PathBuf, what: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _in_process = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = |jar: &Path| {
        let Some(built) = newest(jar) else {
            return false;
        };
        let sources = newest(&project.join(pom)).max(newest(&project.join("src")));
        sources.is_none_or(|sources| sources <= built)
    };
    if fresh(&jar) {
        return jar;
    }
    std::fs::create_dir_all(project.join("target")).expect("target folder");
    let lock = project.join("target/.build-lock");
    let deadline = Instant::now() + Duration::from_secs(900);
    while std::fs::create_dir(&lock).is_err() {
        // A lock older than 15 minutes was left by a build that died.
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(900));
        if stale {
            let _ = std::fs::remove_dir(&lock);
        }
        assert!(Instant::now() < deadline, "waited 15 min for {lock:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    struct Unlock(PathBuf);
    impl Drop for Unlock {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _unlock = Unlock(lock);
    if fresh(&jar) {
        return jar; // another process built it while we waited
    }
    let mvn = |offline: bool| {
        let mut command = Command::new("mvn");
        command.current_dir(project).args(["-q", "-B", "-f", pom]);
        if offline {
            command.arg("-o");
        }
        // Maven writes its errors to stdout: send them to stderr, where a test's or CI's log is.
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .expect("stderr");
        command
            .args(["package", "-DskipTests", "-Dstyle.color=never"])
            .stdout(Stdio::from(stderr))
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run mvn (Maven 3.8+ and Java 17+ must be on PATH): {e}")
            })
            .success()
    };
    assert!(
        mvn(true) || mvn(false),
        "building {what} failed: run `mvn package -DskipTests` in {project:?} to see why"
    );
    assert!(fresh(&jar), "mvn package did not write {jar:?}");
    jar
}

/// A binary of this workspace (`mailer`, `rebound`), beside the test executable in
/// `target/<profile>/`. They are not built by `cargo test -p interop`: build them first with
/// `cargo build -p mailer -p rebound-cli` (`cargo test --workspace`, so `cargo xtask test` and
/// `.ci/run`, builds them too). Missing: the test fails saying so; older than their sources: a
/// warning.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{path:?} is missing: run `cargo build -p mailer -p rebound-cli` before `cargo test -p interop`"
        );
    };
    // A binary older than its sources is used, with a warning (printed with a failing test's
    // output): it may not have a fix the test expects.
    let root = repo_root();
    for crate_dir in [
        "crates/rebound/src",
        "crates/mailer/src",
        "crates/rebound-cli/src",
    ] {
        if newest(&root.join(crate_dir)).is_some_and(|sources| built < sources) {
            eprintln!(
                "warning: {path:?} is older than {crate_dir}: run `cargo build -p mailer -p rebound-cli` again"
            );
        }
    }
    path
}

/// A `mailer` subcommand as a process.
pub fn mailer(dir: &Path, name: &str, args: &[&str]) -> Process {
    service(dir, name, &workspace_binary("mailer"), args)
}

/// Runs the `rebound` command to completion; panics with its output when it fails.
pub fn rebound_cli(args: &[&str]) -> String {
    let output = Command::new(workspace_binary("rebound"))
        .args(args)
        .env("KAFKA_BROKERS", testkit::kafka().brokers())
        .env("REBOUND_OPERATOR", "interop-test")
        .output()
        .expect("run rebound");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rebound {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The Spring peer as a process: `java -jar spring-email.jar --<property>=<value> …`.
pub struct Spring {
    /// The JVM running the peer; its log holds Spring's own output.
    pub process: Process,
    /// The JSON-lines file the peer appends its events to (`<dir>/<name>.events.jsonl`).
    pub events: PathBuf,
}

impl Spring {
    /// Starts the peer with Spring properties (`interop.*`, `spring.*`). Its events go to
    /// `<dir>/<name>.events.jsonl`; the bootstrap address is `KAFKA_BROKERS`.
    pub fn start(dir: &Path, name: &str, properties: &[(&str, &str)]) -> Spring {
        let jar = spring_jar();
        let events = dir.join(format!("{name}.events.jsonl"));
        let mut command = Command::new("java");
        command.args([
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xss512k",
            "-Xmx256m",
        ]);
        // Properties go in as system properties: Spring reads them like `--key=value`, and the
        // peer's static JSON mapper can read them too (`interop.lenient-json`).
        command.arg(format!(
            "-Dspring.kafka.bootstrap-servers={}",
            testkit::kafka().brokers()
        ));
        command.arg(format!("-Dinterop.events={}", events.display()));
        command.arg("-Dinterop.send-millis=0");
        for (key, value) in properties {
            command.arg(format!("-D{key}={value}"));
        }
        command.arg("-jar").arg(&jar);
        Spring {
            process: Process::spawn(dir, name, &mut command),
            events,
        }
    }

    /// Runs the producer side to completion: sends `messages` (JSON objects) to `topic` through
    /// `KafkaTemplate<String, String>` as the blog's producer server does; returns its events.
    pub fn produce(
        dir: &Path,
        topic: &str,
        messages: &[Value],
        properties: &[(&str, &str)],
    ) -> Vec<Value> {
        let name = testkit::unique("producer");
        let file = dir.join(format!("{name}.messages.jsonl"));
        let text: String = messages.iter().map(|m| format!("{m}\n")).collect();
        std::fs::write(&file, text).unwrap();
        let file_arg = file.display().to_string();
        let mut all = vec![
            ("interop.mode", "produce"),
            ("interop.topic", topic),
            ("interop.messages", file_arg.as_str()),
        ];
        all.extend_from_slice(properties);
        let spring = Spring::start(dir, &name, &all);
        let events = spring.events.clone();
        spring.process.wait_success(Duration::from_secs(120));
        json_lines(&events)
    }

    /// Every event the peer has written so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        json_lines(&self.events)
    }

    /// Events of one kind (`delivery`, `handled`, `failed`, `not-due`, `dlt`, `started`).
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// Waits until `condition` holds on the events; panics with the log and events otherwise.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        condition: impl Fn(&[Value]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if condition(&events) {
                return;
            }
            let alive = self.process.alive();
            if !alive || Instant::now() > deadline {
                panic!(
                    "{}: {what} did not happen ({}); events: {:#?}\nlog:\n{}",
                    self.process.name,
                    if alive { "timed out" } else { "process exited" },
                    events,
                    tail(&self.process.log_text(), 80)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the listener containers started (the `started` event).
    pub async fn wait_started(&mut self) {
        self.wait_for(
            Duration::from_secs(90),
            "listener containers started",
            |e| e.iter().any(|e| e["event"] == "started"),
        )
        .await;
    }
}

/// The headers of an event (`[[name, hex or null], …]`).
pub fn event_headers(event: &Value) -> Headers {
    event["headers"]
        .as_array()
        .map(|headers| {
            headers
                .iter()
                .map(|pair| Header {
                    key: pair[0].as_str().unwrap_or_default().to_string(),
                    value: pair[1].as_str().map(|hex| Bytes::from(unhex(hex))),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The bytes of a hex string, the form the peer writes header values in; panics on anything else.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `bytes` as lowercase hex, the peer's form of header values, to print a value that is not text.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The scenario's message (`from`, `to`, `subject`, `body`, nothing else).
pub fn email(to: &str) -> Value {
    serde_json::json!({"from": "sender@naver.com", "to": to, "subject": "제목", "body": "내용"})
}

/// The blog's topic names under a unique prefix: `<main>`, its four retry topics, `<main>.dlt`.
pub fn scenario_chain(main: &str) -> Vec<String> {
    chain(main, &[1000, 2000, 4000, 8000])
}

/// `<main>`, one `-retry-<delay>` topic per delay, `<main>.dlt`.
pub fn chain(main: &str, delays: &[u64]) -> Vec<String> {
    let mut names = vec![main.to_string()];
    names.extend(delays.iter().map(|d| format!("{main}-retry-{d}")));
    names.push(format!("{main}.dlt"));
    names
}

/// Creates every topic of `names` with `partitions` partitions (Spring's retry topics must have
/// the main topic's partition count, as Rebound creates them, so the tests create them all).
pub async fn create_topics(names: &[String], partitions: i32) {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    testkit::Cluster::default()
        .create_topics(&names, partitions, &[])
        .await;
}

/// One record of a chain as the comparison sees it.
pub struct Copy {
    /// The topic it was read from.
    pub topic: String,
    /// Its partition in that topic.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The key as text (invalid UTF-8 replaced); `None` without a key.
    pub key: Option<String>,
    /// The payload as text (invalid UTF-8 replaced); empty without a payload.
    pub payload: String,
    /// The record's timestamp, ms since the Unix epoch, when the broker gave one.
    pub timestamp: Option<i64>,
    /// Every header, in the record's order.
    pub headers: Headers,
}

/// Every record of `topic`, ordered by partition and offset.
pub fn copies(topic: &str) -> Vec<Copy> {
    let mut records = testkit::read_all(topic);
    records.sort_by_key(|r| (r.partition(), r.offset()));
    records
        .into_iter()
        .map(|r| Copy {
            topic: r.topic().to_string(),
            partition: r.partition(),
            offset: r.offset(),
            key: r.key_text(),
            payload: testkit::text(&r),
            timestamp: r.timestamp().map(|t| t.as_i64()),
            headers: r.headers().clone(),
        })
        .collect()
}
