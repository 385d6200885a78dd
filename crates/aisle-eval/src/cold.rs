//! The `cold-items:F` protocol: how well a model ranks items nobody has interacted with yet
//! (a shop's new arrivals), from what else it knows of them — their content.
//!
//! A hashed fraction `F` of the items, with all their events, goes to test: item `i` is a
//! test item when `splitmix64(fnv1a(id) XOR splitmix64(seed)) / 2^64 < F` (by the item's
//! id, so the choice does not depend on file order). Models train on the other items'
//! cells, the catalogue describing every item. For every user with a test event, the model
//! ranks **only the test items** (as a "new arrivals" row would), excluding nothing else;
//! the user's test items are relevant. NDCG@K (binary gain, ideal DCG over
//! min(K, relevant)) and HR@K, averaged over those users. Equal scores are ordered by a
//! seeded hash of the item index (`splitmix64(index XOR splitmix64(seed))`, ascending).

use std::time::Instant;

use aisle_data::rng::splitmix64;
use aisle_data::{Cell, IdMap, Interactions};
use aisle_models::{Algorithm, FitContext, Query};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::metrics::user_ranking;

/// `cold-items:F`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColdItemsProtocol {
    pub fraction: f64,
}

impl std::str::FromStr for ColdItemsProtocol {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let fraction = text
            .strip_prefix("cold-items:")
            .ok_or_else(|| format!("'{text}' is not cold-items:F"))?;
        fraction
            .parse::<f64>()
            .ok()
            .filter(|f| *f > 0.0 && *f < 1.0)
            .map(|fraction| ColdItemsProtocol { fraction })
            .ok_or_else(|| format!("protocol '{text}': the fraction must be between 0 and 1"))
    }
}

impl std::fmt::Display for ColdItemsProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cold-items:{}", self.fraction)
    }
}

/// The split of one matrix under `cold-items:F`.
#[derive(Debug, Clone)]
pub struct ColdSplit {
    /// The matrix without the test items' cells (same shape).
    pub train: Interactions,
    /// The test items, ascending: the only ones ranked.
    pub cold_items: Vec<u32>,
    /// Users with a test event, ascending, and their test items.
    pub users: Vec<(u32, Vec<u32>)>,
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ColdItemsProtocol {
    /// Whether the item called `id` is a test item under `seed`.
    pub fn is_cold(&self, id: &str, seed: u64) -> bool {
        let h = splitmix64(fnv1a(id) ^ splitmix64(seed));
        (h as f64) / 18_446_744_073_709_551_616.0 < self.fraction
    }

    pub fn split(&self, matrix: &Interactions, items: &IdMap, seed: u64) -> ColdSplit {
        let cold: Vec<bool> = (0..matrix.n_items() as u32)
            .map(|i| self.is_cold(items.id(i), seed))
            .collect();
        let mut cells = Vec::new();
        let mut users = Vec::new();
        for user in 0..matrix.n_users() as u32 {
            let row = matrix.row(user);
            let mut relevant = Vec::new();
            for (k, (item, weight)) in row.iter().enumerate() {
                if cold[item as usize] {
                    relevant.push(item);
                } else {
                    cells.push(Cell {
                        user,
                        item,
                        weight,
                        timestamp: row.timestamps[k],
                    });
                }
            }
            if !relevant.is_empty() {
                users.push((user, relevant));
            }
        }
        let train = Interactions::from_sorted_cells(
            matrix.n_users(),
            matrix.n_items(),
            cells,
            aisle_data::DuplicatePolicy::Last,
        );
        ColdSplit {
            train,
            cold_items: (0..matrix.n_items() as u32)
                .filter(|&i| cold[i as usize])
                .collect(),
            users,
        }
    }
}

/// One model's scores under `cold-items:F`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdScores {
    pub model: String,
    pub params: serde_json::Value,
    pub users: usize,
    pub ndcg: f64,
    pub hit_rate: f64,
    pub fit_seconds: f64,
}

