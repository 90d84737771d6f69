//! m6_long — the GPT that trains against the clock to beat the n-gram: the curve fit and the
//! selection on synthetic curves, the wall-clock budget, resuming into one continuous record, the
//! per-target losses the analyses read, the n-gram's sampler, the config's errors, the PyTorch
//! command line, and the whole command on a small text.

use phase2_experiments::records::{LongPlanSummary, LongSummary, SelectSummary};
use std::path::{Path, PathBuf};

use phase2_experiments::m6_long::{
    self, choose, extrapolate_curve, long_session, speaker_mask, CurvePoint, LongExperiment,
    LongOptions, LongPlan, SelectResult, SessionLimits,
};
use phase2_lm::checkpoint::{self, Progress};
use phase2_lm::corpus::{build_tokenizer, Corpus, TokenizerSpec};
use phase2_lm::extrapolate::PowerLaw;
use phase2_lm::fit::{fit_timed, Stop, TimedOptions};
use phase2_lm::generate::Sampling;
use phase2_lm::model::GptConfig;
use phase2_lm::ngram::NgramModel;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{sliding_windows, RunConfig, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use viz::record::{Record, Status};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A play-shaped text: speeches of a few lines of words, each after a speaker's name.
fn play(chars: usize, seed: u64) -> String {
    let names = ["ROMEO:", "JULIET:", "First Citizen:", "KING RICHARD III:"];
    let words = [
        "the", "king", "love", "night", "sweet", "death", "my", "lord", "and", "thou", "art",
        "not", "what", "is", "a", "name", "good", "morrow",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::new();
    while s.len() < chars {
        s.push_str(names[rng.gen_range(0..names.len())]);
        s.push('\n');
        for _ in 0..rng.gen_range(1..4) {
            let n = rng.gen_range(3..9);
            let line: Vec<&str> = (0..n)
                .map(|_| words[rng.gen_range(0..words.len())])
                .collect();
            s.push_str(&line.join(" "));
            s.push_str(if rng.gen_bool(0.5) { ",\n" } else { ".\n" });
        }
        s.push('\n');
    }
    s
}

fn points(law: &PowerLaw, ts: &[f64]) -> Vec<(f64, f64)> {
    ts.iter().map(|&t| (t, law.at(t))).collect()
}

#[test]
fn m6_long_fit_recovers_known_power_laws() {
    let ts: Vec<f64> = (1..=16).map(|k| 15.0 * k as f64).collect();
    for truth in [
        PowerLaw {
            a: 1.3,
            b: 2.5,
            c: 0.45,
        },
        PowerLaw {
            a: 0.9,
            b: 6.0,
            c: 0.8,
        },
        PowerLaw {
            a: 0.0,
            b: 3.0,
            c: 0.2,
        },
    ] {
        let fit = PowerLaw::fit(&points(&truth, &ts)).unwrap();
        for (got, want, what) in [
            (fit.a, truth.a, "a"),
            (fit.b, truth.b, "b"),
            (fit.c, truth.c, "c"),
        ] {
            assert!(
                (got - want).abs() < 1e-3 * want.abs().max(1.0),
                "{what}: fitted {got}, true {want} ({truth:?} -> {fit:?})"
            );
        }
        // 22x past the data, as the selection extrapolates 4 minutes to 90.
        let far = 5400.0;
        assert!((fit.at(far) - truth.at(far)).abs() < 1e-3);
    }
    // With noise the far value is still close.
    let truth = PowerLaw {
        a: 1.3,
        b: 2.5,
        c: 0.45,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noisy: Vec<(f64, f64)> = points(&truth, &ts)
        .into_iter()
        .map(|(t, l)| (t, l + rng.gen_range(-0.002..0.002)))
        .collect();
    let fit = PowerLaw::fit(&noisy).unwrap();
    assert!(
        (fit.at(5400.0) - truth.at(5400.0)).abs() < 0.05,
        "{fit:?} at 5400: {} vs {}",
        fit.at(5400.0),
        truth.at(5400.0)
    );
    // When a curve reaches a target, and that a floor above it is never.
    let t = truth.time_to(1.5).unwrap();
    assert!((truth.at(t) - 1.5).abs() < 1e-9);
    assert_eq!(truth.time_to(1.2), None);
    // No falling power law: too few points, a flat or rising curve.
    assert!(PowerLaw::fit(&[(1.0, 2.0), (2.0, 1.9)]).is_none());
    assert!(PowerLaw::fit(&[(1.0, 2.0), (2.0, 2.0), (3.0, 2.0)]).is_none());
    assert!(PowerLaw::fit(&[(1.0, 1.0), (2.0, 1.5), (3.0, 2.0)]).is_none());
    assert!(PowerLaw::fit(&[(0.0, 2.0), (2.0, 1.5), (3.0, 1.4)]).is_none());
}

fn result(name: &str, curve: Vec<CurvePoint>, horizon: f64) -> SelectResult {
    let (fit, extrapolated) = extrapolate_curve(&curve, 60.0, 0, horizon);
    SelectResult {
        name: name.into(),
        params: 0,
        probe_seconds_per_step: 0.1,
        seconds_per_step: 0.1,
        tokens_per_s: 1.0,
        schedule_steps: 1,
        eval_interval: 1,
        curve,
        fit_from_s: 60.0,
        fit,
        fit_rmse: None,
        extrapolated,
        ngram_subset: 1.5,
        minutes_to_ngram: None,
    }
}

fn curve_of(law: &PowerLaw, ts: &[f64]) -> Vec<CurvePoint> {
    ts.iter()
        .enumerate()
        .map(|(i, &t)| CurvePoint {
            step: i + 1,
            seconds: t,
            chars: t * 1000.0,
            val_loss: law.at(t),
        })
        .collect()
}

#[test]
fn m6_long_selection_picks_the_best_extrapolation_not_the_best_now() {
    let ts: Vec<f64> = (1..=16).map(|k| 15.0 * k as f64).collect();
    let horizon = 5400.0;
    // A small model: lower after 4 minutes, but levelling off high. A large one: higher now,
    // still falling fast.
    let small = PowerLaw {
        a: 1.6,
        b: 1.0,
        c: 0.5,
    };
    let large = PowerLaw {
        a: 1.2,
        b: 8.0,
        c: 0.4,
    };
    assert!(small.at(240.0) < large.at(240.0));
    assert!(large.at(horizon) < small.at(horizon));
    let results = vec![
        result("small", curve_of(&small, &ts), horizon),
        result("large", curve_of(&large, &ts), horizon),
    ];
    assert_eq!(choose(&results), Some(1));
    assert!((results[1].extrapolated - large.at(horizon)).abs() < 1e-3);
    // Only evaluations from 60 s on are fitted: a first transient does not bend the fit.
    let mut with_transient = curve_of(&large, &ts);
    with_transient[0].val_loss = 9.0;
    let (fit, _) = extrapolate_curve(&with_transient, 60.0, 0, horizon);
    assert!((fit.unwrap().c - large.c).abs() < 1e-3);
    // A curve without a falling power law keeps its last value; an infinite one is never chosen.
    let flat: Vec<CurvePoint> = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| CurvePoint {
            step: i + 1,
            seconds: t,
            chars: 0.0,
            val_loss: 1.0,
        })
        .collect();
    let flat = result("flat", flat, horizon);
    assert!(flat.fit.is_none());
    assert_eq!(flat.extrapolated, 1.0);
    let mut broken = result("broken", curve_of(&small, &ts), horizon);
    broken.extrapolated = f64::NAN;
    assert_eq!(choose(&[broken.clone(), flat]), Some(1));
    assert_eq!(choose(&[broken]), None);
}

fn tiny_run(vocab: usize, steps: usize, eval_interval: usize) -> RunConfig {
    RunConfig {
        model: GptConfig {
            vocab_size: vocab,
            block_size: 16,
            n_layer: 1,
            n_head: 2,
            d_model: 16,
            pos_emb: true,
        },
        train: TrainConfig {
            steps,
            batch_size: 4,
            max_lr: 3e-3,
            min_lr: 3e-4,
            warmup: 5,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: 1.0,
            eval_interval,
            eval_iters: 1,
            log_interval: 5,
            seed: 11,
            ops: Default::default(),
            workers: 2,
            dropout: 0.1,
        },
    }
}

struct Text {
    tokenizer: AnyTokenizer,
    train: Vec<u32>,
    val: Vec<u32>,
    ngram: NgramModel,
}

fn text() -> Text {
    let corpus = Corpus::split(&play(20_000, 1));
    let tokenizer = build_tokenizer(&TokenizerSpec::Char {}, &corpus).unwrap();
    let train = tokenizer.encode(&corpus.train_text);
    let ngram = NgramModel::train(&train, 6, tokenizer.vocab_size()).unwrap();
    Text {
        train,
        val: tokenizer.encode(&corpus.val_text),
        tokenizer,
        ngram,
    }
}

#[test]
fn m6_long_budget_stops_training() {
    let t = text();
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&root(), scratch.path(), true);
    let ckpt = scratch.path().join("ckpt");
    let mut trainer = Trainer::new(tiny_run(t.tokenizer.vocab_size(), 1_000_000, 10)).unwrap();
    let mut evals = 0;
    let mut eval = |_: &mut Trainer| -> anyhow::Result<f64> {
        evals += 1;
        Ok(1.0)
    };
    let mut logged = Vec::new();
    let mut log = |step: u64, v: &[(&str, f64)]| -> anyhow::Result<()> {
        logged.extend(v.iter().map(|(k, x)| (step, k.to_string(), *x)));
        Ok(())
    };
    let budget = 0.3;
    let out = fit_timed(
        &ctx,
        &mut trainer,
        &t.tokenizer,
        &t.train,
        Progress::default(),
        TimedOptions {
            budget_s: budget,
            session_s: None,
            until_step: None,
            checkpoint: Some(&ckpt),
            checkpoint_every_s: f64::INFINITY,
            label: "budget",
        },
        &mut eval,
        &mut log,
    )
    .unwrap();
    assert_eq!(out.stop, Stop::Budget);
    assert!(out.train_seconds >= budget, "{out:?}");
    assert!(out.steps > 0 && out.steps < 1_000_000, "{out:?}");
    assert_eq!(trainer.step, out.steps);
    // Evaluated at step 0 and where it stopped; the clock is saved beside the weights.
    let last_eval = logged
        .iter()
        .filter(|(_, k, _)| k == "val_loss")
        .map(|(s, _, _)| *s)
        .max();
    assert_eq!(last_eval, Some(out.steps as u64));
    assert!(evals >= 2);
    let saved = checkpoint::load_progress(&ckpt).unwrap();
    assert_eq!(saved.train_seconds, out.train_seconds);
    assert_eq!(checkpoint::load(&ckpt).unwrap().0.step, out.steps);
    // A run whose clock is already past the budget trains no further.
    let again = fit_timed(
        &ctx,
        &mut trainer,
        &t.tokenizer,
        &t.train,
        saved,
        TimedOptions {
            budget_s: budget,
            session_s: None,
            until_step: None,
            checkpoint: None,
            checkpoint_every_s: f64::INFINITY,
            label: "budget",
        },
        &mut |_| Ok(1.0),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!((again.stop, again.steps), (Stop::Budget, 0));
    // A session limit stops too, before the budget.
    let session = fit_timed(
        &ctx,
        &mut trainer,
        &t.tokenizer,
        &t.train,
        Progress::default(),
        TimedOptions {
            budget_s: 1e9,
            session_s: Some(0.05),
            until_step: None,
            checkpoint: None,
            checkpoint_every_s: f64::INFINITY,
            label: "session",
        },
        &mut |_| Ok(1.0),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(session.stop, Stop::Session);
    assert!(session.steps > 0);
}

fn plan(t: &Text, steps: usize) -> LongPlan {
    let run = tiny_run(t.tokenizer.vocab_size(), steps, 10);
    LongPlan {
        candidate: quick_config().candidates[0].clone(),
        run,
        seconds_per_step: 0.01,
        budget_s: 1e9,
        checkpoint_every_s: 0.0,
        eval_chars: 400,
        chosen_by: "config".into(),
    }
}

fn quick_config() -> LongExperiment {
    let text = std::fs::read_to_string(root().join("configs/phase2/quick/m6_long.toml")).unwrap();
    m6_long::parse_config(&text).unwrap()
}

/// Every (step, value) of `key`, and that no step appears twice.
fn series(rec: &Record, key: &str) -> Vec<(f64, f64)> {
    let s = rec.series(key).unwrap();
    assert!(
        s.windows(2).all(|w| w[0].0 < w[1].0),
        "{key}: a step logged twice"
    );
    s
}

#[test]
fn m6_long_resume_continues_the_curve() {
    let t = text();
    let raw = toml::Value::Table(Default::default());
    let (n, half) = (40, 20);
    let session = |ctx: &viz::Context, until: usize, resume: bool| {
        long_session(
            ctx,
            &raw,
            &plan(&t, 100),
            &t.tokenizer,
            &t.train,
            &t.val,
            &t.ngram,
            SessionLimits {
                session_s: None,
                until_step: Some(until),
            },
            resume,
        )
        .unwrap()
    };

    let a = tempfile::tempdir().unwrap();
    let straight_ctx = viz::Context::quick(&root(), a.path(), true);
    let (stop, straight, writer) = session(&straight_ctx, n, false);
    assert!(stop == Stop::Session && writer.is_none());
    let straight_rec = Record::load(&straight_ctx, "m6", m6_long::LONG_RUN).unwrap();
    assert_eq!(straight_rec.meta.status, Status::Paused);

    let b = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&root(), b.path(), true);
    let (_, first, _) = session(&ctx, half, false);
    assert_eq!(first.step, half);
    // The killed-session case: the record went on past the checkpoint before the process died.
    let metrics = ctx
        .records
        .join("m6")
        .join(m6_long::LONG_RUN)
        .join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str(&format!(
        "{{\"step\":{},\"key\":\"val_loss\",\"value\":99.0}}\n",
        half + 3
    ));
    std::fs::write(&metrics, text).unwrap();
    let (_, resumed, _) = session(&ctx, n, true);
    assert_eq!(resumed.step, n);
    let rec = Record::load(&ctx, "m6", m6_long::LONG_RUN).unwrap();

    // The same trajectory, bit for bit: losses at the same steps, the same final weights.
    for key in ["val_loss", "train_loss", "tokens_seen"] {
        let (s, r) = (series(&straight_rec, key), series(&rec, key));
        assert_eq!(s, r, "{key}");
    }
    assert_eq!(straight.params(), resumed.params());
    // One continuous clock: the second session's times go on from the checkpoint's.
    let secs = series(&rec, "train_seconds");
    assert!(secs.windows(2).all(|w| w[0].1 <= w[1].1), "{secs:?}");
    assert!(secs.iter().any(|p| p.0 > half as f64));
    let sessions: Vec<m6_long::SessionRow> = rec.artifact("sessions").unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!((sessions[1].from_step, sessions[1].to_step), (half, n));
    // (The clock goes through JSON in the checkpoint: equal up to the last bit.)
    assert!((sessions[1].from_minutes - sessions[0].to_minutes).abs() < 1e-12);
    assert!(
        rec.summary_as::<LongPlanSummary>().is_ok(),
        "the first session's summary stays"
    );
}

#[test]
fn m6_long_token_losses_are_the_loss_per_target() {
    let t = text();
    let mut trainer = Trainer::new(tiny_run(t.tokenizer.vocab_size(), 10, 10)).unwrap();
    for _ in 0..5 {
        trainer.step(&t.train).unwrap();
    }
    let val = &t.val[..600];
    let (mean, range) = trainer.evaluate_sliding(val, 8).unwrap();
    let (losses, range2) = trainer.sliding_token_losses(val, 8, 3).unwrap();
    assert_eq!(range, range2);
    assert_eq!(losses.len(), range.len());
    let avg = losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64;
    assert!((avg - mean).abs() < 1e-4, "{avg} vs {mean}");
    // Each loss is the model's own next-token log-probability (checked against a batch of one).
    let (windows, _) = sliding_windows(val, 16, 8, 1).unwrap();
    let one = trainer.token_losses(&windows[..1]).unwrap();
    assert_eq!(one.len(), 8);
    assert!((one[0] - losses[0]).abs() < 1e-5);
    // Same with a batch size the training step shares (no reallocation): same numbers.
    let (batched, _) = trainer.evaluate_sliding_batched(val, 8, 4).unwrap();
    assert!((batched - mean).abs() < 1e-5);
}

#[test]
fn m6_long_ngram_samples_through_the_gpt_sampler() {
    let t = text();
    let prompt = t.tokenizer.encode("ROMEO:\n");
    let s = Sampling {
        temperature: 0.8,
        top_k: None,
        top_p: Some(0.95),
    };
    let draw = |seed: u64, s: &Sampling| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        t.ngram.sample_with(&prompt, 80, s, &mut rng)
    };
    assert_eq!(draw(7, &s), draw(7, &s));
    assert_ne!(draw(7, &s), draw(8, &s));
    // Temperature 0 is the most likely character every time.
    let greedy = Sampling {
        temperature: 0.0,
        top_k: None,
        top_p: None,
    };
    let g = draw(1, &greedy);
    let mut ctx = prompt.clone();
    for &tok in &g {
        let d = t.ngram.distribution(&ctx[ctx.len() - 5..]);
        let best = d.iter().copied().fold(0.0, f64::max);
        assert!(d[tok as usize] >= best * (1.0 - 1e-6), "{tok}: {d:?}");
        ctx.push(tok);
    }
    // token_loss is cross_entropy's term.
    let val = &t.val[..300];
    let mean: f64 = (5..val.len())
        .map(|i| t.ngram.token_loss(val, i))
        .sum::<f64>()
        / (val.len() - 5) as f64;
    assert!((mean - t.ngram.cross_entropy(val, 5)).abs() < 1e-12);
}

#[test]
fn m6_long_speaker_mask_marks_name_lines() {
    let text: Vec<char> = "ROMEO:\nHow now:\n\nKING RICHARD III:\nA horse!\n\nno name here\n"
        .chars()
        .collect();
    let mask = speaker_mask(&text);
    let marked: String = text
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(c, _)| *c)
        .collect();
    // The first line counts (text start), a line ending in ':' inside a speech does not.
    assert_eq!(marked, "ROMEO:\nKING RICHARD III:\n");
}

