//! Hyper-parameters as data: each model declares, beside its parameter struct, the domain of
//! every parameter (type and allowed range) and the range a search should try (log scale
//! where it belongs). One declaration feeds the checks before training, the `--set` errors,
//! the tables of `docs/models.md`, the JSON schema of the HTTP API and the tuner.

use serde_json::{Map, Value, json};

/// The values a parameter may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Domain {
    /// Integers in `[min, max]`.
    Int {
        min: i64,
        max: i64,
    },
    /// Real numbers between `min` and `max` (either may be infinite); an `open` bound is
    /// excluded.
    Real {
        min: f64,
        max: f64,
        open_min: bool,
        open_max: bool,
    },
    /// One of these names.
    Choice(&'static [&'static str]),
    Bool,
}

impl Domain {
    /// Reals in `[min, max]`.
    pub const fn closed(min: f64, max: f64) -> Domain {
        Domain::Real {
            min,
            max,
            open_min: false,
            open_max: false,
        }
    }

    /// Reals `> 0`: from 1e-9 to 1e9, beyond which no parameter means anything (and an
    /// `f32` parameter would round to 0 or overflow).
    pub const POSITIVE: Domain = Domain::closed(1e-9, 1e9);

    /// Reals `>= 0`, up to 1e9.
    pub const NON_NEGATIVE: Domain = Domain::closed(0.0, 1e9);

    /// Why `value` is outside the domain, if it is. Real bounds get a relative `slack`
    /// (see [`check`]).
    fn check(&self, value: &Value, slack: f64) -> Result<(), String> {
        match *self {
            Domain::Int { min, max } => match value.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(()),
                _ => Err(format!("must be an integer in {min}..={max}, got {value}")),
            },
            Domain::Real {
                min,
                max,
                open_min,
                open_max,
            } => {
                let slack = |bound: f64| bound.abs() * slack;
                let fits = value.as_f64().is_some_and(|v| {
                    v.is_finite()
                        && match (open_min, min == 0.0) {
                            (true, true) => v > 0.0,
                            (true, false) => v > min - slack(min),
                            (false, _) => v >= min - slack(min),
                        }
                        && if open_max {
                            v < max + slack(max)
                        } else {
                            v <= max + slack(max)
                        }
                });
                if fits {
                    Ok(())
                } else {
                    Err(format!("must be {}, got {value}", self.describe()))
                }
            }
            Domain::Choice(names) => match value.as_str() {
                Some(v) if names.contains(&v) => Ok(()),
                _ => Err(format!("must be one of {}, got {value}", names.join(", "))),
            },
            Domain::Bool => match value {
                Value::Bool(_) => Ok(()),
                _ => Err(format!("must be true or false, got {value}")),
            },
        }
    }

    /// The domain in words: `an integer in 1..=4096`, `in (0, 1]`, `a finite number >= 0`.
    pub fn describe(&self) -> String {
        match *self {
            Domain::Int { min, max } if max == i64::MAX => format!("an integer >= {min}"),
            Domain::Int { min, max } => format!("an integer in {min}..={max}"),
            Domain::Real {
                min,
                max,
                open_min,
                open_max,
            } => {
                let low = if open_min { ">" } else { ">=" };
                let (lo, hi) = (number(min), number(max));
                match (min.is_finite(), max.is_finite()) {
                    (true, false) => format!("a finite number {low} {lo}"),
                    (false, true) => {
                        format!("a number {} {hi}", if open_max { "<" } else { "<=" })
                    }
                    (false, false) => "a finite number".into(),
                    (true, true) => format!(
                        "in {}{lo}, {hi}{}",
                        if open_min { "(" } else { "[" },
                        if open_max { ")" } else { "]" }
                    ),
                }
            }
            Domain::Choice(names) => format!("one of {}", names.join(", ")),
            Domain::Bool => "true or false".into(),
        }
    }

    /// The JSON schema of the domain.
    fn schema(&self) -> Value {
        match *self {
            Domain::Int { min, max } => {
                let mut schema = json!({"type": "integer", "minimum": min});
                if max != i64::MAX {
                    schema["maximum"] = json!(max);
                }
                schema
            }
            Domain::Real {
                min,
                max,
                open_min,
                open_max,
            } => {
                let mut schema = json!({"type": "number"});
                if min.is_finite() {
                    schema[if open_min {
                        "exclusiveMinimum"
                    } else {
                        "minimum"
                    }] = json!(min);
                }
                if max.is_finite() {
                    schema[if open_max {
                        "exclusiveMaximum"
                    } else {
                        "maximum"
                    }] = json!(max);
                }
                schema
            }
            Domain::Choice(names) => json!({"type": "string", "enum": names}),
            Domain::Bool => json!({"type": "boolean"}),
        }
    }
}

