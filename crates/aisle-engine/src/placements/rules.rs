//! Merchandising rules: what they are ([`Rule`], [`Condition`]), how a placement's JSON (or
//! TOML) spells them, and how an item is tested against a condition.
//!
//! A definition is checked field by field when it is set; every error names the field it is
//! about (`rules[2].boost.factor: must be greater than 0`), so a merchandiser's typo is a
//! 422 that says where, not a rule that silently never matches.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::catalogue::ItemFacts;

/// A definition that cannot be used, and where in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DefinitionError {
    /// The path of the offending field (`rules[1].boost.factor`).
    pub field: String,
    pub message: String,
}

impl DefinitionError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        DefinitionError {
            field: field.into(),
            message: message.into(),
        }
    }
}

type Checked<T> = Result<T, DefinitionError>;

/// One merchandising rule. Filters (and the repurchase window) decide which items may be in
/// a list at all; the others act on the scored candidates, in this order: score changes
/// (boosts, rotation), diversity, promoted shares, pins.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Only items meeting the condition.
    Filter(Condition),
    /// Matching items' scores multiplied by `factor` (below 1: buried).
    Boost { when: Condition, factor: f32 },
    /// An item at a position (0 is the first).
    Pin { target: PinTarget, position: usize },
    /// At least `share` of the list's slots for matching items, placed by their own score.
    Promote { share: f64, when: Condition },
    /// Variety along a field.
    Diversity { field: Field, limit: Diversity },
    /// Items shown to this user in the last `hours` get their score multiplied by
    /// `1 - penalty`.
    Rotation { hours: f64, penalty: f32 },
    /// Items the user bought in the last `days` are left out, except those of the
    /// `except_categories` (consumables bought again and again).
    Repurchase {
        days: f64,
        except_categories: Vec<String>,
    },
}

/// What a pin places.
#[derive(Debug, Clone, PartialEq)]
pub enum PinTarget {
    Item(String),
    /// The best-scored candidate meeting the condition.
    Best(Condition),
}

/// How much alike a list may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Diversity {
    /// At most this many items per value of the field.
    AtMost(usize),
    /// Maximal marginal relevance: each next item maximises `λ·score − (1−λ)·same`, where
    /// `same` is 1 when an item already chosen has its value of the field.
    Mmr(f32),
}

