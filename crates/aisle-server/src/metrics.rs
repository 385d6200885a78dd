//! Counters and latency histograms, rendered in Prometheus' text format at `GET /metrics`.
//!
//! Hand-written rather than a metrics framework: a handful of series, one short lock per
//! request, and the exposition format is a few lines of text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use aisle_engine::Stats;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Latency {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The HTTP layer's own series; the engine's counters and the model gauges are read at
/// render time.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → latency histogram.
    latency: Mutex<BTreeMap<(String, String), Latency>>,
}

impl Metrics {
    /// Records one answered request. `route` is the matched route pattern (e.g.
    /// `/v1/items/{id}`), never the raw path, so ids do not make new series.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let entry = latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (bound, count) in BUCKETS.iter().zip(entry.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        entry.count += 1;
        entry.sum += seconds;
    }

    /// The Prometheus text exposition; `models` are (name, version, trained_at) of the models
    /// serving now.
    pub fn render(
        &self,
        stats: &Stats,
        models: &[(String, i64, i64)],
        catalogue_items: usize,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP aisle_http_requests_total HTTP requests answered.\n# TYPE aisle_http_requests_total counter"
        );
        for ((method, route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "aisle_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aisle_http_request_duration_seconds Time to answer, per route.\n# TYPE aisle_http_request_duration_seconds histogram"
        );
        for ((method, route), h) in self.latency.lock().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "aisle_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "aisle_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\naisle_http_request_duration_seconds_sum{{{labels}}} {}\naisle_http_request_duration_seconds_count{{{labels}}} {}",
                h.count, h.sum, h.count
            );
        }
        let counters = [
            (
                "aisle_events_ingested_total",
                "Events accepted and stored.",
                &stats.events_accepted,
            ),
            (
                "aisle_events_rejected_total",
                "Events refused (per-row errors).",
                &stats.events_rejected,
            ),
            (
                "aisle_recommendation_lists_total",
                "Recommendation lists served.",
                &stats.lists_served,
            ),
            (
                "aisle_fallback_lists_total",
                "Lists served as a popularity fallback.",
                &stats.fallbacks_served,
            ),
            (
                "aisle_trainings_succeeded_total",
                "Trainings that produced a model.",
                &stats.trainings_succeeded,
            ),
            (
                "aisle_trainings_failed_total",
                "Trainings that failed.",
                &stats.trainings_failed,
            ),
            (
                "aisle_overloaded_total",
                "Requests answered 503 overloaded: the queue of events to write or of lists to log was full.",
                &stats.overloaded,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                Stats::get(value)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aisle_model_version Stored version of each model serving.\n# TYPE aisle_model_version gauge"
        );
        for (name, version, _) in models {
            let _ = writeln!(
                out,
                "aisle_model_version{{model=\"{}\"}} {version}",
                escape(name)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aisle_model_trained_timestamp_seconds When each serving model was trained.\n# TYPE aisle_model_trained_timestamp_seconds gauge"
        );
        for (name, _, trained_at) in models {
            let _ = writeln!(
                out,
                "aisle_model_trained_timestamp_seconds{{model=\"{}\"}} {trained_at}",
                escape(name)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aisle_catalogue_items Items in the serving catalogue.\n# TYPE aisle_catalogue_items gauge\naisle_catalogue_items {catalogue_items}"
        );
        out
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_add_up() {
        let metrics = Metrics::default();
        for ms in [0.2, 3.0, 3.0, 700.0] {
            metrics.record(
                "GET",
                "/v1/popular",
                200,
                Duration::from_secs_f64(ms / 1000.0),
            );
        }
        let text = metrics.render(&Stats::default(), &[("als".into(), 3, 100)], 7);
        let line = |needle: &str| {
            text.lines()
                .find(|l| !l.starts_with('#') && l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(line("le=\"0.0005\""), "1");
        assert_eq!(line("le=\"0.005\""), "3");
        assert_eq!(line("le=\"0.5\""), "3");
        assert_eq!(line("le=\"1\""), "4");
        assert_eq!(line("le=\"+Inf\""), "4");
        assert_eq!(line("status=\"200\""), "4");
        assert_eq!(line("aisle_model_version{model=\"als\"}"), "3");
        assert_eq!(line("aisle_catalogue_items "), "7");
    }
}
