//! Figures, drawn from data that has already been computed (and written as JSON), as PNG and
//! SVG with an embedded font (DejaVu Sans, `assets/`), so they render without system fonts.
//!
//! Log axes are drawn by plotting `log10` of the data on a linear axis and labelling ticks
//! with the original values; this keeps one code path for every axis combination. Ticks are
//! round values ([`ticks`]); every series takes the colour and marker of its estimator
//! ([`style`]); the legend is drawn below the plotting area, so it never covers data.

pub mod style;
pub mod ticks;

use crate::error::{AihfError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Once;
use style::{lighten, style_for, EstimatorStyle, Marker};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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
    /// The estimator whose colour and marker the series takes ([`style::KNOWN`]); `None`: the
    /// estimator its label names ([`style::estimator_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Mix the estimator's colour with this fraction of white (`0`: its own colour), to tell
    /// apart several series of one estimator.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lighten: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Series {
    /// A series with no error bars, no explicit key and the estimator's own colour.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, style: Style) -> Series {
        Series {
            name: name.into(),
            points,
            err: None,
            style,
            key: None,
            lighten: 0.0,
        }
    }

    /// The colour and marker this series is drawn with.
    pub fn look(&self) -> EstimatorStyle {
        let s = style_for(self.key.as_deref(), &self.name);
        EstimatorStyle {
            color: lighten(s.color, self.lighten),
            marker: s.marker,
        }
    }
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
    /// The series, drawn in order, each in its estimator's colour and marker.
    pub series: Vec<Series>,
    /// Shaded x bands `(from, to)` in data units (Fig. 9's uncovered actions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shade_x: Vec<(f64, f64)>,
    /// The legend label of the shaded bands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shade_label: Option<String>,
    /// Total horizontal spread (in x units; `log10` units on a log x axis) over which the
    /// series with error bars (without any: the marker-only series) are offset from one
    /// another so that none hides another; `0`: no offset.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dodge: f64,
    /// Draw [`WIDE`] pixels wide instead of [`WIDTH`] (many x positions, such as Fig. 9's 50
    /// actions with four estimators each).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wide: bool,
}

impl LineChart {
    /// A chart with no shaded band and no dodge.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        (x_log, y_log): (bool, bool),
        series: Vec<Series>,
    ) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log,
            y_log,
            series,
            shade_x: vec![],
            shade_label: None,
            dodge: 0.0,
            wide: false,
        }
    }
}

/// A grouped bar chart: one group of bars per category, one bar per series, optional error bars
/// (`± err`). With a single series, each bar takes the colour of the estimator its category
/// names.
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

/// Width of every figure, pixels.
pub const WIDTH: u32 = 1000;
/// Width of a [`LineChart::wide`] figure, pixels.
pub const WIDE: u32 = 1500;
/// Height of the title and plotting area (axes included); the legend is added below it.
pub const PLOT_HEIGHT: u32 = 650;
const LEGEND_FONT: u32 = 15;
const LEGEND_ROW: u32 = 22;
const LEGEND_GLYPH: u32 = 40;
const LEGEND_GAP: u32 = 24;
const LEGEND_PAD: u32 = 10;

fn plot_err(path: &Path, e: impl std::fmt::Display) -> AihfError {
    AihfError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
enum Glyph {
    Line {
        color: RGBColor,
        dashed: bool,
        marker: Marker,
    },
    Marker {
        color: RGBColor,
        marker: Marker,
    },
    Band(RGBColor),
    Bar(RGBColor),
}

/// Where the legend goes: `cols` columns of `col_width` pixels, `rows` rows, `height` pixels in
/// all, below the plotting area (`y ≥ PLOT_HEIGHT`), so it never covers data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegendLayout {
    /// Columns of entries.
    pub cols: usize,
    /// Rows of entries.
    pub rows: usize,
    /// Width of one column, pixels.
    pub col_width: u32,
    /// Height of the legend band, pixels (0 without entries).
    pub height: u32,
}

