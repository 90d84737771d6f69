//! m6: the GPT, its optimizer, checkpoints (exact resume) and generation (KV cache = recomputation).

use candle_core::{Device, Tensor, Var};
use phase1_mlp::optim::Optimizer;
use phase2_lm::checkpoint;
use phase2_lm::fast::FastGpt;
use phase2_lm::generate::{distribution, generate, generate_fast, Sampling};
use phase2_lm::model::{Gpt, GptConfig};
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{AdamW, Engine, RunConfig, TrainConfig, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TEXT: &str =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat by a log.\n";

fn text() -> String {
    TEXT.repeat(20)
}

fn tiny_model(vocab: usize) -> GptConfig {
    GptConfig {
        vocab_size: vocab,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    }
}

fn tiny_train(steps: usize) -> TrainConfig {
    toml::from_str(&format!(
        "steps = {steps}\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 3\neval_interval = 5\neval_iters = 2\nseed = 3"
    ))
    .unwrap()
}

fn setup(steps: usize) -> (RunConfig, AnyTokenizer, Vec<u32>) {
    let tok: AnyTokenizer = CharTokenizer::from_text(&text()).into();
    let ids = tok.encode(&text());
    (
        RunConfig {
            model: tiny_model(tok.vocab_size()),
            train: tiny_train(steps),
        },
        tok,
        ids,
    )
}

fn weights(t: &Trainer) -> Vec<Vec<f32>> {
    t.layout()
        .spans()
        .iter()
        .map(|&(start, n)| t.params()[start..start + n].to_vec())
        .collect()
}

#[test]
fn m6_parameters_have_the_contract_names_shapes_and_count() {
    let cfg = tiny_model(10);
    let model = Gpt::new(&cfg, 0).unwrap();
    let vars = model.vars();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..4],
        &[
            "tok_emb",
            "pos_emb",
            "blocks.0.ln1.weight",
            "blocks.0.ln1.bias"
        ]
    );
    let shape = |n: &str| vars.iter().find(|(k, _)| k == n).unwrap().1.dims().to_vec();
    assert_eq!(shape("blocks.1.attn.qkv.weight"), vec![48, 16]);
    assert_eq!(shape("blocks.1.mlp.fc.weight"), vec![64, 16]);
    assert_eq!(shape("blocks.1.mlp.proj.weight"), vec![16, 64]);
    assert_eq!(names.last(), Some(&"ln_f.bias"));
    let total: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
    assert_eq!(total, cfg.n_params());
    // Initial weights ~ N(0, 0.02): the sample std of the token embedding is close to it.
    let w: Vec<f32> = model.tok_emb.flatten_all().unwrap().to_vec1().unwrap();
    let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.006, "std {std}");
    // Same seed, same model; another seed, another model.
    let again = Gpt::new(&cfg, 0).unwrap();
    assert_eq!(
        w,
        again
            .tok_emb
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    );
    let other = Gpt::new(&cfg, 1).unwrap();
    assert_ne!(
        w,
        other
            .tok_emb
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    );
}

#[test]
fn m6_untrained_loss_is_near_uniform_and_training_reduces_it() {
    let (cfg, _, ids) = setup(60);
    let mut trainer = Trainer::new(cfg).unwrap();
    let v = trainer.cfg.model.vocab_size as f64;
    let val = trainer.val_batches(&ids).unwrap();
    let before = trainer.evaluate(&val).unwrap();
    assert!(
        (before - v.ln()).abs() < 0.2,
        "initial loss {before} vs ln V {}",
        v.ln()
    );
    for _ in 0..60 {
        trainer.step(&ids).unwrap();
    }
    let after = trainer.evaluate(&val).unwrap();
    assert!(after < before - 0.8, "loss {before} -> {after}");
}

#[test]
fn m6_adamw_matches_phase1_adamw_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    use rand::Rng;
    let mk = |rng: &mut ChaCha8Rng, shape: &[usize]| {
        let n: usize = shape.iter().product();
        Tensor::from_vec(
            (0..n)
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect::<Vec<_>>(),
            shape,
            &Device::Cpu,
        )
        .unwrap()
    };
    let p0 = [mk(&mut rng, &[3, 4]), mk(&mut rng, &[4])];
    let a: Vec<Var> = p0.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let b: Vec<Var> = p0.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let train = tiny_train(10);
    let mut ours = AdamW::new(&train, vec![true, false]);
    let mut theirs =
        phase1_mlp::optim::AdamW::new(0.9, 0.99, 1e-8, 0.1).with_decay_mask(vec![true, false]);
    for step in 0..5 {
        let g = [mk(&mut rng, &[3, 4]), mk(&mut rng, &[4])];
        let lr = 1e-2 * (step + 1) as f64;
        ours.step(&a, &g, lr).unwrap();
        theirs.step(&b, &g, lr).unwrap();
    }
    for (x, y) in a.iter().zip(&b) {
        let x: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(x, y);
    }
}

