//! Marker shapes and a legend ("key") drawn outside the plotting area, shared by the scatter grid,
//! the dot plot, the decision-boundary and the contour figures: the key sits in its own strip (or an
//! empty grid cell), so it can never cover a data point, and each swatch is drawn with the very
//! marker or dash pattern the plot uses.

use anyhow::{bail, Result};
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;

pub use plotters::style::RGBColor;

use super::*;

/// Point marker shapes; every one reads in greyscale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    /// An outlined ring (no fill).
    Ring,
    /// A diagonal cross (✕).
    Cross,
}

/// A marker's outline in pixel offsets from its centre.
enum Shape {
    Disc { filled: bool },
    Poly(Vec<(i32, i32)>),
    Cross,
}

fn shape(m: Marker, s: i32) -> Shape {
    let h = s + s / 4;
    let q = s * 7 / 8;
    match m {
        Marker::Circle => Shape::Disc { filled: true },
        Marker::Ring => Shape::Disc { filled: false },
        Marker::Triangle => Shape::Poly(vec![(0, -h), (h, h * 3 / 4), (-h, h * 3 / 4)]),
        Marker::Square => Shape::Poly(vec![(-q, -q), (q, -q), (q, q), (-q, q)]),
        Marker::Diamond => Shape::Poly(vec![(0, -h), (h, 0), (0, h), (-h, 0)]),
        Marker::Cross => Shape::Cross,
    }
}

