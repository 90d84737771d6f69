//! The m6 log entries, built from the records; their prose is in `templates/m6_gpt.md` and
//! `templates/m6_ablations.md`.

use anyhow::{Context as _, Result};
use serde::Serialize;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;

use super::{
    ablation_records, bpe_vocab, load, mean_sd, AblationExperiment, AblationRuns, AblationStats,
    GptExperiment, ModelRun, BENCH_FULL_RUN, BENCH_RUN, BPE_RUN, CHAR_RUN, PARITY_RUN,
};
use crate::bench::BenchRow;
use crate::records::{
    BenchFullSummary, BenchSummary, FitSummary, KvCacheSummary, ParitySummary, SlidingSummary,
};

const GPT_TEMPLATE: &str = include_str!("../../templates/m6_gpt.md");
const ABLATIONS_TEMPLATE: &str = include_str!("../../templates/m6_ablations.md");

pub fn log_entries(ctx: &viz::Context) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    if let (Some(ch), Some(bpe)) = (load(ctx, CHAR_RUN), load(ctx, BPE_RUN)) {
        out.push(gpt_entry(ctx, &ch, &bpe)?);
    }
    let abl = ablation_records(ctx)?;
    if !abl.is_empty() {
        out.push(ablation_entry(&abl)?);
    }
    Ok(out)
}

fn fmt_rate(v: f64) -> String {
    format!("{v:.0}")
}

/// What the `m6_gpt` template needs.
#[derive(Serialize)]
struct GptValues {
    nanogpt: String,
    c: ModelValues,
    b: ModelValues,
    bpe_vocab: String,
    val_predictions: String,
    provenance: String,
    table: String,
    kv: Speedup,
    candle: Option<Speedup>,
    bench_full: Option<BenchFullValues>,
    parity: Option<ParityValues>,
    bench: Option<BenchValues>,
    samples: SamplingValues,
    sample_lines: Vec<SampleLine>,
    ngram: Option<NgramValues>,
    val: String,
    val_batches: String,
    seeds: Option<SeedsValues>,
    one_seed_meets: bool,
    sliding: Option<SlidingValues>,
    bpe_loss: String,
    bpe_chars_per_token: String,
    char_bpc: String,
    bpe_bpc: String,
}

/// One model's config, formatted.
#[derive(Serialize)]
struct ModelValues {
    n_layer: String,
    n_head: String,
    d_model: String,
    block_size: String,
    batch_size: String,
    steps: String,
    max_lr: String,
    min_lr: String,
    warmup: String,
    beta1: String,
    beta2: String,
    weight_decay: String,
    grad_clip: String,
    eval_iters: String,
    eval_interval: String,
    ops: String,
    workers: String,
}

impl ModelValues {
    fn of(r: &ModelRun) -> ModelValues {
        let (m, t) = (&r.model, &r.train);
        ModelValues {
            n_layer: m.n_layer.to_string(),
            n_head: m.n_head.to_string(),
            d_model: m.d_model.to_string(),
            block_size: m.block_size.to_string(),
            batch_size: t.batch_size.to_string(),
            steps: t.steps.to_string(),
            max_lr: t.max_lr.to_string(),
            min_lr: t.min_lr.to_string(),
            warmup: t.warmup.to_string(),
            beta1: t.beta1.to_string(),
            beta2: t.beta2.to_string(),
            weight_decay: t.weight_decay.to_string(),
            grad_clip: t.grad_clip.to_string(),
            eval_iters: t.eval_iters.to_string(),
            eval_interval: t.eval_interval.to_string(),
            ops: t.ops.to_string(),
            workers: t.workers.to_string(),
        }
    }
}

/// Generation with and without the KV cache.
#[derive(Serialize)]
struct Speedup {
    new_tokens: String,
    block_size: String,
    cached: String,
    full: String,
    ratio: String,
}