impl LegendLayout {
    /// Lays out entries whose labels are `text_widths` pixels wide in a band `width` wide: as
    /// many equal columns as the widest label allows, filled row by row.
    pub fn new(text_widths: &[u32], width: u32) -> LegendLayout {
        if text_widths.is_empty() {
            return LegendLayout {
                cols: 0,
                rows: 0,
                col_width: 0,
                height: 0,
            };
        }
        let widest = text_widths.iter().copied().max().unwrap_or(0);
        let col_width = LEGEND_GLYPH + widest + LEGEND_GAP;
        let avail = width.saturating_sub(2 * LEGEND_PAD);
        let cols = ((avail / col_width.max(1)) as usize).clamp(1, text_widths.len());
        let rows = text_widths.len().div_ceil(cols);
        LegendLayout {
            cols,
            rows,
            col_width: col_width.min(avail),
            height: rows as u32 * LEGEND_ROW + 2 * LEGEND_PAD,
        }
    }

    /// The rectangle `(x0, y0, x1, y1)` of entry `k` (pixels of the whole figure).
    pub fn entry_rect(&self, k: usize) -> (i32, i32, i32, i32) {
        let (r, c) = (k / self.cols.max(1), k % self.cols.max(1));
        let x0 = (LEGEND_PAD + c as u32 * self.col_width) as i32;
        let y0 = (PLOT_HEIGHT + LEGEND_PAD + r as u32 * LEGEND_ROW) as i32;
        (x0, y0, x0 + self.col_width as i32, y0 + LEGEND_ROW as i32)
    }
}

fn text_width(text: &str, size: u32) -> u32 {
    register_font();
    ("sans-serif", size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w)
        // Without the font (it is bundled, so never in practice) assume DejaVu's mean advance.
        .unwrap_or(text.chars().count() as u32 * size * 6 / 10)
}

/// The colour and marker of each series of a chart: [`Series::look`], except that a series
/// whose colour an earlier, differently named series of the chart already has is told apart — a
/// lighter shade of its estimator's colour (two RLHF variants), or, for a label that names no
/// estimator, the next unused spare colour and marker.
pub fn looks(c: &LineChart) -> Vec<EstimatorStyle> {
    distinct(&c.series)
}

fn distinct(series: &[Series]) -> Vec<EstimatorStyle> {
    let mut out: Vec<EstimatorStyle> = vec![];
    for (k, s) in series.iter().enumerate() {
        let mut look = s.look();
        let clash = |l: &EstimatorStyle, out: &[EstimatorStyle]| {
            out.iter()
                .zip(series)
                .any(|(o, t)| o.color == l.color && t.name != s.name)
        };
        let known = s.key.is_some() || style::estimator_key(&s.name).is_some();
        let mut n = 0;
        while clash(&look, &out) && n < 24 {
            n += 1;
            look = if known {
                EstimatorStyle {
                    color: lighten(s.look().color, 0.35 * n as f64),
                    marker: look.marker,
                }
            } else {
                style::spare(k + n)
            };
        }
        out.push(look);
    }
    out
}

/// The colours of bars named `names` (by estimator, told apart as in [`looks`]).
fn bar_colors<'a>(names: impl Iterator<Item = &'a String>) -> Vec<RGBColor> {
    let pseudo: Vec<Series> = names
        .map(|n| Series::new(n.clone(), vec![], Style::Points))
        .collect();
    distinct(&pseudo).into_iter().map(|l| l.color).collect()
}

