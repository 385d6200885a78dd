//! Rating prediction from neighbours, shared by `user-knn` (neighbours are users) and
//! `item-knn` in rating mode (neighbours are items), with Surprise's semantics.
//!
//! Written for either orientation: `x` is the kind of entity compared (users for user-based,
//! items for item-based) and `y` the other kind. To predict r(x, y), the candidates are the
//! `x2` that rated `y`; the at most `k` most similar ones with a positive similarity are
//! combined as [`Prediction`] says; with fewer than `min_k` the prediction falls back to the
//! mode's base value. The similarity matrix is precomputed at training time (in parallel), so
//! a prediction costs one pass over `y`'s raters plus a partial selection.

use aisle_data::{Interactions, Row};
use serde::{Deserialize, Serialize};

use super::similarity::{
    Accumulator, PairStats, RatingSimilarity, SimilarityStore, rating_similarities,
    rating_similarity_row,
};
use super::{NeighbourLists, Prediction, Similarity, retain_best, retain_best_unordered};
use crate::baseline::{BaselineParams, Baselines};
use crate::error::Result;
use crate::recommender::FitContext;

/// Surprise's defaults: shrinkage only for `pearson_baseline`.
pub(crate) fn default_rating_shrinkage(similarity: Similarity) -> f32 {
    if similarity == Similarity::PearsonBaseline {
        100.0
    } else {
        0.0
    }
}

/// Which entities are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Orientation {
    /// Neighbours are users who rated the item (x = user, y = item).
    UserBased,
    /// Neighbours are items the user rated (x = item, y = user).
    ItemBased,
}

/// Validated settings of a rating neighbourhood model.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingKnnConfig {
    pub similarity: RatingSimilarity,
    pub shrinkage: f32,
    pub k: usize,
    pub min_k: usize,
    pub prediction: Prediction,
    /// Rows up to which the similarity matrix is stored densely.
    pub dense_limit: usize,
}

/// A trained rating neighbourhood model in one orientation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NeighbourhoodRatings {
    orientation: Orientation,
    similarity: RatingSimilarity,
    shrinkage: f32,
    k: usize,
    min_k: usize,
    prediction: Prediction,
    global_mean: f32,
    /// Mean rating of each x (the global mean for an x without ratings).
    x_means: Vec<f32>,
    /// Fitted when the prediction or the similarity needs them.
    baselines: Option<Baselines>,
    /// For each y, the x that rated it and their ratings.
    by_y: Interactions,
    similarities: SimilarityStore,
    /// Each x's `k` best positive neighbours, best first (for ranking and similar items).
    neighbours: NeighbourLists,
}

/// The values similarities compare: ratings, or for `pearson_baseline` their residuals
/// r − μ − b_x − b_y.
#[derive(Clone, Copy)]
struct Values<'a> {
    orientation: Orientation,
    residuals_of: Option<&'a Baselines>,
}

impl Values<'_> {
    #[inline]
    fn of(&self, x: u32, y: u32, rating: f32) -> f64 {
        match self.residuals_of {
            None => f64::from(rating),
            Some(b) => {
                let bias = bias_x(b, self.orientation, x) + bias_y(b, self.orientation, y);
                f64::from(rating) - f64::from(b.global_mean) - f64::from(bias)
            }
        }
    }
}

#[inline]
fn bias_x(b: &Baselines, orientation: Orientation, x: u32) -> f32 {
    match orientation {
        Orientation::UserBased => b.user(x),
        Orientation::ItemBased => b.item(x),
    }
}

#[inline]
fn bias_y(b: &Baselines, orientation: Orientation, y: u32) -> f32 {
    match orientation {
        Orientation::UserBased => b.item(y),
        Orientation::ItemBased => b.user(y),
    }
}

/// One neighbour that rated the target.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    x: u32,
    similarity: f32,
    rating: f32,
}