#[derive(Serialize)]
struct BenchFullValues {
    steps: String,
    provenance: String,
    gap: String,
    table: String,
    seeds: String,
    one_seed: bool,
    val_loss_full: String,
    val_loss: String,
    pytorch: Option<String>,
}

#[derive(Serialize)]
struct ParityValues {
    torch_version: String,
    provenance: String,
    steps: String,
    max_diff: String,
    ours: String,
    torch: String,
    end_gap: String,
}

#[derive(Serialize)]
struct BenchValues {
    steps: String,
    provenance: String,
    table: String,
    ratio: Option<String>,
}

#[derive(Serialize)]
struct SamplingValues {
    prompt: String,
    temperature: String,
    top_k: String,
    top_p: String,
}

/// A line of the recorded samples: a `### step N` heading (`step`) or a line of text.
#[derive(Serialize)]
struct SampleLine {
    step: Option<String>,
    text: String,
}

/// m4's best n-gram against the whole-split loss.
#[derive(Serialize)]
struct NgramValues {
    n: String,
    history: String,
    beaten: bool,
    ppl: String,
    nats: String,
    margin: String,
    ppl_excess: String,
}

/// Our 20-batch estimates over the seeds of `bench --full`.
#[derive(Serialize)]
struct SeedsValues {
    count: String,
    mean: String,
    sd: String,
    meets: bool,
    above: String,
    z: String,
    at_or_below: String,
    torch: Option<MeanSd>,
    full: Option<FullSplit>,
}

#[derive(Serialize)]
struct MeanSd {
    mean: String,
    sd: String,
}

#[derive(Serialize)]
struct FullSplit {
    mean: String,
    sd: String,
    lo: String,
    hi: String,
}

/// The fair comparison: sliding windows for the GPT, the n-gram on the same characters.
#[derive(Serialize)]
struct SlidingValues {
    stride: String,
    min_context: String,
    n: String,
    count: String,
    gpt: String,
    ngram: String,
    gpt_wins: bool,
    margin: String,
    context_gain: String,
}

fn metric_table(ch: &Record, bpe: &Record, b: &ModelRun) -> Result<String> {
    let (c, p): (FitSummary, FitSummary) = (ch.summary_as()?, bpe.summary_as()?);
    Ok(viz::table::metric_table(
        "model",
        &[
            "char (bench config)".to_string(),
            format!("BPE ({} tokens)", bpe_vocab(b)),
        ],
        &[
            viz::table::MetricCol::new("params", vec![c.params as f64, p.params as f64], true, 0),
            viz::table::MetricCol::new("steps", vec![c.steps as f64, p.steps as f64], false, 0),
            viz::table::MetricCol::new(
                "val loss (nats/token)",
                vec![c.val_loss, p.val_loss],
                true,
                3,
            ),
            viz::table::MetricCol::new(
                "chars/token",
                vec![c.chars_per_token, p.chars_per_token],
                false,
                2,
            ),
            viz::table::MetricCol::new("val bits/char", vec![c.val_bpc, p.val_bpc], true, 3),
            viz::table::MetricCol::new(
                "train tokens/s",
                vec![c.tokens_per_s, p.tokens_per_s],
                false,
                0,
            ),
        ],
    ))
}

fn kv_speedup(cfg: &GptExperiment, ch: &Record) -> Result<(Speedup, Option<Speedup>)> {
    let k: KvCacheSummary = ch.summary_as()?;
    let speedup = |cached: f64, full: f64| Speedup {
        new_tokens: cfg.kv_cache.new_tokens.to_string(),
        block_size: cfg.kv_cache.block_size.to_string(),
        cached: fmt_rate(cached),
        full: fmt_rate(full),
        ratio: format!("{:.1}", cached / full),
    };
    let candle = speedup(k.candle_kv_tokens_per_s, k.candle_recompute_tokens_per_s);
    Ok((
        speedup(k.kv_tokens_per_s, k.recompute_tokens_per_s),
        Some(candle),
    ))
}