/// Draws marker `m` of half-size `s` px at each of `pts` (data coordinates) on `chart`.
pub(crate) fn draw_markers<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    pts: &[(f64, f64)],
    m: Marker,
    s: i32,
    colour: RGBAColor,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let fill = ShapeStyle::from(colour).filled();
    let pts = pts
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    match shape(m, s) {
        Shape::Disc { filled } => {
            let style = if filled {
                fill
            } else {
                ShapeStyle::from(colour).stroke_width(2)
            };
            chart
                .draw_series(pts.map(|p| Circle::new(p, s, style)))
                .map_err(err)?;
        }
        Shape::Poly(v) => {
            chart
                .draw_series(pts.map(|p| EmptyElement::at(p) + Polygon::new(v.clone(), fill)))
                .map_err(err)?;
        }
        Shape::Cross => {
            let w = ShapeStyle::from(colour).stroke_width(3);
            chart
                .draw_series(pts.map(|p| {
                    EmptyElement::at(p)
                        + PathElement::new(vec![(-s, -s), (s, s)], w)
                        + PathElement::new(vec![(-s, s), (s, -s)], w)
                }))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Draws marker `m` at pixel `(x, y)` of `area` (a key swatch).
fn draw_marker_px(area: &Area, (x, y): (i32, i32), m: Marker, s: i32, c: RGBColor) -> Result<()> {
    match shape(m, s) {
        Shape::Disc { filled } => {
            let style = if filled {
                c.filled()
            } else {
                c.stroke_width(2)
            };
            area.draw(&Circle::new((x, y), s, style)).map_err(err)
        }
        Shape::Poly(v) => area
            .draw(&Polygon::new(
                v.into_iter()
                    .map(|(a, b)| (x + a, y + b))
                    .collect::<Vec<_>>(),
                c.filled(),
            ))
            .map_err(err),
        Shape::Cross => {
            let w = c.stroke_width(3);
            area.draw(&PathElement::new(vec![(x - s, y - s), (x + s, y + s)], w))
                .map_err(err)?;
            area.draw(&PathElement::new(vec![(x - s, y + s), (x + s, y - s)], w))
                .map_err(err)
        }
    }
}

/// What a key entry's swatch shows.
#[derive(Clone, Debug)]
pub enum Swatch {
    /// A marker, exactly as plotted.
    Point(Marker, RGBColor),
    /// A line of `width` px; dashed or solid as plotted.
    Line {
        colour: RGBColor,
        width: u32,
        dashed: bool,
    },
    /// A filled patch (a shaded region).
    Patch(RGBColor),
    /// A bar of solid colour (a bar chart's group).
    Bar(RGBColor),
    /// An interval whisker: a vertical line with caps.
    Whisker(RGBColor),
    /// A line drawn in dashes of `on` px separated by gaps of `off` px (solid when `off` is 0).
    Dash {
        colour: RGBColor,
        width: u32,
        on: u32,
        off: u32,
    },
}

/// One key entry.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    pub swatch: Swatch,
    pub label: String,
}

impl KeyEntry {
    pub fn new(swatch: Swatch, label: impl Into<String>) -> Self {
        KeyEntry {
            swatch,
            label: label.into(),
        }
    }
}

/// Width of a key swatch: long enough to show two periods of every dash pattern in use.
pub(crate) const SWATCH_W: i32 = 48;
const GAP: i32 = 10;
const ROW_H: i32 = 30;

/// Lays `entries` out in rows that fit `width` px: `(row, x offset)` of each entry and the row count.
fn layout(area: &Area, entries: &[KeyEntry], width: i32) -> Result<(Vec<(i32, i32)>, i32)> {
    let mut out = Vec::new();
    let (mut row, mut x) = (0, 0);
    for e in entries {
        let (tw, _) = area
            .estimate_text_size(&e.label, &TextStyle::from(font(TICK_PX)))
            .map_err(err)?;
        let w = SWATCH_W + 8 + tw as i32 + 3 * GAP;
        if x > 0 && x + w > width {
            row += 1;
            x = 0;
        }
        if w > width {
            bail!("key entry `{}` is wider than the key ({width} px)", e.label);
        }
        out.push((row, x));
        x += w;
    }
    Ok((out, row + 1))
}

/// Height in px of a key of `entries` laid out across `width` px.
pub(crate) fn key_height(area: &Area, entries: &[KeyEntry], width: i32) -> Result<u32> {
    let (_, rows) = layout(area, entries, width)?;
    Ok((rows * ROW_H + 16) as u32)
}

/// Draws the key into `area` (a strip of its own), centred horizontally, one or more rows.
pub(crate) fn draw_key(area: &Area, entries: &[KeyEntry]) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let (pos, _) = layout(area, entries, w as i32 - 40)?;
    // Centre the block of rows; rows start at the same x, so a key of several rows reads as a list.
    let mut block_w = 0i32;
    for (e, &(_, x)) in entries.iter().zip(&pos) {
        let (tw, _) = area
            .estimate_text_size(&e.label, &TextStyle::from(font(TICK_PX)))
            .map_err(err)?;
        block_w = block_w.max(x + SWATCH_W + 8 + tw as i32);
    }
    for (e, &(r, x)) in entries.iter().zip(&pos) {
        let x0 = (w as i32 - block_w) / 2 + x;
        let y = 8 + r * ROW_H + ROW_H / 2;
        draw_swatch(area, (x0, y), &e.swatch)?;
        area.draw(&Text::new(
            e.label.clone(),
            (x0 + SWATCH_W + 8, y),
            TextStyle::from(font(TICK_PX)).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// The lines `text` wraps onto at the top of `area` in `style`, and the height of one line.
fn title_lines(area: &Area, text: &str, style: &TextStyle) -> Result<(Vec<String>, u32)> {
    let (w, _) = area.dim_in_pixel();
    let (_, line_h) = area.estimate_text_size("Ag", style).map_err(err)?;
    Ok((wrap(area, text, style, w as i32 - 40), line_h))
}

/// Height [`centred_title`] uses for `text` in `area`.
pub(crate) fn title_height(area: &Area, text: &str, style: FontDesc<'static>) -> Result<u32> {
    let (lines, line_h) = title_lines(area, text, &TextStyle::from(style))?;
    Ok((line_h + 4) * lines.len() as u32 + 4)
}

/// Draws `text` centred at the top of `area` in `style`, wrapped at spaces onto as many lines as it
/// needs to fit the area (a title is never clipped), and returns the height used.
pub(crate) fn centred_title(area: &Area, text: &str, style: FontDesc<'static>) -> Result<u32> {
    let (w, _) = area.dim_in_pixel();
    let style = TextStyle::from(style);
    let (lines, line_h) = title_lines(area, text, &style)?;
    let style = style.pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    ));
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.clone(),
            (w as i32 / 2, 4 + (line_h as i32 + 4) * i as i32),
            style.clone(),
        ))
        .map_err(err)?;
    }
    Ok((line_h + 4) * lines.len() as u32 + 4)
}

