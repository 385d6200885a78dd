//! Symmetric positive-definite algebra on [faer]: Gram matrices `YᵀY`, Cholesky factors and
//! solves (ALS's exact solver and fold-in, the rating models' Gibbs draws and fold-in) and
//! the inverse of EASE's `n × n` item matrix.
//!
//! Matrices are row-major and contiguous, as everywhere in the models; faer reads them
//! through strided views, so nothing is copied. A factor `L` is left in the lower triangle
//! (`a = L·Lᵀ`) and only the lower triangle of the input is read, so callers may build just
//! that half. Small factorisations run on the calling thread (`Par::Seq`: ALS calls them
//! inside its own parallel loop over rows); the large ones (EASE's inverse, the Gram of a
//! factor matrix) use rayon's pool. Results do not depend on the number of threads: faer
//! splits the work by output blocks, each summed in a fixed order.
//!
//! The hand-written blocked kernels these replaced are kept in the tests
//! (`reference.rs`), which check that both agree; on 2 cores faer is about 4.6× faster for
//! an 8,000-item inverse and 2× for a 64 × 64 factorisation (`docs/models.md`).

#[cfg(test)]
mod reference;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// A pivot of a Cholesky factorisation was not positive: the matrix is not (numerically)
/// positive definite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the matrix is not positive definite (pivot {pivot})")]
pub struct NotPositiveDefinite {
    pub pivot: usize,
}

/// Factors the symmetric positive-definite `n × n` matrix `a` (row-major; only its lower
/// triangle is read) in place as `L·Lᵀ`, `L` in the lower triangle.
pub fn cholesky<T: Real>(a: &mut [T], n: usize) -> Result<(), NotPositiveDefinite> {
    assert_eq!(a.len(), n * n, "cholesky needs an n × n matrix");
    factor(MatMut::from_row_major_slice_mut(a, n, n), Par::Seq)
}

/// Solves `L·Lᵀ·x = b` in place (`b` becomes `x`) with the factor from [`cholesky`].
pub fn cholesky_solve<T: Real>(l: &[T], n: usize, b: &mut [T]) {
    let l = MatRef::from_row_major_slice(l, n, n);
    let b = MatMut::from_column_major_slice_mut(b, n, 1);
    let scratch = llt::solve::solve_in_place_scratch::<T>(n, 1, Par::Seq);
    let mut buffer = MemBuffer::new(scratch);
    llt::solve::solve_in_place_with_conj(
        l,
        faer::Conj::No,
        b,
        Par::Seq,
        MemStack::new(&mut buffer),
    );
}

/// [`cholesky`] then [`cholesky_solve`]: solves `a·x = b` in place (`b` becomes `x`, `a` its
/// factor). `false` when `a` is not positive definite (then `b` is unchanged).
pub fn cholesky_and_solve<T: Real>(a: &mut [T], b: &mut [T], n: usize) -> bool {
    if cholesky(a, n).is_err() {
        return false;
    }
    cholesky_solve(a, n, b);
    true
}

/// Inverts the symmetric positive-definite `n × n` matrix `a` in place (read from its lower
/// triangle; the full symmetric inverse is written back).
///
/// `a = L·Lᵀ`, then `L⁻¹`, then `a⁻¹ = L⁻ᵀ·L⁻¹`: about `n³` multiply-adds in all, half the
/// work of a general inverse, in rayon's pool. Peak memory is two `n × n` matrices: `a` and
/// `L⁻¹` (faer's own scratch is small beside them).
pub fn spd_inverse(a: &mut [f32], n: usize) -> Result<(), NotPositiveDefinite> {
    assert_eq!(a.len(), n * n, "spd_inverse needs an n × n matrix");
    let par = Par::rayon(0);
    // A symmetric matrix is its own transpose: read as column-major, which faer prefers.
    factor(MatMut::from_column_major_slice_mut(a, n, n), par)?;
    let mut inverse_factor = Mat::<f32>::zeros(n, n);
    faer::linalg::triangular_inverse::invert_lower_triangular(
        inverse_factor.as_mut(),
        MatRef::from_column_major_slice(a, n, n),
        par,
    );
    // L is no longer needed: the lower triangle of L⁻ᵀ·L⁻¹ overwrites it.
    faer::linalg::matmul::triangular::matmul(
        MatMut::from_column_major_slice_mut(a, n, n),
        BlockStructure::TriangularLower,
        Accum::Replace,
        inverse_factor.transpose(),
        BlockStructure::TriangularUpper,
        inverse_factor.as_ref(),
        BlockStructure::TriangularLower,
        1.0,
        par,
    );
    drop(inverse_factor);
    mirror_lower_column_major(a, n);
    Ok(())
}

/// `YᵀY` for the `n × f` row-major matrix `y`, as a full symmetric `f × f` matrix.
pub fn gram(y: &[f32], f: usize) -> Vec<f32> {
    let mut out = vec![0f32; f * f];
    if f == 0 {
        return out;
    }
    let n = y.len() / f;
    let y = MatRef::from_row_major_slice(&y[..n * f], n, f);
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut out, f, f),
        Accum::Replace,
        y.transpose(),
        y,
        1.0f32,
        Par::rayon(0),
    );
    out
}

/// The element types factored here.
pub trait Real: faer::traits::RealField + Copy {}
impl Real for f32 {}
impl Real for f64 {}

