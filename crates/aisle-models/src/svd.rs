//! `svd`: biased matrix factorization trained by stochastic gradient descent (Funk 2006;
//! Koren, Bell, Volinsky 2009), the model Surprise calls SVD.
//!
//! `r̂(u, i) = μ + b_u + b_i + q_i · p_u`, fitted by minimising, over the training ratings,
//! `½ (r - r̂)² + ½ λ (|p_u|² + |q_i|²) + ½ λ_b (b_u² + b_i²)` one rating at a time.
//!
//! Users and items are cut into `blocks` groups each; an epoch runs the `blocks²` strata in
//! `blocks` rounds of `blocks` strata that share no user and no item, which therefore train
//! in parallel without locks and without changing the result (stratified SGD). Within a
//! stratum users come in a seeded random order, each with their ratings in a seeded random
//! order, so a seed gives one model whatever the thread count.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use aisle_data::rng::{pair_hash, splitmix64};
use aisle_data::{Interactions, Rng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::params::{Domain, ParamSpec, Search};
use crate::rating_mf::{
    FoldInPenalty, RatingFactorModel, check_finite, checked_global_mean, clear_untrained_rows,
    normal_matrix,
};
use crate::recommender::{Algorithm, FitContext, Recommender};
use crate::registry::Params;

/// Hyper-parameters of [`Svd`].
///
/// The defaults were chosen on validation splits carved out of the training data only:
/// MovieLens 100K's `u1.base`, each user's ratings ordered by `pair_hash(seed, user, item)`
/// and the first tenth held out, for seeds 7, 8 and 9 (mean RMSE); no `.test` file was
/// looked at. A grid over `factors` {50, 100, 200}, `epochs` {50 … 200}, `learning_rate`
/// {0.003, 0.005, 0.01}, `regularization` {0.06 … 0.15}, `bias_regularization`
/// {0.005, 0.02, 0.1}, `init_std` {0.01 … 0.2} and `learning_rate_decay` {0.97, 0.99, 1}
/// put small starting factors (`init_std` 0.02) under strong shrinkage (`regularization`
/// and `bias_regularization` 0.1) for 100 epochs at 0.907, against 0.940 for Surprise's
/// defaults (factors 100, epochs 20, learning_rate 0.005, regularization 0.02, init_std
/// 0.1). More epochs at these settings overfit; a decaying step did not help. `blocks`
/// is there for parallelism: 1 and 4 differed by 0.001.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvdParams {
    /// Length of the user and item factor vectors.
    pub factors: usize,
    /// Passes over the training ratings.
    pub epochs: usize,
    /// SGD step size of the first epoch.
    pub learning_rate: f32,
    /// `λ`: L2 penalty on the factor vectors, per rating.
    pub regularization: f32,
    /// `λ_b`: L2 penalty on the user and item biases, per rating.
    pub bias_regularization: f32,
    /// The step size is multiplied by this after every epoch (1 keeps it constant).
    pub learning_rate_decay: f32,
    /// Standard deviation of the normal distribution the factors start from.
    pub init_std: f32,
    /// Users and items are each cut into this many groups of about equal rating counts;
    /// an epoch visits the `blocks²` user-group × item-group strata so that `blocks` of them,
    /// sharing no user and no item, train at once (stratified SGD, Gemulla et al. 2011).
    /// The model depends on this number, never on how many threads run: 1 is plain
    /// sequential SGD.
    pub blocks: usize,
}

impl Default for SvdParams {
    fn default() -> Self {
        SvdParams {
            factors: 100,
            epochs: 100,
            learning_rate: 0.005,
            regularization: 0.1,
            bias_regularization: 0.1,
            learning_rate_decay: 1.0,
            init_std: 0.02,
            blocks: 4,
        }
    }
}

