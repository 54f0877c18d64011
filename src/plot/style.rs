//! One colour and one marker per estimator, shared by every figure, so that AIHF has the same
//! colour and marker in a Fig. 9 panel, a rate plot and a bar chart.
//!
//! A series names its estimator by an explicit key ([`super::Series::key`]) or, without one, by
//! its label: [`estimator_key`] finds the estimator's name in the label (`"AIHF (mean, 100
//! reps)"` is AIHF, `"AIHF-normalized"` is the normalized AIHF variant). Colours are the
//! Okabe–Ito colour-blind-safe palette, extended; labels that name no known estimator get a
//! colour and marker from a hash of the label, so they too are the same in every figure.

use plotters::style::RGBColor;

/// A point marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled triangle pointing up.
    TriangleUp,
    /// A filled diamond.
    Diamond,
    /// A filled triangle pointing down.
    TriangleDown,
    /// A diagonal cross (×).
    Cross,
    /// An upright cross (+).
    Plus,
    /// A filled pentagon.
    Pentagon,
    /// A filled five-pointed star.
    Star,
    /// A filled hexagon.
    Hexagon,
    /// A filled triangle pointing right.
    TriangleRight,
    /// A filled triangle pointing left.
    TriangleLeft,
    /// A large hollow ring, drawn around other markers to highlight points.
    Ring,
    /// No marker (reference lines).
    None,
}

/// How one estimator is drawn in every figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EstimatorStyle {
    /// Line, marker and bar colour.
    pub color: RGBColor,
    /// Point marker.
    pub marker: Marker,
}

/// The known estimators: `(key, colour, marker)`. Keys are what [`estimator_key`] returns.
pub const KNOWN: &[(&str, RGBColor, Marker)] = &[
    ("truth", RGBColor(60, 60, 60), Marker::Plus),
    ("SFT", RGBColor(0, 114, 178), Marker::Circle),
    ("BTL", RGBColor(230, 159, 0), Marker::Square),
    ("RLHF", RGBColor(0, 158, 115), Marker::TriangleUp),
    ("AIHF", RGBColor(213, 94, 0), Marker::Diamond),
    (
        "AIHF (normalized)",
        RGBColor(204, 121, 167),
        Marker::TriangleDown,
    ),
    ("DPO", RGBColor(86, 180, 233), Marker::Cross),
    ("IPO", RGBColor(140, 86, 75), Marker::Pentagon),
    ("Direct AIHF", RGBColor(150, 0, 40), Marker::Star),
    ("SPIN", RGBColor(128, 128, 0), Marker::Hexagon),
    (
        "Self-Play AIHF",
        RGBColor(117, 112, 179),
        Marker::TriangleRight,
    ),
    ("reference", RGBColor(110, 110, 110), Marker::None),
    ("highlight", RGBColor(0, 0, 0), Marker::Ring),
    ("off-scale", RGBColor(110, 110, 110), Marker::TriangleUp),
];

/// Colours and markers for labels that name no known estimator (picked by a hash of the label).
const SPARE_COLORS: [RGBColor; 6] = [
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
    RGBColor(90, 90, 160),
    RGBColor(188, 189, 34),
    RGBColor(100, 60, 20),
    RGBColor(31, 70, 40),
];
const SPARE_MARKERS: [Marker; 5] = [
    Marker::TriangleLeft,
    Marker::Hexagon,
    Marker::Pentagon,
    Marker::Star,
    Marker::Square,
];

