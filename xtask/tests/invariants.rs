//! ARCHITECTURE.md's invariants, checked on the source rather than stated in prose.
//!
//! - Libraries below, experiments above: a library crate (`crates/*`) depends on no experiment crate
//!   (`experiments/*`), and none but `viz` itself on `viz` (so none compiles plotters); no library
//!   source names an experiment crate.
//! - No non-test function over 150 lines and no source file over 1,000 lines, anywhere in the
//!   workspace (the last of the 25 functions and 6 files over them at the start of issue 24 were
//!   split, and the debt list that held them is gone).

use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 150;
const MAX_FILE_LINES: usize = 1000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `crates/`, `experiments/` and `xtask/`, relative to the root, sorted.
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
    walk(&root.join("experiments"), &mut out);
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

/// The names in a `Cargo.toml`'s `[dependencies]` table (not dev- or build-dependencies).
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[dependencies]";
        } else if inside && !t.is_empty() && !t.starts_with('#') {
            let name = t.split(['.', ' ', '=']).next().unwrap_or("");
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn libraries_never_depend_on_experiments_or_figures() {
    let root = root();
    let experiments: Vec<String> = std::fs::read_dir(root.join("experiments"))
        .unwrap()
        .flatten()
        .map(|e| {
            let m = std::fs::read_to_string(e.path().join("Cargo.toml")).unwrap();
            let name = m.lines().find_map(|l| l.strip_prefix("name = ")).unwrap();
            name.trim_matches('"').to_string()
        })
        .collect();
    assert!(experiments.len() >= 5, "experiment crates: {experiments:?}");
    let mut offenders = Vec::new();
    let mut libraries = 0;
    for e in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let Ok(manifest) = std::fs::read_to_string(e.path().join("Cargo.toml")) else {
            continue;
        };
        libraries += 1;
        let lib = e.file_name().to_string_lossy().to_string();
        for dep in normal_dependencies(&manifest) {
            let is_viz = dep == "viz" || dep == "plotters";
            if experiments.contains(&dep) || (is_viz && lib != "viz") {
                offenders.push(format!("crates/{lib}/Cargo.toml depends on {dep}"));
            }
        }
    }
    assert!(libraries >= 9, "library crates found: {libraries}");
    for p in sources() {
        let s = p.to_string_lossy().to_string();
        if !s.starts_with("crates/") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&p)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("_experiments::") || code.contains("::experiments") {
                offenders.push(format!("{s}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libraries must sit below experiments and figures:\n{}",
        offenders.join("\n")
    );
}

/// Every entry of the experiment log is rendered from a template of its own: for each generated
/// block `<!-- BEGIN GENERATED <id> -->` of `experiments_log.md`, a file
/// `experiments/<phase>/templates/<id>.md` exists and the Rust that builds the entry names it.
#[test]
fn every_log_entry_has_its_template() {
    let root = root();
    let log = std::fs::read_to_string(root.join("experiments_log.md")).unwrap();
    let ids: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("<!-- BEGIN GENERATED "))
        .filter_map(|l| l.strip_suffix(" -->"))
        .collect();
    assert!(ids.len() >= 20, "log entries found: {ids:?}");
    let sources: String = sources()
        .iter()
        .filter(|p| p.starts_with("experiments"))
        .map(|p| std::fs::read_to_string(root.join(p)).unwrap())
        .collect();
    let mut missing = Vec::new();
    for id in ids {
        let file = format!("{id}.md");
        let exists = std::fs::read_dir(root.join("experiments"))
            .unwrap()
            .flatten()
            .any(|phase| phase.path().join("templates").join(&file).is_file());
        if !exists || !sources.contains(&format!("templates/{file}")) {
            missing.push(id);
        }
    }
    assert!(
        missing.is_empty(),
        "log entries without a template: {missing:?}"
    );
}

/// Words a reader sees in the log with every `<details>` block closed: every whitespace-separated
/// token outside `<details>…</details>` and image links (table pipes count: a table costs reading
/// time too).
fn visible_words(log: &str) -> usize {
    let mut visible = String::new();
    let mut rest = log;
    while let Some(start) = rest.find("<details>") {
        visible.push_str(&rest[..start]);
        rest = rest[start..]
            .find("</details>")
            .map_or("", |end| &rest[start + end + "</details>".len()..]);
    }
    visible.push_str(rest);
    visible
        .split_whitespace()
        .filter(|w| !w.starts_with("!["))
        .count()
}

#[test]
fn visible_words_skip_details_but_count_pipes() {
    let s = "## Title here\n| a | 1.5 |\n| --- | ---: |\n<details>\n<summary>x y</summary>\nmany words\n</details>\nend";
    // "##", "Title", "here"; three pipes, "a", "1.5"; three pipes, two rules; "end".
    assert_eq!(visible_words(s), 14);
}

#[test]
fn the_log_reads_in_ten_minutes_and_every_entry_opens_with_its_takeaway() {
    let log = std::fs::read_to_string(root().join("experiments_log.md")).unwrap();
    let words = visible_words(&log);
    assert!(
        words <= 6_000,
        "experiments_log.md shows {words} words with every <details> closed (at most 6,000)"
    );
    let mut without = Vec::new();
    for entry in log.split("<!-- BEGIN GENERATED ").skip(1) {
        let id = entry.split(' ').next().unwrap_or_default();
        let body: Vec<&str> = entry.lines().filter(|l| !l.trim().is_empty()).collect();
        // The marker, the title, then the takeaway.
        if !body.get(2).is_some_and(|l| l.starts_with("**Takeaway.**")) {
            without.push(id.to_string());
        }
    }
    assert!(
        without.is_empty(),
        "entries not opening with a takeaway: {without:?}"
    );
}

/// The measured-looking numbers a template types: decimals (`0.9`), percentages (`80 %`) and ratios
/// (`1.5×`), outside `{{ }}` / `{% %}` tags and `code spans`. Integers that name things (GPT-2,
/// nDCG@10, a 2-D dataset) are not counted.
fn typed_numbers(template: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '`']) {
        text.push_str(&rest[..i]);
        let close = match &rest[i..i + 1] {
            "`" => "`",
            _ if rest[i..].starts_with("{{") => "}}",
            _ if rest[i..].starts_with("{%") => "%}",
            _ if rest[i..].starts_with("{#") => "#}",
            _ => "",
        };
        if close.is_empty() {
            text.push('{');
            rest = &rest[i + 1..];
            continue;
        }
        text.push(' ');
        rest = rest[i + 1..]
            .find(close)
            .map_or("", |j| &rest[i + 1 + j + close.len()..]);
    }
    text.push_str(rest);
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect::<String>();
        let number = number.trim_end_matches('.');
        let mut k = j;
        while k < chars.len() && chars[k] == ' ' {
            k += 1;
        }
        let unit = chars.get(k).is_some_and(|c| *c == '%' || *c == '×');
        if number.contains('.') || unit {
            let end = if unit { k + 1 } else { i + number.len() };
            found.push(chars[i.saturating_sub(20)..end].iter().collect());
        }
        i = j;
    }
    found
}

