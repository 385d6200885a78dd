//! `bpmf`: Bayesian probabilistic matrix factorization with biases and implicit feedback,
//! by Gibbs sampling (Salakhutdinov & Mnih 2008; the implicit terms as in the Bayesian
//! SVD++ "flipped" of Rendle, Zhang & Koren 2019).
//!
//! `r_ui ~ N(μ + b_u + b_i + w_i · v_u, 1/α)` with `v_u = p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j` and
//! `w_i = q_i + |N(i)|^-½ Σ_{u∈N(i)} x_u` (`N` = who rated what; either implicit term can be
//! switched off, leaving plain BPMF). The biases ride inside the factor vectors (`[p_u, b_u]`
//! against `[w_i, 1]`), so each side has one Gaussian prior whose mean and precision get a
//! Normal–Wishart hyperprior, as do `y` and `x`; the noise precision `α` gets a Gamma one.
//! A sweep draws each block given the rest: hyper-parameters, users, items, `y`, `x`, `α`.
//! Regularisation is thereby learnt from the data instead of tuned, and averaging over the
//! posterior is what lifts it above the SGD models.
//!
//! The trained model keeps the posterior mean of every vector, so it is as cheap to store
//! and serve as `svd`. (Averaging the samples' predictions instead was measured no better on
//! MovieLens, and needs every sample kept.)
//!
//! Users and items draw from their own generators, seeded by `(seed, sweep, entity)`, so
//! those blocks run in parallel and the model is the same for any thread count; the implicit
//! blocks are drawn in a fixed order on one thread.

use aisle_data::rng::{pair_hash, splitmix64};
use aisle_data::{Interactions, Rng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::linalg::{axpy, factor_dot};
use crate::params::{Domain, ParamSpec, Search};
use crate::rating_mf::{
    FoldInPenalty, ImplicitFactors, RatingFactorModel, checked_global_mean, clear_untrained_rows,
    normal_matrix,
};
use crate::recommender::{Algorithm, FitContext, Recommender};
use crate::registry::Params;
use crate::spd::cholesky;

/// Hyper-parameters of [`Bpmf`].
///
/// The defaults were chosen on validation splits carved out of the training data only:
/// MovieLens 100K's `u1.base`, each user's ratings ordered by `pair_hash(seed, user, item)`
/// and the first tenth held out, for seeds 7, 8 and 9 (mean RMSE); no `.test` file was
/// looked at. Both implicit terms on gave 0.882 (10 factors, 200 sweeps), against 0.892
/// with the user side only, 0.883 with the item side only and 0.896 for plain BPMF. Over
/// `factors`
/// {5, 10, 16, 20, 24, 32}, `epochs`/`burn_in` {60/20, 100/30, 150/50, 200/50, 400/100}
/// and `init_std` {0.01, 0.02, 0.05, 0.1, 0.3}, 16 factors, 100 sweeps of which 30 burn-in
/// and a small start (0.02) did best (0.879); longer chains were no better, more factors
/// only slower. `prior_strength` 1 and 10 were within 0.001 of 2, the usual choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BpmfParams {
    /// Length of the user and item factor vectors (biases come on top).
    pub factors: usize,
    /// Gibbs sweeps in all, burn-in included.
    pub epochs: usize,
    /// Leading sweeps whose samples are discarded while the chain finds the posterior.
    pub burn_in: usize,
    /// Standard deviation of the normal distribution the factors start from.
    pub init_std: f32,
    /// `β₀`: how many pseudo-observations the Normal–Wishart prior puts on the prior mean 0.
    pub prior_strength: f32,
    /// Complete each user's vector with `|N(u)|^-½ Σ_{j ∈ N(u)} y_j` over the items they
    /// rated (Bayesian SVD++). Drawing `y` keeps a `factors²` matrix per user in memory.
    pub implicit_users: bool,
    /// Complete each item's vector with `|N(i)|^-½ Σ_{u ∈ N(i)} x_u` over the users who rated
    /// it (the "flipped" SVD++ of Rendle, Zhang & Koren 2019). Drawing `x` keeps a
    /// `factors²` matrix per item in memory.
    pub implicit_items: bool,
}

impl Default for BpmfParams {
    fn default() -> Self {
        BpmfParams {
            factors: 16,
            epochs: 100,
            burn_in: 30,
            init_std: 0.02,
            prior_strength: 2.0,
            implicit_users: true,
            implicit_items: true,
        }
    }
}