/// The legend entries of a line chart: one per named series, then the shaded band.
fn line_legend(c: &LineChart) -> Vec<(String, Glyph)> {
    let mut v: Vec<(String, Glyph)> = c
        .series
        .iter()
        .filter(|s| !s.name.is_empty())
        .map(|s| {
            let look = s.look();
            let g = match s.style {
                Style::Points => Glyph::Marker {
                    color: look.color,
                    marker: look.marker,
                },
                Style::Line => Glyph::Line {
                    color: look.color,
                    dashed: false,
                    marker: Marker::None,
                },
                Style::LinePoints => Glyph::Line {
                    color: look.color,
                    dashed: false,
                    marker: look.marker,
                },
                Style::Dashed => Glyph::Line {
                    color: look.color,
                    dashed: true,
                    marker: Marker::None,
                },
            };
            (s.name.clone(), g)
        })
        .collect();
    if !c.shade_x.is_empty() {
        if let Some(l) = &c.shade_label {
            v.push((l.clone(), Glyph::Band(SHADE)));
        }
    }
    v
}

/// The legend entries of a bar chart (none with a single series: the categories say it).
fn bar_legend(c: &BarChart) -> Vec<(String, Glyph)> {
    if c.groups.len() <= 1 {
        return vec![];
    }
    let cols = bar_colors(c.groups.iter().map(|g| &g.0));
    c.groups
        .iter()
        .zip(cols)
        .map(|((n, _, _), col)| (n.clone(), Glyph::Bar(col)))
        .collect()
}

const SHADE: RGBColor = RGBColor(225, 225, 225);

/// The legend layout a line chart is drawn with (public for tests: the legend lies below the
/// plotting area).
pub fn line_legend_layout(c: &LineChart) -> LegendLayout {
    layout_of(&line_legend(c), line_width(c))
}

fn line_width(c: &LineChart) -> u32 {
    if c.wide {
        WIDE
    } else {
        WIDTH
    }
}

/// Writes `stem.png` and `stem.svg`; returns both paths.
pub fn render_line(chart: &LineChart, stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let legend = line_legend(chart);
    let (png, svg) = prepare(stem)?;
    let width = line_width(chart);
    let lay = layout_of(&legend, width);
    let size = (width, PLOT_HEIGHT + lay.height);
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_line(chart, &root)
            .and_then(|_| draw_legend(&root, &legend, &lay, size.0))
            .map_err(|e| plot_err(&png, e))?;
        root.present().map_err(|e| plot_err(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_line(chart, &root)
            .and_then(|_| draw_legend(&root, &legend, &lay, size.0))
            .map_err(|e| plot_err(&svg, e))?;
        root.present().map_err(|e| plot_err(&svg, e))?;
    }
    Ok(vec![png, svg])
}

/// Writes `stem.png` and `stem.svg`; returns both paths.
pub fn render_bars(chart: &BarChart, stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let legend = bar_legend(chart);
    let (png, svg) = prepare(stem)?;
    let lay = layout_of(&legend, WIDTH);
    let size = (WIDTH, PLOT_HEIGHT + lay.height);
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_bars(chart, &root)
            .and_then(|_| draw_legend(&root, &legend, &lay, size.0))
            .map_err(|e| plot_err(&png, e))?;
        root.present().map_err(|e| plot_err(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_bars(chart, &root)
            .and_then(|_| draw_legend(&root, &legend, &lay, size.0))
            .map_err(|e| plot_err(&svg, e))?;
        root.present().map_err(|e| plot_err(&svg, e))?;
    }
    Ok(vec![png, svg])
}

fn layout_of(legend: &[(String, Glyph)], width: u32) -> LegendLayout {
    let w: Vec<u32> = legend
        .iter()
        .map(|(l, _)| text_width(l, LEGEND_FONT))
        .collect();
    LegendLayout::new(&w, width)
}

fn prepare(stem: &Path) -> Result<(PathBuf, PathBuf)> {
    if let Some(dir) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| plot_err(stem, e))?;
    }
    Ok((stem.with_extension("png"), stem.with_extension("svg")))
}

