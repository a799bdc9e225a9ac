//! `/dlt/{topic}/ledger`: who did what, when and why, newest first, from the index, filtered by
//! action, who, run, dead letter and time ([`ledger_query`](crate::index::ledger_query)): GET
//! parameters, so a filtered ledger is a link that works with JavaScript off. A row's run links
//! to that run's entries.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;

use super::dead_letter::EntryRow;
use super::problem::Problem;
use super::{index_of, render, Layout};
use crate::auth::guard::Caller;
use crate::index::ledger_query::{select, LedgerQuery, ACTIONS};
use crate::AppState;

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    layout: Layout,
    dlt: String,
    query: LedgerQuery,
    actions: [&'static str; 4],
    filtered: bool,
    history: Vec<EntryRow>,
    total: usize,
    ledger_entries: usize,
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
    let back = format!("/dlt/{topic}/ledger");
    let query = LedgerQuery::from_query_string(raw.as_deref().unwrap_or(""))
        .map_err(|e| Problem::bad_request(e).with_back(back.clone()))?;
    let filter = query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(back.clone()))?;
    let (history, total, page, pages, ledger_entries) = {
        let state = index.read();
        let selected = select(&state.ledger, &filter, query.page);
        let rows = selected
            .rows
            .iter()
            .map(|(offset, entry)| EntryRow::new(&topic, *offset, entry))
            .collect();
        (
            rows,
            selected.total,
            selected.page,
            selected.pages,
            state.ledger.len(),
        )
    };
    let link = |page: usize| {
        let extra = [("page", page.to_string())];
        let extra = if page > 1 { &extra[..] } else { &[] };
        format!("{back}?{}", query.query_string(extra))
    };
    Ok(render(&LedgerPage {
        layout: Layout::new(&state, &caller, format!("{topic} ledger")),
        actions: ACTIONS,
        filtered: !query.selects_all(),
        history,
        total,
        ledger_entries,
        page,
        pages,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        query,
        dlt: topic,
    }))
}
