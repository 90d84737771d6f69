//! m5/m6 experiments end to end on the quick configs (tiny models, a few steps) into a scratch
//! context: records, checkpoints, figures and log entries all come out, built from records.

use phase2_experiments::records::{metric, BenchFullSummary, CharGptSummary};
use std::path::PathBuf;

use phase2_experiments::{bench, m5, m6};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

#[test]
fn m6_quick_experiments_write_records_figures_and_log() {
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&root(), scratch.path(), true);
    phase2_experiments::run(&ctx, m6::GPT).unwrap();
    phase2_experiments::run(&ctx, m6::ABLATIONS).unwrap();
    phase2_experiments::run(&ctx, m5::ATTENTION).unwrap();
    assert!(phase2_experiments::run(&ctx, "m6_nope").is_err());

    let ch = viz::record::Record::load(&ctx, "m6", m6::CHAR_RUN).unwrap();
    let summary: CharGptSummary = ch.summary_as().unwrap();
    assert!(summary.fit.val_loss.is_finite());
    assert!(summary.kv.kv_tokens_per_s > 0.0);
    assert!(!ch.series(metric::VAL_BPC).unwrap().is_empty());
    let samples = ch.text("samples").unwrap();
    assert!(
        samples.contains("### step 0") && samples.contains("### step 20"),
        "{samples}"
    );
    // The checkpoint loads into the inference handle and continues a prompt.
    let ckpt = phase2_lm::checkpoint::dir_for(&ctx, m6::CHAR_RUN);
    let sampling = phase2_lm::generate::Sampling {
        temperature: 0.8,
        top_k: Some(5),
        top_p: None,
    };
    let mut g = phase2_lm::generator::Generator::from_checkpoint(&ckpt, sampling).unwrap();
    let out = g.complete("ROMEO:", 10, &[], 1).unwrap();
    assert_eq!(out.text.chars().count(), 10, "{:?}", out.text);

    let specs: Vec<_> = m6::figures(&ctx)
        .unwrap()
        .into_iter()
        .chain(m5::figures(&ctx).unwrap())
        .collect();
    viz::phase::render(&ctx, &specs).unwrap();
    let figs: Vec<String> = specs.iter().map(|s| s.file.clone()).collect();
    for f in [
        "m6_loss_curves.png",
        "m6_perplexity.png",
        "m6_ablations.png",
        "m5_attention_heatmap.png",
        "m5_head_specialization.png",
    ] {
        assert!(figs.contains(&f.to_string()), "missing {f} in {figs:?}");
        assert!(ctx.figure(f).metadata().unwrap().len() > 1000);
    }
    let entries: Vec<String> = m6::log_entries(&ctx)
        .unwrap()
        .into_iter()
        .chain(m5::log_entries(&ctx).unwrap())
        .map(|e| e.id)
        .collect();
    assert_eq!(entries, vec!["m6_gpt", "m6_ablations", "m5_attention"]);
}

#[test]
fn m6_quick_bench_records_rows_and_history() {
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&root(), scratch.path(), true);
    bench::bench(&ctx, None, Some(2)).unwrap();
    bench::bench(&ctx, None, None).unwrap();
    let rec = viz::record::Record::load(&ctx, "m6", bench::BENCH_RUN).unwrap();
    let rows: Vec<bench::BenchRow> = rec.artifact("rows").unwrap();
    assert!(
        !rows.is_empty()
            && rows
                .iter()
                .all(|r| r.tokens_per_s > 0.0 && r.rounds.len() == 2)
    );
    let history: Vec<bench::HistoryEntry> = rec.artifact("history").unwrap();
    assert_eq!(history.len(), 2);
    let figs = m6::figures(&ctx).unwrap();
    assert!(figs.iter().any(|s| s.file == "m6_training_throughput.png"));
    viz::phase::render(&ctx, &figs).unwrap();

    // --full: the whole (quick) config for two seeds, scored on the whole validation split too.
    bench::bench_full(&ctx, None, 2).unwrap();
    let rec = viz::record::Record::load(&ctx, "m6", bench::BENCH_FULL_RUN).unwrap();
    let rows: Vec<bench::BenchRow> = rec.artifact("rows").unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].seed, rows[1].seed), (Some(1337), Some(1338)));
    let full: Vec<f64> = rows.iter().map(|r| r.val_loss_full.unwrap()).collect();
    assert!(
        full.iter().all(|v| v.is_finite() && *v < 65f64.ln()),
        "whole-split loss {full:?}"
    );
    assert_ne!(full[0], full[1], "different seeds, different runs");
    let mean = (full[0] + full[1]) / 2.0;
    let summary: BenchFullSummary = rec.summary_as().unwrap();
    assert!((summary.val_loss_full.unwrap() - mean).abs() < 1e-12);
}
