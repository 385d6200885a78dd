//! Placements: named recommendation slots ("home", "product-page", "cart") a shop puts on
//! its pages, each with its own source, model, length, merchandising rules and fallback
//! chain.
//!
//! - [`rules`]: what a rule is and how a definition spells it, checked field by field;
//! - [`apply`]: how the rules act on a list (a filter on candidates, a stage on the scored
//!   pool);
//! - [`explain`]: why an item is, or is not, in a placement's list;
//! - [`recent`]: what each user was recently shown, in memory, for rotation.
//!
//! A placement comes from the settings file (`[[placements]]`, read-only through the API: the
//! file is the truth for those) or from `PUT /v1/placements/{name}` (kept in the store, so
//! every replica serves it; replicas re-read them with the experiments, at once on a change
//! notice). [`Placements`] holds both.

pub mod apply;
pub mod explain;
pub mod recent;
pub mod rules;
mod serve;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use aisle_store::{PlacementRecord, Store, StoreError};

use crate::list::{ListRequest, Source};
use crate::unix_now;
pub use recent::RecentLists;
pub use rules::{Condition, DefinitionError, Field, Rule};

/// Longest list a placement may hold.
pub const MAX_N: usize = 1_000;

/// Where a placement's definition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The settings file: changed by editing it and restarting.
    Settings,
    /// The store, through the API.
    Api,
}

/// A checked placement definition.
#[derive(Debug, Clone)]
pub struct Placement {
    pub name: String,
    pub source: Source,
    /// The model asked (`None`: the server's default, or the running experiment's variant).
    pub model: Option<String>,
    pub n: usize,
    pub rules: Arc<[Rule]>,
    /// Sources that top up a short list (`None`: the source's default chain).
    pub fallback: Option<Vec<Source>>,
    /// The definition as given (with `n` filled in), answered by `GET`.
    pub definition: Value,
    pub origin: Origin,
    /// Unix seconds of the last change (0 for the settings file's).
    pub updated_at: i64,
}

/// The keys a definition may have.
const DEFINITION_KEYS: &[&str] = &["source", "model", "n", "rules", "fallback", "title"];

/// Reads a source or fallback name.
pub fn source_named(name: &str) -> Option<Source> {
    Some(match name {
        "user" => Source::User,
        "similar" => Source::Similar,
        "bought_together" => Source::BoughtTogether,
        "basket" => Source::Basket,
        "popular" => Source::Popular,
        "popular_in_category" => Source::PopularInCategory,
        "trending" => Source::Trending,
        "buy_again" => Source::BuyAgain,
        _ => return None,
    })
}

const SOURCE_NAMES: &str = "user, similar, bought_together, basket, popular, \
                            popular_in_category, trending or buy_again";

