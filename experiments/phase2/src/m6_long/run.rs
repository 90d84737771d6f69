//! The long run, its comparison with the n-gram, and the `gpt-long` / `bench --size long` commands.

use super::*;

/// What the long run trains, fixed when it starts and stored in its record (`plan` artifact): a
/// resumed session reads it from there, whatever the config says by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongPlan {
    pub candidate: Candidate,
    /// `train.steps` is the schedule's length, `train.eval_interval` the evaluation cadence.
    pub run: RunConfig,
    /// The speed the schedule was planned with.
    pub seconds_per_step: f64,
    pub budget_s: f64,
    pub checkpoint_every_s: f64,
    pub eval_chars: usize,
    /// `"selection"` (the short runs chose it) or `"config"` (`[long] candidate`).
    pub chosen_by: String,
}

pub(super) fn plan_long(
    cfg: &LongExperiment,
    data: &Data<'_>,
    selection: Option<(&[SelectResult], usize)>,
) -> Result<LongPlan> {
    let (cand, measured, chosen_by) = match (&cfg.long.candidate, selection) {
        (Some(name), sel) => {
            let measured = sel
                .and_then(|(r, _)| r.iter().find(|r| &r.name == name))
                .map(|r| r.seconds_per_step);
            (cfg.candidate(name)?, measured, "config")
        }
        (None, Some((results, chosen))) => (
            cfg.candidate(&results[chosen].name)?,
            Some(results[chosen].seconds_per_step),
            "selection",
        ),
        (None, None) => bail!("no candidate: run the selection or set [long] candidate"),
    };
    let vocab = data.tokenizer.vocab_size();
    let sps = match measured {
        Some(s) => s,
        None => probe(
            &cand.run_config(&cfg.train, vocab, 1, 1),
            &data.train_ids,
            cfg.select.probe_steps,
        )?,
    };
    let budget_s = cfg.long.budget_minutes * 60.0;
    let steps = schedule_steps(budget_s, sps, cfg.long.schedule_fraction);
    let eval_interval = interval_steps(cfg.long.eval_minutes * 60.0, sps, cfg.train.log_interval);
    Ok(LongPlan {
        candidate: cand.clone(),
        run: cand.run_config(&cfg.train, vocab, steps, eval_interval),
        seconds_per_step: sps,
        budget_s,
        checkpoint_every_s: cfg.long.checkpoint_minutes * 60.0,
        eval_chars: cfg.eval.chars,
        chosen_by: chosen_by.into(),
    })
}

/// One session of the long run, as recorded in its `sessions` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub git_commit: String,
    pub from_step: usize,
    pub to_step: usize,
    pub from_minutes: f64,
    pub to_minutes: f64,
    pub stop: Stop,
}

/// How this session may end early (besides the budget and the schedule).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionLimits {
    /// Stop after this many training seconds of this session.
    pub session_s: Option<f64>,
    /// Stop when the trainer reaches this step (tests).
    pub until_step: Option<usize>,
}