impl Rule {
    /// The rule's kind, as its JSON key.
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Filter(_) => "filter",
            Rule::Boost { .. } => "boost",
            Rule::Pin { .. } => "pin",
            Rule::Promote { .. } => "promote",
            Rule::Diversity { .. } => "diversity",
            Rule::Rotation { .. } => "rotation",
            Rule::Repurchase { .. } => "repurchase",
        }
    }

    /// Whether the rule decides which items may be in a list (rather than where).
    pub fn is_filter(&self) -> bool {
        matches!(self, Rule::Filter(_) | Rule::Repurchase { .. })
    }

    /// Reads the `index`-th rule of a definition.
    pub fn parse(value: &Value, index: usize) -> Checked<Rule> {
        let path = format!("rules[{index}]");
        let rule = object(value, &path)?;
        let mut keys = rule.keys();
        let (Some(kind), None) = (keys.next(), keys.next()) else {
            return Err(DefinitionError::new(
                path,
                "a rule is an object with exactly one key: filter, boost, bury, pin, promote, \
                 diversity, rotation or repurchase",
            ));
        };
        let body = &rule[kind];
        let path = format!("{path}.{kind}");
        match kind.as_str() {
            "filter" => Ok(Rule::Filter(Condition::parse(body, &path, &[])?)),
            "boost" | "bury" => {
                let fields = object(body, &path)?;
                let factor = number(fields.get("factor"), &format!("{path}.factor"))?;
                let buried = kind == "bury";
                if !(factor > 0.0 && factor.is_finite()) || (buried && factor >= 1.0) {
                    return Err(DefinitionError::new(
                        format!("{path}.factor"),
                        if buried {
                            "must be between 0 and 1 (a bury lowers scores)"
                        } else {
                            "must be greater than 0"
                        },
                    ));
                }
                Ok(Rule::Boost {
                    when: Condition::parse(body, &path, &["factor"])?,
                    factor: factor as f32,
                })
            }
            "pin" => {
                let fields = object(body, &path)?;
                allow_only(fields, &path, &["item_id", "filter", "position"])?;
                let position = count(fields.get("position"), &format!("{path}.position"))?;
                let target = match (fields.get("item_id"), fields.get("filter")) {
                    (Some(Value::String(id)), None) if !id.trim().is_empty() => {
                        PinTarget::Item(id.clone())
                    }
                    (Some(_), None) => {
                        return Err(DefinitionError::new(
                            format!("{path}.item_id"),
                            "must be a non-empty string",
                        ));
                    }
                    (None, Some(filter)) => {
                        PinTarget::Best(Condition::parse(filter, &format!("{path}.filter"), &[])?)
                    }
                    _ => {
                        return Err(DefinitionError::new(
                            path,
                            "give either item_id or filter (the best matching item)",
                        ));
                    }
                };
                Ok(Rule::Pin { target, position })
            }
            "promote" => {
                let fields = object(body, &path)?;
                allow_only(fields, &path, &["share", "filter"])?;
                let share = number(fields.get("share"), &format!("{path}.share"))?;
                if !(share > 0.0 && share <= 1.0) {
                    return Err(DefinitionError::new(
                        format!("{path}.share"),
                        "must be above 0 and at most 1",
                    ));
                }
                let filter = fields
                    .get("filter")
                    .ok_or_else(|| DefinitionError::new(format!("{path}.filter"), "is required"))?;
                Ok(Rule::Promote {
                    share,
                    when: Condition::parse(filter, &format!("{path}.filter"), &[])?,
                })
            }
            "diversity" => {
                let fields = object(body, &path)?;
                allow_only(fields, &path, &["field", "max", "lambda"])?;
                let field = match fields.get("field") {
                    None => Field::Category,
                    Some(Value::String(name)) => {
                        Field::parse(name.as_str(), &format!("{path}.field"))?
                    }
                    Some(_) => {
                        return Err(DefinitionError::new(
                            format!("{path}.field"),
                            "must be a field name",
                        ));
                    }
                };
                let limit = match (fields.get("max"), fields.get("lambda")) {
                    (Some(max), None) => {
                        let max = count(Some(max), &format!("{path}.max"))?;
                        if max == 0 {
                            return Err(DefinitionError::new(
                                format!("{path}.max"),
                                "must be at least 1",
                            ));
                        }
                        Diversity::AtMost(max)
                    }
                    (None, Some(lambda)) => {
                        let lambda = number(Some(lambda), &format!("{path}.lambda"))?;
                        if !(0.0..=1.0).contains(&lambda) {
                            return Err(DefinitionError::new(
                                format!("{path}.lambda"),
                                "must be between 0 and 1",
                            ));
                        }
                        Diversity::Mmr(lambda as f32)
                    }
                    _ => {
                        return Err(DefinitionError::new(
                            path,
                            "give either max (items per value) or lambda (MMR trade-off)",
                        ));
                    }
                };
                Ok(Rule::Diversity { field, limit })
            }
            "rotation" => {
                let fields = object(body, &path)?;
                allow_only(fields, &path, &["hours", "penalty"])?;
                let hours = number(fields.get("hours"), &format!("{path}.hours"))?;
                if !(hours > 0.0 && hours.is_finite()) {
                    return Err(DefinitionError::new(
                        format!("{path}.hours"),
                        "must be greater than 0",
                    ));
                }
                let penalty = number(fields.get("penalty"), &format!("{path}.penalty"))?;
                if !(0.0..=1.0).contains(&penalty) {
                    return Err(DefinitionError::new(
                        format!("{path}.penalty"),
                        "must be between 0 and 1",
                    ));
                }
                Ok(Rule::Rotation {
                    hours,
                    penalty: penalty as f32,
                })
            }
            "repurchase" => {
                let fields = object(body, &path)?;
                allow_only(fields, &path, &["days", "except_categories"])?;
                let days = number(fields.get("days"), &format!("{path}.days"))?;
                if !(days > 0.0 && days.is_finite()) {
                    return Err(DefinitionError::new(
                        format!("{path}.days"),
                        "must be greater than 0",
                    ));
                }
                let except_categories = match fields.get("except_categories") {
                    None => Vec::new(),
                    Some(value) => strings(value, &format!("{path}.except_categories"))?,
                };
                Ok(Rule::Repurchase {
                    days,
                    except_categories,
                })
            }
            other => Err(DefinitionError::new(
                format!("rules[{index}]"),
                format!(
                    "unknown rule '{other}' (expected filter, boost, bury, pin, promote, \
                     diversity, rotation or repurchase)"
                ),
            )),
        }
    }
}

