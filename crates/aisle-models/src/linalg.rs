//! Small dense linear algebra for every model, hand-written in safe Rust.
//!
//! ALS needs `f × f` Gram matrices and per-row solves (`f` is a few dozen to a few hundred);
//! EASE needs the inverse of an `n × n` symmetric positive-definite matrix (`n` items, up to
//! tens of thousands); the rating models' SGD loops need a short dot product
//! ([`factor_dot`]) and their Gibbs sampling and fold-in an `f64` Cholesky
//! ([`cholesky_solve_f64`]). Matrices are row-major and contiguous.
//!
//! The heavy kernel is [`gemm_nt`] (`C += α·A·Bᵀ`): with both operands row-major, every entry
//! of the product is a dot product of two contiguous rows, which the compiler vectorises
//! without target-specific code. The blocked algorithms ([`spd_inverse`]) are arranged so
//! that nearly all their work goes through it, on tiles small enough to stay in cache, and in
//! parallel over disjoint row blocks (so no locking and no unsafe code is needed).

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

/// Tile size of the blocked factorisation and inversion.
const NB: usize = 64;

/// A pivot of a Cholesky factorisation was not positive: the matrix is not (numerically)
/// positive definite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("matrix is not positive definite (pivot {pivot})")]
pub struct NotPositiveDefinite {
    pub pivot: usize,
}

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

/// Unblocked, in `f64`: for the small `f × f` systems of Gibbs sampling and rating fold-in,
/// where `f32` loses precision. Solves `a x = b` in place for a symmetric positive-definite `a` (`n × n`, row-major) by
/// Cholesky; `a` is overwritten by its factor. Returns `false` when `a` is not positive
/// definite (then `b` is unspecified).
pub fn cholesky_solve_f64(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    if !cholesky_in_place_f64(a, n) {
        return false;
    }
    // L y = b
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    // Lᵀ x = y
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    true
}

/// Overwrites the lower triangle of `a` with `L` where `a = L Lᵀ`; the upper triangle is
/// left as it was. Returns `false` when `a` is not positive definite.
pub fn cholesky_in_place_f64(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    true
}

#[inline]
fn reduce(acc: [f32; LANES]) -> f32 {
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

/// `YᵀY` for the `n × f` row-major matrix `y`, as a full symmetric `f × f` matrix.
pub fn gram(y: &[f32], f: usize) -> Vec<f32> {
    if f == 0 {
        return Vec::new();
    }
    const CHUNK: usize = 2048;
    let partial = |rows: &[f32]| {
        // Transposing a chunk makes each entry of YᵀY a dot product of two contiguous rows.
        let n = rows.len() / f;
        let mut t = vec![0f32; f * n];
        for (r, row) in rows.chunks_exact(f).enumerate() {
            for (q, &v) in row.iter().enumerate() {
                t[q * n + r] = v;
            }
        }
        let mut g = vec![0f32; f * f];
        gemm_nt(&mut g, f, &t, n, &t, n, (f, f, n), 1.0);
        g
    };
    // Partial sums are added in chunk order, not in whatever order rayon's workers finish:
    // the result must not depend on scheduling.
    let partials: Vec<Vec<f32>> = y.par_chunks(CHUNK * f).map(partial).collect();
    let mut total = vec![0f32; f * f];
    for p in &partials {
        total.iter_mut().zip(p).for_each(|(t, p)| *t += p);
    }
    total
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

/// Factors the symmetric positive-definite `n × n` matrix `a` in place as `L·Lᵀ`, leaving
/// `L` in the lower triangle (the strict upper triangle is not read and keeps its values).
/// Unblocked: meant for the small systems of ALS.
pub fn cholesky(a: &mut [f32], n: usize) -> Result<(), NotPositiveDefinite> {
    factor_diagonal_block(a, n, 0, n)
}

/// Solves `L·Lᵀ·x = b` in place (`b` becomes `x`) with the factor from [`cholesky`].
pub fn cholesky_solve(l: &[f32], n: usize, b: &mut [f32]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i];
        b[i] = (b[i] - dot(row, &b[..i])) / l[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] /= l[i * n + i];
        let xi = b[i];
        axpy(-xi, &l[i * n..i * n + i], &mut b[..i]);
    }
}

/// Cholesky (Banachiewicz order: every entry is a dot product of two row prefixes) of the
/// `size × size` diagonal block starting at `(start, start)` of the `n × n` matrix `a`,
/// assuming the columns before `start` have already been eliminated from it.
fn factor_diagonal_block(
    a: &mut [f32],
    n: usize,
    start: usize,
    size: usize,
) -> Result<(), NotPositiveDefinite> {
    for i in 0..size {
        let row_i = (start + i) * n + start;
        for j in 0..=i {
            let row_j = (start + j) * n + start;
            let s = a[row_i + j] - dot(&a[row_i..row_i + j], &a[row_j..row_j + j]);
            if i == j {
                if !(s.is_finite() && s > 0.0) {
                    return Err(NotPositiveDefinite { pivot: start + i });
                }
                a[row_i + i] = s.sqrt();
            } else {
                a[row_i + j] = s / a[row_j + j];
            }
        }
    }
    Ok(())
}

