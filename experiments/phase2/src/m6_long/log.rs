//! The log entry: its words are in `templates/m6_long.md`; this module reads the records, formats
//! the numbers, builds the tables, and fills the template's blocks.

use super::*;
use crate::records::{BenchSummary, FitSummary, SplitBytes};

/// The entry's text, one block per part (see the template's header).
const TEMPLATE: &str = include_str!("../../templates/m6_long.md");
const TEMPLATE_NAME: &str = "m6_long.md";

/// The experiment's log entry, once the selection or the long run has a finished record.
pub fn log_entries(ctx: &viz::Context) -> Result<Vec<viz::log::LogEntry>> {
    let (select, long) = (finished_select(ctx), finished_long(ctx));
    if select.is_none() && long.is_none() {
        return Ok(Vec::new());
    }
    Ok(vec![long_entry(ctx, select.as_ref(), long.as_ref())?])
}

/// A number with 3 decimals, or a dash.
pub(super) fn f3(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

// ---- what the template is given ------------------------------------------------------------------

/// Everything `templates/m6_long.md` reads, numbers already formatted.
#[derive(Serialize)]
struct EntryValues {
    /// The n-gram's order.
    n: String,
    budget_minutes: String,
    config: String,
    checkpoint: String,
    eval_chars: String,
    bench: Option<BenchLine>,
    select: Option<SelectValues>,
    long: Option<LongValues>,
}

/// m6's bench-config GPT against the n-gram, for the question.
#[derive(Serialize)]
struct BenchLine {
    params: String,
    steps: String,
    gpt: String,
    ngram: String,
}

/// The selection record's part.
#[derive(Serialize)]
struct SelectValues {
    provenance: String,
    count: String,
    minutes: String,
    budget_minutes: String,
    probe_steps: String,
    schedule_fraction: String,
    eval_seconds: String,
    fit_from: String,
    table: String,
    chosen: String,
    chosen_predicted: String,
    /// A candidate lower than the chosen one after the short run, if any.
    lower_now: Option<LowerNow>,
}

#[derive(Serialize)]
struct LowerNow {
    name: String,
    loss: String,
    chosen_loss: String,
}

/// The long run record's part.
#[derive(Serialize)]
struct LongValues {
    provenance: String,
    name: String,
    model: String,
    params: String,
    chosen_by_config: bool,
    schedule_steps: String,
    ms_per_step: String,
    schedule_fraction: String,
    budget_minutes: String,
    eval_interval: String,
    checkpoint_minutes: String,
    sessions: String,
    scored: String,
    min_context: String,
    table: String,
    gpt: String,
    ngram: String,
    full: String,
    ngram_subset: String,
    best_subset: String,
    /// When the subset loss first went below the n-gram's.
    crossed: Option<Crossed>,
    positions: Option<Positions>,
    categories: Option<Categories>,
    speakers: Option<Speakers>,
    samples: Option<Samples>,
    speed: Option<Speed>,
    /// Below the n-gram on the fair score.
    beats: bool,
    margin: String,
    perplexity_drop: String,
    wall: Option<Wall>,
    overfit: Option<Overfit>,
    prediction: Option<Prediction>,
    /// Only when the long GPT loses: where the selection's fit meets the n-gram.
    selection_fit: Option<SelectionFit>,
    /// Only when the long GPT loses: where a fit of its own curve meets the n-gram.
    own_fit: Option<OwnFit>,
}

#[derive(Serialize)]
struct Crossed {
    step: String,
    minutes: String,
    chars: String,
}

/// Loss by position in the window.
#[derive(Serialize)]
struct Positions {
    windows: String,
    block: String,
    ngram_history: String,
    table: String,
    /// Positions where the GPT is above the n-gram, those with less context than the n-gram, and the
    /// others.
    above: String,
    short: String,
    further: Option<Further>,
    history: String,
    gpt_first: String,
    ngram_first: String,
    gpt_last: String,
    ngram_last: String,
    /// The context from which every row of the table is below the n-gram.
    below_from: Option<String>,
    /// `below_from` is at most one more than the n-gram's history.
    below_from_history: bool,
    /// The positions where the long GPT is at or above the n-gram, as runs (`1–4, 42`).
    above_at: String,
    /// The bench GPT's positions at or above the n-gram on its own windows' characters.
    bench: Option<BenchPositions>,
}

#[derive(Serialize)]
struct BenchPositions {
    above: String,
    block: String,
}

#[derive(Serialize)]
struct Further {
    count: String,
    contexts: String,
}

#[derive(Serialize)]
struct Categories {
    table: String,
}

/// Speaker names against running text, relative to the n-gram.
#[derive(Serialize)]
struct Speakers {
    names: String,
    names_below: bool,
    text: String,
    text_below: bool,
    best_on_names: bool,
}

#[derive(Serialize)]
struct Samples {
    prompt: String,
    chars: String,
    temperature: String,
    top_p: Option<String>,
    top_k: Option<String>,
    seed: String,
    text: String,
}

/// `bench --size long`.
#[derive(Serialize)]
struct Speed {
    steps: String,
    provenance: String,
    table: String,
    ratio: Option<String>,
}

#[derive(Serialize)]
struct Wall {
    training: String,
    total: String,
}

/// Where the validation curve stopped paying (see [`overfit_values`]).
#[derive(Serialize)]
struct Overfit {
    /// The subset loss is lowest at the end (within 0.002).
    lowest_at_end: bool,
    best: String,
    best_minutes: String,
    best_chars: String,
    last: String,
    last_minutes: String,
    rise: String,
    passes: Option<Passes>,
    train_best: String,
    train_last: String,
    gap_best: String,
    gap_last: String,
    widened: bool,
    /// The gap widened by more than 0.01.
    stopped_paying: bool,
}

#[derive(Serialize)]
struct Passes {
    count: String,
    train_chars: String,
}

/// The selection's prediction for the chosen candidate against where the run ended.
#[derive(Serialize)]
struct Prediction {
    predicted: String,
    budget_minutes: String,
    minutes: String,
    end: String,
    miss: String,
    better: bool,
}

#[derive(Serialize)]
struct SelectionFit {
    target: String,
    floor: String,
    /// Minutes of training at which the fit reaches the target, if it does.
    reaches_after: Option<String>,
}

#[derive(Serialize)]
struct OwnFit {
    floor: String,
    reaches: Option<OwnFitReach>,
}

#[derive(Serialize)]
struct OwnFitReach {
    minutes: String,
    budgets: String,
    tokens_per_s: String,
    chars: String,
}

// ---- the entry -----------------------------------------------------------------------------------

pub(super) fn long_entry(
    ctx: &viz::Context,
    select: Option<&Record>,
    long: Option<&Record>,
) -> Result<viz::log::LogEntry> {
    let cfg: LongExperiment = match (long, select) {
        (Some(r), _) | (None, Some(r)) => r.config_as()?,
        (None, None) => bail!("no record"),
    };
    let bench_char = load(ctx, CHAR_RUN);
    let n = long
        .and_then(|r| r.summary_as::<LongPlanSummary>().ok())
        .map(|p| p.ngram_n)
        .or(select
            .and_then(|r| r.summary_as::<SelectSummary>().ok())
            .map(|s| s.ngram_n))
        .context("neither the long run's record nor its selection's holds `ngram_n`")?
        as f64;
    let select_values = select.map(|sel| select_values(sel, n)).transpose()?;
    let long_values = long
        .map(|l| long_values(ctx, &cfg, select, l, n, bench_char.as_ref()))
        .transpose()?;
    let values = EntryValues {
        n: format!("{n:.0}"),
        budget_minutes: cfg.long.budget_minutes.to_string(),
        config: CONFIG.to_string(),
        checkpoint: CHECKPOINT.to_string(),
        eval_chars: cfg.eval.chars.to_string(),
        bench: bench_line(bench_char.as_ref()),
        select: select_values,
        long: long_values,
    };
    let block = |name: &str| viz::template::render_block(TEMPLATE_NAME, TEMPLATE, name, &values);
    let mut figures = Vec::new();
    if long.is_some() {
        figures.push(
            Figure::new(
                FIG_VS_NGRAM,
                FigureKind::LossCurves,
                block("caption_m6_long_vs_ngram")?,
            )
            .key(),
        );
        if values.long.as_ref().is_some_and(|l| l.positions.is_some()) {
            figures.push(Figure::new(
                FIG_BY_POSITION,
                FigureKind::LossCurves,
                block("caption_m6_long_by_position")?,
            ));
        }
    }
    if select.is_some() {
        figures.push(Figure::new(
            FIG_SELECTION,
            FigureKind::LossCurves,
            block("caption_m6_long_selection")?,
        ));
    }
    Ok(viz::log::LogEntry {
        id: "m6_long".into(),
        milestone: 6,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures,
        discussion: block("discussion")?.trim().to_string(),
    })
}

/// m6's bench-config GPT and the n-gram on its characters, when its record has them.
fn bench_line(bench_char: Option<&Record>) -> Option<BenchLine> {
    let r = bench_char?;
    let sliding: SlidingSummary = r.summary_as().ok()?;
    let fit: FitSummary = r.summary_as().ok()?;
    let (g, ng) = (sliding.val_loss_sliding, sliding.ngram_val_loss_sliding);
    let (p, steps) = (fit.params as f64, fit.steps);
    Some(BenchLine {
        params: format!("{:.2}", p / 1e6),
        steps: format!("{steps:.0}"),
        gpt: format!("{g:.3}"),
        ngram: format!("{ng:.3}"),
    })
}

// ---- the selection -------------------------------------------------------------------------------

fn select_values(sel: &Record, n: f64) -> Result<SelectValues> {
    let scfg: LongExperiment = sel.config_as()?;
    let rs: Vec<SelectResult> = sel.artifact("candidates")?;
    let chosen = sel.summary_as::<SelectSummary>()?.chosen_index as usize;
    let table = selection_table(&scfg, &rs, chosen, n)?;
    let best_now = rs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.curve.last().map(|p| (i, p.val_loss)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let ch = &rs[chosen];
    let lower_now = match best_now {
        Some((i, v)) if i != chosen => Some(LowerNow {
            name: rs[i].name.clone(),
            loss: format!("{v:.3}"),
            chosen_loss: f3(ch.curve.last().map(|p| p.val_loss)),
        }),
        _ => None,
    };
    Ok(SelectValues {
        provenance: sel.provenance(),
        count: rs.len().to_string(),
        minutes: scfg.select.minutes.to_string(),
        budget_minutes: scfg.long.budget_minutes.to_string(),
        probe_steps: scfg.select.probe_steps.to_string(),
        schedule_fraction: scfg.long.schedule_fraction.to_string(),
        eval_seconds: scfg.select.eval_seconds.to_string(),
        fit_from: format!("{:.0}", scfg.select.fit_from * 100.0),
        table,
        chosen: ch.name.clone(),
        chosen_predicted: format!("{:.3}", ch.extrapolated),
        lower_now,
    })
}

/// One row per candidate: its short run, its fit and its prediction.
fn selection_table(
    scfg: &LongExperiment,
    rs: &[SelectResult],
    chosen: usize,
    n: f64,
) -> Result<String> {
    let mut t = viz::table::Table::new(&[
        "candidate",
        "model",
        "params",
        "tokens/s",
        &format!("subset loss after {} min", scfg.select.minutes),
        &format!("{n:.0}-gram, same chars"),
        "fit a / b / c",
        &format!("predicted at {} min", scfg.long.budget_minutes),
        &format!("minutes to the {n:.0}-gram (fit)"),
    ]);
    for (i, r) in rs.iter().enumerate() {
        let c = scfg.candidate(&r.name)?;
        t.push(vec![
            if i == chosen {
                format!("**{}** (chosen)", r.name)
            } else {
                r.name.clone()
            },
            format!(
                "{}L {}H d{} block {} batch {}, lr {}, dropout {}",
                c.n_layer, c.n_head, c.d_model, c.block_size, c.batch_size, c.max_lr, c.dropout
            ),
            format!("{:.2} M", r.params as f64 / 1e6),
            format!("{:.0}", r.tokens_per_s),
            f3(r.curve.last().map(|p| p.val_loss)),
            format!("{:.3}", r.ngram_subset),
            r.fit.map_or("no falling power law".into(), |l| {
                format!("{:.3} / {:.2} / {:.3}", l.a, l.b, l.c)
            }),
            format!("{:.3}", r.extrapolated),
            match (r.fit, r.minutes_to_ngram) {
                (Some(_), Some(m)) => format!("{m:.0}"),
                (Some(_), None) => "never (floor above it)".into(),
                (None, _) => "–".into(),
            },
        ]);
    }
    Ok(t.markdown())
}

// ---- the long run --------------------------------------------------------------------------------

fn long_values(
    ctx: &viz::Context,
    cfg: &LongExperiment,
    select: Option<&Record>,
    long: &Record,
    n: f64,
    bench_char: Option<&Record>,
) -> Result<LongValues> {
    let plan: LongPlan = long.artifact("plan")?;
    let c = &plan.candidate;
    let sessions: Vec<SessionRow> = long.artifact("sessions").unwrap_or_default();
    let summary = LongSummary::read(long)?;
    let unfinished = || format!("{} holds no finished run", long.dir.display());
    let progress = summary.progress.with_context(unfinished)?;
    let sliding = summary.sliding.with_context(unfinished)?;
    let result = summary.result.with_context(unfinished)?;
    let (g, ng) = (sliding.val_loss_sliding, sliding.ngram_val_loss_sliding);
    let full = result.val_loss_full;
    let minutes = progress.train_minutes;
    let steps = progress.steps_done as f64;
    let scored = sliding.sliding_scored;
    let table = fair_table(&plan, bench_char, n, [g, ng, full, minutes, steps])?;
    let min_context = plan.run.model.block_size as f64 - sliding.sliding_stride as f64 + 1.0;
    let crossed = match (
        result.overtook_minutes,
        result.overtook_chars,
        result.overtook_step,
    ) {
        (Some(m), Some(ch), Some(s)) => Some(Crossed {
            step: format!("{s:.0}"),
            minutes: format!("{m:.1}"),
            chars: format!("{:.1}", ch / 1e6),
        }),
        _ => None,
    };
    let ng_subset = summary.plan.ngram_subset_loss;
    let position_curves: Vec<PositionCurve> = long.artifact("positions")?;
    let positions = position_curves
        .first()
        .map(|lp| positions_values(lp, position_curves.get(1), n));
    let cats: Vec<CategoryRow> = long.artifact("categories")?;
    let speed = speed_values(ctx)?;
    let prediction = prediction_values(select, long, &plan, minutes);
    let beats = g < ng;
    let (selection_fit, own_fit) = if beats {
        (None, None)
    } else {
        (
            selection_fit(select, &c.name),
            own_fit(long, ng_subset, minutes),
        )
    };
    Ok(LongValues {
        provenance: long.provenance(),
        name: c.name.clone(),
        model: c.describe(),
        params: format!("{:.2}", plan.run.model.n_params() as f64 / 1e6),
        chosen_by_config: plan.chosen_by == "config",
        schedule_steps: plan.run.train.steps.to_string(),
        ms_per_step: format!("{:.1}", plan.seconds_per_step * 1e3),
        schedule_fraction: cfg.long.schedule_fraction.to_string(),
        budget_minutes: (plan.budget_s / 60.0).to_string(),
        eval_interval: plan.run.train.eval_interval.to_string(),
        checkpoint_minutes: (plan.checkpoint_every_s / 60.0).to_string(),
        sessions: sessions.len().max(1).to_string(),
        scored: scored.to_string(),
        min_context: format!("{min_context:.0}"),
        table,
        gpt: format!("{g:.3}"),
        ngram: format!("{ng:.3}"),
        full: format!("{full:.3}"),
        ngram_subset: format!("{ng_subset:.3}"),
        best_subset: f3(result.best_subset_loss),
        crossed,
        positions,
        categories: (!cats.is_empty()).then(|| Categories {
            table: categories_table(&cats, n),
        }),
        speakers: speakers(&cats),
        samples: long.text("samples").ok().map(|s| samples_values(cfg, &s)),
        speed,
        beats,
        margin: format!("{:.3}", if beats { ng - g } else { g - ng }),
        perplexity_drop: format!("{:.0}", 100.0 * (1.0 - (g - ng).exp())),
        wall: long.meta.wall_s.map(|w| Wall {
            training: mins(minutes),
            total: mins(w / 60.0),
        }),
        overfit: overfit_values(ctx, long),
        prediction,
        selection_fit,
        own_fit,
    })
}

/// The fair scores: the long GPT, m6's bench-config GPT (when its record has them) and the n-gram.
/// `long` is the long run's `[sliding, n-gram sliding, non-overlapping, minutes, steps]`.
fn fair_table(
    plan: &LongPlan,
    bench_char: Option<&Record>,
    n: f64,
    long: [f64; 5],
) -> Result<String> {
    let [g, ng, full, minutes, steps] = long;
    let chars = steps * (plan.run.train.batch_size * plan.run.model.block_size) as f64;
    let mut t = viz::table::Table::new(&[
        "model",
        "params",
        "training",
        "characters seen",
        "val loss, sliding windows (fair)",
        "val loss, non-overlapping windows",
    ]);
    t.push(vec![
        format!("long GPT `{}`", plan.candidate.name),
        format!("{:.2} M", plan.run.model.n_params() as f64 / 1e6),
        format!("{} min, {steps:.0} steps", mins(minutes)),
        format!("{:.1} M", chars / 1e6),
        format!("**{g:.3}**"),
        format!("{full:.3}"),
    ]);
    if let Some(b) = bench_char {
        if let (Ok(sliding), Ok(fit)) = (
            b.summary_as::<SlidingSummary>(),
            b.summary_as::<FitSummary>(),
        ) {
            let (bg, bf, p, s, ts) = (
                sliding.val_loss_sliding,
                fit.val_loss_full,
                fit.params as f64,
                fit.steps as f64,
                fit.train_seconds,
            );
            let bcfg: crate::m6::GptExperiment = b.config_as()?;
            t.push(vec![
                "bench-config GPT (m6)".into(),
                format!("{:.2} M", p / 1e6),
                format!("{} min, {s:.0} steps", mins(ts / 60.0)),
                format!(
                    "{:.1} M",
                    s * (bcfg.char.train.batch_size * bcfg.char.model.block_size) as f64 / 1e6
                ),
                format!("{bg:.3}"),
                format!("{bf:.3}"),
            ]);
        }
    }
    t.push(vec![
        format!("Kneser–Ney {n:.0}-gram (same characters)"),
        "–".into(),
        "counts".into(),
        "–".into(),
        format!("{ng:.3}"),
        "–".into(),
    ]);
    Ok(t.markdown())
}

/// Loss by position in the window, the long GPT's (`lp`) and the bench GPT's (`bp`), and where the
/// long GPT is above the n-gram.
fn positions_values(lp: &PositionCurve, bp: Option<&PositionCurve>, n: f64) -> Positions {
    let table = positions_table(lp, bp, n);
    // Where the GPT is above the n-gram, position by position, and from which row of the table
    // on every row is below it.
    let history = n as usize - 1;
    let above: Vec<usize> = (0..lp.block)
        .filter(|&p| lp.gpt[p] >= lp.ngram[p])
        .map(|p| p + 1)
        .collect();
    let short = above.iter().filter(|&&p| p < history).count();
    let further: Vec<String> = above
        .iter()
        .filter(|&&p| p >= history)
        .map(|p| p.to_string())
        .collect();
    let bucket_below = |&(lo, hi): &(usize, usize)| {
        let m = |v: &[f64]| v[lo - 1..hi].iter().sum::<f64>();
        m(&lp.gpt) < m(&lp.ngram)
    };
    let buckets = context_buckets(lp.block);
    let from = buckets
        .iter()
        .rev()
        .take_while(|b| bucket_below(b))
        .last()
        .map(|b| b.0);
    let last = lp.block - 1;
    Positions {
        windows: lp.windows.to_string(),
        block: lp.block.to_string(),
        ngram_history: format!("{:.0}", n - 1.0),
        table,
        above: above.len().to_string(),
        short: short.to_string(),
        further: (!further.is_empty()).then(|| Further {
            count: further.len().to_string(),
            contexts: further.join(", "),
        }),
        history: history.to_string(),
        gpt_first: format!("{:.3}", lp.gpt[0]),
        ngram_first: format!("{:.3}", lp.ngram[0]),
        gpt_last: format!("{:.3}", lp.gpt[last]),
        ngram_last: format!("{:.3}", lp.ngram[last]),
        below_from: from.map(|lo| lo.to_string()),
        below_from_history: from.is_some_and(|lo| lo <= history + 1),
        above_at: super::figures::runs(&above).join(", "),
        bench: bp.map(|b| BenchPositions {
            above: (0..b.block)
                .filter(|&p| b.gpt[p] >= b.ngram[p])
                .count()
                .to_string(),
            block: b.block.to_string(),
        }),
    }
}

/// Mean loss over buckets of context length, the long GPT's and the bench GPT's against the n-gram
/// on the same characters.
fn positions_table(lp: &PositionCurve, bp: Option<&PositionCurve>, n: f64) -> String {
    let mut t = viz::table::Table::new(&[
        "context (characters)",
        "long GPT",
        &format!("{n:.0}-gram, same chars"),
        "long − n-gram",
        "bench GPT",
        &format!("{n:.0}-gram, bench's chars"),
    ]);
    for (lo, hi) in context_buckets(lp.block) {
        let mean = |v: &[f64], lo: usize, hi: usize| -> Option<f64> {
            (hi <= v.len()).then(|| v[lo - 1..hi].iter().sum::<f64>() / (hi - lo + 1) as f64)
        };
        let (lg, ln) = (mean(&lp.gpt, lo, hi), mean(&lp.ngram, lo, hi));
        let (bg, bn) = match bp {
            Some(b) => (mean(&b.gpt, lo, hi), mean(&b.ngram, lo, hi)),
            None => (None, None),
        };
        t.push(vec![
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            },
            f3(lg),
            f3(ln),
            match (lg, ln) {
                (Some(a), Some(b)) => format!("{:+.3}", a - b),
                _ => "–".into(),
            },
            f3(bg),
            f3(bn),
        ]);
    }
    t.markdown()
}

/// Loss by kind of character.
fn categories_table(cats: &[CategoryRow], n: f64) -> String {
    let mut t = viz::table::Table::new(&[
        "characters",
        "count",
        "long GPT",
        "bench GPT",
        &format!("{n:.0}-gram"),
        "long − n-gram",
    ]);
    for r in cats {
        t.push(vec![
            r.name.clone(),
            r.chars.to_string(),
            format!("{:.3}", r.long),
            f3(r.bench),
            format!("{:.3}", r.ngram),
            format!("{:+.3}", r.long - r.ngram),
        ]);
    }
    t.markdown()
}

/// Speaker names (the first category) against running text (the second), relative to the n-gram.
fn speakers(cats: &[CategoryRow]) -> Option<Speakers> {
    let (names, text) = (cats.first()?, cats.get(1)?);
    let d_names = names.long - names.ngram;
    let d_text = text.long - text.ngram;
    Some(Speakers {
        names: format!("{:.3}", d_names.abs()),
        names_below: d_names < 0.0,
        text: format!("{:.3}", d_text.abs()),
        text_below: d_text < 0.0,
        best_on_names: d_names < d_text,
    })
}

fn samples_values(cfg: &LongExperiment, samples: &str) -> Samples {
    Samples {
        prompt: format!("{:?}", cfg.samples.prompt),
        chars: cfg.samples.chars.to_string(),
        temperature: cfg.samples.temperature.to_string(),
        top_p: cfg.samples.top_p.map(|p| p.to_string()),
        top_k: cfg.samples.top_k.map(|k| k.to_string()),
        seed: cfg.samples.seed.to_string(),
        text: samples.trim_end().to_string(),
    }
}

/// `bench --size long`'s record, when there is one.
fn speed_values(ctx: &viz::Context) -> Result<Option<Speed>> {
    let Some(b) = load(ctx, BENCH_LONG_RUN) else {
        return Ok(None);
    };
    let rows: Vec<BenchRow> = b.artifact("rows")?;
    let mut t = viz::table::Table::new(&[
        "trainer",
        "training tokens/s",
        "GFLOP/s",
        "peak memory (MiB)",
    ]);
    for r in &rows {
        t.push(vec![
            r.trainer.clone(),
            format!("{:.0}", r.tokens_per_s),
            format!("{:.2}", r.gflops),
            format!("{:.0}", r.peak_mem_mib),
        ]);
    }
    Ok(Some(Speed {
        steps: rows.first().map_or(0, |r| r.steps).to_string(),
        provenance: b.provenance(),
        table: t.markdown(),
        ratio: b
            .summary_as::<BenchSummary>()?
            .ratio_vs_pytorch
            .map(|r| format!("{r:.2}")),
    }))
}

/// The selection's result for candidate `name`.
fn selected(select: Option<&Record>, name: &str) -> Option<SelectResult> {
    select
        .and_then(|s| s.artifact::<Vec<SelectResult>>("candidates").ok())
        .and_then(|rs| rs.into_iter().find(|r| r.name == name))
}

/// What the selection predicted for the long run's candidate, against where it ended.
fn prediction_values(
    select: Option<&Record>,
    long: &Record,
    plan: &LongPlan,
    minutes: f64,
) -> Option<Prediction> {
    selected(select, &plan.candidate.name).map(|r| {
        let end = long
            .summary_as::<LongResultSummary>()
            .ok()
            .and_then(|r| r.final_subset_loss)
            .unwrap_or(f64::NAN);
        Prediction {
            predicted: format!("{:.3}", r.extrapolated),
            budget_minutes: (plan.budget_s / 60.0).to_string(),
            minutes: mins(minutes),
            end: format!("{end:.3}"),
            miss: format!("{:.3}", (end - r.extrapolated).abs()),
            better: end <= r.extrapolated,
        }
    })
}

/// Where the selection's fit for candidate `name` (its first minutes) meets the n-gram on the
/// subset, if it does.
fn selection_fit(select: Option<&Record>, name: &str) -> Option<SelectionFit> {
    selected(select, name)
        .and_then(|r| r.fit.map(|f| (f, r.ngram_subset)))
        .map(|(f, target)| SelectionFit {
            target: format!("{target:.3}"),
            floor: format!("{:.3}", f.a),
            reaches_after: f.time_to(target).map(|t| mins(t / 60.0)),
        })
}

/// A power law fitted to the long run's last three quarters, and when it meets the n-gram's subset
/// loss `ng_subset`.
fn own_fit(long: &Record, ng_subset: f64, minutes: f64) -> Option<OwnFit> {
    let curve = long_curve(long);
    let total = curve.last().map_or(0.0, |p| p.seconds);
    let tail: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.seconds >= 0.25 * total && p.seconds > 0.0)
        .map(|p| (p.seconds, p.val_loss))
        .collect();
    let law = PowerLaw::fit(&tail)?;
    let tokens_per_s = long
        .summary_as::<LongProgressSummary>()
        .map_or(f64::NAN, |p| p.tokens_per_s);
    Some(OwnFit {
        floor: format!("{:.3}", law.a),
        reaches: law.time_to(ng_subset).map(|t| OwnFitReach {
            minutes: mins(t / 60.0),
            budgets: format!("{:.1}", t / (minutes * 60.0)),
            tokens_per_s: format!("{tokens_per_s:.0}"),
            chars: format!("{:.0}", t * tokens_per_s / 1e6),
        }),
    })
}

