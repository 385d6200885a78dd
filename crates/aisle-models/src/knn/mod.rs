//! Neighbourhood models: `user-knn` and `item-knn`.
//!
//! Both predict ratings the way Surprise's `KNNBasic` / `KNNWithMeans` / `KNNBaseline` do
//! (the shared machinery is in [`neighbourhood`]), with the similarity matrix computed once,
//! in parallel, at training time instead of neighbour lists sorted per prediction. `item-knn`
//! also serves implicit feedback (ranking and "similar items") like the `implicit` library's
//! item-item recommenders. Similarities are in [`similarity`].

pub mod item_knn;
pub mod neighbourhood;
pub mod similarity;
pub mod user_knn;

use serde::{Deserialize, Serialize};

pub use item_knn::{ItemKnn, ItemKnnModel, ItemKnnParams};
pub use user_knn::{UserKnn, UserKnnModel, UserKnnParams};

/// How two users (or two items) are compared.
///
/// Rating similarities (computed over the co-rated entries only, as in Surprise):
/// `cosine`, `msd` (1 / (1 + mean squared difference)), `pearson` (correlation over the
/// co-rated entries) and `pearson_baseline` (correlation of the residuals r − μ − b_u − b_i).
/// Implicit similarities (over whole columns, a missing entry being 0, as in `implicit`):
/// `cosine`, `jaccard` (|A ∩ B| / |A ∪ B|), `tfidf` (cosine after TF-IDF weighting with users
/// as terms) and `bm25` (dot product after BM25 weighting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    Cosine,
    Msd,
    Pearson,
    PearsonBaseline,
    Jaccard,
    Tfidf,
    Bm25,
}

impl Similarity {
    /// The similarity as a rating similarity, if it is one.
    pub(crate) fn for_ratings(self) -> Option<similarity::RatingSimilarity> {
        use similarity::RatingSimilarity as R;
        match self {
            Similarity::Cosine => Some(R::Cosine),
            Similarity::Msd => Some(R::Msd),
            Similarity::Pearson => Some(R::Pearson),
            Similarity::PearsonBaseline => Some(R::PearsonBaseline),
            Similarity::Jaccard | Similarity::Tfidf | Similarity::Bm25 => None,
        }
    }

    /// The similarity as an implicit-feedback similarity, if it is one.
    pub(crate) fn for_implicit(self) -> Option<similarity::ImplicitSimilarity> {
        use similarity::ImplicitSimilarity as I;
        match self {
            Similarity::Cosine => Some(I::Cosine),
            Similarity::Jaccard => Some(I::Jaccard),
            Similarity::Tfidf => Some(I::Tfidf),
            Similarity::Bm25 => Some(I::Bm25),
            Similarity::Msd | Similarity::Pearson | Similarity::PearsonBaseline => None,
        }
    }

    /// The serde name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Similarity::Cosine => "cosine",
            Similarity::Msd => "msd",
            Similarity::Pearson => "pearson",
            Similarity::PearsonBaseline => "pearson_baseline",
            Similarity::Jaccard => "jaccard",
            Similarity::Tfidf => "tfidf",
            Similarity::Bm25 => "bm25",
        }
    }
}

/// How a rating is estimated from the neighbours' ratings (Surprise's three kNN models).
/// `N` is the set of at most `k` most similar neighbours with a positive similarity that
/// rated the target; `s` their similarities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// `Σ s·r / Σ s` (KNNBasic). Fewer than `min_k` neighbours: the global mean.
    Basic,
    /// `μ_x + Σ s·(r − μ_n) / Σ s` with μ the entity's mean rating (KNNWithMeans). Fewer than
    /// `min_k` neighbours: μ_x.
    Means,
    /// `b_ui + Σ s·(r − b_n) / Σ s` with b the baseline μ + b_u + b_i (KNNBaseline). Fewer
    /// than `min_k` neighbours: b_ui.
    Baseline,
}

/// Which kind of training data `item-knn` models: ratings (predicted like Surprise's kNN
/// models) or implicit confidences (ranked like the `implicit` library's item-item models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    Rating,
    Implicit,
}

/// Rows (users or items) up to which a rating model keeps the full dense similarity matrix
/// (n² `f32`, at most 1 GiB); above it each row keeps only its best neighbours.
pub const DENSE_SIMILARITY_LIMIT: usize = 16_384;

/// With a sparse similarity store, each row keeps this many times `k` neighbours, so that
/// among the raters of an item (or the items of a user) `k` neighbours are usually found.
pub const SPARSE_NEIGHBOURS_PER_K: usize = 10;

