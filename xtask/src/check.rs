//! `cargo xtask check`: the portfolio's links, figures and records are consistent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Markdown documents whose links must resolve and which may reference figures.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "experiments_log.md",
        "visualizations/README.md",
    ]
    .iter()
    .map(|d| root.join(d))
    .filter(|p| p.exists())
    .collect();
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        let mut more: Vec<PathBuf> = crates
            .flatten()
            .map(|c| c.path().join("README.md"))
            .filter(|p| p.exists())
            .collect();
        more.sort();
        docs.extend(more);
    }
    docs
}

pub fn run(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let mut referenced = BTreeSet::new();
    let docs = documents(root);
    for doc in &docs {
        let text = std::fs::read_to_string(doc)?;
        let base = doc.parent().unwrap_or(root);
        for link in viz::log::links(&text) {
            let target = base.join(&link);
            if !target.exists() {
                problems.push(format!(
                    "{} links {link}, which does not exist",
                    rel(root, doc)
                ));
            } else if let Ok(canon) = target.canonicalize() {
                referenced.insert(canon);
            }
        }
        // A link to a heading must find the heading (the figure index links log entries by title).
        for (file, anchor) in viz::log::anchored_links(&text) {
            let target = if file.is_empty() {
                doc.clone()
            } else {
                base.join(&file)
            };
            if let Ok(t) = std::fs::read_to_string(&target) {
                if !viz::log::heading_anchors(&t).contains(&anchor) {
                    problems.push(format!(
                        "{} links {file}#{anchor}, a heading that does not exist",
                        rel(root, doc)
                    ));
                }
            }
        }
    }
    let figures = root.join("visualizations");
    let mut n_figures = 0;
    if let Ok(entries) = std::fs::read_dir(&figures) {
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        for f in files {
            n_figures += 1;
            let canon = f.canonicalize()?;
            if !referenced.contains(&canon) {
                problems.push(format!("{} is referenced by no document", rel(root, &f)));
            }
        }
    }
    let records = viz::record::list_records(&root.join("records"))?;
    for r in &records {
        match viz::record::Record::load_dir(r) {
            Ok(rec) if rec.meta.status != viz::record::Status::Finished => problems.push(format!(
                "record {} has status {:?}, not finished",
                rel(root, r),
                rec.meta.status
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("record {} does not parse: {e:#}", rel(root, r))),
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("check: {p}");
        }
        bail!("check failed: {} problem(s)", problems.len());
    }
    println!(
        "check: {}: {} documents, {n_figures} figures, {} records — all consistent",
        root.display(),
        docs.len(),
        records.len()
    );
    Ok(())
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}
