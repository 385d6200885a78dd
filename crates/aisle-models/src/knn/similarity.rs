//! Similarity computation for the neighbourhood models.
//!
//! Rating similarities follow Surprise's definitions (over the entries both rows rated) and
//! are computed one row at a time by sparse accumulation: for row `x`, every `y` it rated,
//! every other `x2` that rated `y`. That visits exactly the co-rated pairs, parallelises over
//! rows with rayon, and yields either a dense matrix row or a sparse top list. Implicit
//! similarities follow the `implicit` library's item-item models: weight the user × item
//! matrix (nothing, TF-IDF or BM25), take dot products of item columns by the same sparse
//! accumulation, and keep each item's top `k` neighbours.

use aisle_data::Interactions;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{NeighbourLists, SPARSE_NEIGHBOURS_PER_K, retain_best, retain_best_unordered};
use crate::error::Result;
use crate::recommender::FitContext;

/// Similarities between rows of a rating matrix, over co-rated entries only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RatingSimilarity {
    /// `Σ a·b / √(Σ a² · Σ b²)`.
    Cosine,
    /// `1 / (1 + Σ (a − b)² / n)`.
    Msd,
    /// Pearson correlation of the co-rated entries (means over the co-rated entries).
    Pearson,
    /// `Σ a·b / √(Σ a² · Σ b²)` over residuals from the baseline; the values fed in must
    /// already be those residuals.
    PearsonBaseline,
}

/// Similarities between item columns of an implicit-feedback matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImplicitSimilarity {
    Cosine,
    Jaccard,
    Tfidf,
    Bm25,
}

/// BM25's term-saturation (`k1`) and length-normalisation (`b`) constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    pub k1: f32,
    pub b: f32,
}

/// Sums over the co-rated entries of two rows `a` (the row being computed) and `b`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PairStats {
    pub n: u32,
    pub dot: f64,
    pub sq_a: f64,
    pub sq_b: f64,
    pub sum_a: f64,
    pub sum_b: f64,
}

impl PairStats {
    #[inline]
    pub fn add(&mut self, a: f64, b: f64) {
        self.n += 1;
        self.dot += a * b;
        self.sq_a += a * a;
        self.sq_b += b * b;
        self.sum_a += a;
        self.sum_b += b;
    }
}

/// Below this a variance or norm product counts as zero, so that the similarity is 0 rather
/// than a ratio of rounding errors (ratings are small numbers: real products are far larger).
const DEGENERATE: f64 = 1e-12;

impl RatingSimilarity {
    /// The similarity from the pair's sums, before shrinkage. Pairs without co-rated entries,
    /// or whose formula divides by zero, have similarity 0 (Surprise's convention), never NaN.
    pub fn from_stats(self, s: &PairStats) -> f64 {
        if s.n == 0 {
            return 0.0;
        }
        let n = f64::from(s.n);
        let sim = match self {
            RatingSimilarity::Cosine | RatingSimilarity::PearsonBaseline => {
                let norms = s.sq_a * s.sq_b;
                if norms > DEGENERATE {
                    s.dot / norms.sqrt()
                } else {
                    0.0
                }
            }
            RatingSimilarity::Msd => {
                let squared_differences = (s.sq_a + s.sq_b - 2.0 * s.dot).max(0.0);
                1.0 / (1.0 + squared_differences / n)
            }
            RatingSimilarity::Pearson => {
                let covariance = n * s.dot - s.sum_a * s.sum_b;
                let var_a = n * s.sq_a - s.sum_a * s.sum_a;
                let var_b = n * s.sq_b - s.sum_b * s.sum_b;
                if var_a > DEGENERATE && var_b > DEGENERATE {
                    covariance / (var_a * var_b).sqrt()
                } else {
                    0.0
                }
            }
        };
        sim.clamp(-1.0, 1.0)
    }
}

