//! Figures, drawn from records only.
//!
//! Every figure is a PNG 1200 px wide, with DejaVu Sans compiled into the binary (so rendering needs no
//! system font library and gives byte-identical files on any machine), tick labels of 18 px and titles of
//! 28 px, the Okabe–Ito colour-blind-safe palette for lines (its yellow left out: unreadable on white) and
//! viridis for colour maps.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Result};
use plotters::coord::ranged1d::{
    AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged, ValueFormatter,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Figure width in pixels.
pub const WIDTH: u32 = 1200;
const TITLE_PX: u32 = 28;
const PANEL_TITLE_PX: u32 = 24;
const LABEL_PX: u32 = 22;
const TICK_PX: u32 = 18;

/// Okabe & Ito (2008), without yellow: blue, orange, bluish green, vermillion, reddish purple, sky blue,
/// black, grey.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0x99, 0x99, 0x99),
];

/// The i-th line colour (cycles after eight).
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour of the `j`-th reference line of a chart whose data series use the first `used`
/// palette colours: black, vermillion, reddish purple, grey — skipping any a series already has, so
/// two reference lines are never the same colour.
fn reference_colour(j: usize, used: usize) -> RGBColor {
    let free: Vec<usize> = [6, 3, 4, 7, 5, 2]
        .into_iter()
        .filter(|&i| i >= used)
        .collect();
    if free.is_empty() {
        colour(6 + j)
    } else {
        colour(free[j % free.len()])
    }
}

/// The two segments (x from, x to; pixels from the swatch's left end) of a 30 px legend swatch that
/// looks like the line it stands for: two dashes when the line is dashed, one stroke otherwise.
fn swatch_segments(dashed: bool) -> [(i32, i32); 2] {
    if dashed {
        [(0, 11), (19, 30)]
    } else {
        [(0, 30), (0, 30)]
    }
}

/// Viridis, sampled at nine stops and interpolated linearly; `t` in 0..=1.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are valid TrueType compiled into the dejavu crate; failure here is a build defect.
        let ok = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold()).is_ok();
        assert!(ok, "the DejaVu fonts compiled into the binary must parse");
    });
}

fn font(px: u32) -> FontDesc<'static> {
    ("sans-serif", px as f64).into_font()
}

fn bold(px: u32) -> FontDesc<'static> {
    ("sans-serif", px as f64, FontStyle::Bold).into_font()
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Open a white canvas, let `draw` fill it, and write the PNG.
fn render_png(path: &Path, height: u32, draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    fonts();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    draw(&root)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    Ok(())
}

/// Tick label text: short, no float noise.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return fmt_sci(v);
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `1e5`, `2e-4`, `1e0`: scientific notation without float noise (Rust writes no exponent padding).
fn fmt_sci(v: f64) -> String {
    format!("{v:.0e}")
}

/// Tick label text for an axis spanning `range`: [`fmt_num`], except that an axis reaching beyond
/// 1e5 or below 1e-3 labels every tick in scientific notation — one notation per axis, never "100000"
/// next to "1e7".
pub fn axis_formatter(range: Range<f64>) -> impl Fn(&f64) -> String {
    let (lo, hi) = (range.start.abs(), range.end.abs());
    let big = lo.max(hi) >= 1e5;
    let tiny = [lo, hi].iter().any(|&a| a > 0.0 && a < 1e-3);
    move |v: &f64| {
        if *v != 0.0 && (big || tiny) {
            fmt_sci(*v)
        } else {
            fmt_num(*v)
        }
    }
}

