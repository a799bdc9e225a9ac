//! Dead letters through the console against a real broker: hostile bytes only ever escaped on
//! every page, Korean intact, the index following new dead letters, a redrive that sends the
//! record home and shows in the ledger, and a discard that needs its reason.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use rebound_console::Tokens;
use support::*;
use testkit::*;

/// Markup a dead letter may carry; none of it may reach a page unescaped.
const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">",
    "<b onmouseover=alert(1)>",
    "</pre><script>",
    "<style>",
];

/// The body has no markup from the dead letter: none of [`HOSTILE`] raw, no element with an
/// event-handler attribute, no inline style, and every `<script` is the vendored htmx or our
/// `live.js`.
fn assert_escaped(path: &str, body: &str) {
    for raw in HOSTILE {
        assert!(!body.contains(raw), "{path}: {raw} appears unescaped");
    }
    let handler = regex::Regex::new(r"<[a-zA-Z][^>]*\s[oO][nN][a-zA-Z]+\s*=").unwrap();
    assert!(
        !handler.is_match(body),
        "{path}: an event-handler attribute"
    );
    assert!(!body.contains(" style="), "{path}: an inline style");
    let scripts = body.matches("<script").count();
    let ours = [
        r#"<script src="/assets/htmx.min.js" defer></script>"#,
        r#"<script src="/assets/live.js" defer></script>"#,
    ]
    .iter()
    .map(|tag| body.matches(tag).count())
    .sum::<usize>();
    assert_eq!(
        scripts, ours,
        "{path}: a script that is not htmx or live.js"
    );
    assert!(
        !body.contains("href=\"javascript:"),
        "{path}: a javascript: link"
    );
}

