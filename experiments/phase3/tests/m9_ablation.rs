//! m8 and m9 end to end on a tiny world: the reader trains and is asked under every condition,
//! then the ablation grid runs every chunking × retriever × k cell on its checkpoint; records,
//! figures and log entries come out, the grid is deterministic, and bad settings are errors that
//! name the key.

use phase3_experiments::records::{metric, AblationSummary, ReaderSummary};
use phase3_experiments::{m8, m9};
use viz::record::Record;

const READER: &str = r#"
chunks = "sentence"
ks = [1, 2]
eval_questions = 8
curve_questions = 3
answer_tokens = 6
pool = 60
extra_questions = 2
document_fraction = 0.1
distractors = ["bm25", "bm25_stemmed"]
seed = 3
world = { seed = 3, people = 40, companies = 12, cities = 8, universities = 5, countries = 2, lookup_questions = 60, indirect_questions = 4, multi_hop_questions = 4, numeric_questions = 4, comparison_questions = 4 }

[[chunking]]
name = "sentence"
chunk = { kind = "sentences", max_chars = 120 }

[[chunking]]
name = "document"
chunk = { kind = "sentences", max_chars = 600 }

[model]
vocab_size = 280
block_size = 256
n_layer = 1
n_head = 2
d_model = 16

[train]
steps = 6
batch_size = 3
max_lr = 3e-3
min_lr = 3e-4
warmup = 1
eval_interval = 3
eval_iters = 1
log_interval = 2
seed = 3
workers = 2

[[retriever]]
name = "bm25"
kind = "bm25"

[[retriever]]
name = "bm25_stemmed"
kind = "bm25"
bm25 = { tokenizer = { stopwords = "english", stemmer = "english" } }
"#;

const ABLATION: &str = r#"
questions = 5
ks = [1, 3]
threads = 2

[[retriever]]
name = "bm25"
kind = "bm25"

[[retriever]]
name = "both"
kind = "hybrid"
of = ["bm25"]
"#;

fn workspace(reader: &str, ablation: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("configs/phase3");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m8_reader.toml"), reader).unwrap();
    std::fs::write(dir.join("m9_ablation.toml"), ablation).unwrap();
    // The published numbers and targets the log compares against.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(
        repo.join(viz::references::PATH),
        tmp.path().join(viz::references::PATH),
    )
    .unwrap();
    tmp
}

