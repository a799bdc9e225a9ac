//! The routes, each declared with what it needs, and what pages share: the layout, rendering,
//! finding a DLT's index.

mod actions;
mod admin;
mod archive;
mod chains;
mod dead_letter;
mod dlt;
mod job_live;
mod jobs;
mod ledger;
mod live;
mod login;
pub(crate) mod problem;
mod rows;
mod tail;
mod watch_form;

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use rebound_ops::Source;

use crate::auth::guard::{self, Caller, Need};
use crate::auth::tokens::Role;
use crate::index::{DltIndex, Refusal};
use crate::{assets, csrf, listen, security_headers, AppState};

use problem::Problem;

/// Every route with the [`Need`] its guard checks. A route cannot be added without one: the
/// guard is layered here, on each, from this table.
fn routes() -> Vec<(&'static str, Need, MethodRouter<AppState>)> {
    use Need::{Public, Role as R};
    vec![
        ("/", R(Role::Viewer), get(chains::page)),
        ("/dlt/{topic}", R(Role::Viewer), get(dlt::page)),
        ("/dlt/{topic}/ledger", R(Role::Viewer), get(ledger::page)),
        ("/dlt/{topic}/archive", R(Role::Viewer), get(archive::page)),
        ("/dlt/{topic}/live", R(Role::Viewer), get(live::stream)),
        ("/dlt/{topic}/tail", R(Role::Viewer), get(tail::page)),
        (
            "/dlt/{topic}/tail/rows",
            R(Role::Viewer),
            get(tail::rows_fragment),
        ),
        (
            "/dlt/{topic}/redrive",
            R(Role::Operator),
            get(actions::redrive_form).post(actions::redrive),
        ),
        (
            "/dlt/{topic}/discard",
            R(Role::Operator),
            get(actions::discard_form).post(actions::discard),
        ),
        (
            "/dlt/{topic}/{position}",
            R(Role::Viewer),
            get(dead_letter::page),
        ),
        ("/jobs/{id}", R(Role::Viewer), get(jobs::page)),
        ("/jobs/{id}/events", R(Role::Viewer), get(job_live::stream)),
        ("/jobs/{id}/cancel", R(Role::Operator), post(jobs::cancel)),
        ("/admin", R(Role::Admin), get(admin::page)),
        ("/login", Public, get(login::form).post(login::submit)),
        ("/logout", R(Role::Viewer), post(login::logout)),
        ("/assets/{file}", Public, get(assets::serve)),
    ]
}

/// The console's router: routes behind their guard, then (outermost last) the CSRF check, the
/// host check and the security headers, which every response carries, errors included.
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, need, handler) in routes() {
        let guarded = handler.route_layer(from_fn_with_state((state.clone(), need), guard::check));
        router = router.route(path, guarded);
    }
    router
        .fallback(not_found)
        .layer(from_fn(csrf::check))
        .layer(from_fn_with_state(state.clone(), listen::check_host))
        .layer(from_fn(security_headers::add))
        .with_state(state)
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

/// What the layout shows about the page and who is looking.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) who: String,
    pub(crate) role: &'static str,
    pub(crate) signed_in: bool,
    pub(crate) read_only: bool,
    /// Reload the page after this many seconds (a job running, an index loading): works
    /// without JavaScript.
    pub(crate) refresh: Option<u32>,
    /// Reload only without JavaScript: the page's live events keep it current otherwise.
    pub(crate) refresh_only_without_script: bool,
    /// The server-sent events this page follows (`live.js` updates statuses in place); the page
    /// reads the same without them.
    pub(crate) live: Option<String>,
}

impl Layout {
    pub(crate) fn new(state: &AppState, caller: &Caller, title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            who: caller.name.clone(),
            role: caller.role.as_str(),
            signed_in: caller.signed_in,
            read_only: state.settings.read_only,
            refresh: None,
            refresh_only_without_script: false,
            live: None,
        }
    }
}

/// A rendered template as a response (a template error is a 500 page).
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be drawn",
            e.to_string(),
        )
        .into_response(),
    }
}

/// The index of `topic`, or the page saying why there is none.
pub(crate) async fn index_of(state: &AppState, topic: &str) -> Result<Arc<DltIndex>, Problem> {
    index_with(state, topic, Source::Dlt).await
}

/// The index of `topic` following `source` (the archive's follower starts when first asked
/// for), or the page saying why there is none.
pub(crate) async fn index_with(
    state: &AppState,
    topic: &str,
    source: Source,
) -> Result<Arc<DltIndex>, Problem> {
    state
        .indexes
        .get_with(topic, source)
        .await
        .map_err(|refusal| match refusal {
            Refusal::NotADlt => Problem::new(
                StatusCode::NOT_FOUND,
                "Not a dead-letter topic",
                format!(
                    "`{topic}` is not named like a DLT (<main>-dlt, <main>.dlt, <main>-DLT, \
                 <main>.DLT) nor a share group's DLQ (dlq.*), and REBOUND_DLQS does not \
                 list it; the console shows dead-letter topics only."
                ),
            ),
            Refusal::NoSuchTopic => Problem::new(
                StatusCode::NOT_FOUND,
                "No such topic",
                format!("There is no topic `{topic}` on the cluster."),
            ),
            Refusal::Kafka(e) => Problem::kafka(e),
        })
}

/// An instant for a page.
pub(crate) fn time(at: Option<rebound::EpochMillis>) -> String {
    rebound_ops::describe::format_time(at)
}
