//! How events become matrix weights: the weightings, the choice `auto` makes from the data
//! (and says why), and the merging of a user–item pair's events into one cell — where returns
//! take back the purchases they return.
//!
//! Per pair, with `t(k)` a type's weight and `t_max` the largest in the table:
//! - `ratings`: the latest rating (pairs without one have no cell);
//! - `binary`: 1 when the pair has any event other than a return, purchases counting only
//!   while they are not all returned;
//! - `implicit`: the sum of the events' type weights, each return cancelling one purchase;
//! - `counts`: `log2(1 + c)`, `c = Σ units · t(k) / t_max` over the events, a unit being the
//!   quantity (a rating's value, read as a count: plays, listens), returned units taken off
//!   the purchased ones; one unit of the strongest type weighs 1, and every doubling adds 1.

use serde::{Deserialize, Serialize};

use crate::event::{EventTypes, Kind, PURCHASE, RATING, RETURN};
use crate::interactions::{Cell, DuplicatePolicy, Interactions};

/// How events become matrix weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Decided from the data; see [`decide`].
    #[default]
    Auto,
    /// Only rating events, weighted by their value; repeated ratings: the latest wins.
    Ratings,
    /// Every event weighted by its type's weight; repeated pairs add up.
    Implicit,
    /// Every (user, item) pair with any event weighs 1.
    Binary,
    /// Confidence grows with the logarithm of the summed count (quantities, plays).
    Counts,
}

impl std::str::FromStr for Weighting {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Weighting::Auto),
            "ratings" | "rating" => Ok(Weighting::Ratings),
            "implicit" => Ok(Weighting::Implicit),
            "binary" => Ok(Weighting::Binary),
            "counts" | "count" => Ok(Weighting::Counts),
            other => Err(format!(
                "unknown weighting '{other}' (expected auto, ratings, implicit, binary or counts)"
            )),
        }
    }
}

impl std::fmt::Display for Weighting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weighting::Auto => "auto",
            Weighting::Ratings => "ratings",
            Weighting::Implicit => "implicit",
            Weighting::Binary => "binary",
            Weighting::Counts => "counts",
        })
    }
}

impl Weighting {
    /// The weight of one event on its own under this (resolved) weighting — for merging by
    /// an explicit [`DuplicatePolicy`] — or `None` when the event does not count (a
    /// non-rating under `Ratings`, a return).
    pub fn weight(self, kind: Kind, value: f32, quantity: f32, types: &EventTypes) -> Option<f32> {
        if kind == RETURN {
            return None;
        }
        match self {
            Weighting::Ratings => (kind == RATING).then_some(value),
            Weighting::Binary => Some(1.0),
            Weighting::Implicit | Weighting::Auto => Some(types.weight(kind)),
            Weighting::Counts => {
                let units = units(kind, value, quantity);
                Some((1.0 + units * type_share(kind, types)).log2())
            }
        }
    }

    /// How repeated events of one (user, item) pair merge under an explicit policy's default.
    pub fn duplicate_policy(self) -> DuplicatePolicy {
        match self {
            Weighting::Ratings => DuplicatePolicy::Last,
            Weighting::Binary => DuplicatePolicy::Max,
            Weighting::Implicit | Weighting::Auto | Weighting::Counts => DuplicatePolicy::Sum,
        }
    }
}

/// A count's units: the quantity, or a rating's value read as a count.
fn units(kind: Kind, value: f32, quantity: f32) -> f32 {
    if kind == RATING {
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    } else {
        quantity
    }
}

/// A type's weight as a share of the strongest type's; a rating (read as a count) is a full
/// unit.
fn type_share(kind: Kind, types: &EventTypes) -> f32 {
    if kind == RATING {
        return 1.0;
    }
    let max = (0..types.len() as Kind)
        .filter(|&k| k != RATING)
        .map(|k| types.weight(k))
        .fold(0.0f32, f32::max);
    if max > 0.0 {
        types.weight(kind) / max
    } else {
        0.0
    }
}

/// The events of one user–item pair, gathered to become one cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairEvents {
    /// The latest rating's value.
    rating: Option<f32>,
    /// Type weights and share-weighted units of events other than purchases and returns.
    other_weight: f32,
    other_units: f32,
    has_other: bool,
    purchases: u32,
    purchased_units: f32,
    returns: u32,
    returned_units: f32,
    /// The latest timestamp of an event that counts (not a return).
    pub timestamp: i64,
}

