//! The evaluation metrics, each with its exact definition, and [`Metrics`], the named values
//! a report carries.
//!
//! # Rating metrics
//! Over the `n` test pairs `(u, i)` with true rating `r` and prediction `p̂` clipped to the
//! rating scale `[lo, hi]` (`p = min(max(p̂, lo), hi)`; the evaluator clips, models return raw
//! predictions):
//! - `rmse` = √(Σ (p − r)² / n)
//! - `mae` = Σ |p − r| / n
//!
//! # Ranking metrics at cut-off K (binary relevance)
//! For a user `u`, `R_u` is the model's top-K list of items not seen in training, best first
//! (it may be shorter than K: the missing places count as misses), and `T_u` the user's
//! relevant test items. Users with an empty `T_u` are skipped. With `rel_k = 1` when the item at
//! place `k` (1-based) is in `T_u` (an item repeated in the list counts only at its first
//! place) and `hits = Σ_k rel_k`:
//! - `precision@K` = hits / K (K, not |R_u|: a short list is not rewarded for being short)
//! - `recall@K` = hits / |T_u|
//! - `capped_recall@K` (optional) = hits / min(|T_u|, K), which reaches 1 for a perfect list
//! - `hitrate@K` = 1 if hits > 0, else 0
//! - `map@K` = (1 / min(|T_u|, K)) · Σ_k rel_k · (hits among the first k) / k
//! - `ndcg@K` = (Σ_k rel_k / log2(k + 1)) / (Σ_{k=1..min(|T_u|,K)} 1 / log2(k + 1))
//! - `mrr@K` = 1 / (place of the first hit), 0 without a hit
//!
//! each averaged over the users with a non-empty `T_u`. Test items the user also has in
//! training stay in `T_u` even though they can never be recommended.
//!
//! Beyond accuracy, over the same users' lists (first K items):
//! - `coverage@K` = distinct items in all lists / number of items in the data (the training
//!   matrix's columns).
//! - `novelty@K` = mean self-information of the recommended items: per list the mean of
//!   −log2(share_i) with `share_i = (c_i + 1) / (n + 1)`, where `c_i` is the number of training
//!   users who interacted with item `i` and `n` the number of users with any training
//!   interaction; averaged over non-empty lists. The +1 keeps an item absent from training
//!   finite (it gets the largest value, log2(n + 1)) and an item everyone has at 0.
//! - `diversity@K` = intra-list diversity: per list the mean over its item pairs of
//!   1 − cos(v_i, v_j), where `v_i` is item `i`'s binary vector of training users (so
//!   cos = |U_i ∩ U_j| / √(|U_i|·|U_j|), and 0 when either item has no training user);
//!   averaged over lists with at least two items. Binary vectors make the figure comparable
//!   between rating and implicit data.

use std::borrow::Cow;

use aisle_data::Interactions;
use rayon::prelude::*;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Clips a raw rating prediction to the scale `(min, max)`. A NaN stays NaN, so that a broken
/// model is noticed rather than silently pinned to a bound.
pub fn clip_rating(prediction: f32, scale: (f32, f32)) -> f32 {
    let (lo, hi) = scale;
    if prediction < lo {
        lo
    } else if prediction > hi {
        hi
    } else {
        prediction
    }
}

/// Running sums of rating errors; [`RatingErrors::finish`] gives RMSE and MAE.
///
/// Sums are kept in `f64` so that millions of test pairs do not lose precision.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RatingErrors {
    count: u64,
    squared: f64,
    absolute: f64,
}

impl RatingErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one test pair; `predicted` should already be clipped ([`clip_rating`]).
    pub fn add(&mut self, predicted: f32, actual: f32) {
        let error = f64::from(predicted) - f64::from(actual);
        self.count += 1;
        self.squared += error * error;
        self.absolute += error.abs();
    }

    /// Adds the pairs another accumulator has seen.
    pub fn merge(&mut self, other: &RatingErrors) {
        self.count += other.count;
        self.squared += other.squared;
        self.absolute += other.absolute;
    }

    /// Number of pairs added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// RMSE and MAE over the pairs added; `None` when there were none.
    pub fn finish(&self) -> Option<RatingMetrics> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        Some(RatingMetrics {
            rmse: (self.squared / n).sqrt(),
            mae: self.absolute / n,
            pairs: self.count,
        })
    }
}