/// Per-row neighbour lists: a CSR matrix of `(neighbour, similarity)`, in each row sorted
/// by decreasing similarity (ties: smaller index first) unless documented otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NeighbourLists {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    similarities: Vec<f32>,
}

impl NeighbourLists {
    pub(crate) fn from_rows(rows: Vec<Vec<(u32, f32)>>) -> Self {
        let nnz = rows.iter().map(Vec::len).sum();
        let mut lists = NeighbourLists {
            indptr: Vec::with_capacity(rows.len() + 1),
            indices: Vec::with_capacity(nnz),
            similarities: Vec::with_capacity(nnz),
        };
        lists.indptr.push(0);
        for row in rows {
            for (neighbour, similarity) in row {
                lists.indices.push(neighbour);
                lists.similarities.push(similarity);
            }
            lists.indptr.push(lists.indices.len());
        }
        lists
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Neighbours and similarities of `row`; empty for a row outside the matrix.
    pub fn row(&self, row: u32) -> (&[u32], &[f32]) {
        let row = row as usize;
        if row >= self.len() {
            return (&[], &[]);
        }
        let (lo, hi) = (self.indptr[row], self.indptr[row + 1]);
        (&self.indices[lo..hi], &self.similarities[lo..hi])
    }

    /// `(neighbour, similarity)` pairs of `row`.
    pub fn iter_row(&self, row: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (indices, similarities) = self.row(row);
        indices.iter().copied().zip(similarities.iter().copied())
    }

    /// The first `n` neighbours of `row` (its best, rows being sorted).
    pub fn top(&self, row: u32, n: usize) -> Vec<crate::topk::Scored> {
        self.iter_row(row)
            .take(n)
            .map(|(item, score)| crate::topk::Scored { item, score })
            .collect()
    }

    /// The similarity `row` keeps for `other`; `None` when `other` is not among its neighbours
    /// (or `row` is outside the lists).
    pub fn similarity(&self, row: u32, other: u32) -> Option<f32> {
        if row as usize >= self.len() {
            return None;
        }
        self.iter_row(row)
            .find_map(|(item, similarity)| (item == other).then_some(similarity))
    }

    /// Adds, for every row of `history` (item, weight), `weight ×` its neighbours'
    /// similarities into `scores` (which is not cleared).
    pub fn accumulate(&self, history: impl Iterator<Item = (u32, f32)>, scores: &mut [f32]) {
        for (j, weight) in history {
            for (i, similarity) in self.iter_row(j) {
                if let Some(score) = scores.get_mut(i as usize) {
                    *score += similarity * weight;
                }
            }
        }
    }
}

/// Orders candidates best first: larger similarity, then smaller index.
#[inline]
fn best_first(a: (u32, f32), b: (u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Keeps the `k` best `(index, similarity)` entries of `candidates` (in no particular order)
/// by partial selection: O(n) instead of a sort.
pub(crate) fn retain_best_unordered<T>(
    candidates: &mut Vec<T>,
    k: usize,
    key: impl Fn(&T) -> (u32, f32),
) {
    if candidates.len() > k {
        if k == 0 {
            candidates.clear();
            return;
        }
        candidates.select_nth_unstable_by(k - 1, |a, b| best_first(key(a), key(b)));
        candidates.truncate(k);
    }
}

/// Keeps the `k` best `(index, similarity)` entries, best first.
pub(crate) fn retain_best(candidates: &mut Vec<(u32, f32)>, k: usize) {
    retain_best_unordered(candidates, k, |&c| c);
    candidates.sort_unstable_by(|&a, &b| best_first(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn partial_selection_matches_brute_force(
            sims in proptest::collection::vec(-1f32..1.0, 0..300),
            k in 0usize..50,
        ) {
            // Quantised similarities make ties common, so the tie rule is exercised too
            // (`+ 0.0` turns −0 into 0, which the brute force's `partial_cmp` treats alike).
            let mut candidates: Vec<(u32, f32)> = sims
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as u32, (s * 8.0).round() / 8.0 + 0.0))
                .collect();
            let mut brute = candidates.clone();
            brute.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
            brute.truncate(k);
            retain_best(&mut candidates, k);
            prop_assert_eq!(candidates, brute);
        }
    }

    #[test]
    fn neighbour_lists_rows() {
        let lists = NeighbourLists::from_rows(vec![vec![(2, 0.5), (1, 0.25)], vec![]]);
        assert_eq!(lists.len(), 2);
        assert_eq!(lists.row(0), (&[2u32, 1][..], &[0.5f32, 0.25][..]));
        assert!(lists.row(1).0.is_empty());
        assert!(lists.row(7).0.is_empty());
    }
}