#[test]
fn m6_long_bad_config_values_name_the_key() {
    let good = std::fs::read_to_string(root().join("configs/phase2/m6_long.toml")).unwrap();
    let cfg = m6_long::parse_config(&good).unwrap();
    assert!(cfg.long.budget_minutes <= m6_long::MAX_BUDGET_MINUTES);
    assert!(cfg.candidates.len() >= 2);
    quick_config();
    let err = |from: &str, to: &str| -> String {
        assert!(good.contains(from), "the config has no `{from}`");
        format!(
            "{:#}",
            m6_long::parse_config(&good.replacen(from, to, 1)).unwrap_err()
        )
    };
    for (from, to, expect) in [
        (
            "budget_minutes = 90.0",
            "budget_minutes = 120.0",
            "long.budget_minutes",
        ),
        ("minutes = 4.0", "minutes = 0.0", "select.minutes"),
        ("fit_from = 0.25", "fit_from = 1.0", "select.fit_from"),
        ("chars = 20000", "chars = 0", "eval.chars"),
        (
            "schedule_fraction = 0.95",
            "schedule_fraction = 1.5",
            "long.schedule_fraction",
        ),
        ("n_head = 6", "n_head = 5", "candidate[1].n_head"),
        ("dropout = 0.1", "dropout = 1.0", "candidate[0].dropout"),
        (
            "name = \"d192_l4\"",
            "name = \"d128_l4\"",
            "candidate[1].name",
        ),
        (
            "# candidate = \"d256_l4\"",
            "candidate = \"d512\"",
            "long.candidate",
        ),
        ("max_lr = 1e-3", "max_lr = 0.0", "candidate[0].max_lr"),
        // Unknown keys and wrong values are parse errors naming the key or the valid values.
        ("eval_seconds = 15.0", "eval_every = 15.0", "eval_every"),
        ("ops = \"fast\"", "ops = \"quick\"", "fast"),
    ] {
        let e = err(from, to);
        assert!(e.contains(expect), "{from} -> {to}: {e}");
    }
}