/// Train the long run: from scratch (`resume = false`: a new record `m6/long` and checkpoint
/// `checkpoints/m6_long`) or from its last checkpoint into the same record. Returns why the session
/// stopped and the trainer; the record is left `paused` when the session stopped early and open
/// for [`finish_long`] otherwise.
#[allow(clippy::too_many_arguments)]
pub fn long_session(
    ctx: &viz::Context,
    raw: &toml::Value,
    plan: &LongPlan,
    tokenizer: &AnyTokenizer,
    train_ids: &[u32],
    val_ids: &[u32],
    ngram: &NgramModel,
    limits: SessionLimits,
    resume: bool,
) -> Result<(Stop, Trainer, Option<RunWriter>)> {
    let ckpt = checkpoint::dir_for(ctx, CHECKPOINT);
    let block = plan.run.model.block_size;
    let stride = block / 2;
    let subset = eval_subset(val_ids, plan.eval_chars);
    let (mut trainer, start, mut writer, mut sessions) = if resume {
        let old = Record::load(ctx, MILESTONE, LONG_RUN)
            .context("--resume: the long run has no record to continue")?;
        ensure!(
            old.meta.status != Status::Finished,
            "records/{MILESTONE}/{LONG_RUN} is finished: nothing to resume (`--fresh` starts a new run)"
        );
        let (trainer, tok) = checkpoint::load(&ckpt)
            .with_context(|| format!("--resume: reading the checkpoint {}", ckpt.display()))?;
        ensure!(
            &tok == tokenizer && trainer.cfg == plan.run,
            "{} is not the checkpoint of this record's plan",
            ckpt.display()
        );
        let start = checkpoint::load_progress(&ckpt)?;
        let step = trainer.step as u64;
        // The reopened run: the record, or what a killed session staged after it (newer).
        let writer = RunWriter::reopen(ctx, MILESTONE, LONG_RUN, |s| s.step <= step)?;
        let sessions: Vec<SessionRow> = writer.snapshot()?.artifact("sessions").unwrap_or_default();
        (trainer, start, writer, sessions)
    } else {
        if ckpt.exists() {
            std::fs::remove_dir_all(&ckpt)
                .with_context(|| format!("removing the old {}", ckpt.display()))?;
        }
        let trainer = Trainer::new(plan.run.clone())?;
        let mut writer = RunWriter::create(ctx, MILESTONE, LONG_RUN, raw, plan.run.train.seed)?;
        writer.artifact("plan", plan)?;
        let ngram_subset = ngram_on_subset(ngram, subset, block, stride)?;
        writer.summaries(&LongPlanSummary {
            params: plan.run.model.n_params() as u64,
            schedule_steps: plan.run.train.steps as u64,
            budget_minutes: plan.budget_s / 60.0,
            eval_chars: subset.len() as u64,
            ngram_subset_loss: ngram_subset,
            ngram_n: ngram.n() as u64,
        })?;
        (trainer, Progress::default(), writer, Vec::new())
    };
    let from_step = trainer.step;
    let batch = plan.run.train.batch_size;
    let mut eval = |t: &mut Trainer| -> Result<f64> {
        Ok(t.evaluate_sliding_batched(subset, stride, batch)?.0)
    };
    let mut log = |step: u64, values: &[(&str, f64)]| writer.scalars(step, values);
    let out = fit_timed(
        ctx,
        &mut trainer,
        tokenizer,
        train_ids,
        start,
        TimedOptions {
            budget_s: plan.budget_s,
            session_s: limits.session_s,
            until_step: limits.until_step,
            checkpoint: Some(&ckpt),
            checkpoint_every_s: plan.checkpoint_every_s,
            label: "gpt-long",
        },
        &mut eval,
        &mut log,
    )?;
    sessions.push(SessionRow {
        git_commit: viz::record::git_state(&ctx.root).0,
        from_step,
        to_step: trainer.step,
        from_minutes: start.train_seconds / 60.0,
        to_minutes: out.train_seconds / 60.0,
        stop: out.stop,
    });
    writer.artifact("sessions", &sessions)?;
    writer.summaries(&LongProgressSummary {
        sessions: sessions.len() as u64,
        steps_done: trainer.step as u64,
        train_minutes: out.train_seconds / 60.0,
        tokens_per_s: (trainer.step * trainer.tokens_per_step()) as f64
            / out.train_seconds.max(1e-9),
    })?;
    if out.stop == Stop::Session {
        writer.pause()?;
        return Ok((out.stop, trainer, None));
    }
    Ok((out.stop, trainer, Some(writer)))
}

/// Loss by position in the window, the GPT against the n-gram on the same targets: every window of
/// the split back to back ([`all_windows`]), so position `p` predicts with `p + 1` characters of
/// context while the n-gram always has its `n − 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionCurve {
    pub block: usize,
    pub windows: usize,
    /// Mean loss at each position (`block` values).
    pub gpt: Vec<f64>,
    pub ngram: Vec<f64>,
}

pub(super) fn position_curve(
    trainer: &mut Trainer,
    val_ids: &[u32],
    ngram: &NgramModel,
) -> Result<PositionCurve> {
    let block = trainer.cfg.model.block_size;
    let batches = all_windows(val_ids, block, trainer.cfg.train.batch_size);
    let losses = trainer.token_losses(&batches)?;
    let windows = losses.len() / block;
    ensure!(
        windows > 0,
        "the validation split holds no window of {block}"
    );
    let (mut gpt, mut ng) = (vec![0.0; block], vec![0.0; block]);
    for w in 0..windows {
        for p in 0..block {
            gpt[p] += losses[w * block + p] as f64;
            // Window w starts at w·block; its position p predicts the character after w·block + p.
            ng[p] += ngram.token_loss(val_ids, w * block + p + 1);
        }
    }
    let n = windows as f64;
    Ok(PositionCurve {
        block,
        windows,
        gpt: gpt.iter().map(|x| x / n).collect(),
        ngram: ng.iter().map(|x| x / n).collect(),
    })
}

