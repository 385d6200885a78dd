//! Simulation of shopping sessions and their streaming to CSV: the event stream is cut into
//! fixed chunks of event rows, each simulated from its own random stream (so the output does
//! not depend on the number of threads) and written in order.

use std::io::{self, Write};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::model::{STREAM_EVENTS, ShopModel};
use super::{GenerateSummary, csv_out};
use crate::Rng;
use crate::rng::pair_hash;

/// Event rows per chunk. A session cut by a chunk boundary simply ends early (its prefix is a
/// valid session), one session in tens of thousands.
pub(crate) const CHUNK_EVENTS: u64 = 1 << 16;
/// Upper bound on views in one session, so a freak geometric draw stays harmless.
const MAX_SESSION_VIEWS: u32 = 100;
/// Attempts to find a user not already in a session before delaying the session instead.
const USER_REDRAWS: u32 = 8;

/// Session start times: the share `f` of events already written maps to the time at which the
/// cumulative session intensity reaches `f`. The intensity has a daily cycle (peak at 20:00
/// UTC, trough at 08:00, ratio 4:1) and is 20 % higher on Saturdays and Sundays.
#[derive(Debug, Clone)]
pub(crate) struct SessionClock {
    start: i64,
    /// Cumulative intensity at the start of each hour, normalised to end at 1.
    cumulative: Vec<f64>,
}

impl SessionClock {
    pub(crate) fn new(start: i64, days: u32) -> Self {
        let hours = i64::from(days) * 24;
        let mut cumulative = Vec::with_capacity(hours as usize + 1);
        let mut total = 0.0;
        cumulative.push(0.0);
        for h in 0..hours {
            let midpoint = start + h * 3600 + 1800;
            let hour_of_day = midpoint.rem_euclid(86_400) as f64 / 3600.0;
            // 1970-01-01 was a Thursday: day + 3 counts from Monday = 0.
            let weekday = (midpoint.div_euclid(86_400) + 3).rem_euclid(7);
            let daily = 1.0 + 0.6 * (std::f64::consts::TAU * (hour_of_day - 20.0) / 24.0).cos();
            let weekly = if weekday >= 5 { 1.2 } else { 1.0 };
            total += daily * weekly;
            cumulative.push(total);
        }
        cumulative.iter_mut().for_each(|c| *c /= total);
        SessionClock { start, cumulative }
    }

    /// The time at which a share `fraction` (in `[0, 1)`) of the sessions has started.
    pub(crate) fn time_at(&self, fraction: f64) -> i64 {
        let hours = self.cumulative.len() - 1;
        let hour = self
            .cumulative
            .partition_point(|&c| c <= fraction)
            .saturating_sub(1)
            .min(hours - 1);
        let (lo, hi) = (self.cumulative[hour], self.cumulative[hour + 1]);
        let within = ((fraction - lo) / (hi - lo)).clamp(0.0, 1.0);
        self.start + hour as i64 * 3600 + (within * 3599.0) as i64
    }
}

/// Counts gathered while simulating, merged into the [`GenerateSummary`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventCounts {
    pub events: u64,
    pub sessions: u64,
    pub views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub ratings: u64,
    pub revenue_cents: u64,
    pub first_timestamp: i64,
    pub last_timestamp: i64,
}

impl Default for EventCounts {
    fn default() -> Self {
        EventCounts {
            events: 0,
            sessions: 0,
            views: 0,
            add_to_carts: 0,
            purchases: 0,
            ratings: 0,
            revenue_cents: 0,
            first_timestamp: i64::MAX,
            last_timestamp: i64::MIN,
        }
    }
}

impl EventCounts {
    fn merge(&mut self, other: &EventCounts) {
        self.events += other.events;
        self.sessions += other.sessions;
        self.views += other.views;
        self.add_to_carts += other.add_to_carts;
        self.purchases += other.purchases;
        self.ratings += other.ratings;
        self.revenue_cents += other.revenue_cents;
        self.first_timestamp = self.first_timestamp.min(other.first_timestamp);
        self.last_timestamp = self.last_timestamp.max(other.last_timestamp);
    }
}

#[derive(Debug, Clone, Copy)]
enum EventKind {
    View,
    AddToCart,
    Purchase { value_cents: u64 },
    Rating(u8),
}

