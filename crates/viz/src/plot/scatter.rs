//! Scatter plots.

use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::key::{centred_title, draw_key, draw_markers, key_height, KeyEntry, Marker, Swatch};
use super::*;

// ------------------------------------------------------------------------------------------------
// Scatter, histogram, grouped bars, contour paths
// ------------------------------------------------------------------------------------------------

/// Point groups, optionally log–log and with the y = x reference line (analytical vs numerical).
#[derive(Clone, Debug)]
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub groups: Vec<(String, Vec<(f64, f64)>)>,
    pub log_log: bool,
    pub identity: bool,
}

impl Scatter {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Scatter {
        Scatter {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            groups: Vec::new(),
            log_log: false,
            identity: false,
        }
    }
    pub fn group(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.groups.push((label.into(), points));
        self
    }
    pub fn log_log(mut self) -> Self {
        self.log_log = true;
        self
    }
    pub fn identity_line(mut self) -> Self {
        self.identity = true;
        self
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let log = self.log_log;
        let all = || self.groups.iter().flat_map(|g| g.1.iter().copied());
        let (x0, x1) = finite_range(all().map(|p| p.0), log)
            .ok_or_else(|| anyhow!("scatter `{}` has no data", self.title))?;
        let (y0, y1) = finite_range(all().map(|p| p.1), log)
            .ok_or_else(|| anyhow!("scatter `{}` has no data", self.title))?;
        let (lo, hi) = if self.identity {
            (x0.min(y0), x1.max(y1))
        } else {
            (0.0, 0.0)
        };
        let (xr, yr) = if self.identity {
            (padded(lo, hi, log), padded(lo, hi, log))
        } else {
            (padded(x0, x1, log), padded(y0, y1, log))
        };
        render_png(path, 1000, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            if log {
                self.draw_in(
                    &area,
                    xr.clone().log_scale(),
                    yr.clone().log_scale(),
                    xr,
                    yr,
                    (lo, hi),
                )
            } else {
                self.draw_in(&area, xr.clone(), yr.clone(), xr, yr, (lo, hi))
            }
        })
    }

    fn draw_in<X, Y>(
        &self,
        area: &Area,
        xs: X,
        ys: Y,
        xr: Range<f64>,
        yr: Range<f64>,
        (lo, hi): (f64, f64),
    ) -> Result<()>
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(xs, ys)
            .map_err(err)?;
        numeric_mesh(&mut chart, &self.x_label, &self.y_label)?;
        let mut pts_all = Vec::new();
        if self.identity {
            let line: Vec<(f64, f64)> = if self.log_log {
                (0..=50)
                    .map(|i| lo * (hi / lo).powf(i as f64 / 50.0))
                    .map(|v| (v, v))
                    .collect()
            } else {
                vec![(lo, lo), (hi, hi)]
            };
            chart
                .draw_series(DashedLineSeries::new(
                    line,
                    10,
                    8,
                    colour(6).stroke_width(2),
                ))
                .map_err(err)?
                .label("y = x")
                .legend(|(x, y)| {
                    let [a, b] = swatch_segments(true);
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(a.0, 0), (a.1, 0)], colour(6).stroke_width(2))
                        + PathElement::new(vec![(b.0, 0), (b.1, 0)], colour(6).stroke_width(2))
                });
        }
        for (i, (label, pts)) in self.groups.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = pts
                .iter()
                .copied()
                .filter(|p| {
                    p.0.is_finite()
                        && p.1.is_finite()
                        && (!self.log_log || (p.0 > 0.0 && p.1 > 0.0))
                })
                .collect();
            pts_all.extend(pts.iter().copied());
            // Different marker shapes as well as colours, so the groups separate in greyscale too.
            if i % 2 == 0 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.mix(0.75).filled())))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&p| TriangleMarker::new(p, 7, c.mix(0.75).filled())),
                    )
                    .map_err(err)?
            }
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 15, y), 6, c.filled()));
        }
        chart
            .configure_series_labels()
            .legend_area_size(46)
            .position(legend_corner(
                &pts_all,
                &xr,
                &yr,
                self.log_log,
                self.log_log,
            ))
            .label_font(font(TICK_PX))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .margin(12)
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// One group of points in a [`ScatterGrid`] panel, with its own colour and marker.
#[derive(Clone, Debug)]
pub struct PointGroup {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub colour: RGBColor,
    pub marker: Marker,
}