/// Trains `algorithm` on the split's training cells (with `context`'s catalogue) and ranks
/// the cold items for every user with a test event.
pub fn evaluate_cold_items(
    algorithm: &dyn Algorithm,
    split: &ColdSplit,
    k: usize,
    context: &FitContext<'_>,
) -> Result<ColdScores> {
    let started = Instant::now();
    let model = algorithm.fit(&split.train, context)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    // Ties are broken by a seeded hash of the item, not by its index: indices follow first
    // appearance in the file, which favours popular items, and a model that cannot tell
    // cold items apart (popularity) must not score by that accident.
    let tie_breaks: Vec<(u32, u64)> = split
        .cold_items
        .iter()
        .map(|&i| (i, splitmix64(u64::from(i) ^ splitmix64(context.seed))))
        .collect();
    let per_user: Vec<(f64, f64)> = split
        .users
        .par_iter()
        .map_init(
            || vec![0f32; model.n_items()],
            |scores, (user, relevant)| {
                model.score(&Query::known(*user, &split.train), scores);
                let mut ranked: Vec<(f32, u64, u32)> = tie_breaks
                    .iter()
                    .map(|&(i, tie)| {
                        let s = scores[i as usize];
                        (if s.is_nan() { f32::NEG_INFINITY } else { s }, tie, i)
                    })
                    .collect();
                ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let list: Vec<u32> = ranked.iter().take(k).map(|r| r.2).collect();
                user_ranking(&list, relevant, k).map_or((0.0, 0.0), |r| (r.ndcg, r.hit))
            },
        )
        .collect();
    let n = per_user.len().max(1) as f64;
    Ok(ColdScores {
        model: algorithm.name().to_string(),
        params: algorithm.params(),
        users: per_user.len(),
        ndcg: per_user.iter().map(|u| u.0).sum::<f64>() / n,
        hit_rate: per_user.iter().map(|u| u.1).sum::<f64>() / n,
        fit_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{DuplicatePolicy, Item};

    #[test]
    fn the_hash_picks_about_the_fraction_and_depends_on_the_id_only() {
        let protocol = ColdItemsProtocol { fraction: 0.2 };
        let cold = (0..10_000)
            .filter(|i| protocol.is_cold(&format!("item{i}"), 42))
            .count();
        assert!((1_800..2_200).contains(&cold), "{cold}");
        assert_eq!(protocol.is_cold("x", 1), protocol.is_cold("x", 1));
    }

    #[test]
    fn cold_items_leave_training_whole_and_only_they_are_ranked() {
        // 30 users, 10 items named "a0".."a9": users like the items of their parity.
        let ids: IdMap = (0..10).map(|i| format!("a{i}")).collect::<Vec<_>>().into();
        let mut cells = Vec::new();
        for user in 0..30u32 {
            for item in (0..10u32).filter(|i| i % 2 == user % 2) {
                cells.push(Cell {
                    user,
                    item,
                    weight: 1.0,
                    timestamp: 0,
                });
            }
        }
        let matrix = Interactions::from_cells(30, 10, cells, DuplicatePolicy::Sum);
        let protocol = ColdItemsProtocol { fraction: 0.3 };
        let split = protocol.split(&matrix, &ids, 7);
        assert!(!split.cold_items.is_empty());
        for &item in &split.cold_items {
            assert_eq!(split.train.column_counts()[item as usize], 0);
            assert!(protocol.is_cold(ids.id(item), 7));
        }
        // Every user with an event on a cold item is scored.
        let expected = (0..30u32)
            .filter(|&u| split.cold_items.iter().any(|&i| i % 2 == u % 2))
            .count();
        assert_eq!(split.users.len(), expected);

        // Items described by their parity: content ranks each user's kind of cold item first.
        let catalogue: Vec<Option<Item>> = (0..10)
            .map(|i| {
                Some(Item {
                    id: format!("a{i}"),
                    title: if i % 2 == 0 {
                        "even thing"
                    } else {
                        "odd thing"
                    }
                    .into(),
                    ..Item::default()
                })
            })
            .collect();
        let context = FitContext {
            catalogue: Some(&catalogue),
            ..FitContext::default()
        };
        let content = aisle_models::algorithm("content", &Default::default()).unwrap();
        let scores = evaluate_cold_items(content.as_ref(), &split, 10, &context).unwrap();
        assert_eq!(scores.users, expected);
        assert_eq!(scores.hit_rate, 1.0);
        // Content puts a cold item of the user's kind first, every time.
        let content_at_1 = evaluate_cold_items(content.as_ref(), &split, 1, &context).unwrap();
        assert_eq!(content_at_1.ndcg, 1.0);
        // Popularity knows nothing of cold items (no training events): its lists over them
        // are ties, broken by the seeded hash.
        let popular = aisle_models::algorithm("popular", &Default::default()).unwrap();
        let baseline = evaluate_cold_items(popular.as_ref(), &split, 1, &context).unwrap();
        assert!(baseline.ndcg <= content_at_1.ndcg);
    }
}