impl PairEvents {
    /// Adds an event; events are added oldest first.
    pub fn add(
        &mut self,
        kind: Kind,
        value: f32,
        quantity: f32,
        timestamp: i64,
        types: &EventTypes,
    ) {
        match kind {
            RETURN => {
                self.returns += 1;
                self.returned_units += quantity;
                return;
            }
            PURCHASE => {
                self.purchases += 1;
                self.purchased_units += quantity;
            }
            _ => {
                if kind == RATING && value.is_finite() {
                    self.rating = Some(value);
                }
                self.has_other = true;
                self.other_weight += types.weight(kind);
                self.other_units += units(kind, value, quantity) * type_share(kind, types);
            }
        }
        self.timestamp = self.timestamp.max(timestamp);
    }

    /// The cell's weight, or `None` when the pair has no cell under `weighting` (no rating;
    /// nothing but returned purchases).
    pub fn weight(&self, weighting: Weighting, types: &EventTypes) -> Option<f32> {
        let net_units = (self.purchased_units - self.returned_units).max(0.0);
        let kept_purchases = if net_units > 0.0 {
            self.purchases.saturating_sub(self.returns).max(1)
        } else {
            0
        };
        let signal = self.has_other || kept_purchases > 0;
        match weighting {
            Weighting::Ratings => self.rating,
            Weighting::Binary => signal.then_some(1.0),
            Weighting::Implicit | Weighting::Auto => {
                signal.then(|| self.other_weight + kept_purchases as f32 * types.weight(PURCHASE))
            }
            Weighting::Counts => {
                let c = self.other_units + net_units * type_share(PURCHASE, types);
                (signal && c > 0.0).then(|| (1.0 + c).log2())
            }
        }
    }
}

/// An event as a weighting sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighed {
    pub user: u32,
    pub item: u32,
    pub kind: Kind,
    /// NaN when none.
    pub value: f32,
    pub quantity: f32,
    pub timestamp: i64,
}

/// The matrix of events sorted by (user, item, timestamp), each pair's events merged into one
/// cell as this module says.
pub fn matrix_from_sorted(
    n_users: usize,
    n_items: usize,
    events: impl IntoIterator<Item = Weighed>,
    weighting: Weighting,
    types: &EventTypes,
) -> Interactions {
    let mut events = events.into_iter().peekable();
    let cells = std::iter::from_fn(move || {
        loop {
            let first = events.next()?;
            let mut pair = PairEvents::default();
            pair.add(
                first.kind,
                first.value,
                first.quantity,
                first.timestamp,
                types,
            );
            while let Some(next) = events.next_if(|e| (e.user, e.item) == (first.user, first.item))
            {
                pair.add(next.kind, next.value, next.quantity, next.timestamp, types);
            }
            if let Some(weight) = pair.weight(weighting, types) {
                return Some(Cell {
                    user: first.user,
                    item: first.item,
                    weight,
                    timestamp: pair.timestamp,
                });
            }
        }
    });
    Interactions::from_sorted_cells(n_users, n_items, cells, DuplicatePolicy::Last)
}

/// [`matrix_from_sorted`] for events in any order.
pub fn matrix(
    n_users: usize,
    n_items: usize,
    mut events: Vec<Weighed>,
    weighting: Weighting,
    types: &EventTypes,
) -> Interactions {
    // Stable: events of one pair and time keep their order (the later row wins a rating).
    if events.len() < 4_096 {
        events.sort_by_key(|e| (e.user, e.item, e.timestamp));
    } else {
        use rayon::prelude::*;
        events.par_sort_by_key(|e| (e.user, e.item, e.timestamp));
    }
    matrix_from_sorted(n_users, n_items, events, weighting, types)
}

/// What `auto` chose and why, in a sentence for the output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Choice {
    pub weighting: Weighting,
    pub reason: String,
    /// Weightings the data's shape cannot tell apart, the chosen one first: a caller that can
    /// train models settles them on a validation split (`aisle_eval::tune::settle`). Empty
    /// when the shape decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contenders: Vec<Weighting>,
}

