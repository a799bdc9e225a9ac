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