/// Surprise's shrinkage (its `pearson_baseline` formula, here available for every
/// similarity): `sim · (n − 1) / (n − 1 + λ)` with `n` the number of co-rated entries, so a
/// similarity resting on few common ratings is pulled towards 0. `λ = 0` leaves it unchanged.
#[inline]
pub fn shrink(similarity: f64, support: u32, shrinkage: f64) -> f64 {
    if shrinkage <= 0.0 {
        return similarity;
    }
    let support = f64::from(support.saturating_sub(1));
    similarity * support / (support + shrinkage)
}

/// Per-thread scratch for sparse accumulation: a dense slot per column plus the list of
/// slots touched, so that reading and resetting cost O(touched), not O(columns).
#[derive(Debug)]
pub struct Accumulator<T> {
    slots: Vec<T>,
    touched: Vec<u32>,
    marked: Vec<bool>,
}

impl<T: Copy + Default> Accumulator<T> {
    pub fn new(columns: usize) -> Self {
        Accumulator {
            slots: vec![T::default(); columns],
            touched: Vec::new(),
            marked: vec![false; columns],
        }
    }

    #[inline]
    pub fn slot(&mut self, column: u32) -> &mut T {
        let c = column as usize;
        if !self.marked[c] {
            self.marked[c] = true;
            self.touched.push(column);
        }
        &mut self.slots[c]
    }

    /// Hands every touched slot to `f` (in order of first touch) and resets the accumulator.
    pub fn drain(&mut self, mut f: impl FnMut(u32, &T)) {
        for &column in &self.touched {
            let c = column as usize;
            f(column, &self.slots[c]);
            self.slots[c] = T::default();
            self.marked[c] = false;
        }
        self.touched.clear();
    }
}

/// The similarities of one row against every row sharing an entry with it.
///
/// `row` yields `(y, value)` for the row's entries; `by_y` holds for each `y` the rows that
/// rated it, and `value_of(x2, y, rating)` turns their ratings into the values compared
/// (the rating itself, or its residual from the baseline). `skip` (the row itself) is left
/// out. Writes `(x2, similarity)` pairs, shrinkage applied, into `out`.
#[allow(clippy::too_many_arguments)]
pub fn rating_similarity_row(
    row: impl Iterator<Item = (u32, f64)>,
    by_y: &Interactions,
    value_of: &(impl Fn(u32, u32, f32) -> f64 + ?Sized),
    similarity: RatingSimilarity,
    shrinkage: f32,
    skip: Option<u32>,
    accumulator: &mut Accumulator<PairStats>,
    out: &mut Vec<(u32, f32)>,
) {
    for (y, a) in row {
        if y as usize >= by_y.n_users() {
            continue;
        }
        let raters = by_y.row(y);
        for (x2, rating) in raters.iter() {
            accumulator.slot(x2).add(a, value_of(x2, y, rating));
        }
    }
    out.clear();
    let shrinkage = f64::from(shrinkage);
    accumulator.drain(|x2, stats| {
        if Some(x2) != skip {
            let sim = shrink(similarity.from_stats(stats), stats.n, shrinkage);
            out.push((x2, sim as f32));
        }
    });
}

/// Where the rating models keep pairwise similarities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SimilarityStore {
    /// The full `n × n` matrix, row-major (diagonal 0).
    Dense { n: usize, values: Vec<f32> },
    /// Each row's best positive neighbours, sorted by neighbour index (for binary search).
    Sparse(NeighbourLists),
}

impl SimilarityStore {
    /// Similarity of rows `a` and `b`; 0 when unknown or not kept.
    #[inline]
    pub fn get(&self, a: u32, b: u32) -> f32 {
        match self {
            SimilarityStore::Dense { n, values } => {
                let (a, b) = (a as usize, b as usize);
                if a < *n && b < *n {
                    values[a * n + b]
                } else {
                    0.0
                }
            }
            SimilarityStore::Sparse(lists) => {
                let (indices, similarities) = lists.row(a);
                indices
                    .binary_search(&b)
                    .map_or(0.0, |position| similarities[position])
            }
        }
    }
}

/// One row's `(neighbour, similarity)` pairs.
type RowNeighbours = Vec<(u32, f32)>;

