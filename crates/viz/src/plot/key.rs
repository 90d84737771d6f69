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

const SWATCH_W: i32 = 34;
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
    let (pos, rows) = layout(area, entries, w as i32 - 40)?;
    // Centre each row.
    let mut row_w = vec![0i32; rows as usize];
    for (e, &(r, x)) in entries.iter().zip(&pos) {
        let (tw, _) = area
            .estimate_text_size(&e.label, &TextStyle::from(font(TICK_PX)))
            .map_err(err)?;
        row_w[r as usize] = row_w[r as usize].max(x + SWATCH_W + 8 + tw as i32);
    }
    for (e, &(r, x)) in entries.iter().zip(&pos) {
        let x0 = (w as i32 - row_w[r as usize]) / 2 + x;
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

/// Draws `text` centred at the top of `area` in `style`, failing if it is wider than the area (a
/// clipped title is a defect, not a rendering detail). Returns the height used.
pub(crate) fn centred_title(area: &Area, text: &str, style: FontDesc<'static>) -> Result<u32> {
    let (w, _) = area.dim_in_pixel();
    let (tw, th) = area
        .estimate_text_size(text, &TextStyle::from(style.clone()))
        .map_err(err)?;
    if tw + 8 > w {
        bail!("title `{text}` ({tw} px) does not fit its {w} px panel");
    }
    area.draw(&Text::new(
        text.to_string(),
        (w as i32 / 2, 4),
        TextStyle::from(style).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        )),
    ))
    .map_err(err)?;
    Ok(th + 8)
}

/// The swatch of a key entry, its left end at `x` and vertical centre at `y`, drawn as the plot
/// draws it.
pub(crate) fn draw_swatch(area: &Area, (x, y): (i32, i32), swatch: &Swatch) -> Result<()> {
    match swatch {
        Swatch::Point(m, c) => draw_marker_px(area, (x + SWATCH_W / 2, y), *m, 7, *c),
        Swatch::Line {
            colour,
            width,
            dashed,
        } => {
            let segs: &[(i32, i32)] = if *dashed {
                &[(0, 12), (22, SWATCH_W)]
            } else {
                &[(0, SWATCH_W)]
            };
            for &(a, b) in segs {
                area.draw(&PathElement::new(
                    vec![(x + a, y), (x + b, y)],
                    colour.stroke_width(*width),
                ))
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
