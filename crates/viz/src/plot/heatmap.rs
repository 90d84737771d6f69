//! Heatmaps, their colour bar, and grids of them.
//!
//! Every row and column gets its tick label. Where the cells are narrower than a label, the labels
//! are staggered over two or three lanes (label `i` in lane `i mod lanes`), each outer-lane label
//! joined to its cell by a faint leader line; only where even three lanes are too few are labels
//! thinned. Cells, ticks and labels are laid out in pixels, so panels of a grid are all the same size.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

/// How values map to colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColourScale {
    Linear,
    /// Colour by log10 of the value; values at or below the range's low end get its colour.
    Log10,
}

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
    pub scale: ColourScale,
    /// Print each cell's value, times the factor, with this many decimals (`(100.0, 0)`: a
    /// fraction as a whole percentage), so the numbers the log discusses can be read off.
    pub cell_values: Option<(f64, usize)>,
}

/// Widest lane arrangement before labels are thinned instead.
const MAX_LANES: usize = 3;
/// Colour bar strip width, and the width of the figure column it sits in.
const BAR_W: i32 = 30;
const BAR_AREA: u32 = 150;

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
            scale: ColourScale::Linear,
            cell_values: None,
        }
    }
    /// Print every cell's value times `factor` with `decimals` decimals, in black or white,
    /// whichever reads on the cell's colour.
    pub fn cell_values(mut self, factor: f64, decimals: usize) -> Self {
        self.cell_values = Some((factor, decimals));
        self
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
    /// Colour by log10 of the value (the range, if set, must be positive); the colour bar is labelled
    /// in powers of ten.
    pub fn log_scale(mut self) -> Self {
        self.scale = ColourScale::Log10;
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
        if self.scale == ColourScale::Log10
            && self.range.is_some_and(|(lo, hi)| lo <= 0.0 || hi <= lo)
        {
            bail!(
                "heatmap `{}`: a log colour scale needs 0 < vmin < vmax",
                self.title
            );
        }
        Ok((rows, cols))
    }

    fn value_range(&self) -> (f64, f64) {
        let log = self.scale == ColourScale::Log10;
        self.range.unwrap_or_else(|| {
            finite_range(self.matrix.iter().flatten().copied(), log).unwrap_or((0.1, 1.0))
        })
    }

    /// Whether any finite value lies below the colour scale's low end (its colour is then "≤ low").
    fn clipped_below(&self, lo: f64) -> bool {
        self.matrix
            .iter()
            .flatten()
            .any(|v| v.is_finite() && *v < lo)
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let (rows, cols) = self.shape()?;
        fonts();
        let main_w = WIDTH - BAR_AREA;
        // Square cells: the plot is as tall as the width left for it allows.
        let lay = Layout::square(self, main_w as i32, rows, cols);
        let h = (lay.top + lay.plot_h + lay.bottom) as u32 + TITLE_AREA;
        render_png(path, h, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let (main, bar) = area.split_horizontally(main_w);
            let scale = Scale::of(self.scale, self.value_range());
            self.draw(&main, None, &lay, &scale)?;
            colour_bar(
                &bar,
                lay.top,
                lay.top + lay.plot_h,
                &scale,
                self.clipped_below(scale.lo),
                &self.colorbar,
            )
        })
    }

    fn draw(&self, area: &Area, caption: Option<&str>, lay: &Layout, scale: &Scale) -> Result<()> {
        let (rows, cols) = self.shape()?;
        if let Some(c) = caption {
            let style =
                TextStyle::from(bold(PANEL_TITLE_PX)).pos(Pos::new(HPos::Center, VPos::Top));
            let x = lay.left + lay.plot_w / 2;
            area.draw(&Text::new(c.to_string(), (x, 10), style))
                .map_err(err)?;
        }
        let (x0, y0) = (lay.left, lay.top);
        let xe = |c: usize| x0 + (c as f64 * lay.plot_w as f64 / cols as f64).round() as i32;
        let ye = |r: usize| y0 + (r as f64 * lay.plot_h as f64 / rows as f64).round() as i32;
        for (r, row) in self.matrix.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let colour = if v.is_finite() {
                    viridis(scale.t(*v))
                } else {
                    RGBColor(255, 255, 255)
                };
                area.draw(&Rectangle::new(
                    [(xe(c), ye(r)), (xe(c + 1), ye(r + 1))],
                    colour.filled(),
                ))
                .map_err(err)?;
                if let (Some((factor, decimals)), true) = (self.cell_values, v.is_finite()) {
                    // Viridis is dark below the middle of its range: white text there.
                    let ink = if scale.t(*v) < 0.55 { WHITE } else { BLACK };
                    let style = font(lay.tick_px)
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    let at = ((xe(c) + xe(c + 1)) / 2, (ye(r) + ye(r + 1)) / 2);
                    let text = format!("{:.*}", decimals, v * factor);
                    area.draw(&Text::new(text, at, style)).map_err(err)?;
                }
            }
        }
        area.draw(&Rectangle::new(
            [(x0, y0), (x0 + lay.plot_w, y0 + lay.plot_h)],
            RGBColor(120, 120, 120).stroke_width(1),
        ))
        .map_err(err)?;

        let leader = RGBColor(175, 175, 175);
        let tick_font = font(lay.tick_px);
        // y tick labels, right-aligned in lanes left of the plot.
        let y_style = TextStyle::from(tick_font.clone()).pos(Pos::new(HPos::Right, VPos::Center));
        for r in (0..rows).step_by(lay.y.stride) {
            let Some(label) = self.y_ticks.get(r) else {
                continue;
            };
            let lane = (r / lay.y.stride) % lay.y.lanes;
            let y = (ye(r) + ye(r + 1)) / 2;
            let right = x0 - 6 - lane as i32 * lay.y.lane;
            if lane > 0 {
                area.draw(&PathElement::new(vec![(x0 - 1, y), (right + 3, y)], leader))
                    .map_err(err)?;
            } else {
                area.draw(&PathElement::new(vec![(x0 - 4, y), (x0, y)], BLACK))
                    .map_err(err)?;
            }
            area.draw(&Text::new(label.clone(), (right, y), y_style.clone()))
                .map_err(err)?;
        }
        // x tick labels, centred in lanes below the plot.
        let x_style = TextStyle::from(tick_font).pos(Pos::new(HPos::Center, VPos::Top));
        let bottom = y0 + lay.plot_h;
        for c in (0..cols).step_by(lay.x.stride) {
            let Some(label) = self.x_ticks.get(c) else {
                continue;
            };
            let lane = (c / lay.x.stride) % lay.x.lanes;
            let x = (xe(c) + xe(c + 1)) / 2;
            let top = bottom + 6 + lane as i32 * lay.x.lane;
            if lane > 0 {
                area.draw(&PathElement::new(
                    vec![(x, bottom + 1), (x, top - 2)],
                    leader,
                ))
                .map_err(err)?;
            } else {
                area.draw(&PathElement::new(vec![(x, bottom), (x, bottom + 4)], BLACK))
                    .map_err(err)?;
            }
            area.draw(&Text::new(label.clone(), (x, top), x_style.clone()))
                .map_err(err)?;
        }
        // Axis titles.
        if !self.x_label.is_empty() {
            let style = TextStyle::from(font(LABEL_PX)).pos(Pos::new(HPos::Center, VPos::Top));
            let y = bottom + 12 + lay.x.lanes as i32 * lay.x.lane;
            area.draw(&Text::new(
                self.x_label.clone(),
                (x0 + lay.plot_w / 2, y),
                style,
            ))
            .map_err(err)?;
        }
        if !self.y_label.is_empty() {
            let style = TextStyle::from(font(LABEL_PX).transform(FontTransform::Rotate270))
                .pos(Pos::new(HPos::Center, VPos::Top));
            area.draw(&Text::new(
                self.y_label.clone(),
                (6, y0 + lay.plot_h / 2),
                style,
            ))
            .map_err(err)?;
        }
        Ok(())
    }

    /// Widest tick label of each axis, and the label height, at `px`.
    fn label_extents(&self, px: u32) -> (i32, i32, i32) {
        let f = font(px);
        let width = |labels: &[String]| {
            labels
                .iter()
                .map(|l| f.box_size(l).map_or(px, |b| b.0) as i32)
                .max()
                .unwrap_or(0)
        };
        let h = f.box_size("Tgq⏎").map_or(px, |b| b.1) as i32;
        (width(&self.x_ticks), width(&self.y_ticks), h)
    }
}

