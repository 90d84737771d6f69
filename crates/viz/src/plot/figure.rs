//! A figure as data: what to draw, built by an experiment from its records, not yet drawn. The
//! phase renders each one to `visualizations/<file>`; tests read the same values (every series, its
//! style, every title) without drawing anything.

use std::path::Path;

use anyhow::Result;

use super::entity::Entity;
use super::*;
use crate::diagram::Diagram;

/// One figure file: its name in `visualizations/` and what it draws.
pub struct FigureSpec {
    /// File name, e.g. `m1_gradient_check.png`.
    pub file: String,
    pub drawing: Drawing,
}

impl FigureSpec {
    pub fn new(file: impl Into<String>, drawing: impl Into<Drawing>) -> FigureSpec {
        FigureSpec {
            file: file.into(),
            drawing: drawing.into(),
        }
    }

    /// Draw it to `path`.
    pub fn render(&self, path: &Path) -> Result<()> {
        self.drawing.render(path)
    }
}

/// Every kind of figure the portfolio draws.
pub enum Drawing {
    Line(LineChart),
    LineGrid(LineGrid),
    Bars(GroupedBars),
    Dots(DotPlot),
    Scatter(ScatterGrid),
    Heatmap(Heatmap),
    HeatmapGrid(HeatmapGrid),
    Contour(ContourPaths),
    Decision(DecisionGrid),
    TextHeat(TextHeat),
    Diagram(DiagramFigure),
}

/// Line charts as panels under one title (see [`line_grid`]).
#[derive(Clone, Debug)]
pub struct LineGrid {
    pub title: String,
    pub panels: Vec<LineChart>,
    pub cols: usize,
    /// Panel height in pixels; `None` for [`line_grid`]'s default.
    pub panel_h: Option<u32>,
}

impl LineGrid {
    pub fn new(title: impl Into<String>, panels: Vec<LineChart>, cols: usize) -> LineGrid {
        LineGrid {
            title: title.into(),
            panels,
            cols,
            panel_h: None,
        }
    }
    /// Panels `px` tall (many rows of wide, short panels).
    pub fn panel_height(mut self, px: u32) -> LineGrid {
        self.panel_h = Some(px);
        self
    }
}

/// Heat maps as small multiples sharing one colour scale (see [`heatmap_grid`]).
#[derive(Clone, Debug)]
pub struct HeatmapGrid {
    pub title: String,
    pub panels: Vec<Heatmap>,
    pub cols: usize,
    /// Tick labels and axis titles only on the outer panels ([`heatmap_grid_shared_axes`]).
    pub shared_axes: bool,
}

impl HeatmapGrid {
    pub fn new(title: impl Into<String>, panels: Vec<Heatmap>, cols: usize) -> HeatmapGrid {
        HeatmapGrid {
            title: title.into(),
            panels,
            cols,
            shared_axes: false,
        }
    }
    pub fn shared_axes(mut self) -> HeatmapGrid {
        self.shared_axes = true;
        self
    }
}

/// Decision regions, one panel per dataset (see [`decision_boundaries`]).
#[derive(Clone, Debug)]
pub struct DecisionGrid {
    pub title: String,
    pub panels: Vec<DecisionPanel>,
    pub cols: usize,
}

/// A box-and-arrow diagram under a title (see [`render_diagram`]).
#[derive(Clone, Debug)]
pub struct DiagramFigure {
    pub title: String,
    pub diagram: Diagram,
}

