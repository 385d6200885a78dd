//! What each user was recently shown, kept in memory for the rotation rule.
//!
//! Rotation penalises items a user saw in the last hours. Reading that from the served-list
//! log on every request cost a placement more than the rest of its rules together. So:
//! - the lists this process serves are recorded here as they are served (while some
//!   placement rotates);
//! - [`RecentLists::follow`] reads the log's recent lists, everyone's, in the background: at
//!   first the rotation window's newest lists, then (when replicas share the store) every
//!   few seconds those logged since, so lists other replicas serve count here too;
//! - a user's lists are read from the log on request only when memory does not cover the
//!   window asked (before the first follow, or for lists older than memory holds).
//!
//! Memory is bounded: two generations of users, the older dropped when the younger holds
//! [`GENERATION_LISTS`] lists; memory then covers only the lists served after the newest
//! one dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use aisle_store::{Impression, Store, StoreError};

/// How many of a user's recent lists count (the newest).
pub(crate) const ROTATION_LISTS: usize = 20;
/// Lists one generation holds before the older one is dropped (≈ 90 bytes a list: two
/// generations of lists of 10 take at most ≈ 45 MB).
const GENERATION_LISTS: usize = 250_000;
/// How far before the last follow the next one reads again: lists reach the log a little
/// after they were served (each replica writes its lists every quarter of a second).
const FOLLOW_OVERLAP_SECS: i64 = 3;
/// Lists merged per hold of the lock while following, so serving never waits long.
const MERGE_CHUNK: usize = 1_000;

/// One list as rotation needs it.
#[derive(Debug)]
struct Shown {
    /// A hash of the list's recommendation id: what tells a list read back from the log
    /// from one already held.
    id: u64,
    served_at: i64,
    /// Indexes into [`Generations::item_ids`].
    items: Box<[u32]>,
}

fn id_hash(recommendation_id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(recommendation_id)
}

/// A user's recent lists, oldest first.
#[derive(Debug, Default)]
struct UserLists {
    lists: VecDeque<Shown>,
    /// The log's lists for this user served from this time on are all in `lists`.
    covered_since: Option<i64>,
}

impl UserLists {
    fn push(&mut self, shown: Shown) -> bool {
        if self.lists.iter().any(|l| l.id == shown.id) {
            return false;
        }
        let at = self
            .lists
            .iter()
            .rposition(|l| l.served_at <= shown.served_at)
            .map_or(0, |i| i + 1);
        self.lists.insert(at, shown);
        if self.lists.len() > ROTATION_LISTS {
            self.lists.pop_front();
        }
        true
    }
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Box<str>, UserLists>,
    old: HashMap<Box<str>, UserLists>,
    young_lists: usize,
    /// Each item id shown, once (never dropped: bounded by the catalogue).
    item_ids: Vec<Arc<str>>,
    item_index: HashMap<Arc<str>, u32>,
    /// Every logged list served from this time on is in memory, for every user.
    covered_since: Option<i64>,
    /// The window the follower loads and the time it last read the log up to.
    followed: Option<(i64, i64)>,
}

impl Generations {
    fn entry(&mut self, user: &str) -> &mut UserLists {
        if !self.young.contains_key(user) {
            let moved = self.old.remove(user).unwrap_or_default();
            self.young_lists += moved.lists.len();
            self.young.insert(user.into(), moved);
        }
        self.young.get_mut(user).expect("just inserted")
    }

    fn get(&self, user: &str) -> Option<&UserLists> {
        self.young.get(user).or_else(|| self.old.get(user))
    }

    fn intern(&mut self, item: &str) -> u32 {
        if let Some(&known) = self.item_index.get(item) {
            return known;
        }
        let index = u32::try_from(self.item_ids.len()).expect("fewer than 2^32 item ids");
        let item: Arc<str> = item.into();
        self.item_ids.push(Arc::clone(&item));
        self.item_index.insert(item, index);
        index
    }

    fn shown<'i>(
        &mut self,
        recommendation_id: &str,
        served_at: i64,
        items: impl IntoIterator<Item = &'i str>,
    ) -> Shown {
        Shown {
            id: id_hash(recommendation_id),
            served_at,
            items: items.into_iter().map(|i| self.intern(i)).collect(),
        }
    }

    fn shown_logged(&mut self, list: &Impression) -> Shown {
        let items = list.items.iter().map(String::as_str);
        self.shown(&list.recommendation_id, list.served_at, items)
    }

    /// Adds a list (one already held, as this process's own lists are when the log is
    /// followed, is left out); answers the generation dropped to make room, if one was, for
    /// the caller to free after letting go of the lock (freeing a generation takes
    /// milliseconds).
    #[must_use]
    fn add(&mut self, user: &str, shown: Shown) -> Option<HashMap<Box<str>, UserLists>> {
        if self.entry(user).push(shown) {
            self.young_lists += 1;
        }
        if self.young_lists <= GENERATION_LISTS {
            return None;
        }
        let dropped = std::mem::take(&mut self.young);
        let dropped = std::mem::replace(&mut self.old, dropped);
        // Whoever was shown a list after the newest dropped one is still held.
        let newest_dropped = dropped
            .values()
            .filter_map(|l| l.lists.back().map(|s| s.served_at))
            .max();
        if let Some(newest) = newest_dropped {
            self.covered_since = self.covered_since.map(|c| c.max(newest + 1));
        }
        self.young_lists = 0;
        Some(dropped)
    }

    /// Whether memory holds every list of `user` served from `since` on.
    fn covers(&self, user: &str, since: i64) -> bool {
        let own = self
            .get(user)
            .and_then(|l| l.covered_since)
            .is_some_and(|c| c <= since);
        own || self.covered_since.is_some_and(|c| c <= since)
    }
}

