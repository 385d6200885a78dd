//! Ranking with latent factors, shared by the factorisation models (ALS, BPR, hybrid): scores
//! of one user against every item, cosine neighbours of an item, and top-N lists for one user
//! or for many at once.
//!
//! Scoring users one at a time streams the whole item-factor matrix from memory per user;
//! [`top_n_for_users`] instead multiplies blocks of users by blocks of items
//! ([`crate::linalg::gemm_nt`]) so each item block is reused from cache by many users, and
//! keeps a bounded heap per user (partial selection, never a full sort). Both it and the
//! one-user [`top_n_ranked`] read items in decreasing norm and stop once no item left can
//! enter the list ([`RankedItems`]).

use std::collections::BinaryHeap;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::kernels::rows_dot;
use crate::linalg::{dot, gemm_nt};
use crate::topk::{Scored, top_k};

/// Users scored together by [`top_n_for_users`].
const USER_BLOCK: usize = 64;
/// Items scored together by [`top_n_for_users`]: small enough that users stop soon after
/// their list is settled, large enough to amortise the bookkeeping.
const ITEM_BLOCK: usize = 256;

/// `out[i] = user·items[i] (+ bias[i])` for every item.
pub fn score_items(user: &[f32], items: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let f = user.len();
    if f == 0 {
        match bias {
            Some(b) => out.copy_from_slice(b),
            None => out.fill(0.0),
        }
        return;
    }
    rows_dot(user, items, out);
    if let Some(bias) = bias {
        for (slot, b) in out.iter_mut().zip(bias) {
            *slot += b;
        }
    }
}

/// Euclidean norm of each row.
pub fn row_norms(m: &[f32], f: usize) -> Vec<f32> {
    if f == 0 {
        return Vec::new();
    }
    m.par_chunks(f).map(|r| dot(r, r).sqrt()).collect()
}

/// The `n` items whose factors have the highest cosine with `item`'s (never `item` itself,
/// nor items with all-zero factors).
pub fn cosine_neighbours(
    items: &[f32],
    norms: &[f32],
    f: usize,
    item: u32,
    n: usize,
) -> Vec<Scored> {
    let i = item as usize;
    if i >= norms.len() || norms[i] == 0.0 || f == 0 {
        return Vec::new();
    }
    let target = &items[i * f..(i + 1) * f];
    let mut scores = vec![0f32; norms.len()];
    rows_dot(target, items, &mut scores);
    for (score, &norm) in scores.iter_mut().zip(norms) {
        *score = if norm == 0.0 {
            f32::NEG_INFINITY
        } else {
            *score / (norm * norms[i])
        };
    }
    top_k(&scores, n, |j| j != item)
}

/// The cosine of the factor vectors of items `a` and `b`; `None` when either is unknown or
/// has a zero vector.
pub fn cosine(items: &[f32], norms: &[f32], f: usize, a: u32, b: u32) -> Option<f32> {
    let (a, b) = (a as usize, b as usize);
    let (&na, &nb) = (norms.get(a)?, norms.get(b)?);
    if na == 0.0 || nb == 0.0 || f == 0 {
        return None;
    }
    Some(dot(&items[a * f..(a + 1) * f], &items[b * f..(b + 1) * f]) / (na * nb))
}

/// A bounded min-heap keeping the `k` best items seen.
struct Best {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |s| s.score)
        }
    }

    fn push(&mut self, candidate: Scored) {
        if self.heap.len() == self.k {
            match self.heap.peek() {
                Some(worst) if candidate >= *worst => return,
                _ => {}
            }
        }
        self.heap.push(candidate);
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<Scored> {
        let mut out = self.heap.into_vec();
        out.sort_unstable();
        out
    }
}