/// Where the validation curve stopped paying for more training, from the records: its lowest point
/// against its end, and the training loss over the same span (how many passes over the training
/// text that was, from m4's record of the split).
fn overfit_values(ctx: &viz::Context, long: &Record) -> Option<Overfit> {
    let curve = long_curve(long);
    let train = train_curve(long, &curve);
    let best = curve
        .iter()
        .filter(|p| p.step > 0)
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))?;
    let last = curve.last()?;
    let train_at = |step: usize| train.iter().find(|(p, _)| p.step == step).map(|t| t.1);
    let (tb, te) = (train_at(best.step)?, train_at(last.step)?);
    let split = Record::load(ctx, "m4", "tokenizers")
        .ok()
        .and_then(|r| r.summary_as::<SplitBytes>().ok())
        .map(|s| s.train_bytes as f64);
    let lowest_at_end = last.val_loss - best.val_loss < 0.002;
    let passes_chars = if lowest_at_end {
        last.chars
    } else {
        best.chars
    };
    let (gap_b, gap_e) = (best.val_loss - tb, last.val_loss - te);
    Some(Overfit {
        lowest_at_end,
        best: format!("{:.3}", best.val_loss),
        best_minutes: mins(best.seconds / 60.0),
        best_chars: format!("{:.1}", best.chars / 1e6),
        last: format!("{:.3}", last.val_loss),
        last_minutes: mins(last.seconds / 60.0),
        rise: format!("{:+.3}", last.val_loss - best.val_loss),
        passes: split.map(|n| Passes {
            count: format!("{:.0}", passes_chars / n),
            train_chars: format!("{:.2}", n / 1e6),
        }),
        train_best: format!("{tb:.3}"),
        train_last: format!("{te:.3}"),
        gap_best: format!("{gap_b:.3}"),
        gap_last: format!("{gap_e:.3}"),
        widened: gap_e > gap_b,
        stopped_paying: gap_e > gap_b + 0.01,
    })
}

/// Context lengths `1, 2, 3–4, 5–8, …` up to `block`, as inclusive `(lo, hi)`.
pub(super) fn context_buckets(block: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(1, 1)];
    let mut lo = 2;
    while lo <= block {
        let hi = (2 * lo - 2).clamp(lo, block);
        out.push((lo, hi));
        lo = hi + 1;
    }
    out
}

/// m6's headline adds the long run's fair score, when there is one.
pub fn headline(ctx: &viz::Context) -> Option<String> {
    let r = finished_long(ctx)?;
    let s = LongSummary::read(&r).ok()?;
    let sliding = s.sliding?;
    let (g, ng) = (sliding.val_loss_sliding, sliding.ngram_val_loss_sliding);
    Some(crate::headline_text(
        "m6_long",
        &serde_json::json!({
            "params": format!("{:.1}", s.plan.params as f64 / 1e6),
            "minutes": mins(s.progress?.train_minutes),
            "beats": g < ng,
            "gpt": format!("{g:.3}"),
            "ngram": format!("{ng:.3}"),
        }),
    ))
}