/// Largest accepted factor count: every sweep factors a `(factors + 1)²` matrix per user
/// and item and the implicit blocks keep one `factors²` matrix each, so the cost grows with
/// the square and the cube; accuracy on MovieLens stopped improving at 16.
const MAX_BAYESIAN_FACTORS: usize = 256;

impl Params for BpmfParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "factors",
            Domain::Int {
                min: 1,
                max: MAX_BAYESIAN_FACTORS as i64,
            },
            "Length of the user and item factor vectors (biases come on top).",
        )
        .searched(Search::log(4.0, 64.0)),
        ParamSpec::new(
            "epochs",
            Domain::Int { min: 1, max: 1000 },
            "Gibbs sweeps in all, burn-in included.",
        ),
        ParamSpec::new(
            "burn_in",
            Domain::Int { min: 0, max: 1000 },
            "Leading sweeps whose samples are discarded; at most `epochs − 1` are (the last sample is always kept).",
        ),
        ParamSpec::new(
            "init_std",
            Domain::closed(0.0, 10.0),
            "Standard deviation of the normal distribution the factors start from.",
        ),
        ParamSpec::new(
            "prior_strength",
            Domain::POSITIVE,
            "`β₀`: pseudo-observations the Normal–Wishart prior puts on the prior mean 0.",
        )
        .searched(Search::log(0.5, 10.0)),
        ParamSpec::new(
            "implicit_users",
            Domain::Bool,
            "Complete each user's vector with the items they rated (Bayesian SVD++).",
        ),
        ParamSpec::new(
            "implicit_items",
            Domain::Bool,
            "Complete each item's vector with the users who rated it (flipped SVD++).",
        ),
    ];
}

/// A `Gamma(shape, 1)` deviate (Marsaglia & Tsang 2000; shapes below 1 by the boost
/// `Gamma(a) = Gamma(a + 1) · U^{1/a}`).
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.f64();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Inverts a lower-triangular `n × n` matrix (row-major) in place.
fn invert_lower(l: &mut [f64], n: usize) {
    for j in 0..n {
        l[j * n + j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * n + k] * l[k * n + j];
            }
            l[i * n + j] = s / l[i * n + i];
        }
    }
}

/// Solves `Lᵀ x = b` in place for a lower-triangular `L` stored in the lower triangle.
fn solve_upper_transposed(l: &[f64], b: &mut [f64], n: usize) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves `L y = b` in place for a lower-triangular `L`.
fn solve_lower(l: &[f64], b: &mut [f64], n: usize) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// The Gaussian prior one side's vectors share: its precision (`d × d`, row-major) and
/// precision times mean.
#[derive(Debug, Clone)]
struct SidePrior {
    precision: Vec<f64>,
    /// `precision · mean`, needed by every entity's posterior.
    precision_mean: Vec<f64>,
}

impl SidePrior {
    fn standard(d: usize) -> Self {
        let mut precision = vec![0.0; d * d];
        for k in 0..d {
            precision[k * d + k] = 1.0;
        }
        SidePrior {
            precision,
            precision_mean: vec![0.0; d],
        }
    }

