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
    /// Where a dead letter's trace is shown, `{trace_id}` standing for its id
    /// (`http://127.0.0.1:9411/zipkin/traces/{trace_id}`): a dead letter with a valid
    /// `traceparent` links to it. Only `http://` and `https://` templates give a link.
    pub trace_url: Option<String>,
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
            trace_url: None,
        }
    }
}

impl Settings {
    /// The link to the trace `trace_id` (32 hex digits, parsed from a `traceparent`, so nothing
    /// of the record's own bytes reaches the URL), if a template is configured.
    pub(crate) fn trace_link(&self, trace_id: &str) -> Option<String> {
        let template = self.trace_url.as_deref()?;
        let web = template.starts_with("http://") || template.starts_with("https://");
        (web && template.contains("{trace_id}")).then(|| template.replace("{trace_id}", trace_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_link_needs_a_web_template_with_the_id() {
        let with = |t: &str| Settings {
            trace_url: Some(t.into()),
            ..Settings::default()
        };
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            with("http://zipkin:9411/zipkin/traces/{trace_id}")
                .trace_link(id)
                .unwrap(),
            format!("http://zipkin:9411/zipkin/traces/{id}")
        );
        assert_eq!(with("javascript:alert({trace_id})").trace_link(id), None);
        assert_eq!(with("https://zipkin/traces/").trace_link(id), None);
        assert_eq!(Settings::default().trace_link(id), None);
    }
}
