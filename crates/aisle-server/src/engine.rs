//! The serving core: the models currently answering (swapped atomically when a new version
//! is trained), and the rules that turn a request into a list — history from the store,
//! trained state or fold-in, filters, fallbacks and reasons. Nothing here knows HTTP; the
//! handlers call it from `spawn_blocking`, since scoring is CPU work.
//!
//! How a user's list is made:
//! 1. The user's most recent events are read from the store (their history).
//! 2. A user the model was trained on, with no event newer than the model's snapshot, is
//!    answered from the list precomputed for them at swap time (filtered at request time),
//!    or, when filters leave too few items, from their trained state.
//! 3. A user with events newer than the snapshot, or one the model has never seen but who
//!    has events, is folded in from their whole history: their new clicks count at once.
//! 4. Anyone else gets the most popular items, flagged `fallback`.
//!
//! Items in the history are excluded (unless asked otherwise), as are items no longer in the
//! catalogue; a list shorter than asked is topped up with popular items.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use aisle_data::rng::{Rng, splitmix64};
use aisle_data::{Cell, Interactions, Row};
use aisle_models::{Query, Scored, TrainedModel, top_k};
use aisle_store::{EventId, ModelInfo, Store, StoreError, StoredEvent};
use arc_swap::ArcSwap;
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalogue::Catalogue;
use crate::training::LAST_EVENT_KEY;

/// How many of a user's history items are looked at to explain a recommendation.
const REASON_HISTORY: usize = 50;

/// Settings of the serving core.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How many of a user's most recent events make their history.
    pub history_events: usize,
    /// How many items are precomputed per known user when a model is swapped in (0: none).
    pub precompute: usize,
    /// The model that answers when a request names none (default: the newest trained).
    pub default_model: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            history_events: 1_000,
            precompute: 100,
            default_model: None,
        }
    }
}

/// Why the engine could not answer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no model is trained yet")]
    NoModel,
    #[error("no trained model is called '{name}' (serving: {available})")]
    UnknownModel { name: String, available: String },
    #[error("unknown item '{0}'")]
    UnknownItem(String),
    #[error("the '{0}' model has no notion of item similarity")]
    NoSimilarity(String),
}

/// What to leave out of a list and how long to make it.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub n: usize,
    pub offset: usize,
    /// Only items in this category.
    pub category: Option<String>,
    /// Only items marked available in the catalogue.
    pub available_only: bool,
    /// Leave out items in the user's history (default true).
    pub exclude_seen: bool,
    /// Item ids never to recommend.
    pub exclude: Vec<String>,
    /// The model to ask (default: the engine's default model).
    pub model: Option<String>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            n: 10,
            offset: 0,
            category: None,
            available_only: false,
            exclude_seen: true,
            exclude: Vec::new(),
            model: None,
        }
    }
}

/// One entry of an anonymous history (`POST /v1/recommend`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub item_id: String,
    /// The event type; without one the entry is an interaction of weight `value` (default 1).
    pub kind: Option<String>,
    pub value: Option<f64>,
}

/// Why an item is in a list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Close, in the model's terms, to an item of the user's history.
    SimilarTo {
        item_id: String,
        /// The user's strongest event on that item (`purchase`, `view`, ...; `history` for
        /// an anonymous history).
        event: String,
    },
    /// The model scores it highly for this user, with no single history item to point to.
    Collaborative,
    /// Among the most popular items.
    Popular,
    /// Among the most popular items of the requested category.
    PopularInCategory { category: String },
    /// Popular recently (time-decayed popularity).
    Trending,
    /// Similar to the item asked about.
    SimilarItem { item_id: String },
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommended {
    pub item_id: String,
    pub score: f32,
    pub reason: Reason,
}

/// A list as answered to the shop.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecommendationList {
    /// Send it back with events on these items to attribute them to this list.
    pub recommendation_id: String,
    /// The model that made the list (`popular` or `trending` for fallbacks).
    pub model: String,
    /// The stored version of that model.
    pub model_version: i64,
    /// True when the user was unknown and the list is not personalised.
    pub fallback: bool,
    /// The experiment and variant the user is in, when an experiment chose the model.
    pub experiment: Option<ExperimentTag>,
    pub items: Vec<Recommended>,
}

