//! An experiment's counts kept as lists and events arrive, so its results answer from
//! tallies instead of a recount of every list and event.
//!
//! An [`Attribution`] reads lists and events in the store's order and applies the
//! attribution rules (see the parent module) one event at a time: each impression's first
//! click, cart and purchase add one to its variant's tally for the day it was served, and a
//! purchase's revenue adds to it. A recount is the same type fed from the experiment's first
//! event; the incremental count keeps one and feeds it only what is new since its last
//! read (`update`) — same code, same counts.
//!
//! Where the two can differ (documented in docs/experiments.md): a list written to the store
//! more than [`LIST_LAG`] seconds after it was served (a store outage; another replica's
//! log) is missing from the running count's lists and impressions (its events still count),
//! and an event that reaches the store before the list it cites (possible only for a list
//! another replica served less than its log period before) counts as not shown.
//! `GET /v1/experiments/{name}/results?recount=true` recounts and replaces the incremental
//! state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use aisle_data::IdMap;
use aisle_data::time::format_timestamp;
use aisle_store::{EventId, Impression, Store, StoreError, StoredEvent};

use super::{Experiment, ExperimentResults, Tally};

/// How far back (seconds, by when the lists were served) an update re-reads lists: lists
/// are written in batches a moment after they are served, and a replica's batch can land
/// after lists served later elsewhere.
const LIST_LAG: i64 = 5;

/// Seconds in a day: results are per UTC day.
const DAY: i64 = 86_400;

/// How many event ids below the highest one read an update reads again: with PostgreSQL,
/// concurrent transactions can make a smaller id visible after a larger one, and an event
/// skipped that way would never count. Ids already counted are not counted twice.
const EVENT_TAIL: i64 = 10_000;

/// A served list as the count needs it: when it was served, its variant and its items
/// (interned).
#[derive(Debug, Clone)]
struct List {
    served_at: i64,
    variant: u32,
    items: Box<[u32]>,
    /// Whether its lists and impressions are in the tallies (a list looked up in the store
    /// can be cited before an update reads it).
    counted: bool,
}

impl List {
    /// The list's day (UTC, days since 1970).
    fn day(&self) -> i64 {
        self.served_at.div_euclid(DAY)
    }

    /// Where the list shows `item`, if it does.
    fn position_of(&self, item: u32) -> Option<u16> {
        Some(self.items.iter().position(|&i| i == item)? as u16)
    }
}

/// An impression: (cited list, position).
type ImpressionKey = (u32, u16);

/// How many ids one store lookup asks for.
const LOOKUP_CHUNK: usize = 1_000;

/// What one impression earned so far.
#[derive(Debug, Default, Clone, Copy)]
struct Earned {
    clicked: bool,
    carted: bool,
    bought: bool,
    revenue: f64,
}

/// The running counts of one experiment.
///
/// Memory follows what events earned, not what was served: lists are counted as they are
/// read and forgotten once no update reads them again; a list is kept (in `cited`) only once
/// an event cites it, found among the lists just read or looked up in the store by id.
#[derive(Debug)]
pub struct Attribution {
    /// The experiment counted (name and first event: a name is never reused, but a store
    /// restored from a backup could bring an older definition back).
    name: String,
    first_event: EventId,
    variant_index: HashMap<String, u32>,
    window: i64,
    /// Lists read that the next update reads again (served within [`LIST_LAG`] of the
    /// latest), so they are counted once; and every list of a recount until it ends.
    recent: HashMap<Box<str>, List>,
    /// Lists events cited, by recommendation id: index into `cited`.
    cited_ids: HashMap<Box<str>, u32>,
    cited: Vec<List>,
    items: IdMap,
    users: IdMap,
    /// Per day (UTC, days since 1970), per variant.
    tallies: BTreeMap<i64, Vec<Tally>>,
    earned: HashMap<ImpressionKey, Earned>,
    /// (user, item) → the impression it was last clicked from, and when.
    last_click: HashMap<(u32, u32), (ImpressionKey, i64)>,
    /// The latest `served_at` of the lists read.
    lists_until: i64,
    /// The highest event id counted, and the ids counted within [`EVENT_TAIL`] below it.
    events_until: EventId,
    recent_events: BTreeSet<i64>,
}

