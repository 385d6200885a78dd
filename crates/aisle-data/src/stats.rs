//! Descriptive statistics of a cleaned dataset, as shown by `aisle inspect`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dataset::{Dataset, NO_BASKET};
use crate::event::{PURCHASE, RATING};
use crate::time::format_timestamp;
use crate::weighting::Choice;

/// Summary of a count distribution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub min: u64,
    pub p25: u64,
    pub median: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Distribution {
    /// Nearest-rank percentiles of `counts` (sorted in place).
    pub fn of(counts: &mut [u64]) -> Self {
        if counts.is_empty() {
            return Distribution::default();
        }
        counts.sort_unstable();
        let rank =
            |q: f64| counts[((q * counts.len() as f64).ceil() as usize).clamp(1, counts.len()) - 1];
        Distribution {
            min: counts[0],
            p25: rank(0.25),
            median: rank(0.5),
            p75: rank(0.75),
            p90: rank(0.9),
            p99: rank(0.99),
            max: counts[counts.len() - 1],
            mean: counts.iter().sum::<u64>() as f64 / counts.len() as f64,
        }
    }
}

/// Statistics of a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Statistics {
    /// Users with at least one kept event.
    pub users: usize,
    /// Items with at least one kept event.
    pub items: usize,
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    /// Distinct (user, item) pairs.
    pub pairs: u64,
    /// `pairs / (users × items)`.
    pub density: f64,
    /// Gini coefficient of events per item: 0 when every item is equally popular, near 1
    /// when a few items take everything.
    pub popularity_gini: f64,
    /// Share of events on the most popular 1% of items.
    pub top_1pct_item_share: f64,
    pub events_per_user: Distribution,
    pub events_per_item: Distribution,
    /// First and last timestamp (RFC 3339), when the data has any.
    pub time_range: Option<(String, String)>,
    /// Values of rating-typed events: a count per value when they sit on a rating scale,
    /// quantiles otherwise (counts such as plays).
    pub ratings: Option<RatingStats>,
    /// Units per line, when lines carry quantities (order lines, plays).
    pub quantities: Option<Quantiles>,
    /// Distinct baskets (orders), when the file has a basket column.
    pub baskets: u64,
    /// Distinct items per basket.
    pub items_per_basket: Option<Distribution>,
    /// Kept lines without a user (guest baskets).
    pub guest_lines: u64,
    /// Σ quantity × unit price over purchases, when lines have prices.
    pub revenue: Option<f64>,
    /// The weighting `auto` chooses for these data, and why.
    pub weighting: Choice,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RatingStats {
    pub count: u64,
    pub mean: f64,
    pub min: f32,
    pub max: f32,
    /// Count per distinct value (as text, e.g. `"4.5"`), when the values sit on a rating
    /// scale (see [`crate::weighting::on_a_rating_scale`]); empty otherwise.
    pub histogram: BTreeMap<String, u64>,
    /// Quantiles, when the values are not on a rating scale.
    pub quantiles: Option<Quantiles>,
}

/// Quantiles of real values (nearest rank).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub min: f32,
    pub p25: f32,
    pub median: f32,
    pub p75: f32,
    pub p90: f32,
    pub p99: f32,
    pub max: f32,
}

impl Quantiles {
    /// Nearest-rank quantiles of `values` (sorted in place); `None` when empty.
    pub fn of(values: &mut [f32]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable_by(f32::total_cmp);
        let rank =
            |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Some(Quantiles {
            min: values[0],
            p25: rank(0.25),
            median: rank(0.5),
            p75: rank(0.75),
            p90: rank(0.9),
            p99: rank(0.99),
            max: values[values.len() - 1],
        })
    }
}

/// Gini coefficient of non-negative counts.
pub fn gini(counts: &mut [u64]) -> f64 {
    let n = counts.len();
    let total: u64 = counts.iter().sum();
    if n == 0 || total == 0 {
        return 0.0;
    }
    counts.sort_unstable();
    // G = Σ (2i − n − 1) x_i / (n Σ x), with i = 1..n over ascending x.
    let weighted: f64 = counts
        .iter()
        .enumerate()
        .map(|(i, &x)| (2.0 * (i as f64 + 1.0) - n as f64 - 1.0) * x as f64)
        .sum();
    weighted / (n as f64 * total as f64)
}

