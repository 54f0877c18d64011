//! Statistics of Monte Carlo studies: means with Student-t confidence intervals, paired
//! differences, binomial proportions (Wilson), and least-squares slopes with their intervals.
//!
//! Every interval is two-sided at `level` (for example 0.95). Replications of a study are
//! independent, so the t interval of a mean is exact for normal data and asymptotically valid
//! otherwise (10^3–10^4 replications in the published studies).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Mean, spread and a confidence interval of a sample.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Sample size.
    pub n: usize,
    /// Sample mean (NaN when `n = 0`).
    pub mean: f64,
    /// Sample standard deviation (divisor `n − 1`; NaN when `n < 2`).
    pub sd: f64,
    /// Standard error `sd/√n`.
    pub se: f64,
    /// Lower end of the t interval of the mean.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Summary {
    /// An empty summary (all NaN): what a sample of size 0 gives.
    pub fn empty() -> Self {
        Summary {
            n: 0,
            mean: f64::NAN,
            sd: f64::NAN,
            se: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        }
    }

    /// Half-width of the interval.
    pub fn half_width(&self) -> f64 {
        0.5 * (self.hi - self.lo)
    }
}

/// The `(1 + level)/2` quantile of Student's t with `df` degrees of freedom (normal when
/// `df = ∞`). NaN when `df` is not positive or `level` is outside `(0, 1)`.
pub fn t_quantile(level: f64, df: f64) -> f64 {
    // Written so that NaN inputs land here too.
    let ok = level > 0.0 && level < 1.0 && df > 0.0;
    if !ok {
        return f64::NAN;
    }
    let p = 0.5 + 0.5 * level;
    if df.is_infinite() {
        return Normal::new(0.0, 1.0).map_or(f64::NAN, |d| d.inverse_cdf(p));
    }
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |d| d.inverse_cdf(p))
}

/// `z` quantile `(1 + level)/2` of the standard normal.
pub fn z_quantile(level: f64) -> f64 {
    t_quantile(level, f64::INFINITY)
}

/// Mean, standard deviation and the t interval of the mean. Two-pass (mean first) for
/// accuracy; non-finite entries are a caller error and propagate as NaN/∞.
pub fn summarize(xs: &[f64], level: f64) -> Summary {
    let n = xs.len();
    if n == 0 {
        return Summary::empty();
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Summary {
            n,
            mean,
            sd: f64::NAN,
            se: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    let sd = (ss / (n - 1) as f64).sqrt();
    let se = sd / (n as f64).sqrt();
    let h = t_quantile(level, (n - 1) as f64) * se;
    Summary {
        n,
        mean,
        sd,
        se,
        lo: mean - h,
        hi: mean + h,
    }
}

/// Paired comparison: the summary of `a_k − b_k` over the indices where both are `Some`
/// (replications on which both estimators exist). Returns the summary and the number of
/// pairs dropped because one side is missing.
pub fn paired(a: &[Option<f64>], b: &[Option<f64>], level: f64) -> (Summary, usize) {
    let mut d = Vec::with_capacity(a.len());
    let mut dropped = 0;
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Some(x), Some(y)) => d.push(x - y),
            _ => dropped += 1,
        }
    }
    (summarize(&d, level), dropped)
}

/// A binomial proportion `k/n` with its Wilson score interval (good coverage also at
/// `k = 0` or `k = n`, where the Wald interval collapses).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Proportion {
    /// Number of successes.
    pub k: usize,
    /// Number of trials (`k ≤ n` expected).
    pub n: usize,
    /// Point estimate `k/n` (NaN when `n = 0`).
    pub p: f64,
    /// Lower end of the Wilson interval, clamped to `≥ 0` (NaN when `n = 0`).
    pub lo: f64,
    /// Upper end of the Wilson interval, clamped to `≤ 1` (NaN when `n = 0`).
    pub hi: f64,
}

/// Wilson score interval for `k` successes in `n` trials.
pub fn wilson(k: usize, n: usize, level: f64) -> Proportion {
    if n == 0 {
        return Proportion {
            k,
            n,
            p: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let z = z_quantile(level);
    let nf = n as f64;
    let p = k as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    Proportion {
        k,
        n,
        p,
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    }
}

/// A least-squares line `y = slope·x + intercept` with the slope's t interval (`n − 2` d.f.).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct SlopeFit {
    /// Least-squares slope (NaN with fewer than 2 finite points); in the log–log fits of the
    /// studies, the convergence rate exponent.
    pub slope: f64,
    /// Least-squares intercept (NaN with fewer than 2 finite points).
    pub intercept: f64,
    /// Standard error of the slope (NaN with fewer than 3 points).
    pub se: f64,
    /// Lower end of the slope's t interval at the requested level (NaN with fewer than 3 points).
    pub lo: f64,
    /// Upper end of the slope's t interval (NaN with fewer than 3 points).
    pub hi: f64,
    /// Number of points.
    pub points: usize,
}

/// Fits a line through `(x, y)` (uses [`crate::math::linear_fit`]) and adds the slope's
/// interval. Points with a non-finite coordinate are skipped.
pub fn slope_fit(x: &[f64], y: &[f64], level: f64) -> SlopeFit {
    let (xs, ys): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .unzip();
    let points = xs.len();
    if points < 2 {
        return SlopeFit {
            slope: f64::NAN,
            intercept: f64::NAN,
            se: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            points,
        };
    }
    let (slope, intercept, se) = crate::math::linear_fit(&xs, &ys);
    let h = t_quantile(level, points as f64 - 2.0) * se;
    SlopeFit {
        slope,
        intercept,
        se,
        lo: slope - h,
        hi: slope + h,
        points,
    }
}

/// Pearson's correlation of paired samples (NaN when either has zero variance or `n < 2`).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    use statrs::statistics::Statistics;
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    x.covariance(y) / (x.std_dev() * y.std_dev())
}