/// The swatch of a key entry, its left end at `x` and vertical centre at `y`, drawn as the plot
/// draws it.
pub(crate) fn draw_swatch(area: &Area, (x, y): (i32, i32), swatch: &Swatch) -> Result<()> {
    match swatch {
        Swatch::Point(m, c) => draw_marker_px(area, (x + SWATCH_W / 2, y), *m, 7, *c),
        // A dashed line is drawn with plotters' 12-on, 8-off pattern; the swatch repeats it.
        Swatch::Line {
            colour,
            width,
            dashed,
        } => draw_swatch(
            area,
            (x, y),
            &Swatch::Dash {
                colour: *colour,
                width: *width,
                on: if *dashed { 12 } else { 0 },
                off: if *dashed { 8 } else { 0 },
            },
        ),
        Swatch::Dash {
            colour,
            width,
            on,
            off,
        } => {
            let (on, off) = (*on as i32, *off as i32);
            let mut a = 0;
            while a < SWATCH_W {
                let b = if off == 0 {
                    SWATCH_W
                } else {
                    (a + on).min(SWATCH_W)
                };
                area.draw(&PathElement::new(
                    vec![(x + a, y), (x + b, y)],
                    colour.stroke_width(*width),
                ))
                .map_err(err)?;
                a = b + off.max(1);
            }
            Ok(())
        }
        Swatch::Bar(c) => {
            let r = [
                (x + SWATCH_W / 2 - 10, y - 9),
                (x + SWATCH_W / 2 + 10, y + 9),
            ];
            area.draw(&Rectangle::new(r, c.filled())).map_err(err)
        }
        Swatch::Whisker(c) => {
            let cx = x + SWATCH_W / 2;
            for seg in [
                [(cx, y - 10), (cx, y + 10)],
                [(cx - 6, y - 10), (cx + 6, y - 10)],
                [(cx - 6, y + 10), (cx + 6, y + 10)],
            ] {
                area.draw(&PathElement::new(seg.to_vec(), c.stroke_width(2)))
                    .map_err(err)?;
            }
            Ok(())
        }
        Swatch::Patch(c) => {
            let r = [(x + 2, y - 10), (x + SWATCH_W - 2, y + 10)];
            area.draw(&Rectangle::new(r, c.filled())).map_err(err)?;
            area.draw(&Rectangle::new(r, RGBColor(120, 120, 120).stroke_width(1)))
                .map_err(err)
        }
    }
}

