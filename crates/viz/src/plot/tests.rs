use super::entity::Entity;
use super::*;

/// The first and last rows of ink that `draw` leaves for a jagged curve within y = 0.45..0.55 on
/// a 400 × 300 canvas whose whole area is the plot, y from 0 to 1.
fn zigzag_ink_rows(
    draw: impl Fn(
        &mut ChartContext<
            '_,
            BitMapBackend<'_>,
            Cartesian2d<
                plotters::coord::types::RangedCoordf64,
                plotters::coord::types::RangedCoordf64,
            >,
        >,
        &[(f64, f64)],
    ),
) -> (usize, usize) {
    let (w, h) = (400u32, 300u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let mut chart = ChartBuilder::on(&area)
            .build_cartesian_2d(0f64..10f64, 0f64..1f64)
            .unwrap();
        // 4,000 points on 400 px: many per pixel column, as a long training run's losses are.
        let pts: Vec<(f64, f64)> = (0..=4000)
            .map(|i| {
                let wobble = ((i * 7919) % 13) as f64 / 13.0 * 0.1;
                (i as f64 * 0.0025, 0.45 + wobble)
            })
            .collect();
        draw(&mut chart, &pts);
        area.present().unwrap();
    }
    let rows: Vec<usize> = (0..h as usize)
        .filter(|&y| (0..w as usize).any(|x| buf[(y * w as usize + x) * 3] < 128))
        .collect();
    (rows[0], *rows.last().unwrap())
}

#[test]
fn noisy_curves_draw_no_spikes_past_their_data() {
    // y = 0.55 is row 0.45 · 299 ≈ 134.6, y = 0.45 is row ≈ 164.5; a 3-px line adds 1.5 px.
    let (top, bottom): (f64, f64) = (134.55 - 1.5, 164.45 + 1.5);
    let ours = zigzag_ink_rows(|chart, pts| round_joined(chart, pts, BLACK, 3).unwrap());
    assert!(
        ours.0 as f64 >= top.floor() - 1.0 && ours.1 as f64 <= bottom.ceil() + 1.0,
        "ink from row {} to {}, data spans {top:.1} to {bottom:.1}",
        ours.0,
        ours.1
    );
    // plotters' own thick path (miter joins) overshoots: the artefact this guards against.
    let miter = zigzag_ink_rows(|chart, pts| {
        chart
            .draw_series(LineSeries::new(pts.to_vec(), BLACK.stroke_width(3)))
            .unwrap();
    });
    assert!(
        (miter.0 as f64) < top - 5.0 || (miter.1 as f64) > bottom + 5.0,
        "miter joins stayed within the data ({} to {}): the test no longer shows the artefact",
        miter.0,
        miter.1
    );
}

/// Decode the PNG, check its size, that it is not blank (pixel variance), and return its bytes.
fn check_png(path: &Path, min_height: u32) -> Vec<u8> {
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!(img.width(), WIDTH, "{}", path.display());
    assert!(img.height() >= min_height, "{}", path.display());
    let px: Vec<f64> = img
        .pixels()
        .map(|p| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0)
        .collect();
    let mean = px.iter().sum::<f64>() / px.len() as f64;
    let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
    assert!(
        var > 50.0,
        "{} looks blank (variance {var})",
        path.display()
    );
    // Several distinct colours: the palette is used, not just black on white.
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort();
    colours.dedup();
    assert!(
        colours.len() > 8,
        "{} has only {} colours",
        path.display(),
        colours.len()
    );
    std::fs::read(path).unwrap()
}

/// Render twice into two files and require byte-identical PNGs.
fn twice(name: &str, min_height: u32, draw: impl Fn(&Path) -> Result<()>) {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (
        tmp.path().join(format!("{name}_a.png")),
        tmp.path().join(format!("{name}_b.png")),
    );
    draw(&a).unwrap();
    draw(&b).unwrap();
    assert_eq!(
        check_png(&a, min_height),
        check_png(&b, min_height),
        "{name} renders differently twice"
    );
}

