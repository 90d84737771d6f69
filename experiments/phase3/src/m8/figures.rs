//! m8's figures, from its record alone: the training curves, the reader against k, where the
//! answer looks, the pipeline, and how the answers split ([`super::answers`]).

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _, Result};
use phase3_rag::asker::Outcome;
use viz::plot::entity::Entity;
use viz::plot::{DiagramFigure, FigureSpec, LineChart, LineGrid, Series, TextHeat};
use viz::record::Record;
use viz::Context;

use super::{
    answers, curve_conditions, label, pipeline, record, AnswerAttention, ReaderConfig,
    FIG_ATTENTION, FIG_K, FIG_LOSS, FIG_PIPELINE,
};
use crate::intervals::mean_interval;
use crate::records::{metric, ConditionSummary, ReaderSummary};

/// The k figure's finding: where exact match, averaged over the retrievers, peaks, and what it is
/// at the largest k.
fn k_title(summary: &ReaderSummary, cfg: &ReaderConfig) -> Result<String> {
    let mut by_k = Vec::new();
    for &k in &cfg.ks {
        let ems = cfg
            .retriever
            .iter()
            .map(|r| Ok(summary.retrieved(r.name(), k)?.exact_match))
            .collect::<Result<Vec<f64>>>()?;
        by_k.push((k, ems.iter().sum::<f64>() / ems.len().max(1) as f64));
    }
    let peak = by_k.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
    Ok(match (peak, by_k.last()) {
        (Some((kp, ep)), Some(&(kl, el))) if kl != kp => format!(
            "Exact match (retrievers' mean) peaks at k = {kp}: {:.0} %, {:.0} % at k = {kl}",
            100.0 * ep,
            100.0 * el
        ),
        _ => format!(
            "The reader against the number of retrieved passages ({} held-out questions)",
            summary.sizes.questions
        ),
    })
}

/// Wilson intervals (at the house confidence) of exact-match rates, each over `n` questions: the
/// sampling of questions only, one trained reader.
pub(super) fn wilson_band(rates: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
    rates
        .iter()
        .map(|&(_, p)| {
            let i = stats::wilson((p * n as f64).round() as usize, n, 1.0 - stats::ALPHA);
            (i.low, i.high)
        })
        .collect()
}

/// `m8_loss_curves.png`: the training loss, and the held-out questions asked during training.
fn loss_figure(rec: &Record, cfg: &ReaderConfig) -> Result<FigureSpec> {
    let loss = LineChart::new(
        "Training loss",
        "training step",
        "loss per scored token (nats, log scale)",
    )
    .log_y()
    .series(Series::new(
        "answers + documents",
        rec.series(metric::TRAIN_LOSS)?,
    ));
    let mut ppl = LineChart::new(
        "Held-out answer perplexity",
        "training step",
        "perplexity per answer token (log scale)",
    )
    .log_y();
    let mut em = LineChart::new(
        "Held-out exact match",
        "training step",
        "exact match (fraction of questions)",
    )
    .y_range(EM_FLOOR, 1.0);
    // Closed book after random: its line at zero is drawn over random's band, not under it.
    let mut conditions = curve_conditions(cfg);
    if let (Some(c), Some(r)) = (
        conditions.iter().position(|c| c == "closed_book"),
        conditions.iter().position(|c| c == "random"),
    ) {
        conditions.swap(c, r);
    }
    // The last measurement of each condition's exact match, for the title.
    let mut last: Vec<(String, f64, f64)> = Vec::new();
    for c in &conditions {
        let curve = |what: &str| rec.series(&metric::curve(c, what));
        // In the house style: the reference conditions (gold passage, no passage) dashed, as in
        // the k figure.
        let style = |s: Series| s.entity_if(Entity::of_name(c));
        ppl = ppl.series(style(Series::new(
            label(c),
            curve(metric::ANSWER_PERPLEXITY)?,
        )));
        // Wilson intervals: each point asks the same few held-out questions.
        let points = curve(metric::EXACT_MATCH)?;
        last.extend(points.last().map(|&(step, v)| (c.clone(), step, v)));
        let band = wilson_band(&points, cfg.curve_questions);
        em = em.series(style(Series::new(label(c), points)).band(band));
    }
    Ok(FigureSpec::new(
        FIG_LOSS,
        LineGrid::new(loss_title(&last, cfg), vec![loss, ppl, em], 3),
    ))
}

