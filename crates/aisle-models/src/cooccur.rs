//! `cooccur`: items bought together — how often two items share a row (a basket, or a
//! user's history), turned into a similarity.
//!
//! The plain, explainable baseline of "frequently bought together". Rows are read as sets
//! (a cell's weight is ignored). With `n_i` the rows holding item `i`, `n_ij` those holding
//! both and `N` all rows:
//!
//! | `measure` | similarity of `j` to `i` |
//! |---|---|
//! | `count`   | `n_ij` |
//! | `cosine`  | `n_ij / √(n_i · n_j)` |
//! | `lift`    | `n_ij · N / (n_i · n_j)` |
//! | `jaccard` | `n_ij / (n_i + n_j − n_ij)` |
//!
//! then shrunk by support, `· n_ij / (n_ij + shrinkage)`, so a pair seen together once does
//! not outrank one seen a hundred times (lift needs it most: two items bought once, together,
//! have the largest lift there is). Pairs seen together fewer than `min_support` times are
//! dropped; each item keeps its `k` best. A set of items (a basket) scores `j` by the sum of
//! its items' similarities to `j`.

use aisle_data::Interactions;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::knn::NeighbourLists;
use crate::knn::similarity::Accumulator;
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::{Params, params_json};
use crate::topk::Scored;

const NAME: &str = "cooccur";

/// How a co-occurrence count becomes a similarity (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Count,
    Cosine,
    Lift,
    Jaccard,
}

/// Hyper-parameters of [`Cooccur`].
///
/// Defaults: cosine with a shrinkage of 100, from the grid `bench/basket` runs on Online
/// Retail's orders (measure {count, cosine, lift, jaccard} × shrinkage {0 … 200}): cosine
/// and count plateau at NDCG@10 ≈ 0.12 for shrinkage 50–200, lift and Jaccard stay below;
/// of the two, cosine lists fewer bestsellers that merely sell with everything. See
/// docs/models.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CooccurParams {
    pub measure: Measure,
    /// λ in `sim · n_ij / (n_ij + λ)`.
    pub shrinkage: f32,
    /// Pairs seen together fewer times than this are not neighbours.
    pub min_support: u32,
    /// Neighbours kept per item.
    pub k: usize,
}

impl Default for CooccurParams {
    fn default() -> Self {
        CooccurParams {
            measure: Measure::Cosine,
            shrinkage: 100.0,
            min_support: 1,
            k: 200,
        }
    }
}

impl Params for CooccurParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "measure",
            Domain::Choice(&["count", "cosine", "lift", "jaccard"]),
            "How a co-occurrence count becomes a similarity.",
        )
        .searched(Search::ALL),
        ParamSpec::new(
            "shrinkage",
            Domain::NON_NEGATIVE,
            "λ in sim · n_ij / (n_ij + λ): similarities resting on few baskets shrink.",
        )
        .searched(Search::linear(0.0, 50.0)),
        ParamSpec::new(
            "min_support",
            Domain::Int {
                min: 1,
                max: 1_000_000,
            },
            "Pairs seen together fewer times than this are not neighbours.",
        ),
        ParamSpec::new(
            "k",
            Domain::Int {
                min: 1,
                max: 100_000,
            },
            "Neighbours kept per item.",
        ),
    ];
}

/// Trains [`CooccurModel`]s.
#[derive(Debug, Clone, Default)]
pub struct Cooccur {
    params: CooccurParams,
}

impl Cooccur {
    pub fn new(params: CooccurParams) -> Self {
        Cooccur { params }
    }

    /// The similarity lists of `train`'s items.
    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<CooccurModel> {
        let p = &self.params;
        let n_items = train.n_items();
        let by_item = train.transpose();
        let rows = train.n_users() as f64;
        let count = |i: u32| by_item.row(i).len() as f64;
        let lists: Vec<Vec<(u32, f32)>> = (0..n_items as u32)
            .into_par_iter()
            .map_init(
                || Accumulator::<u32>::new(n_items),
                |together, i| {
                    for &row in by_item.row(i).items {
                        for &j in train.row(row).items {
                            if j != i {
                                *together.slot(j) += 1;
                            }
                        }
                    }
                    let n_i = count(i);
                    let mut list = Vec::new();
                    together.drain(|j, &n_ij| {
                        if n_ij < p.min_support {
                            return;
                        }
                        let (n_ij, n_j) = (f64::from(n_ij), count(j));
                        let similarity = match p.measure {
                            Measure::Count => n_ij,
                            Measure::Cosine => n_ij / (n_i * n_j).sqrt(),
                            Measure::Lift => n_ij * rows / (n_i * n_j),
                            Measure::Jaccard => n_ij / (n_i + n_j - n_ij),
                        } * n_ij
                            / (n_ij + f64::from(p.shrinkage));
                        list.push((j, similarity as f32));
                    });
                    crate::knn::retain_best(&mut list, p.k);
                    list
                },
            )
            .collect();
        ctx.step(1, 1)?;
        Ok(CooccurModel {
            n_items,
            neighbours: NeighbourLists::from_rows(lists),
        })
    }
}