/// The parameters every SGD rating model shares, with their domains. Regularisation stays
/// below 1 and the step size below 1, so a step never multiplies a factor by a negative
/// number (`1 − lr·λ > 0`).
macro_rules! sgd_spec {
    ($($extra:expr),* $(,)?) => {
        &[
            ParamSpec::new("factors", Domain::Int { min: 1, max: 1024 }, "Length of the factor vectors.")
                .searched(Search::log(8.0, 300.0)),
            ParamSpec::new("epochs", Domain::Int { min: 1, max: 1000 }, "Passes over the training ratings.")
                .searched(Search::log(10.0, 200.0))
                .fidelity(),
            ParamSpec::new(
                "learning_rate",
                Domain::Real {
                min: 1e-9,
                max: 1.0,
                open_min: false,
                open_max: true,
            },
                "SGD step size of the first epoch.",
            )
            .searched(Search::log(0.001, 0.05)),
            ParamSpec::new(
                "regularization",
                Domain::Real { min: 0.0, max: 1.0, open_min: false, open_max: true },
                "`λ`: L2 penalty on the factor vectors, per rating.",
            )
            .searched(Search::log(0.005, 0.3)),
            ParamSpec::new(
                "bias_regularization",
                Domain::Real { min: 0.0, max: 1.0, open_min: false, open_max: true },
                "`λ_b`: L2 penalty on the user and item biases, per rating.",
            )
            .searched(Search::log(0.005, 0.3)),
            ParamSpec::new(
                "learning_rate_decay",
                Domain::Real {
                min: 1e-9,
                max: 1.0,
                open_min: false,
                open_max: false,
            },
                "The step size is multiplied by this after every epoch (1 keeps it constant).",
            ),
            ParamSpec::new(
                "init_std",
                Domain::closed(0.0, 10.0),
                "Standard deviation of the normal distribution the factors start from.",
            ),
            $($extra),*
        ]
    };
}
pub(crate) use sgd_spec;

impl Params for SvdParams {
    const SPEC: &'static [ParamSpec] = sgd_spec!(ParamSpec::new(
        "blocks",
        // Beyond a few per core the strata (`blocks²` of them) get too small to pay for
        // their synchronisation.
        Domain::Int { min: 1, max: 256 },
        "Strata per side of stratified SGD; the model depends on it, not on the thread count (1: plain SGD).",
    ));
}

/// Step sizes and penalties of one SGD step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SgdRates {
    pub learning_rate: f32,
    pub regularization: f32,
    pub bias_regularization: f32,
}

/// One SGD step on one rating: every parameter moves by `-learning_rate ×` its gradient of
/// `½ e² + ½ λ (|p|² + |q|²) + ½ λ_b (b_u² + b_i²)`, `e = r - (μ + b_u + b_i + q·p)`, all
/// gradients taken at the values before the step. `user` is the vector dotted with `item`
/// (for SVD++ the explicit plus implicit part; the caller moves the pieces). Returns `e`.
#[inline]
pub(crate) fn sgd_step(
    rating: f32,
    global_mean: f32,
    user_bias: &mut f32,
    item_bias: &mut f32,
    user: &mut [f32],
    item: &mut [f32],
    rates: SgdRates,
) -> f32 {
    let error =
        rating - (global_mean + *user_bias + *item_bias + crate::linalg::factor_dot(user, item));
    let lr = rates.learning_rate;
    let bias_keep = 1.0 - lr * rates.bias_regularization;
    *user_bias = bias_keep * *user_bias + lr * error;
    *item_bias = bias_keep * *item_bias + lr * error;
    // p - lr (λ p - e q) written as (1 - lr λ) p + (lr e) q: the same step in 3 vector
    // operations per side instead of 5, which is most of the time of an epoch.
    let keep = 1.0 - lr * rates.regularization;
    let pull = lr * error;
    for (p, q) in user.iter_mut().zip(item.iter_mut()) {
        let (p0, q0) = (*p, *q);
        *p = keep * p0 + pull * q0;
        *q = keep * q0 + pull * p0;
    }
    error
}

/// The `svd` trainer.
#[derive(Debug, Clone)]
pub struct Svd {
    params: SvdParams,
}

impl Svd {
    /// A trainer with checked hyper-parameters.
    pub fn new(params: SvdParams) -> Result<Self> {
        params
            .check()
            .map_err(|message| ModelError::invalid("svd", message))?;
        Ok(Svd { params })
    }

    pub fn params(&self) -> &SvdParams {
        &self.params
    }

