//! The m6 figures, built from the records.

use anyhow::Result;
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, GroupedBars, LineChart, LineGrid, Marker, Series};
use viz::record::Record;

use super::{
    ablation_records, bpe_vocab, load, mean_sd, seed_band, AblationRuns, AblationStats,
    GptExperiment, ModelRun, BENCH_FULL_RUN, BENCH_RUN, BPE_RUN, CHAR_RUN, PARITY_RUN,
};
use crate::bench::BenchRow;
use crate::records::{metric, FitSummary, ParitySummary};

pub fn figures(ctx: &viz::Context) -> Result<Vec<FigureSpec>> {
    let mut out = Vec::new();
    if let (Some(ch), Some(bpe)) = (load(ctx, CHAR_RUN), load(ctx, BPE_RUN)) {
        let cfg: GptExperiment = ch.config_as()?;
        out.push(loss_curves(ctx, &ch, &cfg)?);
        out.push(perplexity(ctx, &ch, &bpe, &cfg)?);
    }
    let abl = ablation_records(ctx)?;
    if !abl.is_empty() {
        ablations(&abl, &mut out)?;
    }
    if let Some(p) = load(ctx, PARITY_RUN) {
        out.push(torch_parity(&p)?);
    }
    if let Some(bench) = load(ctx, BENCH_RUN) {
        out.push(training_throughput(&bench)?);
    }
    Ok(out)
}

/// `m6_loss_curves.png`: the character model's curves against the lines it is measured by.
fn loss_curves(ctx: &viz::Context, ch: &Record, cfg: &GptExperiment) -> Result<FigureSpec> {
    let train = ch.series(metric::TRAIN_LOSS)?;
    let last_step = train.last().map_or(cfg.char.train.steps as f64, |p| p.0);
    // The headline: whole-split validation loss over the seeds of `bench --full` (same config).
    let headline = load(ctx, BENCH_FULL_RUN)
        .map(|bf| bf.artifact::<Vec<BenchRow>>("rows"))
        .transpose()?
        .map(|rows| {
            rows.iter()
                .filter(|r| r.trainer != "pytorch")
                .filter_map(|r| r.val_loss_full)
                .collect::<Vec<f64>>()
        })
        .filter(|v| v.len() > 1);
    let nanogpt = super::nanogpt_val_loss(ctx)?;
    // The gap to the best n-gram as the log states it: this run's whole-split loss against the
    // n-gram's, in nats per character.
    let val = ch.summary_as::<FitSummary>()?.val_loss_full;
    let gap = crate::m4::best_ngram(ctx).map(|(n, ppl)| {
        let d = val - ppl.ln();
        let side = if d > 0.0 { "above" } else { "below" };
        format!("this run {val:.3}, {:.3} {side} the {n}-gram", d.abs())
    });
    let title = match (&headline, gap) {
        (Some(v), Some(gap)) => {
            let (m, sd) = mean_sd(v);
            format!(
                "{} seeds: {m:.3} ± {sd:.3} (nanoGPT {nanogpt}); {gap}",
                v.len()
            )
        }
        (Some(v), None) => {
            let (m, sd) = mean_sd(v);
            format!(
                "Whole-split val loss {m:.3} ± {sd:.3} over {} seeds; nanoGPT: {nanogpt}",
                v.len()
            )
        }
        (None, _) => "Character GPT on tiny-shakespeare (bench config)".to_string(),
    };
    let mut chart = LineChart::new(title, "training step", "loss (nats per character)")
        .series(Series::new("train, 10-step mean", train).entity(Entity::Train))
        .series(
            Series::new(
                format!("validation, {} batches", cfg.char.train.eval_iters),
                ch.series(metric::VAL_LOSS)?,
            )
            .entity(Entity::Validation),
        )
        // Room right of the curves for the headline's marker, at the step it was measured.
        .x_range(0.0, last_step * 1.03);
    if let Some(v) = &headline {
        let (m, sd) = mean_sd(v);
        chart = chart.series(
            Series::new(
                format!("whole split, {} seeds: {m:.3} ± {sd:.3}", v.len()),
                vec![(last_step, m)],
            )
            .entity(Entity::Validation)
            .points(Marker::Diamond),
        );
    }
    chart = chart.hline_entity(format!("nanoGPT {nanogpt}"), nanogpt, Entity::NanoGpt);
    if let Some((n, ppl)) = crate::m4::best_ngram(ctx) {
        let label = format!("{n}-gram (m4) {:.3}", ppl.ln());
        chart = chart.hline_entity(label, ppl.ln(), Entity::NGram);
    }
    if let Some(v) = crate::m4::char_vocab(ctx) {
        chart = chart.hline_entity(
            format!("uniform: ln {v} = {:.3}", (v as f64).ln()),
            (v as f64).ln(),
            Entity::Uniform,
        );
    }
    Ok(FigureSpec::new("m6_loss_curves.png", chart))
}