fn curve(k: f64) -> Vec<(f64, f64)> {
    (1..200)
        .map(|i| {
            (
                i as f64,
                2.0 * (-(i as f64) / (50.0 * k)).exp() + 0.1 + 0.05 * ((i as f64) * 0.7).sin(),
            )
        })
        .collect()
}

#[test]
fn line_chart_renders() {
    twice("line", 800, |p| {
        LineChart::new("Loss", "step", "loss (nats)")
            .series(Series::new("train", curve(1.0)))
            .series(
                Series::new("val", curve(1.5))
                    .band(curve(1.5).iter().map(|p| (p.1 - 0.1, p.1 + 0.1)).collect()),
            )
            .series(Series::new("ref", curve(2.0)).entity(Entity::NGram))
            .hline("target 0.5", 0.5)
            .smooth(0.8)
            .log_y()
            .render(p)
    });
    // Every piece of text went through `font`/`bold`, none smaller than 9 px at README width.
    let smallest = smallest_text_px();
    assert!(smallest < u32::MAX, "no text recorded");
    assert!(smallest >= MIN_TEXT_PX, "{smallest} px");
}

#[test]
fn line_grid_renders() {
    twice("grid", 600, |p| {
        let a = LineChart::new("loss", "step", "nats").series(Series::new("a", curve(1.0)));
        let b = LineChart::new("accuracy", "step", "%").series(Series::new("b", curve(2.0)));
        line_grid("Two panels", &[a, b], 2, p)
    });
}

#[test]
fn heatmap_renders() {
    let m: Vec<Vec<f64>> = (0..12)
        .map(|r| {
            (0..12)
                .map(|c| if c <= r { 1.0 / (r + 1) as f64 } else { 0.0 })
                .collect()
        })
        .collect();
    let ticks: Vec<String> = "To be or not".chars().map(|c| c.to_string()).collect();
    twice("heatmap", 500, |p| {
        Heatmap::new("Attention", m.clone())
            .x_ticks(ticks.clone())
            .y_ticks(ticks.clone())
            .labels("key", "query")
            .colorbar("weight")
            .render(p)
    });
    twice("heatmap_grid", 500, |p| {
        let panels: Vec<Heatmap> = (0..4)
            .map(|h| {
                Heatmap::new(format!("L0 H{h}"), m.clone())
                    .x_ticks(ticks.clone())
                    .y_ticks(ticks.clone())
                    .colorbar("weight")
            })
            .collect();
        heatmap_grid("Layers x heads", &panels, 2, p)
    });
}

