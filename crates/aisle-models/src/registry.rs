//! Models by name, as data: one [`ModelEntry`] per model — its name, family, a summary, its
//! parameters' [specification](crate::params) and its constructor — from which
//! `--model NAME --set key=value` becomes a validated [`Algorithm`], and from which the
//! documentation's tables, the HTTP API's schema and the tuner read what a model takes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ModelError, Result};
use crate::params::{ParamSpec, Requires};
use crate::recommender::Algorithm;

/// Hyper-parameters of one algorithm: serde with defaults, each field's domain declared in
/// [`Params::SPEC`] beside the struct, checked before training.
pub trait Params: Default + Serialize + DeserializeOwned + std::fmt::Debug {
    /// Every parameter's domain and search range.
    const SPEC: &'static [ParamSpec];
    /// Rules between parameters that their domains cannot say.
    const RULES: &'static [Requires] = &[];

    /// Explains the first value outside its domain, or the first broken rule, if any.
    fn check(&self) -> std::result::Result<(), String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        crate::params::check(Self::SPEC, Self::RULES, &value)
    }
}

/// Parses `params` (missing keys take defaults; unknown keys are an error) and checks them.
/// An integer parameter may be written as an integral float (`64.0`), as JSON Schema reads
/// it.
pub fn parse_params<P: Params>(model: &str, params: &Map<String, Value>) -> Result<P> {
    let mut params = params.clone();
    for spec in P::SPEC {
        if let (crate::params::Domain::Int { .. }, Some(value)) =
            (spec.domain, params.get_mut(spec.name))
            && let Some(f) = value
                .as_f64()
                .filter(|f| value.is_f64() && f.fract() == 0.0)
            && f.abs() < 9e15
        {
            *value = Value::from(f as i64);
        }
    }
    let params = &params;
    crate::params::check_given(P::SPEC, params).map_err(|m| ModelError::invalid(model, m))?;
    let parsed: P = serde_json::from_value(Value::Object(params.clone())).map_err(|e| {
        // serde names the expected type but not the key; find the key that fails alone.
        let culprit = params.iter().find(|(key, value)| {
            let alone = Map::from_iter([((*key).clone(), (*value).clone())]);
            serde_json::from_value::<P>(Value::Object(alone)).is_err()
        });
        let message = match culprit {
            Some((key, value)) => format!("{key} = {value}: {e}"),
            None => e.to_string(),
        };
        ModelError::invalid(model, message)
    })?;
    parsed
        .check()
        .map_err(|message| ModelError::invalid(model, message))?;
    Ok(parsed)
}

/// Hyper-parameters as JSON for reports, with `f32` values written as the short decimal
/// they were given as (`0.01`, not `0.009999999776482582`).
pub fn params_json<P: Serialize>(params: &P) -> Value {
    fn tidy(value: Value) -> Value {
        match value {
            Value::Number(n) if n.is_f64() => {
                let wide = n.as_f64().expect("checked is_f64");
                let narrow = wide as f32;
                let short = if f64::from(narrow) == wide {
                    narrow.to_string().parse::<f64>().unwrap_or(wide)
                } else {
                    wide
                };
                serde_json::Number::from_f64(short).map_or(Value::Number(n), Value::Number)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(tidy).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, tidy(v))).collect())
            }
            other => other,
        }
    }
    tidy(serde_json::to_value(params).expect("hyper-parameters are plain data"))
}

/// Reads a `--set` value: numbers and booleans become JSON numbers and booleans, anything
/// else a string.
pub fn parse_value(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}

/// What kind of feedback a model is made for, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Rating prediction (RMSE, MAE).
    Rating,
    /// Neighbourhood models (ratings or implicit feedback).
    Neighbourhood,
    /// Top-N from implicit feedback.
    Implicit,
}

/// Makes a model's algorithm from its parameters (missing ones take defaults; checked).
pub type BuildFn = fn(&Map<String, Value>) -> Result<Box<dyn Algorithm>>;

