//! Figures, drawn from data that has already been computed (and written as JSON), as PNG and
//! SVG with an embedded font (DejaVu Sans, `assets/`), so they render without system fonts.
//!
//! Log axes are drawn by plotting `log10` of the data on a linear axis and labelling ticks
//! with the original values; this keeps one code path for every axis combination.

use crate::error::{AihfError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is bundled and known to be valid; a failure would only mean text is missing.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A solid line through the points.
    Line,
    /// Filled markers only.
    Points,
    /// A solid line with a marker at each point.
    LinePoints,
    /// A dashed reference line (for example a `K^{-1/2}` slope).
    Dashed,
}

/// One series of a line chart; `err` gives `(low, high)` per point for error bars.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    /// The legend label.
    pub name: String,
    /// `(x, y)` data points, in data units (not `log10`, even on a log axis).
    pub points: Vec<(f64, f64)>,
    /// Error bars: absolute `(low, high)` y-values, one per point; `None` for no bars.
    #[serde(default)]
    pub err: Option<Vec<(f64, f64)>>,
    /// How the series is drawn.
    pub style: Style,
}

/// A line / scatter chart with optional log axes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LineChart {
    /// The caption above the plot.
    pub title: String,
    /// The x-axis label.
    pub x_label: String,
    /// The y-axis label.
    pub y_label: String,
    /// A logarithmic x axis (non-positive x values are dropped).
    #[serde(default)]
    pub x_log: bool,
    /// A logarithmic y axis (non-positive y values are dropped).
    #[serde(default)]
    pub y_log: bool,
    /// The series, drawn in order with a fixed colour palette.
    pub series: Vec<Series>,
}

/// A grouped bar chart: one group of bars per category, one bar per series, optional error bars
/// (`± err`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BarChart {
    /// The caption above the plot.
    pub title: String,
    /// The y-axis label.
    pub y_label: String,
    /// The category labels along the x axis, one group of bars each.
    pub categories: Vec<String>,
    /// `(series name, value per category, optional half-width per category)`.
    pub groups: Vec<(String, Vec<f64>, Option<Vec<f64>>)>,
}

const SIZE: (u32, u32) = (1000, 650);

fn palette(k: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[k % C.len()]
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> AihfError {
    AihfError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `stem.png` and `stem.svg`; returns both paths.
pub fn render_line(chart: &LineChart, stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    if let Some(dir) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| plot_err(stem, e))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw_line(chart, &root).map_err(|e| plot_err(&png, e))?;
        root.present().map_err(|e| plot_err(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw_line(chart, &root).map_err(|e| plot_err(&svg, e))?;
        root.present().map_err(|e| plot_err(&svg, e))?;
    }
    Ok(vec![png, svg])
}

/// Writes `stem.png` and `stem.svg`; returns both paths.
pub fn render_bars(chart: &BarChart, stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    if let Some(dir) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| plot_err(stem, e))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw_bars(chart, &root).map_err(|e| plot_err(&png, e))?;
        root.present().map_err(|e| plot_err(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw_bars(chart, &root).map_err(|e| plot_err(&svg, e))?;
        root.present().map_err(|e| plot_err(&svg, e))?;
    }
    Ok(vec![png, svg])
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn tr(v: f64, log: bool) -> Option<f64> {
    if log {
        (v > 0.0 && v.is_finite()).then(|| v.log10())
    } else {
        v.is_finite().then_some(v)
    }
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

fn fmt_tick(v: f64, log: bool) -> String {
    if log {
        let x = 10f64.powf(v);
        if (10.0..1e4).contains(&x.abs()) {
            format!("{x:.0}")
        } else if (1e-3..10.0).contains(&x.abs()) {
            format!("{}", (x * 1000.0).round() / 1000.0)
        } else {
            format!("{x:.0e}")
        }
    } else if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

fn draw_line<DB: DrawingBackend>(c: &LineChart, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let xs = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| tr(p.0, c.x_log)));
    let (x0, x1) = range(xs);
    let ys = c.series.iter().flat_map(|s| {
        let base = s.points.iter().filter_map(|p| tr(p.1, c.y_log));
        let errs = s
            .err
            .iter()
            .flatten()
            .flat_map(|e| [tr(e.0, c.y_log), tr(e.1, c.y_log)])
            .flatten();
        base.chain(errs).collect::<Vec<_>>()
    });
    let (y0, y1) = range(ys);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (xl, yl) = (c.x_log, c.y_log);
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&|v| fmt_tick(*v, xl))
        .y_label_formatter(&|v| fmt_tick(*v, yl))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    for (k, s) in c.series.iter().enumerate() {
        let col = palette(k);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| Some((tr(p.0, xl)?, tr(p.1, yl)?)))
            .collect();
        let style = ShapeStyle::from(&col).stroke_width(2);
        let anno = match s.style {
            Style::Line | Style::LinePoints => {
                chart.draw_series(LineSeries::new(pts.clone(), style))?
            }
            Style::Dashed => chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 6, style))?,
            Style::Points => chart.draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 4, ShapeStyle::from(&col).filled())),
            )?,
        };
        anno.label(s.name.as_str()).legend(move |(x, y)| {
            PathElement::new(
                vec![(x, y), (x + 20, y)],
                ShapeStyle::from(&col).stroke_width(3),
            )
        });
        if s.style == Style::LinePoints {
            chart.draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 3, ShapeStyle::from(&col).filled())),
            )?;
        }
        if let Some(err) = &s.err {
            let bars: Vec<_> = s
                .points
                .iter()
                .zip(err)
                .filter_map(|(p, e)| Some((tr(p.0, xl)?, tr(e.0, yl)?, tr(e.1, yl)?)))
                .map(|(x, lo, hi)| ErrorBar::new_vertical(x, lo, (lo + hi) / 2.0, hi, style, 6))
                .collect();
            chart.draw_series(bars)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(c: &BarChart, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let ncat = c.categories.len().max(1);
    let ng = c.groups.len().max(1);
    let tops = c.groups.iter().flat_map(|(_, v, e)| {
        v.iter()
            .enumerate()
            .map(|(k, &x)| x + e.as_ref().map_or(0.0, |e| e[k]))
            .chain(
                v.iter()
                    .enumerate()
                    .map(|(k, &x)| x - e.as_ref().map_or(0.0, |e| e[k])),
            )
            .collect::<Vec<_>>()
    });
    let (mut y0, y1) = range(tops.chain(std::iter::once(0.0)));
    if y0 > 0.0 {
        y0 = 0.0;
    }
    let cats = c.categories.clone();
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..ncat as f64, y0..y1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(ncat * 2 + 1)
        .x_label_formatter(&|v| {
            let k = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 0.26 && k < cats.len() {
                cats[k].clone()
            } else {
                String::new()
            }
        })
        .y_desc(c.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let w = 0.8 / ng as f64;
    for (g, (name, vals, err)) in c.groups.iter().enumerate() {
        let col = palette(g);
        let rects = vals.iter().enumerate().map(|(k, &v)| {
            let x = k as f64 + 0.1 + g as f64 * w;
            Rectangle::new([(x, 0.0), (x + w * 0.95, v)], col.filled())
        });
        chart
            .draw_series(rects)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], col.filled()));
        if let Some(e) = err {
            let bars = vals.iter().zip(e).enumerate().map(|(k, (&v, &h))| {
                let x = k as f64 + 0.1 + g as f64 * w + w * 0.475;
                ErrorBar::new_vertical(x, v - h, v, v + h, BLACK.stroke_width(1), 6)
            });
            chart.draw_series(bars)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}