/// The recent lists of each user, as rotation reads them.
#[derive(Debug, Default)]
pub struct RecentLists {
    generations: Mutex<Generations>,
}

impl RecentLists {
    /// Records a list just served to `user`.
    pub fn record<'i>(
        &self,
        user: &str,
        recommendation_id: &str,
        served_at: i64,
        items: impl IntoIterator<Item = &'i str>,
    ) {
        let dropped = {
            let mut generations = self.lock();
            let shown = generations.shown(recommendation_id, served_at, items);
            generations.add(user, shown)
        };
        free_later(dropped.into_iter().collect());
    }

    /// When each item was last shown to `user` from `since` on (in `user`'s last
    /// [`ROTATION_LISTS`] lists), reading the log only when memory does not cover it.
    pub fn shown_since(
        &self,
        store: &dyn Store,
        user: &str,
        since: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        {
            let generations = self.lock();
            if generations.covers(user, since) {
                return Ok(generations
                    .get(user)
                    .map(|l| last_shown(&generations.item_ids, l, since))
                    .unwrap_or_default());
            }
        }
        // Read without the lock held: other requests go on meanwhile.
        let logged: Vec<Impression> = store.user_impressions(user, since, ROTATION_LISTS)?;
        let mut generations = self.lock();
        let mut dropped = Vec::new();
        for list in &logged {
            let shown = generations.shown_logged(list);
            dropped.extend(generations.add(user, shown));
        }
        let lists = generations.entry(user);
        lists.covered_since = Some(lists.covered_since.map_or(since, |c| c.min(since)));
        let answer = last_shown(&generations.item_ids, &generations.young[user], since);
        drop(generations);
        free_later(dropped);
        Ok(answer)
    }

    /// Reads the log's lists served in the last `window_secs` (the first time, or when the
    /// window changed) or since the last follow; answers how many were read.
    pub fn follow(&self, store: &dyn Store, window_secs: i64, now: i64) -> Result<u64, StoreError> {
        let followed = self.lock().followed;
        let from = match followed {
            Some((window, to)) if window == window_secs => to - FOLLOW_OVERLAP_SECS,
            _ => now - window_secs,
        };
        let mut logged = Vec::new();
        let read = store.recent_impressions(from, GENERATION_LISTS, &mut |list| {
            if list.user_id.is_some() {
                logged.push(list.clone());
            }
        })?;
        let complete = (read as usize) < GENERATION_LISTS;
        // Newest first: when the read stopped at its limit, every list served after the
        // oldest one read was read.
        let read_from = match logged.last() {
            Some(oldest) if !complete => oldest.served_at + 1,
            _ => from,
        };
        {
            let mut generations = self.lock();
            generations.covered_since = match followed {
                Some((window, _)) if window == window_secs => generations
                    .covered_since
                    .map(|c| if complete { c } else { c.max(read_from) }),
                _ => Some(read_from),
            };
            generations.followed = Some((window_secs, now));
        }
        // Oldest first, so a generation dropped on the way holds the oldest.
        logged.reverse();
        for chunk in logged.chunks(MERGE_CHUNK) {
            let mut dropped = Vec::new();
            let mut generations = self.lock();
            for list in chunk {
                let user = list
                    .user_id
                    .as_deref()
                    .expect("only lists with a user are kept");
                let shown = generations.shown_logged(list);
                dropped.extend(generations.add(user, shown));
            }
            drop(generations);
            free_later(dropped);
        }
        Ok(read)
    }

    /// The window the log was last followed for, if it was.
    pub fn followed_window(&self) -> Option<i64> {
        self.lock().followed.map(|(window, _)| window)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // Every change leaves the maps whole, so a panic elsewhere cannot leave them torn.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn last_shown(item_ids: &[Arc<str>], lists: &UserLists, since: i64) -> HashMap<String, i64> {
    let mut shown = HashMap::new();
    for list in lists.lists.iter().filter(|l| l.served_at >= since) {
        for &item in &list.items {
            let at = shown
                .entry(item_ids[item as usize].to_string())
                .or_insert(list.served_at);
            *at = (*at).max(list.served_at);
        }
    }
    shown
}

