//! Names no other test uses. Every test names its own topics, groups and folders, so that tests
//! run in parallel on one broker (and after earlier runs on it) without seeing each other's
//! records.

use std::time::{SystemTime, UNIX_EPOCH};

/// `<prefix>-<pid>-<nanoseconds>`: a name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}
