//! `rebound dlt redrive --canary`: against a consumer that still fails, the command sends the
//! canary, sees its copies come back, pauses without waiting out the canary's wait, and says so.

use std::process::Command;
use std::time::{Duration, Instant};

use rebound::headers::Headers;
use rebound::{Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

fn rebound(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .env("KAFKA_BROKERS", kafka().brokers())
        .output()
        .expect("run rebound")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_comes_back_pauses_the_redrive() {
    init_tracing();
    let main = unique("cli-canary");
    create_topic(&main, 1).await;
    // Still broken: every delivery fails, straight into `<main>.dlt`.
    let consumer = RetryingConsumer::builder(kafka(), &main, &unique("cli-canary-group"))
        .policy(RetryPolicy::new(1).dlt_suffix(".dlt"))
        .handler(|_: Record| async { Err::<(), _>(Failure::msg("451 4.3.0 mailbox busy")) })
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    let consumer = RunningConsumer::spawn(consumer);
    let producer = producer();
    for i in 0..6 {
        let key = format!("member{i}@naver.com");
        let payload = format!(r#"{{"to":"{key}","subject":"제목","body":"내용"}}"#);
        produce(
            &producer,
            &main,
            None,
            Some(&key),
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    wait_until(Duration::from_secs(60), "six dead letters", || async {
        count(&dlt) == 6
    })
    .await;

    let refused = rebound(&["dlt", "redrive", &dlt, "--pause-above", "120%"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not a percentage from 0 to 100"),
        "{stderr}"
    );

    let started = Instant::now();
    let output = rebound(&[
        "dlt",
        "redrive",
        &dlt,
        "--canary",
        "2",
        "--canary-wait",
        "2m",
    ]);
    let took = started.elapsed();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        took < Duration::from_secs(60),
        "paused when the copies came back, not after 2 minutes: {took:?}"
    );
    assert_eq!(stdout.matches("\tsent to ").count(), 2, "{stdout}");
    assert_eq!(
        stdout
            .matches("skipped: the run paused before sending it")
            .count(),
        4,
        "{stdout}"
    );
    assert!(stderr.contains("paused: "), "{stderr}");
    assert!(
        stderr.contains("redriven copies came back to the DLT"),
        "{stderr}"
    );
    assert!(stderr.contains("more than the 20 % allowed"), "{stderr}");
    consumer.stop().await.unwrap();
}
