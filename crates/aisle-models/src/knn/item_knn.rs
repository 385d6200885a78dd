//! `item-knn`: item-based collaborative filtering, for ratings (like Surprise's kNN models
//! with `user_based = False`) and for implicit feedback (like the `implicit` library's
//! `CosineRecommender` / `TFIDFRecommender` / `BM25Recommender`), with "similar items" in
//! both.

use aisle_data::Interactions;
use serde::{Deserialize, Serialize};

use super::neighbourhood::{
    NeighbourhoodRatings, Orientation, RatingKnnConfig, default_rating_shrinkage,
};
use super::similarity::{Bm25, implicit_item_neighbours};
use super::{DENSE_SIMILARITY_LIMIT, Feedback, NeighbourLists, Prediction, Similarity};
use crate::error::{ModelError, Result};
use crate::params::{Domain, ParamSpec, Requires, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::Params;
use crate::topk::Scored;

/// Hyper-parameters of `item-knn`.
///
/// **Mode.** One model, two uses, told apart by `feedback`:
/// - `rating`: the training weights are ratings; `predict` estimates r(u, i) from the at most
///   `k` items most similar to `i` (positive similarity) among those `u` rated, combined as
///   `prediction` says, falling back as in `user-knn` below `min_k` neighbours. Similarities
///   `cosine`, `msd`, `pearson`, `pearson_baseline` (over co-rating users, as Surprise).
/// - `implicit`: the weights are confidences; no rating prediction. Similarities `cosine`,
///   `jaccard`, `tfidf`, `bm25` (over whole item columns, as `implicit`).
///
/// When `feedback` is not given the similarity decides: `msd`, `pearson` and
/// `pearson_baseline` mean `rating`; `jaccard`, `tfidf` and `bm25` mean `implicit`; `cosine`
/// (valid in both) and no similarity at all mean `implicit`, the shop's usual data. So
/// `--set similarity=pearson_baseline` is Surprise's `KNNBaseline` (item-based) and
/// `--set feedback=rating --set similarity=cosine` Surprise's cosine.
///
/// In both modes each item keeps its `k` most similar items (positive similarity), which
/// serve "similar items" and ranking: score(u, i) = Σ sim(j, i) · w_uj over the items `j` of
/// u's history whose neighbour lists hold `i` (as `implicit` scores), so an unseen history
/// ranks the same way as a known user (fold-in).
///
/// How the defaults were chosen:
/// - rating mode: `k = 40`, `min_k = 1` and shrinkage 100 for `pearson_baseline` (0 for the
///   others) are Surprise's defaults; the similarity (`pearson_baseline`) and prediction
///   (`baseline`) won on validation splits carved from ml-100k's `u1.base`..`u5.base` (a
///   hashed 20% of each held out, test files untouched; mean validation RMSE), over every
///   similarity × prediction mode; over shrinkage ∈ {0, 25, 50, 100, 200} × k ∈ {20, 40, 60,
///   80} the defaults were within 0.0005 RMSE of the best cell.
/// - implicit mode: by mean NDCG@10 on three validation splits of ml-100k's
///   `holdout.train.tsv` (per user, a hashed 20% of the training rows held out, seeds 7, 8,
///   9; the test file untouched). A first grid over similarity ∈ {cosine, jaccard, tfidf,
///   bm25} × k ∈ {10, 20, 50, 100, 200} × shrinkage ∈ {0, 2, 5, 10, 20} put `bm25` with the
///   largest k first (tfidf peaked at k = 10); a second grid over bm25 with k ∈ {50, 100,
///   200, 400, 1000}, shrinkage ∈ {0, 5, 10, 20}, `bm25_k1` ∈ {0.6, 1.2, 2, 5} and `bm25_b`
///   ∈ {0.25, 0.5, 0.75, 1} was best at k1 1.2, b 0.5, shrinkage 0, where k = 400 is within
///   0.0005 of k = 1000 at less than half the memory: hence `bm25`, k 400, shrinkage 0,
///   `bm25_k1` 1.2, `bm25_b` 0.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnParams {
    /// `rating` or `implicit`; unset: decided by the similarity (see above).
    pub feedback: Option<Feedback>,
    /// Unset: `pearson_baseline` for ratings, `bm25` for implicit feedback.
    pub similarity: Option<Similarity>,
    /// Neighbours per item (implicit: kept per item; rating: most used per prediction).
    /// Unset: 40 for ratings, 400 for implicit feedback.
    pub k: Option<usize>,
    /// Rating mode: fewest neighbours for a neighbourhood estimate.
    pub min_k: usize,
    /// λ in `sim · (n − 1) / (n − 1 + λ)`, n the number of users the two items share.
    /// Unset: 100 for `pearson_baseline`, 0 for the other similarities.
    pub shrinkage: Option<f32>,
    /// Rating mode: `basic`, `means` or `baseline`.
    pub prediction: Prediction,
    /// `bm25`: term saturation (`implicit`'s `K1`, whose default is also 1.2).
    pub bm25_k1: f32,
    /// `bm25`: length normalisation in [0, 1] (`implicit`'s `B`, whose default is 0.75).
    pub bm25_b: f32,
}

