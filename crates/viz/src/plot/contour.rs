//! Contour plots with optimisation paths.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::entity::Entity;
use super::figure::Styled;
use super::key::{centred_title, draw_key, draw_markers, key_height, KeyEntry, Marker, Swatch};
use super::*;

/// A contour level and its line segments.
type Level = (f64, Vec<[(f64, f64); 2]>);

/// Dash patterns `(on, off)` in px, one per path, so lines that coincide stay distinguishable; the
/// first is solid.
const DASHES: [(u32, u32); 6] = [(0, 0), (18, 8), (6, 5), (30, 8), (12, 5), (3, 4)];

/// Optimisation trajectories on a function's contour lines: one small panel per path (log-spaced
/// contour levels, each line labelled with its value, the start ringed, the end a square, the
/// minimum crossed), then one panel of the function's value along every path against the step
/// (log y), and the key in a strip below.
pub struct ContourPaths {
    pub title: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Values on a 200 × 200 grid, row 0 at `y_range.0`.
    pub values: Vec<Vec<f64>>,
    pub paths: Vec<(String, Vec<(f64, f64)>)>,
    /// `(step, f)` along each path, for the f-vs-step panel.
    pub path_values: Vec<Vec<(f64, f64)>>,
    pub log_levels: bool,
    pub x_label: String,
    pub y_label: String,
    /// Where the minimum is, marked in every panel.
    pub minimum: Option<(f64, f64)>,
    pub cols: usize,
    /// Per path, the entity whose colour and dash it takes; without one, the palette and a dash
    /// pattern by position.
    pub entities: Vec<Option<Entity>>,
    f: Box<dyn Fn(f64, f64) -> f64>,
}

impl ContourPaths {
    const N: usize = 200;