impl Attribution {
    /// Nothing counted yet.
    pub fn new(experiment: &Experiment) -> Attribution {
        let definition = &experiment.definition;
        Attribution {
            name: definition.name.clone(),
            first_event: experiment.first_event,
            variant_index: definition
                .variants
                .iter()
                .enumerate()
                .map(|(i, v)| (v.name.clone(), i as u32))
                .collect(),
            window: i64::from(experiment.window_hours()) * 3_600,
            recent: HashMap::new(),
            cited_ids: HashMap::new(),
            cited: Vec::new(),
            items: IdMap::new(),
            users: IdMap::new(),
            tallies: BTreeMap::new(),
            earned: HashMap::new(),
            last_click: HashMap::new(),
            lists_until: i64::MIN,
            events_until: experiment.first_event,
            recent_events: BTreeSet::new(),
        }
    }

    /// Whether this counts `experiment` (and not an older one of the same name).
    pub fn is_for(&self, experiment: &Experiment) -> bool {
        self.name == experiment.definition.name && self.first_event == experiment.first_event
    }

    /// Reads what the store holds that this has not counted yet: lists served since a
    /// little before the latest one read, then events after the last one counted.
    pub fn update(
        &mut self,
        store: &dyn Store,
        price: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<(), StoreError> {
        // A first read reads every list, so a list an event cites that was not read is not
        // this experiment's: nothing to look up.
        let everything = self.lists_until == i64::MIN;
        let since = self.lists_until.saturating_sub(LIST_LAG);
        let name = self.name.clone();
        store.experiment_impressions(&name, since, &mut |list| self.add_list(list))?;
        let after = EventId(
            (self.events_until.0 - EVENT_TAIL)
                .max(self.first_event.0)
                .min(self.events_until.0),
        );
        if everything {
            store.scan_events(Some(after), &mut |event| self.add_event(event, price))?;
        } else {
            // Lists cited by the new events and not in memory are looked up first; events
            // that became visible after that (PostgreSQL) wait for the next update.
            let (looked_up, until) = self.look_up_cited(store, after)?;
            store.scan_events(Some(after), &mut |event| {
                let cites_unknown = event.recommendation_id.as_deref().is_some_and(|id| {
                    !looked_up.contains(id)
                        && !self.cited_ids.contains_key(id)
                        && !self.recent.contains_key(id)
                });
                if event.id <= until && !cites_unknown {
                    self.add_event(event, price);
                }
            })?;
        }
        let forget_before = self.lists_until.saturating_sub(LIST_LAG);
        self.recent
            .retain(|_, list| list.served_at >= forget_before);
        Ok(())
    }

    /// Finds in the store the lists cited by events after `after` that are neither recent
    /// nor cited before, keeping this experiment's; returns the ids asked for and the
    /// highest event id seen.
    fn look_up_cited(
        &mut self,
        store: &dyn Store,
        after: EventId,
    ) -> Result<(HashSet<Box<str>>, EventId), StoreError> {
        let mut unknown: HashSet<Box<str>> = HashSet::new();
        let first_event = self.first_event;
        let scan = store.scan_events(Some(after), &mut |event| {
            // Events read again (the tail below the last counted) are not counted twice:
            // nothing to look up for them.
            if let Some(id) = event.recommendation_id.as_deref()
                && event.id > first_event
                && !self.recent_events.contains(&event.id.0)
                && !self.cited_ids.contains_key(id)
                && !self.recent.contains_key(id)
                && !unknown.contains(id)
            {
                unknown.insert(id.into());
            }
        })?;
        let ids: Vec<&str> = unknown.iter().map(|id| &**id).collect();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            store.impressions_by_id(chunk, &mut |list| {
                if list.experiment.as_deref() == Some(self.name.as_str())
                    && let Some(list) = self.list_of(list)
                {
                    let (id, list) = list;
                    self.cite(id.into_boxed_str(), list);
                }
            })?;
        }
        Ok((unknown, scan.last.unwrap_or(after).max(after)))
    }

