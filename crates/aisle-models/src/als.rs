//! Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren and
//! Volinsky 2008), with the conjugate-gradient solver of Takács, Pilászy and Tikk (2011).
//!
//! Every (user, item) pair is a training example: an observed cell with weight `w > 0` has
//! preference 1 and confidence `c = 1 + alpha·w` (the paper's form; implicit's library uses
//! `alpha·w`, so its `alpha = a` on 0/1 data is this model's `alpha = a − 1`); every other
//! pair has preference 0 and confidence 1. The loss
//! `Σ c·(p − xᵤ·yᵢ)² + Σᵤ λᵤ‖xᵤ‖² + Σᵢ λᵢ‖yᵢ‖²` (`λ` optionally scaled per row by how much
//! data the row has, see [`AlsParams::regularization_exponent`]) is minimised by solving for
//! all users with the items fixed, then for all items with the users fixed. Each row's
//! system `(YᵀY + λI + Σᵢ (cᵢ−1)·yᵢyᵢᵀ)·x = Σᵢ cᵢ·yᵢ` costs only the row's own cells plus
//! one shared `YᵀY`, computed once per half-iteration.
//!
//! The default solver runs a few conjugate-gradient steps per row warm-started from the
//! previous factors (never forming the `f × f` matrix); `solver = "cholesky"` solves each
//! system exactly. Rows are solved in parallel with per-thread scratch space; the item side
//! reads a lean item × user transpose (indices and weights, no timestamps).
//!
//! Fold-in: an unseen user's factors are the exact solution of their least-squares problem
//! with the item factors fixed, so a history is scored without retraining.

use serde::{Deserialize, Serialize};

use aisle_data::rng::pair_hash;
use aisle_data::{Interactions, Rng, Row};
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::factors::{
    RankedCache, RankedItems, cosine_neighbours, row_norms, score_items, top_n_for_users,
    top_n_ranked,
};
use crate::linalg::{SparseRows, axpy, dot};
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::Params;
use crate::spd::{cholesky, cholesky_solve, gram};
use crate::topk::Scored;

const NAME: &str = "als";

/// Rows whose fixed-side factors take at most this many bytes have them gathered into
/// per-thread scratch space for the CG steps; longer rows (the few most popular items) are
/// read in place, bounding the scratch space per thread.
const GATHER_BYTES: usize = 16 << 20;

/// How many cells ahead the first pass over a row touches the factors it will need.
const LOOK_AHEAD: usize = 8;

/// Half-width of the uniform initial factors. Small, as in implicit: the first half-iteration
/// then mostly solves from scratch.
const INITIAL_SCALE: f32 = 0.01;

/// How each row's least-squares system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlsSolver {
    /// `cg_steps` conjugate-gradient steps from the previous factors: `O(f² + nnz·f)` per
    /// row.
    #[default]
    Cg,
    /// Forms and factors each `f × f` system: `O(f³ + nnz·f²)` per row, exact.
    Cholesky,
}

/// Hyper-parameters of [`Als`].
///
/// `alpha`, `regularization` and `regularization_exponent` were chosen by grid search
/// (alpha 0–10, λ 3–100, ν 0–2, f 32–128) on validation splits carved out of training files
/// only: 20% of each user's rows of `splits/ml-100k/holdout.train.tsv` (hashed with seed 7)
/// and the same carve of `splits/ml-latest-small/holdout.train.tsv`; both agreed on
/// alpha 3, λ 30, ν 1. `factors` made no difference there beyond noise, so 64 (the common
/// default) keeps fits fast; `iterations` 15 and `cg_steps` 3 are where the loss has
/// stopped falling in practice (implicit's defaults, too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlsParams {
    /// Latent dimensions `f`.
    pub factors: usize,
    /// Alternations (users then items).
    pub iterations: usize,
    /// `λ`, the weight of the squared norm of a factor vector (of a typical row; see
    /// `regularization_exponent`).
    pub regularization: f32,
    /// `ν` of frequency-scaled regularisation (Rendle et al. 2022, "Revisiting the iALS
    /// algorithm"): a row's penalty is `λ·(Cᵣ/C̄)^ν`, `Cᵣ` being the row's total confidence
    /// over all pairs and `C̄` its mean over the rows of that side. `0` is a flat `λ`.
    pub regularization_exponent: f32,
    /// Confidence slope: an observed cell of weight `w` has confidence `1 + alpha·w`.
    pub alpha: f32,
    /// `β` of popularity-weighted negatives (He et al. 2016, "Fast matrix factorization for
    /// online recommendation with implicit feedback"): an unobserved pair with item `i` has
    /// confidence `c₀ᵢ ∝ (nᵢ + 1)^β` (`nᵢ` the item's users, `c₀` scaled to mean 1) and an
    /// observed one `c₀ᵢ + alpha·w`. A popular item a user skipped says more than a rare one
    /// they never came across. `0` is the uniform weight of Hu et al.
    pub negative_exponent: f32,
    /// `cg` (default) or `cholesky`.
    pub solver: AlsSolver,
    /// Conjugate-gradient steps per row and half-iteration (solver `cg`).
    pub cg_steps: usize,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            iterations: 15,
            regularization: 30.0,
            regularization_exponent: 1.0,
            alpha: 3.0,
            negative_exponent: 0.0,
            solver: AlsSolver::Cg,
            cg_steps: 3,
        }
    }
}

