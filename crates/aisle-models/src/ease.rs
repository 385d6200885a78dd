//! EASE, the closed-form item-item linear model (Steck 2019, "Embarrassingly shallow
//! autoencoders for sparse data").
//!
//! A user's score for item `j` is `Σᵢ xᵤᵢ·Bᵢⱼ` over their history, where `B` minimises
//! `‖X − XB‖² + λ‖B‖²` subject to `diag(B) = 0`. The solution is closed-form:
//! `P = (XᵀX + λI)⁻¹`, `B = I − P·diagMat(1/diag(P))`, i.e. `Bᵢⱼ = −Pᵢⱼ/Pⱼⱼ` off the diagonal.
//! `X` holds the training weights as they are.
//!
//! `dropout > 0` adds the emphasis of Steck's denoising variant (EDLAE, "Autoencoders that
//! don't overfit towards the identity", 2020): the diagonal penalty becomes
//! `λ + dropout/(1 − dropout)·(XᵀX)ᵢᵢ`, which regularises popular items more.
//!
//! The model is a dense `n × n` matrix and its training an `O(n³)` inversion
//! ([`crate::spd::spd_inverse`]), so catalogues above `max_items` are refused with advice
//! to use a factor or neighbourhood model instead. Fold-in is free: scores come from the
//! history alone. Similar items are the largest entries of row `i` of `B`.

use serde::{Deserialize, Serialize};

use aisle_data::Interactions;
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::linalg::{SparseRows, axpy};
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::Params;
use crate::spd::spd_inverse;
use crate::topk::{Scored, top_k};

const NAME: &str = "ease";

/// Hyper-parameters of [`Ease`].
///
/// `lambda` and `dropout` were chosen by grid search (λ 100–1000, dropout 0–0.5) on
/// validation splits carved out of training data only: 20% of each user's rows of
/// `splits/ml-100k/holdout.train.tsv` and of `splits/ml-latest-small/holdout.train.tsv`
/// (hashed with seed 7); λ 500 with dropout 0.25 had the best summed NDCG@10 (the dropout
/// emphasis is worth only a little, about 0.002).
/// `max_items` bounds the dense model: 20,000 items is a 1.6 GB matrix (twice that while
/// training) and about a minute of inversion on two cores ([`TrainingCost`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseParams {
    /// `λ`, the L2 penalty on `B` (added to the diagonal of `XᵀX`).
    pub lambda: f32,
    /// Dropout probability of the denoising (EDLAE) variant, in `[0, 1)`; `0` is plain EASE.
    pub dropout: f32,
    /// The largest catalogue accepted.
    pub max_items: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 500.0,
            dropout: 0.25,
            max_items: 20_000,
        }
    }
}

impl Params for EaseParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "lambda",
            Domain::POSITIVE,
            "`λ`, the L2 penalty on `B` (added to the diagonal of `XᵀX`).",
        )
        .searched(Search::log(10.0, 5000.0)),
        ParamSpec::new(
            "dropout",
            Domain::Real {
                min: 0.0,
                max: 1.0,
                open_min: false,
                open_max: true,
            },
            "Dropout probability of the denoising (EDLAE) variant; 0 is plain EASE.",
        )
        .searched(Search::linear(0.0, 0.6)),
        ParamSpec::new(
            "max_items",
            Domain::Int {
                min: 1,
                max: 1_000_000,
            },
            "The largest catalogue accepted.",
        ),
    ];
}

/// What training EASE on a catalogue costs, estimated before starting: the refusal above
/// `max_items` quotes it, so a shop knows what raising the limit would mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingCost {
    /// Peak memory: the `n × n` matrix being inverted and the inverse of its factor.
    pub peak_bytes: u64,
    /// Wall-clock seconds of the inversion, which dominates training.
    pub seconds: f64,
    /// The threads the estimate assumes.
    pub threads: usize,
}

impl TrainingCost {
    /// Seconds per `n³` on one thread of the 2-core machine the benchmarks run on
    /// (`bench/ease_vs_numpy`: an 8,000-item inverse takes about 3.3 s on 2 threads).
    const SECONDS_PER_CUBE_ON_ONE_THREAD: f64 = 1.3e-11;

    pub fn estimate(n_items: usize, threads: usize) -> Self {
        let n = n_items as f64;
        let threads = threads.max(1);
        TrainingCost {
            peak_bytes: 2 * (n_items as u64).pow(2) * 4,
            seconds: n.powi(3) * Self::SECONDS_PER_CUBE_ON_ONE_THREAD / threads as f64,
            threads,
        }
    }

    /// The peak memory in GiB.
    pub fn gib(&self) -> f64 {
        self.peak_bytes as f64 / f64::from(1u32 << 30)
    }

