//! `/dlt/{topic}`: a DLT's dead letters grouped by failure fingerprint, and a filtered, paged
//! list, newest first. Filters are query parameters (shareable links, JavaScript off); the page
//! is served from the index, never from a read of the topic.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use rebound_ops::visible::line;

use super::problem::Problem;
use super::rows::{rows, Row};
use super::{index_of, render, time, Layout};
use crate::auth::guard::Caller;
use crate::index::query::{select, Query};
use crate::index::IndexStatus;
use crate::AppState;

pub(crate) struct GroupRow {
    fingerprint: String,
    example: String,
    count: usize,
    first: String,
    last: String,
    link: String,
}

#[derive(Template)]
#[template(path = "dlt.html")]
struct DltPage {
    layout: Layout,
    dlt: String,
    status: IndexStatus,
    query: Query,
    statuses: [(&'static str, &'static str); 4],
    groups: Vec<GroupRow>,
    rows: Vec<Row>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    without_group: String,
    can_act: bool,
    redrive_all: String,
    discard_all: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let index = index_of(&state, &topic).await?;
    let query =
        Query::from_query_string(raw.as_deref().unwrap_or("")).map_err(Problem::bad_request)?;
    let compiled = query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(format!("/dlt/{topic}")))?;
    let status = index.status();
    let (results, rows) = {
        let state = index.read();
        let results = select(&state, &compiled, query.page);
        let rows = rows(&state, &results.rows);
        (results, rows)
    };
    let link = |query: &Query, page: usize| {
        let extra = [("page", page.to_string())];
        let extra = if page > 1 { &extra[..] } else { &[] };
        format!("/dlt/{topic}?{}", query.query_string(extra))
    };
    let groups = results
        .groups
        .into_iter()
        .map(|(group, count, first, last)| {
            let only = Query {
                fingerprint: group.fingerprint.clone(),
                page: 1,
                ..query.clone()
            };
            GroupRow {
                link: link(&only, 1),
                fingerprint: line(&group.fingerprint).into_owned(),
                example: line(&group.example).into_owned(),
                count,
                first: time(first),
                last: time(last),
            }
        })
        .collect();
    let mut layout = Layout::new(&state, &caller, topic.clone());
    layout.live = Some(format!("/dlt/{topic}/live"));
    if !status.ready {
        layout.refresh = Some(2);
    }
    let selection = Query {
        page: 1,
        ..query.clone()
    };
    let action = |verb: &str| format!("/dlt/{topic}/{verb}?{}", selection.query_string(&[]));
    Ok(render(&DltPage {
        layout,
        status,
        statuses: [
            ("", "all"),
            ("pending", "pending"),
            ("redriven", "redriven"),
            ("discarded", "discarded"),
        ],
        groups,
        rows,
        total: results.total,
        page: results.page,
        pages: results.pages,
        previous: (results.page > 1).then(|| link(&query, results.page - 1)),
        next: (results.page < results.pages).then(|| link(&query, results.page + 1)),
        without_group: link(
            &Query {
                fingerprint: String::new(),
                ..selection.clone()
            },
            1,
        ),
        can_act: caller.can_act(),
        redrive_all: action("redrive"),
        discard_all: action("discard"),
        query,
        dlt: topic,
    }))
}