    pub fn new(
        title: impl Into<String>,
        x_range: (f64, f64),
        y_range: (f64, f64),
        f: impl Fn(f64, f64) -> f64 + 'static,
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
            path_values: Vec::new(),
            log_levels: false,
            x_label: "x".into(),
            y_label: "y".into(),
            minimum: None,
            cols: 3,
            entities: Vec::new(),
            f: Box::new(f),
        }
    }
    /// A path whose points are consecutive steps; f along it is evaluated at each point.
    pub fn path(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.path_values.push(
            points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| (i as f64, (self.f)(x, y)))
                .collect(),
        );
        self.paths.push((label.into(), points));
        self.entities.push(None);
        self
    }
    /// The last path added stands for `e`: its colour, solid or dashed as `e` is everywhere.
    pub fn entity(mut self, e: Entity) -> Self {
        if let Some(slot) = self.entities.last_mut() {
            *slot = Some(e);
        }
        self
    }
    /// Path `i`'s colour and dash `(on, off)` pixels (`off` 0: solid).
    fn path_style(&self, i: usize) -> (RGBColor, (u32, u32)) {
        match self.entities.get(i).copied().flatten() {
            Some(e) => (e.colour(), if e.style().dashed { (12, 8) } else { (0, 0) }),
            None => (colour(i), DASHES[i % DASHES.len()]),
        }
    }
    /// Its paths, styled as drawn.
    pub(super) fn styled(&self) -> Vec<Styled> {
        (0..self.paths.len())
            .map(|i| {
                let (colour, (_, off)) = self.path_style(i);
                Styled {
                    label: self.paths[i].0.clone(),
                    colour,
                    dashed: off > 0,
                    marker: None,
                    line: true,
                    entity: self.entities.get(i).copied().flatten(),
                    reference: false,
                }
            })
            .collect()
    }
    /// A path (possibly thinned) with its own record of `(step, f)`.
    pub fn path_with_values(
        mut self,
        label: impl Into<String>,
        points: Vec<(f64, f64)>,
        values: Vec<(f64, f64)>,
    ) -> Self {
        self.path_values.push(values);
        self.paths.push((label.into(), points));
        self.entities.push(None);
        self
    }
    /// Space the contour levels logarithmically (for functions like Rosenbrock's with a deep valley).
    pub fn log_levels(mut self) -> Self {
        self.log_levels = true;
        self
    }
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }
    pub fn minimum(mut self, at: (f64, f64)) -> Self {
        self.minimum = Some(at);
        self
    }
    pub fn cols(mut self, cols: usize) -> Self {
        self.cols = cols.max(1);
        self
    }

    /// Contour levels: powers of ten inside the value range (log), or ten even steps (linear).
    fn levels(&self) -> Vec<f64> {
        let Some((lo, hi)) = finite_range(self.values.iter().flatten().copied(), self.log_levels)
        else {
            return Vec::new();
        };
        if self.log_levels {
            // From 0.1 (or the smallest value) up: lower levels crowd into the valley floor.
            let a = lo.max(0.1).log10().ceil() as i32;
            let b = hi.log10().floor() as i32;
            (a..=b).map(|k| 10f64.powi(k)).collect()
        } else {
            (1..10).map(|i| lo + (hi - lo) * i as f64 / 10.0).collect()
        }
    }

    fn key(&self) -> Vec<KeyEntry> {
        let mut key: Vec<KeyEntry> = self
            .paths
            .iter()
            .enumerate()
            .map(|(i, (label, _))| {
                let (c, (on, off)) = self.path_style(i);
                KeyEntry::new(
                    Swatch::Dash {
                        colour: c,
                        width: 3,
                        on,
                        off,
                    },
                    label.clone(),
                )
            })
            .collect();
        key.push(KeyEntry::new(
            Swatch::Point(Marker::Ring, colour(6)),
            "start",
        ));
        key.push(KeyEntry::new(
            Swatch::Point(Marker::Square, colour(7)),
            "end (in the path's colour)",
        ));
        if self.minimum.is_some() {
            key.push(KeyEntry::new(
                Swatch::Point(Marker::Cross, colour(6)),
                "minimum",
            ));
        }
        key.push(KeyEntry::new(
            Swatch::Line {
                colour: RGBColor(150, 150, 150),
                width: 1,
                dashed: false,
            },
            "contour of f, labelled with its value",
        ));
        key
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        if self.paths.is_empty() {
            return Err(anyhow!("contour `{}` has no paths", self.title));
        }
        let rows = self.paths.len().div_ceil(self.cols);
        let side = WIDTH / self.cols as u32;
        let key = self.key();
        fonts();
        let key_h = {
            let mut buf = vec![0u8; (WIDTH * 10 * 3) as usize];
            let scratch = BitMapBackend::with_buffer(&mut buf, (WIDTH, 10)).into_drawing_area();
            key_height(&scratch, &key, WIDTH as i32 - 40)?
        };
        let cell_h = side + 40;
        let curve_h = 560;
        let height = 58 + rows as u32 * cell_h + curve_h + key_h;
        let levels = self.levels();
        let n = Self::N as f64;
        let step = (
            (self.x_range.1 - self.x_range.0) / n,
            (self.y_range.1 - self.y_range.0) / n,
        );
        let origin = (self.x_range.0 + step.0 / 2.0, self.y_range.0 + step.1 / 2.0);
        let lines: Vec<Level> = levels
            .iter()
            .map(|&l| (l, contour_segments(&self.values, origin, step, l)))
            .collect();
        render_png(path, height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let area = area.margin(8, 0, 0, 0);
            let (_, h) = area.dim_in_pixel();
            let (top, rest) = area.split_vertically(rows as u32 * cell_h);
            let (curve, key_area) = rest.split_vertically(h - rows as u32 * cell_h - key_h);
            for (i, cell) in top.split_evenly((rows, self.cols)).iter().enumerate() {
                if i < self.paths.len() {
                    self.draw_panel(cell, i, &lines)?;
                }
            }
            self.draw_values(&curve)?;
            draw_key(&key_area, &key)
        })
    }

    fn draw_panel(&self, cell: &Area, i: usize, lines: &[Level]) -> Result<()> {
        let (label, pts) = &self.paths[i];
        let th = centred_title(cell, label, bold(PANEL_TITLE_PX))?;
        let (_, body) = cell.split_vertically(th);
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .margin_right(16)
            .x_label_area_size(60)
            .y_label_area_size(64)
            .build_cartesian_2d(
                self.x_range.0..self.x_range.1,
                self.y_range.0..self.y_range.1,
            )
            .map_err(err)?;
        bare_mesh(&mut chart, &self.x_label, &self.y_label)?;
        let grey = RGBColor(150, 150, 150);
        for (_, segs) in lines {
            chart
                .draw_series(
                    segs.iter()
                        .map(|s| PathElement::new(s.to_vec(), grey.stroke_width(1))),
                )
                .map_err(err)?;
        }
        let (c, (on, off)) = self.path_style(i);
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        if off == 0 {
            round_joined(&mut chart, &pts, c, 3)?;
        } else {
            chart
                .draw_series(DashedLineSeries::new(
                    pts.clone(),
                    on,
                    off,
                    c.stroke_width(3),
                ))
                .map_err(err)?;
        }
        // Level labels: on each contour line, at the point farthest from the path (so no label
        // covers it) and from the labels already placed, inside the frame.
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let (sx, sy) = (
            w as f64 / (self.x_range.1 - self.x_range.0),
            h as f64 / (self.y_range.1 - self.y_range.0),
        );
        let stride = (pts.len() / 400).max(1);
        let mut avoid: Vec<(f64, f64)> = pts
            .iter()
            .step_by(stride)
            .map(|p| (p.0 * sx, p.1 * sy))
            .collect();
        if let Some(m) = self.minimum {
            avoid.push((m.0 * sx, m.1 * sy));
        }
        let (mx, my) = (
            (self.x_range.1 - self.x_range.0) * 0.1,
            (self.y_range.1 - self.y_range.0) * 0.08,
        );
        let mut placed: Vec<(f64, f64, String)> = Vec::new();
        for (level, segs) in lines {
            let best = segs
                .iter()
                .map(|s| ((s[0].0 + s[1].0) / 2.0, (s[0].1 + s[1].1) / 2.0))
                .filter(|p| {
                    p.0 > self.x_range.0 + mx
                        && p.0 < self.x_range.1 - mx
                        && p.1 > self.y_range.0 + my
                        && p.1 < self.y_range.1 - my
                })
                .map(|p| {
                    let q = (p.0 * sx, p.1 * sy);
                    let d = avoid
                        .iter()
                        .chain(
                            placed
                                .iter()
                                .map(|l| (l.0 * sx, l.1 * sy))
                                .collect::<Vec<_>>()
                                .iter(),
                        )
                        .map(|a| (a.0 - q.0).powi(2) + (a.1 - q.1).powi(2))
                        .fold(f64::INFINITY, f64::min);
                    (p, d)
                })
                .fold(None, |acc: Option<((f64, f64), f64)>, (p, d)| match acc {
                    Some((_, bd)) if bd >= d => acc,
                    _ => Some((p, d)),
                });
            if let Some((p, _)) = best {
                placed.push((p.0, p.1, fmt_num(*level)));
            }
        }
        let style = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Center, VPos::Center));
        for (x, y, text) in &placed {
            let (tw, tth) = body.estimate_text_size(text, &style).map_err(err)?;
            let (hw, hh) = (tw as i32 / 2 + 3, tth as i32 / 2 + 1);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*x, *y))
                        + Rectangle::new([(-hw, -hh), (hw, hh)], WHITE.filled())
                        + Text::new(text.clone(), (0, 0), style.clone()),
                ))
                .map_err(err)?;
        }
        if let Some(&start) = pts.first() {
            draw_markers(&mut chart, &[start], Marker::Ring, 8, colour(6).to_rgba())?;
        }
        if let Some(&end) = pts.last() {
            draw_markers(&mut chart, &[end], Marker::Square, 7, c.to_rgba())?;
        }
        if let Some(m) = self.minimum {
            draw_markers(&mut chart, &[m], Marker::Cross, 7, colour(6).to_rgba())?;
        }
        Ok(())
    }

    /// f along every path against the step, log y.
    fn draw_values(&self, area: &Area) -> Result<()> {
        let all = self.path_values.iter().flatten().map(|p| p.1);
        let (lo, hi) = finite_range(all, true)
            .ok_or_else(|| anyhow!("contour `{}`: no positive path values", self.title))?;
        let last = self
            .path_values
            .iter()
            .flatten()
            .map(|p| p.0)
            .fold(1.0, f64::max);
        let yr = padded(lo, hi, true);
        let mut chart = ChartBuilder::on(area)
            .caption("f along each path", bold(PANEL_TITLE_PX))
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..last, yr.log_scale())
            .map_err(err)?;
        numeric_mesh(&mut chart, "step", "f(x, y) (log scale)")?;
        for (i, vals) in self.path_values.iter().enumerate() {
            let pts: Vec<(f64, f64)> = vals
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && p.1 > 0.0)
                .collect();
            let (c, (on, off)) = self.path_style(i);
            let c = c.stroke_width(3);
            if off == 0 {
                chart.draw_series(LineSeries::new(pts, c)).map_err(err)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(pts, on, off, c))
                    .map_err(err)?;
            }
        }
        Ok(())
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
