//! Baskets (orders): the sets of items bought together, and the `basket:F` protocol that
//! measures how well a model completes one.
//!
//! A basket is the kept lines sharing a basket id (an invoice, an order, a session), guest
//! lines included; returns are not in it. Data without a basket column get baskets by rule:
//! one user's purchases within one UTC day are one basket (id `USER@DAY`).

use std::str::FromStr;

use crate::dataset::{Dataset, GUEST, NO_BASKET};
use crate::event::{PURCHASE, RETURN};
use crate::interactions::{Cell, DuplicatePolicy, Interactions};

const SECONDS_PER_DAY: i64 = 86_400;

/// One basket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    pub id: String,
    /// The smallest timestamp of its lines.
    pub time: i64,
    /// The shopper, or [`GUEST`].
    pub user: u32,
    /// Its distinct items, sorted by index.
    pub items: Vec<u32>,
}

/// Where a dataset's baskets came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketSource {
    /// The file's basket column.
    Column,
    /// No basket column: a user's purchases within one day.
    SameDayPurchases,
}

/// A dataset's baskets, ordered by (time, id).
#[derive(Debug, Clone)]
pub struct Baskets {
    pub baskets: Vec<Basket>,
    pub source: BasketSource,
}

impl Baskets {
    /// The baskets of `data` (see the module's rules).
    pub fn of(data: &Dataset) -> Baskets {
        let lines = || data.events.iter().chain(&data.guest_events);
        let has_column = lines().any(|e| e.basket != NO_BASKET);
        let mut grouped: std::collections::HashMap<String, (i64, u32, Vec<u32>)> =
            std::collections::HashMap::new();
        let source = if has_column {
            for event in lines().filter(|e| e.basket != NO_BASKET && e.kind != RETURN) {
                let id = data.baskets.id(event.basket);
                add(&mut grouped, id, event.timestamp, event.user, event.item);
            }
            BasketSource::Column
        } else {
            for event in lines().filter(|e| e.kind == PURCHASE && e.user != GUEST) {
                let day = event.timestamp.div_euclid(SECONDS_PER_DAY);
                let id = format!("{}@{day}", data.users.id(event.user));
                add(&mut grouped, &id, event.timestamp, event.user, event.item);
            }
            BasketSource::SameDayPurchases
        };
        let mut baskets: Vec<Basket> = grouped
            .into_iter()
            .map(|(id, (time, user, mut items))| {
                items.sort_unstable();
                items.dedup();
                Basket {
                    id,
                    time,
                    user,
                    items,
                }
            })
            .collect();
        baskets.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Baskets { baskets, source }
    }
}

fn add(
    grouped: &mut std::collections::HashMap<String, (i64, u32, Vec<u32>)>,
    id: &str,
    time: i64,
    user: u32,
    item: u32,
) {
    match grouped.get_mut(id) {
        Some((first, _, items)) => {
            *first = (*first).min(time);
            items.push(item);
        }
        None => {
            grouped.insert(id.to_string(), (time, user, vec![item]));
        }
    }
}

/// The basket × item matrix of `baskets` (weight 1 per item), `n_items` columns.
pub fn basket_matrix<'a>(
    baskets: impl IntoIterator<Item = &'a Basket>,
    n_items: usize,
) -> Interactions {
    let mut cells = Vec::new();
    let mut rows = 0u32;
    for basket in baskets {
        cells.extend(basket.items.iter().map(|&item| Cell {
            user: rows,
            item,
            weight: 1.0,
            timestamp: basket.time,
        }));
        rows += 1;
    }
    Interactions::from_sorted_cells(rows as usize, n_items, cells, DuplicatePolicy::Max)
}

/// A set of items as a matrix row of weight 1 each: how a basket is folded into a model.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketRow {
    items: Vec<u32>,
    weights: Vec<f32>,
    timestamps: Vec<i64>,
}

impl BasketRow {
    /// The row of `items` (sorted and deduplicated here).
    pub fn new(mut items: Vec<u32>) -> BasketRow {
        items.sort_unstable();
        items.dedup();
        BasketRow {
            weights: vec![1.0; items.len()],
            timestamps: vec![0; items.len()],
            items,
        }
    }

    pub fn row(&self) -> crate::interactions::Row<'_> {
        crate::interactions::Row {
            items: &self.items,
            weights: &self.weights,
            timestamps: &self.timestamps,
        }
    }
}

/// `basket:F`: the latest fraction `F` of baskets are test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasketProtocol {
    pub fraction: f64,
}