/// An item field a condition or diversity rule looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    Title,
    /// The first of the item's categories.
    Category,
    /// Any of the item's categories.
    Categories,
    Available,
    Price,
    CreatedAt,
    /// `attributes.NAME`.
    Attribute(String),
}

impl Field {
    pub fn parse(name: &str, path: &str) -> Checked<Field> {
        Ok(match name {
            "id" | "item_id" => Field::Id,
            "title" => Field::Title,
            "category" => Field::Category,
            "categories" => Field::Categories,
            "available" => Field::Available,
            "price" => Field::Price,
            "created_at" => Field::CreatedAt,
            other => match other.strip_prefix("attributes.") {
                Some(attribute) if !attribute.is_empty() => Field::Attribute(attribute.into()),
                _ => {
                    return Err(DefinitionError::new(
                        path,
                        format!(
                            "unknown field '{other}' (expected id, title, category, categories, \
                             available, price, created_at or attributes.NAME)"
                        ),
                    ));
                }
            },
        })
    }

    /// The item's value of the field; `Missing` without facts or without a value.
    pub fn value<'a>(&self, id: &'a str, facts: Option<&'a ItemFacts>) -> FieldValue<'a> {
        if let Field::Id = self {
            return FieldValue::Text(id);
        }
        let Some(facts) = facts else {
            return FieldValue::Missing;
        };
        match self {
            Field::Id => FieldValue::Text(id),
            Field::Title if facts.title.is_empty() => FieldValue::Missing,
            Field::Title => FieldValue::Text(&facts.title),
            Field::Category => facts
                .categories
                .first()
                .map_or(FieldValue::Missing, |c| FieldValue::Text(c)),
            Field::Categories if facts.categories.is_empty() => FieldValue::Missing,
            Field::Categories => FieldValue::Texts(&facts.categories),
            Field::Available => FieldValue::Bool(facts.available),
            Field::Price => facts.price.map_or(FieldValue::Missing, FieldValue::Number),
            Field::CreatedAt => facts
                .created_at
                .map_or(FieldValue::Missing, |t| FieldValue::Number(t as f64)),
            Field::Attribute(name) => match facts.attributes.get(name) {
                None | Some(Value::Null) => FieldValue::Missing,
                Some(value) => FieldValue::Json(value),
            },
        }
    }

    /// The values diversity counts an item under (a list attribute counts under each).
    pub(crate) fn keys(&self, id: &str, facts: Option<&ItemFacts>) -> Vec<String> {
        match self.value(id, facts) {
            FieldValue::Missing => Vec::new(),
            FieldValue::Text(text) => vec![text.to_string()],
            FieldValue::Texts(texts) => texts.to_vec(),
            FieldValue::Bool(b) => vec![b.to_string()],
            FieldValue::Number(n) => vec![n.to_string()],
            FieldValue::Json(Value::Array(values)) => values.iter().map(json_key).collect(),
            FieldValue::Json(value) => vec![json_key(value)],
        }
    }
}