/// Rating accuracy over a set of test pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingMetrics {
    pub rmse: f64,
    pub mae: f64,
    /// Number of test pairs scored.
    pub pairs: u64,
}

impl RatingMetrics {
    /// RMSE and MAE of `(predicted, actual)` pairs, each prediction clipped to `scale` when
    /// one is given; `None` for no pairs.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (f32, f32)>,
        scale: Option<(f32, f32)>,
    ) -> Option<RatingMetrics> {
        let mut errors = RatingErrors::new();
        for (predicted, actual) in pairs {
            let predicted = scale.map_or(predicted, |s| clip_rating(predicted, s));
            errors.add(predicted, actual);
        }
        errors.finish()
    }

    /// Adds `rmse` and `mae` to `metrics`.
    pub fn write_to(&self, metrics: &mut Metrics) {
        metrics.insert("rmse", self.rmse);
        metrics.insert("mae", self.mae);
    }
}

/// One user's ranking metrics at a cut-off (see the module docs for the definitions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserRanking {
    /// Relevant items among the first K recommended.
    pub hits: usize,
    pub precision: f64,
    pub recall: f64,
    pub capped_recall: f64,
    /// 1 with at least one hit, else 0.
    pub hit: f64,
    pub average_precision: f64,
    pub ndcg: f64,
    pub reciprocal_rank: f64,
}

/// One user's ranking metrics for the list `recommended` (best first; only its first `k`
/// items count) against the relevant items `relevant` (any order; repeats ignored).
/// `None` when `relevant` is empty (the user is skipped) or `k` is 0.
pub fn user_ranking(recommended: &[u32], relevant: &[u32], k: usize) -> Option<UserRanking> {
    if k == 0 {
        return None;
    }
    let relevant: Cow<'_, [u32]> = if relevant.windows(2).all(|w| w[0] < w[1]) {
        Cow::Borrowed(relevant)
    } else {
        let mut sorted = relevant.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        Cow::Owned(sorted)
    };
    if relevant.is_empty() {
        return None;
    }
    let list = &recommended[..recommended.len().min(k)];
    let mut hits = 0usize;
    let mut dcg = 0.0f64;
    let mut precision_sum = 0.0f64;
    let mut first_hit: Option<usize> = None;
    for (position, &item) in list.iter().enumerate() {
        let rank = position + 1;
        let relevant_here =
            relevant.binary_search(&item).is_ok() && !list[..position].contains(&item);
        if relevant_here {
            hits += 1;
            dcg += 1.0 / discount(rank);
            precision_sum += hits as f64 / rank as f64;
            first_hit.get_or_insert(rank);
        }
    }
    let relevant_count = relevant.len();
    let ideal_length = relevant_count.min(k);
    let ideal_dcg: f64 = (1..=ideal_length).map(|rank| 1.0 / discount(rank)).sum();
    Some(UserRanking {
        hits,
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant_count as f64,
        capped_recall: hits as f64 / ideal_length as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
        average_precision: precision_sum / ideal_length as f64,
        ndcg: dcg / ideal_dcg,
        reciprocal_rank: first_hit.map_or(0.0, |rank| 1.0 / rank as f64),
    })
}

/// The DCG discount log2(rank + 1) of a 1-based rank.
fn discount(rank: usize) -> f64 {
    ((rank + 1) as f64).log2()
}

/// Sums of per-user ranking metrics, in the order users were added (so the means do not
/// depend on thread scheduling when the caller adds users in a fixed order).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RankingTotals {
    users: u64,
    precision: f64,
    recall: f64,
    capped_recall: f64,
    hit: f64,
    average_precision: f64,
    ndcg: f64,
    reciprocal_rank: f64,
}

impl RankingTotals {
    pub fn add(&mut self, user: &UserRanking) {
        self.users += 1;
        self.precision += user.precision;
        self.recall += user.recall;
        self.capped_recall += user.capped_recall;
        self.hit += user.hit;
        self.average_precision += user.average_precision;
        self.ndcg += user.ndcg;
        self.reciprocal_rank += user.reciprocal_rank;
    }

    /// Number of users added.
    pub fn users(&self) -> u64 {
        self.users
    }

