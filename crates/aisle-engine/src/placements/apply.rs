//! How a placement's rules act on a list: a filter ([`RuleFilter`]) the candidates are
//! drawn through, so a rule-breaking item never enters the list — fallback items included —
//! and a stage ([`RuleStage`]) that changes scores and places items on the scored pool, in a
//! fixed order whatever the rules' order in the definition: score changes (boosts,
//! rotation) → diversity → promoted shares → pins.
//!
//! Both are made per request, with what the request needs read beforehand (the lists this
//! user was shown lately, for rotation). When a request is explained, the stage notes what
//! each rule did to the item asked about ([`Trace`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use crate::list::filter::Filters;
use crate::list::{Candidate, ItemFilter, ListContext, Origin, Stage};
use crate::placements::rules::{Condition, Diversity, Field, PinTarget, Rule, Subject};

/// Seconds in a day.
const DAY: f64 = 86_400.0;

/// A score multiplied by `factor` in the direction `factor` means: above 1 raises it, below
/// 1 lowers it, for negative scores too (a model's scores may be below 0, where a plain
/// product would move them the wrong way).
pub(crate) fn scaled(score: f32, factor: f32) -> f32 {
    let scaled = if score >= 0.0 {
        score * factor
    } else {
        score / factor
    };
    // A factor beyond f32's range (1e300 in the JSON) must not make a score infinite or
    // NaN: a list's scores are finite numbers.
    if scaled.is_nan() {
        0.0
    } else {
        scaled.clamp(f32::MIN, f32::MAX)
    }
}

/// What a rule did to one item, for the explainer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleEffect {
    /// The rule, as `rules[INDEX] KIND`.
    pub rule: String,
    /// What it did (`removed`, `score ×1.5`, `moved to position 0`, ...).
    pub effect: String,
}

/// What the rules did to the items an explained request watches: one item (the explainer)
/// or every item (a preview of the list).
#[derive(Debug)]
pub(crate) struct Trace {
    /// The watched item's id; `None`: every item.
    watched: Option<String>,
    /// The watched item's index in the answering model (known once the model is), if any.
    item: OnceLock<Option<u32>>,
    effects: Mutex<Vec<(u32, RuleEffect)>>,
}

impl Trace {
    /// Watches one item.
    pub(crate) fn new(id: &str) -> Trace {
        Trace {
            watched: Some(id.to_string()),
            item: OnceLock::new(),
            effects: Mutex::new(Vec::new()),
        }
    }

    /// Watches every item.
    pub(crate) fn every_item() -> Trace {
        Trace {
            watched: None,
            item: OnceLock::new(),
            effects: Mutex::new(Vec::new()),
        }
    }

    /// What was noted, by model item, in the order it happened.
    pub(crate) fn take(&self) -> Vec<(u32, RuleEffect)> {
        std::mem::take(&mut *self.effects.lock().expect("trace lock"))
    }
}

/// Notes effects on one item.
pub(crate) struct Noter<'t> {
    trace: &'t Trace,
    item: u32,
}

impl Noter<'_> {
    fn note(&self, index: usize, rule: &Rule, effect: String) {
        self.trace.effects.lock().expect("trace lock").push((
            self.item,
            RuleEffect {
                rule: label(index, rule),
                effect,
            },
        ));
    }
}

pub(crate) fn label(index: usize, rule: &Rule) -> String {
    format!("rules[{index}] {}", rule.kind())
}

/// A placement's filter rules and repurchase window, as a filter on candidates.
#[derive(Debug)]
pub(crate) struct RuleFilter {
    rules: Arc<[Rule]>,
    now: i64,
    /// When the shopper last bought each item (from the request's history), read once.
    purchases: OnceLock<HashMap<String, i64>>,
}

impl RuleFilter {
    pub(crate) fn new(rules: Arc<[Rule]>, now: i64) -> Option<RuleFilter> {
        rules.iter().any(Rule::is_filter).then(|| RuleFilter {
            rules,
            now,
            purchases: OnceLock::new(),
        })
    }