fn finite_range(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in vals.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

/// Pad a data range so lines do not touch the frame (multiplicative on log axes).
fn padded(lo: f64, hi: f64, log: bool) -> Range<f64> {
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = ((h - l) * 0.05).max(0.05);
        10f64.powf(l - pad)..10f64.powf(h + pad)
    } else {
        let span = hi - lo;
        let pad = if span > 0.0 {
            span * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        (lo - pad)..(hi + pad)
    }
}

/// Which corner has the fewest points, so the legend covers no data.
fn legend_corner(
    points: &[(f64, f64)],
    x: &Range<f64>,
    y: &Range<f64>,
    log_x: bool,
    log_y: bool,
) -> SeriesLabelPosition {
    let norm = |v: f64, r: &Range<f64>, log: bool| {
        if log {
            (v.log10() - r.start.log10()) / (r.end.log10() - r.start.log10())
        } else {
            (v - r.start) / (r.end - r.start)
        }
    };
    let mut counts = [0usize; 4]; // UL, UR, LL, LR
    for &(px, py) in points {
        let (u, v) = (norm(px, x, log_x), norm(py, y, log_y));
        if !(u.is_finite() && v.is_finite()) {
            continue;
        }
        let (left, right, low, high) = (u < 0.45, u > 0.55, v < 0.45, v > 0.55);
        if high && left {
            counts[0] += 1;
        }
        if high && right {
            counts[1] += 1;
        }
        if low && left {
            counts[2] += 1;
        }
        if low && right {
            counts[3] += 1;
        }
    }
    let order = [1usize, 0, 3, 2]; // prefer upper right on ties
    let best = order
        .iter()
        .copied()
        .min_by_key(|&i| counts[i])
        .unwrap_or(1);
    [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ][best]
        .clone()
}

/// The mesh of a chart with numeric axes: light grid, axis titles, and tick labels without float noise.
/// Shared by line charts and scatter plots so both read alike.
fn numeric_mesh<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    x_label: &str,
    y_label: &str,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (fx, fy) = (
        axis_formatter(chart.x_range()),
        axis_formatter(chart.y_range()),
    );
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(font(LABEL_PX))
        .label_style(font(TICK_PX))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(1)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)
}

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

// ------------------------------------------------------------------------------------------------
// Categorical axes (heatmaps, bar charts)
// ------------------------------------------------------------------------------------------------

/// A continuous 0..n axis whose key points are the category centres i + 0.5, so a formatter can print
/// the category's name under it. `flip` puts category 0 at the top of a y axis (matrix convention).
#[derive(Clone)]
struct Categories {
    n: usize,
    flip: bool,
}

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.flip {
            1.0 - v / self.n as f64
        } else {
            v / self.n as f64
        };
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        if max == 0 {
            return Vec::new();
        }
        let stride = self.n.div_ceil(max).max(1);
        (0..self.n)
            .step_by(stride)
            .map(|i| i as f64 + 0.5)
            .collect()
    }
    fn range(&self) -> Range<f64> {
        0.0..self.n as f64
    }
}

fn category_label(labels: &[String], v: f64) -> String {
    let i = v.floor();
    if i >= 0.0 && (i as usize) < labels.len() {
        labels[i as usize].clone()
    } else {
        String::new()
    }
}

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

/// Overlaid histograms of one or more groups over shared bins.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    pub groups: Vec<(String, Vec<f64>)>,
    pub bins: usize,
}

impl Histogram {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>) -> Histogram {
        Histogram {
            title: title.into(),
            x_label: x_label.into(),
            groups: Vec::new(),
            bins: 30,
        }
    }
    pub fn group(mut self, label: impl Into<String>, values: Vec<f64>) -> Self {
        self.groups.push((label.into(), values));
        self
    }
    pub fn bins(mut self, n: usize) -> Self {
        self.bins = n.max(1);
        self
    }

    /// Counts per bin for every group, and the bin edges.
    pub fn counts(&self) -> Result<(Vec<f64>, Vec<Vec<usize>>)> {
        let (lo, hi) = finite_range(self.groups.iter().flat_map(|g| g.1.iter().copied()), false)
            .ok_or_else(|| anyhow!("histogram `{}` has no data", self.title))?;
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let w = (hi - lo) / self.bins as f64;
        let edges = (0..=self.bins).map(|i| lo + i as f64 * w).collect();
        let counts = self
            .groups
            .iter()
            .map(|(_, vs)| {
                let mut c = vec![0usize; self.bins];
                for v in vs.iter().filter(|v| v.is_finite()) {
                    c[(((v - lo) / w) as usize).min(self.bins - 1)] += 1;
                }
                c
            })
            .collect();
        Ok((edges, counts))
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let (edges, counts) = self.counts()?;
        let ymax = counts.iter().flatten().copied().max().unwrap_or(1) as f64 * 1.1;
        render_png(path, 800, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let mut chart = ChartBuilder::on(&area)
                .margin(16)
                .x_label_area_size(64)
                .y_label_area_size(100)
                .build_cartesian_2d(edges[0]..edges[edges.len() - 1], 0.0..ymax)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc("count")
                .axis_desc_style(font(LABEL_PX))
                .label_style(font(TICK_PX))
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .light_line_style(RGBColor(238, 238, 238))
                .max_light_lines(1)
                .draw()
                .map_err(err)?;
            for (g, ((label, _), c)) in self.groups.iter().zip(&counts).enumerate() {
                let col = colour(g);
                chart
                    .draw_series(c.iter().enumerate().map(|(i, &n)| {
                        Rectangle::new(
                            [(edges[i], 0.0), (edges[i + 1], n as f64)],
                            col.mix(0.45).filled(),
                        )
                    }))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 8), (x + 20, y + 8)], col.mix(0.6).filled())
                    });
            }
            chart
                .configure_series_labels()
                .legend_area_size(46)
                .position(SeriesLabelPosition::UpperRight)
                .label_font(font(TICK_PX))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .draw()
                .map_err(err)?;
            Ok(())
        })
    }
}

