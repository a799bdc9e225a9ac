//! `mailer demo`: the whole scenario on this machine, with a readable timeline.
//!
//! Starts a real SMTP server (451 for `fail@naver.com`, 550 for `nobody@naver.com`), a webhook
//! receiver standing in for Slack, then `api`, `worker` and `dlt-worker` as separate processes;
//! sends four requests (a good one, an invalid one, `fail@naver.com`, `nobody@naver.com`); prints
//! what each part did, when; and the final status of each e-mail as the API reports it.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The flags of `mailer demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep everything running after the story (Ctrl-C to stop).
    #[arg(long)]
    pub keep: bool,
    /// Bootstrap servers of the broker to use.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Give up waiting for final statuses after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Export every service's spans to this Zipkin and end by printing the dead e-mails' traces
    /// (`cargo xtask demo` starts one and sets it).
    #[arg(long, env = "REBOUND_ZIPKIN_URL")]
    pub zipkin_url: Option<String>,
}

struct Clock(Instant);

impl Clock {
    fn stamp(&self) -> String {
        format!("{:>6.1}s", self.0.elapsed().as_secs_f64())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Which lines of a child's output make the timeline, and how to show them.
fn timeline_line(source: &str, line: &str) -> Option<String> {
    let keep = match source {
        "smtp" => line.starts_with("smtp-sink: received"),
        "slack" => true,
        "worker" => ["retrying through", "dead-lettered to", "e-mail sent"]
            .iter()
            .any(|m| line.contains(m)),
        "dlt-worker" => {
            line.contains("Received message in dlt listener")
                || line.starts_with('{')
                || line.contains("alerted Slack")
                || line.contains("grouped alert")
        }
        "api" => line.contains("queued") || line.contains("503"),
        _ => false,
    };
    if !keep {
        return None;
    }
    // Drop the log prefix (time and level) of tracing lines: the timeline has its own clock.
    let text = match line.find(": ") {
        Some(i) if line.contains(" INFO ") || line.contains(" WARN ") => &line[i + 2..],
        _ => line,
    };
    Some(text.to_string())
}

fn spawn(
    clock: &Arc<Clock>,
    name: &'static str,
    args: &[String],
    brokers: &str,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args)
        .env("KAFKA_BROKERS", brokers)
        .env("RUST_LOG", "info,rdkafka=warn,librdkafka=error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start {name}"))?;
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let clock = clock.clone();
        let source = if name == "webhook-sink" {
            "slack"
        } else {
            name
        };
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(text) = timeline_line(source, &line) {
                    println!("{} [{source:<10}] {text}", clock.stamp());
                }
            }
        });
    }
    Ok(child)
}