impl NeighbourhoodRatings {
    /// Fits the baselines if needed and the similarity matrix on the ratings of `train`
    /// (users × items).
    pub fn fit(
        train: &Interactions,
        orientation: Orientation,
        config: &RatingKnnConfig,
        ctx: &FitContext<'_>,
    ) -> Result<Self> {
        let (transposed_x, by_y) = match orientation {
            Orientation::UserBased => (None, train.transpose()),
            Orientation::ItemBased => (Some(train.transpose()), train.clone()),
        };
        let by_x = transposed_x.as_ref().unwrap_or(train);
        let global_mean = train.mean_weight() as f32;
        let needs_baselines = config.prediction == Prediction::Baseline
            || config.similarity == RatingSimilarity::PearsonBaseline;
        let baselines = if needs_baselines {
            Some(Baselines::fit(train, &BaselineParams::default(), ctx)?)
        } else {
            None
        };
        let values = Values {
            orientation,
            residuals_of: baselines
                .as_ref()
                .filter(|_| config.similarity == RatingSimilarity::PearsonBaseline),
        };
        let (similarities, neighbours) = rating_similarities(
            by_x,
            &by_y,
            &|x, y, r| values.of(x, y, r),
            config.similarity,
            config.shrinkage,
            config.k,
            config.dense_limit,
            ctx,
        )?;
        let x_means = (0..by_x.n_users() as u32)
            .map(|x| {
                let row = by_x.row(x);
                if row.is_empty() {
                    global_mean
                } else {
                    row.weights.iter().map(|&r| f64::from(r)).sum::<f64>() as f32 / row.len() as f32
                }
            })
            .collect();
        Ok(NeighbourhoodRatings {
            orientation,
            similarity: config.similarity,
            shrinkage: config.shrinkage,
            k: config.k,
            // A minimum above k could never be met: it is read as k.
            min_k: config.min_k.min(config.k),
            prediction: config.prediction,
            global_mean,
            x_means,
            baselines,
            by_y,
            similarities,
            neighbours,
        })
    }

    /// Each x's best positive neighbours, best first.
    pub fn neighbours(&self) -> &NeighbourLists {
        &self.neighbours
    }

    pub fn baselines(&self) -> Option<&Baselines> {
        self.baselines.as_ref()
    }

    /// Similarity between two x entities (0 when not kept).
    pub fn similarity(&self, a: u32, b: u32) -> f32 {
        self.similarities.get(a, b)
    }

    /// The rating estimate for `(user, item)`, unclipped and never NaN.
    pub fn predict(&self, user: u32, item: u32) -> f32 {
        match self.orientation {
            Orientation::UserBased => self.predict_xy(user, item),
            Orientation::ItemBased => self.predict_xy(item, user),
        }
    }

    fn baseline(&self, x: u32, y: u32) -> f32 {
        self.baselines.as_ref().map_or(self.global_mean, |b| {
            b.global_mean + bias_x(b, self.orientation, x) + bias_y(b, self.orientation, y)
        })
    }

    fn x_mean(&self, x: u32) -> f32 {
        self.x_means
            .get(x as usize)
            .copied()
            .unwrap_or(self.global_mean)
    }

    fn predict_xy(&self, x: u32, y: u32) -> f32 {
        // The base each mode adds the neighbours' weighted deviation to, and falls back on.
        let base = match self.prediction {
            Prediction::Basic => self.global_mean,
            Prediction::Means => self.x_mean(x),
            Prediction::Baseline => self.baseline(x, y),
        };
        let known = (x as usize) < self.x_means.len() && (y as usize) < self.by_y.n_users();
        if !known {
            return base;
        }
        let mut candidates: Vec<Candidate> = self
            .by_y
            .row(y)
            .iter()
            .filter_map(|(x2, rating)| {
                let similarity = self.similarities.get(x, x2);
                (similarity > 0.0).then_some(Candidate {
                    x: x2,
                    similarity,
                    rating,
                })
            })
            .collect();
        retain_best_unordered(&mut candidates, self.k, |c| (c.x, c.similarity));
        if candidates.len() < self.min_k || candidates.is_empty() {
            return base;
        }
        let (mut weighted, mut total) = (0f64, 0f64);
        for c in &candidates {
            let target = match self.prediction {
                Prediction::Basic => c.rating,
                Prediction::Means => c.rating - self.x_mean(c.x),
                Prediction::Baseline => c.rating - self.baseline(c.x, y),
            };
            weighted += f64::from(c.similarity) * f64::from(target);
            total += f64::from(c.similarity);
        }
        let deviation = (weighted / total) as f32;
        match self.prediction {
            Prediction::Basic => deviation,
            Prediction::Means | Prediction::Baseline => base + deviation,
        }
    }