/// Height of the figure title strip.
const TITLE_AREA: u32 = 60;

/// Tick lanes of one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Lanes {
    /// How many staggered lanes the labels use.
    lanes: usize,
    /// Label every `stride`-th row or column (1 unless even [`MAX_LANES`] lanes are too few).
    stride: usize,
    /// Pixel depth of one lane (label width for y, label height for x, plus a gap).
    lane: i32,
}

impl Lanes {
    /// Lanes needed for labels `need` px apart on cells `pitch` px apart.
    fn fit(need: i32, pitch: f64, lane: i32) -> Lanes {
        let pitch = pitch.max(1e-9);
        let k = (need as f64 / pitch).ceil().max(1.0) as usize;
        if k <= MAX_LANES {
            Lanes {
                lanes: k,
                stride: 1,
                lane,
            }
        } else {
            Lanes {
                lanes: MAX_LANES,
                stride: k.div_ceil(MAX_LANES),
                lane,
            }
        }
    }
}

/// Pixel layout of one heatmap panel inside its area.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    left: i32,
    top: i32,
    bottom: i32,
    plot_w: i32,
    plot_h: i32,
    tick_px: u32,
    x: Lanes,
    y: Lanes,
}

impl Layout {
    /// The layout of `map` in an area `w` px wide with square cells: margins depend on the lanes, the
    /// lanes on the cell size, the cell size on the margins — three rounds settle it.
    fn square(map: &Heatmap, w: i32, rows: usize, cols: usize) -> Layout {
        let tick_px = TICK_PX;
        let (wx, wy, h) = map.label_extents(tick_px);
        let mut x = Lanes::fit(0, 1.0, h + 2);
        let mut y = Lanes::fit(0, 1.0, wy + 8);
        let mut lay = Layout {
            left: 0,
            top: 0,
            bottom: 0,
            plot_w: 0,
            plot_h: 0,
            tick_px,
            x,
            y,
        };
        for _ in 0..3 {
            let y_desc = if map.y_label.is_empty() {
                0
            } else {
                LABEL_PX as i32 + 16
            };
            let x_desc = if map.x_label.is_empty() {
                0
            } else {
                LABEL_PX as i32 + 12
            };
            let left = 8 + y_desc + 6 + y.lanes as i32 * y.lane;
            let plot_w = w - left - 14;
            let plot_h = (plot_w as f64 * rows as f64 / cols as f64).round() as i32;
            lay = Layout {
                left,
                top: 10,
                bottom: 6 + x.lanes as i32 * x.lane + x_desc + 8,
                plot_w,
                plot_h,
                tick_px,
                x,
                y,
            };
            let nx = Lanes::fit(wx + 4, plot_w as f64 / cols as f64, h + 2);
            let ny = Lanes::fit(h + 1, plot_h as f64 / rows as f64, wy + 8);
            x = if nx.lanes * nx.stride > x.lanes * x.stride {
                nx
            } else {
                x
            };
            y = if ny.lanes * ny.stride > y.lanes * y.stride {
                ny
            } else {
                y
            };
            if lay.x == x && lay.y == y {
                break;
            }
        }
        lay
    }

