//! Figures, drawn from records only.
//!
//! Every figure is a PNG 1200 px wide, with DejaVu Sans compiled into the binary (so rendering needs no
//! system font library and gives byte-identical files on any machine), tick labels of 18 px and titles of
//! 28 px, the Okabe–Ito colour-blind-safe palette for lines (its yellow left out: unreadable on white) and
//! viridis for colour maps.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

mod bars;
mod contour;
mod decision;
mod dots;
pub mod entity;
mod figure;
mod flow;
mod heatmap;
mod key;
mod line;
mod scatter;
mod text_heat;

pub use bars::GroupedBars;
pub use contour::ContourPaths;
pub use decision::{decision_boundaries, DecisionPanel};
pub use dots::{Dot, DotPlot};
pub use figure::{
    style_conflicts, DecisionGrid, DiagramFigure, Drawing, FigureSpec, HeatmapGrid, LineGrid,
    Styled,
};
pub use flow::render_diagram;
pub use heatmap::{heatmap_grid, heatmap_grid_shared_axes, Heatmap};
pub use key::{KeyEntry, Marker, RGBColor, Swatch};
pub use line::{ema, line_grid, line_grid_panels, LineChart, Series};
pub use scatter::{PointGroup, ScatterGrid, ScatterPanel};
pub use text_heat::TextHeat;

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

/// The smallest text size any figure may use, in pixels of its 1,200 px width: 9 px when the figure
/// is shown 800 px wide (a README column).
pub const MIN_TEXT_PX: u32 = 14;

/// The smallest font size asked of [`font`] or [`bold`] since the process started (every piece of
/// text a figure draws goes through them): `xtask check` draws every figure and holds this to
/// [`MIN_TEXT_PX`].
static SMALLEST_TEXT_PX: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(u32::MAX);

/// The smallest text size drawn so far (`u32::MAX` before any text).
pub fn smallest_text_px() -> u32 {
    SMALLEST_TEXT_PX.load(std::sync::atomic::Ordering::Relaxed)
}

fn font(px: u32) -> FontDesc<'static> {
    SMALLEST_TEXT_PX.fetch_min(px, std::sync::atomic::Ordering::Relaxed);
    ("sans-serif", px as f64).into_font()
}

