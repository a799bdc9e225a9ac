//! Who runs a command, for the ledger and the copies' headers. The command knows the person at
//! the terminal; the library is told (a web console would pass its signed-in user instead).

/// `user@host`: `$USER` (or `$LOGNAME`) on this machine's hostname.
pub fn operator_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}
