//! Play counts from the planted model: what a music or video service exports (one row per
//! user and item with how often the user played it, as Last.fm's 360K set), for checking
//! that count data is read as counts and that the counts carry the taste they should.
//!
//! The same users, items, categories and affinities as the shop; only the behaviour differs.
//! `events` *listens* are simulated in sessions like the shop's browsing (a user drawn by
//! activity, a session category, `Geometric(mean_session_views)` items drawn by
//! [`ShopModel::sample_item`] at the end of the period). Each listen of item `i` by user `u`
//! adds `Geometric(1 + exp(play_slope · a(u, i)))` plays (a whole number ≥ 1): discovery
//! follows popularity and taste, and how long a user keeps playing what they found follows
//! their affinity alone — so the counts hold structure beyond who-played-what. `plays.csv`
//! has one row per (user, item) pair played, `user_id,item_id,plays`, sorted by user and
//! item index; there are at most `events` rows (fewer when a pair is drawn again).
//!
//! Listens are simulated in chunks of [`CHUNK_LISTENS`], each from its own random stream
//! `Rng::new(pair_hash(seed, 5, chunk))`, so the output does not depend on the number of
//! threads.

use std::io::{self, Write};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::csv_out;
use super::model::{STREAM_PLAYS, ShopModel};
use crate::Rng;
use crate::rng::pair_hash;

/// Listens per chunk of simulation.
pub(crate) const CHUNK_LISTENS: u64 = 1 << 16;
/// Upper bound on items in one listening session.
const MAX_SESSION_ITEMS: u32 = 100;

/// What [`write_plays`] wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlaysSummary {
    pub users: u64,
    pub items: u64,
    /// Listens simulated (the config's `events`).
    pub listens: u64,
    /// Rows written: the distinct (user, item) pairs played.
    pub rows: u64,
    /// Users with at least one row.
    pub active_users: u64,
    /// The sum of the `plays` column.
    pub plays: u64,
}

/// A whole number `≥ 1` with the given mean (`≥ 1`), by inversion: constant time whatever
/// the mean, unlike counting failed trials.
fn geometric(rng: &mut Rng, mean: f64) -> u64 {
    if mean <= 1.0 {
        return 1;
    }
    let p = 1.0 / mean;
    let u = 1.0 - rng.f64(); // in (0, 1]
    1 + (u.ln() / (1.0 - p).ln()).floor().min(1e12) as u64
}

/// The plays of one chunk of `listens` listens, as (user, item, plays) with repeats.
fn simulate_chunk(model: &ShopModel, chunk: u64, listens: u64) -> Vec<(u32, u32, u64)> {
    let config = model.config();
    let mut rng = Rng::new(pair_hash(config.seed, STREAM_PLAYS, chunk as u32));
    let end_of_period = config.start + i64::from(config.days) * 86_400;
    let mut out = Vec::with_capacity(listens as usize);
    let mut cumulative = Vec::new();
    while (out.len() as u64) < listens {
        let user = model.sample_user(&mut rng);
        model.category_cumulative(user, &mut cumulative);
        let mut category = ShopModel::draw_category(&cumulative, &mut rng);
        let items = rng
            .geometric(config.mean_session_views)
            .min(MAX_SESSION_ITEMS);
        for index in 0..items {
            if out.len() as u64 == listens {
                break;
            }
            if index > 0 && !rng.chance(config.stay_in_category) {
                category = ShopModel::draw_category(&cumulative, &mut rng);
            }
            let Some(item) = model.sample_item(user, category, end_of_period, &mut rng) else {
                continue;
            };
            let mean = 1.0 + (config.play_slope * model.affinity(user, item)).exp();
            out.push((user, item, geometric(&mut rng, mean)));
        }
    }
    out
}

