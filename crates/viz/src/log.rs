//! The generated parts of `experiments_log.md` and of each phase's README.
//!
//! Each experiment owns one block:
//!
//! ```text
//! <!-- BEGIN GENERATED m3_optimizer_comparison -->
//! …regenerated from records…
//! <!-- END GENERATED m3_optimizer_comparison -->
//! ```
//!
//! Regenerating replaces what lies between an entry's markers and nothing else, so every byte a person
//! wrote outside them survives. An entry without markers yet is inserted before the first block of a
//! later milestone (or appended), which keeps the document in milestone order.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// One experiment's generated section.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Marker id, unique, `m<N>_<what>`.
    pub id: String,
    /// Milestone number (orders new entries).
    pub milestone: u32,
    pub title: String,
    /// One to three sentences a learner can quote: the effect, its noise and its verdict, from
    /// the records (the first thing the entry says).
    pub takeaway: String,
    pub question: String,
    /// Markdown: config summary, seeds, machine.
    pub setup: String,
    /// Markdown: the main numbers and table, all from records.
    pub results: String,
    /// Markdown: secondary numbers and tables, folded away with the secondary figures and the
    /// discussion (may be empty).
    pub details: String,
    /// Its figures in `visualizations/`, each with its kind and one-line caption.
    pub figures: Vec<Figure>,
    /// One paragraph of what the result shows.
    pub discussion: String,
}

impl LogEntry {
    /// The Markdown body, with figure links relative to the document (`figure_prefix` is the path from
    /// the document's folder to `visualizations/`).
    ///
    /// What a reader sees first: the title, the takeaway, the question, the setup, the main results
    /// and the main figure (the first key figure, else the first). Everything else — secondary
    /// results, the other figures and the discussion — sits in a `<details>` block that GitHub
    /// renders closed.
    pub fn render(&self, figure_prefix: &str) -> String {
        let mut s = format!("## {}\n\n", self.title.trim());
        s.push_str(&format!("**Takeaway.** {}\n\n", self.takeaway.trim()));
        s.push_str(&format!("**Question.** {}\n\n", self.question.trim()));
        s.push_str(&format!("**Setup.** {}\n\n", self.setup.trim()));
        // An entry whose main result is its figure (its table folded away) has no Results text.
        if !self.results.trim().is_empty() {
            s.push_str(&format!("**Results.**\n\n{}\n\n", self.results.trim()));
        }
        let figure = |f: &Figure| {
            let alt = f.file.trim_end_matches(".png");
            format!(
                "![{alt}]({figure_prefix}{})\n*{}*\n\n",
                f.file,
                f.caption.trim()
            )
        };
        let main = self.main_figure();
        if let Some(f) = main {
            s.push_str(&figure(f));
        }
        let others: Vec<&Figure> = self
            .figures
            .iter()
            .filter(|f| main.is_none_or(|m| m.file != f.file))
            .collect();
        s.push_str(&format!(
            "<details>\n<summary>{}</summary>\n\n",
            self.details_summary(others.len())
        ));
        if !self.details.trim().is_empty() {
            s.push_str(&format!("{}\n\n", self.details.trim()));
        }
        for f in others {
            s.push_str(&figure(f));
        }
        s.push_str(&format!(
            "**What it shows.** {}\n\n</details>\n",
            self.discussion.trim()
        ));
        s
    }

    /// The figure shown outside the fold: the first key figure, else the first.
    pub fn main_figure(&self) -> Option<&Figure> {
        self.figures
            .iter()
            .find(|f| f.key)
            .or_else(|| self.figures.first())
    }

    /// What the closed `<details>` block says it holds.
    fn details_summary(&self, figures: usize) -> String {
        let mut parts = Vec::new();
        if !self.details.trim().is_empty() {
            parts.push("more results".to_string());
        }
        match figures {
            0 => {}
            1 => parts.push("1 more figure".into()),
            n => parts.push(format!("{n} more figures")),
        }
        parts.push("what it shows".into());
        let last = parts.pop().unwrap_or_default();
        if parts.is_empty() {
            format!("Details: {last}")
        } else {
            format!("Details: {} and {last}", parts.join(", "))
        }
    }
}