    /// The per-user means (`hits` is left at 0); `None` before any user was added.
    pub fn means(&self) -> Option<UserRanking> {
        if self.users == 0 {
            return None;
        }
        let n = self.users as f64;
        Some(UserRanking {
            hits: 0,
            precision: self.precision / n,
            recall: self.recall / n,
            capped_recall: self.capped_recall / n,
            hit: self.hit / n,
            average_precision: self.average_precision / n,
            ndcg: self.ndcg / n,
            reciprocal_rank: self.reciprocal_rank / n,
        })
    }
}

/// One user's recommendation list and relevant test items, the input of
/// [`ranking_metrics`].
#[derive(Debug, Clone, Copy)]
pub struct RankedList<'a> {
    /// Recommended items, best first, training items already left out.
    pub recommended: &'a [u32],
    /// The user's relevant test items.
    pub relevant: &'a [u32],
}

/// Top-K accuracy and beyond-accuracy metrics of a set of users (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankingMetrics {
    pub k: usize,
    /// Users scored: those with at least one relevant test item.
    pub users: u64,
    pub precision: f64,
    pub recall: f64,
    pub capped_recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hitrate: f64,
    pub mrr: f64,
    pub coverage: f64,
    /// `None` when every list is empty.
    pub novelty: Option<f64>,
    /// `None` when no list has two items (e.g. K = 1).
    pub diversity: Option<f64>,
}

impl RankingMetrics {
    /// Adds the metrics under their report keys (`precision@10`, ...) to `metrics`; the
    /// capped recall only when `capped_recall`, undefined novelty or diversity not at all.
    pub fn write_to(&self, metrics: &mut Metrics, capped_recall: bool) {
        let k = self.k;
        metrics.insert(format!("precision@{k}"), self.precision);
        metrics.insert(format!("recall@{k}"), self.recall);
        if capped_recall {
            metrics.insert(format!("capped_recall@{k}"), self.capped_recall);
        }
        metrics.insert(format!("ndcg@{k}"), self.ndcg);
        metrics.insert(format!("map@{k}"), self.map);
        metrics.insert(format!("hitrate@{k}"), self.hitrate);
        metrics.insert(format!("mrr@{k}"), self.mrr);
        metrics.insert(format!("coverage@{k}"), self.coverage);
        if let Some(novelty) = self.novelty {
            metrics.insert(format!("novelty@{k}"), novelty);
        }
        if let Some(diversity) = self.diversity {
            metrics.insert(format!("diversity@{k}"), diversity);
        }
    }
}

/// Every ranking metric at cut-off `k` for `lists` (one per user), with the popularity and
/// co-occurrence statistics of `items`. Users with no relevant item are skipped everywhere,
/// coverage, novelty and diversity included; `None` when no user is left or `k` is 0.
pub fn ranking_metrics(
    lists: &[RankedList<'_>],
    items: &ItemStatistics<'_>,
    k: usize,
) -> Option<RankingMetrics> {
    let mut totals = RankingTotals::default();
    let mut scored: Vec<&[u32]> = Vec::with_capacity(lists.len());
    for list in lists {
        if let Some(user) = user_ranking(list.recommended, list.relevant, k) {
            totals.add(&user);
            scored.push(&list.recommended[..list.recommended.len().min(k)]);
        }
    }
    let means = totals.means()?;
    Some(RankingMetrics {
        k,
        users: totals.users(),
        precision: means.precision,
        recall: means.recall,
        capped_recall: means.capped_recall,
        ndcg: means.ndcg,
        map: means.average_precision,
        hitrate: means.hit,
        mrr: means.reciprocal_rank,
        coverage: items.coverage(&scored),
        novelty: items.novelty(&scored),
        diversity: items.diversity(&scored),
    })
}

/// What the beyond-accuracy metrics need from the training data: how many users have each
/// item, and who they are.
#[derive(Debug)]
pub struct ItemStatistics<'a> {
    train: &'a Interactions,
    /// Item × user view of `train`.
    by_item: Interactions,
    /// Users with at least one training interaction.
    active_users: usize,
}

impl<'a> ItemStatistics<'a> {
    pub fn new(train: &'a Interactions) -> Self {
        let active_users = (0..train.n_users() as u32)
            .filter(|&u| train.row_len(u) > 0)
            .count();
        ItemStatistics {
            train,
            by_item: train.transpose(),
            active_users,
        }
    }

    /// Items in the data (the training matrix's columns).
    pub fn n_items(&self) -> usize {
        self.train.n_items()
    }