/// A bound as people write it: `0.5`, `1000`, `1e-9`, `1e9`.
fn number(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// Where a search looks for a numeric parameter: `[min, max]`, sampled uniformly or, with
/// `log`, uniformly in the logarithm. A choice or boolean parameter is searched over all its
/// values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    pub min: f64,
    pub max: f64,
    pub log: bool,
}

impl Search {
    pub const fn linear(min: f64, max: f64) -> Option<Search> {
        Some(Search {
            min,
            max,
            log: false,
        })
    }

    pub const fn log(min: f64, max: f64) -> Option<Search> {
        Some(Search {
            min,
            max,
            log: true,
        })
    }

    /// For a choice or boolean parameter: every value.
    pub const ALL: Option<Search> = Some(Search {
        min: 0.0,
        max: 0.0,
        log: false,
    });
}

/// One hyper-parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// What it does, in one sentence (the documentation's table).
    pub doc: &'static str,
    pub domain: Domain,
    /// Whether it may be left unset (`null`): the model then decides from the data.
    pub optional: bool,
    /// The range a search tries; `None`: not searched (structural, or a speed setting).
    pub search: Option<Search>,
    /// More of it trains longer and (up to a point) better: iterations, epochs. A search may
    /// try candidates with less of it first and give the full amount only to the best
    /// (successive halving).
    pub fidelity: bool,
}

impl ParamSpec {
    pub const fn new(name: &'static str, domain: Domain, doc: &'static str) -> ParamSpec {
        ParamSpec {
            name,
            doc,
            domain,
            optional: false,
            search: None,
            fidelity: false,
        }
    }

    /// The same parameter, marked as the model's training budget (see `fidelity`).
    pub const fn fidelity(mut self) -> ParamSpec {
        self.fidelity = true;
        self
    }

    /// The same parameter, searched over `search`.
    pub const fn searched(mut self, search: Option<Search>) -> ParamSpec {
        self.search = search;
        self
    }

    /// The same parameter, which may be left unset.
    pub const fn optional(mut self) -> ParamSpec {
        self.optional = true;
        self
    }
}

/// A rule between two parameters that their domains cannot say: when `when` takes one of
/// `is`, `then` must be one of `allowed`. It is checked, and written into the JSON schema as
/// `if`/`then`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requires {
    pub when: &'static str,
    pub is: &'static [&'static str],
    pub then: &'static str,
    pub allowed: &'static [&'static str],
}

