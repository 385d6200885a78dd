//! The popularity baseline, optionally time-decayed ("trending").
//!
//! Every item's score is the sum of the weights of its cells (with unit weights: the number
//! of users who interacted with it). With `half_life_days > 0` each cell's weight is first
//! multiplied by `2^(−age / half_life)`, where `age` is measured from the latest timestamp in
//! the training data, so what was popular recently ranks first. The ranking is the same for
//! every user, which makes fold-in trivial; it is the fallback for users a personalised model
//! knows nothing about.

use serde::{Deserialize, Serialize};

use aisle_data::Interactions;

use crate::error::{ModelError, Result};
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::Params;

const NAME: &str = "popular";
const SECONDS_PER_DAY: f64 = 86_400.0;

/// Hyper-parameters of [`Popular`].
///
/// The default (no decay) is the classic baseline; a half-life is a choice about the shop
/// (how fast its catalogue turns over), not something to tune on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularParams {
    /// Half-life, in days, of the exponential decay of a cell's weight with its age; `0`
    /// counts every cell fully (plain popularity).
    pub half_life_days: f64,
}

impl Default for PopularParams {
    fn default() -> Self {
        PopularParams {
            half_life_days: 0.0,
        }
    }
}

impl Params for PopularParams {
    const SPEC: &'static [ParamSpec] = &[ParamSpec::new(
        "half_life_days",
        Domain::NON_NEGATIVE,
        "Half-life in days of the decay of a cell's weight with its age; 0 counts every cell fully.",
    )
    .searched(Search::linear(0.0, 180.0))];
}

/// Trains [`PopularModel`]s.
#[derive(Debug, Clone, Default)]
pub struct Popular {
    params: PopularParams,
}

impl Popular {
    pub fn new(params: PopularParams) -> Self {
        Popular { params }
    }
}

impl Algorithm for Popular {
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
        let scores = popularity(train, self.params.half_life_days);
        ctx.step(1, 1)?;
        Ok(Box::new(PopularModel { scores }))
    }
}

/// Each item's (decayed) total weight; see the module doc.
pub fn popularity(train: &Interactions, half_life_days: f64) -> Vec<f32> {
    let mut totals = vec![0f64; train.n_items()];
    let decay_per_second = if half_life_days > 0.0 {
        std::f64::consts::LN_2 / (half_life_days * SECONDS_PER_DAY)
    } else {
        0.0
    };
    let latest = train.timestamps().iter().copied().max().unwrap_or(0);
    for ((&item, &weight), &timestamp) in train
        .indices()
        .iter()
        .zip(train.weights())
        .zip(train.timestamps())
    {
        let factor = if decay_per_second > 0.0 {
            (-(latest.saturating_sub(timestamp) as f64) * decay_per_second).exp()
        } else {
            1.0
        };
        totals[item as usize] += f64::from(weight) * factor;
    }
    totals.into_iter().map(|t| t as f32).collect()
}

/// A fixed ranking of all items.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PopularModel {
    scores: Vec<f32>,
}

impl PopularModel {
    /// Every item's popularity score.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
}

impl Recommender for PopularModel {
    fn personalised(&self) -> bool {
        false
    }

    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("popular", self)
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
        self.scores.len()
    }

    fn score(&self, _query: &Query<'_>, scores: &mut [f32]) {
        scores.copy_from_slice(&self.scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommender::recommend;
    use aisle_data::{Cell, DuplicatePolicy};

    const DAY: i64 = 86_400;

    fn cell(user: u32, item: u32, timestamp: i64) -> Cell {
        Cell {
            user,
            item,
            weight: 1.0,
            timestamp,
        }
    }

    /// Item 0: three old interactions; item 1: two recent ones; item 2: one, the latest.
    fn hand_case() -> Interactions {
        let cells = vec![
            cell(0, 0, 0),
            cell(1, 0, 0),
            cell(2, 0, 0),
            cell(0, 1, 99 * DAY),
            cell(1, 1, 99 * DAY),
            cell(3, 2, 100 * DAY),
        ];
        Interactions::from_cells(4, 4, cells, DuplicatePolicy::Sum)
    }

    fn ranking(params: PopularParams, train: &Interactions, user: u32) -> Vec<u32> {
        let model = Popular::new(params)
            .fit(train, &FitContext::default())
            .unwrap();
        recommend(model.as_ref(), &Query::known(user, train), 4, true, |_| {
            false
        })
        .iter()
        .map(|s| s.item)
        .collect()
    }

    #[test]
    fn plain_popularity_counts_and_excludes_seen() {
        let train = hand_case();
        assert_eq!(ranking(PopularParams::default(), &train, 3), vec![0, 1, 3]);
        // User 0 has seen items 0 and 1.
        assert_eq!(ranking(PopularParams::default(), &train, 0), vec![2, 3]);
    }

    #[test]
    fn decay_favours_recent_items() {
        let train = hand_case();
        let trending = PopularParams {
            half_life_days: 7.0,
        };
        assert_eq!(ranking(trending, &train, 3), vec![1, 0, 3]);
        let scores = popularity(&train, 1.0);
        // One day before the latest event is worth exactly half.
        assert!((scores[1] - 1.0).abs() < 1e-6 && (scores[2] - 1.0).abs() < 1e-6);
        let slow = popularity(&train, 1e6);
        assert!(slow[0] > slow[1] && slow[1] > slow[2]);
    }

    #[test]
    fn bad_half_life_is_rejected() {
        let bad = PopularParams {
            half_life_days: -1.0,
        };
        assert!(bad.check().unwrap_err().contains("half_life_days"));
        assert!(
            Popular::default()
                .fit(&Interactions::empty(2, 2), &FitContext::default())
                .is_err()
        );
    }
}
