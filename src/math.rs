//! Log-space primitives shared by every layer (SPEC conventions).

/// `log Σ_j exp(z_j)` with the maximum subtracted. Returns `-∞` for an empty slice or when every
/// entry is `-∞`.
pub fn lse(z: &[f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if m == f64::INFINITY {
        return f64::INFINITY;
    }
    m + z.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

/// `log σ(x) = −log(1 + e^{−x})`, accurate for large |x|.
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// `σ(x) = 1/(1+e^{−x})` without overflow.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log softmax(z)`; entries equal to `-∞` stay `-∞`.
pub fn log_softmax(z: &[f64]) -> Vec<f64> {
    let l = lse(z);
    z.iter().map(|&x| x - l).collect()
}

/// `softmax(z)`.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    log_softmax(z).into_iter().map(f64::exp).collect()
}

/// Total variation distance `½ Σ |p_i − q_i|`.
pub fn tv(p: &[f64], q: &[f64]) -> f64 {
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// `KL(p ‖ q) = Σ p_i log(p_i/q_i)` with `0 log 0 = 0`; `+∞` when `q_i = 0 < p_i`.
pub fn kl(p: &[f64], q: &[f64]) -> f64 {
    let mut s = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        if a > 0.0 {
            if b <= 0.0 {
                return f64::INFINITY;
            }
            s += a * (a / b).ln();
        }
    }
    s.max(0.0)
}

/// Mean of the finite entries (used to normalise rewards to mean zero over covered actions).
pub fn mean_finite(x: &[f64]) -> f64 {
    let (s, c) = x
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, c), &v| (s + v, c + 1));
    if c == 0 {
        0.0
    } else {
        s / c as f64
    }
}

/// Least-squares slope, intercept and the slope's standard error of `y` on `x`.
pub fn linear_fit(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    let se = if x.len() > 2 {
        (rss / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    (slope, intercept, se)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn lse_is_stable_for_large_inputs() {
        assert_relative_eq!(lse(&[1000.0, 1000.0]), 1000.0 + 2f64.ln(), epsilon = 1e-12);
        let l = lse(&[f64::NEG_INFINITY; 3]);
        assert!(l.is_infinite() && l < 0.0);
    }

    #[test]
    fn log_sigmoid_matches_direct_formula_and_tails() {
        for &x in &[-30.0, -2.0, 0.0, 0.5, 3.0, 30.0] {
            assert_relative_eq!(
                log_sigmoid(x),
                (1.0 / (1.0 + (-x).exp())).ln(),
                max_relative = 1e-12
            );
        }
        assert_relative_eq!(log_sigmoid(-800.0), -800.0, max_relative = 1e-15);
        assert!(log_sigmoid(800.0).abs() < 1e-300);
    }
}
