//! `/dlt/{topic}/archive`: the archived copies of a DLT's discarded dead letters (`<dlt>.archive`),
//! with why, by whom and when each was discarded, and its own handling status: an archived copy
//! can be redriven (`archive:p@o` in the ledger). The same filters, groups and paging as the DLT
//! page (the same [`listing`]), over the archive's side of the index; the redrive buttons carry
//! `source=archive`, so the action page runs `rebound dlt redrive … --archived`. Discarding is
//! not offered: a copy is already discarded.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use rebound_ops::Source;

use super::dlt::{listing, Listing};
use super::problem::Problem;
use super::{index_with, render, Layout};
use crate::auth::guard::Caller;
use crate::index::query::Query;
use crate::index::IndexStatus;
use crate::AppState;

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    layout: Layout,
    dlt: String,
    archive: String,
    status: IndexStatus,
    query: Query,
    statuses: [(&'static str, &'static str); 3],
    listing: Listing,
    can_act: bool,
    redrive_all: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let index = index_with(&state, &topic, Source::Archive).await?;
    let path = format!("/dlt/{topic}/archive");
    let mut query =
        Query::from_query_string(raw.as_deref().unwrap_or("")).map_err(Problem::bad_request)?;
    query.source = Source::Archive;
    let compiled = query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(path.clone()))?;
    let status = index.status_of(Source::Archive);
    let listing = listing(&index, &topic, &path, &query, &compiled);
    let mut layout = Layout::new(&state, &caller, format!("{topic} archive"));
    if !status.ready {
        layout.refresh = Some(2);
    }
    let selection = Query {
        page: 1,
        ..query.clone()
    };
    Ok(render(&ArchivePage {
        layout,
        archive: Source::Archive.topic(&topic),
        status,
        statuses: [
            ("", "all"),
            ("pending", "pending"),
            ("redriven", "redriven"),
        ],
        listing,
        can_act: caller.can_act(),
        redrive_all: format!("/dlt/{topic}/redrive?{}", selection.query_string(&[])),
        query,
        dlt: topic,
    }))
}
