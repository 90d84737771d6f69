//! Line charts and grids of them.

use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;

use super::entity::{Entity, Style};
use super::figure::Styled;
use super::key::{draw_key, draw_markers, key_height};
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
    /// Drawn as these markers only, no line (a model measured at a few x values, e.g. one point).
    pub marker: Option<Marker>,
    /// What it stands for, which sets its colour and dash ([`Entity::style`]); without one, it
    /// takes the palette colour of its position in the chart, solid.
    pub entity: Option<Entity>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.into(),
            points,
            band: None,
            marker: None,
            entity: None,
        }
    }
    /// Draw it in `e`'s style whatever its position.
    pub fn entity(mut self, e: Entity) -> Series {
        self.entity = Some(e);
        self
    }
    /// Draw it in `e`'s style when there is one (a config name that is in the house palette,
    /// [`Entity::of_name`]), else in the colour of its position.
    pub fn entity_if(mut self, e: Option<Entity>) -> Series {
        self.entity = e;
        self
    }
    /// Draw the points as `m` markers instead of a line.
    pub fn points(mut self, m: Marker) -> Series {
        self.marker = Some(m);
        self
    }
    pub fn band(mut self, lo_hi: Vec<(f64, f64)>) -> Series {
        self.band = Some(lo_hi);
        self
    }
    /// Its palette slot and dash as the `i`-th series of a chart.
    fn style_at(&self, i: usize) -> Style {
        self.entity.map_or(
            Style {
                slot: i,
                dashed: false,
            },
            Entity::style,
        )
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
    /// Per reference line, the entity it stands for, if any.
    hline_entities: Vec<Option<Entity>>,
    pub height: u32,
    /// A fixed y range instead of the data's (small multiples share one).
    pub y_range: Option<(f64, f64)>,
    /// A fixed x range instead of the data's (room for a marker drawn at the data's end).
    pub x_range: Option<(f64, f64)>,
    /// Labelled x ticks chosen by the caller (e.g. the values a sweep used).
    pub x_ticks: Option<Vec<f64>>,
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
            hline_entities: Vec::new(),
            height: 800,
            y_range: None,
            x_range: None,
            x_ticks: None,
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
    /// How many palette colours the series take: one past the highest slot any of them uses, so a
    /// chart's reference lines keep their colours when panels of one figure hold different series.
    fn colours_used(&self) -> usize {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| s.style_at(i).slot + 1)
            .max()
            .unwrap_or(0)
    }
    pub fn hline(mut self, label: impl Into<String>, y: f64) -> Self {
        self.hlines.push((label.into(), y));
        self.hline_entities.push(None);
        self
    }
    /// A reference line standing for `e`, in its colour, dashed.
    pub fn hline_entity(mut self, label: impl Into<String>, y: f64, e: Entity) -> Self {
        self.hlines.push((label.into(), y));
        self.hline_entities.push(Some(e));
        self
    }
    /// The colour of the `j`-th reference line.
    fn hline_colour(&self, j: usize) -> RGBColor {
        match self.hline_entities.get(j).copied().flatten() {
            Some(e) => e.colour(),
            None => reference_colour(j, self.colours_used()),
        }
    }
    /// Its lines and reference lines, styled as drawn.
    pub(super) fn styled(&self) -> Vec<Styled> {
        let lines = self.series.iter().enumerate().map(|(i, s)| {
            let st = s.style_at(i);
            Styled {
                label: s.label.clone(),
                colour: colour(st.slot),
                dashed: st.dashed && s.marker.is_none(),
                marker: s.marker,
                line: s.marker.is_none(),
                entity: s.entity,
                reference: false,
            }
        });
        let refs = self.hlines.iter().enumerate().map(|(j, (label, _))| {
            let e = self.hline_entities.get(j).copied().flatten();
            Styled::reference(label, self.hline_colour(j), e)
        });
        lines.chain(refs).collect()
    }
    /// Label the x axis at exactly these values (those inside the range).
    pub fn x_ticks(mut self, ticks: Vec<f64>) -> Self {
        self.x_ticks = Some(ticks);
        self
    }
    /// Fix the y axis to `lo..hi` (no padding added).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
    /// Fix the x axis to `lo..hi` (linear axes only; no padding added).
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }
    pub fn height(mut self, px: u32) -> Self {
        self.height = px;
        self
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        render_png(path, self.height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            self.draw(&area, None, true)
        })
    }

    /// The data's x range and padded y range (or the fixed one).
    fn ranges(&self) -> Result<(Range<f64>, Range<f64>)> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = finite_range(xs, self.log_x)
            .ok_or_else(|| anyhow!("line chart `{}` has no data", self.title))?;
        let x = match (self.x_range, self.log_x) {
            (Some((lo, hi)), false) => lo..hi,
            (_, true) => padded(x0, x1, true),
            (None, false) => x0..(if x1 > x0 { x1 } else { x0 + 1.0 }),
        };
        let y = match self.y_range {
            Some((lo, hi)) => lo..hi,
            None => {
                let (y0, y1) = self
                    .y_extent()
                    .ok_or_else(|| anyhow!("line chart `{}` has no y data", self.title))?;
                padded(y0, y1, self.log_y)
            }
        };
        Ok((x, y))
    }

    /// Smallest and largest finite y of the lines, bands and reference lines.
    fn y_extent(&self) -> Option<(f64, f64)> {
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
        finite_range(ys, self.log_y)
    }

    /// The points of a series that can be drawn on these axes.
    fn drawable(&self, pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
        pts.iter()
            .copied()
            .filter(|p| {
                p.0.is_finite()
                    && p.1.is_finite()
                    && (!self.log_y || p.1 > 0.0)
                    && (!self.log_x || p.0 > 0.0)
            })
            .collect()
    }

    fn legend_entries(&self) -> Vec<KeyEntry> {
        let lines = self.series.iter().enumerate().map(|(i, s)| {
            let st = s.style_at(i);
            KeyEntry {
                label: s.label.clone(),
                swatch: match s.marker {
                    Some(m) => Swatch::Point(m, colour(st.slot)),
                    None => Swatch::Line {
                        colour: colour(st.slot),
                        width: 3,
                        dashed: st.dashed,
                    },
                },
            }
        });
        let refs = self
            .hlines
            .iter()
            .enumerate()
            .map(|(j, (label, _))| KeyEntry {
                label: label.clone(),
                swatch: Swatch::Line {
                    colour: self.hline_colour(j),
                    width: 2,
                    dashed: true,
                },
            });
        lines.chain(refs).collect()
    }

    /// Every polyline the chart draws, in data coordinates (for keeping the legend off them).
    fn polylines(&self, x: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
        let mut out = Vec::new();
        for s in &self.series {
            let pts = self.drawable(&s.points);
            if let Some(a) = self.smoothing {
                out.push(ema(&pts, a));
            }
            if let Some(band) = &s.band {
                let xs = s.points.iter().map(|p| p.0);
                out.push(
                    self.drawable(&xs.clone().zip(band.iter().map(|b| b.0)).collect::<Vec<_>>()),
                );
                out.push(self.drawable(&xs.zip(band.iter().map(|b| b.1)).collect::<Vec<_>>()));
            }
            out.push(pts);
        }
        for (_, y) in &self.hlines {
            out.push(vec![(x.start, *y), (x.end, *y)]);
        }
        out
    }

    /// Draw into `area`: a panel title if given, the plot, and — when `legend` — a legend inside the
    /// plot where it covers no line, or else in a strip above the plot.
    fn draw(&self, area: &Area, title: Option<(&str, u32)>, legend: bool) -> Result<()> {
        let (xr, yr) = self.ranges()?;
        let area = match title {
            Some((t, reserve)) => panel_title(area, t, reserve)?,
            None => area.clone(),
        };
        let mut xa = NumAxis::new(xr.clone(), self.log_x);
        xa.fixed = self.x_ticks.clone();
        let ya = NumAxis::new(yr, self.log_y);
        type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<NumAxis, NumAxis>>;
        fn build<'a, 'b>(a: &'a Area<'b>, xa: &NumAxis, ya: &NumAxis) -> Result<Chart<'a, 'b>> {
            ChartBuilder::on(a)
                .margin(16)
                .margin_right(36) // room for the last x tick label, centred on the right edge
                .x_label_area_size(64)
                .y_label_area_size(100)
                .build_cartesian_2d(xa.clone(), ya.clone())
                .map_err(err)
        }
        // A key with one entry only repeats the title: single-series charts go without.
        let entries = match self.legend_entries() {
            e if legend && e.len() > 1 => e,
            _ => Vec::new(),
        };
        let mut spot = None;
        let mut strip_h = 0u32;
        if !entries.is_empty() {
            // A probe chart on the whole area (building draws nothing) maps the lines to pixels.
            let probe = build(&area, &xa, &ya)?;
            let marks: Vec<(i32, i32)> = self
                .polylines(&xr)
                .iter()
                .flat_map(|line| {
                    let px: Vec<(i32, i32)> = line.iter().map(|p| probe.backend_coord(p)).collect();
                    densify(&px, 3.0)
                })
                .collect();
            let (xs, ys) = probe.plotting_area().get_pixel_range();
            spot = free_legend_spot(
                &marks,
                (xs.start, ys.start, xs.end, ys.end),
                key_box_size(&area, &entries),
            );
            if spot.is_none() {
                strip_h = key_height(&area, &entries, area.dim_in_pixel().0 as i32 - 40)?;
            }
        }
        let (strip, plot) = if strip_h > 0 {
            let (top, rest) = area.split_vertically(strip_h);
            (Some(top), rest)
        } else {
            (None, area.clone())
        };
        let mut chart = build(&plot, &xa, &ya)?;
        numeric_mesh(&mut chart, &self.x_label, &self.y_label)?;
        for (i, s) in self.series.iter().enumerate() {
            let st = s.style_at(i);
            let c = colour(st.slot);
            let pts = self.drawable(&s.points);
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
            if let Some(m) = s.marker {
                draw_markers(&mut chart, &line, m, 7, c.to_rgba())?;
            } else if st.dashed {
                chart
                    .draw_series(DashedLineSeries::new(line, 12, 8, style))
                    .map_err(err)?;
            } else {
                round_joined(&mut chart, &line, c, 3)?;
            }
        }
        for (j, (_, yv)) in self.hlines.iter().enumerate() {
            let c = self.hline_colour(j);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(xr.start, *yv), (xr.end, *yv)],
                    10,
                    8,
                    c.stroke_width(2),
                ))
                .map_err(err)?;
        }
        if let Some((x, y)) = spot {
            let (bx, by) = area.get_base_pixel();
            draw_key_box(&area, (x - bx, y - by), &entries)?;
        }
        if let Some(top) = strip {
            draw_key(&top, &entries)?;
        }
        Ok(())
    }
}

