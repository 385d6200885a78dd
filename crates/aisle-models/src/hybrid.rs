//! `hybrid`: ALS for the items shoppers have interacted with, and items without any event
//! (new products) placed among them by their content.
//!
//! Training fits ALS on the matrix and a [`ContentModel`] on the catalogue. An item with no
//! training interaction gets factors mapped from content: the similarity-weighted mean of
//! the ALS factors of its `neighbours` nearest items *with* interactions (cosine of the
//! content vectors), shrunk by `Σ sim / (Σ sim + 1)` so an item that resembles nothing much
//! stays near zero. A warm item keeps its ALS factors, so warm lists are exactly ALS's.
//!
//! An item added to the catalogue after training is mapped the same way at serving time
//! ([`HybridModel::map_content`]): it can be scored for a user at once.
//!
//! Why this and not a blend of ALS and content scores: a blend moves every warm item's
//! score (and measurably lowers warm quality), while the mapping leaves warm items alone
//! and puts cold ones on ALS's scale, where a user's factors rank them. On the shared
//! MovieLens splits the mapping ranks cold items far better than content scores alone
//! (docs/models.md).

use aisle_data::Interactions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::als::{Als, AlsModel, AlsParams};
use crate::content::{Content, ContentModel, ContentParams};
use crate::error::Result;
use crate::factors::{RankedCache, RankedItems, score_items, top_n_ranked};
use crate::params::{Domain, ParamSpec, Search};
use crate::recommender::{Algorithm, Capabilities, FitContext, Query, Recommender};
use crate::registry::{Params, params_json};
use crate::topk::Scored;

const NAME: &str = "hybrid";

/// Hyper-parameters of [`Hybrid`]: ALS's main ones (the rest at ALS's defaults) and the
/// content mapping's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HybridParams {
    pub factors: usize,
    pub iterations: usize,
    pub regularization: f32,
    pub alpha: f32,
    /// Nearest items with interactions whose factors a cold item's are mapped from.
    pub neighbours: usize,
    /// Weight of a category token in the content vectors.
    pub category_weight: f32,
}

impl Default for HybridParams {
    fn default() -> Self {
        let als = AlsParams::default();
        HybridParams {
            factors: als.factors,
            iterations: als.iterations,
            regularization: als.regularization,
            alpha: als.alpha,
            neighbours: 20,
            category_weight: ContentParams::default().category_weight,
        }
    }
}

impl Params for HybridParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new(
            "factors",
            Domain::Int { min: 1, max: 1024 },
            "ALS: latent factors.",
        )
        .searched(Search::log(16.0, 256.0)),
        ParamSpec::new(
            "iterations",
            Domain::Int { min: 1, max: 1000 },
            "ALS: alternating sweeps.",
        ),
        ParamSpec::new("regularization", Domain::NON_NEGATIVE, "ALS: L2 penalty.")
            .searched(Search::log(0.01, 100.0)),
        ParamSpec::new("alpha", Domain::NON_NEGATIVE, "ALS: confidence slope.")
            .searched(Search::log(0.1, 100.0)),
        ParamSpec::new(
            "neighbours",
            Domain::Int {
                min: 1,
                max: 10_000,
            },
            "Items with interactions a cold item's factors are mapped from.",
        )
        .searched(Search::log(5.0, 200.0)),
        ParamSpec::new(
            "category_weight",
            Domain::closed(0.0, 100.0),
            "Weight of a category token in the content vectors.",
        )
        .searched(Search::log(0.5, 8.0)),
    ];
}

/// Trains [`HybridModel`]s.
#[derive(Debug, Clone, Default)]
pub struct Hybrid {
    params: HybridParams,
}

impl Hybrid {
    pub fn new(params: HybridParams) -> Self {
        Hybrid { params }
    }

