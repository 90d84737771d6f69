//! Decision-boundary panels.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::*;

// ------------------------------------------------------------------------------------------------
// Decision boundaries
// ------------------------------------------------------------------------------------------------

/// One panel of a decision-boundary figure: the predicted class on a regular grid, and the data.
#[derive(Clone, Debug)]
pub struct DecisionPanel {
    pub title: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// `grid[row][col]` = predicted class; row 0 is at `y_range.0`, col 0 at `x_range.0`.
    pub grid: Vec<Vec<usize>>,
    /// `(x1, x2, label)`
    pub points: Vec<(f64, f64, usize)>,
}

/// Class regions (light) with the points (solid, outlined) on top, one panel per dataset.
pub fn decision_boundaries(
    title: &str,
    panels: &[DecisionPanel],
    cols: usize,
    path: &Path,
) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        bail!("decision_boundaries `{title}` needs panels and at least one column");
    }
    let rows = panels.len().div_ceil(cols);
    let side = WIDTH / cols as u32;
    render_png(path, 60 + rows as u32 * side, |root| {
        let area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        for (cell, p) in area.split_evenly((rows, cols)).iter().zip(panels) {
            let gr = p.grid.len();
            let gc = p.grid.first().map_or(0, |r| r.len());
            if gr == 0 || gc == 0 {
                bail!("decision panel `{}` has an empty grid", p.title);
            }
            let mut chart = ChartBuilder::on(cell)
                .caption(&p.title, bold(PANEL_TITLE_PX))
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(p.x_range.0..p.x_range.1, p.y_range.0..p.y_range.1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .label_style(font(TICK_PX))
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .draw()
                .map_err(err)?;
            let dx = (p.x_range.1 - p.x_range.0) / gc as f64;
            let dy = (p.y_range.1 - p.y_range.0) / gr as f64;
            chart
                .draw_series(p.grid.iter().enumerate().flat_map(|(r, row)| {
                    row.iter().enumerate().map(move |(c, &k)| {
                        let (x0, y0) = (p.x_range.0 + c as f64 * dx, p.y_range.0 + r as f64 * dy);
                        Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], colour(k).mix(0.25).filled())
                    })
                }))
                .map_err(err)?;
            chart
                .draw_series(
                    p.points
                        .iter()
                        .map(|&(x, y, k)| Circle::new((x, y), 4, colour(k).filled())),
                )
                .map_err(err)?;
            chart
                .draw_series(
                    p.points
                        .iter()
                        .map(|&(x, y, _)| Circle::new((x, y), 4, BLACK.mix(0.6).stroke_width(1))),
                )
                .map_err(err)?;
        }
        Ok(())
    })
}
