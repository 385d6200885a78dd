//! Small dense kernels hand-written in safe Rust, and the sparse row matrix the models share.
//!
//! The rating models' SGD loops need a short dot product ([`factor_dot`]); scoring needs
//! `C += α·A·Bᵀ` ([`gemm_nt`]): with both operands row-major, every entry of the product is a
//! dot product of two contiguous rows, which the compiler vectorises without
//! target-specific code. Factorisations, inverses and Gram matrices live in
//! [`crate::spd`], on faer. Matrices are row-major and contiguous.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use aisle_data::Interactions;

/// Independent accumulators in a dot product: enough to hide the latency of the additions
/// and a multiple of every SIMD width the compiler might use.
const LANES: usize = 8;

/// Rows of `A` handled together by the [`gemm_nt`] micro-kernel (each panel value of `B`
/// is loaded once for all of them). `MR × W` accumulators fill the SIMD registers.
const MR: usize = 4;

/// Rows of `B` in a packed panel of [`gemm_nt`].
const W: usize = 8;

/// Length of the slice of the inner dimension processed at a time by [`gemm_nt`], so that
/// the rows of `B` in use stay in the L2 cache.
const KC: usize = 256;

/// Rows of `B` packed (and kept in cache) together by [`gemm_nt`]; a multiple of `W`.
const NC: usize = 64;

/// Independent accumulators of [`factor_dot`]: two AVX registers or four SSE ones, so the adds
/// pipeline instead of waiting on one another.
const FACTOR_LANES: usize = 16;

/// `a · b` over the common length for factor-length vectors (10–200), summed in a fixed
/// order (results do not depend on the machine's vector width). The rating models' SGD and
/// Gibbs loops are built on it; [`dot`] is the general kernel.
// Always inlined: callers' loops are short (10–100 factors), where a call costs as much
// as the arithmetic.
#[inline(always)]
pub fn factor_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; FACTOR_LANES];
    let chunks_a = a.chunks_exact(FACTOR_LANES);
    let chunks_b = b.chunks_exact(FACTOR_LANES);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        let x: &[f32; FACTOR_LANES] = x.try_into().expect("chunks_exact gives full chunks");
        let y: &[f32; FACTOR_LANES] = y.try_into().expect("chunks_exact gives full chunks");
        for k in 0..FACTOR_LANES {
            acc[k] += x[k] * y[k];
        }
    }
    // Short vectors (10 or 20 factors are common) still get one vector register's worth.
    let mut quad = [0f32; 4];
    let quads_a = rest_a.chunks_exact(4);
    let quads_b = rest_b.chunks_exact(4);
    let (tail_a, tail_b) = (quads_a.remainder(), quads_b.remainder());
    for (x, y) in quads_a.zip(quads_b) {
        for k in 0..4 {
            quad[k] += x[k] * y[k];
        }
    }
    let mut tail = 0f32;
    for (x, y) in tail_a.iter().zip(tail_b) {
        tail += x * y;
    }
    // Pairs within each group of four, then the groups in order: a short dependency chain
    // (a plain left-to-right sum of 16 lanes costs 16 dependent adds on every call) in a
    // shape LLVM still keeps 4-wide (other trees made it split the lanes into 2-wide
    // halves, loop included).
    let pairwise = |c: &[f32]| (c[0] + c[1]) + (c[2] + c[3]);
    acc.chunks_exact(4).map(pairwise).sum::<f32>() + pairwise(&quad) + tail
}

/// `Σ a[k]·b[k]` over the shorter of the two slices, with a fixed summation order (so the
/// result is the same on every run).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum = reduce(acc);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// `y += alpha·x`.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// The sum of eight lanes, pairwise in a fixed order.
#[inline]
pub(crate) fn reduce(acc: [f32; LANES]) -> f32 {
    // Pairwise, in a fixed order.
    let a = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (a[0] + a[2]) + (a[1] + a[3])
}

/// `MR × W` dot products between `MR` rows of `A` and a panel of `W` rows of `B` packed
/// k-major (`panel[p·W + s] = B[s][p]`): each step broadcasts one value of each row of `A`
/// against `W` contiguous values of the panel, the form the compiler vectorises cleanly.
#[inline(always)]
fn micro_kernel<const R: usize>(a: [&[f32]; R], panel: &[f32]) -> [[f32; W]; R] {
    let kc = panel.len() / W;
    let a: [&[f32]; R] = std::array::from_fn(|r| &a[r][..kc]);
    let mut acc = [[0f32; W]; R];
    for (p, b) in panel.chunks_exact(W).enumerate() {
        let b: &[f32; W] = b.try_into().expect("a panel step holds W values");
        for r in 0..R {
            let x = a[r][p];
            for l in 0..W {
                acc[r][l] += x * b[l];
            }
        }
    }
    acc
}

/// Adds `alpha ×` the micro-kernel's `R` rows of results to `C`, for the first `width`
/// columns (the panel may be padded).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn micro_tile<const R: usize>(
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    (i, j): (usize, usize),
    k0: usize,
    panel: &[f32],
    width: usize,
    alpha: f32,
) {
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * lda + k0..]);
    let acc = micro_kernel::<R>(rows, panel);
    for (r, acc) in acc.iter().enumerate() {
        let out = &mut c[(i + r) * ldc + j..(i + r) * ldc + j + width];
        for (o, v) in out.iter_mut().zip(acc) {
            *o += alpha * v;
        }
    }
}

