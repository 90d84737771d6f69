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
use plotters::style::{register_font, FontStyle};

mod bars;
mod contour;
mod decision;
mod dots;
mod heatmap;
mod histogram;
mod key;
mod line;
mod scatter;

pub use bars::GroupedBars;
pub use contour::ContourPaths;
pub use decision::{decision_boundaries, DecisionPanel};
pub use dots::{Dot, DotPlot};
pub use heatmap::{heatmap_grid, Heatmap};
pub use histogram::Histogram;
pub use key::{KeyEntry, Marker, RGBColor, Swatch};
pub use line::{ema, line_grid, LineChart, Series};
pub use scatter::{PointGroup, Scatter, ScatterGrid, ScatterPanel};

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
