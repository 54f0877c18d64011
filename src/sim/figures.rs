//! Drawing a study's figures (and writing its Markdown tables and tidy CSV) from its results JSON (never from the computation itself), so a
//! figure can be redrawn from the file alone: `aihf sim --redraw DIR/<study>.json`.

use super::studies::{Chart, Figure, StudyResults, Table};
use crate::error::{AihfError, Result};
use std::path::{Path, PathBuf};

/// Draws every figure as `<dir>/<name>_<figure>.png` and `.svg`; returns the paths.
pub fn render_all(name: &str, figures: &[Figure], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for f in figures {
        let stem = dir.join(format!("{name}_{}", f.name));
        let paths = match &f.chart {
            Chart::Line(c) => crate::plot::render_line(c, &stem)?,
            Chart::Bars(c) => crate::plot::render_bars(c, &stem)?,
        };
        out.extend(paths);
    }
    Ok(out)
}

/// Reads a results file and draws its figures beside it (or into `dir`).
pub fn redraw(results: &Path, dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let v: serde_json::Value = crate::io::read_json(results)?;
    let name = v
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| {
            AihfError::data(format!("{}: name", results.display()), "missing study name")
        })?
        .to_string();
    let figs = v
        .get("figures")
        .cloned()
        .ok_or_else(|| AihfError::data(format!("{}: figures", results.display()), "missing"))?;
    let figs: Vec<Figure> = serde_json::from_value(figs).map_err(|e| AihfError::Json {
        context: format!("{}: figures", results.display()),
        source: e,
    })?;
    let dir = dir
        .map(Path::to_path_buf)
        .or_else(|| results.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut out = render_all(&name, &figs, &dir)?;
    let tables: Vec<Table> = match v.get("tables") {
        Some(t) => serde_json::from_value(t.clone()).map_err(|e| AihfError::Json {
            context: format!("{}: tables", results.display()),
            source: e,
        })?,
        None => vec![],
    };
    // The tidy CSV of every cell, beside the results file (`<name>.csv`).
    let csv = dir.join(format!("{name}.csv"));
    crate::io::write_csv(
        &csv,
        &super::summary::CSV_HEADER,
        &super::summary::long_rows(&v),
    )?;
    out.push(csv);
    if !tables.is_empty() {
        let text: String = tables.iter().map(|t| t.markdown() + "\n").collect();
        let path = dir.join(format!("{name}_tables.md"));
        crate::io::write_atomic(&path, text.as_bytes())?;
        out.push(path);
    }
    Ok(out)
}

/// Writes `<dir>/<name>.json` atomically, then draws the figures from the JSON just written.
pub fn write_and_draw(r: &StudyResults, dir: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let path = dir.join(format!("{}.json", r.name));
    crate::io::write_json(&path, r)?;
    let figs = redraw(&path, Some(dir))?;
    Ok((path, figs))
}