    /// Trains and returns the concrete model (for callers that combine models).
    pub fn fit_model(
        &self,
        train: &Interactions,
        ctx: &FitContext<'_>,
    ) -> Result<RatingFactorModel> {
        let p = &self.params;
        let global_mean = checked_global_mean("svd", train)?;
        let (n_users, n_items, f) = (train.n_users(), train.n_items(), p.factors);
        let mut rng = Rng::new(ctx.seed);
        let user_counts = train.row_counts();
        let item_counts = train.column_counts();
        let blocks = p.blocks;
        let user_strata = Strata::balanced(&user_counts, blocks);
        let item_strata = Strata::balanced(&item_counts, blocks);
        // Factors live in stratum order during training, so a block's rows are one range.
        let mut user_factors = normal_matrix(&mut rng, n_users, f, p.init_std);
        let mut item_factors = normal_matrix(&mut rng, n_items, f, p.init_std);
        let mut user_bias = vec![0f32; n_users];
        let mut item_bias = vec![0f32; n_items];
        let mut strata: Vec<Stratum> = vec![Stratum::default(); blocks * blocks];
        for u in 0..n_users {
            let (bu, lu) = user_strata.locate(u);
            for (i, r) in train.row(u as u32).iter() {
                let (bi, li) = item_strata.locate(i as usize);
                strata[bu * blocks + bi].push(lu, li, r);
            }
        }
        let mut shifts: Vec<usize> = (0..blocks).collect();
        let mut learning_rate = p.learning_rate;
        for epoch in 0..p.epochs {
            let rates = SgdRates {
                learning_rate,
                regularization: p.regularization,
                bias_regularization: p.bias_regularization,
            };
            let epoch_seed = splitmix64(ctx.seed ^ splitmix64(epoch as u64 + 1));
            rng.shuffle(&mut shifts);
            for &shift in &shifts {
                // Block (b, b + shift) for every b: no two share a user or an item, so they
                // train at once and the result does not depend on which thread runs which.
                let user_rows = user_strata.split(&mut user_factors, &mut user_bias, f);
                let mut item_rows: Vec<Option<_>> = item_strata
                    .split(&mut item_factors, &mut item_bias, f)
                    .into_iter()
                    .map(Some)
                    .collect();
                let diagonal = strata
                    .iter_mut()
                    .enumerate()
                    .filter(|(index, _)| index % blocks == (index / blocks + shift) % blocks)
                    .map(|(_, stratum)| stratum);
                let tasks: Vec<_> = user_rows
                    .into_iter()
                    .zip(diagonal)
                    .enumerate()
                    .map(|(b, (users, stratum))| {
                        let c = (b + shift) % blocks;
                        let items = item_rows[c].take().expect("each item block once");
                        (b, c, users, items, stratum)
                    })
                    .collect();
                tasks
                    .into_par_iter()
                    .for_each(|(b, c, (uf, ub), (itf, ib), stratum)| {
                        let mut block_rng = Rng::new(pair_hash(epoch_seed, b as u32, c as u32));
                        block_rng.shuffle(&mut stratum.users);
                        for &(u, start, end) in &stratum.users {
                            let u = u as usize;
                            let ratings = &mut stratum.ratings[start as usize..end as usize];
                            block_rng.shuffle(ratings);
                            let (user, user_bias) = (&mut uf[u * f..(u + 1) * f], &mut ub[u]);
                            for &(i, r) in ratings.iter() {
                                let i = i as usize;
                                sgd_step(
                                    r,
                                    global_mean,
                                    user_bias,
                                    &mut ib[i],
                                    user,
                                    &mut itf[i * f..(i + 1) * f],
                                    rates,
                                );
                            }
                        }
                    });
            }
            learning_rate *= p.learning_rate_decay;
            ctx.step(epoch as u64 + 1, p.epochs as u64)?;
        }
        check_finite(
            "svd",
            &[&user_factors, &item_factors, &user_bias, &item_bias],
        )?;
        let (mut user_bias, mut user_factors) =
            user_strata.to_original_order(&user_bias, &user_factors, f);
        let (mut item_bias, mut item_factors) =
            item_strata.to_original_order(&item_bias, &item_factors, f);
        clear_untrained_rows(&user_counts, f, &mut user_bias, &mut user_factors);
        clear_untrained_rows(&item_counts, f, &mut item_bias, &mut item_factors);
        Ok(RatingFactorModel {
            algorithm: "svd".to_string(),
            factors: f,
            global_mean,
            user_bias,
            item_bias,
            user_factors,
            item_factors,
            user_counts,
            item_counts,
            implicit: None,
            fold_in: FoldInPenalty::per_rating(p.regularization, p.bias_regularization),
        })
    }
}

