//! A model's search space: its searched hyper-parameters (the ranges declared beside each
//! parameter struct, [`aisle_models::ParamSpec::search`]) and the weightings worth trying,
//! mapped to and from points of the unit cube, where the search works.
//!
//! Each dimension of a point is a number in `[0, 1)`: a numeric parameter is the position in
//! its range (in the logarithm for a log range), an integer rounded after mapping; a choice,
//! a boolean and the weighting pick the `⌊u·n⌋`-th of their `n` values. Points come from a
//! scrambled Halton sequence, which covers the cube more evenly than independent draws.

use aisle_data::Weighting;
use aisle_models::{Domain, ParamSpec, Search};
use serde_json::{Map, Value, json};

use crate::tune::rng_for;

/// One dimension of a space.
#[derive(Debug, Clone)]
enum Dim {
    Param {
        spec: &'static ParamSpec,
        search: Search,
    },
    Weighting(Vec<Weighting>),
}

/// What a search may change about one model.
#[derive(Debug, Clone)]
pub struct Space {
    dims: Vec<Dim>,
    /// The parameter that sets the training budget (iterations, epochs), if the model has
    /// one, with its default.
    pub fidelity: Option<(&'static str, i64)>,
}

/// A point decoded: the weighting and the searched parameters' values.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub weighting: Weighting,
    pub params: Map<String, Value>,
}

impl Space {
    /// The space of a model with parameters `spec` and defaults `defaults`, trying
    /// `weightings` (the first is the default; one alone is not a dimension).
    pub fn new(spec: &'static [ParamSpec], defaults: &Value, weightings: Vec<Weighting>) -> Self {
        let mut dims: Vec<Dim> = spec
            .iter()
            .filter_map(|p| p.search.map(|search| Dim::Param { spec: p, search }))
            .collect();
        if weightings.len() > 1 {
            dims.push(Dim::Weighting(weightings));
        }
        let fidelity = spec
            .iter()
            .find(|p| p.fidelity)
            .and_then(|p| Some((p.name, defaults.get(p.name)?.as_i64()?)));
        Space { dims, fidelity }
    }

    /// How many dimensions the search moves in.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// Which dimensions take one of a few values (choices, booleans, the weighting): a
    /// local search jumps between their values instead of nudging them.
    pub fn categorical(&self) -> Vec<bool> {
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Weighting(_) => true,
                Dim::Param { spec, .. } => matches!(spec.domain, Domain::Choice(_) | Domain::Bool),
            })
            .collect()
    }

    /// How many values categorical dimension `d` takes (0 for a numeric one).
    pub fn choices(&self, d: usize) -> usize {
        match &self.dims[d] {
            Dim::Weighting(options) => options.len(),
            Dim::Param { spec, .. } => match spec.domain {
                Domain::Choice(names) => names.len(),
                Domain::Bool => 2,
                _ => 0,
            },
        }
    }

    /// The candidate at `point` (one coordinate in `[0, 1)` per dimension); `default`
    /// gives the weighting when it is not searched.
    pub fn decode(&self, point: &[f64], default: Weighting) -> Candidate {
        let mut candidate = Candidate {
            weighting: default,
            params: Map::new(),
        };
        for (dim, &u) in self.dims.iter().zip(point) {
            let u = u.clamp(0.0, 1.0 - 1e-12);
            match dim {
                Dim::Weighting(options) => {
                    candidate.weighting = options[(u * options.len() as f64) as usize];
                }
                Dim::Param { spec, search } => {
                    candidate
                        .params
                        .insert(spec.name.to_string(), value_at(spec, search, u));
                }
            }
        }
        candidate
    }

    /// The point of a candidate: each searched parameter's position in its range (values
    /// outside it clamped), the weighting's place among those tried. Parameters `params`
    /// leaves out sit at `defaults`' value.
    pub fn encode(&self, candidate: &Candidate, defaults: &Value) -> Vec<f64> {
        self.dims
            .iter()
            .map(|dim| match dim {
                Dim::Weighting(options) => {
                    let index = options
                        .iter()
                        .position(|w| *w == candidate.weighting)
                        .unwrap_or(0);
                    (index as f64 + 0.5) / options.len() as f64
                }
                Dim::Param { spec, search } => {
                    let value = candidate
                        .params
                        .get(spec.name)
                        .or_else(|| defaults.get(spec.name))
                        .cloned()
                        .unwrap_or(Value::Null);
                    position_of(spec, search, &value)
                }
            })
            .collect()
    }
}

/// The value of a parameter at position `u` of its search range.
fn value_at(spec: &ParamSpec, search: &Search, u: f64) -> Value {
    match spec.domain {
        Domain::Choice(names) => json!(names[(u * names.len() as f64) as usize]),
        Domain::Bool => json!(u >= 0.5),
        Domain::Int { min, max } => {
            let x = along(search, u).round() as i64;
            json!(x.clamp(min, max))
        }
        Domain::Real { .. } => json!(round_to_significant(along(search, u), 4)),
    }
}

