//! Training throughput of the bench model (`shared/bench/torch_gpt.py`'s: d 128, 4 heads, 4 layers,
//! block 64, vocab 65, batch 12) on random tokens, for several op sets and worker counts.
//!
//! One "step" is what the trainer does: loss + gradients ([`phase2_lm::parallel::loss_and_grads`]),
//! global-norm clipping and an AdamW update. Variants run in alternating rounds (A B C, A B C, ...)
//! so that load from other processes hits them alike; the median round is reported.
//!
//! ```text
//! cargo run --release -p phase2-lm --example throughput -- [rounds] [steps-per-round] [variant ...]
//! variant = plain:1 | fused:1 | fused:2 | ...   (ops:workers)
//! ```
//! With `profile` as the only variant argument it instead times the phases of one fused step.

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use phase1_mlp::optim::Optimizer;
use phase2_lm::model::{Gpt, GptConfig};
use phase2_lm::ops::{Fused, Ops, Plain};
use phase2_lm::parallel::loss_and_grads;
use phase2_lm::train::{clip_grad_norm, AdamW, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 12;

fn bench_model() -> GptConfig {
    GptConfig {
        vocab_size: 65,
        block_size: 64,
        n_layer: 4,
        n_head: 4,
        d_model: 128,
        pos_emb: true,
    }
}

fn train_cfg() -> TrainConfig {
    toml::from_str(
        "steps = 2000\nbatch_size = 12\nmax_lr = 1e-3\nmin_lr = 1e-4\nwarmup = 100\n\
         eval_interval = 100\neval_iters = 20\nseed = 1337\n",
    )
    .expect("valid train config")
}

struct Variant {
    name: String,
    ops: Box<dyn Ops>,
    workers: usize,
    model: Gpt,
    opt: AdamW,
}

fn batch(rng: &mut ChaCha8Rng, block: usize) -> (Tensor, Tensor) {
    let mut ids = || {
        let v: Vec<u32> = (0..BATCH * block).map(|_| rng.gen_range(0..65)).collect();
        Tensor::from_vec(v, (BATCH, block), &Device::Cpu).unwrap()
    };
    (ids(), ids())
}

fn step(v: &mut Variant, x: &Tensor, y: &Tensor) -> f32 {
    let (loss, mut grads) = loss_and_grads(&v.model, x, y, v.ops.as_ref(), v.workers).unwrap();
    clip_grad_norm(&mut grads, 1.0).unwrap();
    let params: Vec<Var> = v.model.vars().into_iter().map(|(_, v)| v).collect();
    v.opt.step(&params, &grads, 1e-3).unwrap();
    loss
}

/// CPU seconds (user + system) this process has used, all threads, from `/proc/self/stat` (Linux;
/// 0 elsewhere). Tokens per CPU-second tell how fast a variant would run on idle cores when the
/// machine is shared and wall-clock rates mostly measure the neighbours.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 13 {
        return 0.0;
    }
    // Clock ticks are 100 per second on every Linux this runs on (USER_HZ).
    (f[11] + f[12]) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn profile(rounds: usize, steps: usize) {
    let cfg = bench_model();
    let model = Gpt::new(&cfg, 1337).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (x, y) = batch(&mut rng, cfg.block_size);
    let mut opt = AdamW::new(
        &train_cfg(),
        model.vars().iter().map(|(_, v)| v.rank() >= 2).collect(),
    );
    let params: Vec<Var> = model.vars().into_iter().map(|(_, v)| v).collect();
    for (name, ops) in [("plain", &Plain as &dyn Ops), ("fused", &Fused)] {
        let (mut fwd, mut bwd, mut clip, mut adam) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds * steps {
            let t0 = Instant::now();
            let loss = model.loss(&x, &y, ops).unwrap();
            let t1 = Instant::now();
            let store = loss.backward().unwrap();
            let mut grads: Vec<Tensor> = params
                .iter()
                .map(|p| store.get(p).unwrap().clone())
                .collect();
            let t2 = Instant::now();
            clip_grad_norm(&mut grads, 1.0).unwrap();
            let t3 = Instant::now();
            opt.step(&params, &grads, 1e-4).unwrap();
            let t4 = Instant::now();
            fwd.push((t1 - t0).as_secs_f64() * 1e3);
            bwd.push((t2 - t1).as_secs_f64() * 1e3);
            clip.push((t3 - t2).as_secs_f64() * 1e3);
            adam.push((t4 - t3).as_secs_f64() * 1e3);
        }
        println!(
            "{name:>6}: forward {:.2} ms  backward {:.2} ms  clip {:.2} ms  adamw {:.2} ms (medians, 1 thread)",
            median(fwd),
            median(bwd),
            median(clip),
            median(adam)
        );
    }
}

fn main() {
    // Before the first candle op: candle and the fused GEMM stay on the calling thread.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(5, |s| s.parse().expect("rounds"));
    let steps: usize = args
        .get(1)
        .map_or(10, |s| s.parse().expect("steps per round"));
    let names: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        vec!["plain:1".into(), "fused:1".into(), "fused:2".into()]
    };
    if names == ["profile"] {
        profile(rounds, steps);
        return;
    }
    let cfg = bench_model();
    let mut variants: Vec<Variant> = names
        .iter()
        .map(|n| {
            let (ops, workers) = n.split_once(':').expect("variant is ops:workers");
            let model = Gpt::new(&cfg, 1337).unwrap();
            let decay = model.vars().iter().map(|(_, v)| v.rank() >= 2).collect();
            Variant {
                name: n.clone(),
                ops: match ops {
                    "plain" => Box::new(Plain),
                    "fused" => Box::new(Fused),
                    o => panic!("unknown ops {o}"),
                },
                workers: workers.parse().expect("workers"),
                model,
                opt: AdamW::new(&train_cfg(), decay),
            }
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batches: Vec<(Tensor, Tensor)> = (0..steps)
        .map(|_| batch(&mut rng, cfg.block_size))
        .collect();
    for v in variants.iter_mut() {
        for (x, y) in batches.iter().take(3) {
            step(v, x, y);
        }
    }
    let mut rates: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut cpu_rates: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let tokens = (steps * BATCH * cfg.block_size) as f64;
    for _ in 0..rounds {
        for (i, v) in variants.iter_mut().enumerate() {
            let (t, c) = (Instant::now(), cpu_seconds());
            for (x, y) in &batches {
                step(v, x, y);
            }
            rates[i].push(tokens / t.elapsed().as_secs_f64());
            cpu_rates[i].push(tokens / (cpu_seconds() - c).max(0.01));
        }
    }
    for ((v, r), c) in variants.iter().zip(rates).zip(cpu_rates) {
        let per_cpu = median(c);
        let lo = r.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = r.iter().cloned().fold(0.0, f64::max);
        println!(
            "{:>8}: {:>7.0} tokens/s (median of {rounds} rounds x {steps} steps; min {lo:.0}, max {hi:.0}); \
             {per_cpu:.0} tokens per CPU-second",
            v.name,
            median(r)
        );
    }
}