#[test]
fn m6_long_bench_command_line_matches_torch_gpt_argparse() {
    let script =
        std::fs::read_to_string(root().join("crates/phase2-lm/scripts/torch_gpt.py")).unwrap();
    let cfg = quick_config();
    let run = cfg.candidates[1].run_config(&cfg.train, 65, 3, 3);
    let args = phase2_experiments::bench::torch_size_args(&run.model, &run.train);
    for pair in args.chunks(2) {
        assert!(
            script.contains(&format!("p.add_argument(\"{}\"", pair[0])),
            "torch_gpt.py has no {}",
            pair[0]
        );
        assert!(pair[1].parse::<f64>().is_ok(), "{pair:?}");
    }
    let value = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
    assert_eq!(value("--d"), "24");
    assert_eq!(value("--layers"), "2");
    assert_eq!(value("--block"), "16");
    assert_eq!(value("--batch"), "4");
    assert_eq!(value("--heads"), "2");
}

/// The whole command on a small play: selection, long run, comparison, figures and log entry; then
/// the guards (an unfinished run is not overwritten, a finished one not resumed).
#[test]
fn m6_long_command_end_to_end_on_a_small_text() {
    let scratch = tempfile::tempdir().unwrap();
    let ctx = viz::Context::quick(&root(), scratch.path(), true);
    let corpus = Corpus::split(&play(30_000, 2));
    let mut cfg = quick_config();
    cfg.select.minutes = 0.01;
    cfg.select.eval_seconds = 0.1;
    cfg.long.budget_minutes = 0.03;
    cfg.long.eval_minutes = 0.005;
    cfg.samples.chars = 30;
    let raw = toml::Value::try_from(&cfg).unwrap();
    let run = |opts: LongOptions| m6_long::gpt_long_with(&ctx, &cfg, &raw, &corpus, opts);

    run(LongOptions::default()).unwrap();
    let sel = Record::load(&ctx, "m6", m6_long::SELECT_RUN).unwrap();
    let results: Vec<SelectResult> = sel.artifact("candidates").unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| !r.curve.is_empty()));
    let long = Record::load(&ctx, "m6", m6_long::LONG_RUN).unwrap();
    assert_eq!(long.meta.status, Status::Finished);
    let summary = LongSummary::read(&long).unwrap();
    let (sliding, result) = (summary.sliding.unwrap(), summary.result.unwrap());
    let minutes = summary.progress.unwrap().train_minutes;
    for (key, v) in [
        ("val_loss_sliding", sliding.val_loss_sliding),
        ("ngram_val_loss_sliding", sliding.ngram_val_loss_sliding),
        ("val_loss_full", result.val_loss_full),
        ("ngram_subset_loss", summary.plan.ngram_subset_loss),
        ("train_minutes", minutes),
    ] {
        assert!(v.is_finite(), "{key}");
    }
    assert!(minutes <= 0.03 + 0.01);
    let samples = long.text("samples").unwrap();
    assert!(
        samples.contains("6-gram") && samples.contains("Long GPT"),
        "{samples}"
    );
    let plan: LongPlan = long.artifact("plan").unwrap();
    assert_eq!(
        plan.candidate.name,
        results[sel.summary_as::<SelectSummary>().unwrap().chosen_index as usize].name
    );

    let specs = m6_long::figures(&ctx).unwrap();
    viz::phase::render(&ctx, &specs).unwrap();
    let figs: Vec<&str> = specs.iter().map(|s| s.file.as_str()).collect();
    for f in [m6_long::FIG_SELECTION, m6_long::FIG_VS_NGRAM] {
        assert!(figs.contains(&f), "{f} in {figs:?}");
        assert!(ctx.figure(f).metadata().unwrap().len() > 1000);
    }
    let entries = m6_long::log_entries(&ctx).unwrap();
    assert_eq!(entries.len(), 1);
    let md = entries[0].render("visualizations/");
    for part in [
        "Selection",
        "By position in the window",
        "Speaker names and running text",
        "Samples",
        "minutes of wall clock in all",
        "the training loss (dropout on)",
        m6_long::FIG_VS_NGRAM,
    ] {
        assert!(md.contains(part), "the entry has no {part}:\n{md}");
    }

    // A finished run is not resumed; a paused one is not silently replaced.
    assert!(run(LongOptions {
        resume: true,
        ..Default::default()
    })
    .is_err());
    run(LongOptions {
        session_minutes: Some(0.002),
        ..Default::default()
    })
    .unwrap();
    let paused = Record::load(&ctx, "m6", m6_long::LONG_RUN).unwrap();
    assert_eq!(paused.meta.status, Status::Paused);
    let e = format!("{:#}", run(LongOptions::default()).unwrap_err());
    assert!(e.contains("--resume"), "{e}");
    run(LongOptions {
        resume: true,
        ..Default::default()
    })
    .unwrap();
    let done = Record::load(&ctx, "m6", m6_long::LONG_RUN).unwrap();
    assert_eq!(done.meta.status, Status::Finished);
    let sessions: Vec<m6_long::SessionRow> = done.artifact("sessions").unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(Path::new(&checkpoint::dir_for(&ctx, m6_long::CHECKPOINT)).is_dir());
}

