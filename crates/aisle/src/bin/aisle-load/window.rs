//! What happened since the last output line: read latencies and answer counts.

use std::sync::Mutex;
use std::time::Duration;

use crate::Kind;

/// Counts shared by every connection, taken (and reset) once per output line.
#[derive(Debug, Default)]
pub struct Window {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
pub struct Counts {
    read_seconds: Vec<f64>,
    events_stored: u64,
    server_errors: u64,
    failures: u64,
}

impl Window {
    /// Records one answer: `status` 0 for a broken connection.
    pub fn record(&self, kind: Kind, status: u16, latency: Duration) {
        let mut counts = self.counts.lock().expect("window lock");
        if kind == Kind::Read {
            counts.read_seconds.push(latency.as_secs_f64());
        }
        match status {
            200..=299 if kind == Kind::Events => counts.events_stored += crate::BATCH,
            200..=299 => {}
            500.. => counts.server_errors += 1,
            _ => counts.failures += 1,
        }
    }

    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().expect("window lock"))
    }
}

impl Counts {
    /// The output line of this window, ending at `t` seconds.
    pub fn line(mut self, t: f64) -> String {
        self.read_seconds.sort_by(f64::total_cmp);
        let ms = |seconds: f64| (seconds * 100_000.0).round() / 100.0;
        serde_json::json!({
            "t": (t * 10.0).round() / 10.0,
            "reads": self.read_seconds.len(),
            "read_p50_ms": ms(percentile(&self.read_seconds, 50.0)),
            "read_p99_ms": ms(percentile(&self.read_seconds, 99.0)),
            "read_max_ms": ms(self.read_seconds.last().copied().unwrap_or(0.0)),
            "events_stored": self.events_stored,
            "server_errors": self.server_errors,
            "failures": self.failures,
        })
        .to_string()
    }
}

/// The value below which `p` per cent of the (sorted) values fall: the one at rank
/// `⌊p/100 · n⌋` (0 when there are none).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p / 100.0 * sorted.len() as f64) as usize).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ranks_of_the_sorted_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 51.0);
        assert_eq!(percentile(&values, 99.0), 100.0);
        assert_eq!(percentile(&values[..10], 99.0), 10.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn a_window_counts_answers_by_kind_and_class() {
        let window = Window::default();
        window.record(Kind::Read, 200, Duration::from_millis(2));
        window.record(Kind::Read, 503, Duration::from_millis(4));
        window.record(Kind::Events, 200, Duration::from_millis(1));
        window.record(Kind::Events, 0, Duration::from_millis(1));
        window.record(Kind::ItemUpdate, 404, Duration::from_millis(1));
        let line: serde_json::Value = serde_json::from_str(&window.take().line(10.0)).unwrap();
        assert_eq!(line["reads"], 2);
        assert_eq!(line["read_p50_ms"], 4.0);
        assert_eq!(line["read_max_ms"], 4.0);
        assert_eq!(line["events_stored"], 100);
        assert_eq!(line["server_errors"], 1);
        assert_eq!(line["failures"], 2);
        // Taking the window resets it.
        let empty: serde_json::Value = serde_json::from_str(&window.take().line(20.0)).unwrap();
        assert_eq!(empty["reads"], 0);
    }
}