    /// A stored list as the count keeps it, if its variant is one of the experiment's.
    fn list_of(&mut self, list: &Impression) -> Option<(String, List)> {
        let &variant = list
            .variant
            .as_deref()
            .and_then(|v| self.variant_index.get(v))?;
        let items = list.items.iter().map(|i| self.items.intern(i)).collect();
        Some((
            list.recommendation_id.clone(),
            List {
                served_at: list.served_at,
                variant,
                items,
                counted: false,
            },
        ))
    }

    /// Keeps a list an event cites; returns its index in `cited`.
    fn cite(&mut self, id: Box<str>, list: List) -> u32 {
        let index = self.cited.len() as u32;
        self.cited.push(list);
        self.cited_ids.insert(id, index);
        index
    }

    /// The impression of `item` in the list with this id, if the list is known and shows
    /// it; a recent list is kept in `cited` from then on.
    fn shown_at(&mut self, id: &str, item: u32) -> Option<ImpressionKey> {
        if let Some(&index) = self.cited_ids.get(id) {
            return Some((index, self.cited[index as usize].position_of(item)?));
        }
        let list = self.recent.get(id)?;
        let position = list.position_of(item)?;
        let copy = list.clone();
        Some((self.cite(id.into(), copy), position))
    }

    fn add_list(&mut self, list: &Impression) {
        self.lists_until = self.lists_until.max(list.served_at);
        let id = list.recommendation_id.as_str();
        if self.recent.contains_key(id) {
            return;
        }
        if let Some(&index) = self.cited_ids.get(id) {
            let cited = &mut self.cited[index as usize];
            if !cited.counted {
                cited.counted = true;
                let (day, variant, len) = (cited.day(), cited.variant, cited.items.len());
                let tally = &mut self.tallies_of(day)[variant as usize];
                tally.lists += 1;
                tally.impressions += len as u64;
            }
            return;
        }
        let Some((id, mut list)) = self.list_of(list) else {
            return;
        };
        list.counted = true;
        let tally = &mut self.tallies_of(list.day())[list.variant as usize];
        tally.lists += 1;
        tally.impressions += list.items.len() as u64;
        self.recent.insert(id.into_boxed_str(), list);
    }

    /// The day's tallies, per variant.
    fn tallies_of(&mut self, day: i64) -> &mut Vec<Tally> {
        let variants = self.variant_index.len();
        self.tallies
            .entry(day)
            .or_insert_with(|| vec![Tally::default(); variants])
    }

