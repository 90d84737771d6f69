//! Generation speed with and without the KV cache on the m6 kv_cache shape (block 512, 256 new tokens),
//! on the candle model and on the hand-written engine.
//! `cargo run --release -p phase2-lm --example kv_speed`

use std::time::Instant;

use phase2_lm::fast::{gather, FastGpt};
use phase2_lm::generate::{generate, generate_fast, Sampling};
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
    let mut engine = FastGpt::new(&cfg, 1)?;
    let mut params = Vec::new();
    gather(&model, &engine.off, &mut params)?;
    let greedy = Sampling {
        temperature: 0.0,
        top_k: None,
        top_p: None,
    };
    let prompt = [1u32, 2, 3, 4, 5, 6, 7];
    for fast in [false, true] {
        for use_cache in [true, false, true, false] {
            let start = Instant::now();
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            if fast {
                generate_fast(
                    &mut engine,
                    &params,
                    &prompt,
                    256,
                    &greedy,
                    &mut rng,
                    use_cache,
                )?;
            } else {
                generate(&model, &prompt, 256, &greedy, &mut rng, use_cache)?;
            }
            println!(
                "{} cache {use_cache}: {:.0} tokens/s",
                if fast { "fast engine" } else { "candle" },
                256.0 / start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
