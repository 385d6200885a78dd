//! The model versions answering requests: each one prepared for serving (popular and
//! trending orders, lists precomputed per known user), and the set of them by name that the
//! engine swaps atomically when a new version is trained.

use std::collections::BTreeMap;
use std::sync::Arc;

use aisle_data::Interactions;
use aisle_models::{Scored, TrainedModel, top_k};
use aisle_store::{EventId, ModelInfo};

use crate::error::EngineError;

/// A model version ready to answer.
#[derive(Debug)]
pub struct Serving {
    pub info: ModelInfo,
    /// Shared, so lists can be precomputed for a loaded model without decoding it again.
    pub trained: Arc<TrainedModel>,
    /// The newest event of the training snapshot: later events make a user "fresh".
    pub last_event: Option<EventId>,
    /// Best items per known user (training history excluded), computed at swap time; may be
    /// empty.
    pub(crate) precomputed: Lists,
    /// Every item by training popularity, best first.
    pub(crate) popular: Vec<Scored>,
    /// Every item by time-decayed popularity, best first.
    pub(crate) trending: Vec<Scored>,
    /// Items from this index on were added to the catalogue after training and placed by
    /// their content ([`Serving::with_new_items`]).
    pub(crate) first_new_item: u32,
}

impl Serving {
    /// Prepares a trained model for serving; `matrix` (the training matrix, or the store's
    /// events in the model's indices) lets the best `precompute` items of every known user be
    /// ranked up front.
    pub fn new(
        info: ModelInfo,
        trained: Arc<TrainedModel>,
        last_event: Option<EventId>,
        matrix: Option<&Interactions>,
        precompute: usize,
    ) -> Serving {
        let precomputed = match matrix {
            Some(matrix) => precompute_lists(&trained, matrix, precompute),
            None => Lists::default(),
        };
        Serving::with_lists(info, trained, last_event, precomputed)
    }

    /// Prepares a trained model for serving with lists ranked elsewhere (by
    /// [`precompute_lists`], in a training process).
    pub fn with_lists(
        info: ModelInfo,
        trained: Arc<TrainedModel>,
        last_event: Option<EventId>,
        precomputed: Lists,
    ) -> Serving {
        let n_items = trained.model.n_items();
        let popularity: Vec<f32> = trained.item_popularity.iter().map(|&c| c as f32).collect();
        let popular = top_k(&popularity, n_items, |i| popularity[i as usize] > 0.0);
        let trending = top_k(&trained.item_trending, n_items, |i| {
            trained.item_trending[i as usize] > 0.0
        });
        Serving {
            info,
            trained,
            last_event,
            precomputed,
            popular,
            trending,
            first_new_item: n_items as u32,
        }
    }

    /// This version with catalogue items it does not know appended, placed by their
    /// content, for models that can (`content`, `hybrid`): a product `PUT` a second ago can
    /// be recommended and has similar items, before any retraining. `None` when the model
    /// cannot or no item is new. The extended version scores every list live (precomputed
    /// lists would not hold the new items) until the next training.
    pub fn with_new_items(&self, items: &[aisle_data::Item]) -> Option<Serving> {
        let trained = Arc::new(self.trained.with_new_items(items)?);
        let mut serving = Serving::new(self.info.clone(), trained, self.last_event, None, 0);
        serving.first_new_item = self.first_new_item;
        Some(serving)
    }

    /// Whether the item at `index` was added after training (placed by its content).
    pub fn is_new_item(&self, index: u32) -> bool {
        index >= self.first_new_item
    }

    pub fn name(&self) -> &str {
        &self.info.meta.name
    }

    /// How many users have a precomputed list.
    pub fn precomputed_users(&self) -> usize {
        self.precomputed.len()
    }

    /// Whether lists were precomputed for this version.
    pub fn has_precomputed(&self) -> bool {
        !self.precomputed.is_empty()
    }
}

/// The best `n` items of every user of `matrix` (the training matrix, or the store's events
/// in the model's indices), their own items excluded; empty when `n` is 0 or the model
/// cannot rank.
pub fn precompute_lists(trained: &TrainedModel, matrix: &Interactions, n: usize) -> Lists {
    if n == 0 || !trained.model.capabilities().ranking {
        return Lists::default();
    }
    let users: Vec<u32> = (0..matrix.n_users() as u32).collect();
    let mut lists = Lists::default();
    // In batches, so the vectors a batch returns are dropped before the next is ranked.
    for batch in users.chunks(4_096) {
        for list in trained.model.recommend_known_users(batch, matrix, n) {
            lists.push(&list);
        }
    }
    lists
}

/// One ranked list per user, all in one allocation. A swap frees a version's lists as one
/// block: kept as a vector per user (20k vectors of 100 items on the soak's shop), they were
/// small allocations spread over the allocator's pages, and the server's resident memory
/// rose by ~25 MiB at the first swap and stayed there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lists {
    /// Where each user's list ends in `entries`.
    ends: Vec<u32>,
    entries: Vec<Scored>,
}

impl Lists {
    /// Appends the next user's list.
    pub fn push(&mut self, list: &[Scored]) {
        self.entries.extend_from_slice(list);
        self.ends.push(self.entries.len() as u32);
    }

    /// The list of user `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&[Scored]> {
        let end = *self.ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1] as usize,
        };
        Some(&self.entries[start..end])
    }

    /// How many users have a list.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every list, in user order.
    pub fn iter(&self) -> impl Iterator<Item = &[Scored]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Room for `users` lists of `per_user` items.
    pub fn with_capacity(users: usize, per_user: usize) -> Lists {
        Lists {
            ends: Vec::with_capacity(users),
            entries: Vec::with_capacity(users.saturating_mul(per_user)),
        }
    }
}

/// The models answering now, by name.
#[derive(Debug, Default, Clone)]
pub struct ModelSet {
    pub by_name: BTreeMap<String, Arc<Serving>>,
    /// The name answering requests that name no model.
    pub default: Option<String>,
}

impl ModelSet {
    /// The model called `name`, or the default one.
    pub fn pick(&self, name: Option<&str>) -> Result<&Arc<Serving>, EngineError> {
        let name = match name.or(self.default.as_deref()) {
            Some(name) => name,
            None => return Err(EngineError::NoModel),
        };
        self.by_name
            .get(name)
            .ok_or_else(|| EngineError::UnknownModel {
                name: name.to_string(),
                available: self.names(),
            })
    }

    /// The basket model answering a basket list: `asked` (as stored, or its algorithm's name
    /// with `@baskets` added), else `configured`, else the newest basket model; `None` when
    /// none of them serves.
    pub fn basket_model(&self, asked: Option<&str>, configured: Option<&str>) -> Option<String> {
        let serving = |name: &str| {
            [name.to_string(), crate::baskets::basket_model_name(name)]
                .into_iter()
                .find(|n| crate::baskets::is_basket_model(n) && self.by_name.contains_key(n))
        };
        if let Some(asked) = asked {
            return serving(asked);
        }
        configured.and_then(serving).or_else(|| {
            self.by_name
                .values()
                .filter(|s| crate::baskets::is_basket_model(s.name()))
                .max_by_key(|s| s.info.version)
                .map(|s| s.name().to_string())
        })
    }

    /// The names serving, comma-separated (`none` when there are none), for messages.
    pub fn names(&self) -> String {
        if self.by_name.is_empty() {
            "none".into()
        } else {
            self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}