    /// Room for a panel caption above the plot.
    fn with_caption(mut self) -> Layout {
        self.top += PANEL_TITLE_PX as i32 + 20;
        self
    }

    /// The larger margins and lanes of two layouts (so panels of a grid come out the same size).
    fn max(self, o: Layout) -> Layout {
        let pick = |a: Lanes, b: Lanes| {
            if b.lanes * b.stride > a.lanes * a.stride {
                b
            } else {
                a
            }
        };
        let x = pick(self.x, o.x);
        let y = pick(self.y, o.y);
        let lanes_x = Lanes {
            lane: self.x.lane.max(o.x.lane),
            ..x
        };
        let lanes_y = Lanes {
            lane: self.y.lane.max(o.y.lane),
            ..y
        };
        Layout {
            left: self.left.max(o.left),
            top: self.top.max(o.top),
            bottom: self.bottom.max(o.bottom),
            plot_w: self.plot_w.min(o.plot_w),
            plot_h: self.plot_h.min(o.plot_h),
            tick_px: self.tick_px,
            x: lanes_x,
            y: lanes_y,
        }
    }
}

/// A value-to-colour map.
struct Scale {
    kind: ColourScale,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn of(kind: ColourScale, (lo, hi): (f64, f64)) -> Scale {
        Scale { kind, lo, hi }
    }
    /// Position 0..=1 of `v` on the colour map.
    fn t(&self, v: f64) -> f64 {
        match self.kind {
            ColourScale::Linear => {
                let span = if self.hi > self.lo {
                    self.hi - self.lo
                } else {
                    1.0
                };
                (v - self.lo) / span
            }
            ColourScale::Log10 => {
                if v <= 0.0 {
                    return 0.0;
                }
                let (l, h) = (self.lo.log10(), self.hi.log10());
                let span = if h > l { h - l } else { 1.0 };
                (v.log10() - l) / span
            }
        }
    }
    /// Colour bar ticks: `(position 0..=1, label)`.
    fn ticks(&self) -> Vec<(f64, String)> {
        match self.kind {
            ColourScale::Linear => (0..5)
                .map(|k| {
                    let t = k as f64 / 4.0;
                    (t, fmt_num(self.lo + t * (self.hi - self.lo)))
                })
                .collect(),
            ColourScale::Log10 => {
                let (l, h) = (self.lo.log10(), self.hi.log10());
                let mut out: Vec<(f64, String)> = ((l - 1e-9).ceil() as i32
                    ..=(h + 1e-9).floor() as i32)
                    .map(|k| (self.t(10f64.powi(k)), pow10(k)))
                    .collect();
                if out.is_empty() {
                    out = vec![(0.0, fmt_num(self.lo)), (1.0, fmt_num(self.hi))];
                }
                out
            }
        }
    }
}