/// Render tests for the chart kinds built on the key: the scatter grid, the dot plot, decision
/// panels with probabilities and predictions, and the contour small multiples.
#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    /// Render twice into two files; require a 1200 px wide, non-blank PNG and byte-identical files.
    fn twice(name: &str, draw: impl Fn(&Path) -> Result<()>) {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (
            tmp.path().join(format!("{name}_a.png")),
            tmp.path().join(format!("{name}_b.png")),
        );
        draw(&a).unwrap();
        draw(&b).unwrap();
        let img = image::open(&a).unwrap().to_rgb8();
        assert_eq!(img.width(), WIDTH, "{name}");
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| [p[0], p[1], p[2]]).collect();
        colours.sort();
        colours.dedup();
        assert!(
            colours.len() > 8,
            "{name} has only {} colours",
            colours.len()
        );
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{name} renders differently twice"
        );
    }

    #[test]
    fn scatter_grid_renders() {
        twice("scatter_grid", |p| {
            let pts = |k: f64| -> Vec<(f64, f64)> {
                (0..60)
                    .map(|i| {
                        let v = (i as f64 * 0.37).sin();
                        (v, v * k)
                    })
                    .collect()
            };
            let group = |l: &str, k: f64, c: usize, m: Marker| PointGroup {
                label: l.into(),
                points: pts(k),
                entity: crate::plot::entity::Entity::Layer(c as u8 + 1),
                marker: m,
            };
            ScatterGrid::new("Gradients", "numerical", "analytical", 2)
                .panel(ScatterPanel {
                    title: "correct".into(),
                    groups: vec![group("W1", 1.0, 0, Marker::Circle)],
                })
                .panel(ScatterPanel {
                    title: "bug".into(),
                    groups: vec![
                        group("W1", -0.5, 0, Marker::Circle),
                        group("b1", 2.0, 1, Marker::Triangle),
                    ],
                })
                .render(p)
        });
    }

    #[test]
    fn dot_plot_renders() {
        twice("dots", |p| {
            let mut d = DotPlot::new(
                "Errors",
                "relative error (log)",
                vec!["a".into(), "b".into()],
            )
            .lanes(3)
            .vline("threshold 1e-6", 1e-6);
            for row in 0..2 {
                for lane in 0..3 {
                    d = d.dot(Dot {
                        row,
                        lane,
                        value: 10f64.powi(-(lane as i32) * 3 - row as i32),
                        entity: crate::plot::entity::Entity::Layer(lane as u8 + 1),
                        marker: [Marker::Circle, Marker::Triangle, Marker::Square][lane],
                        label: format!("t{lane}"),
                    });
                }
            }
            d.render(p)
        });
        // A threshold line is a dot plot's reason to exist: a dot outside any row is an error.
        let bad = DotPlot::new("x", "y", vec!["a".into()]).dot(Dot {
            row: 3,
            lane: 0,
            value: 1.0,
            entity: crate::plot::entity::Entity::Layer(1),
            marker: Marker::Circle,
            label: "t".into(),
        });
        let tmp = tempfile::tempdir().unwrap();
        assert!(bad.render(&tmp.path().join("bad.png")).is_err());
    }

    #[test]
    fn decision_panels_with_probabilities_render() {
        let n = 30;
        let probs: Vec<Vec<Vec<f64>>> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| {
                        let p1 = 1.0 / (1.0 + (-((r + c) as f64 - n as f64) / 4.0).exp());
                        vec![1.0 - p1, p1]
                    })
                    .collect()
            })
            .collect();
        let grid: Vec<Vec<usize>> = probs
            .iter()
            .map(|row| row.iter().map(|p| usize::from(p[1] > 0.5)).collect())
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
        let predicted: Vec<usize> = (0..40).map(|i| (i / 3) % 2).collect();
        let panel = DecisionPanel {
            title: "moons".into(),
            subtitle: "val 98%".into(),
            x_range: (-1.0, 1.0),
            y_range: (-1.0, 1.0),
            grid,
            probs,
            points,
            predicted,
        };
        // Four panels fill a 2-column grid (key in a strip); three leave a cell for the key.
        twice("decision_full", |p| {
            decision_boundaries("D", &vec![panel.clone(); 4], 2, p)
        });
        twice("decision_spare", |p| {
            decision_boundaries("D", &vec![panel.clone(); 3], 2, p)
        });
        // The 0.5 contour of p1 = sigmoid((r + c - n) / 4) is the anti-diagonal r + c = n.
        let segs = panel.boundary();
        assert!(!segs.is_empty());
        let cell = 2.0 / n as f64;
        for s in segs {
            for (x, y) in s {
                let (c, r) = ((x + 1.0) / cell - 0.5, (y + 1.0) / cell - 0.5);
                assert!(
                    (r + c - n as f64).abs() < 1e-6,
                    "({x}, {y}) is off the boundary"
                );
            }
        }
    }

    #[test]
    fn contour_small_multiples_render() {
        twice("contour_grid", |p| {
            let rosen = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let path = |k: f64| -> Vec<(f64, f64)> {
                (0..100)
                    .map(|i| (-1.5 + i as f64 * 0.025 * k, 2.0 - i as f64 * 0.01))
                    .collect()
            };
            ContourPaths::new("Rosenbrock", (-2.0, 2.0), (-1.0, 3.0), rosen)
                .path("a", path(1.0))
                .path("b", path(0.8))
                .path_with_values("c", path(0.5), vec![(0.0, 10.0), (50.0, 1.0), (99.0, 1e-3)])
                .log_levels()
                .minimum((1.0, 1.0))
                .render(p)
        });
    }
}
