//! Dense symmetric positive-definite solves for the Newton systems of `problem.rs` at small
//! `n` (`n ≤ DENSE_MAX`): the upper triangle of a row-major square, factored in place as
//! `A = UᵀU` by the right-looking (outer-product) Cholesky, whose trailing update runs along
//! contiguous rows, four rows per sweep of the pivot row.
//!
//! Why not nalgebra's `cholesky`: it is correct and the reference of this module's tests, but
//! at Figure 9's size (`n = 50`, about 6 factorizations per replication) its generic column
//! updates cost about 107k instructions per factorization (callgrind), several times the
//! `n³/6 ≈ 21k` multiply–adds. The loops here vectorize; on x86-64 with AVX2 (detected at
//! run time) the same code is compiled four lanes wide. Every operation is an element-wise
//! multiply or subtract, or a dot product with four fixed accumulators, and none is fused, so
//! both builds give the same bits (tested).

/// A symmetric matrix held by its upper triangle (entries `(i, j)`, `j ≥ i`) in a row-major
/// `n × n` array; the strict lower triangle is scratch.
#[derive(Clone, Debug)]
pub(crate) struct Upper {
    n: usize,
    a: Vec<f64>,
}

/// `Σ x_k y_k` over two slices of equal length, with four accumulators (a fixed order, so the
/// result depends on the inputs alone).
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut s = [0.0f64; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        s[0] += a[0] * b[0];
        s[1] += a[1] * b[1];
        s[2] += a[2] * b[2];
        s[3] += a[3] * b[3];
    }
    let mut r = 0.0;
    for (a, b) in xr.iter().zip(yr) {
        r += a * b;
    }
    (s[0] + s[1]) + (s[2] + s[3]) + r
}

/// `r_m −= c_m · src` for four rows at once (each load of `src` serves four updates).
#[inline(always)]
fn sweep4(rows: [&mut [f64]; 4], src: &[f64], c: [f64; 4]) {
    let m = src.len();
    let [r0, r1, r2, r3] = rows;
    let (r0, r1, r2, r3) = (&mut r0[..m], &mut r1[..m], &mut r2[..m], &mut r3[..m]);
    for j in 0..m {
        let y = src[j];
        r0[j] -= c[0] * y;
        r1[j] -= c[1] * y;
        r2[j] -= c[2] * y;
        r3[j] -= c[3] * y;
    }
}

