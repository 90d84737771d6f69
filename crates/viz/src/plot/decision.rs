//! Decision-boundary panels.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::contour::contour_segments;
use super::key::{centred_title, draw_key, draw_markers, key_height, KeyEntry, Marker, Swatch};
use super::*;

// ------------------------------------------------------------------------------------------------
// Decision boundaries
// ------------------------------------------------------------------------------------------------

/// One panel of a decision-boundary figure: the predicted class (and, where known, the class
/// probabilities) on a regular grid, and the data with the network's prediction for each point.
#[derive(Clone, Debug, Default)]
pub struct DecisionPanel {
    pub title: String,
    /// A second, smaller title line (e.g. the accuracies); may be empty.
    pub subtitle: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// `grid[row][col]` = predicted class; row 0 is at `y_range.0`, col 0 at `x_range.0`.
    pub grid: Vec<Vec<usize>>,
    /// `probs[row][col][class]`, the same grid's class probabilities; empty when unknown (then the
    /// regions are drawn flat and the boundary follows the cell edges).
    pub probs: Vec<Vec<Vec<f64>>>,
    /// `(x1, x2, label)`
    pub points: Vec<(f64, f64, usize)>,
    /// The predicted class of each point; empty when unknown (then no point is marked wrong).
    pub predicted: Vec<usize>,
}

/// Class colour `c` blended into white with opacity `a` (opaque result, so drawing is exact).
fn tint(c: RGBColor, a: f64) -> RGBColor {
    let m = |v: u8| (255.0 - a * (255.0 - v as f64)).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// Opacity of a region's shading for a predicted-class probability `p` among `k` classes: pale at
/// chance (1 / k), strong at certainty.
fn shade(p: f64, k: usize) -> f64 {
    let chance = 1.0 / k.max(2) as f64;
    0.06 + 0.36 * ((p - chance) / (1.0 - chance)).clamp(0.0, 1.0)
}

impl DecisionPanel {
    fn classes(&self) -> usize {
        let from_grid = self.grid.iter().flatten().copied().max().unwrap_or(0) + 1;
        let from_points = self.points.iter().map(|p| p.2).max().unwrap_or(0) + 1;
        let from_probs = self
            .probs
            .first()
            .and_then(|r| r.first())
            .map_or(0, |v| v.len());
        from_grid.max(from_points).max(from_probs)
    }

    /// The decision boundary as line segments: where class k's probability equals the largest
    /// other class's (for two classes, the p = 0.5 contour), interpolated between cell centres.
    pub(crate) fn boundary(&self) -> Vec<[(f64, f64); 2]> {
        let gr = self.grid.len();
        let gc = self.grid[0].len();
        let dx = (self.x_range.1 - self.x_range.0) / gc as f64;
        let dy = (self.y_range.1 - self.y_range.0) / gr as f64;
        let origin = (self.x_range.0 + dx / 2.0, self.y_range.0 + dy / 2.0);
        let k = self.classes();
        let mut out = Vec::new();
        let have_probs = self.probs.len() == gr && self.probs.iter().all(|r| r.len() == gc);
        // Two classes share one boundary; draw it once.
        let classes = if k == 2 { 1 } else { k };
        for class in 0..classes {
            let field: Vec<Vec<f64>> = (0..gr)
                .map(|r| {
                    (0..gc)
                        .map(|c| {
                            if have_probs {
                                let p = &self.probs[r][c];
                                let other = p
                                    .iter()
                                    .enumerate()
                                    .filter(|&(j, _)| j != class)
                                    .map(|(_, &v)| v)
                                    .fold(0.0, f64::max);
                                p.get(class).copied().unwrap_or(0.0) - other
                            } else if self.grid[r][c] == class {
                                1.0
                            } else {
                                -1.0
                            }
                        })
                        .collect()
                })
                .collect();
            out.extend(contour_segments(&field, origin, (dx, dy), 0.0));
        }
        out
    }
}

/// The key of a decision-boundary figure.
fn decision_key(classes: usize, probs: bool, marked: bool) -> Vec<KeyEntry> {
    let mut key: Vec<KeyEntry> = (0..classes)
        .map(|k| {
            KeyEntry::new(
                Swatch::Point(Marker::Circle, colour(k)),
                format!("class {k}"),
            )
        })
        .collect();
    if probs {
        key.push(KeyEntry::new(
            Swatch::Patch(tint(colour(0), shade(0.5, 2))),
            "predicted, p near chance",
        ));
        key.push(KeyEntry::new(
            Swatch::Patch(tint(colour(0), shade(1.0, 2))),
            "predicted, p ≈ 1",
        ));
    } else {
        key.push(KeyEntry::new(
            Swatch::Patch(tint(colour(0), 0.3)),
            "predicted class",
        ));
    }
    key.push(KeyEntry::new(
        Swatch::Line {
            colour: colour(6),
            width: 2,
            dashed: false,
        },
        "decision boundary",
    ));
    if marked {
        key.push(KeyEntry::new(
            Swatch::Point(Marker::Cross, colour(6)),
            "misclassified (validation)",
        ));
    }
    key
}

/// Class regions shaded by the predicted class's probability, the decision boundary as a line,
/// the points on top with the misclassified ones crossed out; one panel per dataset. The key sits
/// in the first empty grid cell, or in a strip below the panels when the grid is full.
pub fn decision_boundaries(
    title: &str,
    panels: &[DecisionPanel],
    cols: usize,
    path: &Path,
) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        bail!("decision_boundaries `{title}` needs panels and at least one column");
    }
    for p in panels {
        if p.grid.is_empty() || p.grid[0].is_empty() {
            bail!("decision panel `{}` has an empty grid", p.title);
        }
        if !p.predicted.is_empty() && p.predicted.len() != p.points.len() {
            bail!(
                "decision panel `{}`: predictions do not match points",
                p.title
            );
        }
    }
    let classes = panels.iter().map(|p| p.classes()).max().unwrap_or(2);
    let probs = panels.iter().all(|p| !p.probs.is_empty());
    let marked = panels.iter().any(|p| !p.predicted.is_empty());
    let key = decision_key(classes, probs, marked);
    let rows = panels.len().div_ceil(cols);
    let spare = rows * cols > panels.len();
    let side = WIDTH / cols as u32;
    fonts();
    let key_h = if spare {
        0
    } else {
        let mut buf = vec![0u8; (WIDTH * 10 * 3) as usize];
        let scratch = BitMapBackend::with_buffer(&mut buf, (WIDTH, 10)).into_drawing_area();
        key_height(&scratch, &key, WIDTH as i32 - 40)?
    };
    let cell_h = side + 40;
    render_png(path, 58 + rows as u32 * cell_h + key_h, |root| {
        let area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        let (_, h) = area.dim_in_pixel();
        let (grid_area, key_area) = area.split_vertically(h - key_h);
        let grid_area = grid_area.margin(8, 0, 0, 0);
        let cells = grid_area.split_evenly((rows, cols));
        for (cell, p) in cells.iter().zip(panels) {
            draw_panel(cell, p, classes)?;
        }
        if spare {
            let cell = &cells[panels.len()];
            let (w, ch) = cell.dim_in_pixel();
            let kh = key_height(cell, &key, w as i32 - 40)?;
            let top = (ch.saturating_sub(kh)) / 2;
            let (_, rest) = cell.split_vertically(top);
            draw_key(&rest, &key)?;
        } else {
            draw_key(&key_area, &key)?;
        }
        Ok(())
    })
}