impl Params for AlsParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "factors",
            Domain::Int { min: 1, max: 1024 },
            "Latent dimensions `f`.",
        )
        .searched(Search::log(16.0, 256.0)),
        ParamSpec::new(
            "iterations",
            Domain::Int { min: 1, max: 100 },
            "Alternations (users then items).",
        )
        .fidelity(),
        ParamSpec::new(
            "regularization",
            Domain::POSITIVE,
            "`λ`, the weight of the squared norm of a typical row's factors.",
        )
        .searched(Search::log(0.5, 500.0)),
        ParamSpec::new(
            "regularization_exponent",
            Domain::closed(0.0, 4.0),
            "`ν`: a row's penalty is `λ·(Cᵣ/C̄)^ν` (frequency-scaled); 0 is a flat `λ`.",
        )
        .searched(Search::linear(0.0, 1.5)),
        ParamSpec::new(
            "alpha",
            Domain::NON_NEGATIVE,
            "Confidence slope: a cell of weight `w` has confidence `1 + alpha·w`.",
        )
        .searched(Search::log(0.1, 50.0)),
        ParamSpec::new(
            "negative_exponent",
            Domain::closed(0.0, 2.0),
            "`β`: an unobserved pair with item `i` weighs `c₀ᵢ ∝ (nᵢ+1)^β` (mean 1; `nᵢ` the \
             item's users); 0 weighs all alike.",
        )
        .searched(Search::linear(0.0, 1.0)),
        ParamSpec::new(
            "solver",
            Domain::Choice(&["cg", "cholesky"]),
            "`cg` or `cholesky`.",
        ),
        ParamSpec::new(
            "cg_steps",
            Domain::Int { min: 1, max: 32 },
            "Conjugate-gradient steps per row and half-iteration (solver `cg`).",
        ),
    ];
}

/// Trains [`AlsModel`]s.
#[derive(Debug, Clone, Default)]
pub struct Als {
    params: AlsParams,
}

impl Als {
    pub fn new(params: AlsParams) -> Self {
        Als { params }
    }

    /// Trains and returns the concrete model (the [`Algorithm`] impl boxes it).
    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<AlsModel> {
        self.fit_tracked(train, ctx, |_| {})
    }

    /// Trains, calling `after_iteration` with the model so far after every iteration
    /// (tests use it to follow the loss).
    fn fit_tracked(
        &self,
        train: &Interactions,
        ctx: &FitContext<'_>,
        mut after_iteration: impl FnMut(&AlsModel),
    ) -> Result<AlsModel> {
        let p = &self.params;
        if train.nnz() == 0 {
            return Err(ModelError::unsuitable(
                NAME,
                "the training data has no interactions",
            ));
        }
        let f = p.factors;
        let items_of_user = |u: usize| {
            let row = train.row(u as u32);
            (row.items, row.weights)
        };
        let by_item = SparseRows::transpose_of(train);
        let users_of_item = |i: usize| by_item.row(i);
        let positive_weight: f64 = train.weights().iter().map(|&w| f64::from(w.max(0.0))).sum();
        let penalty = |n_rows: usize, n_fixed: usize| RowPenalty {
            base: p.regularization,
            exponent: p.regularization_exponent,
            alpha: p.alpha,
            n_fixed: n_fixed as f32,
            mean_total: (n_fixed as f64
                + f64::from(p.alpha) * positive_weight / n_rows.max(1) as f64)
                as f32,
        };
        let user_penalty = penalty(train.n_users(), train.n_items());
        let item_penalty = penalty(train.n_items(), train.n_users());
        let item_bases = negative_weights(&train.column_counts(), p.negative_exponent);
        let mut model = AlsModel {
            factors: f,
            alpha: p.alpha,
            user_penalty,
            item_penalty,
            user_factors: initial_factors(train.n_users(), f, INITIAL_SCALE, ctx.seed, 0),
            item_factors: initial_factors(train.n_items(), f, INITIAL_SCALE, ctx.seed, 1),
            item_gram: Vec::new(),
            item_norms: Vec::new(),
            item_bases,
            ranked: RankedCache::default(),
        };
        let bases = (!model.item_bases.is_empty()).then_some(model.item_bases.as_slice());
        let solver = |penalty, bases| RowSolver {
            f,
            alpha: p.alpha,
            penalty,
            solver: p.solver,
            cg_steps: p.cg_steps,
            bases,
        };
        for iteration in 0..p.iterations {
            let item_gram = weighted_gram(&model.item_factors, f, bases);
            solver(user_penalty, bases.map_or(Bases::Uniform, Bases::PerColumn)).solve_side(
                items_of_user,
                &model.item_factors,
                &item_gram,
                &mut model.user_factors,
            );
            let user_gram = gram(&model.user_factors, f);
            solver(item_penalty, bases.map_or(Bases::Uniform, Bases::PerRow)).solve_side(
                users_of_item,
                &model.user_factors,
                &user_gram,
                &mut model.item_factors,
            );
            after_iteration(&model);
            ctx.step(iteration as u64 + 1, p.iterations as u64)?;
        }
        model.item_gram = weighted_gram(&model.item_factors, f, bases);
        model.item_norms = row_norms(&model.item_factors, f);
        Ok(model)
    }
}

