//! Line charts and grids of them.

use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::*;

// ------------------------------------------------------------------------------------------------
// Line charts
// ------------------------------------------------------------------------------------------------

/// One line of a [`LineChart`], optionally with a shaded band (e.g. mean ± std across seeds).
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// `(lo, hi)` per point, same length as `points`.
    pub band: Option<Vec<(f64, f64)>>,
    pub dashed: bool,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.into(),
            points,
            band: None,
            dashed: false,
        }
    }
    pub fn band(mut self, lo_hi: Vec<(f64, f64)>) -> Series {
        self.band = Some(lo_hi);
        self
    }
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// Exponential moving average, as TensorBoard smooths curves (`alpha` = weight of the past).
pub fn ema(points: &[(f64, f64)], alpha: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut acc: Option<f64> = None;
    for &(x, y) in points {
        let s = match acc {
            None => y,
            Some(a) => alpha * a + (1.0 - alpha) * y,
        };
        acc = Some(s);
        out.push((x, s));
    }
    out
}

/// A line chart of one or more series.
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
    pub smoothing: Option<f64>,
    pub hlines: Vec<(String, f64)>,
    pub height: u32,
}

impl LineChart {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_x: false,
            log_y: false,
            smoothing: None,
            hlines: Vec::new(),
            height: 800,
        }
    }
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }
    /// Smooth every series with an EMA of weight `alpha`; the raw line stays visible, faint.
    pub fn smooth(mut self, alpha: f64) -> Self {
        self.smoothing = Some(alpha);
        self
    }
    /// A labelled horizontal reference line (a target, another implementation's number).
    pub fn hline(mut self, label: impl Into<String>, y: f64) -> Self {
        self.hlines.push((label.into(), y));
        self
    }
    pub fn height(mut self, px: u32) -> Self {
        self.height = px;
        self
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        render_png(path, self.height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            self.draw(&area, None)
        })
    }

    fn ranges(&self) -> Result<(Range<f64>, Range<f64>)> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = finite_range(xs, self.log_x)
            .ok_or_else(|| anyhow!("line chart `{}` has no data", self.title))?;
        let ys = self
            .series
            .iter()
            .flat_map(|s| {
                s.points.iter().map(|p| p.1).chain(
                    s.band
                        .iter()
                        .flat_map(|b| b.iter().flat_map(|&(l, h)| [l, h])),
                )
            })
            .chain(self.hlines.iter().map(|h| h.1));
        let (y0, y1) = finite_range(ys, self.log_y)
            .ok_or_else(|| anyhow!("line chart `{}` has no y data", self.title))?;
        let x = if self.log_x {
            padded(x0, x1, true)
        } else {
            x0..(if x1 > x0 { x1 } else { x0 + 1.0 })
        };
        Ok((x, padded(y0, y1, self.log_y)))
    }

    fn draw(&self, area: &Area, panel_title: Option<&str>) -> Result<()> {
        let (x, y) = self.ranges()?;
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_in(area, panel_title, x.clone(), y.clone(), x, y),
            (true, false) => {
                self.draw_in(area, panel_title, x.clone().log_scale(), y.clone(), x, y)
            }
            (false, true) => {
                self.draw_in(area, panel_title, x.clone(), y.clone().log_scale(), x, y)
            }
            (true, true) => self.draw_in(
                area,
                panel_title,
                x.clone().log_scale(),
                y.clone().log_scale(),
                x,
                y,
            ),
        }
    }

    fn draw_in<X, Y>(
        &self,
        area: &Area,
        panel_title: Option<&str>,
        xs: X,
        ys: Y,
        xr: Range<f64>,
        yr: Range<f64>,
    ) -> Result<()>
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut b = ChartBuilder::on(area);
        b.margin(16).x_label_area_size(64).y_label_area_size(100);
        if let Some(t) = panel_title {
            b.caption(t, bold(PANEL_TITLE_PX));
        }
        let mut chart = b.build_cartesian_2d(xs, ys).map_err(err)?;
        // Small panels of a grid have no room for a wider legend: there the legend keeps plotters'
        // default swatch area (solid swatches), so it does not overflow the plotting area.
        let wide = chart.plotting_area().dim_in_pixel().0 >= 500;
        numeric_mesh(&mut chart, &self.x_label, &self.y_label)?;
        let mut all_points = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| {
                    p.0.is_finite()
                        && p.1.is_finite()
                        && (!self.log_y || p.1 > 0.0)
                        && (!self.log_x || p.0 > 0.0)
                })
                .collect();
            all_points.extend(pts.iter().copied());
            if let Some(band) = &s.band {
                let mut poly: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .zip(band)
                    .map(|(p, b)| (p.0, b.1))
                    .filter(|p| p.1.is_finite())
                    .collect();
                poly.extend(
                    s.points
                        .iter()
                        .zip(band)
                        .rev()
                        .map(|(p, b)| (p.0, b.0))
                        .filter(|p| p.1.is_finite()),
                );
                if self.log_y {
                    poly.retain(|p| p.1 > 0.0);
                }
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.2).filled())))
                    .map_err(err)?;
            }
            let line = match self.smoothing {
                Some(a) => {
                    chart
                        .draw_series(LineSeries::new(pts.clone(), c.mix(0.25).stroke_width(1)))
                        .map_err(err)?;
                    ema(&pts, a)
                }
                None => pts,
            };
            let style = c.stroke_width(3);
            let drawn = if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(line, 12, 8, style))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(LineSeries::new(line, style))
                    .map_err(err)?
            };
            let anno = drawn.label(&s.label);
            if wide {
                let [a, b] = swatch_segments(s.dashed);
                anno.legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(a.0, 0), (a.1, 0)], c.stroke_width(4))
                        + PathElement::new(vec![(b.0, 0), (b.1, 0)], c.stroke_width(4))
                });
            } else {
                anno.legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(4))
                });
            }
        }
        for (j, (label, yv)) in self.hlines.iter().enumerate() {
            let c = reference_colour(j, self.series.len());
            let pts = vec![(xr.start, *yv), (xr.end, *yv)];
            all_points.extend(pts.iter().copied());
            let anno = chart
                .draw_series(DashedLineSeries::new(pts, 10, 8, c.stroke_width(2)))
                .map_err(err)?
                .label(label);
            if wide {
                let [a, b] = swatch_segments(true);
                anno.legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(a.0, 0), (a.1, 0)], c.stroke_width(2))
                        + PathElement::new(vec![(b.0, 0), (b.1, 0)], c.stroke_width(2))
                });
            } else {
                anno.legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 30, y)], c.stroke_width(2))
                });
            }
        }
        if !self.series.is_empty() || !self.hlines.is_empty() {
            chart
                .configure_series_labels()
                .legend_area_size(if wide { 46 } else { 30 })
                .position(legend_corner(&all_points, &xr, &yr, self.log_x, self.log_y))
                .label_font(font(TICK_PX))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .margin(12)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Several line charts side by side under one title (e.g. loss and accuracy); each chart's own title
/// becomes its panel caption.
pub fn line_grid(title: &str, charts: &[LineChart], cols: usize, path: &Path) -> Result<()> {
    if charts.is_empty() || cols == 0 {
        bail!("line_grid `{title}` needs at least one chart and one column");
    }
    let rows = charts.len().div_ceil(cols);
    let panel_h = if cols == 1 { 700 } else { 620 };
    render_png(path, 60 + rows as u32 * panel_h, |root| {
        let area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        for (panel, chart) in area.split_evenly((rows, cols)).iter().zip(charts) {
            chart.draw(panel, Some(&chart.title))?;
        }
        Ok(())
    })
}
