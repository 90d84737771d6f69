//! Histograms.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::*;

/// Overlaid histograms of one or more groups over shared bins.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    pub groups: Vec<(String, Vec<f64>)>,
    pub bins: usize,
}

impl Histogram {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>) -> Histogram {
        Histogram {
            title: title.into(),
            x_label: x_label.into(),
            groups: Vec::new(),
            bins: 30,
        }
    }
    pub fn group(mut self, label: impl Into<String>, values: Vec<f64>) -> Self {
        self.groups.push((label.into(), values));
        self
    }
    pub fn bins(mut self, n: usize) -> Self {
        self.bins = n.max(1);
        self
    }

    /// Counts per bin for every group, and the bin edges.
    pub fn counts(&self) -> Result<(Vec<f64>, Vec<Vec<usize>>)> {
        let (lo, hi) = finite_range(self.groups.iter().flat_map(|g| g.1.iter().copied()), false)
            .ok_or_else(|| anyhow!("histogram `{}` has no data", self.title))?;
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let w = (hi - lo) / self.bins as f64;
        let edges = (0..=self.bins).map(|i| lo + i as f64 * w).collect();
        let counts = self
            .groups
            .iter()
            .map(|(_, vs)| {
                let mut c = vec![0usize; self.bins];
                for v in vs.iter().filter(|v| v.is_finite()) {
                    c[(((v - lo) / w) as usize).min(self.bins - 1)] += 1;
                }
                c
            })
            .collect();
        Ok((edges, counts))
    }

    pub fn render(&self, path: &Path) -> Result<()> {
        let (edges, counts) = self.counts()?;
        let ymax = counts.iter().flatten().copied().max().unwrap_or(1) as f64 * 1.1;
        render_png(path, 800, |root| {
            let area = root.titled(&self.title, bold(TITLE_PX)).map_err(err)?;
            let mut chart = ChartBuilder::on(&area)
                .margin(16)
                .x_label_area_size(64)
                .y_label_area_size(100)
                .build_cartesian_2d(edges[0]..edges[edges.len() - 1], 0.0..ymax)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc("count")
                .axis_desc_style(font(LABEL_PX))
                .label_style(font(TICK_PX))
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .light_line_style(RGBColor(238, 238, 238))
                .max_light_lines(1)
                .draw()
                .map_err(err)?;
            for (g, ((label, _), c)) in self.groups.iter().zip(&counts).enumerate() {
                let col = colour(g);
                chart
                    .draw_series(c.iter().enumerate().map(|(i, &n)| {
                        Rectangle::new(
                            [(edges[i], 0.0), (edges[i + 1], n as f64)],
                            col.mix(0.45).filled(),
                        )
                    }))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 8), (x + 20, y + 8)], col.mix(0.6).filled())
                    });
            }
            chart
                .configure_series_labels()
                .legend_area_size(46)
                .position(SeriesLabelPosition::UpperRight)
                .label_font(font(TICK_PX))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .draw()
                .map_err(err)?;
            Ok(())
        })
    }
}
