//! The experiments end to end with the smoke configs (`configs/phase1/quick/`): every
//! experiment runs, every figure is drawn from the records, every log entry is built, and the
//! same config and seed give byte-identical metrics.

use phase1_experiments::{figures, log_entries, run, EXPERIMENTS};
use std::path::{Path, PathBuf};
use viz::Context;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn quick_context(scratch: &Path) -> Context {
    Context::quick(&workspace_root(), scratch, true)
}

#[test]
fn experiments_quick_run_draw_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = quick_context(dir.path());
    for name in EXPERIMENTS.iter().map(|e| e.name) {
        run(&ctx, name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    let files = figures(&ctx).unwrap();
    for f in [
        "m1_gradient_check.png",
        "m1_gradient_check_errors.png",
        "m2_decision_boundaries.png",
        "m2_loss_curves.png",
        "m2_gradient_norms.png",
        "m2_dead_relu.png",
        "m3_optimizer_comparison.png",
        "m3_lr_sensitivity.png",
        "m3_optimizer_paths.png",
    ] {
        let path = ctx.figure(f);
        assert!(files.contains(&path), "{f} not returned");
        assert!(
            std::fs::metadata(&path).unwrap().len() > 10_000,
            "{f} looks empty"
        );
    }
    let entries = log_entries(&ctx).unwrap();
    assert_eq!(entries.len(), EXPERIMENTS.len());
    for e in &entries {
        assert!(
            EXPERIMENTS.iter().any(|x| x.name == e.id),
            "entry id {}",
            e.id
        );
        // The main results may be folded into the details (a figure shows them), never missing.
        let shown = format!("{}{}", e.results, e.details);
        assert!(!shown.trim().is_empty() && !e.discussion.trim().is_empty());
        assert!(!e.takeaway.trim().is_empty());
    }
    // Optional: keep the quick figures for a human to look at.
    if let Ok(keep) = std::env::var("PHASE1_KEEP_FIGURES") {
        std::fs::create_dir_all(&keep).unwrap();
        for f in files {
            std::fs::copy(&f, Path::new(&keep).join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn experiments_unknown_name_lists_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(&quick_context(dir.path()), "m9_nothing")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m9_nothing") && err.contains("m2_classifiers"),
        "{err}"
    );
}

#[test]
fn experiments_are_deterministic() {
    // Same config, same seed => identical metrics, in two separate record folders.
    let metrics = |scratch: &Path| -> Vec<(String, String)> {
        let ctx = quick_context(scratch);
        run(&ctx, "m2_dead_relu").unwrap();
        run(&ctx, "m3_optimizer_comparison").unwrap();
        let mut out = Vec::new();
        for m in ["m2", "m3"] {
            let mut dirs: Vec<_> = std::fs::read_dir(ctx.records.join(m))
                .unwrap()
                .map(|d| d.unwrap().path())
                .collect();
            dirs.sort();
            for d in dirs {
                let text = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
                out.push((d.file_name().unwrap().to_string_lossy().into_owned(), text));
            }
        }
        out
    };
    let a = metrics(tempfile::tempdir().unwrap().path());
    let b = metrics(tempfile::tempdir().unwrap().path());
    assert!(!a.is_empty() && a.iter().all(|(_, t)| !t.is_empty()));
    assert_eq!(a, b);
}

/// Runs the FULL configs into `$PHASE1_FULL_OUT` (not the repository): for looking at the real
/// figures and timings before `cargo xtask phase1` exists. `cargo test --release -p phase1-mlp
/// --test experiments -- --ignored`.
#[test]
#[ignore]
fn experiments_full_configs_into_scratch() {
    let out = PathBuf::from(std::env::var("PHASE1_FULL_OUT").expect("set PHASE1_FULL_OUT"));
    let ctx = Context {
        root: workspace_root(),
        records: out.join("records"),
        figures: out.join("visualizations"),
        docs: out.clone(),
        data_cache: out.join(".data"),
        quick: false,
        quiet: true,
    };
    let only = std::env::var("PHASE1_ONLY").ok();
    for name in EXPERIMENTS.iter().map(|e| e.name) {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        run(&ctx, name).unwrap();
    }
    if only.is_none() {
        figures(&ctx).unwrap();
        for e in log_entries(&ctx).unwrap() {
            println!("{}\n", e.render("visualizations/"));
        }
    }
}