/// Several line charts under one title (e.g. loss and accuracy per dataset); each chart's own title
/// becomes its panel caption. Panels that plot the same quantity (same y label and scale) share one y
/// axis, so their heights compare; when every panel has the same legend, it is drawn once, under the
/// title, instead of in every panel.
pub fn line_grid(title: &str, charts: &[LineChart], cols: usize, path: &Path) -> Result<()> {
    let panel_h = if cols == 1 { 700 } else { 620 };
    line_grid_panels(title, charts, cols, panel_h, path)
}

/// [`line_grid`] with panels `panel_h` px tall (many rows of wide, short panels).
pub fn line_grid_panels(
    title: &str,
    charts: &[LineChart],
    cols: usize,
    panel_h: u32,
    path: &Path,
) -> Result<()> {
    if charts.is_empty() || cols == 0 {
        bail!("line_grid `{title}` needs at least one chart and one column");
    }
    let charts = share_y(charts);
    let shared = shared_key(&charts);
    let rows = charts.len().div_ceil(cols);
    let strip_h = if shared.is_some() { 80 } else { 0 };
    render_png(path, 60 + strip_h + rows as u32 * panel_h, |root| {
        let mut area = root.titled(title, bold(TITLE_PX)).map_err(err)?;
        if let Some(entries) = &shared {
            let w = area.dim_in_pixel().0 as i32;
            let h = key_height(&area, entries, w - 40)?;
            let (top, rest) = area.split_vertically(h);
            draw_key(&top, entries)?;
            area = rest;
        }
        let panels = area.split_evenly((rows, cols));
        let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
        let title_h = panel_title_height(&panels[0], &titles)?;
        for (panel, chart) in panels.iter().zip(&charts) {
            chart.draw(panel, Some((&chart.title, title_h)), shared.is_none())?;
        }
        Ok(())
    })
}