/// A linear axis over `[lo, hi]` with the tick marks ("key points") we choose: `bold` are
/// labelled and gridded, `light` only gridded ([`ticks`]).
struct Axis {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Axis {
    fn new(lo: f64, hi: f64, bold: Vec<f64>, light: Vec<f64>) -> Axis {
        Axis {
            lo,
            hi,
            bold,
            light,
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Axis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
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

/// Bold and light key points of an axis over `[lo, hi]` (in plotted units: `log10` on a log
/// axis), with `data` the plotted values (for a log axis with few distinct values).
fn axis_points(lo: f64, hi: f64, log: bool, data: &[f64], target: usize) -> (Vec<f64>, Vec<f64>) {
    if !log {
        return (ticks::linear_ticks(lo, hi, target), vec![]);
    }
    let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
    let raw: Vec<f64> = data.iter().map(|v| 10f64.powf(*v)).collect();
    let bold: Vec<f64> = ticks::log_axis_ticks(a, b, &raw)
        .into_iter()
        .map(f64::log10)
        .collect();
    // Light grid lines at 1…9 × 10^k, if that is not too many.
    let light: Vec<f64> = ticks::log_ticks(a, b)
        .first()
        .map(|_| {
            let (k0, k1) = (a.log10().floor() as i32, b.log10().ceil() as i32);
            (k0..=k1)
                .flat_map(|k| (1..10).map(move |m| f64::from(m) * 10f64.powi(k)))
                .filter(|v| *v >= a && *v <= b)
                .map(f64::log10)
                .collect()
        })
        .unwrap_or_default();
    let light = if light.len() > 80 { vec![] } else { light };
    (bold, light)
}

/// The caption font size: 22 px, smaller (down to 14) for a title that would not fit.
fn title_size(title: &str, width: u32) -> u32 {
    let mut s = 22;
    while s > 14 && text_width(title, s) > width - 30 {
        s -= 1;
    }
    s
}

fn draw_line<DB: DrawingBackend>(c: &LineChart, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (area, _) = root.split_vertically(PLOT_HEIGHT);
    let (xl, yl) = (c.x_log, c.y_log);
    // Offsets in x of the series with error bars (dodge), centred on 0.
    let mut with_err: Vec<usize> = (0..c.series.len())
        .filter(|&k| c.series[k].err.is_some())
        .collect();
    if with_err.is_empty() {
        // No error bars: spread the marker-only series, which would hide one another.
        with_err = (0..c.series.len())
            .filter(|&k| c.series[k].style == Style::Points)
            .collect();
    }
    let offset = |k: usize| -> f64 {
        match with_err.iter().position(|&j| j == k) {
            Some(p) if with_err.len() > 1 && c.dodge > 0.0 => {
                c.dodge * (p as f64 / (with_err.len() - 1) as f64 - 0.5)
            }
            _ => 0.0,
        }
    };
    let xdata: Vec<f64> = c
        .series
        .iter()
        .filter(|s| s.style != Style::Dashed)
        .flat_map(|s| s.points.iter().filter_map(|p| tr(p.0, xl)))
        .collect();
    let xs = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| tr(p.0, xl)))
        .chain(
            c.shade_x
                .iter()
                .flat_map(|b| [tr(b.0, xl), tr(b.1, xl)])
                .flatten(),
        );
    let (mut x0, mut x1) = range(xs);
    x0 -= c.dodge / 2.0;
    x1 += c.dodge / 2.0;
    let ys: Vec<f64> = c
        .series
        .iter()
        .flat_map(|s| {
            let base = s.points.iter().filter_map(|p| tr(p.1, yl));
            let errs = s
                .err
                .iter()
                .flatten()
                .flat_map(|e| [tr(e.0, yl), tr(e.1, yl)])
                .flatten();
            base.chain(errs).collect::<Vec<_>>()
        })
        .collect();
    let (y0, y1) = range(ys.iter().copied());
    let (xb, xlight) = axis_points(x0, x1, xl, &xdata, 10);
    let (yb, ylight) = axis_points(y0, y1, yl, &ys, 8);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            &c.title,
            ("sans-serif", title_size(&c.title, line_width(c))),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Axis::new(x0, x1, xb, xlight), Axis::new(y0, y1, yb, ylight))?;
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&|v| fmt_tick(*v, xl))
        .y_label_formatter(&|v| fmt_tick(*v, yl))
        .bold_line_style(RGBColor(205, 205, 205))
        .light_line_style(RGBColor(240, 240, 240))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    for b in &c.shade_x {
        if let (Some(a), Some(z)) = (tr(b.0, xl), tr(b.1, xl)) {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y0), (z, y1)],
                SHADE.filled(),
            )))?;
        }
    }
    let dotted = c.dodge > 0.0;
    let looks = looks(c);
    for (k, s) in c.series.iter().enumerate() {
        let look = looks[k];
        let col = look.color;
        let dx = offset(k);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| Some((tr(p.0, xl)? + dx, tr(p.1, yl)?)))
            .collect();
        let style = ShapeStyle::from(&col).stroke_width(2);
        match s.style {
            Style::Line | Style::LinePoints => {
                chart.draw_series(LineSeries::new(pts.clone(), style))?;
            }
            Style::Dashed => {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 6, style))?;
            }
            Style::Points => {}
        }
        if matches!(s.style, Style::Points | Style::LinePoints) {
            // Smaller markers where series are dodged (Fig. 9: 50 actions × several series).
            let r = if dotted {
                3
            } else if pts.len() > 30 {
                4
            } else {
                5
            };
            for &p in &pts {
                draw_marker(chart.plotting_area(), p, look.marker, r, col)?;
            }
        }
        if let Some(err) = &s.err {
            let half = if dotted { 3 } else { 5 };
            for (p, e) in s.points.iter().zip(err) {
                if let (Some(x), Some(lo), Some(hi)) = (tr(p.0, xl), tr(e.0, yl), tr(e.1, yl)) {
                    draw_err_bar(chart.plotting_area(), x + dx, lo, hi, half, col)?;
                }
            }
        }
    }
    Ok(())
}