impl Placement {
    /// Checks a definition (a JSON object; a settings-file table converts to one).
    pub fn parse(
        name: &str,
        definition: &Value,
        origin: Origin,
    ) -> Result<Placement, DefinitionError> {
        if let Err(e) = aisle_store::record::check_id("placement name", name) {
            return Err(DefinitionError::new("name", e.to_string()));
        }
        let Some(fields) = definition.as_object() else {
            return Err(DefinitionError::new("placement", "must be an object"));
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !DEFINITION_KEYS.contains(&k.as_str()))
        {
            return Err(DefinitionError::new(
                key.clone(),
                format!("unknown key (expected {})", DEFINITION_KEYS.join(", ")),
            ));
        }
        let source = match fields.get("source") {
            Some(Value::String(s)) => source_named(s).ok_or_else(|| {
                DefinitionError::new(
                    "source",
                    format!("unknown source '{s}' (expected {SOURCE_NAMES})"),
                )
            })?,
            Some(_) => return Err(DefinitionError::new("source", "must be a string")),
            None => return Err(DefinitionError::new("source", "is required")),
        };
        let model = match fields.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if m.trim().is_empty() => None,
            Some(Value::String(m)) => Some(m.clone()),
            Some(_) => {
                return Err(DefinitionError::new(
                    "model",
                    "must be a model name (omit it for the default model or the experiment's variant)",
                ));
            }
        };
        let n = match fields.get("n") {
            None => 10,
            Some(value) => rules::whole(value)
                .filter(|n| (1..=MAX_N).contains(n))
                .ok_or_else(|| DefinitionError::new("n", format!("must be from 1 to {MAX_N}")))?,
        };
        let rules: Vec<Rule> = match fields.get("rules") {
            None => Vec::new(),
            Some(Value::Array(rules)) => rules
                .iter()
                .enumerate()
                .map(|(i, rule)| Rule::parse(rule, i))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(DefinitionError::new("rules", "must be a list of rules")),
        };
        let fallback = match fields.get("fallback") {
            None => None,
            Some(value) => Some(
                rules::strings(value, "fallback")?
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        source_named(name).ok_or_else(|| {
                            DefinitionError::new(
                                format!("fallback[{i}]"),
                                format!("unknown source '{name}' (expected {SOURCE_NAMES})"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        if let Some(title) = fields.get("title")
            && !title.is_string()
        {
            return Err(DefinitionError::new("title", "must be a string"));
        }
        let mut definition = fields.clone();
        definition.insert("n".into(), Value::from(n));
        Ok(Placement {
            name: name.to_string(),
            source,
            model,
            n,
            rules: rules.into(),
            fallback,
            definition: Value::Object(definition),
            origin,
            updated_at: 0,
        })
    }

    /// A settings-file table: its `name` and the definition's other keys.
    pub fn from_settings(table: &Value, index: usize) -> Result<Placement, DefinitionError> {
        let at = |e: DefinitionError| {
            DefinitionError::new(format!("placements[{index}].{}", e.field), e.message)
        };
        let mut fields: Map<String, Value> = table.as_object().cloned().ok_or_else(|| {
            DefinitionError::new(format!("placements[{index}]"), "must be a table")
        })?;
        let name = match fields.remove("name") {
            Some(Value::String(name)) => name,
            _ => return Err(at(DefinitionError::new("name", "is required (a string)"))),
        };
        Placement::parse(&name, &Value::Object(fields), Origin::Settings).map_err(at)
    }

    /// The list request this placement makes for a page. A page without what the source
    /// needs (a similar-items placement without an item, a basket one with an empty basket,
    /// buy-again without a shopper) gets the fallback chain's list, flagged `fallback`: a
    /// storefront's empty cart still shows something.
    pub fn request(&self, page: &PageContext) -> ListRequest {
        let mut request = match (self.source, &page.user_id, &page.item_id) {
            (Source::User, Some(user), _) => ListRequest::for_user(user.clone()),
            (Source::Similar, _, Some(item)) => ListRequest::similar_to(item.clone()),
            (Source::BoughtTogether, _, Some(item)) => ListRequest::bought_together(item.clone()),
            (Source::Basket, _, _) => ListRequest::complete_basket(page.items.clone()),
            (Source::BuyAgain, Some(user), _) => ListRequest::buy_again(user.clone()),
            (source, _, _) => ListRequest::new(source),
        };
        if request.user_id.is_none() {
            request.user_id = page.user_id.clone();
        }
        if request.item_id.is_none() {
            request.item_id = page.item_id.clone();
        }
        request.n = page.n.unwrap_or(self.n);
        request.model = self.model.clone();
        request.fallback = self.fallback.clone();
        request
    }

    /// Whether the rules look at what this user was shown lately, and how far back (in
    /// seconds).
    pub fn rotation_secs(&self) -> Option<i64> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::Rotation { hours, .. } => Some(*hours),
                _ => None,
            })
            .reduce(f64::max)
            .map(|hours| (hours * 3_600.0) as i64)
    }
}

/// What a page tells a placement: who looks, at which item, with which basket.
#[derive(Debug, Clone, Default)]
pub struct PageContext {
    pub user_id: Option<String>,
    pub item_id: Option<String>,
    pub items: Vec<String>,
    /// A length other than the placement's.
    pub n: Option<usize>,
}

/// Why a placement could not be set or answer.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("no placement is called '{0}'")]
    Unknown(String),
    #[error(transparent)]
    Invalid(#[from] DefinitionError),
    #[error("placement '{0}' is defined in the settings file; change it there")]
    Configured(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] crate::EngineError),
}

/// Every placement a server knows: the settings file's and the store's.
#[derive(Debug)]
pub struct Placements {
    configured: HashMap<String, Arc<Placement>>,
    stored: ArcSwap<HashMap<String, Arc<Placement>>>,
    /// What each user was recently shown, for rotation rules.
    recent: RecentLists,
}

impl Placements {
    /// The settings file's placements and the store's.
    pub fn load(store: &dyn Store, configured: Vec<Placement>) -> Result<Placements, StoreError> {
        let placements = Placements {
            configured: configured
                .into_iter()
                .map(|p| (p.name.clone(), Arc::new(p)))
                .collect(),
            stored: ArcSwap::from_pointee(HashMap::new()),
            recent: RecentLists::default(),
        };
        placements.follow(store)?;
        Ok(placements)
    }