/// One key for the whole grid — the union of the panels' entries, in first-seen order — when it
/// is unambiguous: a label is drawn the same way (colour and dash) in every panel that has it, and
/// no two labels share a look, so a line reads the same wherever it is. `None` when panels need
/// keys of their own (or the union would take more than eight entries).
fn shared_key(charts: &[LineChart]) -> Option<Vec<KeyEntry>> {
    if charts.len() < 2 {
        return None;
    }
    let mut union: Vec<KeyEntry> = Vec::new();
    for e in charts.iter().flat_map(|c| c.legend_entries()) {
        let look = format!("{:?}", e.swatch);
        match union.iter().find(|u| u.label == e.label) {
            Some(u) if format!("{:?}", u.swatch) != look => return None,
            Some(_) => {}
            None if union.iter().any(|u| format!("{:?}", u.swatch) == look) => return None,
            None => union.push(e),
        }
    }
    (!union.is_empty() && union.len() <= 8).then_some(union)
}

/// Copies of `charts` in which every group of panels with the same y label and scale (and no fixed
/// range of its own) has the union of the group's y extents.
fn share_y(charts: &[LineChart]) -> Vec<LineChart> {
    let mut out = charts.to_vec();
    for i in 0..out.len() {
        let key = |c: &LineChart| (c.y_label.clone(), c.log_y);
        let group: Vec<usize> = (0..out.len())
            .filter(|&j| key(&out[j]) == key(&out[i]) && charts[j].y_range.is_none())
            .collect();
        if group.len() < 2 || charts[i].y_range.is_some() {
            continue;
        }
        let ext = group
            .iter()
            .filter_map(|&j| charts[j].y_extent())
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        if let Some((lo, hi)) = ext {
            let r = padded(lo, hi, out[i].log_y);
            out[i].y_range = Some((r.start, r.end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two panels of one figure with the same reference line but different series keep the line's
    /// colour when their series use the same palette slots (m6_long_vs_ngram's two panels).
    #[test]
    fn reference_lines_keep_their_colour_across_panels() {
        let pts = vec![(0.0, 1.0), (1.0, 2.0)];
        let left = LineChart::new("a", "x", "y")
            .series(Series::new("model", pts.clone()).entity(Entity::Train))
            .series(Series::new("train", pts.clone()).entity(Entity::BpeGpt))
            .series(Series::new("prediction", pts.clone()).entity(Entity::Train))
            .series(Series::new("marker", pts.clone()).entity(Entity::Validation))
            .hline("n-gram", 1.5);
        let right = LineChart::new("b", "x", "y")
            .series(Series::new("model", pts.clone()).entity(Entity::Train))
            .series(Series::new("train", pts.clone()).entity(Entity::BpeGpt))
            .series(Series::new("marker", pts.clone()).entity(Entity::Validation))
            .hline("n-gram", 1.5);
        assert_eq!(left.colours_used(), 3);
        assert_eq!(right.colours_used(), 3);
        // Without entities, every series takes its own colour: as many as there are series.
        let plain = LineChart::new("c", "x", "y")
            .series(Series::new("a", pts.clone()))
            .series(Series::new("b", pts.clone()));
        assert_eq!(plain.colours_used(), 2);
        // A grid shares one key when every label looks the same wherever it is drawn and no two
        // labels look alike, even when the panels plot different lines...
        let extra = right
            .clone()
            .series(Series::new("fit", pts.clone()).entity(Entity::Prediction));
        let key = shared_key(&[extra, right.clone()]).expect("an unambiguous union");
        assert_eq!(key.len(), 5, "model, train, marker, fit, n-gram: {key:?}");
        // (`left` draws "model" and "prediction" alike: no shared key.)
        assert!(shared_key(&[left.clone(), right.clone()]).is_none());
        // ...but not when a colour would stand for two labels.
        let clash = LineChart::new("d", "x", "y").series(Series::new("other", pts.clone()));
        assert!(shared_key(&[right, clash]).is_none());
        // And a reference line never takes a colour a series uses.
        for used in 0..6 {
            let c = reference_colour(0, used);
            assert!((0..used).all(|i| colour(i) != c), "used {used}");
        }
    }
}
