//! Interning of the shop's string ids to dense `u32` indices, and back.
//!
//! Algorithms only ever see dense indices `0..len`; every trained model carries the
//! [`IdMap`]s it was trained with so answers can be given in the shop's own ids.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Longest accepted id (user, item, recommendation) or name, in characters. Longer ids are
/// almost certainly a client bug (a whole document sent as an id).
pub const MAX_ID_CHARS: usize = 512;

/// Why `id` cannot be one of the shop's ids, if it cannot: it is blank, longer than
/// [`MAX_ID_CHARS`] characters, or holds a NUL (no database text column keeps it everywhere)
/// or a `%` (ids travel in URL paths, where `%` starts an escape: a literal one is where
/// double-encoding bugs begin).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_CHARS {
        let chars = id.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(format!(
                "is {chars} characters long; at most {MAX_ID_CHARS} are allowed"
            ));
        }
    }
    if let Some(c) = id.chars().find(|&c| c == '\0' || c == '%') {
        return Err(format!("must not contain {c:?}"));
    }
    Ok(())
}

/// A two-way map between external string ids and dense indices assigned in order of first
/// appearance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct IdMap {
    to_index: FxHashMap<Box<str>, u32>,
    to_id: Vec<Box<str>>,
}

impl IdMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `id`, assigning the next free one if it is new.
    ///
    /// # Panics
    /// If more than `u32::MAX` distinct ids are interned.
    #[inline]
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&index) = self.to_index.get(id) {
            return index;
        }
        let index = u32::try_from(self.to_id.len()).expect("more than u32::MAX distinct ids");
        let boxed: Box<str> = id.into();
        self.to_id.push(boxed.clone());
        self.to_index.insert(boxed, index);
        index
    }

    /// The index of `id`, if it has been interned.
    #[inline]
    pub fn get(&self, id: &str) -> Option<u32> {
        self.to_index.get(id).copied()
    }

    /// The external id of `index`.
    ///
    /// # Panics
    /// If `index` is out of range.
    #[inline]
    pub fn id(&self, index: u32) -> &str {
        &self.to_id[index as usize]
    }

    /// The external id of `index`, or `None` if it is out of range.
    pub fn try_id(&self, index: u32) -> Option<&str> {
        self.to_id.get(index as usize).map(|id| &**id)
    }

    pub fn len(&self) -> usize {
        self.to_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.to_id.is_empty()
    }

    /// External ids in index order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.to_id.iter().map(|id| &**id)
    }
}

impl From<Vec<String>> for IdMap {
    fn from(ids: Vec<String>) -> Self {
        let mut map = IdMap::new();
        for id in ids {
            map.intern(&id);
        }
        map
    }
}

impl From<IdMap> for Vec<String> {
    fn from(map: IdMap) -> Self {
        map.to_id.into_iter().map(String::from).collect()
    }
}

impl<'a> FromIterator<&'a str> for IdMap {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut map = IdMap::new();
        for id in iter {
            map.intern(id);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_stable_and_reversible() {
        let mut map = IdMap::new();
        assert_eq!(map.intern("b"), 0);
        assert_eq!(map.intern("a"), 1);
        assert_eq!(map.intern("b"), 0);
        assert_eq!(map.len(), 2);
        assert_eq!(map.id(1), "a");
        assert_eq!(map.get("a"), Some(1));
        assert_eq!(map.get("zz"), None);
        assert_eq!(map.try_id(5), None);
        let round: IdMap = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(round.ids().collect::<Vec<_>>(), vec!["b", "a"]);
        assert_eq!(round.get("a"), Some(1));
    }
}