/// Factors the upper triangle of the row-major `n × n` array `a` in place (`A = UᵀU`) and
/// solves `A x = b`; `None` when a pivot is `≤ 0` or not finite.
#[inline(always)]
fn factor_solve(a: &mut [f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
    for k in 0..n {
        let (head, tail) = a.split_at_mut((k + 1) * n);
        let rk = &mut head[k * n..];
        let d = rk[k];
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        let u = d.sqrt();
        let inv = 1.0 / u;
        rk[k] = u;
        for x in rk[k + 1..].iter_mut() {
            *x *= inv;
        }
        let rk = &*rk;
        // Rows i > k: U_i,i.. −= U_k,i · U_k,i.. (rows i+1..i+3 of a block also update a few
        // entries left of their diagonal: scratch, never read).
        let mut i = k + 1;
        let mut t = tail;
        while i + 4 <= n {
            let (blk, rest) = t.split_at_mut(4 * n);
            let (r0, blk) = blk.split_at_mut(n);
            let (r1, blk) = blk.split_at_mut(n);
            let (r2, r3) = blk.split_at_mut(n);
            sweep4(
                [&mut r0[i..], &mut r1[i..], &mut r2[i..], &mut r3[i..]],
                &rk[i..],
                [rk[i], rk[i + 1], rk[i + 2], rk[i + 3]],
            );
            t = rest;
            i += 4;
        }
        while i < n {
            let (ri, rest) = t.split_at_mut(n);
            let c = rk[i];
            for (x, y) in ri[i..].iter_mut().zip(&rk[i..]) {
                *x -= c * y;
            }
            t = rest;
            i += 1;
        }
    }
    // Uᵀ y = b by columns of Uᵀ (rows of U), then U x = y by dot products.
    let mut x = b.to_vec();
    for k in 0..n {
        let rk = &a[k * n..(k + 1) * n];
        let xk = x[k] / rk[k];
        x[k] = xk;
        for (xj, u) in x[k + 1..].iter_mut().zip(&rk[k + 1..]) {
            *xj -= u * xk;
        }
    }
    for k in (0..n).rev() {
        let rk = &a[k * n..(k + 1) * n];
        x[k] = (x[k] - dot(&rk[k + 1..], &x[k + 1..])) / rk[k];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// [`factor_solve`] compiled with AVX2 (four lanes; no FMA, so the same bits).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn factor_solve_avx2(a: &mut [f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
    factor_solve(a, n, b)
}

impl Upper {
    /// The `n × n` matrix with every entry equal to `v`.
    pub(crate) fn filled(n: usize, v: f64) -> Self {
        Upper {
            n,
            a: vec![v; n * n],
        }
    }

    /// The order `n`.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Adds `v` to entry `(i, j)` (and so to `(j, i)`); `i ≠ j` in either order, or `i = j`.
    #[inline]
    pub(crate) fn add(&mut self, i: usize, j: usize, v: f64) {
        let (r, c) = if i <= j { (i, j) } else { (j, i) };
        self.a[r * self.n + c] += v;
    }

    /// Row `i` of the upper triangle, `(i, i..n)`.
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let n = self.n;
        &mut self.a[i * n + i..(i + 1) * n]
    }

    /// Entry `(i, j)`.
    pub(crate) fn get(&self, i: usize, j: usize) -> f64 {
        let (r, c) = if i <= j { (i, j) } else { (j, i) };
        self.a[r * self.n + c]
    }

    /// Solves `A x = b` by Cholesky, consuming `A`; `None` when `A` is not numerically
    /// positive definite (a pivot `≤ 0` or not finite).
    pub(crate) fn cholesky_solve(self, b: &[f64]) -> Option<Vec<f64>> {
        self.solve_with(b, true)
    }

    /// [`Upper::cholesky_solve`], on the AVX2 build when `wide` and the CPU has it.
    fn solve_with(mut self, b: &[f64], wide: bool) -> Option<Vec<f64>> {
        let n = self.n;
        assert_eq!(b.len(), n, "right-hand side of length n");
        #[cfg(target_arch = "x86_64")]
        if wide && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            return unsafe { factor_solve_avx2(&mut self.a, n, b) };
        }
        let _ = wide;
        factor_solve(&mut self.a, n, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_spd(n: usize, rng: &mut ChaCha8Rng) -> DMatrix<f64> {
        let b = DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0));
        &b * b.transpose() + DMatrix::identity(n, n) * 0.1
    }

    fn upper_of(m: &DMatrix<f64>) -> Upper {
        let n = m.nrows();
        let mut p = Upper::filled(n, 0.0);
        for i in 0..n {
            for j in i..n {
                p.add(i, j, m[(i, j)]);
            }
        }
        p
    }

    /// The solve agrees with nalgebra's Cholesky to 1e-10 (relative) on random SPD
    /// systems of every size from 1 to 60 (remainders of the four-wide inner products
    /// included), and its residual `‖Ax − b‖` is at round-off.
    #[test]
    fn upper_cholesky_matches_nalgebra() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for n in 1..=60 {
            let m = random_spd(n, &mut rng);
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let want = m
                .clone()
                .cholesky()
                .unwrap()
                .solve(&DVector::from_column_slice(&b));
            let got = upper_of(&m).cholesky_solve(&b).unwrap();
            let scale = want.amax().max(1.0);
            for k in 0..n {
                approx::assert_relative_eq!(got[k], want[k], epsilon = 1e-10 * scale);
            }
            let r = &m * DVector::from_column_slice(&got) - DVector::from_column_slice(&b);
            assert!(
                r.amax() <= 1e-10 * (m.amax() * scale),
                "n = {n}: residual {}",
                r.amax()
            );
        }
    }

    /// The AVX2 build and the portable build give the same bits (no fused operations; the
    /// same accumulators), so results do not depend on the CPU.
    #[test]
    fn wide_and_portable_builds_agree_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for n in [1, 2, 3, 5, 8, 13, 50, 77] {
            let m = random_spd(n, &mut rng);
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let wide = upper_of(&m).solve_with(&b, true).unwrap();
            let portable = upper_of(&m).solve_with(&b, false).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&wide), bits(&portable), "n = {n}");
        }
    }

    /// Not positive definite (a negative or zero pivot, or NaN): `None`, as nalgebra.
    #[test]
    fn indefinite_or_nan_is_refused() {
        let mut p = Upper::filled(2, 0.0);
        p.add(0, 0, 1.0);
        p.add(1, 0, 2.0);
        p.add(1, 1, 1.0);
        assert!(p.cholesky_solve(&[1.0, 1.0]).is_none());
        let mut z = Upper::filled(2, 0.0);
        z.add(0, 0, 1.0);
        assert!(z.cholesky_solve(&[1.0, 1.0]).is_none());
        let mut q = Upper::filled(1, 0.0);
        q.add(0, 0, f64::NAN);
        assert!(q.cholesky_solve(&[1.0]).is_none());
        assert_eq!(Upper::filled(3, 1.0).get(0, 2).to_bits(), 1.0f64.to_bits());
        assert_eq!(Upper::filled(3, 1.0).n(), 3);
    }
}