    fn add_event(&mut self, event: &StoredEvent, price: &dyn Fn(&str) -> Option<f64>) {
        let id = event.id.0;
        if id <= self.first_event.0 || !self.recent_events.insert(id) {
            return;
        }
        if id > self.events_until.0 {
            self.events_until = event.id;
            let floor = id - EVENT_TAIL;
            while self
                .recent_events
                .first()
                .is_some_and(|&oldest| oldest < floor)
            {
                self.recent_events.pop_first();
            }
        }
        let at = event.timestamp.unwrap_or(0);
        let item = self.items.get(&event.item_id);
        let shown = match (event.recommendation_id.as_deref(), item) {
            (Some(id), Some(item)) => self.shown_at(id, item),
            _ => None,
        };
        let is_click = matches!(event.kind.as_str(), "click" | "view");
        let impression = match shown {
            Some(impression) => {
                if is_click {
                    let user = self.users.intern(&event.user_id);
                    let item = item.expect("a shown item is interned");
                    self.last_click.insert((user, item), (impression, at));
                }
                impression
            }
            // A cart or purchase without an id, of an item clicked from a list shortly before.
            None if !is_click => {
                let (Some(user), Some(item)) = (self.users.get(&event.user_id), item) else {
                    return;
                };
                match self.last_click.get(&(user, item)) {
                    Some(&(impression, clicked_at))
                        if at >= clicked_at && at - clicked_at <= self.window =>
                    {
                        impression
                    }
                    _ => return,
                }
            }
            None => return,
        };
        let list = &self.cited[impression.0 as usize];
        let variants = self.variant_index.len();
        // A list looked up but not read yet has no tallies for its day yet.
        let tally = &mut self
            .tallies
            .entry(list.day())
            .or_insert_with(|| vec![Tally::default(); variants])[list.variant as usize];
        let earned = self.earned.entry(impression).or_default();
        match event.kind.as_str() {
            "click" | "view" if !earned.clicked => {
                earned.clicked = true;
                tally.clicks += 1;
            }
            "add_to_cart" if !earned.carted => {
                earned.carted = true;
                tally.add_to_carts += 1;
            }
            "purchase" => {
                if !earned.bought {
                    earned.bought = true;
                    tally.purchases += 1;
                }
                let amount = event.value.or_else(|| price(&event.item_id)).unwrap_or(0.0);
                let before = earned.revenue;
                earned.revenue += amount;
                tally.revenue += amount;
                // The sum of squared revenue per impression, kept as the squares change.
                tally.revenue_squares += earned.revenue * earned.revenue - before * before;
            }
            _ => {}
        }
    }

    /// The results of what has been counted.
    pub fn results(&self, experiment: &Experiment) -> ExperimentResults {
        let days = self
            .tallies
            .iter()
            .map(|(&day, tallies)| {
                (
                    format_timestamp(day * DAY)[..10].to_string(),
                    tallies.clone(),
                )
            })
            .collect();
        super::results_of_tallies(experiment, days)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aisle_data::rng::Rng;
    use aisle_store::{EventId, Impression, NewEvent, SqliteStore, Store};

    use super::{Attribution, DAY};
    use crate::experiments::{Experiment, ExperimentDefinition, VariantDefinition};

    const KINDS: [&str; 6] = [
        "view",
        "click",
        "add_to_cart",
        "purchase",
        "purchase",
        "rating",
    ];

    fn experiment(first_event: EventId) -> Experiment {
        let variant = |name: &str| VariantDefinition {
            name: name.into(),
            model: name.into(),
            share: 0.5,
        };
        Experiment {
            definition: ExperimentDefinition {
                name: "ab".into(),
                variants: vec![variant("als"), variant("popular")],
                control: Some("popular".into()),
                window_hours: Some(1),
            },
            created_at: 0,
            stopped_at: None,
            first_event,
        }
    }

    fn price(item: &str) -> Option<f64> {
        // Every third item has no catalogue price.
        let n: u32 = item[1..].parse().unwrap();
        (!n.is_multiple_of(3)).then_some(f64::from(n) + 0.5)
    }

    /// Counts per (day, variant) — lists, impressions, clicks, carts, purchases — and
    /// revenue, straight from the attribution rules over everything at once: the reference
    /// the running count must equal.
    type Counts = HashMap<(String, String), ([u64; 5], f64)>;

    /// An event as the test made it.
    struct Made {
        user: String,
        item: String,
        kind: &'static str,
        value: Option<f64>,
        at: i64,
        list: Option<String>,
    }

    impl Made {
        fn new_event(&self) -> NewEvent<'_> {
            NewEvent {
                user_id: &self.user,
                item_id: &self.item,
                kind: self.kind,
                value: self.value,
                timestamp: Some(self.at),
                recommendation_id: self.list.as_deref(),
                position: None,
                quantity: None,
                price: None,
                basket: None,
            }
        }
    }

    /// (list, position) in the reference.
    type Shown = (usize, usize);