/// Rows per parallel block between two progress reports (and cancellation checks); larger
/// for big shapes so that per-thread scratch is not re-allocated too often.
fn block_rows(n: usize) -> usize {
    (n / 64).max(256)
}

/// The positive entries of `candidates`, best `k` first.
fn best_positive(candidates: &[(u32, f32)], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = candidates.iter().copied().filter(|c| c.1 > 0.0).collect();
    retain_best(&mut best, k);
    best
}

/// All pairwise rating similarities between the rows of `by_x` (its rows are the entities
/// compared, `by_y` its transpose), plus each row's `k` best positive neighbours.
///
/// Up to `dense_limit` rows the full matrix is kept; above it each row keeps its
/// [`SPARSE_NEIGHBOURS_PER_K`]` × k` best positive neighbours. `value_of` as in
/// [`rating_similarity_row`].
#[allow(clippy::too_many_arguments)]
pub fn rating_similarities(
    by_x: &Interactions,
    by_y: &Interactions,
    value_of: &(impl Fn(u32, u32, f32) -> f64 + Sync + ?Sized),
    similarity: RatingSimilarity,
    shrinkage: f32,
    k: usize,
    dense_limit: usize,
    ctx: &FitContext<'_>,
) -> Result<(SimilarityStore, NeighbourLists)> {
    let n = by_x.n_users();
    let dense = n <= dense_limit;
    let kept_per_row = SPARSE_NEIGHBOURS_PER_K.saturating_mul(k).max(k);
    let mut matrix = if dense { vec![0f32; n * n] } else { Vec::new() };
    let mut ranked: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
    let mut kept: Vec<Vec<(u32, f32)>> = Vec::new();
    let scratch = || (Accumulator::<PairStats>::new(n), Vec::<(u32, f32)>::new());
    let compute = |(accumulator, row_out): &mut (Accumulator<PairStats>, Vec<(u32, f32)>),
                   x: u32| {
        let row = by_x.row(x);
        let values = row.iter().map(|(y, r)| (y, value_of(x, y, r)));
        rating_similarity_row(
            values,
            by_y,
            value_of,
            similarity,
            shrinkage,
            Some(x),
            accumulator,
            row_out,
        );
    };
    let block = block_rows(n);
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        if dense {
            let rows: Vec<Vec<(u32, f32)>> = matrix[start * n..end * n]
                .par_chunks_mut(n)
                .enumerate()
                .map_init(scratch, |scratch, (offset, out)| {
                    compute(scratch, (start + offset) as u32);
                    for &(x2, sim) in &scratch.1 {
                        out[x2 as usize] = sim;
                    }
                    best_positive(&scratch.1, k)
                })
                .collect();
            ranked.extend(rows);
        } else {
            let rows: Vec<(RowNeighbours, RowNeighbours)> = (start..end)
                .into_par_iter()
                .map_init(scratch, |scratch, x| {
                    compute(scratch, x as u32);
                    let mut stored: Vec<(u32, f32)> =
                        scratch.1.iter().copied().filter(|c| c.1 > 0.0).collect();
                    retain_best_unordered(&mut stored, kept_per_row, |&c| c);
                    stored.sort_unstable_by_key(|c| c.0);
                    (best_positive(&scratch.1, k), stored)
                })
                .collect();
            for (best, stored) in rows {
                ranked.push(best);
                kept.push(stored);
            }
        }
        ctx.step(end as u64, n as u64)?;
        start = end;
    }
    let store = if dense {
        SimilarityStore::Dense { n, values: matrix }
    } else {
        SimilarityStore::Sparse(NeighbourLists::from_rows(kept))
    };
    Ok((store, NeighbourLists::from_rows(ranked)))
}

