//! What the rating matrix-factorization models (`svd`, `svdpp`, `bpmf`) share: the trained
//! model they all produce ([`RatingFactorModel`]: global mean, biases, user and item factor
//! rows), their shared checks and initialisation, and the ridge fold-in that gives a user
//! unseen at training time a factor vector from their history.
//!
//! Factor matrices are `f32`, row-major and contiguous (`row * factors .. (row + 1) * factors`);
//! the dense kernels (`factor_dot`, `axpy`, the `f64` Cholesky) live in [`crate::linalg`].

use aisle_data::Interactions;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::linalg::{axpy, factor_dot};
use crate::recommender::{Capabilities, Query, Recommender};
use crate::spd::cholesky_and_solve;
use crate::topk::{Scored, top_k};

/// Mean rating, checking that the matrix can train a rating model at all.
pub(crate) fn checked_global_mean(model: &str, train: &Interactions) -> Result<f32> {
    if train.nnz() == 0 {
        return Err(ModelError::unsuitable(
            model,
            "the training data has no ratings",
        ));
    }
    if let Some(bad) = train.weights().iter().find(|w| !w.is_finite()) {
        return Err(ModelError::unsuitable(
            model,
            format!("ratings must be finite numbers (found {bad})"),
        ));
    }
    Ok(train.mean_weight() as f32)
}

/// Entries drawn from `N(0, std²)`, one row of `factors` per entity.
pub(crate) fn normal_matrix(
    rng: &mut aisle_data::Rng,
    rows: usize,
    factors: usize,
    std: f32,
) -> Vec<f32> {
    let mut out = vec![0f32; rows * factors];
    // Marsaglia's polar method: two deviates per accepted pair of uniforms and no
    // trigonometry, since drawing the start is a visible share of a short fit.
    for pair in out.chunks_mut(2) {
        let (u, v, s) = loop {
            let u = 2.0 * rng.f64() - 1.0;
            let v = 2.0 * rng.f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                break (u, v, s);
            }
        };
        let scale = (-2.0 * s.ln() / s).sqrt() * f64::from(std);
        pair[0] = (u * scale) as f32;
        if let Some(second) = pair.get_mut(1) {
            *second = (v * scale) as f32;
        }
    }
    out
}

/// Fails when training left a non-finite parameter (a step size too large for the data
/// makes SGD diverge): a model that predicts NaN must not be served.
pub(crate) fn check_finite(model: &str, parameters: &[&[f32]]) -> Result<()> {
    if parameters.iter().all(|p| p.iter().all(|x| x.is_finite())) {
        Ok(())
    } else {
        Err(ModelError::unsuitable(
            model,
            "training diverged (a parameter became infinite or NaN); lower learning_rate",
        ))
    }
}

/// Zeroes the rows of entities that had no training data: their factors were never
/// updated from their random start, and a random vector would only add noise to
/// predictions that should fall back to the biases.
pub(crate) fn clear_untrained_rows(
    counts: &[u32],
    factors: usize,
    bias: &mut [f32],
    matrix: &mut [f32],
) {
    for (row, &count) in counts.iter().enumerate() {
        if count == 0 {
            bias[row] = 0.0;
            matrix[row * factors..(row + 1) * factors].fill(0.0);
        }
    }
}

/// How a model with user-side implicit feedback (SVD++) folds a history into the user
/// vector: `|N(u)|^-1/2 Σ_{j ∈ N(u)} y_j` is added to the solved explicit part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImplicitFactors {
    /// `y_j`, one row per item.
    pub factors: Vec<f32>,
}

/// A trained biased factorization model: `r̂(u, i) = μ + b_u + b_i + q_i · p_u`.
///
/// For SVD++ the stored user row `p_u` already includes the implicit term
/// `|N(u)|^-1/2 Σ y_j` of the user's training history (and for `bpmf` the item rows their
/// item-side term), so prediction costs one dot product.
/// Users and items that had no training ratings, or lie outside the training shape, fall
/// back to whichever biases are known.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatingFactorModel {
    /// CLI name of the algorithm that trained it.
    pub algorithm: String,
    pub factors: usize,
    pub global_mean: f32,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    /// `n_users × factors`, row-major.
    pub user_factors: Vec<f32>,
    /// `n_items × factors`, row-major.
    pub item_factors: Vec<f32>,
    /// Ratings each user had in training (0: never seen, fold in from the history).
    pub user_counts: Vec<u32>,
    /// Ratings each item had in training (0: never seen, bias-only fallback).
    pub item_counts: Vec<u32>,
    /// SVD++'s `y_j`, used when folding in an unseen user's history.
    pub implicit: Option<ImplicitFactors>,
    /// How strongly a folded-in user is shrunk: as training shrinks a user.
    pub fold_in: FoldInPenalty,
}