    /// The index of the first rule that leaves `item` out, if any, and why.
    pub(crate) fn refusal(&self, context: &ListContext<'_>, id: &str) -> Option<(usize, String)> {
        let subject = subject(context, id, self.now);
        for (index, rule) in self.rules.iter().enumerate() {
            match rule {
                Rule::Filter(condition) if !condition.matches(&subject) => {
                    return Some((index, "removed: the item does not meet the filter".into()));
                }
                Rule::Repurchase {
                    days,
                    except_categories,
                } => {
                    let purchases = self.purchases.get_or_init(|| last_purchases(context));
                    let Some(&bought) = purchases.get(id) else {
                        continue;
                    };
                    let consumable = subject.facts.is_some_and(|f| {
                        f.categories.iter().any(|c| except_categories.contains(c))
                    });
                    if !consumable && (self.now - bought) as f64 <= days * DAY {
                        let ago = ((self.now - bought) as f64 / DAY).floor();
                        return Some((index, format!("removed: bought {ago} days ago")));
                    }
                }
                _ => {}
            }
        }
        None
    }
}

impl ItemFilter for RuleFilter {
    fn allows(&self, context: &ListContext<'_>, item: u32) -> bool {
        self.refusal(context, context.trained.items.id(item))
            .is_none()
    }
}

/// When the shopper last bought each item, from the history the request read.
fn last_purchases(context: &ListContext<'_>) -> HashMap<String, i64> {
    let mut last = HashMap::new();
    for event in context.events.iter().filter(|e| e.kind == "purchase") {
        let at = event.timestamp.unwrap_or(0);
        let entry = last.entry(event.item_id.clone()).or_insert(at);
        *entry = (*entry).max(at);
    }
    last
}

/// The values a model item counts under for a diversity rule on `field`.
fn item_keys(context: &ListContext<'_>, field: &Field, item: u32) -> Vec<String> {
    let id = context.trained.items.id(item);
    field.keys(id, context.catalogue.get(id))
}

fn subject<'a>(context: &ListContext<'a>, id: &'a str, now: i64) -> Subject<'a> {
    Subject {
        id,
        facts: context.catalogue.get(id),
        context: context.item_facts,
        now,
    }
}

/// A placement's rules that act on the scored candidates.
#[derive(Debug)]
pub(crate) struct RuleStage {
    rules: Arc<[Rule]>,
    now: i64,
    /// When each item was last shown to this shopper within the longest rotation window.
    shown: HashMap<String, i64>,
    pub(crate) trace: Option<Trace>,
}

impl RuleStage {
    pub(crate) fn new(rules: Arc<[Rule]>, now: i64, shown: HashMap<String, i64>) -> RuleStage {
        RuleStage {
            rules,
            now,
            shown,
            trace: None,
        }
    }

