//! A [`Diagram`] drawn as a PNG: boxes in rows from top to bottom (a node's row is the length of the
//! longest path reaching it, so every edge points down), arrows between them with their labels,
//! text in the embedded font like every other figure.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::entity::Entity;
use super::{bold, err, font, key, on_scratch, render_png, wrap, Area, PALETTE, TITLE_PX, WIDTH};
use crate::diagram::Diagram;

const TEXT_PX: u32 = 20;
const EDGE_PX: u32 = 17;
const LINE_H: i32 = 25;
const PAD: i32 = 12;
const ROW_GAP: i32 = 70;
const MAX_BOX_W: i32 = 520;
/// Room left of the boxes for the rails of edges that loop back up.
const LOOP_GUTTER: i32 = 90;

/// Title height, each node's wrapped label lines, each node's box width, each row's height.
type Measured = (u32, Vec<Vec<String>>, Vec<i32>, Vec<i32>);

/// Each node's row: 0 for sources, else one more than its deepest predecessor. An error on a cycle.
fn rows(d: &Diagram) -> Result<HashMap<String, usize>> {
    d.validate()?;
    let mut row: HashMap<String, usize> = d.nodes.iter().map(|n| (n.id.clone(), 0)).collect();
    // Longest path by relaxation: at most |nodes| rounds in a DAG.
    for _ in 0..=d.nodes.len() {
        let mut changed = false;
        for e in &d.edges {
            let next = row[&e.from] + 1;
            if row[&e.to] < next {
                row.insert(e.to.clone(), next);
                changed = true;
            }
        }
        if !changed {
            return Ok(row);
        }
    }
    bail!("the diagram has a cycle; only directed acyclic diagrams can be laid out in rows")
}

/// Whether the straight segment `a`–`b` passes through rectangle `r` (or within 10 px of it).
fn crosses(a: (i32, i32), b: (i32, i32), r: (i32, i32, i32, i32)) -> bool {
    let m = 10;
    let steps = 400;
    (0..=steps).any(|i| {
        let t = f64::from(i) / f64::from(steps);
        let x = f64::from(a.0) + t * f64::from(b.0 - a.0);
        let y = f64::from(a.1) + t * f64::from(b.1 - a.1);
        x >= f64::from(r.0 - m)
            && x <= f64::from(r.2 + m)
            && y >= f64::from(r.1 - m)
            && y <= f64::from(r.3 + m)
    })
}

/// A box: left, top, right, bottom, in pixels.
type Rect = (i32, i32, i32, i32);

/// Draws `diagram` under `title` to `path` (1200 px wide, as tall as its rows need).
pub fn render_diagram(diagram: &Diagram, title: &str, path: &Path) -> Result<()> {
    let row_of = rows(diagram)?;
    let n_rows = row_of.values().copied().max().map_or(0, |m| m + 1);
    let mut by_row: Vec<Vec<usize>> = vec![Vec::new(); n_rows];
    for (i, n) in diagram.nodes.iter().enumerate() {
        by_row[row_of[&n.id]].push(i);
    }
    // Box widths and wrapped labels need a drawing area to measure text: measure on a scratch
    // canvas first, then draw at the final height.
    let gutter = if diagram.loops.is_empty() {
        0
    } else {
        LOOP_GUTTER
    };
    let (title_h, lines, widths, heights) =
        on_scratch(|area: &Area| measure(area, diagram, title, &by_row, gutter))?;
    let top = title_h as i32 + 30;
    let height = top + heights.iter().sum::<i32>() + ROW_GAP * n_rows.saturating_sub(1) as i32 + 30;
    render_png(path, height as u32, |area| {
        key::centred_title(area, title, bold(TITLE_PX))?;
        let rect = place_boxes(&by_row, &widths, &heights, top, gutter, diagram.nodes.len());
        let idx: HashMap<&str, usize> = diagram
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        // Rails used so far on the left and on the right.
        let mut rails = (0, 0);
        for e in &diagram.edges {
            let (ia, ib) = (idx[e.from.as_str()], idx[e.to.as_str()]);
            let (a, b) = (rect[ia], rect[ib]);
            let from = ((a.0 + a.2) / 2, a.3);
            let to = ((b.0 + b.2) / 2, b.1);
            let (ra, rb) = (row_of[&e.from], row_of[&e.to]);
            let between: Vec<Rect> = rect
                .iter()
                .zip(&diagram.nodes)
                .filter(|(_, n)| (ra + 1..rb).contains(&row_of[&n.id]))
                .map(|(r, _)| *r)
                .collect();
            let path = route(from, to, rb > ra + 1, &between, &mut rails);
            draw_edge(area, &path, e.label.as_deref())?;
        }
        for (k, e) in diagram.loops.iter().enumerate() {
            let (a, b) = (rect[idx[e.from.as_str()]], rect[idx[e.to.as_str()]]);
            draw_loop(area, a, b, gutter - 30 - 14 * k as i32, e.label.as_deref())?;
        }
        for (i, r) in rect.iter().enumerate() {
            let node = &diagram.nodes[i];
            let colour = node
                .entity
                .map_or(PALETTE[row_of[&node.id] % 6], Entity::colour);
            draw_box(area, *r, colour, &lines[i])?;
        }
        Ok(())
    })
}

