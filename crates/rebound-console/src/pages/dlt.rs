//! `/dlt/{topic}`: a DLT's dead letters grouped by failure fingerprint, and a filtered, paged
//! list, newest first. Filters are query parameters (shareable links, JavaScript off); the page
//! is served from the index, never from a read of the topic. The listing itself ([`listing`]) is
//! the archive page's too.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use rebound_ops::visible::line;
use rebound_ops::Source;

use super::problem::Problem;
use super::rows::{rows, Row};
use super::{index_of, render, time, Layout};
use crate::auth::guard::Caller;
use crate::index::query::{select, Compiled, Query};
use crate::index::{DltIndex, IndexStatus};
use crate::AppState;

pub(crate) struct GroupRow {
    pub(crate) fingerprint: String,
    pub(crate) example: String,
    pub(crate) count: usize,
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) link: String,
}

/// One page of a source's dead letters as the DLT and archive pages show them: the selection's
/// groups, its rows, and the links to move around it.
pub(crate) struct Listing {
    pub(crate) groups: Vec<GroupRow>,
    pub(crate) rows: Vec<Row>,
    pub(crate) total: usize,
    pub(crate) page: usize,
    pub(crate) pages: usize,
    pub(crate) previous: Option<String>,
    pub(crate) next: Option<String>,
    /// The same selection in every group.
    pub(crate) without_group: String,
}

/// The page `query.page` of what `compiled` selects from `query.source` in `index`, with links
/// to `path` (the page's own address).
pub(crate) fn listing(
    index: &DltIndex,
    dlt: &str,
    path: &str,
    query: &Query,
    compiled: &Compiled,
) -> Listing {
    let source = query.source;
    let (results, rows) = {
        let state = index.read();
        let letters = state.letters(source);
        let results = select(letters, compiled, query.page);
        let rows = rows(letters, dlt, source, &results.rows);
        (results, rows)
    };
    let link = |query: &Query, page: usize| {
        let extra = [("page", page.to_string())];
        let extra = if page > 1 { &extra[..] } else { &[] };
        format!("{path}?{}", query.query_string(extra))
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
    let without_group = Query {
        fingerprint: String::new(),
        page: 1,
        ..query.clone()
    };
    Listing {
        groups,
        rows,
        total: results.total,
        page: results.page,
        pages: results.pages,
        previous: (results.page > 1).then(|| link(query, results.page - 1)),
        next: (results.page < results.pages).then(|| link(query, results.page + 1)),
        without_group: link(&without_group, 1),
    }
}

#[derive(Template)]
#[template(path = "dlt.html")]
struct DltPage {
    layout: Layout,
    dlt: String,
    status: IndexStatus,
    query: Query,
    statuses: [(&'static str, &'static str); 4],
    listing: Listing,
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
    // A selection of the archive (an action page's way back) is the archive page's.
    if query.source == Source::Archive {
        let raw = raw.unwrap_or_default();
        return Ok(Redirect::to(&format!("/dlt/{topic}/archive?{raw}")).into_response());
    }
    let compiled = query
        .compile()
        .map_err(|e| Problem::bad_request(e).with_back(format!("/dlt/{topic}")))?;
    let status = index.status();
    let listing = listing(&index, &topic, &format!("/dlt/{topic}"), &query, &compiled);
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
        listing,
        can_act: caller.can_act(),
        redrive_all: action("redrive"),
        discard_all: action("discard"),
        query,
        dlt: topic,
    }))
}