/// Simulates the sessions of one chunk into a byte buffer.
struct ChunkSimulator<'a> {
    model: &'a ShopModel,
    clock: &'a SessionClock,
    rng: Rng,
    out: Vec<u8>,
    /// Global index of the chunk's first row, its number of rows, and rows still to write.
    first_row: u64,
    rows: u64,
    remaining: u64,
    total_rows: u64,
    counts: EventCounts,
    category_cumulative: Vec<f64>,
    cart: Vec<u32>,
    bought: Vec<u32>,
    /// End of each user's latest session in this chunk.
    busy_until: FxHashMap<u32, i64>,
    /// Time of the latest event of the current session.
    last_timestamp: i64,
}

impl ChunkSimulator<'_> {
    /// Appends one event row; `false` once the chunk is full (the session must stop).
    #[inline]
    fn emit(&mut self, user: u32, item: u32, kind: EventKind, timestamp: i64) -> bool {
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        let out = &mut self.out;
        out.push(b'u');
        csv_out::push_u64(out, u64::from(user));
        out.extend_from_slice(b",i");
        csv_out::push_u64(out, u64::from(item));
        let counts = &mut self.counts;
        match kind {
            EventKind::View => {
                counts.views += 1;
                out.extend_from_slice(b",view,,");
            }
            EventKind::AddToCart => {
                counts.add_to_carts += 1;
                out.extend_from_slice(b",add_to_cart,,");
            }
            EventKind::Purchase { value_cents } => {
                counts.purchases += 1;
                counts.revenue_cents += value_cents;
                out.extend_from_slice(b",purchase,");
                csv_out::push_cents(out, value_cents);
                out.push(b',');
            }
            EventKind::Rating(rating) => {
                counts.ratings += 1;
                out.extend_from_slice(b",rating,");
                out.push(b'0' + rating);
                out.push(b',');
            }
        }
        csv_out::push_i64(out, timestamp);
        out.push(b'\n');
        counts.events += 1;
        self.last_timestamp = timestamp;
        counts.first_timestamp = counts.first_timestamp.min(timestamp);
        counts.last_timestamp = counts.last_timestamp.max(timestamp);
        true
    }

    /// Seconds drawn as `minimum + Exponential(mean)`, rounded down.
    #[inline]
    fn pause(&mut self, minimum: i64, mean: f64) -> i64 {
        minimum + self.rng.exponential(mean) as i64
    }

    /// One session; returns early when the chunk fills up.
    fn session(&mut self) {
        let model = self.model;
        let written = self.first_row + self.rows - self.remaining;
        let mut start = self.clock.time_at(written as f64 / self.total_rows as f64);
        // A user is in one session at a time: someone still shopping is replaced by another
        // user, or, when there is hardly anyone else (tiny shops), made to come back later.
        let mut user = model.sample_user(&mut self.rng);
        for _ in 0..USER_REDRAWS {
            match self.busy_until.get(&user) {
                Some(&end) if end >= start => user = model.sample_user(&mut self.rng),
                _ => break,
            }
        }
        if let Some(&end) = self.busy_until.get(&user) {
            start = start.max(end + 1);
        }
        self.counts.sessions += 1;
        self.last_timestamp = start;
        let mut cumulative = std::mem::take(&mut self.category_cumulative);
        let mut cart = std::mem::take(&mut self.cart);
        let mut bought = std::mem::take(&mut self.bought);
        model.category_cumulative(user, &mut cumulative);
        cart.clear();
        bought.clear();
        self.browse_and_buy(user, start, &cumulative, &mut cart, &mut bought);
        self.busy_until.insert(user, self.last_timestamp);
        self.category_cumulative = cumulative;
        self.cart = cart;
        self.bought = bought;
    }

    fn browse_and_buy(
        &mut self,
        user: u32,
        start: i64,
        cumulative: &[f64],
        cart: &mut Vec<u32>,
        bought: &mut Vec<u32>,
    ) {
        let model = self.model;
        let config = model.config();
        let views = self
            .rng
            .geometric(config.mean_session_views)
            .min(MAX_SESSION_VIEWS);
        let mut now = start;
        let mut category = ShopModel::draw_category(cumulative, &mut self.rng);
        for view in 0..views {
            if view > 0 && !self.rng.chance(config.stay_in_category) {
                category = ShopModel::draw_category(cumulative, &mut self.rng);
            }
            let Some(item) = model.sample_item(user, category, start, &mut self.rng) else {
                continue;
            };
            if !self.emit(user, item, EventKind::View, now) {
                return;
            }
            if !cart.contains(&item) && self.rng.chance(model.cart_probability(user, item)) {
                now += self.pause(2, 20.0);
                if !self.emit(user, item, EventKind::AddToCart, now) {
                    return;
                }
                cart.push(item);
            }
            now += self.pause(5, 40.0);
        }
        if cart.is_empty() {
            return;
        }
        now += self.pause(30, 90.0);
        for &item in cart.iter() {
            if !self.rng.chance(model.purchase_probability(user, item)) {
                continue;
            }
            let quantity = match self.rng.f64() {
                x if x < 0.85 => 1,
                x if x < 0.96 => 2,
                _ => 3,
            };
            let value_cents = model.items()[item as usize].price_cents * quantity;
            if !self.emit(user, item, EventKind::Purchase { value_cents }, now) {
                return;
            }
            bought.push(item);
            now += self.pause(1, 2.0);
        }
        for &item in bought.iter() {
            if !self.rng.chance(config.rating_probability) {
                continue;
            }
            now += self.pause(20, 120.0);
            let rating = model.sample_rating(user, item, &mut self.rng);
            if !self.emit(user, item, EventKind::Rating(rating), now) {
                return;
            }
        }
    }
}