    /// A noter for `item`, when it is watched. `resolve` has run first.
    fn watching(&self, item: u32) -> Option<Noter<'_>> {
        let trace = self.trace.as_ref()?;
        let watched = match &trace.watched {
            None => true,
            Some(_) => trace.item.get().copied().flatten() == Some(item),
        };
        watched.then_some(Noter { trace, item })
    }

    fn resolve(&self, context: &ListContext<'_>) {
        if let Some(trace) = &self.trace
            && let Some(id) = &trace.watched
        {
            trace.item.get_or_init(|| context.trained.items.get(id));
        }
    }

    fn matches(&self, context: &ListContext<'_>, condition: &Condition, item: u32) -> bool {
        let id = context.trained.items.id(item);
        condition.matches(&subject(context, id, self.now))
    }

    /// Boosts, buries and rotation penalties, then the pool sorted again.
    fn rescore(&self, context: &ListContext<'_>, pool: &mut [Candidate]) {
        for candidate in pool.iter_mut() {
            for (index, rule) in self.rules.iter().enumerate() {
                let factor = match rule {
                    Rule::Boost { when, factor } if self.matches(context, when, candidate.item) => {
                        *factor
                    }
                    Rule::Rotation { hours, penalty } => {
                        let id = context.trained.items.id(candidate.item);
                        match self.shown.get(id) {
                            Some(&at) if (self.now - at) as f64 <= hours * 3_600.0 => 1.0 - penalty,
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                let before = candidate.score;
                candidate.score = scaled(candidate.score, factor);
                if let Some(trace) = self.watching(candidate.item) {
                    let why = match rule {
                        Rule::Rotation { .. } => "shown lately: ",
                        _ => "",
                    };
                    trace.note(
                        index,
                        rule,
                        format!("{why}score ×{factor} ({before} → {})", candidate.score),
                    );
                }
            }
        }
        pool.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    }

    /// At most so many items per value, or MMR re-ordering.
    fn diversify(
        &self,
        context: &ListContext<'_>,
        (index, rule): (usize, &Rule),
        field: &Field,
        limit: Diversity,
        pool: &mut Vec<Candidate>,
    ) {
        let keys = |item: u32| item_keys(context, field, item);
        match limit {
            Diversity::AtMost(max) => {
                let mut counts: HashMap<String, usize> = HashMap::new();
                pool.retain(|candidate| {
                    let keys = keys(candidate.item);
                    if let Some(full) = keys
                        .iter()
                        .find(|k| counts.get(*k).copied().unwrap_or(0) >= max)
                    {
                        if let Some(trace) = self.watching(candidate.item) {
                            trace.note(
                                index,
                                rule,
                                format!("removed: {max} items with '{full}' rank above it"),
                            );
                        }
                        return false;
                    }
                    for key in keys {
                        *counts.entry(key).or_insert(0) += 1;
                    }
                    true
                });
            }
            Diversity::Mmr(lambda) => {
                let (low, high) = pool.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| {
                    (lo.min(c.score), hi.max(c.score))
                });
                let spread = (high - low).max(f32::EPSILON);
                let mut rest: Vec<(Candidate, Vec<String>)> =
                    pool.drain(..).map(|c| (c, keys(c.item))).collect();
                let mut chosen_keys: HashSet<String> = HashSet::new();
                let mut original_rank: HashMap<u32, usize> = HashMap::new();
                for (rank, (c, _)) in rest.iter().enumerate() {
                    original_rank.insert(c.item, rank);
                }
                while !rest.is_empty() {
                    let value = |(c, keys): &(Candidate, Vec<String>)| {
                        let same = keys.iter().any(|k| chosen_keys.contains(k));
                        lambda * (c.score - low) / spread - (1.0 - lambda) * f32::from(same)
                    };
                    let best = (0..rest.len())
                        .max_by(|&a, &b| {
                            value(&rest[a]).total_cmp(&value(&rest[b])).then(b.cmp(&a))
                        })
                        .expect("not empty");
                    let (candidate, keys) = rest.remove(best);
                    chosen_keys.extend(keys);
                    if let Some(trace) = self.watching(candidate.item) {
                        let from = original_rank[&candidate.item];
                        if from != pool.len() {
                            trace.note(
                                index,
                                rule,
                                format!("moved from position {from} to {}", pool.len()),
                            );
                        }
                    }
                    pool.push(candidate);
                }
            }
        }
    }

    /// Makes sure `share` of the first `want` places hold matching items, taking the best
    /// matching ones from further down the pool in place of the lowest non-matching ones,
    /// each placed by its own score. The pool is deeper when a placement promotes
    /// ([`promote_pool`]); an item the source ranks below it is not promoted (drawing deeper
    /// cost a list 4 ms at the p99 when nothing matched: every request scanned the catalogue).
    fn promote(
        &self,
        context: &ListContext<'_>,
        (index, rule): (usize, &Rule),
        share: f64,
        when: &Condition,
        want: usize,
        pool: &mut Vec<Candidate>,
    ) {
        let slots = ((share * want as f64).round() as usize).clamp(1, want);
        let head = pool.len().min(want);
        let matching = |c: &Candidate| self.matches(context, when, c.item);
        let have = pool[..head].iter().filter(|c| matching(c)).count();
        if have >= slots {
            return;
        }
        let mut needed = slots - have;
        let mut promoted: Vec<Candidate> = Vec::new();
        let mut k = head;
        while k < pool.len() && needed > 0 {
            if matching(&pool[k]) {
                promoted.push(pool.remove(k));
                needed -= 1;
            } else {
                k += 1;
            }
        }
        // The lowest non-matching items of the head make room (free places first, when the
        // pool is shorter than the list).
        let mut room = promoted.len().saturating_sub(want - head);
        let mut displaced = Vec::new();
        let mut k = head;
        while room > 0 && k > 0 {
            k -= 1;
            if !matching(&pool[k]) {
                let out = pool.remove(k);
                if let Some(trace) = self.watching(out.item) {
                    trace.note(
                        index,
                        rule,
                        "pushed out of the list by a promoted item".into(),
                    );
                }
                displaced.insert(0, out);
                room -= 1;
            }
        }
        let kept = head - displaced.len();
        let mut rest = pool.split_off(kept);
        promoted.sort_by(|a, b| b.score.total_cmp(&a.score));
        for candidate in promoted {
            let at = pool
                .iter()
                .position(|c| c.score < candidate.score)
                .unwrap_or(pool.len());
            if let Some(trace) = self.watching(candidate.item) {
                trace.note(
                    index,
                    rule,
                    format!("promoted into the list at position {at}"),
                );
            }
            pool.insert(at, candidate);
        }
        pool.append(&mut displaced);
        pool.append(&mut rest);
    }

    fn pin(
        &self,
        context: &ListContext<'_>,
        (index, rule): (usize, &Rule),
        target: &PinTarget,
        position: usize,
        pinned: &mut Vec<u32>,
        pool: &mut Vec<Candidate>,
    ) {
        let found = match target {
            PinTarget::Item(id) => context.trained.items.get(id),
            PinTarget::Best(condition) => pool
                .iter()
                .find(|c| !pinned.contains(&c.item) && self.matches(context, condition, c.item))
                .map(|c| c.item),
        };
        let Some(item) = found else {
            return;
        };
        // A pin never shows what the list's filters leave out (an unavailable item, one the
        // shopper has, the item the list is about).
        if pinned.contains(&item) || !Filters::new(context).allows(item) {
            if let Some(trace) = self.watching(item) {
                trace.note(
                    index,
                    rule,
                    "not pinned: the list's filters leave it out".into(),
                );
            }
            return;
        }
        let current = pool.iter().position(|c| c.item == item);
        let candidate = match current {
            Some(at) => pool.remove(at),
            None => Candidate {
                item,
                // Scores descend down a list; a pinned item takes the one of its place.
                score: pool
                    .get(position.min(pool.len().saturating_sub(1)))
                    .map_or(0.0, |c| c.score),
                origin: Origin::Pinned,
            },
        };
        let at = position.min(pool.len());
        if let Some(trace) = self.watching(item) {
            let from = current.map_or("outside the candidates".into(), |p| format!("position {p}"));
            trace.note(
                index,
                rule,
                format!("pinned at position {at} (from {from})"),
            );
        }
        for displaced in pool.iter().skip(at) {
            if let Some(trace) = self.watching(displaced.item) {
                trace.note(index, rule, "moved one place down by a pinned item".into());
            }
        }
        pool.insert(
            at,
            Candidate {
                origin: Origin::Pinned,
                ..candidate
            },
        );
        pinned.push(item);
    }
}

/// The candidate pool of a list of `want` items when a rule promotes: deeper than the
/// usual 3n + 20, and for n = 10 exactly the 100 items precomputed per known user, so no
/// scoring is needed.
fn promote_pool(want: usize) -> usize {
    want * 5 + 50
}

impl Stage for RuleStage {
    fn pool_size(&self, want: usize) -> usize {
        if self.rules.iter().any(|r| matches!(r, Rule::Promote { .. })) {
            promote_pool(want)
        } else {
            want * 3 + 20
        }
    }

    fn apply(&self, context: &ListContext<'_>, pool: &mut Vec<Candidate>) {
        let want = context.request.offset + context.request.n;
        self.resolve(context);
        self.rescore(context, pool);
        for (index, rule) in self.rules.iter().enumerate() {
            if let Rule::Diversity { field, limit } = rule {
                self.diversify(context, (index, rule), field, *limit, pool);
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if let Rule::Promote { share, when } = rule {
                self.promote(context, (index, rule), *share, when, want, pool);
            }
        }
        let mut pinned = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if let Rule::Pin { target, position } = rule {
                self.pin(context, (index, rule), target, *position, &mut pinned, pool);
            }
        }
    }

    /// A fallback item joins the list only within the diversity limits.
    fn admits(&self, context: &ListContext<'_>, list: &[Candidate], candidate: &Candidate) -> bool {
        self.rules.iter().all(|rule| match rule {
            Rule::Diversity {
                field,
                limit: Diversity::AtMost(max),
            } => {
                let keys_of = |item: u32| item_keys(context, field, item);
                keys_of(candidate.item).iter().all(|key| {
                    list.iter()
                        .filter(|c| keys_of(c.item).contains(key))
                        .count()
                        < *max
                })
            }
            _ => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn scaling_moves_scores_the_way_the_factor_means_and_stays_finite() {
        assert_eq!(scaled(2.0, 1.5), 3.0);
        assert_eq!(scaled(-2.0, 2.0), -1.0, "a boost raises a negative score");
        assert_eq!(scaled(-2.0, 0.5), -4.0, "a bury lowers it");
        assert_eq!(scaled(2.0, f32::INFINITY), f32::MAX);
        assert_eq!(scaled(-2.0, 0.0), f32::MIN);
        assert_eq!(scaled(0.0, f32::INFINITY), 0.0);
    }
}
