//! Training throughput of the bench model (`scripts/torch_gpt.py`'s: d 128, 4 heads, 4 layers,
//! block 64, vocab 65, batch 12) on random tokens, for several trainers: the quick loop for trying an
//! optimisation (`cargo xtask bench` is the recorded, side-by-side-with-PyTorch measurement).
//!
//! One "step" is exactly [`Trainer::step`]: batch sampling, loss + gradients, global-norm clipping and
//! the AdamW update. Variants run in alternating rounds (A B C, A B C, ...) so that load from other
//! processes hits them alike; the median round is reported.
//!
//! ```text
//! cargo run --release -p phase2-lm --example throughput -- [rounds] [steps-per-round] [variant ...]
//! variant = plain:1 | plain:2 | fast:1 | fast:2 | fast:2:0.1 | ...   (ops:workers[:dropout])
//! ```
//! For a profile: `perf record target/release/examples/throughput 1 200 fast:2`.

use std::time::Instant;

use phase2_lm::model::GptConfig;
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run_config(ops: &str, workers: usize, dropout: f64) -> RunConfig {
    let mut train: TrainConfig = toml::from_str(&format!(
        "steps = 2000\nbatch_size = 12\nmax_lr = 1e-3\nmin_lr = 1e-4\nwarmup = 100\n\
         eval_interval = 100\neval_iters = 20\nseed = 1337\nops = {ops:?}\nworkers = {workers}\n"
    ))
    .expect("valid train config");
    train.dropout = dropout;
    RunConfig {
        model: GptConfig {
            vocab_size: 65,
            block_size: 64,
            n_layer: 4,
            n_head: 4,
            d_model: 128,
            pos_emb: true,
        },
        train,
    }
}

fn main() -> anyhow::Result<()> {
    // Each worker must run single-threaded (see `parallel.rs`); xtask sets this too.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(Ok(3), |a| a.parse())?;
    let steps: usize = args.get(1).map_or(Ok(50), |a| a.parse())?;
    let mut variants: Vec<(String, usize, f64)> = args
        .iter()
        .skip(2)
        .map(|v| {
            let mut parts = v.split(':');
            let ops = parts.next().unwrap_or(v).to_string();
            let w = parts.next().unwrap_or("1").parse()?;
            let dropout = parts.next().map_or(Ok(0.0), |d| d.parse())?;
            Ok((ops, w, dropout))
        })
        .collect::<anyhow::Result<_>>()?;
    if variants.is_empty() {
        variants = vec![
            ("plain".into(), 2, 0.0),
            ("fast".into(), 1, 0.0),
            ("fast".into(), 2, 0.0),
        ];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let data: Vec<u32> = (0..200_000).map(|_| rng.gen_range(0..65)).collect();
    let mut trainers: Vec<Trainer> = variants
        .iter()
        .map(|(ops, w, d)| Trainer::new(run_config(ops, *w, *d)))
        .collect::<anyhow::Result<_>>()?;
    for t in trainers.iter_mut() {
        t.step(&data)?; // warm-up: first-touch of every buffer
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, t) in trainers.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..steps {
                t.step(&data)?;
            }
            let tokens = (steps * t.tokens_per_step()) as f64;
            rates[i].push(tokens / start.elapsed().as_secs_f64());
        }
    }
    println!("{rounds} rounds x {steps} steps, median round:");
    for ((ops, w, d), r) in variants.iter().zip(rates.iter_mut()) {
        r.sort_by(|a, b| a.total_cmp(b));
        let name = if *d > 0.0 {
            format!("{ops}:{w}:{d}")
        } else {
            format!("{ops}:{w}")
        };
        println!("{name:<10} {:>8.0} tokens/s", r[r.len() / 2]);
    }
    Ok(())
}
