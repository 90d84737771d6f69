//! Dropout in the hand-written engine (`phase2_lm::dropout`): its backward against candle's autograd
//! with the same masks, dropout 0 is the engine without dropout bit for bit, the masks are a function
//! of seed, step and row only, and evaluation never drops.

use candle_core::{DType, Device, Tensor};
use phase2_lm::checkpoint;
use phase2_lm::dropout::{Dropout, Masks};
use phase2_lm::fast::{gather, FastGpt};
use phase2_lm::model::{param_specs, Gpt, GptConfig};
use phase2_lm::ops::IGNORE;
use phase2_lm::parallel::loss_and_grads_dropout;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{
    clip_grad_norm_flat, sample_batch, AdamW, Engine, RunConfig, TrainConfig, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cfg(pos_emb: bool) -> GptConfig {
    GptConfig {
        vocab_size: 13,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb,
    }
}

/// Largest absolute difference relative to the largest reference magnitude.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max);
    diff / b
        .iter()
        .map(|y| y.abs() as f64)
        .fold(0.0, f64::max)
        .max(1e-30)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// A model away from its initial values (LayerNorm gains and biases not at 1 / 0), and a batch.
fn perturbed(cfg: &GptConfig, seed: u64, b: usize, t: usize) -> (Gpt, Vec<u32>, Vec<u32>) {
    let model = Gpt::new(cfg, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for (_, v) in model.vars() {
        let noise: Vec<f32> = (0..v.elem_count())
            .map(|_| rng.gen_range(-0.3..0.3))
            .collect();
        let noise = Tensor::from_vec(noise, v.shape(), &Device::Cpu).unwrap();
        v.set(&(v.as_tensor() + noise).unwrap()).unwrap();
    }
    let mut ids = |n| -> Vec<u32> { (0..n).map(|_| rng.gen_range(0..13)).collect() };
    let (x, y) = (ids(b * t), ids(b * t));
    (model, x, y)
}

#[test]
fn m6_dropout_backward_matches_autograd_with_the_same_masks() {
    // (pos_emb, b, t, workers, p, some targets ignored)
    let cases = [
        (true, 3, 8, 1, 0.2, false),
        (true, 5, 8, 2, 0.5, false),
        (true, 5, 6, 3, 0.1, true),
        (false, 4, 8, 2, 0.3, false),
    ];
    for (k, &(pos_emb, b, t, workers, p, masked)) in cases.iter().enumerate() {
        let cfg = cfg(pos_emb);
        let seed = k as u64 + 1;
        let (model, x, mut y) = perturbed(&cfg, seed, b, t);
        if masked {
            for (i, v) in y.iter_mut().enumerate() {
                if i < t || i % 3 == 0 {
                    *v = IGNORE;
                }
            }
        }
        let d = Dropout {
            p,
            seed: 40 + seed,
            step: 7,
        };
        let xt = Tensor::from_vec(x.clone(), (b, t), &Device::Cpu).unwrap();
        let yt = Tensor::from_vec(y.clone(), (b, t), &Device::Cpu).unwrap();
        // Candle's autograd through the reference model, with the masks of rows 0..b.
        let masks = Masks::draw(&cfg, &d, 0, b, t);
        let loss = model.loss_masked(&xt, &yt, &masks).unwrap();
        let store = loss.backward().unwrap();
        let want_loss = loss.to_scalar::<f32>().unwrap();
        let plain = model.loss(&xt, &yt).unwrap().to_scalar::<f32>().unwrap();
        assert!(
            (want_loss - plain).abs() > 1e-3,
            "case {k}: dropout changed nothing ({want_loss} vs {plain})"
        );

        let mut fast = FastGpt::new(&cfg, workers).unwrap();
        let mut params = Vec::new();
        gather(&model, &fast.off, &mut params).unwrap();
        let mut grads = vec![0f32; params.len()];
        let got_loss = fast
            .loss_and_grads_dropout(&params, &x, &y, b, t, Some(&mut grads), Some(&d))
            .unwrap();
        assert!(
            ((got_loss - want_loss) / want_loss).abs() < 1e-5,
            "case {k}: loss {got_loss} vs autograd {want_loss}"
        );
        // The autograd reference split over workers (each part drawing its own rows' masks) too.
        let (split_loss, split) = loss_and_grads_dropout(&model, &xt, &yt, workers, &d).unwrap();
        assert!(((split_loss - want_loss) / want_loss).abs() < 1e-5);
        let spans = fast.off.spans().to_vec();
        for (((name, var), g2), (start, len)) in model.vars().iter().zip(&split).zip(spans) {
            let want = flat(store.get(var.as_tensor()).unwrap());
            let err = rel_err(&grads[start..start + len], &want);
            assert!(err < 1e-4, "case {k}: `{name}` gradient differs by {err:e}");
            let err = rel_err(&flat(g2), &want);
            assert!(err < 1e-4, "case {k}: split autograd `{name}`: {err:e}");
        }
        // The loss alone draws the same masks.
        let only = fast
            .loss_and_grads_dropout(&params, &x, &y, b, t, None, Some(&d))
            .unwrap();
        assert_eq!(only, got_loss, "case {k}");
    }
    // Masks that keep everything (p = 0) make the masked reference the plain one.
    let cfg = cfg(true);
    let (model, x, y) = perturbed(&cfg, 9, 2, 8);
    let xt = Tensor::from_vec(x, (2, 8), &Device::Cpu).unwrap();
    let yt = Tensor::from_vec(y, (2, 8), &Device::Cpu).unwrap();
    let keep_all = Dropout {
        p: 0.0,
        seed: 0,
        step: 0,
    };
    let all = Masks::draw(&cfg, &keep_all, 0, 2, 8);
    let a = model.loss_masked(&xt, &yt, &all).unwrap();
    let b = model.loss(&xt, &yt).unwrap();
    assert_eq!(a.to_scalar::<f32>().unwrap(), b.to_scalar::<f32>().unwrap());
    // Masks of the wrong shape are an error, not a broadcast.
    let short = Masks::draw(&cfg, &keep_all, 0, 1, 8);
    assert!(model.loss_masked(&xt, &yt, &short).is_err());
}

#[test]
fn m6_dropout_masks_depend_on_seed_step_and_row_only() {
    let cfg = cfg(true);
    let (b, t) = (5, 8);
    let d = Dropout {
        p: 0.25,
        seed: 11,
        step: 3,
    };
    let m = Masks::draw(&cfg, &d, 0, b, t);
    assert_eq!(m, Masks::draw(&cfg, &d, 0, b, t), "same key, same masks");
    for other in [
        Dropout { seed: 12, ..d },
        Dropout { step: 4, ..d },
        Dropout { p: 0.3, ..d },
    ] {
        let o = Masks::draw(&cfg, &other, 0, b, t);
        assert_ne!(m.emb, o.emb, "{other:?}");
        assert_ne!(m.layers[1].att, o.layers[1].att, "{other:?}");
    }
    // Rows drawn in parts (as workers do) are the rows drawn at once.
    let (head, tail) = (
        Masks::draw(&cfg, &d, 0, 2, t),
        Masks::draw(&cfg, &d, 2, 3, t),
    );
    let cat = |a: &[f32], b: &[f32]| [a, b].concat();
    assert_eq!(cat(&head.emb, &tail.emb), m.emb);
    for l in 0..cfg.n_layer {
        let (h, tl, w) = (&head.layers[l], &tail.layers[l], &m.layers[l]);
        assert_eq!(cat(&h.att, &tl.att), w.att);
        assert_eq!(cat(&h.attn_out, &tl.attn_out), w.attn_out);
        assert_eq!(cat(&h.mlp_out, &tl.mlp_out), w.mlp_out);
    }
    // Different rows get different masks.
    let c = cfg.d_model * t;
    assert_ne!(m.emb[..c], m.emb[c..2 * c]);
    // Every factor is 0 or 1/(1 − p); about p of them are 0; nothing above the attention diagonal.
    let scale = (1.0 / (1.0 - d.p)) as f32;
    let mut all: Vec<f32> = m.emb.clone();
    for la in &m.layers {
        all.extend(&la.attn_out);
        all.extend(&la.mlp_out);
        for (r, row) in la.att.chunks_exact(t).enumerate() {
            let i = r % t;
            assert!(row[i + 1..].iter().all(|&v| v == 0.0));
            all.extend(&row[..=i]);
        }
    }
    assert!(all.iter().all(|&v| v == 0.0 || v == scale));
    let dropped = all.iter().filter(|&&v| v == 0.0).count() as f64 / all.len() as f64;
    let sigma = (d.p * (1.0 - d.p) / all.len() as f64).sqrt();
    assert!(
        (dropped - d.p).abs() < 5.0 * sigma,
        "dropped {dropped} of {} factors, p = {}",
        all.len(),
        d.p
    );
}

const TEXT: &str =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat by a log.\n";

fn setup(dropout: f64) -> (RunConfig, AnyTokenizer, Vec<u32>) {
    let text = TEXT.repeat(20);
    let tok: AnyTokenizer = CharTokenizer::from_text(&text).into();
    let ids = tok.encode(&text);
    let mut train: TrainConfig = toml::from_str(
        "steps = 8\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 3\neval_interval = 4\neval_iters = 2\nseed = 3",
    )
    .unwrap();
    train.dropout = dropout;
    let model = GptConfig {
        vocab_size: tok.vocab_size(),
        ..cfg(true)
    };
    (RunConfig { model, train }, tok, ids)
}

/// Losses of `n` steps, then the weights.
fn run(cfg: &RunConfig, ids: &[u32], n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut t = Trainer::new(cfg.clone()).unwrap();
    let losses = (0..n).map(|_| t.step(ids).unwrap().loss).collect();
    (losses, t.params().to_vec())
}

#[test]
fn m6_dropout_zero_is_the_engine_without_dropout() {
    // A config without the key is dropout 0, and saving it writes no key: old configs and
    // checkpoints read and write as before.
    let (cfg, _, ids) = setup(0.0);
    assert_eq!(cfg.train.dropout, 0.0);
    let text = toml::to_string(&cfg).unwrap();
    assert!(!text.contains("dropout"), "{text}");
    let mut explicit = cfg.clone();
    explicit.train = toml::from_str(&format!(
        "{}dropout = 0.0\n",
        toml::to_string(&cfg.train).unwrap()
    ))
    .unwrap();
    assert_eq!(explicit, cfg);

    // The engine asked for dropout 0 computes exactly what it computes without the argument.
    let (model, x, y) = perturbed(&cfg.model, 1, 5, 8);
    let mut fast = FastGpt::new(&cfg.model, 2).unwrap();
    let mut params = Vec::new();
    gather(&model, &fast.off, &mut params).unwrap();
    let (mut g0, mut g1) = (vec![0f32; params.len()], vec![0f32; params.len()]);
    let l0 = fast
        .loss_and_grads(&params, &x, &y, 5, 8, Some(&mut g0))
        .unwrap();
    let zero = Dropout {
        p: 0.0,
        seed: 3,
        step: 0,
    };
    let l1 = fast
        .loss_and_grads_dropout(&params, &x, &y, 5, 8, Some(&mut g1), Some(&zero))
        .unwrap();
    assert_eq!(l0, l1);
    assert!(g0 == g1, "dropout 0 changed the gradient");

    // A trainer with dropout 0 takes exactly the steps of the engine without dropout, replayed
    // here from public parts: the same batches, `loss_and_grads`, clipping and AdamW, bit for bit.
    let replay = |cfg: &RunConfig, n: usize| -> (Vec<f32>, Vec<f32>) {
        let t = Trainer::new(cfg.clone()).unwrap();
        let (mut params, mut rng) = (t.params().to_vec(), t.rng.clone());
        let decay = param_specs(&cfg.model)
            .iter()
            .map(|(_, s)| s.len() >= 2)
            .collect();
        let mut opt = AdamW::new(&cfg.train, decay);
        let mut fast = FastGpt::new(&cfg.model, cfg.train.workers).unwrap();
        let mut grads = vec![0f32; params.len()];
        let mut losses = Vec::new();
        for step in 0..n {
            let (bs, block) = (cfg.train.batch_size, cfg.model.block_size);
            let batch = sample_batch(&ids, bs, block, &mut rng).unwrap();
            let loss = fast
                .loss_and_grads(&params, &batch.x, &batch.y, bs, block, Some(&mut grads))
                .unwrap();
            clip_grad_norm_flat(&mut grads, cfg.train.grad_clip);
            let lr = cfg.train.schedule().lr_at(step);
            let spans = fast.off.spans().to_vec();
            opt.step_flat(&mut params, &grads, &spans, lr, cfg.train.workers)
                .unwrap();
            losses.push(loss);
        }
        (losses, params)
    };
    let (want_losses, want_weights) = replay(&cfg, 4);
    let (losses, weights) = run(&cfg, &ids, 4);
    assert_eq!(losses, want_losses);
    assert!(weights == want_weights, "dropout 0 changed the weights");
    // The replay would notice dropout: with p > 0 the first loss already differs.
    let (dropped, _) = run(&setup(0.1).0, &ids, 1);
    assert_ne!(dropped[0], want_losses[0]);
}

#[test]
fn m6_dropout_same_seed_same_losses_on_any_worker_count_and_after_resume() {
    let (cfg, tok, ids) = setup(0.2);
    let (losses, weights) = run(&cfg, &ids, 6);
    let (again, again_weights) = run(&cfg, &ids, 6);
    assert_eq!(again, losses);
    assert!(again_weights == weights, "same seed, other weights");
    // Another seed draws other masks (and another model and batches): other losses.
    let mut other = cfg.clone();
    other.train.seed += 1;
    assert_ne!(run(&other, &ids, 6).0, losses);
    // The masks are keyed by the row, not the worker: splitting the batch differently changes only
    // the float summation order.
    for workers in [1, 3] {
        let mut c = cfg.clone();
        c.train.workers = workers;
        for (a, b) in run(&c, &ids, 6).0.iter().zip(&losses) {
            assert!(((a - b) / b).abs() < 1e-5, "{workers} workers: {a} vs {b}");
        }
    }
    // Resumed from a checkpoint (which stores the step), the run draws the masks it would have.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut first = Trainer::new(cfg.clone()).unwrap();
    let mut resumed: Vec<f32> = (0..3).map(|_| first.step(&ids).unwrap().loss).collect();
    checkpoint::save(&ckpt, &first, &tok).unwrap();
    drop(first);
    let (mut second, _) = checkpoint::load(&ckpt).unwrap();
    assert_eq!(second.cfg.train.dropout, 0.2);
    resumed.extend((0..3).map(|_| second.step(&ids).unwrap().loss));
    assert_eq!(resumed, losses);
    assert!(
        second.params() == &weights[..],
        "resumed run ended elsewhere"
    );
}

#[test]
fn m6_dropout_is_off_in_evaluation() {
    let (cfg, _, ids) = setup(0.3);
    let mut dropped = Trainer::new(cfg.clone()).unwrap();
    for _ in 0..3 {
        dropped.step(&ids).unwrap();
    }
    let mut no_dropout = cfg.clone();
    no_dropout.train.dropout = 0.0;
    let mut same_weights = Trainer::from_params(no_dropout, dropped.params().to_vec()).unwrap();
    let val = dropped.val_batches(&ids).unwrap();
    let eval = dropped.evaluate(&val).unwrap();
    assert_eq!(eval, same_weights.evaluate(&val).unwrap());
    assert_eq!(eval, dropped.evaluate(&val).unwrap(), "no randomness");
    assert_eq!(
        dropped.evaluate_full(&ids).unwrap(),
        same_weights.evaluate_full(&ids).unwrap()
    );
    // A training step on the same weights and batch does drop.
    let batch = &val[0];
    let (a, b) = (
        dropped.step_on(batch).unwrap().loss,
        same_weights.step_on(batch).unwrap().loss,
    );
    assert_ne!(a, b);
}

/// Both engines, any worker count, draw the same masks: the trainers follow the single-threaded
/// autograd trainer step by step (losses, gradient norms, weights within 1e-4).
#[test]
fn m6_dropout_plain_and_fast_trainers_agree() {
    for (ops, workers) in [
        (Engine::Plain, 2),
        (Engine::Fast, 1),
        (Engine::Fast, 2),
        (Engine::Fast, 3),
    ] {
        let (mut cfg, _, ids) = setup(0.2);
        cfg.train.ops = Engine::Plain;
        cfg.train.workers = 1;
        let mut plain = Trainer::new(cfg.clone()).unwrap();
        cfg.train.ops = ops;
        cfg.train.workers = workers;
        let mut other = Trainer::new(cfg).unwrap();
        for _ in 0..4 {
            let (a, b) = (plain.step(&ids).unwrap(), other.step(&ids).unwrap());
            assert!(
                ((a.loss - b.loss) / a.loss).abs() < 1e-4,
                "plain {} vs {ops} x{workers} {}",
                a.loss,
                b.loss
            );
            assert!(((a.grad_norm - b.grad_norm) / a.grad_norm).abs() < 1e-4);
        }
        for (p, q) in plain.params().iter().zip(other.params()) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{ops} x{workers}");
        }
    }
}

#[test]
fn m6_dropout_outside_zero_to_one_is_a_config_error() {
    for p in [1.0, -0.1, f64::NAN] {
        let (cfg, _, _) = setup(p);
        let err = Trainer::new(cfg).err().expect("rejected").to_string();
        assert!(err.contains("train.dropout"), "{err}");
    }
}