/// What kind of figure it is: the sections of the figure index (`visualizations/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FigureKind {
    LossCurves,
    PerplexityCurves,
    DecisionBoundaries,
    GradientChecks,
    OptimizerComparisons,
    AttentionHeatmaps,
    /// What a model's parameters encode (e.g. a bigram table).
    LearnedWeights,
    SampleOutputs,
    PipelineDiagrams,
    /// Comparisons of measured numbers across settings (tables drawn as bars, ablations).
    EvaluationTables,
    /// Speed and agreement with a reference implementation.
    Benchmarks,
}

impl FigureKind {
    /// The section heading in the figure index.
    pub fn heading(self) -> &'static str {
        match self {
            FigureKind::LossCurves => "Loss curves",
            FigureKind::PerplexityCurves => "Perplexity curves",
            FigureKind::DecisionBoundaries => "Decision boundaries",
            FigureKind::GradientChecks => "Gradient checks",
            FigureKind::OptimizerComparisons => "Optimizer comparisons",
            FigureKind::AttentionHeatmaps => "Attention heatmaps",
            FigureKind::LearnedWeights => "Learned weights",
            FigureKind::SampleOutputs => "Sample outputs",
            FigureKind::PipelineDiagrams => "Pipeline diagrams",
            FigureKind::EvaluationTables => "Evaluation tables",
            FigureKind::Benchmarks => "Benchmarks",
        }
    }
}

/// One figure of a log entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// File name in `visualizations/`, `m<N>_<what>.png`.
    pub file: String,
    pub kind: FigureKind,
    /// One line: what the figure shows (no numbers that are not in the records).
    pub caption: String,
    /// Shown in the README's "Figures that matter".
    pub key: bool,
}

impl Figure {
    pub fn new(file: impl Into<String>, kind: FigureKind, caption: impl Into<String>) -> Figure {
        Figure {
            file: file.into(),
            kind,
            caption: caption.into(),
            key: false,
        }
    }
    /// Mark it as one of the figures that matter (the README shows it).
    pub fn key(mut self) -> Figure {
        self.key = true;
        self
    }
}