impl Algorithm for Als {
    fn name(&self) -> &str {
        NAME
    }

    fn params(&self) -> serde_json::Value {
        crate::registry::params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

/// Random factors uniform in `[−scale, scale)`, generated in fixed-size chunks each with its
/// own seeded stream, so the result depends on the seed alone (not on the thread count).
pub(crate) fn initial_factors(rows: usize, f: usize, scale: f32, seed: u64, side: u32) -> Vec<f32> {
    const CHUNK_ROWS: usize = 4096;
    let mut out = vec![0f32; rows * f];
    out.par_chunks_mut((CHUNK_ROWS * f).max(1))
        .enumerate()
        .for_each(|(chunk, values)| {
            let mut rng = Rng::new(pair_hash(seed, side, chunk as u32));
            for v in values {
                *v = (rng.f32() - 0.5) * 2.0 * scale;
            }
        });
    out
}

/// The unobserved-pair weights `c₀ᵢ ∝ (nᵢ + 1)^β` of items with `nᵢ` users each, scaled to
/// mean 1; empty when `β = 0` (every weight 1).
fn negative_weights(item_users: &[u32], exponent: f32) -> Vec<f32> {
    if exponent == 0.0 || item_users.is_empty() {
        return Vec::new();
    }
    let raw: Vec<f64> = item_users
        .iter()
        .map(|&n| (f64::from(n) + 1.0).powf(f64::from(exponent)))
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    raw.iter().map(|&w| (w / mean) as f32).collect()
}

/// `Σᵢ bᵢ·yᵢyᵢᵀ` over the rows of `y`, or the plain `YᵀY` without weights `b`.
fn weighted_gram(y: &[f32], f: usize, bases: Option<&[f32]>) -> Vec<f32> {
    match bases {
        None => gram(y, f),
        Some(bases) => {
            let mut scaled = y.to_vec();
            scaled
                .par_chunks_mut(f)
                .zip(bases.par_iter())
                .for_each(|(row, &b)| {
                    let root = b.sqrt();
                    row.iter_mut().for_each(|v| *v *= root);
                });
            gram(&scaled, f)
        }
    }
}

/// Where a row's unobserved-pair weights come from: all 1; one per column (the user side:
/// each item has its own); or one per row (the item side: the item's own, for every user).
#[derive(Debug, Clone, Copy)]
enum Bases<'b> {
    Uniform,
    PerColumn(&'b [f32]),
    PerRow(&'b [f32]),
}

impl Bases<'_> {
    #[inline]
    fn row(&self, r: usize) -> f32 {
        match self {
            Bases::PerRow(bases) => bases[r],
            _ => 1.0,
        }
    }

    #[inline]
    fn columns(&self) -> Option<&[f32]> {
        match self {
            Bases::PerColumn(bases) => Some(bases),
            _ => None,
        }
    }
}

/// The penalty `λᵣ` on the squared norm of one row's factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct RowPenalty {
    base: f32,
    exponent: f32,
    alpha: f32,
    /// Rows of the other side: every one is a pair of confidence at least 1.
    n_fixed: f32,
    /// Mean total confidence of a row of this side.
    mean_total: f32,
}

impl RowPenalty {
    /// The penalty of a row with cells of `weights` whose unobserved pairs weigh
    /// `row_base` each on average (1, or an item's own `c₀ᵢ` on the item side).
    #[inline]
    fn for_row(&self, weights: &[f32], row_base: f32) -> f32 {
        if self.exponent == 0.0 {
            return self.base;
        }
        let total =
            self.n_fixed * row_base + self.alpha * weights.iter().map(|w| w.max(0.0)).sum::<f32>();
        self.base * (total / self.mean_total).powf(self.exponent)
    }
}

/// Confidence and preference of a cell of weight `w` whose pair weighs `base` unobserved;
/// cells with `w <= 0` count as unobserved.
#[inline]
fn confidence(alpha: f32, w: f32, base: f32) -> (f32, f32) {
    if w > 0.0 {
        (base + alpha * w, 1.0)
    } else {
        (base, 0.0)
    }
}

/// Per-thread work space of a row solve.
struct Scratch {
    residual: Vec<f32>,
    direction: Vec<f32>,
    product: Vec<f32>,
    system: Vec<f32>,
    /// The fixed-side factors of the row's cells, gathered contiguously on the first pass
    /// so the CG steps stream them instead of chasing them across the factor matrix.
    gathered: Vec<f32>,
    /// `c − 1` of each gathered row.
    extra_confidence: Vec<f32>,
}

impl Scratch {
    fn new(f: usize) -> Self {
        Scratch {
            residual: vec![0.0; f],
            direction: vec![0.0; f],
            product: vec![0.0; f],
            system: Vec::new(),
            gathered: Vec::new(),
            extra_confidence: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct RowSolver<'b> {
    f: usize,
    alpha: f32,
    penalty: RowPenalty,
    solver: AlsSolver,
    cg_steps: usize,
    /// Unobserved-pair weights; with `PerRow`, `gram` is scaled by the row's.
    bases: Bases<'b>,
}

/// The unobserved-pair weight of a row's cell in column `c`.
#[inline(always)]
fn base_of(row_base: f32, columns: Option<&[f32]>, c: u32) -> f32 {
    match columns {
        Some(bases) => row_base * bases[c as usize],
        None => row_base,
    }
}

impl RowSolver<'_> {
    /// Re-solves every row of `target` against the fixed factors `fixed`, `gram` being
    /// `fixedᵀ·fixed`; `cells(r)` gives the columns of the fixed side row `r` has
    /// cells in, with their weights.
    fn solve_side<'a>(
        &self,
        cells: impl Fn(usize) -> (&'a [u32], &'a [f32]) + Sync,
        fixed: &[f32],
        gram: &[f32],
        target: &mut [f32],
    ) {
        let f = self.f;
        let wide = crate::kernels::wide_vectors_available();
        target.par_chunks_mut(f).enumerate().for_each_init(
            || Scratch::new(f),
            |scratch, (r, x)| {
                let (columns, weights) = cells(r);
                let row_base = self.bases.row(r);
                match self.solver {
                    #[cfg(target_arch = "x86_64")]
                    AlsSolver::Cg if wide => {
                        // SAFETY: `wide` is true only when the CPU running this has AVX2 and
                        // FMA (checked at run time by `wide_vectors_available`), which is the
                        // one requirement of calling a `target_feature` function.
                        #[allow(unsafe_code)]
                        unsafe {
                            self.conjugate_gradient_avx2(
                                x, row_base, columns, weights, fixed, gram, scratch,
                            )
                        }
                    }
                    AlsSolver::Cg => {
                        self.conjugate_gradient(x, row_base, columns, weights, fixed, gram, scratch)
                    }
                    AlsSolver::Cholesky => self.exact(
                        x,
                        row_base,
                        columns,
                        weights,
                        fixed,
                        gram,
                        &mut scratch.system,
                    ),
                }
            },
        );
    }