/// The title's height, and each node's label wrapped to fit its box, its box width, each row's
/// height (the row of `by_row[r]`'s nodes, centred in equal slots across the picture).
fn measure(
    area: &Area,
    diagram: &Diagram,
    title: &str,
    by_row: &[Vec<usize>],
    gutter: i32,
) -> Result<Measured> {
    let title_h = key::title_height(area, title, bold(TITLE_PX))?;
    let style = TextStyle::from(font(TEXT_PX));
    let mut lines = vec![Vec::new(); diagram.nodes.len()];
    let mut widths = vec![0; diagram.nodes.len()];
    let mut heights = vec![0; by_row.len()];
    for (r, members) in by_row.iter().enumerate() {
        let slot = (WIDTH as i32 - 40 - gutter) / members.len().max(1) as i32;
        let box_w = (slot - 30).min(MAX_BOX_W);
        for &i in members {
            let mut ls = Vec::new();
            for part in diagram.nodes[i].label.split('\n') {
                ls.extend(wrap(area, part, &style, box_w - 2 * PAD));
            }
            let text_w = ls
                .iter()
                .map(|l| {
                    area.estimate_text_size(l, &style)
                        .map_or(0, |(w, _)| w as i32)
                })
                .max()
                .unwrap_or(0);
            widths[i] = (text_w + 2 * PAD).clamp(140, box_w.max(140));
            heights[r] = heights[r].max(ls.len() as i32 * LINE_H + 2 * PAD);
            lines[i] = ls;
        }
    }
    Ok((title_h, lines, widths, heights))
}

/// Box rectangles, row after row from `top`: centred in equal slots across the row, right of a
/// `gutter` kept for loops.
fn place_boxes(
    by_row: &[Vec<usize>],
    widths: &[i32],
    heights: &[i32],
    top: i32,
    gutter: i32,
    n_nodes: usize,
) -> Vec<Rect> {
    let mut rect: Vec<Rect> = vec![(0, 0, 0, 0); n_nodes];
    let mut y = top;
    for (r, members) in by_row.iter().enumerate() {
        let slot = (WIDTH as i32 - 40 - gutter) / members.len().max(1) as i32;
        for (j, &i) in members.iter().enumerate() {
            let cx = 20 + gutter + slot * j as i32 + slot / 2;
            let (w, h) = (widths[i], heights[r]);
            rect[i] = (cx - w / 2, y, cx + w / 2, y + h);
        }
        y += heights[r] + ROW_GAP;
    }
    rect
}

