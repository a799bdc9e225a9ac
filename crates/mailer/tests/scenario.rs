//! The scenario end to end, with every part a real process: the API, the worker, the dead-letter
//! worker, a real SMTP server and a webhook receiver standing in for Slack, on the real broker.

use std::path::Path;
use std::time::Duration;

use rebound::headers::{self as h, Headers};
use testkit::process::{free_port, json_lines, service, temp_dir, Process};
use testkit::*;

/// A `mailer` subcommand running as its own process on the test broker; killed when dropped.
fn mailer(dir: &Path, name: &str, args: &[&str]) -> Process {
    service(dir, name, Path::new(env!("CARGO_BIN_EXE_mailer")), args)
}

async fn wait_for_http(url: &str) {
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(30), url, || async {
        client.get(url).send().await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_through_the_http_api() {
    init_tracing();
    let dir = temp_dir("scenario");
    let topic = unique("email.send");
    let (dlt, status_topic) = (format!("{topic}.dlt"), format!("{topic}.status"));
    create_topic(&topic, 1).await;
    let (api_port, smtp_port, hook_port) = (free_port(), free_port(), free_port());
    let topics = ["--topic", &topic, "--status-topic", &status_topic];
    let (smtp_out, hook_out, dlt_log) = (
        dir.join("smtp.jsonl"),
        dir.join("hooks.jsonl"),
        dir.join("dlt.jsonl"),
    );
    let _smtp = mailer(
        &dir,
        "smtp",
        &[
            "smtp-sink",
            "--listen",
            &format!("127.0.0.1:{smtp_port}"),
            "--out",
            smtp_out.to_str().unwrap(),
        ],
    );
    let _hook = mailer(
        &dir,
        "hook",
        &[
            "webhook-sink",
            "--listen",
            &format!("127.0.0.1:{hook_port}"),
            "--out",
            hook_out.to_str().unwrap(),
        ],
    );
    let _api = mailer(
        &dir,
        "api",
        &[
            &["api", "--listen", &format!("127.0.0.1:{api_port}")][..],
            &topics,
        ]
        .concat(),
    );
    let group = unique("email-send-group");
    let smtp_port_text = smtp_port.to_string();
    let worker_args = [
        "worker",
        "--group",
        &group,
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &smtp_port_text,
    ];
    let _worker = mailer(&dir, "worker", &[&worker_args[..], &topics].concat());
    let dlt_group = unique("email-send-dlt-group");
    let webhook = format!("http://127.0.0.1:{hook_port}/services/T000/B000/secret");
    let dlt_args = [
        "dlt-worker",
        "--group",
        &dlt_group,
        "--slack-webhook",
        &webhook,
        "--log-file",
        dlt_log.to_str().unwrap(),
        "--alert-window-secs",
        "1",
    ];
    let mut dlt_worker = mailer(&dir, "dlt-worker", &[&dlt_args[..], &topics].concat());
    let base = format!("http://127.0.0.1:{api_port}");
    wait_for_http(&format!("{base}/healthz")).await;

    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for to in ["member@naver.com", "fail@naver.com", "nobody@naver.com"] {
        let body =
            serde_json::json!({"from":"sender@naver.com","to":to,"subject":"제목","body":"내용"});
        let response = client
            .post(format!("{base}/emails"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            location,
            format!("/emails/{}", answer["id"].as_str().unwrap())
        );
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    let status = |id: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let v: serde_json::Value = client
                .get(format!("{base}/emails/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    wait_until(Duration::from_secs(60), "final statuses", || async {
        let s: Vec<String> = futures::future::join_all(ids.iter().cloned().map(status))
            .await
            .iter()
            .map(|v| v["status"].as_str().unwrap_or("").to_string())
            .collect();
        s == ["sent", "dead", "dead"]
    })
    .await;
    let fail_status = status(ids[1].clone()).await;
    assert!(
        fail_status["reason"].as_str().unwrap().contains("451"),
        "{fail_status}"
    );
    let nobody_status = status(ids[2].clone()).await;
    assert!(
        nobody_status["reason"].as_str().unwrap().contains("550"),
        "{nobody_status}"
    );

    // The good e-mail reached the SMTP server once, Korean intact.
    let mails = json_lines(&smtp_out);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"], serde_json::json!(["member@naver.com"]));
    assert_eq!(mails[0]["subject"], "제목");
    assert_eq!(mails[0]["body"], "내용");

    // fail@naver.com walked the whole chain; nobody@naver.com went straight to the DLT.
    for delay in [1000, 2000, 4000, 8000] {
        let records = read_all(&format!("{topic}-retry-{delay}"));
        assert_eq!(records.len(), 1, "retry-{delay}");
        assert!(text(&records[0]).contains("fail@naver.com"));
    }
    let dead = read_all(&dlt);
    assert_eq!(dead.len(), 2);
    let attempts: Vec<_> = dead
        .iter()
        .map(|r| {
            (
                r.key_text().unwrap(),
                r.headers().last(h::ATTEMPTS).map(<[u8]>::to_vec),
            )
        })
        .collect();
    assert!(
        // Spring's meaning on a DLT copy: deliveries + 1.
        attempts.contains(&("fail@naver.com".into(), Some(vec![0, 0, 0, 6]))),
        "{attempts:?}"
    );
    assert!(
        attempts.contains(&("nobody@naver.com".into(), Some(vec![0, 0, 0, 2]))),
        "{attempts:?}"
    );

    // Each dead letter logged once and alerted once.
    wait_until(Duration::from_secs(10), "two alerts", || async {
        json_lines(&hook_out).len() == 2
    })
    .await;
    let logged = json_lines(&dlt_log);
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(logged.iter().any(|l| l["payload"]["subject"] == "제목"
        && l["key"] == "fail@naver.com"
        && l["attempts"] == 5));
    let alerts = json_lines(&hook_out);
    for recipient in ["fail@naver.com", "nobody@naver.com"] {
        assert_eq!(
            alerts
                .iter()
                .filter(|a| a["text"].as_str().unwrap().contains(recipient))
                .count(),
            1,
            "{alerts:?}"
        );
    }
    assert!(alerts
        .iter()
        .all(|a| a["text"].as_str().unwrap().contains("rebound dlt redrive")));
    // The webhook URL is a secret: never in the logs.
    let log = std::fs::read_to_string(dir.join("dlt-worker.log")).unwrap();
    assert!(
        !log.contains("secret"),
        "the webhook URL leaked into the log"
    );
    assert!(dlt_worker.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_down_then_back_loses_no_alert() {
    init_tracing();
    let dir = temp_dir("slack-down");
    let dlt = unique("email.send") + ".dlt";
    create_topic(&dlt, 1).await;
    let (hook_port, metrics_port) = (free_port(), free_port());
    let down = dir.join("slack-is-down");
    std::fs::write(&down, "").unwrap();
    let hook_out = dir.join("hooks.jsonl");
    let _hook = mailer(
        &dir,
        "hook",
        &[
            "webhook-sink",
            "--listen",
            &format!("127.0.0.1:{hook_port}"),
            "--out",
            hook_out.to_str().unwrap(),
            "--down-while",
            down.to_str().unwrap(),
        ],
    );
    let webhook = format!("http://127.0.0.1:{hook_port}/hook");
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let dlt_log = dir.join("dlt.jsonl");
    let group = unique("g");
    let status_topic = format!("{dlt}.status");
    let mut worker = mailer(
        &dir,
        "dlt-worker",
        &[
            "dlt-worker",
            "--dlt-topic",
            &dlt,
            "--status-topic",
            &status_topic,
            "--group",
            &group,
            "--slack-webhook",
            &webhook,
            "--alert-window-secs",
            "0",
            "--metrics-listen",
            &metrics_listen,
            "--log-file",
            dlt_log.to_str().unwrap(),
            "--no-stdout",
        ],
    );
    let producer = producer();
    for i in 0..3 {
        let mut headers = Headers::new();
        headers.push(h::ORIGINAL_TOPIC, "email.send");
        headers.push(h::EXCEPTION_MESSAGE, format!("failure number {i}"));
        let payload = format!(r#"{{"id":"m{i}","to":"user{i}@naver.com","subject":"제목"}}"#);
        produce(
            &producer,
            &dlt,
            None,
            Some(&format!("user{i}@naver.com")),
            payload.as_bytes(),
            &headers,
        )
        .await;
    }
    let metrics_url = format!("http://{metrics_listen}/metrics");
    wait_for_http(&metrics_url).await;
    let failures = || async {
        let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        text.lines()
            .find(|l| l.starts_with("mailer_alert_failures_total "))?
            .split(' ')
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    wait_until(
        Duration::from_secs(60),
        "alerts failing while Slack is down",
        || async { failures().await.unwrap_or(0) >= 2 },
    )
    .await;
    assert!(json_lines(&hook_out).is_empty());
    assert!(worker.alive(), "the worker survives Slack being down");

    std::fs::remove_file(&down).unwrap();
    wait_until(
        Duration::from_secs(60),
        "every dead letter alerted after Slack came back",
        || async { json_lines(&hook_out).len() == 3 },
    )
    .await;
    let alerts = json_lines(&hook_out);
    for i in 0..3 {
        assert!(
            alerts.iter().any(|a| a["text"]
                .as_str()
                .unwrap()
                .contains(&format!("failure number {i}"))),
            "{alerts:?}"
        );
    }
    assert_eq!(
        json_lines(&dlt_log).len(),
        3,
        "logged once each despite the retried alerts"
    );
    assert!(worker.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_server_gone_then_back_loses_and_doubles_nothing() {
    init_tracing();
    let dir = temp_dir("smtp-gone");
    let topic = unique("email.send");
    let status_topic = format!("{topic}.status");
    create_topic(&topic, 1).await;
    let (api_port, smtp_port) = (free_port(), free_port());
    let smtp_out = dir.join("smtp.jsonl");
    let topics = ["--topic", &topic, "--status-topic", &status_topic];
    let _api = mailer(
        &dir,
        "api",
        &[
            &["api", "--listen", &format!("127.0.0.1:{api_port}")][..],
            &topics,
        ]
        .concat(),
    );
    let group = unique("g");
    let smtp_port_text = smtp_port.to_string();
    // The SMTP server is not there yet: every first attempt fails to connect (transient).
    let worker_args = [
        "worker",
        "--group",
        &group,
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &smtp_port_text,
        "--delay-ms",
        "500",
    ];
    let _worker = mailer(&dir, "worker", &[&worker_args[..], &topics].concat());
    let base = format!("http://127.0.0.1:{api_port}");
    wait_for_http(&format!("{base}/healthz")).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        let body = serde_json::json!({"from":"sender@naver.com","to":format!("member{i}@naver.com"),"subject":"제목","body":"내용"});
        let answer: serde_json::Value = client
            .post(format!("{base}/emails"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    let states = || async {
        let mut states = Vec::new();
        for id in &ids {
            let v: serde_json::Value = client
                .get(format!("{base}/emails/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            states.push(v["status"].as_str().unwrap_or("").to_string());
        }
        states
    };
    wait_until(
        Duration::from_secs(60),
        "every e-mail retrying while SMTP is gone",
        || async { states().await.iter().all(|s| s == "retrying") },
    )
    .await;
    let _smtp = mailer(
        &dir,
        "smtp",
        &[
            "smtp-sink",
            "--listen",
            &format!("127.0.0.1:{smtp_port}"),
            "--out",
            smtp_out.to_str().unwrap(),
        ],
    );
    wait_until(
        Duration::from_secs(60),
        "every e-mail sent once SMTP is back",
        || async { states().await.iter().all(|s| s == "sent") },
    )
    .await;
    let mails = json_lines(&smtp_out);
    let recipients: std::collections::BTreeSet<String> = mails
        .iter()
        .map(|m| m["to"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recipients.len(), 10, "none lost");
    assert_eq!(mails.len(), 10, "none sent twice");
    assert_eq!(count(&format!("{topic}.dlt")), 0);
}