    /// The best positive neighbours (x entities) of an unseen row given as a history of
    /// `(y, rating)`: for a user-based model, the users most similar to a new user. The
    /// similarity is the trained one; for `pearson_baseline` the new row's bias is folded
    /// in from its ratings first.
    pub fn neighbours_of_history(&self, history: Row<'_>) -> Vec<(u32, f32)> {
        let residuals_of = self
            .baselines
            .as_ref()
            .filter(|_| self.similarity == RatingSimilarity::PearsonBaseline);
        let values = Values {
            orientation: self.orientation,
            residuals_of,
        };
        let own_bias = residuals_of.map_or(0.0, |b| match self.orientation {
            Orientation::UserBased => b.user_bias_from_history(history),
            // An unseen item's bias is not folded in: item-based models rank from the
            // history's own items and never ask for an unseen item's neighbours.
            Orientation::ItemBased => 0.0,
        });
        let row = history.iter().map(|(y, r)| {
            let value = match residuals_of {
                None => f64::from(r),
                Some(b) => {
                    f64::from(r)
                        - f64::from(b.global_mean)
                        - f64::from(own_bias)
                        - f64::from(bias_y(b, self.orientation, y))
                }
            };
            (y, value)
        });
        let mut accumulator = Accumulator::<PairStats>::new(self.x_means.len());
        let mut similarities = Vec::new();
        rating_similarity_row(
            row,
            &self.by_y,
            &|x, y, r| values.of(x, y, r),
            self.similarity,
            self.shrinkage,
            None,
            &mut accumulator,
            &mut similarities,
        );
        similarities.retain(|c| c.1 > 0.0);
        retain_best(&mut similarities, self.k);
        similarities
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy};

    fn ratings(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Interactions {
        let cells = triples
            .iter()
            .map(|&(user, item, weight)| Cell {
                user,
                item,
                weight,
                timestamp: 0,
            })
            .collect();
        Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Last)
    }

    fn config(
        similarity: RatingSimilarity,
        k: usize,
        min_k: usize,
        prediction: Prediction,
    ) -> RatingKnnConfig {
        RatingKnnConfig {
            similarity,
            shrinkage: 0.0,
            k,
            min_k,
            prediction,
            dense_limit: 100,
        }
    }

    #[test]
    fn min_k_falls_back_to_the_mode_base() {
        // User 2 shares item 0 with user 0 only; user 1 shares nothing with user 2.
        let train = ratings(
            3,
            3,
            &[
                (0, 0, 4.0),
                (0, 1, 2.0),
                (1, 1, 5.0),
                (1, 2, 3.0),
                (2, 0, 3.0),
            ],
        );
        let ctx = FitContext::default();
        let mu = train.mean_weight() as f32;
        // Predicting (2, 1): raters of item 1 are users 0 and 1; only user 0 is similar.
        let one = NeighbourhoodRatings::fit(
            &train,
            Orientation::UserBased,
            &config(RatingSimilarity::Cosine, 5, 1, Prediction::Basic),
            &FitContext::default(),
        )
        .unwrap();
        assert_eq!(one.predict(2, 1), 2.0, "one neighbour: its rating");
        let two = NeighbourhoodRatings::fit(
            &train,
            Orientation::UserBased,
            &config(RatingSimilarity::Cosine, 5, 2, Prediction::Basic),
            &ctx,
        )
        .unwrap();
        assert_eq!(two.predict(2, 1), mu, "basic falls back to the global mean");
        let means = NeighbourhoodRatings::fit(
            &train,
            Orientation::UserBased,
            &config(RatingSimilarity::Cosine, 5, 2, Prediction::Means),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            means.predict(2, 1),
            3.0,
            "means falls back to the user's mean"
        );
        let baseline = NeighbourhoodRatings::fit(
            &train,
            Orientation::UserBased,
            &config(RatingSimilarity::Cosine, 5, 2, Prediction::Baseline),
            &ctx,
        )
        .unwrap();
        let b = baseline.baselines().unwrap();
        assert!((baseline.predict(2, 1) - b.predict(2, 1)).abs() < 1e-6);
        // Unknown users and items get the base too, never NaN.
        assert_eq!(one.predict(9, 1), mu);
        assert!((baseline.predict(2, 9) - b.predict(2, 9)).abs() < 1e-6);
    }