/// Simulates `config.events` listens and writes `plays.csv` (header included), calling
/// `progress` with the listens simulated so far.
pub(crate) fn write_plays<W: Write>(
    model: &ShopModel,
    mut out: W,
    mut progress: impl FnMut(u64),
) -> io::Result<PlaysSummary> {
    let total = model.config().events;
    let chunks = total.div_ceil(CHUNK_LISTENS);
    let mut plays: FxHashMap<(u32, u32), u64> = FxHashMap::default();
    let batch = (rayon::current_num_threads() as u64 * 2).max(1);
    let mut first = 0;
    while first < chunks {
        let last = (first + batch).min(chunks);
        let outputs: Vec<Vec<(u32, u32, u64)>> = (first..last)
            .into_par_iter()
            .map(|chunk| {
                let listens = CHUNK_LISTENS.min(total - chunk * CHUNK_LISTENS);
                simulate_chunk(model, chunk, listens)
            })
            .collect();
        for (user, item, count) in outputs.into_iter().flatten() {
            *plays.entry((user, item)).or_default() += count;
        }
        progress((last * CHUNK_LISTENS).min(total));
        first = last;
    }
    let mut rows: Vec<((u32, u32), u64)> = plays.into_iter().collect();
    rows.sort_unstable_by_key(|&(pair, _)| pair);

    out.write_all(b"user_id,item_id,plays\n")?;
    let mut line = Vec::with_capacity(32);
    let mut active_users = 0;
    let mut previous_user = None;
    let mut total_plays = 0;
    for &((user, item), count) in &rows {
        if previous_user != Some(user) {
            active_users += 1;
            previous_user = Some(user);
        }
        total_plays += count;
        line.clear();
        line.push(b'u');
        csv_out::push_u64(&mut line, u64::from(user));
        line.extend_from_slice(b",i");
        csv_out::push_u64(&mut line, u64::from(item));
        line.push(b',');
        csv_out::push_u64(&mut line, count);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(PlaysSummary {
        users: u64::from(model.n_users()),
        items: u64::from(model.n_items()),
        listens: total,
        rows: rows.len() as u64,
        active_users,
        plays: total_plays,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::ShopConfig;

    #[test]
    fn plays_are_deterministic_sorted_and_follow_affinity() {
        let config = ShopConfig {
            users: 300,
            items: 200,
            events: 20_000,
            ..ShopConfig::default()
        };
        let model = ShopModel::new(&config).unwrap();
        let mut bytes = Vec::new();
        let summary = model.write_plays(&mut bytes, |_| {}).unwrap();
        let mut again = Vec::new();
        model.write_plays(&mut again, |_| {}).unwrap();
        assert_eq!(bytes, again, "the same config gives the same bytes");

        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("user_id,item_id,plays"));
        let rows: Vec<(u32, u32, u64)> = lines
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                (
                    f[0][1..].parse().unwrap(),
                    f[1][1..].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(rows.len() as u64, summary.rows);
        assert!(
            summary.rows <= config.events && summary.rows > 1_000,
            "{summary:?}"
        );
        assert!(rows.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), summary.plays);
        // Pairs the planted truth likes are played far longer than those it does not.
        let mean_plays = |keep: &dyn Fn(f64) -> bool| {
            let kept: Vec<u64> = rows
                .iter()
                .filter(|&&(u, i, _)| keep(model.affinity(u, i)))
                .map(|r| r.2)
                .collect();
            assert!(kept.len() > 100, "{}", kept.len());
            kept.iter().sum::<u64>() as f64 / kept.len() as f64
        };
        let liked = mean_plays(&|a| a > 1.0);
        let disliked = mean_plays(&|a| a < 0.0);
        assert!(liked > 2.0 * disliked, "{liked} vs {disliked}");
    }

    #[test]
    fn geometric_has_its_mean_and_is_at_least_one() {
        let mut rng = Rng::new(7);
        for mean in [1.0, 2.5, 40.0] {
            let n = 200_000;
            let draws: Vec<u64> = (0..n).map(|_| geometric(&mut rng, mean)).collect();
            assert!(draws.iter().all(|&d| d >= 1));
            let average = draws.iter().sum::<u64>() as f64 / n as f64;
            assert!(
                (average - mean).abs() < 0.02 * mean,
                "mean {mean}: {average}"
            );
        }
    }
}