/// One panel of a [`ScatterGrid`].
#[derive(Clone, Debug)]
pub struct ScatterPanel {
    pub title: String,
    pub groups: Vec<PointGroup>,
}

/// Scatter panels on shared linear axes (signed values: nothing is folded or floored), each with
/// the dashed y = x line, and one key for all panels in a strip below them.
#[derive(Clone, Debug)]
pub struct ScatterGrid {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub panels: Vec<ScatterPanel>,
    pub cols: usize,
}

impl ScatterGrid {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        cols: usize,
    ) -> Self {
        ScatterGrid {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            panels: Vec::new(),
            cols,
        }
    }
    pub fn panel(mut self, p: ScatterPanel) -> Self {
        self.panels.push(p);
        self
    }

    /// The key: every distinct (label, colour, marker) group in panel order, then y = x.
    fn key(&self) -> Vec<KeyEntry> {
        let mut seen: Vec<(String, RGBColor, Marker)> = Vec::new();
        for g in self.panels.iter().flat_map(|p| &p.groups) {
            if !seen
                .iter()
                .any(|s| s.0 == g.label && s.1 == g.colour && s.2 == g.marker)
            {
                seen.push((g.label.clone(), g.colour, g.marker));
            }
        }
        let mut key: Vec<KeyEntry> = seen
            .into_iter()
            .map(|(l, c, m)| KeyEntry::new(Swatch::Point(m, c), l))
            .collect();
        key.push(KeyEntry::new(
            Swatch::Line {
                colour: colour(6),
                width: 2,
                dashed: true,
            },
            "y = x",
        ));
        key
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        if self.panels.is_empty() || self.cols == 0 {
            return Err(anyhow!("scatter grid `{}` needs panels", self.title));
        }
        let all = self
            .panels
            .iter()
            .flat_map(|p| &p.groups)
            .flat_map(|g| g.points.iter().flat_map(|&(x, y)| [x, y]));
        let (lo, hi) = finite_range(all, false)
            .ok_or_else(|| anyhow!("scatter grid `{}` has no data", self.title))?;
        let r = padded(lo, hi, false);
        let rows = self.panels.len().div_ceil(self.cols);
        let side = WIDTH / self.cols as u32;
        let key = self.key();
        // The key's height depends on text widths, so measure it on a scratch canvas first.
        let key_h = {
            fonts();
            let mut buf = vec![0u8; (WIDTH * 10 * 3) as usize];
            let scratch = BitMapBackend::with_buffer(&mut buf, (WIDTH, 10)).into_drawing_area();
            key_height(&scratch, &key, WIDTH as i32 - 40)?
        };
        let height = 58 + rows as u32 * (side + 40) + key_h;
        render_png(path, height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let (_, h) = area.dim_in_pixel();
            let (grid, key_area) = area.split_vertically(h - key_h);
            let grid = grid.margin(8, 0, 0, 0);
            for (cell, p) in grid
                .split_evenly((rows, self.cols))
                .iter()
                .zip(&self.panels)
            {
                let th = centred_title(cell, &p.title, bold(PANEL_TITLE_PX))?;
                let (_, body) = cell.split_vertically(th);
                let mut chart = ChartBuilder::on(&body)
                    .margin(12)
                    .x_label_area_size(64)
                    .y_label_area_size(90)
                    .build_cartesian_2d(r.clone(), r.clone())
                    .map_err(err)?;
                let fmt = axis_formatter(r.clone());
                chart
                    .configure_mesh()
                    .x_desc(&self.x_label)
                    .y_desc(&self.y_label)
                    .axis_desc_style(font(LABEL_PX))
                    .label_style(font(TICK_PX))
                    .x_labels(5)
                    .y_labels(5)
                    .x_label_formatter(&fmt)
                    .y_label_formatter(&fmt)
                    .light_line_style(RGBColor(238, 238, 238))
                    .max_light_lines(1)
                    .bold_line_style(RGBColor(215, 215, 215))
                    .draw()
                    .map_err(err)?;
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(r.start, r.start), (r.end, r.end)],
                        12,
                        10,
                        colour(6).stroke_width(2),
                    ))
                    .map_err(err)?;
                for g in &p.groups {
                    let c = g.colour.mix(0.8);
                    draw_markers(&mut chart, &g.points, g.marker, 6, c)?;
                }
            }
            draw_key(&key_area, &key)
        })
    }
}
