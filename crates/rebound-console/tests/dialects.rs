//! Other writers' dead letters in the console against a real broker: a Kafka Connect DLQ record
//! and a share-group DLQ pointer with hostile bytes in their own headers (connector, group,
//! message, a non-UTF-8 number) are shown in their dialect, every new field escaped, the header
//! warnings listed; the chains page finds the share group's `dlq.` topic and names its dialect.

mod support;

use axum::http::StatusCode;
use rebound::headers::Headers;
use rebound_console::Tokens;
use support::*;
use testkit::*;

const SCRIPT: &str = "<script>alert(1)</script>";

/// No markup of ours from the record: the hostile text only ever escaped.
fn assert_escaped(path: &str, body: &str) {
    for raw in [SCRIPT, "<img src=x onerror=alert(1)>", "<b onmouseover"] {
        assert!(!body.contains(raw), "{path}: {raw} appears unescaped");
    }
    let ours = body.matches(r#"<script src="/assets/"#).count();
    assert_eq!(
        body.matches("<script").count(),
        ours,
        "{path}: a script not ours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_share_group_dead_letters_are_shown_escaped_in_their_dialect() {
    let source = unique("console-dialect-src");
    let connect_dlq = format!("{source}.connect-dlq");
    let share_dlq = format!("dlq.{source}");
    // Connect's DLQ follows no naming convention: the console is told its name. The only test
    // of this file, so no other test sees the variable.
    std::env::set_var("REBOUND_DLQS", &connect_dlq);
    for topic in [&source, &connect_dlq, &share_dlq] {
        create_topic(topic, 1).await;
    }
    let mut connect = Headers::new();
    connect.push("__connect.errors.topic", source.clone());
    connect.push("__connect.errors.partition", vec![0xff, 0x00]);
    connect.push("__connect.errors.offset", "7");
    connect.push("__connect.errors.connector.name", format!("sink {SCRIPT}"));
    connect.push("__connect.errors.stage", "VALUE_CONVERTER");
    connect.push(
        "__connect.errors.exception.class.name",
        "\"><img src=x onerror=alert(1)>",
    );
    connect.push(
        "__connect.errors.exception.message",
        format!("제목 {SCRIPT}"),
    );
    connect.push(
        "__connect.errors.exception.stacktrace",
        format!("</pre>{SCRIPT}"),
    );
    produce(
        &producer(),
        &connect_dlq,
        Some(0),
        Some("k"),
        "내용 <b onmouseover=x>".as_bytes(),
        &connect,
    )
    .await;

    // A pointer (no key, no value) to a record that was never there.
    let mut share = Headers::new();
    share.push("__dlq.errors.topic", source.clone());
    share.push("__dlq.errors.partition", "0");
    share.push("__dlq.errors.offset", "99");
    share.push("__dlq.errors.group", format!("workers {SCRIPT}"));
    share.push("__dlq.errors.delivery.count", "<b onmouseover=alert(1)>");
    share.push("__dlq.errors.message", "Offset rejected by client.");
    let record = rdkafka::producer::FutureRecord::<[u8], [u8]>::to(&share_dlq)
        .partition(0)
        .headers(share.to_kafka());
    producer()
        .send(record, std::time::Duration::from_secs(10))
        .await
        .unwrap();

    let router = console(Tokens::default(), false).router();
    let page = get(&router, &format!("/dlt/{connect_dlq}/0@0"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_escaped("connect", &page.body);
    page.assert_shows(&[
        r#"<dd class="dialect">connect</dd>"#,
        "connector sink &#60;script&#62;",
        "제목 &#60;script&#62;", // Korean kept
        "__connect.errors.partition is not a decimal number: 0xff00",
    ]);

    let page = get(&router, &format!("/dlt/{share_dlq}/0@0"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_escaped("share group", &page.body);
    let pointer = format!("a share-group pointer to {source}-0@99, which {source} no longer holds");
    page.assert_shows(&[
        r#"<dd class="dialect">share-group</dd>"#,
        "group workers &#60;script&#62;",
        &pointer,
        "__dlq.errors.delivery.count is not a decimal number",
    ]);

    // The chains page finds the share group's DLQ by its prefix, under its source topic.
    wait_for_page(&router, "/", None, &share_dlq).await;
    let page = get(&router, "/", None).await;
    assert_escaped("/", &page.body);
    page.assert_shows(&[r#"dlt <span class="dialect">share-group</span>"#]);
}