#[test]
fn m6_resume_from_checkpoint_continues_exactly() {
    let (cfg, tok, ids) = setup(12);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");

    let mut straight = Trainer::new(cfg.clone()).unwrap();
    let losses: Vec<f32> = (0..12).map(|_| straight.step(&ids).unwrap().loss).collect();

    let mut first = Trainer::new(cfg).unwrap();
    let mut resumed_losses: Vec<f32> = (0..6).map(|_| first.step(&ids).unwrap().loss).collect();
    checkpoint::save(&ckpt, &first, &tok).unwrap();
    drop(first);
    let (mut second, tok2) = checkpoint::load(&ckpt).unwrap();
    assert_eq!(tok2, tok);
    assert_eq!(second.step, 6);
    resumed_losses.extend((0..6).map(|_| second.step(&ids).unwrap().loss));

    assert_eq!(losses, resumed_losses);
    assert_eq!(weights(&straight), weights(&second));
    // Saving again replaces the checkpoint in place and leaves no temporary directory behind.
    checkpoint::save(&ckpt, &second, &tok).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("ckpt")]);
}

#[test]
fn m6_checkpoint_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let err = checkpoint::load(&dir.path().join("missing")).err().unwrap();
    assert!(format!("{err:#}").contains("does not exist"));
    let (cfg, tok, _) = setup(2);
    let t = Trainer::new(cfg).unwrap();
    let ckpt = dir.path().join("c");
    checkpoint::save(&ckpt, &t, &tok).unwrap();
    std::fs::write(
        ckpt.join("config.toml"),
        "[model]\nblock_size = 8\nbogus = 1\n",
    )
    .unwrap();
    let err = format!("{:#}", checkpoint::load(&ckpt).err().unwrap());
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn m6_config_rejects_unknown_keys() {
    let err = toml::from_str::<TrainConfig>("steps = 1\nbatch_size = 1\nmax_lr = 1\nmin_lr = 1\nwarmup = 0\neval_interval = 1\neval_iters = 1\nseed = 0\nlearning_rate = 3").err().unwrap();
    assert!(err.to_string().contains("learning_rate"), "{err}");
    let err = toml::from_str::<GptConfig>(
        "block_size = 8\nn_layer = 1\nn_head = 1\nd_model = 4\nn_heads = 2",
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("n_heads"), "{err}");
    // A choice is an enum: a typo is a parse error that lists the valid values.
    let err = toml::from_str::<TrainConfig>("steps = 1\nbatch_size = 1\nmax_lr = 1\nmin_lr = 1\nwarmup = 0\neval_interval = 1\neval_iters = 1\nseed = 0\nops = \"turbo\"").err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("turbo") && msg.contains("fast") && msg.contains("plain"),
        "{msg}"
    );
}

/// A tiny model after 20 steps, its token stream, and a sampling rule that uses every filter.
fn trained_for_sampling() -> (Trainer, Vec<u32>, Sampling) {
    let (cfg, _, ids) = setup(20);
    let mut trainer = Trainer::new(cfg).unwrap();
    for _ in 0..20 {
        trainer.step(&ids).unwrap();
    }
    let s = Sampling {
        temperature: 1.0,
        top_k: Some(5),
        top_p: Some(0.9),
    };
    (trainer, ids, s)
}

