//! m5 — attention you can look at: the attention weights of the trained m6 character model over a
//! real prompt, and a per-head test for the two best-understood attention patterns:
//!
//! * previous-token heads: mean weight from position `i` to `i - 1` on random tokens;
//! * induction heads (Olsson et al. 2022): on a random sequence repeated twice, the mean weight from
//!   position `i` in the second copy to `i - L + 1` — the token that *followed* the current token
//!   last time, which is what a head must look at to copy the continuation.
//!
//! Random tokens carry no meaning, so any structure in these scores is the mechanism, not the text.
//! The maps and scores are stored as record artifacts so the figures redraw from records.

use crate::records::{AttentionSummary, FitSummary};

use anyhow::{bail, Context as _, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind};
use viz::plot::entity::Entity;
use viz::plot::{Dot, DotPlot, FigureSpec, Heatmap, HeatmapGrid, Marker};
use viz::record::{Record, RunWriter};

use crate::m6;
use phase2_lm::checkpoint;
use phase2_lm::model::Gpt;
use phase2_lm::tokenizer::Tokenizer;

pub const ATTENTION: &str = "m5_attention";
pub const MILESTONE: &str = "m5";
pub const RUN: &str = "attention";

/// `configs/phase2/m5_attention.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionConfig {
    /// Text whose attention maps are drawn (at most the model's block size in characters).
    pub prompt: String,
    /// Length `L` of the random sequence that is repeated (2L must fit the block).
    pub repeat_len: usize,
    /// How many random sequences the head scores average over.
    pub n_sequences: usize,
    pub seed: u64,
}

/// Attention maps over the prompt: `maps[layer][head][query][key]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMaps {
    pub tokens: Vec<String>,
    pub maps: Vec<Vec<Vec<Vec<f64>>>>,
}

/// The two scores of one head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadScore {
    pub layer: usize,
    pub head: usize,
    pub prev_token: f64,
    pub induction: f64,
}

/// Per-layer weights `[1, H, T, T]` -> `[layer][head][i][j]`.
fn to_nested(weights: &[Tensor]) -> Result<Vec<Vec<Vec<Vec<f64>>>>> {
    weights
        .iter()
        .map(|w| {
            let w = w.squeeze(0)?.to_dtype(candle_core::DType::F64)?;
            Ok(w.to_vec3::<f64>()?)
        })
        .collect()
}

/// The previous-token and induction scores of one attention map `a[query][key]` over a sequence of
/// `len` tokens repeated twice: mean weight on position i − 1 (over every i ≥ 1), and mean weight, in
/// the second copy, on i − len + 1 (the token after the current token's previous occurrence).
pub fn pattern_scores(a: &[Vec<f64>], len: usize) -> (f64, f64) {
    let prev = (1..2 * len).map(|i| a[i][i - 1]).sum::<f64>() / (2 * len - 1) as f64;
    let ind = (len..2 * len).map(|i| a[i][i - len + 1]).sum::<f64>() / len as f64;
    (prev, ind)
}

/// Whether the model has a working induction head: its best induction score `bi` is over three
/// times a uniform head's, and the loss on a repeated copy falls by more than 0.1 nats (`l1` on
/// the first copy, `l2` on the second).
pub fn has_induction(bi: f64, uniform: f64, l1: f64, l2: f64) -> bool {
    bi > 3.0 * uniform && l1 - l2 > 0.1
}

/// What a head that spreads its weight uniformly over the causal prefix (weight 1 / (i + 1) on each
/// of positions 0..=i) scores, by the same [`pattern_scores`]: the reference every score is read
/// against.
pub fn uniform_scores(len: usize) -> (f64, f64) {
    let t = 2 * len;
    let a: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| if j <= i { 1.0 / (i + 1) as f64 } else { 0.0 })
                .collect()
        })
        .collect();
    pattern_scores(&a, len)
}