/// Inverts the symmetric positive-definite `n × n` matrix `a` in place (the full matrix is
/// read from its lower triangle and the full symmetric inverse written back).
///
/// Three blocked, parallel passes of about `n³/3` multiply-adds each: the Cholesky factor
/// `L` (right-looking, the trailing update as [`gemm_nt`] on tiles), `U = L⁻ᵀ` (row blocks of
/// `U` are independent), and `A⁻¹ = U·Uᵀ`. Needs one extra `n × n` buffer for `U`.
pub fn spd_inverse(a: &mut [f32], n: usize) -> Result<(), NotPositiveDefinite> {
    assert_eq!(a.len(), n * n, "spd_inverse needs an n × n matrix");
    cholesky_blocked(a, n)?;
    let mut upper = vec![0f32; n * n];
    invert_lower_transposed(a, &mut upper, n);
    lower_gram_of_upper(&upper, a, n);
    drop(upper);
    mirror_lower(a, n);
    Ok(())
}

/// Blocked right-looking Cholesky: `L` overwrites the lower triangle of `a`.
fn cholesky_blocked(a: &mut [f32], n: usize) -> Result<(), NotPositiveDefinite> {
    let mut panel: Vec<f32> = Vec::new();
    let mut diag: Vec<f32> = Vec::new();
    for k0 in (0..n).step_by(NB) {
        let k1 = (k0 + NB).min(n);
        let kb = k1 - k0;
        factor_diagonal_block(a, n, k0, kb)?;
        if k1 == n {
            break;
        }
        diag.clear();
        for r in 0..kb {
            diag.extend_from_slice(&a[(k0 + r) * n + k0..(k0 + r) * n + k1]);
        }
        // The panel below the diagonal block, packed so the trailing update reads it
        // contiguously (and so that it can be read while the rows of `a` are mutated).
        panel.clear();
        for i in k1..n {
            panel.extend_from_slice(&a[i * n + k0..i * n + k1]);
        }
        panel.par_chunks_mut(kb).for_each(|row| {
            for c in 0..kb {
                let s = row[c] - dot(&row[..c], &diag[c * kb..c * kb + c]);
                row[c] = s / diag[c * kb + c];
            }
        });
        let panel = &panel;
        a[k1 * n..]
            .par_chunks_mut(NB * n)
            .enumerate()
            .for_each(|(block, rows)| {
                let i0 = k1 + block * NB;
                let m = rows.len() / n;
                let own = &panel[(i0 - k1) * kb..(i0 - k1 + m) * kb];
                for r in 0..m {
                    rows[r * n + k0..r * n + k1].copy_from_slice(&own[r * kb..(r + 1) * kb]);
                }
                // Columns k1..i0+m: the tiles left of and on the diagonal (the part of the
                // diagonal tile above the diagonal is never read).
                gemm_nt(
                    &mut rows[k1..],
                    n,
                    own,
                    kb,
                    panel,
                    kb,
                    (m, i0 + m - k1, kb),
                    -1.0,
                );
            });
    }
    Ok(())
}

/// `upper = L⁻ᵀ` for the lower-triangular `L` held in `l`; `upper` must be zeroed.
///
/// Row `j` of `U = L⁻ᵀ` satisfies `U[j][i] = (δᵢⱼ − Σ_{j≤k<i} L[i][k]·U[j][k]) / L[i][i]`: it
/// depends only on itself and `L`, so row blocks are computed in parallel, each tile of
/// columns as a [`gemm_nt`] against rows of `L` followed by a small triangular solve.
fn invert_lower_transposed(l: &[f32], upper: &mut [f32], n: usize) {
    upper
        .par_chunks_mut(NB * n)
        .enumerate()
        .for_each(|(block, rows)| {
            let j0 = block * NB;
            let m = rows.len() / n;
            let mut tile = vec![0f32; NB * NB];
            for i0 in (j0..n).step_by(NB) {
                let ib = NB.min(n - i0);
                let tile = &mut tile[..m * ib];
                tile.fill(0.0);
                gemm_nt(
                    tile,
                    ib,
                    &rows[j0..],
                    n,
                    &l[i0 * n + j0..],
                    n,
                    (m, ib, i0 - j0),
                    -1.0,
                );
                for c in 0..ib {
                    let i = i0 + c;
                    let l_row = &l[i * n + i0..i * n + i];
                    let pivot = l[i * n + i];
                    for r in 0..m {
                        let row = &mut rows[r * n..(r + 1) * n];
                        let delta = if i == j0 + r { 1.0 } else { 0.0 };
                        let s = delta + tile[r * ib + c] - dot(&row[i0..i], l_row);
                        row[i] = s / pivot;
                    }
                }
            }
        });
}

