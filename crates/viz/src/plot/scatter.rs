//! Scatter plots.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::entity::Entity;
use super::figure::Styled;
use super::key::{centred_title, draw_key, draw_markers, key_height, KeyEntry, Marker, Swatch};
use super::*;

// ------------------------------------------------------------------------------------------------
// Scatter, histogram, grouped bars, contour paths
// ------------------------------------------------------------------------------------------------

/// One group of points in a [`ScatterGrid`] panel, with its own colour and marker.
#[derive(Clone, Debug)]
pub struct PointGroup {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// What it stands for, which sets its colour.
    pub entity: Entity,
    pub marker: Marker,
}

/// One panel of a [`ScatterGrid`].
#[derive(Clone, Debug)]
pub struct ScatterPanel {
    pub title: String,
    pub groups: Vec<PointGroup>,
}

/// Scatter panels on shared linear axes (signed values: nothing is folded or floored), each with
/// the dashed y = x line, and one key for all panels in a strip below them.
#[derive(Clone, Debug)]
pub struct ScatterGrid {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub panels: Vec<ScatterPanel>,
    pub cols: usize,
}

impl ScatterGrid {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        cols: usize,
    ) -> Self {
        ScatterGrid {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            panels: Vec::new(),
            cols,
        }
    }
    pub fn panel(mut self, p: ScatterPanel) -> Self {
        self.panels.push(p);
        self
    }

    /// Its point groups, styled as drawn (each once).
    pub(super) fn styled(&self) -> Vec<Styled> {
        let mut out: Vec<Styled> = Vec::new();
        for g in self.panels.iter().flat_map(|p| &p.groups) {
            let s = Styled::mark(&g.label, g.entity.colour(), Some(g.marker), Some(g.entity));
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The key: every distinct (label, colour, marker) group in panel order, then y = x.
    fn key(&self) -> Vec<KeyEntry> {
        let mut seen: Vec<(String, RGBColor, Marker)> = Vec::new();
        for g in self.panels.iter().flat_map(|p| &p.groups) {
            if !seen
                .iter()
                .any(|s| s.0 == g.label && s.1 == g.entity.colour() && s.2 == g.marker)
            {
                seen.push((g.label.clone(), g.entity.colour(), g.marker));
            }
        }
        let mut key: Vec<KeyEntry> = seen
            .into_iter()
            .map(|(l, c, m)| KeyEntry::new(Swatch::Point(m, c), l))
            .collect();
        key.push(KeyEntry::new(
            Swatch::Line {
                colour: colour(6),
                width: 2,
                dashed: true,
            },
            "y = x",
        ));
        key
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        if self.panels.is_empty() || self.cols == 0 {
            return Err(anyhow!("scatter grid `{}` needs panels", self.title));
        }
        let all = self
            .panels
            .iter()
            .flat_map(|p| &p.groups)
            .flat_map(|g| g.points.iter().flat_map(|&(x, y)| [x, y]));
        let (lo, hi) = finite_range(all, false)
            .ok_or_else(|| anyhow!("scatter grid `{}` has no data", self.title))?;
        let r = padded(lo, hi, false);
        let rows = self.panels.len().div_ceil(self.cols);
        let side = WIDTH / self.cols as u32;
        let key = self.key();
        // The key's height depends on text widths, so measure it on a scratch canvas first.
        let key_h = {
            fonts();
            let mut buf = vec![0u8; (WIDTH * 10 * 3) as usize];
            let scratch = BitMapBackend::with_buffer(&mut buf, (WIDTH, 10)).into_drawing_area();
            key_height(&scratch, &key, WIDTH as i32 - 40)?
        };
        let height = 58 + rows as u32 * (side + 40) + key_h;
        render_png(path, height, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let (_, h) = area.dim_in_pixel();
            let (grid, key_area) = area.split_vertically(h - key_h);
            let grid = grid.margin(8, 0, 0, 0);
            for (cell, p) in grid
                .split_evenly((rows, self.cols))
                .iter()
                .zip(&self.panels)
            {
                let th = centred_title(cell, &p.title, bold(PANEL_TITLE_PX))?;
                let (_, body) = cell.split_vertically(th);
                let mut chart = ChartBuilder::on(&body)
                    .margin(12)
                    .x_label_area_size(64)
                    .y_label_area_size(90)
                    .build_cartesian_2d(r.clone(), r.clone())
                    .map_err(err)?;
                let fmt = axis_formatter(r.clone());
                chart
                    .configure_mesh()
                    .x_desc(&self.x_label)
                    .y_desc(&self.y_label)
                    .axis_desc_style(font(LABEL_PX))
                    .label_style(font(TICK_PX))
                    .x_labels(5)
                    .y_labels(5)
                    .x_label_formatter(&fmt)
                    .y_label_formatter(&fmt)
                    .light_line_style(RGBColor(238, 238, 238))
                    .max_light_lines(1)
                    .bold_line_style(RGBColor(215, 215, 215))
                    .draw()
                    .map_err(err)?;
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(r.start, r.start), (r.end, r.end)],
                        12,
                        10,
                        colour(6).stroke_width(2),
                    ))
                    .map_err(err)?;
                for g in &p.groups {
                    let c = g.entity.colour().mix(0.8);
                    draw_markers(&mut chart, &g.points, g.marker, 6, c)?;
                }
            }
            draw_key(&key_area, &key)
        })
    }
}
