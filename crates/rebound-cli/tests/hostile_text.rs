//! The terminal is a face too: a dead letter's key, headers and payload are written by whoever
//! produced the failing record, so every face of `rebound` (table, detail, JSON lines, tail,
//! stats, redrive lines) must show their control characters as visible escapes instead of
//! letting them clear the operator's screen, retitle the window or write the clipboard; and the
//! command must end quietly when the reader of its output (`| head`) goes away.

mod support;

use support::rebound;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rebound::headers::{self as h, Headers};
use serde_json::Value;
use testkit::*;

/// The hostile parts, each with ESC/CSI/OSC sequences, BEL, DEL, the one-byte CSI U+009B, a bidi
/// override or isolate, and Korean text that must come through untouched.
const KEY: &str = "제목\x1b[2J\x1b]0;owned\x07\u{9b}31m\x7f\u{202e}gpj.exe";
const ERROR: &str =
    "내용 420 \x1b]52;c;aGFja2Vk\x07 clipboard\x1b[2J\u{9b}2J\x7f \u{202e}txt.exe\u{202c} \r";
const TRACE: &str = "java.lang.IllegalStateException: 내용\x1b[31m red\n\tat com.example.Mail.send(Mail.java:7)\x07\u{9b}\u{2066}\n\tat x\x7f";
const ORIGIN: &str = "orders\x1b]0;retitled\x07";
const NOTE_KEY: &str = "x-note\x1b[2J";
const NOTE: &str = "제목 \x1b]52;c;bm90ZQ==\x07\u{2067}";
/// Valid JSON: its C0 controls are JSON escapes, its DEL, U+009B and U+202E raw (JSON allows
/// them), so the decoded strings hold every kind.
const PAYLOAD: &str =
    "{\"subject\":\"제목 \\u001b]0;title\\u0007\",\"body\":\"내용 \x7f \u{9b}2J \u{202e}cba\"}";
/// Not JSON: shown as text (it has no control character besides layout and bidi).
const TEXT_PAYLOAD: &str = "내용 \u{202e}txt.exe\r\n";

/// Starts `rebound` with its stdout on a pipe the test reads (or closes).
fn spawn_rebound(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .env("KAFKA_BROKERS", kafka().brokers())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rebound")
}