/// Tells the story: starts the services as child processes of this binary, sends the requests,
/// prints the timeline and the final statuses, then stops them (at Ctrl-C with `--keep`).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let clock = Arc::new(Clock(Instant::now()));
    let (api_port, smtp_port, hook_port) = (free_port()?, free_port()?, free_port()?);
    println!("Rebound demo: the e-mail scenario on {} (topics email.send, email.send-retry-*, email.send.dlt)\n", args.brokers);
    let zipkin = args.zipkin_url.as_deref().map(|url| ["--zipkin-url", url]);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let traced = |v: &[&str]| [s(v), s(zipkin.as_ref().map_or(&[][..], |z| &z[..]))].concat();
    let mut children = vec![
        spawn(
            &clock,
            "smtp",
            &s(&["smtp-sink", "--listen", &format!("127.0.0.1:{smtp_port}")]),
            &args.brokers,
        )?,
        spawn(
            &clock,
            "webhook-sink",
            &s(&[
                "webhook-sink",
                "--listen",
                &format!("127.0.0.1:{hook_port}"),
            ]),
            &args.brokers,
        )?,
        spawn(
            &clock,
            "api",
            &traced(&["api", "--listen", &format!("127.0.0.1:{api_port}")]),
            &args.brokers,
        )?,
        spawn(
            &clock,
            "worker",
            &traced(&[
                "worker",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                &smtp_port.to_string(),
                "--smtp-timeout-ms",
                "5000",
            ]),
            &args.brokers,
        )?,
        spawn(
            &clock,
            "dlt-worker",
            &traced(&[
                "dlt-worker",
                "--slack-webhook",
                &format!("http://127.0.0.1:{hook_port}/services/demo"),
                "--alert-window-secs",
                "10",
            ]),
            &args.brokers,
        )?,
    ];
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api_port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the API did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{} [demo      ] api, worker, dlt-worker, smtp-sink and the Slack stand-in are up\n",
        clock.stamp()
    );

    let requests = [
        (
            "a welcome e-mail",
            json!({"from":"sender@naver.com","to":"member@naver.com","subject":"제목","body":"내용"}),
        ),
        (
            "an invalid request",
            json!({"from":"sender@naver.com","to":"not-an-address","subject":"제목\r\nBcc: spam@evil.com","body":""}),
        ),
        (
            "to fail@naver.com (451)",
            json!({"from":"sender@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"}),
        ),
        (
            "to nobody@naver.com (550)",
            json!({"from":"sender@naver.com","to":"nobody@naver.com","subject":"제목","body":"내용"}),
        ),
    ];
    let (mut accepted, mut traces) = (Vec::new(), Vec::new());
    for (what, body) in &requests {
        let response = http
            .post(format!("{base}/emails"))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let trace = crate::telemetry::trace_id_of(response.headers());
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        match answer["id"].as_str() {
            Some(id) if status.as_u16() == 202 => {
                traces.push(trace);
                println!(
                    "{} [demo      ] POST /emails {what}: {status} id {id}",
                    clock.stamp()
                );
                accepted.push((what.to_string(), id.to_string()));
            }
            _ => {
                let errors = answer["errors"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .map(|x| {
                                format!(
                                    "{} {}",
                                    x["field"].as_str().unwrap_or(""),
                                    x["reason"].as_str().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                println!(
                    "{} [demo      ] POST /emails {what}: {status} {errors}",
                    clock.stamp()
                );
            }
        }
    }
    println!();

    // Follow each accepted e-mail until the API reports a final status.
    let mut last: Vec<String> = vec![String::new(); accepted.len()];
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let mut all_final = true;
        for (i, (what, id)) in accepted.iter().enumerate() {
            let status: serde_json::Value = http
                .get(format!("{base}/emails/{id}"))
                .send()
                .await?
                .json()
                .await
                .unwrap_or_default();
            let state = status["status"].as_str().unwrap_or("unknown").to_string();
            let summary = match state.as_str() {
                "retrying" => format!(
                    "retrying (attempt {} of {})",
                    status["attempt"], status["max_attempts"]
                ),
                "dead" => format!("dead: {}", status["reason"].as_str().unwrap_or("")),
                other => other.to_string(),
            };
            if summary != last[i] {
                println!(
                    "{} [status    ] GET /emails/{id} ({what}): {summary}",
                    clock.stamp()
                );
                last[i] = summary;
            }
            all_final &= state == "sent" || state == "dead";
        }
        if all_final || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Let the last alert and log lines arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("\nFinal statuses, as GET /emails/{{id}} reports them:");
    for ((what, id), summary) in accepted.iter().zip(&last) {
        println!("  {id}  {what:<28} {summary}");
    }
    if let Some(zipkin) = &args.zipkin_url {
        let dead = accepted.iter().zip(&last).zip(&traces);
        let dead: Vec<_> = dead
            .filter(|((_, summary), _)| summary.starts_with("dead"))
            .filter_map(|(((what, _), _), trace)| Some((what.as_str(), trace.as_deref()?)))
            .collect();
        crate::telemetry::print_traces(&http, zipkin, &dead).await;
    }
    print_next_steps(&args.brokers);

    if args.keep {
        println!("\n--keep: API on {base}, SMTP on 127.0.0.1:{smtp_port}; Ctrl-C to stop");
        rebound::shutdown_signal().await;
    }
    for child in &mut children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
    for child in &mut children {
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    Ok(())
}

/// Commands a newcomer can paste as they are: the `rebound` binary that `cargo xtask demo` built
/// beside this one, named by its path from the current folder, with `--brokers` when the demo
/// ran elsewhere than the default address.
fn print_next_steps(brokers: &str) {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("rebound")))
        .filter(|path| path.exists());
    let rebound = match beside {
        Some(path) => {
            let relative = std::env::current_dir()
                .ok()
                .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf()));
            relative.unwrap_or(path).display().to_string()
        }
        None => "cargo run --release -p rebound-cli --".to_string(),
    };
    let connect = if brokers == "127.0.0.1:9092" {
        String::new()
    } else {
        format!(" --brokers {brokers}")
    };
    println!("\nLook further (the broker keeps running; `cargo xtask broker stop` stops it):");
    println!("  {rebound}{connect} topics");
    println!("  {rebound}{connect} dlt list email.send.dlt");
    println!("  {rebound}{connect} dlt show email.send.dlt 0@0");
    println!("  {rebound}{connect} dlt redrive email.send.dlt --dry-run");
    println!(
        "  {rebound}{connect} console    # the same in a browser: http://127.0.0.1:8686/dlt/email.send.dlt"
    );
}