#[test]
fn m6_kv_cache_generation_equals_full_recomputation() {
    let (trainer, ids, s) = trained_for_sampling();
    let model = trainer.to_gpt().unwrap();
    // 30 new tokens with block 8: the window is halved and the cache rebuilt several times.
    let prompt = &ids[..3];
    let (a, la) = generate(
        &model,
        prompt,
        30,
        &s,
        &mut ChaCha8Rng::seed_from_u64(4),
        true,
    )
    .unwrap();
    let (b, lb) = generate(
        &model,
        prompt,
        30,
        &s,
        &mut ChaCha8Rng::seed_from_u64(4),
        false,
    )
    .unwrap();
    assert_eq!(a, b);
    for (x, y) in la.iter().zip(&lb) {
        for (p, q) in x.iter().zip(y) {
            assert!(
                (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                "cached {p} vs recomputed {q}"
            );
        }
    }
    // The cached forward equals the full forward position by position.
    let idx = Tensor::from_slice(&ids[..8], (1, 8), &Device::Cpu).unwrap();
    let full: Vec<Vec<f32>> = model
        .forward(&idx)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    let mut caches = vec![phase2_lm::attention::KvCache::default(); 2];
    let head = model
        .forward_cached(&idx.narrow(1, 0, 5).unwrap(), 0, &mut caches)
        .unwrap();
    let head: Vec<Vec<f32>> = head.squeeze(0).unwrap().to_vec2().unwrap();
    let mut rows = head;
    for t in 5..8 {
        let l = model
            .forward_cached(&idx.narrow(1, t, 1).unwrap(), t, &mut caches)
            .unwrap();
        rows.push(l.squeeze(0).unwrap().squeeze(0).unwrap().to_vec1().unwrap());
    }
    for (r, f) in rows.iter().zip(&full) {
        for (p, q) in r.iter().zip(f) {
            assert!((p - q).abs() < 1e-5);
        }
    }
}

/// The hand-written engine's KV-cache decoding equals its full recomputation and the candle model:
/// same tokens, and log-probabilities equal to the candle logits' log-softmax.
#[test]
fn m6_fast_kv_cache_generation_equals_recomputation_and_candle() {
    let (trainer, ids, s) = trained_for_sampling();
    let prompt = &ids[..3];
    let model = trainer.to_gpt().unwrap();
    let mut engine = FastGpt::new(&trainer.cfg.model, 1).unwrap();
    let mut run = |fast: bool, cache: bool| {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        if fast {
            let p = trainer.params();
            generate_fast(&mut engine, p, prompt, 30, &s, &mut rng, cache).unwrap()
        } else {
            generate(&model, prompt, 30, &s, &mut rng, cache).unwrap()
        }
    };
    let (reference, logits) = run(false, false);
    let log_softmax = |l: &[f32]| -> Vec<f64> {
        let max = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z = l.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
        l.iter().map(|&x| x as f64 - max - z).collect()
    };
    for cache in [true, false] {
        let (tokens, scores) = run(true, cache);
        assert_eq!(tokens, reference, "fast engine, cache {cache}");
        for (x, y) in scores.iter().zip(&logits) {
            for (p, q) in x.iter().zip(log_softmax(y)) {
                assert!(
                    (*p as f64 - q).abs() <= 1e-4 * (1.0 + q.abs()),
                    "cache {cache}: {p} vs candle {q}"
                );
            }
        }
    }
}

#[test]
fn m6_sampling_filters_respect_temperature_top_k_and_top_p() {
    let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0];
    let greedy = distribution(
        &logits,
        &Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        },
    );
    assert_eq!(greedy, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
    let k2 = distribution(
        &logits,
        &Sampling {
            temperature: 1.0,
            top_k: Some(2),
            top_p: None,
        },
    );
    assert!(k2[2..].iter().all(|&p| p == 0.0));
    let e = (1.0f64).exp();
    assert!((k2[0] - e / (e + 1.0)).abs() < 1e-9);
    let full = distribution(
        &logits,
        &Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        },
    );
    // top-p 0.8: the smallest prefix of sorted tokens with mass >= 0.8.
    let p = distribution(
        &logits,
        &Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: Some(0.8),
        },
    );
    let kept = p.iter().filter(|&&x| x > 0.0).count();
    let mass: f64 = full[..kept].iter().sum();
    let mass_less: f64 = full[..kept - 1].iter().sum();
    assert!(mass >= 0.8 && mass_less < 0.8, "kept {kept}");
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Low temperature sharpens, high temperature flattens.
    let cold = distribution(
        &logits,
        &Sampling {
            temperature: 0.5,
            top_k: None,
            top_p: None,
        },
    );
    let hot = distribution(
        &logits,
        &Sampling {
            temperature: 2.0,
            top_k: None,
            top_p: None,
        },
    );
    assert!(cold[0] > full[0] && full[0] > hot[0]);
    assert!(Sampling {
        temperature: -1.0,
        top_k: None,
        top_p: None
    }
    .validate()
    .is_err());
    assert!(Sampling {
        temperature: 1.0,
        top_k: None,
        top_p: Some(1.5)
    }
    .validate()
    .is_err());
}