/// The items ordered by decreasing factor norm, with their factors (and biases) gathered in
/// that order: what [`top_n_for_users`] scans. Build it once per model and batch.
///
/// By Cauchy–Schwarz `x·y + b ≤ ‖x‖·‖y‖ + b`, so once a user's `n`-th best score beats
/// `‖x‖·(largest norm left) + (largest bias left)`, no remaining item can enter their list:
/// with popularity-skewed data most of the catalogue (small-norm, long-tail items) is never
/// scored. The result is exactly that of scoring everything.
#[derive(Debug, Clone)]
pub struct RankedItems {
    f: usize,
    order: Vec<u32>,
    factors: Vec<f32>,
    bias: Option<Vec<f32>>,
    norms: Vec<f32>,
    /// `bias_bound[k]`: the largest bias among ranked items `k..` (0 without biases).
    bias_bound: Vec<f32>,
}

impl RankedItems {
    pub fn new(item_factors: &[f32], item_bias: Option<&[f32]>, f: usize) -> Self {
        let n_items = match (f, item_bias) {
            (0, Some(b)) => b.len(),
            (0, None) => 0,
            _ => item_factors.len() / f,
        };
        let norms = if f == 0 {
            vec![0.0; n_items]
        } else {
            row_norms(item_factors, f)
        };
        let mut order: Vec<u32> = (0..n_items as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            norms[b as usize]
                .total_cmp(&norms[a as usize])
                .then(a.cmp(&b))
        });
        let mut factors = Vec::with_capacity(n_items * f);
        for &i in &order {
            factors.extend_from_slice(&item_factors[i as usize * f..(i as usize + 1) * f]);
        }
        let bias: Option<Vec<f32>> =
            item_bias.map(|b| order.iter().map(|&i| b[i as usize]).collect());
        let mut bias_bound = vec![0f32; n_items + 1];
        if let Some(b) = &bias {
            bias_bound[n_items] = f32::NEG_INFINITY;
            for k in (0..n_items).rev() {
                bias_bound[k] = bias_bound[k + 1].max(b[k]);
            }
        }
        let norms = order.iter().map(|&i| norms[i as usize]).collect();
        RankedItems {
            f,
            order,
            factors,
            bias,
            norms,
            bias_bound,
        }
    }

    pub fn n_items(&self) -> usize {
        self.order.len()
    }

    /// An upper bound on any score of ranked items `k..` for a user of norm `user_norm`
    /// (slightly loosened to cover rounding in the computed dot products).
    #[inline]
    fn bound(&self, k: usize, user_norm: f32) -> f32 {
        if k >= self.order.len() {
            return f32::NEG_INFINITY;
        }
        let b = user_norm * self.norms[k] + self.bias_bound[k];
        b + b.abs() * 1e-5 + 1e-6
    }
}

/// A model's [`RankedItems`], built at its first use (the precomputing at swap time, before
/// any request). A clone starts empty: a cloned model's factors may change.
#[derive(Debug, Default)]
pub struct RankedCache(OnceLock<RankedItems>);

impl Clone for RankedCache {
    fn clone(&self) -> Self {
        RankedCache::default()
    }
}

impl RankedCache {
    pub fn get_or_build(&self, build: impl FnOnce() -> RankedItems) -> &RankedItems {
        self.0.get_or_init(build)
    }

    /// Whether it was built.
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.0.get().is_some()
    }
}

/// The top `n` items for one user's factors by `user·item (+ bias)`, best first, among the
/// items `allowed`: [`top_k`] over [`score_items`], without scoring the items that cannot
/// enter the list. Items are scored in blocks, in decreasing norm, until the `n`-th best
/// beats every remaining item's bound (see [`RankedItems`]); `allowed` is asked only of items
/// that would enter the list.
pub fn top_n_ranked(
    ranked: &RankedItems,
    user: &[f32],
    n: usize,
    allowed: &mut dyn FnMut(u32) -> bool,
) -> Vec<Scored> {
    top_n_ranked_counting(ranked, user, n, allowed).0
}