    fn reference(lists: &[Impression], events: &[Made], window: i64) -> Counts {
        let by_id: HashMap<&str, usize> = lists
            .iter()
            .enumerate()
            .map(|(i, l)| (l.recommendation_id.as_str(), i))
            .collect();
        let mut earned: HashMap<Shown, ([bool; 3], f64)> = HashMap::new();
        let mut last_click: HashMap<(&str, &str), (Shown, i64)> = HashMap::new();
        for e in events {
            let at = e.at;
            let shown = e.list.as_deref().and_then(|r| {
                let list = *by_id.get(r)?;
                Some((list, lists[list].items.iter().position(|i| *i == e.item)?))
            });
            let click = matches!(e.kind, "view" | "click");
            let impression = match shown {
                Some(s) => {
                    if click {
                        last_click.insert((&e.user, &e.item), (s, at));
                    }
                    s
                }
                None if !click => match last_click.get(&(e.user.as_str(), e.item.as_str())) {
                    Some(&(s, t)) if at >= t && at - t <= window => s,
                    _ => continue,
                },
                None => continue,
            };
            let entry = earned.entry(impression).or_default();
            match e.kind {
                "view" | "click" => entry.0[0] = true,
                "add_to_cart" => entry.0[1] = true,
                "purchase" => {
                    entry.0[2] = true;
                    entry.1 += e.value.or_else(|| price(&e.item)).unwrap_or(0.0);
                }
                _ => {}
            }
        }
        let mut counts = Counts::new();
        for (i, list) in lists.iter().enumerate() {
            let day = aisle_data::time::format_timestamp(list.served_at)[..10].to_string();
            let entry = counts
                .entry((day, list.variant.clone().unwrap()))
                .or_default();
            entry.0[0] += 1;
            entry.0[1] += list.items.len() as u64;
            for position in 0..list.items.len() {
                if let Some((flags, revenue)) = earned.get(&(i, position)) {
                    for (k, &flag) in flags.iter().enumerate() {
                        entry.0[2 + k] += u64::from(flag);
                    }
                    entry.1 += revenue;
                }
            }
        }
        counts
    }

    fn counted(count: &Attribution, experiment: &Experiment) -> Counts {
        let results = count.results(experiment);
        let mut counts = Counts::new();
        for day in results.days {
            for v in day.variants {
                if v.lists > 0 {
                    counts.insert(
                        (day.day.clone(), v.name),
                        (
                            [
                                v.lists,
                                v.impressions,
                                v.clicks,
                                v.add_to_carts,
                                v.purchases,
                            ],
                            v.revenue,
                        ),
                    );
                }
            }
        }
        counts
    }

    fn assert_same(got: &Counts, want: &Counts, what: &str) {
        let mut keys: Vec<_> = want.keys().collect();
        keys.sort();
        assert_eq!(got.len(), want.len(), "{what}: days × variants");
        for key in keys {
            let (g, w) = (&got[key], &want[key]);
            assert_eq!(g.0, w.0, "{what}: {key:?}");
            assert!(
                (g.1 - w.1).abs() <= 1e-9 * (1.0 + w.1.abs()),
                "{what}: {key:?} revenue {} vs {}",
                g.1,
                w.1
            );
        }
    }