#[test]
fn typed_numbers_are_found_outside_tags_and_code() {
    let t = "at {{ x }} % and `1.5` and {% if a %}0.7{% endif %}; GPT-2 and nDCG@10; target 0.9 × and 80 %";
    let found = typed_numbers(t);
    // Text between tags is typed text: the 0.7 counts; the tag's own contents do not.
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].ends_with("0.7"), "{found:?}");
    assert!(
        found[1].ends_with("0.9 ×") && found[2].ends_with("80 %"),
        "{found:?}"
    );
}

#[test]
fn templates_type_no_measured_number() {
    let root = root();
    let mut typed = Vec::new();
    for phase in std::fs::read_dir(root.join("experiments"))
        .unwrap()
        .flatten()
    {
        let Ok(files) = std::fs::read_dir(phase.path().join("templates")) else {
            continue;
        };
        for f in files.flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap();
            for n in typed_numbers(&text) {
                typed.push(format!("{}: …{n}", f.path().display()));
            }
        }
    }
    assert!(
        typed.is_empty(),
        "numbers typed into templates (pass them as values; published ones go in \
         configs/references.toml): {typed:#?}"
    );
}

#[test]
fn dependency_tables_are_read() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nviz.workspace = true\n# c\nregex = \"1\"\n\n[dev-dependencies]\nserve.workspace = true\n";
    assert_eq!(normal_dependencies(m), ["viz", "regex"]);
}