    pub fn fit_model(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<HybridModel> {
        let p = &self.params;
        let als = Als::new(AlsParams {
            factors: p.factors,
            iterations: p.iterations,
            regularization: p.regularization,
            alpha: p.alpha,
            ..AlsParams::default()
        })
        .fit_model(train, ctx)?;
        // Without a catalogue every item is described by nothing: the model is plain ALS.
        let empty = vec![None; train.n_items()];
        let content_ctx = FitContext {
            catalogue: Some(ctx.catalogue.unwrap_or(&empty)),
            progress: None,
            notice: None,
            cancel: ctx.cancel,
            seed: ctx.seed,
            rating_scale: None,
        };
        let content = Content::new(ContentParams {
            category_weight: p.category_weight,
            ..ContentParams::default()
        })
        .fit_model(train, &content_ctx)?;
        let counts = train.column_counts();
        let warm: Vec<bool> = counts.iter().map(|&c| c > 0).collect();
        let cold: Vec<u32> = (0..train.n_items() as u32)
            .filter(|&i| !warm[i as usize])
            .collect();
        let mut model = HybridModel {
            neighbours: p.neighbours,
            warm,
            item_factors: als.item_factors().to_vec(),
            als,
            content,
            ranked: RankedCache::default(),
        };
        let allowed = |item: u32| model.warm.get(item as usize).copied().unwrap_or(false);
        let found = model
            .content
            .neighbours_among(&cold, p.neighbours, &allowed);
        let f = model.als.factors();
        for (&item, neighbours) in cold.iter().zip(&found) {
            let mapped = model.mapped(neighbours);
            model.item_factors[item as usize * f..(item as usize + 1) * f].copy_from_slice(&mapped);
        }
        Ok(model)
    }
}

impl Algorithm for Hybrid {
    fn name(&self) -> &str {
        NAME
    }

    fn params(&self) -> Value {
        params_json(&self.params)
    }

    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>> {
        Ok(Box::new(self.fit_model(train, ctx)?))
    }
}

/// A trained `hybrid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HybridModel {
    neighbours: usize,
    /// Items with training interactions.
    warm: Vec<bool>,
    /// ALS's item factors, with the cold items' mapped from content.
    item_factors: Vec<f32>,
    als: AlsModel,
    content: ContentModel,
    /// The items by decreasing norm, for lists that skip what cannot enter them (a clone, as
    /// made for new items, starts without).
    #[serde(skip)]
    ranked: RankedCache,
}

impl HybridModel {
    /// The factors of an item from its content neighbours among warm items.
    fn mapped(&self, neighbours: &[Scored]) -> Vec<f32> {
        let f = self.als.factors();
        let mut out = vec![0f32; f];
        let total: f32 = neighbours.iter().map(|s| s.score).sum();
        if total <= 0.0 {
            return out;
        }
        let factors = self.als.item_factors();
        for s in neighbours {
            let row = &factors[s.item as usize * f..(s.item as usize + 1) * f];
            for (o, v) in out.iter_mut().zip(row) {
                *o += s.score * v;
            }
        }
        // The mean, shrunk when the neighbours are few or faint.
        let scale = 1.0 / (total + 1.0);
        out.iter_mut().for_each(|o| *o *= scale);
        out
    }

    /// Factors for an item described now (added after training), from its content.
    pub fn map_content(&self, item: &aisle_data::Item) -> Vec<f32> {
        let vector = self.content.describe(item);
        let warm = |i: u32| self.warm.get(i as usize).copied().unwrap_or(false);
        let mut scores = vec![0f32; self.content.n_items()];
        self.content.score_profile(&vector, &mut scores);
        let neighbours = crate::topk::top_k(&scores, self.neighbours, |i| {
            warm(i) && scores[i as usize] > 0.0
        });
        self.mapped(&neighbours)
    }

    /// The content model inside (similar items by description).
    pub fn content(&self) -> &ContentModel {
        &self.content
    }

    /// A user's factors: trained, or folded in from the history.
    pub fn user_vector(&self, query: &Query<'_>) -> Vec<f32> {
        match query.user {
            Some(u) if (u as usize) < self.als.n_users() => self.als.user_factors(u).to_vec(),
            _ => self.als.fold_in(&query.history),
        }
    }
}

