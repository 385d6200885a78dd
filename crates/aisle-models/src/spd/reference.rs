//! The hand-written blocked kernels [`super`] replaced with faer, kept so the tests can
//! check that both agree (and as a record of what was measured against).

use rayon::prelude::*;

use super::NotPositiveDefinite;
use crate::linalg::{axpy, dot, gemm_nt};

/// Tile size of the blocked factorisation and inversion.
const NB: usize = 64;

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
