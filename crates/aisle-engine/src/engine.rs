//! The serving core: the models currently answering (swapped atomically when a new version
//! is trained), the catalogue cache, and the entry point of the [list pipeline](crate::list).
//! Everything here is synchronous CPU and store work; an HTTP layer calls it from its
//! blocking pool.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use aisle_data::rng::{Rng, splitmix64};
use aisle_data::weighting::matrix;
use aisle_data::{Interactions, Item};
use aisle_models::TrainedModel;
use aisle_store::{EventId, ModelInfo, Store, StoreError};
use arc_swap::ArcSwap;

use crate::catalogue::Catalogue;
use crate::error::EngineError;
use crate::list::context::weighed;
use crate::list::{ListContext, ListRequest, RecommendationList, Source, pipeline};
use crate::serving::{ModelSet, Serving};

/// Settings of the serving core.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How many of a user's most recent events make their history.
    pub history_events: usize,
    /// How many items are precomputed per known user when a model is swapped in (0: none).
    pub precompute: usize,
    /// The model that answers when a request names none (default: the newest trained).
    pub default_model: Option<String>,
    /// The basket model (`MODEL@baskets`, or just `MODEL`) that answers bought-together and
    /// basket lists when a request names none (default: the newest basket model).
    pub basket_model: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            history_events: 1_000,
            precompute: 100,
            default_model: None,
            basket_model: None,
        }
    }
}

/// The serving core shared by all requests.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    models: ArcSwap<ModelSet>,
    catalogue: RwLock<Catalogue>,
    config: EngineConfig,
    ids: Mutex<Rng>,
    /// Whether the store answered the last time the background work asked it (`/health`
    /// says `degraded` while it does not).
    store_answers: AtomicBool,
    /// Training jobs of this process now running ([`Engine::pause_following`]).
    trainings_here: AtomicUsize,
}

/// While alive, [`Engine::follow_models`] installs nothing: see [`Engine::pause_following`].
#[derive(Debug)]
pub struct FollowingPaused<'a>(&'a Engine);