/// [`top_n_ranked`], and how many items it scored.
fn top_n_ranked_counting(
    ranked: &RankedItems,
    user: &[f32],
    n: usize,
    allowed: &mut dyn FnMut(u32) -> bool,
) -> (Vec<Scored>, usize) {
    let f = ranked.f;
    let n_items = ranked.n_items();
    if n == 0 || n_items == 0 {
        return (Vec::new(), 0);
    }
    let norm = dot(user, user).sqrt();
    let mut best = Best::new(n);
    let mut tile = [0f32; ITEM_BLOCK];
    let mut k0 = 0;
    while k0 < n_items && best.threshold() < ranked.bound(k0, norm) {
        let kb = ITEM_BLOCK.min(n_items - k0);
        let tile = &mut tile[..kb];
        if f == 0 {
            tile.fill(0.0);
        } else {
            rows_dot(user, &ranked.factors[k0 * f..(k0 + kb) * f], tile);
        }
        if let Some(bias) = &ranked.bias {
            for (score, b) in tile.iter_mut().zip(&bias[k0..k0 + kb]) {
                *score += b;
            }
        }
        let mut threshold = best.threshold();
        for (c, &score) in tile.iter().enumerate() {
            // NaN and −∞ are never selected (as in `top_k`); most items lose to the n-th best.
            if score < threshold || score.is_nan() || score == f32::NEG_INFINITY {
                continue;
            }
            let item = ranked.order[k0 + c];
            if !allowed(item) {
                continue;
            }
            best.push(Scored { item, score });
            threshold = best.threshold();
        }
        k0 += kb;
    }
    (best.into_sorted(), k0)
}

