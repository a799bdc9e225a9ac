//! The one server-side check. Every route is declared with the [`Need`] it requires (see
//! `pages::router`, which cannot add a route without one) and this check runs before its
//! handler: it finds the caller (a session, or the local person when no tokens are configured),
//! caps them to viewer under `--read-only`, and refuses what their role may not do. Pages hide
//! buttons a role cannot use, but that is for the eye: this is the check.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::session::session_id;
use crate::auth::tokens::Role;
use crate::pages::problem::Problem;
use crate::AppState;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the sign-in page and the static assets.
    Public,
    /// At least this role.
    Role(Role),
}

/// Who is asking, as the handlers see it (a request extension the guard sets).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Their role, after `--read-only`.
    pub role: Role,
    /// Who they are, for the ledger: the token's name, or the local person without tokens.
    pub name: String,
    /// Signed in with a session (false without tokens, where nobody signs in).
    pub signed_in: bool,
}

impl Caller {
    /// May redrive and discard.
    pub fn can_act(&self) -> bool {
        self.role >= Role::Operator
    }
}

/// Who the request comes from, if anyone: the local person (admin, or viewer under
/// `--read-only`) without tokens, else the session's owner.
pub(crate) fn caller(state: &AppState, request: &Request) -> Option<Caller> {
    let settings = &state.settings;
    let cap = |role: Role| {
        if settings.read_only {
            role.min(Role::Viewer)
        } else {
            role
        }
    };
    if settings.tokens.is_empty() {
        return Some(Caller {
            role: cap(Role::Admin),
            name: settings.local_operator.clone(),
            signed_in: false,
        });
    }
    let session = state.sessions.get(&session_id(request.headers())?)?;
    Some(Caller {
        role: cap(session.role),
        name: session.name,
        signed_in: true,
    })
}

/// Middleware: the check for one route needing `need`. Without a caller, a page read goes to
/// `/login` (and back after), anything else is 401; a caller whose role is short gets 403.
pub(crate) async fn check(
    State((state, need)): State<(AppState, Need)>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = caller(&state, &request);
    if let Need::Role(required) = need {
        let Some(caller) = &caller else {
            if request.method() == Method::GET || request.method() == Method::HEAD {
                let back = request
                    .uri()
                    .path_and_query()
                    .map_or("/".to_string(), |p| p.to_string());
                let to = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &back)
                    .finish();
                return Redirect::to(&format!("/login?{to}")).into_response();
            }
            let mut response = Problem::new(
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "This needs a session: sign in at /login with a token.",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Cookie".parse().expect("header"));
            return response;
        };
        if caller.role < required {
            let why = if state.settings.read_only && required > Role::Viewer {
                "This console runs with --read-only: nobody can redrive or discard from it."
                    .to_string()
            } else {
                format!(
                    "This needs the {} role; you are signed in as {} ({}).",
                    required.as_str(),
                    caller.name,
                    caller.role.as_str()
                )
            };
            return Problem::new(StatusCode::FORBIDDEN, "Not allowed", why).into_response();
        }
    }
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}
