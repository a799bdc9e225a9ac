//! The archive and the ledger through the console against a real broker: a discarded dead
//! letter listed in the archive with its reason and its Korean intact, an archived copy redriven
//! home from the console (and shown in the ledger), and the ledger's filters narrowing.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use rebound::headers as h;
use rebound_console::Tokens;
use rebound_ops::discard::DiscardOptions;
use rebound_ops::{Filter, Ledger};
use support::*;
use testkit::*;

/// Discards what `key` selects in `dlt`, as `by`, for `reason`, through `rebound_ops` (as the
/// command does).
async fn discard(dlt: &str, key: &str, reason: &str, by: &str) {
    let filter = Filter {
        key: Some(key.into()),
        ..Filter::default()
    };
    let options = DiscardOptions {
        reason: reason.into(),
        by: by.into(),
        dry_run: false,
    };
    let report = rebound_ops::discard::discard(&kafka(), dlt, &filter, &options)
        .await
        .unwrap();
    assert_eq!(report.archived.len(), 1, "{report:?}");
}

/// The rows of a page (after its `<tbody>`; nothing without a table), for assertions about
/// what is listed.
fn rows(body: &str) -> &str {
    body.find("<tbody>").map_or("", |at| &body[at..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_lists_a_discarded_dead_letter_with_its_reason_and_korean_intact() {
    let kept = Seed {
        key: "kept@naver.com",
        error: "451 mailbox busy",
        payload: b"{}",
        extra_headers: vec![],
        origin: "email.send",
    };
    let member = Seed {
        key: "회원@naver.com",
        error: "잘못된 이메일 주소로 인해 발송 실패",
        payload: r#"{"subject":"제목","body":"내용"}"#.as_bytes(),
        extra_headers: vec![("mailer-note", "제목 없음")],
        origin: "email.send",
    };
    let (_, dlt) = chain("console-archive", &[kept, member]).await;
    discard(&dlt, "회원@naver.com", "탈퇴한 사용자", "someone@laptop").await;
    let router = console(Tokens::default(), false).router();
    let archive = format!("/dlt/{dlt}/archive");
    wait_for_page(&router, &archive, None, "탈퇴한 사용자").await;

    let page = get(&router, &archive, None).await.body;
    let listed = rows(&page);
    for text in [
        "회원@naver.com",
        "잘못된 이메일 주소로 인해 발송 실패",
        "someone@laptop",
        // The copy's own id and page, and the dead letter it copies (0@1 in the DLT).
        &format!("href=\"/dlt/{dlt}/archive:0@0\""),
        &format!("href=\"/dlt/{dlt}/0@1\">{dlt}-0@1</a>"),
        "status-pending",
    ] {
        assert!(listed.contains(text), "{text} in {listed}");
    }
    assert!(!listed.contains("kept@naver.com"), "only discarded ones");
    assert!(page.contains("1 selected"), "{page}");
    // The DLT page's filters, over the archive.
    let count = |query: &'static str| {
        let router = router.clone();
        let path = format!("{archive}?{query}");
        async move { get(&router, &path, None).await.body }
    };
    assert!(count("key=%ED%9A%8C%EC%9B%90%40naver.com")
        .await
        .contains("1 selected"));
    assert!(count("key=kept%40naver.com").await.contains("0 selected"));
    assert!(count("error=%EC%9D%B4%EB%A9%94%EC%9D%BC")
        .await
        .contains("1 selected"));
    assert!(count("status=redriven").await.contains("0 selected"));
    assert!(count("since=1h").await.contains("1 selected"));
    assert!(count("until=1h").await.contains("0 selected"));

    // Its detail: every header decoded, the payload as JSON, the stamp, and the way back.
    let detail = get(&router, &format!("/dlt/{dlt}/archive:0@0"), None).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    for text in [
        "&#34;subject&#34;: &#34;제목&#34;",
        "&#34;body&#34;: &#34;내용&#34;",
        "제목 없음",
        "탈퇴한 사용자",
        h::DISCARD_REASON,
        h::DISCARDED_BY,
        "(archived copy)",
        &format!("href=\"/dlt/{dlt}/0@1\""),
    ] {
        assert!(detail.body.contains(text), "{text} in {}", detail.body);
    }
    assert!(
        !detail.body.contains("Discard…"),
        "a copy is not discarded again"
    );
    // The discarded dead letter links to its copy; the DLT page links to the archive.
    let original = get(&router, &format!("/dlt/{dlt}/0@1"), None).await.body;
    assert!(
        original.contains(&format!(
            "<a href=\"/dlt/{dlt}/archive:0@0\">{dlt}.archive-0@0</a>"
        )),
        "{original}"
    );
    let list = get(&router, &format!("/dlt/{dlt}"), None).await.body;
    assert!(list.contains(&format!("href=\"{archive}\"")), "{list}");
    // An id that is not one, or a copy that is not there.
    for (path, status) in [
        (format!("/dlt/{dlt}/archive:0@7"), StatusCode::NOT_FOUND),
        (format!("/dlt/{dlt}/archive:x"), StatusCode::NOT_FOUND),
        (
            format!("{archive}?source=dlt&status=lost"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(get(&router, &path, None).await.status, status, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_from_the_archive_sends_the_copy_home_and_shows_in_the_ledger() {
    let main = unique("console-archive-redrive");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    let pending = Seed {
        key: "busy@naver.com",
        error: "451 mailbox busy",
        payload: b"{}",
        extra_headers: vec![],
        origin: &main,
    };
    dead_letter(&dlt, &pending).await;
    let member = Seed {
        key: "회원@naver.com",
        error: "550 no such user",
        payload: r#"{"subject":"제목"}"#.as_bytes(),
        extra_headers: vec![],
        origin: &main,
    };
    dead_letter(&dlt, &member).await;
    // DLT 0@1 becomes archive:0@0: the two positions differ, so a mix-up shows.
    discard(&dlt, "회원@naver.com", "came back", "someone@laptop").await;
    let router = console(tokens(), false).router();
    let operator = sign_in(&router, OPERATOR).await;
    let session = Some(operator.as_str());
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/archive"),
        session,
        "회원@naver.com",
    )
    .await;

    // The dry run names the archived copy and the command with --archived.
    let form = get(
        &router,
        &format!("/dlt/{dlt}/redrive?source=archive&at=0@0&rate=50"),
        session,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    for text in [
        "Dry run: <strong>1</strong>".to_string(),
        "Selection: archived copies; at 0@0".into(),
        format!("href=\"/dlt/{dlt}/archive:0@0\">archive:0@0</a>"),
        format!("sent to {main}"),
        format!("rebound dlt redrive {dlt} --at 0@0 --archived --rate 50 --dry-run"),
        "<input type=\"hidden\" name=\"source\" value=\"archive\">".into(),
    ] {
        assert!(form.body.contains(&text), "{text} in {}", form.body);
    }
    // From the DLT, the same dead letter is discarded: nothing to send. A copy is never
    // discarded again.
    let from_dlt = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "at=0@1&confirm=1",
        session,
    )
    .await;
    assert_eq!(from_dlt.status, StatusCode::CONFLICT, "{}", from_dlt.body);
    for (method, path, body) in [
        (
            "GET",
            format!("/dlt/{dlt}/discard?source=archive&at=0@0"),
            "",
        ),
        (
            "POST",
            format!("/dlt/{dlt}/discard"),
            "source=archive&at=0@0&confirm=1&reason=again",
        ),
    ] {
        let page = send(&router, method, &path, body, session, &[]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert!(page.body.contains("can only be redriven"), "{}", page.body);
    }
    assert_eq!(count(&main), 0, "nothing sent yet");

    // Confirmed: the copy goes home, once.
    let done = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "source=archive&at=0@0&rate=50&confirm=1",
        session,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let job = done.location().to_string();
    wait_until(
        Duration::from_secs(30),
        "the copy in the main topic",
        || async { count(&main) == 1 },
    )
    .await;
    let home = &read_all(&main)[0];
    assert_eq!(home.key(), Some("회원@naver.com".as_bytes()));
    assert_eq!(home.payload(), Some(member.payload));
    let from = home.headers().text(h::REDRIVEN_FROM).unwrap_or_default();
    assert_eq!(
        from,
        format!("{dlt}.archive-0@0"),
        "the archived copy it came from"
    );
    assert!(
        !home.headers().contains(h::DISCARD_REASON),
        "the archive's stamp stays behind"
    );
    wait_for_page(&router, &job, session, "Sent 1, skipped 0").await;
    let page = get(&router, &job, session).await.body;
    assert!(
        page.contains(&format!(r#"href="/dlt/{dlt}/archive:0@0""#)),
        "the job's result links the archived copy: {page}"
    );
    let page = get(&router, &job, session).await.body;
    assert!(page.contains("--archived"), "the job's command: {page}");
    // The ledger: the archived copy (not the DLT's 0@0 or 0@1) was claimed and redriven by
    // the operator.
    let entries = Ledger::read(&kafka(), &dlt).await.unwrap().entries;
    let written: Vec<(String, String, &str)> = entries
        .iter()
        .map(|(_, e)| {
            let action = format!("{:?}", e.action).to_lowercase();
            (e.dead_letter.to_string(), action, e.by.as_str())
        })
        .collect();
    let expected = [
        ("0@1", "discarded", "someone@laptop"),
        ("archive:0@0", "claim", "olga"),
        ("archive:0@0", "redriven", "olga"),
    ]
    .map(|(id, action, by)| (id.to_string(), action.to_string(), by));
    assert_eq!(written, expected);
    let redriven = format!("/dlt/{dlt}/ledger?action=redriven");
    wait_for_page(&router, &redriven, session, "archive:0@0").await;
    let ledger = get(&router, &redriven, session).await.body;
    assert!(
        ledger.contains(&format!(
            "<a href=\"/dlt/{dlt}/archive:0@0\">archive:0@0</a>"
        )),
        "{ledger}"
    );
    assert!(ledger.contains("olga"), "{ledger}");
    // The archive and the copy's page say it was redriven; the DLT's 0@0 is untouched.
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/archive?status=redriven"),
        session,
        "1 selected",
    )
    .await;
    wait_for_page(
        &router,
        &format!("/dlt/{dlt}/archive:0@0"),
        session,
        "status-redriven",
    )
    .await;
    let untouched = get(&router, &format!("/dlt/{dlt}/0@0"), session).await.body;
    assert!(untouched.contains("status-pending"), "{untouched}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_filters_narrow_by_action_run_who_dead_letter_and_time() {
    let main = unique("console-ledger-filters");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    for key in ["a@naver.com", "b@naver.com"] {
        let seed = Seed {
            key,
            error: "451 mailbox busy",
            payload: b"{}",
            extra_headers: vec![],
            origin: &main,
        };
        dead_letter(&dlt, &seed).await;
    }
    discard(&dlt, "a@naver.com", "not ours", "alice@laptop").await;
    // The other is redriven from the console, by its local person (tester@console).
    let router = console(Tokens::default(), false).router();
    wait_for_page(&router, &format!("/dlt/{dlt}"), None, "b@naver.com").await;
    let done = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "key=b%40naver.com&confirm=1",
        None,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    wait_until(Duration::from_secs(30), "the redriven copy", || async {
        count(&main) == 1
    })
    .await;
    let ledger = format!("/dlt/{dlt}/ledger");
    wait_for_page(&router, &ledger, None, "3 entries").await;
    let entries = Ledger::read(&kafka(), &dlt).await.unwrap().entries;
    let run = entries.last().unwrap().1.run.clone();

    // (query, entries selected, text in the rows, text not in them)
    let run_query = format!("run={run}");
    let cases: [(&str, usize, &str, &str); 9] = [
        ("action=claim", 1, "tester@console", "alice@laptop"),
        ("action=discarded", 1, "alice@laptop", "tester@console"),
        ("action=released", 0, "", "tester@console"),
        (&run_query, 2, "<td>redriven</td>", "alice@laptop"),
        ("by=alice", 1, "not ours", "tester@console"),
        (
            "dead_letter=0%401&action=redriven",
            1,
            "tester@console",
            "<td>claim</td>",
        ),
        ("dead_letter=archive%3A0%400", 0, "", "tester@console"),
        ("since=1h", 3, "alice@laptop", "No entries match"),
        ("until=1h", 0, "No entries match", "tester@console"),
    ];
    for (query, selected, shown, hidden) in cases {
        let page = get(&router, &format!("{ledger}?{query}"), None).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        assert!(
            page.body
                .contains(&format!("{selected} of 3 entries selected")),
            "{query}: {}",
            page.body
        );
        assert!(
            page.body.contains(shown),
            "{query}: {shown} in {}",
            page.body
        );
        assert!(!rows(&page.body).contains(hidden), "{query}: not {hidden}");
    }
    // A run's cell links to the run's entries; a bad filter says what is wrong.
    let all = get(&router, &ledger, None).await.body;
    assert!(
        all.contains(&format!("href=\"{ledger}?{run_query}\"")),
        "{all}"
    );
    let bad = get(&router, &format!("{ledger}?action=deleted"), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("action `deleted` is none of"),
        "{}",
        bad.body
    );
}
