//! Documents per second encoding CISI with all-MiniLM-L6-v2 (batch 32): the hand-written engine
//! (`MiniLm::encode_all`) and, with `--candle`, the readable candle version (padded batches), for
//! profiling either. `cargo xtask bench-rag` is the measurement that is recorded.
//!
//! `cargo run --release -p phase3-rag --example minilm_speed [N] [--candle]` encodes the first `N`
//! documents (all 1,460 by default). Threads: `THREADS` (default: all cores); candle's matrix
//! multiplies read `RAYON_NUM_THREADS`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use phase3_rag::minilm::{model_dir, MiniLm};

// glibc hands buffers over 128 KiB back to the OS, so every tensor op would page-fault; mimalloc
// keeps them (as phase 2's throughput example does).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = MiniLm::load(&model_dir(&root, &root.join(".data"))?)?;
    let corpus = root.join("../shared/data/cisi/corpus.jsonl");
    let text = std::fs::read_to_string(&corpus)
        .with_context(|| format!("reading {}", corpus.display()))?;
    let docs: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(format!(
                "{} {}",
                v["title"].as_str().unwrap_or(""),
                v["text"].as_str().unwrap_or("")
            ))
        })
        .collect::<Result<_>>()?;
    let candle = std::env::args().any(|a| a == "--candle");
    let mut model = model;
    if let Ok(t) = std::env::var("THREADS") {
        model.set_threads(t.parse().with_context(|| format!("THREADS={t:?}"))?);
    }
    let n = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(a) => a
            .parse()
            .with_context(|| format!("N must be a number, got {a:?}"))?,
        None => docs.len(),
    };
    let refs: Vec<&str> = docs.iter().take(n).map(String::as_str).collect();
    let t0 = Instant::now();
    let vectors = if candle {
        let mut out = Vec::new();
        for chunk in refs.chunks(32) {
            out.extend(model.encode_batch(chunk)?);
        }
        out
    } else {
        model.encode_all(&refs, 32)?
    };
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} CISI documents encoded in {secs:.1} s: {:.1} documents/s (batch 32, {}, {} threads)",
        vectors.len(),
        vectors.len() as f64 / secs,
        if candle { "candle" } else { "hand-written" },
        model.threads(),
    );
    Ok(())
}