impl Recommender for HybridModel {
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
        self.warm.len()
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        score_items(&self.user_vector(query), &self.item_factors, None, scores);
    }

    fn best_items(
        &self,
        query: &Query<'_>,
        n: usize,
        allowed: &mut dyn FnMut(u32) -> bool,
    ) -> Option<Vec<Scored>> {
        let ranked = self
            .ranked
            .get_or_build(|| RankedItems::new(&self.item_factors, None, self.als.factors()));
        Some(top_n_ranked(ranked, &self.user_vector(query), n, allowed))
    }

    /// New items get factors mapped from their content, as cold items do at training.
    fn with_new_items(&self, items: &[aisle_data::Item]) -> Option<Box<dyn Recommender>> {
        let mut extended = self.clone();
        for item in items {
            extended.item_factors.extend(self.map_content(item));
            extended.warm.push(false);
        }
        extended.content = self.content.extended(items);
        Some(Box::new(extended))
    }

    /// ALS's neighbours for an item with interactions; content's for one without.
    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        if self.warm.get(item as usize).copied().unwrap_or(false) {
            self.als.similar_items(item, n)
        } else {
            self.content.similar_items(item, n)
        }
    }

    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        let warm = |i: u32| self.warm.get(i as usize).copied().unwrap_or(false);
        if warm(a) && warm(b) {
            self.als.item_similarity(a, b)
        } else {
            self.content.item_similarity(a, b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy, Item};

    /// Two tastes: users 0..20 buy "scarf" items, users 20..40 buy "hose" items. Items 0..8
    /// are scarves, 8..16 hoses; items 7 and 15 have no events at all.
    fn shop() -> (Interactions, Vec<Option<Item>>) {
        let mut cells = Vec::new();
        for user in 0..40u32 {
            let base = if user < 20 { 0 } else { 8 };
            for k in 0..7u32 {
                if (user + k) % 3 != 0 {
                    cells.push(Cell {
                        user,
                        item: base + k,
                        weight: 1.0,
                        timestamp: 0,
                    });
                }
            }
        }
        let train = Interactions::from_cells(40, 16, cells, DuplicatePolicy::Sum);
        let catalogue = (0..16)
            .map(|i| {
                let kind = if i < 8 { "wool scarf" } else { "garden hose" };
                Some(Item {
                    id: format!("i{i}"),
                    title: format!("{kind} model{i}"),
                    ..Item::default()
                })
            })
            .collect();
        (train, catalogue)
    }

    #[test]
    fn items_without_events_reach_the_users_whose_taste_matches_their_content() {
        let (train, catalogue) = shop();
        let ctx = FitContext {
            catalogue: Some(&catalogue),
            ..FitContext::with_seed(1)
        };
        let params = HybridParams {
            factors: 4,
            iterations: 8,
            regularization: 0.1,
            ..HybridParams::default()
        };
        let model = Hybrid::new(params).fit_model(&train, &ctx).unwrap();
        let mut scores = vec![0f32; 16];
        for (user, liked, other) in [(0u32, 7usize, 15usize), (25, 15, 7)] {
            model.score(&Query::known(user, &train), &mut scores);
            assert!(
                scores[liked] > scores[other],
                "user {user}: cold item {liked} {} vs {other} {}",
                scores[liked],
                scores[other]
            );
        }
        // Warm items keep exactly ALS's factors and scores.
        let als = &model.als;
        let mut plain = vec![0f32; 16];
        als.score(&Query::known(3, &train), &mut plain);
        model.score(&Query::known(3, &train), &mut scores);
        for item in (0..7).chain(8..15) {
            assert_eq!(scores[item], plain[item]);
        }
        // A scarf added after training lands with the scarves.
        let new = Item {
            id: "new".into(),
            title: "wool scarf model99".into(),
            ..Item::default()
        };
        let factors = model.map_content(&new);
        let f = model.als.factors();
        let user = model.als.user_factors(0);
        let other = model.als.user_factors(25);
        let dot = |u: &[f32]| u.iter().zip(&factors).map(|(a, b)| a * b).sum::<f32>();
        assert!(dot(user) > dot(other), "{} vs {}", dot(user), dot(other));
        assert_eq!(factors.len(), f);
        // A cold item's similar items come from content: its own kind.
        assert!(model.similar_items(7, 3).iter().all(|s| s.item < 8));
    }
}
