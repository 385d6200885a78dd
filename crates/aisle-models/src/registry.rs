//! Models by name: turns `--model NAME --set key=value` into a validated [`Algorithm`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ModelError, Result};
use crate::recommender::Algorithm;

/// Hyper-parameters of one algorithm: serde with defaults, checked before training.
pub trait Params: Default + Serialize + DeserializeOwned + std::fmt::Debug {
    /// Explains the first out-of-range value, if any.
    fn check(&self) -> std::result::Result<(), String>;
}

/// Parses `params` (missing keys take defaults; unknown keys are an error) and checks them.
pub fn parse_params<P: Params>(model: &str, params: &Map<String, Value>) -> Result<P> {
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

/// Every model name the registry knows, in the order the docs list them.
pub const MODEL_NAMES: &[&str] = &[
    // <registry names: rating models>
    // rating models
    "baseline",
    "svd",
    "svdpp",
    "bpmf",
    // neighbourhood models
    "user-knn",
    "item-knn",
    // implicit-feedback models
    "popular",
    "als",
    "bpr",
    "ease",
    "next-item",
];

/// The algorithm called `name` configured with `params`.
pub fn algorithm(name: &str, params: &Map<String, Value>) -> Result<Box<dyn Algorithm>> {
    let algorithm: Box<dyn Algorithm> = match name {
        // rating models
        "svd" => Box::new(crate::svd::Svd::new(parse_params(name, params)?)?),
        "svdpp" => Box::new(crate::svdpp::Svdpp::new(parse_params(name, params)?)?),
        "bpmf" => Box::new(crate::bpmf::Bpmf::new(parse_params(name, params)?)?),
        // neighbourhood models
        "baseline" => Box::new(crate::baseline::Baseline {
            params: parse_params(name, params)?,
        }),
        "user-knn" => Box::new(crate::knn::UserKnn::new(parse_params(name, params)?)?),
        "item-knn" => Box::new(crate::knn::ItemKnn::new(parse_params(name, params)?)?),
        // implicit-feedback models
        "popular" => Box::new(crate::popular::Popular::new(parse_params(name, params)?)),
        "als" => Box::new(crate::als::Als::new(parse_params(name, params)?)),
        "bpr" => Box::new(crate::bpr::Bpr::new(parse_params(name, params)?)),
        "ease" => Box::new(crate::ease::Ease::new(parse_params(name, params)?)),
        "next-item" => Box::new(crate::next_item::NextItem::new(parse_params(name, params)?)),
        _ => {
            return Err(ModelError::UnknownModel {
                name: name.to_string(),
                known: MODEL_NAMES.join(", "),
            });
        }
    };
    Ok(algorithm)
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
    fn unknown_model_lists_the_known_ones() {
        let err = algorithm("nope", &Map::new()).unwrap_err();
        assert!(err.to_string().contains("unknown model 'nope'"));
    }
}
