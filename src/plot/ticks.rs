//! Axis ticks at round values: `1, 2, 5 × 10^k` (or the data's own values when there are few
//! of them) on log axes, and steps of `1, 2, 5 × 10^k` on linear axes, so that no axis is ever
//! labelled `1.995, 2.512, 3.162`.

/// Tolerance for "the same tick": ticks are compared on a relative scale of `1e-9`, far below
/// any printed digit (labels carry at most four significant digits).
const SAME_REL: f64 = 1e-9;

/// Round ticks for a logarithmic axis over `[lo, hi]` (data units, both `> 0`), in increasing
/// order: powers of ten when the range spans at least three of them (every other one, or every
/// third, when there would be more than ten), otherwise `1, 2, 5 × 10^k`, otherwise
/// `1, 2, …, 9 × 10^k`; an empty vector for an empty or non-positive range.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return vec![];
    }
    let (k0, k1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
    let within = |v: f64| v >= lo * (1.0 - SAME_REL) && v <= hi * (1.0 + SAME_REL);
    let with = |mant: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| mant.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| within(*v))
            .collect()
    };
    let decades = with(&[1.0]);
    if decades.len() >= 3 {
        let step = decades.len().div_ceil(10);
        return decades.into_iter().step_by(step).collect();
    }
    let t = with(&[1.0, 2.0, 5.0]);
    if t.len() >= 3 {
        return t;
    }
    with(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
}

/// The ticks of a log axis: the data's own distinct values when there are between two and eight
/// of them and each has at most three significant digits (e.g. `w = 0.25, 1, 4`), else
/// [`log_ticks`] over `[lo, hi]`.
pub fn log_axis_ticks(lo: f64, hi: f64, data: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = data
        .iter()
        .copied()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| (*a - *b).abs() <= SAME_REL * b.abs());
    // Data values label the axis only if they print short (0.25, 4, 1000 — not 3.333).
    let short = |x: &f64| {
        let m = x / 10f64.powf(x.log10().floor());
        ((m * 100.0).round() - m * 100.0).abs() < 1e-6 * m * 100.0
    };
    if (2..=8).contains(&v.len()) && v.iter().all(short) {
        v
    } else {
        log_ticks(lo, hi)
    }
}

/// Ticks of a linear axis over `[lo, hi]`: multiples of a step `1, 2, 5 × 10^k` chosen so that
/// there are about `target` of them (at least two for a non-empty range).
pub fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return vec![];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * (1.0 - SAME_REL))
        .unwrap_or(10.0 * p);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            // -0.0 and 1e-17 print as 0.
            if v.abs() < step * SAME_REL {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// The label of a tick: at most four significant digits, no trailing zeros (`0.25`, `1`,
/// `1000`), scientific for magnitudes `≥ 10^5` or `< 10^-3` (`10⁻⁴`, `2×10⁵`).
pub fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            v.to_string()
        };
    }
    let a = v.abs();
    let e = a.log10().floor() as i32;
    if !(-3..5).contains(&e) {
        let m = v / 10f64.powi(e);
        let m = (m * 1000.0).round() / 1000.0;
        // Rounding the mantissa can carry to 10 (9.9996e4 → 10e4).
        let (m, e) = if m.abs() >= 10.0 {
            (m / 10.0, e + 1)
        } else {
            (m, e)
        };
        let p = superscript(e);
        let m = trim(m, 3);
        return if m == "1" {
            format!("10{p}")
        } else if m == "-1" {
            format!("-10{p}")
        } else {
            format!("{m}×10{p}")
        };
    }
    let decimals = (3 - e).max(0) as usize;
    trim(v, decimals)
}

/// `-4` as `⁻⁴` (DejaVu Sans has the superscript digits and minus).
fn superscript(e: i32) -> String {
    e.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']
                [d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect()
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &[f64]) -> Vec<String> {
        v.iter().map(|x| tick_label(*x)).collect()
    }

    #[test]
    fn log_ticks_are_powers_of_ten_over_wide_ranges() {
        assert_eq!(
            labels(&log_ticks(0.003, 3000.0)),
            ["0.01", "0.1", "1", "10", "100", "1000"]
        );
        // More than ten decades: every other one.
        let t = log_ticks(1e-6, 1e8);
        assert!(t.len() <= 10, "{t:?}");
        assert!(t
            .iter()
            .all(|x| (x.log10() - x.log10().round()).abs() < 1e-9));
    }

    #[test]
    fn log_ticks_use_1_2_5_over_narrow_ranges() {
        assert_eq!(labels(&log_ticks(0.15, 6.0)), ["0.2", "0.5", "1", "2", "5"]);
        assert_eq!(
            labels(&log_ticks(1.5, 9.0)),
            ["2", "3", "4", "5", "6", "7", "8", "9"]
        );
    }

    #[test]
    fn log_ticks_are_never_the_old_irrational_values() {
        // The old axis labelled 10^(0.3), 10^(0.4), … as 1.995, 2.512; every tick is now
        // m × 10^k with an integer mantissa m in 1..=9.
        for (lo, hi) in [(1.0, 10.0), (0.25, 4.0), (0.0037, 4000.0), (64.0, 65536.0)] {
            for t in log_ticks(lo, hi) {
                let m = t / 10f64.powf(t.log10().floor());
                assert!((m - m.round()).abs() < 1e-9, "tick {t} over [{lo}, {hi}]");
                assert!(t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9));
            }
        }
    }

    #[test]
    fn log_axis_uses_the_data_values_when_few() {
        assert_eq!(
            labels(&log_axis_ticks(0.2, 5.0, &[1.0, 0.25, 4.0, 4.0])),
            ["0.25", "1", "4"]
        );
        // 10/3, 100/3, …: not short, so round ticks.
        let thirds = [10.0 / 3.0, 100.0 / 3.0, 1000.0 / 3.0];
        assert_eq!(
            labels(&log_axis_ticks(3.0, 400.0, &thirds)),
            ["5", "10", "20", "50", "100", "200"]
        );
        let many: Vec<f64> = (0..10).map(|i| 2f64.powi(i)).collect();
        assert_eq!(
            labels(&log_axis_ticks(1.0, 512.0, &many)),
            ["1", "10", "100"]
        );
    }

    #[test]
    fn linear_ticks_step_by_1_2_5() {
        assert_eq!(
            labels(&linear_ticks(0.0, 0.41, 8)),
            ["0", "0.1", "0.2", "0.3", "0.4"]
        );
        assert_eq!(
            labels(&linear_ticks(-0.3, 50.7, 8)),
            ["0", "10", "20", "30", "40", "50"]
        );
        assert!(linear_ticks(1.0, 1.0, 8).is_empty());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(1e-4), "10⁻⁴");
        assert_eq!(tick_label(2e5), "2×10⁵");
        assert_eq!(tick_label(1e6), "10⁶");
        assert_eq!(tick_label(-2.5e-5), "-2.5×10⁻⁵");
        assert_eq!(tick_label(10f64.powf(0.25f64.log10())), "0.25");
        assert_eq!(tick_label(0.001), "0.001");
        assert_eq!(tick_label(65536.0), "65536");
        assert_eq!(tick_label(-0.0), "0");
    }
}