/// Frees a dropped generation on a thread of its own: freeing hundreds of thousands of lists
/// takes long enough to show in a request's latency.
fn free_later(dropped: Vec<HashMap<Box<str>, UserLists>>) {
    if !dropped.is_empty() {
        let _ = std::thread::Builder::new()
            .name("aisle-recent-free".into())
            .spawn(move || drop(dropped));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_store::SqliteStore;

    fn temporary_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        (dir, store)
    }

    fn impression(id: &str, user: &str, items: &[&str], served_at: i64) -> Impression {
        Impression {
            recommendation_id: id.into(),
            user_id: Some(user.into()),
            model: "als".into(),
            model_version: 1,
            experiment: None,
            variant: None,
            items: items.iter().map(|s| s.to_string()).collect(),
            served_at,
        }
    }

    #[test]
    fn a_user_is_read_from_the_log_once_then_memory_answers_with_lists_served_here() {
        let (_dir, store) = temporary_store();
        store
            .log_impressions(&[impression("r1", "u1", &["a", "b"], 1_000)])
            .unwrap();
        let recent = RecentLists::default();
        let first = recent.shown_since(&store, "u1", 500).unwrap();
        assert_eq!(
            first,
            HashMap::from([("a".into(), 1_000), ("b".into(), 1_000)])
        );

        // Logged by another replica after the read: not seen until the log is followed.
        store
            .log_impressions(&[impression("r2", "u1", &["c"], 1_500)])
            .unwrap();
        // Served here: seen at once.
        recent.record("u1", "r3", 2_001, ["b", "d"]);
        let second = recent.shown_since(&store, "u1", 500).unwrap();
        assert_eq!(
            second,
            HashMap::from([
                ("a".into(), 1_000),
                ("b".into(), 2_001),
                ("d".into(), 2_001)
            ])
        );
        assert_eq!(recent.follow(&store, 3_600, 2_002).unwrap(), 2);
        let followed = recent.shown_since(&store, "u1", 500).unwrap();
        assert_eq!(followed.get("c"), Some(&1_500));
        assert_eq!(followed.get("d"), Some(&2_001));
    }

    #[test]
    fn following_the_log_covers_every_user_in_the_window() {
        let (_dir, store) = temporary_store();
        store
            .log_impressions(&[
                impression("r1", "u1", &["a"], 1_000),
                impression("r2", "u2", &["b"], 5_000),
            ])
            .unwrap();
        let recent = RecentLists::default();
        assert_eq!(
            recent.follow(&store, 3_600, 6_000).unwrap(),
            1,
            "r1 is outside the window"
        );
        assert_eq!(
            recent.shown_since(&store, "u2", 2_400).unwrap(),
            HashMap::from([("b".into(), 5_000)])
        );
        // Memory answers for a user it holds nothing of, without reading the log: a list
        // served elsewhere just before the follow, and logged just after, is not seen...
        store
            .log_impressions(&[impression("r3", "u3", &["c"], 5_999)])
            .unwrap();
        assert!(recent.shown_since(&store, "u3", 2_400).unwrap().is_empty());
        // ...until the next follow, which reads from shortly before the last one.
        assert_eq!(recent.follow(&store, 3_600, 6_005).unwrap(), 1);
        assert_eq!(
            recent.shown_since(&store, "u3", 2_400).unwrap(),
            HashMap::from([("c".into(), 5_999)])
        );
        // A window longer than memory covers is read from the log for that user.
        assert_eq!(
            recent.shown_since(&store, "u1", 0).unwrap(),
            HashMap::from([("a".into(), 1_000)])
        );
    }

    #[test]
    fn lists_recorded_before_the_first_read_are_not_counted_twice_and_only_the_last_count() {
        let (_dir, store) = temporary_store();
        let recent = RecentLists::default();
        for i in 0..(ROTATION_LISTS + 5) {
            let id = format!("r{i}");
            let item = format!("i{i}");
            recent.record("u1", &id, 1_000 + i as i64, [item.as_str()]);
            // The log has them too (flushed), and they must not be doubled.
            store
                .log_impressions(&[impression(&id, "u1", &[&item], 1_000 + i as i64)])
                .unwrap();
        }
        let shown = recent.shown_since(&store, "u1", 0).unwrap();
        assert_eq!(shown.len(), ROTATION_LISTS);
        assert!(!shown.contains_key("i0"));
        assert!(shown.contains_key(&format!("i{}", ROTATION_LISTS + 4)));
    }

    #[test]
    fn memory_is_bounded_and_covers_only_what_it_still_holds() {
        let (_dir, store) = temporary_store();
        let recent = RecentLists::default();
        recent.follow(&store, 3_600, 10_000).unwrap();
        for i in 0..(2 * GENERATION_LISTS + 10) {
            recent.record(&format!("u{i}"), &format!("r{i}"), 10_000 + i as i64, ["a"]);
        }
        let generations = recent.lock();
        let held: usize = generations
            .young
            .values()
            .chain(generations.old.values())
            .map(|l| l.lists.len())
            .sum();
        assert!(held <= 2 * GENERATION_LISTS, "{held} lists held");
        // u0's list was dropped: memory no longer claims to cover its time.
        assert!(!generations.covers("u0", 9_000));
        assert!(generations.covers(
            &format!("u{}", 2 * GENERATION_LISTS),
            10_000 + 2 * GENERATION_LISTS as i64
        ));
    }
}
