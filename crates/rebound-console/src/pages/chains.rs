//! `/`: every retry chain on the cluster, its topics, their depths, consumer groups and lag.
//! Asked of the cluster on each request (one metadata request, watermarks, each group's offsets).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use rebound::naming::TopicRole;

use super::problem::Problem;
use super::{render, Layout};
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
    chains: Vec<ChainRow>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    let chains = rebound_ops::topics::discover(&state.kafka).await?;
    let chains = chains
        .into_iter()
        .map(|chain| ChainRow {
            main: chain.main,
            topics: chain
                .topics
                .into_iter()
                .map(|topic| {
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
                        name: topic.name,
                        partitions: topic.partitions,
                        records: topic.records,
                        groups: topic.groups,
                    }
                })
                .collect(),
        })
        .collect();
    Ok(render(&ChainsPage {
        layout: Layout::new(&state, &caller, "Chains"),
        chains,
    }))
}