/// The ridge penalty of [`RatingFactorModel::fold_in`]: for `n` history ratings, the user's
/// factors get `factors_fixed + n · factors_per_rating` and the bias likewise. SGD models
/// penalise per rating (`λ` each time a rating is visited); Bayesian ones have a fixed
/// prior precision relative to the noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FoldInPenalty {
    pub factors_per_rating: f32,
    pub factors_fixed: f32,
    pub bias_per_rating: f32,
    pub bias_fixed: f32,
}

impl FoldInPenalty {
    /// The penalty of a model trained by SGD with these per-rating penalties.
    pub fn per_rating(factors: f32, bias: f32) -> Self {
        FoldInPenalty {
            factors_per_rating: factors,
            factors_fixed: 0.0,
            bias_per_rating: bias,
            bias_fixed: 0.0,
        }
    }
}

impl RatingFactorModel {
    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    fn item_row(&self, item: usize) -> &[f32] {
        &self.item_factors[item * self.factors..(item + 1) * self.factors]
    }

    fn user_row(&self, user: usize) -> &[f32] {
        &self.user_factors[user * self.factors..(user + 1) * self.factors]
    }

    fn known_user(&self, user: u32) -> Option<usize> {
        let u = user as usize;
        (u < self.user_counts.len() && self.user_counts[u] > 0).then_some(u)
    }

    fn known_item(&self, item: u32) -> Option<usize> {
        let i = item as usize;
        (i < self.item_counts.len() && self.item_counts[i] > 0).then_some(i)
    }

    /// The user's bias and factor vector solved from a history with the item side fixed:
    /// ridge regression of `r - μ - b_i - q_i·z` on `[1, q_i]`, penalised per rating like
    /// training penalises a user, where `z` is the implicit term (zero without one).
    /// Items the model does not know are skipped; an empty history gives zeros.
    pub fn fold_in(&self, items: &[u32], ratings: &[f32]) -> (f32, Vec<f32>) {
        let f = self.factors;
        let known: Vec<(usize, f32)> = items
            .iter()
            .zip(ratings)
            .filter_map(|(&i, &r)| self.known_item(i).map(|i| (i, r)))
            .filter(|(_, r)| r.is_finite())
            .collect();
        let mut implicit_term = vec![0f32; f];
        if let Some(implicit) = &self.implicit
            && !known.is_empty()
        {
            for &(i, _) in &known {
                axpy(
                    1.0,
                    &implicit.factors[i * f..(i + 1) * f],
                    &mut implicit_term,
                );
            }
            let scale = 1.0 / (known.len() as f32).sqrt();
            implicit_term.iter_mut().for_each(|z| *z *= scale);
        }
        if known.is_empty() {
            return (0.0, implicit_term);
        }
        // Unknowns: [b_u, p_1..p_f]. Normal equations (XᵀX + n·Λ) w = Xᵀy in f64.
        let n = f + 1;
        let mut gram = vec![0f64; n * n];
        let mut rhs = vec![0f64; n];
        let mut x = vec![0f64; n];
        for &(i, r) in &known {
            let q = self.item_row(i);
            let target =
                f64::from(r - self.global_mean - self.item_bias[i] - factor_dot(q, &implicit_term));
            x[0] = 1.0;
            for (xk, &qk) in x[1..].iter_mut().zip(q) {
                *xk = f64::from(qk);
            }
            for a in 0..n {
                rhs[a] += x[a] * target;
                let xa = x[a];
                for (g, &xb) in gram[a * n..a * n + a + 1].iter_mut().zip(&x[..=a]) {
                    *g += xa * xb;
                }
            }
        }
        let count = known.len() as f64;
        let penalty = self.fold_in;
        let ridge = |fixed: f32, per_rating: f32| {
            (f64::from(fixed) + count * f64::from(per_rating)).max(1e-6 * count)
        };
        gram[0] += ridge(penalty.bias_fixed, penalty.bias_per_rating);
        let factor_ridge = ridge(penalty.factors_fixed, penalty.factors_per_rating);
        for k in 1..n {
            gram[k * n + k] += factor_ridge;
        }
        for a in 0..n {
            for b in a + 1..n {
                gram[a * n + b] = gram[b * n + a];
            }
        }
        if !cholesky_and_solve(&mut gram, &mut rhs, n) {
            return (0.0, implicit_term);
        }
        let bias = rhs[0] as f32;
        let mut user = implicit_term;
        for (u, &w) in user.iter_mut().zip(&rhs[1..]) {
            *u += w as f32;
        }
        (bias, user)
    }

