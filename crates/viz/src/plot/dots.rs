//! Dot plots: one row per case, its values as dots on a logarithmic x axis, with labelled vertical
//! reference lines (thresholds) and the key in a strip below the chart.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;

use super::entity::Entity;
use super::figure::Styled;
use super::key::{draw_key, draw_markers, key_height, KeyEntry, Marker, Swatch};
use super::*;

/// One dot: its row (case), its lane within the row (so dots of equal value in one row do not hide
/// each other), its value, and how it is drawn; `label` names it in the key.
#[derive(Clone, Debug)]
pub struct Dot {
    pub row: usize,
    pub lane: usize,
    pub value: f64,
    /// What it stands for, which sets its colour.
    pub entity: Entity,
    pub marker: Marker,
    pub label: String,
}

/// Cases on the y axis (first at the top), values on a log x axis.
#[derive(Clone, Debug)]
pub struct DotPlot {
    pub title: String,
    pub x_label: String,
    pub rows: Vec<String>,
    pub lanes: usize,
    pub dots: Vec<Dot>,
    /// Vertical dashed reference lines: `(label, x, entity)`, in the entity's colour; without
    /// one, black, then vermillion, then grey.
    pub vlines: Vec<(String, f64, Option<Entity>)>,
    /// A linear x axis over this range instead of the default log axis (scores bounded in [0, 1]).
    pub linear: Option<(f64, f64)>,
}