/// `C += alpha·A·Bᵀ` for an `m × k` matrix `A` and an `n × k` matrix `B`, all row-major with
/// leading dimensions (row strides) `lda`, `ldb`, `ldc`. `C` is `m × n`.
///
/// `B` is packed, a block of rows at a time, into k-major panels of `W` rows, which stay in
/// L2 while every group of `MR` rows of `A` passes over them.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt(
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    (m, n, k): (usize, usize, usize),
    alpha: f32,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let mut packed = vec![0f32; KC.min(k) * NC.min(n.next_multiple_of(W))];
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        for j0 in (0..n).step_by(NC) {
            let nb = NC.min(n - j0);
            let panels = nb.div_ceil(W);
            for q in 0..panels {
                let panel = &mut packed[q * kc * W..(q + 1) * kc * W];
                for s in 0..W {
                    let j = j0 + q * W + s;
                    if j < n {
                        let row = &b[j * ldb + k0..j * ldb + k0 + kc];
                        for (p, &v) in row.iter().enumerate() {
                            panel[p * W + s] = v;
                        }
                    } else {
                        for p in 0..kc {
                            panel[p * W + s] = 0.0;
                        }
                    }
                }
            }
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                for q in 0..panels {
                    let panel = &packed[q * kc * W..(q + 1) * kc * W];
                    let j = j0 + q * W;
                    let width = W.min(n - j);
                    let at = (i, j);
                    match rows {
                        4 => micro_tile::<4>(c, ldc, a, lda, at, k0, panel, width, alpha),
                        3 => micro_tile::<3>(c, ldc, a, lda, at, k0, panel, width, alpha),
                        2 => micro_tile::<2>(c, ldc, a, lda, at, k0, panel, width, alpha),
                        _ => micro_tile::<1>(c, ldc, a, lda, at, k0, panel, width, alpha),
                    }
                }
                i += rows;
            }
        }
    }
}

/// A compressed-sparse-row matrix with weights but no timestamps: the item × user view ALS
/// and EASE need, built without copying the training matrix's timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseRows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    weights: Vec<f32>,
}

impl SparseRows {
    /// The transpose (columns become rows) of `m`, in one counting pass; each row comes out
    /// sorted.
    pub fn transpose_of(m: &Interactions) -> Self {
        let mut indptr = vec![0usize; m.n_items() + 1];
        for &i in m.indices() {
            indptr[i as usize + 1] += 1;
        }
        for i in 0..m.n_items() {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr[..m.n_items()].to_vec();
        let mut indices = vec![0u32; m.nnz()];
        let mut weights = vec![0f32; m.nnz()];
        for u in 0..m.n_users() {
            let row = m.row(u as u32);
            for (&i, &w) in row.items.iter().zip(row.weights) {
                let slot = &mut next[i as usize];
                indices[*slot] = u as u32;
                weights[*slot] = w;
                *slot += 1;
            }
        }
        SparseRows {
            indptr,
            indices,
            weights,
        }
    }

    /// The matrix with `n_rows` rows holding the `(row, column, weight)` entries, in any
    /// order; repeated `(row, column)` pairs add up. Rows must be below `n_rows`.
    pub fn from_entries(n_rows: usize, mut entries: Vec<(u32, u32, f32)>) -> Self {
        // The weight in the key makes equal entries interchangeable, so the sums below do
        // not depend on how the parallel sort ordered them.
        entries.par_sort_unstable_by_key(|&(r, c, w)| (r, c, w.to_bits()));
        let mut indptr = vec![0usize; n_rows + 1];
        let mut indices: Vec<u32> = Vec::with_capacity(entries.len());
        let mut weights: Vec<f32> = Vec::with_capacity(entries.len());
        let mut previous = None;
        for (r, c, w) in entries {
            if previous == Some((r, c)) {
                *weights.last_mut().expect("a previous entry exists") += w;
                continue;
            }
            previous = Some((r, c));
            indptr[r as usize + 1] += 1;
            indices.push(c);
            weights.push(w);
        }
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        SparseRows {
            indptr,
            indices,
            weights,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The column indices and weights of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[lo..hi], &self.weights[lo..hi])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::Rng;

    #[test]
    fn factor_dot_matches_a_plain_sum_for_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|k| (k as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|k| (k as f32 * 0.11).cos()).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!(
                (f64::from(factor_dot(&a, &b)) - plain).abs() < 1e-4,
                "n = {n}"
            );
        }
    }

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..rows * cols).map(|_| rng.normal() as f32).collect()
    }

    #[test]
    fn gemm_nt_matches_naive_on_odd_shapes() {
        let (m, n, k) = (7, 5, 300);
        let a = random_matrix(m, k + 3, 1);
        let b = random_matrix(n, k + 1, 2);
        let mut c = random_matrix(m, n + 2, 3);
        let before = c.clone();
        gemm_nt(&mut c, n + 2, &a, k + 3, &b, k + 1, (m, n, k), -0.5);
        for i in 0..m {
            for j in 0..n {
                let exact: f64 = (0..k)
                    .map(|p| f64::from(a[i * (k + 3) + p]) * f64::from(b[j * (k + 1) + p]))
                    .sum();
                let expected = f64::from(before[i * (n + 2) + j]) - 0.5 * exact;
                assert!((f64::from(c[i * (n + 2) + j]) - expected).abs() < 1e-3);
            }
            assert_eq!(c[i * (n + 2) + n], before[i * (n + 2) + n]);
        }
    }
}