/// For each character of `text`, whether it is part of a speaker tag: a line after an empty line
/// (or the first line) that ends with `:` and is at most 40 characters long (`ROMEO:`,
/// `KING RICHARD III:`), its newline included. In tiny-shakespeare every empty line is followed by
/// one.
pub fn speaker_mask(text: &[char]) -> Vec<bool> {
    let mut mask = vec![false; text.len()];
    let mut start = 0;
    let mut after_blank = true;
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&c| c == '\n')
            .map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        if after_blank && line.last() == Some(&':') && line.len() <= 40 {
            for m in &mut mask[start..(end + 1).min(text.len())] {
                *m = true;
            }
        }
        after_blank = line.is_empty();
        start = end + 1;
    }
    mask
}

/// Mean losses on speaker names and on running text, each model on the same characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryRow {
    pub name: String,
    pub chars: usize,
    pub long: f64,
    pub bench: Option<f64>,
    pub ngram: f64,
}

/// The models' per-target losses on the validation split (sliding windows), by category, over the
/// targets every model scored.
pub(super) fn categories(
    long: (&[f32], Range<usize>),
    bench: Option<(&[f32], Range<usize>)>,
    ngram: &NgramModel,
    val_ids: &[u32],
    mask: &[bool],
) -> Vec<CategoryRow> {
    let (mut lo, mut hi) = (long.1.start, long.1.end);
    if let Some((_, r)) = &bench {
        lo = lo.max(r.start);
        hi = hi.min(r.end);
    }
    // Each kind: its name and whether it takes speaker characters and running text.
    let kinds = [
        ("speaker names (lines like `ROMEO:`)", true, false),
        ("running text", false, true),
        ("all", true, true),
    ];
    kinds
        .iter()
        .map(|&(name, names, text)| {
            let idx: Vec<usize> = (lo..hi)
                .filter(|&j| if mask[j] { names } else { text })
                .collect();
            let mean = |f: &dyn Fn(usize) -> f64| {
                idx.iter().map(|&j| f(j)).sum::<f64>() / idx.len().max(1) as f64
            };
            CategoryRow {
                name: name.to_string(),
                chars: idx.len(),
                long: mean(&|j| long.0[j - long.1.start] as f64),
                bench: bench
                    .as_ref()
                    .map(|(l, r)| mean(&|j| l[j - r.start] as f64)),
                ngram: mean(&|j| ngram.token_loss(val_ids, j)),
            }
        })
        .collect()
}

/// The bench-config GPT of m6 (`checkpoints/gpt_char`), when it was trained here with the same
/// tokenizer.
pub(super) fn bench_model(ctx: &viz::Context, tokenizer: &AnyTokenizer) -> Result<Option<Trainer>> {
    let dir = checkpoint::dir_for(ctx, CHAR_RUN);
    if !dir.is_dir() {
        return Ok(None);
    }
    let (cfg, params, tok) = checkpoint::load_weights(&dir)?;
    if &tok != tokenizer {
        return Ok(None);
    }
    Ok(Some(Trainer::from_params(cfg, params)?))
}