/// Implicit-mode defaults (see [`ItemKnnParams`] for how they were chosen).
const IMPLICIT_SIMILARITY: Similarity = Similarity::Bm25;
const IMPLICIT_K: usize = 400;
const IMPLICIT_SHRINKAGE: f32 = 0.0;
const RATING_K: usize = 40;

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            feedback: None,
            similarity: None,
            k: None,
            min_k: 1,
            shrinkage: None,
            prediction: Prediction::Baseline,
            bm25_k1: 1.2,
            bm25_b: 0.5,
        }
    }
}

impl ItemKnnParams {
    /// The same parameters with the mode and every mode-dependent default filled in, or what
    /// is wrong with them.
    pub fn resolve(&self) -> std::result::Result<ItemKnnParams, String> {
        let feedback = self.feedback.unwrap_or(match self.similarity {
            Some(s) if s.for_implicit().is_none() => Feedback::Rating,
            _ => Feedback::Implicit,
        });
        let similarity = self.similarity.unwrap_or(match feedback {
            Feedback::Rating => Similarity::PearsonBaseline,
            Feedback::Implicit => IMPLICIT_SIMILARITY,
        });
        let fits = match feedback {
            Feedback::Rating => similarity.for_ratings().is_some(),
            Feedback::Implicit => similarity.for_implicit().is_some(),
        };
        if !fits {
            return Err(format!(
                "similarity '{}' does not apply to {} feedback (rating: cosine, msd, pearson, \
                 pearson_baseline; implicit: cosine, jaccard, tfidf, bm25)",
                similarity.as_str(),
                if feedback == Feedback::Rating {
                    "rating"
                } else {
                    "implicit"
                },
            ));
        }
        let (k, shrinkage) = match feedback {
            Feedback::Rating => (
                self.k.unwrap_or(RATING_K),
                self.shrinkage
                    .unwrap_or(default_rating_shrinkage(similarity)),
            ),
            Feedback::Implicit => (
                self.k.unwrap_or(IMPLICIT_K),
                self.shrinkage.unwrap_or(IMPLICIT_SHRINKAGE),
            ),
        };
        Ok(ItemKnnParams {
            feedback: Some(feedback),
            similarity: Some(similarity),
            k: Some(k),
            shrinkage: Some(shrinkage),
            ..self.clone()
        })
    }
}

