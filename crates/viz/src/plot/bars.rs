//! Grouped bar charts.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::entity::Entity;
use super::figure::Styled;
use super::key::{draw_key, key_height, KeyEntry, Swatch};
use super::*;

/// A legend label and one `(low, high)` per bar.
pub type Whiskers = (String, Vec<(f64, f64)>);

/// Bars of several groups side by side for each category.
#[derive(Clone, Debug)]
pub struct GroupedBars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<(String, Vec<f64>)>,
    pub log_y: bool,
    pub hlines: Vec<(String, f64)>,
    /// Per reference line, the entity it stands for, if any (its colour).
    pub hline_entities: Vec<Option<Entity>>,
    /// Per group, optional `(low, high)` whiskers per bar (e.g. min–max over repeated measurements)
    /// and their legend label.
    pub whiskers: Vec<Option<Whiskers>>,
    /// Per group, optional text printed above each bar (lines separated by `\n`).
    pub notes: Vec<Option<Vec<String>>>,
    /// Per group, the entity whose colour it takes; without one, the palette in order.
    pub entities: Vec<Option<Entity>>,
    /// On a log axis, the value bars grow from (up above it, down below it): 1 for ratios, so a
    /// ratio of 0.5 and one of 2 are bars of one length. Without it, bars rise from the axis floor.
    pub log_base: Option<f64>,
}