fn bench_full_values(bf: &Record) -> Result<BenchFullValues> {
    let ours = |v: Option<f64>| v.context("m6/bench_full has no run of ours");
    let rows: Vec<BenchRow> = bf.artifact("rows")?;
    let mut t = viz::table::Table::new(&[
        "seed",
        "trainer",
        "training tokens/s",
        "val loss (20 batches)",
        "val loss (whole split)",
        "peak memory (MiB)",
    ]);
    for r in &rows {
        t.push(vec![
            r.seed.map_or("—".into(), |s| s.to_string()),
            r.trainer.clone(),
            fmt_rate(r.tokens_per_s),
            format!("{:.3}", r.val_loss),
            r.val_loss_full.map_or("—".into(), |v| format!("{v:.3}")),
            format!("{:.0}", r.peak_mem_mib),
        ]);
    }
    let summary: BenchFullSummary = bf.summary_as()?;
    let seeds = summary.seeds;
    // How far a 20-batch estimate lands from the whole-split value, seen in our own runs.
    let gap = rows
        .iter()
        .filter_map(|r| r.val_loss_full.map(|f| (r.val_loss - f).abs()))
        .fold(0.0, f64::max);
    Ok(BenchFullValues {
        steps: rows.first().map_or(0, |r| r.steps).to_string(),
        provenance: bf.provenance(),
        gap: format!("{gap:.3}"),
        table: t.markdown(),
        seeds: seeds.to_string(),
        one_seed: seeds == 1,
        val_loss_full: format!("{:.3}", ours(summary.val_loss_full)?),
        val_loss: format!("{:.3}", ours(summary.val_loss)?),
        pytorch: summary.pytorch_val_loss.map(|pt| format!("{pt:.3}")),
    })
}

fn parity_values(p: &Record) -> Result<ParityValues> {
    let s: ParitySummary = p.summary_as()?;
    Ok(ParityValues {
        torch_version: p
            .text("torch_version")
            .unwrap_or_default()
            .trim()
            .to_string(),
        provenance: p.provenance(),
        steps: s.steps.to_string(),
        max_diff: format!("{:.1e}", s.max_abs_loss_diff),
        ours: format!("{:.6}", s.ours_val_loss_full),
        torch: format!("{:.6}", s.torch_val_loss_full),
        end_gap: format!(
            "{:.1e}",
            (s.ours_val_loss_full - s.torch_val_loss_full).abs()
        ),
    })
}

fn bench_values(bench: &Record) -> Result<BenchValues> {
    let rows: Vec<BenchRow> = bench.artifact("rows")?;
    let mut t = viz::table::Table::new(&[
        "trainer",
        "training tokens/s",
        "GFLOP/s",
        "peak memory (MiB)",
        "val loss after the timed steps",
    ]);
    for r in &rows {
        t.push(vec![
            r.trainer.clone(),
            fmt_rate(r.tokens_per_s),
            format!("{:.2}", r.gflops),
            format!("{:.0}", r.peak_mem_mib),
            format!("{:.3}", r.val_loss),
        ]);
    }
    Ok(BenchValues {
        steps: rows.first().map_or(0, |r| r.steps).to_string(),
        provenance: bench.provenance(),
        table: t.markdown(),
        ratio: bench
            .summary_as::<BenchSummary>()?
            .ratio_vs_pytorch
            .map(|ratio| format!("{ratio:.2}")),
    })
}

/// The record stores each sample under a `### step N` line; the template turns it into a bold
/// label, which reads better inside a log entry (itself a `##` section) than a heading.
fn sample_lines(ch: &Record) -> Vec<SampleLine> {
    ch.text("samples")
        .unwrap_or_default()
        .lines()
        .map(|l| SampleLine {
            step: l.strip_prefix("### step ").map(str::to_string),
            text: l.to_string(),
        })
        .collect()
}