/// The path of an edge from `from` (bottom of its source) to `to` (top of its target).
///
/// An edge skipping rows (`skips`) goes straight when no box of the rows in between (`between`)
/// is in its way; otherwise it leaves its source downwards, runs along a rail beside every box of
/// those rows (on the side its source is), and turns in just above its target: it never crosses a
/// box. Each such edge gets a rail of its own (`rails` counts those taken, left and right).
fn route(
    from: (i32, i32),
    to: (i32, i32),
    skips: bool,
    between: &[Rect],
    rails: &mut (i32, i32),
) -> Vec<(i32, i32)> {
    if !(skips && between.iter().any(|r| crosses(from, to, *r))) {
        return vec![from, to];
    }
    let between = between.iter();
    let left = from.0 < WIDTH as i32 / 2;
    let rail = if left {
        let edge = between.map(|r| r.0).min().unwrap_or(from.0);
        (edge.min(from.0).min(to.0) - 24 - 14 * rails.0).max(6)
    } else {
        let edge = between.map(|r| r.2).max().unwrap_or(from.0);
        (edge.max(from.0).max(to.0) + 24 + 14 * rails.1).min(WIDTH as i32 - 6)
    };
    if left {
        rails.0 += 1;
    } else {
        rails.1 += 1;
    }
    let out = from.1 + 16 + 6 * (rails.0 + rails.1);
    let inn = to.1 - 22;
    vec![
        from,
        (from.0, out),
        (rail, out),
        (rail, inn),
        (to.0, inn),
        to,
    ]
}