    /// Writes `μ + b_u + b_i + q_i · p_u` for every item; items without training data get
    /// `μ + b_u`.
    fn score_with(&self, user_bias: f32, user: &[f32], scores: &mut [f32]) {
        let base = self.global_mean + user_bias;
        for (item, score) in scores.iter_mut().enumerate().take(self.item_bias.len()) {
            *score = base + self.item_bias[item] + factor_dot(self.item_row(item), user);
        }
        for score in scores.iter_mut().skip(self.item_bias.len()) {
            *score = base;
        }
    }
}

impl Recommender for RatingFactorModel {
    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("rating-factors", self)
    }

    fn name(&self) -> &str {
        &self.algorithm
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: true,
            ranking: true,
            similar_items: true,
            fold_in: true,
        }
    }

    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    fn predict(&self, user: u32, item: u32) -> Option<f32> {
        let mut estimate = self.global_mean;
        let user = self.known_user(user);
        let item = self.known_item(item);
        if let Some(u) = user {
            estimate += self.user_bias[u];
        }
        if let Some(i) = item {
            estimate += self.item_bias[i];
        }
        if let (Some(u), Some(i)) = (user, item) {
            estimate += factor_dot(self.user_row(u), self.item_row(i));
        }
        Some(estimate)
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        match query.user.and_then(|u| self.known_user(u)) {
            Some(u) => self.score_with(self.user_bias[u], self.user_row(u), scores),
            None => {
                let (bias, user) = self.fold_in(query.history.items, query.history.weights);
                self.score_with(bias, &user, scores);
            }
        }
    }

    /// Items by cosine similarity of their factor rows.
    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        let Some(target) = self.known_item(item) else {
            return Vec::new();
        };
        let norms: Vec<f32> = (0..self.item_bias.len())
            .map(|i| factor_dot(self.item_row(i), self.item_row(i)).sqrt())
            .collect();
        if norms[target] == 0.0 {
            return Vec::new();
        }
        let query = self.item_row(target);
        let similarity: Vec<f32> = (0..self.item_bias.len())
            .map(|i| {
                if norms[i] == 0.0 || self.item_counts[i] == 0 {
                    f32::NEG_INFINITY
                } else {
                    factor_dot(query, self.item_row(i)) / (norms[i] * norms[target])
                }
            })
            .collect();
        top_k(&similarity, n, |i| i as usize != target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_matrix_has_the_asked_spread() {
        let mut rng = aisle_data::Rng::new(5);
        let values = normal_matrix(&mut rng, 1001, 99, 0.3);
        assert_eq!(values.len(), 1001 * 99);
        let n = values.len() as f64;
        let mean = values.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((var.sqrt() / 0.3 - 1.0).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn fold_in_solves_the_ridge_problem_of_a_tiny_case() {
        // One factor, two known items; the history's ratings are fitted by b + p·q under
        // the per-rating penalty: check the normal equations hold at the answer.
        let model = RatingFactorModel {
            algorithm: "test".into(),
            factors: 1,
            global_mean: 3.0,
            user_bias: vec![],
            item_bias: vec![0.5, -0.5, 0.0],
            user_factors: vec![],
            item_factors: vec![1.0, -2.0, 7.0],
            user_counts: vec![],
            item_counts: vec![4, 4, 0],
            implicit: None,
            fold_in: FoldInPenalty::per_rating(0.1, 0.2),
        };
        // Item 2 is unknown (no training ratings) and item 9 is outside: both ignored.
        let (b, p) = model.fold_in(&[0, 1, 2, 9], &[5.0, 2.0, 1.0, 1.0]);
        let (q, t) = ([1.0f64, -2.0], [5.0 - 3.0 - 0.5, 2.0 - 3.0 + 0.5]);
        let (b, p) = (f64::from(b), f64::from(p[0]));
        let residual = |k: usize| t[k] - b - p * q[k];
        let bias_equation = residual(0) + residual(1) - 2.0 * 0.2 * b;
        let factor_equation = residual(0) * q[0] + residual(1) * q[1] - 2.0 * 0.1 * p;
        assert!(bias_equation.abs() < 1e-5 && factor_equation.abs() < 1e-5);
        let (b0, p0) = model.fold_in(&[], &[]);
        assert_eq!((b0, p0), (0.0, vec![0.0]));
    }
}
