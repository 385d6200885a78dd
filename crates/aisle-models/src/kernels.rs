//! The one loop serving spends its time in — a vector against every row of a factor matrix —
//! in a form the CPU runs fast, and the run-time check that picks it.
//!
//! A list for a user the model must fold in (fresh events, an anonymous history) scores
//! every item: 50k items × 64 factors is 3.2M multiply-adds per request, nearly all of the
//! request's cost. The portable [`crate::linalg::dot`] compiles for the baseline x86-64
//! target (SSE2: four lanes, no fused multiply-add) and ends every row in a horizontal
//! reduction. [`rows_dot`] takes four rows at a time and, on CPUs with AVX2 and FMA (checked
//! once, at run time: the binary still runs anywhere), runs them eight lanes wide with fused
//! multiply-adds and one reduction per four rows. Results may differ from the portable loop
//! in the last bits (another summation order), never between runs on one machine.

use std::sync::OnceLock;

/// Rows taken together: four independent accumulator chains keep the multiply-add units
/// busy.
const ROWS: usize = 4;
/// Lanes per accumulator: one AVX2 register of floats.
const LANES: usize = 8;

/// `out[i] = v · rows[i]` for every row of the row-major `rows` (`v.len()` floats each).
pub fn rows_dot(v: &[f32], rows: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if wide_vectors_available() {
        // SAFETY: `wide_vectors_available` is true only when the CPU running this has AVX2
        // and FMA, the one requirement of calling a `target_feature` function.
        #[allow(unsafe_code)]
        unsafe {
            rows_dot_avx2(v, rows, out)
        };
        return;
    }
    rows_dot_blocked(v, rows, out, |x, y, acc| x * y + acc);
}

/// Whether this CPU has AVX2 and FMA, for the kernels' wide versions (asked once).
/// `AISLE_NO_WIDE_VECTORS` set turns them off (to compare the two).
pub fn wide_vectors_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var_os("AISLE_NO_WIDE_VECTORS").is_none()
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// [`rows_dot`] with AVX2 and FMA intrinsics: four rows at a time, each one eight-float
/// accumulator fed by fused multiply-adds, and one horizontal reduction for the four.
/// (The compiler, given the portable loop under these features, vectorised it across the
/// four rows in 128-bit registers and spilled them: explicit is twice as fast.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_dot_avx2(v: &[f32], rows: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let f = v.len();
    if f < LANES {
        return rows_dot_blocked(v, rows, out, f32::mul_add);
    }
    let wide = f / LANES * LANES;
    let n = out.len().min(rows.len() / f);
    let (out, rest_out) = out[..n].split_at_mut(n / ROWS * ROWS);
    let (blocks, rest_rows) = rows[..n * f].split_at(out.len() * f);
    // Eight floats from `slice` at `at`, checked: the one pointer the loads need.
    let load = |slice: &[f32], at: usize| {
        let eight: &[f32; LANES] = slice[at..at + LANES].try_into().expect("eight floats");
        // SAFETY: `eight` is a live array of exactly eight floats, which is what the
        // unaligned load reads.
        #[allow(unsafe_code)]
        unsafe {
            _mm256_loadu_ps(eight.as_ptr())
        }
    };
    for (sums, block) in out
        .chunks_exact_mut(ROWS)
        .zip(blocks.chunks_exact(ROWS * f))
    {
        let mut acc = [_mm256_setzero_ps(); ROWS];
        for k in (0..wide).step_by(LANES) {
            let x = load(v, k);
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(x, load(block, r * f + k), *acc);
            }
        }
        // After two rounds of pairwise horizontal adds, lane r of each 128-bit half holds
        // half of row r's sum.
        let quads = _mm256_hadd_ps(
            _mm256_hadd_ps(acc[0], acc[1]),
            _mm256_hadd_ps(acc[2], acc[3]),
        );
        let four = _mm_add_ps(
            _mm256_castps256_ps128(quads),
            _mm256_extractf128_ps::<1>(quads),
        );
        let mut four_sums = [0f32; ROWS];
        // SAFETY: `four_sums` is a live array of exactly four floats, what the store writes.
        #[allow(unsafe_code)]
        unsafe {
            _mm_storeu_ps(four_sums.as_mut_ptr(), four)
        };
        for (r, (sum, total)) in sums.iter_mut().zip(four_sums).enumerate() {
            let tail = &block[r * f + wide..(r + 1) * f];
            *sum = v[wide..]
                .iter()
                .zip(tail)
                .fold(total, |s, (x, y)| x.mul_add(*y, s));
        }
    }
    for (sum, row) in rest_out.iter_mut().zip(rest_rows.chunks_exact(f)) {
        *sum = crate::linalg::dot(v, row);
    }
}