/// `10⁻³`, `10⁻¹`, `10⁰`: a power of ten as a colour-bar label, every one in the same notation.
fn pow10(k: i32) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = k
        .unsigned_abs()
        .to_string()
        .chars()
        .map(|d| SUP[d.to_digit(10).unwrap_or(0) as usize])
        .collect();
    format!("10{}{digits}", if k < 0 { "⁻" } else { "" })
}

/// A vertical colour bar from pixel row `top` (high end) to `bottom` (low end) with its ticks and
/// label; `clipped` marks the low end "≤" (values below the scale share its colour).
fn colour_bar(
    area: &Area,
    top: i32,
    bottom: i32,
    scale: &Scale,
    clipped: bool,
    label: &str,
) -> Result<()> {
    let (x0, x1) = (14i32, 14 + BAR_W);
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
    let style = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (t, text)) in scale.ticks().into_iter().enumerate() {
        let y = bottom - (t * (bottom - top) as f64).round() as i32;
        let text = if i == 0 && clipped && t <= 1e-9 {
            format!("≤{text}")
        } else {
            text
        };
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 6, y)], BLACK))
            .map_err(err)?;
        area.draw(&Text::new(text, (x1 + 9, y), style.clone()))
            .map_err(err)?;
    }
    if !label.is_empty() {
        let style = TextStyle::from(font(LABEL_PX).transform(FontTransform::Rotate90))
            .pos(Pos::new(HPos::Center, VPos::Top));
        let (w, _) = area.dim_in_pixel();
        area.draw(&Text::new(
            label.to_string(),
            (w as i32 - 30, (top + bottom) / 2),
            style,
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Small multiples: heatmaps in a grid under one title, sharing one colour scale and colour bar
/// (beside the first row). Every panel is the same size and carries its own tick labels and axis
/// titles, so each can be read on its own.
pub fn heatmap_grid(title: &str, panels: &[Heatmap], cols: usize, path: &Path) -> Result<()> {
    grid(title, panels, cols, false, path)
}

/// Small multiples over the same axes (every panel the same rows and columns): as
/// [`heatmap_grid`], but the tick labels and axis titles are drawn once, on the left column and
/// the bottom row, so many panels fit a page.
pub fn heatmap_grid_shared_axes(
    title: &str,
    panels: &[Heatmap],
    cols: usize,
    path: &Path,
) -> Result<()> {
    grid(title, panels, cols, true, path)
}

fn grid(title: &str, panels: &[Heatmap], cols: usize, shared: bool, path: &Path) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        bail!("heatmap_grid `{title}` needs panels and at least one column");
    }
    fonts();
    let lo = panels
        .iter()
        .map(|p| p.value_range().0)
        .fold(f64::INFINITY, f64::min);
    let hi = panels
        .iter()
        .map(|p| p.value_range().1)
        .fold(f64::NEG_INFINITY, f64::max);
    let scale = Scale::of(panels[0].scale, (lo, hi));
    let main_w = WIDTH - BAR_AREA;
    let geo = if shared {
        Geometry::shared(panels, cols, main_w as i32)?
    } else {
        Geometry::each(panels, cols, main_w as i32)?
    };
    let bar_label = panels[0].colorbar.clone();
    let clipped = panels.iter().any(|p| p.clipped_below(lo));
    render_png(path, TITLE_AREA + geo.height as u32, |root| {
        let area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        let (main, bar) = area.split_horizontally(main_w);
        for (i, p) in panels.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            let (x, y) = (c as i32 * geo.col_pitch, r as i32 * geo.row_pitch);
            let lay = &geo.lay;
            let cell = main.clone().shrink((x, y), geo.cell);
            let mut p = p.clone();
            if shared && c > 0 {
                p.y_ticks.clear();
                p.y_label.clear();
            }
            // Labels under the bottom row only: the last full row, or a short last row's panels.
            if shared && i + cols < panels.len() {
                p.x_ticks.clear();
                p.x_label.clear();
            }
            p.draw(&cell, Some(&p.title), lay, &scale)?;
        }
        let lay = &geo.lay;
        colour_bar(
            &bar,
            lay.top,
            lay.top + lay.plot_h,
            &scale,
            clipped,
            &bar_label,
        )
    })
}

