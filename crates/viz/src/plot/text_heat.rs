//! A text heat map: a tokenized text laid out as prose, each token on a background whose depth is a
//! weight (attention, a saliency score …), one panel per weighting, some tokens outlined. Where a
//! matrix heat map of a 1 × 200 attention row is a thin unreadable strip, this shows which *words*
//! are looked at.

use std::ops::Range;
use std::path::Path;

use anyhow::{ensure, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    bold, err, font, key, on_scratch, render_png, wrap, Area, PALETTE, PANEL_TITLE_PX, TITLE_PX,
    WIDTH,
};

const TEXT_PX: u32 = 20;
const NOTE_PX: u32 = 18;
const LINE_H: i32 = 30;
const MARGIN: i32 = 24;

/// Title height, the notes' wrapped lines, each token's box `(line, x, width)`.
type Measured = (u32, Vec<Vec<String>>, Vec<(i32, i32, i32)>);

/// Tokens, and per panel one weight per token.
#[derive(Clone, Debug)]
pub struct TextHeat {
    pub title: String,
    notes: Vec<String>,
    tokens: Vec<String>,
    panels: Vec<(String, Vec<f64>)>,
    marked: Range<usize>,
    marked_label: String,
}

impl TextHeat {
    /// `tokens` as they appear in the text (a token starting with a space is drawn with it; a
    /// newline inside a token starts a new line).
    pub fn new(title: impl Into<String>, tokens: Vec<String>) -> TextHeat {
        TextHeat {
            title: title.into(),
            notes: Vec::new(),
            tokens,
            panels: Vec::new(),
            marked: 0..0,
            marked_label: String::new(),
        }
    }

    /// A line of text under the title (wrapped).
    pub fn note(mut self, text: impl Into<String>) -> TextHeat {
        self.notes.push(text.into());
        self
    }

    /// A panel: the same text shaded by `weights` (one per token, ≥ 0).
    pub fn panel(mut self, title: impl Into<String>, weights: Vec<f64>) -> TextHeat {
        self.panels.push((title.into(), weights));
        self
    }

    /// Outlines tokens `range` in every panel; `label` says what they are in the key.
    pub fn mark(mut self, range: Range<usize>, label: impl Into<String>) -> TextHeat {
        self.marked = range;
        self.marked_label = label.into();
        self
    }

    /// Shade of a token: white to blue by the square root of its weight over the panel's largest,
    /// so that a panel's small weights stay visible beside its peak.
    fn shade(w: f64, max: f64) -> (RGBColor, bool) {
        let t = if max > 0.0 && w.is_finite() {
            (w.max(0.0) / max).sqrt().min(1.0)
        } else {
            0.0
        };
        let blue = PALETTE[0];
        let mix = |c: u8| (255.0 + t * (f64::from(c) - 255.0)).round() as u8;
        (RGBColor(mix(blue.0), mix(blue.1), mix(blue.2)), t > 0.55)
    }

    /// Each token's box `(line, x, width)` and the number of lines, laid out in `width` pixels.
    fn layout(&self, area: &Area, width: i32) -> Vec<(i32, i32, i32)> {
        let style = TextStyle::from(font(TEXT_PX));
        let mut out = Vec::with_capacity(self.tokens.len());
        let (mut line, mut x) = (0, 0);
        for t in &self.tokens {
            let shown = t.replace('\n', "⏎");
            let w = area
                .estimate_text_size(&shown, &style)
                .map_or(10, |(w, _)| w as i32)
                .max(6);
            if x > 0 && x + w > width {
                line += 1;
                x = 0;
            }
            out.push((line, x, w));
            x += w;
            if t.contains('\n') {
                line += 1;
                x = 0;
            }
        }
        out
    }

