//! Why an item is, or is not, in a placement's list: where it is and with which score, its
//! rank before the rules, what each rule did to it, or why it was never scored (not in the
//! catalogue, unknown to the model, unavailable, already the shopper's). And a preview: the
//! list as it would be served, with what the rules did to each item.

use serde::Serialize;

use crate::list::ListRequest;
use crate::placements::apply::{RuleEffect, label};
use crate::placements::rules::{Condition, Field, Rule, Test};

/// The explainer's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    pub candidate: String,
    pub in_list: bool,
    /// Its place in the list (0 is the first).
    pub position: Option<usize>,
    /// Its score in the list, rules applied.
    pub score: Option<f32>,
    /// Its place in the source's own order, before any rule (among the first 1000).
    pub rank_before_rules: Option<usize>,
    /// What each rule did to it, in the order they acted.
    pub rules: Vec<RuleEffect>,
    /// The answer in one sentence.
    pub reason: String,
}

/// A placement's list as it would be served, not served (no id, nothing logged), with what
/// the rules did to each item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    pub model: String,
    pub model_version: i64,
    pub fallback: bool,
    pub experiment: Option<crate::list::ExperimentTag>,
    pub items: Vec<PreviewItem>,
}

/// One item of a [`Preview`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewItem {
    pub item_id: String,
    pub score: f32,
    pub reason: crate::list::Reason,
    /// What each rule did to it, in the order they acted.
    pub rules: Vec<RuleEffect>,
}

/// What the engine found out about a candidate, gathered by the service.
#[derive(Debug)]
pub(crate) struct Findings<'a> {
    pub candidate: &'a str,
    pub request: &'a ListRequest,
    /// Its place and score in the placement's list.
    pub listed: Option<(usize, f32)>,
    pub rank_before_rules: Option<usize>,
    /// What the stage noted.
    pub effects: Vec<RuleEffect>,
    /// The filter rule that leaves it out, if any.
    pub refused: Option<(usize, String)>,
    pub in_catalogue: bool,
    /// Whether the catalogue is empty (a shop sending events only).
    pub catalogue_empty: bool,
    pub available: Option<bool>,
    pub known_to_model: bool,
    pub seen_by_user: bool,
}

pub(crate) fn explain(findings: Findings<'_>, rules: &[Rule]) -> Explanation {
    let Findings {
        candidate,
        request,
        listed,
        rank_before_rules,
        mut effects,
        refused,
        ..
    } = findings;
    if let Some((index, effect)) = &refused {
        effects.insert(
            0,
            RuleEffect {
                rule: label(*index, &rules[*index]),
                effect: effect.clone(),
            },
        );
    }
    let n = request.n;
    let reason = if let Some((position, _)) = listed {
        format!("in the list at position {position}")
    } else if !findings.catalogue_empty && !findings.in_catalogue {
        "not in the catalogue".to_string()
    } else if !findings.known_to_model {
        "unknown to the model: it had no interactions when the model was trained".to_string()
    } else if request.filters.available_only && findings.available == Some(false) {
        "not available".to_string()
    } else if let Some((index, effect)) = &refused {
        let unavailable = matches!(
            &rules[*index],
            Rule::Filter(Condition {
                test: Test::Equals(Field::Available, _),
                ..
            })
        );
        if unavailable && findings.available == Some(false) {
            "not available".to_string()
        } else {
            format!("{} {effect}", label(*index, &rules[*index]))
        }
    } else if request.item_id.as_deref() == Some(candidate)
        || request.basket.iter().any(|i| i == candidate)
    {
        "it is the item the list is about".to_string()
    } else if request.filters.exclude.iter().any(|i| i == candidate) {
        "the request excludes it".to_string()
    } else if request.filters.exclude_seen && findings.seen_by_user {
        "the shopper already interacted with it (seen items are left out)".to_string()
    } else if let Some(effect) = effects
        .iter()
        .rev()
        .find(|e| e.effect.starts_with("removed") || e.effect.starts_with("pushed"))
    {
        format!("{} {}", effect.rule, effect.effect)
    } else {
        match rank_before_rules {
            Some(rank) => {
                format!("ranked at position {rank} by the source before rules; the list holds {n}")
            }
            None => "not among the source's best 1000 candidates for this request".to_string(),
        }
    };
    Explanation {
        candidate: candidate.to_string(),
        in_list: listed.is_some(),
        position: listed.map(|(p, _)| p),
        score: listed.map(|(_, s)| s),
        rank_before_rules,
        rules: effects,
        reason,
    }
}