    #[test]
    fn means_and_baseline_predictions_by_hand() {
        // Item-based: to predict (user 0, item 2) the neighbours are items 0 and 1 (user 0
        // rated them); users 1 and 2 rated all three items.
        let train = ratings(
            3,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 1.0),
                (1, 0, 4.0),
                (1, 1, 2.0),
                (1, 2, 4.0),
                (2, 0, 2.0),
                (2, 1, 4.0),
                (2, 2, 2.0),
            ],
        );
        let ctx = FitContext::default();
        let model = NeighbourhoodRatings::fit(
            &train,
            Orientation::ItemBased,
            &config(RatingSimilarity::Msd, 40, 1, Prediction::Means),
            &ctx,
        )
        .unwrap();
        // msd(item 2, item 0) over users 1, 2: diffs 0, 0 → 1. msd(item 2, item 1): 2, 2 → 1/5.
        assert!((model.similarity(2, 0) - 1.0).abs() < 1e-6);
        assert!((model.similarity(2, 1) - 0.2).abs() < 1e-6);
        // Means: μ_2 = 3, μ_0 = 11/3, μ_1 = 7/3.
        let expected = 3.0 + (1.0 * (5.0 - 11.0 / 3.0) + 0.2 * (1.0 - 7.0 / 3.0)) / 1.2;
        assert!((model.predict(0, 2) - expected).abs() < 1e-5);
        let baseline = NeighbourhoodRatings::fit(
            &train,
            Orientation::ItemBased,
            &config(RatingSimilarity::Msd, 40, 1, Prediction::Baseline),
            &ctx,
        )
        .unwrap();
        let b = baseline.baselines().unwrap().clone();
        let expected =
            b.predict(0, 2) + (1.0 * (5.0 - b.predict(0, 0)) + 0.2 * (1.0 - b.predict(0, 1))) / 1.2;
        assert!((baseline.predict(0, 2) - expected).abs() < 1e-5);
        // k = 1 keeps only the most similar item.
        let k1 = NeighbourhoodRatings::fit(
            &train,
            Orientation::ItemBased,
            &config(RatingSimilarity::Msd, 1, 1, Prediction::Basic),
            &ctx,
        )
        .unwrap();
        assert_eq!(k1.predict(0, 2), 5.0);
    }

    #[test]
    fn history_neighbours_match_the_trained_rows() {
        let train = ratings(
            4,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 1.0),
                (1, 0, 4.0),
                (1, 1, 2.0),
                (1, 2, 4.0),
                (2, 0, 2.0),
                (2, 1, 4.0),
                (2, 2, 2.0),
                (3, 0, 1.0),
                (3, 2, 5.0),
            ],
        );
        for similarity in [
            RatingSimilarity::Cosine,
            RatingSimilarity::Pearson,
            RatingSimilarity::PearsonBaseline,
        ] {
            let model = NeighbourhoodRatings::fit(
                &train,
                Orientation::UserBased,
                &config(similarity, 4, 1, Prediction::Basic),
                &FitContext::default(),
            )
            .unwrap();
            // User 1 presented as an anonymous history finds the neighbours training found
            // (user 1 itself aside, which a stranger cannot be told apart from).
            let mut folded = model.neighbours_of_history(train.row(1));
            folded.retain(|c| c.0 != 1);
            let trained: Vec<(u32, f32)> = model.neighbours().iter_row(1).collect();
            assert_eq!(folded.len(), trained.len(), "{similarity:?}");
            for (a, b) in folded.iter().zip(&trained) {
                assert_eq!(a.0, b.0);
                assert!((a.1 - b.1).abs() < 1e-5);
            }
        }
    }

    /// A random 30 × 20 matrix of integer ratings; user 0 rates everything 3 (zero
    /// variance, the degenerate case of `pearson`).
    fn random_ratings(seed: u64) -> Interactions {
        let mut rng = aisle_data::Rng::new(seed);
        let mut triples = Vec::new();
        for u in 0..30u32 {
            for i in 0..20u32 {
                if u == 0 {
                    triples.push((u, i, 3.0));
                } else if rng.chance(0.3) {
                    triples.push((u, i, 1.0 + rng.below(5) as f32));
                }
            }
        }
        ratings(30, 20, &triples)
    }

    #[test]
    fn neighbour_lists_are_the_brute_force_top_k_and_predictions_are_finite() {
        let train = random_ratings(11);
        let ctx = FitContext::default();
        let similarities = [
            RatingSimilarity::Cosine,
            RatingSimilarity::Msd,
            RatingSimilarity::Pearson,
            RatingSimilarity::PearsonBaseline,
        ];
        let predictions = [Prediction::Basic, Prediction::Means, Prediction::Baseline];
        for orientation in [Orientation::UserBased, Orientation::ItemBased] {
            for similarity in similarities {
                for prediction in predictions {
                    let mut cfg = config(similarity, 5, 1, prediction);
                    cfg.shrinkage = 3.0;
                    let model = NeighbourhoodRatings::fit(&train, orientation, &cfg, &ctx).unwrap();
                    let n_x = match orientation {
                        Orientation::UserBased => 30,
                        Orientation::ItemBased => 20,
                    };
                    for x in 0..n_x {
                        let mut brute: Vec<(u32, f32)> = (0..n_x)
                            .filter(|&x2| x2 != x)
                            .map(|x2| (x2, model.similarity(x, x2)))
                            .filter(|c| c.1 > 0.0)
                            .collect();
                        brute.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        brute.truncate(5);
                        let lists: Vec<(u32, f32)> = model.neighbours().iter_row(x).collect();
                        assert_eq!(lists, brute);
                    }
                    for u in 0..32 {
                        for i in 0..22 {
                            assert!(
                                model.predict(u, i).is_finite(),
                                "{similarity:?} {prediction:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
