//! The process's metrics, the mailer's own and the library's (`rebound::metrics`), through the
//! `metrics` facade into one Prometheus recorder, rendered for `GET /metrics`.
//!
//! The recorder is the process's global one, installed on first use: every service of a process
//! (and the tests that build several) shares it, as the facade has one recorder per process.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds, from 5 ms to 10 s: an SMTP exchange, a handler's run.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Lateness against a due time: a wakeup's jitter up to a backlog of minutes.
const LATENESS_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0];

/// How often histograms' samples are folded into their buckets between two scrapes, so that an
/// endpoint nobody scrapes does not keep every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics, for `GET /metrics`.
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Default for Metrics {
    /// Installs the process's recorder the first time; later calls share it.
    fn default() -> Self {
        let handle = RECORDER.get_or_init(install).clone();
        Metrics { handle }
    }
}

impl Metrics {
    /// Every metric recorded so far, in Prometheus's text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(rebound::metrics::LATENESS.into()),
                &LATENESS_BUCKETS,
            )
        })
        .expect("the bucket lists are not empty")
}

fn install() -> PrometheusHandle {
    let handle = match builder().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            // Another recorder was installed first (a host process's): this one renders nothing.
            tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
            builder().build_recorder().handle()
        }
    };
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread; histograms grow until scraped");
    }
    rebound::metrics::describe();
    handle
}

/// Serves `GET /metrics` on `listen`, for services that have no HTTP API of their own.
pub async fn serve(
    listen: std::net::SocketAddr,
    metrics: std::sync::Arc<Metrics>,
) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_the_mailers_buckets() {
        let metrics = Metrics::default();
        metrics::describe_counter!("test_sent_total", "E-mails sent.");
        metrics::counter!("test_sent_total").increment(1);
        metrics::counter!("test_failed_total", "class" => "transient").increment(1);
        metrics::histogram!("test_send_seconds").record(0.020);
        metrics::histogram!(rebound::metrics::LATENESS).record(30.0);
        let text = metrics.render();
        assert!(text.contains("# HELP test_sent_total E-mails sent.\n# TYPE test_sent_total counter\ntest_sent_total 1\n"), "{text}");
        assert!(text.contains("test_failed_total{class=\"transient\"} 1"));
        assert!(text.contains("test_send_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("test_send_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("test_send_seconds_count 1"));
        assert!(text.contains("rebound_lateness_seconds_bucket{le=\"60\"} 1"));
        assert!(text.contains("rebound_lateness_seconds_bucket{le=\"10\"} 0"));
    }
}
