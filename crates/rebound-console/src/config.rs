//! What the console is started with: where it listens, who may sign in, and whether anyone may
//! act. Kafka's settings are not here: they come from the command's connection flags, never from
//! the web.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::auth::tokens::Tokens;

/// The console's settings. [`Settings::default`] listens on `127.0.0.1:8686` without tokens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen. A non-loopback address needs tokens (see [`crate::listen`]).
    pub listen: SocketAddr,
    /// Who may sign in, and as what. Empty: loopback only, and whoever reaches it is admin.
    pub tokens: Tokens,
    /// Cap everyone to the viewer role: nothing can be redriven or discarded from this console.
    pub read_only: bool,
    /// Who acts, for the ledger, when no tokens are configured (the person running the console,
    /// e.g. `user@host`); with tokens, each token's name is.
    pub local_operator: String,
    /// How long a browser session lasts after sign-in.
    pub session_ttl: Duration,
}

/// The port of `rebound console` unless `--listen` says otherwise.
pub const DEFAULT_PORT: u16 = 8686;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            tokens: Tokens::default(),
            read_only: false,
            local_operator: "local".into(),
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}