/// What the events of a dataset look like, for [`decide`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// The file was read as order lines.
    pub transactions: bool,
    /// Events of each kind.
    pub ratings: u64,
    pub others: u64,
    /// Events whose quantity is not 1.
    pub varied_quantities: u64,
    /// Every event is a view: the type of rows of a file without a type column.
    pub views_only: bool,
    /// Every event is a purchase or a return (and there are purchases): order lines in an
    /// events file, such as the one `aisle clean` writes from an order export.
    pub purchases_only: bool,
    /// Over the ratings' values: whether all are whole numbers, the smallest, the largest,
    /// the median and how many distinct values there are (up to 1,000).
    pub all_whole: bool,
    pub min: f32,
    pub max: f32,
    pub median: f32,
    pub distinct: usize,
    /// A rating scale was declared (`--rating-scale`).
    pub declared_scale: bool,
}

/// The most distinct values a rating scale has (0.5 steps from 0 to 10).
pub const SCALE_VALUES: usize = 21;

/// Whether values from `min` to `max`, `distinct` of them, sit on a rating scale: a scale
/// was declared, or at most [`SCALE_VALUES`] distinct values between 0 and 10.
pub fn on_a_rating_scale(declared: bool, min: f32, max: f32, distinct: usize) -> bool {
    declared || (min >= 0.0 && max <= 10.0 && distinct <= SCALE_VALUES)
}

