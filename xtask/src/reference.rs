//! `cargo xtask quick-reference [--write]`: what the smoke run computes, compared with committed
//! reference values.
//!
//! CI redraws figures from the committed records, which cannot see a change in what a run computes.
//! This can: after `cargo xtask all --quick`, every record under `scratch/quick/records/` is reduced
//! to its summary numbers and, per metric key, the count, first, last and sum of its values, and
//! compared with `records/quick_reference.json`. Timings (keys naming seconds, minutes, rates,
//! speed-ups) vary from run to run and are left out. Values must agree to a relative 1e-6: the smoke
//! configs train for few steps, so a different summation order of the CPU's GEMM kernels moves a loss
//! in its last digits only, while a changed computation moves it further.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

/// Where the reference lives, from the workspace root.
pub const FILE: &str = "records/quick_reference.json";
const RELATIVE_TOLERANCE: f64 = 1e-6;

/// A metric key that measures time or speed, not what was computed.
fn is_timing(key: &str) -> bool {
    const MARKS: [&str; 8] = [
        "per_s", "seconds", "minutes", "speedup", "ratio_vs", "latency", "wall_s", "overtook",
    ];
    MARKS.iter().any(|m| key.contains(m)) || key.ends_with("_ms")
}

/// One metric key's values in step order, reduced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Series {
    n: usize,
    first: f64,
    last: f64,
    sum: f64,
}

/// One record, reduced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Digest {
    summary: BTreeMap<String, f64>,
    series: BTreeMap<String, Series>,
}

fn digest(record: &viz::record::Record) -> Digest {
    let summary = (record.meta.summary.iter())
        .filter(|(k, _)| !is_timing(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let mut by_key: BTreeMap<&str, Vec<&viz::record::Scalar>> = BTreeMap::new();
    for s in record.scalars.iter().filter(|s| !is_timing(&s.key)) {
        by_key.entry(&s.key).or_default().push(s);
    }
    let series = by_key
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|s| s.step); // stable: equal steps keep their logged order
            let reduced = Series {
                n: v.len(),
                first: v[0].value,
                last: v[v.len() - 1].value,
                sum: v.iter().map(|s| s.value).sum(),
            };
            (k.to_string(), reduced)
        })
        .collect();
    Digest { summary, series }
}

/// Every record under `records`, reduced, by `<milestone>/<name>`.
fn digests(records: &Path) -> Result<BTreeMap<String, Digest>> {
    let mut out = BTreeMap::new();
    for dir in viz::record::list_records(records)? {
        let record = viz::record::Record::load_dir(&dir)?;
        let name = dir.strip_prefix(records).unwrap_or(&dir);
        out.insert(name.display().to_string(), digest(&record));
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    a == b
        || (a.is_nan() && b.is_nan())
        || (a - b).abs() <= RELATIVE_TOLERANCE * a.abs().max(b.abs())
}

/// Every difference between `want` and `got`, one line each.
fn differences(want: &BTreeMap<String, Digest>, got: &BTreeMap<String, Digest>) -> Vec<String> {
    let mut out = Vec::new();
    for name in want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (Some(w), Some(g)) = (want.get(name), got.get(name)) else {
            let side = if want.contains_key(name) {
                "missing from the smoke run"
            } else {
                "new, not in the reference"
            };
            out.push(format!("{name}: {side}"));
            continue;
        };
        for key in w
            .summary
            .keys()
            .chain(g.summary.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (w.summary.get(key), g.summary.get(key)) {
                (Some(a), Some(b)) if close(*a, *b) => {}
                (a, b) => out.push(format!("{name}: summary {key}: reference {a:?}, now {b:?}")),
            }
        }
        for key in w
            .series
            .keys()
            .chain(g.series.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (w.series.get(key), g.series.get(key)) {
                (Some(a), Some(b))
                    if a.n == b.n
                        && close(a.first, b.first)
                        && close(a.last, b.last)
                        && close(a.sum, b.sum) => {}
                (a, b) => out.push(format!("{name}: metric {key}: reference {a:?}, now {b:?}")),
            }
        }
    }
    out
}

/// Compare the smoke run's records with the reference (or, with `write`, make them the reference).
pub fn run(root: &Path, write: bool) -> Result<()> {
    let quick = root.join("scratch").join("quick").join("records");
    if !quick.exists() {
        bail!(
            "{} does not exist: run `cargo xtask all --quick` first",
            quick.display()
        );
    }
    let got = digests(&quick)?;
    let path = root.join(FILE);
    if write {
        let json = serde_json::to_string_pretty(&got)? + "\n";
        viz::write_atomic(&path, json.as_bytes())?;
        println!("quick-reference: wrote {} records to {FILE}", got.len());
        return Ok(());
    }
    let want: BTreeMap<String, Digest> = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let diffs = differences(&want, &got);
    if !diffs.is_empty() {
        for d in &diffs {
            eprintln!("quick-reference: {d}");
        }
        bail!(
            "the smoke run computes something else than {FILE} holds ({} difference(s)); if on purpose, `cargo xtask quick-reference --write` and say why in the commit",
            diffs.len()
        );
    }
    println!(
        "quick-reference: {} records of the smoke run match {FILE} (timings left out)",
        got.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_left_out_and_changes_found() {
        assert!(
            is_timing("tokens_per_s") && is_timing("train_seconds") && is_timing("minilm_speedup")
        );
        assert!(!is_timing("val_loss") && !is_timing("train/loss") && !is_timing("success"));
        assert!(!is_timing("loss_second_copy") && !is_timing("max_rel_error/tanh___mse"));
        let mut a = Digest::default();
        a.summary.insert("val_loss".into(), 1.5);
        let want = BTreeMap::from([("m6/gpt".to_string(), a.clone())]);
        assert!(differences(&want, &want).is_empty());
        let mut b = a.clone();
        b.summary.insert("val_loss".into(), 1.5 * (1.0 + 1e-9));
        assert!(differences(&want, &BTreeMap::from([("m6/gpt".into(), b)])).is_empty());
        let mut c = a;
        c.summary.insert("val_loss".into(), 1.501);
        let d = differences(&want, &BTreeMap::from([("m6/gpt".into(), c)]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("val_loss"));
        assert_eq!(differences(&want, &BTreeMap::new()).len(), 1);
    }
}