impl Params for ItemKnnParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "feedback",
            Domain::Choice(&["rating", "implicit"]),
            "`rating` or `implicit`; unset: decided by the similarity.",
        )
        .optional(),
        ParamSpec::new(
            "similarity",
            Domain::Choice(&[
                "cosine",
                "msd",
                "pearson",
                "pearson_baseline",
                "jaccard",
                "tfidf",
                "bm25",
            ]),
            "How two items are compared; unset: `pearson_baseline` for ratings, `bm25` for implicit feedback.",
        )
        .optional(),
        ParamSpec::new(
            "k",
            Domain::Int { min: 1, max: 100_000 },
            "Neighbours per item; unset: 40 for ratings, 400 for implicit feedback.",
        )
        .optional()
        .searched(Search::log(10.0, 1000.0)),
        ParamSpec::new(
            "min_k",
            Domain::Int { min: 0, max: 100_000 },
            "Rating mode: fewest neighbours for a neighbourhood estimate (read as `k` when above it).",
        ),
        ParamSpec::new(
            "shrinkage",
            Domain::NON_NEGATIVE,
            "λ in `sim · (n − 1) / (n − 1 + λ)`; unset: 100 for `pearson_baseline`, else 0.",
        )
        .optional()
        .searched(Search::linear(0.0, 100.0)),
        ParamSpec::new(
            "prediction",
            Domain::Choice(&["basic", "means", "baseline"]),
            "Rating mode: how neighbours' ratings combine.",
        ),
        ParamSpec::new(
            "bm25_k1",
            Domain::NON_NEGATIVE,
            "`bm25`: term saturation (implicit's `K1`).",
        )
        .searched(Search::linear(0.2, 3.0)),
        ParamSpec::new(
            "bm25_b",
            Domain::closed(0.0, 1.0),
            "`bm25`: length normalisation (implicit's `B`).",
        )
        .searched(Search::linear(0.0, 1.0)),
    ];
    const RULES: &'static [Requires] = &[
        Requires {
            when: "feedback",
            is: &["rating"],
            then: "similarity",
            allowed: &["cosine", "msd", "pearson", "pearson_baseline"],
        },
        Requires {
            when: "feedback",
            is: &["implicit"],
            then: "similarity",
            allowed: &["cosine", "jaccard", "tfidf", "bm25"],
        },
    ];
}

/// The `item-knn` trainer.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    /// Resolved parameters: every `Option` is `Some`.
    params: ItemKnnParams,
    dense_limit: usize,
}

impl ItemKnn {
    /// Checks `params` and fills in the mode and the defaults that depend on it.
    pub fn new(params: ItemKnnParams) -> Result<Self> {
        let params = params
            .resolve()
            .map_err(|message| ModelError::invalid("item-knn", message))?;
        Ok(ItemKnn {
            params,
            dense_limit: DENSE_SIMILARITY_LIMIT,
        })
    }

    /// Stores rating similarities densely only up to `limit` items (for tests of the sparse
    /// store).
    pub fn with_dense_limit(mut self, limit: usize) -> Self {
        self.dense_limit = limit;
        self
    }

    pub fn feedback(&self) -> Feedback {
        self.params.feedback.expect("resolved")
    }

    /// [`Algorithm::fit`] with the concrete model type.
    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<ItemKnnModel> {
        if train.nnz() == 0 {
            return Err(ModelError::unsuitable(
                "item-knn",
                "the training data is empty",
            ));
        }
        let p = &self.params;
        let similarity = p.similarity.expect("resolved");
        let k = p.k.expect("resolved");
        let shrinkage = p.shrinkage.expect("resolved");
        let state = match self.feedback() {
            Feedback::Rating => {
                let config = RatingKnnConfig {
                    similarity: similarity.for_ratings().expect("checked in resolve"),
                    shrinkage,
                    k,
                    min_k: p.min_k,
                    prediction: p.prediction,
                    dense_limit: self.dense_limit,
                };
                ItemKnnState::Rating(Box::new(NeighbourhoodRatings::fit(
                    train,
                    Orientation::ItemBased,
                    &config,
                    ctx,
                )?))
            }
            Feedback::Implicit => ItemKnnState::Implicit(implicit_item_neighbours(
                train,
                similarity.for_implicit().expect("checked in resolve"),
                k,
                shrinkage,
                Bm25 {
                    k1: p.bm25_k1,
                    b: p.bm25_b,
                },
                ctx,
            )?),
        };
        Ok(ItemKnnModel {
            n_items: train.n_items(),
            state,
        })
    }
}

