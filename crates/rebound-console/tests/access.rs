//! Who may do what, checked through the router against a real broker: every route for every
//! role and without a session, `--read-only`, cross-site refusals, the DNS-rebinding host check,
//! the non-loopback refusal, and the security headers on every response (checked by
//! `support::send` for each one).

mod support;

use axum::http::StatusCode;
use rebound_console::{Console, ConsoleError, Settings, Tokens};
use support::*;

/// What a role gets from a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Allowed: this status.
    Ok(StatusCode),
    /// Refused for the role.
    Forbidden,
}

/// Every route, the least role it needs, and what an allowed caller gets.
fn routes(dlt: &str) -> Vec<(&'static str, String, &'static str, u8, StatusCode)> {
    // (method, path, body, least role: 0 viewer, 1 operator, 2 admin, allowed status)
    vec![
        ("GET", "/".into(), "", 0, StatusCode::OK),
        ("GET", format!("/dlt/{dlt}"), "", 0, StatusCode::OK),
        (
            "GET",
            format!("/dlt/{dlt}?error=boom"),
            "",
            0,
            StatusCode::OK,
        ),
        ("GET", format!("/dlt/{dlt}/ledger"), "", 0, StatusCode::OK),
        ("GET", format!("/dlt/{dlt}/tail"), "", 0, StatusCode::OK),
        (
            "GET",
            format!("/dlt/{dlt}/tail/rows"),
            "",
            0,
            StatusCode::OK,
        ),
        (
            "GET",
            format!("/dlt/{dlt}/ledger?action=discarded&by=t"),
            "",
            0,
            StatusCode::OK,
        ),
        ("GET", format!("/dlt/{dlt}/0@0"), "", 0, StatusCode::OK),
        ("GET", format!("/dlt/{dlt}/archive"), "", 0, StatusCode::OK),
        (
            "GET",
            format!("/dlt/{dlt}/archive?status=pending&key=k"),
            "",
            0,
            StatusCode::OK,
        ),
        (
            "GET",
            format!("/dlt/{dlt}/archive:0@0"),
            "",
            0,
            StatusCode::OK,
        ),
        (
            "GET",
            "/jobs/0000000000000000".into(),
            "",
            0,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/jobs/0000000000000000/events".into(),
            "",
            0,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            format!("/dlt/{dlt}/redrive?at=0@0"),
            "",
            1,
            StatusCode::OK,
        ),
        (
            "GET",
            format!("/dlt/{dlt}/discard?at=0@0"),
            "",
            1,
            StatusCode::OK,
        ),
        (
            "GET",
            format!("/dlt/{dlt}/redrive?source=archive&at=0@0"),
            "",
            1,
            StatusCode::OK,
        ),
        // Archived copies are redriven, never discarded again.
        (
            "GET",
            format!("/dlt/{dlt}/discard?source=archive&at=0@0"),
            "",
            1,
            StatusCode::BAD_REQUEST,
        ),
        // Allowed, but not confirmed: refused by the action itself, nothing done.
        (
            "POST",
            format!("/dlt/{dlt}/redrive"),
            "at=0@0",
            1,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            format!("/dlt/{dlt}/discard"),
            "at=0@0&confirm=1",
            1,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            format!("/dlt/{dlt}/redrive"),
            "source=archive&at=0@0",
            1,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/jobs/0000000000000000/cancel".into(),
            "",
            1,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/admin".into(), "", 2, StatusCode::OK),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role() {
    let seed = Seed {
        key: "k",
        error: "boom",
        payload: b"{}",
        extra_headers: vec![],
        origin: "somewhere",
    };
    let archived = Seed {
        key: "gone",
        error: "boom",
        payload: b"{}",
        extra_headers: vec![],
        origin: "somewhere",
    };
    let (_, dlt) = chain("console-roles", &[seed, archived]).await;
    // DLT 0@1 discarded: its copy is archive:0@0, for the archive's routes.
    let gone = rebound_ops::Filter {
        key: Some("gone".into()),
        ..rebound_ops::Filter::default()
    };
    let options = rebound_ops::discard::DiscardOptions {
        reason: "test".into(),
        by: "tester".into(),
        dry_run: false,
    };
    rebound_ops::discard::discard(&testkit::kafka(), &dlt, &gone, &options)
        .await
        .unwrap();
    let console = console(tokens(), false);
    let router = console.router();
    let sessions = [
        sign_in(&router, VIEWER).await,
        sign_in(&router, OPERATOR).await,
        sign_in(&router, ADMIN).await,
    ];
    for (method, path, body, least, allowed) in routes(&dlt) {
        // No session: a page read goes to the sign-in page and back; anything else is 401.
        let page = send(&router, method, &path, body, None, &[]).await;
        if method == "GET" {
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{method} {path}");
            let back = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &path)
                .finish();
            assert_eq!(page.location(), format!("/login?{back}"), "{path}");
        } else {
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        // A session that is not one.
        let page = send(&router, method, &path, body, Some(&"0".repeat(64)), &[]).await;
        assert!(
            matches!(
                page.status,
                StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED
            ),
            "{method} {path}: {}",
            page.status
        );
        for (role, session) in sessions.iter().enumerate() {
            let page = send(&router, method, &path, body, Some(session), &[]).await;
            let expected = if role as u8 >= least {
                Expect::Ok(allowed)
            } else {
                Expect::Forbidden
            };
            match expected {
                Expect::Ok(status) => assert_eq!(
                    page.status, status,
                    "role {role} {method} {path}: {}",
                    page.body
                ),
                Expect::Forbidden => {
                    assert_eq!(
                        page.status,
                        StatusCode::FORBIDDEN,
                        "role {role} {method} {path}"
                    );
                    assert!(page.body.contains("needs the"), "{}", page.body);
                }
            }
        }
    }
    // Buttons follow the role (for the eye; the checks above are what protect).
    let list = format!("/dlt/{dlt}");
    let viewer = get(&router, &list, Some(&sessions[0])).await;
    assert!(!viewer.body.contains("Redrive selected"), "{}", viewer.body);
    let operator = get(&router, &list, Some(&sessions[1])).await;
    assert!(
        operator.body.contains("Redrive selected"),
        "{}",
        operator.body
    );
    let archive = format!("/dlt/{dlt}/archive");
    wait_for_page(&router, &archive, Some(&sessions[0]), "archive:0@0").await;
    let viewer = get(&router, &archive, Some(&sessions[0])).await;
    assert!(!viewer.body.contains("Redrive"), "{}", viewer.body);
    let operator = get(&router, &archive, Some(&sessions[1])).await;
    assert!(
        operator.body.contains("Redrive selected"),
        "{}",
        operator.body
    );
    // The public routes, and signing out.
    for path in ["/login", "/assets/htmx.min.js", "/assets/console.css"] {
        assert_eq!(
            get(&router, path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        get(&router, "/assets/x.js", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&router, "/nowhere", None).await.status,
        StatusCode::NOT_FOUND
    );
    // The list's "selected" buttons with nothing checked do not select everything.
    let none_checked = format!("/dlt/{dlt}/redrive?checked=1");
    let page = get(&router, &none_checked, Some(&sessions[1])).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("No dead letter was checked"),
        "{}",
        page.body
    );
    let leaving = sign_in(&router, VIEWER).await;
    let page = post(&router, "/logout", "", Some(&leaving)).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    let page = get(&router, "/", Some(&leaving)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "the session ended");
    assert_eq!(
        get(&router, "/", Some(&sessions[0])).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_signs_nobody_in_and_is_never_echoed() {
    let router = console(tokens(), false).router();
    let wrong = "not-a-token-but-long-enough";
    let page = post(&router, "/login", &format!("token={wrong}&next=%2F"), None).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.headers.get("set-cookie").is_none());
    assert!(!page.body.contains(wrong));
    assert!(page.body.contains("That token is not valid"));
    // Back to where the person was going, never to another site.
    let page = post(
        &router,
        "/login",
        &format!("token={VIEWER}&next=%2F%2Fevil.example%2F"),
        None,
    )
    .await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_action_even_to_admins() {
    let seed = Seed {
        key: "k",
        error: "boom",
        payload: b"{}",
        extra_headers: vec![],
        origin: "somewhere",
    };
    let (_, dlt) = chain("console-read-only", &[seed]).await;
    let router = console(tokens(), true).router();
    let admin = sign_in(&router, ADMIN).await;
    assert_eq!(
        get(&router, &format!("/dlt/{dlt}"), Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        ("GET", format!("/dlt/{dlt}/redrive?at=0@0"), ""),
        ("POST", format!("/dlt/{dlt}/redrive"), "at=0@0&confirm=1"),
        (
            "POST",
            format!("/dlt/{dlt}/discard"),
            "at=0@0&confirm=1&reason=x",
        ),
        ("GET", "/admin".into(), ""),
    ] {
        let page = send(&router, method, &path, body, Some(&admin), &[]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{method} {path}");
        if path.starts_with("/dlt") {
            assert!(page.body.contains("--read-only"), "{}", page.body);
        }
    }
    assert!(!get(&router, &format!("/dlt/{dlt}"), Some(&admin))
        .await
        .body
        .contains("Redrive"));
    // Without tokens too: the local person is a viewer.
    let local = console(Tokens::default(), true).router();
    let page = post(
        &local,
        &format!("/dlt/{dlt}/redrive"),
        "at=0@0&confirm=1",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(read_count(&dlt), 1, "nothing was redriven");
}

fn read_count(dlt: &str) -> i64 {
    testkit::count(dlt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused() {
    let seed = Seed {
        key: "k",
        error: "boom",
        payload: b"{}",
        extra_headers: vec![],
        origin: "somewhere",
    };
    let (_, dlt) = chain("console-csrf", &[seed]).await;
    // No tokens: no cookie to withhold, so the request headers are the only defence.
    let router = console(Tokens::default(), false).router();
    let path = format!("/dlt/{dlt}/discard");
    // Passes the CSRF check, then is refused for its missing reason: 422, not 403.
    let body = "at=0@0&confirm=1";
    let cases: &[(&[(&str, &str)], StatusCode)] = &[
        (&[("sec-fetch-site", "cross-site")], StatusCode::FORBIDDEN),
        (&[("sec-fetch-site", "same-site")], StatusCode::FORBIDDEN),
        (
            &[("sec-fetch-site", ""), ("origin", "http://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("sec-fetch-site", ""), ("origin", "")],
            StatusCode::FORBIDDEN,
        ),
        (&[], StatusCode::UNPROCESSABLE_ENTITY),
        (&[("origin", "")], StatusCode::UNPROCESSABLE_ENTITY),
        (&[("sec-fetch-site", "")], StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (headers, status) in cases {
        let page = send(&router, "POST", &path, body, None, headers).await;
        assert_eq!(page.status, *status, "{headers:?}: {}", page.body);
        if *status == StatusCode::FORBIDDEN {
            assert!(
                page.body.contains("Cross-site request refused"),
                "{}",
                page.body
            );
        }
    }
    // Sign-in and sign-out are state changes too.
    let router = console(tokens(), false).router();
    let page = send(
        &router,
        "POST",
        "/login",
        &format!("token={VIEWER}"),
        None,
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.headers.get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_only_loopback_names_are_served() {
    let router = console(Tokens::default(), false).router();
    for host in [
        "evil.example",
        "evil.example:8686",
        "127.0.0.1.nip.io:8686",
        "10.0.0.5:8686",
    ] {
        let page = send(&router, "GET", "/login", "", None, &[("host", host)]).await;
        assert_eq!(page.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert!(page.body.contains("DNS rebinding"), "{}", page.body);
    }
    for host in ["localhost:8686", "127.0.0.1:8686", "[::1]:8686"] {
        let page = send(&router, "GET", "/login", "", None, &[("host", host)]).await;
        assert_eq!(page.status, StatusCode::OK, "{host}");
    }
    // With tokens, sign-in protects it and any name is served.
    let router = console(tokens(), false).router();
    let page = send(
        &router,
        "GET",
        "/login",
        "",
        None,
        &[("host", "console.example")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_without_tokens_is_refused() {
    let settings = Settings {
        listen: "0.0.0.0:8686".parse().unwrap(),
        ..Settings::default()
    };
    let error = Console::new(testkit::kafka(), settings).unwrap_err();
    assert!(matches!(
        error,
        ConsoleError::NonLoopbackWithoutTokens { .. }
    ));
    let message = error.to_string();
    for part in ["0.0.0.0:8686", "--tokens-file", "REBOUND_CONSOLE_TOKENS"] {
        assert!(message.contains(part), "{message}");
    }
    // The listener actually given is checked too, not only the setting.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let served = console(Tokens::default(), false)
        .serve(listener, std::future::ready(()))
        .await;
    assert!(matches!(
        served,
        Err(ConsoleError::NonLoopbackWithoutTokens { .. })
    ));
}
