//! Integers in JSON bodies as JSON Schema reads them: `5` and `5.0` are the same integer, so
//! both are accepted; `5.5` is not an integer and is refused with the field named.

use serde::de::{Deserializer, Error, Visitor};

/// An optional whole number that fits `T`, given as a JSON integer or an integral float.
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_option(OptionalInteger::<T>(std::marker::PhantomData))
}

struct OptionalInteger<T>(std::marker::PhantomData<T>);

impl<'de, T: TryFrom<i128>> Visitor<'de> for OptionalInteger<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer in range, or null")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer
            .deserialize_any(Integer::<T>(std::marker::PhantomData))
            .map(Some)
    }
}

struct Integer<T>(std::marker::PhantomData<T>);

impl<T: TryFrom<i128>> Integer<T> {
    fn fit<E: Error>(value: i128) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for Integer<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer in range")
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // Past 2^53 a float no longer names one integer; such sizes are out of range anyway.
        if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            Self::fit(v as i128)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::optional_integer")]
        n: Option<u32>,
    }

    #[test]
    fn integral_floats_are_integers() {
        let read = |text: &str| serde_json::from_str::<Body>(text).map(|b| b.n);
        assert_eq!(read(r#"{"n": 5}"#).unwrap(), Some(5));
        assert_eq!(read(r#"{"n": 5.0}"#).unwrap(), Some(5));
        assert_eq!(read(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        assert!(read(r#"{"n": 5.5}"#).is_err());
        assert!(read(r#"{"n": -1}"#).is_err());
        assert!(read(r#"{"n": 1e30}"#).is_err());
        assert!(read(r#"{"n": "5"}"#).is_err());
    }
}