/// The ratings of one user-group × item-group block, grouped by user: an epoch visits the
/// users in a fresh random order and each user's ratings in a fresh random order, so the
/// user's row stays in the nearest cache while their ratings stream past (a few per cent
/// faster than a fully random order, and as accurate on MovieLens).
#[derive(Debug, Clone, Default)]
struct Stratum {
    /// `(user within the block, start, end)`: the user's ratings are `ratings[start..end]`.
    users: Vec<(u32, u32, u32)>,
    /// `(item within the block, rating)`.
    ratings: Vec<(u32, f32)>,
}

impl Stratum {
    /// Appends a rating; a user's ratings must be pushed one after another.
    fn push(&mut self, user: u32, item: u32, rating: f32) {
        let end = self.ratings.len() as u32;
        match self.users.last_mut() {
            Some((last, _, last_end)) if *last == user => *last_end = end + 1,
            _ => self.users.push((user, end, end + 1)),
        }
        self.ratings.push((item, rating));
    }
}

/// Entities (users or items) cut into blocks of about equal rating counts and renumbered so
/// that each block is a contiguous range: what lets disjoint blocks train in parallel on
/// plain `&mut` slices.
#[derive(Debug, Clone)]
struct Strata {
    /// Position of each entity in stratum order.
    position: Vec<u32>,
    /// Block `b` is positions `bounds[b]..bounds[b + 1]`.
    bounds: Vec<usize>,
}

impl Strata {
    /// Heaviest entities first, each into the lightest block so far (ties: lower index).
    fn balanced(counts: &[u32], blocks: usize) -> Self {
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by_key(|&e| (Reverse(counts[e]), e));
        // Min-heap of (load, block); the +1 spreads entities without ratings too.
        let mut lightest: BinaryHeap<Reverse<(u64, usize)>> =
            (0..blocks).map(|b| Reverse((0, b))).collect();
        let mut block_of = vec![0usize; counts.len()];
        for e in order {
            let Reverse((load, b)) = lightest.pop().expect("blocks > 0");
            block_of[e] = b;
            lightest.push(Reverse((load + u64::from(counts[e]) + 1, b)));
        }
        let mut bounds = vec![0usize; blocks + 1];
        for &b in &block_of {
            bounds[b + 1] += 1;
        }
        for b in 0..blocks {
            bounds[b + 1] += bounds[b];
        }
        let mut next = bounds.clone();
        let position = block_of
            .iter()
            .map(|&b| {
                next[b] += 1;
                (next[b] - 1) as u32
            })
            .collect();
        Strata { position, bounds }
    }

    /// The entity's block and its index within the block.
    fn locate(&self, entity: usize) -> (usize, u32) {
        let position = self.position[entity] as usize;
        let block = self.bounds.partition_point(|&start| start <= position) - 1;
        (block, (position - self.bounds[block]) as u32)
    }

    /// Each block's factor rows and biases.
    fn split<'a>(
        &self,
        mut factors: &'a mut [f32],
        mut bias: &'a mut [f32],
        f: usize,
    ) -> Vec<(&'a mut [f32], &'a mut [f32])> {
        let mut out = Vec::with_capacity(self.bounds.len() - 1);
        for w in self.bounds.windows(2) {
            let len = w[1] - w[0];
            let (head_f, tail_f) = std::mem::take(&mut factors).split_at_mut(len * f);
            let (head_b, tail_b) = std::mem::take(&mut bias).split_at_mut(len);
            out.push((head_f, head_b));
            factors = tail_f;
            bias = tail_b;
        }
        out
    }

    /// Biases and factor rows back in entity order.
    fn to_original_order(&self, bias: &[f32], factors: &[f32], f: usize) -> (Vec<f32>, Vec<f32>) {
        let mut out_bias = vec![0f32; bias.len()];
        let mut out_factors = vec![0f32; factors.len()];
        for (e, &position) in self.position.iter().enumerate() {
            let position = position as usize;
            out_bias[e] = bias[position];
            out_factors[e * f..(e + 1) * f]
                .copy_from_slice(&factors[position * f..(position + 1) * f]);
        }
        (out_bias, out_factors)
    }
}