/// The blocked loop, generic over the multiply-add (`x·y + acc`): fused where the CPU has
/// it, plain otherwise (a fused multiply-add without hardware support is a slow library
/// call).
#[inline(always)]
fn rows_dot_blocked(
    v: &[f32],
    rows: &[f32],
    out: &mut [f32],
    multiply_add: impl Fn(f32, f32, f32) -> f32,
) {
    let f = v.len();
    if f == 0 {
        out.fill(0.0);
        return;
    }
    let wide = f / LANES * LANES;
    let (v_wide, v_tail) = v.split_at(wide);
    let n = out.len().min(rows.len() / f);
    let (out, rest_out) = out[..n].split_at_mut(n / ROWS * ROWS);
    let (blocks, rest_rows) = rows[..n * f].split_at(out.len() * f);
    for (sums, block) in out
        .chunks_exact_mut(ROWS)
        .zip(blocks.chunks_exact(ROWS * f))
    {
        let mut acc = [[0f32; LANES]; ROWS];
        for (k, x) in v_wide.chunks_exact(LANES).enumerate() {
            for (r, acc) in acc.iter_mut().enumerate() {
                let y = &block[r * f + k * LANES..r * f + (k + 1) * LANES];
                for l in 0..LANES {
                    acc[l] = multiply_add(x[l], y[l], acc[l]);
                }
            }
        }
        for (r, (sum, acc)) in sums.iter_mut().zip(&acc).enumerate() {
            let tail = &block[r * f + wide..(r + 1) * f];
            *sum = crate::linalg::reduce(*acc)
                + v_tail
                    .iter()
                    .zip(tail)
                    .fold(0.0, |s, (x, y)| multiply_add(*x, *y, s));
        }
    }
    for (sum, row) in rest_out.iter_mut().zip(rest_rows.chunks_exact(f)) {
        *sum = crate::linalg::dot(v, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::dot;
    use proptest::prelude::*;

    proptest! {
        /// Every row's product equals the plain dot product (up to summation order), for
        /// factor counts below, at and past the vector width and row counts that leave a
        /// remainder of the four-row blocks.
        #[test]
        fn rows_dot_matches_the_plain_dot_product(
            f in 0usize..40,
            n in 0usize..23,
            seed in any::<u64>(),
        ) {
            let mut rng = aisle_data::rng::Rng::new(seed);
            let v: Vec<f32> = (0..f).map(|_| rng.f32() * 2.0 - 1.0).collect();
            let rows: Vec<f32> = (0..f * n).map(|_| rng.f32() * 2.0 - 1.0).collect();
            // The dispatched kernel (AVX2 where the CPU has it) and the portable one.
            let mut wide = vec![f32::NAN; n];
            rows_dot(&v, &rows, &mut wide);
            let mut portable = vec![f32::NAN; n];
            rows_dot_blocked(&v, &rows, &mut portable, |x, y, acc| x * y + acc);
            for (i, (a, b)) in wide.iter().zip(&portable).enumerate() {
                let want = dot(&v, &rows[i * f..(i + 1) * f]);
                prop_assert!((a - want).abs() <= 1e-5 * (1.0 + want.abs()), "row {i}: {a} vs {want}");
                prop_assert!((b - want).abs() <= 1e-5 * (1.0 + want.abs()), "row {i}: {b} vs {want}");
            }
        }
    }
}