    /// Training users who interacted with `item` (0 for an item outside the matrix).
    pub fn users_of(&self, item: u32) -> usize {
        if (item as usize) < self.by_item.n_users() {
            self.by_item.row_len(item)
        } else {
            0
        }
    }

    /// −log2((c_i + 1) / (n + 1)): the self-information of recommending `item`.
    pub fn self_information(&self, item: u32) -> f64 {
        let share = (self.users_of(item) as f64 + 1.0) / (self.active_users as f64 + 1.0);
        -share.log2()
    }

    /// Distinct items in `lists` / items in the data; 0 for an empty catalogue.
    pub fn coverage(&self, lists: &[&[u32]]) -> f64 {
        if self.n_items() == 0 {
            return 0.0;
        }
        let mut seen = vec![false; self.n_items()];
        let mut distinct = 0usize;
        for &item in lists.iter().flat_map(|list| list.iter()) {
            if let Some(slot) = seen.get_mut(item as usize)
                && !*slot
            {
                *slot = true;
                distinct += 1;
            }
        }
        distinct as f64 / self.n_items() as f64
    }

    /// Mean over non-empty lists of the mean self-information of their items.
    pub fn novelty(&self, lists: &[&[u32]]) -> Option<f64> {
        let mut sum = 0.0;
        let mut counted = 0usize;
        for list in lists.iter().filter(|list| !list.is_empty()) {
            let total: f64 = list.iter().map(|&item| self.self_information(item)).sum();
            sum += total / list.len() as f64;
            counted += 1;
        }
        (counted > 0).then(|| sum / counted as f64)
    }

    /// Binary cosine similarity of two items' training-user sets.
    pub fn cosine(&self, a: u32, b: u32) -> f64 {
        if a == b {
            return if self.users_of(a) > 0 { 1.0 } else { 0.0 };
        }
        let (na, nb) = (self.users_of(a), self.users_of(b));
        if na == 0 || nb == 0 {
            return 0.0;
        }
        let overlap = sorted_overlap(self.by_item.row(a).items, self.by_item.row(b).items);
        overlap as f64 / ((na as f64) * (nb as f64)).sqrt()
    }

    /// Mean over lists with at least two items of their intra-list diversity.
    ///
    /// Each distinct item pair is computed once, in parallel, by whichever of two exact
    /// methods is cheaper for its first item `a`: marking `a`'s users and counting them in
    /// each partner's user list, or counting co-occurrences over the training rows of `a`'s
    /// users. The second bounds the whole cost by Σ_u |row_u|² however many lists there are.
    pub fn diversity(&self, lists: &[&[u32]]) -> Option<f64> {
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for list in lists {
            for (position, &a) in list.iter().enumerate() {
                for &b in &list[position + 1..] {
                    if a != b {
                        pairs.push((a.min(b), a.max(b)));
                    }
                }
            }
        }
        pairs.par_sort_unstable();
        pairs.dedup();
        let similarities = self.pair_cosines(&pairs);

        let mut sum = 0.0;
        let mut counted = 0usize;
        for list in lists.iter().filter(|list| list.len() >= 2) {
            let mut distance = 0.0;
            let mut n_pairs = 0usize;
            for (position, &a) in list.iter().enumerate() {
                for &b in &list[position + 1..] {
                    let similarity = if a == b {
                        1.0
                    } else {
                        let index = pairs
                            .binary_search(&(a.min(b), a.max(b)))
                            .expect("every pair of every list was computed");
                        similarities[index]
                    };
                    distance += 1.0 - similarity;
                    n_pairs += 1;
                }
            }
            sum += distance / n_pairs as f64;
            counted += 1;
        }
        (counted > 0).then(|| sum / counted as f64)
    }

    /// Cosines of `pairs` (sorted, distinct, `a < b`), in the same order.
    fn pair_cosines(&self, pairs: &[(u32, u32)]) -> Vec<f64> {
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        for index in 1..=pairs.len() {
            if index == pairs.len() || pairs[index].0 != pairs[start].0 {
                groups.push(start..index);
                start = index;
            }
        }
        let per_group: Vec<Vec<f64>> = groups
            .par_iter()
            .map_init(
                || OverlapScratch::new(self.train.n_users(), self.train.n_items()),
                |scratch, range| self.group_cosines(&pairs[range.clone()], scratch),
            )
            .collect();
        per_group.into_iter().flatten().collect()
    }