/// Pixel height of one line of bar notes.
const NOTE_LINE_PX: i32 = TICK_PX as i32 + 5;

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
            hline_entities: Vec::new(),
            whiskers: Vec::new(),
            notes: Vec::new(),
            entities: Vec::new(),
            log_base: None,
        }
    }
    pub fn group(mut self, label: impl Into<String>, values: Vec<f64>) -> Self {
        self.groups.push((label.into(), values));
        self.whiskers.push(None);
        self.notes.push(None);
        self.entities.push(None);
        self
    }
    /// The last group added stands for `e` (when there is one), in its colour.
    pub fn entity_if(mut self, e: Option<Entity>) -> Self {
        if let Some(slot) = self.entities.last_mut() {
            *slot = e;
        }
        self
    }
    /// Group `gi`'s colour.
    fn group_colour(&self, gi: usize) -> RGBColor {
        self.entities
            .get(gi)
            .copied()
            .flatten()
            .map_or(colour(gi), Entity::colour)
    }
    /// Whiskers `(low, high)` for each bar of the last group added, labelled in the legend.
    pub fn whiskers(mut self, label: impl Into<String>, ranges: Vec<(f64, f64)>) -> Self {
        if let Some(w) = self.whiskers.last_mut() {
            *w = Some((label.into(), ranges));
        }
        self
    }
    /// Text above each bar of the last group added (its value, a ratio); `\n` starts a new line.
    pub fn notes(mut self, texts: Vec<String>) -> Self {
        if let Some(n) = self.notes.last_mut() {
            *n = Some(texts);
        }
        self
    }
    /// Each bar's value printed above it (the last group added).
    pub fn value_labels(self) -> Self {
        let texts = self
            .groups
            .last()
            .map(|g| g.1.iter().map(|v| fmt_num(*v)).collect())
            .unwrap_or_default();
        self.notes(texts)
    }
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    /// A log axis whose bars grow from `base` (1 for ratios): see [`GroupedBars::log_base`].
    pub fn log_y_from(mut self, base: f64) -> Self {
        self.log_y = true;
        self.log_base = Some(base);
        self
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
        self.hline_entities
            .get(j)
            .copied()
            .flatten()
            .map_or(reference_colour(j, 0), Entity::colour)
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let n = self.categories.len();
        if n == 0
            || self.groups.iter().any(|g| g.1.len() != n)
            || self.whiskers.iter().flatten().any(|w| w.1.len() != n)
            || self.notes.iter().flatten().any(|t| t.len() != n)
        {
            bail!(
                "grouped bars `{}`: every group (and its whiskers and notes) needs one value per category",
                self.title
            );
        }
        let vals = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().copied())
            .chain(self.hlines.iter().map(|h| h.1))
            .chain(
                self.whiskers
                    .iter()
                    .flatten()
                    .flat_map(|w| w.1.iter().flat_map(|&(a, b)| [a, b])),
            );
        let (lo, hi) = finite_range(vals, self.log_y)
            .ok_or_else(|| anyhow!("grouped bars `{}` has no data", self.title))?;
        // Headroom above the tallest bar for its notes, so none covers a bar; the key sits in a strip
        // above the plot, so the axis ends where the data (and the notes) end.
        let note_lines = self
            .notes
            .iter()
            .flatten()
            .flatten()
            .map(|t| t.lines().count())
            .max()
            .unwrap_or(0);
        let notes_px = if note_lines > 0 {
            note_lines as f64 * NOTE_LINE_PX as f64 + 12.0
        } else {
            0.0
        };
        let legend = ((notes_px + 24.0) / 560.0).min(0.7);
        let key = self.key();
        render_png(path, 800, |root| {
            let mut area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            if key.len() > 1 {
                let w = area.dim_in_pixel().0 as i32;
                let h = key_height(&area, &key, w - 40)?;
                let (top, rest) = area.split_vertically(h);
                draw_key(&top, &key)?;
                area = rest;
            }
            if self.log_y {
                let (l, h) = (lo.log10(), hi.log10());
                let bottom = l - ((h - l) * 0.05).max(0.05);
                let top = bottom + (h - bottom) / (1.0 - legend);
                let yr = 10f64.powf(bottom)..10f64.powf(top);
                let ticks = log_ticks_125(yr.start, yr.end);
                let base = self.log_base.unwrap_or(yr.start);
                self.draw_in(&area, yr.clone().log_scale(), base, Some(ticks), 0.0)
            } else {
                // Room below the lowest whisker for the notes of negative bars.
                let negative_notes = self
                    .groups
                    .iter()
                    .zip(&self.notes)
                    .any(|(g, n)| n.is_some() && g.1.iter().any(|v| *v < 0.0));
                let below = if negative_notes {
                    (hi - lo) * (notes_px + 8.0) / 560.0
                } else {
                    0.0
                };
                let base = 0f64.min(lo) - below;
                let yr = base..base + (hi - base) / (1.0 - legend);
                // A tick a rounding error away from 0 is 0 (not "7e-18").
                let zero = (yr.end - yr.start) * 1e-9;
                self.draw_in(&area, yr.clone(), 0f64.max(yr.start), None, zero)
            }
        })
    }

    /// `log_ticks`: on a log axis, the labelled y values (plotters labels only powers of ten, too
    /// few on a short axis); drawn here with their grid lines. Ticks closer to 0 than `zero` are
    /// labelled 0.
    fn draw_in<Y>(
        &self,
        area: &Area,
        ys: Y,
        base: f64,
        log_ticks: Option<Vec<f64>>,
        zero: f64,
    ) -> Result<()>
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
        let fx = |v: &f64| category_label(&cats, *v);
        let fy = |v: &f64| fmt_num(if v.abs() < zero { 0.0 } else { *v });
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .y_desc(&self.y_label)
            .axis_desc_style(font(LABEL_PX))
            .label_style(font(TICK_PX))
            .x_labels(n)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(1);
        if log_ticks.is_some() {
            mesh.y_labels(0).disable_y_mesh();
        }
        mesh.draw().map_err(err)?;
        if let Some(ticks) = &log_ticks {
            draw_log_ticks(&mut chart, area, ticks, n)?;
        }
        let w = 0.8 / self.groups.len().max(1) as f64;
        for gi in 0..self.groups.len() {
            self.draw_group(&mut chart, gi, base, w)?;
        }
        self.draw_hlines(&mut chart)?;
        Ok(())
    }

    /// Group `gi`'s bars (`w` wide, from `base`), then its whiskers and its notes.
    fn draw_group<'a, 'b: 'a, Y>(
        &self,
        chart: &mut BarChart<'a, 'b, Y>,
        gi: usize,
        base: f64,
        w: f64,
    ) -> Result<()>
    where
        Y: Ranged<ValueType = f64>,
    {
        let vals = &self.groups[gi].1;
        let c = self.group_colour(gi);
        chart
            .draw_series(
                vals.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| {
                        let x0 = i as f64 + 0.1 + gi as f64 * w;
                        Rectangle::new([(x0, base), (x0 + w * 0.92, v)], c.filled())
                    }),
            )
            .map_err(err)?;
        // Where each bar's note goes: above the top of a positive bar (and its whisker), below
        // the bottom of a negative one, so a note never sits on the bar or the zero line.
        let mut tops: Vec<f64> = vals.clone();
        let mut bottoms: Vec<f64> = vals.clone();
        self.draw_whiskers(chart, gi, w, &mut tops, &mut bottoms)?;
        self.draw_notes(chart, gi, w, &tops, &bottoms)
    }

    /// Group `gi`'s whiskers, if it has any: a vertical line with caps a third of the bar wide.
    /// Widens `tops` and `bottoms` to the whiskers' ends.
    fn draw_whiskers<'a, 'b: 'a, Y>(
        &self,
        chart: &mut BarChart<'a, 'b, Y>,
        gi: usize,
        w: f64,
        tops: &mut [f64],
        bottoms: &mut [f64],
    ) -> Result<()>
    where
        Y: Ranged<ValueType = f64>,
    {
        let Some((_, ranges)) = &self.whiskers[gi] else {
            return Ok(());
        };
        let cap = w * 0.15;
        let ink = RGBColor(0, 0, 0);
        chart
            .draw_series(
                ranges
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.0.is_finite() && r.1.is_finite())
                    .map(|(i, &(a, b))| {
                        let x = bar_centre(i, gi, w);
                        PathElement::new(vec![(x, a), (x, b)], ink.stroke_width(2))
                    }),
            )
            .map_err(err)?;
        for (i, &(a, b)) in ranges.iter().enumerate() {
            if !(a.is_finite() && b.is_finite()) {
                continue;
            }
            let x = bar_centre(i, gi, w);
            for y in [a, b] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x - cap, y), (x + cap, y)],
                        ink.stroke_width(2),
                    )))
                    .map_err(err)?;
            }
            tops[i] = tops[i].max(b);
            bottoms[i] = bottoms[i].min(a);
        }
        Ok(())
    }

    /// Group `gi`'s notes, if it has any: above `tops` (below `bottoms` for a negative bar on a
    /// linear axis), one line of text under another.
    fn draw_notes<'a, 'b: 'a, Y>(
        &self,
        chart: &mut BarChart<'a, 'b, Y>,
        gi: usize,
        w: f64,
        tops: &[f64],
        bottoms: &[f64],
    ) -> Result<()>
    where
        Y: Ranged<ValueType = f64>,
    {
        let Some(texts) = &self.notes[gi] else {
            return Ok(());
        };
        let vals = &self.groups[gi].1;
        let style = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Center, VPos::Bottom));
        let below = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, text) in texts.iter().enumerate() {
            if !tops[i].is_finite() {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            let k = lines.len() as i32;
            let negative = vals[i] < 0.0 && !self.log_y;
            for (j, line) in lines.iter().enumerate() {
                let (anchor, dy, st) = if negative {
                    (bottoms[i], 6 + j as i32 * NOTE_LINE_PX, &below)
                } else {
                    (tops[i], -6 - (k - 1 - j as i32) * NOTE_LINE_PX, &style)
                };
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((bar_centre(i, gi, w), anchor))
                            + Text::new(line.to_string(), (0, dy), st.clone()),
                    ))
                    .map_err(err)?;
            }
        }
        Ok(())
    }

    /// The key: every group's bar, then the whiskers' labels, then the reference lines.
    fn key(&self) -> Vec<KeyEntry> {
        let mut key: Vec<KeyEntry> = (0..self.groups.len())
            .map(|gi| KeyEntry::new(Swatch::Bar(self.group_colour(gi)), &self.groups[gi].0))
            .collect();
        for (label, _) in self.whiskers.iter().flatten() {
            if !label.is_empty() && !key.iter().any(|k| k.label == *label) {
                key.push(KeyEntry::new(Swatch::Whisker(RGBColor(0, 0, 0)), label));
            }
        }
        for (j, (label, _)) in self.hlines.iter().enumerate() {
            key.push(KeyEntry::new(
                Swatch::Line {
                    colour: self.hline_colour(j),
                    width: 2,
                    dashed: true,
                },
                label,
            ));
        }
        key
    }

    /// Its bar groups and reference lines, styled as drawn.
    pub(super) fn styled(&self) -> Vec<Styled> {
        let groups = self.groups.iter().enumerate().map(|(gi, (label, _))| {
            let e = self.entities.get(gi).copied().flatten();
            Styled::mark(label, self.group_colour(gi), None, e)
        });
        let refs = self.hlines.iter().enumerate().map(|(j, (label, _))| {
            let e = self.hline_entities.get(j).copied().flatten();
            Styled::reference(label, self.hline_colour(j), e)
        });
        groups.chain(refs).collect()
    }

    /// The horizontal reference lines, dashed, across every category.
    fn draw_hlines<'a, 'b: 'a, Y>(&self, chart: &mut BarChart<'a, 'b, Y>) -> Result<()>
    where
        Y: Ranged<ValueType = f64>,
    {
        let n = self.categories.len();
        for (j, (_, y)) in self.hlines.iter().enumerate() {
            let c = self.hline_colour(j);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, *y), (n as f64, *y)],
                    10,
                    8,
                    c.stroke_width(2),
                ))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// A bar chart's drawing context: categories across, values `Y` up.