/// The comparison at the end of the long run, into its record: the fair score and the n-gram on
/// the same characters, the old whole-split number, when the curve went below the n-gram, the
/// bench-config GPT beside it, loss by position and by kind of character, and samples.
pub(super) fn finish_long(
    ctx: &viz::Context,
    writer: &mut RunWriter,
    trainer: &mut Trainer,
    data: &Data<'_>,
    samples: &SampleSpec,
) -> Result<String> {
    let val_ids = &data.val_ids;
    let fair = FairScores::compute(trainer, val_ids, &data.ngram)?;
    fair.write(writer)?;
    let full = trainer.evaluate_full(val_ids)?;

    // When the running validation loss first went below the n-gram's on the same characters.
    let rec = writer.snapshot()?;
    let plan: LongPlanSummary = rec.summary_as()?;
    let curve = long_curve(&rec);
    let overtook = curve.iter().find(|p| p.val_loss < plan.ngram_subset_loss);
    let mut result = LongResultSummary {
        val_loss_full: full,
        overtook_step: overtook.map(|p| p.step as u64),
        overtook_minutes: overtook.map(|p| p.seconds / 60.0),
        overtook_chars: overtook.map(|p| p.chars),
        best_subset_loss: curve.iter().map(|p| p.val_loss).reduce(f64::min),
        final_subset_loss: curve.last().map(|p| p.val_loss),
        bench_subset_loss: None,
        bench_params: None,
    };

    let block = trainer.cfg.model.block_size;
    let mut bench = bench_model(ctx, &data.tokenizer)?;
    let subset = eval_subset(val_ids, trainer_eval_chars(&rec));
    if let Some(b) = bench.as_mut() {
        let stride = b.cfg.model.block_size / 2;
        let batch = b.cfg.train.batch_size;
        result.bench_subset_loss = Some(b.evaluate_sliding_batched(subset, stride, batch)?.0);
        result.bench_params = Some(b.cfg.model.n_params() as u64);
    }
    writer.summaries(&result)?;

    // Where it wins and loses: by position in the window …
    let mut positions = vec![position_curve(trainer, val_ids, &data.ngram)?];
    if let Some(b) = bench.as_mut() {
        positions.push(position_curve(b, val_ids, &data.ngram)?);
    }
    writer.artifact("positions", &positions)?;
    // … and by kind of character, on the fair windows.
    let batch = trainer.cfg.train.batch_size;
    let long_losses = trainer.sliding_token_losses(val_ids, block / 2, batch)?;
    let bench_losses = match bench.as_mut() {
        Some(b) => {
            let (block, batch) = (b.cfg.model.block_size, b.cfg.train.batch_size);
            Some(b.sliding_token_losses(val_ids, block / 2, batch)?)
        }
        None => None,
    };
    let chars: Vec<char> = data.corpus.val_text.chars().collect();
    ensure!(
        chars.len() == val_ids.len(),
        "the analysis by character needs one token per character"
    );
    let mask = speaker_mask(&chars);
    let cats = categories(
        (&long_losses.0, long_losses.1.clone()),
        bench_losses
            .as_ref()
            .map(|(l, r)| (l.as_slice(), r.clone())),
        &data.ngram,
        val_ids,
        &mask,
    );
    writer.artifact("categories", &cats)?;

    // Samples, same prompt, temperature, top-p and seed.
    let sampling = samples.sampling();
    let prompt_ids = data.tokenizer.try_encode(&samples.prompt)?;
    let mut rng = ChaCha8Rng::seed_from_u64(samples.seed);
    let ngram_text = data.tokenizer.decode(&data.ngram.sample_with(
        &prompt_ids,
        samples.chars,
        &sampling,
        &mut rng,
    ));
    let mut text = format!(
        "**Kneser–Ney {}-gram** (counts of the training characters)\n\n```text\n{}{}\n```\n\n",
        data.ngram.n(),
        samples.prompt,
        ngram_text.trim_end()
    );
    if let Some(b) = &bench {
        let mut g = Generator::from_trainer(b, data.tokenizer.clone(), sampling)?;
        let out = g.complete(&samples.prompt, samples.chars, &[], samples.seed)?;
        text.push_str(&format!(
            "**Bench-config GPT** (`checkpoints/{CHAR_RUN}`, {:.2} M parameters)\n\n```text\n{}{}\n```\n\n",
            b.cfg.model.n_params() as f64 / 1e6,
            samples.prompt,
            out.text.trim_end()
        ));
    }
    let mut g = Generator::from_trainer(trainer, data.tokenizer.clone(), sampling)?;
    let out = g.complete(&samples.prompt, samples.chars, &[], samples.seed)?;
    text.push_str(&format!(
        "**Long GPT** (`checkpoints/{CHECKPOINT}`, {:.2} M parameters)\n\n```text\n{}{}\n```\n",
        trainer.cfg.model.n_params() as f64 / 1e6,
        samples.prompt,
        out.text.trim_end()
    ));
    writer.text("samples", &text)?;
    Ok(format!(
        "sliding windows: long GPT {:.3} vs {}-gram {:.3} on the same {} characters (whole split, non-overlapping windows: {full:.3})",
        fair.gpt,
        fair.n,
        fair.ngram,
        fair.scored.len()
    ))
}