/// Where a grid's panels go: one layout for all, the distance between columns and rows, and the
/// grid's height.
struct Geometry {
    lay: Layout,
    /// The drawing area of one panel (neighbours' areas may overlap where nothing is drawn).
    cell: (u32, u32),
    col_pitch: i32,
    row_pitch: i32,
    height: i32,
}

impl Geometry {
    /// Every panel in a cell of its own, with room for its own labels.
    fn each(panels: &[Heatmap], cols: usize, main_w: i32) -> Result<Geometry> {
        let cell_w = main_w / cols as i32;
        let lay = Self::largest(panels, cell_w)?;
        let cell_h = lay.top + lay.plot_h + lay.bottom;
        Ok(Geometry {
            lay,
            cell: (cell_w as u32, cell_h as u32),
            col_pitch: cell_w,
            row_pitch: cell_h,
            height: panels.len().div_ceil(cols) as i32 * cell_h,
        })
    }

    /// Labels once: the y labels' margin left of the first column only, the x labels' below the
    /// last row only, so the plots take the room.
    fn shared(panels: &[Heatmap], cols: usize, main_w: i32) -> Result<Geometry> {
        const GAP: i32 = 18;
        let margin = Self::largest(panels, main_w / cols as i32)?.left;
        let pitch = (main_w - margin - 14 + GAP) / cols as i32;
        let lay = Self::largest(panels, margin + pitch - GAP + 14)?;
        let rows = panels.len().div_ceil(cols) as i32;
        let row_pitch = lay.top + lay.plot_h + GAP;
        let cell = (
            lay.left + lay.plot_w + 14,
            lay.top + lay.plot_h + lay.bottom,
        );
        Ok(Geometry {
            lay,
            cell: (cell.0 as u32, cell.1 as u32),
            col_pitch: pitch,
            row_pitch,
            height: (rows - 1) * row_pitch + lay.top + lay.plot_h + lay.bottom,
        })
    }