impl DotPlot {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, rows: Vec<String>) -> Self {
        DotPlot {
            title: title.into(),
            x_label: x_label.into(),
            rows,
            lanes: 1,
            dots: Vec::new(),
            vlines: Vec::new(),
            linear: None,
        }
    }
    /// A linear x axis from `lo` to `hi` (the default is logarithmic, for values spanning decades).
    pub fn linear(mut self, lo: f64, hi: f64) -> Self {
        self.linear = Some((lo, hi));
        self
    }
    /// Lanes per row: dot `lane` i is drawn at height i / lanes within its row.
    pub fn lanes(mut self, n: usize) -> Self {
        self.lanes = n.max(1);
        self
    }
    pub fn dot(mut self, d: Dot) -> Self {
        self.dots.push(d);
        self
    }
    pub fn vline(mut self, label: impl Into<String>, x: f64) -> Self {
        self.vlines.push((label.into(), x, None));
        self
    }
    /// A reference line in the colour of `e`, the entity of the dots it is the baseline of.
    pub fn vline_entity(mut self, label: impl Into<String>, x: f64, e: Entity) -> Self {
        self.vlines.push((label.into(), x, Some(e)));
        self
    }

    /// The colour of the `j`-th reference line.
    fn vline_colour_of(&self, j: usize) -> RGBColor {
        self.vlines[j].2.map_or(vline_colour(j), Entity::colour)
    }

    /// Its dot kinds and reference lines, styled as drawn.
    pub(super) fn styled(&self) -> Vec<Styled> {
        let mut out: Vec<Styled> = Vec::new();
        for d in &self.dots {
            let s = Styled::mark(&d.label, d.entity.colour(), Some(d.marker), Some(d.entity));
            if !out.contains(&s) {
                out.push(s);
            }
        }
        for (j, (label, _, e)) in self.vlines.iter().enumerate() {
            out.push(Styled::reference(label, self.vline_colour_of(j), *e));
        }
        out
    }

    fn key(&self) -> Vec<KeyEntry> {
        let mut seen: Vec<(String, RGBColor, Marker)> = Vec::new();
        for d in &self.dots {
            if !seen
                .iter()
                .any(|s| s.0 == d.label && s.1 == d.entity.colour() && s.2 == d.marker)
            {
                seen.push((d.label.clone(), d.entity.colour(), d.marker));
            }
        }
        let mut key: Vec<KeyEntry> = seen
            .into_iter()
            .map(|(l, c, m)| KeyEntry::new(Swatch::Point(m, c), l))
            .collect();
        for (j, (label, _, _)) in self.vlines.iter().enumerate() {
            key.push(KeyEntry::new(
                Swatch::Line {
                    colour: self.vline_colour_of(j),
                    width: 3,
                    dashed: true,
                },
                label.clone(),
            ));
        }
        key
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        if self.rows.is_empty() {
            bail!("dot plot `{}` has no rows", self.title);
        }
        if let Some(d) = self.dots.iter().find(|d| d.row >= self.rows.len()) {
            bail!(
                "dot plot `{}`: dot in row {} of {}",
                self.title,
                d.row,
                self.rows.len()
            );
        }
        let xs = self
            .dots
            .iter()
            .map(|d| d.value)
            .chain(self.vlines.iter().map(|v| v.1));
        let log = self.linear.is_none();
        let xr = match self.linear {
            Some((lo, hi)) => lo..hi,
            None => {
                let (x0, x1) = finite_range(xs, true)
                    .ok_or_else(|| anyhow!("dot plot `{}` has no positive values", self.title))?;
                padded(x0, x1, true)
            }
        };
        let key = self.key();
        fonts();
        let (key_h, label_w) = {
            let mut buf = vec![0u8; (WIDTH * 10 * 3) as usize];
            let scratch = BitMapBackend::with_buffer(&mut buf, (WIDTH, 10)).into_drawing_area();
            let w = self
                .rows
                .iter()
                .map(|r| {
                    scratch
                        .estimate_text_size(r, &TextStyle::from(font(TICK_PX)))
                        .map(|s| s.0)
                })
                .collect::<std::result::Result<Vec<u32>, _>>()
                .map_err(err)?
                .into_iter()
                .max()
                .unwrap_or(0);
            (key_height(&scratch, &key, WIDTH as i32 - 40)?, w)
        };
        let row_h = (22 * self.lanes as u32).max(48);
        let height = 60 + 110 + self.rows.len() as u32 * row_h + key_h;
        let n = self.rows.len();
        render_png(path, height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let (_, h) = area.dim_in_pixel();
            let (plot, key_area) = area.split_vertically(h - key_h);
            let mut chart = ChartBuilder::on(&plot)
                .margin(16)
                .margin_right(40)
                .x_label_area_size(80)
                .y_label_area_size(label_w + 24)
                .build_cartesian_2d(NumAxis::new(xr.clone(), log), Categories { n, flip: true })
                .map_err(err)?;
            let fx = axis_formatter(xr.clone());
            let labels = self.rows.clone();
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .axis_desc_style(font(LABEL_PX))
                .label_style(font(TICK_PX))
                .x_label_formatter(&fx)
                .y_labels(n)
                .y_label_formatter(&|v| category_label(&labels, *v))
                .disable_y_mesh()
                .max_light_lines(0)
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()
                .map_err(err)?;
            // Light separators between rows.
            chart
                .draw_series((1..n).map(|i| {
                    PathElement::new(
                        vec![(xr.start, i as f64), (xr.end, i as f64)],
                        RGBColor(200, 200, 200).stroke_width(1),
                    )
                }))
                .map_err(err)?;
            for (j, (_, x, _)) in self.vlines.iter().enumerate() {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(*x, 0.0), (*x, n as f64)],
                        12,
                        8,
                        self.vline_colour_of(j).stroke_width(3),
                    ))
                    .map_err(err)?;
            }
            let lanes = self.lanes as f64;
            for d in self.dots.iter().filter(|d| d.value > 0.0) {
                let y = d.row as f64 + (d.lane as f64 + 0.5) / lanes;
                draw_markers(
                    &mut chart,
                    &[(d.value, y)],
                    d.marker,
                    7,
                    d.entity.colour().mix(0.9),
                )?;
            }
            draw_key(&key_area, &key)
        })
    }
}

/// Reference lines: black, then vermillion, then grey.
fn vline_colour(j: usize) -> RGBColor {
    [colour(6), colour(3), colour(7)][j % 3]
}