/// The user × item matrix re-weighted for an implicit similarity, plus, for `jaccard`, the
/// number of users of each item.
///
/// With `items × users` seen as documents × terms (as `implicit` does), a user's IDF is
/// `ln(n_items) − ln(1 + |items of the user|)`: heavy users say less about each item.
/// `cosine` and `tfidf` then scale each item column to unit length, so that dot products
/// are cosines; `bm25` keeps raw dot products, as in `implicit`.
fn weight_for(train: &Interactions, similarity: ImplicitSimilarity, bm25: Bm25) -> Interactions {
    let n_items = train.n_items() as f64;
    let user_idf = |user: u32| n_items.ln() - (1.0 + train.row_len(user) as f64).ln();
    let mut weights: Vec<f32> = Vec::with_capacity(train.nnz());
    match similarity {
        ImplicitSimilarity::Jaccard => weights.resize(train.nnz(), 1.0),
        ImplicitSimilarity::Cosine => weights.extend_from_slice(train.weights()),
        ImplicitSimilarity::Tfidf => {
            for u in 0..train.n_users() as u32 {
                let idf = user_idf(u);
                let row = train.row(u);
                weights.extend(
                    row.weights
                        .iter()
                        .map(|&w| (f64::from(w).max(0.0).sqrt() * idf) as f32),
                );
            }
        }
        ImplicitSimilarity::Bm25 => {
            let mut item_sums = vec![0f64; train.n_items()];
            for (&i, &w) in train.indices().iter().zip(train.weights()) {
                item_sums[i as usize] += f64::from(w);
            }
            let average = item_sums.iter().sum::<f64>() / n_items.max(1.0);
            let (k1, b) = (f64::from(bm25.k1), f64::from(bm25.b));
            for u in 0..train.n_users() as u32 {
                let idf = user_idf(u);
                let row = train.row(u);
                weights.extend(row.iter().map(|(i, w)| {
                    let w = f64::from(w);
                    let length_norm = if average > 0.0 {
                        (1.0 - b) + b * item_sums[i as usize] / average
                    } else {
                        1.0
                    };
                    let denominator = k1 * length_norm + w;
                    let tf = if denominator > 0.0 {
                        w * (k1 + 1.0) / denominator
                    } else {
                        0.0
                    };
                    (tf * idf) as f32
                }));
            }
        }
    }
    if matches!(
        similarity,
        ImplicitSimilarity::Cosine | ImplicitSimilarity::Tfidf
    ) {
        let mut norms = vec![0f64; train.n_items()];
        for (&i, &w) in train.indices().iter().zip(&weights) {
            norms[i as usize] += f64::from(w) * f64::from(w);
        }
        for (&i, w) in train.indices().iter().zip(weights.iter_mut()) {
            let norm = norms[i as usize].sqrt();
            *w = if norm > 0.0 {
                (f64::from(*w) / norm) as f32
            } else {
                0.0
            };
        }
    }
    Interactions::from_csr(
        train.n_users(),
        train.n_items(),
        train.indptr().to_vec(),
        train.indices().to_vec(),
        weights,
        train.timestamps().to_vec(),
    )
    .expect("same structure as a valid matrix")
}

/// Co-occurrence count and weighted dot product of two item columns.
#[derive(Debug, Clone, Copy, Default)]
struct CoOccurrence {
    n: u32,
    dot: f64,
}