impl Algorithm for ItemKnn {
    fn name(&self) -> &str {
        "item-knn"
    }

    fn params(&self) -> serde_json::Value {
        crate::registry::params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum ItemKnnState {
    Rating(Box<NeighbourhoodRatings>),
    Implicit(NeighbourLists),
}

/// A trained `item-knn`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemKnnModel {
    n_items: usize,
    state: ItemKnnState,
}

impl ItemKnnModel {
    /// Each item's most similar items, best first.
    pub fn neighbours(&self) -> &NeighbourLists {
        match &self.state {
            ItemKnnState::Rating(ratings) => ratings.neighbours(),
            ItemKnnState::Implicit(lists) => lists,
        }
    }
}

impl Recommender for ItemKnnModel {
    fn to_payload(&self) -> crate::Result<crate::persist::Payload> {
        crate::persist::Payload::encode("item-knn", self)
    }

    fn name(&self) -> &str {
        "item-knn"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: matches!(self.state, ItemKnnState::Rating(_)),
            ranking: true,
            similar_items: true,
            fold_in: true,
        }
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn predict(&self, user: u32, item: u32) -> Option<f32> {
        match &self.state {
            ItemKnnState::Rating(ratings) => Some(ratings.predict(user, item)),
            ItemKnnState::Implicit(_) => None,
        }
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
        self.neighbours().accumulate(query.history.iter(), scores);
    }

    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        self.neighbours().top(item, n)
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        self.neighbours().similarity(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_params;
    use aisle_data::{Cell, DuplicatePolicy};
    use serde_json::json;

    fn params(value: serde_json::Value) -> std::result::Result<ItemKnnParams, ModelError> {
        parse_params::<ItemKnnParams>("item-knn", value.as_object().unwrap())
    }

    fn matrix(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Interactions {
        let cells = triples
            .iter()
            .map(|&(user, item, weight)| Cell {
                user,
                item,
                weight,
                timestamp: 0,
            })
            .collect();
        Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Sum)
    }

    #[test]
    fn the_similarity_name_selects_the_mode() {
        let mode = |v| ItemKnn::new(params(v).unwrap()).unwrap().feedback();
        assert_eq!(mode(json!({})), Feedback::Implicit);
        assert_eq!(mode(json!({"similarity": "cosine"})), Feedback::Implicit);
        assert_eq!(mode(json!({"similarity": "bm25"})), Feedback::Implicit);
        assert_eq!(
            mode(json!({"similarity": "pearson_baseline"})),
            Feedback::Rating
        );
        assert_eq!(mode(json!({"similarity": "msd"})), Feedback::Rating);
        assert_eq!(mode(json!({"feedback": "rating"})), Feedback::Rating);
        assert_eq!(
            mode(json!({"feedback": "rating", "similarity": "cosine"})),
            Feedback::Rating
        );
        assert!(params(json!({"feedback": "rating", "similarity": "tfidf"})).is_err());
        assert!(params(json!({"feedback": "implicit", "similarity": "pearson"})).is_err());
        assert!(params(json!({"similarity": "euclid"})).is_err());
        assert!(params(json!({"bm25_b": 2.0})).is_err());
        let rating = ItemKnn::new(params(json!({"feedback": "rating"})).unwrap()).unwrap();
        let reported = rating.params();
        assert_eq!(reported["similarity"], json!("pearson_baseline"));
        assert_eq!(reported["k"], json!(40));
        assert_eq!(reported["shrinkage"], json!(100.0));
    }

    /// Users × items, all weights 1:
    /// ```text
    ///        i0 i1 i2 i3
    ///   u0 [ 1  1  .  . ]
    ///   u1 [ 1  1  1  . ]
    ///   u2 [ .  1  1  1 ]
    ///   u3 [ 1  .  .  1 ]
    /// ```
    fn implicit_small() -> Interactions {
        matrix(
            4,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 1.0),
                (2, 1, 1.0),
                (2, 2, 1.0),
                (2, 3, 1.0),
                (3, 0, 1.0),
                (3, 3, 1.0),
            ],
        )
    }