    /// Draws `(mean, precision)` from their Normal–Wishart posterior given the vectors of
    /// the entities that have ratings (prior: mean 0, `β₀` pseudo-observations, `ν₀ = d`
    /// degrees of freedom, scale `I`).
    fn sample(rows: &[f32], active: &[bool], d: usize, beta0: f64, rng: &mut Rng) -> Self {
        let n = active.iter().filter(|&&a| a).count() as f64;
        let mut mean = vec![0.0; d];
        for (row, _) in rows.chunks_exact(d).zip(active).filter(|(_, a)| **a) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1.0));
        // Scale⁻¹ = I + Σ (x - x̄)(x - x̄)ᵀ + β₀ n / (β₀ + n) x̄ x̄ᵀ
        let mut scale_inv = vec![0.0; d * d];
        for k in 0..d {
            scale_inv[k * d + k] = 1.0;
        }
        let mut centred = vec![0.0; d];
        for (row, _) in rows.chunks_exact(d).zip(active).filter(|(_, a)| **a) {
            for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(x) - m;
            }
            for a in 0..d {
                for b in 0..=a {
                    scale_inv[a * d + b] += centred[a] * centred[b];
                }
            }
        }
        let shrink = beta0 * n / (beta0 + n);
        for a in 0..d {
            for b in 0..=a {
                scale_inv[a * d + b] += shrink * mean[a] * mean[b];
                scale_inv[b * d + a] = scale_inv[a * d + b];
            }
        }
        let beta = beta0 + n;
        let dof = d as f64 + n;
        let posterior_mean: Vec<f64> = mean.iter().map(|m| n * m / beta).collect();
        // Scale = C⁻ᵀ C⁻¹ with C the Cholesky factor of Scale⁻¹; Bartlett: Λ = C⁻ᵀ A Aᵀ C⁻¹.
        if cholesky(&mut scale_inv, d).is_err() {
            return SidePrior::standard(d);
        }
        let mut c_inv = scale_inv;
        invert_lower(&mut c_inv, d);
        let mut bartlett = vec![0.0; d * d];
        for i in 0..d {
            bartlett[i * d + i] = (2.0 * gamma(rng, (dof - i as f64) / 2.0)).sqrt();
            for j in 0..i {
                bartlett[i * d + j] = rng.normal();
            }
        }
        // F = C⁻ᵀ A (upper × lower), then Λ = F Fᵀ.
        let mut f = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                let mut s = 0.0;
                for k in i.max(j)..d {
                    // (C⁻ᵀ)[i][k] = C⁻¹[k][i], non-zero for k ≥ i; A[k][j] non-zero for k ≥ j.
                    s += c_inv[k * d + i] * bartlett[k * d + j];
                }
                f[i * d + j] = s;
            }
        }
        let mut precision = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let s: f64 = (0..d).map(|k| f[i * d + k] * f[j * d + k]).sum();
                precision[i * d + j] = s;
                precision[j * d + i] = s;
            }
        }
        // mean ~ N(posterior_mean, (β Λ)⁻¹): with β Λ = L Lᵀ, add L⁻ᵀ z.
        let mut chol = precision.iter().map(|p| p * beta).collect::<Vec<_>>();
        let mut draw: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        if cholesky(&mut chol, d).is_ok() {
            solve_upper_transposed(&chol, &mut draw, d);
        } else {
            draw.fill(0.0);
        }
        let mean: Vec<f64> = posterior_mean
            .iter()
            .zip(&draw)
            .map(|(m, z)| m + z)
            .collect();
        let precision_mean = (0..d)
            .map(|a| (0..d).map(|b| precision[a * d + b] * mean[b]).sum())
            .collect();
        SidePrior {
            precision,
            precision_mean,
        }
    }
}

/// Per-thread scratch for one entity's posterior.
struct Scratch {
    gram: Vec<f64>,
    rhs: Vec<f64>,
    x: Vec<f64>,
    noise: Vec<f64>,
}

impl Scratch {
    fn new(d: usize) -> Self {
        Scratch {
            gram: vec![0.0; d * d],
            rhs: vec![0.0; d],
            x: vec![0.0; d],
            noise: vec![0.0; d],
        }
    }

    /// Replaces `rhs` by a draw from `N(gram⁻¹ rhs, gram⁻¹)` (`gram` is destroyed); `false`
    /// when `gram` is not positive definite.
    fn draw(&mut self, d: usize, rng: &mut Rng) -> bool {
        if cholesky(&mut self.gram, d).is_err() {
            return false;
        }
        // mean = G⁻¹ h = L⁻ᵀ L⁻¹ h; a draw adds L⁻ᵀ z.
        solve_lower(&self.gram, &mut self.rhs, d);
        for (h, z) in self.rhs.iter_mut().zip(self.noise.iter_mut()) {
            *z = rng.normal();
            *h += *z;
        }
        solve_upper_transposed(&self.gram, &mut self.rhs, d);
        true
    }
}

/// One side of the factorization (users, or items): for every entity its sampled
/// `[factors, bias]` row, its implicit term (`|N|^-½ Σ` of the other side's implicit
/// factors over the entities it is linked to; zero when the side has none) and its
/// effective factors, `factors + implicit term`, which are what meet the other side.
#[derive(Debug, Clone)]
struct Side {
    rows: Vec<f32>,
    implicit_term: Vec<f32>,
    effective: Vec<f32>,
}

impl Side {
    fn new(rows: Vec<f32>, n: usize, k: usize) -> Self {
        let mut side = Side {
            rows,
            implicit_term: vec![0.0; n * k],
            effective: vec![0.0; n * k],
        };
        side.refresh_effective(k);
        side
    }

    fn bias(&self, entity: usize, k: usize) -> f32 {
        self.rows[entity * (k + 1) + k]
    }