#[test]
fn m8_and_m9_run_end_to_end_on_a_tiny_world() {
    let tmp = workspace(READER, ABLATION);
    let ctx = viz::Context::full(tmp.path(), true);
    let summary = m8::run_reader(&ctx).unwrap();
    assert!(summary.contains("held-out exact match"), "{summary}");
    let rec = Record::load(&ctx, "m8", "reader").unwrap();
    let s8: ReaderSummary = rec.summary_as().unwrap();
    for c in ["closed_book", "random", "bm25@1", "bm25_stemmed@2", "gold"] {
        let em = s8.condition(c).unwrap().exact_match;
        assert!((0.0..=1.0).contains(&em), "{c}: {em}");
        assert!(s8.condition(c).unwrap().answer_perplexity >= 1.0);
    }
    // The gold condition always has its gold passage; closed book never.
    assert_eq!(s8.condition("gold").unwrap().gold_in_context, 1.0);
    assert_eq!(s8.condition("closed_book").unwrap().gold_in_context, 0.0);
    assert!(!rec
        .series(&metric::curve("gold", metric::ANSWER_PERPLEXITY))
        .unwrap()
        .is_empty());
    // The checkpoint `cargo xtask ask` reads.
    m8::ask(&ctx, "Who brought Nobody to life?", Some(2)).unwrap();
    assert!(m8::ask(&ctx, "  ", None).is_err());

    let summary = m9::run_ablation(&ctx).unwrap();
    assert!(summary.contains("8 cells"), "{summary}");
    let rec9 = Record::load(&ctx, "m9", "ablation").unwrap();
    let s9: AblationSummary = rec9.summary_as().unwrap();
    for chunking in ["sentence", "document"] {
        for r in ["bm25", "both"] {
            for k in [1, 3] {
                let em = s9.cell(chunking, r, k).unwrap().exact_match;
                assert!((0.0..=1.0).contains(&em));
            }
        }
    }
    // One whole document makes a longer prompt than one sentence.
    assert!(
        s9.cell("document", "bm25", 1).unwrap().prompt_tokens
            > s9.cell("sentence", "bm25", 1).unwrap().prompt_tokens
    );
    // The same checkpoint and config give the same grid (timings live in their own artifact).
    let first: AblationSummary = Record::load(&ctx, "m9", "ablation")
        .unwrap()
        .summary_as()
        .unwrap();
    m9::run_ablation(&ctx).unwrap();
    let again: AblationSummary = Record::load(&ctx, "m9", "ablation")
        .unwrap()
        .summary_as()
        .unwrap();
    let em = |s: &AblationSummary| s.cell("sentence", "bm25", 1).unwrap().exact_match;
    assert_eq!(em(&first), em(&again), "sentence/bm25@1 exact match");
    let ppl = |s: &AblationSummary| s.cell("document", "both", 3).unwrap().answer_perplexity;
    assert_eq!(
        ppl(&first),
        ppl(&again),
        "document/both@3 answer perplexity"
    );

    // Figures and log entries from the records alone.
    let m8_specs = m8::figures(&ctx).unwrap();
    assert!(m8_specs.iter().any(|s| s.file == "m8_rag_pipeline.png"));
    assert!(m8_specs.iter().any(|s| s.file == "m8_perplexity_vs_k.png"));
    // Every one of them draws.
    let figs = viz::phase::render(&ctx, &m8_specs).unwrap();
    assert!(figs.iter().any(|p| p.ends_with("m8_rag_pipeline.png")));
    assert!(figs.iter().any(|p| p.ends_with("m8_perplexity_vs_k.png")));
    let m9_specs = m9::figures(&ctx).unwrap();
    assert_eq!(m9_specs[0].file, "m9_ablation_heatmap.png");
    let m9_figs = viz::phase::render(&ctx, &m9_specs).unwrap();
    assert!(m9_figs[0].ends_with("m9_ablation_heatmap.png") && m9_figs[0].is_file());
    let text = |e: &viz::log::LogEntry| format!("{}\n{}\n{}", e.takeaway, e.results, e.details);
    let m8_text = text(&m8::log_entries(&ctx).unwrap()[0]);
    assert!(m8_text.contains("exact McNemar p"), "{m8_text}");
    assert!(m8_text.contains("primary comparison"), "{m8_text}");
    let m9_text = text(&m9::log_entries(&ctx).unwrap()[0]);
    assert!(m9_text.contains("k = 3"), "{m9_text}");
    assert!(m9_text.contains("Holm-adjusted p"), "{m9_text}");
}

#[test]
fn m8_settings_that_make_no_sense_are_errors_naming_the_key() {
    let tmp = workspace(
        &READER.replace("chunks = \"sentence\"", "chunks = \"paragraph\""),
        ABLATION,
    );
    let e = m8::run_reader(&viz::Context::full(tmp.path(), true)).unwrap_err();
    assert!(format!("{e:#}").contains("paragraph"), "{e:#}");
    let tmp = workspace(&READER.replace("ks = [1, 2]", "ks = [0, 2]"), ABLATION);
    let e = m8::run_reader(&viz::Context::full(tmp.path(), true)).unwrap_err();
    assert!(format!("{e:#}").contains("ks"), "{e:#}");
    let tmp = workspace(&READER.replace("pool = 60", "poool = 60"), ABLATION);
    let e = m8::run_reader(&viz::Context::full(tmp.path(), true)).unwrap_err();
    assert!(format!("{e:#}").contains("poool"), "{e:#}");
    // m9 without a trained reader says what to run.
    let tmp = workspace(READER, ABLATION);
    let e = m9::run_ablation(&viz::Context::full(tmp.path(), true)).unwrap_err();
    assert!(format!("{e:#}").contains("m8_reader"), "{e:#}");
}