/// Exact match's axis starts a little below zero, so a line at zero is not drawn on the axis.
const EM_FLOOR: f64 = -0.02;

/// The training figure's finding: at the last evaluation, the held-out exact match of the best
/// condition other than gold, and of gold (the measured values only: the curves ask a few
/// questions, and no test compares them).
fn loss_title(last: &[(String, f64, f64)], cfg: &ReaderConfig) -> String {
    let gold = last.iter().find(|l| l.0 == "gold");
    let best = last
        .iter()
        .filter(|l| l.0 != "gold")
        .max_by(|a, b| a.2.total_cmp(&b.2));
    match (best, gold) {
        (Some((c, step, v)), Some((_, _, g))) => format!(
            "Exact match at step {step:.0}: {} {:.0} %, gold {:.0} % ({} held-out questions)",
            label(c),
            100.0 * v,
            100.0 * g,
            cfg.curve_questions
        ),
        _ => format!(
            "Training the reader: loss, and {} held-out questions asked every {} steps",
            cfg.curve_questions, cfg.train.eval_interval
        ),
    }
}

/// A perplexity as a reference line's label reads it: two decimals below 10, none above.
fn perplexity(p: f64) -> String {
    if p < 10.0 {
        format!("{p:.2}")
    } else {
        format!("{p:.0}")
    }
}

/// `m8_perplexity_vs_k.png`: answer perplexity and exact match against k, per retriever, with
/// intervals over the questions; gold and closed book as reference lines that carry their values
/// (one key entry each, shared by both panels).
fn k_figure(
    cfg: &ReaderConfig,
    summary: &ReaderSummary,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
) -> Result<FigureSpec> {
    let ks: Vec<f64> = cfg.ks.iter().map(|&k| k as f64).collect();
    let mut ppl_k = LineChart::new(
        "Answer perplexity",
        "k (passages retrieved)",
        "perplexity per answer token (log scale)",
    )
    .log_y()
    .x_ticks(ks.clone());
    let mut em_k = LineChart::new(
        "Exact match",
        "k (passages retrieved)",
        "exact match (fraction of questions)",
    )
    .y_range(EM_FLOOR, 1.0)
    .x_ticks(ks);
    for (ri, r) in cfg.retriever.iter().enumerate() {
        let entity = Entity::of_name(r.name());
        let pts = |pick: fn(&ConditionSummary) -> f64| -> Result<Vec<(f64, f64)>> {
            cfg.ks
                .iter()
                .map(|&k| Ok((k as f64, pick(summary.retrieved(r.name(), k)?))))
                .collect()
        };
        // The summary's perplexity is the mean of the questions' own: its interval is the
        // bootstrap of that mean over the questions.
        let ppl_band = cfg
            .ks
            .iter()
            .enumerate()
            .map(|(ki, &k)| {
                let name = format!("{}@{k}", r.name());
                let per: Vec<f64> = outcomes
                    .get(&name)
                    .with_context(|| format!("m8 record: no outcomes for `{name}`"))?
                    .iter()
                    .map(|o| o.answer_perplexity)
                    .collect();
                mean_interval(&per, (ri * cfg.ks.len() + ki) as u64)
            })
            .collect::<Result<Vec<_>>>()?;
        ppl_k = ppl_k.series(
            Series::new(r.name(), pts(|c| c.answer_perplexity)?)
                .entity_if(entity)
                .band(ppl_band),
        );
        // Wilson intervals over the held-out questions (their sampling only: one trained reader).
        let em = pts(|c| c.exact_match)?;
        let band = wilson_band(&em, summary.sizes.questions as usize);
        em_k = em_k.series(Series::new(r.name(), em).entity_if(entity).band(band));
    }
    for (c, e) in [("gold", Entity::Gold), ("closed_book", Entity::ClosedBook)] {
        // In its entity's colour, as in the training curves beside it; its values in its label,
        // as a line off the ticks (or on the axis) cannot be read.
        let s = summary.condition(c)?;
        let (ppl_c, em_c) = (s.answer_perplexity, s.exact_match);
        let text = format!(
            "{}: perplexity {}, exact match {:.0} %",
            label(c),
            perplexity(ppl_c),
            100.0 * em_c
        );
        ppl_k = ppl_k.hline_entity(&text, ppl_c, e);
        em_k = em_k.hline_entity(&text, em_c, e);
    }
    Ok(FigureSpec::new(
        FIG_K,
        LineGrid::new(k_title(summary, cfg)?, vec![ppl_k, em_k], 2),
    ))
}