/// Why `params` (a parameter struct serialised to JSON) breaks `spec` or `rules`, if it does.
///
/// Parameters are often `f32`: a value given within its domain may round to a bound (or just
/// past it), so real bounds get a relative slack of 1e-6 here — except an open bound at 0,
/// where the sign is the point. Values as the user gave them are checked exactly by
/// [`check_given`].
pub fn check(spec: &[ParamSpec], rules: &[Requires], params: &Value) -> Result<(), String> {
    for param in spec {
        match params.get(param.name) {
            None | Some(Value::Null) if param.optional => {}
            None | Some(Value::Null) => return Err(format!("{} must be set", param.name)),
            Some(value) => param
                .domain
                .check(value, 1e-6)
                .map_err(|why| format!("{} {why}", param.name))?,
        }
    }
    for rule in rules {
        let when = params.get(rule.when).and_then(Value::as_str);
        let then = params.get(rule.then).and_then(Value::as_str);
        if let (Some(when), Some(then)) = (when, then)
            && rule.is.contains(&when)
            && !rule.allowed.contains(&then)
        {
            return Err(format!(
                "{} '{then}' does not go with {} '{when}' (it takes {})",
                rule.then,
                rule.when,
                rule.allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// Why a value the user gave (before any rounding to `f32`) is outside its parameter's
/// domain, if one is: exactly the bounds of the JSON schema. Unknown keys are left to the
/// parser, which names them.
pub fn check_given(spec: &[ParamSpec], given: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in given {
        let Some(param) = spec.iter().find(|p| p.name == key) else {
            continue;
        };
        if value.is_null() && param.optional {
            continue;
        }
        param
            .domain
            .check(value, 0.0)
            .map_err(|why| format!("{key} = {value}: {why}"))?;
    }
    Ok(())
}

/// The JSON schema of a parameter object: every parameter optional (defaults apply), none
/// other allowed, each within its domain, the rules as `if`/`then`.
pub fn schema(spec: &[ParamSpec], rules: &[Requires], defaults: &Value) -> Value {
    let mut properties = Map::new();
    for param in spec {
        let mut schema = param.domain.schema();
        schema["description"] = json!(param.doc);
        if let Some(default) = defaults.get(param.name).filter(|d| !d.is_null()) {
            schema["default"] = default.clone();
        }
        if param.optional {
            schema = json!({"anyOf": [schema, {"type": "null"}]});
        }
        properties.insert(param.name.to_string(), schema);
    }
    let mut object = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    });
    let conditions: Vec<Value> = rules
        .iter()
        .map(|rule| {
            json!({
                "if": {"properties": {rule.when: {"enum": rule.is}}, "required": [rule.when]},
                "then": {"properties": {rule.then: {"anyOf": [{"enum": rule.allowed}, {"type": "null"}]}}}
            })
        })
        .collect();
    if !conditions.is_empty() {
        object["allOf"] = Value::Array(conditions);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[ParamSpec] = &[
        ParamSpec::new("k", Domain::Int { min: 1, max: 10 }, "neighbours"),
        ParamSpec::new("rate", Domain::POSITIVE, "step").searched(Search::log(1e-3, 1.0)),
        ParamSpec::new("mode", Domain::Choice(&["a", "b"]), "mode").optional(),
        ParamSpec::new("kind", Domain::Choice(&["x", "y", "z"]), "kind"),
    ];
    const RULES: &[Requires] = &[Requires {
        when: "mode",
        is: &["a"],
        then: "kind",
        allowed: &["x"],
    }];

    #[test]
    fn values_are_checked_against_their_domains_and_rules() {
        let good = json!({"k": 3, "rate": 0.5, "mode": null, "kind": "y"});
        assert_eq!(check(SPEC, RULES, &good), Ok(()));
        let cases = [
            (
                json!({"k": 0, "rate": 0.5, "kind": "x"}),
                "k must be an integer in 1..=10, got 0",
            ),
            (
                json!({"k": 1, "rate": 0.0, "kind": "x"}),
                "rate must be in [1e-9, 1e9], got 0.0",
            ),
            (
                json!({"k": 1, "rate": 1.0, "kind": "w"}),
                "kind must be one of x, y, z, got \"w\"",
            ),
            (
                json!({"k": 1, "rate": 1.0, "mode": "a", "kind": "y"}),
                "kind 'y' does not go with mode 'a' (it takes x)",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(check(SPEC, RULES, &params), Err(message.to_string()));
        }
    }

    #[test]
    fn the_schema_says_the_same() {
        let schema = schema(SPEC, RULES, &json!({"k": 5}));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["k"]["maximum"], 10);
        assert_eq!(schema["properties"]["k"]["default"], 5);
        assert_eq!(schema["properties"]["rate"]["minimum"], 1e-9);
        assert_eq!(schema["properties"]["mode"]["anyOf"][1]["type"], "null");
        assert_eq!(
            schema["allOf"][0]["then"]["properties"]["kind"]["anyOf"][0]["enum"][0],
            "x"
        );
    }
}