/// Which experiment variant produced a list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExperimentTag {
    pub name: String,
    pub variant: String,
}

/// A model version ready to answer.
#[derive(Debug)]
pub struct Serving {
    pub info: ModelInfo,
    /// Shared, so lists can be precomputed for a loaded model without decoding it again.
    pub trained: Arc<TrainedModel>,
    /// The newest event of the training snapshot: later events make a user "fresh".
    pub last_event: Option<EventId>,
    /// Best items per known user (history excluded), computed at swap time; may be empty.
    precomputed: Vec<Vec<Scored>>,
    /// Every item by training popularity, best first.
    popular: Vec<Scored>,
    /// Every item by time-decayed popularity, best first.
    trending: Vec<Scored>,
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
        let n_items = trained.model.n_items();
        let popularity: Vec<f32> = trained.item_popularity.iter().map(|&c| c as f32).collect();
        let popular = top_k(&popularity, n_items, |i| popularity[i as usize] > 0.0);
        let trending = top_k(&trained.item_trending, n_items, |i| {
            trained.item_trending[i as usize] > 0.0
        });
        let precomputed = match matrix {
            Some(matrix) if precompute > 0 && trained.model.capabilities().ranking => {
                let users: Vec<u32> = (0..matrix.n_users() as u32).collect();
                trained
                    .model
                    .recommend_known_users(&users, matrix, precompute)
            }
            _ => Vec::new(),
        };
        Serving {
            info,
            trained,
            last_event,
            precomputed,
            popular,
            trending,
        }
    }

    /// The snapshot's last event as recorded in a stored model's metrics.
    pub fn recorded_last_event(info: &ModelInfo) -> Option<EventId> {
        info.meta.metrics.get(LAST_EVENT_KEY)?.as_i64().map(EventId)
    }

    pub fn name(&self) -> &str {
        &self.info.meta.name
    }

    /// How many users have a precomputed list.
    pub fn precomputed_users(&self) -> usize {
        self.precomputed.len()
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
    fn pick(&self, name: Option<&str>) -> Result<&Arc<Serving>, EngineError> {
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

    fn names(&self) -> String {
        if self.by_name.is_empty() {
            "none".into()
        } else {
            self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}

/// The serving core shared by all request handlers.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    models: ArcSwap<ModelSet>,
    catalogue: RwLock<Catalogue>,
    config: EngineConfig,
    ids: Mutex<Rng>,
}

impl Engine {
    /// An engine over `store` with its catalogue loaded and no model yet (see
    /// [`Engine::load_models`]).
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine, StoreError> {
        let catalogue = Catalogue::load(store.as_ref())?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Ok(Engine {
            store,
            models: ArcSwap::from_pointee(ModelSet::default()),
            catalogue: RwLock::new(catalogue),
            config,
            ids: Mutex::new(Rng::new(splitmix64(seed))),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The models answering now.
    pub fn models(&self) -> Arc<ModelSet> {
        self.models.load_full()
    }

    /// Loads the newest stored version of every model name, without precomputed lists (see
    /// [`Engine::precompute_loaded`]); returns how many were loaded. A version that cannot be
    /// read (written by a newer Aisle, corrupt) is reported and skipped.
    pub fn load_models(&self) -> Result<usize, StoreError> {
        let mut newest: BTreeMap<String, ModelInfo> = BTreeMap::new();
        for info in self.store.list_models()? {
            newest.insert(info.meta.name.clone(), info);
        }
        let mut loaded = 0;
        for info in newest.into_values() {
            let Some(stored) = self.store.model(info.version)? else {
                continue;
            };
            match TrainedModel::from_bytes(&stored.bytes) {
                Ok(trained) => {
                    let last = Serving::recorded_last_event(&info);
                    self.install(Serving::new(info, Arc::new(trained), last, None, 0));
                    loaded += 1;
                }
                Err(e) => eprintln!(
                    "aisle: model '{}' version {} is skipped: {e}",
                    info.meta.name, info.version.0
                ),
            }
        }
        Ok(loaded)
    }

    /// Precomputes the lists of every loaded model that has none, from the store's events
    /// mapped into each model's indices, and swaps the results in.
    pub fn precompute_loaded(&self) -> Result<(), StoreError> {
        if self.config.precompute == 0 {
            return Ok(());
        }
        for serving in self.models().by_name.values() {
            if !serving.precomputed.is_empty() {
                continue;
            }
            let matrix = self.history_matrix(&serving.trained, serving.last_event)?;
            let fresh = Serving::new(
                serving.info.clone(),
                Arc::clone(&serving.trained),
                serving.last_event,
                Some(&matrix),
                self.config.precompute,
            );
            // A newer version trained meanwhile wins.
            let current = self.models().by_name.get(fresh.name()).cloned();
            if current.is_some_and(|c| c.info.version == fresh.info.version) {
                self.install(fresh);
            }
        }
        Ok(())
    }

    /// The store's events up to `last` as a matrix in the model's user and item indices,
    /// weighted as at training time.
    fn history_matrix(
        &self,
        trained: &TrainedModel,
        last: Option<EventId>,
    ) -> Result<Interactions, StoreError> {
        let mut cells = Vec::new();
        self.store.scan_events(None, &mut |event| {
            if last.is_some_and(|last| event.id > last) {
                return;
            }
            if let Some(user) = trained.users.get(&event.user_id)
                && let Some(cell) = event_cell(trained, user, event)
            {
                cells.push(cell);
            }
        })?;
        Ok(Interactions::from_cells(
            trained.users.len(),
            trained.model.n_items(),
            cells,
            trained.weighting.duplicate_policy(),
        ))
    }

    /// Puts a model version in service; requests already running finish with the one they
    /// started with, new ones get this one. Nothing waits.
    pub fn install(&self, serving: Serving) {
        let serving = Arc::new(serving);
        self.models.rcu(|set| {
            let mut set = ModelSet::clone(set);
            set.by_name
                .insert(serving.name().to_string(), Arc::clone(&serving));
            set.default = match &self.config.default_model {
                Some(name) if set.by_name.contains_key(name) => Some(name.clone()),
                // Until the configured model exists, the newest one answers.
                _ => set
                    .by_name
                    .values()
                    .max_by_key(|s| s.info.version)
                    .map(|s| s.name().to_string()),
            };
            set
        });
    }

    // ---- catalogue ----

    pub fn catalogue_upsert(&self, items: &[aisle_data::Item]) {
        let mut catalogue = self.catalogue.write().expect("catalogue lock");
        for item in items {
            catalogue.upsert(item);
        }
    }

    pub fn catalogue_remove(&self, id: &str) {
        self.catalogue.write().expect("catalogue lock").remove(id);
    }

    /// Whether events for `item_id` are accepted: any item when no catalogue is stored,
    /// catalogue items otherwise.
    pub fn accepts_item(&self, item_id: &str) -> bool {
        let catalogue = self.catalogue.read().expect("catalogue lock");
        catalogue.is_empty() || catalogue.contains(item_id)
    }

    pub fn catalogue_len(&self) -> usize {
        self.catalogue.read().expect("catalogue lock").len()
    }

    /// The catalogue price of an item, if it has one.
    pub fn price(&self, item_id: &str) -> Option<f64> {
        self.catalogue
            .read()
            .expect("catalogue lock")
            .get(item_id)
            .and_then(|f| f.price)
    }

    // ---- lists ----

    /// A list for a user (their stored history), an anonymous history, or both.
    pub fn recommend(
        &self,
        user: Option<&str>,
        extra_history: &[HistoryEntry],
        options: &ListOptions,
    ) -> Result<RecommendationList, EngineError> {
        let models = self.models();
        let serving = models.pick(options.model.as_deref())?;
        let trained = &serving.trained;
        let events = match user {
            Some(user) => self.store.user_events(user, self.config.history_events)?,
            None => Vec::new(),
        };
        let fresh = events
            .iter()
            .any(|e| serving.last_event.is_none_or(|last| e.id > last));

        let mut cells: Vec<Cell> = events
            .iter()
            .filter_map(|e| {
                let item = trained.items.get(&e.item_id)?;
                event_cell(trained, 0, e).map(|c| Cell { item, ..c })
            })
            .collect();
        let now = crate::training::unix_now();
        cells.extend(
            extra_history
                .iter()
                .filter_map(|h| history_cell(trained, h, now)),
        );
        let history = Interactions::from_cells(
            1,
            trained.model.n_items(),
            cells,
            trained.weighting.duplicate_policy(),
        );
        let row = history.row(0);
        let known = user.and_then(|u| trained.users.get(u));

        let catalogue = self.catalogue.read().expect("catalogue lock");
        let filter = Filter::new(trained, &catalogue, options, row);
        let want = options.offset + options.n;
        let fresh = fresh || !extra_history.is_empty();

        let mut picked: Option<Vec<Scored>> = None;
        // Precomputed lists leave the training history out, so they serve only requests
        // that leave it out too.
        if let Some(u) = known
            && !fresh
            && options.exclude_seen
            && let Some(list) = serving.precomputed.get(u as usize)
        {
            let kept: Vec<Scored> = list
                .iter()
                .copied()
                .filter(|s| filter.allows(s.item))
                .take(want)
                .collect();
            // A list that ran out may be hiding items past its end: score in full then.
            if kept.len() == want || list.len() < self.config.precompute {
                picked = Some(kept);
            }
        }
        let personalised = known.is_some() || !row.is_empty();
        if picked.is_none() && personalised && trained.model.capabilities().ranking {
            let fold_in = trained.model.capabilities().fold_in;
            let query = Query {
                user: if fresh && fold_in { None } else { known },
                history: row,
            };
            let mut scores = vec![0f32; trained.model.n_items()];
            trained.model.score(&query, &mut scores);
            picked = Some(filter.select(&scores, want));
        }

        let history_items = recent_history(&events, extra_history, trained);
        let mut items: Vec<Recommended> = picked
            .unwrap_or_default()
            .into_iter()
            .skip(options.offset)
            .map(|s| Recommended {
                item_id: trained.items.id(s.item).to_string(),
                score: s.score,
                reason: explain(trained, s.item, &history_items),
            })
            .collect();
        let fallback = items.is_empty();
        if items.len() < options.n {
            // Topping up: from the popular list, after what the personal part already holds.
            let taken: HashSet<String> = items.iter().map(|r| r.item_id.clone()).collect();
            let skip = if fallback { options.offset } else { 0 };
            let more = options.n - items.len();
            items.extend(
                popular_items(serving, &filter, options, false)
                    .filter(|r| !taken.contains(&r.item_id))
                    .skip(skip)
                    .take(more),
            );
        }
        let (model, model_version) = (serving.name().to_string(), serving.info.version.0);
        Ok(RecommendationList {
            recommendation_id: self.new_id(),
            model: if fallback { "popular".into() } else { model },
            model_version,
            fallback,
            experiment: None,
            items,
        })
    }

    /// The items most similar to `item_id`. An item the model has never seen (a new catalogue
    /// item) gets popular items of its own category, flagged `fallback`.
    pub fn similar(
        &self,
        item_id: &str,
        options: &ListOptions,
    ) -> Result<RecommendationList, EngineError> {
        let models = self.models();
        let serving = models.pick(options.model.as_deref())?;
        let trained = &serving.trained;
        let catalogue = self.catalogue.read().expect("catalogue lock");
        let Some(item) = trained.items.get(item_id) else {
            let Some(facts) = catalogue.get(item_id) else {
                return Err(EngineError::UnknownItem(item_id.to_string()));
            };
            let options = ListOptions {
                category: options
                    .category
                    .clone()
                    .or_else(|| facts.categories.first().cloned()),
                exclude: vec![item_id.to_string()],
                ..options.clone()
            };
            let filter = Filter::new(trained, &catalogue, &options, Row::EMPTY);
            let items = popular_items(serving, &filter, &options, false)
                .skip(options.offset)
                .take(options.n)
                .collect();
            return Ok(self.list("popular", serving, true, items));
        };
        if !trained.model.capabilities().similar_items {
            return Err(EngineError::NoSimilarity(serving.name().to_string()));
        }
        let filter = Filter::new(trained, &catalogue, options, Row::EMPTY);
        let want = options.offset + options.n;
        // Similar-item lists come already ranked; ask for spare ones to survive the filters.
        let mut ask = want + 16;
        let picked = loop {
            let found = trained.model.similar_items(item, ask);
            let short = found.len() < ask;
            let kept: Vec<Scored> = found
                .into_iter()
                .filter(|s| filter.allows(s.item))
                .collect();
            if kept.len() >= want || short || ask >= trained.model.n_items() {
                break kept;
            }
            ask *= 4;
        };
        let items = picked
            .into_iter()
            .skip(options.offset)
            .take(options.n)
            .map(|s| Recommended {
                item_id: trained.items.id(s.item).to_string(),
                score: s.score,
                reason: Reason::SimilarItem {
                    item_id: item_id.to_string(),
                },
            })
            .collect();
        Ok(self.list(serving.name(), serving, false, items))
    }

    /// The most popular (or trending) items, optionally of one category.
    pub fn popular(
        &self,
        options: &ListOptions,
        trending: bool,
    ) -> Result<RecommendationList, EngineError> {
        let models = self.models();
        let serving = models.pick(options.model.as_deref())?;
        let catalogue = self.catalogue.read().expect("catalogue lock");
        let filter = Filter::new(&serving.trained, &catalogue, options, Row::EMPTY);
        let items = popular_items(serving, &filter, options, trending)
            .skip(options.offset)
            .take(options.n)
            .collect();
        let name = if trending { "trending" } else { "popular" };
        Ok(self.list(name, serving, false, items))
    }

    fn list(
        &self,
        model: &str,
        serving: &Serving,
        fallback: bool,
        items: Vec<Recommended>,
    ) -> RecommendationList {
        RecommendationList {
            recommendation_id: self.new_id(),
            model: model.to_string(),
            model_version: serving.info.version.0,
            fallback,
            experiment: None,
            items,
        }
    }

    /// A fresh 128-bit id, as 32 hex digits.
    fn new_id(&self) -> String {
        let mut rng = self.ids.lock().expect("id generator lock");
        format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
    }
}

/// The matrix cell of a stored event for model user `user`, weighted as at training time;
/// `None` when the model does not know the item or the event type.
fn event_cell(trained: &TrainedModel, user: u32, event: &StoredEvent) -> Option<Cell> {
    let item = trained.items.get(&event.item_id)?;
    let kind = trained.event_types.lookup(&event.kind)?;
    let value = event.value.map_or(f32::NAN, |v| v as f32);
    Some(Cell {
        user,
        item,
        weight: trained
            .weighting
            .weight(kind, value, &trained.event_types)?,
        timestamp: event.timestamp.unwrap_or(0),
    })
}

/// The cell of an anonymous history entry: an event type weighs as at training time; without
/// one the entry's value (default 1) is the weight.
fn history_cell(trained: &TrainedModel, entry: &HistoryEntry, now: i64) -> Option<Cell> {
    let item = trained.items.get(&entry.item_id)?;
    let value = entry.value.map(|v| v as f32);
    let weight = match &entry.kind {
        Some(kind) => {
            let kind = trained.event_types.lookup(kind)?;
            trained
                .weighting
                .weight(kind, value.unwrap_or(f32::NAN), &trained.event_types)?
        }
        None => value.unwrap_or(1.0),
    };
    weight.is_finite().then_some(Cell {
        user: 0,
        item,
        weight,
        timestamp: now,
    })
}

/// The filters of one request, checked per candidate item.
struct Filter<'a> {
    trained: &'a TrainedModel,
    catalogue: &'a Catalogue,
    history: Row<'a>,
    exclude_seen: bool,
    excluded: HashSet<u32>,
    category: Option<&'a str>,
    available_only: bool,
}

impl<'a> Filter<'a> {
    fn new(
        trained: &'a TrainedModel,
        catalogue: &'a Catalogue,
        options: &'a ListOptions,
        history: Row<'a>,
    ) -> Self {
        Filter {
            trained,
            catalogue,
            history,
            exclude_seen: options.exclude_seen,
            excluded: options
                .exclude
                .iter()
                .filter_map(|id| trained.items.get(id))
                .collect(),
            category: options.category.as_deref(),
            available_only: options.available_only,
        }
    }

    /// The checks that need no catalogue lookup.
    fn cheap(&self, item: u32) -> bool {
        let seen = self.exclude_seen && self.history.contains(item);
        !seen && !self.excluded.contains(&item)
    }

    /// The catalogue checks: still listed, in the category, available.
    fn listed(&self, item: u32) -> bool {
        if self.catalogue.is_empty() {
            return self.category.is_none() && !self.available_only;
        }
        let Some(facts) = self.catalogue.get(self.trained.items.id(item)) else {
            return false;
        };
        (!self.available_only || facts.available)
            && self
                .category
                .is_none_or(|c| facts.categories.iter().any(|f| f == c))
    }

    fn allows(&self, item: u32) -> bool {
        self.cheap(item) && self.listed(item)
    }

    /// The best `want` allowed items of `scores`. Catalogue lookups cost a hash each, so they
    /// are first applied to a short list of the best candidates only, and to every item only
    /// when that short list runs dry (a rare category, most items unavailable).
    fn select(&self, scores: &[f32], want: usize) -> Vec<Scored> {
        let spare = want * 2 + 16;
        let candidates = top_k(scores, spare, |i| self.cheap(i));
        let exhausted = candidates.len() < spare;
        let kept: Vec<Scored> = candidates
            .into_iter()
            .filter(|s| self.listed(s.item))
            .take(want)
            .collect();
        if kept.len() == want || exhausted {
            kept
        } else {
            top_k(scores, want, |i| self.allows(i))
        }
    }
}

/// Popular (or trending) items passing the filter, with their reasons.
fn popular_items<'a>(
    serving: &'a Serving,
    filter: &'a Filter<'a>,
    options: &'a ListOptions,
    trending: bool,
) -> impl Iterator<Item = Recommended> + 'a {
    let order = if trending {
        &serving.trending
    } else {
        &serving.popular
    };
    order
        .iter()
        .filter(move |s| filter.allows(s.item))
        .map(move |s| Recommended {
            item_id: serving.trained.items.id(s.item).to_string(),
            score: s.score,
            reason: match (&options.category, trending) {
                (_, true) => Reason::Trending,
                (Some(category), false) => Reason::PopularInCategory {
                    category: category.clone(),
                },
                (None, false) => Reason::Popular,
            },
        })
}

/// The most recent distinct history items (model indices) with the strongest event on each,
/// newest first.
fn recent_history(
    events: &[StoredEvent],
    extra: &[HistoryEntry],
    trained: &TrainedModel,
) -> Vec<(u32, String)> {
    let mut strongest: HashMap<u32, (f32, &str)> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    let weight = |kind: &str| {
        trained
            .event_types
            .lookup(kind)
            .map_or(0.0, |k| trained.event_types.weight(k))
    };
    let entries = extra
        .iter()
        .rev()
        .map(|h| (h.item_id.as_str(), h.kind.as_deref().unwrap_or("history")))
        .chain(
            events
                .iter()
                .rev()
                .map(|e| (e.item_id.as_str(), e.kind.as_str())),
        );
    for (item_id, kind) in entries {
        let Some(item) = trained.items.get(item_id) else {
            continue;
        };
        let w = weight(kind);
        match strongest.get_mut(&item) {
            Some(best) if best.0 < w => *best = (w, kind),
            Some(_) => {}
            None if order.len() < REASON_HISTORY => {
                strongest.insert(item, (w, kind));
                order.push(item);
            }
            None => {}
        }
    }
    order
        .into_iter()
        .map(|item| (item, strongest[&item].1.to_string()))
        .collect()
}

/// Why `item` was recommended: the history item most similar to it, in the model's terms.
fn explain(trained: &TrainedModel, item: u32, history: &[(u32, String)]) -> Reason {
    if !trained.model.personalised() {
        return Reason::Popular;
    }
    let best = history
        .iter()
        .filter_map(|(h, kind)| {
            let similarity = trained.model.item_similarity(*h, item)?;
            (similarity.is_finite() && similarity > 0.0).then_some((similarity, *h, kind))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, h, kind)) => Reason::SimilarTo {
            item_id: trained.items.id(h).to_string(),
            event: kind.clone(),
        },
        None => Reason::Collaborative,
    }
}