fn json_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An item's value of a [`Field`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Missing,
    Text(&'a str),
    Texts(&'a [String]),
    Bool(bool),
    Number(f64),
    Json(&'a Value),
}

impl FieldValue<'_> {
    /// Whether the value equals `wanted` (a list value: whether any element does). Numbers
    /// compare as numbers, so `4` equals `4.0`.
    fn equals(&self, wanted: &Value) -> bool {
        match self {
            FieldValue::Missing => false,
            FieldValue::Text(text) => wanted.as_str() == Some(*text),
            FieldValue::Texts(texts) => wanted
                .as_str()
                .is_some_and(|w| texts.iter().any(|t| t == w)),
            FieldValue::Bool(b) => wanted.as_bool() == Some(*b),
            FieldValue::Number(n) => wanted.as_f64() == Some(*n),
            FieldValue::Json(Value::Array(values)) => values.iter().any(|v| json_equals(v, wanted)),
            FieldValue::Json(value) => json_equals(value, wanted),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            FieldValue::Number(n) => Some(*n),
            FieldValue::Json(value) => value.as_f64(),
            FieldValue::Text(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

fn json_equals(value: &Value, wanted: &Value) -> bool {
    match (value.as_f64(), wanted.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => value == wanted,
    }
}

/// A test on an item, possibly relative to the item a list is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub test: Test,
    /// The test negated (`"not": true`).
    pub negate: bool,
}

/// The tests a condition may make.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Equals(Field, Value),
    In(Field, Vec<Value>),
    /// Numeric bounds, both inclusive (a minimum above the maximum matches nothing).
    Range(Field, Option<f64>, Option<f64>),
    Exists(Field, bool),
    /// A time field (Unix seconds) within the last so many days.
    NewerThanDays(Field, f64),
    OlderThanDays(Field, f64),
    /// Shares a category with the context item.
    SameCategoryAsContext,
    /// Shares no category with the context item.
    DifferentCategory,
    /// Priced within this many percent of the context item.
    PriceWithinPercent(f64),
}

/// What a condition is tested against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub id: &'a str,
    pub facts: Option<&'a ItemFacts>,
    /// The item the list is about, if any.
    pub context: Option<&'a ItemFacts>,
    /// Unix seconds.
    pub now: i64,
}

/// The keys a condition may have.
const CONDITION_KEYS: &[&str] = &[
    "field",
    "equals",
    "in",
    "range",
    "exists",
    "newer_than_days",
    "older_than_days",
    "same_category_as_context",
    "different_category",
    "price_within_percent",
    "not",
];

impl Condition {
    /// Reads a condition at `path`; `extra` names the keys the enclosing rule adds (a
    /// boost's `factor`).
    pub fn parse(value: &Value, path: &str, extra: &[&str]) -> Checked<Condition> {
        let fields = object(value, path)?;
        for key in fields.keys() {
            if !CONDITION_KEYS.contains(&key.as_str()) && !extra.contains(&key.as_str()) {
                return Err(DefinitionError::new(
                    format!("{path}.{key}"),
                    "unknown key (a condition has field and one of equals, in, range, exists, \
                     newer_than_days, older_than_days; or same_category_as_context, \
                     different_category, price_within_percent; and optionally not)",
                ));
            }
        }
        let negate = match fields.get("not") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(DefinitionError::new(
                    format!("{path}.not"),
                    "must be true or false",
                ));
            }
        };
        let operators: Vec<&str> = CONDITION_KEYS[1..CONDITION_KEYS.len() - 1]
            .iter()
            .copied()
            .filter(|k| fields.contains_key(*k))
            .collect();
        let [operator] = operators[..] else {
            return Err(DefinitionError::new(
                path,
                if operators.is_empty() {
                    "a condition needs one test: equals, in, range, exists, newer_than_days, \
                     older_than_days, same_category_as_context, different_category or \
                     price_within_percent"
                        .to_string()
                } else {
                    format!(
                        "a condition makes one test, not {}",
                        operators.join(" and ")
                    )
                },
            ));
        };
        let at = |key: &str| format!("{path}.{key}");
        let relative = matches!(
            operator,
            "same_category_as_context" | "different_category" | "price_within_percent"
        );
        let field = match (fields.get("field"), relative) {
            (Some(_), true) => {
                return Err(DefinitionError::new(
                    at("field"),
                    format!("{operator} compares with the context item and takes no field"),
                ));
            }
            (None, true) => None,
            (Some(Value::String(name)), false) => Some(Field::parse(name, &at("field"))?),
            (Some(_), false) => {
                return Err(DefinitionError::new(at("field"), "must be a field name"));
            }
            (None, false) => {
                return Err(DefinitionError::new(
                    at("field"),
                    format!("is required with {operator}"),
                ));
            }
        };
        let value = &fields[operator];
        let test = match (operator, field) {
            ("equals", Some(field)) => {
                if value.is_object() || value.is_null() {
                    return Err(DefinitionError::new(
                        at("equals"),
                        "must be a string, number, boolean or list",
                    ));
                }
                Test::Equals(field, value.clone())
            }
            ("in", Some(field)) => match value {
                Value::Array(values) if !values.is_empty() => Test::In(field, values.clone()),
                _ => {
                    return Err(DefinitionError::new(
                        at("in"),
                        "must be a non-empty list of values",
                    ));
                }
            },
            ("range", Some(field)) => {
                let bounds = object(value, &at("range"))?;
                allow_only(bounds, &at("range"), &["min", "max"])?;
                let bound = |key: &str| -> Checked<Option<f64>> {
                    match bounds.get(key) {
                        None => Ok(None),
                        Some(v) => number(Some(v), &format!("{path}.range.{key}")).map(Some),
                    }
                };
                let (min, max) = (bound("min")?, bound("max")?);
                if min.is_none() && max.is_none() {
                    return Err(DefinitionError::new(at("range"), "give min, max or both"));
                }
                Test::Range(field, min, max)
            }
            ("exists", Some(field)) => match value {
                Value::Bool(b) => Test::Exists(field, *b),
                _ => return Err(DefinitionError::new(at("exists"), "must be true or false")),
            },
            ("newer_than_days" | "older_than_days", Some(field)) => {
                let days = number(Some(value), &at(operator))?;
                if !(days >= 0.0 && days.is_finite()) {
                    return Err(DefinitionError::new(at(operator), "must be 0 or more"));
                }
                if operator == "newer_than_days" {
                    Test::NewerThanDays(field, days)
                } else {
                    Test::OlderThanDays(field, days)
                }
            }
            ("same_category_as_context", None) | ("different_category", None) => {
                if value != &Value::Bool(true) {
                    return Err(DefinitionError::new(
                        at(operator),
                        "must be true (use \"not\": true to negate)",
                    ));
                }
                if operator == "different_category" {
                    Test::DifferentCategory
                } else {
                    Test::SameCategoryAsContext
                }
            }
            ("price_within_percent", None) => {
                let percent = number(Some(value), &at(operator))?;
                if !(percent >= 0.0 && percent.is_finite()) {
                    return Err(DefinitionError::new(at(operator), "must be 0 or more"));
                }
                Test::PriceWithinPercent(percent)
            }
            _ => unreachable!("every operator is matched with its field requirement"),
        };
        Ok(Condition { test, negate })
    }

    /// Whether `subject` meets the condition. Tests relative to the context item pass
    /// everything when the list has no context item (there is nothing to compare with).
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        let value = |field: &Field| field.value(subject.id, subject.facts);
        let met = match &self.test {
            Test::Equals(field, wanted) => match wanted {
                Value::Array(any) => any.iter().any(|w| value(field).equals(w)),
                wanted => value(field).equals(wanted),
            },
            Test::In(field, wanted) => {
                let value = value(field);
                wanted.iter().any(|w| value.equals(w))
            }
            Test::Range(field, min, max) => value(field)
                .number()
                .is_some_and(|n| min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max)),
            Test::Exists(field, wanted) => (value(field) != FieldValue::Missing) == *wanted,
            Test::NewerThanDays(field, days) => value(field)
                .number()
                .is_some_and(|t| t >= subject.now as f64 - days * 86_400.0),
            Test::OlderThanDays(field, days) => value(field)
                .number()
                .is_some_and(|t| t < subject.now as f64 - days * 86_400.0),
            Test::SameCategoryAsContext | Test::DifferentCategory => match subject.context {
                None => true,
                Some(context) => {
                    let context: HashSet<&str> =
                        context.categories.iter().map(String::as_str).collect();
                    let shares = subject
                        .facts
                        .is_some_and(|f| f.categories.iter().any(|c| context.contains(c.as_str())));
                    shares == matches!(self.test, Test::SameCategoryAsContext)
                }
            },
            Test::PriceWithinPercent(percent) => match subject.context.and_then(|c| c.price) {
                None => true,
                Some(reference) => subject
                    .facts
                    .and_then(|f| f.price)
                    .is_some_and(|p| (p - reference).abs() <= reference.abs() * percent / 100.0),
            },
        };
        met != self.negate
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Checked<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| DefinitionError::new(path, "must be an object"))
}

