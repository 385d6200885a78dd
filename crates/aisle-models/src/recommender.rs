//! The [`Recommender`] trait every trained model implements, the [`Algorithm`] trait every
//! trainer implements, and what they exchange.

use std::sync::atomic::{AtomicBool, Ordering};

use aisle_data::{Interactions, Row};
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::topk::{Scored, top_k};

/// What a trained model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// [`Recommender::predict`] gives a rating estimate.
    pub rating: bool,
    /// [`Recommender::score`] ranks items for a user.
    pub ranking: bool,
    /// [`Recommender::similar_items`] is meaningful.
    pub similar_items: bool,
    /// [`Recommender::score`] works from a history alone (a user unseen at training time).
    pub fold_in: bool,
}

/// Who to recommend for: a user known to the model, their history, or both.
///
/// `history` is the user's interactions (items sorted, as in a matrix row) with the same
/// weighting as the training matrix. For a user seen at training time it is normally their
/// training row; for a new user it is all the model has (fold-in).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub user: Option<u32>,
    pub history: Row<'a>,
}

impl<'a> Query<'a> {
    /// A user known to the model, with their row of `train` as history.
    pub fn known(user: u32, train: &'a Interactions) -> Self {
        Query {
            user: Some(user),
            history: train.row(user),
        }
    }

    /// An anonymous history.
    pub fn anonymous(history: Row<'a>) -> Self {
        Query {
            user: None,
            history,
        }
    }
}

/// A trained model. Immutable: serving threads share it freely.
pub trait Recommender: Send + Sync + std::fmt::Debug {
    /// The CLI name of the algorithm that produced it (`svd`, `als`, ...).
    fn name(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    /// Number of items the model scores (the training matrix's columns).
    fn n_items(&self) -> usize;

    /// A rating estimate for `(user, item)`, not yet clipped to the rating scale. Indices at
    /// or beyond the training shape are users or items the model has never seen and must get
    /// a sensible fallback (e.g. the global mean plus the known bias), never a panic.
    /// Models without rating capability return `None`.
    fn predict(&self, user: u32, item: u32) -> Option<f32> {
        let _ = (user, item);
        None
    }

    /// Writes a ranking score for every item into `scores` (`scores.len() == n_items()`);
    /// higher is better, NaN or −∞ means "never recommend". Items in the history are scored
    /// too: excluding them is the caller's choice.
    fn score(&self, query: &Query<'_>, scores: &mut [f32]);

    /// The `n` items most similar to `item` (never `item` itself), best first. Empty when the
    /// model has no notion of item similarity or the item is unknown.
    fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        let _ = (item, n);
        Vec::new()
    }

    /// The best `n` items for `query` among those `allowed`, best first — what
    /// [`top_k`](crate::topk::top_k) over [`score`](Recommender::score) gives (ties broken
    /// the same way; a score may differ in its last bit, summed in another order) — when the
    /// model can find them without scoring every item: the factor models (`als`, `bpr`,
    /// `hybrid`) skip the items whose norm cannot reach the list. `None` (the default): score
    /// every item.
    fn best_items(
        &self,
        _query: &Query<'_>,
        _n: usize,
        _allowed: &mut dyn FnMut(u32) -> bool,
    ) -> Option<Vec<Scored>> {
        None
    }

    /// Whether the ranking depends on who asks; false for popularity, whose list is the same
    /// for everyone (so it is explained by popularity, not by a user's history).
    fn personalised(&self) -> bool {
        true
    }

    /// How similar two items are in this model's own terms (factor cosine, neighbour weight,
    /// item-item coefficient), used to explain a recommendation by the history item it most
    /// resembles. `None` when the model has no such notion or either item is unknown; the
    /// scale is the model's own, comparable only between pairs of one model.
    fn item_similarity(&self, a: u32, b: u32) -> Option<f32> {
        let _ = (a, b);
        None
    }

    /// The top `n` items for each of many users the model knows, each with their row of
    /// `train` as history and that history excluded; lists in `users` order. The default
    /// ranks users one by one, in parallel; factor models override it with a blocked
    /// user × item product, which is many times faster for large batches (evaluation, batch
    /// exports).
    fn recommend_known_users(
        &self,
        users: &[u32],
        train: &Interactions,
        n: usize,
    ) -> Vec<Vec<Scored>> {
        users
            .par_iter()
            .map(|&user| recommend(self, &Query::known(user, train), n, true, |_| false))
            .collect()
    }

    /// This model with `items` appended after its last item (indices `n_items()..`), each
    /// placed by what it is rather than by interactions — for a model that learns from
    /// content, so a product added to the catalogue after training can be recommended at
    /// once. `None` (the default) for models that cannot place an item without events.
    fn with_new_items(&self, items: &[aisle_data::Item]) -> Option<Box<dyn Recommender>> {
        let _ = items;
        None
    }

    /// The trained state for a model file ([`crate::persist`]). Models that cannot be saved
    /// (e.g. test doubles) keep the default, an error.
    fn to_payload(&self) -> Result<crate::persist::Payload> {
        Err(ModelError::Artifact(format!(
            "a '{}' model cannot be saved",
            self.name()
        )))
    }
}

/// The top `n` items for a query, skipping the history when `exclude_seen` and any item for
/// which `excluded` is true.
pub fn recommend<R: Recommender + ?Sized>(
    model: &R,
    query: &Query<'_>,
    n: usize,
    exclude_seen: bool,
    mut excluded: impl FnMut(u32) -> bool,
) -> Vec<Scored> {
    let mut scores = vec![0f32; model.n_items()];
    model.score(query, &mut scores);
    let history = query.history;
    top_k(&scores, n, |item| {
        (!exclude_seen || !history.contains(item)) && !excluded(item)
    })
}

/// Progress of a long computation, reported to whoever started it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Units done (e.g. epochs or iterations).
    pub done: u64,
    /// Units in all.
    pub total: u64,
}