    /// [`RowSolver::conjugate_gradient`] compiled for AVX2 and FMA: the same code, which the
    /// compiler then vectorises 8 floats wide with fused multiply-adds instead of SSE2's 4.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn conjugate_gradient_avx2(
        &self,
        x: &mut [f32],
        row_base: f32,
        columns: &[u32],
        weights: &[f32],
        fixed: &[f32],
        gram: &[f32],
        scratch: &mut Scratch,
    ) {
        self.conjugate_gradient(x, row_base, columns, weights, fixed, gram, scratch)
    }

    /// `cg_steps` steps of conjugate gradient on the row's system, from `x`'s current value.
    /// CG never increases the row's quadratic loss, so neither does a half-iteration.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conjugate_gradient(
        &self,
        x: &mut [f32],
        row_base: f32,
        columns: &[u32],
        weights: &[f32],
        fixed: &[f32],
        gram: &[f32],
        scratch: &mut Scratch,
    ) {
        let f = self.f;
        let Scratch {
            residual: r,
            direction: p,
            product: ap,
            gathered,
            extra_confidence,
            ..
        } = scratch;
        if columns.is_empty() {
            // The system is (YᵀY + λI)x = 0.
            x.fill(0.0);
            return;
        }
        let bases = self.bases.columns();
        let lambda = self.penalty.for_row(weights, row_base);
        // r = b − A·x without forming A.
        symmetric_times(gram, row_base, lambda, x, r);
        r.iter_mut().for_each(|v| *v = -*v);
        let gather = columns.len() * f * std::mem::size_of::<f32>() <= GATHER_BYTES;
        gathered.clear();
        extra_confidence.clear();
        for (k, (&c, &w)) in columns.iter().zip(weights).enumerate() {
            // The rows are scattered over a matrix larger than the cache: asking for a row
            // several cells ahead starts its cache misses early, so they overlap with this
            // row's arithmetic instead of stalling it.
            if let Some(&ahead) = columns.get(k + LOOK_AHEAD) {
                let start = ahead as usize * f;
                prefetch_row(&fixed[start..start + f]);
            }
            let y = &fixed[c as usize * f..(c as usize + 1) * f];
            let base = base_of(row_base, bases, c);
            let (conf, pref) = confidence(self.alpha, w, base);
            let extra = conf - base;
            let coefficient = conf * pref - extra * dot(y, x);
            if gather && extra != 0.0 {
                // Copied in the same pass as the update: a separate copy of 64 floats
                // becomes a `memcpy` call per cell, which costs more than the copy.
                gathered.extend(r.iter_mut().zip(y).map(|(r, &v)| {
                    *r += coefficient * v;
                    v
                }));
                extra_confidence.push(extra);
            } else {
                axpy(coefficient, y, r);
            }
        }
        p.copy_from_slice(r);
        let mut rs_old = dot(r, r);
        for _ in 0..self.cg_steps {
            if rs_old < 1e-20 {
                break;
            }
            symmetric_times(gram, row_base, lambda, p, ap);
            if gather {
                for (y, &extra) in gathered.chunks_exact(f).zip(extra_confidence.iter()) {
                    axpy(extra * dot(y, p), y, ap);
                }
            } else {
                for (&c, &w) in columns.iter().zip(weights) {
                    let y = &fixed[c as usize * f..(c as usize + 1) * f];
                    let base = base_of(row_base, bases, c);
                    let extra = confidence(self.alpha, w, base).0 - base;
                    if extra != 0.0 {
                        axpy(extra * dot(y, p), y, ap);
                    }
                }
            }
            let curvature = dot(p, ap);
            if !(curvature.is_finite() && curvature > 0.0) {
                break;
            }
            let step = rs_old / curvature;
            axpy(step, p, x);
            axpy(-step, ap, r);
            let rs_new = dot(r, r);
            let beta = rs_new / rs_old;
            for (p, r) in p.iter_mut().zip(r.iter()) {
                *p = r + beta * *p;
            }
            rs_old = rs_new;
        }
    }

    /// The exact solution of the row's system by Cholesky.
    #[allow(clippy::too_many_arguments)]
    fn exact(
        &self,
        x: &mut [f32],
        row_base: f32,
        columns: &[u32],
        weights: &[f32],
        fixed: &[f32],
        gram: &[f32],
        system: &mut Vec<f32>,
    ) {
        let lambda = self.penalty.for_row(weights, row_base);
        let cells = RowCells {
            columns,
            weights,
            row_base,
            bases: self.bases.columns(),
        };
        exact_row(self.f, self.alpha, lambda, x, &cells, fixed, gram, system);
    }
}

