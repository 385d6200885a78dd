//! `buy-again`: what a shopper will buy again — a time-decayed personal frequency, blended
//! with that of the shoppers who buy most like them (TIFU-KNN, Hu et al. 2020, in the form
//! that fits a matrix of cells).
//!
//! A user's vector holds, for each item they have, the cell's weight decayed by its age:
//! `w · 2^(−age / half_life)`, the age measured from the latest timestamp of the training data
//! to the cell's (latest) event; vectors are scaled to unit length. A user's score for an item
//! is `own · v_u[i] + (1 − own) · mean over their k nearest users v of v_v[i]`, neighbours by
//! the cosine of the vectors. Repeats are the point: lists of this model are meant to include
//! what the user already has (`aisle evaluate --repeats include`); a user the model has not
//! seen is folded in from their history (the same decay, neighbours found at once).

use serde::{Deserialize, Serialize};

use aisle_data::{Interactions, Row};
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::Params;

const NAME: &str = "buy-again";
const SECONDS_PER_DAY: f64 = 86_400.0;

/// Hyper-parameters of [`BuyAgain`].
///
/// Defaults: TIFU-KNN's reported range for grocery and retail data (`own` 0.7–0.9, `k`
/// 100–300, a decay of a few months).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuyAgainParams {
    /// Half-life, in days, of a cell's weight with its age.
    pub half_life_days: f64,
    /// Nearest users whose vectors are blended in.
    pub neighbours: usize,
    /// Weight of the user's own vector; the neighbours' mean gets the rest.
    pub own: f32,
}

impl Default for BuyAgainParams {
    fn default() -> Self {
        BuyAgainParams {
            half_life_days: 120.0,
            neighbours: 200,
            own: 0.8,
        }
    }
}

impl Params for BuyAgainParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "half_life_days",
            Domain::closed(0.1, 36_500.0),
            "Half-life in days of a cell's weight with its age.",
        )
        .searched(Search::log(7.0, 730.0)),
        ParamSpec::new(
            "neighbours",
            Domain::Int {
                min: 0,
                max: 10_000,
            },
            "Nearest users whose decayed vectors are blended in (0: the user's own only).",
        )
        .searched(Search::log(10.0, 1000.0)),
        ParamSpec::new(
            "own",
            Domain::closed(0.0, 1.0),
            "Weight of the user's own vector; the neighbours' mean gets the rest.",
        )
        .searched(Search::linear(0.3, 1.0)),
    ];
}

/// Trains [`BuyAgainModel`]s.
#[derive(Debug, Clone, Default)]
pub struct BuyAgain {
    params: BuyAgainParams,
}

impl BuyAgain {
    pub fn new(params: BuyAgainParams) -> Self {
        BuyAgain { params }
    }
}

impl Algorithm for BuyAgain {
    fn name(&self) -> &str {
        NAME
    }

    fn params(&self) -> serde_json::Value {
        crate::registry::params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        if train.nnz() == 0 {
            return Err(ModelError::unsuitable(
                NAME,
                "the training data has no interactions",
            ));
        }
        let latest = train.timestamps().iter().copied().max().unwrap_or(0);
        let p = &self.params;
        let vectors = decayed(train, latest, p.half_life_days);
        let by_item = vectors.transpose();
        ctx.step(1, 2)?;
        let neighbours: Vec<Vec<(u32, f32)>> = (0..train.n_users() as u32)
            .into_par_iter()
            .map(|u| nearest(&vectors.row(u), &by_item, Some(u), p.neighbours))
            .collect();
        ctx.step(2, 2)?;
        Ok(Box::new(BuyAgainModel {
            params: p.clone(),
            latest,
            vectors,
            by_item,
            neighbours,
        }))
    }
}

/// Each cell's weight decayed by its age, each row scaled to unit length.
fn decayed(matrix: &Interactions, latest: i64, half_life_days: f64) -> Interactions {
    let rate = std::f64::consts::LN_2 / (half_life_days * SECONDS_PER_DAY);
    let (indptr, timestamps) = (matrix.indptr(), matrix.timestamps());
    let mut weights: Vec<f32> = Vec::with_capacity(matrix.nnz());
    for u in 0..matrix.n_users() {
        let (lo, hi) = (indptr[u], indptr[u + 1]);
        let decayed: Vec<f64> = (lo..hi)
            .map(|k| {
                let age = latest.saturating_sub(timestamps[k]).max(0) as f64;
                f64::from(matrix.weights()[k]) * (-age * rate).exp()
            })
            .collect();
        let norm = decayed.iter().map(|w| w * w).sum::<f64>().sqrt();
        weights.extend(
            decayed
                .iter()
                .map(|w| if norm > 0.0 { (w / norm) as f32 } else { 0.0 }),
        );
    }
    Interactions::from_csr(
        matrix.n_users(),
        matrix.n_items(),
        indptr.to_vec(),
        matrix.indices().to_vec(),
        weights,
        timestamps.to_vec(),
    )
    .expect("the same shape as a valid matrix")
}

