//! Grouped bar charts.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::*;

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
