//! `rebound groups handover` as a person runs it at a cut-over: the real binary, the scenario's
//! policy, the DLT's offsets included.

use std::process::Output;

use super::*;

/// The scenario's policy as `rebound groups handover` takes it (the same as [`policy`]).
const POLICY: [&str; 8] = [
    "--attempts",
    "5",
    "--delay-ms",
    "1000",
    "--multiplier",
    "2",
    "--dlt-suffix",
    ".dlt",
];

/// Runs `rebound groups handover <main> --group <group> --to <to> --include-dlt` and waits until
/// it succeeds: it refuses while the stopped side's members are still in a group (a member that
/// left gracefully is gone at once; the wait covers the broker's bookkeeping). Returns its output.
pub(crate) async fn hand_over(main: &str, group: &str, to: &str) -> Output {
    let rebound = workspace_binary("rebound");
    let run = || {
        let mut args = vec!["groups", "handover", main, "--group", group, "--to", to];
        args.extend(POLICY);
        args.push("--include-dlt");
        std::process::Command::new(&rebound)
            .args(&args)
            .env("KAFKA_BROKERS", kafka().brokers())
            .output()
            .expect("run rebound")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = run();
        if output.status.success() {
            return output;
        }
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains("live member") && Instant::now() < deadline,
            "rebound groups handover --to {to} failed: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
