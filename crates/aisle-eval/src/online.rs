//! Statistics of online experiments: confidence intervals of rates and means, the
//! two-proportion test of a variant against the control, and a verdict in plain words.
//!
//! Rates are per item shown (an impression is one item in one served list). Items of one
//! list are not independent, so the intervals are somewhat narrower than the truth; with
//! the thousands of lists an experiment needs, the effect is small and the same for every
//! variant.

use serde::Serialize;

/// The normal quantile of a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Least impressions per variant, and least events of the compared kind in both variants
/// together, before a difference is judged at all.
pub const MIN_IMPRESSIONS: u64 = 200;
pub const MIN_EVENTS: u64 = 10;

/// Wilson score interval of a proportion `successes / trials` at normal quantile `z`; `(0, 0)`
/// without trials. Better than the normal approximation near 0, where click rates live.
pub fn wilson(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 0.0);
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Normal-approximation interval of a mean from the sum and sum of squares of `n` values.
pub fn mean_interval(sum: f64, sum_of_squares: f64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let n_f = n as f64;
    let mean = sum / n_f;
    let variance = if n > 1 {
        ((sum_of_squares - n_f * mean * mean) / (n_f - 1.0)).max(0.0)
    } else {
        0.0
    };
    let half = z * (variance / n_f).sqrt();
    (mean - half, mean + half)
}

/// Two-sided p-value of the pooled two-proportion z-test of `a = s_a / n_a` against
/// `b = s_b / n_b`; 1 when there is nothing to compare.
pub fn two_proportion_p_value(s_a: u64, n_a: u64, s_b: u64, n_b: u64) -> f64 {
    if n_a == 0 || n_b == 0 {
        return 1.0;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let pooled = (s_a + s_b) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    let z = (s_a as f64 / na - s_b as f64 / nb) / se;
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The complementary error function, to about 1e-14 relative (W. J. Cody's rational
/// approximations are overkill here; this continued-fraction/series pair is plenty for
/// p-values).
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf by its Taylor series, which converges fast for small x.
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
    }
    // Continued fraction (Lentz), which converges fast for large x.
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..200 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

/// How a variant compares with the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    NoDifference,
    NotEnoughData,
}

/// Judges a rate of a variant (`s / n`) against the control's at significance `alpha`.
pub fn judge(s: u64, n: u64, control_s: u64, control_n: u64, alpha: f64) -> (Verdict, f64) {
    let p = two_proportion_p_value(s, n, control_s, control_n);
    if n < MIN_IMPRESSIONS || control_n < MIN_IMPRESSIONS || s + control_s < MIN_EVENTS {
        return (Verdict::NotEnoughData, p);
    }
    let verdict = if p >= alpha {
        Verdict::NoDifference
    } else if s as f64 / n as f64 > control_s as f64 / control_n as f64 {
        Verdict::Better
    } else {
        Verdict::Worse
    };
    (verdict, p)
}

/// A p-value as people read it: `p < 0.001`, `p = 0.023`.
pub fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, expected) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.959_963_984_540_054 / std::f64::consts::SQRT_2, 0.05),
            (2.5, 0.000_406_952_017_444_959),
            (4.0, 1.541_725_790_028_002e-8),
            (-1.0, 1.842_700_792_949_715),
        ] {
            let got = erfc(x);
            assert!(
                ((got - expected) / expected).abs() < 1e-9,
                "erfc({x}) = {got}, expected {expected}"
            );
        }
    }

    #[test]
    fn wilson_interval_contains_the_rate_and_matches_a_hand_computed_case() {
        // 10 of 100 at z = 1.96: the textbook interval is (0.0552, 0.1744).
        let (lo, hi) = wilson(10, 100, Z_95);
        assert!(
            (lo - 0.0552).abs() < 5e-4 && (hi - 0.1744).abs() < 5e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 50, Z_95);
        assert!(lo.abs() < 1e-12);
        assert!(hi > 0.0 && hi < 0.1);
        assert_eq!(wilson(0, 0, Z_95), (0.0, 0.0));
        // Narrower with more data.
        let (a, b) = wilson(100, 1_000, Z_95);
        assert!(b - a < hi - lo);
    }

    #[test]
    fn two_proportion_test_matches_a_hand_computed_case() {
        // 60/1000 vs 40/1000: pooled p = 0.05, se = sqrt(0.05*0.95*2/1000) = 0.009747,
        // z = 0.02/0.009747 = 2.052, two-sided p = 0.0402.
        let p = two_proportion_p_value(60, 1_000, 40, 1_000);
        assert!((p - 0.0402).abs() < 5e-4, "{p}");
        assert_eq!(two_proportion_p_value(5, 100, 5, 100), 1.0);
        assert_eq!(two_proportion_p_value(0, 0, 5, 100), 1.0);
    }

    #[test]
    fn verdicts_need_data_and_significance() {
        assert_eq!(judge(60, 1_000, 40, 1_000, 0.05).0, Verdict::Better);
        assert_eq!(judge(40, 1_000, 60, 1_000, 0.05).0, Verdict::Worse);
        assert_eq!(judge(52, 1_000, 50, 1_000, 0.05).0, Verdict::NoDifference);
        assert_eq!(judge(6, 100, 1, 100, 0.05).0, Verdict::NotEnoughData);
    }

    #[test]
    fn mean_interval_of_constant_values_is_a_point() {
        assert_eq!(mean_interval(30.0, 300.0, 3, Z_95), (10.0, 10.0));
        let (lo, hi) = mean_interval(3.0, 5.0, 3, Z_95); // values 0, 1, 2
        assert!((lo + hi) / 2.0 - 1.0 < 1e-12 && lo < 1.0 && hi > 1.0);
    }
}