/// `m6_perplexity.png` (the name kept from when it drew perplexity): validation loss in nats per
/// character, the unit of every other language-model figure, against characters of training text
/// seen, so the two tokenizers compare on the same axes: step × batch × block (× characters per
/// token for BPE). The records hold bits per character (nats per token ÷ characters per token ÷
/// ln 2); × ln 2 gives nats per character back.
fn perplexity(
    ctx: &viz::Context,
    ch: &Record,
    bpe: &Record,
    cfg: &GptExperiment,
) -> Result<FigureSpec> {
    use std::f64::consts::LN_2;
    let chars_seen = |run: &ModelRun, chars_per_token: f64, rec: &Record| {
        let per_step = (run.train.batch_size * run.model.block_size) as f64 * chars_per_token;
        Ok::<_, anyhow::Error>(
            rec.series(metric::VAL_BPC)?
                .into_iter()
                .map(|(step, bpc)| (step * per_step / 1e6, bpc * LN_2))
                .collect::<Vec<_>>(),
        )
    };
    let (cs, bs): (FitSummary, FitSummary) = (ch.summary_as()?, bpe.summary_as()?);
    let bpe_cpt = bs.chars_per_token;
    // The log's numbers, and its caveat: one seed each, so no verdict.
    let ngram = crate::m4::best_ngram(ctx).map_or(String::new(), |(n, ppl)| {
        format!("; {n}-gram {:.3}", ppl.ln())
    });
    let title = format!(
        "Nats/char: BPE {:.3}, characters {:.3} (one seed each, untested){ngram}",
        bs.val_bpc * LN_2,
        cs.val_bpc * LN_2
    );
    let mut chart = LineChart::new(
        title,
        "training characters seen (millions; steps × batch × block × chars per token)",
        "validation loss (nats per character)",
    )
    .series(
        Series::new(
            "character model (1 char/token)",
            chars_seen(&cfg.char, 1.0, ch)?,
        )
        .entity(Entity::BenchGpt),
    )
    .series(
        Series::new(
            format!(
                "BPE model ({} tokens, {bpe_cpt:.2} chars/token)",
                bpe_vocab(&cfg.bpe)
            ),
            chars_seen(&cfg.bpe, bpe_cpt, bpe)?,
        )
        .entity(Entity::BpeGpt),
    );
    if let Some((n, ppl)) = crate::m4::best_ngram(ctx) {
        // The label m6_loss_curves.png gives the same line.
        chart = chart.hline_entity(
            format!("{n}-gram (m4) {:.3}", ppl.ln()),
            ppl.ln(),
            Entity::NGram,
        );
    }
    Ok(FigureSpec::new("m6_perplexity.png", chart))
}

/// `m6_ablations.png`, and with several variants and seeds `m6_ablation_effects.png`.
fn ablations(abl: &[AblationRuns], out: &mut Vec<FigureSpec>) -> Result<()> {
    let seeds = abl[0].runs.len();
    let mut chart = LineChart::new(
        ablations_title(abl)?,
        "step",
        "validation loss (nats per character)",
    );
    // The baseline (the first variant) is drawn last, so its line lies on top of every band.
    for a in abl[1..].iter().chain(&abl[..1]) {
        let (mean, band) = seed_band(&a.runs, metric::VAL_LOSS)?;
        chart = chart.series(Series::new(a.label.clone(), mean).band(band));
    }
    out.push(FigureSpec::new("m6_ablations.png", chart));
    if abl.len() > 1 && seeds > 1 {
        out.push(ablation_effects(abl)?);
    }
    Ok(())
}

/// `m6_ablations.png`'s finding: the log's verdicts (paired t over the seeds, Holm over the family),
/// a verdict held by one ablation naming it, one held by several counting them.
fn ablations_title(abl: &[AblationRuns]) -> Result<String> {
    let seeds = abl[0].runs.len();
    let st = AblationStats::of(abl)?;
    let judged: Vec<(&str, stats::Verdict)> = st.labels[1..]
        .iter()
        .zip(&st.diffs)
        .filter_map(|(l, d)| d.as_ref().map(|(_, j)| (l.as_str(), j.verdict)))
        .collect();
    if judged.is_empty() {
        return Ok(format!(
            "Ablations: validation loss (mean and range of {seeds} seeds)"
        ));
    }
    let parts: Vec<String> = [
        stats::Verdict::Better,
        stats::Verdict::Worse,
        stats::Verdict::Tied,
    ]
    .iter()
    .filter_map(|v| {
        let of: Vec<&str> = judged.iter().filter(|j| j.1 == *v).map(|j| j.0).collect();
        match of.as_slice() {
            [] => None,
            [one] => Some(format!("{one} {}", v.word())),
            many => Some(format!("{} ablations {}", many.len(), v.word())),
        }
    })
    .collect();
    Ok(format!(
        "{} (paired t, {seeds} seeds, Holm)",
        parts.join("; ")
    ))
}

