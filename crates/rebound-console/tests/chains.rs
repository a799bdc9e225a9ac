//! `/` on a real broker draws each DLT's inflow of the last 24 hours as a chart whose
//! `aria-label` says the total and the busiest hour, measured by the console's background read.
//!
//! On a broker of the test's own, as the browser test does: finding the chains asks every
//! consumer group on the cluster, minutes on the shared broker after many test runs, seconds here.

mod support;

use std::time::{Duration, Instant};

use rebound::EpochMillis;
use rebound_console::{Console, Settings};
use rebound_ops::inflow::next_boundary;
use support::*;
use testkit::*;

const HOUR_MS: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chains_page_charts_a_dlts_inflow() {
    let broker = PrivateBroker::start();
    let cluster = Cluster(broker.kafka());
    let main = unique("orders");
    let dlt = format!("{main}.dlt");
    cluster.create_topics(&[&main, &dlt], 1, &[]).await;
    // The console's buckets are the clock's hours up to the one now filling: 2, 5 and 1 dead
    // letters stamped in the hours starting 19, 10 and 1 hours before its end (the last one is
    // the hour now filling). An hour turning meanwhile moves the window, not the label.
    let end = next_boundary(EpochMillis::now(), Duration::from_secs(3600)).as_i64();
    let producer = cluster.producer();
    for (hours_before_end, records) in [(19, 2), (10, 5), (1, 1)] {
        let hour_start = end - hours_before_end * HOUR_MS;
        for i in 0..records {
            let at = EpochMillis::new(hour_start + i * 1000);
            produce_at(&producer, &dlt, 0, b"{}", at).await;
        }
    }
    let busiest =
        &rebound_ops::describe::format_time(Some(EpochMillis::new(end - 10 * HOUR_MS)))[11..16];
    let label = format!(
        r#"role="img" aria-label="8 dead letters in the last 24 hours, most 5 at {busiest} UTC""#
    );

    let settings = Settings {
        local_operator: "tester@console".into(),
        ..Settings::default()
    };
    let console = Console::new(broker.kafka(), settings).unwrap();
    let router = console.router();
    let asked = Instant::now();
    wait_for_page(&router, "/", None, &label).await;
    eprintln!(
        "the chart showed {:?} after the first request",
        asked.elapsed()
    );

    let page = get(&router, "/", None).await;
    assert_eq!(
        page.body.matches(r#"<rect class="bar""#).count(),
        3,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"<span class="inflow-total">8</span>"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("inflow unknown"), "{}", page.body);
}