// ---- the command ----------------------------------------------------------------------------------

/// `cargo xtask gpt-long` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct LongOptions {
    /// Only the selection (`records/m6/long_select`).
    pub select_only: bool,
    /// Continue the long run from its last checkpoint.
    pub resume: bool,
    /// Start the long run over even if an unfinished one could be resumed.
    pub fresh: bool,
    /// Stop this session after this many training minutes (resume later).
    pub session_minutes: Option<f64>,
}

/// `cargo xtask gpt-long`: the selection (unless `[long] candidate` names one or a selection with
/// this config's inputs is recorded), then the long run and the comparison; figures at the end.
pub fn gpt_long(ctx: &viz::Context, opts: LongOptions) -> Result<()> {
    let (cfg, raw) = load_config(ctx)?;
    let corpus = Corpus::tiny_shakespeare(ctx)?;
    gpt_long_with(ctx, &cfg, &raw, &corpus, opts)
}

/// [`gpt_long`] on a given config and text (tests use a small one).
pub fn gpt_long_with(
    ctx: &viz::Context,
    cfg: &LongExperiment,
    raw: &toml::Value,
    corpus: &Corpus,
    opts: LongOptions,
) -> Result<()> {
    let clock = Instant::now();
    let tokenizer = build_tokenizer(&TokenizerSpec::Char {}, corpus)?;
    let data = Data {
        corpus,
        train_ids: tokenizer.encode(&corpus.train_text),
        val_ids: tokenizer.encode(&corpus.val_text),
        ngram: crate::m6::train_ngram(ctx, &tokenizer, corpus)?,
        tokenizer,
    };
    let limits = SessionLimits {
        session_s: opts.session_minutes.map(|m| m * 60.0),
        until_step: None,
    };
    let (plan, resume) = if opts.resume {
        let rec = Record::load(ctx, MILESTONE, LONG_RUN)
            .context("--resume: there is no long run to continue")?;
        (rec.artifact::<LongPlan>("plan")?, true)
    } else {
        let ckpt = checkpoint::dir_for(ctx, CHECKPOINT);
        if !opts.select_only && !opts.fresh && ckpt.exists() {
            if let Ok(old) = Record::load(ctx, MILESTONE, LONG_RUN) {
                if old.meta.status != Status::Finished {
                    bail!(
                        "records/{MILESTONE}/{LONG_RUN} holds an unfinished run ({} of {} training minutes); \
                         `--resume` continues it, `--fresh` starts over",
                        mins(old.summary_as::<LongProgressSummary>().map_or(0.0, |p| p.train_minutes)),
                        old.summary_as::<LongPlanSummary>().map_or(f64::NAN, |p| p.budget_minutes)
                    );
                }
            }
        }
        let selection = if opts.select_only {
            let r = run_selection(ctx, cfg, raw, &data)?;
            let chosen = choose(&r).context("no candidate has a finite extrapolation")?;
            Some((r, chosen))
        } else {
            match (load_selection(ctx, cfg)?, &cfg.long.candidate) {
                (Selection::Usable(r, c), _) => Some((r, c)),
                (_, Some(_)) => None,
                (Selection::Missing, None) => {
                    let r = run_selection(ctx, cfg, raw, &data)?;
                    let chosen = choose(&r).context("no candidate has a finite extrapolation")?;
                    Some((r, chosen))
                }
                (Selection::Stale, None) => bail!(
                    "records/{MILESTONE}/{SELECT_RUN} was made with other candidates or settings than {}; \
                     `cargo xtask gpt-long --select` redoes it (or set [long] candidate)",
                    ctx.config_path(crate::PHASE, CONFIG).display()
                ),
            }
        };
        if opts.select_only {
            viz::phase::render(ctx, &figures(ctx)?)?;
            return write_docs(ctx);
        }
        let plan = plan_long(
            cfg,
            &data,
            selection.as_ref().map(|(r, c)| (r.as_slice(), *c)),
        )?;
        (plan, false)
    };
    println!(
        "{LONG_RUN}: `{}` ({:.2} M params; {}), schedule {} steps, budget {} min{}",
        plan.candidate.name,
        plan.run.model.n_params() as f64 / 1e6,
        plan.candidate.describe(),
        plan.run.train.steps,
        plan.budget_s / 60.0,
        if resume { ", resumed" } else { "" }
    );
    let (stop, mut trainer, writer) = long_session(
        ctx,
        raw,
        &plan,
        &data.tokenizer,
        &data.train_ids,
        &data.val_ids,
        &data.ngram,
        limits,
        resume,
    )?;
    let Some(mut writer) = writer else {
        println!(
            "{LONG_RUN}: session stopped at step {} ({stop:?}); `cargo xtask gpt-long --resume{}` continues it",
            trainer.step,
            if ctx.quick { " --quick" } else { "" }
        );
        viz::phase::render(ctx, &figures(ctx)?)?;
        return write_docs(ctx);
    };
    let line = finish_long(ctx, &mut writer, &mut trainer, &data, &cfg.samples)?;
    writer.finish()?;
    println!(
        "{LONG_RUN}: {} steps, stopped by {stop:?}; {line} ({:.0} s)",
        trainer.step,
        clock.elapsed().as_secs_f64()
    );
    let drawn = viz::phase::render(ctx, &figures(ctx)?)?;
    for f in drawn {
        println!("{LONG_RUN}: drew {}", f.display());
    }
    write_docs(ctx)
}