fn draw_panel(cell: &Area, p: &DecisionPanel, classes: usize) -> Result<()> {
    let mut th = centred_title(cell, &p.title, bold(PANEL_TITLE_PX))?;
    if !p.subtitle.is_empty() {
        let (_, below) = cell.split_vertically(th);
        th += centred_title(&below, &p.subtitle, font(TICK_PX))?;
    }
    let (_, body) = cell.split_vertically(th);
    let mut chart = ChartBuilder::on(&body)
        .margin(10)
        .margin_right(16)
        .x_label_area_size(64)
        .y_label_area_size(72)
        .build_cartesian_2d(p.x_range.0..p.x_range.1, p.y_range.0..p.y_range.1)
        .map_err(err)?;
    bare_mesh(&mut chart, "x1", "x2")?;
    let gr = p.grid.len();
    let gc = p.grid[0].len();
    let dx = (p.x_range.1 - p.x_range.0) / gc as f64;
    let dy = (p.y_range.1 - p.y_range.0) / gr as f64;
    let have_probs = p.probs.len() == gr;
    chart
        .draw_series(p.grid.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &k)| {
                let a = if have_probs {
                    let pk = p.probs[r].get(c).and_then(|v| v.get(k)).copied();
                    shade(pk.unwrap_or(1.0), classes)
                } else {
                    0.3
                };
                let (x0, y0) = (p.x_range.0 + c as f64 * dx, p.y_range.0 + r as f64 * dy);
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], tint(colour(k), a).filled())
            })
        }))
        .map_err(err)?;
    for (k, class_pts) in (0..classes).map(|k| {
        (
            k,
            p.points
                .iter()
                .filter(|q| q.2 == k)
                .map(|q| (q.0, q.1))
                .collect::<Vec<_>>(),
        )
    }) {
        draw_markers(
            &mut chart,
            &class_pts,
            Marker::Circle,
            3,
            colour(k).to_rgba(),
        )?;
    }
    // A thin dark edge keeps each point readable on its own class's shading.
    chart
        .draw_series(
            p.points
                .iter()
                .map(|&(x, y, _)| Circle::new((x, y), 3, BLACK.mix(0.45).stroke_width(1))),
        )
        .map_err(err)?;
    chart
        .draw_series(
            p.boundary()
                .into_iter()
                .map(|s| PathElement::new(s.to_vec(), colour(6).stroke_width(2))),
        )
        .map_err(err)?;
    let wrong: Vec<(f64, f64)> = p
        .points
        .iter()
        .zip(&p.predicted)
        .filter(|(q, &k)| q.2 != k)
        .map(|(q, _)| (q.0, q.1))
        .collect();
    draw_markers(&mut chart, &wrong, Marker::Cross, 5, colour(6).to_rgba())?;
    Ok(())
}