impl Drawing {
    /// Draw it to `path` as a PNG.
    pub fn render(&self, path: &Path) -> Result<()> {
        match self {
            Drawing::Line(c) => c.render(path),
            Drawing::LineGrid(g) => match g.panel_h {
                Some(h) => line_grid_panels(&g.title, &g.panels, g.cols, h, path),
                None => line_grid(&g.title, &g.panels, g.cols, path),
            },
            Drawing::Bars(b) => b.render(path),
            Drawing::Dots(d) => d.render(path),
            Drawing::Scatter(s) => s.render(path),
            Drawing::Heatmap(h) => h.render(path),
            Drawing::HeatmapGrid(g) if g.shared_axes => {
                heatmap_grid_shared_axes(&g.title, &g.panels, g.cols, path)
            }
            Drawing::HeatmapGrid(g) => heatmap_grid(&g.title, &g.panels, g.cols, path),
            Drawing::Contour(c) => c.render(path),
            Drawing::Decision(d) => decision_boundaries(&d.title, &d.panels, d.cols, path),
            Drawing::TextHeat(t) => t.render(path),
            Drawing::Diagram(d) => render_diagram(&d.diagram, &d.title, path),
        }
    }
}

macro_rules! drawing_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Drawing {
            fn from(v: $ty) -> Drawing {
                Drawing::$variant(v)
            }
        })*
    };
}

drawing_from! {
    LineChart => Line,
    LineGrid => LineGrid,
    GroupedBars => Bars,
    DotPlot => Dots,
    ScatterGrid => Scatter,
    Heatmap => Heatmap,
    HeatmapGrid => HeatmapGrid,
    ContourPaths => Contour,
    DecisionGrid => Decision,
    TextHeat => TextHeat,
    DiagramFigure => Diagram,
}

/// One thing a figure draws in a style of its own (a line, a reference line, a group of dots or
/// points, a bar group, a box), as the renderer resolves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Styled {
    /// Its text in the key (or in its box).
    pub label: String,
    pub colour: RGBColor,
    pub dashed: bool,
    pub marker: Option<Marker>,
    /// Drawn as a line, so its dash is part of its style (not a bar, a box or a marker).
    pub line: bool,
    /// The entity that set its style; `None` for one that takes the palette in order.
    pub entity: Option<Entity>,
    /// A reference line (dashed whatever its entity).
    pub reference: bool,
}

impl Styled {
    /// A reference line (horizontal or vertical): dashed whatever its entity.
    pub(crate) fn reference(label: &str, colour: RGBColor, entity: Option<Entity>) -> Styled {
        Styled {
            label: label.to_string(),
            colour,
            dashed: true,
            marker: None,
            line: true,
            entity,
            reference: true,
        }
    }

    /// A filled mark with no dash: a bar group, a dot or point group (its `marker`), a box.
    pub(crate) fn mark(
        label: &str,
        colour: RGBColor,
        marker: Option<Marker>,
        entity: Option<Entity>,
    ) -> Styled {
        Styled {
            label: label.to_string(),
            colour,
            dashed: false,
            marker,
            line: false,
            entity,
            reference: false,
        }
    }
}

impl Drawing {
    /// Everything it draws in a style of its own.
    pub fn styled(&self) -> Vec<Styled> {
        match self {
            Drawing::Line(c) => c.styled(),
            Drawing::LineGrid(g) => g.panels.iter().flat_map(LineChart::styled).collect(),
            Drawing::Bars(b) => b.styled(),
            Drawing::Dots(d) => d.styled(),
            Drawing::Scatter(s) => s.styled(),
            Drawing::Diagram(d) => d.diagram.styled(),
            Drawing::Contour(c) => c.styled(),
            Drawing::Heatmap(_)
            | Drawing::HeatmapGrid(_)
            | Drawing::Decision(_)
            | Drawing::TextHeat(_) => Vec::new(),
        }
    }
}

