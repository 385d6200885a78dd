//! `aisle-load`: the load generator of `bench/soak` (a second binary of the `aisle` package,
//! beside the command it loads). A Python client could not keep up with
//! its own schedule on two cores shared with the server (at 2,000 reads/s it queued requests
//! for seconds while the server's own histogram showed 99% of them answered within 10 ms),
//! so the soak measured its client; this one spends a few microseconds per request.
//!
//! Open loop: request `k` of a stream is due at `start + k / rate`, and its latency counts
//! from then when it waits for a free connection (a slow server cannot hide its queue), or
//! from when it was sent when a connection was free on time (the timer's millisecond
//! granularity is not the server's delay). Streams:
//! - `GET /v1/users/{id}/recommendations?n=10` for random users at `--reads` per second,
//!   over `--read-connections` connections;
//! - `POST /v1/events`, batches of 100 random events, at `--events` per second;
//! - `PUT /v1/items/{id}` (a catalogue update) once a second.
//!
//! Every `--every` seconds one JSON line goes to stdout: `t`, `reads`, `read_p50_ms`,
//! `read_p99_ms`, `read_max_ms`, `events_stored` (events in batches answered 2xx),
//! `server_errors` (5xx), `failures` (other non-2xx answers and broken connections).

mod http;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aisle_data::rng::Rng;
use clap::Parser;
use tokio::time::Instant;

use crate::http::{Connection, Request};
use crate::window::Window;

#[derive(Debug, Parser)]
#[command(about = "Paced HTTP load on an aisle server (the driver of bench/soak)")]
struct Args {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 600.0)]
    seconds: f64,
    /// Recommendation reads per second.
    #[arg(long, default_value_t = 2000.0)]
    reads: f64,
    /// Events per second (sent in batches of 100).
    #[arg(long, default_value_t = 5000.0)]
    events: f64,
    /// Catalogue updates per second.
    #[arg(long, default_value_t = 1.0)]
    item_updates: f64,
    #[arg(long, default_value_t = 20_000)]
    users: u64,
    #[arg(long, default_value_t = 5_000)]
    items: u64,
    /// Seconds between two output lines.
    #[arg(long, default_value_t = 10.0)]
    every: f64,
    #[arg(long, default_value_t = 16)]
    read_connections: usize,
    #[arg(long, default_value_t = 4)]
    event_connections: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What a stream sends, and which counts its answers go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Events,
    ItemUpdate,
}

const EVENT_TYPES: [&str; 6] = ["view", "view", "view", "click", "add_to_cart", "purchase"];
const BATCH: u64 = 100;

fn make(kind: Kind, rng: &mut Rng, args: &Args) -> Request {
    match kind {
        Kind::Read => Request::get(format!(
            "/v1/users/u{}/recommendations?n=10",
            rng.below(args.users)
        )),
        Kind::Events => {
            let rows: Vec<String> = (0..BATCH)
                .map(|_| {
                    format!(
                        r#"{{"user_id":"u{}","item_id":"i{}","type":"{}"}}"#,
                        rng.below(args.users),
                        rng.below(args.items),
                        EVENT_TYPES[rng.index(EVENT_TYPES.len())]
                    )
                })
                .collect();
            Request::with_body("POST", "/v1/events".into(), format!("[{}]", rows.join(",")))
        }
        Kind::ItemUpdate => {
            let item = rng.below(args.items);
            let body = serde_json::json!({
                "title": format!("Item {item}"),
                "categories": [format!("c{}", item % 20)],
                "price": (100.0 + rng.f64() * 19_900.0).round() / 100.0,
                "available": rng.f64() > 0.1,
            });
            Request::with_body("PUT", format!("/v1/items/i{item}"), body.to_string())
        }
    }
}

/// Runs the generator ahead of the server it loads, when the system allows it. On the two
/// cores it shares with the server, a wake-up of this one thread delayed behind the
/// server's threads counts as latency of every request due meanwhile: in a 10-minute soak
/// the server's own histogram had 80 of 777,350 reads over 10 ms, while windows measured
/// here had more than 200 of 20,000 over 10 ms. A shop's clients do not share its cores.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::nice(-10) {
        eprintln!("aisle-load: runs at normal priority ({e}): its own delays count as latency");
    }
}

/// One stream's schedule: request `k` is due at `start + k / rate`.
#[derive(Debug)]
struct Schedule {
    start: Instant,
    stop: Instant,
    rate: f64,
    next: AtomicU64,
}

impl Schedule {
    /// The next request's due time, or `None` once the run is over (requests still due
    /// then, behind a slow server, are not sent).
    fn claim(&self) -> Option<Instant> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let due = self.start + Duration::from_secs_f64(k as f64 / self.rate);
        (due < self.stop && Instant::now() < self.stop).then_some(due)
    }
}

async fn connection_loop(
    kind: Kind,
    schedule: Arc<Schedule>,
    args: Arc<Args>,
    window: Arc<Window>,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let mut connection = Connection::new(&args.url);
    while let Some(due) = schedule.claim() {
        let sent = if Instant::now() < due {
            tokio::time::sleep_until(due).await;
            Instant::now()
        } else {
            due
        };
        let request = make(kind, &mut rng, &args);
        let status = connection.send(&request).await;
        window.record(kind, status, sent.elapsed());
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    raise_priority();
    anyhow::ensure!(
        args.every > 0.0 && args.seconds > 0.0,
        "--every and --seconds must be > 0"
    );
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(args.seconds);
    let window = Arc::new(Window::default());
    let streams = [
        (Kind::Read, args.reads, args.read_connections),
        (
            Kind::Events,
            args.events / BATCH as f64,
            args.event_connections,
        ),
        (Kind::ItemUpdate, args.item_updates, 1),
    ];
    let mut tasks = Vec::new();
    for (stream, (kind, rate, connections)) in streams.into_iter().enumerate() {
        if rate <= 0.0 {
            continue;
        }
        let schedule = Arc::new(Schedule {
            start,
            stop,
            rate,
            next: AtomicU64::new(0),
        });
        for c in 0..connections.max(1) {
            let seed = aisle_data::rng::splitmix64(args.seed ^ ((stream as u64) << 32 | c as u64));
            tasks.push(tokio::spawn(connection_loop(
                kind,
                Arc::clone(&schedule),
                Arc::clone(&args),
                Arc::clone(&window),
                seed,
            )));
        }
    }
    let every = Duration::from_secs_f64(args.every);
    let mut tick = start + every;
    loop {
        tokio::time::sleep_until(tick.min(stop)).await;
        let t = (tick.min(stop) - start).as_secs_f64();
        println!("{}", window.take().line(t));
        if tick >= stop {
            break;
        }
        tick += every;
    }
    // Requests in flight at the stop finish (uncounted: the last line is at the stop),
    // within one shared grace period.
    let grace = Instant::now() + Duration::from_secs(30);
    for task in tasks {
        let _ = tokio::time::timeout_at(grace, task).await;
    }
    Ok(())
}