/// The weighting `auto` uses for data of this shape:
/// - order lines (a transactions file, or events that are all purchases and returns):
///   `binary`. A line is one purchase decision; its quantity measures the pack
///   size and the buyer's scale (a wholesaler buys 48 of what a household buys 1 of) more
///   than preference. On Online Retail every form of count weighting we tried — log units,
///   log orders, per-user scaled — ranked new items worse than `binary` with ALS and EASE
///   (docs/evaluation.md has the figures);
/// - only ratings (no event types): `ratings` when the values sit on a rating scale (a
///   declared scale, or at most 21 distinct values between 0 and 10), `counts` when they are
///   whole numbers beyond one: play counts and listens, where playing an item more often
///   *is* liking it more;
/// - events without types (all views: no type column) whose quantities vary: `counts`, the
///   same play counts in a `plays`/`count` column;
/// - otherwise (events of types, with or without quantities): `implicit`, each type's
///   weight, repeats adding up; quantities are not read as confidence, for the order-line
///   reason above.
pub fn decide(shape: &Shape) -> Choice {
    let choice = |weighting, reason: String| Choice {
        weighting,
        reason,
        contenders: Vec::new(),
    };
    // Counts: the right confidence on plays in the planted shops, but on some real play
    // counts plain presence ranks better; a validation split settles it.
    let counts = |reason: String| Choice {
        weighting: Weighting::Counts,
        reason,
        contenders: vec![Weighting::Counts, Weighting::Binary],
    };
    if shape.transactions || shape.purchases_only {
        let what = if shape.transactions {
            "order lines"
        } else {
            "only purchases (and returns)"
        };
        return choice(
            Weighting::Binary,
            format!(
                "{what}: an item bought (and not all returned) weighs 1 — quantities and \
                 repeat orders measure pack sizes and the buyer's scale more than preference; \
                 --weighting counts or implicit reads them"
            ),
        );
    }
    if shape.ratings > 0 && shape.others == 0 {
        let on_a_scale =
            on_a_rating_scale(shape.declared_scale, shape.min, shape.max, shape.distinct);
        return if on_a_scale || !shape.all_whole || shape.min < 0.0 {
            choice(
                Weighting::Ratings,
                format!(
                    "every event is a rating on a scale ({} to {}, {} distinct values)",
                    shape.min, shape.max, shape.distinct
                ),
            )
        } else {
            counts(format!(
                "the values are counts, not ratings: whole numbers from {} to {} (median {}, {} \
                 distinct); --weighting ratings reads them as ratings",
                shape.min, shape.max, shape.median, shape.distinct
            ))
        };
    }
    if shape.views_only && shape.varied_quantities > 0 {
        return counts(format!(
            "events without types carry counts ({} of them not 1: plays, listens): confidence \
             grows with the logarithm of the count",
            shape.varied_quantities
        ));
    }
    let quantities = if shape.varied_quantities > 0 {
        format!(
            "; the quantities of {} events are not read as confidence (--weighting counts \
             reads them)",
            shape.varied_quantities
        )
    } else {
        String::new()
    };
    choice(
        Weighting::Implicit,
        format!(
            "events of types: each weighs its type's weight (view 1, add_to_cart 3, purchase \
             5), repeats adding up{quantities}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(events: &[(Kind, f32, f32)]) -> PairEvents {
        let types = EventTypes::default();
        let mut pair = PairEvents::default();
        for (t, &(kind, value, quantity)) in events.iter().enumerate() {
            pair.add(kind, value, quantity, t as i64, &types);
        }
        pair
    }

    #[test]
    fn returns_take_back_what_they_return() {
        let types = EventTypes::default();
        let all_back = pair(&[(PURCHASE, f32::NAN, 3.0), (RETURN, f32::NAN, 3.0)]);
        for w in [Weighting::Binary, Weighting::Implicit, Weighting::Counts] {
            assert_eq!(all_back.weight(w, &types), None, "{w}");
        }
        // Bought 3, returned 1: still bought, 2 units.
        let some_back = pair(&[(PURCHASE, f32::NAN, 3.0), (RETURN, f32::NAN, 1.0)]);
        assert_eq!(some_back.weight(Weighting::Binary, &types), Some(1.0));
        assert_eq!(
            some_back.weight(Weighting::Counts, &types),
            Some(3f32.log2())
        );
        assert_eq!(some_back.weight(Weighting::Implicit, &types), Some(5.0));
        // A view stays a signal even when the purchase went back.
        let viewed = pair(&[
            (0, f32::NAN, 1.0),
            (PURCHASE, f32::NAN, 1.0),
            (RETURN, f32::NAN, 1.0),
        ]);
        assert_eq!(viewed.weight(Weighting::Implicit, &types), Some(1.0));
        assert_eq!(
            viewed.weight(Weighting::Counts, &types),
            Some(1.2f32.log2())
        );
    }

    #[test]
    fn counts_grow_with_the_logarithm() {
        let types = EventTypes::default();
        let w = |q: f32| pair(&[(PURCHASE, f32::NAN, q)]).weight(Weighting::Counts, &types);
        assert_eq!(w(1.0), Some(1.0));
        assert_eq!(w(3.0), Some(2.0));
        assert_eq!(w(7.0), Some(3.0));
        // A rating's value read as a count (plays).
        let plays = pair(&[(RATING, 15.0, 1.0)]);
        assert_eq!(plays.weight(Weighting::Counts, &types), Some(4.0));
        assert_eq!(plays.weight(Weighting::Ratings, &types), Some(15.0));
    }

    #[test]
    fn auto_reads_the_shape_of_the_data() {
        let ratings = Shape {
            ratings: 100,
            all_whole: true,
            min: 1.0,
            max: 5.0,
            median: 4.0,
            distinct: 5,
            ..Shape::default()
        };
        assert_eq!(decide(&ratings).weighting, Weighting::Ratings);
        let plays = Shape {
            max: 80_995.0,
            median: 12.0,
            distinct: 400,
            ..ratings
        };
        let choice = decide(&plays);
        assert_eq!(choice.weighting, Weighting::Counts);
        assert!(
            choice.reason.contains("counts, not ratings"),
            "{}",
            choice.reason
        );
        let half_stars = Shape {
            all_whole: false,
            ..plays
        };
        assert_eq!(decide(&half_stars).weighting, Weighting::Ratings);
        let orders = Shape {
            transactions: true,
            ..Shape::default()
        };
        assert_eq!(decide(&orders).weighting, Weighting::Binary);
        let purchases = Shape {
            others: 10,
            purchases_only: true,
            ..Shape::default()
        };
        assert_eq!(decide(&purchases).weighting, Weighting::Binary);
        let events = Shape {
            others: 10,
            ..Shape::default()
        };
        assert_eq!(decide(&events).weighting, Weighting::Implicit);
        let play_counts = Shape {
            varied_quantities: 4,
            views_only: true,
            ..events
        };
        assert_eq!(decide(&play_counts).weighting, Weighting::Counts);
        let events_with_quantities = Shape {
            varied_quantities: 4,
            ..events
        };
        let choice = decide(&events_with_quantities);
        assert_eq!(choice.weighting, Weighting::Implicit);
        assert!(
            choice.reason.contains("not read as confidence"),
            "{}",
            choice.reason
        );
    }
}