/// `bench --size long` times the candidate the config names (or the selection chose) and records
/// its own run; without either it says what to do.
#[test]
fn m6_long_bench_at_size_records_its_own_run() {
    let tmp = tempfile::tempdir().unwrap();
    let quick_dir = tmp.path().join("configs/phase2/quick");
    std::fs::create_dir_all(&quick_dir).unwrap();
    let text = std::fs::read_to_string(root().join("configs/phase2/quick/m6_long.toml")).unwrap();
    let config = quick_dir.join("m6_long.toml");
    std::fs::write(&config, &text).unwrap();
    let ctx = viz::Context {
        root: tmp.path().to_path_buf(),
        records: tmp.path().join("records"),
        figures: tmp.path().join("visualizations"),
        docs: tmp.path().to_path_buf(),
        data_cache: root().join(".data"),
        quick: true,
        quiet: true,
    };
    let e = format!(
        "{:#}",
        m6_long::bench_long(&ctx, None, Some(2)).unwrap_err()
    );
    assert!(e.contains("--select"), "{e}");
    std::fs::write(
        &config,
        text.replace("[samples]", "candidate = \"small\"\n\n[samples]"),
    )
    .unwrap();
    m6_long::bench_long(&ctx, None, Some(2)).unwrap();
    let rec = Record::load(&ctx, "m6", m6_long::BENCH_LONG_RUN).unwrap();
    let rows: Vec<phase2_experiments::bench::BenchRow> = rec.artifact("rows").unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.tokens_per_s > 0.0));
    let bench: phase2_experiments::bench::BenchConfig = rec.config_as().unwrap();
    assert_eq!((bench.model.d_model, bench.model.n_layer), (24, 2));
    assert_eq!(bench.train.dropout, 0.0, "torch_gpt.py has no dropout");
}