    /// Draws the figure to `path` (1200 px wide, as tall as the text needs).
    pub fn render(&self, path: &Path) -> Result<()> {
        ensure!(!self.panels.is_empty(), "a text heat map needs a panel");
        for (name, w) in &self.panels {
            ensure!(
                w.len() == self.tokens.len(),
                "panel `{name}` has {} weights for {} tokens",
                w.len(),
                self.tokens.len()
            );
        }
        let text_w = WIDTH as i32 - 2 * MARGIN;
        let measure = |area: &Area| -> Result<Measured> {
            let title_h = key::title_height(area, &self.title, bold(TITLE_PX))?;
            let note_style = TextStyle::from(font(NOTE_PX));
            let notes = self
                .notes
                .iter()
                .map(|n| wrap(area, n, &note_style, text_w))
                .collect();
            Ok((title_h, notes, self.layout(area, text_w)))
        };
        let (title_h, notes, boxes) = on_scratch(measure)?;
        let lines = boxes.iter().map(|b| b.0).max().map_or(1, |l| l + 1);
        let note_lines: i32 = notes.iter().map(|n| n.len() as i32).sum();
        let panel_h = PANEL_TITLE_PX as i32 + 14 + lines * LINE_H + 22;
        let header = title_h as i32 + 10 + note_lines * 24 + 44;
        let height = header + panel_h * self.panels.len() as i32 + 10;
        let marked_colour = PALETTE[3];
        render_png(path, height as u32, |area| {
            key::centred_title(area, &self.title, bold(TITLE_PX))?;
            let mut y = title_h as i32 + 10;
            for line in notes.iter().flatten() {
                area.draw(&Text::new(
                    line.clone(),
                    (MARGIN, y),
                    TextStyle::from(font(NOTE_PX)).pos(Pos::new(HPos::Left, VPos::Top)),
                ))
                .map_err(err)?;
                y += 24;
            }
            // The key: the shade ramp and the outline.
            let ky = y + 8;
            let ramp_w = 160;
            for i in 0..ramp_w {
                let (c, _) = Self::shade(f64::from(i) / f64::from(ramp_w - 1), 1.0);
                area.draw(&Rectangle::new(
                    [(MARGIN + i, ky), (MARGIN + i + 1, ky + 22)],
                    c.filled(),
                ))
                .map_err(err)?;
            }
            area.draw(&Rectangle::new(
                [(MARGIN, ky), (MARGIN + ramp_w, ky + 22)],
                RGBColor(120, 120, 120).stroke_width(1),
            ))
            .map_err(err)?;
            let key_style = TextStyle::from(font(NOTE_PX)).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(
                "0 → the panel's largest weight (shade ∝ √weight)".to_string(),
                (MARGIN + ramp_w + 10, ky + 11),
                key_style.clone(),
            ))
            .map_err(err)?;
            if !self.marked.is_empty() {
                let mx = MARGIN + 640;
                area.draw(&Rectangle::new(
                    [(mx, ky), (mx + 40, ky + 22)],
                    marked_colour.stroke_width(3),
                ))
                .map_err(err)?;
                area.draw(&Text::new(
                    self.marked_label.clone(),
                    (mx + 50, ky + 11),
                    key_style,
                ))
                .map_err(err)?;
            }
            let mut top = header;
            for (name, weights) in &self.panels {
                area.draw(&Text::new(
                    name.clone(),
                    (MARGIN, top),
                    TextStyle::from(bold(PANEL_TITLE_PX)).pos(Pos::new(HPos::Left, VPos::Top)),
                ))
                .map_err(err)?;
                let y0 = top + PANEL_TITLE_PX as i32 + 14;
                let max = weights.iter().copied().fold(0.0, f64::max);
                for (i, (t, &(line, x, w))) in self.tokens.iter().zip(&boxes).enumerate() {
                    let (bg, dark) = Self::shade(weights[i], max);
                    let (x0, yt) = (MARGIN + x, y0 + line * LINE_H);
                    area.draw(&Rectangle::new(
                        [(x0, yt), (x0 + w, yt + LINE_H - 2)],
                        bg.filled(),
                    ))
                    .map_err(err)?;
                    let colour = if dark { WHITE } else { BLACK };
                    area.draw(&Text::new(
                        t.replace('\n', "⏎"),
                        (x0, yt + (LINE_H - 2) / 2),
                        TextStyle::from(font(TEXT_PX))
                            .color(&colour)
                            .pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(err)?;
                    if self.marked.contains(&i) {
                        area.draw(&Rectangle::new(
                            [(x0, yt), (x0 + w, yt + LINE_H - 2)],
                            marked_colour.stroke_width(3),
                        ))
                        .map_err(err)?;
                    }
                }
                top += panel_h;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(weights: f64) -> TextHeat {
        let tokens: Vec<String> =
            "* Vedon Bels: He was born in the year 1971.\nQ: When was Vedon Bels born?\nA:"
                .split_inclusive([' ', '\n'])
                .map(str::to_string)
                .collect();
        let n = tokens.len();
        TextHeat::new("Where the answer looks", tokens)
            .note("a note under the title")
            .panel(
                "layer 0",
                (0..n).map(|i| (i as f64 * weights).sin().abs()).collect(),
            )
            .panel("layer 1", vec![0.0; n])
            .mark(8..9, "the answer in its passage")
    }

    #[test]
    fn text_heat_renders_deterministically_and_checks_its_weights() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        example(0.3).render(&a).unwrap();
        example(0.3).render(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        example(0.7).render(&b).unwrap();
        assert_ne!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "other weights, other shades"
        );
        assert_eq!(image::open(&a).unwrap().width(), WIDTH);
        let short = TextHeat::new("t", vec!["a".into(), "b".into()]).panel("p", vec![1.0]);
        let e = short.render(&a).unwrap_err().to_string();
        assert!(e.contains("1 weights for 2 tokens"), "{e}");
        let (dark, _) = TextHeat::shade(1.0, 1.0);
        assert_eq!(dark, PALETTE[0], "the largest weight is full blue");
        assert_eq!(TextHeat::shade(0.0, 1.0).0, RGBColor(255, 255, 255));
    }
}