/// `m8_context_attention.png`: one answer's attention over its prompt, per layer, titled with the
/// layer that looks at the answer most over all the traced questions.
fn attention_figure(ex: &AnswerAttention, summary: &ReaderSummary) -> Result<FigureSpec> {
    let answer: String = ex.answer_tokens.concat();
    let n_answer = ex.answer_tokens.len();
    let tokens = if n_answer == 1 { "token" } else { "tokens" };
    let title = match &summary.traced.attention {
        Some(att) => {
            let layers = (0..ex.maps.len()).filter_map(|l| Some((l, att.layer(l)?)));
            let (l, m) = layers
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .context("m8 record: no layer's attention on the answer")?;
            format!(
                "Layer {l} looks at the answer in the gold passage: {:.0} % of attention (uniform {:.0} %)",
                100.0 * m,
                100.0 * att.uniform_baseline
            )
        }
        None => format!(
            "Where the answer looks: attention over the prompt ({})",
            label(&ex.condition)
        ),
    };
    let over = summary.traced.attention.as_ref().map_or(String::new(), |a| {
        format!(
            "Title: mean over the {} held-out questions of {} with the gold passage in the prompt. ",
            a.questions,
            label(&ex.condition)
        )
    });
    let mut heat = TextHeat::new(title, ex.prompt_tokens.clone())
        .note(format!(
            "{over}Below, the first right answer whose gold passage is not the prompt's first: \"{}\" → \
             \"{}\". Shade: attention of the positions predicting its {n_answer} {tokens}, mean over \
             heads, on the reader's BPE tokens.",
            ex.question,
            answer.trim(),
        ))
        .mark(ex.span.0..ex.span.1, "the answer inside the gold passage");
    let n = ex.prompt_tokens.len();
    ensure!(
        ex.span.1 <= n,
        "m8 record: the answer span lies outside the prompt"
    );
    for (l, m) in ex.maps.iter().enumerate() {
        let mean: Vec<f64> = (0..n)
            .map(|j| {
                m.iter()
                    .map(|row| row.get(j).copied().unwrap_or(0.0))
                    .sum::<f64>()
                    / m.len().max(1) as f64
            })
            .collect();
        let on_answer: f64 = mean[ex.span.0..ex.span.1].iter().sum();
        heat = heat.panel(
            format!(
                "layer {l}: {:.0} % on the outlined answer",
                100.0 * on_answer
            ),
            mean,
        );
    }
    Ok(FigureSpec::new(FIG_ATTENTION, heat))
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let cfg: ReaderConfig = rec.config_as()?;
    let summary: ReaderSummary = rec.summary_as()?;
    let outcomes: BTreeMap<String, Vec<Outcome>> = rec.artifact("outcomes")?;
    let mut out = vec![
        loss_figure(&rec, &cfg)?,
        k_figure(&cfg, &summary, &outcomes)?,
    ];
    if let Ok(ex) = rec.artifact::<AnswerAttention>("attention_example") {
        out.push(attention_figure(&ex, &summary)?);
    }
    out.push(FigureSpec::new(
        FIG_PIPELINE,
        DiagramFigure {
            title: "The RAG pipeline of m8, drawn from its configured stages".into(),
            diagram: pipeline(&cfg),
        },
    ));
    out.extend(answers::passages_figure(&cfg, &outcomes)?);
    Ok(out)
}