/// The README's "Figures that matter": every key figure, in milestone order, with its caption.
pub fn key_figures(phases: &[(String, Vec<LogEntry>)]) -> String {
    let mut entries: Vec<&LogEntry> = phases.iter().flat_map(|p| p.1.iter()).collect();
    entries.sort_by_key(|e| e.milestone);
    let mut out = String::from("| | |\n| --- | --- |\n");
    for e in entries {
        for f in e.figures.iter().filter(|f| f.key) {
            out.push_str(&format!(
                "| ![{alt}](visualizations/{file}) | **m{m}** — {cap} |\n",
                alt = f.file.trim_end_matches(".png"),
                file = f.file,
                m = e.milestone,
                cap = f.caption.trim().replace('|', "\\|"),
            ));
        }
    }
    out
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens.
pub fn heading_anchor(title: &str) -> String {
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The figure index (`visualizations/README.md`'s generated block): every figure of every entry, by
/// kind and by phase, with its caption, milestone and a link to its log entry. `phases` pairs each
/// phase's one-line description with its entries, in order. Fails on a figure without a caption or
/// one listed twice, so a new figure cannot join the portfolio undescribed.
pub fn figure_index(phases: &[(String, Vec<LogEntry>)]) -> Result<String> {
    // Anchors as GitHub numbers repeated headings in experiments_log.md: "-1", "-2", … on repeats.
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut rows: Vec<(usize, FigureKind, String, String)> = Vec::new(); // (phase, kind, row, file)
    let mut entries: Vec<(usize, &LogEntry)> = phases
        .iter()
        .enumerate()
        .flat_map(|(i, (_, es))| es.iter().map(move |e| (i, e)))
        .collect();
    entries.sort_by_key(|(_, e)| e.milestone);
    for (phase, e) in entries {
        let base = heading_anchor(&e.title);
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        for f in &e.figures {
            if f.caption.trim().is_empty() {
                bail!("figure {} of log entry `{}` has no caption", f.file, e.id);
            }
            if rows.iter().any(|r| r.3 == f.file) {
                bail!("figure {} is listed by two log entries", f.file);
            }
            let row = format!(
                "| [{file}]({file}) | m{m} | {cap} | [{title}](../experiments_log.md#{anchor}) |",
                file = f.file,
                m = e.milestone,
                cap = f.caption.trim().replace('|', "\\|"),
                title = e.title.trim(),
            );
            rows.push((phase, f.kind, row, f.file.clone()));
        }
    }
    let header = "| figure | milestone | what it shows | log entry |\n|---|---|---|---|\n";
    let mut out = format!(
        "{} figures, drawn from the run records by `cargo xtask figures` and listed here by \
         `cargo xtask log`.\n\n## By kind\n",
        rows.len()
    );
    let mut kinds: Vec<FigureKind> = rows.iter().map(|r| r.1).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds {
        out.push_str(&format!("\n### {}\n\n{header}", k.heading()));
        for r in rows.iter().filter(|r| r.1 == k) {
            out.push_str(&r.2);
            out.push('\n');
        }
    }
    out.push_str("\n## By phase\n");
    for (i, (about, _)) in phases.iter().enumerate() {
        if !rows.iter().any(|r| r.0 == i) {
            continue;
        }
        out.push_str(&format!("\n### {about}\n\n{header}"));
        for r in rows.iter().filter(|r| r.0 == i) {
            out.push_str(&r.2);
            out.push('\n');
        }
    }
    Ok(out)
}

fn begin(id: &str) -> String {
    format!("<!-- BEGIN GENERATED {id} -->")
}
fn end(id: &str) -> String {
    format!("<!-- END GENERATED {id} -->")
}

/// Milestone number of an id `m<N>_…` (0 when it has none).
fn milestone_of(id: &str) -> u32 {
    id.strip_prefix('m')
        .and_then(|r| r.split('_').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Every `(id, byte offset of its BEGIN line)` in the document, in order.
fn blocks(doc: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("<!-- BEGIN GENERATED ") {
            if let Some(id) = rest.strip_suffix("-->") {
                out.push((id.trim().to_string(), offset));
            }
        }
        offset += line.len();
    }
    out
}

/// Replace or insert the block `id` in `doc` with `body`. `where_` names the document in errors.
pub fn upsert(doc: &str, id: &str, milestone: u32, body: &str, where_: &str) -> Result<String> {
    let (b, e) = (begin(id), end(id));
    let block = format!("{b}\n{}\n{e}", body.trim_end());
    let starts: Vec<usize> = doc.match_indices(&b).map(|(i, _)| i).collect();
    if starts.len() > 1 {
        bail!("{where_}: marker `{b}` appears {} times", starts.len());
    }
    if let Some(&s) = starts.first() {
        let Some(rel) = doc[s..].find(&e) else {
            bail!("{where_}: `{b}` has no matching `{e}`; add the END marker or delete the block");
        };
        let stop = s + rel + e.len();
        return Ok(format!("{}{}{}", &doc[..s], block, &doc[stop..]));
    }
    // Not present yet: before the first block of a later milestone, else at the end.
    let next = blocks(doc)
        .into_iter()
        .find(|(other, _)| milestone_of(other) > milestone);
    Ok(match next {
        Some((_, at)) => format!("{}{}\n\n{}", &doc[..at], block, &doc[at..]),
        None => {
            let mut out = doc.trim_end_matches('\n').to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&block);
            out.push('\n');
            out
        }
    })
}

/// Regenerate every entry's block in the Markdown file at `path`, creating the file with `preamble` if it
/// is missing. Writes only when something changed.
pub fn update_file(
    path: &Path,
    entries: &[LogEntry],
    figure_prefix: &str,
    preamble: &str,
) -> Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => preamble.to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut doc = old.clone();
    let mut sorted: Vec<&LogEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.milestone);
    for e in sorted {
        if milestone_of(&e.id) != e.milestone {
            bail!("log entry id `{}` must start with m{}_", e.id, e.milestone);
        }
        doc = upsert(
            &doc,
            &e.id,
            e.milestone,
            &e.render(figure_prefix),
            &path.display().to_string(),
        )?;
    }
    if doc != old || !path.exists() {
        crate::write_atomic(path, doc.as_bytes())?;
    }
    Ok(())
}

/// Every relative link target (`](target)`) in a Markdown document, without `#anchors`; URLs skipped.
pub fn links(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(j) = rest.find(')') {
            let target = rest[..j]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .split('#')
                .next()
                .unwrap_or("");
            if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_string());
            }
            rest = &rest[j..];
        }
    }
    out
}

