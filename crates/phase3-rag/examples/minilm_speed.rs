//! Documents per second encoding CISI with the hand-written all-MiniLM-L6-v2 (batch 32), to set
//! beside sentence-transformers' ~20 documents/s on the same 2-core machine (CISI's README).
//! Measured: 17.7 documents/s (all 1,460, `RAYON_NUM_THREADS=2`, 1.66 CPUs busy on average: the
//! matrix multiplies and element-wise maps run on both cores, candle's reductions and copies on one).
//!
//! `cargo run --release -p phase3-rag --example minilm_speed [N]` encodes the first `N` documents
//! (all 1,460 by default). Threads: `RAYON_NUM_THREADS`, which candle's matrix multiplies read;
//! unset, all cores.

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
    let n = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .with_context(|| format!("N must be a number, got {a:?}"))?,
        None => docs.len(),
    };
    let refs: Vec<&str> = docs.iter().take(n).map(String::as_str).collect();
    let t0 = Instant::now();
    let vectors = model.encode_all(&refs, 32)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} CISI documents encoded in {secs:.1} s: {:.1} documents/s (batch 32, {} threads)",
        vectors.len(),
        vectors.len() as f64 / secs,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
    );
    Ok(())
}
