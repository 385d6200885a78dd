//! Aisle's data layer: everything between a shop's files and a model's input.
//!
//! External string ids are interned to dense `u32` indices ([`IdMap`]); interactions are held
//! as a CSR matrix ([`Interactions`]). Nothing here knows about HTTP, SQL or async.

pub mod generate;
pub mod ids;
pub mod interactions;
pub mod rng;

pub use ids::IdMap;
pub use interactions::{Cell, DuplicatePolicy, Interactions, Row};
pub use rng::Rng;
