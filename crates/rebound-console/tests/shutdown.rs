//! A console that stops while a redrive runs: the redrive stops between records, what it sent is
//! recorded and the rest is released in the ledger before `serve` returns, so no claim is left
//! to go stale and the rest can be redriven at once by anyone.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use rebound_console::{Console, Settings, Tokens};
use rebound_ops::ledger::{Action, Ledger};
use support::*;
use testkit::process::free_port;
use testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_console_stops_its_redrives_and_releases_the_rest() {
    let main = unique("console-shutdown");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    for _ in 0..6 {
        let seed = Seed {
            key: "k",
            error: "451 mailbox busy",
            payload: "{\"제목\":\"환영합니다\"}".as_bytes(),
            extra_headers: vec![],
            origin: &main,
        };
        dead_letter(&dlt, &seed).await;
    }
    let port = free_port();
    let settings = Settings {
        tokens: Tokens::default(),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        local_operator: "tester@console".into(),
        ..Settings::default()
    };
    let console = Console::new(kafka(), settings).unwrap();
    let router = console.router();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(console.serve(listener, async {
        let _ = stopped.await;
    }));

    wait_for_page(&router, &format!("/dlt/{dlt}"), None, "6 selected").await;
    // One a second: the console stops long before the sixth.
    let page = post(
        &router,
        &format!("/dlt/{dlt}/redrive"),
        "rate=1&confirm=6",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    wait_until(Duration::from_secs(30), "the first copy", || async {
        count(&main) >= 1
    })
    .await;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("serve returned within its jobs' grace")
        .unwrap()
        .unwrap();
    let sent = count(&main) as usize;
    assert!((1..6).contains(&sent), "{sent} sent");
    // Every claim is answered: redriven for what was sent, released for the rest (counted in
    // dead letters: claims and releases are written by range).
    let ledger = Ledger::read(&kafka(), &dlt).await.unwrap();
    let of = |action| {
        ledger
            .entries
            .iter()
            .filter(|(_, e)| e.action == action)
            .map(|(_, e)| e.named() as usize)
            .sum::<usize>()
    };
    assert_eq!(of(Action::Claim), 6);
    assert_eq!(of(Action::Redriven), sent);
    assert_eq!(of(Action::Released), 6 - sent);
}