fn sampling_values(cfg: &GptExperiment) -> SamplingValues {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "off".into());
    SamplingValues {
        prompt: format!("{:?}", cfg.samples.prompt),
        temperature: cfg.samples.temperature.to_string(),
        top_k: opt(cfg.samples.top_k.map(|k| k.to_string())),
        top_p: opt(cfg.samples.top_p.map(|p| p.to_string())),
    }
}

/// Over the seeds of `bench --full` (when it ran more than one): nanoGPT's 1.88 is an estimate over
/// a few random validation batches, so the like-for-like number is ours over the fixed batches.
fn seeds_values(bf: &Record, nanogpt: f64) -> Result<Option<SeedsValues>> {
    let rows: Vec<BenchRow> = bf.artifact("rows")?;
    let ours_rows: Vec<&BenchRow> = rows.iter().filter(|r| r.trainer != "pytorch").collect();
    let ours_batches: Vec<f64> = ours_rows.iter().map(|r| r.val_loss).collect();
    let ours_full: Vec<f64> = ours_rows.iter().filter_map(|r| r.val_loss_full).collect();
    let torch: Vec<f64> = rows
        .iter()
        .filter(|r| r.trainer == "pytorch")
        .map(|r| r.val_loss)
        .collect();
    if ours_batches.len() <= 1 {
        return Ok(None);
    }
    let (mean, sd) = mean_sd(&ours_batches);
    let torch = (torch.len() > 1).then(|| {
        let (tm, tsd) = mean_sd(&torch);
        MeanSd {
            mean: format!("{tm:.3}"),
            sd: format!("{tsd:.3}"),
        }
    });
    let full = (ours_full.len() > 1).then(|| {
        let (fm, fsd) = mean_sd(&ours_full);
        let (lo, hi) = ours_full
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        FullSplit {
            mean: format!("{fm:.3}"),
            sd: format!("{fsd:.3}"),
            lo: format!("{lo:.3}"),
            hi: format!("{hi:.3}"),
        }
    });
    Ok(Some(SeedsValues {
        count: ours_batches.len().to_string(),
        mean: format!("{mean:.3}"),
        sd: format!("{sd:.3}"),
        meets: mean <= nanogpt,
        above: format!("{:.3}", mean - nanogpt),
        z: format!("{:.1}", (mean - nanogpt) / sd.max(1e-12)),
        at_or_below: ours_batches
            .iter()
            .filter(|&&v| v <= nanogpt)
            .count()
            .to_string(),
        torch,
        full,
    }))
}

/// The baseline any language model must beat, on the same validation characters (m4).
fn ngram_values(ctx: &viz::Context, val: f64) -> Option<NgramValues> {
    let (n, ppl) = crate::m4::best_ngram(ctx)?;
    let ngram = ppl.ln();
    let beaten = val < ngram;
    Some(NgramValues {
        n: n.to_string(),
        history: n.saturating_sub(1).to_string(),
        beaten,
        ppl: format!("{ppl:.2}"),
        nats: format!("{ngram:.3}"),
        margin: format!("{:.3}", if beaten { ngram - val } else { val - ngram }),
        ppl_excess: format!("{:.0}", 100.0 * ((val - ngram).exp() - 1.0)),
    })
}

/// The fair comparison, when the record has it.
fn sliding_values(ch: &Record, block_size: usize, val: f64) -> Option<SlidingValues> {
    let s: SlidingSummary = ch.summary_as().ok()?;
    let (g, ng) = (s.val_loss_sliding, s.ngram_val_loss_sliding);
    let stride = s.sliding_stride as f64;
    Some(SlidingValues {
        stride: format!("{stride:.0}"),
        min_context: format!("{:.0}", block_size as f64 - stride + 1.0),
        n: s.ngram_n.to_string(),
        count: s.sliding_scored.to_string(),
        gpt: format!("{g:.3}"),
        ngram: format!("{ng:.3}"),
        gpt_wins: g < ng,
        margin: format!("{:.3}", if g < ng { ng - g } else { g - ng }),
        context_gain: format!("{:.3}", val - g),
    })
}