    /// Lists and events arrive in rounds (lists a little late, some events before the
    /// experiment, clicks with and without ids, purchases after clicks inside and outside
    /// the window); a count brought up to date after every round equals a recount, and both
    /// equal the attribution rules applied to everything at once.
    #[test]
    fn the_running_count_equals_a_recount_and_the_rules() {
        for seed in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(dir.path().join("a.db")).unwrap();
            let mut rng = Rng::new(seed);
            let before = Made {
                user: "u0".into(),
                item: "i0".into(),
                kind: "click",
                value: None,
                at: 0,
                list: Some("r0".into()),
            };
            // An event before the experiment began never counts.
            store.append_events(&[before.new_event()]).unwrap();
            let experiment = experiment(store.last_event_id().unwrap().unwrap());
            let mut running = Attribution::new(&experiment);
            let users: Vec<String> = (0..12).map(|u| format!("u{u}")).collect();
            let items: Vec<String> = (0..25).map(|i| format!("i{i}")).collect();
            let ids: Vec<String> = (0..240).map(|r| format!("r{r}")).collect();
            let mut lists: Vec<Impression> = Vec::new();
            let mut events: Vec<Made> = Vec::new();
            let mut clock = 5 * DAY - 600;
            for round in 0..8 {
                let mut batch = Vec::new();
                for _ in 0..30 {
                    clock += rng.index(40) as i64;
                    let mut shown: Vec<String> = Vec::new();
                    while shown.len() < 4 {
                        let item = items[rng.index(items.len())].clone();
                        if !shown.contains(&item) {
                            shown.push(item);
                        }
                    }
                    let variant = ["als", "popular", "gone"][rng.index(3)];
                    batch.push(Impression {
                        recommendation_id: ids[lists.len() + batch.len()].clone(),
                        user_id: Some(users[rng.index(users.len())].clone()),
                        model: variant.into(),
                        model_version: 1,
                        experiment: Some("ab".into()),
                        // A variant no longer defined is not counted.
                        variant: Some(variant.into()),
                        items: shown,
                        served_at: clock,
                    });
                }
                // The batch is written out of order, its first list last.
                batch.rotate_left(1);
                store.log_impressions(&batch).unwrap();
                lists.extend(batch);
                let mut new_events: Vec<Made> = Vec::new();
                for _ in 0..120 {
                    clock += rng.index(90) as i64;
                    let list = &lists[rng.index(lists.len())];
                    let user = list.user_id.as_deref().unwrap();
                    let item = if rng.chance(0.8) {
                        list.items[rng.index(list.items.len())].clone()
                    } else {
                        items[rng.index(items.len())].clone()
                    };
                    let with_id = rng.chance(0.6);
                    new_events.push(Made {
                        user: user.into(),
                        item,
                        kind: KINDS[rng.index(KINDS.len())],
                        value: rng.chance(0.5).then(|| rng.index(50) as f64 / 4.0),
                        at: clock,
                        list: with_id.then(|| list.recommendation_id.clone()),
                    });
                }
                let raw: Vec<NewEvent<'_>> = new_events.iter().map(Made::new_event).collect();
                store.append_events(&raw).unwrap();
                events.extend(new_events);
                running.update(&store, &price).unwrap();
                // Memory follows what was cited: of the lists, only those the next update
                // reads again stay, and a list is kept beyond that only once cited.
                let latest = lists.iter().map(|l| l.served_at).max().unwrap();
                assert!(
                    running
                        .recent
                        .values()
                        .all(|l| l.served_at >= latest - super::LIST_LAG)
                );
                let cited: std::collections::HashSet<&str> =
                    events.iter().filter_map(|e| e.list.as_deref()).collect();
                assert!(running.cited.len() <= cited.len());
                if round % 3 == 1 {
                    // A second update with nothing new changes nothing.
                    let once = counted(&running, &experiment);
                    running.update(&store, &price).unwrap();
                    assert_same(&counted(&running, &experiment), &once, "a repeated update");
                }
            }
            let mut recount = Attribution::new(&experiment);
            recount.update(&store, &price).unwrap();
            let rules = reference(
                &lists
                    .iter()
                    .filter(|l| l.variant.as_deref() != Some("gone"))
                    .cloned()
                    .collect::<Vec<_>>(),
                &events,
                3_600,
            );
            assert!(
                rules
                    .values()
                    .any(|c| c.0[2] > 0 && c.0[4] > 0 && c.1 > 0.0)
            );
            assert_same(&counted(&recount, &experiment), &rules, "recount");
            assert_same(&counted(&running, &experiment), &rules, "running count");
        }
    }
}
