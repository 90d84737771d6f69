//! `cargo xtask check`: the portfolio's links, figures and records are consistent, and no run was
//! left half-done: a record directory without `meta.json`, a record not `finished`, what a killed or
//! failed run left beside a record ([`viz::record::staging`]), or a figure whose records are missing
//! is a problem, named with the record it concerns.

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
    let records = check_records(root, &mut problems)?;
    check_figures_can_be_drawn(root, &mut problems)?;
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
        records
    );
    Ok(())
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Every record parses and is finished; every record directory holds a `meta.json`; what interrupted
/// or failed runs left beside a record is named, with the state of the record itself. Returns the
/// number of records.
fn check_records(root: &Path, problems: &mut Vec<String>) -> Result<usize> {
    use viz::record::{LeftoverKind, Record, Status};
    let records_root = root.join("records");
    let dirs = viz::record::list_record_dirs(&records_root)?;
    let mut n = 0;
    for r in &dirs {
        if !r.join("meta.json").exists() {
            problems.push(format!(
                "{} has no meta.json: not a record (a run destroyed it, or it was never one)",
                rel(root, r)
            ));
            continue;
        }
        n += 1;
        match Record::load_dir(r) {
            Ok(rec) if rec.meta.status != Status::Finished => problems.push(format!(
                "record {} has status {:?}, not finished",
                rel(root, r),
                rec.meta.status
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("record {} does not parse: {e:#}", rel(root, r))),
        }
    }
    for l in viz::record::leftovers(&records_root)? {
        let record = rel(root, &l.record);
        let state = record_state(&l.record);
        let what = match l.kind {
            LeftoverKind::Interrupted { pid, alive: true } => {
                println!("check: {record} is being re-run by process {pid}; {state}");
                continue;
            }
            LeftoverKind::Interrupted { pid, alive: false } => format!(
                "a run of {record} was killed before it finished (process {pid} is gone) and left {}; {state}. Delete it, or run the experiment again",
                rel(root, &l.path)
            ),
            LeftoverKind::Replaced { pid } => format!(
                "process {pid} was killed while replacing {record}: the earlier record is at {}; {state}. Move it back, or run the experiment again",
                rel(root, &l.path)
            ),
            LeftoverKind::Failed => format!(
                "a run of {record} failed and is kept at {}; {state}",
                rel(root, &l.path)
            ),
        };
        problems.push(what);
    }
    Ok(n)
}

/// What stands at a record's place: the earlier record untouched (its commit), or nothing.
fn record_state(dir: &Path) -> String {
    match viz::record::Record::load_dir(dir) {
        Ok(r) => format!(
            "the record itself is the earlier run, untouched (status {:?}, commit {})",
            r.meta.status,
            r.meta.git_commit.chars().take(10).collect::<String>()
        ),
        Err(_) if dir.exists() => "the record itself does not load".to_string(),
        Err(_) => "there is no record".to_string(),
    }
}

/// Every phase's figures can be drawn from the records (into a scratch folder, so nothing committed
/// changes), they keep the house style ([`viz::plot::style_conflicts`]) and draw no text under
/// [`viz::plot::MIN_TEXT_PX`], and every committed figure
/// is among them: a figure whose record is missing is a problem. (A phase skips a figure whose
/// record it cannot find, so the set is what tells.)
fn check_figures_can_be_drawn(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut ctx = viz::Context::full(root, true);
    ctx.figures = scratch.path().join("visualizations");
    ctx.docs = scratch.path().to_path_buf();
    let mut drawn = BTreeSet::new();
    let mut specs = Vec::new();
    for p in crate::phases::built() {
        match p
            .figure_specs(&ctx)
            .and_then(|s| viz::phase::render(&ctx, &s).map(|_| s))
        {
            Ok(s) => specs.extend(s),
            Err(e) => problems.push(format!("{}'s figures cannot be drawn: {e:#}", p.name)),
        }
    }
    drawn.extend(specs.iter().map(|s| std::ffi::OsString::from(&s.file)));
    problems.extend(
        viz::plot::style_conflicts(&specs)
            .into_iter()
            .map(|c| format!("house style: {c}")),
    );
    let smallest = viz::plot::smallest_text_px();
    if smallest < viz::plot::MIN_TEXT_PX {
        problems.push(format!(
            "a figure draws text {smallest} px high, under {} px (9 px at README width)",
            viz::plot::MIN_TEXT_PX
        ));
    }
    let Ok(entries) = std::fs::read_dir(root.join("visualizations")) else {
        return Ok(());
    };
    let mut committed: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    committed.sort();
    for f in committed {
        if !f.file_name().is_some_and(|n| drawn.contains(n)) {
            problems.push(format!(
                "{} is drawn by no phase from the records: a record it needs is missing",
                rel(root, &f)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The house style holds over every figure the committed records draw: an entity is drawn in
    /// its own style wherever it appears, and a key label means one style across the set. (Builds
    /// the figures' specs only; drawing them is `cargo xtask check`'s and CI's job.)
    #[test]
    fn every_committed_figure_keeps_the_house_style() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ctx = viz::Context::full(root, true);
        let mut specs = Vec::new();
        for p in crate::phases::built() {
            specs.extend(p.figure_specs(&ctx).unwrap());
        }
        assert!(specs.len() >= 40, "only {} figures built", specs.len());
        let conflicts = viz::plot::style_conflicts(&specs);
        assert!(conflicts.is_empty(), "{}", conflicts.join("\n"));
    }
}