fn gpt_values(ctx: &viz::Context, ch: &Record, bpe: &Record) -> Result<GptValues> {
    let cfg: GptExperiment = ch.config_as()?;
    let (c, b) = (&cfg.char, &cfg.bpe);
    let table = metric_table(ch, bpe, b)?;
    let (kv, candle) = kv_speedup(&cfg, ch)?;
    let bench_full = load(ctx, BENCH_FULL_RUN)
        .map(|bf| bench_full_values(&bf))
        .transpose()?;
    let parity = load(ctx, PARITY_RUN)
        .map(|p| parity_values(&p))
        .transpose()?;
    let bench = load(ctx, BENCH_RUN)
        .map(|bench| bench_values(&bench))
        .transpose()?;
    let nanogpt = super::nanogpt_val_loss(ctx)?;
    let (cs, bs): (FitSummary, FitSummary) = (ch.summary_as()?, bpe.summary_as()?);
    let val_batches = cs.val_loss;
    let val = cs.val_loss_full;
    let seeds = match load(ctx, BENCH_FULL_RUN) {
        Some(bf) => seeds_values(&bf, nanogpt)?,
        None => None,
    };
    Ok(GptValues {
        nanogpt: nanogpt.to_string(),
        c: ModelValues::of(c),
        b: ModelValues::of(b),
        bpe_vocab: bpe_vocab(b),
        val_predictions: cs.val_predictions_full.to_string(),
        provenance: ch.provenance(),
        table,
        kv,
        candle,
        bench_full,
        parity,
        bench,
        samples: sampling_values(&cfg),
        sample_lines: sample_lines(ch),
        ngram: ngram_values(ctx, val),
        val: format!("{val:.3}"),
        val_batches: format!("{val_batches:.3}"),
        seeds,
        one_seed_meets: val_batches <= nanogpt,
        sliding: sliding_values(ch, c.model.block_size, val),
        bpe_loss: format!("{:.3}", bs.val_loss),
        bpe_chars_per_token: format!("{:.2}", bs.chars_per_token),
        char_bpc: format!("{:.3}", cs.val_bpc),
        bpe_bpc: format!("{:.3}", bs.val_bpc),
    })
}

fn gpt_entry(ctx: &viz::Context, ch: &Record, bpe: &Record) -> Result<LogEntry> {
    let values = gpt_values(ctx, ch, bpe)?;
    let part = |block: &str| viz::template::render_block("m6_gpt.md", GPT_TEMPLATE, block, &values);
    let mut figures = vec![
        Figure::new(
            "m6_loss_curves.png",
            FigureKind::LossCurves,
            part("caption_m6_loss_curves")?,
        )
        .key(),
        Figure::new(
            "m6_perplexity.png",
            FigureKind::PerplexityCurves,
            part("caption_m6_perplexity")?,
        ),
    ];
    if values.parity.is_some() {
        figures.push(
            Figure::new(
                "m6_torch_parity.png",
                FigureKind::Benchmarks,
                part("caption_m6_torch_parity")?,
            )
            .key(),
        );
    }
    if values.bench.is_some() {
        figures.push(
            Figure::new(
                "m6_training_throughput.png",
                FigureKind::Benchmarks,
                part("caption_m6_training_throughput")?,
            )
            .key(),
        );
    }
    Ok(LogEntry {
        id: "m6_gpt".into(),
        milestone: 6,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures,
        discussion: part("discussion")?,
    })
}

/// What the `m6_ablations` template needs.
#[derive(Serialize)]
struct AblationValues {
    n_layer: String,
    n_head: String,
    d_model: String,
    block_size: String,
    batch_size: String,
    max_lr: String,
    min_lr: String,
    warmup: String,
    steps: String,
    seeds: String,
    provenance: String,
    table: String,
    n: String,
    baseline: String,
    baseline_loss: String,
    one_seed: bool,
    family: String,
    effects: Vec<Effect>,
    eval_iters: String,
}