    fn refresh_effective(&mut self, k: usize) {
        let d = k + 1;
        for ((eff, row), term) in self
            .effective
            .chunks_exact_mut(k)
            .zip(self.rows.chunks_exact(d))
            .zip(self.implicit_term.chunks_exact(k))
        {
            for ((e, &f), &t) in eff.iter_mut().zip(&row[..k]).zip(term) {
                *e = f + t;
            }
        }
    }

    /// Recomputes every implicit term from scratch: `|N(e)|^-½ Σ_{j ∈ N(e)} implicit_j`.
    fn set_implicit_terms(&mut self, links: &Interactions, implicit: &[f32], k: usize) {
        self.implicit_term
            .par_chunks_mut(k)
            .enumerate()
            .for_each(|(e, term)| {
                term.fill(0.0);
                let row = links.row(e as u32);
                if row.is_empty() {
                    return;
                }
                for &j in row.items {
                    axpy(1.0, &implicit[j as usize * k..(j as usize + 1) * k], term);
                }
                let norm = 1.0 / (row.len() as f32).sqrt();
                term.iter_mut().for_each(|t| *t *= norm);
            });
        self.refresh_effective(k);
    }
}

/// Draws every entity's `[factors, bias]` row of `own` from its Gaussian posterior given the
/// other side and the ratings in `matrix` (rows: this side's entities). The features of a
/// rating are `[other's effective factors, 1]`, its target the rating less `μ`, the other's
/// bias and the part of the product that comes from this entity's implicit term.
#[allow(clippy::too_many_arguments)]
fn sample_side(
    own: &mut Side,
    other: &Side,
    matrix: &Interactions,
    k: usize,
    global_mean: f32,
    noise_precision: f64,
    prior: &SidePrior,
    seed: u64,
) {
    let d = k + 1;
    own.rows
        .par_chunks_mut(d)
        .zip(own.implicit_term.par_chunks(k))
        .enumerate()
        .for_each_init(
            || Scratch::new(d),
            |s, (entity, (row, term))| {
                let ratings = matrix.row(entity as u32);
                if ratings.is_empty() {
                    return;
                }
                s.gram.copy_from_slice(&prior.precision);
                s.rhs.copy_from_slice(&prior.precision_mean);
                for (j, r) in ratings.iter() {
                    let j = j as usize;
                    let features = &other.effective[j * k..(j + 1) * k];
                    for (x, &v) in s.x[..k].iter_mut().zip(features) {
                        *x = f64::from(v);
                    }
                    s.x[k] = 1.0;
                    let target = r - global_mean - other.bias(j, k) - factor_dot(features, term);
                    let target = f64::from(target) * noise_precision;
                    for a in 0..d {
                        let xa = s.x[a] * noise_precision;
                        s.rhs[a] += s.x[a] * target;
                        for (g, &xb) in s.gram[a * d..=a * d + a].iter_mut().zip(&s.x[..=a]) {
                            *g += xa * xb;
                        }
                    }
                }
                let mut rng = Rng::new(pair_hash(seed, 0, entity as u32));
                if s.draw(d, &mut rng) {
                    for (out, &v) in row.iter_mut().zip(&s.rhs) {
                        *out = v as f32;
                    }
                }
            },
        );
}

