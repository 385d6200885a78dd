//! Train/test splits for offline evaluation, deterministic for a seed.
//!
//! Splits work on matrix cells (one per user–item pair), so a pair is never both trained on
//! and tested. Random choices use the stable hash
//! `h(u, i) = splitmix64(splitmix64(seed) XOR ((u << 32) | i))` over dense indices — the hash
//! of the shared MovieLens split files — so a split does not depend on row order or thread
//! count.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::interactions::{Cell, Interactions};
use crate::rng::pair_hash;

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Protocol {
    /// A random fraction of all cells goes to test.
    Random { fraction: f64 },
    /// Per user, `floor(n · fraction)` of their cells (by hash order) go to test.
    UserHoldout { fraction: f64 },
    /// The globally latest fraction of cells (by timestamp) goes to test.
    Temporal { fraction: f64 },
    /// Each user's latest cell (greatest (timestamp, item)) goes to test, for users with at
    /// least two cells.
    LeaveLast,
    /// Cells are dealt into `folds` folds by hash; each fold is a test set once.
    KFold { folds: usize },
}

impl FromStr for Protocol {
    type Err = String;

    /// `random:F`, `user-holdout:F`, `temporal:F`, `leave-last`, `kfold:K`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, argument) = match text.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let fraction = || -> Result<f64, String> {
            let a = argument
                .ok_or_else(|| format!("protocol '{name}' needs a fraction, e.g. {name}:0.2"))?;
            a.parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0 && *f < 1.0)
                .ok_or_else(|| format!("protocol '{text}': the fraction must be between 0 and 1"))
        };
        match name {
            "random" => Ok(Protocol::Random {
                fraction: fraction()?,
            }),
            "user-holdout" | "user_holdout" | "holdout" => Ok(Protocol::UserHoldout {
                fraction: fraction()?,
            }),
            "temporal" => Ok(Protocol::Temporal {
                fraction: fraction()?,
            }),
            "leave-last" | "leave_last" | "loo" => Ok(Protocol::LeaveLast),
            "kfold" | "k-fold" => {
                let folds = argument
                    .unwrap_or("5")
                    .parse::<usize>()
                    .ok()
                    .filter(|k| *k >= 2)
                    .ok_or_else(|| format!("protocol '{text}': K must be an integer >= 2"))?;
                Ok(Protocol::KFold { folds })
            }
            _ => Err(format!(
                "unknown protocol '{text}' (expected random:F, user-holdout:F, temporal:F, leave-last or kfold:K)"
            )),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::Random { fraction } => write!(f, "random:{fraction}"),
            Protocol::UserHoldout { fraction } => write!(f, "user-holdout:{fraction}"),
            Protocol::Temporal { fraction } => write!(f, "temporal:{fraction}"),
            Protocol::LeaveLast => f.write_str("leave-last"),
            Protocol::KFold { folds } => write!(f, "kfold:{folds}"),
        }
    }
}

/// A training and a test matrix of the same shape with no cell in common.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Interactions,
    pub test: Interactions,
}

impl Split {
    /// Divides `data` by a predicate on cells: `true` goes to test.
    pub fn by(data: &Interactions, mut to_test: impl FnMut(&Cell) -> bool) -> Split {
        let mut test_marks = Vec::with_capacity(data.nnz());
        let test = data.filter(|c| {
            let t = to_test(c);
            test_marks.push(t);
            t
        });
        let mut k = 0;
        let train = data.filter(|_| {
            let t = test_marks[k];
            k += 1;
            !t
        });
        Split { train, test }
    }
}

