//! Event types and their implicit weights.
//!
//! The built-in types are `view`, `click`, `add_to_cart`, `purchase` and `rating`; a shop may
//! declare more by giving them a weight. Types are stored as a `u8` index into [`EventTypes`].

use serde::{Deserialize, Serialize};

/// The index of an event type in an [`EventTypes`] table.
pub type Kind = u8;

/// The table of known event types and the implicit weight of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypes {
    names: Vec<String>,
    weights: Vec<f32>,
}

/// Index of `view` in every table: the type of rows without one and without a value.
pub const VIEW: Kind = 0;
/// Index of `purchase` in every table.
pub const PURCHASE: Kind = 3;
/// Index of `rating` in every table (it is always present).
pub const RATING: Kind = 4;
/// Index of `return` in every table: goods sent back (a cancelled order line, a negative
/// quantity). Never a positive signal: it takes back the purchases it returns.
pub const RETURN: Kind = 5;

impl Default for EventTypes {
    /// view 1, click 1, add_to_cart 3, purchase 5, rating (weighs its value), return 0.
    fn default() -> Self {
        EventTypes {
            names: [
                "view",
                "click",
                "add_to_cart",
                "purchase",
                "rating",
                "return",
            ]
            .map(String::from)
            .to_vec(),
            weights: vec![1.0, 1.0, 3.0, 5.0, 1.0, 0.0],
        }
    }
}

impl EventTypes {
    /// Sets the weight of `name`, declaring it if it is not a built-in type. A `return`
    /// always weighs 0: it takes purchases back rather than adding a signal.
    pub fn set_weight(&mut self, name: &str, weight: f32) -> Result<(), String> {
        if self.lookup(name) == Some(RETURN) && weight != 0.0 {
            return Err("a return weighs 0 (it takes back the purchases it returns)".into());
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(format!(
                "the weight of '{name}' must be a finite number >= 0, not {weight}"
            ));
        }
        let name = canonical_name(name);
        if let Some(kind) = self.names.iter().position(|n| *n == name) {
            self.weights[kind] = weight;
            return Ok(());
        }
        if name.is_empty() {
            return Err("an event type name cannot be empty".into());
        }
        if self.names.len() >= usize::from(Kind::MAX) {
            return Err("too many event types (at most 255)".into());
        }
        self.names.push(name);
        self.weights.push(weight);
        Ok(())
    }

    /// The type called `name` (case-insensitive, with common aliases such as `addtocart`,
    /// `cart` and `transaction`), if known.
    pub fn lookup(&self, name: &str) -> Option<Kind> {
        let trimmed = name.trim();
        if let Some(kind) = self.names.iter().position(|n| n == trimmed) {
            return Some(kind as Kind);
        }
        let canonical = canonical_name(trimmed);
        self.names
            .iter()
            .position(|n| *n == canonical)
            .map(|k| k as Kind)
    }

    pub fn name(&self, kind: Kind) -> &str {
        &self.names[usize::from(kind)]
    }

    pub fn weight(&self, kind: Kind) -> f32 {
        self.weights[usize::from(kind)]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// Lower-case, `-`/space to `_`, and the aliases shops commonly log.
fn canonical_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match lower.as_str() {
        "addtocart" | "add_cart" | "cart" | "basket" | "add_to_basket" => "add_to_cart".into(),
        "transaction" | "order" | "buy" | "checkout" => "purchase".into(),
        "pageview" | "page_view" | "detail_view" | "impression_click" => "view".into(),
        "rate" => "rating".into(),
        "refund" | "returned" | "cancel" | "cancellation" | "cancelled" => "return".into(),
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_custom_types() {
        let mut types = EventTypes::default();
        assert_eq!(types.lookup("Add-To-Cart"), Some(2));
        assert_eq!(types.lookup("transaction"), Some(3));
        assert_eq!(types.lookup("wishlist"), None);
        types.set_weight("wishlist", 2.0).unwrap();
        assert_eq!(types.lookup("wishlist"), Some(6));
        assert_eq!(types.weight(6), 2.0);
        assert_eq!(types.lookup("refund"), Some(RETURN));
        assert!(types.set_weight("return", 1.0).is_err());
        assert!(types.set_weight("view", f32::NAN).is_err());
        assert_eq!(types.name(RATING), "rating");
    }
}