/// Draws the implicit factors `implicit` (one `k`-vector per entity of side B) that enter
/// side A's effective vectors as `z_a = |N(a)|^-½ Σ_{j ∈ N(a)} implicit_j`, block by block,
/// keeping A's implicit terms and effective vectors in step.
///
/// `implicit_j` touches every rating of every `a` linked to `j`. With `s_a = |N(a)|^-½` and
/// per-`a` sums over a's ratings, `G_a = Σ_b w_b w_bᵀ` and `g_a = Σ_b w_b e_ab` (`w` the other
/// side's effective vectors, `e` the residuals when the block starts), its posterior has
/// precision `Λ + α Σ_{a ∋ j} s_a² G_a` and that times mean
/// `Λμ + α Σ_{a ∋ j} s_a (g_a + G_a (s_a implicit_j - Δz_a))`, where `Δz_a` is how far `z_a`
/// has moved since the block started (earlier draws change a's residuals by `-G_a Δz_a`).
/// That is exact Gibbs sampling at `2 k²` per rating; the blocks run in a fixed order.
#[allow(clippy::too_many_arguments)]
fn sample_implicit(
    implicit: &mut [f32],
    a_side: &mut Side,
    b_side: &Side,
    a_matrix: &Interactions,
    b_matrix: &Interactions,
    k: usize,
    global_mean: f32,
    noise_precision: f64,
    prior: &SidePrior,
    seed: u64,
) {
    let n_a = a_matrix.n_users();
    let mut gram_sums = vec![0f32; n_a * k * k];
    let mut residual_sums = vec![0f32; n_a * k];
    gram_sums
        .par_chunks_mut(k * k)
        .zip(residual_sums.par_chunks_mut(k))
        .enumerate()
        .for_each(|(a, (gram, residual))| {
            let a_eff = &a_side.effective[a * k..(a + 1) * k];
            let a_bias = a_side.bias(a, k);
            for (b, r) in a_matrix.row(a as u32).iter() {
                let b = b as usize;
                let w = &b_side.effective[b * k..(b + 1) * k];
                let e = r - global_mean - a_bias - b_side.bias(b, k) - factor_dot(a_eff, w);
                axpy(e, w, residual);
                for (row, &wx) in gram.chunks_exact_mut(k).zip(w) {
                    axpy(wx, w, row);
                }
            }
        });
    let scale: Vec<f32> = (0..n_a)
        .map(|a| {
            let n = a_matrix.row_len(a as u32);
            if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() }
        })
        .collect();
    let term_at_start = a_side.implicit_term.clone();
    let alpha = noise_precision as f32;
    let mut s = Scratch::new(k);
    let mut precision = vec![0f32; k * k];
    let mut rhs = vec![0f32; k];
    let mut direction = vec![0f32; k];
    for j in 0..b_matrix.n_users() {
        let linked = b_matrix.row(j as u32).items;
        if linked.is_empty() {
            continue;
        }
        let y = &mut implicit[j * k..(j + 1) * k];
        precision.fill(0.0);
        rhs.fill(0.0);
        for &a in linked {
            let a = a as usize;
            let sa = scale[a];
            let gram = &gram_sums[a * k * k..(a + 1) * k * k];
            let moved = &a_side.implicit_term[a * k..(a + 1) * k];
            let start = &term_at_start[a * k..(a + 1) * k];
            for (((d, &yv), &m), &st) in direction.iter_mut().zip(y.iter()).zip(moved).zip(start) {
                *d = sa * yv - (m - st);
            }
            let weight = alpha * sa * sa;
            for ((p_row, g_row), (h, &g0)) in precision
                .chunks_exact_mut(k)
                .zip(gram.chunks_exact(k))
                .zip(rhs.iter_mut().zip(&residual_sums[a * k..(a + 1) * k]))
            {
                axpy(weight, g_row, p_row);
                *h += alpha * sa * (g0 + factor_dot(g_row, &direction));
            }
        }
        for ((g, &p), &prior_p) in s.gram.iter_mut().zip(&precision).zip(&prior.precision) {
            *g = prior_p + f64::from(p);
        }
        for ((h, &v), &prior_h) in s.rhs.iter_mut().zip(&rhs).zip(&prior.precision_mean) {
            *h = prior_h + f64::from(v);
        }
        let mut rng = Rng::new(pair_hash(seed, 1, j as u32));
        if !s.draw(k, &mut rng) {
            continue;
        }
        for (d, (out, &new)) in direction.iter_mut().zip(y.iter_mut().zip(&s.rhs)) {
            let new = new as f32;
            *d = new - *out;
            *out = new;
        }
        for &a in linked {
            let a = a as usize;
            let sa = scale[a];
            axpy(
                sa,
                &direction,
                &mut a_side.implicit_term[a * k..(a + 1) * k],
            );
            axpy(sa, &direction, &mut a_side.effective[a * k..(a + 1) * k]);
        }
    }
}

/// The `bpmf` trainer.
#[derive(Debug, Clone)]
pub struct Bpmf {
    params: BpmfParams,
}

impl Bpmf {
    /// A trainer with checked hyper-parameters.
    pub fn new(params: BpmfParams) -> Result<Self> {
        params
            .check()
            .map_err(|message| ModelError::invalid("bpmf", message))?;
        Ok(Bpmf { params })
    }

    pub fn params(&self) -> &BpmfParams {
        &self.params
    }