/// The verdict itself: each variant's paired difference to the baseline in whole-split loss, with
/// its 95 % paired-t interval; the note past each whisker is the log's verdict (Holm over the
/// family), and the title counts those verdicts as `m6_ablations.png`'s does.
fn ablation_effects(abl: &[AblationRuns]) -> Result<FigureSpec> {
    let st = AblationStats::of(abl)?;
    let tests: Vec<_> = st.diffs.iter().flatten().collect();
    let bars = GroupedBars::new(
        ablations_title(abl)?,
        "Δ whole-split validation loss vs baseline (nats per character)",
        st.labels[1..].to_vec(),
    )
    .group(
        "mean paired difference",
        tests.iter().map(|(t, _)| t.mean_difference).collect(),
    )
    .whiskers(
        "95 % confidence interval (paired t)",
        tests
            .iter()
            .map(|(t, _)| (t.interval.low, t.interval.high))
            .collect(),
    )
    .notes(
        tests
            .iter()
            .map(|(t, j)| format!("{:+.3}\n{}", t.mean_difference, j.verdict.word()))
            .collect(),
    )
    .hline("no change (baseline)", 0.0);
    Ok(FigureSpec::new("m6_ablation_effects.png", bars))
}

/// `m6_torch_parity.png`: our trainer and PyTorch from the same start on the same batches.
fn torch_parity(p: &Record) -> Result<FigureSpec> {
    // Per 20-step window: mean loss (single steps are too noisy to read), and the largest
    // difference.
    const WINDOW: usize = 20;
    let by_window = |key: &str, reduce: fn(&[(f64, f64)]) -> f64| -> Result<Vec<(f64, f64)>> {
        Ok(p.series(key)?
            .chunks(WINDOW)
            .map(|c| (c[c.len() - 1].0, reduce(c)))
            .collect())
    };
    let mean: fn(&[(f64, f64)]) -> f64 = |c| c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64;
    // In millionths of a nat, so the tick labels stay short.
    let max: fn(&[(f64, f64)]) -> f64 = |c| c.iter().map(|p| p.1 * 1e6).fold(0.0, f64::max);
    let curves = LineChart::new(
        "Training loss (20-step means)",
        "step",
        "training loss (nats per character)",
    )
    .series(Series::new("ours", by_window(metric::OURS_LOSS, mean)?).entity(Entity::Train))
    .series(Series::new("PyTorch", by_window(metric::TORCH_LOSS, mean)?).entity(Entity::PyTorch));
    let diff = LineChart::new(
        "Largest |ours − PyTorch| per 20 steps",
        "step",
        "loss difference (10⁻⁶ nats)",
    )
    .series(Series::new(
        "|difference|",
        by_window(metric::ABS_DIFF, max)?,
    ));
    let s: ParitySummary = p.summary_as()?;
    let title = format!(
        "Same start, same batches: losses agree within {:.1e} nats over {} steps",
        s.max_abs_loss_diff, s.steps
    );
    Ok(FigureSpec::new(
        "m6_torch_parity.png",
        LineGrid::new(title, vec![curves, diff], 2),
    ))
}

/// `m6_training_throughput.png`: tokens/s of every trainer, against PyTorch.
fn training_throughput(bench: &Record) -> Result<FigureSpec> {
    let rows: Vec<BenchRow> = bench.artifact("rows")?;
    let ours: Vec<&BenchRow> = rows.iter().filter(|r| r.trainer != "pytorch").collect();
    let torch = rows.iter().find(|r| r.trainer == "pytorch");
    let range = |r: &BenchRow| {
        let lo = r.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if r.rounds.is_empty() {
            (r.tokens_per_s, r.tokens_per_s)
        } else {
            (lo, hi)
        }
    };
    let rounds = ours.iter().map(|r| r.rounds.len()).max().unwrap_or(1);
    let steps = ours.first().map_or(0, |r| r.steps);
    let cores = bench.meta.cores;
    let fastest = ours
        .iter()
        .max_by(|a, b| a.tokens_per_s.total_cmp(&b.tokens_per_s));
    let title = match (fastest, torch) {
        (Some(f), Some(t)) => format!(
            "{}: {:.2}× PyTorch eager's tokens/s (means of {rounds} rounds, {cores} cores)",
            f.trainer,
            f.tokens_per_s / t.tokens_per_s
        ),
        _ => format!("Training throughput, bench config ({steps} steps, {cores} cores)"),
    };
    let mut bars = GroupedBars::new(
        title,
        "training tokens / s",
        ours.iter().map(|r| r.trainer.clone()).collect(),
    )
    .group(
        format!("ours, mean of {rounds} rounds"),
        ours.iter().map(|r| r.tokens_per_s).collect(),
    )
    .whiskers(
        format!("min–max over the {rounds} rounds"),
        ours.iter().map(|r| range(r)).collect(),
    )
    .notes(
        ours.iter()
            .map(|r| match torch {
                Some(t) => format!(
                    "{:.0}\n{:.2}× PyTorch",
                    r.tokens_per_s,
                    r.tokens_per_s / t.tokens_per_s
                ),
                None => format!("{:.0}", r.tokens_per_s),
            })
            .collect(),
    );
    if let Some(t) = torch {
        let (lo, hi) = range(t);
        bars = bars.hline_entity(
            format!(
                "PyTorch eager: {:.0} tok/s (rounds {lo:.0}–{hi:.0})",
                t.tokens_per_s
            ),
            t.tokens_per_s,
            Entity::PyTorch,
        );
    }
    Ok(FigureSpec::new("m6_training_throughput.png", bars))
}