/// Previous-token and induction scores of every head, averaged over `n` random sequences of length
/// `len` each repeated twice. Also returns the model's loss on the first and second copy.
pub fn head_scores(
    model: &Gpt,
    len: usize,
    n: usize,
    seed: u64,
) -> Result<(Vec<HeadScore>, f64, f64)> {
    if 2 * len > model.cfg.block_size || len < 2 {
        bail!(
            "repeat_len = {len}: need 2 <= 2 * repeat_len <= block_size = {}",
            model.cfg.block_size
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = model.cfg.vocab_size as u32;
    let mut ids = Vec::with_capacity(n * 2 * len);
    for _ in 0..n {
        let seq: Vec<u32> = (0..len).map(|_| rng.gen_range(0..v)).collect();
        ids.extend_from_slice(&seq);
        ids.extend_from_slice(&seq);
    }
    let idx = Tensor::from_vec(ids.clone(), (n, 2 * len), &Device::Cpu)?;
    let (logits, weights) = model.forward_with_attention(&idx)?;
    let mut scores = Vec::new();
    for (layer, w) in weights.iter().enumerate() {
        // [n, H, 2L, 2L]
        let w = w.to_dtype(candle_core::DType::F64)?;
        let w: Vec<Vec<Vec<Vec<f64>>>> = (0..n)
            .map(|b| w.get(b)?.to_vec3::<f64>())
            .collect::<candle_core::Result<_>>()?;
        for head in 0..model.cfg.n_head {
            let (mut prev, mut ind) = (0.0, 0.0);
            for seq in &w {
                let (p, i) = pattern_scores(&seq[head], len);
                prev += p;
                ind += i;
            }
            scores.push(HeadScore {
                layer,
                head,
                prev_token: prev / n as f64,
                induction: ind / n as f64,
            });
        }
    }
    // Next-token loss on each copy: a model that copies gets the second copy nearly free.
    let lp = candle_core::Tensor::log_sum_exp(&logits, candle_core::D::Minus1)?;
    let lp: Vec<Vec<f32>> = lp.to_vec2()?;
    let logits: Vec<Vec<Vec<f32>>> = logits.to_vec3()?;
    let (mut first, mut second) = (0.0, 0.0);
    for b in 0..n {
        for i in 0..2 * len - 1 {
            let target = ids[b * 2 * len + i + 1] as usize;
            let nll = (lp[b][i] - logits[b][i][target]) as f64;
            if i + 1 < len {
                first += nll;
            } else if i + 1 > len {
                second += nll;
            }
        }
    }
    Ok((
        scores,
        first / (n * (len - 1)) as f64,
        second / (n * (len - 1)) as f64,
    ))
}

/// `m5_attention`: the heads of m6's character model, scored on repeated random sequences.
pub fn run_attention(ctx: &viz::Context) -> Result<String> {
    let (cfg, raw): (AttentionConfig, toml::Value) = ctx.load_config(crate::PHASE, ATTENTION)?;
    let dir = checkpoint::dir_for(ctx, m6::CHAR_RUN);
    let (model, tokenizer, _) = checkpoint::load_model(&dir)
        .with_context(|| format!("m5 reads the m6 character model: run `{}` first", m6::GPT))?;
    let mut writer = RunWriter::create(ctx, MILESTONE, RUN, &raw, cfg.seed)?;

    let ids = tokenizer.try_encode(&cfg.prompt)?;
    let ids = &ids[..ids.len().min(model.cfg.block_size)];
    let idx = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
    let (_, weights) = model.forward_with_attention(&idx)?;
    let tokens = ids.iter().map(|&t| tokenizer.decode(&[t])).collect();
    writer.artifact(
        "attention_maps",
        &AttentionMaps {
            tokens,
            maps: to_nested(&weights)?,
        },
    )?;

    let (scores, loss_first, loss_second) =
        head_scores(&model, cfg.repeat_len, cfg.n_sequences, cfg.seed)?;
    writer.artifact("head_scores", &scores)?;
    let best = scores
        .iter()
        .max_by(|a, b| a.induction.total_cmp(&b.induction))
        .context("model has no heads")?;
    let prev = scores
        .iter()
        .max_by(|a, b| a.prev_token.total_cmp(&b.prev_token))
        .context("no heads")?;
    writer.summaries(&AttentionSummary {
        best_induction: best.induction,
        best_induction_layer: best.layer as u64,
        best_induction_head: best.head as u64,
        best_prev_token: prev.prev_token,
        best_prev_layer: prev.layer as u64,
        best_prev_head: prev.head as u64,
        loss_first_copy: loss_first,
        loss_second_copy: loss_second,
        vocab_size: model.cfg.vocab_size as u64,
    })?;
    writer.finish()?;
    Ok(format!(
        "best induction head L{}H{} {:.2}, best previous-token head L{}H{} {:.2}, loss on repeat {:.2} -> {:.2}",
        best.layer, best.head, best.induction, prev.layer, prev.head, prev.prev_token, loss_first, loss_second
    ))
}

/// Make whitespace visible on axis ticks.
fn show(token: &str) -> String {
    match token {
        " " => "␣".into(),
        "\n" => "⏎".into(),
        t => t.replace('\n', "⏎"),
    }
}

/// The attention matrix with the future positions (above the diagonal, which a causal head cannot
/// see) set to NaN, so the heatmap leaves them blank instead of drawing them as weight 0.
fn causal_only(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    m.iter()
        .enumerate()
        .map(|(q, row)| {
            row.iter()
                .enumerate()
                .map(|(k, &w)| if k > q { f64::NAN } else { w })
                .collect()
        })
        .collect()
}

/// The attention figure's title: what the head scores found (on repeated random text).
fn heatmap_title(maps: &AttentionMaps) -> String {
    // On this line: each head's mean weight on the character just before the query.
    let on_previous = |m: &Vec<Vec<f64>>| {
        let w: Vec<f64> = (1..m.len()).map(|i| m[i][i - 1]).collect();
        w.iter().sum::<f64>() / w.len().max(1) as f64
    };
    let best = maps
        .maps
        .iter()
        .enumerate()
        .flat_map(|(l, layer)| layer.iter().enumerate().map(move |(h, m)| (l, h, m)))
        .map(|(l, h, m)| (l, h, on_previous(m)))
        .max_by(|a, b| a.2.total_cmp(&b.2));
    let heads: usize = maps.maps.iter().map(Vec::len).sum();
    match best {
        Some((l, h, w)) => format!(
            "On this line, of the {heads} heads L{l} H{h} puts most on the previous character: {:.0} %",
            100.0 * w
        ),
        None => "Attention of every head on a line of Shakespeare".to_string(),
    }
}

pub fn figures(ctx: &viz::Context) -> Result<Vec<FigureSpec>> {
    let Ok(rec) = Record::load(ctx, MILESTONE, RUN) else {
        return Ok(Vec::new());
    };
    let maps: AttentionMaps = rec.artifact("attention_maps")?;
    let cfg: AttentionConfig = rec.config_as()?;
    let (uni_prev, uni_ind) = uniform_scores(cfg.repeat_len);
    let scores: Vec<HeadScore> = rec.artifact("head_scores")?;
    let ticks: Vec<String> = maps.tokens.iter().map(|t| show(t)).collect();
    let n_head = maps.maps.first().map_or(1, |l| l.len());
    let mut panels = Vec::new();
    for (l, layer) in maps.maps.iter().enumerate() {
        for (h, m) in layer.iter().enumerate() {
            panels.push(
                Heatmap::new(format!("L{l} H{h}"), causal_only(m))
                    .x_ticks(ticks.clone())
                    .y_ticks(ticks.clone())
                    .labels("key (attended to)", "query")
                    .colorbar("attention weight")
                    .range(0.0, 1.0),
            );
        }
    }
    // One row a layer, one column a head; the prompt's characters label the outer panels only.
    let heat = FigureSpec::new(
        "m5_attention_heatmap.png",
        HeatmapGrid::new(heatmap_title(&maps), panels, n_head).shared_axes(),
    );

    // Each score in one colour, its uniform-attention baseline dashed in the same colour.
    let (prev, ind) = (Entity::PreviousTokenScore, Entity::InductionScore);
    let beat_prev = scores.iter().filter(|s| s.prev_token > uni_prev).count();
    let beat_ind = scores.iter().filter(|s| s.induction > uni_ind).count();
    // Dots on a log axis, not bars: a bar's length from an arbitrary floor means nothing there.
    let mut dots = DotPlot::new(
        format!(
            "Above uniform: {beat_prev} of {} heads on previous-token, {beat_ind} on induction",
            scores.len()
        ),
        format!(
            "mean attention weight on the scored position (log scale; {} random {}-character sequences, each repeated)",
            cfg.n_sequences, cfg.repeat_len
        ),
        scores
            .iter()
            .map(|s| format!("layer {}, head {}", s.layer, s.head))
            .collect(),
    )
    .lanes(2)
    .vline_entity(format!("uniform: previous-token {uni_prev:.3}"), uni_prev, prev)
    .vline_entity(format!("uniform: induction {uni_ind:.3}"), uni_ind, ind);
    for (row, s) in scores.iter().enumerate() {
        for (lane, (value, label, marker, entity)) in [
            (s.prev_token, "previous-token score", Marker::Circle, prev),
            (s.induction, "induction score", Marker::Triangle, ind),
        ]
        .into_iter()
        .enumerate()
        {
            dots = dots.dot(Dot {
                row,
                lane,
                value,
                entity,
                marker,
                label: label.into(),
            });
        }
    }
    let spec = FigureSpec::new("m5_head_specialization.png", dots);
    Ok(vec![heat, spec])
}

const TEMPLATE: &str = include_str!("../templates/m5_attention.md");

/// What the `m5_attention` template needs.
#[derive(Serialize)]
struct AttentionValues {
    prompt: String,
    n_sequences: String,
    repeat_len: String,
    seed: String,
    provenance: String,
    table: String,
    l1: String,
    l2: String,
    bl: String,
    bh: String,
    bi: String,
    uniform: String,
    pl: String,
    ph: String,
    pv: String,
    uni_prev: String,
    has_induction: bool,
    below_uniform: bool,
    ratio: String,
    second_lower: bool,
    uniform_loss: Option<UniformLoss>,
    trained_steps: Option<String>,
}

/// Both copies' losses lie above a uniform guess's ln V.
#[derive(Serialize)]
struct UniformLoss {
    vocab: String,
    ln_vocab: String,
}

fn head_table(scores: &[HeadScore]) -> String {
    let mut table = viz::table::Table::new(&["head", "previous-token score", "induction score"]);
    for s in scores {
        table.push(vec![
            format!("L{}H{}", s.layer, s.head),
            format!("{:.3}", s.prev_token),
            format!("{:.3}", s.induction),
        ]);
    }
    table.markdown()
}

fn attention_values(ctx: &viz::Context, rec: &Record) -> Result<AttentionValues> {
    let cfg: AttentionConfig = rec.config_as()?;
    let scores: Vec<HeadScore> = rec.artifact("head_scores")?;
    let s: AttentionSummary = rec.summary_as()?;
    let (bl, bh, bi) = (
        s.best_induction_layer,
        s.best_induction_head,
        s.best_induction,
    );
    let (pl, ph, pv) = (s.best_prev_layer, s.best_prev_head, s.best_prev_token);
    let (l1, l2) = (s.loss_first_copy, s.loss_second_copy);
    // The scores of a head spreading its weight evenly over every position it may see.
    let (uni_prev, uniform) = uniform_scores(cfg.repeat_len);
    let trained_steps = Record::load(ctx, m6::MILESTONE, m6::CHAR_RUN)
        .ok()
        .and_then(|r| r.summary_as::<FitSummary>().ok())
        .map(|s| s.steps.to_string());
    let ln_vocab = (s.vocab_size as f64).ln();
    let uniform_loss = (l1 > ln_vocab && l2 > ln_vocab).then(|| UniformLoss {
        vocab: s.vocab_size.to_string(),
        ln_vocab: format!("{ln_vocab:.2}"),
    });
    Ok(AttentionValues {
        prompt: format!("{:?}", cfg.prompt),
        n_sequences: cfg.n_sequences.to_string(),
        repeat_len: cfg.repeat_len.to_string(),
        seed: cfg.seed.to_string(),
        provenance: rec.provenance(),
        table: head_table(&scores),
        l1: format!("{l1:.2}"),
        l2: format!("{l2:.2}"),
        bl: bl.to_string(),
        bh: bh.to_string(),
        bi: format!("{bi:.3}"),
        uniform: format!("{uniform:.3}"),
        pl: pl.to_string(),
        ph: ph.to_string(),
        pv: format!("{pv:.2}"),
        uni_prev: format!("{uni_prev:.3}"),
        has_induction: has_induction(bi, uniform, l1, l2),
        below_uniform: bi < uniform,
        ratio: format!("{:.1}", bi / uniform),
        second_lower: l2 < l1 - 0.1,
        uniform_loss,
        trained_steps,
    })
}

pub fn log_entries(ctx: &viz::Context) -> Result<Vec<viz::log::LogEntry>> {
    let Ok(rec) = Record::load(ctx, MILESTONE, RUN) else {
        return Ok(Vec::new());
    };
    let values = attention_values(ctx, &rec)?;
    let part =
        |block: &str| viz::template::render_block("m5_attention.md", TEMPLATE, block, &values);
    Ok(vec![viz::log::LogEntry {
        id: "m5_attention".into(),
        milestone: 5,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![
            Figure::new(
                "m5_attention_heatmap.png",
                FigureKind::AttentionHeatmaps,
                part("caption_m5_attention_heatmap")?,
            ),
            Figure::new(
                "m5_head_specialization.png",
                FigureKind::AttentionHeatmaps,
                part("caption_m5_head_specialization")?,
            ),
        ],
        discussion: part("discussion")?,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_baseline_follows_the_score_definition() {
        // len 2, four positions, weight 1/(i+1) on each of 0..=i: previous-token = mean of 1/2, 1/3,
        // 1/4 over i = 1..3; induction = mean of a[2][1] = 1/3 and a[3][2] = 1/4.
        let (p, i) = uniform_scores(2);
        assert!((p - (1.0 / 2.0 + 1.0 / 3.0 + 1.0 / 4.0) / 3.0).abs() < 1e-12);
        assert!((i - (1.0 / 3.0 + 1.0 / 4.0) / 2.0).abs() < 1e-12);
        // A perfect previous-token head scores 1 on its own score.
        let t = 6;
        let a: Vec<Vec<f64>> = (0..t)
            .map(|q| {
                (0..t)
                    .map(|k| f64::from(k + 1 == q || (q == 0 && k == 0)))
                    .collect()
            })
            .collect();
        assert_eq!(pattern_scores(&a, 3).0, 1.0);
    }
}
