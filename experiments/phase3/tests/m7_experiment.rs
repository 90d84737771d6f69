//! The m7 experiment's pieces on the small committed collection: a retriever from its config spec,
//! measured end to end, and the error for a collection that is nowhere.

use std::path::{Path, PathBuf};

use phase3_experiments::m7::measure;
use phase3_rag::beir::Collection;
use phase3_rag::retrievers::{find_collection, RetrieverSpec};
use phase3_rag::world::{World, WorldConfig};

fn mini_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/phase3-rag/tests/data/mini")
}

fn mini() -> Collection {
    Collection::load(&mini_dir()).unwrap()
}

#[test]
fn m7_experiment_measures_a_configured_retriever() {
    let spec: RetrieverSpec = toml::from_str(
        r#"
        name = "bm25"
        kind = "bm25"
        bm25 = { k1 = 1.5, b = 0.75, tokenizer = { stopwords = "none" } }
        "#,
    )
    .unwrap();
    let c = mini();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = viz::Context::full(tmp.path(), true);
    let (m, _) = measure(&ctx, &spec, &c, &mini_dir(), 10, &Default::default()).unwrap();
    assert_eq!(m.name, "bm25");
    assert_eq!(m.recall_curve.len(), 10);
    // Recall@k can only grow with k, and every scored query is a judged one.
    assert!(m.recall_curve.windows(2).all(|w| w[0] <= w[1] + 1e-12));
    assert!(m.eval.per_query.len() <= c.judged_queries().len());
    assert!(m.timings.query_p50_ms <= m.timings.query_p95_ms);
}

#[test]
fn m7_experiment_config_rejects_unknown_retriever_kinds_and_keys() {
    let bad_kind = toml::from_str::<RetrieverSpec>("name = \"x\"\nkind = \"splade\"\n");
    assert!(bad_kind.unwrap_err().to_string().contains("splade"));
    let bad_key = toml::from_str::<RetrieverSpec>("name = \"x\"\nkind = \"bm25\"\nk1 = 1.2\n");
    assert!(bad_key.is_err(), "a misplaced key must not be ignored");
}

#[test]
fn m7_experiment_hybrid_fuses_only_retrievers_built_before_it() {
    let hybrid: RetrieverSpec =
        toml::from_str("name = \"h\"\nkind = \"hybrid\"\nof = [\"bm25\"]\n").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = viz::Context::full(tmp.path(), true);
    let e = measure(&ctx, &hybrid, &mini(), &mini_dir(), 10, &Default::default())
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("`bm25`"), "{e:#}");
}

#[test]
fn m7_experiment_missing_collection_says_where_to_put_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = viz::Context::full(tmp.path(), true);
    let e = find_collection(&ctx, "nowhere").unwrap_err().to_string();
    assert!(
        e.contains("nowhere") && e.contains("corpus.jsonl") && e.contains(".data"),
        "{e}"
    );
}

/// The dual encoder trains on a world's training questions, is measured on its test questions,
/// and logs a falling loss; a collection without training questions skips it, saying why.
#[test]
fn m7_experiment_dual_encoder_trains_on_the_training_questions() {
    let spec: RetrieverSpec = toml::from_str(
        r#"
        name = "dual"
        kind = "dual"
        dual = { buckets = 4096, dim = 32, steps = 60, batch_size = 16, warmup = 5, log_interval = 20 }
        "#,
    )
    .unwrap();
    assert!(spec.skip_reason(&mini_dir()).unwrap().contains("train.tsv"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("world");
    World::generate(&WorldConfig::default())
        .unwrap()
        .write_beir(&dir)
        .unwrap();
    assert_eq!(spec.skip_reason(&dir), None);
    let ctx = viz::Context::full(tmp.path(), true);
    let c = Collection::load(&dir).unwrap();
    let (m, _) = measure(&ctx, &spec, &c, &dir, 10, &Default::default()).unwrap();
    let log = m.training.expect("a training log");
    assert!(log.pairs > 50, "{} pairs", log.pairs);
    let (first, last) = (log.loss[0].1, log.loss.last().unwrap().1);
    assert!(last < first, "loss {first} -> {last}");
    // Better than chance (10 of ~300 documents) on test questions it never saw.
    assert!(
        m.eval.mean.recall[&10] > 0.1,
        "recall@10 {}",
        m.eval.mean.recall[&10]
    );
}
