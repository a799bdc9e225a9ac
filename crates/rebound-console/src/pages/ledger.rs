//! `/dlt/{topic}/ledger`: who did what, when and why, newest first, from the index.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;

use super::dead_letter::EntryRow;
use super::problem::Problem;
use super::{index_of, render, Layout};
use crate::auth::guard::Caller;
use crate::AppState;

const PER_PAGE: usize = 100;

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    layout: Layout,
    dlt: String,
    history: Vec<EntryRow>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let index = index_of(&state, &topic).await?;
    let page = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(name, _)| name == "page")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let (history, total) = {
        let state = index.read();
        let total = state.ledger.len();
        let rows = state
            .ledger
            .iter()
            .rev()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|(offset, entry)| EntryRow::new(&topic, *offset, entry))
            .collect();
        (rows, total)
    };
    let pages = total.div_ceil(PER_PAGE).max(1);
    let link = |page: usize| format!("/dlt/{topic}/ledger?page={page}");
    Ok(render(&LedgerPage {
        layout: Layout::new(&state, &caller, format!("{topic} ledger")),
        history,
        total,
        page,
        pages,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        dlt: topic,
    }))
}