impl Statistics {
    pub fn of(dataset: &Dataset) -> Self {
        let mut per_user = vec![0u64; dataset.n_users()];
        let mut per_item = vec![0u64; dataset.n_items()];
        let mut by_kind = vec![0u64; dataset.event_types.len()];
        let mut pairs = 0u64;
        let mut previous = None;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        let mut ratings = RatingStats {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            ..Default::default()
        };
        let mut rating_sum = 0f64;
        // Counted by bit pattern in the loop; turned into text once per distinct value after.
        let mut rating_counts: rustc_hash::FxHashMap<u32, u64> = Default::default();
        for e in &dataset.events {
            per_user[e.user as usize] += 1;
            per_item[e.item as usize] += 1;
            by_kind[usize::from(e.kind)] += 1;
            if previous != Some((e.user, e.item)) {
                pairs += 1;
                previous = Some((e.user, e.item));
            }
            if e.timestamp != 0 {
                first = first.min(e.timestamp);
                last = last.max(e.timestamp);
            }
            if e.kind == RATING {
                ratings.count += 1;
                rating_sum += f64::from(e.value);
                ratings.min = ratings.min.min(e.value);
                ratings.max = ratings.max.max(e.value);
                *rating_counts.entry(e.value.to_bits()).or_default() += 1;
            }
        }
        if crate::weighting::on_a_rating_scale(
            dataset.report.declared_scale,
            ratings.min,
            ratings.max,
            rating_counts.len(),
        ) {
            for (bits, count) in rating_counts {
                *ratings
                    .histogram
                    .entry(f32::from_bits(bits).to_string())
                    .or_default() += count;
            }
        } else {
            let mut values: Vec<f32> = dataset
                .events
                .iter()
                .filter(|e| e.kind == RATING)
                .map(|e| e.value)
                .collect();
            ratings.quantiles = Quantiles::of(&mut values);
        }
        let all_lines = || dataset.events.iter().chain(&dataset.guest_events);
        let mut quantities: Vec<f32> = all_lines().map(|e| e.quantity).collect();
        let quantities = if quantities.iter().any(|&q| q != 1.0) {
            Quantiles::of(&mut quantities)
        } else {
            None
        };
        let mut basket_items: rustc_hash::FxHashMap<u32, rustc_hash::FxHashSet<u32>> =
            Default::default();
        let mut revenue = None;
        for e in all_lines() {
            if e.basket != NO_BASKET {
                basket_items.entry(e.basket).or_default().insert(e.item);
            }
            if e.kind == PURCHASE && e.price.is_finite() {
                *revenue.get_or_insert(0.0) += f64::from(e.quantity) * f64::from(e.price);
            }
        }
        let mut sizes: Vec<u64> = basket_items.values().map(|s| s.len() as u64).collect();
        per_user.retain(|&c| c > 0);
        per_item.retain(|&c| c > 0);
        let (users, items) = (per_user.len(), per_item.len());
        let events = dataset.events.len() as u64;
        let popularity_gini = gini(&mut per_item);
        let top = per_item.len().div_ceil(100);
        let top_share = if events == 0 {
            0.0
        } else {
            per_item.iter().rev().take(top).sum::<u64>() as f64 / events as f64
        };
        ratings.mean = if ratings.count > 0 {
            rating_sum / ratings.count as f64
        } else {
            0.0
        };
        Statistics {
            users,
            items,
            events,
            events_by_type: by_kind
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(k, c)| (dataset.event_types.name(k as u8).to_string(), *c))
                .collect(),
            pairs,
            density: if users == 0 || items == 0 {
                0.0
            } else {
                pairs as f64 / (users as f64 * items as f64)
            },
            popularity_gini,
            top_1pct_item_share: top_share,
            events_per_user: Distribution::of(&mut per_user),
            events_per_item: Distribution::of(&mut per_item),
            time_range: (first <= last).then(|| (format_timestamp(first), format_timestamp(last))),
            ratings: (ratings.count > 0).then_some(ratings),
            quantities,
            baskets: sizes.len() as u64,
            items_per_basket: (!sizes.is_empty()).then(|| Distribution::of(&mut sizes)),
            guest_lines: dataset.guest_events.len() as u64,
            revenue,
            weighting: dataset.choose(crate::weighting::Weighting::Auto),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_extremes_and_hand_case() {
        assert_eq!(gini(&mut [5, 5, 5, 5]), 0.0);
        // One of four items has everything: (2·4 − 5)·1 / (4·1) = 0.75.
        assert!((gini(&mut [0, 0, 0, 7]) - 0.75).abs() < 1e-12);
        assert_eq!(gini(&mut []), 0.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let d = Distribution::of(&mut [4, 1, 3, 2]);
        assert_eq!((d.min, d.p25, d.median, d.p75, d.max), (1, 1, 2, 3, 4));
        assert_eq!(d.mean, 2.5);
    }
}
