//! Queries per second of our BM25 at one thread on bench-rag's generated world (100,000 documents,
//! seed 11, bm25s's tokenisation without stop words, k = 100): every question of the world, three
//! passes, the best pass printed. For profiling `top_k`, and for timing two builds side by side
//! (`farm-bench --vs`); `cargo xtask bench-rag` is the measurement that is recorded (against bm25s).
//!
//! `cargo run --release -p phase3-rag --example bm25_speed [DOCS]`

use std::time::Instant;

use anyhow::{Context as _, Result};
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::world::{World, WorldConfig};

fn main() -> Result<()> {
    let docs: usize = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .with_context(|| format!("DOCS must be a count, got {a:?}"))?,
        None => 100_000,
    };
    let world = World::generate(&WorldConfig::with_documents(11, docs))?;
    let index = Bm25Index::build(
        Bm25Config::default(),
        world
            .documents()
            .map(|d| (d.id.clone(), format!("{} {}", d.title, d.text))),
    )?;
    let queries: Vec<&str> = world.questions().iter().map(|q| q.text.as_str()).collect();
    let mut best = 0f64;
    let mut hits = 0usize;
    for _ in 0..3 {
        let t = Instant::now();
        hits = queries.iter().map(|q| index.top_k(q, 100).len()).sum();
        best = best.max(queries.len() as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "RESULT {} documents, {} queries, {hits} hits: {best:.0} queries/s (best of 3 passes)",
        index.num_docs(),
        queries.len()
    );
    Ok(())
}