/// A bar's value: `0`, or four significant digits (`0.3571`, `1.2×10⁻⁵`).
fn value_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return ticks::tick_label(v);
    }
    let e = v.abs().log10().floor() as i32;
    let r = 10f64.powi(e - 3);
    ticks::tick_label((v / r).round() * r)
}

fn fmt_tick(v: f64, log: bool) -> String {
    if log {
        ticks::tick_label(10f64.powf(v))
    } else {
        ticks::tick_label(v)
    }
}

/// Draws a vertical error bar from `lo` to `hi` at `x` (data coordinates) with whiskers
/// `half` pixels to each side (no centre mark: the series' own marker shows the estimate).
fn draw_err_bar<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    area: &DrawingArea<DB, CT>,
    x: f64,
    lo: f64,
    hi: f64,
    half: i32,
    col: RGBColor,
) -> std::result::Result<(), plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
    let st = col.stroke_width(2);
    area.draw(&PathElement::new(vec![(x, lo), (x, hi)], st))?;
    for y in [lo, hi] {
        area.draw(&(EmptyElement::at((x, y)) + PathElement::new(vec![(-half, 0), (half, 0)], st)))?;
    }
    Ok(())
}

/// Draws a marker of radius `r` pixels at `at` (data coordinates of `area`).
fn draw_marker<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    m: Marker,
    r: i32,
    col: RGBColor,
) -> std::result::Result<(), plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>>
where
    CT::From: Clone,
{
    let fill = col.filled();
    let rf = f64::from(r);
    let ngon = |n: usize, rad: f64, phase: f64| -> Vec<(i32, i32)> {
        (0..n)
            .map(|k| {
                let a = phase + std::f64::consts::TAU * k as f64 / n as f64;
                (
                    (rad * a.cos()).round() as i32,
                    (rad * a.sin()).round() as i32,
                )
            })
            .collect()
    };
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    let poly = match m {
        Marker::None => return Ok(()),
        Marker::Circle => {
            return area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), r, fill)));
        }
        Marker::Ring => {
            return area.draw(
                &(EmptyElement::at(at) + Circle::new((0, 0), 2 * r + 2, col.stroke_width(2))),
            );
        }
        Marker::Cross | Marker::Plus => {
            let (a, b) = if m == Marker::Cross {
                ((r, r), (r, -r))
            } else {
                ((r + 1, 0), (0, r + 1))
            };
            let st = col.stroke_width(2);
            return area.draw(
                &(EmptyElement::at(at)
                    + PathElement::new(vec![(-a.0, -a.1), (a.0, a.1)], st)
                    + PathElement::new(vec![(-b.0, -b.1), (b.0, b.1)], st)),
            );
        }
        Marker::Square => ngon(4, rf * 1.25, FRAC_PI_4),
        Marker::Diamond => ngon(4, rf * 1.35, -FRAC_PI_2),
        Marker::TriangleUp => ngon(3, rf * 1.35, -FRAC_PI_2),
        Marker::TriangleDown => ngon(3, rf * 1.35, FRAC_PI_2),
        Marker::TriangleRight => ngon(3, rf * 1.35, 0.0),
        Marker::TriangleLeft => ngon(3, rf * 1.35, PI),
        Marker::Pentagon => ngon(5, rf * 1.2, -FRAC_PI_2),
        Marker::Hexagon => ngon(6, rf * 1.15, 0.0),
        Marker::Star => {
            let outer = ngon(5, rf * 1.5, -FRAC_PI_2);
            let inner = ngon(5, rf * 0.65, -FRAC_PI_2 + PI / 5.0);
            outer
                .into_iter()
                .zip(inner)
                .flat_map(|(a, b)| [a, b])
                .collect()
        }
    };
    area.draw(&(EmptyElement::at(at) + Polygon::new(poly, fill)))
}

