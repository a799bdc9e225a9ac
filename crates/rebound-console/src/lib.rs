//! # rebound-console: dead letters in a browser, safely
//!
//! The on-call person's browser face of [`rebound_ops`], as `rebound dlt` is its terminal face:
//! the chains on the cluster, a DLT's dead letters grouped by failure and filtered, one dead
//! letter with every header decoded, the ledger, and redrive and discard with a dry-run count
//! to type back. Actions go through `rebound_ops`, so they write the same ledger records as the
//! command, before they act.
//!
//! Kafka UIs have shipped without authentication and been exploited (CVE-2023-52251,
//! CVE-2024-32030), so this one is safe by default:
//!
//! - loopback only unless tokens are configured ([`listen`]), and then a `Host` check against
//!   DNS rebinding;
//! - tokens compared in constant time, never logged, traded for an `HttpOnly`,
//!   `SameSite=Strict` session cookie ([`auth`]);
//! - roles checked by one guard every route goes through, `--read-only` over all
//!   ([`auth::guard`]);
//! - cross-site state changes refused (`csrf`), a strict Content-Security-Policy with no inline
//!   script or style ([`security_headers`]), every byte of a dead letter escaped by the
//!   templates (askama), filters as data ([`index::query`]), no Kafka settings from the web.
//!
//! Pages are server-rendered HTML and read with JavaScript off. Live updates come as server-sent
//! events (a DLT's status changes and new dead letters, a job's progress) that a short script of
//! our own (`assets/live.js`) turns into text; the live tail has the vendored htmx (pinned by its
//! SHA-256) fetch its server-rendered rows again. A redrive can start as a canary and pauses
//! itself when its copies come back to the DLT (`rebound_ops::redrive`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rebound_console::{Console, Settings};
//!
//! let settings = Settings::default(); // 127.0.0.1:8686, no tokens
//! let listener = tokio::net::TcpListener::bind(settings.listen).await?;
//! Console::new(rebound::KafkaConfig::from_env(), settings)?
//!     .serve(listener, std::future::pending())
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Files: `config.rs` (settings), `listen.rs`, `auth/` (tokens, sessions, the guard), `csrf.rs`,
//! `security_headers.rs`, `assets.rs` (htmx and the stylesheet), `index/` (the in-memory index),
//! `jobs.rs` (actions in the background), `chains.rs` (the chains and each DLT's inflow, read in
//! the background), `command_line.rs` (the equivalent `rebound` command), `pages/` (one handler
//! file per page) and `templates/`.

#![deny(missing_docs)]

mod assets;
pub mod auth;
mod chains;
pub mod command_line;
mod config;
mod csrf;
mod error;
pub mod index;
pub mod jobs;
pub mod listen;
mod pages;
pub mod security_headers;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use rebound::KafkaConfig;

pub use auth::tokens::{Role, Tokens, TOKENS_ENV};
pub use config::{Settings, DEFAULT_PORT};
pub use error::ConsoleError;

/// How long a stopping console waits for its running jobs to record their end.
const JOBS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What every request shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) kafka: KafkaConfig,
    pub(crate) settings: Settings,
    pub(crate) sessions: auth::session::Sessions,
    pub(crate) indexes: index::Indexes,
    pub(crate) jobs: jobs::Jobs,
    pub(crate) chains: chains::Chains,
    /// Held through the pause after a refused sign-in: guesses are one at a time.
    pub(crate) refused_sign_ins: tokio::sync::Mutex<()>,
}

/// The state handlers get.
pub(crate) type AppState = Arc<Shared>;

/// The console: its settings, sessions, indexes and jobs.
#[derive(Debug, Clone)]
pub struct Console {
    shared: AppState,
}

impl Console {
    /// A console on `kafka` with `settings`. Refuses a non-loopback listen address without
    /// tokens ([`listen::check_listen`]).
    pub fn new(kafka: KafkaConfig, settings: Settings) -> Result<Console, ConsoleError> {
        listen::check_listen(settings.listen, &settings.tokens)?;
        Ok(Console {
            shared: Arc::new(Shared {
                sessions: auth::session::Sessions::new(settings.session_ttl),
                indexes: index::Indexes::new(kafka.clone()),
                jobs: jobs::Jobs::default(),
                chains: chains::Chains::default(),
                refused_sign_ins: tokio::sync::Mutex::new(()),
                kafka,
                settings,
            }),
        })
    }

    /// Every route with its guard, CSRF check, host check and security headers (for tests, or
    /// to mount under another server).
    pub fn router(&self) -> Router {
        pages::router(self.shared.clone())
    }

    /// Starts reading the chains on the cluster in the background, and indexing the fullest
    /// DLTs found, so their pages are ready when first asked for (needs a Tokio runtime). A cluster that
    /// cannot be asked is logged, not fatal: a DLT's page starts its index when asked.
    pub fn index_all(&self) {
        self.shared.chains.start(&self.shared);
    }

    /// The status of the index of `dlt`, if it was started.
    pub fn index_status(&self, dlt: &str) -> Option<index::IndexStatus> {
        self.shared
            .indexes
            .all()
            .into_iter()
            .find(|i| i.dlt == dlt)
            .map(|i| i.status())
    }

    /// Serves on `listener` until `shutdown` completes, indexing every DLT from the start; then
    /// stops the running redrives between records (what they sent is recorded, the rest
    /// released) and returns. The listener's own address is checked like [`Settings::listen`].
    ///
    /// Reads of the cluster run on Tokio's blocking pool and may still be asking when this
    /// returns (the chains of a large cluster take a minute): a program that exits then should
    /// not wait for them (`Runtime::shutdown_timeout`), as `rebound console` does not.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ConsoleError> {
        listen::check_listen(listener.local_addr()?, &self.shared.settings.tokens)?;
        self.index_all();
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await?;
        self.shared.jobs.stop_all(JOBS_GRACE).await;
        Ok(())
    }
}
