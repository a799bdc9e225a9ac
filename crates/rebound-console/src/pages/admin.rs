//! `/admin` (admin role): how the console runs: its address, read-only or not, tokens and live
//! sessions per role (never a token), running jobs, and each index's progress.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;

use super::{render, Layout};
use crate::auth::guard::Caller;
use crate::auth::tokens::Role;
use crate::index::IndexStatus;
use crate::AppState;

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    listen: String,
    read_only: bool,
    roles: Vec<(&'static str, usize, usize)>,
    running: usize,
    indexes: Vec<(String, IndexStatus)>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let roles = [Role::Viewer, Role::Operator, Role::Admin]
        .into_iter()
        .map(|role| {
            (
                role.as_str(),
                state.settings.tokens.count(role),
                state.sessions.count(role),
            )
        })
        .collect();
    render(&AdminPage {
        layout: Layout::new(&state, &caller, "Admin"),
        listen: state.settings.listen.to_string(),
        read_only: state.settings.read_only,
        roles,
        running: state.jobs.running(),
        indexes: state
            .indexes
            .all()
            .into_iter()
            .map(|index| (index.dlt.clone(), index.status()))
            .collect(),
    })
}