    /// Cosines of pairs that all share their first item.
    fn group_cosines(&self, pairs: &[(u32, u32)], scratch: &mut OverlapScratch) -> Vec<f64> {
        let a = pairs[0].0;
        let na = self.users_of(a);
        if na == 0 {
            return vec![0.0; pairs.len()];
        }
        let users_of_a = self.by_item.row(a).items;
        let marking_cost: usize = na + pairs.iter().map(|&(_, b)| self.users_of(b)).sum::<usize>();
        let cooccurrence_cost: usize = users_of_a.iter().map(|&u| self.train.row_len(u)).sum();
        let overlaps: Vec<usize> = if marking_cost <= cooccurrence_cost {
            scratch.overlaps_by_marking(users_of_a, pairs, &self.by_item)
        } else {
            scratch.overlaps_by_cooccurrence(users_of_a, pairs, self.train)
        };
        pairs
            .iter()
            .zip(overlaps)
            .map(|(&(_, b), overlap)| {
                let nb = self.users_of(b);
                if nb == 0 {
                    0.0
                } else {
                    overlap as f64 / ((na as f64) * (nb as f64)).sqrt()
                }
            })
            .collect()
    }
}

/// Size of the intersection of two sorted lists.
fn sorted_overlap(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut overlap) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                overlap += 1;
                i += 1;
                j += 1;
            }
        }
    }
    overlap
}

/// Per-thread dense buffers for counting user-set overlaps without clearing whole arrays.
struct OverlapScratch {
    /// `user_marks[u] == generation` when `u` is marked in the current round.
    user_marks: Vec<u32>,
    generation: u32,
    item_counts: Vec<u32>,
    touched_items: Vec<u32>,
}

impl OverlapScratch {
    fn new(n_users: usize, n_items: usize) -> Self {
        OverlapScratch {
            user_marks: vec![0; n_users],
            generation: 0,
            item_counts: vec![0; n_items],
            touched_items: Vec::new(),
        }
    }

    fn overlaps_by_marking(
        &mut self,
        users_of_a: &[u32],
        pairs: &[(u32, u32)],
        by_item: &Interactions,
    ) -> Vec<usize> {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.user_marks.fill(0);
            self.generation = 1;
        }
        let generation = self.generation;
        for &u in users_of_a {
            self.user_marks[u as usize] = generation;
        }
        pairs
            .iter()
            .map(|&(_, b)| {
                if (b as usize) >= by_item.n_users() {
                    return 0;
                }
                by_item
                    .row(b)
                    .items
                    .iter()
                    .filter(|&&u| self.user_marks[u as usize] == generation)
                    .count()
            })
            .collect()
    }

    fn overlaps_by_cooccurrence(
        &mut self,
        users_of_a: &[u32],
        pairs: &[(u32, u32)],
        train: &Interactions,
    ) -> Vec<usize> {
        for &u in users_of_a {
            for &item in train.row(u).items {
                let count = &mut self.item_counts[item as usize];
                if *count == 0 {
                    self.touched_items.push(item);
                }
                *count += 1;
            }
        }
        let overlaps = pairs
            .iter()
            .map(|&(_, b)| self.item_counts.get(b as usize).map_or(0, |&c| c as usize))
            .collect();
        for &item in &self.touched_items {
            self.item_counts[item as usize] = 0;
        }
        self.touched_items.clear();
        overlaps
    }
}

/// Named metric values in a fixed order, as a report carries them: `rmse`, `mae`,
/// `precision@10`, ... Serialised as a JSON object whose keys keep that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    entries: Vec<(String, f64)>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, keeping its place if it was already there.
    pub fn insert(&mut self, key: impl Into<String>, value: f64) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|&(_, value)| value)
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, f64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The mean of each key over the sets that have it, keys in order of first appearance.
    pub fn mean<'m>(sets: impl IntoIterator<Item = &'m Metrics>) -> Metrics {
        let mut sums: Vec<(String, f64, usize)> = Vec::new();
        for set in sets {
            for (key, value) in set.iter() {
                match sums.iter_mut().find(|(k, _, _)| k == key) {
                    Some(entry) => {
                        entry.1 += value;
                        entry.2 += 1;
                    }
                    None => sums.push((key.to_string(), value, 1)),
                }
            }
        }
        Metrics {
            entries: sums
                .into_iter()
                .map(|(key, sum, count)| (key, sum / count as f64))
                .collect(),
        }
    }
}