/// Every `(file, anchor)` of a relative link with a `#fragment` in `doc` (`file` empty for a link
/// within the document).
pub fn anchored_links(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(j) = rest.find(')') {
            let target = rest[..j].split_whitespace().next().unwrap_or("");
            if let Some((file, anchor)) = target.split_once('#') {
                if !file.contains("://") {
                    out.push((file.to_string(), anchor.to_string()));
                }
            }
            rest = &rest[j..];
        }
    }
    out
}

/// The anchors GitHub gives the headings of `doc`, repeats numbered `-1`, `-2`, … (headings inside
/// fenced code blocks are not headings).
pub fn heading_anchors(doc: &str) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut out = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let base = heading_anchor(line.trim_start_matches('#'));
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, m: u32, number: f64) -> LogEntry {
        LogEntry {
            id: id.into(),
            milestone: m,
            title: format!("m{m} — {id}"),
            takeaway: "It learns.".into(),
            question: "Does it learn?".into(),
            setup: "seed 0".into(),
            results: format!("val loss {number:.3}"),
            details: String::new(),
            figures: vec![Figure::new(
                format!("{id}.png"),
                FigureKind::LossCurves,
                "a test figure",
            )],
            discussion: "It does.".into(),
        }
    }

    #[test]
    fn prose_outside_markers_survives_two_regenerations() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("experiments_log.md");
        update_file(
            &path,
            &[entry("m2_classifiers", 2, 1.0)],
            "visualizations/",
            "# Log\n",
        )
        .unwrap();
        // A person writes around and between the generated blocks, with odd whitespace and Unicode.
        let human_top = "# Log\n\nMy notes — written by hand.  \n\n\n";
        let human_tail = "\n\nAfterword: see *above*. ✓\n  trailing spaces  \n";
        let doc = std::fs::read_to_string(&path).unwrap();
        let generated = &doc[doc.find("<!-- BEGIN").unwrap()..];
        std::fs::write(
            &path,
            format!("{human_top}{}{human_tail}", generated.trim_end()),
        )
        .unwrap();
        let before = std::fs::read_to_string(&path).unwrap();

        for round in 0..2 {
            let n = 2.0 + round as f64;
            update_file(
                &path,
                &[entry("m2_classifiers", 2, n), entry("m1_gradcheck", 1, n)],
                "visualizations/",
                "",
            )
            .unwrap();
            let doc = std::fs::read_to_string(&path).unwrap();
            assert!(
                doc.starts_with(human_top),
                "round {round}: prose before markers changed"
            );
            assert!(
                doc.ends_with(human_tail),
                "round {round}: prose after markers changed"
            );
            assert!(
                doc.contains(&format!("val loss {n:.3}")),
                "round {round}: block not regenerated"
            );
            // m1 goes in before m2 (milestone order), after the human preamble.
            assert!(doc.find("m1_gradcheck").unwrap() < doc.find("m2_classifiers").unwrap());
        }
        // Regenerating with the original numbers restores the original text byte for byte, m1 aside.
        update_file(
            &path,
            &[entry("m2_classifiers", 2, 1.0)],
            "visualizations/",
            "",
        )
        .unwrap();
        let doc = std::fs::read_to_string(&path).unwrap();
        let m1_start = doc.find("<!-- BEGIN GENERATED m1_gradcheck -->").unwrap();
        let m1_end = doc.find("<!-- END GENERATED m1_gradcheck -->").unwrap()
            + "<!-- END GENERATED m1_gradcheck -->\n\n".len();
        assert_eq!(format!("{}{}", &doc[..m1_start], &doc[m1_end..]), before);
    }

    #[test]
    fn missing_file_is_created_and_order_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log.md");
        update_file(
            &path,
            &[entry("m6_gpt", 6, 1.0), entry("m3_opt", 3, 1.0)],
            "v/",
            "# L\n",
        )
        .unwrap();
        update_file(&path, &[entry("m4_tok", 4, 1.0)], "v/", "").unwrap();
        let doc = std::fs::read_to_string(&path).unwrap();
        let (a, b, c) = (
            doc.find("m3_opt").unwrap(),
            doc.find("m4_tok").unwrap(),
            doc.find("m6_gpt").unwrap(),
        );
        assert!(a < b && b < c, "{doc}");
        assert!(doc.contains("![m6_gpt](v/m6_gpt.png)"));
    }

    #[test]
    fn unmatched_marker_is_an_error() {
        let err = upsert(
            "<!-- BEGIN GENERATED m1_x -->\nfoo\n",
            "m1_x",
            1,
            "b",
            "log.md",
        )
        .unwrap_err();
        assert!(err.to_string().contains("log.md"), "{err}");
    }

    #[test]
    fn figure_index_lists_every_figure_by_kind_and_phase() {
        let mut a = entry("m1_check", 1, 1.0);
        a.title = "m1 — Does backprop match?".into();
        a.figures = vec![
            Figure::new(
                "m1_a.png",
                FigureKind::GradientChecks,
                "analytic vs numeric",
            ),
            Figure::new("m1_b.png", FigureKind::LossCurves, "loss | steps"),
        ];
        let mut b = entry("m4_ngram", 4, 1.0);
        b.title = "m1 — Does backprop match?".into(); // a repeated heading gets GitHub's "-1"
        b.figures = vec![Figure::new("m4_c.png", FigureKind::LossCurves, "n-grams")];
        let idx = figure_index(&[
            ("Phase 1".into(), vec![a.clone()]),
            ("Phase 2".into(), vec![b.clone()]),
        ])
        .unwrap();
        assert!(idx.starts_with("3 figures"), "{idx}");
        let kinds = idx.split("## By phase").next().unwrap();
        let loss = &kinds[kinds.find("### Loss curves").unwrap()..];
        assert!(loss.contains("m1_b.png") && loss.contains("m4_c.png"));
        assert!(
            idx.contains("loss \\| steps"),
            "a | in a caption is escaped"
        );
        assert!(idx.contains("experiments_log.md#m1--does-backprop-match)"));
        assert!(idx.contains("experiments_log.md#m1--does-backprop-match-1)"));
        assert!(idx.contains("### Phase 2"));
        // A figure without a caption, or listed twice, is refused.
        b.figures = vec![Figure::new("m4_c.png", FigureKind::LossCurves, " ")];
        assert!(figure_index(&[("Phase 2".into(), vec![b.clone()])]).is_err());
        b.figures = vec![Figure::new("m1_a.png", FigureKind::LossCurves, "again")];
        assert!(figure_index(&[("P".into(), vec![a, b])]).is_err());
    }

    #[test]
    fn links_are_found() {
        let l = links("see ![a](visualizations/m1.png) and [b](../x.md#top) and [c](https://x.y)");
        assert_eq!(l, vec!["visualizations/m1.png", "../x.md"]);
    }
}
