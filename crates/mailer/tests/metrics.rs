//! The metrics a dashboard reads, counted exactly: a known workload through the real API, worker,
//! dead-letter worker and SMTP server, each its own process on the real broker, read back from
//! each service's real `GET /metrics` over HTTP.

use std::path::Path;
use std::time::Duration;

use testkit::process::{free_port, json_lines, service, temp_dir, Process};
use testkit::*;

/// E-mails the SMTP server accepts.
const SENT: usize = 5;
/// E-mails the SMTP server answers `451` every time: the whole chain, then the DLT.
const FAILING: usize = 3;
/// The scenario's retry topics (5 deliveries, 1 s doubling).
const RETRY_DELAYS: [u64; 4] = [1000, 2000, 4000, 8000];

fn mailer(dir: &Path, name: &str, args: &[&str]) -> Process {
    service(dir, name, Path::new(env!("CARGO_BIN_EXE_mailer")), args)
}

/// The value of the sample `name` whose labels include every one of `labels`, from Prometheus's
/// text format (the series asked for here are unique once their labels are given).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let pairs: Vec<&str> = rest.strip_suffix('}')?.split(',').collect();
            let all = labels
                .iter()
                .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()));
            (metric == name && all).then(|| value.parse().ok())?
        })
}

async fn scrape(url: &str) -> String {
    match reqwest::get(url).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_workload_reads_back_exactly_from_each_services_metrics() {
    init_tracing();
    let dir = temp_dir("metrics");
    let topic = unique("email.send");
    let (dlt, status_topic) = (format!("{topic}.dlt"), format!("{topic}.status"));
    create_topic(&topic, 1).await;
    let topics = ["--topic", &topic, "--status-topic", &status_topic];
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let (api, smtp, worker_metrics, dlt_metrics) = (
        format!("127.0.0.1:{}", ports[0]),
        ports[1].to_string(),
        format!("127.0.0.1:{}", ports[2]),
        format!("127.0.0.1:{}", ports[3]),
    );
    let failing: Vec<String> = (0..FAILING).map(|i| format!("fail{i}@naver.com")).collect();
    let mut smtp_args = vec!["smtp-sink".to_string(), "--listen".into()];
    smtp_args.push(format!("127.0.0.1:{smtp}"));
    smtp_args.extend(["--permanent".into(), "nobody@naver.com".into()]);
    for to in &failing {
        smtp_args.extend(["--transient".into(), to.clone()]);
    }
    let smtp_out = dir.join("smtp.jsonl");
    smtp_args.extend(["--out".into(), smtp_out.to_str().unwrap().into()]);
    let smtp_args: Vec<&str> = smtp_args.iter().map(String::as_str).collect();
    let _smtp = mailer(&dir, "smtp", &smtp_args);
    let _api = mailer(
        &dir,
        "api",
        &[&["api", "--listen", &api][..], &topics].concat(),
    );
    let group = unique("email-send-group");
    let worker_args = [
        "worker",
        "--group",
        &group,
        "--smtp-port",
        &smtp,
        "--metrics-listen",
        &worker_metrics,
    ];
    let mut worker = mailer(&dir, "worker", &[&worker_args[..], &topics].concat());
    let dlt_group = unique("email-send-dlt-group");
    let dlt_log = dir.join("dlt.jsonl");
    let dlt_args = [
        "dlt-worker",
        "--group",
        &dlt_group,
        "--no-stdout",
        "--log-file",
        dlt_log.to_str().unwrap(),
        "--metrics-listen",
        &dlt_metrics,
    ];
    let _dlt_worker = mailer(&dir, "dlt-worker", &[&dlt_args[..], &topics].concat());

    let client = reqwest::Client::new();
    let base = format!("http://{api}");
    wait_until(Duration::from_secs(30), "the API", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;
    let recipients = (0..SENT)
        .map(|i| format!("member{i}@naver.com"))
        .chain(failing.iter().cloned())
        .chain(["nobody@naver.com".to_string()]);
    for to in recipients {
        let body =
            serde_json::json!({"from":"sender@naver.com","to":to,"subject":"제목","body":"내용"});
        let response = client
            .post(format!("{base}/emails"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    let (worker_url, dlt_url) = (
        format!("http://{worker_metrics}/metrics"),
        format!("http://{dlt_metrics}/metrics"),
    );
    let g = ("group", group.as_str());
    let main = [g, ("topic", topic.as_str()), ("stage", "main")];
    let last_retry = format!("{topic}-retry-8000");
    let last = [g, ("topic", last_retry.as_str()), ("stage", "retry")];
    let lag = [g, ("topic", topic.as_str()), ("partition", "0")];
    let dead_letters = [
        ("group", dlt_group.as_str()),
        ("topic", &dlt),
        ("stage", "dlt"),
    ];
    // Done: every dead letter handled by the DLT worker, no copy in flight, the lag reported.
    wait_until(
        Duration::from_secs(120),
        "the workload's last counts",
        || async {
            let (text, dlt_text) = (scrape(&worker_url).await, scrape(&dlt_url).await);
            let dead = sample(&dlt_text, "rebound_records_handled_total", &dead_letters);
            dead == Some((FAILING + 1) as f64)
                && sample(&text, "rebound_records_dead_lettered_total", &last)
                    == Some(FAILING as f64)
                && sample(&text, "rebound_copies_in_flight", &[g]) == Some(0.0)
                && sample(&text, "rebound_consumer_lag", &lag) == Some(0.0)
        },
    )
    .await;

    let text = scrape(&worker_url).await;
    let expect = |name: &str, labels: &[(&str, &str)], value: usize| {
        let found = sample(&text, name, labels);
        assert_eq!(found, Some(value as f64), "{name} {labels:?}\n{text}");
    };
    // The main topic: the good ones handled, the failing ones retried, the 550 dead-lettered.
    expect("rebound_records_handled_total", &main, SENT);
    for (class, count) in [("transient", FAILING), ("permanent", 1)] {
        let failed = [&main[..], &[("class", class)]].concat();
        expect("rebound_records_failed_total", &failed, count);
    }
    expect("rebound_records_retried_total", &main, FAILING);
    expect("rebound_records_dead_lettered_total", &main, 1);
    expect(
        "rebound_handler_duration_seconds_count",
        &main,
        SENT + FAILING + 1,
    );
    // Each retry topic: every failing e-mail once, late or not, failed again; the last one
    // dead-letters them.
    for delay in RETRY_DELAYS {
        let retry_topic = format!("{topic}-retry-{delay}");
        let stage = [g, ("topic", retry_topic.as_str()), ("stage", "retry")];
        let failed = [&stage[..], &[("class", "transient")]].concat();
        expect("rebound_records_failed_total", &failed, FAILING);
        expect("rebound_handler_duration_seconds_count", &stage, FAILING);
        expect("rebound_lateness_seconds_count", &stage, FAILING);
        let onward = match delay {
            8000 => "rebound_records_dead_lettered_total",
            _ => "rebound_records_retried_total",
        };
        expect(onward, &stage, FAILING);
        // Registered when the worker started: a dashboard sees the zero before the first one.
        expect("rebound_records_handled_total", &stage, 0);
    }
    // Only a retry topic has due times; key order (the mailer's default) holds no key now.
    assert_eq!(sample(&text, "rebound_lateness_seconds_count", &main), None);
    expect("rebound_keys_held", &[g], 0);
    if std::env::var_os("SHOW_METRICS").is_some() {
        println!("{text}");
    }

    // The services' own counters sit beside the library's on the same endpoints.
    let dlt_text = scrape(&dlt_url).await;
    let dead = sample(&dlt_text, "mailer_dead_letters_total", &[]);
    assert_eq!(dead, Some((FAILING + 1) as f64), "{dlt_text}");
    let api_text = scrape(&format!("{base}/metrics")).await;
    let accepted = sample(&api_text, "mailer_api_requests_total", &[("status", "202")]);
    assert_eq!(accepted, Some((SENT + FAILING + 1) as f64), "{api_text}");

    // The workload was what it says: the good ones delivered once, Korean intact.
    let mails = json_lines(&smtp_out);
    assert_eq!(mails.len(), SENT, "{mails:?}");
    assert!(mails
        .iter()
        .all(|m| m["subject"] == "제목" && m["body"] == "내용"));
    assert_eq!(json_lines(&dlt_log).len(), FAILING + 1);
    assert!(worker.alive());
}