/// The plain+parallel and the hand-written (fast) trainers follow the plain autograd trainer step by
/// step: same losses, gradient norms and weights within 1e-4 relative.
#[test]
fn m6_parallel_and_fast_trainers_match_plain_trainer() {
    for (ops, workers) in [(Engine::Plain, 2), (Engine::Fast, 1), (Engine::Fast, 2)] {
        let (mut cfg, _, ids) = setup(5);
        cfg.train.ops = Engine::Plain;
        cfg.train.workers = 1;
        let mut plain = Trainer::new(cfg.clone()).unwrap();
        cfg.train.ops = ops;
        cfg.train.workers = workers;
        let mut fast = Trainer::new(cfg).unwrap();
        for _ in 0..5 {
            let (a, b) = (plain.step(&ids).unwrap(), fast.step(&ids).unwrap());
            assert!(
                ((a.loss - b.loss) / a.loss).abs() < 1e-4,
                "plain {} vs {ops} x{workers} {}",
                a.loss,
                b.loss
            );
            assert!(((a.grad_norm - b.grad_norm) / a.grad_norm).abs() < 1e-4);
        }
        for (x, y) in weights(&plain).iter().zip(weights(&fast)) {
            for (p, q) in x.iter().zip(&y) {
                assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{ops} x{workers}");
            }
        }
    }
}

#[test]
fn m6_all_windows_tile_the_split_without_overlap() {
    let data: Vec<u32> = (0..20).collect();
    let batches = phase2_lm::train::all_windows(&data, 4, 3);
    assert_eq!(
        batches.iter().map(|b| b.b).collect::<Vec<_>>(),
        vec![3, 1],
        "starts 0, 4, 8 | 12; 16 has no target for its last token"
    );
    let xs: Vec<u32> = batches.iter().flat_map(|b| b.x.clone()).collect();
    let ys: Vec<u32> = batches.iter().flat_map(|b| b.y.clone()).collect();
    assert_eq!(xs, (0..16).collect::<Vec<u32>>());
    assert_eq!(ys, (1..17).collect::<Vec<u32>>());
    // The count the records report is the count the windows score, for every split length.
    for len in 0..40 {
        let data: Vec<u32> = (0..len).collect();
        let scored: usize = phase2_lm::train::all_windows(&data, 4, 3)
            .iter()
            .map(|b| b.b * b.t)
            .sum();
        assert_eq!(
            phase2_lm::train::all_windows_predictions(len as usize, 4),
            scored,
            "len {len}"
        );
    }
}

#[test]
fn m6_sliding_windows_score_each_target_once_with_context() {
    use phase2_lm::ops::IGNORE;
    use phase2_lm::train::{all_windows, sliding_windows};
    for len in [6usize, 9, 20, 37] {
        let data: Vec<u32> = (0..len as u32).collect();
        for (block, stride) in [(4, 4), (4, 2), (4, 1), (5, 3)] {
            let Ok((batches, range)) = sliding_windows(&data, block, stride, 3) else {
                assert!(len <= block, "len {len} block {block}");
                continue;
            };
            // Each scored target: its data index (the token ids are their indices) and how many
            // tokens of its window came before it.
            let mut seen = Vec::new();
            for b in &batches {
                for r in 0..b.b {
                    for p in 0..b.t {
                        let y = b.y[r * b.t + p];
                        if y != IGNORE {
                            assert_eq!(y, b.x[r * b.t + p] + 1);
                            // x[0..=p] precede the target: more than block − stride tokens.
                            assert!(p >= block - stride, "only {} tokens of context", p + 1);
                            seen.push(y as usize);
                        }
                    }
                }
            }
            assert_eq!(
                seen,
                range.clone().collect::<Vec<_>>(),
                "len {len} block {block} stride {stride}"
            );
            if stride == block {
                let whole = all_windows(&data, block, 3);
                assert_eq!(
                    batches.iter().map(|b| (&b.x, &b.y)).collect::<Vec<_>>(),
                    whole.iter().map(|b| (&b.x, &b.y)).collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(sliding_windows(&[1, 2, 3], 4, 2, 3).is_err());
    assert!(sliding_windows(&(0..20).collect::<Vec<u32>>(), 4, 5, 3).is_err());
    assert!(sliding_windows(&(0..20).collect::<Vec<u32>>(), 4, 0, 3).is_err());
}

#[test]
fn m6_clip_grad_norm_scales_only_above_the_limit() {
    let mut g = vec![3.0f32, 4.0];
    let norm = phase2_lm::train::clip_grad_norm_flat(&mut g, 10.0);
    assert_eq!((norm, g.clone()), (5.0, vec![3.0, 4.0]));
    let norm = phase2_lm::train::clip_grad_norm_flat(&mut g, 1.0);
    assert_eq!(norm, 5.0);
    assert!(
        (g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6,
        "{g:?}"
    );
}