    /// Trains and returns the concrete model (for callers that combine models).
    pub fn fit_model(
        &self,
        train: &Interactions,
        ctx: &FitContext<'_>,
    ) -> Result<RatingFactorModel> {
        let p = &self.params;
        let global_mean = checked_global_mean("bpmf", train)?;
        let (n_users, n_items) = (train.n_users(), train.n_items());
        let k = p.factors;
        let d = k + 1;
        let by_item = train.transpose();
        let user_counts = train.row_counts();
        let item_counts = train.column_counts();
        let user_active: Vec<bool> = user_counts.iter().map(|&c| c > 0).collect();
        let item_active: Vec<bool> = item_counts.iter().map(|&c| c > 0).collect();

        let mut rng = Rng::new(ctx.seed);
        let mut start = |n: usize| {
            let mut rows = normal_matrix(&mut rng, n, d, p.init_std);
            rows.chunks_exact_mut(d).for_each(|row| row[k] = 0.0);
            rows
        };
        let mut users = Side::new(start(n_users), n_users, k);
        let mut items = Side::new(start(n_items), n_items, k);
        // y: item vectors completing the users who rated them (SVD++); x: user vectors
        // completing the items they rated (the "flipped" model). They start at zero so the
        // first sweeps are plain BPMF.
        let mut user_implicit = vec![0f32; if p.implicit_users { n_items * k } else { 0 }];
        let mut item_implicit = vec![0f32; if p.implicit_items { n_users * k } else { 0 }];

        let nnz = train.nnz() as f64;
        let mut noise_precision = 1.0f64;
        let beta0 = f64::from(p.prior_strength);
        // The last sample is always kept, whatever the burn-in.
        let burn_in = p.burn_in.min(p.epochs - 1);
        let kept = p.epochs - burn_in;
        let mut user_sum = vec![0f64; n_users * d];
        let mut item_sum = vec![0f64; n_items * d];
        let mut user_effective_sum = vec![0f64; n_users * k];
        let mut item_effective_sum = vec![0f64; n_items * k];
        let mut user_implicit_sum = vec![0f64; user_implicit.len()];
        let mut user_precision_sum = vec![0f64; d * d];
        let mut noise_sum = 0f64;
        let accumulate = |sum: &mut [f64], values: &[f32]| {
            for (s, &v) in sum.iter_mut().zip(values) {
                *s += f64::from(v);
            }
        };

        for sweep in 0..p.epochs {
            let sweep_seed = splitmix64(ctx.seed ^ splitmix64(sweep as u64 + 1));
            let user_prior = SidePrior::sample(&users.rows, &user_active, d, beta0, &mut rng);
            sample_side(
                &mut users,
                &items,
                train,
                k,
                global_mean,
                noise_precision,
                &user_prior,
                splitmix64(sweep_seed),
            );
            users.refresh_effective(k);
            let item_prior = SidePrior::sample(&items.rows, &item_active, d, beta0, &mut rng);
            sample_side(
                &mut items,
                &users,
                &by_item,
                k,
                global_mean,
                noise_precision,
                &item_prior,
                splitmix64(sweep_seed ^ 1),
            );
            items.refresh_effective(k);
            if p.implicit_users {
                let prior = SidePrior::sample(&user_implicit, &item_active, k, beta0, &mut rng);
                sample_implicit(
                    &mut user_implicit,
                    &mut users,
                    &items,
                    train,
                    &by_item,
                    k,
                    global_mean,
                    noise_precision,
                    &prior,
                    splitmix64(sweep_seed ^ 2),
                );
            }
            if p.implicit_items {
                let prior = SidePrior::sample(&item_implicit, &user_active, k, beta0, &mut rng);
                sample_implicit(
                    &mut item_implicit,
                    &mut items,
                    &users,
                    &by_item,
                    train,
                    k,
                    global_mean,
                    noise_precision,
                    &prior,
                    splitmix64(sweep_seed ^ 3),
                );
            }
            // The incremental updates of the implicit terms drift by rounding; restart them
            // from their definition once a sweep.
            if p.implicit_users {
                users.set_implicit_terms(train, &user_implicit, k);
            }
            if p.implicit_items {
                items.set_implicit_terms(&by_item, &item_implicit, k);
            }
            let squared_error = squared_error(train, &users, &items, k, global_mean);
            if !squared_error.is_finite() {
                return Err(ModelError::unsuitable(
                    "bpmf",
                    "sampling diverged (the training error became infinite or NaN)",
                ));
            }
            // Gamma(1, 1) prior on α: posterior shape 1 + n/2, rate 1 + SSE/2.
            noise_precision = gamma(&mut rng, 1.0 + nnz / 2.0) / (1.0 + squared_error / 2.0);

            if sweep >= burn_in {
                accumulate(&mut user_sum, &users.rows);
                accumulate(&mut item_sum, &items.rows);
                accumulate(&mut user_effective_sum, &users.effective);
                accumulate(&mut item_effective_sum, &items.effective);
                accumulate(&mut user_implicit_sum, &user_implicit);
                for (s, &x) in user_precision_sum.iter_mut().zip(&user_prior.precision) {
                    *s += x;
                }
                noise_sum += noise_precision;
            }
            ctx.step(sweep as u64 + 1, p.epochs as u64)?;
        }

        let mean_of = |sum: &[f64]| {
            sum.iter()
                .map(|&s| (s / kept as f64) as f32)
                .collect::<Vec<_>>()
        };
        let bias_of = |sum: &[f64]| {
            sum.chunks_exact(d)
                .map(|row| (row[k] / kept as f64) as f32)
                .collect::<Vec<_>>()
        };
        let mut user_bias = bias_of(&user_sum);
        let mut item_bias = bias_of(&item_sum);
        let mut user_factors = mean_of(&user_effective_sum);
        let mut item_factors = mean_of(&item_effective_sum);
        clear_untrained_rows(&user_counts, k, &mut user_bias, &mut user_factors);
        clear_untrained_rows(&item_counts, k, &mut item_bias, &mut item_factors);
        let implicit = p.implicit_users.then(|| ImplicitFactors {
            factors: mean_of(&user_implicit_sum),
        });

        // A folded-in user is one more draw from the user prior: its mean precision relative
        // to the noise is the ridge penalty, whatever the history's length.
        let noise = noise_sum / kept as f64;
        let prior_diagonal = |from: usize, to: usize| {
            (from..to)
                .map(|x| user_precision_sum[x * d + x] / kept as f64)
                .sum::<f64>()
                / (to - from) as f64
        };
        let fold_in = FoldInPenalty {
            factors_per_rating: 0.0,
            factors_fixed: (prior_diagonal(0, k) / noise) as f32,
            bias_per_rating: 0.0,
            bias_fixed: (prior_diagonal(k, d) / noise) as f32,
        };
        Ok(RatingFactorModel {
            algorithm: "bpmf".to_string(),
            factors: k,
            global_mean,
            user_bias,
            item_bias,
            user_factors,
            item_factors,
            user_counts,
            item_counts,
            implicit,
            fold_in,
        })
    }
}

