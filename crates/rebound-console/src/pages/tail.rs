//! `/dlt/{topic}/tail`: the newest dead letters of a DLT as they arrive, for watching an incident
//! unfold (`rebound dlt tail` in a browser). The filters of the DLT page apply (a key, an error).
//! The rows come from `/dlt/{topic}/tail/rows`, a fragment htmx fetches again whenever the
//! DLT's live events (`live.js`) announce a new dead letter: the server renders every row, the
//! page never builds markup from event data. Without JavaScript the page reloads itself.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use rebound_ops::Source;

use super::problem::Problem;
use super::rows::{rows, Row};
use super::{index_of, render, Layout};
use crate::auth::guard::Caller;
use crate::index::query::{select, Query};
use crate::AppState;

/// Rows a tail shows: the newest page of the selection.
#[derive(Template)]
#[template(path = "tail.html")]
struct TailPage {
    layout: Layout,
    dlt: String,
    query: Query,
    rows_link: String,
    list_link: String,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "tail_rows.html")]
struct TailRows {
    dlt: String,
    rows: Vec<Row>,
}

/// The selection's newest dead letters, and the query that selected them.
async fn newest(
    state: &AppState,
    topic: &str,
    raw: Option<&str>,
) -> Result<(Query, Vec<Row>), Problem> {
    let index = index_of(state, topic).await?;
    let query = Query::from_query_string(raw.unwrap_or("")).map_err(Problem::bad_request)?;
    let compiled = query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(format!("/dlt/{topic}/tail")))?;
    let state = index.read();
    let letters = state.letters(Source::Dlt);
    let results = select(letters, &compiled, 1);
    Ok((query, rows(letters, topic, Source::Dlt, &results.rows)))
}

/// `GET /dlt/{topic}/tail`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let (query, rows) = newest(&state, &topic, raw.as_deref()).await?;
    let mut layout = Layout::new(&state, &caller, format!("tail {topic}"));
    layout.live = Some(format!("/dlt/{topic}/live"));
    layout.refresh = Some(10);
    layout.refresh_only_without_script = true;
    let selection = query.query_string(&[]);
    Ok(render(&TailPage {
        layout,
        rows_link: format!("/dlt/{topic}/tail/rows?{selection}"),
        list_link: format!("/dlt/{topic}?{selection}"),
        dlt: topic,
        query,
        rows,
    }))
}

/// `GET /dlt/{topic}/tail/rows`: the rows alone, for htmx to swap in.
pub(crate) async fn rows_fragment(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let (_, rows) = newest(&state, &topic, raw.as_deref()).await?;
    Ok(render(&TailRows { dlt: topic, rows }))
}
