//! Generation speed with and without the KV cache on the m6 kv_cache shape (block 512, 256 new tokens).
//! `cargo run --release -p phase2-lm --example kv_speed`

use std::time::Instant;

use phase2_lm::generate::{generate, Sampling};
use phase2_lm::model::{Gpt, GptConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cfg = GptConfig {
        vocab_size: 65,
        block_size: 512,
        n_layer: 4,
        n_head: 4,
        d_model: 128,
        pos_emb: true,
    };
    let model = Gpt::new(&cfg, 1)?;
    let greedy = Sampling {
        temperature: 0.0,
        top_k: None,
        top_p: None,
    };
    let prompt = [1u32, 2, 3, 4, 5, 6, 7];
    for use_cache in [true, false, true, false] {
        let start = Instant::now();
        generate(
            &model,
            &prompt,
            256,
            &greedy,
            &mut ChaCha8Rng::seed_from_u64(0),
            use_cache,
        )?;
        println!(
            "cache {use_cache}: {:.0} tokens/s",
            256.0 / start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