/// One model the registry knows.
#[derive(Debug, Clone, Copy)]
pub struct ModelEntry {
    /// The CLI name (`als`, `item-knn`, ...).
    pub name: &'static str,
    pub family: Family,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its parameters' domains and search ranges.
    pub spec: &'static [ParamSpec],
    pub rules: &'static [Requires],
    /// Its default parameters, as JSON.
    pub defaults: fn() -> Value,
    /// The algorithm configured with parameters (missing ones take defaults; checked).
    pub build: BuildFn,
}

impl ModelEntry {
    /// The JSON schema of this model's parameter object.
    pub fn params_schema(&self) -> Value {
        crate::params::schema(self.spec, self.rules, &(self.defaults)())
    }
}

/// An entry for the model `$name` with parameters `$params` built by `$build`.
macro_rules! entry {
    ($name:literal, $family:ident, $summary:literal, $params:ty, $build:expr) => {
        ModelEntry {
            name: $name,
            family: Family::$family,
            summary: $summary,
            spec: <$params as Params>::SPEC,
            rules: <$params as Params>::RULES,
            defaults: || params_json(&<$params>::default()),
            build: |params| {
                let parsed: $params = parse_params($name, params)?;
                #[allow(clippy::redundant_closure_call)]
                let algorithm: Box<dyn Algorithm> = ($build)(parsed)?;
                Ok(algorithm)
            },
        }
    };
}

/// Every model, in the order the docs list them.
pub static MODELS: &[ModelEntry] = &[
    entry!(
        "baseline",
        Rating,
        "Global mean plus user and item biases.",
        crate::baseline::BaselineParams,
        |p| Ok::<_, ModelError>(Box::new(crate::baseline::Baseline { params: p }))
    ),
    entry!(
        "svd",
        Rating,
        "Biased matrix factorization by SGD.",
        crate::svd::SvdParams,
        |p| Ok::<_, ModelError>(Box::new(crate::svd::Svd::new(p)?))
    ),
    entry!(
        "svdpp",
        Rating,
        "SVD++: SVD with an implicit-feedback term.",
        crate::svdpp::SvdppParams,
        |p| Ok::<_, ModelError>(Box::new(crate::svdpp::Svdpp::new(p)?))
    ),
    entry!(
        "bpmf",
        Rating,
        "Bayesian matrix factorization by Gibbs sampling.",
        crate::bpmf::BpmfParams,
        |p| Ok::<_, ModelError>(Box::new(crate::bpmf::Bpmf::new(p)?))
    ),
    entry!(
        "user-knn",
        Neighbourhood,
        "User-based collaborative filtering on ratings.",
        crate::knn::UserKnnParams,
        |p| Ok::<_, ModelError>(Box::new(crate::knn::UserKnn::new(p)?))
    ),
    entry!(
        "item-knn",
        Neighbourhood,
        "Item-based collaborative filtering (ratings or implicit feedback).",
        crate::knn::ItemKnnParams,
        |p| Ok::<_, ModelError>(Box::new(crate::knn::ItemKnn::new(p)?))
    ),
    entry!(
        "popular",
        Implicit,
        "Most interacted items, optionally time-decayed.",
        crate::popular::PopularParams,
        |p| Ok::<_, ModelError>(Box::new(crate::popular::Popular::new(p)))
    ),
    entry!(
        "als",
        Implicit,
        "Implicit-feedback matrix factorization by alternating least squares.",
        crate::als::AlsParams,
        |p| Ok::<_, ModelError>(Box::new(crate::als::Als::new(p)))
    ),
    entry!(
        "bpr",
        Implicit,
        "Bayesian personalised ranking matrix factorization.",
        crate::bpr::BprParams,
        |p| Ok::<_, ModelError>(Box::new(crate::bpr::Bpr::new(p)))
    ),
    entry!(
        "ease",
        Implicit,
        "Closed-form item-item linear model (EASE, denoising).",
        crate::ease::EaseParams,
        |p| Ok::<_, ModelError>(Box::new(crate::ease::Ease::new(p)))
    ),
    entry!(
        "next-item",
        Implicit,
        "Recency-weighted EASE with item transitions.",
        crate::next_item::NextItemParams,
        |p| Ok::<_, ModelError>(Box::new(crate::next_item::NextItem::new(p)))
    ),
    entry!(
        "buy-again",
        Implicit,
        "What a shopper buys again: time-decayed own and neighbours' purchases (TIFU-KNN).",
        crate::buy_again::BuyAgainParams,
        |p| Ok::<_, ModelError>(Box::new(crate::buy_again::BuyAgain::new(p)))
    ),
    entry!(
        "cooccur",
        Implicit,
        "Items bought together: co-occurrence count, cosine, lift or Jaccard, shrunk by support.",
        crate::cooccur::CooccurParams,
        |p| Ok::<_, ModelError>(Box::new(crate::cooccur::Cooccur::new(p)))
    ),
    entry!(
        "content",
        Implicit,
        "Items by their descriptions: TF-IDF of titles, categories, attributes and price bands.",
        crate::content::ContentParams,
        |p| Ok::<_, ModelError>(Box::new(crate::content::Content::new(p)))
    ),
    entry!(
        "hybrid",
        Implicit,
        "ALS for items with events; items without any placed among them by their content.",
        crate::hybrid::HybridParams,
        |p| Ok::<_, ModelError>(Box::new(crate::hybrid::Hybrid::new(p)))
    ),
];

