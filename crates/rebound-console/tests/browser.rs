//! The console in a real headless Chromium (Debian's, driven over WebDriver), on a broker of its
//! own holding the scenario's chain: the dead letters are listed and grouped, a filter narrows
//! them, the detail shows `제목`/`내용`, a redrive with its typed confirmation sends the record
//! home, a discard asks for its reason and lands in the archive (listed there with it), a viewer
//! cannot act, and the live tail shows a new dead letter without a reload.
//!
//! Each page is saved as a screenshot under `target/screenshots/` (the README shows them).

use std::path::PathBuf;
use std::time::Duration;

use rebound::headers::{self as h, Headers};
use rebound_console::{Console, Settings, Tokens};
use testkit::browser::fantoccini::{Client, Locator};
use testkit::browser::Browser;
use testkit::process::free_port;
use testkit::*;

const VIEWER: &str = "viewer-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

/// The scenario's chain, as the e-mail service's `@RetryableTopic` names it.
const MAIN: &str = "email.send";
const DLT: &str = "email.send.dlt";

/// A dead letter of the scenario: the Java producer's JSON, dead after five attempts.
async fn dead_letter(cluster: &Cluster, to: &str, error: &str) {
    let payload = serde_json::json!({
        "from": "sender@naver.com", "to": to, "subject": "제목", "body": "내용",
    });
    let mut headers = Headers::new();
    headers.push(h::ORIGINAL_TOPIC, MAIN.to_string());
    headers.push(h::ORIGINAL_PARTITION, h::encode_i32(0));
    headers.push(h::ORIGINAL_OFFSET, h::encode_i64(0));
    headers.push(h::EXCEPTION_FQCN, "rebound::failure::Message".to_string());
    headers.push(h::FAILURE_CLASS, "transient".to_string());
    headers.push(h::EXCEPTION_MESSAGE, error.to_string());
    headers.push(h::ATTEMPTS, h::encode_i32(5));
    produce(
        &cluster.producer(),
        DLT,
        Some(0),
        Some(to),
        payload.to_string().as_bytes(),
        &headers,
    )
    .await;
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The text of the page's body.
async fn body(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The text of the first element `css` selects, `None` while there is none. A live page replaces
/// elements as updates arrive, so an element found can be gone ("stale") before its text is read:
/// that too is "not yet", for the caller's wait to read again.
async fn live_text(client: &Client, css: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Loads `url` again until its body shows `text` (the index reads the DLT in the background).
async fn wait_for_text(client: &Client, url: &str, text: &str) {
    wait_until(
        Duration::from_secs(60),
        &format!("{url} to show {text}"),
        || async {
            client.goto(url).await.is_ok()
                && live_text(client, "body")
                    .await
                    .is_some_and(|body| body.contains(text))
        },
    )
    .await;
}

async fn sign_in(client: &Client, base: &str, token: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = client.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("token", token).await.unwrap();
    form.submit().await.unwrap();
}

/// Fills the action page's form (`fields` by name, then the typed count) and submits it.
async fn confirm(client: &Client, fields: &[(&str, &str)]) {
    let count = client
        .find(Locator::Css("p.count strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = client.form(Locator::Css("form.confirm")).await.unwrap();
    for (name, value) in fields {
        form.set_by_name(name, value).await.unwrap();
    }
    form.set_by_name("confirm", &count).await.unwrap();
    form.submit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_redrives_and_discards_dead_letters_in_a_browser() {
    init_tracing();
    let broker = PrivateBroker::start();
    let cluster = Cluster(broker.kafka());
    let retries = ["email.send-retry-1000", "email.send-retry-2000"];
    let mut topics = vec![MAIN, DLT];
    topics.extend(retries);
    cluster.create_topics(&topics, 1, &[]).await;
    for to in ["fail@naver.com", "busy1@naver.com", "busy2@naver.com"] {
        dead_letter(&cluster, to, "451 4.2.1 mailbox busy, try again later").await;
    }
    for to in ["nobody@naver.com", "gone@naver.com"] {
        dead_letter(
            &cluster,
            to,
            "550 5.1.1 잘못된 이메일 주소로 인해 발송 실패",
        )
        .await;
    }

    let tokens = Tokens::parse(
        &format!("viewer:{VIEWER}\noperator:olga:{OPERATOR}"),
        "test tokens",
    )
    .unwrap();
    let port = free_port();
    let settings = Settings {
        tokens,
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        ..Settings::default()
    };
    let console = Console::new(broker.kafka(), settings).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(console.serve(listener, async {
        let _ = stopped.await;
    }));
    let base = format!("http://127.0.0.1:{port}");
    let list = format!("{base}/dlt/{DLT}");

    let browser = Browser::start().await;
    let client = &browser.client;
    sign_in(client, &base, OPERATOR).await;
    wait_for_text(client, &format!("{base}/"), DLT).await;
    screenshot(client, "chains").await;

    // Listed and grouped: two failures, three and two dead letters.
    wait_for_text(client, &list, "5 selected").await;
    let groups = client
        .find_all(Locator::Css("table.groups tbody tr"))
        .await
        .unwrap();
    assert_eq!(groups.len(), 2, "{}", body(client).await);
    let text = body(client).await;
    assert!(text.contains("mailbox busy"), "{text}");
    assert!(
        text.contains("잘못된 이메일 주소로 인해 발송 실패"),
        "{text}"
    );
    screenshot(client, "dlt").await;

    // A filter narrows them.
    let filters = client.form(Locator::Css("form.filters")).await.unwrap();
    filters.set_by_name("error", "550").await.unwrap();
    filters.submit().await.unwrap();
    // The submit returns before the filtered page has replaced the list: wait for it.
    wait_until(Duration::from_secs(30), "the filtered list", || async {
        match client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.is_ok_and(|t| t.contains("2 selected")),
            Err(_) => false, // between the two pages
        }
    })
    .await;
    let rows = client
        .find_all(Locator::Css("table.letters tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{}", body(client).await);

    // The detail: the payload's Korean intact.
    client.goto(&format!("{list}/0@0")).await.unwrap();
    let text = body(client).await;
    for korean in ["제목", "내용"] {
        assert!(text.contains(korean), "{korean} missing: {text}");
    }
    assert!(text.contains("fail@naver.com"), "{text}");
    screenshot(client, "dead_letter").await;

    // Redrive it from a second tab: a dry-run count first, then the typed confirmation; the
    // record goes home, and the first tab, left alone, shows the new status without a reload.
    let first_tab = client.window().await.unwrap();
    client
        .execute("window.loadedOnce = true; return null;", vec![])
        .await
        .unwrap();
    let second_tab = client.new_window(true).await.unwrap().handle;
    client.switch_to_window(second_tab).await.unwrap();
    client.goto(&format!("{list}/0@0")).await.unwrap();
    client
        .find(Locator::LinkText("Redrive…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(body(client).await.contains("Dry run: 1 would be"));
    screenshot(client, "redrive").await;
    confirm(client, &[]).await;
    wait_until(
        Duration::from_secs(60),
        "the redriven copy in email.send",
        || {
            let home = cluster.read_all(MAIN);
            async move { home.len() == 1 }
        },
    )
    .await;
    let home = &cluster.read_all(MAIN)[0];
    assert_eq!(home.key(), Some("fail@naver.com".as_bytes()));
    assert!(text_of(home).contains("제목"));
    let job = client.current_url().await.unwrap().to_string();
    wait_for_text(client, &job, "sent").await;
    screenshot(client, "job").await;
    client.switch_to_window(first_tab).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the first tab's status to change in place",
        || async {
            live_text(client, "[data-status-of='0@0']").await.as_deref() == Some("redriven")
        },
    )
    .await;
    let same_page = client
        .execute("return window.loadedOnce === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same_page,
        serde_json::json!(true),
        "the page was not reloaded"
    );

    // Discard one: the reason is required, and the copy lands in the archive.
    client
        .goto(&format!("{list}/discard?at=0@3"))
        .await
        .unwrap();
    let reason = client
        .find(Locator::Css("form.confirm input[name=reason]"))
        .await
        .unwrap();
    assert_eq!(
        reason.attr("required").await.unwrap().as_deref(),
        Some("true"),
        "the browser asks for the reason"
    );
    confirm(client, &[("reason", "탈퇴한 회원 (member left)")]).await;
    let archive = format!("{DLT}.archive");
    wait_until(
        Duration::from_secs(60),
        "the discarded copy in the archive",
        || {
            let archived = cluster.count(&archive);
            async move { archived == 1 }
        },
    )
    .await;
    wait_for_text(client, &format!("{list}/0@3"), "discarded").await;
    // The archive lists the copy with its reason, who and when.
    wait_for_text(
        client,
        &format!("{list}/archive"),
        "탈퇴한 회원 (member left)",
    )
    .await;
    assert!(body(client).await.contains("nobody@naver.com"));
    screenshot(client, "archive").await;

    // A viewer reads, and cannot act: no action on the page, and the server refuses the URL.
    client
        .find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    sign_in(client, &base, VIEWER).await;
    wait_for_text(client, &list, "5 selected").await;
    assert!(
        client
            .find_all(Locator::Css("input[name=at]"))
            .await
            .unwrap()
            .is_empty(),
        "a viewer has no selection boxes"
    );
    client
        .goto(&format!("{list}/redrive?at=0@1"))
        .await
        .unwrap();
    let text = body(client).await;
    assert!(text.contains("needs the operator role"), "{text}");

    // The live tail: a dead letter arriving now shows at the top without a reload.
    client.goto(&format!("{list}/tail")).await.unwrap();
    client
        .execute("window.loadedOnce = true; return null;", vec![])
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the tail to follow live",
        || async {
            client
                .find(Locator::Css("main[data-live-state='open']"))
                .await
                .is_ok()
        },
    )
    .await;
    dead_letter(&cluster, "late@naver.com", "421 4.4.2 연결 시간 초과").await;
    wait_until(
        Duration::from_secs(30),
        "the new dead letter at the top of the tail",
        || async {
            live_text(client, "#tail-rows tr")
                .await
                .is_some_and(|first| {
                    first.contains("late@naver.com") && first.contains("연결 시간 초과")
                })
        },
    )
    .await;
    let same_page = client
        .execute("return window.loadedOnce === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same_page,
        serde_json::json!(true),
        "the tail was not reloaded"
    );
    screenshot(client, "tail").await;
    assert_eq!(cluster.read_all(MAIN).len(), 1, "nothing more was sent");

    browser.close().await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn text_of(record: &rebound::Record) -> String {
    String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned()
}