/// Bars of several groups side by side for each category.
#[derive(Clone, Debug)]
pub struct GroupedBars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<(String, Vec<f64>)>,
    pub log_y: bool,
    pub hlines: Vec<(String, f64)>,
}

impl GroupedBars {
    pub fn new(
        title: impl Into<String>,
        y_label: impl Into<String>,
        categories: Vec<String>,
    ) -> GroupedBars {
        GroupedBars {
            title: title.into(),
            y_label: y_label.into(),
            categories,
            groups: Vec::new(),
            log_y: false,
            hlines: Vec::new(),
        }
    }
    pub fn group(mut self, label: impl Into<String>, values: Vec<f64>) -> Self {
        self.groups.push((label.into(), values));
        self
    }
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    pub fn hline(mut self, label: impl Into<String>, y: f64) -> Self {
        self.hlines.push((label.into(), y));
        self
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        if self.categories.is_empty()
            || self
                .groups
                .iter()
                .any(|g| g.1.len() != self.categories.len())
        {
            bail!(
                "grouped bars `{}`: every group needs one value per category",
                self.title
            );
        }
        let vals = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().copied())
            .chain(self.hlines.iter().map(|h| h.1));
        let (lo, hi) = finite_range(vals, self.log_y)
            .ok_or_else(|| anyhow!("grouped bars `{}` has no data", self.title))?;
        // Headroom above the tallest bar for the legend, so it never covers a bar: the legend takes
        // about 26 px per entry of the ~640 px plot, and the bars get the rest.
        let entries = self.groups.len() + self.hlines.len();
        let legend = ((entries as f64 * 26.0 + 40.0) / 640.0).min(0.6);
        render_png(path, 800, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            if self.log_y {
                let (l, h) = (lo.log10(), hi.log10());
                let bottom = l - ((h - l) * 0.05).max(0.05);
                let top = bottom + (h - bottom) / (1.0 - legend);
                let yr = 10f64.powf(bottom)..10f64.powf(top);
                self.draw_in(&area, yr.clone().log_scale(), yr.start)
            } else {
                let base = 0f64.min(lo);
                let yr = base..base + (hi - base) / (1.0 - legend);
                self.draw_in(&area, yr.clone(), 0f64.max(yr.start))
            }
        })
    }

    fn draw_in<Y>(&self, area: &Area, ys: Y, base: f64) -> Result<()>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let n = self.categories.len();
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(Categories { n, flip: false }, ys)
            .map_err(err)?;
        let cats = self.categories.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(&self.y_label)
            .axis_desc_style(font(LABEL_PX))
            .label_style(font(TICK_PX))
            .x_labels(n)
            .x_label_formatter(&|v| category_label(&cats, *v))
            .y_label_formatter(&|v| fmt_num(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(1)
            .draw()
            .map_err(err)?;
        let g = self.groups.len().max(1) as f64;
        let w = 0.8 / g;
        for (gi, (label, vals)) in self.groups.iter().enumerate() {
            let c = colour(gi);
            chart
                .draw_series(vals.iter().enumerate().filter(|(_, v)| v.is_finite()).map(
                    |(i, &v)| {
                        let x0 = i as f64 + 0.1 + gi as f64 * w;
                        Rectangle::new([(x0, base), (x0 + w * 0.92, v)], c.filled())
                    },
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 8), (x + 20, y + 8)], c.filled()));
        }
        for (j, (label, y)) in self.hlines.iter().enumerate() {
            let c = reference_colour(j, 0);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, *y), (n as f64, *y)],
                    10,
                    8,
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    let [a, b] = swatch_segments(true);
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(a.0, 0), (a.1, 0)], c.stroke_width(2))
                        + PathElement::new(vec![(b.0, 0), (b.1, 0)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .legend_area_size(46)
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(font(TICK_PX))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .margin(12)
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode the PNG, check its size, that it is not blank (pixel variance), and return its bytes.
    fn check_png(path: &Path, min_height: u32) -> Vec<u8> {
        let img = image::open(path).unwrap().to_rgb8();
        assert_eq!(img.width(), WIDTH, "{}", path.display());
        assert!(img.height() >= min_height, "{}", path.display());
        let px: Vec<f64> = img
            .pixels()
            .map(|p| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0)
            .collect();
        let mean = px.iter().sum::<f64>() / px.len() as f64;
        let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
        assert!(
            var > 50.0,
            "{} looks blank (variance {var})",
            path.display()
        );
        // Several distinct colours: the palette is used, not just black on white.
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| [p[0], p[1], p[2]]).collect();
        colours.sort();
        colours.dedup();
        assert!(
            colours.len() > 8,
            "{} has only {} colours",
            path.display(),
            colours.len()
        );
        std::fs::read(path).unwrap()
    }

    /// Render twice into two files and require byte-identical PNGs.
    fn twice(name: &str, min_height: u32, draw: impl Fn(&Path) -> Result<()>) {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (
            tmp.path().join(format!("{name}_a.png")),
            tmp.path().join(format!("{name}_b.png")),
        );
        draw(&a).unwrap();
        draw(&b).unwrap();
        assert_eq!(
            check_png(&a, min_height),
            check_png(&b, min_height),
            "{name} renders differently twice"
        );
    }

    fn curve(k: f64) -> Vec<(f64, f64)> {
        (1..200)
            .map(|i| {
                (
                    i as f64,
                    2.0 * (-(i as f64) / (50.0 * k)).exp() + 0.1 + 0.05 * ((i as f64) * 0.7).sin(),
                )
            })
            .collect()
    }

    #[test]
    fn line_chart_renders() {
        twice("line", 800, |p| {
            LineChart::new("Loss", "step", "loss (nats)")
                .series(Series::new("train", curve(1.0)))
                .series(
                    Series::new("val", curve(1.5))
                        .band(curve(1.5).iter().map(|p| (p.1 - 0.1, p.1 + 0.1)).collect()),
                )
                .series(Series::new("ref", curve(2.0)).dashed())
                .hline("target 0.5", 0.5)
                .smooth(0.8)
                .log_y()
                .render(p)
        });
    }

    #[test]
    fn line_grid_renders() {
        twice("grid", 600, |p| {
            let a = LineChart::new("loss", "step", "nats").series(Series::new("a", curve(1.0)));
            let b = LineChart::new("accuracy", "step", "%").series(Series::new("b", curve(2.0)));
            line_grid("Two panels", &[a, b], 2, p)
        });
    }

    #[test]
    fn heatmap_renders() {
        let m: Vec<Vec<f64>> = (0..12)
            .map(|r| {
                (0..12)
                    .map(|c| if c <= r { 1.0 / (r + 1) as f64 } else { 0.0 })
                    .collect()
            })
            .collect();
        let ticks: Vec<String> = "To be or not".chars().map(|c| c.to_string()).collect();
        twice("heatmap", 500, |p| {
            Heatmap::new("Attention", m.clone())
                .x_ticks(ticks.clone())
                .y_ticks(ticks.clone())
                .labels("key", "query")
                .colorbar("weight")
                .render(p)
        });
        twice("heatmap_grid", 500, |p| {
            let panels: Vec<Heatmap> = (0..4)
                .map(|h| {
                    Heatmap::new(format!("L0 H{h}"), m.clone())
                        .x_ticks(ticks.clone())
                        .y_ticks(ticks.clone())
                        .colorbar("weight")
                })
                .collect();
            heatmap_grid("Layers x heads", &panels, 2, p)
        });
    }

    #[test]
    fn decision_boundary_renders() {
        twice("decision", 500, |p| {
            let grid: Vec<Vec<usize>> = (0..50)
                .map(|r| (0..50).map(|c| usize::from(r + c > 50)).collect())
                .collect();
            let points: Vec<(f64, f64, usize)> = (0..40)
                .map(|i| {
                    (
                        (i % 10) as f64 / 5.0 - 1.0,
                        (i / 10) as f64 / 2.0 - 1.0,
                        i % 2,
                    )
                })
                .collect();
            let panel = DecisionPanel {
                title: "moons — val 98%".into(),
                x_range: (-1.0, 1.0),
                y_range: (-1.0, 1.0),
                grid,
                points,
            };
            decision_boundaries("Decision boundaries", &[panel.clone(), panel], 2, p)
        });
    }

    #[test]
    fn scatter_renders() {
        twice("scatter", 900, |p| {
            let good: Vec<(f64, f64)> = (1..100)
                .map(|i| (i as f64 * 1e-3, i as f64 * 1e-3 * (1.0 + 1e-7)))
                .collect();
            let bad: Vec<(f64, f64)> = (1..100)
                .map(|i| (i as f64 * 1e-3, i as f64 * 2e-3))
                .collect();
            Scatter::new("Gradient check", "numerical", "analytical")
                .group("correct", good)
                .group("buggy", bad)
                .log_log()
                .identity_line()
                .render(p)
        });
    }

    #[test]
    fn histogram_renders() {
        twice("hist", 800, |p| {
            let a: Vec<f64> = (0..500).map(|i| ((i * 37) % 100) as f64 / 10.0).collect();
            let b: Vec<f64> = (0..500)
                .map(|i| ((i * 91) % 50) as f64 / 10.0 + 3.0)
                .collect();
            Histogram::new("Values", "value (units)")
                .group("a", a)
                .group("b", b)
                .bins(20)
                .render(p)
        });
    }

    #[test]
    fn grouped_bars_render() {
        twice("bars", 800, |p| {
            GroupedBars::new(
                "Throughput",
                "tokens / s",
                vec!["plain".into(), "fused".into(), "parallel".into()],
            )
            .group("run 1", vec![7000.0, 9000.0, 17000.0])
            .group("run 2", vec![7100.0, 9100.0, 17200.0])
            .hline("PyTorch", 20500.0)
            .render(p)
        });
    }

    #[test]
    fn contour_paths_render() {
        twice("contour", 900, |p| {
            let rosen = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let path: Vec<(f64, f64)> = (0..100)
                .map(|i| (-1.5 + i as f64 * 0.025, 2.0 - i as f64 * 0.01))
                .collect();
            ContourPaths::new("Rosenbrock", (-2.0, 2.0), (-1.0, 3.0), rosen)
                .path("sgd", path)
                .log_levels()
                .render(p)
        });
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(20500.0), "20500");
        assert_eq!(fmt_num(1e-7), "1e-7");
        assert_eq!(fmt_num(3e7), "3e7");
        // One notation per axis: an axis that reaches 1e-12 labels 1 as 1e0, not "1" or "1e".
        let f = axis_formatter(1e-12..1.0);
        assert_eq!(
            (f(&1.0), f(&1e-4), f(&0.0)),
            ("1e0".into(), "1e-4".into(), "0".into())
        );
        let f = axis_formatter(0.0..2.5);
        assert_eq!(f(&0.5), "0.5");
        let f = axis_formatter(0.0..2e5);
        assert_eq!((f(&50000.0), f(&1e5)), ("5e4".into(), "1e5".into()));
        assert_eq!(fmt_num(2.25), "2.25");
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }
}
