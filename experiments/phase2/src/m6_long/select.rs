//! The selection: every candidate trains for a few minutes, its curve is fitted and extrapolated.

use super::*;

/// Steps of a schedule that takes `fraction` of `budget_s` at `seconds_per_step` (at least 1).
pub(super) fn schedule_steps(budget_s: f64, seconds_per_step: f64, fraction: f64) -> usize {
    ((budget_s / seconds_per_step * fraction).floor() as usize).max(1)
}

/// The multiple of `log_interval` nearest to `seconds` of steps (at least one interval), so every
/// evaluation also closes a training-loss interval.
pub(super) fn interval_steps(seconds: f64, seconds_per_step: f64, log_interval: usize) -> usize {
    let k = (seconds / seconds_per_step / log_interval as f64).round() as usize;
    k.max(1) * log_interval
}

/// Seconds per training step of `run` on this machine: `steps` timed steps of a throwaway trainer
/// after two untimed ones (buffers allocated on first touch).
pub(super) fn probe(run: &RunConfig, train_ids: &[u32], steps: usize) -> Result<f64> {
    let mut cfg = run.clone();
    cfg.train.steps = steps + 2;
    let mut trainer = Trainer::new(cfg)?;
    trainer.step(train_ids)?;
    trainer.step(train_ids)?;
    let start = Instant::now();
    for _ in 0..steps {
        trainer.step(train_ids)?;
    }
    Ok(start.elapsed().as_secs_f64() / steps as f64)
}

/// The validation subset of the periodic evaluations.
pub(super) fn eval_subset(val_ids: &[u32], chars: usize) -> &[u32] {
    &val_ids[..chars.min(val_ids.len())]
}

/// The n-gram's loss on exactly the targets a model of `block` scores on `subset` with sliding
/// windows of `stride`.
pub(super) fn ngram_on_subset(
    ngram: &NgramModel,
    subset: &[u32],
    block: usize,
    stride: usize,
) -> Result<f64> {
    let (_, scored) = sliding_windows(subset, block, stride, 1)?;
    ensure!(
        ngram.n() - 1 <= scored.start,
        "a block of {block} scores from character {}; the {}-gram needs {} of history",
        scored.start,
        ngram.n(),
        ngram.n() - 1
    );
    Ok(ngram.cross_entropy(&subset[..scored.end], scored.start))
}

/// The value of `key` among a log call's values.
pub(super) fn value_of(values: &[(&str, f64)], key: &str) -> Option<f64> {
    values.iter().find(|(k, _)| *k == key).map(|p| p.1)
}

/// What the command needs besides the config: the text, its tokenizer and the n-gram.
pub(super) struct Data<'a> {
    pub(super) corpus: &'a Corpus,
    pub(super) tokenizer: AnyTokenizer,
    pub(super) train_ids: Vec<u32>,
    pub(super) val_ids: Vec<u32>,
    pub(super) ngram: NgramModel,
}

