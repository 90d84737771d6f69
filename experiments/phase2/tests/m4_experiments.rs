//! m4: the experiment path end to end (quick configs, synthetic text, scratch records).

use phase2_experiments::records::{bytes_per_token_key, NgramsSummary, TokenizersSummary};
use std::path::PathBuf;

use phase2_experiments::m4;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Shakespeare-like text built from a small vocabulary of lines (deterministic, ~25 kB).
fn synthetic_text() -> String {
    let lines = [
        "First Citizen:\nBefore we proceed any further, hear me speak.\n",
        "All:\nSpeak, speak.\n",
        "MENENIUS:\nWhat work's, my countrymen, in hand? where go you\nWith bats and clubs?\n",
        "Second Citizen:\nWe are accounted poor citizens, the patricians good.\n",
    ];
    let mut text = String::new();
    let mut state = 7u64;
    while text.len() < 25_000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(lines[(state >> 33) as usize % lines.len()]);
        text.push('\n');
    }
    text
}

#[test]
fn m4_experiments_record_then_draw_figures_and_log_from_records() {
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&workspace_root(), scratch.path(), true);
    let text = synthetic_text();

    let (tcfg, _) = ctx
        .load_config::<m4::TokenizersConfig>("phase2", m4::TOKENIZERS)
        .unwrap();
    m4::run_tokenizers(&ctx, &tcfg, &text).unwrap();
    let (ncfg, _) = ctx
        .load_config::<m4::NgramsConfig>("phase2", m4::NGRAMS)
        .unwrap();
    m4::run_ngrams(&ctx, &ncfg, &text).unwrap();

    let specs = m4::figures(&ctx).unwrap();
    let names: Vec<String> = specs.iter().map(|s| s.file.clone()).collect();
    assert_eq!(
        names,
        [
            "m4_bpe_compression.png",
            "m4_ngram_perplexity.png",
            "m4_bigram_heatmap.png"
        ]
    );
    let figures = viz::phase::render(&ctx, &specs).unwrap();
    assert_eq!(figures.len(), names.len());
    for f in &figures {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}",
            f.display()
        );
    }

    let entries = m4::log_entries(&ctx).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [m4::TOKENIZERS, m4::NGRAMS]
    );
    // The numbers in the log are the recorded ones.
    let rec = viz::record::Record::load(&ctx, "m4", "ngrams").unwrap();
    let summary: NgramsSummary = rec.summary_as().unwrap();
    let neural = summary.bigrams.neural_bigram_val_ppl;
    let count = summary.bigrams.count_bigram_val_ppl;
    assert!(neural.is_finite() && count.is_finite());
    let ngrams = &entries[1];
    let shown = format!(
        "{}\n{}\n{}",
        ngrams.takeaway, ngrams.results, ngrams.details
    );
    assert!(shown.contains(&format!("{neural:.3}")), "{shown}");
    assert!(
        ngrams.discussion.contains(&format!("{count:.3}")),
        "{}",
        ngrams.discussion
    );
    for n in &ncfg.orders {
        assert!(summary.kn(*n).unwrap().is_finite());
    }
    let tok = viz::record::Record::load(&ctx, "m4", "tokenizers").unwrap();
    let tok_summary: TokenizersSummary = tok.summary_as().unwrap();
    let bpt = tok_summary.val_bytes_per_token[&bytes_per_token_key(512, "regex")];
    let tokenizers = format!("{}{}", entries[0].results, entries[0].details);
    assert!(bpt > 1.0 && tokenizers.contains(&format!("{bpt:.3}")));
}

#[test]
fn m4_run_rejects_unknown_names_and_typos_in_configs() {
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&workspace_root(), scratch.path(), true);
    let err = phase2_experiments::run(&ctx, "m4_nope")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m4_tokenizers") && err.contains("m4_ngrams"),
        "{err}"
    );

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("configs/phase2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("m4_tokenizers.toml"),
        "vocab_sizes = [256]\nregex_split = [true]\nexample_chars = 5\nvocab_size = 3\n",
    )
    .unwrap();
    let ctx = viz::Context::full(root.path(), true);
    let err = format!(
        "{:#}",
        phase2_experiments::run(&ctx, m4::TOKENIZERS).unwrap_err()
    );
    assert!(
        err.contains("m4_tokenizers.toml") && err.contains("vocab_size"),
        "{err}"
    );
}
