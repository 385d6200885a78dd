//! An experiment's results at scale: 1M lists of 10 items (10M impressions) and 1M events
//! in a SQLite store, answered by a full recount and by the running count (brought up to
//! date with what arrived since its last answer).
//!
//! `cargo bench -p aisle-engine --bench experiment_results` (or `bench/experiment_results`,
//! three runs). `LISTS=` and `EVENTS=` change the sizes; the store is built in a temporary
//! directory each run.

use std::time::Instant;

use aisle_data::rng::Rng;
use aisle_engine::experiments::{Attribution, Experiment, ExperimentDefinition, VariantDefinition};
use aisle_store::{EventId, Impression, NewEvent, SqliteStore, Store};

const ITEMS: usize = 50_000;
const USERS: usize = 100_000;
const LIST_LENGTH: usize = 10;
/// The experiment's days: lists are served over them, oldest first.
const DAYS: i64 = 30;
/// What arrives between two answers of the running count.
const NEW_LISTS: usize = 1_000;
const NEW_EVENTS: usize = 10_000;
const ROUNDS: usize = 9;

fn main() {
    let lists: usize = env_or("LISTS", 1_000_000);
    let events: usize = env_or("EVENTS", 1_000_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("a store");
    let experiment = experiment(&store);
    let mut shop = Shop::new(lists, 1_700_000_000);

    let started = Instant::now();
    shop.log_lists(&store, lists);
    shop.post_events(&store, events);
    println!(
        "store: {lists} lists ({} impressions), {events} events, written in {:.1} s",
        lists * LIST_LENGTH,
        started.elapsed().as_secs_f64()
    );
    let price = |item: &str| Some(1.0 + (item.len() % 7) as f64);

    let started = Instant::now();
    let mut recount = Attribution::new(&experiment);
    recount.update(&store, &price).expect("recount");
    let results = recount.results(&experiment);
    let recount_s = started.elapsed().as_secs_f64();
    let clicks: u64 = results.variants.iter().map(|v| v.clicks).sum();
    let purchases: u64 = results.variants.iter().map(|v| v.purchases).sum();
    println!(
        "recount: {recount_s:.2} s ({clicks} clicks, {purchases} purchases attributed; peak RSS {} MiB)",
        peak_rss_mib()
    );
    drop(recount);

    // The running count: counted once at start (as above), then kept up to date.
    let mut running = Attribution::new(&experiment);
    running.update(&store, &price).expect("first count");
    let mut answers = Vec::new();
    for _ in 0..ROUNDS {
        shop.log_lists(&store, NEW_LISTS);
        shop.post_events(&store, NEW_EVENTS);
        let started = Instant::now();
        running.update(&store, &price).expect("update");
        let results = running.results(&experiment);
        answers.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(results.variants.iter().all(|v| v.lists > 0));
    }
    let started = Instant::now();
    running.update(&store, &price).expect("update");
    running.results(&experiment);
    let idle_ms = started.elapsed().as_secs_f64() * 1e3;
    answers.sort_by(f64::total_cmp);
    println!(
        "running count, {NEW_LISTS} lists and {NEW_EVENTS} events new since the last answer: \
         median {:.1} ms (min {:.1}, max {:.1}, {ROUNDS} answers); nothing new: {idle_ms:.1} ms; \
         peak RSS {} MiB",
        answers[ROUNDS / 2],
        answers[0],
        answers[ROUNDS - 1],
        peak_rss_mib()
    );
    // The two counts agree (the test suite checks it thoroughly; this guards the bench).
    let mut recount = Attribution::new(&experiment);
    recount.update(&store, &price).expect("recount");
    let (a, b) = (recount.results(&experiment), running.results(&experiment));
    for (x, y) in a.variants.iter().zip(&b.variants) {
        assert_eq!(
            (x.lists, x.impressions, x.clicks, x.purchases),
            (y.lists, y.impressions, y.clicks, y.purchases)
        );
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn experiment(store: &SqliteStore) -> Experiment {
    let variant = |name: &str| VariantDefinition {
        name: name.into(),
        model: name.into(),
        share: 0.5,
    };
    Experiment {
        definition: ExperimentDefinition {
            name: "bench".into(),
            variants: vec![variant("popular"), variant("als")],
            control: None,
            window_hours: None,
        },
        created_at: 0,
        stopped_at: None,
        first_event: store
            .last_event_id()
            .expect("last event")
            .unwrap_or(EventId(0)),
    }
}

/// A generated experiment: lists served over [`DAYS`] days, then shoppers clicking on
/// their items (with the list's id), carting and buying some (without it).
struct Shop {
    rng: Rng,
    served: Vec<(u32, [u32; LIST_LENGTH])>,
    start: i64,
    clock: i64,
    step: i64,
}

impl Shop {
    fn new(lists: usize, start: i64) -> Shop {
        Shop {
            rng: Rng::new(42),
            served: Vec::with_capacity(lists),
            start,
            clock: start,
            step: (DAYS * 86_400 / lists.max(1) as i64).max(1),
        }
    }

    fn log_lists(&mut self, store: &dyn Store, n: usize) {
        let mut batch = Vec::with_capacity(10_000);
        for _ in 0..n {
            let user = self.rng.index(USERS) as u32;
            let mut items = [0u32; LIST_LENGTH];
            for item in &mut items {
                *item = self.rng.index(ITEMS) as u32;
            }
            let id = self.served.len();
            self.served.push((user, items));
            self.clock += self.step;
            batch.push(Impression {
                recommendation_id: format!("{id:032x}"),
                user_id: Some(format!("u{user}")),
                model: "als".into(),
                model_version: 1,
                experiment: Some("bench".into()),
                variant: Some(
                    if user.is_multiple_of(2) {
                        "popular"
                    } else {
                        "als"
                    }
                    .into(),
                ),
                items: items.iter().map(|i| format!("i{i}")).collect(),
                served_at: self.clock,
            });
            if batch.len() == 10_000 {
                store.log_impressions(&batch).expect("lists");
                batch.clear();
            }
        }
        store.log_impressions(&batch).expect("lists");
    }

    /// Sessions on random lists: a click with the list's id, then sometimes a cart and a
    /// purchase of the same item without it.
    fn post_events(&mut self, store: &dyn Store, n: usize) {
        let mut made: Vec<(String, String, &'static str, Option<String>, i64)> = Vec::new();
        let mut written = 0;
        while written < n {
            let list = self.rng.index(self.served.len());
            let (user, items) = self.served[list];
            let item = items[self.rng.index(LIST_LENGTH)];
            let (user, item) = (format!("u{user}"), format!("i{item}"));
            let at = self.start + self.rng.index((self.clock - self.start + 1) as usize) as i64;
            made.push((
                user.clone(),
                item.clone(),
                "click",
                Some(format!("{list:032x}")),
                at,
            ));
            if self.rng.chance(0.3) {
                made.push((user.clone(), item.clone(), "add_to_cart", None, at + 30));
                if self.rng.chance(0.4) {
                    made.push((user, item, "purchase", None, at + 90));
                }
            }
            if made.len() >= 10_000 || written + made.len() >= n {
                made.truncate(n - written);
                let events: Vec<NewEvent<'_>> = made
                    .iter()
                    .map(|(user, item, kind, list, at)| NewEvent {
                        user_id: user,
                        item_id: item,
                        kind,
                        value: None,
                        timestamp: Some(*at),
                        recommendation_id: list.as_deref(),
                        position: None,
                        quantity: None,
                        price: None,
                        basket: None,
                    })
                    .collect();
                store.append_events(&events).expect("events");
                written += made.len();
                made.clear();
            }
        }
    }
}

/// The process's peak resident memory, MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
