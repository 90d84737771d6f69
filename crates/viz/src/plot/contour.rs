//! Contour plots with optimisation paths.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::*;

/// A function's filled contour plot (banded colour levels) with optimisation trajectories over it.
pub struct ContourPaths {
    pub title: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Values on a 200 × 200 grid, row 0 at `y_range.0`.
    pub values: Vec<Vec<f64>>,
    pub paths: Vec<(String, Vec<(f64, f64)>)>,
    pub log_levels: bool,
    pub x_label: String,
    pub y_label: String,
}

impl ContourPaths {
    const N: usize = 200;
    const LEVELS: usize = 14;

    pub fn new(
        title: impl Into<String>,
        x_range: (f64, f64),
        y_range: (f64, f64),
        f: impl Fn(f64, f64) -> f64,
    ) -> Self {
        let n = Self::N;
        let values = (0..n)
            .map(|r| {
                let y = y_range.0 + (r as f64 + 0.5) / n as f64 * (y_range.1 - y_range.0);
                (0..n)
                    .map(|c| {
                        f(
                            x_range.0 + (c as f64 + 0.5) / n as f64 * (x_range.1 - x_range.0),
                            y,
                        )
                    })
                    .collect()
            })
            .collect();
        ContourPaths {
            title: title.into(),
            x_range,
            y_range,
            values,
            paths: Vec::new(),
            log_levels: false,
            x_label: "x".into(),
            y_label: "y".into(),
        }
    }
    pub fn path(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.paths.push((label.into(), points));
        self
    }
    /// Space the colour levels logarithmically (for functions like Rosenbrock's with a deep valley).
    pub fn log_levels(mut self) -> Self {
        self.log_levels = true;
        self
    }
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let tf = |v: f64| {
            if self.log_levels {
                (v.max(1e-12)).log10()
            } else {
                v
            }
        };
        let (lo, hi) = finite_range(self.values.iter().flatten().map(|&v| tf(v)), false)
            .ok_or_else(|| anyhow!("contour `{}` has no finite values", self.title))?;
        let span = if hi > lo { hi - lo } else { 1.0 };
        let level = |v: f64| {
            (((tf(v) - lo) / span) * Self::LEVELS as f64)
                .floor()
                .min(Self::LEVELS as f64 - 1.0)
        };
        render_png(path, 1000, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let mut chart = ChartBuilder::on(&area)
                .margin(16)
                .x_label_area_size(64)
                .y_label_area_size(90)
                .build_cartesian_2d(
                    self.x_range.0..self.x_range.1,
                    self.y_range.0..self.y_range.1,
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .axis_desc_style(font(LABEL_PX))
                .label_style(font(TICK_PX))
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .draw()
                .map_err(err)?;
            let n = Self::N as f64;
            let dx = (self.x_range.1 - self.x_range.0) / n;
            let dy = (self.y_range.1 - self.y_range.0) / n;
            // Light, desaturated bands so the coloured trajectories stay readable on top.
            chart
                .draw_series(self.values.iter().enumerate().flat_map(|(r, row)| {
                    row.iter().enumerate().map(move |(c, &v)| {
                        let t = level(v) / (Self::LEVELS as f64 - 1.0);
                        let g = (255.0 - 150.0 * (1.0 - t)) as u8;
                        let (x0, y0) = (
                            self.x_range.0 + c as f64 * dx,
                            self.y_range.0 + r as f64 * dy,
                        );
                        Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], RGBColor(g, g, g).filled())
                    })
                }))
                .map_err(err)?;
            for (i, (label, pts)) in self.paths.iter().enumerate() {
                let c = colour(i);
                let pts: Vec<(f64, f64)> = pts
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(4))
                    });
                if let Some(&end) = pts.last() {
                    chart
                        .draw_series(std::iter::once(Circle::new(end, 7, c.filled())))
                        .map_err(err)?;
                }
                if let Some(&start) = pts.first() {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            start,
                            8,
                            BLACK.stroke_width(2),
                        )))
                        .map_err(err)?;
                }
            }
            chart
                .configure_series_labels()
                .legend_area_size(46)
                .position(SeriesLabelPosition::LowerRight)
                .label_font(font(TICK_PX))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .margin(12)
                .draw()
                .map_err(err)?;
            Ok(())
        })
    }
}

/// Line segments of the `level` contour of `values` by marching squares, interpolating linearly
/// between grid points; `values[r][c]` sits at `(origin.0 + c * step.0, origin.1 + r * step.1)`.
/// Squares with a non-finite corner are skipped; a saddle square gives two segments.
pub(crate) fn contour_segments(
    values: &[Vec<f64>],
    origin: (f64, f64),
    step: (f64, f64),
    level: f64,
) -> Vec<[(f64, f64); 2]> {
    let mut out = Vec::new();
    let rows = values.len();
    let cols = values.first().map_or(0, |r| r.len());
    if rows < 2 || cols < 2 {
        return out;
    }
    for r in 0..rows - 1 {
        for c in 0..cols - 1 {
            let corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)];
            let v = corners.map(|(a, b)| values[a].get(b).copied().unwrap_or(f64::NAN) - level);
            if v.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let mut cross = Vec::with_capacity(4);
            for e in 0..4 {
                let (i, j) = (e, (e + 1) % 4);
                if (v[i] > 0.0) != (v[j] > 0.0) {
                    let t = v[i] / (v[i] - v[j]);
                    let (ri, ci) = (corners[i].0 as f64, corners[i].1 as f64);
                    let (rj, cj) = (corners[j].0 as f64, corners[j].1 as f64);
                    let (rr, cc) = (ri + t * (rj - ri), ci + t * (cj - ci));
                    cross.push((origin.0 + cc * step.0, origin.1 + rr * step.1));
                }
            }
            if cross.len() >= 2 {
                out.push([cross[0], cross[1]]);
            }
            if cross.len() == 4 {
                out.push([cross[2], cross[3]]);
            }
        }
    }
    out
}