    /// "about 40 s", "about 12 min", "about 3.5 h".
    pub fn duration_text(&self) -> String {
        match self.seconds {
            s if s < 90.0 => format!("about {} s", s.ceil().max(1.0)),
            s if s < 5400.0 => format!("about {} min", (s / 60.0).round()),
            s => format!("about {:.1} h", s / 3600.0),
        }
    }
}

/// Trains [`EaseModel`]s.
#[derive(Debug, Clone, Default)]
pub struct Ease {
    params: EaseParams,
}

impl Ease {
    pub fn new(params: EaseParams) -> Self {
        Ease { params }
    }

    /// Trains and returns the concrete model.
    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<EaseModel> {
        let p = &self.params;
        let n = train.n_items();
        let cost = TrainingCost::estimate(n, rayon::current_num_threads());
        if n > p.max_items {
            return Err(ModelError::unsuitable(
                NAME,
                format!(
                    "{n} items is more than max_items = {}: EASE keeps a dense {n} × {n} \
                     matrix and inverts it in O(n³) time (here about {:.1} GiB of memory \
                     while training and {} on {} threads). Use `als` or `item-knn` for a \
                     catalogue this large, or raise max_items if that memory and time are \
                     acceptable.",
                    p.max_items,
                    cost.gib(),
                    cost.duration_text(),
                    cost.threads,
                ),
            ));
        }
        if train.nnz() == 0 {
            return Err(ModelError::unsuitable(
                NAME,
                "the training data has no interactions",
            ));
        }
        ctx.notify(&format!(
            "ease: inverting a {n} × {n} item matrix: about {:.2} GiB of memory, {} on {} \
             threads",
            cost.gib(),
            cost.duration_text(),
            cost.threads
        ));
        let mut matrix = item_gram(train);
        ctx.step(1, 3)?;
        let emphasis = p.dropout / (1.0 - p.dropout);
        for i in 0..n {
            let d = &mut matrix[i * n + i];
            *d += p.lambda + emphasis * *d;
        }
        spd_inverse(&mut matrix, n).map_err(|e| {
            ModelError::unsuitable(
                NAME,
                format!("XᵀX + λI could not be inverted ({e}); raise lambda"),
            )
        })?;
        ctx.step(2, 3)?;
        // B = I − P·diagMat(1/diag(P)): scale column j by −1/Pⱼⱼ, zero the diagonal.
        let inverse_diagonal: Vec<f32> = (0..n).map(|j| -1.0 / matrix[j * n + j]).collect();
        matrix
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for (b, s) in row.iter_mut().zip(&inverse_diagonal) {
                    *b *= s;
                }
                row[i] = 0.0;
            });
        ctx.step(3, 3)?;
        Ok(EaseModel {
            n_items: n,
            weights: matrix,
        })
    }
}

impl Algorithm for Ease {
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

/// The dense `XᵀX`, row `i` being `Σ_{u ∋ i} xᵤᵢ·xᵤ` (rows in parallel, each written by one
/// task).
pub(crate) fn item_gram(train: &Interactions) -> Vec<f32> {
    let n = train.n_items();
    let by_item = SparseRows::transpose_of(train);
    let mut gram = vec![0f32; n * n];
    gram.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            let (users, weights) = by_item.row(i);
            for (&u, &w) in users.iter().zip(weights) {
                let user = train.row(u);
                for (&j, &x) in user.items.iter().zip(user.weights) {
                    row[j as usize] += w * x;
                }
            }
        });
    gram
}

/// A trained EASE model: the `n × n` item-item weights `B`, row-major.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EaseModel {
    n_items: usize,
    weights: Vec<f32>,
}

impl EaseModel {
    /// `Bᵢⱼ`: how much having item `i` in a history adds to item `j`'s score.
    pub fn weight(&self, i: u32, j: u32) -> f32 {
        self.weights[i as usize * self.n_items + j as usize]
    }

    /// Row `i` of `B`.
    pub fn row(&self, i: u32) -> &[f32] {
        &self.weights[i as usize * self.n_items..(i as usize + 1) * self.n_items]
    }

    /// `scores += Σ wᵢ·B[i,:]` over `(item, weight)` pairs; unknown items are skipped.
    pub fn add_scores(&self, history: impl Iterator<Item = (u32, f32)>, scores: &mut [f32]) {
        for (i, w) in history {
            if (i as usize) < self.n_items {
                axpy(w, self.row(i), scores);
            }
        }
    }
}