fn bold(px: u32) -> FontDesc<'static> {
    SMALLEST_TEXT_PX.fetch_min(px, std::sync::atomic::Ordering::Relaxed);
    ("sans-serif", px as f64, FontStyle::Bold).into_font()
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// A thick polyline with round joins: each segment drawn on its own and a dot of the line's width
/// at every inner vertex. plotters joins the segments of a thick path with unbounded miters, which
/// at a sharp V (a noisy loss curve) throw a spike far past the data.
fn round_joined<DB, CT>(
    chart: &mut ChartContext<'_, DB, CT>,
    pts: &[CT::From],
    colour: RGBColor,
    width: u32,
) -> Result<()>
where
    DB: DrawingBackend,
    CT: CoordTranslate,
    CT::From: Clone + 'static,
{
    chart
        .draw_series(pts.windows(2).map(|w| {
            PathElement::new(vec![w[0].clone(), w[1].clone()], colour.stroke_width(width))
        }))
        .map_err(err)?;
    if pts.len() > 2 {
        chart
            .draw_series(
                pts[1..pts.len() - 1]
                    .iter()
                    .map(|p| Circle::new(p.clone(), width / 2, colour.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

/// Open a white canvas, let `draw` fill it, and write the PNG.
fn render_png(path: &Path, height: u32, draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    fonts();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // A few pixels above the figure title.
    draw(&root.margin(6, 0, 0, 0))?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    Ok(())
}

/// Runs `f` on a scratch canvas: text can only be measured on a drawing area, and a figure whose
/// height depends on its text (a diagram, a text heat map) must measure before it is drawn.
fn on_scratch<T>(f: impl FnOnce(&Area) -> Result<T>) -> Result<T> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch = std::env::temp_dir().join(format!("viz-measure-{}-{n}.png", std::process::id()));
    let mut out = None;
    let drawn = render_png(&scratch, 200, |area| {
        out = Some(f(area)?);
        Ok(())
    });
    let _ = std::fs::remove_file(&scratch);
    drawn?;
    Ok(out.expect("render_png ran the closure"))
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
    // As many labels as the plotting area has room for, so small panels do not run them together.
    let (w, h) = chart.plotting_area().dim_in_pixel();
    chart
        .configure_mesh()
        .x_labels(label_budget(w, true))
        .y_labels(label_budget(h, false))
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

/// The mesh of a map-like panel (decision regions, contour plots): no grid lines over the filled
/// cells, five plain tick labels per axis, and axis titles.
fn bare_mesh<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    x_label: &str,
    y_label: &str,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(font(LABEL_PX))
        .label_style(font(TICK_PX))
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .draw()
        .map_err(err)
}

// ------------------------------------------------------------------------------------------------
// Numeric axes with their own ticks
// ------------------------------------------------------------------------------------------------

/// A numeric axis, linear or logarithmic, that chooses its own tick values: "nice" steps (1, 2, 5 ×
/// 10ᵏ) on a linear axis; on a log axis every mantissa 1–9, or 1, 2 and 5, or only powers of ten —
/// the densest of these that fits the number of labels the axis has room for — so a tall decade is
/// labelled inside (4.75 is readable between 2 and 5) and a long axis is not crowded. Light grid
/// lines fall between the labelled ticks.
#[derive(Clone, Debug)]
pub(crate) struct NumAxis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    /// Ticks chosen by the chart (e.g. the powers of two a sweep used), instead of computed ones.
    pub fixed: Option<Vec<f64>>,
}

impl NumAxis {
    pub fn new(range: Range<f64>, log: bool) -> NumAxis {
        NumAxis {
            lo: range.start,
            hi: range.end,
            log,
            fixed: None,
        }
    }

    /// The labelled ticks, at most `max` of them (at least two where the range allows).
    pub fn ticks(&self, max: usize) -> Vec<f64> {
        if let Some(t) = &self.fixed {
            return t
                .iter()
                .copied()
                .filter(|v| *v >= self.lo && *v <= self.hi)
                .collect();
        }
        let max = max.max(2);
        if self.log && self.lo > 0.0 {
            for set in LOG_MANTISSAS {
                let t = log_ticks(self.lo, self.hi, set);
                if t.len() <= max && t.len() >= 2 {
                    return t;
                }
            }
            // Many decades: every k-th power of ten.
            let (a, b) = (
                self.lo.log10().ceil() as i32,
                self.hi.log10().floor() as i32,
            );
            if b > a {
                let k = ((b - a) as usize).div_ceil(max - 1).max(1);
                return (a..=b).step_by(k).map(|e| 10f64.powi(e)).collect();
            }
            // Less than one labelled decade: fall through to linear ticks.
        }
        linear_ticks(self.lo, self.hi, max)
    }

    /// Unlabelled grid positions between the labelled ticks.
    pub fn light(&self, max: usize) -> Vec<f64> {
        if self.fixed.is_some() {
            return Vec::new();
        }
        let bold = self.ticks(max);
        if self.log && self.lo > 0.0 {
            let used = LOG_MANTISSAS
                .iter()
                .position(|set| {
                    let t = log_ticks(self.lo, self.hi, set);
                    t == bold
                })
                .unwrap_or(LOG_MANTISSAS.len());
            if used == 0 || used == LOG_MANTISSAS.len() {
                return Vec::new();
            }
            return log_ticks(self.lo, self.hi, LOG_MANTISSAS[used - 1])
                .into_iter()
                .filter(|v| !bold.iter().any(|b| (b - v).abs() <= 1e-9 * v.abs()))
                .collect();
        }
        bold.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    pub fn unit(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

/// Mantissa sets for log-axis ticks, densest first.
const LOG_MANTISSAS: [&[f64]; 3] = [
    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    &[1.0, 2.0, 5.0],
    &[1.0],
];

fn log_ticks(lo: f64, hi: f64, mantissas: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    for e in (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32) {
        for &m in mantissas {
            // Rounded through the decimal string, so 3 × 10⁻¹ is 0.3, not 0.30000000000000004.
            let v: f64 = format!("{m}e{e}").parse().unwrap_or(m * 10f64.powi(e));
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

/// At most `max` ticks at multiples of a 1-2-5 step.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return vec![lo];
    }
    let mut mag = 10f64.powf((span / max as f64).log10().floor());
    loop {
        for m in [1.0, 2.0, 5.0] {
            let step = m * mag;
            let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
            if ((b - a + 1) as usize) <= max {
                return (a..=b)
                    .map(|k| {
                        let v = k as f64 * step;
                        // Kill float noise (0.30000000000000004) and negative zero.
                        let v: f64 = format!("{v:.12e}").parse().unwrap_or(v);
                        if v == 0.0 {
                            0.0
                        } else {
                            v
                        }
                    })
                    .collect();
            }
        }
        mag *= 10.0;
    }
}

impl Ranged for NumAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + (self.unit(*v) * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light(hint.bold_points())
        } else {
            self.ticks(hint.max_num_points())
        }
    }
    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// How many tick labels an axis of `px` pixels has room for: one per 110 px across (labels like
/// "0.0001" are ~60 px wide), one per 45 px up.
pub(crate) fn label_budget(px: u32, horizontal: bool) -> usize {
    let per = if horizontal { 110 } else { 45 };
    (px as usize / per).clamp(2, 12)
}

// ------------------------------------------------------------------------------------------------
// Legends
// ------------------------------------------------------------------------------------------------

const BOX_GAP: i32 = 10;
const BOX_ROW: i32 = 28;
const BOX_PAD: i32 = 10;

fn text_width(area: &Area, s: &str, px: u32) -> i32 {
    area.estimate_text_size(s, &TextStyle::from(font(px)))
        .map(|(w, _)| w as i32)
        .unwrap_or(s.chars().count() as i32 * px as i32 * 6 / 10)
}

/// Size in pixels of a framed key box listing `entries` one per row.
pub(crate) fn key_box_size(area: &Area, entries: &[KeyEntry]) -> (i32, i32) {
    let text = entries
        .iter()
        .map(|e| text_width(area, &e.label, TICK_PX))
        .max()
        .unwrap_or(0);
    (
        2 * BOX_PAD + key::SWATCH_W + BOX_GAP + text,
        2 * BOX_PAD + BOX_ROW * entries.len() as i32,
    )
}

/// A framed key box with its top-left corner at `(x, y)` of `area`, one entry per row — for a key
/// inside the plot, at a spot [`free_legend_spot`] found empty.
pub(crate) fn draw_key_box(area: &Area, (x, y): (i32, i32), entries: &[KeyEntry]) -> Result<()> {
    let (w, h) = key_box_size(area, entries);
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], WHITE.filled()))
        .map_err(err)?;
    area.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        RGBColor(160, 160, 160).stroke_width(1),
    ))
    .map_err(err)?;
    for (i, e) in entries.iter().enumerate() {
        let cy = y + BOX_PAD + BOX_ROW * i as i32 + BOX_ROW / 2;
        key::draw_swatch(area, (x + BOX_PAD, cy), &e.swatch)?;
        let style = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            e.label.clone(),
            (x + BOX_PAD + key::SWATCH_W + BOX_GAP, cy),
            style,
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Every `step` pixels along a polyline (pixel coordinates), so a legend test sees the segments
/// between data points, not just the points.
pub(crate) fn densify(points: &[(i32, i32)], step: f64) -> Vec<(i32, i32)> {
    let mut out = Vec::with_capacity(points.len());
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let d = (((b.0 - a.0) as f64).powi(2) + ((b.1 - a.1) as f64).powi(2)).sqrt();
        let n = (d / step).ceil().max(1.0) as i32;
        for k in 0..n {
            let t = k as f64 / n as f64;
            out.push((
                a.0 + ((b.0 - a.0) as f64 * t).round() as i32,
                a.1 + ((b.1 - a.1) as f64 * t).round() as i32,
            ));
        }
    }
    out.extend(points.last());
    out
}

/// The top-left corner, inside the plotting rectangle `plot` (pixels: left, top, right, bottom), of a
/// legend box of `size` that no drawn pixel in `marks` falls under (with a margin), trying the four
/// corners and then the top and bottom centres; `None` when every spot would cover data.
pub(crate) fn free_legend_spot(
    marks: &[(i32, i32)],
    plot: (i32, i32, i32, i32),
    size: (i32, i32),
) -> Option<(i32, i32)> {
    let (l, t, r, b) = plot;
    let (w, h) = size;
    const INSET: i32 = 10;
    const CLEAR: i32 = 8;
    if w + 2 * INSET > r - l || h + 2 * INSET > b - t {
        return None;
    }
    let cx = l + (r - l - w) / 2;
    let spots = [
        (r - w - INSET, t + INSET),
        (l + INSET, t + INSET),
        (r - w - INSET, b - h - INSET),
        (l + INSET, b - h - INSET),
        (cx, t + INSET),
        (cx, b - h - INSET),
    ];
    spots.into_iter().find(|&(x, y)| {
        !marks.iter().any(|&(px, py)| {
            px >= x - CLEAR && px <= x + w + CLEAR && py >= y - CLEAR && py <= y + h + CLEAR
        })
    })
}

// ------------------------------------------------------------------------------------------------
// Titles that fit
// ------------------------------------------------------------------------------------------------

/// Split `text` into lines no wider than `width` pixels in `style` (breaking at spaces; a single
/// word wider than that keeps its own line).
pub(crate) fn wrap(area: &Area, text: &str, style: &TextStyle, width: i32) -> Vec<String> {
    let fits = |s: &str| {
        area.estimate_text_size(s, style)
            .map(|(w, _)| w as i32 <= width)
            .unwrap_or(true)
    };
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if fits(&format!("{line} {word}")) => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Draw a bold panel title at the top of `area` (wrapped, never clipped) and return the area below,
/// starting `reserve` pixels down when that is more than the title needs (so the plots of a row of
/// panels line up whatever their titles' lengths).
pub(crate) fn panel_title<'a>(area: &Area<'a>, text: &str, reserve: u32) -> Result<Area<'a>> {
    let used = key::centred_title(area, text, bold(PANEL_TITLE_PX))?;
    Ok(area.clone().split_vertically(used.max(reserve) + 6).1)
}

/// Height of the tallest of `titles` as [`panel_title`] draws them in `area`.
pub(crate) fn panel_title_height(area: &Area, titles: &[&str]) -> Result<u32> {
    titles.iter().try_fold(0, |h, t| {
        Ok(h.max(key::title_height(area, t, bold(PANEL_TITLE_PX))?))
    })
}

#[cfg(test)]
mod tests;