/// One ablation's paired difference to the baseline and its verdict within the family.
#[derive(Serialize)]
struct Effect {
    label: String,
    mean: String,
    low: String,
    high: String,
    p_holm: String,
    verdict: String,
}

fn ablation_table(st: &AblationStats) -> String {
    let (labels, stats, params, n) = (&st.labels, &st.stats, &st.params, st.n);
    let mut table = viz::table::Table::new(&[
        "variant",
        "params",
        &format!("whole-split val loss (mean ± sd, {n} seeds)"),
        "difference to baseline (paired mean, 95 % CI)",
        "p (paired t)",
        &format!("p, Holm over {} ablations", labels.len() - 1),
        "verdict",
    ]);
    for (i, label) in labels.iter().enumerate() {
        let (m, sd) = stats[i];
        let mut row = vec![label.clone(), format!("{:.0}", params[i])];
        row.push(format!("{m:.3} ± {sd:.3}"));
        match i.checked_sub(1).and_then(|j| st.diffs[j]) {
            Some((t, judged)) => row.extend([
                format!(
                    "{:+.3} ({:+.3} to {:+.3})",
                    t.mean_difference, t.interval.low, t.interval.high
                ),
                format!("{:.3}", t.p),
                format!("{:.3}", judged.p_adjusted),
                judged.verdict.word().to_string(),
            ]),
            None => row.extend(["–", "–", "–", "–"].map(String::from)),
        }
        table.push(row);
    }
    table.markdown()
}

fn ablation_entry(abl: &[AblationRuns]) -> Result<LogEntry> {
    let cfg: AblationExperiment = abl[0].runs[0].config_as()?;
    let st = AblationStats::of(abl)?;
    let effects = st
        .labels
        .iter()
        .skip(1)
        .zip(&st.diffs)
        .filter_map(|(label, d)| {
            d.map(|(t, judged)| Effect {
                label: label.clone(),
                mean: format!("{:+.3}", t.mean_difference),
                low: format!("{:+.3}", t.interval.low),
                high: format!("{:+.3}", t.interval.high),
                p_holm: format!("{:.3}", judged.p_adjusted),
                verdict: judged.verdict.word().to_string(),
            })
        })
        .collect();
    let values = AblationValues {
        n_layer: cfg.model.n_layer.to_string(),
        n_head: cfg.model.n_head.to_string(),
        d_model: cfg.model.d_model.to_string(),
        block_size: cfg.model.block_size.to_string(),
        batch_size: cfg.train.batch_size.to_string(),
        max_lr: cfg.train.max_lr.to_string(),
        min_lr: cfg.train.min_lr.to_string(),
        warmup: cfg.train.warmup.to_string(),
        steps: cfg.train.steps.to_string(),
        seeds: format!("{:?}", cfg.seeds),
        provenance: abl[0].runs[0].provenance(),
        table: ablation_table(&st),
        n: st.n.to_string(),
        baseline: st.labels[0].clone(),
        baseline_loss: format!("{:.3}", st.stats[0].0),
        one_seed: st.n < 2,
        family: (st.labels.len() - 1).to_string(),
        effects,
        eval_iters: cfg.train.eval_iters.to_string(),
    };
    let part = |block: &str| {
        viz::template::render_block("m6_ablations.md", ABLATIONS_TEMPLATE, block, &values)
    };
    Ok(LogEntry {
        id: "m6_ablations".into(),
        milestone: 6,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![
            Figure::new(
                "m6_ablation_effects.png",
                FigureKind::EvaluationTables,
                part("caption_m6_ablation_effects")?,
            ),
            Figure::new(
                "m6_ablations.png",
                FigureKind::EvaluationTables,
                part("caption_m6_ablations")?,
            ),
        ],
        discussion: part("discussion")?,
    })
}