/// Waits for `child` to exit by itself; kills it (and panics) after `timeout`.
fn exit_within(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rebound still running {timeout:?} after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Fails when `out` holds a character a terminal would act on. Newlines and tabs are layout.
fn assert_terminal_safe(face: &str, out: &str) {
    let bad: Vec<(usize, char)> = out
        .char_indices()
        .filter(|&(_, c)| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
        .collect();
    assert!(
        bad.is_empty(),
        "{face} prints control characters {bad:?}:\n{}",
        out.escape_debug()
    );
    for byte in [0x1b, 0x07, 0x7f] {
        assert!(!out.as_bytes().contains(&byte), "{face}: byte {byte:#x}");
    }
}

/// Writes the hostile dead letter (Spring's plain DeadLetterPublishingRecoverer headers) and one
/// with a text payload into a new DLT; returns the DLT.
async fn seed_hostile_dlt() -> String {
    let dlt = unique("hostile") + "-dlt";
    create_topic(&dlt, 1).await;
    let mut headers = Headers::new();
    headers.push(h::DLT_ORIGINAL_TOPIC, ORIGIN);
    headers.push(h::DLT_ORIGINAL_PARTITION, h::encode_i32(0));
    headers.push(h::DLT_ORIGINAL_OFFSET, h::encode_i64(3));
    headers.push(h::DLT_EXCEPTION_FQCN, "com.example.Mail\x1b[8m");
    headers.push(h::DLT_EXCEPTION_MESSAGE, ERROR);
    headers.push(h::DLT_EXCEPTION_STACKTRACE, TRACE);
    headers.push(NOTE_KEY, NOTE);
    let producer = producer();
    produce(
        &producer,
        &dlt,
        None,
        Some(KEY),
        PAYLOAD.as_bytes(),
        &headers,
    )
    .await;
    produce(
        &producer,
        &dlt,
        None,
        Some(KEY),
        TEXT_PAYLOAD.as_bytes(),
        &headers,
    )
    .await;
    dlt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_dead_letters_are_shown_as_visible_escapes() {
    init_tracing();
    let dlt = seed_hostile_dlt().await;

    let list = rebound(&["dlt", "list", &dlt]);
    assert_terminal_safe("list", &list);
    assert_eq!(list.lines().count(), 3, "a header and two rows:\n{list}");
    assert!(list.contains("제목") && list.contains("내용"), "{list}");
    assert!(list.contains(r"제목\x1b[2J\x1b]0;owned\x07"), "{list}");
    assert!(
        list.contains(r"\u{9b}2J\x7f \u{202e}txt.exe\u{202c}"),
        "{list}"
    );

    let rows: Vec<Value> = rebound(&["dlt", "list", &dlt, "--json"])
        .lines()
        .inspect(|line| assert_terminal_safe("list --json", line))
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["key"], KEY, "the JSON holds the original key");
    assert_eq!(rows[0]["error"], ERROR);
    assert_eq!(rows[0]["origin"]["topic"], ORIGIN);

    let shown = rebound(&["dlt", "show", &dlt, "0@0"]);
    assert_terminal_safe("show", &shown);
    for korean in ["제목", "내용"] {
        assert!(shown.contains(korean), "{shown}");
    }
    assert!(
        shown.contains("\n\tat com.example.Mail.send(Mail.java:7)\\x07\\u{9b}\\u{2066}\n"),
        "the stack trace keeps its lines and tabs: {shown}"
    );
    assert!(shown.contains(r"x-note\x1b[2J"), "header keys too: {shown}");
    assert!(
        shown.contains(r#""body": "내용 \x7f \u{9b}2J \u{202e}cba""#),
        "{shown}"
    );
    let text = rebound(&["dlt", "show", &dlt, "0@1"]);
    assert_terminal_safe("show (text payload)", &text);
    assert!(text.contains(r"내용 \u{202e}txt.exe\r"), "{text}");

    for (position, payload) in [
        ("0@0", serde_json::from_str(PAYLOAD).unwrap()),
        ("0@1", Value::from(TEXT_PAYLOAD)),
    ] {
        let json = rebound(&["dlt", "show", &dlt, position, "--json"]);
        assert_terminal_safe("show --json", &json);
        let detail: Value = serde_json::from_str(&json).expect("show --json is JSON");
        assert_eq!(detail["key"], KEY);
        assert_eq!(detail["error"], ERROR);
        assert_eq!(detail["stacktrace"], TRACE);
        assert_eq!(detail["payload"], payload);
        let note = detail["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|hd| hd["key"] == NOTE_KEY)
            .expect("the note header, under its own key");
        assert_eq!(note["value"], NOTE);
    }

    let stats = rebound(&["dlt", "stats", &dlt]);
    assert_terminal_safe("stats", &stats);
    assert!(stats.contains("내용"), "{stats}");
    let stats_json = rebound(&["dlt", "stats", &dlt, "--json"]);
    assert_terminal_safe("stats --json", &stats_json);
    let stats_json: Value = serde_json::from_str(&stats_json).unwrap();
    assert_eq!(stats_json["by_error"][0][2], ERROR);
    assert_eq!(stats_json["by_topic"][ORIGIN], 2);

    // Redrive names the original topic, read from a header.
    let dry_run = rebound(&["dlt", "redrive", &dlt, "--dry-run"]);
    assert_terminal_safe("redrive --dry-run", &dry_run);
    assert!(
        dry_run.contains(r"would be sent to orders\x1b]0;retitled\x07"),
        "{dry_run}"
    );

    // The archive shows the discarded copy, key and error as they were.
    let discard = rebound(&[
        "dlt",
        "discard",
        &dlt,
        "--at",
        "0@1",
        "--reason",
        "제목 \x1b[2J",
    ]);
    assert_terminal_safe("discard", &discard);
    let archive = rebound(&["dlt", "archive", &dlt]);
    assert_terminal_safe("archive", &archive);
    assert_eq!(
        archive.lines().count(),
        2,
        "a header and one row:\n{archive}"
    );
    assert!(
        archive.contains("제목") && archive.contains("내용"),
        "{archive}"
    );
    let archived = rebound(&["dlt", "show", &dlt, "0@0", "--archived"]);
    assert_terminal_safe("show --archived", &archived);
    assert!(
        archived.contains(r"제목 \x1b[2J"),
        "the discard's reason, a header of the copy: {archived}"
    );

    for json in [false, true] {
        let mut args = vec!["dlt", "tail", &dlt, "--from-beginning"];
        if json {
            args.push("--json");
        }
        let lines = tail_lines(&args, if json { 2 } else { 4 });
        assert_terminal_safe("tail", &lines);
        assert!(lines.contains("제목") && lines.contains("내용"), "{lines}");
        if json {
            for line in lines.lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                assert_eq!(row["key"], KEY);
                assert_eq!(row["error"], ERROR);
            }
        }
    }
}

/// Runs `rebound dlt tail …` until it has printed `n` lines, then stops it.
fn tail_lines(args: &[&str], n: usize) -> String {
    let mut child = spawn_rebound(args);
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.expect("UTF-8 output")).is_err() {
                return;
            }
        }
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("tail {args:?} printed only:\n{out}");
            }
        }
    }
    // Tail follows until stopped; a kill is how this test's operator closes the window.
    let _ = child.kill();
    let _ = child.wait();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_output_quietly() {
    init_tracing();
    let main = unique("piped");
    let dlt = format!("{main}.dlt");
    create_topic(&dlt, 1).await;
    // More output than a pipe buffers (64 KiB on Linux), so the command writes after its reader
    // has gone.
    let producer = producer();
    for i in 0..200 {
        let mut headers = Headers::new();
        headers.push(h::ORIGINAL_TOPIC, main.clone());
        headers.push(h::EXCEPTION_MESSAGE, format!("{i} {}", "x".repeat(1000)));
        produce(&producer, &dlt, None, Some("k"), b"{}", &headers).await;
    }
    for args in [
        &["dlt", "list", &dlt][..],
        &["dlt", "list", &dlt, "--json"],
        &["dlt", "tail", &dlt, "--from-beginning"],
    ] {
        let mut child = spawn_rebound(args);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?} printed nothing");
        drop(stdout); // as `| head -1` does
        let status = exit_within(&mut child, Duration::from_secs(30));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            status.success() && !stderr.contains("panicked"),
            "rebound {args:?} on a closed pipe: {status}\n{stderr}"
        );
    }
}