impl Algorithm for Svd {
    fn name(&self) -> &str {
        "svd"
    }

    fn params(&self) -> serde_json::Value {
        crate::registry::params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::recommender::Query;
    use aisle_data::{Cell, DuplicatePolicy};

    /// A rank-`rank` rating matrix `3 + u·v + noise` observed on a random `density` of its
    /// cells: what a factorization model should recover down to the noise level. Returns
    /// the training matrix and held-out cells with their noiseless values.
    pub(crate) fn planted_low_rank(
        n_users: usize,
        n_items: usize,
        rank: usize,
        density: f64,
        noise: f64,
        seed: u64,
    ) -> (Interactions, Vec<(u32, u32, f32)>) {
        let mut rng = Rng::new(seed);
        let scale = 1.0 / (rank as f64).sqrt();
        let users: Vec<f64> = (0..n_users * rank).map(|_| rng.normal() * scale).collect();
        let items: Vec<f64> = (0..n_items * rank).map(|_| rng.normal()).collect();
        let mut cells = Vec::new();
        let mut held_out = Vec::new();
        for u in 0..n_users {
            for i in 0..n_items {
                let truth = 3.0
                    + (0..rank)
                        .map(|k| users[u * rank + k] * items[i * rank + k])
                        .sum::<f64>();
                if rng.chance(density) {
                    cells.push(Cell {
                        user: u as u32,
                        item: i as u32,
                        weight: (truth + noise * rng.normal()) as f32,
                        timestamp: 0,
                    });
                } else if rng.chance(0.05) {
                    held_out.push((u as u32, i as u32, truth as f32));
                }
            }
        }
        let train = Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Last);
        (train, held_out)
    }

    pub(crate) fn rmse(model: &dyn Recommender, cells: &[(u32, u32, f32)]) -> f64 {
        let sum: f64 = cells
            .iter()
            .map(|&(u, i, r)| f64::from(model.predict(u, i).unwrap() - r).powi(2))
            .sum();
        (sum / cells.len() as f64).sqrt()
    }

    #[test]
    fn recovers_a_planted_low_rank_matrix() {
        let noise = 0.3;
        let (train, held_out) = planted_low_rank(200, 150, 3, 0.3, noise, 11);
        let svd = Svd::new(SvdParams {
            factors: 8,
            epochs: 120,
            learning_rate: 0.01,
            regularization: 0.02,
            bias_regularization: 0.02,
            learning_rate_decay: 0.99,
            init_std: 0.1,
            blocks: 3,
        })
        .unwrap();
        let model = svd.fit_model(&train, &FitContext::with_seed(3)).unwrap();
        let error = rmse(&model, &held_out);
        // The true matrix's spread is about 1; predicting the mean would err by that much.
        assert!(error < noise, "held-out RMSE {error} against the truth");
    }