/// Draws the legend band below the plotting area.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    legend: &[(String, Glyph)],
    lay: &LegendLayout,
    width: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if legend.is_empty() {
        return Ok(());
    }
    let top = PLOT_HEIGHT as i32;
    root.draw(&Rectangle::new(
        [
            (LEGEND_PAD as i32 / 2, top + 2),
            (
                width as i32 - LEGEND_PAD as i32 / 2,
                top + lay.height as i32 - 2,
            ),
        ],
        RGBColor(160, 160, 160).stroke_width(1),
    ))?;
    for (k, (label, g)) in legend.iter().enumerate() {
        let (x0, y0, _, y1) = lay.entry_rect(k);
        let yc = (y0 + y1) / 2;
        let (gx0, gx1) = (x0 + 4, x0 + LEGEND_GLYPH as i32 - 8);
        let gm = (gx0 + gx1) / 2;
        match *g {
            Glyph::Line {
                color,
                dashed,
                marker,
            } => {
                let st = color.stroke_width(2);
                if dashed {
                    // The dash pattern of the plotted series (8 on, 6 off), scaled to fit.
                    let mut x = gx0;
                    while x < gx1 {
                        let e = (x + 8).min(gx1);
                        root.draw(&PathElement::new(vec![(x, yc), (e, yc)], st))?;
                        x += 13;
                    }
                } else {
                    root.draw(&PathElement::new(vec![(gx0, yc), (gx1, yc)], st))?;
                }
                draw_marker(root, (gm, yc), marker, 5, color)?;
            }
            Glyph::Marker { color, marker } => {
                // A ring is drawn around a marker, at about twice its size: smaller here.
                let r = if marker == Marker::Ring { 3 } else { 5 };
                draw_marker(root, (gm, yc), marker, r, color)?
            }
            Glyph::Band(color) => {
                root.draw(&Rectangle::new(
                    [(gx0, yc - 7), (gx1, yc + 7)],
                    color.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(gx0, yc - 7), (gx1, yc + 7)],
                    RGBColor(160, 160, 160).stroke_width(1),
                ))?;
            }
            Glyph::Bar(color) => {
                root.draw(&Rectangle::new(
                    [(gx0 + 6, yc - 7), (gx1 - 6, yc + 7)],
                    color.filled(),
                ))?;
            }
        }
        root.draw(&Text::new(
            label.clone(),
            (x0 + LEGEND_GLYPH as i32, yc),
            ("sans-serif", LEGEND_FONT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(c: &BarChart, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (area, _) = root.split_vertically(PLOT_HEIGHT);
    let ncat = c.categories.len().max(1);
    let ng = c.groups.len().max(1);
    let tops = c.groups.iter().flat_map(|(_, v, e)| {
        v.iter()
            .enumerate()
            .flat_map(|(k, &x)| {
                let h = e.as_ref().and_then(|e| e.get(k)).copied().unwrap_or(0.0);
                [x + h, x - h]
            })
            .collect::<Vec<_>>()
    });
    let (mut y0, y1) = range(tops.chain(std::iter::once(0.0)).filter(|v| v.is_finite()));
    if y0 > 0.0 {
        y0 = 0.0;
    }
    let yb = ticks::linear_ticks(y0, y1, 8);
    let cats = c.categories.clone();
    let centres: Vec<f64> = (0..ncat).map(|k| k as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(&area)
        .caption(&c.title, ("sans-serif", title_size(&c.title, WIDTH)))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            Axis::new(0.0, ncat as f64, centres, vec![]),
            Axis::new(y0, y1, yb, vec![]),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|v| {
            let k = v.floor() as usize;
            cats.get(k).cloned().unwrap_or_default()
        })
        .y_label_formatter(&|v| ticks::tick_label(*v))
        .bold_line_style(RGBColor(205, 205, 205))
        .y_desc(c.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let w = 0.8 / ng as f64;
    let single = c.groups.len() == 1;
    let group_cols = bar_colors(c.groups.iter().map(|g| &g.0));
    let cat_cols = bar_colors(c.categories.iter());
    for (g, (_, vals, err)) in c.groups.iter().enumerate() {
        let rects = vals.iter().enumerate().map(|(k, &v)| {
            let x = k as f64 + 0.1 + g as f64 * w;
            let col = if single {
                cat_cols.get(k).copied().unwrap_or(BLACK)
            } else {
                group_cols[g]
            };
            Rectangle::new([(x, 0.0), (x + w * 0.95, v)], col.filled())
        });
        chart.draw_series(rects)?;
        if single {
            // One bar per category: print each value above its bar, so that a bar of height 0
            // (SFT's mass on actions it never saw, an unbiased gradient) is read as 0, not missed.
            for (k, &v) in vals.iter().enumerate() {
                let h = err
                    .as_ref()
                    .and_then(|e| e.get(k))
                    .copied()
                    .filter(|h| h.is_finite())
                    .unwrap_or(0.0);
                let x = k as f64 + 0.1 + w * 0.475;
                let top = if v >= 0.0 { v + h } else { v - h };
                chart.plotting_area().draw(
                    &(EmptyElement::at((x, top))
                        + Text::new(
                            value_label(v),
                            (0, if v >= 0.0 { -12 } else { 12 }),
                            ("sans-serif", 15)
                                .into_font()
                                .color(&BLACK)
                                .pos(Pos::new(HPos::Center, VPos::Center)),
                        )),
                )?;
            }
        }
        if let Some(e) = err {
            for (k, (&v, &h)) in vals.iter().zip(e).enumerate() {
                let x = k as f64 + 0.1 + g as f64 * w + w * 0.475;
                if h > 0.0 && h.is_finite() {
                    draw_err_bar(chart.plotting_area(), x, v - h, v + h, 6, BLACK)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_lies_below_the_plotting_area_and_entries_do_not_overlap() {
        let names: Vec<String> = (0..9)
            .map(|k| format!("Var(AIHF-normalized)/Var(BTL), k = {}", 10u32.pow(k % 4)))
            .collect();
        let c = LineChart::new(
            "t",
            "x",
            "y",
            (true, true),
            names
                .iter()
                .map(|n| Series::new(n.clone(), vec![(1.0, 1.0), (10.0, 2.0)], Style::LinePoints))
                .collect(),
        );
        let lay = line_legend_layout(&c);
        assert!(
            lay.cols >= 1 && lay.rows * lay.cols >= names.len(),
            "{lay:?}"
        );
        let rects: Vec<_> = (0..names.len()).map(|k| lay.entry_rect(k)).collect();
        for (k, r) in rects.iter().enumerate() {
            // Below the plotting area (which ends at PLOT_HEIGHT), inside the figure.
            assert!(r.1 >= PLOT_HEIGHT as i32, "entry {k} at {r:?}");
            assert!(
                r.3 <= (PLOT_HEIGHT + lay.height) as i32,
                "entry {k} at {r:?}"
            );
            assert!(r.2 <= WIDTH as i32, "entry {k} at {r:?}");
            // The label fits in its column.
            let w = text_width(&names[k], LEGEND_FONT) as i32;
            assert!(
                r.0 + LEGEND_GLYPH as i32 + w <= r.2,
                "entry {k}: {w} px in {r:?}"
            );
            for (j, q) in rects.iter().enumerate().skip(k + 1) {
                let disjoint = r.2 <= q.0 || q.2 <= r.0 || r.3 <= q.1 || q.3 <= r.1;
                assert!(disjoint, "entries {k} {r:?} and {j} {q:?} overlap");
            }
        }
    }

    #[test]
    fn two_series_of_one_chart_never_look_the_same() {
        let pts = vec![(1.0, 1.0), (2.0, 2.0)];
        let names = [
            "rlhf_sft", "rlhf_ref", "k1", "tok_k2", "k2", "k3", "tok_k3", "AIHF",
        ];
        let c = LineChart::new(
            "t",
            "x",
            "y",
            (false, false),
            names
                .iter()
                .map(|n| Series::new(*n, pts.clone(), Style::LinePoints))
                .collect(),
        );
        let l = looks(&c);
        for i in 0..l.len() {
            for j in i + 1..l.len() {
                assert_ne!(l[i].color, l[j].color, "{} and {}", names[i], names[j]);
            }
        }
        // The RLHF variants stay in RLHF's colour family (same marker); AIHF keeps its own look.
        assert_eq!(l[1].marker, l[0].marker);
        assert_eq!(l[7], style::style_for(None, "AIHF"));
    }

    #[test]
    fn no_legend_no_band() {
        let lay = LegendLayout::new(&[], WIDTH);
        assert_eq!(lay.height, 0);
    }

    #[test]
    fn charts_render_with_legend_below_and_old_json_still_loads() {
        // A chart JSON written before the style fields existed.
        let old = r#"{"title":"t","x_label":"x","y_label":"y","x_log":true,"y_log":false,
            "series":[{"name":"AIHF","points":[[1,0.5],[10,0.7]],"err":[[0.4,0.6],[0.6,0.8]],"style":"line_points"}]}"#;
        let c: LineChart = serde_json::from_str(old).expect("old chart JSON");
        assert!(c.shade_x.is_empty() && c.series[0].key.is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let files = render_line(&c, &dir.path().join("c")).expect("render");
        assert_eq!(files.len(), 2);
        let lay = line_legend_layout(&c);
        let png = image_size(&files[0]);
        assert_eq!(png, (WIDTH, PLOT_HEIGHT + lay.height));
    }

    /// Width and height from a PNG's IHDR chunk.
    fn image_size(p: &Path) -> (u32, u32) {
        let b = std::fs::read(p).expect("png");
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        (be(16), be(20))
    }
}