/// Cholesky of `a` in place (lower triangle), mapping faer's error to ours.
fn factor<T: Real>(a: MatMut<'_, T>, par: Par) -> Result<(), NotPositiveDefinite> {
    let n = a.nrows();
    let params = Default::default();
    let scratch = llt::factor::cholesky_in_place_scratch::<T>(n, par, params);
    let mut buffer = MemBuffer::new(scratch);
    llt::factor::cholesky_in_place(
        a,
        Default::default(),
        par,
        MemStack::new(&mut buffer),
        params,
    )
    .map(|_| ())
    .map_err(
        |llt::factor::LltError::NonPositivePivot { index }| NotPositiveDefinite { pivot: index },
    )
}

/// Copies the strict lower triangle of a column-major `n × n` matrix onto its upper one,
/// tile by tile (cache-friendly); in row-major terms, upper onto lower — either way the
/// result is the full symmetric matrix.
fn mirror_lower_column_major(a: &mut [f32], n: usize) {
    const TILE: usize = 64;
    for j0 in (0..n).step_by(TILE) {
        for i0 in (j0..n).step_by(TILE) {
            for j in j0..(j0 + TILE).min(n) {
                for i in i0.max(j + 1)..(i0 + TILE).min(n) {
                    // (i, j) with i > j is lower, at a[j·n + i] in column-major.
                    a[i * n + j] = a[j * n + i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::Rng;

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
    fn cholesky_solves_a_hand_computed_system() {
        // [[4, 2], [2, 3]] x = [2, 1]  →  x = [0.5, 0]
        let mut a = vec![4.0f64, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_and_solve(&mut a, &mut b, 2));
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut singular = vec![1.0f64, 1.0, 1.0, 1.0];
        assert!(!cholesky_and_solve(&mut singular, &mut [1.0, 1.0], 2));
        let mut indefinite = vec![1.0f32, 2.0, 2.0, 1.0];
        assert_eq!(
            cholesky(&mut indefinite, 2),
            Err(NotPositiveDefinite { pivot: 1 })
        );
    }

    #[test]
    fn only_the_lower_triangle_is_read() {
        let n = 9;
        let a = random_spd(n, 0.5, 3);
        let mut lower_only = a.clone();
        for i in 0..n {
            for j in i + 1..n {
                lower_only[i * n + j] = f32::NAN;
            }
        }
        let mut full = a;
        cholesky(&mut full, n).unwrap();
        cholesky(&mut lower_only, n).unwrap();
        for i in 0..n {
            for j in 0..=i {
                assert_eq!(full[i * n + j], lower_only[i * n + j]);
            }
        }
    }

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        for n in [1, 3, 64, 141] {
            let a = random_spd(n, 1.0, 7 + n as u64);
            let mut inverse = a.clone();
            spd_inverse(&mut inverse, n).unwrap();
            let product = matmul(&a, &inverse, n);
            for i in 0..n {
                for j in 0..n {
                    let expected = if i == j { 1.0 } else { 0.0 };
                    let got = product[i * n + j];
                    assert!((got - expected).abs() < 2e-3, "n={n} ({i},{j}): {got}");
                    assert_eq!(inverse[i * n + j], inverse[j * n + i]);
                }
            }
        }
        let mut not_finite = vec![1.0; 9];
        not_finite[4] = f32::NAN;
        assert!(spd_inverse(&mut not_finite, 3).is_err());
    }

    #[test]
    fn faer_agrees_with_the_hand_written_kernels_it_replaced() {
        for (n, seed) in [(5, 1), (70, 2), (300, 3)] {
            let a = random_spd(n, 2.0, seed);
            // The inverse, relative to the size of its entries.
            let (mut ours, mut theirs) = (a.clone(), a.clone());
            spd_inverse(&mut ours, n).unwrap();
            reference::spd_inverse(&mut theirs, n).unwrap();
            let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (x, y) in ours.iter().zip(&theirs) {
                assert!((x - y).abs() <= 1e-5 * scale.max(1.0), "n={n}: {x} vs {y}");
            }
            // The factor and a solve.
            let (mut ours, mut theirs) = (a.clone(), a.clone());
            cholesky(&mut ours, n).unwrap();
            reference::cholesky(&mut theirs, n).unwrap();
            let b = random_matrix(1, n, seed + 10);
            let (mut x, mut y) = (b.clone(), b);
            cholesky_solve(&ours, n, &mut x);
            reference::cholesky_solve(&theirs, n, &mut y);
            let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (p, q) in x.iter().zip(&y) {
                assert!((p - q).abs() <= 1e-5 * scale.max(1.0), "n={n}: {p} vs {q}");
            }
            for i in 0..n {
                for j in 0..=i {
                    let (p, q) = (ours[i * n + j], theirs[i * n + j]);
                    assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "L ({i},{j})");
                }
            }
            // The Gram matrix.
            let y = random_matrix(2_000, n.min(64), seed + 20);
            let f = n.min(64);
            let (ours, theirs) = (gram(&y, f), reference::gram(&y, f));
            for (p, q) in ours.iter().zip(&theirs) {
                assert!((p - q).abs() <= 1e-5 * q.abs().max(100.0), "{p} vs {q}");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let n = 300;
        let a = random_spd(n, 1.0, 11);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut inverse = a.clone();
                spd_inverse(&mut inverse, n).unwrap();
                (inverse, gram(&a, n))
            })
        };
        assert_eq!(run(1), run(3));
    }
}