    /// Re-reads the store's placements, so ones set through another replica serve here too.
    pub fn follow(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut stored = HashMap::new();
        for record in store.placements()? {
            match Placement::parse(&record.name, &record.definition, Origin::Api) {
                Ok(placement) => {
                    stored.insert(
                        record.name.clone(),
                        Arc::new(Placement {
                            updated_at: record.updated_at,
                            ..placement
                        }),
                    );
                }
                // Written by a newer Aisle, with rules this one does not know.
                Err(e) => {
                    tracing::warn!(placement = %record.name, "a stored placement is not used: {e}")
                }
            }
        }
        self.stored.store(Arc::new(stored));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Placement>> {
        self.configured
            .get(name)
            .cloned()
            .or_else(|| self.stored.load().get(name).cloned())
    }

    /// Whether some placement has a rotation rule (served lists are then remembered).
    pub fn rotates(&self) -> bool {
        self.rotation_window_secs().is_some()
    }

    /// The longest rotation window of any placement, in seconds.
    pub fn rotation_window_secs(&self) -> Option<i64> {
        self.with_each(|each| each.filter_map(|p| p.rotation_secs()).max())
    }

    /// What each user was recently shown.
    pub fn recent(&self) -> &RecentLists {
        &self.recent
    }

    /// Every placement, by name.
    pub fn all(&self) -> Vec<Arc<Placement>> {
        let mut all: Vec<Arc<Placement>> = self.with_each(|each| each.cloned().collect());
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Calls `visit` with every placement served, in no order (without allocating: this is
    /// asked at every list served).
    fn with_each<R>(
        &self,
        visit: impl FnOnce(&mut dyn Iterator<Item = &Arc<Placement>>) -> R,
    ) -> R {
        let stored = self.stored.load();
        // A stored placement named like a configured one is never served.
        let mut each = self.configured.values().chain(
            stored
                .values()
                .filter(|p| !self.configured.contains_key(&p.name)),
        );
        visit(&mut each)
    }

    /// Checks and stores a definition; answers the placement and whether it is new.
    pub fn put(
        &self,
        store: &dyn Store,
        name: &str,
        definition: &Value,
    ) -> Result<(Arc<Placement>, bool), PlacementError> {
        if self.configured.contains_key(name) {
            return Err(PlacementError::Configured(name.to_string()));
        }
        let mut placement = Placement::parse(name, definition, Origin::Api)?;
        placement.updated_at = unix_now();
        store.put_placement(&PlacementRecord {
            name: name.to_string(),
            definition: placement.definition.clone(),
            updated_at: placement.updated_at,
        })?;
        let placement = Arc::new(placement);
        let mut created = false;
        self.stored.rcu(|stored| {
            let mut stored = HashMap::clone(stored);
            created = stored
                .insert(name.to_string(), Arc::clone(&placement))
                .is_none();
            stored
        });
        Ok((placement, created))
    }

    pub fn delete(&self, store: &dyn Store, name: &str) -> Result<(), PlacementError> {
        if self.configured.contains_key(name) {
            return Err(PlacementError::Configured(name.to_string()));
        }
        if !store.delete_placement(name)? {
            return Err(PlacementError::Unknown(name.to_string()));
        }
        self.stored.rcu(|stored| {
            let mut stored = HashMap::clone(stored);
            stored.remove(name);
            stored
        });
        Ok(())
    }
}
