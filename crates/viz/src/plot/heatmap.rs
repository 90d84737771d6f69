//! Heatmaps, their colour bar, and grids of them.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::*;

// ------------------------------------------------------------------------------------------------
// Heatmaps
// ------------------------------------------------------------------------------------------------

/// A matrix shown as coloured cells (viridis) with tick labels on both axes and a colour bar.
#[derive(Clone, Debug)]
pub struct Heatmap {
    pub title: String,
    /// `matrix[row][col]`; row 0 is drawn at the top.
    pub matrix: Vec<Vec<f64>>,
    pub x_ticks: Vec<String>,
    pub y_ticks: Vec<String>,
    pub x_label: String,
    pub y_label: String,
    pub colorbar: String,
    pub range: Option<(f64, f64)>,
}

impl Heatmap {
    pub fn new(title: impl Into<String>, matrix: Vec<Vec<f64>>) -> Heatmap {
        Heatmap {
            title: title.into(),
            matrix,
            x_ticks: Vec::new(),
            y_ticks: Vec::new(),
            x_label: String::new(),
            y_label: String::new(),
            colorbar: String::new(),
            range: None,
        }
    }
    pub fn x_ticks(mut self, t: Vec<String>) -> Self {
        self.x_ticks = t;
        self
    }
    pub fn y_ticks(mut self, t: Vec<String>) -> Self {
        self.y_ticks = t;
        self
    }
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }
    pub fn colorbar(mut self, label: impl Into<String>) -> Self {
        self.colorbar = label.into();
        self
    }
    /// Fix the colour scale (shared across panels of a grid).
    pub fn range(mut self, vmin: f64, vmax: f64) -> Self {
        self.range = Some((vmin, vmax));
        self
    }

    fn shape(&self) -> Result<(usize, usize)> {
        let rows = self.matrix.len();
        let cols = self.matrix.first().map_or(0, |r| r.len());
        if rows == 0 || cols == 0 || self.matrix.iter().any(|r| r.len() != cols) {
            bail!(
                "heatmap `{}` needs a non-empty rectangular matrix",
                self.title
            );
        }
        Ok((rows, cols))
    }

    fn value_range(&self) -> (f64, f64) {
        self.range.unwrap_or_else(|| {
            finite_range(self.matrix.iter().flatten().copied(), false).unwrap_or((0.0, 1.0))
        })
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let (rows, cols) = self.shape()?;
        let h = ((1000.0 * rows as f64 / cols as f64) as u32 + 180).clamp(500, 1400);
        render_png(path, h, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let (main, bar) = area.split_horizontally(WIDTH - 170);
            let (lo, hi) = self.value_range();
            self.draw(&main, None, (lo, hi), true, true)?;
            colour_bar(&bar, lo, hi, &self.colorbar)
        })
    }

    fn draw(
        &self,
        area: &Area,
        caption: Option<&str>,
        (lo, hi): (f64, f64),
        x_ticks: bool,
        y_ticks: bool,
    ) -> Result<()> {
        let (rows, cols) = self.shape()?;
        let mut b = ChartBuilder::on(area);
        b.margin(10)
            .x_label_area_size(if x_ticks {
                if self.x_label.is_empty() {
                    40
                } else {
                    76
                }
            } else {
                6
            })
            .y_label_area_size(if y_ticks {
                if self.y_label.is_empty() {
                    60
                } else {
                    100
                }
            } else {
                6
            });
        if let Some(c) = caption {
            b.caption(c, bold(PANEL_TITLE_PX));
        }
        let mut chart = b
            .build_cartesian_2d(
                Categories {
                    n: cols,
                    flip: false,
                },
                Categories {
                    n: rows,
                    flip: true,
                },
            )
            .map_err(err)?;
        let span = if hi > lo { hi - lo } else { 1.0 };
        chart
            .draw_series(self.matrix.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().map(move |(c, v)| {
                    let colour = if v.is_finite() {
                        viridis((v - lo) / span)
                    } else {
                        RGBColor(255, 255, 255)
                    };
                    Rectangle::new(
                        [(c as f64, r as f64), (c as f64 + 1.0, r as f64 + 1.0)],
                        colour.filled(),
                    )
                })
            }))
            .map_err(err)?;
        // At most one tick label per 18 px of panel, so labels never run into each other.
        let (w_px, h_px) = area.dim_in_pixel();
        let (max_x, max_y) = ((w_px as usize / 18).max(1), (h_px as usize / 18).max(1));
        let (xt, yt) = (self.x_ticks.clone(), self.y_ticks.clone());
        let (fx, fy) = (
            |v: &f64| category_label(&xt, *v),
            |v: &f64| category_label(&yt, *v),
        );
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .label_style(font(TICK_PX))
            .axis_desc_style(font(LABEL_PX))
            .x_labels(if x_ticks { cols.min(max_x) } else { 0 })
            .y_labels(if y_ticks { rows.min(max_y) } else { 0 })
            .x_label_formatter(&fx)
            .y_label_formatter(&fy);
        if x_ticks && !self.x_label.is_empty() {
            mesh.x_desc(&self.x_label);
        }
        if y_ticks && !self.y_label.is_empty() {
            mesh.y_desc(&self.y_label);
        }
        mesh.draw().map_err(err)?;
        Ok(())
    }
}

