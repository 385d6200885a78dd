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
    let parsed: P = serde_json::from_value(Value::Object(params.clone()))
        .map_err(|e| ModelError::invalid(model, e.to_string()))?;
    parsed
        .check()
        .map_err(|message| ModelError::invalid(model, message))?;
    Ok(parsed)
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
    // <registry names: neighbourhood models>
    // <registry names: implicit models>
    "popular",
    "als",
    "bpr",
    "ease",
    "next-item",
];

/// The algorithm called `name` configured with `params`.
pub fn algorithm(name: &str, params: &Map<String, Value>) -> Result<Box<dyn Algorithm>> {
    #[allow(clippy::match_single_binding)]
    let algorithm: Box<dyn Algorithm> = match name {
        // <registry arms: rating models>
        // <registry arms: neighbourhood models>
        // <registry arms: implicit models>
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

#[cfg(test)]
mod tests {
    use super::*;

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