    /// The layout that fits every panel in a cell `cell_w` wide (with a caption).
    fn largest(panels: &[Heatmap], cell_w: i32) -> Result<Layout> {
        let mut lay: Option<Layout> = None;
        for p in panels {
            let (r, c) = p.shape()?;
            let l = Layout::square(p, cell_w, r, c).with_caption();
            lay = Some(lay.map_or(l, |a| a.max(l)));
        }
        Ok(lay.unwrap_or_else(|| unreachable!("panels is not empty")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_axes_give_the_plots_the_room_of_the_labels_they_drop() {
        let m: Vec<Vec<f64>> = vec![vec![0.5; 20]; 20];
        let ticks: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let panels: Vec<Heatmap> = (0..8)
            .map(|h| {
                Heatmap::new(format!("H{h}"), m.clone())
                    .x_ticks(ticks.clone())
                    .y_ticks(ticks.clone())
                    .labels("key", "query")
            })
            .collect();
        let main_w = (WIDTH - BAR_AREA) as i32;
        let each = Geometry::each(&panels, 4, main_w).unwrap();
        let shared = Geometry::shared(&panels, 4, main_w).unwrap();
        assert!(shared.lay.plot_w > each.lay.plot_w);
        // The last column's plot still ends inside the figure.
        assert!(3 * shared.col_pitch + shared.lay.left + shared.lay.plot_w <= main_w);
        // Rows sit closer: no x labels between them.
        assert!(shared.row_pitch - shared.lay.plot_h < each.row_pitch - each.lay.plot_h);
    }

    /// Render twice; require a 1200 px wide, non-blank PNG and byte-identical files.
    fn twice(draw: impl Fn(&Path) -> Result<()>) -> (u32, u32) {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
        draw(&a).unwrap();
        draw(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let img = image::open(&a).unwrap().to_rgb8();
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        colours.sort();
        colours.dedup();
        assert!(colours.len() > 8, "looks blank");
        (img.width(), img.height())
    }

    fn ticks(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| char::from(b'A' + (i % 26) as u8).to_string())
            .collect()
    }

    #[test]
    fn log_heatmap_with_every_label_renders() {
        // 65 x 65 like the character bigram: every label must be drawn (staggered lanes, no thinning).
        let n = 65;
        let m: Vec<Vec<f64>> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| 10f64.powf(-(((r * 7 + c * 3) % 60) as f64) / 10.0))
                    .collect()
            })
            .collect();
        let map = Heatmap::new("Bigram", m)
            .x_ticks(ticks(n))
            .y_ticks(ticks(n))
            .labels("next", "previous")
            .colorbar("probability (log scale)")
            .range(1e-4, 1.0)
            .log_scale();
        let (rows, cols) = map.shape().unwrap();
        fonts();
        let lay = Layout::square(&map, (WIDTH - BAR_AREA) as i32, rows, cols);
        assert_eq!((lay.x.stride, lay.y.stride), (1, 1), "{lay:?}");
        let (w, _) = twice(|p| map.render(p));
        assert_eq!(w, WIDTH);
        // A non-positive range is refused on a log scale.
        let bad = Heatmap::new("bad", vec![vec![1.0]])
            .range(0.0, 1.0)
            .log_scale();
        assert!(bad.render(Path::new("/nonexistent/x.png")).is_err());
    }

    #[test]
    fn grid_panels_are_equal_and_fully_labelled() {
        let n = 42;
        let m: Vec<Vec<f64>> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| if c <= r { 1.0 / (r + 1) as f64 } else { 0.0 })
                    .collect()
            })
            .collect();
        let panels: Vec<Heatmap> = (0..4)
            .map(|h| {
                Heatmap::new(format!("head {h}"), m.clone())
                    .x_ticks(ticks(n))
                    .y_ticks(ticks(n))
                    .labels("key", "query")
                    .colorbar("weight")
                    .range(0.0, 1.0)
            })
            .collect();
        fonts();
        let lay = Layout::square(&panels[0], ((WIDTH - BAR_AREA) / 2) as i32, n, n);
        assert_eq!((lay.x.stride, lay.y.stride), (1, 1), "{lay:?}");
        twice(|p| heatmap_grid("Grid", &panels, 2, p));
    }

    #[test]
    fn powers_of_ten_read_as_written() {
        assert_eq!(pow10(-4), "10⁻⁴");
        assert_eq!(pow10(-12), "10⁻¹²");
        assert_eq!(pow10(-1), "10⁻¹");
        assert_eq!(pow10(0), "10⁰");
        assert_eq!(pow10(3), "10³");
    }

    #[test]
    fn log_scale_maps_decades_evenly() {
        let s = Scale::of(ColourScale::Log10, (1e-4, 1.0));
        assert!((s.t(1e-2) - 0.5).abs() < 1e-12);
        assert_eq!(s.t(0.0), 0.0);
        let ticks: Vec<String> = s.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]);
    }

    #[test]
    fn lanes_stagger_then_thin() {
        // Labels 20 px wide on 30 px cells: one lane; on 12 px cells: two; on 2 px cells: thinned.
        assert_eq!(Lanes::fit(20, 30.0, 5).lanes, 1);
        assert_eq!(Lanes::fit(20, 12.0, 5).lanes, 2);
        let thin = Lanes::fit(20, 2.0, 5);
        assert_eq!((thin.lanes, thin.stride), (MAX_LANES, 4));
    }
}