type BarChart<'a, 'b, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Categories, Y>>;

/// The centre of bar `i` of group `gi`, bars `w` wide.
fn bar_centre(i: usize, gi: usize, w: f64) -> f64 {
    i as f64 + 0.1 + gi as f64 * w + w * 0.46
}

/// On a log axis, the labelled y values `ticks` with their grid lines across the `n` categories
/// (plotters labels only powers of ten, too few on a short axis).
fn draw_log_ticks<'a, 'b: 'a, Y>(
    chart: &mut BarChart<'a, 'b, Y>,
    area: &Area,
    ticks: &[f64],
    n: usize,
) -> Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let base_px = area.get_base_pixel();
    let style = TextStyle::from(font(TICK_PX)).pos(Pos::new(HPos::Right, VPos::Center));
    for &v in ticks {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, v), (n as f64, v)],
                RGBColor(215, 215, 215),
            )))
            .map_err(err)?;
        let (x, y) = chart.backend_coord(&(0.0, v));
        let (x, y) = (x - base_px.0, y - base_px.1);
        area.draw(&PathElement::new(vec![(x - 5, y), (x, y)], BLACK))
            .map_err(err)?;
        area.draw(&Text::new(fmt_num(v), (x - 9, y), style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// 1, 2 and 5 × 10ᵏ inside `lo..=hi` (rounded through the decimal string: 0.2, not 0.20000000000000004).
fn log_ticks_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for e in (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32) {
        for m in [1, 2, 5] {
            let v: f64 = format!("{m}e{e}")
                .parse()
                .unwrap_or(m as f64 * 10f64.powi(e));
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_ticks_are_one_two_five() {
        assert_eq!(
            super::log_ticks_125(0.0015, 0.3),
            [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
        );
    }

    use super::*;

    #[test]
    fn bars_with_whiskers_and_notes_render_identically() {
        let bars = || {
            GroupedBars::new(
                "Throughput",
                "tokens / s",
                vec!["plain".into(), "fast".into(), "fast+parallel".into()],
            )
            .group("ours", vec![3600.0, 16000.0, 21800.0])
            .whiskers(
                "min–max over 2 rounds",
                vec![(3300.0, 3900.0), (15600.0, 16800.0), (20000.0, 23600.0)],
            )
            .notes(vec![
                "3600\n0.27×".into(),
                "16000\n1.22×".into(),
                "21800\n1.66×".into(),
            ])
            .hline("PyTorch", 13100.0)
        };
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
        bars().render(&a).unwrap();
        bars().render(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(image::open(&a).unwrap().width(), WIDTH);
        // Mismatched whiskers are refused.
        let bad = bars().whiskers("w", vec![(1.0, 2.0)]);
        assert!(bad.render(&a).is_err());
        // value_labels gives one note per bar.
        let v = GroupedBars::new("t", "y", vec!["a".into(), "b".into()])
            .group("g", vec![1.5, 2.0])
            .value_labels();
        assert_eq!(
            v.notes[0].as_deref(),
            Some(&["1.5".to_string(), "2".to_string()][..])
        );
    }
}