/// Σ (r - r̂)² over the training ratings, summed per user then in user order (the same
/// total for any thread count).
fn squared_error(
    train: &Interactions,
    users: &Side,
    items: &Side,
    k: usize,
    global_mean: f32,
) -> f64 {
    let per_user: Vec<f64> = (0..train.n_users())
        .into_par_iter()
        .map(|u| {
            let v = &users.effective[u * k..(u + 1) * k];
            let b_u = users.bias(u, k);
            train
                .row(u as u32)
                .iter()
                .map(|(i, r)| {
                    let i = i as usize;
                    let w = &items.effective[i * k..(i + 1) * k];
                    let estimate = global_mean + b_u + items.bias(i, k) + factor_dot(v, w);
                    f64::from(r - estimate).powi(2)
                })
                .sum::<f64>()
        })
        .collect();
    per_user.iter().sum()
}

impl Algorithm for Bpmf {
    fn name(&self) -> &str {
        "bpmf"
    }

    fn params(&self) -> serde_json::Value {
        crate::registry::params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommender::Query;
    use crate::svd::tests::{correlation, planted_low_rank, rmse};

    fn quick(factors: usize, epochs: usize, burn_in: usize) -> Bpmf {
        Bpmf::new(BpmfParams {
            factors,
            epochs,
            burn_in,
            ..BpmfParams::default()
        })
        .unwrap()
    }

    #[test]
    fn gamma_deviates_have_the_right_mean_and_variance() {
        let mut rng = Rng::new(4);
        for shape in [0.5, 1.0, 3.0, 40.0] {
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| gamma(&mut rng, shape)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (mean / shape - 1.0).abs() < 0.03,
                "shape {shape}: mean {mean}"
            );
            assert!(
                (var / shape - 1.0).abs() < 0.06,
                "shape {shape}: variance {var}"
            );
        }
    }

