//! Browser sessions. A person types a token once at `POST /login`; the browser then carries a
//! random session id in a cookie that scripts cannot read (`HttpOnly`), that other sites' pages
//! never send (`SameSite=Strict`), for the whole console (`Path=/`). The token itself is never
//! stored in the browser. Sessions live in memory: a restart signs everyone out, which is the
//! safe direction.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

use crate::auth::tokens::Role;

/// The session cookie's name.
pub const COOKIE: &str = "rebound_session";

/// At most this many sessions at once; signing in beyond it drops the oldest.
const MAX_SESSIONS: usize = 10_000;

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    /// The role of the token traded for it.
    pub role: Role,
    /// The token's name: who acts, for the ledger.
    pub name: String,
    /// When it was created.
    pub created: Instant,
    expires: Instant,
}

/// The signed-in browsers.
#[derive(Debug)]
pub(crate) struct Sessions {
    ttl: Duration,
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `role` and `name`: its id, 256 random bits as hex.
    pub(crate) fn create(&self, role: Role, name: String) -> String {
        let bytes: [u8; 32] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self.by_id.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                role,
                name,
                created: now,
                expires: now + self.ttl,
            },
        );
        id
    }

    /// The live session `id` names, if any (an expired one is dropped).
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.by_id.lock().expect("sessions lock");
        match sessions.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub(crate) fn remove(&self, id: &str) {
        self.by_id.lock().expect("sessions lock").remove(id);
    }

    /// Live sessions by role, for the admin page.
    pub(crate) fn count(&self, role: Role) -> usize {
        let now = Instant::now();
        self.by_id
            .lock()
            .expect("sessions lock")
            .values()
            .filter(|s| s.role == role && s.expires > now)
            .count()
    }

    /// The `Set-Cookie` value that hands `id` to the browser; `secure` (the browser came over
    /// HTTPS through a proxy) adds `Secure`, so the cookie never travels in clear.
    pub(crate) fn cookie(&self, id: &str, secure: bool) -> String {
        format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
            self.ttl.as_secs(),
            if secure { "; Secure" } else { "" }
        )
    }
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clearing_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The session id in a request's cookies, if any.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, id)| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_expire_and_end() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let a = sessions.create(Role::Operator, "alice".into());
        let b = sessions.create(Role::Operator, "alice".into());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64, "256 bits as hex");
        assert_eq!(sessions.get(&a).map(|s| s.role), Some(Role::Operator));
        assert!(sessions.get("not-a-session").is_none());
        sessions.remove(&a);
        assert!(sessions.get(&a).is_none());
        assert!(sessions.get(&b).is_some());
        let expired = Sessions::new(Duration::ZERO);
        let c = expired.create(Role::Admin, "root".into());
        assert!(expired.get(&c).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let cookie = sessions.cookie("abc", false);
        for part in [
            "rebound_session=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP on loopback");
        assert!(sessions.cookie("abc", true).ends_with("; Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "theme=dark; rebound_session=abc; x=y".parse().unwrap(),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
    }
}
