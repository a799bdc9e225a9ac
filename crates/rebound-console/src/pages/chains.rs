//! `/`: every retry chain on the cluster, its topics, their depths, consumer groups and lag, as
//! the console's background read last found them (`crate::chains`): the page never waits for
//! the cluster. Before the first read ends it says so and reloads itself.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use rebound::naming::TopicRole;

use super::{render, time, Layout};
use crate::auth::guard::Caller;
use crate::AppState;

pub(crate) struct TopicRow {
    role: &'static str,
    name: String,
    link: Option<String>,
    partitions: i32,
    records: i64,
    groups: Vec<(String, i64)>,
}

pub(crate) struct ChainRow {
    main: String,
    topics: Vec<TopicRow>,
}

#[derive(Template)]
#[template(path = "chains.html")]
struct ChainsPage {
    layout: Layout,
    loaded: bool,
    as_of: String,
    took: String,
    error: Option<String>,
    chains: Vec<ChainRow>,
}

fn row(topic: &rebound_ops::topics::TopicInfo) -> TopicRow {
    let (role, link) = match topic.role {
        TopicRole::Main => ("main", None),
        TopicRole::Retry => ("retry", None),
        TopicRole::Dlt => ("dlt", Some(format!("/dlt/{}", topic.name))),
        TopicRole::Ledger => (
            "ledger",
            topic
                .name
                .strip_suffix(".ledger")
                .map(|dlt| format!("/dlt/{dlt}/ledger")),
        ),
        TopicRole::Archive => ("archive", None),
        _ => ("other", None),
    };
    TopicRow {
        role,
        link,
        name: topic.name.clone(),
        partitions: topic.partitions,
        records: topic.records,
        groups: topic.groups.clone(),
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    state.chains.start(&state);
    let (snapshot, error) = state.chains.latest();
    let mut layout = Layout::new(&state, &caller, "Chains");
    if snapshot.is_none() {
        layout.refresh = Some(3);
    }
    let chains = snapshot.as_ref().map_or_else(Vec::new, |s| {
        s.chains
            .iter()
            .map(|chain| ChainRow {
                main: chain.main.clone(),
                topics: chain.topics.iter().map(row).collect(),
            })
            .collect()
    });
    render(&ChainsPage {
        layout,
        loaded: snapshot.is_some(),
        as_of: time(snapshot.as_ref().map(|s| s.at)),
        took: snapshot
            .as_ref()
            .map_or(String::new(), |s| format!("{:.1} s", s.took.as_secs_f64())),
        error,
        chains,
    })
}