/// The position of `value` in a parameter's search range, clamped to `[0, 1)`.
fn position_of(spec: &ParamSpec, search: &Search, value: &Value) -> f64 {
    let u = match spec.domain {
        Domain::Choice(names) => {
            let index = value
                .as_str()
                .and_then(|v| names.iter().position(|n| *n == v))
                .unwrap_or(0);
            (index as f64 + 0.5) / names.len() as f64
        }
        Domain::Bool => {
            if value.as_bool() == Some(true) {
                0.75
            } else {
                0.25
            }
        }
        Domain::Int { .. } | Domain::Real { .. } => match value.as_f64() {
            Some(x) if search.log && x > 0.0 => {
                (x.ln() - search.min.ln()) / (search.max.ln() - search.min.ln())
            }
            Some(x) if !search.log => (x - search.min) / (search.max - search.min),
            // Unset (decided from the data) or 0 on a log range: the middle.
            _ => 0.5,
        },
    };
    u.clamp(0.0, 1.0 - 1e-9)
}

/// `u` of the way along a range, linearly or in the logarithm.
fn along(search: &Search, u: f64) -> f64 {
    if search.log {
        (search.min.ln() + u * (search.max.ln() - search.min.ln())).exp()
    } else {
        search.min + u * (search.max - search.min)
    }
}

/// `x` to `digits` significant digits: the values a person would write down.
fn round_to_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The first primes: the bases of the Halton sequence's dimensions.
const PRIMES: [u64; 24] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
];

/// Points of a Halton sequence in `dims` dimensions, each dimension shifted by a random
/// offset (modulo 1) drawn from `seed`: evenly spread, and different for another seed.
#[derive(Debug, Clone)]
pub struct Halton {
    shifts: Vec<f64>,
    next: u64,
}

impl Halton {
    pub fn new(dims: usize, seed: u64) -> Self {
        let mut rng = rng_for(seed, 11);
        Halton {
            shifts: (0..dims).map(|_| rng.f64()).collect(),
            // Index 0 is the origin in every base: start past it.
            next: 1,
        }
    }
}

impl Iterator for Halton {
    type Item = Vec<f64>;

    fn next(&mut self) -> Option<Vec<f64>> {
        let index = self.next;
        self.next += 1;
        Some(
            self.shifts
                .iter()
                .enumerate()
                .map(|(d, shift)| {
                    let base = PRIMES[d % PRIMES.len()];
                    // Dimensions past the primes reuse a base with another shift: still fine.
                    (radical_inverse(index, base) + shift).fract()
                })
                .collect(),
        )
    }
}

/// `index` written in `base`, digits mirrored after the point.
fn radical_inverse(mut index: u64, base: u64) -> f64 {
    let (mut result, mut scale) = (0.0, 1.0 / base as f64);
    while index > 0 {
        result += (index % base) as f64 * scale;
        index /= base;
        scale /= base as f64;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_through_candidates() {
        let entry = aisle_models::model("als").unwrap();
        let defaults = (entry.defaults)();
        let space = Space::new(
            entry.spec,
            &defaults,
            vec![Weighting::Binary, Weighting::Counts],
        );
        assert_eq!(space.fidelity, Some(("iterations", 15)));
        // factors, regularization, regularization_exponent, alpha, negative_exponent, and
        // the weighting.
        assert_eq!(space.len(), 6);
        for point in Halton::new(space.len(), 3).take(50) {
            let candidate = space.decode(&point, Weighting::Binary);
            let again = space.decode(&space.encode(&candidate, &defaults), Weighting::Binary);
            assert_eq!(again.weighting, candidate.weighting);
            for (key, value) in &candidate.params {
                let (a, b) = (value.as_f64().unwrap(), again.params[key].as_f64().unwrap());
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs().max(1.0),
                    "{key}: {a} vs {b}"
                );
            }
            // Every decoded candidate is a valid parameter set.
            aisle_models::algorithm("als", &candidate.params).unwrap();
        }
    }

    #[test]
    fn halton_points_fill_the_cube_evenly() {
        let points: Vec<Vec<f64>> = Halton::new(2, 9).take(64).collect();
        // Every cell of a 4 × 4 grid holds some of the 64 points (independent draws leave
        // a cell empty about a third of the time).
        for a in 0..4 {
            for b in 0..4 {
                let inside = points
                    .iter()
                    .filter(|p| (p[0] * 4.0) as usize == a && (p[1] * 4.0) as usize == b)
                    .count();
                assert!(inside >= 2, "cell ({a}, {b}) has {inside}");
            }
        }
    }
}