impl Drop for FollowingPaused<'_> {
    fn drop(&mut self) {
        self.0.trainings_here.fetch_sub(1, Ordering::SeqCst);
    }
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
            store_answers: AtomicBool::new(true),
            trainings_here: AtomicUsize::new(0),
            catalogue: RwLock::new(catalogue),
            config,
            ids: Mutex::new(Rng::new(splitmix64(seed))),
        })
    }

    /// Records whether the store answered a background read (see [`Engine::store_answers`]).
    pub fn note_store_answer(&self, answered: bool) {
        self.store_answers.store(answered, Ordering::Relaxed);
    }

    /// Whether the store answered the last background read (every second): false while
    /// the database is unreachable.
    pub fn store_answers(&self) -> bool {
        self.store_answers.load(Ordering::Relaxed)
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
        self.follow_models()
    }

    /// Installs every model version newer than the one serving under its name (saved by
    /// another replica sharing the store); returns how many. Their lists are scored per
    /// request rather than precomputed: a replica that did not train does not redo the
    /// trainer's batch scoring.
    pub fn follow_models(&self) -> Result<usize, StoreError> {
        if self.trainings_here.load(Ordering::SeqCst) > 0 {
            return Ok(0);
        }
        let serving = self.models();
        let mut newest: BTreeMap<String, ModelInfo> = BTreeMap::new();
        for info in self.store.list_models()? {
            newest.insert(info.meta.name.clone(), info);
        }
        let mut installed = 0;
        for info in newest.into_values() {
            let current = serving.by_name.get(&info.meta.name);
            if current.is_some_and(|c| c.info.version >= info.version) {
                continue;
            }
            let Some(stored) = self.store.model(info.version)? else {
                continue;
            };
            match TrainedModel::from_bytes(&stored.bytes) {
                Ok(trained) => {
                    let last = info.meta.last_event_id;
                    self.install(Serving::new(info, Arc::new(trained), last, None, 0));
                    installed += 1;
                }
                Err(e) => tracing::warn!(
                    model = %info.meta.name,
                    version = info.version.0,
                    "a stored model version is skipped: {e}"
                ),
            }
        }
        Ok(installed)
    }

    /// Stops [`Engine::follow_models`] until the guard drops: held by a training job of this
    /// process from its start until it has installed what it saved. Following meanwhile
    /// would find the job's own version in the store a moment before the job installs it,
    /// decode it a second time and serve it without precomputed lists (every list scored
    /// per request) until then — the soak saw this at the end of retrainings. No other
    /// process saves versions meanwhile: one trainer at a time holds the store's trainer
    /// lock.
    pub fn pause_following(&self) -> FollowingPaused<'_> {
        self.trainings_here.fetch_add(1, Ordering::SeqCst);
        FollowingPaused(self)
    }

    /// Precomputes the lists of every loaded model that has none, from the store's events
    /// mapped into each model's indices, and swaps the results in.
    pub fn precompute_loaded(&self) -> Result<(), StoreError> {
        if self.config.precompute == 0 {
            return Ok(());
        }
        for serving in self.models().by_name.values() {
            if serving.has_precomputed() {
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
        let mut events = Vec::new();
        self.store.scan_events(None, &mut |event| {
            if last.is_some_and(|last| event.id > last) {
                return;
            }
            if let Some(user) = trained.users.get(&event.user_id)
                && let Some(event) = weighed(trained, user, event)
            {
                events.push(event);
            }
        })?;
        Ok(matrix(
            trained.users.len(),
            trained.model.n_items(),
            events,
            trained.weighting,
            &trained.event_types,
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
                // Until the configured model exists, the newest one answers (a basket model
                // answers baskets only).
                _ => set
                    .by_name
                    .values()
                    .filter(|s| !crate::baskets::is_basket_model(s.name()))
                    .max_by_key(|s| s.info.version)
                    .map(|s| s.name().to_string()),
            };
            set
        });
    }

    // ---- catalogue ----

    /// Stores items (inserted or replaced) and brings the catalogue cache up to date.
    pub fn upsert_items(&self, items: &[Item]) -> Result<u64, StoreError> {
        let written = self.store.upsert_items(items)?;
        self.follow_catalogue()?;
        Ok(written)
    }

    /// Removes an item from the store and the catalogue cache; its events stay.
    pub fn delete_item(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete_item(id)?;
        self.follow_catalogue()?;
        Ok(())
    }

    /// Applies the store's catalogue changes since the cache last looked — this process's
    /// and any other's; returns how many were applied.
    pub fn follow_catalogue(&self) -> Result<usize, StoreError> {
        let since = self.catalogue.read().expect("catalogue lock").version();
        let changes = self.store.catalogue_changes(since)?;
        if changes.changed.is_empty() && changes.version == since {
            return Ok(0);
        }
        let ids: Vec<&str> = changes.changed.iter().map(String::as_str).collect();
        let current = self.store.get_items(&ids)?;
        self.catalogue.write().expect("catalogue lock").apply(
            &changes.changed,
            &current,
            changes.version,
        );
        self.place_new_items(&current);
        Ok(changes.changed.len())
    }

    /// Appends the items among `items` that a serving model does not know to every model
    /// that can place them by content (see [`Serving::with_new_items`]).
    fn place_new_items(&self, items: &[Item]) {
        for serving in self.models().by_name.values() {
            if let Some(extended) = serving.with_new_items(items) {
                // A newer version trained meanwhile wins.
                let current = self.models().by_name.get(serving.name()).cloned();
                if current.is_some_and(|c| Arc::ptr_eq(&c, serving)) {
                    self.install(extended);
                }
            }
        }
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

    /// The serving catalogue's facts of each item (`None` for an item it does not list): what
    /// a storefront shows of a list's items, with no database read.
    pub fn item_facts(&self, ids: &[&str]) -> Vec<Option<crate::catalogue::ItemFacts>> {
        let catalogue = self.catalogue.read().expect("catalogue lock");
        ids.iter().map(|id| catalogue.get(id).cloned()).collect()
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

    /// Runs a list request through the pipeline (see [`crate::list`]).
    pub fn list(&self, request: &ListRequest) -> Result<RecommendationList, EngineError> {
        let (made, version) = self.with_context(request, |context| {
            Ok((pipeline::run(context)?, context.serving.info.version.0))
        })?;
        Ok(RecommendationList {
            recommendation_id: self.new_id(),
            model: made.model,
            model_version: version,
            fallback: made.fallback,
            experiment: None,
            items: made.items,
        })
    }

    /// Builds a request's [`ListContext`] — the model that answers it, the shopper's history
    /// from the store, the catalogue — and hands it to `look`.
    pub(crate) fn with_context<T>(
        &self,
        request: &ListRequest,
        look: impl FnOnce(&ListContext<'_>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let models = self.models();
        // A buy-again list is ordered by a trained `buy-again` model when there is one.
        let basket_name;
        let wanted = match (&request.model, request.source) {
            (None, Source::BuyAgain) if models.by_name.contains_key("buy-again") => {
                Some("buy-again")
            }
            (name, source) if source.wants_basket_model() => {
                basket_name =
                    models.basket_model(name.as_deref(), self.config.basket_model.as_deref());
                // No basket model trained yet: the default model serves the fallback chain.
                basket_name.as_deref().or(name.as_deref())
            }
            (name, _) => name.as_deref(),
        };
        let serving = models.pick(wanted)?;
        let events = match &request.user_id {
            Some(user) => {
                // Only a user's own lists are refused once they were deleted.
                let own_list = matches!(request.source, Source::User | Source::BuyAgain);
                let limit = self.config.history_events;
                let history = self
                    .store
                    .user_history(user, limit)
                    .map(|(events, deleted)| (events, deleted && own_list));
                match history {
                    Ok((_, true)) => return Err(EngineError::DeletedUser(user.clone())),
                    Ok((events, false)) => events,
                    // The database is away: the list is made from memory alone (the model's
                    // own history of the user), rather than not at all.
                    Err(StoreError::Unavailable(e)) => {
                        tracing::debug!(user = %user, "history unavailable, listing from memory: {e}");
                        Vec::new()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => Vec::new(),
        };
        let catalogue = self.catalogue.read().expect("catalogue lock");
        let context = ListContext::new(request, serving, &catalogue, &self.config, events)?;
        look(&context)
    }

    /// A fresh 128-bit id, as 32 hex digits.
    fn new_id(&self) -> String {
        let mut rng = self.ids.lock().expect("id generator lock");
        format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
    }
}