/// The top `n` items for each of `users` by `user·item (+ bias)`, best first, skipping the
/// sorted item list `exclude(user)` (typically the training row). Users are scored in blocks
/// against blocks of items ([`gemm_nt`]), items in decreasing norm, and a user leaves the
/// computation once no remaining item can enter their list (see [`RankedItems`]).
pub fn top_n_for_users<'a>(
    ranked: &RankedItems,
    user_factors: &[f32],
    users: &[u32],
    n: usize,
    exclude: impl Fn(u32) -> &'a [u32] + Sync,
) -> Vec<Vec<Scored>> {
    let f = ranked.f;
    let n_items = ranked.n_items();
    if n == 0 || n_items == 0 {
        return vec![Vec::new(); users.len()];
    }
    users
        .par_chunks(USER_BLOCK)
        .flat_map_iter(|block| {
            let m = block.len();
            let rows: Vec<&[f32]> = block
                .iter()
                .map(|&u| &user_factors[u as usize * f..(u as usize + 1) * f])
                .collect();
            let norms: Vec<f32> = rows.iter().map(|r| dot(r, r).sqrt()).collect();
            let excluded: Vec<&[u32]> = block.iter().map(|&u| exclude(u)).collect();
            let mut best: Vec<Best> = (0..m).map(|_| Best::new(n)).collect();
            // Users still being scored, and their factors gathered contiguously.
            let mut active: Vec<usize> = (0..m).collect();
            let mut gathered: Vec<f32> = Vec::with_capacity(m * f);
            let mut tile = vec![0f32; m * ITEM_BLOCK];
            let mut k0 = 0;
            while k0 < n_items && !active.is_empty() {
                let kb = ITEM_BLOCK.min(n_items - k0);
                let ma = active.len();
                gathered.clear();
                for &r in &active {
                    gathered.extend_from_slice(rows[r]);
                }
                let tile = &mut tile[..ma * kb];
                for row in tile.chunks_exact_mut(kb) {
                    match &ranked.bias {
                        Some(b) => row.copy_from_slice(&b[k0..k0 + kb]),
                        None => row.fill(0.0),
                    }
                }
                gemm_nt(
                    tile,
                    kb,
                    &gathered,
                    f,
                    &ranked.factors[k0 * f..],
                    f,
                    (ma, kb, f),
                    1.0,
                );
                for (a, &r) in active.iter().enumerate() {
                    let best = &mut best[r];
                    let seen = excluded[r];
                    let mut threshold = best.threshold();
                    for (c, &score) in tile[a * kb..(a + 1) * kb].iter().enumerate() {
                        // Most items lose to the current n-th best: one comparison each.
                        if score < threshold || score.is_nan() {
                            continue;
                        }
                        let item = ranked.order[k0 + c];
                        if seen.binary_search(&item).is_ok() {
                            continue;
                        }
                        best.push(Scored { item, score });
                        threshold = best.threshold();
                    }
                }
                k0 += kb;
                active.retain(|&r| best[r].threshold() < ranked.bound(k0, norms[r]));
            }
            best.into_iter().map(Best::into_sorted)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::Rng;

    #[test]
    fn batched_top_n_matches_one_user_at_a_time() {
        let (n_users, n_items, f) = (150, 2500, 7);
        let mut rng = Rng::new(3);
        let users: Vec<f32> = (0..n_users * f).map(|_| rng.normal() as f32).collect();
        // Norms falling with the item index, as popularity does, so most users stop early.
        let items: Vec<f32> = (0..n_items * f)
            .map(|k| rng.normal() as f32 / (1.0 + (k / f) as f32).sqrt())
            .collect();
        let bias: Vec<f32> = (0..n_items).map(|_| rng.f32()).collect();
        let seen: Vec<Vec<u32>> = (0..n_users)
            .map(|u| {
                (0..n_items as u32)
                    .filter(|i| (i + u as u32).is_multiple_of(5))
                    .collect()
            })
            .collect();
        let ids: Vec<u32> = (0..n_users as u32).rev().collect();
        let ranked = RankedItems::new(&items, Some(&bias), f);
        let batched = top_n_for_users(&ranked, &users, &ids, 10, |u| &seen[u as usize]);
        for (&u, got) in ids.iter().zip(&batched) {
            let mut scores = vec![0f32; n_items];
            score_items(
                &users[u as usize * f..(u as usize + 1) * f],
                &items,
                Some(&bias),
                &mut scores,
            );
            let expected = top_k(&scores, 10, |i| seen[u as usize].binary_search(&i).is_err());
            let got_items: Vec<u32> = got.iter().map(|s| s.item).collect();
            let expected_items: Vec<u32> = expected.iter().map(|s| s.item).collect();
            assert_eq!(got_items, expected_items);
        }
    }

    /// With small-integer factors every dot product is exact whatever the order of its sums,
    /// so the ranked scan must equal scoring everything exactly, ties (broken by item)
    /// included, with and without biases; on a popularity-skewed catalogue some scans stop
    /// before its end.
    #[test]
    fn one_user_ranked_scan_equals_scoring_everything() {
        let (n_items, f) = (3_000, 12);
        let mut rng = Rng::new(11);
        // Norms falling with the item index, as popularity does.
        let items: Vec<f32> = (0..n_items * f)
            .map(|k| {
                let scale = 1 + 40 / (1 + k / f / 20);
                (rng.index(2 * scale + 1) as i64 - scale as i64) as f32
            })
            .collect();
        let bias: Vec<f32> = (0..n_items).map(|_| rng.index(5) as f32).collect();
        let mut skipped = false;
        for with_bias in [false, true] {
            let bias = with_bias.then_some(bias.as_slice());
            let ranked = RankedItems::new(&items, bias, f);
            for trial in 0..40 {
                let user: Vec<f32> = (0..f).map(|_| rng.index(7) as f32 - 3.0).collect();
                let banned = |i: u32| (i as usize + trial).is_multiple_of(7);
                let mut scores = vec![0f32; n_items];
                score_items(&user, &items, bias, &mut scores);
                for n in [1, 10, 37] {
                    let want = top_k(&scores, n, |i| !banned(i));
                    let (got, scored) =
                        top_n_ranked_counting(&ranked, &user, n, &mut |i| !banned(i));
                    assert_eq!(got, want, "trial {trial}, n {n}, bias {with_bias}");
                    skipped |= scored < n_items;
                }
            }
        }
        assert!(skipped, "some lists settle before the catalogue's end");
        let empty = RankedItems::new(&items, None, f);
        assert!(top_n_ranked(&empty, &[1.0; 12], 0, &mut |_| true).is_empty());
    }

    #[test]
    fn cosine_neighbours_skip_self_and_zero_rows() {
        let items = [1.0, 0.0, 2.0, 0.1, 0.0, 0.0, -1.0, 0.0];
        let norms = row_norms(&items, 2);
        let near = cosine_neighbours(&items, &norms, 2, 0, 5);
        let order: Vec<u32> = near.iter().map(|s| s.item).collect();
        assert_eq!(order, vec![1, 3]);
        assert!((near[1].score + 1.0).abs() < 1e-6);
    }
}