    #[test]
    fn implicit_scores_match_the_hand_computation() {
        let train = implicit_small();
        let algorithm =
            ItemKnn::new(params(json!({"similarity": "cosine", "k": 2})).unwrap()).unwrap();
        let model = algorithm.fit_model(&train, &FitContext::default()).unwrap();
        assert!(!model.capabilities().rating && model.predict(0, 0).is_none());
        // Columns: i0 = {u0, u1, u3}, i1 = {u0, u1, u2}, i2 = {u1, u2}, i3 = {u2, u3}.
        // cos(i0, i1) = 2/3, cos(i0, i2) = 1/√6, cos(i0, i3) = 1/√6, cos(i1, i2) = 2/√6,
        // cos(i1, i3) = 1/√6, cos(i2, i3) = 1/2. With k = 2 each item keeps:
        // i0 → i1 (2/3), i2 (1/√6, tie with i3 broken to the smaller index);
        // i1 → i2 (2/√6), i0 (2/3); i2 → i1, i3 (1/2); i3 → i2 (1/2), i0 (1/√6).
        let r6 = 1.0 / 6f32.sqrt();
        let (items, sims) = model.neighbours().row(0);
        assert_eq!(items, &[1, 2]);
        assert!((sims[0] - 2.0 / 3.0).abs() < 1e-6 && (sims[1] - r6).abs() < 1e-6);
        // A history {i0: 2, i3: 1}: i1 gets 2·(2/3) from i0; i2 gets 2·(1/√6) + 1·(1/2).
        let history = matrix(1, 4, &[(0, 0, 2.0), (0, 3, 1.0)]);
        let mut scores = vec![0f32; 4];
        model.score(&Query::anonymous(history.row(0)), &mut scores);
        assert!((scores[1] - 4.0 / 3.0).abs() < 1e-6);
        assert!((scores[2] - (2.0 * r6 + 0.5)).abs() < 1e-6);
        // i0 is reached from i3's list: 1 · (1/√6); i3 from nobody in the history but i0,
        // whose list does not hold it.
        assert!((scores[0] - r6).abs() < 1e-6);
        assert_eq!(scores[3], 0.0);
    }

    #[test]
    fn similar_items_exclude_the_item_itself() {
        let train = implicit_small();
        for similarity in ["cosine", "jaccard", "tfidf", "bm25"] {
            let model = ItemKnn::new(params(json!({"similarity": similarity})).unwrap())
                .unwrap()
                .fit_model(&train, &FitContext::default())
                .unwrap();
            for item in 0..4 {
                let similar = model.similar_items(item, 10);
                assert!(similar.iter().all(|s| s.item != item), "{similarity}");
                assert!(similar.windows(2).all(|w| w[0].score >= w[1].score));
            }
            assert!(model.similar_items(99, 10).is_empty());
        }
    }

    #[test]
    fn rating_mode_predicts_and_ranks() {
        let train = matrix(
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
        let algorithm =
            ItemKnn::new(params(json!({"similarity": "msd", "prediction": "basic"})).unwrap())
                .unwrap();
        let model = algorithm.fit_model(&train, &FitContext::default()).unwrap();
        assert!(model.capabilities().rating);
        // msd(i2, i0) = 1 and msd(i2, i1) = 1/5 (see neighbourhood.rs): (5 + 0.2·1) / 1.2.
        let expected = (5.0 + 0.2) / 1.2;
        assert!((model.predict(0, 2).unwrap() - expected).abs() < 1e-5);
        // Ranking u0 by neighbour lists: i2 gets 5 · sim(i0, i2) + 1 · sim(i1, i2).
        let mut scores = vec![0f32; 3];
        model.score(&Query::known(0, &train), &mut scores);
        assert!((scores[2] - (5.0 * 1.0 + 0.2)).abs() < 1e-5);
        let sparse = algorithm
            .with_dense_limit(0)
            .fit_model(&train, &FitContext::default())
            .unwrap();
        assert!((sparse.predict(0, 2).unwrap() - expected).abs() < 1e-5);
    }
}