/// Simulates chunk `chunk` of a stream of `total_rows` event rows.
fn simulate_chunk(
    model: &ShopModel,
    clock: &SessionClock,
    chunk: u64,
    total_rows: u64,
) -> (Vec<u8>, EventCounts) {
    let first_row = chunk * CHUNK_EVENTS;
    let rows = CHUNK_EVENTS.min(total_rows - first_row);
    let mut simulator = ChunkSimulator {
        model,
        clock,
        rng: Rng::new(pair_hash(model.config().seed, STREAM_EVENTS, chunk as u32)),
        out: Vec::with_capacity(rows as usize * 32),
        first_row,
        rows,
        remaining: rows,
        total_rows,
        counts: EventCounts::default(),
        category_cumulative: Vec::new(),
        cart: Vec::new(),
        bought: Vec::new(),
        busy_until: FxHashMap::default(),
        last_timestamp: 0,
    };
    while simulator.remaining > 0 {
        simulator.session();
    }
    (simulator.out, simulator.counts)
}

/// Writes the header and exactly `config.events` event rows to `out`, calling `progress` with
/// the number of rows written after each batch of chunks.
pub(crate) fn write_events<W: Write>(
    model: &ShopModel,
    mut out: W,
    mut progress: impl FnMut(u64),
) -> io::Result<GenerateSummary> {
    let config = model.config();
    let total_rows = config.events;
    let clock = SessionClock::new(config.start, config.days);
    out.write_all(b"user_id,item_id,type,value,timestamp\n")?;
    let chunks = total_rows.div_ceil(CHUNK_EVENTS);
    // A few chunks per thread in flight keeps both cores busy and memory to a few MiB.
    let batch = (rayon::current_num_threads() as u64 * 2).max(1);
    let mut counts = EventCounts::default();
    let mut first = 0;
    while first < chunks {
        let last = (first + batch).min(chunks);
        let outputs: Vec<(Vec<u8>, EventCounts)> = (first..last)
            .into_par_iter()
            .map(|chunk| simulate_chunk(model, &clock, chunk, total_rows))
            .collect();
        for (bytes, chunk_counts) in &outputs {
            out.write_all(bytes)?;
            counts.merge(chunk_counts);
        }
        progress(counts.events);
        first = last;
    }
    out.flush()?;
    Ok(GenerateSummary {
        users: u64::from(model.n_users()),
        items: u64::from(model.n_items()),
        events: counts.events,
        sessions: counts.sessions,
        views: counts.views,
        add_to_carts: counts.add_to_carts,
        purchases: counts.purchases,
        ratings: counts.ratings,
        revenue: counts.revenue_cents as f64 / 100.0,
        first_timestamp: (counts.events > 0).then_some(counts.first_timestamp),
        last_timestamp: (counts.events > 0).then_some(counts.last_timestamp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotone_and_covers_the_period() {
        let start = 1_704_067_200; // a Monday, 00:00 UTC
        let clock = SessionClock::new(start, 14);
        let times: Vec<i64> = (0..10_000)
            .map(|k| clock.time_at(f64::from(k) / 10_000.0))
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(times[0], start);
        assert!(*times.last().unwrap() < start + 14 * 86_400);
        // Evenings are busier than mornings.
        let at_hour = |h: i64| {
            times
                .iter()
                .filter(|&&t| (t - start).rem_euclid(86_400) / 3600 == h)
                .count()
        };
        assert!(
            at_hour(20) > 2 * at_hour(8),
            "{} {}",
            at_hour(20),
            at_hour(8)
        );
    }
}