impl FromStr for BasketProtocol {
    type Err = String;

    /// `basket:F`, `0 < F < 1`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fraction = text
            .strip_prefix("basket:")
            .ok_or_else(|| format!("'{text}' is not basket:F"))?;
        fraction
            .parse::<f64>()
            .ok()
            .filter(|f| *f > 0.0 && *f < 1.0)
            .map(|fraction| BasketProtocol { fraction })
            .ok_or_else(|| format!("protocol '{text}': the fraction must be between 0 and 1"))
    }
}

impl std::fmt::Display for BasketProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "basket:{}", self.fraction)
    }
}

/// One test basket: complete `given` (sorted); `hidden` is the one relevant item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketCase {
    pub given: Vec<u32>,
    pub hidden: u32,
}

/// The split and test cases of `basket:F` over baskets ordered by (time, id).
#[derive(Debug, Clone)]
pub struct BasketSplit {
    /// The first baskets: what models train on.
    pub train: Interactions,
    /// Items in a training basket: the only ones ranked.
    pub known: Vec<bool>,
    pub cases: Vec<BasketCase>,
    /// Test baskets with fewer than two known items, not evaluated.
    pub skipped: usize,
    pub test_baskets: usize,
}

impl BasketProtocol {
    /// Splits `baskets` (ordered by (time, id)): the last ⌈F · n⌉ are test. In each test
    /// basket, of its distinct known items (skipped when fewer than 2) the greatest id by
    /// string comparison (`item_id`) is hidden and the others given.
    pub fn split<'a>(
        &self,
        baskets: &[Basket],
        n_items: usize,
        item_id: impl Fn(u32) -> &'a str,
    ) -> BasketSplit {
        let n_test = ((self.fraction * baskets.len() as f64).ceil() as usize).min(baskets.len());
        let (train, test) = baskets.split_at(baskets.len() - n_test);
        let train = basket_matrix(train, n_items);
        let mut known = vec![false; n_items];
        for row in 0..train.n_users() as u32 {
            for &item in train.row(row).items {
                known[item as usize] = true;
            }
        }
        let mut cases = Vec::new();
        let mut skipped = 0;
        for basket in test {
            let mut items: Vec<u32> = basket
                .items
                .iter()
                .copied()
                .filter(|&i| known[i as usize])
                .collect();
            if items.len() < 2 {
                skipped += 1;
                continue;
            }
            let at = (0..items.len())
                .max_by(|&a, &b| item_id(items[a]).cmp(item_id(items[b])))
                .expect("two items or more");
            let hidden = items.remove(at);
            cases.push(BasketCase {
                given: items,
                hidden,
            });
        }
        BasketSplit {
            train,
            known,
            cases,
            skipped,
            test_baskets: test.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basket(id: &str, time: i64, items: &[u32]) -> Basket {
        Basket {
            id: id.into(),
            time,
            user: GUEST,
            items: items.to_vec(),
        }
    }

    #[test]
    fn the_latest_baskets_are_test_and_the_greatest_id_is_hidden() {
        // Item ids: 0 "b", 1 "a", 2 "c", 3 "d" (3 is never in a training basket).
        let ids = ["b", "a", "c", "d"];
        let baskets = vec![
            basket("o1", 10, &[0, 1]),
            basket("o2", 20, &[1, 2]),
            basket("o3", 30, &[0]),
            // Test (ceil(0.4 · 5) = 2): the last two by (time, id).
            basket("o4", 40, &[0, 1, 2, 3]),
            basket("o5", 40, &[1, 3]),
        ];
        let split = BasketProtocol { fraction: 0.4 }.split(&baskets, 4, |i| ids[i as usize]);
        assert_eq!(split.train.n_users(), 3);
        assert_eq!(split.known, vec![true, true, true, false]);
        assert_eq!(split.test_baskets, 2);
        // o4: known items b, a, c; "c" (2) is the greatest id; "d" is unknown.
        assert_eq!(
            split.cases,
            vec![BasketCase {
                given: vec![0, 1],
                hidden: 2
            }]
        );
        // o5: one known item.
        assert_eq!(split.skipped, 1);
    }

    #[test]
    fn the_protocol_reads_and_prints_as_written() {
        let p: BasketProtocol = "basket:0.1".parse().unwrap();
        assert_eq!(p.fraction, 0.1);
        assert_eq!(p.to_string(), "basket:0.1");
        assert!("basket:1".parse::<BasketProtocol>().is_err());
        assert!("temporal:0.1".parse::<BasketProtocol>().is_err());
    }
}
