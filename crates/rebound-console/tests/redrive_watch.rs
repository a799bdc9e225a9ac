//! A canary redrive from the console, against a real consumer that still fails: the form shows
//! the canary and the equivalent command, the job's progress comes as server-sent events, and the
//! job pauses itself when the canary's copies come back, saying why and offering the rest.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use rebound::{Failure, Record, RetryPolicy, RetryingConsumer};
use rebound_console::Tokens;
use support::*;
use testkit::*;
use tower::ServiceExt;

/// The first event of the server-sent events at `path`: its name and data.
async fn first_event(router: &axum::Router, path: &str) -> (String, String) {
    let request = Request::builder()
        .uri(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let mut text = String::new();
    // The stream never ends while the job runs: read frames until one whole event is in.
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (field("event:"), field("data:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_redrive_pauses_itself_when_its_copies_come_back() {
    init_tracing();
    let main = unique("console-canary");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    for i in 0..8 {
        let key = format!("member{i}@naver.com");
        let seed = Seed {
            key: &key,
            error: "451 4.7.1 try again later",
            payload: r#"{"제목":"환영합니다","내용":"가입을 축하합니다"}"#.as_bytes(),
            extra_headers: vec![],
            origin: &main,
        };
        dead_letter(&dlt, &seed).await;
    }
    // The consumer is still broken: every copy dies again, straight into the DLT.
    let consumer = RetryingConsumer::builder(kafka(), &main, &unique("console-canary-group"))
        .policy(RetryPolicy::new(1).dlt_suffix(".dlt"))
        .handler(|_: Record| async { Err::<(), _>(Failure::msg("451 4.7.1 try again later")) })
        .build()
        .unwrap();
    let consumer = RunningConsumer::spawn(consumer);

    let router = rebound_console::Console::new(
        kafka(),
        rebound_console::Settings {
            tokens: Tokens::default(),
            local_operator: "tester@console".into(),
            ..Default::default()
        },
    )
    .unwrap()
    .router();
    wait_for_page(&router, &format!("/dlt/{dlt}"), None, "8 selected").await;

    // The form shows the canary's fields and the command with its flags.
    let canary = "canary=2&canary_wait=60s&pause_above=20";
    let form = get(&router, &format!("/dlt/{dlt}/redrive?{canary}"), None).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body.contains(&format!(
            "rebound dlt redrive {dlt} --canary 2 --canary-wait 60s --pause-above 20%"
        )),
        "{}",
        form.body
    );
    let refused = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "canary=0&confirm=8",
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("not a number of records above 0"));
    assert_eq!(count(&main), 0, "nothing sent");

    let started = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        &format!("{canary}&confirm=8"),
        None,
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let job = started.location().to_string();
    // While it runs (the copies take a consumer's poll and a DLT write to come back), its page
    // follows its events, and reloads itself only without script.
    let running = get(&router, &job, None).await.body;
    assert!(running.contains("data-job-progress"), "{running}");
    assert!(
        running.contains(&format!(r#"data-live="{job}/events""#)),
        "{running}"
    );
    assert!(
        running.contains(r#"<noscript><meta http-equiv="refresh""#),
        "{running}"
    );
    let (event, data) = first_event(&router, &format!("{job}/events")).await;
    assert!(
        (event == "progress" && data.starts_with("Running:")) || event == "finished",
        "{event}: {data}"
    );

    // The two copies die again; the job pauses without waiting out its minute.
    wait_for_page(&router, &job, None, "Paused: ").await;
    let page = get(&router, &job, None).await.body;
    assert!(page.contains("Sent 2, skipped 6"), "{page}");
    assert!(page.contains("came back to the DLT"), "{page}");
    assert!(
        page.contains("Redrive the rest of this selection"),
        "{page}"
    );
    assert_eq!(count(&main), 2, "only the canary went out");
    let (event, _) = first_event(&router, &format!("{job}/events")).await;
    assert_eq!(event, "finished");
    // The ledger keeps why the rest were released.
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/ledger"),
        None,
        "redriven copies came back to the DLT",
    )
    .await;
    consumer.stop().await.unwrap();
}