/// Splits `data` by `protocol`; one split, or `K` for k-fold.
pub fn split(data: &Interactions, protocol: Protocol, seed: u64) -> Vec<Split> {
    let hash = |c: &Cell| pair_hash(seed, c.user, c.item);
    match protocol {
        Protocol::Random { fraction } => {
            let threshold = (fraction * u64::MAX as f64) as u64;
            vec![Split::by(data, |c| hash(c) < threshold)]
        }
        Protocol::UserHoldout { fraction } => {
            // Per row: the cells with the smallest (hash, item) go to test.
            let mut test_cells = vec![false; data.nnz()];
            for u in 0..data.n_users() {
                let row = data.row(u as u32);
                let n_test = (row.len() as f64 * fraction).floor() as usize;
                if n_test == 0 {
                    continue;
                }
                let mut order: Vec<(u64, u32, usize)> = row
                    .items
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| (pair_hash(seed, u as u32, i), i, k))
                    .collect();
                order.sort_unstable();
                let base = data.indptr()[u];
                for &(_, _, k) in &order[..n_test] {
                    test_cells[base + k] = true;
                }
            }
            by_position(data, &test_cells)
        }
        Protocol::Temporal { fraction } => {
            let mut order: Vec<(i64, u64, usize)> = data
                .cells()
                .enumerate()
                .map(|(k, c)| (c.timestamp, hash(&c), k))
                .collect();
            order.sort_unstable();
            let n_test = (order.len() as f64 * fraction).round() as usize;
            let mut test_cells = vec![false; data.nnz()];
            for &(_, _, k) in &order[order.len() - n_test..] {
                test_cells[k] = true;
            }
            by_position(data, &test_cells)
        }
        Protocol::LeaveLast => {
            let mut test_cells = vec![false; data.nnz()];
            for u in 0..data.n_users() {
                let row = data.row(u as u32);
                if row.len() < 2 {
                    continue;
                }
                let last = (0..row.len())
                    .max_by_key(|&k| (row.timestamps[k], row.items[k]))
                    .expect("row is not empty");
                test_cells[data.indptr()[u] + last] = true;
            }
            by_position(data, &test_cells)
        }
        Protocol::KFold { folds } => (0..folds)
            .map(|fold| Split::by(data, |c| hash(c) % folds as u64 == fold as u64))
            .collect(),
    }
}

fn by_position(data: &Interactions, test_cells: &[bool]) -> Vec<Split> {
    let mut k = 0;
    vec![Split::by(data, |_| {
        let t = test_cells[k];
        k += 1;
        t
    })]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::DuplicatePolicy;

    fn matrix(n_users: u32, n_items: u32) -> Interactions {
        let cells = (0..n_users)
            .flat_map(|u| {
                (0..n_items)
                    .filter(move |i| (u + i) % 3 != 0)
                    .map(move |i| Cell {
                        user: u,
                        item: i,
                        weight: 1.0,
                        timestamp: i64::from(u * 100 + i),
                    })
            })
            .collect();
        Interactions::from_cells(
            n_users as usize,
            n_items as usize,
            cells,
            DuplicatePolicy::Sum,
        )
    }

    fn assert_partition(data: &Interactions, s: &Split) {
        assert_eq!(s.train.nnz() + s.test.nnz(), data.nnz());
        for c in s.test.cells() {
            assert!(!s.train.row(c.user).contains(c.item));
        }
    }

    #[test]
    fn every_protocol_partitions_and_is_deterministic() {
        let data = matrix(30, 20);
        for text in [
            "random:0.2",
            "user-holdout:0.2",
            "temporal:0.1",
            "leave-last",
            "kfold:4",
        ] {
            let protocol: Protocol = text.parse().unwrap();
            assert_eq!(
                protocol.to_string().split(':').next(),
                text.split(':').next()
            );
            let splits = split(&data, protocol, 7);
            assert_eq!(splits, split(&data, protocol, 7), "{text}");
            for s in &splits {
                assert_partition(&data, s);
                assert!(s.test.nnz() > 0, "{text}");
            }
        }
    }

    #[test]
    fn protocol_specifics() {
        let data = matrix(30, 20);
        let holdout = &split(&data, Protocol::UserHoldout { fraction: 0.2 }, 1)[0];
        for u in 0..30 {
            assert_eq!(holdout.test.row_len(u), data.row_len(u) / 5);
        }
        let last = &split(&data, Protocol::LeaveLast, 1)[0];
        for u in 0..30 {
            let row = data.row(u);
            let max_item = row.items.iter().copied().max().unwrap(); // timestamps grow with item
            assert_eq!(last.test.row(u).items, &[max_item]);
        }
        let temporal = &split(&data, Protocol::Temporal { fraction: 0.1 }, 1)[0];
        let newest_train = temporal.train.timestamps().iter().max().unwrap();
        assert!(temporal.test.timestamps().iter().all(|t| t >= newest_train));
        let folds = split(&data, Protocol::KFold { folds: 3 }, 1);
        assert_eq!(
            folds.iter().map(|f| f.test.nnz()).sum::<usize>(),
            data.nnz()
        );
    }

    #[test]
    fn bad_protocols_are_explained() {
        assert!(
            "random"
                .parse::<Protocol>()
                .unwrap_err()
                .contains("fraction")
        );
        assert!("random:1.5".parse::<Protocol>().is_err());
        assert!("kfold:1".parse::<Protocol>().is_err());
        assert!(
            "bogus"
                .parse::<Protocol>()
                .unwrap_err()
                .contains("unknown protocol")
        );
    }
}