/// Where a metric key sorts in tables and charts: accuracy first, then beyond-accuracy, then
/// keys this version does not know (alphabetically), each name by increasing cut-off.
pub fn metric_order(key: &str) -> (usize, usize, String) {
    const ORDER: &[&str] = &[
        "rmse",
        "mae",
        "precision",
        "recall",
        "capped_recall",
        "ndcg",
        "map",
        "hitrate",
        "mrr",
        "coverage",
        "novelty",
        "diversity",
    ];
    let (name, cutoff) = match key.split_once('@') {
        Some((name, cutoff)) => (name, cutoff.parse().unwrap_or(usize::MAX)),
        None => (key, 0),
    };
    let rank = ORDER
        .iter()
        .position(|&known| known == name)
        .unwrap_or(ORDER.len());
    (rank, cutoff, key.to_string())
}

/// Whether a smaller value of the metric `key` is better (errors, not scores).
pub fn lower_is_better(key: &str) -> bool {
    matches!(key, "rmse" | "mae")
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetricsVisitor;

        impl<'de> Visitor<'de> for MetricsVisitor {
            type Value = Metrics;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of metric names to numbers")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Metrics, A::Error> {
                let mut metrics = Metrics::new();
                while let Some((key, value)) = access.next_entry::<String, f64>()? {
                    metrics.insert(key, value);
                }
                Ok(metrics)
            }
        }

        deserializer.deserialize_map(MetricsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn matrix(n_users: usize, n_items: usize, cells: &[(u32, u32)]) -> Interactions {
        let cells = cells
            .iter()
            .map(|&(user, item)| Cell {
                user,
                item,
                weight: 1.0,
                timestamp: 0,
            })
            .collect();
        Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Sum)
    }

    #[test]
    fn rmse_and_mae_by_hand() {
        // Errors 1, -2, 0, 3: squares 1+4+0+9 = 14, absolutes 1+2+0+3 = 6.
        let pairs = [(4.0, 3.0), (1.0, 3.0), (2.5, 2.5), (5.0, 2.0)];
        let m = RatingMetrics::from_pairs(pairs, None).unwrap();
        assert!(close(m.rmse, (14.0f64 / 4.0).sqrt()));
        assert!(close(m.mae, 6.0 / 4.0));
        assert_eq!(m.pairs, 4);
        assert!(RatingMetrics::from_pairs([], None).is_none());
    }

    #[test]
    fn predictions_are_clipped_to_the_scale() {
        assert_eq!(clip_rating(7.2, (1.0, 5.0)), 5.0);
        assert_eq!(clip_rating(-1.0, (1.0, 5.0)), 1.0);
        assert_eq!(clip_rating(3.3, (1.0, 5.0)), 3.3);
        assert!(clip_rating(f32::NAN, (1.0, 5.0)).is_nan());
        // 7 → 5 (error 1), 0 → 1 (error 0).
        let m = RatingMetrics::from_pairs([(7.0, 4.0), (0.0, 1.0)], Some((1.0, 5.0))).unwrap();
        assert!(close(m.rmse, (0.5f64).sqrt()));
        assert!(close(m.mae, 0.5));
    }

    #[test]
    fn merged_errors_equal_one_pass() {
        let mut a = RatingErrors::new();
        a.add(1.0, 2.0);
        let mut b = RatingErrors::new();
        b.add(4.0, 2.0);
        b.add(3.0, 3.0);
        a.merge(&b);
        let whole = RatingMetrics::from_pairs([(1.0, 2.0), (4.0, 2.0), (3.0, 3.0)], None);
        assert_eq!(a.finish(), whole);
        assert_eq!(a.count(), 3);
    }

    #[test]
    fn ranking_metrics_of_a_full_list_by_hand() {
        // K = 5, list [10, 20, 30, 40, 50], relevant {20, 50, 60}: hits at places 2 and 5.
        let m = user_ranking(&[10, 20, 30, 40, 50], &[60, 20, 50], 5).unwrap();
        assert_eq!(m.hits, 2);
        assert!(close(m.precision, 2.0 / 5.0));
        assert!(close(m.recall, 2.0 / 3.0));
        assert!(close(m.capped_recall, 2.0 / 3.0));
        assert!(close(m.hit, 1.0));
        // AP = (1/min(3,5)) · (1/2 + 2/5)
        assert!(close(m.average_precision, (0.5 + 0.4) / 3.0));
        // DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3) + 1/log2(4)
        let dcg = 1.0 / 3f64.log2() + 1.0 / 6f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(m.ndcg, dcg / idcg));
        assert!(close(m.reciprocal_rank, 0.5));
    }

    #[test]
    fn a_short_list_counts_its_gaps_as_misses() {
        // K = 4 but only two items came back; the first is relevant.
        let m = user_ranking(&[7, 8], &[7, 9], 4).unwrap();
        assert_eq!(m.hits, 1);
        assert!(close(m.precision, 1.0 / 4.0));
        assert!(close(m.recall, 1.0 / 2.0));
        assert!(close(m.average_precision, 1.0 / 2.0));
        assert!(close(m.ndcg, 1.0 / (1.0 + 1.0 / 3f64.log2())));
        assert!(close(m.reciprocal_rank, 1.0));
        // An empty list scores zero everywhere but is still a user.
        let empty = user_ranking(&[], &[1], 3).unwrap();
        assert_eq!(
            (empty.precision, empty.recall, empty.ndcg, empty.hit),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn more_relevant_items_than_k() {
        // K = 2, |T| = 4, both places hit: precision and capped recall 1, recall 1/2.
        let m = user_ranking(&[3, 1, 99], &[1, 2, 3, 4], 2).unwrap();
        assert_eq!(m.hits, 2);
        assert!(close(m.precision, 1.0));
        assert!(close(m.recall, 0.5));
        assert!(close(m.capped_recall, 1.0));
        assert!(close(m.average_precision, 1.0));
        assert!(close(m.ndcg, 1.0));
        // Only the first K items count: the hit at place 3 is beyond the cut-off.
        let late = user_ranking(&[50, 51, 2], &[1, 2, 3, 4], 2).unwrap();
        assert_eq!(late.hits, 0);
        assert_eq!(late.reciprocal_rank, 0.0);
    }

    #[test]
    fn users_without_relevant_items_are_skipped() {
        assert!(user_ranking(&[1, 2, 3], &[], 3).is_none());
        assert!(user_ranking(&[1, 2, 3], &[1], 0).is_none());
        let train = matrix(3, 6, &[(0, 0), (1, 1), (2, 2)]);
        let items = ItemStatistics::new(&train);
        let lists = [
            RankedList {
                recommended: &[3, 4],
                relevant: &[4],
            },
            RankedList {
                recommended: &[5],
                relevant: &[],
            },
        ];
        let m = ranking_metrics(&lists, &items, 2).unwrap();
        assert_eq!(m.users, 1);
        // Only the first user counts, so item 5 is not covered.
        assert!(close(m.precision, 0.5));
        assert!(close(m.coverage, 2.0 / 6.0));
        assert!(
            ranking_metrics(&lists[1..], &items, 2).is_none(),
            "no user left means no metrics"
        );
    }

    #[test]
    fn repeated_items_hit_once() {
        let m = user_ranking(&[1, 1, 2], &[1, 2], 3).unwrap();
        assert_eq!(m.hits, 2);
        assert!(close(m.average_precision, (1.0 + 2.0 / 3.0) / 2.0));
    }

    #[test]
    fn means_over_users() {
        let train = matrix(2, 4, &[]);
        let items = ItemStatistics::new(&train);
        let lists = [
            RankedList {
                recommended: &[0, 1],
                relevant: &[0],
            },
            RankedList {
                recommended: &[2, 3],
                relevant: &[3],
            },
        ];
        let m = ranking_metrics(&lists, &items, 2).unwrap();
        assert!(close(m.precision, 0.5));
        assert!(close(m.recall, 1.0));
        assert!(close(m.hitrate, 1.0));
        assert!(close(m.mrr, (1.0 + 0.5) / 2.0));
        assert!(close(m.map, (1.0 + 0.5) / 2.0));
        assert!(close(m.ndcg, (1.0 + 1.0 / 3f64.log2()) / 2.0));
        assert!(close(m.coverage, 1.0));
    }

    #[test]
    fn novelty_by_hand() {
        // 4 training users (user 4 has nothing, so n = 3); item 0 has all three, item 1 one,
        // item 2 none.
        let train = matrix(5, 3, &[(0, 0), (1, 0), (2, 0), (0, 1)]);
        let items = ItemStatistics::new(&train);
        assert!(close(items.self_information(0), 0.0));
        assert!(close(items.self_information(1), -(2.0f64 / 4.0).log2()));
        assert!(close(items.self_information(2), 2.0));
        let lists: [&[u32]; 3] = [&[0, 1], &[2], &[]];
        let expected = ((0.0 + 1.0) / 2.0 + 2.0) / 2.0;
        assert!(close(items.novelty(&lists).unwrap(), expected));
        assert!(items.novelty(&[&[]]).is_none());
    }

    #[test]
    fn diversity_by_hand() {
        // Item users: 0 → {0,1}, 1 → {0,1}, 2 → {1,2}, 3 → {} .
        let train = matrix(3, 4, &[(0, 0), (1, 0), (0, 1), (1, 1), (1, 2), (2, 2)]);
        let items = ItemStatistics::new(&train);
        assert!(close(items.cosine(0, 1), 1.0));
        assert!(close(items.cosine(0, 2), 0.5));
        assert!(close(items.cosine(2, 3), 0.0));
        // List [0,1,2]: distances 0, 0.5, 0.5 → 1/3. List [2,3]: distance 1. List [1]: skipped.
        let lists: [&[u32]; 3] = [&[0, 1, 2], &[2, 3], &[1]];
        let expected = (1.0 / 3.0 + 1.0) / 2.0;
        assert!(close(items.diversity(&lists).unwrap(), expected));
        assert!(items.diversity(&[&[1], &[]]).is_none());
    }

    #[test]
    fn both_overlap_methods_agree_with_a_merge() {
        // A random-looking matrix where some items are popular and some rare, so both methods
        // get chosen for some first items.
        let mut rng = aisle_data::Rng::new(7);
        let mut cells = Vec::new();
        for user in 0..60u32 {
            for item in 0..40u32 {
                let p = if item < 4 { 0.8 } else { 0.08 };
                if rng.chance(p) {
                    cells.push((user, item));
                }
            }
        }
        let train = matrix(60, 40, &cells);
        let items = ItemStatistics::new(&train);
        let pairs: Vec<(u32, u32)> = (0..40u32)
            .flat_map(|a| (a + 1..40).map(move |b| (a, b)))
            .collect();
        let computed = items.pair_cosines(&pairs);
        let mut scratch = OverlapScratch::new(60, 40);
        for (&(a, b), &cosine) in pairs.iter().zip(&computed) {
            assert!(
                (cosine - items.cosine(a, b)).abs() < 1e-12,
                "pair ({a}, {b})"
            );
            let users_a = items.by_item.row(a).items;
            let marking = scratch.overlaps_by_marking(users_a, &[(a, b)], &items.by_item);
            let cooccurring = scratch.overlaps_by_cooccurrence(users_a, &[(a, b)], &train);
            assert_eq!(marking, cooccurring);
        }
    }

    #[test]
    fn metrics_keep_their_order_through_json() {
        let mut m = Metrics::new();
        m.insert("rmse", 0.9);
        m.insert("mae", 0.7);
        m.insert("precision@10", 0.1);
        m.insert("rmse", 0.8);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"rmse":0.8,"mae":0.7,"precision@10":0.1}"#);
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let mean = Metrics::mean([&m, &Metrics::from_iter_for_test(&[("rmse", 1.0)])]);
        assert!(close(mean.get("rmse").unwrap(), 0.9));
        assert!(close(mean.get("mae").unwrap(), 0.7));
    }

    #[test]
    fn metric_keys_sort_accuracy_first() {
        let mut keys = vec!["diversity@10", "zeta", "mae", "ndcg@5", "ndcg@10", "rmse"];
        keys.sort_by_key(|k| metric_order(k));
        assert_eq!(
            keys,
            vec!["rmse", "mae", "ndcg@5", "ndcg@10", "diversity@10", "zeta"]
        );
    }

    impl Metrics {
        fn from_iter_for_test(entries: &[(&str, f64)]) -> Metrics {
            let mut m = Metrics::new();
            for &(k, v) in entries {
                m.insert(k, v);
            }
            m
        }
    }
}