    #[test]
    fn update_is_the_gradient_of_the_regularised_loss() {
        let rates = SgdRates {
            learning_rate: 0.01,
            regularization: 0.3,
            bias_regularization: 0.2,
        };
        let (mu, r) = (3.5f32, 4.0f32);
        let (bu, bi) = (0.2f32, -0.4f32);
        let p = vec![0.3f32, -0.2, 0.5, 0.1, 0.7];
        let q = vec![-0.1f32, 0.4, 0.25, -0.6, 0.3];
        // Parameter vector: [b_u, b_i, p.., q..].
        let theta: Vec<f64> = [bu, bi]
            .iter()
            .chain(&p)
            .chain(&q)
            .map(|&x| f64::from(x))
            .collect();
        let f = p.len();
        let loss = |t: &[f64]| {
            let (pv, qv) = (&t[2..2 + f], &t[2 + f..]);
            let e = f64::from(r)
                - (f64::from(mu)
                    + t[0]
                    + t[1]
                    + pv.iter().zip(qv).map(|(a, b)| a * b).sum::<f64>());
            let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
            0.5 * e * e
                + 0.5 * f64::from(rates.regularization) * (sq(pv) + sq(qv))
                + 0.5 * f64::from(rates.bias_regularization) * (t[0] * t[0] + t[1] * t[1])
        };
        let (mut bu2, mut bi2, mut p2, mut q2) = (bu, bi, p.clone(), q.clone());
        sgd_step(r, mu, &mut bu2, &mut bi2, &mut p2, &mut q2, rates);
        let after: Vec<f32> = [bu2, bi2].iter().chain(&p2).chain(&q2).copied().collect();
        let h = 1e-6;
        for k in 0..theta.len() {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[k] += h;
            down[k] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * h);
            let used = -(f64::from(after[k]) - theta[k]) / f64::from(rates.learning_rate);
            assert!(
                (numeric - used).abs() < 1e-4,
                "parameter {k}: finite difference {numeric}, update {used}"
            );
        }
    }

    #[test]
    fn same_seed_same_model_and_other_seed_differs() {
        let (train, _) = planted_low_rank(40, 30, 2, 0.4, 0.2, 5);
        let svd = Svd::new(SvdParams {
            factors: 6,
            epochs: 5,
            ..SvdParams::default()
        })
        .unwrap();
        let a = svd.fit_model(&train, &FitContext::with_seed(9)).unwrap();
        let b = svd.fit_model(&train, &FitContext::with_seed(9)).unwrap();
        let c = svd.fit_model(&train, &FitContext::with_seed(10)).unwrap();
        assert_eq!(a.user_factors, b.user_factors);
        assert_eq!(a.item_factors, b.item_factors);
        assert_eq!(a.item_bias, b.item_bias);
        assert_ne!(a.item_factors, c.item_factors);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let one_thread = pool
            .install(|| svd.fit_model(&train, &FitContext::with_seed(9)))
            .unwrap();
        assert_eq!(a.user_factors, one_thread.user_factors);
        assert_eq!(a.item_factors, one_thread.item_factors);
    }

    #[test]
    fn unknown_users_and_items_fall_back_to_biases() {
        let (train, _) = planted_low_rank(30, 20, 2, 0.5, 0.2, 8);
        // Item 19 gets no ratings: known to the shape, unknown to the model.
        let train = train.filter(|c| c.item != 19).with_shape(30, 25);
        let model = Svd::new(SvdParams {
            factors: 4,
            epochs: 10,
            ..SvdParams::default()
        })
        .unwrap()
        .fit_model(&train, &FitContext::default())
        .unwrap();
        let mu = model.global_mean;
        let (b_u, b_i) = (model.user_bias[3], model.item_bias[2]);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(model.predict(3, 19).unwrap(), mu + b_u));
        assert!(close(model.predict(3, 24).unwrap(), mu + b_u));
        assert!(close(model.predict(3, 1_000_000).unwrap(), mu + b_u));
        assert!(close(model.predict(500, 2).unwrap(), mu + b_i));
        assert!(close(model.predict(u32::MAX, u32::MAX).unwrap(), mu));
        let mut scores = vec![0f32; model.n_items()];
        model.score(&Query::anonymous(train.row(29)), &mut scores);
        assert!(scores.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn fold_in_of_a_trained_users_history_ranks_like_the_user() {
        let (train, _) = planted_low_rank(120, 80, 3, 0.4, 0.1, 21);
        let model = Svd::new(SvdParams {
            factors: 6,
            epochs: 60,
            learning_rate: 0.01,
            ..SvdParams::default()
        })
        .unwrap()
        .fit_model(&train, &FitContext::default())
        .unwrap();
        let mut known = vec![0f32; model.n_items()];
        let mut folded = vec![0f32; model.n_items()];
        let mut agreement = 0.0;
        for user in 0..20u32 {
            model.score(&Query::known(user, &train), &mut known);
            model.score(&Query::anonymous(train.row(user)), &mut folded);
            agreement += correlation(&known, &folded);
        }
        assert!(
            agreement / 20.0 > 0.9,
            "mean correlation {}",
            agreement / 20.0
        );
    }

    pub(crate) fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let (ma, mb) = (mean(a), mean(b));
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        sab / (saa * sbb).sqrt()
    }

    #[test]
    fn check_names_the_bad_parameter() {
        let bad = [
            (
                SvdParams {
                    factors: 0,
                    ..SvdParams::default()
                },
                "factors",
            ),
            (
                SvdParams {
                    epochs: 0,
                    ..SvdParams::default()
                },
                "epochs",
            ),
            (
                SvdParams {
                    learning_rate: -1.0,
                    ..SvdParams::default()
                },
                "learning_rate",
            ),
            (
                SvdParams {
                    regularization: f32::NAN,
                    ..SvdParams::default()
                },
                "regularization",
            ),
            (
                SvdParams {
                    bias_regularization: -0.1,
                    ..SvdParams::default()
                },
                "bias_regularization",
            ),
            (
                SvdParams {
                    learning_rate_decay: 1.5,
                    ..SvdParams::default()
                },
                "learning_rate_decay",
            ),
            (
                SvdParams {
                    init_std: -1.0,
                    ..SvdParams::default()
                },
                "init_std",
            ),
        ];
        for (params, name) in bad {
            let message = params.check().unwrap_err();
            assert!(message.starts_with(name), "{message}");
            assert!(Svd::new(params).unwrap_err().to_string().contains(name));
        }
        assert!(SvdParams::default().check().is_ok());
    }

    #[test]
    fn strata_are_contiguous_balanced_and_complete() {
        let counts: Vec<u32> = (0..50u32).map(|e| (e * 37) % 23 + 1).collect();
        let strata = Strata::balanced(&counts, 4);
        let mut seen = vec![false; counts.len()];
        let mut load = [0u64; 4];
        for (e, &count) in counts.iter().enumerate() {
            let (block, local) = strata.locate(e);
            let position = strata.bounds[block] + local as usize;
            assert!(position < strata.bounds[block + 1]);
            assert!(!seen[position]);
            seen[position] = true;
            load[block] += u64::from(count);
        }
        let (min, max) = (load.iter().min().unwrap(), load.iter().max().unwrap());
        assert!(max - min <= 23, "loads {load:?}");
        let bias: Vec<f32> = (0..50).map(|e| e as f32).collect();
        let factors: Vec<f32> = (0..100).map(|e| e as f32).collect();
        // Stratum order and back: identity.
        let mut in_strata_bias = vec![0f32; 50];
        let mut in_strata_factors = vec![0f32; 100];
        for e in 0..50 {
            let p = strata.position[e] as usize;
            in_strata_bias[p] = bias[e];
            in_strata_factors[2 * p..2 * p + 2].copy_from_slice(&factors[2 * e..2 * e + 2]);
        }
        let (b, f) = strata.to_original_order(&in_strata_bias, &in_strata_factors, 2);
        assert_eq!((b, f), (bias, factors));
    }

    #[test]
    fn cancellation_stops_training() {
        let (train, _) = planted_low_rank(20, 20, 2, 0.5, 0.2, 1);
        let cancel = std::sync::atomic::AtomicBool::new(true);
        let ctx = FitContext {
            cancel: Some(&cancel),
            ..FitContext::default()
        };
        let err = Svd::new(SvdParams::default())
            .unwrap()
            .fit(&train, &ctx)
            .unwrap_err();
        assert!(matches!(err, ModelError::Cancelled));
    }

    #[test]
    fn divergence_is_an_error_not_a_nan_model() {
        let (train, _) = planted_low_rank(30, 30, 2, 0.5, 0.2, 1);
        let train = train.map_weights(|w| w * 1e4);
        let err = Svd::new(SvdParams {
            learning_rate: 0.9,
            epochs: 30,
            ..SvdParams::default()
        })
        .unwrap()
        .fit(&train, &FitContext::default())
        .unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
    }

    #[test]
    fn a_model_survives_serialisation() {
        let (train, _) = planted_low_rank(20, 15, 2, 0.5, 0.2, 2);
        let model = Svd::new(SvdParams {
            factors: 3,
            epochs: 3,
            ..SvdParams::default()
        })
        .unwrap()
        .fit_model(&train, &FitContext::default())
        .unwrap();
        let json = serde_json::to_string(&model).unwrap();
        let back: RatingFactorModel = serde_json::from_str(&json).unwrap();
        for (u, i) in [(0, 0), (3, 7), (19, 14), (40, 2)] {
            assert_eq!(model.predict(u, i), back.predict(u, i));
        }
    }

    #[test]
    fn empty_training_data_is_refused() {
        let svd = Svd::new(SvdParams::default()).unwrap();
        let err = svd
            .fit(&Interactions::empty(3, 3), &FitContext::default())
            .unwrap_err();
        assert!(matches!(err, ModelError::UnsuitableData { .. }));
    }
}