/// The `k` users whose vectors have the largest (positive) dot product with `vector`, best
/// first, leaving `me` out.
fn nearest(vector: &Row<'_>, by_item: &Interactions, me: Option<u32>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || vector.is_empty() {
        return Vec::new();
    }
    let mut dots: std::collections::HashMap<u32, f32> = Default::default();
    for (item, w) in vector.iter() {
        let column = by_item.row(item);
        for (user, v) in column.iter() {
            if Some(user) != me {
                *dots.entry(user).or_default() += w * v;
            }
        }
    }
    let mut found: Vec<(u32, f32)> = dots.into_iter().filter(|&(_, d)| d > 0.0).collect();
    found.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found.truncate(k);
    found
}

/// Decayed, normalised user vectors and each user's nearest users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyAgainModel {
    params: BuyAgainParams,
    /// The training data's latest timestamp: ages are measured from it.
    latest: i64,
    vectors: Interactions,
    by_item: Interactions,
    neighbours: Vec<Vec<(u32, f32)>>,
}

impl BuyAgainModel {
    fn blend(&self, own: &Row<'_>, neighbours: &[(u32, f32)], scores: &mut [f32]) {
        scores.iter_mut().for_each(|s| *s = 0.0);
        let alpha = self.params.own;
        for (item, w) in own.iter() {
            scores[item as usize] += alpha * w;
        }
        if neighbours.is_empty() {
            return;
        }
        let share = (1.0 - alpha) / neighbours.len() as f32;
        for &(v, _) in neighbours {
            for (item, w) in self.vectors.row(v).iter() {
                scores[item as usize] += share * w;
            }
        }
    }
}

impl Recommender for BuyAgainModel {
    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("buy-again", self)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ranking: true,
            fold_in: true,
            ..Capabilities::default()
        }
    }

    fn n_items(&self) -> usize {
        self.vectors.n_items()
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        match query.user {
            Some(u) if (u as usize) < self.vectors.n_users() => {
                self.blend(&self.vectors.row(u), &self.neighbours[u as usize], scores)
            }
            _ => {
                // A history the model has not seen: decayed and normalised as at training.
                let one = Interactions::from_csr(
                    1,
                    self.n_items(),
                    vec![0, query.history.len()],
                    query.history.items.to_vec(),
                    query.history.weights.to_vec(),
                    query.history.timestamps.to_vec(),
                )
                .expect("a history row is a valid one-row matrix");
                let own = decayed(&one, self.latest, self.params.half_life_days);
                let neighbours = nearest(&own.row(0), &self.by_item, None, self.params.neighbours);
                self.blend(&own.row(0), &neighbours, scores);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommender::recommend;
    use aisle_data::{Cell, DuplicatePolicy};

    const DAY: i64 = 86_400;

    fn matrix(cells: &[(u32, u32, f32, i64)]) -> Interactions {
        let cells = cells
            .iter()
            .map(|&(user, item, weight, timestamp)| Cell {
                user,
                item,
                weight,
                timestamp,
            })
            .collect();
        Interactions::from_cells(3, 4, cells, DuplicatePolicy::Sum)
    }

    #[test]
    fn recent_and_frequent_purchases_come_first_and_neighbours_fill_in() {
        // User 0 bought item 0 often long ago and item 1 once lately; user 1, whose basket
        // resembles user 0's, also buys item 2.
        let train = matrix(&[
            (0, 0, 4.0, 0),
            (0, 1, 1.0, 400 * DAY),
            (1, 0, 1.0, 390 * DAY),
            (1, 1, 1.0, 400 * DAY),
            (1, 2, 3.0, 400 * DAY),
            (2, 3, 1.0, 10 * DAY),
        ]);
        let params = BuyAgainParams {
            half_life_days: 30.0,
            neighbours: 1,
            own: 0.8,
        };
        let model = BuyAgain::new(params)
            .fit(&train, &FitContext::default())
            .unwrap();
        let list = recommend(model.as_ref(), &Query::known(0, &train), 3, false, |_| {
            false
        });
        let items: Vec<u32> = list.iter().map(|s| s.item).collect();
        // Item 0's 4 purchases are 13 half-lives old: the recent one wins; the neighbour's
        // item 2 follows; item 3 (no link) never appears.
        assert_eq!(items, [1, 2, 0]);
        // A shopper the model has not seen, with user 1's history: their own purchases
        // first (item 2, bought 3 times, then 0 and 1), nothing unrelated.
        let history = train.row(1);
        let folded = recommend(
            model.as_ref(),
            &Query {
                user: None,
                history,
            },
            3,
            false,
            |_| false,
        );
        let folded: Vec<u32> = folded.iter().map(|s| s.item).collect();
        assert_eq!(folded[0], 2);
        assert!(!folded.contains(&3), "{folded:?}");
    }
}