    #[test]
    fn wishart_draws_average_to_dof_times_scale() {
        // Many near-zero vectors leave the posterior scale ≈ I / (1 + n·tiny) ≈ I, so
        // E[Λ] = ν · Scale with ν = d + n; check the diagonal's average.
        let d = 3;
        let n = 5;
        let rows = vec![0f32; n * d];
        let active = vec![true; n];
        let mut rng = Rng::new(2);
        let draws = 4000;
        let mut diag = vec![0.0; d];
        for _ in 0..draws {
            let prior = SidePrior::sample(&rows, &active, d, 2.0, &mut rng);
            for (k, sum) in diag.iter_mut().enumerate() {
                *sum += prior.precision[k * d + k] / draws as f64;
            }
        }
        for (k, v) in diag.iter().enumerate() {
            assert!(
                (v / (d + n) as f64 - 1.0).abs() < 0.05,
                "dimension {k}: {v}"
            );
        }
    }

    #[test]
    fn recovers_a_planted_low_rank_matrix() {
        let noise = 0.3;
        let (train, held_out) = planted_low_rank(200, 150, 3, 0.3, noise, 11);
        let model = quick(6, 60, 20)
            .fit_model(&train, &FitContext::with_seed(3))
            .unwrap();
        let error = rmse(&model, &held_out);
        assert!(error < noise, "held-out RMSE {error} against the truth");
        let plain = Bpmf::new(BpmfParams {
            factors: 6,
            epochs: 60,
            burn_in: 20,
            implicit_users: false,
            implicit_items: false,
            ..BpmfParams::default()
        })
        .unwrap()
        .fit_model(&train, &FitContext::with_seed(3))
        .unwrap();
        let plain_error = rmse(&plain, &held_out);
        assert!(
            plain_error < noise,
            "plain BPMF: held-out RMSE {plain_error}"
        );
    }

    #[test]
    fn same_seed_same_model_whatever_the_thread_count() {
        let (train, _) = planted_low_rank(40, 30, 2, 0.4, 0.2, 5);
        let bpmf = quick(4, 6, 2);
        let a = bpmf.fit_model(&train, &FitContext::with_seed(9)).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool
            .install(|| bpmf.fit_model(&train, &FitContext::with_seed(9)))
            .unwrap();
        let c = bpmf.fit_model(&train, &FitContext::with_seed(10)).unwrap();
        assert_eq!(a.user_factors, b.user_factors);
        assert_eq!(a.item_factors, b.item_factors);
        assert_eq!(a.item_bias, b.item_bias);
        assert_ne!(a.item_factors, c.item_factors);
    }

    #[test]
    fn unknown_users_and_items_fall_back_to_biases() {
        let (train, _) = planted_low_rank(30, 20, 2, 0.5, 0.2, 8);
        let train = train.filter(|c| c.item != 19).with_shape(32, 25);
        let model = quick(3, 10, 4)
            .fit_model(&train, &FitContext::default())
            .unwrap();
        let mu = model.global_mean;
        let (b_u, b_i) = (model.user_bias[3], model.item_bias[2]);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(model.predict(3, 19).unwrap(), mu + b_u));
        assert!(close(model.predict(3, 24).unwrap(), mu + b_u));
        assert!(close(model.predict(31, 2).unwrap(), mu + b_i));
        assert!(close(model.predict(u32::MAX, u32::MAX).unwrap(), mu));
    }

    #[test]
    fn fold_in_of_a_trained_users_history_ranks_like_the_user() {
        let (train, _) = planted_low_rank(120, 80, 3, 0.4, 0.1, 21);
        let model = quick(4, 40, 10)
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

    #[test]
    fn check_names_the_bad_parameter() {
        let bad = [
            (
                BpmfParams {
                    factors: 0,
                    ..BpmfParams::default()
                },
                "factors",
            ),
            (
                BpmfParams {
                    epochs: 0,
                    ..BpmfParams::default()
                },
                "epochs",
            ),
            (
                BpmfParams {
                    init_std: f32::NAN,
                    ..BpmfParams::default()
                },
                "init_std",
            ),
            (
                BpmfParams {
                    prior_strength: 0.0,
                    ..BpmfParams::default()
                },
                "prior_strength",
            ),
        ];
        for (params, name) in bad {
            let message = params.check().unwrap_err();
            assert!(message.starts_with(name), "{message}");
            assert!(Bpmf::new(params).unwrap_err().to_string().contains(name));
        }
        assert!(BpmfParams::default().check().is_ok());
    }
}