/// Each item's `k` most similar other items (positive similarity only, best first) under an
/// implicit similarity with shrinkage ([`shrink`] on the co-occurrence count).
pub fn implicit_item_neighbours(
    train: &Interactions,
    similarity: ImplicitSimilarity,
    k: usize,
    shrinkage: f32,
    bm25: Bm25,
    ctx: &FitContext<'_>,
) -> Result<NeighbourLists> {
    let weighted = weight_for(train, similarity, bm25);
    let by_item = weighted.transpose();
    let item_counts = train.column_counts();
    let n = train.n_items();
    let shrinkage = f64::from(shrinkage);
    let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
    let block = block_rows(n);
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        let block_rows: Vec<Vec<(u32, f32)>> = (start..end)
            .into_par_iter()
            .map_init(
                || Accumulator::<CoOccurrence>::new(n),
                |accumulator, i| {
                    for (u, a) in by_item.row(i as u32).iter() {
                        for (j, b) in weighted.row(u).iter() {
                            let slot = accumulator.slot(j);
                            slot.n += 1;
                            slot.dot += f64::from(a) * f64::from(b);
                        }
                    }
                    let mut candidates = Vec::new();
                    accumulator.drain(|j, pair| {
                        if j as usize == i {
                            return;
                        }
                        let raw = match similarity {
                            ImplicitSimilarity::Jaccard => {
                                let union = f64::from(item_counts[i])
                                    + f64::from(item_counts[j as usize])
                                    - f64::from(pair.n);
                                if union > 0.0 {
                                    f64::from(pair.n) / union
                                } else {
                                    0.0
                                }
                            }
                            _ => pair.dot,
                        };
                        let sim = shrink(raw, pair.n, shrinkage) as f32;
                        if sim > 0.0 && sim.is_finite() {
                            candidates.push((j, sim));
                        }
                    });
                    retain_best(&mut candidates, k);
                    candidates
                },
            )
            .collect();
        rows.extend(block_rows);
        ctx.step(end as u64, n as u64)?;
        start = end;
    }
    Ok(NeighbourLists::from_rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy};

    /// The 3 × 4 rating matrix of the hand computations (0 = missing):
    /// ```text
    ///        y0 y1 y2 y3
    ///   x0 [ 5  3  0  1 ]
    ///   x1 [ 4  0  2  1 ]
    ///   x2 [ 1  1  5  4 ]
    /// ```
    fn three_by_four() -> Interactions {
        let dense = [
            [5.0, 3.0, 0.0, 1.0],
            [4.0, 0.0, 2.0, 1.0],
            [1.0, 1.0, 5.0, 4.0],
        ];
        let mut cells = Vec::new();
        for (x, row) in dense.iter().enumerate() {
            for (y, &r) in row.iter().enumerate() {
                if r > 0.0 {
                    cells.push(Cell {
                        user: x as u32,
                        item: y as u32,
                        weight: r,
                        timestamp: 0,
                    });
                }
            }
        }
        Interactions::from_cells(3, 4, cells, DuplicatePolicy::Last)
    }

    fn similarity_matrix(m: &Interactions, sim: RatingSimilarity, shrinkage: f32) -> Vec<f32> {
        let by_y = m.transpose();
        let raw = |_: u32, _: u32, r: f32| f64::from(r);
        let (store, _) = rating_similarities(
            m,
            &by_y,
            &raw,
            sim,
            shrinkage,
            10,
            100,
            &FitContext::default(),
        )
        .unwrap();
        match store {
            SimilarityStore::Dense { values, .. } => values,
            SimilarityStore::Sparse(_) => unreachable!("3 rows are stored densely"),
        }
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-5
    }

    #[test]
    fn cosine_on_co_rated_entries() {
        let s = similarity_matrix(&three_by_four(), RatingSimilarity::Cosine, 0.0);
        // x0·x1 over {y0, y3}: (20 + 1) / √(26 · 17).
        assert!(close(s[1], 21.0 / (26f64 * 17.0).sqrt()));
        // x0·x2 over {y0, y1, y3}: (5 + 3 + 4) / √(35 · 18).
        assert!(close(s[2], 12.0 / (35f64 * 18.0).sqrt()));
        // x1·x2 over {y0, y2, y3}: (4 + 10 + 4) / √(21 · 42).
        assert!(close(s[5], 18.0 / (21f64 * 42.0).sqrt()));
        assert_eq!(s[1], s[3], "symmetric");
        assert_eq!(s[0], 0.0, "a row is not its own neighbour");
    }

    #[test]
    fn msd_on_co_rated_entries() {
        let s = similarity_matrix(&three_by_four(), RatingSimilarity::Msd, 0.0);
        // x0, x1: differences 1, 0 over 2 entries → msd 0.5.
        assert!(close(s[1], 1.0 / 1.5));
        // x0, x2: differences 4, 2, 3 → (16 + 4 + 9) / 3.
        assert!(close(s[2], 1.0 / (1.0 + 29.0 / 3.0)));
        // x1, x2: differences 3, 3, 3 → 9.
        assert!(close(s[5], 0.1));
    }

    #[test]
    fn pearson_on_co_rated_entries() {
        let s = similarity_matrix(&three_by_four(), RatingSimilarity::Pearson, 0.0);
        // x0, x1 over {y0, y3}: (5, 1) vs (4, 1): both pairs go the same way → 1.
        assert!(close(s[1], 1.0));
        // x0, x2 over {y0, y1, y3}: (5, 3, 1) mean 3 vs (1, 1, 4) mean 2:
        // cov = 2·(−1) + 0·(−1) + (−2)·2 = −6; var 8 and 6 → −6 / √48.
        assert!(close(s[2], -6.0 / 48f64.sqrt()));
        // x1, x2 over {y0, y2, y3}: (4, 2, 1) mean 7/3 vs (1, 5, 4) mean 10/3.
        let a = [4.0 - 7.0 / 3.0, 2.0 - 7.0 / 3.0, 1.0 - 7.0 / 3.0];
        let b = [1.0 - 10.0 / 3.0, 5.0 - 10.0 / 3.0, 4.0 - 10.0 / 3.0];
        let cov: f64 = a.iter().zip(&b).map(|(p, q)| p * q).sum();
        let var_a: f64 = a.iter().map(|p| p * p).sum();
        let var_b: f64 = b.iter().map(|q| q * q).sum();
        assert!(close(s[5], cov / (var_a * var_b).sqrt()));
    }

    #[test]
    fn pearson_baseline_correlates_residuals_and_shrinks() {
        let m = three_by_four();
        let by_y = m.transpose();
        // A hand-picked baseline: μ = 3, b_x = (0.5, −0.5, 0), b_y = (1, −1, 0.5, −0.5).
        let bx = [0.5, -0.5, 0.0];
        let by = [1.0, -1.0, 0.5, -0.5];
        let residual =
            |x: u32, y: u32, r: f32| f64::from(r) - 3.0 - bx[x as usize] - by[y as usize];
        let (store, _) = rating_similarities(
            &m,
            &by_y,
            &residual,
            RatingSimilarity::PearsonBaseline,
            2.0,
            10,
            100,
            &FitContext::default(),
        )
        .unwrap();
        // x0 residuals on y0, y3: 5−4.5 = 0.5, 1−3 = −2; x1: 4−3.5 = 0.5, 1−2 = −1.
        let raw = (0.25 + 2.0) / ((0.25f64 + 4.0) * (0.25 + 1.0)).sqrt();
        // Shrinkage with n = 2 co-rated entries and λ = 2: · (2 − 1) / (2 − 1 + 2).
        assert!(close(store.get(0, 1), raw / 3.0));
    }

    #[test]
    fn shrinkage_formula() {
        assert_eq!(shrink(0.8, 11, 0.0), 0.8);
        assert!((shrink(0.8, 11, 10.0) - 0.8 * 10.0 / 20.0).abs() < 1e-12);
        assert_eq!(
            shrink(0.8, 1, 100.0),
            0.0,
            "one common rating carries no weight"
        );
        assert_eq!(shrink(0.5, 0, 1.0), 0.0);
    }

    #[test]
    fn sparse_store_keeps_the_best_neighbours_of_the_dense_one() {
        let m = three_by_four();
        let by_y = m.transpose();
        let raw = |_: u32, _: u32, r: f32| f64::from(r);
        let ctx = FitContext::default();
        let sim = RatingSimilarity::Cosine;
        let (dense, ranked_dense) =
            rating_similarities(&m, &by_y, &raw, sim, 0.0, 1, 100, &ctx).unwrap();
        let (sparse, ranked_sparse) =
            rating_similarities(&m, &by_y, &raw, sim, 0.0, 1, 0, &ctx).unwrap();
        assert!(matches!(sparse, SimilarityStore::Sparse(_)));
        assert_eq!(ranked_dense, ranked_sparse);
        // With k = 1 the sparse store keeps 10 neighbours: every positive pair here.
        for a in 0..3 {
            for b in 0..3 {
                assert_eq!(dense.get(a, b), sparse.get(a, b));
            }
        }
        // Row 0's best neighbour is x1 (cosine 0.999 against 0.478).
        assert_eq!(ranked_dense.row(0).0, &[1]);
    }

    /// Implicit 3 users × 4 items, all weights 1:
    /// ```text
    ///        i0 i1 i2 i3
    ///   u0 [ 1  1  0  1 ]
    ///   u1 [ 1  0  1  1 ]
    ///   u2 [ 0  1  1  0 ]
    /// ```
    fn implicit_three_by_four() -> Interactions {
        let rows: [&[u32]; 3] = [&[0, 1, 3], &[0, 2, 3], &[1, 2]];
        let cells = rows
            .iter()
            .enumerate()
            .flat_map(|(u, items)| {
                items.iter().map(move |&i| Cell {
                    user: u as u32,
                    item: i,
                    weight: 1.0,
                    timestamp: 0,
                })
            })
            .collect();
        Interactions::from_cells(3, 4, cells, DuplicatePolicy::Sum)
    }

    fn implicit_sim(m: &Interactions, sim: ImplicitSimilarity, shrinkage: f32) -> NeighbourLists {
        let bm25 = Bm25 { k1: 1.2, b: 0.75 };
        implicit_item_neighbours(m, sim, 10, shrinkage, bm25, &FitContext::default()).unwrap()
    }

    fn lookup(lists: &NeighbourLists, a: u32, b: u32) -> f32 {
        lists
            .iter_row(a)
            .find(|&(j, _)| j == b)
            .map_or(0.0, |(_, s)| s)
    }

    #[test]
    fn implicit_cosine_and_jaccard() {
        let m = implicit_three_by_four();
        let cos = implicit_sim(&m, ImplicitSimilarity::Cosine, 0.0);
        // i0 = {u0, u1}, i3 = {u0, u1}: identical → 1; i0, i1 = {u0, u2}: 1 / 2.
        assert!(close(lookup(&cos, 0, 3), 1.0));
        assert!(close(lookup(&cos, 0, 1), 0.5));
        assert_eq!(cos.row(0).0[0], 3, "best first");
        let jac = implicit_sim(&m, ImplicitSimilarity::Jaccard, 0.0);
        // i0, i1: |{u0}| / |{u0, u1, u2}| = 1/3.
        assert!(close(lookup(&jac, 0, 1), 1.0 / 3.0));
        assert!(close(lookup(&jac, 1, 2), 1.0 / 3.0));
        // Shrinkage λ = 1 with n = 2 co-occurrences: · 1 / 2; single co-occurrences vanish.
        let shrunk = implicit_sim(&m, ImplicitSimilarity::Cosine, 1.0);
        assert!(close(lookup(&shrunk, 0, 3), 0.5));
        assert_eq!(lookup(&shrunk, 0, 1), 0.0);
        // similar-item lists never contain the item itself.
        assert!((0..4).all(|i| !cos.row(i).0.contains(&i)));
    }

    #[test]
    fn implicit_tfidf_and_bm25_weighting() {
        let m = implicit_three_by_four();
        // IDF per user: ln 4 − ln(1 + 3) = 0 for u0, u1 (3 items each); ln 4 − ln 3 for u2.
        // TF-IDF columns then normalised: i0 has only zero weights → no neighbours;
        // i1 = (0, 0, w) and i2 = (0, 0, w) → cosine 1.
        let tfidf = implicit_sim(&m, ImplicitSimilarity::Tfidf, 0.0);
        assert!(tfidf.row(0).0.is_empty());
        assert!(close(lookup(&tfidf, 1, 2), 1.0));
        // BM25: item sums (2, 2, 2, 2), so length_norm = 1 and tf = 2.2 / 2.2 = 1; the dot
        // product of i1 and i2 is idf(u2)².
        let bm25 = implicit_sim(&m, ImplicitSimilarity::Bm25, 0.0);
        let idf = 4f64.ln() - 3f64.ln();
        assert!(close(lookup(&bm25, 1, 2), idf * idf));
    }
}
