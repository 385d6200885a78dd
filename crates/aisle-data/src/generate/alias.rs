//! Walker's alias method (Vose's construction): constant-time draws from a fixed discrete
//! distribution, which is what keeps the generator's cost per event independent of the number
//! of items and users.

use crate::Rng;

/// A discrete distribution over `0..len` prepared for O(1) sampling.
#[derive(Debug, Clone)]
pub(crate) struct AliasTable {
    /// Probability of keeping the uniformly drawn column rather than taking its alias.
    keep: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// Builds the table for `weights` (non-negative, finite, at least one positive; the
    /// callers guarantee this, and a zero total degrades to the uniform distribution).
    pub(crate) fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = if total > 0.0 {
            weights.iter().map(|w| w * n as f64 / total).collect()
        } else {
            vec![1.0; n]
        };
        let mut keep = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left over differs from 1 only by rounding error and keeps itself.
        AliasTable { keep, alias }
    }

    pub(crate) fn len(&self) -> usize {
        self.keep.len()
    }

    /// One draw; the table must not be empty.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let column = rng.index(self.keep.len());
        if rng.f64() < self.keep[column] {
            column
        } else {
            self.alias[column] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_weights() {
        let weights = [5.0, 0.0, 1.0, 2.0, 0.5, 11.5];
        let total: f64 = weights.iter().sum();
        let table = AliasTable::new(&weights);
        assert_eq!(table.len(), weights.len());
        let mut rng = Rng::new(3);
        let draws = 400_000;
        let mut counts = [0u64; 6];
        for _ in 0..draws {
            counts[table.sample(&mut rng)] += 1;
        }
        for (count, weight) in counts.iter().zip(weights) {
            let expected = weight / total;
            let observed = *count as f64 / draws as f64;
            // Five binomial standard deviations.
            let tolerance = 5.0 * (expected * (1.0 - expected) / draws as f64).sqrt() + 1e-9;
            assert!(
                (observed - expected).abs() <= tolerance,
                "{observed} vs {expected}"
            );
        }
        assert_eq!(counts[1], 0, "a zero weight is never drawn");
    }

    #[test]
    fn single_and_all_zero_weights() {
        let mut rng = Rng::new(1);
        let one = AliasTable::new(&[2.5]);
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
        let zeros = AliasTable::new(&[0.0, 0.0]);
        assert!((0..100).all(|_| zeros.sample(&mut rng) < 2));
    }
}