/// One row's cells and the unobserved-pair weights that go with them.
struct RowCells<'a> {
    columns: &'a [u32],
    weights: &'a [f32],
    /// The row's own weight (scales the Gram matrix) and, per column, the columns' own.
    row_base: f32,
    bases: Option<&'a [f32]>,
}

/// Solves `(s·G + λI + Σ (cᵢ−c₀ᵢ)·yᵢyᵢᵀ)·x = Σ cᵢpᵢ·yᵢ` exactly (used by the Cholesky
/// solver and by fold-in), `s` the row's own unobserved weight. `s·G + λI` is positive
/// definite and the added terms positive semi-definite, so the factorisation cannot fail
/// unless the factors are not finite; then `x` is zeroed.
#[allow(clippy::too_many_arguments)]
fn exact_row(
    f: usize,
    alpha: f32,
    lambda: f32,
    x: &mut [f32],
    cells: &RowCells<'_>,
    fixed: &[f32],
    gram: &[f32],
    system: &mut Vec<f32>,
) {
    system.clear();
    system.extend(gram.iter().map(|&g| cells.row_base * g));
    for d in 0..f {
        system[d * f + d] += lambda;
    }
    x.fill(0.0);
    for (&c, &w) in cells.columns.iter().zip(cells.weights) {
        let y = &fixed[c as usize * f..(c as usize + 1) * f];
        let base = base_of(cells.row_base, cells.bases, c);
        let (conf, pref) = confidence(alpha, w, base);
        axpy(conf * pref, y, x);
        if conf != base {
            // Lower triangle only: Cholesky reads nothing else.
            for a in 0..f {
                let scale = (conf - base) * y[a];
                axpy(scale, &y[..=a], &mut system[a * f..a * f + a + 1]);
            }
        }
    }
    if cholesky(system, f).is_err() {
        x.fill(0.0);
        return;
    }
    cholesky_solve(system, f, x);
}

