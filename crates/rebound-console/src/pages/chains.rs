//! `/`: every retry chain on the cluster, its topics, their depths, consumer groups and lag, and
//! each DLT's inflow of the last 24 hours as a small bar chart (`inflow_chart`), as the console's
//! background read last found them (`crate::chains`): the page never waits for the cluster.
//! Before the first read ends it says so and reloads itself.

mod inflow_chart;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use rebound::naming::TopicRole;

use super::{render, time, Layout};
use crate::auth::guard::Caller;
use crate::chains::Inflows;
use crate::AppState;
use inflow_chart::Chart;

pub(crate) struct TopicRow {
    role: &'static str,
    /// A DLT's dialect: who writes its dead letters (`spring`, `connect`, `share-group`, …).
    dialect: Option<&'static str>,
    name: String,
    link: Option<String>,
    partitions: i32,
    records: i64,
    groups: Vec<(String, i64)>,
    inflow: InflowCell,
}

/// What the inflow column shows for a topic.
pub(crate) enum InflowCell {
    /// Not a DLT: nothing.
    NotADlt,
    /// A DLT whose inflow could not be measured, and why.
    Unknown(String),
    Chart(Chart),
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

fn row(topic: &rebound_ops::topics::TopicInfo, inflows: &Inflows) -> TopicRow {
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
        dialect: topic.dialect.map(|d| d.as_str()),
        link,
        name: topic.name.clone(),
        partitions: topic.partitions,
        records: topic.records,
        groups: topic.groups.clone(),
        inflow: match (topic.role, inflows.get(&topic.name)) {
            (TopicRole::Dlt, Some(Ok(inflow))) => InflowCell::Chart(Chart::of(inflow)),
            (TopicRole::Dlt, Some(Err(why))) => InflowCell::Unknown(why.clone()),
            // Found by a read that has not measured it yet: none so far.
            (TopicRole::Dlt, None) => InflowCell::Unknown("not measured yet".into()),
            _ => InflowCell::NotADlt,
        },
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
                topics: chain.topics.iter().map(|t| row(t, &s.inflows)).collect(),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rebound::EpochMillis;
    use rebound_ops::inflow::Inflow;
    use rebound_ops::topics::TopicInfo;

    use super::*;

    fn dlt(name: &str) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            role: TopicRole::Dlt,
            partitions: 1,
            records: 3,
            groups: Vec::new(),
            dialect: Some(rebound_ops::dialect::Dialect::Connect),
        }
    }

    /// A DLT whose inflow could not be measured says so in its row; the page and the other
    /// DLT's chart are drawn all the same, with no inline style.
    #[test]
    fn a_dlt_not_measured_is_inflow_unknown_and_the_page_is_drawn() {
        let mut counts = vec![0; 24];
        counts[20] = 3;
        let inflows = Inflows::from([
            (
                "a.dlt".to_string(),
                Ok(Inflow {
                    start: EpochMillis::new(1_796_083_200_000),
                    width: Duration::from_secs(3600),
                    counts,
                }),
            ),
            (
                "b.dlt".to_string(),
                Err("Kafka client error: timed out".into()),
            ),
        ]);
        let page = ChainsPage {
            layout: Layout {
                title: "Chains".into(),
                who: "tester".into(),
                role: "viewer",
                signed_in: false,
                read_only: false,
                refresh: None,
                refresh_only_without_script: false,
                live: None,
            },
            loaded: true,
            as_of: "now".into(),
            took: "0.1 s".into(),
            error: None,
            chains: vec![ChainRow {
                main: "a".into(),
                topics: vec![row(&dlt("a.dlt"), &inflows), row(&dlt("b.dlt"), &inflows)],
            }],
        };
        let html = page.render().unwrap();
        assert!(
            html.contains(
                r#"role="img" aria-label="3 dead letters in the last 24 hours, most 3 at 20:00 UTC""#
            ),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<span class="hint" title="Kafka client error: timed out">inflow unknown</span>"#
            ),
            "{html}"
        );
        assert!(!html.contains("style="), "the CSP forbids inline styles");
        assert!(
            html.contains(r#"dlt <span class="dialect">connect</span>"#),
            "{html}"
        );
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 1, "{html}");
    }
}