#[test]
fn functions_and_files_stay_short() {
    let mut long_fns = Vec::new();
    let mut long_files = Vec::new();
    let mut files = 0;
    for p in sources() {
        if is_test_file(&p) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(root().join(&p)).unwrap();
        let s = p.to_string_lossy().to_string();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            long_files.push(format!("{s}: {lines} lines"));
        }
        for (name, n) in functions(&text) {
            if n > MAX_FN_LINES {
                long_fns.push(format!("{s}:{name}: {n} lines"));
            }
        }
    }
    assert!(files > 100, "only {files} source files found");
    assert!(
        long_fns.is_empty() && long_files.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long_fns:#?}\nfiles over {MAX_FILE_LINES} lines: {long_files:#?}"
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

/// Metric keys passed as string literals in `text` (whitespace-free): a record read by
/// `.series("…")`, `.series_if_logged("…")` or `.last("…")`, or written by `.scalar(step, "…", …)` /
/// `.scalars(step, &[("…", …)])`. Keys are constants or functions of each crate's `records.rs`.
fn literal_metric_keys(text: &str) -> Vec<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut found = Vec::new();
    for read in [".series(\"", ".series_if_logged(\"", ".last(\""] {
        found.extend(
            compact
                .match_indices(read)
                .map(|(i, _)| compact[i..].chars().take(40).collect::<String>()),
        );
    }
    for (write, literal) in [(".scalar(", "\""), (".scalars(", "&[(\"")] {
        for (i, _) in compact.match_indices(write) {
            let args = &compact[i + write.len()..];
            let mut depth = 0;
            let comma = args.char_indices().find(|&(_, c)| {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            });
            if let Some((at, _)) = comma {
                if args[at + 1..].starts_with(literal) {
                    found.push(compact[i..].chars().take(40).collect());
                }
            }
        }
    }
    found
}

#[test]
fn literal_metric_keys_are_found() {
    let text = "rec.series(\"a\")?; rec\n  .last(\n \"b\"); w.scalar(s, \"c\", 1.0); w.scalars(s, &[(\"d\", 1.0)]);\
                rec.series(metric::A)?; w.scalar(f(x, y), KEY, 1.0); w.scalars(s, &[(K, 1.0)]); v.last();";
    assert_eq!(
        literal_metric_keys(text).len(),
        4,
        "{:?}",
        literal_metric_keys(text)
    );
}

/// Experiments name a summary field only through a typed struct (the string API is gone from
/// `viz::record`, so the compiler checks that) and a metric key only through a constant or function
/// of their crate's `records.rs` (this test), so a misspelt key cannot silently drop a line.
#[test]
fn experiments_name_metric_keys_only_in_their_records_module() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for p in sources() {
        let s = p.to_string_lossy().to_string();
        if !s.starts_with("experiments/") || is_test_file(&p) || s.ends_with("/records.rs") {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(root().join(&p)).unwrap();
        bad.extend(
            literal_metric_keys(&text)
                .into_iter()
                .map(|k| format!("{s}: {k}")),
        );
    }
    assert!(checked > 30, "only {checked} experiment sources found");
    assert!(bad.is_empty(), "metric keys typed as literals: {bad:#?}");
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[1..4], b"PNG", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Every committed figure is 1,200 px wide (README width scales it by two thirds) and at most
/// 2,400 px tall, so no figure is a strip of look-alike panels a reader scrolls through.
#[test]
fn figures_are_readable_at_readme_width() {
    let dir = root().join("visualizations");
    let mut n = 0;
    let mut bad = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "png") {
            continue;
        }
        n += 1;
        let (w, h) = png_size(&std::fs::read(&p).unwrap());
        if w != 1200 || h > 2400 {
            bad.push(format!("{}: {w} x {h}", p.display()));
        }
    }
    assert!(n > 30, "only {n} figures found");
    assert!(bad.is_empty(), "figures off size: {bad:#?}");
}