/// What breaks the house style across `specs`: an entity drawn in a style other than its own (its
/// colour, and its dash where it is a line), and a key label drawn in two styles (two figures
/// disagreeing on what a name looks like). Empty when the set is consistent.
pub fn style_conflicts(specs: &[FigureSpec]) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut problems = Vec::new();
    // label -> every (style, file) it is drawn in
    let mut by_label: BTreeMap<&str, Vec<(&Styled, &str)>> = BTreeMap::new();
    let styled: Vec<(Vec<Styled>, &str)> = specs
        .iter()
        .map(|spec| (spec.drawing.styled(), spec.file.as_str()))
        .collect();
    for (elements, file) in &styled {
        for s in elements {
            if let Some(e) = s.entity {
                let own = e.style();
                let own_dash = s.line && !s.reference;
                if s.colour != colour(own.slot) || (own_dash && s.dashed != own.dashed) {
                    problems.push(format!(
                        "{file}: `{}` is drawn in {} but its entity {e:?} is {}",
                        s.label,
                        describe(s.colour, s.dashed),
                        describe(colour(own.slot), own.dashed)
                    ));
                }
            }
            by_label.entry(&s.label).or_default().push((s, file));
        }
    }
    // One colour per label wherever it is drawn, and one dash wherever it is a line (a marker's
    // shape or a bar is not a dash: a retriever is a line in one figure and dots in another).
    for (label, uses) in by_label {
        let colours: Vec<RGBColor> = uses.iter().map(|(s, _)| s.colour).collect();
        let dashes: Vec<bool> = uses
            .iter()
            .filter(|(s, _)| s.line)
            .map(|(s, _)| s.dashed)
            .collect();
        if colours.windows(2).any(|w| w[0] != w[1]) || dashes.windows(2).any(|w| w[0] != w[1]) {
            let mut list: Vec<String> = uses
                .iter()
                .map(|(s, f)| format!("{} in {f}", describe(s.colour, s.dashed && s.line)))
                .collect();
            list.dedup();
            problems.push(format!(
                "`{label}` is drawn in two styles: {}",
                list.join("; ")
            ));
        }
    }
    problems
}

/// "palette 3, dashed".
fn describe(c: RGBColor, dashed: bool) -> String {
    let name = PALETTE
        .iter()
        .position(|p| *p == c)
        .map_or(format!("{c:?}"), |i| format!("palette {i}"));
    if dashed {
        format!("{name}, dashed")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Series) -> FigureSpec {
        FigureSpec::new("f.png", LineChart::new("t", "x", "y").series(series))
    }

    #[test]
    fn a_label_in_two_styles_is_a_conflict_and_one_entity_everywhere_is_not() {
        let pts = vec![(0.0, 1.0), (1.0, 0.5)];
        let named = |e| chart(Series::new("validation", pts.clone()).entity(e));
        assert!(
            style_conflicts(&[named(Entity::Validation), named(Entity::Validation)]).is_empty()
        );
        // The same label once by its entity (orange, dashed) and once by position (blue, solid).
        let plain = chart(Series::new("validation", pts.clone()));
        let found = style_conflicts(&[named(Entity::Validation), plain]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`validation`"), "{found:?}");
        // A marker's shape is not a style: the entity's colour as dots agrees with its line.
        let dots = chart(
            Series::new("validation", pts.clone())
                .entity(Entity::Validation)
                .points(Marker::Diamond),
        );
        assert!(style_conflicts(&[named(Entity::Validation), dots]).is_empty());
    }

    #[test]
    fn a_reference_line_takes_its_entitys_colour_and_a_bar_group_its_entitys_colour() {
        let c = LineChart::new("t", "x", "y").hline_entity("n-gram", 1.0, Entity::NGram);
        let s = Drawing::from(c).styled();
        assert_eq!(s[0].colour, Entity::NGram.colour());
        assert!(s[0].reference && s[0].dashed);
        let b = GroupedBars::new("t", "y", vec!["a".into()])
            .group("closed book", vec![1.0])
            .entity_if(Some(Entity::ClosedBook))
            .group("other", vec![2.0]);
        let s = Drawing::from(b).styled();
        assert_eq!(s[0].colour, Entity::ClosedBook.colour());
        assert_eq!(s[1].colour, colour(1));
    }
}