/// Whether the model called `name` learns from the items' descriptions (it is then given
/// the catalogue, and catalogue items without events, when it trains).
pub fn reads_catalogue(name: &str) -> bool {
    matches!(name, "content" | "hybrid")
}

/// The entry of the model called `name`.
pub fn model(name: &str) -> Result<&'static ModelEntry> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
            known: model_names().collect::<Vec<_>>().join(", "),
        })
}

/// Every model name, in the order the docs list them.
pub fn model_names() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|m| m.name)
}

/// The parameter reference of `docs/models.md`: a table per model, made from the registry
/// (a test keeps the document equal to it).
pub fn parameter_reference() -> String {
    let mut out = String::new();
    for entry in MODELS {
        let defaults = (entry.defaults)();
        out.push_str(&format!(
            "### `{}`\n\n{}\n\n| parameter | default | values | searched | what it does |\n|---|---|---|---|---|\n",
            entry.name, entry.summary
        ));
        for param in entry.spec {
            let default = match defaults.get(param.name) {
                None | Some(Value::Null) => "from the data".to_string(),
                Some(Value::String(s)) => format!("`{s}`"),
                Some(v) => format!("`{v}`"),
            };
            let search = match (param.search, param.domain) {
                (None, _) => "no".to_string(),
                (Some(_), crate::params::Domain::Choice(_) | crate::params::Domain::Bool) => {
                    "every value".to_string()
                }
                (Some(s), _) => format!(
                    "{} to {}{}",
                    s.min,
                    s.max,
                    if s.log { ", log scale" } else { "" }
                ),
            };
            out.push_str(&format!(
                "| `{}` | {default} | {}{} | {search} | {} |\n",
                param.name,
                param.domain.describe(),
                if param.optional { " (or unset)" } else { "" },
                param.doc.replace('|', "\\|")
            ));
        }
        for rule in entry.rules {
            out.push_str(&format!(
                "\nWith `{}` {}, `{}` is one of {}.\n",
                rule.when,
                rule.is.join(" or "),
                rule.then,
                rule.allowed.join(", ")
            ));
        }
        out.push('\n');
    }
    out
}