fn allow_only(fields: &Map<String, Value>, path: &str, allowed: &[&str]) -> Checked<()> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(DefinitionError::new(
            format!("{path}.{key}"),
            format!("unknown key (expected {})", allowed.join(", ")),
        )),
    }
}

fn number(value: Option<&Value>, path: &str) -> Checked<f64> {
    match value {
        None => Err(DefinitionError::new(path, "is required")),
        Some(value) => value
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| DefinitionError::new(path, "must be a number")),
    }
}

fn count(value: Option<&Value>, path: &str) -> Checked<usize> {
    match value {
        None => Err(DefinitionError::new(path, "is required")),
        Some(value) => whole(value)
            .filter(|&n| n <= 1_000)
            .ok_or_else(|| DefinitionError::new(path, "must be a whole number from 0 to 1000")),
    }
}

/// A whole number, also when written as an integral float (`10.0`), as everywhere in the API.
pub(crate) fn whole(value: &Value) -> Option<usize> {
    match value.as_u64() {
        Some(n) => usize::try_from(n).ok(),
        None => value
            .as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= u32::MAX as f64)
            .map(|f| f as usize),
    }
}

pub(crate) fn strings(value: &Value, path: &str) -> Checked<Vec<String>> {
    match value {
        Value::Array(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| DefinitionError::new(format!("{path}[{i}]"), "must be a string"))
            })
            .collect(),
        _ => Err(DefinitionError::new(path, "must be a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts(categories: &[&str], price: f64, created_at: i64, brand: &str) -> ItemFacts {
        let mut attributes = Map::new();
        attributes.insert("brand".into(), json!(brand));
        attributes.insert("sizes".into(), json!([38, 40]));
        ItemFacts {
            title: "A thing".into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            available: true,
            price: Some(price),
            created_at: Some(created_at),
            attributes,
        }
    }

    fn condition(value: Value) -> Condition {
        Condition::parse(&value, "c", &[]).unwrap()
    }

    #[test]
    fn conditions_test_fields_attributes_and_the_context_item() {
        let now = 1_000 * 86_400;
        let item = facts(&["Audio", "Sale"], 50.0, now - 10 * 86_400, "Acme");
        let context = facts(&["Audio"], 60.0, 0, "Other");
        let subject = Subject {
            id: "i1",
            facts: Some(&item),
            context: Some(&context),
            now,
        };
        let holds = |value: Value| condition(value).matches(&subject);
        assert!(holds(json!({"field": "category", "equals": "Audio"})));
        assert!(
            !holds(json!({"field": "category", "equals": "Sale"})),
            "category is the first"
        );
        assert!(holds(
            json!({"field": "categories", "in": ["Sale", "Video"]})
        ));
        assert!(holds(json!({"field": "attributes.brand", "in": ["Acme"]})));
        assert!(holds(json!({"field": "attributes.sizes", "equals": 40.0})));
        assert!(holds(
            json!({"field": "price", "range": {"min": 50, "max": 55}})
        ));
        assert!(!holds(json!({"field": "price", "range": {"max": 49.99}})));
        assert!(holds(
            json!({"field": "attributes.colour", "exists": false})
        ));
        assert!(holds(json!({"field": "available", "equals": true})));
        assert!(holds(json!({"field": "created_at", "newer_than_days": 30})));
        assert!(!holds(json!({"field": "created_at", "newer_than_days": 5})));
        assert!(holds(json!({"field": "created_at", "older_than_days": 5})));
        assert!(holds(json!({"field": "id", "equals": "i1"})));
        assert!(holds(json!({"same_category_as_context": true})));
        assert!(!holds(json!({"different_category": true})));
        assert!(
            holds(json!({"price_within_percent": 20})),
            "50 is within 20% of 60"
        );
        assert!(!holds(json!({"price_within_percent": 10})));
        assert!(holds(
            json!({"field": "attributes.brand", "equals": "Other", "not": true})
        ));
        // Without a context item, relative tests pass everything.
        let alone = Subject {
            context: None,
            ..subject
        };
        assert!(condition(json!({"different_category": true})).matches(&alone));
        // An item outside the catalogue has only its id.
        let unknown = Subject {
            facts: None,
            ..subject
        };
        assert!(!condition(json!({"field": "available", "equals": true})).matches(&unknown));
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let error = |rule: Value| Rule::parse(&rule, 2).unwrap_err();
        let cases = [
            (
                json!({"boost": {"field": "category", "in": ["A"], "factor": 0}}),
                "rules[2].boost.factor",
            ),
            (
                json!({"boost": {"field": "category", "in": ["A"]}}),
                "rules[2].boost.factor",
            ),
            (
                json!({"bury": {"field": "category", "equals": "A", "factor": 2}}),
                "rules[2].bury.factor",
            ),
            (
                json!({"filter": {"field": "colour", "equals": "red"}}),
                "rules[2].filter.field",
            ),
            (
                json!({"filter": {"field": "price", "equals": 3, "in": [3]}}),
                "rules[2].filter",
            ),
            (
                json!({"filter": {"field": "price", "range": {}}}),
                "rules[2].filter.range",
            ),
            (
                json!({"filter": {"field": "price", "between": 3}}),
                "rules[2].filter.between",
            ),
            (json!({"pin": {"item_id": "i1"}}), "rules[2].pin.position"),
            (json!({"pin": {"position": 0}}), "rules[2].pin"),
            (
                json!({"promote": {"share": 1.5, "filter": {"field": "price", "exists": true}}}),
                "rules[2].promote.share",
            ),
            (
                json!({"diversity": {"field": "category", "max": 0}}),
                "rules[2].diversity.max",
            ),
            (
                json!({"rotation": {"hours": 24, "penalty": 2}}),
                "rules[2].rotation.penalty",
            ),
            (
                json!({"repurchase": {"days": 30, "except_categories": "Coffee"}}),
                "rules[2].repurchase.except_categories",
            ),
            (json!({"shuffle": {}}), "rules[2]"),
            (json!({"filter": {}, "boost": {}}), "rules[2]"),
        ];
        for (rule, field) in cases {
            assert_eq!(error(rule.clone()).field, field, "{rule}");
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let rules = [
            json!({"filter": {"field": "available", "equals": true}}),
            json!({"boost": {"field": "categories", "in": ["Audio"], "factor": 1.5}}),
            json!({"pin": {"item_id": "i42", "position": 0}}),
            json!({"promote": {"share": 0.2, "filter": {"field": "created_at", "newer_than_days": 30}}}),
            json!({"diversity": {"field": "category", "max": 2}}),
            json!({"rotation": {"hours": 24, "penalty": 0.5}}),
            json!({"repurchase": {"days": 90, "except_categories": ["Coffee"]}}),
        ];
        let kinds: Vec<&str> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::parse(r, i).unwrap().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                "filter",
                "boost",
                "pin",
                "promote",
                "diversity",
                "rotation",
                "repurchase"
            ]
        );
    }
}
