//! `rebound console` as a person starts it: it serves on its address with the security headers,
//! signs in with a token from a file (never logging it), stops at once on SIGTERM, and refuses a
//! public address without tokens, naming what to set. The pages themselves are tested in `crates/rebound-console`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use testkit::process::{free_port, service, temp_dir};
use testkit::wait_until;

const TOKEN: &str = "d2f1c0ffee0123456789abcdef0123456789";

/// One HTTP/1.1 exchange on 127.0.0.1:`port`; the whole response, `None` when nobody answers.
fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn get(port: u16, path: &str, cookie: &str) -> String {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    http(port, &request).expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_serves_and_signs_in_with_a_tokens_file() {
    let dir = temp_dir("console");
    let tokens = dir.join("tokens.txt");
    std::fs::write(&tokens, format!("# on call\noperator:alice:{TOKEN}\n")).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut console = service(
        &dir,
        "console",
        env!("CARGO_BIN_EXE_rebound").as_ref(),
        &[
            "console",
            "--listen",
            &listen,
            "--tokens-file",
            tokens.to_str().unwrap(),
        ],
    );
    wait_until(Duration::from_secs(30), "the console to answer", || async {
        http(
            port,
            &format!("GET /login HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n"),
        )
        .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    })
    .await;
    let home = get(port, "/", "");
    assert!(home.starts_with("HTTP/1.1 303"), "{home}");
    assert!(home.contains("location: /login?next=%2F"), "{home}");
    assert!(
        home.contains("content-security-policy: default-src 'none'"),
        "{home}"
    );

    let body = format!("token={TOKEN}&next=%2Fadmin");
    let signed = http(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {listen}\r\nSec-Fetch-Site: same-origin\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(signed.starts_with("HTTP/1.1 303"), "{signed}");
    let cookie = signed
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    // Signed in as an operator: the chains are readable, the admin page is not.
    let chains = get(port, "/", &cookie);
    assert!(chains.starts_with("HTTP/1.1 200"), "{chains}");
    let admin = get(port, "/admin", &cookie);
    assert!(admin.starts_with("HTTP/1.1 403"), "{admin}");
    assert!(admin.contains("alice"), "{admin}");
    let assets = get(port, "/assets/htmx.min.js", "");
    assert!(assets.starts_with("HTTP/1.1 200"), "{}", &assets[..200]);
    let log = console.log_text();
    assert!(
        log.contains(&format!("rebound console on http://{listen}")),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the token was logged: {log}");

    // SIGTERM stops it at once, although its background read of the chains may still be asking
    // the cluster (a minute and more on a cluster with thousands of groups).
    console.terminate();
    let exited = wait_for_exit(&mut console, Duration::from_secs(10));
    assert!(
        exited.is_some_and(|status| status.success()),
        "the console did not exit within 10 s of SIGTERM ({exited:?}): {}",
        console.log_text()
    );
}

/// The exit status of `process` once it has exited, `None` when it is still running after
/// `within`.
fn wait_for_exit(
    process: &mut testkit::process::Process,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = process.exited() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            process.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_public_address_without_tokens_stops_and_names_what_to_set() {
    let output = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(["console", "--listen", &format!("0.0.0.0:{}", free_port())])
        .env_remove("REBOUND_CONSOLE_TOKENS")
        .env_remove("REBOUND_CONSOLE_TOKENS_FILE")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for part in [
        "refusing to listen on 0.0.0.0",
        "--tokens-file",
        "REBOUND_CONSOLE_TOKENS",
    ] {
        assert!(stderr.contains(part), "{stderr}");
    }
}
