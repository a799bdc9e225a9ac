//! What the `rebound` command's tests share: running the real binary against the test broker.

use std::process::Command;

use testkit::kafka;

/// Runs the `rebound` command against the test broker; returns stdout, panics on failure.
pub(crate) fn rebound(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .env("KAFKA_BROKERS", kafka().brokers())
        .output()
        .expect("run rebound");
    assert!(
        output.status.success(),
        "rebound {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs the `rebound` command against the test broker, expecting it to refuse: returns its exit
/// code and stderr, panics if it succeeded. The error comes without anyhow's backtrace, as a
/// person without `RUST_BACKTRACE` set sees it.
// Not every test file refuses something; those that do not would warn of this function.
#[allow(dead_code)]
pub(crate) fn rebound_refused(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .env("KAFKA_BROKERS", kafka().brokers())
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .expect("run rebound");
    assert!(
        !output.status.success(),
        "rebound {args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