/// `text` as the templates escape it.
fn html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_dead_letters_are_escaped_on_every_page() {
    let origin = "\"><script>alert(1)</script>";
    let seed = Seed {
        key: "<script>alert(1)</script>",
        error: "\"><img src=x onerror=alert(1)> <b onmouseover=alert(1)>",
        payload: b"<a href=\"javascript:alert(1)\">click</a></pre><script>alert(1)</script><style>",
        extra_headers: vec![
            ("<b onmouseover=alert(1)>", "<script>alert(1)</script>"),
            (
                rebound::headers::EXCEPTION_STACKTRACE,
                "</pre><script>alert(1)</script>\n\tat <a href=\"javascript:alert(1)\">",
            ),
        ],
        origin,
    };
    let (_, dlt) = chain("console-hostile", &[seed]).await;
    let router = console(Tokens::default(), false).router();
    let list = format!("/dlt/{dlt}");
    wait_for_page(&router, &list, None, "0@0").await;
    // A discard with a hostile reason puts markup in the ledger and the job page too.
    let reason = "<script>alert(1)</script> \"><img src=x onerror=alert(1)>";
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("at", "0@0")
        .append_pair("confirm", "1")
        .append_pair("reason", reason)
        .finish();
    let page = post(&router, &format!("/dlt/{dlt}/discard"), &body, None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let job = page.location().to_string();
    wait_for_page(&router, &job, None, "Discarded 1").await;
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/ledger"),
        None,
        "<td>discarded</td>",
    )
    .await;
    // The archived copy carries the same bytes, and the hostile reason in its stamp.
    wait_for_page(&router, &format!("{list}/archive"), None, "archive:0@0").await;
    let key_filter = form_urlencoded::Serializer::new(String::new())
        .append_pair("key", "<script>alert(1)</script>")
        .append_pair("error", "\"><img")
        .append_pair("origin", origin)
        .finish();
    let paths = [
        list.clone(),
        format!("{list}?{key_filter}"),
        format!("{list}?error=%3Cscript&regex=1&status=discarded"),
        format!("{list}/0@0"),
        format!("{list}/ledger"),
        format!("{list}/tail"),
        format!("{list}/tail?{key_filter}"),
        format!("{list}/tail/rows"),
        format!("{list}/redrive?at=0@0&status=pending"),
        format!("{list}/discard?{key_filter}"),
        format!("{list}/archive"),
        format!("{list}/archive?{key_filter}"),
        format!("{list}/archive:0@0"),
        format!("{list}/redrive?source=archive&at=0@0"),
        format!("{list}/ledger?action=discarded&by=%3Cscript%3E"),
        // A bad filter echoes what was typed in its message.
        format!("{list}?error=%3Cscript%3E(&regex=1"),
        format!("{list}?since=%3Cscript%3Ealert(1)%3C/script%3E"),
        format!("{list}/archive?until=%3Cscript%3Ealert(1)%3C/script%3E"),
        format!("{list}/ledger?dead_letter=%3Cscript%3Ealert(1)%3C/script%3E"),
        format!("{list}/ledger?run=%3Cscript%3Ealert(1)%3C/script%3E"),
        job,
        "/admin".into(),
        "/dlt/%3Cscript%3Ealert(1)%3C%2Fscript%3E.dlt".into(),
    ];
    for path in &paths {
        let page = get(&router, path, None).await;
        assert!(
            page.status == StatusCode::OK
                || page.status == StatusCode::BAD_REQUEST
                || page.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            page.status
        );
        assert_escaped(path, &page.body);
    }
    // The data is there, escaped: the person sees the hostile text as text.
    let detail = get(&router, &format!("{list}/0@0"), None).await.body;
    assert!(
        detail.contains(&html("<script>alert(1)</script>")),
        "{detail}"
    );
    assert!(
        detail.contains(&html("<b onmouseover=alert(1)>")),
        "the header name"
    );
    assert!(detail.contains("<details"), "the stack trace is folded");
    let ledger = get(&router, &format!("{list}/ledger"), None).await.body;
    assert!(ledger.contains(&html(reason)), "{ledger}");
    let tail = get(&router, &format!("{list}/tail/rows"), None).await.body;
    assert!(
        tail.contains(&html("<script>alert(1)</script>")),
        "the key, as text: {tail}"
    );
    // The archive list and the copy's page show the key and the reason as text.
    for path in [format!("{list}/archive"), format!("{list}/archive:0@0")] {
        let page = get(&router, &path, None).await.body;
        assert!(page.contains(&html(reason)), "{path}: {page}");
        assert!(
            page.contains(&html("<script>alert(1)</script>")),
            "{path}: {page}"
        );
    }
    // The equivalent command quotes the hostile words for a shell.
    let form = get(&router, &format!("{list}/discard?{key_filter}"), None)
        .await
        .body;
    assert!(
        form.contains(&html("--key '<script>alert(1)</script>'")),
        "{form}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_survives_every_page() {
    let seed = Seed {
        key: "회원@naver.com",
        error: "잘못된 이메일 주소로 인해 발송 실패",
        payload: r#"{"subject":"제목","body":"내용"}"#.as_bytes(),
        extra_headers: vec![("mailer-note", "제목 없음")],
        origin: "email.send",
    };
    let (_, dlt) = chain("console-korean", &[seed]).await;
    let router = console(Tokens::default(), false).router();
    let list = format!("/dlt/{dlt}");
    wait_for_page(&router, &list, None, "회원@naver.com").await;
    let page = get(&router, &list, None).await.body;
    assert!(
        page.contains("잘못된 이메일 주소로 인해 발송 실패"),
        "the group and row"
    );
    let filtered = get(
        &router,
        &format!("{list}?error=%EC%9D%B4%EB%A9%94%EC%9D%BC"),
        None,
    )
    .await;
    assert!(
        filtered.body.contains("1 selected"),
        "a Korean filter selects"
    );
    let detail = get(&router, &format!("{list}/0@0"), None).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("charset=utf-8"),
        "the page says its encoding"
    );
    // Pretty JSON, its quotes escaped like every byte of a dead letter.
    for text in [
        "&#34;subject&#34;: &#34;제목&#34;",
        "&#34;body&#34;: &#34;내용&#34;",
        "제목 없음",
        "회원@naver.com",
    ] {
        assert!(detail.body.contains(text), "{text} in {}", detail.body);
    }
    assert!(detail.body.contains("JSON"), "shown as pretty JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_new_dead_letters_and_ledger_entries() {
    let first = Seed {
        key: "first",
        error: "451 mailbox busy",
        payload: b"1",
        extra_headers: vec![],
        origin: "email.send",
    };
    let (_, dlt) = chain("console-follow", &[first]).await;
    let console = console(Tokens::default(), false);
    let router = console.router();
    let list = format!("/dlt/{dlt}");
    wait_for_page(&router, &list, None, "first").await;
    wait_until(Duration::from_secs(30), "the index to be ready", || async {
        console.index_status(&dlt).is_some_and(|s| s.ready)
    })
    .await;
    // Produced after the console started: the page shows it without a restart.
    let later = Seed {
        key: "later",
        error: "452 mailbox busy",
        payload: b"2",
        extra_headers: vec![],
        origin: "email.send",
    };
    dead_letter(&dlt, &later).await;
    wait_for_page(&router, &list, None, "later").await;
    let page = get(&router, &list, None).await.body;
    assert!(page.contains("2 selected"), "{page}");
    // Grouped: both messages share one fingerprint.
    assert!(page.contains("&#60;n&#62; mailbox busy"), "{page}");
    // A discard by the command (not the console) shows up through the ledger.
    rebound_ops::discard::discard(
        &kafka(),
        &dlt,
        &rebound_ops::Filter {
            key: Some("later".into()),
            ..rebound_ops::Filter::default()
        },
        &rebound_ops::discard::DiscardOptions {
            reason: "from a terminal".into(),
            by: "someone@laptop".into(),
            dry_run: false,
        },
    )
    .await
    .unwrap();
    wait_for_page(&router, &format!("{list}?status=discarded"), None, "later").await;
    wait_for_page(&router, &format!("{list}/ledger"), None, "someone@laptop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_from_the_console_sends_the_record_home_and_shows_in_the_ledger() {
    let main = unique("console-redrive");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    let seed = Seed {
        key: "fail@naver.com",
        error: "451 4.3.0 mailbox busy",
        payload: r#"{"to":"fail@naver.com","subject":"제목"}"#.as_bytes(),
        extra_headers: vec![],
        origin: &main,
    };
    dead_letter(&dlt, &seed).await;
    let other = Seed {
        key: "nobody@naver.com",
        error: "550 no such user",
        ..seed
    };
    dead_letter(
        &dlt,
        &Seed {
            origin: &main,
            ..other
        },
    )
    .await;
    let router = console(tokens(), false).router();
    let operator = sign_in(&router, OPERATOR).await;
    let session = Some(operator.as_str());
    let list = format!("/dlt/{dlt}");
    wait_for_page(&router, &list, session, "nobody@naver.com").await;

    // The dry run: a count, what would happen, and the command.
    let form = get(
        &router,
        &format!("/dlt/{dlt}/redrive?error=451&rate=50"),
        session,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body.contains("Dry run: <strong>1</strong>"),
        "{}",
        form.body
    );
    assert!(
        form.body.contains(&format!("sent to {main}")),
        "{}",
        form.body
    );
    assert!(
        form.body.contains(&format!(
            "rebound dlt redrive {dlt} --error 451 --rate 50 --dry-run"
        )),
        "{}",
        form.body
    );
    // A wrong count is refused and nothing is sent.
    let wrong = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "error=451&rate=50&confirm=2",
        session,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .body
            .contains("You typed 2, but the selection counts 1"),
        "{}",
        wrong.body
    );
    let bad_rate = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "error=451&rate=-1&confirm=1",
        session,
    )
    .await;
    assert_eq!(bad_rate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&main), 0, "nothing sent");

    // Confirmed: it goes home, once.
    let done = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "error=451&rate=50&confirm=1",
        session,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let job = done.location().to_string();
    assert!(job.starts_with("/jobs/"), "{job}");
    wait_until(
        Duration::from_secs(30),
        "the copy in the main topic",
        || async { count(&main) == 1 },
    )
    .await;
    let copy = &read_all(&main)[0];
    assert_eq!(copy.key(), Some("fail@naver.com".as_bytes()));
    assert_eq!(copy.payload(), Some(seed.payload));
    wait_for_page(&router, &job, session, "Sent 1, skipped 0").await;
    // The ledger says who did it: the operator token's name.
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/ledger"),
        session,
        "<td>redriven</td>",
    )
    .await;
    let ledger = get(&router, &format!("/dlt/{dlt}/ledger"), session)
        .await
        .body;
    let rows = &ledger[ledger.find("<tbody>").unwrap_or(0)..];
    assert!(ledger.contains("olga"), "{rows}");
    assert!(ledger.contains("claim"), "claimed before sending: {rows}");
    let entries = rebound_ops::Ledger::read(&kafka(), &dlt).await.unwrap();
    let by: Vec<&str> = entries.entries.iter().map(|(_, e)| e.by.as_str()).collect();
    assert_eq!(by, ["olga", "olga"], "a claim and a redriven entry");
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/0@0"),
        session,
        "status-redriven",
    )
    .await;
    // Asking again selects nothing: it was redriven.
    let again = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "error=451&confirm=1",
        session,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(count(&main), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discard_needs_a_reason_and_lands_in_the_archive() {
    let seed = Seed {
        key: "nobody@naver.com",
        error: "550 no such user",
        payload: b"{}",
        extra_headers: vec![],
        origin: "email.send",
    };
    let (_, dlt) = chain("console-discard", &[seed]).await;
    let archive = format!("{dlt}.archive");
    let router = console(Tokens::default(), false).router();
    wait_for_page(&router, &format!("/dlt/{dlt}"), None, "nobody@naver.com").await;
    let path = format!("/dlt/{dlt}/discard");
    for body in ["at=0@0&confirm=1", "at=0@0&confirm=1&reason=+++"] {
        let page = post(&router, &path, body, None).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(page.body.contains("A reason is required"), "{}", page.body);
    }
    assert_eq!(count(&archive), 0, "nothing archived");
    let page = post(
        &router,
        &path,
        "at=0@0&confirm=1&reason=member+left+%ED%83%88%ED%87%B4",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    wait_until(Duration::from_secs(30), "the archive copy", || async {
        count(&archive) == 1
    })
    .await;
    let copy = &read_all(&archive)[0];
    assert_eq!(copy.key(), Some("nobody@naver.com".as_bytes()));
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/ledger"),
        None,
        "member left 탈퇴",
    )
    .await;
    let ledger = get(&router, &format!("/dlt/{dlt}/ledger"), None).await.body;
    assert!(
        ledger.contains("tester@console"),
        "who: the local person: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_redrive_can_be_stopped_and_releases_the_rest() {
    let main = unique("console-cancel");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    for _ in 0..6 {
        let seed = Seed {
            key: "k",
            error: "451 mailbox busy",
            payload: b"{}",
            extra_headers: vec![],
            origin: &main,
        };
        dead_letter(&dlt, &seed).await;
    }
    let router = console(Tokens::default(), false).router();
    wait_for_page(&router, &format!("/dlt/{dlt}"), None, "6 selected").await;
    // One a second: the stop arrives long before the sixth.
    let page = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "rate=1&confirm=6",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let job = page.location().to_string();
    wait_until(Duration::from_secs(30), "the first copy", || async {
        count(&main) >= 1
    })
    .await;
    let running = get(&router, &job, None).await.body;
    assert!(running.contains("Running:"), "{running}");
    assert!(
        running.contains("http-equiv=\"refresh\""),
        "it reloads itself"
    );
    let stopped = post(&router, &format!("{job}/cancel"), "", None).await;
    assert_eq!(
        (stopped.status, stopped.location()),
        (StatusCode::SEE_OTHER, job.as_str())
    );
    wait_for_page(&router, &job, None, "(stopped before the end)").await;
    let sent = count(&main);
    assert!((1..6).contains(&sent), "{sent} sent");
    let page = get(&router, &job, None).await.body;
    assert!(page.contains("interrupted before sending"), "{page}");
    // The rest were released in the ledger, so they are pending again.
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/ledger"),
        None,
        "<td>released</td>",
    )
    .await;
    let pending = format!("/dlt/{dlt}?status=pending");
    wait_for_page(&router, &pending, None, &format!("{} selected", 6 - sent)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_links_to_its_trace_when_a_template_is_configured() {
    let hostile = Seed {
        extra_headers: vec![("traceparent", "\"><script>alert(1)</script>")],
        key: "fail@naver.com",
        error: "451",
        payload: b"{}",
        origin: "email.send",
    };
    let traced = Seed {
        key: "fail@naver.com",
        error: "451",
        payload: "{\"subject\":\"제목\"}".as_bytes(),
        extra_headers: vec![(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
        origin: "email.send",
    };
    let (_, dlt) = chain("console-trace", &[traced, hostile]).await;
    let settings = rebound_console::Settings {
        local_operator: "tester@console".into(),
        trace_url: Some("http://127.0.0.1:9411/zipkin/traces/{trace_id}".into()),
        ..rebound_console::Settings::default()
    };
    let router = rebound_console::Console::new(kafka(), settings)
        .unwrap()
        .router();
    let list = format!("/dlt/{dlt}");
    wait_for_page(&router, &list, None, "0@1").await;
    let page = get(&router, &format!("{list}/0@0"), None).await;
    assert!(
        page.body.contains(
            r#"href="http://127.0.0.1:9411/zipkin/traces/4bf92f3577b34da6a3ce929d0e0e4736""#
        ),
        "{}",
        page.body
    );
    // A traceparent that does not parse gives no link, and its bytes stay escaped text.
    let page = get(&router, &format!("{list}/0@1"), None).await;
    assert!(!page.body.contains("trace-link"), "{}", page.body);
    assert_escaped(&format!("{list}/0@1"), &page.body);
    // Without a template, no link.
    let plain = console(Tokens::default(), false).router();
    wait_for_page(&plain, &list, None, "0@1").await;
    let page = get(&plain, &format!("{list}/0@0"), None).await;
    assert!(!page.body.contains("trace-link"), "{}", page.body);
}