/// NaN-propagating maximum: NaN when `xs` is empty or holds a NaN (unlike `f64::max`, which
/// drops NaN). Every worst-case aggregation of a claim goes through this or [`Worst`], so a
/// claim cannot pass on a NaN or on an empty set.
pub fn max_of(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut w = Worst::max();
    w.extend(xs);
    w.value()
}

/// NaN-propagating minimum: NaN when `xs` is empty or holds a NaN.
pub fn min_of(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut w = Worst::min();
    w.extend(xs);
    w.value()
}

/// A running worst case (largest or smallest value) that counts what it saw and remembers a
/// NaN: [`Worst::value`] is NaN when nothing was pushed or any pushed value was NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Worst {
    value: f64,
    count: usize,
    nan: bool,
    largest: bool,
}

impl Worst {
    /// Tracks the largest value.
    pub fn max() -> Self {
        Worst {
            value: f64::NEG_INFINITY,
            count: 0,
            nan: false,
            largest: true,
        }
    }

    /// Tracks the smallest value.
    pub fn min() -> Self {
        Worst {
            value: f64::INFINITY,
            count: 0,
            nan: false,
            largest: false,
        }
    }

    /// Adds one value.
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        if x.is_nan() {
            self.nan = true;
        } else if (self.largest && x > self.value) || (!self.largest && x < self.value) {
            self.value = x;
        }
    }

    /// Adds several values.
    pub fn extend(&mut self, xs: impl IntoIterator<Item = f64>) {
        for x in xs {
            self.push(x);
        }
    }

    /// The worst value: NaN when empty or when a NaN was pushed.
    pub fn value(&self) -> f64 {
        if self.nan || self.count == 0 {
            f64::NAN
        } else {
            self.value
        }
    }

    /// How many values were pushed.
    pub fn count(&self) -> usize {
        self.count
    }
}