/// The estimator a label names, as a key of [`KNOWN`], or `None` when it names none.
///
/// Longer names are tried first ("Self-Play AIHF" before "AIHF", "AIHF (normalized)" when the
/// label says "normalized"); matching ignores case and requires a word boundary, so "SPINE"
/// is not SPIN. Labels that name several estimators (`Var(AIHF)/Var(SFT)`) should carry an
/// explicit key instead.
pub fn estimator_key(label: &str) -> Option<&'static str> {
    let l = label.to_lowercase();
    let has = |name: &str| {
        let n = name.to_lowercase();
        l.match_indices(&n).any(|(i, _)| {
            let before = l[..i].chars().next_back();
            let after = l[i + n.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    };
    if has("self-play aihf") || has("self-play") {
        return Some("Self-Play AIHF");
    }
    if has("direct aihf") || has("direct-aihf") {
        return Some("Direct AIHF");
    }
    if has("aihf") {
        return Some(if l.contains("normaliz") {
            "AIHF (normalized)"
        } else {
            "AIHF"
        });
    }
    for k in ["SPIN", "RLHF", "DPO", "IPO", "BTL", "SFT"] {
        if has(k) {
            return Some(k);
        }
    }
    if has("truth") || l.contains("π*") || l.contains("π^*") {
        return Some("truth");
    }
    None
}

/// The style of an estimator key (a key of [`KNOWN`]), or of any other name (by hash).
pub fn style_of_key(key: &str) -> EstimatorStyle {
    if let Some((_, color, marker)) = KNOWN.iter().find(|(k, _, _)| *k == key) {
        return EstimatorStyle {
            color: *color,
            marker: *marker,
        };
    }
    // FNV-1a: stable across runs and platforms (std's hasher is randomly seeded).
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    EstimatorStyle {
        color: SPARE_COLORS[(h % SPARE_COLORS.len() as u64) as usize],
        marker: SPARE_MARKERS[((h / 7) % SPARE_MARKERS.len() as u64) as usize],
    }
}

/// The style of a series: its explicit key if it has one, else the estimator its label names,
/// else a hash of the label.
pub fn style_for(key: Option<&str>, label: &str) -> EstimatorStyle {
    match key {
        Some(k) => style_of_key(k),
        None => style_of_key(estimator_key(label).unwrap_or(label)),
    }
}

/// The `k`-th spare look (for labels that name no estimator), cycling through the spare colours
/// and markers together.
pub fn spare(k: usize) -> EstimatorStyle {
    EstimatorStyle {
        color: SPARE_COLORS[k % SPARE_COLORS.len()],
        marker: SPARE_MARKERS[k % SPARE_MARKERS.len()],
    }
}

/// `c` mixed with white: `t = 0` is `c`, `t = 1` white (shades of one estimator's colour, e.g.
/// one per comparison count in the variance-ratio figure).
pub fn lighten(c: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let f = |x: u8| (f64::from(x) + (255.0 - f64::from(x)) * t).round() as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_to_their_estimator() {
        for (label, key) in [
            ("AIHF", "AIHF"),
            ("AIHF (mean, 100 reps)", "AIHF"),
            ("AIHF (slope -0.498 [-0.51, -0.49])", "AIHF"),
            ("AIHF-normalized", "AIHF (normalized)"),
            ("AIHF (normalized, w=1)", "AIHF (normalized)"),
            ("BTL (preference-only)", "BTL"),
            ("SFT (mean, 100 reps)", "SFT"),
            ("RLHF", "RLHF"),
            ("Self-Play AIHF", "Self-Play AIHF"),
            ("Direct AIHF", "Direct AIHF"),
            ("SPIN", "SPIN"),
            ("DPO (β = 0.1)", "DPO"),
            ("IPO", "IPO"),
            ("truth π*", "truth"),
        ] {
            assert_eq!(estimator_key(label), Some(key), "{label}");
        }
        assert_eq!(estimator_key("SPINE"), None);
        assert_eq!(estimator_key("ratio 1"), None);
    }

    #[test]
    fn same_estimator_same_style_across_figures() {
        // The labels the figures of different studies give AIHF.
        let a = style_for(None, "AIHF (mean, 10000 reps)");
        for l in ["AIHF", "AIHF (slope −0.5)", "AIHF λ = 1"] {
            assert_eq!(style_for(None, l), a, "{l}");
        }
        assert_eq!(style_for(Some("AIHF"), "Var(AIHF)/Var(SFT), k = 1"), a);
        // Unknown labels: the same style wherever they appear.
        assert_eq!(
            style_for(None, "my estimator"),
            style_for(None, "my estimator")
        );
    }

    #[test]
    fn distinct_estimators_have_distinct_colours_and_markers() {
        let est: Vec<&(&str, RGBColor, Marker)> = KNOWN
            .iter()
            .filter(|(k, _, _)| !matches!(*k, "reference" | "highlight" | "off-scale"))
            .collect();
        for (i, a) in est.iter().enumerate() {
            for b in &est[i + 1..] {
                assert_ne!(a.1, b.1, "colour of {} and {}", a.0, b.0);
                assert_ne!(a.2, b.2, "marker of {} and {}", a.0, b.0);
            }
        }
    }

    #[test]
    fn lighten_moves_towards_white() {
        assert_eq!(lighten(RGBColor(0, 100, 255), 0.0), RGBColor(0, 100, 255));
        assert_eq!(lighten(RGBColor(0, 100, 255), 1.0), RGBColor(255, 255, 255));
        assert_eq!(lighten(RGBColor(0, 100, 255), 0.5), RGBColor(128, 178, 255));
    }
}
