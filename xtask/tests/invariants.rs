//! ARCHITECTURE.md's invariants, checked on the source rather than stated in prose.
//!
//! - Library modules never import experiments: outside a crate's `src/experiments/` no file names a
//!   path through an `experiments` module (`crate::experiments::…`, `phase3_rag::experiments`).
//! - No non-test function over 150 lines and no source file over 1,000 lines, except the ones listed
//!   here as debt to pay (issue 24); the lists may only shrink: a listed item that is now short
//!   fails too, so it is struck off.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 150;
const MAX_FILE_LINES: usize = 1000;

/// Functions over the limit today, `path:function`, to be split.
const LONG_FUNCTIONS: &[&str] = &[
    "crates/phase1-mlp/src/experiments/m2.rs:log_entries",
    "crates/phase1-mlp/src/experiments/m3.rs:log_entries",
    "crates/phase2-lm/src/experiments/bench.rs:bench_config",
    "crates/phase2-lm/src/experiments/m6.rs:figures",
    "crates/phase2-lm/src/experiments/m6.rs:gpt_entry",
    "crates/phase2-lm/src/experiments/m6_long.rs:figures",
    "crates/phase2-lm/src/experiments/m6_long.rs:long_entry",
    "crates/phase3-rag/src/experiments/m7.rs:log_entries",
    "crates/phase3-rag/src/experiments/m8.rs:log_entries",
    "crates/phase3-rag/src/experiments/m8.rs:run_reader",
    "crates/phase3-rag/src/experiments/m9.rs:log_entries",
    "crates/phase4-agents/src/experiments/m10.rs:log_entries",
    "crates/phase4-agents/src/experiments/m10.rs:run_agent",
    "crates/phase4-agents/src/experiments/m11.rs:log_entries",
    "crates/phase4-agents/src/experiments/m12.rs:log_entries",
    "crates/serve/src/experiments.rs:log_entries",
    "crates/serve/src/experiments.rs:run_serving",
    "crates/viz/examples/gallery.rs:main",
];

/// Files over the limit today, to be split.
const LONG_FILES: &[&str] = &[
    "crates/phase2-lm/src/experiments/m6.rs",
    "crates/phase2-lm/src/experiments/m6_long.rs",
    "crates/phase3-rag/src/experiments/m8.rs",
    "crates/phase4-agents/src/experiments/m10.rs",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `crates/` and `xtask/`, relative to the root, sorted.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "target" && e.file_name() != "data" {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = root();
    let mut out = Vec::new();
    walk(&root.join("crates"), &mut out);
    walk(&root.join("xtask"), &mut out);
    let mut rel: Vec<PathBuf> = out
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    rel.sort();
    rel
}

fn is_test_file(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "tests")
}

/// `(name, lines)` of every function in `text` before its `#[cfg(test)]` module, counted from the
/// `fn` line to the closing brace at the same indentation.
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let Some(pos) = trimmed.find("fn ") else {
            continue;
        };
        let head = &trimmed[..pos];
        let is_decl = head.split_whitespace().all(|w| {
            [
                "pub",
                "pub(crate)",
                "pub(super)",
                "async",
                "unsafe",
                "const",
                "extern",
            ]
            .contains(&w)
        });
        if !is_decl || trimmed.starts_with("//") {
            continue;
        }
        let name: String = trimmed[pos + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The signature ends in `;` (a declaration), `{` (a body follows) or `{ … }` (one line).
        for (j, l) in lines[i..end].iter().enumerate() {
            let t = l.trim_end();
            if t.ends_with(';') && !t.contains('{') {
                break;
            }
            if t.ends_with('}') && t.contains('{') {
                out.push((name, j + 1));
                break;
            }
            if t.ends_with('{') {
                let close = format!("{}}}", " ".repeat(indent));
                if let Some(len) = lines[i + j..end].iter().position(|l| *l == close) {
                    out.push((name, j + len + 1));
                }
                break;
            }
        }
    }
    out
}

#[test]
fn libraries_never_import_experiments() {
    let mut offenders = Vec::new();
    for p in sources() {
        let s = p.to_string_lossy().to_string();
        let in_experiments = s.contains("/experiments/") || s.ends_with("/experiments.rs");
        if is_test_file(&p) || in_experiments || s.starts_with("xtask/") {
            continue;
        }
        let text = std::fs::read_to_string(root().join(&p)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            // A path through an experiments module: `crate::experiments::…`, `phase3_rag::experiments`.
            if code.contains("experiments::") || code.contains("::experiments") {
                offenders.push(format!("{s}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "library code imports experiments:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn functions_and_files_stay_short() {
    let mut long_fns = BTreeSet::new();
    let mut long_files = BTreeSet::new();
    for p in sources() {
        if is_test_file(&p) {
            continue;
        }
        let text = std::fs::read_to_string(root().join(&p)).unwrap();
        let s = p.to_string_lossy().to_string();
        if text.lines().count() > MAX_FILE_LINES {
            long_files.insert(s.clone());
        }
        for (name, n) in functions(&text) {
            if n > MAX_FN_LINES {
                long_fns.insert(format!("{s}:{name}"));
            }
        }
    }
    let listed_fns: BTreeSet<String> = LONG_FUNCTIONS.iter().map(|s| s.to_string()).collect();
    let listed_files: BTreeSet<String> = LONG_FILES.iter().map(|s| s.to_string()).collect();
    let new_fns: Vec<_> = long_fns.difference(&listed_fns).collect();
    let paid_fns: Vec<_> = listed_fns.difference(&long_fns).collect();
    let new_files: Vec<_> = long_files.difference(&listed_files).collect();
    let paid_files: Vec<_> = listed_files.difference(&long_files).collect();
    assert!(
        new_fns.is_empty() && new_files.is_empty(),
        "over {MAX_FN_LINES} lines: {new_fns:#?}\nover {MAX_FILE_LINES} lines: {new_files:#?}"
    );
    assert!(
        paid_fns.is_empty() && paid_files.is_empty(),
        "short now, strike them off the lists: {paid_fns:#?} {paid_files:#?}"
    );
}

#[test]
fn function_lengths_are_measured() {
    let text = "fn a() {\n    x;\n}\n\npub fn b(\n    y: u8,\n) {\n    if y {\n    }\n}\ntrait T {\n    fn d(&self);\n    fn e(&self) -> u8 { 1 }\n}\n#[cfg(test)]\nfn c() {\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".into(), 3), ("b".into(), 6), ("e".into(), 1)]
    );
}