pub(super) fn run_selection(
    ctx: &viz::Context,
    cfg: &LongExperiment,
    raw: &toml::Value,
    data: &Data<'_>,
) -> Result<Vec<SelectResult>> {
    let clock = Instant::now();
    let vocab = data.tokenizer.vocab_size();
    let subset = eval_subset(&data.val_ids, cfg.eval.chars);
    let budget_s = cfg.long.budget_minutes * 60.0;
    let select_s = cfg.select.minutes * 60.0;
    let mut writer = RunWriter::create(ctx, MILESTONE, SELECT_RUN, raw, cfg.train.seed)?;
    let mut results = Vec::new();
    for cand in &cfg.candidates {
        let probe_run = cand.run_config(&cfg.train, vocab, 1, 1);
        let probe_sps = probe(&probe_run, &data.train_ids, cfg.select.probe_steps)
            .with_context(|| format!("probing candidate `{}`", cand.name))?;
        let steps = schedule_steps(budget_s, probe_sps, cfg.long.schedule_fraction);
        let eval_interval =
            interval_steps(cfg.select.eval_seconds, probe_sps, cfg.train.log_interval);
        let run = cand.run_config(&cfg.train, vocab, steps, eval_interval);
        let params = run.model.n_params();
        let tokens_per_step = cand.batch_size * cand.block_size;
        let stride = cand.block_size / 2;
        let ngram_subset = ngram_on_subset(&data.ngram, subset, cand.block_size, stride)?;
        let mut trainer = Trainer::new(run)?;
        let mut curve = Vec::new();
        let name = cand.name.clone();
        let label = format!("select {name}");
        let batch = cand.batch_size;
        let mut eval = |t: &mut Trainer| -> Result<f64> {
            Ok(t.evaluate_sliding_batched(subset, stride, batch)?.0)
        };
        let mut log = |step: u64, values: &[(&str, f64)]| -> Result<()> {
            let keyed: Vec<(String, f64)> = values
                .iter()
                .map(|(k, v)| (metric::candidate(&name, k), *v))
                .collect();
            let refs: Vec<(&str, f64)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            writer.scalars(step, &refs)?;
            if let Some(v) = value_of(values, metric::VAL_LOSS) {
                curve.push(CurvePoint {
                    step: step as usize,
                    seconds: value_of(values, metric::TRAIN_SECONDS).unwrap_or(f64::NAN),
                    chars: value_of(values, metric::TOKENS_SEEN).unwrap_or(f64::NAN),
                    val_loss: v,
                });
            }
            Ok(())
        };
        let out = fit_timed(
            ctx,
            &mut trainer,
            &data.tokenizer,
            &data.train_ids,
            Progress::default(),
            TimedOptions {
                budget_s: select_s,
                session_s: None,
                until_step: None,
                checkpoint: None,
                checkpoint_every_s: f64::INFINITY,
                label: &label,
            },
            &mut eval,
            &mut log,
        )?;
        let seconds_per_step = out.train_seconds / out.steps.max(1) as f64;
        let fit_from_s = cfg.select.fit_from * select_s;
        let (fit, extrapolated) = extrapolate_curve(&curve, fit_from_s, cand.warmup, budget_s);
        let fit_rmse = fit.map(|law| {
            let pts: Vec<(f64, f64)> = curve
                .iter()
                .filter(|p| p.seconds >= fit_from_s && p.step > cand.warmup)
                .map(|p| (p.seconds, p.val_loss))
                .collect();
            law.rmse(&pts)
        });
        let minutes_to_ngram = fit.and_then(|l| l.time_to(ngram_subset)).map(|s| s / 60.0);
        println!(
            "{SELECT_RUN}: {name:<12} {:>5.2} M params {:>6.0} tok/s, after {:.2} min {:.3} ({}-gram {:.3}), extrapolated to {} min: {:.3}{}",
            params as f64 / 1e6,
            tokens_per_step as f64 / seconds_per_step,
            out.train_seconds / 60.0,
            out.val_loss,
            data.ngram.n(),
            ngram_subset,
            cfg.long.budget_minutes,
            extrapolated,
            match fit {
                Some(l) => format!(" (a {:.3}, b {:.3}, c {:.3})", l.a, l.b, l.c),
                None => " (no falling power law: the last value)".into(),
            }
        );
        results.push(SelectResult {
            name: name.clone(),
            params,
            probe_seconds_per_step: probe_sps,
            seconds_per_step,
            tokens_per_s: tokens_per_step as f64 / seconds_per_step,
            schedule_steps: steps,
            eval_interval,
            curve,
            fit_from_s,
            fit,
            fit_rmse,
            extrapolated,
            ngram_subset,
            minutes_to_ngram,
        });
    }
    let chosen = choose(&results).context("no candidate has a finite extrapolation")?;
    writer.artifact("candidates", &results)?;
    writer.text("chosen", &results[chosen].name)?;
    writer.summaries(&SelectSummary {
        chosen_index: chosen as u64,
        chosen_extrapolated: results[chosen].extrapolated,
        select_minutes: cfg.select.minutes,
        budget_minutes: cfg.long.budget_minutes,
        ngram_n: data.ngram.n() as u64,
    })?;
    writer.finish()?;
    println!(
        "{SELECT_RUN}: chose `{}` ({:.0} s)",
        results[chosen].name,
        clock.elapsed().as_secs_f64()
    );
    Ok(results)
}

/// The selection a long run may use: the record's results and choice, when it was made with the
/// inputs of this config.
pub(super) enum Selection {
    Usable(Vec<SelectResult>, usize),
    /// A record made with other candidates, budget or settings.
    Stale,
    Missing,
}

pub(super) fn load_selection(ctx: &viz::Context, cfg: &LongExperiment) -> Result<Selection> {
    let Ok(rec) = Record::load(ctx, MILESTONE, SELECT_RUN) else {
        return Ok(Selection::Missing);
    };
    if rec.meta.status != Status::Finished {
        return Ok(Selection::Missing);
    }
    let same = rec
        .config_as::<LongExperiment>()
        .is_ok_and(|old| old.selection_inputs() == cfg.selection_inputs());
    if !same {
        return Ok(Selection::Stale);
    }
    let results: Vec<SelectResult> = rec.artifact("candidates")?;
    let chosen = rec.summary_as::<SelectSummary>()?.chosen_index as usize;
    ensure!(
        chosen < results.len(),
        "{SELECT_RUN}: chosen_index out of range"
    );
    Ok(Selection::Usable(results, chosen))
}