/// The algorithm called `name` configured with `params`.
pub fn algorithm(name: &str, params: &Map<String, Value>) -> Result<Box<dyn Algorithm>> {
    (model(name)?.build)(params)
}

/// Decodes a model file's payload by its concrete kind (see [`crate::persist`]).
pub(crate) fn decode_model(kind: &str, bytes: &[u8]) -> Result<Box<dyn crate::Recommender>> {
    use crate::persist::decode;
    match kind {
        "baseline" => decode::<crate::baseline::BaselineModel>(bytes),
        "user-knn" => decode::<crate::knn::UserKnnModel>(bytes),
        "item-knn" => decode::<crate::knn::ItemKnnModel>(bytes),
        "rating-factors" => decode::<crate::rating_mf::RatingFactorModel>(bytes),
        "popular" => decode::<crate::popular::PopularModel>(bytes),
        "als" => decode::<crate::als::AlsModel>(bytes),
        "bpr" => decode::<crate::bpr::BprModel>(bytes),
        "ease" => decode::<crate::ease::EaseModel>(bytes),
        "next-item" => decode::<crate::next_item::NextItemModel>(bytes),
        "buy-again" => decode::<crate::buy_again::BuyAgainModel>(bytes),
        "cooccur" => decode::<crate::cooccur::CooccurModel>(bytes),
        "content" => decode::<crate::content::ContentModel>(bytes),
        "hybrid" => decode::<crate::hybrid::HybridModel>(bytes),
        other => Err(ModelError::Artifact(format!(
            "unknown model kind '{other}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badly_typed_parameter_is_named() {
        let params: Map<String, Value> =
            serde_json::from_str(r#"{"iterations": 3, "factors": -3}"#).unwrap();
        let error = algorithm("als", &params).unwrap_err().to_string();
        assert!(error.contains("factors = -3"), "{error}");
        let params: Map<String, Value> = serde_json::from_str(r#"{"factorz": 3}"#).unwrap();
        let error = algorithm("als", &params).unwrap_err().to_string();
        assert!(error.contains("factorz"), "{error}");
    }

    #[test]
    fn params_json_writes_f32_values_as_given() {
        #[derive(Serialize)]
        struct P {
            rate: f32,
            wide: f64,
            n: usize,
        }
        let json = params_json(&P {
            rate: 0.01,
            wide: 0.1 + 0.2,
            n: 3,
        });
        assert_eq!(
            json.to_string(),
            r#"{"n":3,"rate":0.01,"wide":0.30000000000000004}"#
        );
    }

    #[test]
    fn set_values_are_typed() {
        assert_eq!(parse_value("64"), Value::from(64));
        assert_eq!(parse_value("0.05"), Value::from(0.05));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("cosine"), Value::from("cosine"));
    }

    #[test]
    fn every_spec_declares_exactly_the_fields_of_its_struct_and_the_defaults_fit() {
        for entry in MODELS {
            let defaults = (entry.defaults)();
            let fields: Vec<&String> = defaults.as_object().unwrap().keys().collect();
            let mut declared: Vec<&str> = entry.spec.iter().map(|p| p.name).collect();
            declared.sort_unstable();
            let mut fields: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
            fields.sort_unstable();
            assert_eq!(declared, fields, "{}", entry.name);
            assert_eq!(
                crate::params::check(entry.spec, entry.rules, &defaults),
                Ok(()),
                "{}",
                entry.name
            );
            for param in entry.spec {
                if let (Some(search), crate::params::Domain::Real { min, max, .. }) =
                    (param.search, param.domain)
                {
                    assert!(
                        min <= search.min && search.max <= max,
                        "{}.{}",
                        entry.name,
                        param.name
                    );
                }
            }
            assert!(algorithm(entry.name, &Map::new()).is_ok(), "{}", entry.name);
        }
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = algorithm("nope", &Map::new()).unwrap_err();
        assert!(err.to_string().contains("unknown model 'nope'"));
    }
}
