//! Scatter plots.

use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

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