/// A vertical colour bar for values lo..hi with five tick labels.
fn colour_bar(area: &Area, lo: f64, hi: f64, label: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (top, bottom) = (40i32, h as i32 - 90);
    let (x0, x1) = (16i32, 46i32);
    let steps = (bottom - top).max(1);
    for i in 0..steps {
        let t = 1.0 - i as f64 / steps as f64;
        area.draw(&Rectangle::new(
            [(x0, top + i), (x1, top + i + 1)],
            viridis(t).filled(),
        ))
        .map_err(err)?;
    }
    area.draw(&Rectangle::new(
        [(x0, top), (x1, bottom)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    for k in 0..5 {
        let t = k as f64 / 4.0;
        let y = bottom - (t * (bottom - top) as f64) as i32;
        let v = lo + t * (hi - lo);
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 6, y)], BLACK))
            .map_err(err)?;
        area.draw(&Text::new(fmt_num(v), (x1 + 10, y - 9), font(TICK_PX)))
            .map_err(err)?;
    }
    if !label.is_empty() {
        let style = font(LABEL_PX)
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        let x = (w as i32 - 26).max(x1 + 70);
        area.draw(&Text::new(label.to_string(), (x, top + 10), style))
            .map_err(err)?;
    }
    Ok(())
}

/// Small multiples: heatmaps in a grid under one title, sharing one colour scale and colour bar.
/// Tick labels are drawn on the left column and bottom row only.
pub fn heatmap_grid(title: &str, panels: &[Heatmap], cols: usize, path: &Path) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        bail!("heatmap_grid `{title}` needs panels and at least one column");
    }
    let rows = panels.len().div_ceil(cols);
    let lo = panels
        .iter()
        .map(|p| p.value_range().0)
        .fold(f64::INFINITY, f64::min);
    let hi = panels
        .iter()
        .map(|p| p.value_range().1)
        .fold(f64::NEG_INFINITY, f64::max);
    let cell_w = (WIDTH - 170) / cols as u32;
    let height = 60 + rows as u32 * (cell_w + 40);
    let bar_label = panels[0].colorbar.clone();
    render_png(path, height, |root| {
        let area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        let (main, bar) = area.split_horizontally(WIDTH - 170);
        for (i, (cell, p)) in main
            .split_evenly((rows, cols))
            .iter()
            .zip(panels)
            .enumerate()
        {
            let (r, c) = (i / cols, i % cols);
            let last_row = r == rows - 1 || i + cols >= panels.len();
            p.draw(cell, Some(&p.title), (lo, hi), last_row, c == 0)?;
        }
        colour_bar(&bar, lo, hi, &bar_label)
    })
}