/// An edge along `path`, with an arrow head at its end and its label, if any, beside its last
/// segment.
fn draw_edge(area: &Area, path: &[(i32, i32)], label: Option<&str>) -> Result<()> {
    let grey = RGBColor(90, 90, 90);
    let to = path[path.len() - 1];
    area.draw(&PathElement::new(path.to_vec(), grey.stroke_width(2)))
        .map_err(err)?;
    // Arrow head: two short strokes back from the tip along the last segment.
    let last = path[path.len() - 2];
    let (dx, dy) = ((to.0 - last.0) as f64, (to.1 - last.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    for s in [-1.0, 1.0] {
        let bx = to.0 as f64 - 12.0 * ux + s * 6.0 * uy;
        let by = to.1 as f64 - 12.0 * uy - s * 6.0 * ux;
        area.draw(&PathElement::new(
            vec![(bx as i32, by as i32), to],
            grey.stroke_width(2),
        ))
        .map_err(err)?;
    }
    if let Some(label) = label {
        let (p, q) = (path[path.len() - 2], to);
        edge_label(area, label, ((p.0 + q.0) / 2 + 8, (p.1 + q.1) / 2))?;
    }
    Ok(())
}

/// An edge's label, left-aligned at `at`, on a white patch so a line crossing it does not cut it.
fn edge_label(area: &Area, label: &str, at: (i32, i32)) -> Result<()> {
    let style = TextStyle::from(font(EDGE_PX))
        .color(&RGBColor(90, 90, 90))
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (w, h) = area
        .estimate_text_size(label, &style)
        .map_or((0, 0), |(w, h)| (w as i32, h as i32));
    area.draw(&Rectangle::new(
        [
            (at.0 - 3, at.1 - h / 2 - 2),
            (at.0 + w + 3, at.1 + h / 2 + 2),
        ],
        WHITE.filled(),
    ))
    .map_err(err)?;
    area.draw(&Text::new(label.to_string(), at, style))
        .map_err(err)?;
    Ok(())
}

/// An edge looping back up from box `a` to the earlier box `b`: out of `a`'s left side, up the rail
/// at `x` in the gutter, into `b`'s left side; its label beside the rail.
fn draw_loop(area: &Area, a: Rect, b: Rect, x: i32, label: Option<&str>) -> Result<()> {
    let (ay, by) = ((a.1 + a.3) / 2, (b.1 + b.3) / 2);
    draw_edge(area, &[(a.0, ay), (x, ay), (x, by), (b.0, by)], None)?;
    if let Some(label) = label {
        edge_label(area, label, (x + 6, (ay + by) / 2))?;
    }
    Ok(())
}

/// A node's box `r`: tinted with its row's `colour`, outlined in it, its label `lines` centred.
fn draw_box(area: &Area, r: Rect, colour: RGBColor, lines: &[String]) -> Result<()> {
    let tint = |c: u8| (255.0 - 0.12 * (255.0 - f64::from(c))) as u8;
    area.draw(&Rectangle::new(
        [(r.0, r.1), (r.2, r.3)],
        RGBColor(tint(colour.0), tint(colour.1), tint(colour.2)).filled(),
    ))
    .map_err(err)?;
    area.draw(&Rectangle::new(
        [(r.0, r.1), (r.2, r.3)],
        colour.stroke_width(2),
    ))
    .map_err(err)?;
    let cx = (r.0 + r.2) / 2;
    let n = lines.len() as i32;
    let y0 = (r.1 + r.3) / 2 - n * LINE_H / 2 + LINE_H / 2;
    for (j, l) in lines.iter().enumerate() {
        let style = TextStyle::from(font(TEXT_PX)).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new(l.clone(), (cx, y0 + j as i32 * LINE_H), style))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rag(with_hybrid: bool) -> Diagram {
        let mut d = Diagram::new()
            .node("question", "question")
            .node("bm25", "BM25")
            .node("reader", "reader: GPT")
            .edge("question", "bm25", None)
            .edge("bm25", "reader", Some("k passages"));
        if with_hybrid {
            d = d
                .node("hybrid", "hybrid (RRF)")
                .edge("bm25", "hybrid", None)
                .edge("hybrid", "reader", Some("k passages"));
        }
        d
    }

    #[test]
    fn rows_follow_the_longest_path_and_cycles_are_refused() {
        let r = rows(&rag(true)).unwrap();
        assert_eq!(
            (r["question"], r["bm25"], r["hybrid"], r["reader"]),
            (0, 1, 2, 3)
        );
        let cyclic = Diagram::new()
            .node("a", "A")
            .node("b", "B")
            .edge("a", "b", None)
            .edge("b", "a", None);
        assert!(rows(&cyclic).unwrap_err().to_string().contains("cycle"));
    }

    #[test]
    fn a_loop_back_is_drawn_round_the_side_not_refused_as_a_cycle() {
        let d = Diagram::new()
            .node("q", "question")
            .node("m", "model")
            .node("t", "tool")
            .node_in("s", "stopped", Entity::Plain)
            .edge("q", "m", None)
            .edge("m", "t", Some("3"))
            .edge("m", "s", None)
            .back("t", "m", Some("2"));
        let r = rows(&d).unwrap();
        assert_eq!(
            (r["q"], r["m"], r["t"]),
            (0, 1, 2),
            "the loop does not push rows down"
        );
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        render_diagram(&d, "loop", &a).unwrap();
        let mut straight = d.clone();
        straight.loops.clear();
        render_diagram(&straight, "loop", &b).unwrap();
        // The rail runs in the gutter left of every box: ink there only with the loop.
        let ink_left = |p: &Path| {
            let img = image::open(p).unwrap().to_rgb8();
            (60..img.height())
                .any(|y| (40..80).any(|x| img.get_pixel(x, y).0.iter().all(|&c| c < 120)))
        };
        assert!(ink_left(&a) && !ink_left(&b));
        assert!(d.to_mermaid().unwrap().contains("t -->|\"2\"| m"));
    }

    #[test]
    fn a_straight_edge_avoids_boxes() {
        let r = (100, 100, 200, 150);
        assert!(crosses((150, 0), (150, 300), r), "straight through");
        assert!(!crosses((300, 0), (300, 300), r), "beside it");
        assert!(crosses((0, 0), (300, 250), r), "diagonally across");
        assert!(!crosses((0, 0), (80, 300), r), "diagonally past");
    }

    #[test]
    fn a_diagram_renders_and_its_png_follows_its_stages() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        render_diagram(&rag(false), "RAG", &a).unwrap();
        render_diagram(&rag(true), "RAG", &b).unwrap();
        let (pa, pb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_ne!(pa, pb, "another stage, another picture");
        let img = image::open(&b).unwrap().to_rgb8();
        assert_eq!(img.width(), WIDTH);
        assert!(
            img.height() > image::open(&a).unwrap().height(),
            "a row more"
        );
        // Deterministic: the same diagram gives the same bytes.
        render_diagram(&rag(true), "RAG", &a).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), pb);
    }
}