/// The lower triangle (and diagonal tiles) of `U·Uᵀ` for the upper-triangular `U`, written
/// into `p`; the rest of `p` is left as it was.
fn lower_gram_of_upper(upper: &[f32], p: &mut [f32], n: usize) {
    p.par_chunks_mut(NB * n)
        .enumerate()
        .for_each(|(block, rows)| {
            let i0 = block * NB;
            let m = rows.len() / n;
            for r in 0..m {
                rows[r * n..r * n + i0 + m].fill(0.0);
            }
            // U is zero left of its diagonal, so the sums start at column i0.
            gemm_nt(
                rows,
                n,
                &upper[i0 * n + i0..],
                n,
                &upper[i0..],
                n,
                (m, i0 + m, n - i0),
                1.0,
            );
        });
}

/// Copies the strict lower triangle onto the upper one, tile by tile (cache-friendly).
fn mirror_lower(a: &mut [f32], n: usize) {
    for i0 in (0..n).step_by(NB) {
        for j0 in (0..=i0).step_by(NB) {
            for i in i0..(i0 + NB).min(n) {
                for j in j0..(j0 + NB).min(i) {
                    a[j * n + i] = a[i * n + j];
                }
            }
        }
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

    #[test]
    fn cholesky_solves_a_hand_computed_system() {
        // [[4, 2], [2, 3]] x = [2, 1]  →  x = [0.5, 0]
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_solve_f64(&mut a, &mut b, 2));
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(!cholesky_solve_f64(&mut singular, &mut [1.0, 1.0], 2));
    }

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..rows * cols).map(|_| rng.normal() as f32).collect()
    }

    /// `XᵀX + shift·I` for a random tall `X`: symmetric positive definite.
    fn random_spd(n: usize, shift: f32, seed: u64) -> Vec<f32> {
        let x = random_matrix(n + 7, n, seed);
        let mut a = gram(&x, n);
        for i in 0..n {
            a[i * n + i] += shift;
        }
        a
    }

    fn matmul(a: &[f32], b: &[f32], n: usize) -> Vec<f64> {
        let mut c = vec![0f64; n * n];
        for i in 0..n {
            for k in 0..n {
                let aik = f64::from(a[i * n + k]);
                for j in 0..n {
                    c[i * n + j] += aik * f64::from(b[k * n + j]);
                }
            }
        }
        c
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

    #[test]
    fn gram_is_y_transpose_y() {
        let (n, f) = (5000, 9);
        let y = random_matrix(n, f, 4);
        let g = gram(&y, f);
        for a in 0..f {
            for b in 0..f {
                let exact: f64 = (0..n)
                    .map(|r| f64::from(y[r * f + a]) * f64::from(y[r * f + b]))
                    .sum();
                assert!((f64::from(g[a * f + b]) - exact).abs() < 1e-3 * exact.abs().max(1.0));
            }
        }
    }

    #[test]
    fn cholesky_solves_a_system() {
        let n = 23;
        let a = random_spd(n, 0.5, 5);
        let x_true = random_matrix(1, n, 6);
        let b: Vec<f32> = (0..n)
            .map(|i| dot(&a[i * n..(i + 1) * n], &x_true))
            .collect();
        let mut l = a.clone();
        cholesky(&mut l, n).unwrap();
        let mut x = b;
        cholesky_solve(&l, n, &mut x);
        for (x, t) in x.iter().zip(&x_true) {
            assert!((x - t).abs() < 1e-3, "{x} vs {t}");
        }
    }

    #[test]
    fn cholesky_rejects_an_indefinite_matrix() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&mut a, 2), Err(NotPositiveDefinite { pivot: 1 }));
        let mut b = vec![1.0; 9];
        b[4] = f32::NAN;
        assert!(spd_inverse(&mut b, 3).is_err());
    }

    #[test]
    fn blocked_inverse_times_matrix_is_identity() {
        // Several tiles, with a ragged last one, to exercise every branch of the blocking.
        for n in [1, 3, NB, 2 * NB + 13] {
            let a = random_spd(n, 1.0, 7 + n as u64);
            let mut inv = a.clone();
            spd_inverse(&mut inv, n).unwrap();
            let product = matmul(&a, &inv, n);
            for i in 0..n {
                for j in 0..n {
                    let expected = if i == j { 1.0 } else { 0.0 };
                    let got = product[i * n + j];
                    assert!((got - expected).abs() < 2e-3, "n={n} ({i},{j}): {got}");
                    assert_eq!(inv[i * n + j], inv[j * n + i]);
                }
            }
        }
    }
}
