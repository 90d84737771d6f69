//! Render one figure of every kind into a folder, to see what `viz` draws:
//! `cargo run -p viz --example gallery -- /tmp/gallery`.

use std::path::{Path, PathBuf};

use viz::plot::entity::Entity;
use viz::plot::*;

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "scratch/gallery".into()),
    );
    std::fs::create_dir_all(&out)?;
    line_charts(&out)?;
    heatmaps(&out)?;
    decision_regions(&out)?;
    scatter_grids(&out)?;
    grouped_bars(&out)?;
    contour_paths(&out)?;
    let n = std::fs::read_dir(&out)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    println!("gallery: {n} figures in {}", out.display());
    Ok(())
}

/// Line chart: series, a band, a dashed series, a reference line, smoothing.
fn line_charts(out: &Path) -> anyhow::Result<()> {
    let curve = |k: f64, noise: f64| -> Vec<(f64, f64)> {
        (1..300)
            .map(|i| {
                (
                    i as f64,
                    2.5 * (-(i as f64) / (60.0 * k)).exp() + 1.2 + noise * ((i as f64) * 1.7).sin(),
                )
            })
            .collect()
    };
    LineChart::new("Training loss", "step", "loss (nats / char)")
        .series(Series::new("train", curve(1.0, 0.08)))
        .series(
            Series::new("validation", curve(1.3, 0.02)).band(
                curve(1.3, 0.02)
                    .iter()
                    .map(|p| (p.1 - 0.05, p.1 + 0.05))
                    .collect(),
            ),
        )
        .series(Series::new("ablation", curve(2.0, 0.02)).entity(Entity::Validation))
        .hline("PyTorch 1.87", 1.87)
        .smooth(0.9)
        .render(&out.join("line.png"))?;
    Ok(())
}

/// Heatmaps: a grid of attention panels and a single heatmap with labels.
fn heatmaps(out: &Path) -> anyhow::Result<()> {
    let m: Vec<Vec<f64>> = (0..16)
        .map(|r| {
            (0..16)
                .map(|c| if c <= r { 1.0 / (r + 1) as f64 } else { 0.0 })
                .collect()
        })
        .collect();
    let ticks: Vec<String> = "ROMEO: O, she do".chars().map(|c| c.to_string()).collect();
    let panels: Vec<Heatmap> = (0..16)
        .map(|h| {
            Heatmap::new(format!("L{} H{}", h / 4, h % 4), m.clone())
                .x_ticks(ticks.clone())
                .y_ticks(ticks.clone())
                .colorbar("attention weight")
        })
        .collect();
    heatmap_grid(
        "Attention, layers × heads",
        &panels,
        4,
        &out.join("heatmap_grid.png"),
    )?;
    Heatmap::new("Next-character distribution", m.clone())
        .x_ticks(ticks.clone())
        .y_ticks(ticks)
        .labels("next char", "current char")
        .colorbar("P(next | current)")
        .render(&out.join("heatmap.png"))?;
    Ok(())
}

/// Decision boundaries: class regions with points, four panels.
fn decision_regions(out: &Path) -> anyhow::Result<()> {
    let grid: Vec<Vec<usize>> = (0..80)
        .map(|r| {
            (0..80)
                .map(|c| {
                    usize::from((r as f64 - 40.0).powi(2) + (c as f64 - 40.0).powi(2) < 500.0)
                        + usize::from(c > 60)
                })
                .collect()
        })
        .collect();
    let points: Vec<(f64, f64, usize)> = (0..200)
        .map(|i| {
            let a = i as f64 * 0.31;
            (
                a.cos() * (i % 7) as f64 / 3.0,
                a.sin() * (i % 5) as f64 / 2.5,
                i % 3,
            )
        })
        .collect();
    let panel = |t: &str| DecisionPanel {
        title: t.into(),
        x_range: (-2.5, 2.5),
        y_range: (-2.0, 2.0),
        grid: grid.clone(),
        points: points.clone(),
        ..Default::default()
    };
    decision_boundaries(
        "Decision boundaries",
        &[
            panel("moons — val 98.0%"),
            panel("circles — val 99.0%"),
            panel("spirals — val 96.5%"),
            panel("xor — val 98.5%"),
        ],
        2,
        &out.join("decision.png"),
    )?;
    Ok(())
}

/// Scatter grid: hand-derived against numerical, one panel per case.
fn scatter_grids(out: &Path) -> anyhow::Result<()> {
    let line = |k: f64| -> Vec<(f64, f64)> {
        (0..60)
            .map(|i| {
                let x = i as f64 / 30.0 - 1.0;
                (x, k * x + 0.02 * ((i * 7) % 5) as f64)
            })
            .collect()
    };
    ScatterGrid::new("Gradient check", "numerical", "analytical", 2)
        .panel(ScatterPanel {
            title: "correct".into(),
            groups: vec![PointGroup {
                label: "W1".into(),
                entity: Entity::Layer(1),
                marker: Marker::Circle,
                points: line(1.0),
            }],
        })
        .panel(ScatterPanel {
            title: "bug".into(),
            groups: vec![PointGroup {
                label: "W1".into(),
                entity: Entity::Layer(1),
                marker: Marker::Circle,
                points: line(0.3),
            }],
        })
        .render(&out.join("scatter.png"))?;
    Ok(())
}

/// Grouped bars with a reference line.
fn grouped_bars(out: &Path) -> anyhow::Result<()> {
    GroupedBars::new(
        "Training throughput",
        "tokens / s",
        vec!["plain".into(), "fused".into(), "fused + 2 workers".into()],
    )
    .group("ours", vec![7000.0, 9100.0, 17100.0])
    .hline("PyTorch eager", 20500.0)
    .render(&out.join("bars.png"))?;
    Ok(())
}

/// Contours with optimizer paths on a log scale.
fn contour_paths(out: &Path) -> anyhow::Result<()> {
    let rosen = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
    ContourPaths::new("Rosenbrock", (-2.0, 2.0), (-1.0, 3.0), rosen)
        .path(
            "sgd",
            (0..100)
                .map(|i| (-1.5 + i as f64 * 0.025, 2.0 - i as f64 * 0.01))
                .collect(),
        )
        .path(
            "adam",
            (0..100)
                .map(|i| (-1.5 + i as f64 * 0.02, 2.0 - i as f64 * 0.02))
                .collect(),
        )
        .log_levels()
        .labels("x", "y")
        .render(&out.join("contour.png"))?;
    Ok(())
}