impl Recommender for EaseModel {
    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("ease", self)
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
        self.n_items
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
        self.add_scores(query.history.iter(), scores);
    }

    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        top_k(self.row(item), n, |j| j != item)
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        let n = self.n_items as u32;
        (a < n && b < n && a != b).then(|| self.row(a)[b as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy};

    fn matrix(rows: &[&[u32]], n_items: usize) -> Interactions {
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
        Interactions::from_cells(rows.len(), n_items, cells, DuplicatePolicy::Sum)
    }

    #[test]
    fn matches_a_hand_solved_three_item_case() {
        // Users {0,1}, {0,1}, {1,2}: XᵀX = [[2,2,0],[2,3,1],[0,1,1]]. With λ = 1,
        // G = [[3,2,0],[2,4,1],[0,1,2]], det G = 3·7 − 2·4 = 13 and
        // P = adj(G)/13 = [[7,−4,2],[−4,6,−3],[2,−3,8]]/13, so Bᵢⱼ = −Pᵢⱼ/Pⱼⱼ.
        let train = matrix(&[&[0, 1], &[0, 1], &[1, 2]], 3);
        let model = Ease::new(EaseParams {
            lambda: 1.0,
            dropout: 0.0,
            ..EaseParams::default()
        })
        .fit_model(&train, &FitContext::default())
        .unwrap();
        let p = [[7.0, -4.0, 2.0], [-4.0, 6.0, -3.0], [2.0, -3.0, 8.0f32]];
        for (i, p_row) in p.iter().enumerate() {
            for (j, &p_ij) in p_row.iter().enumerate() {
                let expected = if i == j { 0.0 } else { -p_ij / p[j][j] };
                let got = model.weight(i as u32, j as u32);
                assert!(
                    (got - expected).abs() < 1e-5,
                    "B[{i}][{j}] = {got}, expected {expected}"
                );
            }
        }
        // Item 1 is closest to item 0 (co-occur twice); item 2 never co-occurs with 0.
        let similar = model.similar_items(0, 2);
        assert_eq!(similar[0].item, 1);
        // A history of item 0 alone scores row 0 of B.
        let history = aisle_data::Row {
            items: &[0],
            weights: &[1.0],
            timestamps: &[0],
        };
        let mut scores = vec![0f32; 3];
        model.score(&Query::anonymous(history), &mut scores);
        assert!(scores[1] > 0.0 && scores[2] < 0.0);
    }

    #[test]
    fn dropout_penalises_popular_items_more() {
        let train = matrix(&[&[0, 1], &[0, 1], &[0, 2], &[0, 1, 2]], 3);
        let fit = |dropout| {
            Ease::new(EaseParams {
                lambda: 1.0,
                dropout,
                ..EaseParams::default()
            })
            .fit_model(&train, &FitContext::default())
            .unwrap()
        };
        let (plain, denoised) = (fit(0.0), fit(0.5));
        // Item 0 is in every history: the emphasis shrinks what it predicts.
        assert!(denoised.weight(0, 1).abs() < plain.weight(0, 1).abs());
    }

    #[test]
    fn too_many_items_is_refused_with_advice() {
        let train = matrix(&[&[0, 1, 2, 3]], 4);
        let err = Ease::new(EaseParams {
            max_items: 3,
            ..EaseParams::default()
        })
        .fit_model(&train, &FitContext::default())
        .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ModelError::UnsuitableData { .. }));
        assert!(
            message.contains("als") && message.contains("item-knn") && message.contains("GiB"),
            "{message}"
        );
    }

    #[test]
    fn the_cost_is_said_before_training() {
        let notices = std::sync::Mutex::new(Vec::new());
        let record = |text: &str| notices.lock().unwrap().push(text.to_string());
        let ctx = FitContext {
            notice: Some(&record),
            ..FitContext::default()
        };
        Ease::new(EaseParams::default())
            .fit_model(&matrix(&[&[0, 1], &[1, 2]], 3), &ctx)
            .unwrap();
        let notices = notices.into_inner().unwrap();
        assert_eq!(notices.len(), 1);
        assert!(
            notices[0].contains("3 × 3") && notices[0].contains("GiB"),
            "{notices:?}"
        );
    }

    #[test]
    fn the_cost_estimate_grows_as_the_cube_and_square() {
        let small = TrainingCost::estimate(10_000, 2);
        let large = TrainingCost::estimate(20_000, 2);
        assert_eq!(small.peak_bytes, 800_000_000);
        assert_eq!(large.peak_bytes, 4 * small.peak_bytes);
        assert!((large.seconds / small.seconds - 8.0).abs() < 1e-9);
        assert!((TrainingCost::estimate(10_000, 1).seconds / small.seconds - 2.0).abs() < 1e-9);
        assert_eq!(
            TrainingCost::estimate(100_000, 2).duration_text(),
            "about 1.8 h"
        );
    }
}