#[test]
fn a_shared_axes_grid_renders() {
    let m: Vec<Vec<f64>> = (0..12)
        .map(|r| {
            (0..12)
                .map(|c| {
                    if c <= r {
                        1.0 / (r + 1) as f64
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        })
        .collect();
    let ticks: Vec<String> = "To be or not".chars().map(|c| c.to_string()).collect();
    let panels: Vec<Heatmap> = (0..8)
        .map(|h| {
            Heatmap::new(format!("L{} H{}", h / 4, h % 4), m.clone())
                .x_ticks(ticks.clone())
                .y_ticks(ticks.clone())
                .labels("key", "query")
                .colorbar("weight")
        })
        .collect();
    twice("heatmap_grid_shared", 300, |p| {
        heatmap_grid_shared_axes("Layers x heads", &panels, 4, p)
    });
}

#[test]
fn decision_boundary_renders() {
    twice("decision", 500, |p| {
        let grid: Vec<Vec<usize>> = (0..50)
            .map(|r| (0..50).map(|c| usize::from(r + c > 50)).collect())
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
        let panel = DecisionPanel {
            title: "moons — val 98%".into(),
            x_range: (-1.0, 1.0),
            y_range: (-1.0, 1.0),
            grid,
            points,
            ..Default::default()
        };
        decision_boundaries("Decision boundaries", &[panel.clone(), panel], 2, p)
    });
}

#[test]
fn grouped_bars_render() {
    twice("bars", 800, |p| {
        GroupedBars::new(
            "Throughput",
            "tokens / s",
            vec!["plain".into(), "fused".into(), "parallel".into()],
        )
        .group("run 1", vec![7000.0, 9000.0, 17000.0])
        .group("run 2", vec![7100.0, 9100.0, 17200.0])
        .hline("PyTorch", 20500.0)
        .render(p)
    });
}

#[test]
fn contour_paths_render() {
    twice("contour", 900, |p| {
        let rosen = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
        let path: Vec<(f64, f64)> = (0..100)
            .map(|i| (-1.5 + i as f64 * 0.025, 2.0 - i as f64 * 0.01))
            .collect();
        ContourPaths::new("Rosenbrock", (-2.0, 2.0), (-1.0, 3.0), rosen)
            .path("sgd", path)
            .log_levels()
            .render(p)
    });
}

#[test]
fn log_axis_labels_a_tall_decade_inside() {
    // The m4 case: perplexities from ~3 to ~30 must be readable between the powers of ten.
    let t = NumAxis::new(1.3..30.0, true).ticks(10);
    assert_eq!(t, vec![2.0, 5.0, 10.0, 20.0]);
    let t = NumAxis::new(3.0..8.0, true).ticks(10);
    assert_eq!(t, vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    // Many decades: powers of ten only, thinned to fit.
    let t = NumAxis::new(1e-12..1.0, true).ticks(5);
    assert!(t.len() <= 5 && t.len() >= 3, "{t:?}");
    assert!(t
        .iter()
        .all(|v| (v.log10() - v.log10().round()).abs() < 1e-9));
    // Unlabelled light lines fall between, never on, the labels.
    let light = NumAxis::new(1.3..30.0, true).light(10);
    assert!(light.contains(&3.0) && !light.contains(&5.0), "{light:?}");
}

#[test]
fn linear_ticks_are_round_and_fit() {
    assert_eq!(
        NumAxis::new(0.0..1000.0, false).ticks(3),
        vec![0.0, 500.0, 1000.0]
    );
    let t = NumAxis::new(0.0..1.0, false).ticks(6);
    assert_eq!(t, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    let t = NumAxis::new(-0.05..0.35, false).ticks(12);
    assert!(
        t.contains(&0.3) && t.contains(&0.0) && t.len() <= 12,
        "{t:?}"
    );
    assert_eq!(
        label_budget(150, true),
        2,
        "a small panel gets few x labels"
    );
}

#[test]
fn legend_goes_where_no_mark_is() {
    let plot = (0, 0, 600, 400);
    // A line along the top edge: the legend must go to a lower spot.
    let line = densify(&[(0, 20), (600, 20)], 3.0);
    let (_, y) = free_legend_spot(&line, plot, (150, 80)).unwrap();
    assert!(y > 100, "legend placed over the line at y = {y}");
    // Marks everywhere: no spot inside, the caller puts the key outside.
    let grid: Vec<(i32, i32)> = (0..60)
        .flat_map(|i| (0..40).map(move |j| (i * 10, j * 10)))
        .collect();
    assert_eq!(free_legend_spot(&grid, plot, (150, 80)), None);
}

#[test]
fn number_formatting() {
    assert_eq!(fmt_num(0.5), "0.5");
    assert_eq!(fmt_num(1.0), "1");
    assert_eq!(fmt_num(20500.0), "20500");
    assert_eq!(fmt_num(1e-7), "1e-7");
    assert_eq!(fmt_num(3e7), "3e7");
    // One notation per axis: an axis that reaches 1e-12 labels 1 as 1e0, not "1" or "1e".
    let f = axis_formatter(1e-12..1.0);
    assert_eq!(
        (f(&1.0), f(&1e-4), f(&0.0)),
        ("1e0".into(), "1e-4".into(), "0".into())
    );
    let f = axis_formatter(0.0..2.5);
    assert_eq!(f(&0.5), "0.5");
    let f = axis_formatter(0.0..2e5);
    assert_eq!((f(&50000.0), f(&1e5)), ("5e4".into(), "1e5".into()));
    assert_eq!(fmt_num(2.25), "2.25");
}

#[test]
fn viridis_ends() {
    assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
    assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
}
