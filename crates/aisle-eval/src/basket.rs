//! The `basket:F` protocol's scores: how well a model completes a basket.
//!
//! A model trains on the training baskets' basket × item matrix (each basket a row, weight 1
//! per item) and ranks, for each test case, every known item except the given ones, from
//! the given items alone (a basket is anonymous: [`Query::anonymous`]). One item is relevant,
//! the hidden one; with `rank` its place (1 = first, ties broken by the smaller index as in
//! every list Aisle serves), over the cases: HR@k = share with `rank ≤ k`, NDCG@k =
//! mean of `1/log2(rank + 1)` when `rank ≤ k` (else 0), MRR@k = mean of `1/rank` when
//! `rank ≤ k` (else 0).

use std::time::Instant;

use aisle_data::{BasketCase, BasketRow, BasketSplit};
use aisle_models::{Algorithm, FitContext, Query, Recommender};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;

/// One model's scores under `basket:F`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasketScores {
    pub model: String,
    pub params: serde_json::Value,
    /// Test cases scored.
    pub evaluated: usize,
    pub hit_rate: f64,
    pub ndcg: f64,
    pub mrr: f64,
    pub fit_seconds: f64,
    pub score_seconds: f64,
}

/// Trains `algorithm` on the split's training baskets and scores every case at `k`.
pub fn evaluate_baskets(
    algorithm: &dyn Algorithm,
    split: &BasketSplit,
    k: usize,
    context: &FitContext<'_>,
) -> Result<BasketScores> {
    let started = Instant::now();
    let model = algorithm.fit(&split.train, context)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let ranks: Vec<usize> = split
        .cases
        .par_iter()
        .map(|case| rank_of_hidden(model.as_ref(), case, &split.known))
        .collect();
    let (hit_rate, ndcg, mrr) = means(&ranks, k);
    Ok(BasketScores {
        model: algorithm.name().to_string(),
        params: algorithm.params(),
        evaluated: ranks.len(),
        hit_rate,
        ndcg,
        mrr,
        fit_seconds,
        score_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The hidden item's place among the known items not given (1 = first). A NaN score counts
/// as the lowest.
pub fn rank_of_hidden(model: &dyn Recommender, case: &BasketCase, known: &[bool]) -> usize {
    let given = BasketRow::new(case.given.clone());
    let mut scores = vec![0f32; model.n_items()];
    model.score(&Query::anonymous(given.row()), &mut scores);
    let score = |item: u32| {
        scores
            .get(item as usize)
            .copied()
            .filter(|s| !s.is_nan())
            .unwrap_or(f32::NEG_INFINITY)
    };
    let hidden = score(case.hidden);
    let ahead = (0..known.len() as u32)
        .filter(|&item| known[item as usize] && item != case.hidden)
        .filter(|item| case.given.binary_search(item).is_err())
        .filter(|&item| {
            let s = score(item);
            s > hidden || (s == hidden && item < case.hidden)
        })
        .count();
    ahead + 1
}

/// HR@k, NDCG@k and MRR@k over the ranks (0 for no case).
pub fn means(ranks: &[usize], k: usize) -> (f64, f64, f64) {
    if ranks.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let n = ranks.len() as f64;
    let within = || ranks.iter().filter(|&&r| r <= k).map(|&r| r as f64);
    (
        within().count() as f64 / n,
        within().map(|r| 1.0 / (r + 1.0).log2()).sum::<f64>() / n,
        within().map(|r| 1.0 / r).sum::<f64>() / n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Basket, BasketProtocol, GUEST};

    #[test]
    fn metrics_match_hand_computed_ranks() {
        // Ranks 1, 3 and 12 at k = 10.
        let (hr, ndcg, mrr) = means(&[1, 3, 12], 10);
        assert!((hr - 2.0 / 3.0).abs() < 1e-12);
        assert!((ndcg - (1.0 + 0.5) / 3.0).abs() < 1e-12);
        assert!((mrr - (1.0 + 1.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn cooccurrence_completes_a_basket_with_what_is_bought_with_it() {
        let ids = ["a", "b", "c", "d", "e"];
        let basket = |id: &str, time, items: &[u32]| Basket {
            id: id.into(),
            time,
            user: GUEST,
            items: items.to_vec(),
        };
        // a with b, c with d, often; e alone.
        let mut baskets = Vec::new();
        for t in 0..10 {
            baskets.push(basket(&format!("x{t}"), t, &[0, 1]));
            baskets.push(basket(&format!("y{t}"), t, &[2, 3]));
            baskets.push(basket(&format!("z{t}"), t, &[4]));
        }
        // Test: {a, b} hides b (the greatest id) given a; {c, d} hides d given c.
        baskets.push(basket("t1", 100, &[0, 1]));
        baskets.push(basket("t2", 100, &[2, 3]));
        let split = BasketProtocol { fraction: 0.07 }.split(&baskets, 5, |i| ids[i as usize]);
        assert_eq!(split.cases.len(), 2);
        let algorithm = aisle_models::algorithm("cooccur", &Default::default()).unwrap();
        let scores = evaluate_baskets(algorithm.as_ref(), &split, 10, &Default::default()).unwrap();
        assert_eq!(scores.evaluated, 2);
        assert_eq!(scores.hit_rate, 1.0);
        assert_eq!(scores.mrr, 1.0);
        // Popularity-free scoring: e, never with anything, ranks behind.
        let model = algorithm.fit(&split.train, &Default::default()).unwrap();
        assert_eq!(
            rank_of_hidden(model.as_ref(), &split.cases[0], &split.known),
            1
        );
    }
}