impl Algorithm for Cooccur {
    fn name(&self) -> &str {
        NAME
    }

    fn params(&self) -> serde_json::Value {
        params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

/// A trained `cooccur`: each item's best co-occurring items.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CooccurModel {
    n_items: usize,
    neighbours: NeighbourLists,
}

impl Recommender for CooccurModel {
    fn to_payload(&self) -> Result<crate::persist::Payload> {
        crate::persist::Payload::encode(NAME, self)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: false,
            ranking: true,
            similar_items: true,
            fold_in: true,
        }
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    /// The sum over the history's items (as a set) of their similarity to each item.
    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
        let as_set = query.history.items.iter().map(|&item| (item, 1.0));
        self.neighbours.accumulate(as_set, scores);
    }

    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        self.neighbours.top(item, n)
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        self.neighbours.similarity(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_params;
    use aisle_data::{Cell, DuplicatePolicy};
    use serde_json::json;

    /// Five baskets over items 0..4:
    /// {0,1,2}, {0,1}, {0,2}, {1,3}, {0,1,3}.
    /// Counts: n0=4, n1=4, n2=2, n3=2; n01=3, n02=2, n12=1, n13=2, n03=1; N=5.
    fn baskets() -> Interactions {
        let rows: [&[u32]; 5] = [&[0, 1, 2], &[0, 1], &[0, 2], &[1, 3], &[0, 1, 3]];
        let cells = rows
            .iter()
            .enumerate()
            .flat_map(|(b, items)| {
                items.iter().map(move |&item| Cell {
                    user: b as u32,
                    item,
                    // Weights are ignored: rows are sets.
                    weight: 1.0 + item as f32,
                    timestamp: 0,
                })
            })
            .collect();
        Interactions::from_cells(5, 4, cells, DuplicatePolicy::Sum)
    }

    fn similarity(params: serde_json::Value, a: u32, b: u32) -> f32 {
        let params: CooccurParams = parse_params(NAME, params.as_object().unwrap()).unwrap();
        Cooccur::new(params)
            .fit_model(&baskets(), &FitContext::default())
            .unwrap()
            .item_similarity(a, b)
            .unwrap_or(0.0)
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-5
    }

    #[test]
    fn measures_match_hand_computed_counts() {
        let plain =
            |measure: &str, a, b| similarity(json!({"measure": measure, "shrinkage": 0.0}), a, b);
        assert!(close(plain("count", 0, 1), 3.0));
        assert!(close(plain("count", 1, 3), 2.0));
        assert!(close(plain("cosine", 0, 1), 3.0 / 4.0));
        assert!(close(plain("cosine", 0, 2), 2.0 / (8f64).sqrt()));
        assert!(close(plain("lift", 1, 3), 2.0 * 5.0 / (4.0 * 2.0)));
        assert!(close(plain("lift", 0, 3), 5.0 / 8.0));
        assert!(close(plain("jaccard", 0, 1), 3.0 / 5.0));
        // Never in a basket together: no similarity.
        assert_eq!(plain("count", 2, 3), 0.0);
        // Symmetric.
        assert_eq!(plain("lift", 3, 1), plain("lift", 1, 3));
    }

    #[test]
    fn shrinkage_and_support_damp_rare_pairs() {
        // lift(1,3) = 1.25 on 2 baskets, shrunk by 2 / (2 + 2).
        let shrunk = similarity(json!({"measure": "lift", "shrinkage": 2.0}), 1, 3);
        assert!(close(shrunk, 1.25 * 0.5), "{shrunk}");
        assert_eq!(similarity(json!({"min_support": 2}), 0, 3), 0.0);
        assert!(similarity(json!({"min_support": 2}), 0, 2) > 0.0);
    }

    #[test]
    fn a_basket_scores_by_the_sum_of_its_items_similarities() {
        let params = CooccurParams {
            measure: Measure::Count,
            shrinkage: 0.0,
            ..CooccurParams::default()
        };
        let model = Cooccur::new(params)
            .fit_model(&baskets(), &FitContext::default())
            .unwrap();
        let basket = Interactions::from_cells(
            1,
            4,
            vec![
                Cell {
                    user: 0,
                    item: 0,
                    weight: 1.0,
                    timestamp: 0,
                },
                Cell {
                    user: 0,
                    item: 3,
                    weight: 7.0,
                    timestamp: 0,
                },
            ],
            DuplicatePolicy::Sum,
        );
        let mut scores = vec![0.0; 4];
        model.score(&Query::anonymous(basket.row(0)), &mut scores);
        // Item 1: n01 + n31 = 3 + 2; item 2: n02 + n32 = 2 + 0.
        assert_eq!(scores[1], 5.0);
        assert_eq!(scores[2], 2.0);
        let similar = model.similar_items(0, 10);
        assert_eq!(similar[0].item, 1);
    }
}