/// The smoke run's log entry goes into its scratch copy of the log, beside `cargo xtask phase2
/// --quick`'s; a real run's reaches `experiments_log.md` and the README through `cargo xtask log`.
pub(super) fn write_docs(ctx: &viz::Context) -> Result<()> {
    if ctx.quick {
        let path = ctx.docs.join("experiments_log.md");
        viz::log::update_file(
            &path,
            &log_entries(ctx)?,
            "visualizations/",
            "# Experiments log (smoke run)\n",
        )?;
        println!("{LONG_RUN}: log entry in {}", path.display());
    } else {
        println!(
            "{LONG_RUN}: `cargo xtask log` puts the entry into experiments_log.md and the README"
        );
    }
    Ok(())
}

/// `cargo xtask bench --size long`: the speed runs of `bench` at the long run's model size (the
/// candidate the long run trains, else the selection's choice, else `[long] candidate`), ours
/// against `torch_gpt.py` given the same sizes, recorded as `m6/bench_long`. Without dropout on
/// either side: the PyTorch script has none.
pub fn bench_long(ctx: &viz::Context, torch: Option<&Path>, steps: Option<usize>) -> Result<()> {
    let (cfg, _) = load_config(ctx)?;
    let cand = match Record::load(ctx, MILESTONE, LONG_RUN)
        .ok()
        .and_then(|r| r.artifact::<LongPlan>("plan").ok())
    {
        Some(plan) => plan.candidate,
        None => match (load_selection(ctx, &cfg)?, &cfg.long.candidate) {
            (_, Some(name)) => cfg.candidate(name)?.clone(),
            (Selection::Usable(r, c), None) => cfg.candidate(&r[c].name)?.clone(),
            _ => bail!(
                "bench --size long: no long run, no selection and no [long] candidate in {}: \
                 run `cargo xtask gpt-long --select` first or name one",
                ctx.config_path(crate::PHASE, CONFIG).display()
            ),
        },
    };
    let mut run = cand.run_config(&cfg.train, 0, cfg.bench.steps, cfg.bench.steps);
    run.train.dropout = 0.0;
    run.train.eval_iters = 20;
    let bench = BenchConfig {
        model: run.model,
        train: run.train,
        steps: cfg.bench.steps,
        rounds: cfg.bench.rounds,
        variants: cfg.bench.variants.clone(),
    };
    let raw = toml::Value::try_from(&bench).context("serialising the bench config")?;
    println!(
        "{BENCH_LONG_RUN}: candidate `{}` ({}), no dropout",
        cand.name,
        cand.describe()
    );
    crate::bench::bench_config(ctx, &bench, &raw, BENCH_LONG_RUN, torch, steps)
}
