//! Top-k selection over a dense score vector without a full sort.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A scored item, ordered so that a `BinaryHeap` of them is a min-heap on score (ties broken
/// towards the smaller item index, so results are deterministic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub item: u32,
    pub score: f32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the heap's top is the worst kept item.
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.item.cmp(&other.item))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` best `(item, score)` pairs, best first, among items for which `allowed` is true.
/// Scores that are NaN or −∞ are never selected. Runs in O(n log k).
pub fn top_k(scores: &[f32], k: usize, mut allowed: impl FnMut(u32) -> bool) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    // The worst kept score once the heap is full (ties go to the smaller index, already
    // kept): one float comparison rejects most items, and NaN and −∞ with them.
    let mut floor = f32::NEG_INFINITY;
    for (item, &score) in scores.iter().enumerate() {
        if score.is_nan() || score <= floor {
            continue;
        }
        let candidate = Scored {
            item: item as u32,
            score,
        };
        if !allowed(item as u32) {
            continue;
        }
        heap.push(candidate);
        if heap.len() > k {
            heap.pop();
        }
        if heap.len() == k {
            floor = heap.peek().expect("heap is full").score;
        }
    }
    let mut out = heap.into_vec();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn picks_best_first_and_respects_exclusions() {
        let scores = [0.1, 0.9, 0.5, f32::NAN, 0.9, 0.7];
        let top = top_k(&scores, 3, |i| i != 5);
        let items: Vec<u32> = top.iter().map(|s| s.item).collect();
        assert_eq!(items, vec![1, 4, 2]);
        assert!(top_k(&scores, 0, |_| true).is_empty());
        assert_eq!(top_k(&scores, 10, |_| true).len(), 5);
    }

    proptest! {
        #[test]
        fn matches_a_full_sort(scores in proptest::collection::vec(-100f32..100.0, 0..200), k in 0usize..20) {
            let top = top_k(&scores, k, |i| i % 3 != 0);
            let mut all: Vec<Scored> = scores
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 0)
                .map(|(i, &s)| Scored { item: i as u32, score: s })
                .collect();
            all.sort_unstable();
            all.truncate(k);
            prop_assert_eq!(top, all);
        }
    }
}
