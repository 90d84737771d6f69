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
    pub question: String,
    /// Markdown: config summary, seeds, machine.
    pub setup: String,
    /// Markdown: numbers and tables, all from records.
    pub results: String,
    /// Figure files in `visualizations/`.
    pub figures: Vec<String>,
    /// One paragraph of what the result shows.
    pub discussion: String,
}

impl LogEntry {
    /// The Markdown body, with figure links relative to the document (`figure_prefix` is the path from
    /// the document's folder to `visualizations/`).
    pub fn render(&self, figure_prefix: &str) -> String {
        let mut s = format!("## {}\n\n", self.title.trim());
        s.push_str(&format!("**Question.** {}\n\n", self.question.trim()));
        s.push_str(&format!("**Setup.** {}\n\n", self.setup.trim()));
        s.push_str(&format!("**Results.**\n\n{}\n\n", self.results.trim()));
        for f in &self.figures {
            let alt = f.trim_end_matches(".png");
            s.push_str(&format!("![{alt}]({figure_prefix}{f})\n\n"));
        }
        s.push_str(&format!("**What it shows.** {}\n", self.discussion.trim()));
        s
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, m: u32, number: f64) -> LogEntry {
        LogEntry {
            id: id.into(),
            milestone: m,
            title: format!("m{m} — {id}"),
            question: "Does it learn?".into(),
            setup: "seed 0".into(),
            results: format!("val loss {number:.3}"),
            figures: vec![format!("{id}.png")],
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
    fn links_are_found() {
        let l = links("see ![a](visualizations/m1.png) and [b](../x.md#top) and [c](https://x.y)");
        assert_eq!(l, vec!["visualizations/m1.png", "../x.md"]);
    }
}