/// Asks the CPU to start loading `row` into the cache (a hint: no effect on results).
#[inline(always)]
fn prefetch_row(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // One request per 64-byte cache line.
        for line in row.chunks(16) {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is part of
            // the architecture's baseline); a prefetch is a hint that never faults, and the
            // pointer comes from a live slice anyway.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `out = (s·G + λI)·v` for a full symmetric `G`.
#[inline]
fn symmetric_times(g: &[f32], s: f32, lambda: f32, v: &[f32], out: &mut [f32]) {
    let f = v.len();
    for ((o, row), &vi) in out.iter_mut().zip(g.chunks_exact(f)).zip(v) {
        *o = s * dot(row, v) + lambda * vi;
    }
}

/// A trained ALS model: user and item factors, row-major `f32`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlsModel {
    factors: usize,
    alpha: f32,
    user_penalty: RowPenalty,
    item_penalty: RowPenalty,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    /// `Σᵢ c₀ᵢ·yᵢyᵢᵀ` (`YᵀY` without popularity weights), kept for fold-in.
    item_gram: Vec<f32>,
    /// `‖yᵢ‖`, kept for cosine similar items.
    item_norms: Vec<f32>,
    /// The items' unobserved-pair weights `c₀ᵢ`; empty when all are 1.
    #[serde(default)]
    item_bases: Vec<f32>,
    /// The items by decreasing norm, for lists that skip what cannot enter them.
    #[serde(skip)]
    ranked: RankedCache,
}

impl AlsModel {
    pub fn factors(&self) -> usize {
        self.factors
    }

    pub fn n_users(&self) -> usize {
        self.user_factors.len() / self.factors
    }

    /// Row `u` of the user factors.
    pub fn user_factors(&self, user: u32) -> &[f32] {
        let f = self.factors;
        &self.user_factors[user as usize * f..(user as usize + 1) * f]
    }

    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The factors of a user known only by their history: the exact least-squares solution
    /// with the item factors fixed. Items the model does not know are ignored.
    pub fn fold_in(&self, history: &Row<'_>) -> Vec<f32> {
        let f = self.factors;
        let n_items = self.n_items() as u32;
        let (columns, weights): (Vec<u32>, Vec<f32>) =
            history.iter().filter(|&(i, _)| i < n_items).unzip();
        let mut x = vec![0f32; f];
        let mut system = Vec::with_capacity(f * f);
        let cells = RowCells {
            columns: &columns,
            weights: &weights,
            row_base: 1.0,
            bases: self.item_bases(),
        };
        exact_row(
            f,
            self.alpha,
            self.user_penalty.for_row(&weights, 1.0),
            &mut x,
            &cells,
            &self.item_factors,
            &self.item_gram,
            &mut system,
        );
        x
    }

    /// The items by decreasing norm (built at the first list that asks).
    fn ranked(&self) -> &RankedItems {
        self.ranked
            .get_or_build(|| RankedItems::new(&self.item_factors, None, self.factors))
    }

    /// The user's factors: trained, or folded in from the query's history.
    fn query_factors<'s>(&'s self, query: &Query<'_>) -> std::borrow::Cow<'s, [f32]> {
        match query.user {
            Some(u) if (u as usize) < self.n_users() => self.user_factors(u).into(),
            _ => self.fold_in(&query.history).into(),
        }
    }

    /// The items' unobserved-pair weights, when they are not all 1.
    fn item_bases(&self) -> Option<&[f32]> {
        (!self.item_bases.is_empty()).then_some(self.item_bases.as_slice())
    }

    /// The top `n` unseen items for each of `users` (all known to the model), skipping the
    /// items of their rows in `train`: batched, much faster than one query at a time.
    pub fn recommend_users(
        &self,
        users: &[u32],
        train: &Interactions,
        n: usize,
    ) -> Vec<Vec<Scored>> {
        top_n_for_users(self.ranked(), &self.user_factors, users, n, |u| {
            if (u as usize) < train.n_users() {
                train.row(u).items
            } else {
                &[]
            }
        })
    }

    /// The training loss `Σ c·(p − x·y)² + Σᵤ λᵤ‖xᵤ‖² + Σᵢ λᵢ‖yᵢ‖²` over all pairs, in `f64`.
    pub fn loss(&self, train: &Interactions) -> f64 {
        let f = self.factors;
        let bases = self.item_bases();
        let unregularized: Vec<f64> = weighted_gram(&self.item_factors, f, bases)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        // Σ over all pairs of (x·y)² is Σᵤ xᵤᵀ(YᵀY)xᵤ; observed cells then correct their term.
        let per_user: f64 = (0..self.n_users())
            .into_par_iter()
            .map(|u| {
                let x = self.user_factors(u as u32);
                let mut all_pairs = 0f64;
                for a in 0..f {
                    for b in 0..f {
                        all_pairs += f64::from(x[a]) * unregularized[a * f + b] * f64::from(x[b]);
                    }
                }
                let row = train.row(u as u32);
                let penalty = f64::from(self.user_penalty.for_row(row.weights, 1.0))
                    * x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
                let observed: f64 = row
                    .iter()
                    .map(|(i, w)| {
                        let y = &self.item_factors[i as usize * f..(i as usize + 1) * f];
                        let s = f64::from(dot(x, y));
                        let base = base_of(1.0, bases, i);
                        let (c, p) = confidence(self.alpha, w, base);
                        f64::from(c) * (f64::from(p) - s).powi(2) - f64::from(base) * s * s
                    })
                    .sum();
                all_pairs + observed + penalty
            })
            .sum();
        let by_item = SparseRows::transpose_of(train);
        let per_item: f64 = (0..self.n_items())
            .map(|i| {
                let y = &self.item_factors[i * f..(i + 1) * f];
                let base = bases.map_or(1.0, |b| b[i]);
                f64::from(self.item_penalty.for_row(by_item.row(i).1, base))
                    * y.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>()
            })
            .sum();
        per_user + per_item
    }
}

impl Recommender for AlsModel {
    fn recommend_known_users(
        &self,
        users: &[u32],
        train: &Interactions,
        n: usize,
    ) -> Vec<Vec<Scored>> {
        self.recommend_users(users, train, n)
    }

    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("als", self)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ranking: true,
            similar_items: true,
            fold_in: true,
            ..Capabilities::default()
        }
    }

    fn n_items(&self) -> usize {
        self.item_factors.len() / self.factors
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        score_items(&self.query_factors(query), &self.item_factors, None, scores)
    }

    fn best_items(
        &self,
        query: &Query<'_>,
        n: usize,
        allowed: &mut dyn FnMut(u32) -> bool,
    ) -> Option<Vec<Scored>> {
        Some(top_n_ranked(
            self.ranked(),
            &self.query_factors(query),
            n,
            allowed,
        ))
    }

    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        cosine_neighbours(&self.item_factors, &self.item_norms, self.factors, item, n)
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        crate::factors::cosine(&self.item_factors, &self.item_norms, self.factors, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommender::recommend;
    use aisle_data::{Cell, DuplicatePolicy};

    /// Users in `groups` blocks, each interacting with a random half of its block's items
    /// (plus a little noise elsewhere): a planted low-rank structure.
    fn planted(n_users: usize, n_items: usize, groups: usize, seed: u64) -> Interactions {
        let mut rng = Rng::new(seed);
        let mut cells = Vec::new();
        for u in 0..n_users {
            let g = u % groups;
            for i in 0..n_items {
                let in_block = i % groups == g;
                let p = if in_block { 0.5 } else { 0.02 };
                if rng.chance(p) {
                    cells.push(Cell {
                        user: u as u32,
                        item: i as u32,
                        weight: 1.0 + rng.index(3) as f32,
                        timestamp: 0,
                    });
                }
            }
        }
        Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Sum)
    }

    fn params(solver: AlsSolver) -> AlsParams {
        AlsParams {
            factors: 8,
            iterations: 6,
            regularization: 0.5,
            regularization_exponent: 0.0,
            alpha: 2.0,
            negative_exponent: 0.0,
            solver,
            cg_steps: 3,
        }
    }

    #[test]
    fn loss_falls_every_iteration_with_both_solvers() {
        let train = planted(120, 80, 4, 1);
        for (solver, exponent, negative_exponent) in [
            (AlsSolver::Cg, 0.0, 0.0),
            (AlsSolver::Cholesky, 0.0, 0.0),
            (AlsSolver::Cg, 1.0, 0.0),
            (AlsSolver::Cg, 1.0, 0.8),
            (AlsSolver::Cholesky, 0.5, 0.8),
        ] {
            let mut losses = Vec::new();
            let params = AlsParams {
                regularization_exponent: exponent,
                negative_exponent,
                ..params(solver)
            };
            Als::new(params)
                .fit_tracked(&train, &FitContext::with_seed(3), |m| {
                    losses.push(m.loss(&train))
                })
                .unwrap();
            for pair in losses.windows(2) {
                assert!(pair[1] <= pair[0] * (1.0 + 1e-6), "{solver:?}: {losses:?}");
            }
            assert!(losses.last().unwrap() < &(losses[0] * 0.999));
        }
    }

    #[test]
    fn conjugate_gradient_converges_to_the_exact_solution() {
        let train = planted(60, 50, 3, 2);
        // With uniform and with popularity-weighted unobserved pairs, on both sides.
        for negative_exponent in [0.0, 0.7] {
            let model = Als::new(AlsParams {
                regularization_exponent: 0.5,
                negative_exponent,
                ..params(AlsSolver::Cholesky)
            })
            .fit_model(&train, &FitContext::with_seed(1))
            .unwrap();
            let f = model.factors;
            let bases = model.item_bases();
            let by_item = SparseRows::transpose_of(&train);
            let item_gram = weighted_gram(&model.item_factors, f, bases);
            let user_gram = gram(&model.user_factors, f);
            let mut scratch = Scratch::new(f);
            let sides = [
                (
                    "user",
                    train.n_users(),
                    model.user_penalty,
                    bases.map_or(Bases::Uniform, Bases::PerColumn),
                    &model.item_factors,
                    &item_gram,
                ),
                (
                    "item",
                    train.n_items(),
                    model.item_penalty,
                    bases.map_or(Bases::Uniform, Bases::PerRow),
                    &model.user_factors,
                    &user_gram,
                ),
            ];
            for (side, rows, penalty, side_bases, fixed, gram) in sides {
                // From a cold start, f steps of CG solve an f-dimensional system exactly (up
                // to rounding).
                let solver = RowSolver {
                    f,
                    alpha: model.alpha,
                    penalty,
                    solver: AlsSolver::Cg,
                    cg_steps: f,
                    bases: side_bases,
                };
                for r in 0..rows {
                    let (columns, weights) = if side == "user" {
                        let row = train.row(r as u32);
                        (row.items, row.weights)
                    } else {
                        by_item.row(r)
                    };
                    let row_base = side_bases.row(r);
                    let mut exact = vec![0f32; f];
                    solver.exact(
                        &mut exact,
                        row_base,
                        columns,
                        weights,
                        fixed,
                        gram,
                        &mut scratch.system,
                    );
                    let mut x = vec![0f32; f];
                    solver.conjugate_gradient(
                        &mut x,
                        row_base,
                        columns,
                        weights,
                        fixed,
                        gram,
                        &mut scratch,
                    );
                    for (a, b) in x.iter().zip(&exact) {
                        assert!(
                            (a - b).abs() < 1e-3,
                            "β {negative_exponent}, {side} {r}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fold_in_of_a_training_history_ranks_like_the_trained_user() {
        let train = planted(200, 100, 4, 3);
        let model = Als::new(AlsParams {
            solver: AlsSolver::Cholesky,
            iterations: 10,
            ..params(AlsSolver::Cholesky)
        })
        .fit_model(&train, &FitContext::with_seed(5))
        .unwrap();
        let mut overlap = 0;
        let mut total = 0;
        for u in 0..20 {
            let known = recommend(&model, &Query::known(u, &train), 10, true, |_| false);
            let anonymous = recommend(&model, &Query::anonymous(train.row(u)), 10, true, |_| false);
            let known: Vec<u32> = known.iter().map(|s| s.item).collect();
            overlap += anonymous.iter().filter(|s| known.contains(&s.item)).count();
            total += known.len();
        }
        // After the last half-iteration the user factors are a step behind the items, so
        // the lists are nearly, not exactly, equal.
        assert!(overlap * 10 >= total * 9, "{overlap}/{total}");
    }

    /// The ranked search finds what scoring every item finds, for trained and folded-in
    /// users, with the seen items (and a few more) not allowed; and a clone builds its own.
    #[test]
    fn best_items_equal_scoring_every_item() {
        let train = planted(300, 400, 4, 8);
        let model = Als::new(params(AlsSolver::Cholesky))
            .fit_model(&train, &FitContext::with_seed(2))
            .unwrap();
        for u in 0..40 {
            for query in [Query::known(u, &train), Query::anonymous(train.row(u))] {
                let banned = |i: u32| i % 11 == u % 11;
                let want = recommend(&model, &query, 10, true, banned);
                let got = model
                    .best_items(&query, 10, &mut |i| {
                        !query.history.contains(i) && !banned(i)
                    })
                    .unwrap();
                assert_eq!(got, want, "user {u}");
            }
        }
        let clone = model.clone();
        assert!(!clone.ranked.is_built());
    }

    #[test]
    fn same_seed_same_model_and_planted_blocks_are_recovered() {
        let train = planted(120, 80, 4, 4);
        let fit = |seed| {
            Als::new(params(AlsSolver::Cg))
                .fit_model(&train, &FitContext::with_seed(seed))
                .unwrap()
        };
        let (a, b) = (fit(9), fit(9));
        assert_eq!(a.user_factors, b.user_factors);
        assert_eq!(a.item_factors, b.item_factors);
        assert_ne!(fit(10).item_factors, a.item_factors);
        // Recommendations stay inside the user's planted block.
        let users: Vec<u32> = (0..train.n_users() as u32).collect();
        let lists = a.recommend_users(&users, &train, 5);
        let in_block = lists
            .iter()
            .enumerate()
            .flat_map(|(u, list)| {
                list.iter()
                    .map(move |s| (s.item as usize % 4 == u % 4) as usize)
            })
            .sum::<usize>();
        let all = lists.iter().map(Vec::len).sum::<usize>();
        assert!(in_block * 10 >= all * 9, "{in_block}/{all}");
        let similar = a.similar_items(0, 5);
        assert!(similar.iter().all(|s| s.item % 4 == 0 && s.item != 0));
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // Enough users for the Gram matrix to be summed from several parallel chunks.
        let train = planted(5000, 40, 4, 6);
        let params = AlsParams {
            factors: 4,
            iterations: 2,
            regularization_exponent: 1.0,
            ..params(AlsSolver::Cg)
        };
        let fit_with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    Als::new(params.clone())
                        .fit_model(&train, &FitContext::with_seed(1))
                        .unwrap()
                })
        };
        let (one, three) = (fit_with(1), fit_with(3));
        assert_eq!(one.user_factors, three.user_factors);
        assert_eq!(one.item_factors, three.item_factors);
    }

    #[test]
    fn bad_parameters_are_explained() {
        let bad = AlsParams {
            regularization: 0.0,
            ..AlsParams::default()
        };
        assert!(bad.check().unwrap_err().contains("regularization"));
        let bad = AlsParams {
            cg_steps: 0,
            ..AlsParams::default()
        };
        assert!(bad.check().unwrap_err().contains("cg_steps"));
        assert!(
            Als::default()
                .fit(&Interactions::empty(3, 3), &FitContext::default())
                .is_err()
        );
    }
}