/// The decision of a log–log rate claim `E = O(n^{claimed})` (Theorem 4.1's `K^{-1/2}`, the
/// `n^{-1/2}` of a consistent estimator) from a fitted slope with its interval: PASS when the
/// whole interval lies at or below `claimed + tol::SLOPE_MARGIN`, FAIL when it lies wholly
/// above, INCONCLUSIVE when it contains that bound (with the number of points that would
/// decide). A decay as slow as `n^{claimed/2}` fails; an exact `n^{claimed}` with a tight
/// interval passes; a noisy one is never FAIL.
pub fn slope_decision(fit: &SlopeFit, claimed: f64, unit: &str) -> crate::verify::Decision {
    crate::verify::interval_decision(
        fit.slope,
        fit.lo,
        fit.hi,
        fit.points,
        crate::verify::Relation::AtMost,
        claimed + crate::tol::SLOPE_MARGIN,
        unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn t_quantiles_match_tables() {
        // Standard tables (e.g. NIST/SEMATECH e-Handbook, Table 1.4.2.7.2).
        assert_relative_eq!(t_quantile(0.95, 1.0), 12.706, epsilon = 1e-3);
        assert_relative_eq!(t_quantile(0.95, 10.0), 2.228, epsilon = 1e-3);
        assert_relative_eq!(t_quantile(0.99, 30.0), 2.750, epsilon = 1e-3);
        assert_relative_eq!(z_quantile(0.95), 1.959964, epsilon = 1e-6);
        assert!(t_quantile(1.0, 5.0).is_nan());
        assert!(t_quantile(0.95, 0.0).is_nan());
    }

    #[test]
    fn summary_of_a_known_sample() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0], 0.95);
        assert_relative_eq!(s.mean, 2.5, epsilon = 1e-15);
        assert_relative_eq!(s.sd, (5.0f64 / 3.0).sqrt(), epsilon = 1e-15);
        // 2.5 ± 3.182446 · 0.645497
        assert_relative_eq!(
            s.hi,
            2.5 + 3.182_446_305 * (5.0f64 / 12.0).sqrt(),
            epsilon = 1e-8
        );
        assert_eq!(summarize(&[], 0.95).n, 0);
        assert!(summarize(&[1.0], 0.95).lo.is_nan());
    }

    #[test]
    fn paired_drops_missing_and_differences_the_rest() {
        let a = [Some(1.0), None, Some(3.0), Some(5.0)];
        let b = [Some(0.5), Some(1.0), None, Some(4.0)];
        let (s, dropped) = paired(&a, &b, 0.95);
        assert_eq!(dropped, 2);
        assert_eq!(s.n, 2);
        assert_relative_eq!(s.mean, 0.75, epsilon = 1e-15);
    }

    #[test]
    fn wilson_interval_has_known_values_and_handles_edges() {
        // Wilson (1927) / Newcombe (1998) Table I: 81/263 → (0.2553, 0.3662) at 95 %.
        let p = wilson(81, 263, 0.95);
        assert_relative_eq!(p.lo, 0.2553, epsilon = 1e-4);
        assert_relative_eq!(p.hi, 0.3662, epsilon = 1e-4);
        let z = wilson(0, 100, 0.95);
        assert!(z.lo.abs() < 1e-15 && z.hi > 0.03 && z.hi < 0.04, "{z:?}");
        assert!(wilson(0, 0, 0.95).p.is_nan());
    }

    #[test]
    fn slope_interval_covers_the_true_slope_of_exact_data() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| -0.5 * v + 1.0).collect();
        let f = slope_fit(&x, &y, 0.95);
        assert_relative_eq!(f.slope, -0.5, epsilon = 1e-12);
        assert!(f.se < 1e-12);
        let y2 = [1.0, 0.6, -0.1, -0.4, -1.1];
        let f2 = slope_fit(&x, &y2, 0.95);
        assert!(f2.lo < f2.slope && f2.slope < f2.hi);
    }

    /// Synthetic log–log sequences with a known answer for the rate rule (issue 12, part 3):
    /// `E(K) = c K^{-1/4}` must FAIL the `K^{-1/2}` rule; `c K^{-1/2}` with multiplicative noise
    /// must not FAIL (PASS or INCONCLUSIVE); an exact `K^{-1/2}` PASSES; a grid too short to
    /// decide is INCONCLUSIVE with a number of points that would decide.
    #[test]
    fn slope_rule_on_synthetic_rates() {
        use crate::verify::Verdict;
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let ks: Vec<f64> = (6..=16).map(|e| f64::from(1u32 << e)).collect();
        let fit_of = |exp: f64, noise: f64, seeds: usize, seed: u64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let z = Normal::new(0.0, noise).unwrap();
            let (mut x, mut y) = (vec![], vec![]);
            for &k in &ks {
                for _ in 0..seeds {
                    x.push(k.ln());
                    y.push((3.0 * k.powf(exp)).ln() + z.sample(&mut rng));
                }
            }
            slope_fit(&x, &y, 0.95)
        };
        // Slow decay: FAIL whatever the seed.
        for seed in 0..20 {
            let d = slope_decision(&fit_of(-0.25, 0.1, 8, seed), -0.5, "runs");
            assert_eq!(d.verdict, Verdict::Fail, "K^-1/4, seed {seed}: {d:?}");
        }
        // Exact K^-1/2: PASS.
        let d = slope_decision(&fit_of(-0.5, 0.0, 1, 0), -0.5, "runs");
        assert_eq!(d.verdict, Verdict::Pass, "{d:?}");
        // Noisy K^-1/2 (30% log-noise): never FAIL.
        let mut seen = [0usize; 2];
        for seed in 0..50 {
            let d = slope_decision(&fit_of(-0.5, 0.3, 8, seed), -0.5, "runs");
            assert_ne!(d.verdict, Verdict::Fail, "noisy K^-1/2, seed {seed}: {d:?}");
            seen[usize::from(d.verdict == Verdict::Pass)] += 1;
        }
        // Very noisy and few points: INCONCLUSIVE, with a finite sample size that would decide.
        let d = slope_decision(&fit_of(-0.5, 1.5, 1, 3), -0.5, "runs");
        assert_eq!(d.verdict, Verdict::Inconclusive, "{d:?}");
        assert!(d.units_to_decide.is_some_and(|n| n > d.n as f64), "{d:?}");
        // A non-finite fit is ERROR.
        let d = slope_decision(&slope_fit(&[1.0], &[1.0], 0.95), -0.5, "runs");
        assert_eq!(d.verdict, Verdict::Error);
        assert!(seen[1] > 0, "noisy K^-1/2 never passed: {seen:?}");
    }

    #[test]
    fn nan_propagating_folds() {
        assert!(max_of([1.0, f64::NAN]).is_nan());
        assert!(min_of([f64::NAN, 1.0]).is_nan());
        assert!(max_of(std::iter::empty()).is_nan());
        assert_relative_eq!(max_of([1.0, 3.0, 2.0]), 3.0, epsilon = 0.0);
        assert_relative_eq!(min_of([1.0, -3.0, 2.0]), -3.0, epsilon = 0.0);
        let mut w = Worst::max();
        w.extend([1.0, 2.0]);
        assert_relative_eq!(w.value(), 2.0, epsilon = 0.0);
        assert_eq!(w.count(), 2);
    }
}
