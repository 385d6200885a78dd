//! The serving copy of the catalogue: what filters, merchandising rules and reasons need to
//! know of each item (title, categories, availability, price, age, attributes), kept in
//! memory so a recommendation never waits for a database read per candidate. It follows the
//! store's catalogue change feed ([`Store::catalogue_changes`]), so changes made through
//! another process reach it too.

use std::collections::HashMap;

use aisle_data::Item;
use aisle_store::{MAX_PAGE, Store, StoreError};

/// What serving needs to know of one item: what filters, merchandising rules and reasons
/// look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFacts {
    pub title: String,
    pub categories: Vec<String>,
    pub available: bool,
    /// For revenue when a purchase event carries no amount; rules on price.
    pub price: Option<f64>,
    /// Unix seconds (rules on new arrivals).
    pub created_at: Option<i64>,
    /// The shop's own fields (brand, colour, ...), for rules on `attributes.NAME`.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Every catalogue item's facts, by id.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// Looked up for every candidate of every list (filters, rules, reasons), so hashed with
    /// foldhash (seeded per process) rather than SipHash, which alone took about 3% of a
    /// placement request's CPU time.
    items: foldhash::HashMap<String, ItemFacts>,
    /// The store's catalogue version this copy reflects.
    version: i64,
}

impl Catalogue {
    /// Reads the whole catalogue from a store.
    pub fn load(store: &dyn Store) -> Result<Catalogue, StoreError> {
        // The version is read first: a change made while the pages are read is applied again
        // by the next follow, which is harmless.
        let mut catalogue = Catalogue {
            version: store.catalogue_version()?,
            ..Catalogue::default()
        };
        let mut after = None;
        loop {
            let page = store.list_items(after, MAX_PAGE)?;
            for item in &page.entries {
                catalogue.upsert(item);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(catalogue),
            }
        }
    }

    pub fn upsert(&mut self, item: &Item) {
        self.items.insert(
            item.id.clone(),
            ItemFacts {
                title: item.title.clone(),
                categories: item.categories.clone(),
                available: item.available,
                price: item.price,
                created_at: item.created_at,
                attributes: item.attributes.clone(),
            },
        );
    }

    /// Applies changes read from the store's feed: each id in `changed` is now `current`'s
    /// item of that id, or gone when `current` has none.
    pub fn apply(&mut self, changed: &[String], current: &[Item], version: i64) {
        let current: HashMap<&str, &Item> = current.iter().map(|i| (i.id.as_str(), i)).collect();
        for id in changed {
            match current.get(id.as_str()) {
                Some(item) => self.upsert(item),
                None => self.remove(id),
            }
        }
        self.version = self.version.max(version);
    }

    /// The store's catalogue version this copy reflects.
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn remove(&mut self, id: &str) {
        self.items.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<&ItemFacts> {
        self.items.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.items.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// An empty catalogue means the shop sends events only: then every item the model knows
    /// may be recommended. Once items are stored, only stored items are.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