/// What a trainer gets from its caller besides the data.
pub struct FitContext<'a> {
    /// Seed for every random choice: the same seed gives the same model.
    pub seed: u64,
    /// The declared rating scale `(min, max)`, for rating models.
    pub rating_scale: Option<(f32, f32)>,
    /// Called after each unit of work (an epoch, an iteration).
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Set by the caller to stop training early; trainers check it between units of work
    /// and return [`ModelError::Cancelled`].
    pub cancel: Option<&'a AtomicBool>,
    /// Told, before a long or memory-hungry computation starts, what it will cost (EASE's
    /// inversion), so a person can stop it in time.
    pub notice: Option<&'a (dyn Fn(&str) + Sync)>,
    /// The catalogue's description of each item, by the training matrix's item index
    /// (`None`: not described), for models that learn from content.
    pub catalogue: Option<&'a [Option<aisle_data::Item>]>,
}

impl std::fmt::Debug for FitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitContext")
            .field("seed", &self.seed)
            .field("rating_scale", &self.rating_scale)
            .finish_non_exhaustive()
    }
}

impl Default for FitContext<'_> {
    fn default() -> Self {
        FitContext {
            seed: 42,
            rating_scale: None,
            progress: None,
            cancel: None,
            notice: None,
            catalogue: None,
        }
    }
}

impl FitContext<'_> {
    pub fn with_seed(seed: u64) -> Self {
        FitContext {
            seed,
            ..Default::default()
        }
    }

    /// Passes `text` to the caller's [`FitContext::notice`], if any.
    pub fn notify(&self, text: &str) {
        if let Some(notice) = self.notice {
            notice(text);
        }
    }

    /// Reports progress and returns an error if the caller asked to stop.
    pub fn step(&self, done: u64, total: u64) -> Result<()> {
        if let Some(progress) = self.progress {
            progress(Progress { done, total });
        }
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(ModelError::Cancelled);
        }
        Ok(())
    }
}

/// A configured trainer: validated hyper-parameters ready to fit.
pub trait Algorithm: Send + Sync + std::fmt::Debug {
    /// The CLI name (`svd`, `als`, ...).
    fn name(&self) -> &str;

    /// The full hyper-parameters, defaults filled in, as reported in `aisle evaluate --json`.
    fn params(&self) -> serde_json::Value;

    /// Trains on `train`, whose weights are ratings for rating models and implicit
    /// confidences for ranking models.
    fn fit(&self, train: &Interactions, ctx: &FitContext<'_>) -> Result<Box<dyn Recommender>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{algorithm, model_names};
    use aisle_data::{Cell, DuplicatePolicy};

    /// Batch answers (the blocked overrides of the factor models included) equal one-by-one
    /// answers for every model.
    #[test]
    fn batch_recommendations_equal_one_by_one() {
        let cells = (0..40u32)
            .flat_map(|u| {
                (0..25u32)
                    .filter(move |i| (u * 5 + i * 7) % 3 == 0)
                    .map(move |i| Cell {
                        user: u,
                        item: i,
                        weight: 1.0 + ((u + i) % 5) as f32,
                        timestamp: i64::from(u * 50 + i),
                    })
            })
            .collect();
        let train = Interactions::from_cells(40, 25, cells, DuplicatePolicy::Sum);
        let users: Vec<u32> = (0..40).collect();
        let catalogue = crate::content::sample_catalogue(25);
        let context = FitContext {
            catalogue: Some(&catalogue),
            ..FitContext::with_seed(5)
        };
        for name in model_names() {
            let model = algorithm(name, &Default::default())
                .unwrap()
                .fit(&train, &context)
                .unwrap();
            let batch = model.recommend_known_users(&users, &train, 5);
            for (&user, list) in users.iter().zip(&batch) {
                let single =
                    recommend(model.as_ref(), &Query::known(user, &train), 5, true, |_| {
                        false
                    });
                assert_eq!(list.len(), single.len(), "{name}");
                for (a, b) in list.iter().zip(&single) {
                    assert!(
                        !train.row(user).contains(a.item),
                        "{name}: seen item recommended"
                    );
                    assert!(
                        (a.score - b.score).abs() <= 1e-4 * b.score.abs().max(1.0),
                        "{name}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }
}
