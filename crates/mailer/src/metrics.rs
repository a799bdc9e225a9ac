//! A small Prometheus registry: counters and one latency histogram, rendered as the text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Bucket counts, count and sum of one histogram.
type Histogram = ([u64; BUCKETS.len()], u64, f64);

/// One service's metrics, shared by its tasks; [`Metrics::render`] writes them for `GET /metrics`.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), u64>>,
    histograms: Mutex<BTreeMap<String, Histogram>>,
    help: Mutex<BTreeMap<String, String>>,
}

impl Metrics {
    /// Declares a metric's help text (shown by `# HELP`).
    pub fn describe(&self, name: &str, help: &str) {
        self.help
            .lock()
            .expect("lock")
            .insert(name.into(), help.into());
    }

    /// Adds one to `name{labels}`; `labels` is `key="value",…` or empty.
    pub fn inc(&self, name: &str, labels: &str) {
        *self
            .counters
            .lock()
            .expect("lock")
            .entry((name.into(), labels.into()))
            .or_default() += 1;
    }

    /// Counts `value` into the histogram `name`, in seconds (buckets from 5 ms to 10 s).
    pub fn observe(&self, name: &str, value: Duration) {
        let seconds = value.as_secs_f64();
        let mut histograms = self.histograms.lock().expect("lock");
        let (buckets, count, sum) =
            histograms
                .entry(name.into())
                .or_insert(([0; BUCKETS.len()], 0, 0.0));
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                buckets[i] += 1;
            }
        }
        *count += 1;
        *sum += seconds;
    }

    /// Every metric in Prometheus's text format: counters first, then histograms, each by name.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let help = self.help.lock().expect("lock").clone();
        let mut described = std::collections::BTreeSet::new();
        let mut header = |out: &mut String, name: &str, kind: &str| {
            if described.insert(name.to_string()) {
                if let Some(text) = help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {text}");
                }
                let _ = writeln!(out, "# TYPE {name} {kind}");
            }
        };
        for ((name, labels), value) in self.counters.lock().expect("lock").iter() {
            header(&mut out, name, "counter");
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        for (name, (buckets, count, sum)) in self.histograms.lock().expect("lock").iter() {
            header(&mut out, name, "histogram");
            for (bound, n) in BUCKETS.iter().zip(buckets) {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum {sum}");
            let _ = writeln!(out, "{name}_count {count}");
        }
        out
    }
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
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.describe("mailer_sent_total", "E-mails sent.");
        m.inc("mailer_sent_total", "");
        m.inc("mailer_failed_total", "class=\"transient\"");
        m.observe("mailer_send_seconds", Duration::from_millis(20));
        let text = m.render();
        assert!(text.contains("# HELP mailer_sent_total E-mails sent.\n# TYPE mailer_sent_total counter\nmailer_sent_total 1\n"));
        assert!(text.contains("mailer_failed_total{class=\"transient\"} 1"));
        assert!(text.contains("mailer_send_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("mailer_send_seconds_count 1"));
    }
}
