//! m8's entry of the experiment log: its words in `templates/m8_reader.md`, its numbers from the
//! record.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::Serialize;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::Context;

use crate::records::{ConditionSummary, ReaderSummary};

use super::{
    conditions, label, record, traced_condition, ReaderConfig, Trace, FIG_ATTENTION, FIG_K,
    FIG_LOSS, FIG_PIPELINE,
};
use phase3_rag::asker::{hit, mean, Found, Outcome};
use stats::{Judged, PairedBinary};
use viz::claims::pct;

const TEMPLATE: &str = include_str!("../../templates/m8_reader.md");

/// Exact match at the largest k by the gold passage's rank.
#[derive(Serialize)]
struct ByRank {
    rank: String,
    exact_match: String,
    answers: String,
}

/// At k ≥ 3, the wrong answers that repeat another passage of the prompt.
#[derive(Serialize)]
struct WrongElsewhere {
    elsewhere: String,
    total: String,
    share: String,
    mostly_elsewhere: bool,
}

/// Why the reader does worse with more passages.
#[derive(Serialize)]
struct WhyMorePassagesHurt {
    table: String,
    wrong: Option<WrongElsewhere>,
    by_rank: Vec<ByRank>,
}

#[derive(Serialize)]
struct LayerMass {
    layer: String,
    mass: String,
    ratio: String,
}

/// Where the answer looks: attention mass on the answer span, per layer.
#[derive(Serialize)]
struct Attention {
    questions: String,
    condition: String,
    layers: Vec<LayerMass>,
    uniform: String,
}

/// One paired comparison, A − B.
#[derive(Serialize)]
struct PairLine {
    a: String,
    b: String,
    change: String,
}

#[derive(Serialize)]
struct TraceLine {
    question: String,
    prediction: String,
    correct: bool,
    answer: String,
    gold_in_context: bool,
    passages: Vec<String>,
}

/// Per retriever, from k = 1 to the largest k.
#[derive(Serialize)]
struct MorePassages {
    retriever: String,
    recall_most: String,
    recall_one: String,
    em_one: String,
    em_most: String,
    difference: String,
    /// The exact test as read within its family.
    reading: String,
    /// `tied` (the recall the extra passages add is cancelled by the distractors), `better` (the
    /// extra recall is worth more) or `worse` (the distractors cost more).
    verdict: stats::Verdict,
}

/// What `templates/m8_reader.md` is filled with.
#[derive(Serialize)]
struct ReaderValues {
    world_seed: String,
    chunks: String,
    passages: String,
    n_layer: String,
    n_head: String,
    d_model: String,
    block_size: String,
    parameters_m: String,
    vocab_size: String,
    steps: String,
    batch_size: String,
    train_s: String,
    pool: String,
    distractors: Vec<String>,
    ks: String,
    chunkings: Vec<String>,
    extra_questions: String,
    document_pct: String,
    max_lr: String,
    seed: String,
    provenance: String,
    n: String,
    table: String,
    gold: String,
    gold_met: bool,
    /// The targets, from `configs/references.toml`.
    gold_target: String,
    share_target: String,
    passing: Vec<String>,
    cells: String,
    worst: String,
    worst_ratio: String,
    why: WhyMorePassagesHurt,
    max_k: String,
    attention: Option<Attention>,
    pairs: Vec<PairLine>,
    traced: String,
    traces: Vec<TraceLine>,
    closed_book: String,
    random: String,
    best: String,
    best_em: String,
    more_passages: Vec<MorePassages>,
    /// How the answers split against k (its figure's caption).
    split: Option<super::answers::PassagesValues>,
}

/// The record's numbers the entry reads again and again.
struct Numbers {
    summary: ReaderSummary,
    outcomes: BTreeMap<String, Vec<Outcome>>,
}

impl Numbers {
    fn condition(&self, c: &str) -> Result<&ConditionSummary> {
        self.summary.condition(c)
    }

    fn em(&self, c: &str) -> Result<f64> {
        Ok(self.condition(c)?.exact_match)
    }

    fn hits(&self, c: &str) -> Result<Vec<bool>> {
        Ok(self
            .outcomes
            .get(c)
            .with_context(|| format!("record has no outcomes for `{c}`"))?
            .iter()
            .map(|o| hit(o) > 0.5)
            .collect())
    }

    fn compare(&self, a: &str, b: &str) -> Result<PairedBinary> {
        stats::paired_binary(&self.hits(a)?, &self.hits(b)?)
    }
}

/// The table of every context condition.
fn conditions_table(cfg: &ReaderConfig, nums: &Numbers) -> Result<viz::table::Table> {
    let mut table = viz::table::Table::new(&[
        "context",
        "exact match",
        "answer perplexity",
        "gold passage in prompt",
        "exact match when it is",
    ]);
    for c in conditions(cfg) {
        let name = &c.name;
        let s = nums.condition(name)?;
        table.push(vec![
            label(name),
            pct(s.exact_match),
            format!("{:.2}", s.answer_perplexity),
            pct(s.gold_in_context),
            s.exact_match_gold_in_context.map_or("–".into(), pct),
        ]);
    }
    Ok(table)
}

/// The retrieved condition with the best exact match.
fn best_retrieved(cfg: &ReaderConfig, nums: &Numbers) -> Result<(String, f64)> {
    let mut best: Option<(String, f64)> = None;
    for c in conditions(cfg).iter().filter(|c| c.retrieved.is_some()) {
        let v = nums.em(&c.name)?;
        if best.as_ref().is_none_or(|b| v > b.1) {
            best = Some((c.name.clone(), v));
        }
    }
    best.context("m8 record: no retrieved condition")
}

/// Target 2: with the gold passage among the retrieved k, accuracy ≥ 0.9 × gold-context accuracy.
/// Per retrieved condition, that ratio.
fn gold_ratios(cfg: &ReaderConfig, summary: &ReaderSummary, gold: f64) -> Vec<(String, f64)> {
    let mut ratios = Vec::new();
    for c in conditions(cfg).iter().filter(|c| c.retrieved.is_some()) {
        let in_context = summary.conditions.get(&c.name);
        if let Some(v) = in_context.and_then(|s| s.exact_match_gold_in_context) {
            ratios.push((c.name.clone(), v / gold.max(1e-12)));
        }
    }
    ratios
}

/// Where the answer looks, if the record measured it.
fn attention(cfg: &ReaderConfig, summary: &ReaderSummary) -> Option<Attention> {
    let att = summary.traced.attention.as_ref()?;
    let (u, nq) = (att.uniform_baseline, att.questions);
    let layers: Vec<(usize, f64)> = (0..cfg.model.n_layer)
        .filter_map(|l| Some((l, att.layer(l)?)))
        .collect();
    Some(Attention {
        questions: nq.to_string(),
        condition: traced_condition(cfg).map(|c| label(&c)).unwrap_or_default(),
        layers: layers
            .iter()
            .map(|(l, m)| LayerMass {
                layer: l.to_string(),
                mass: format!("{m:.3}"),
                ratio: format!("{:.1}", m / u),
            })
            .collect(),
        uniform: format!("{u:.3}"),
    })
}

/// The paired comparisons, each McNemar's exact test on the questions' right/wrong outcomes. The
/// primary one is the Question's: the best retrieved condition against closed book (read alone;
/// "best" is picked after the fact, so it is the most favourable retrieved condition). The others
/// form the exploratory family "m8 conditions", read after Holm's correction: gold against closed
/// book and against the best retrieved, random against closed book, and per retriever its largest
/// k against k = 1.
struct Pairs {
    /// `(a, b, a − b, its reading)`, the primary comparison first.
    lines: Vec<(String, String, PairedBinary, Judged)>,
}

impl Pairs {
    fn of(cfg: &ReaderConfig, nums: &Numbers, best_name: &str, max_k: usize) -> Result<Pairs> {
        let mut pairs: Vec<(String, String)> = vec![
            (best_name.to_string(), "closed_book".into()),
            ("gold".into(), "closed_book".into()),
            ("gold".into(), best_name.to_string()),
            ("random".into(), "closed_book".into()),
        ];
        for r in &cfg.retriever {
            let (one, most) = (format!("{}@1", r.name()), format!("{}@{max_k}", r.name()));
            if one != most {
                pairs.push((most, one));
            }
        }
        let tests: Vec<PairedBinary> = pairs
            .iter()
            .map(|(a, b)| nums.compare(a, b))
            .collect::<Result<_>>()?;
        let mut judged = vec![stats::judge_primary(tests[0].difference, tests[0].test.p)];
        judged.extend(stats::judge_family(
            &tests[1..]
                .iter()
                .map(|t| (t.difference, t.test.p))
                .collect::<Vec<_>>(),
        ));
        let lines = pairs
            .into_iter()
            .zip(tests)
            .zip(judged)
            .map(|(((a, b), t), j)| (a, b, t, j))
            .collect();
        Ok(Pairs { lines })
    }

    fn get(&self, a: &str, b: &str) -> Option<(&PairedBinary, &Judged)> {
        self.lines
            .iter()
            .find(|l| l.0 == a && l.1 == b)
            .map(|l| (&l.2, &l.3))
    }

    fn text(&self) -> Vec<PairLine> {
        self.lines
            .iter()
            .map(|(a, b, t, j)| PairLine {
                a: label(a),
                b: label(b),
                change: viz::claims::paired_binary(t, j, "questions"),
            })
            .collect()
    }
}

fn trace_line(t: &Trace) -> TraceLine {
    TraceLine {
        question: t.question.clone(),
        prediction: t.prediction.clone(),
        correct: t.correct,
        answer: t.answer.clone(),
        gold_in_context: t.gold_in_context,
        passages: t
            .passages
            .iter()
            .map(|p| p.trim_start_matches("* ").to_string())
            .collect(),
    }
}

/// Per retriever: from k = 1 to the largest k, the gold passage is in the prompt more often, and
/// exact match moves by a difference the family's corrected test calls better, worse or tied.
fn more_passages(
    cfg: &ReaderConfig,
    nums: &Numbers,
    pairs: &Pairs,
    max_k: usize,
) -> Result<Vec<MorePassages>> {
    let mut out = Vec::new();
    for r in &cfg.retriever {
        let (one, most) = (format!("{}@1", r.name()), format!("{}@{max_k}", r.name()));
        let Some((d, judged)) = pairs.get(&most, &one) else {
            continue;
        };
        let recall = |c: &str| Ok::<_, anyhow::Error>(nums.condition(c)?.gold_in_context);
        out.push(MorePassages {
            retriever: r.name().to_string(),
            recall_most: pct(recall(&most)?),
            recall_one: pct(recall(&one)?),
            em_one: pct(nums.em(&one)?),
            em_most: pct(nums.em(&most)?),
            difference: format!("{:+.1}", 100.0 * d.difference),
            reading: viz::claims::reading(judged),
            verdict: judged.verdict,
        });
    }
    Ok(out)
}

/// Everything the template needs, computed from the record.
fn reader_values(
    cfg: &ReaderConfig,
    rec: &Record,
    targets: &viz::references::Targets,
) -> Result<ReaderValues> {
    let nums = Numbers {
        summary: rec.summary_as()?,
        outcomes: rec.artifact("outcomes")?,
    };
    let sizes = &nums.summary.sizes;
    let timings: BTreeMap<String, f64> = rec.artifact("timings")?;
    let traces: Vec<Trace> = rec.artifact("traces")?;
    let n = sizes.questions;
    let table = conditions_table(cfg, &nums)?;
    let gold = nums.em("gold")?;
    let (best_name, best_em) = best_retrieved(cfg, &nums)?;
    let ratios = gold_ratios(cfg, &nums.summary, gold);
    let passing: Vec<String> = ratios
        .iter()
        .filter(|(_, r)| *r >= targets.retrieved_share_of_gold)
        .map(|(c, _)| label(c))
        .collect();
    let worst = ratios
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default();
    let why = why_more_passages_hurt(cfg, &nums.outcomes)?;
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let pairs = Pairs::of(cfg, &nums, &best_name, max_k)?;
    let params = sizes.parameters as f64;
    Ok(ReaderValues {
        world_seed: cfg.world.seed.to_string(),
        chunks: cfg.chunks.clone(),
        passages: sizes.passages.to_string(),
        n_layer: cfg.model.n_layer.to_string(),
        n_head: cfg.model.n_head.to_string(),
        d_model: cfg.model.d_model.to_string(),
        block_size: cfg.model.block_size.to_string(),
        parameters_m: format!("{:.2}", params / 1e6),
        vocab_size: sizes.vocab_size.to_string(),
        steps: cfg.train.steps.to_string(),
        batch_size: cfg.train.batch_size.to_string(),
        train_s: format!("{:.0}", timings.get("train_s").copied().unwrap_or(f64::NAN)),
        pool: sizes.pool.to_string(),
        distractors: cfg.distractors.clone(),
        ks: format!("{:?}", cfg.ks),
        chunkings: cfg.chunking.iter().map(|c| c.name.clone()).collect(),
        extra_questions: cfg.extra_questions.to_string(),
        document_pct: format!("{:.0}", 100.0 * cfg.document_fraction),
        max_lr: cfg.train.max_lr.to_string(),
        seed: cfg.train.seed.to_string(),
        provenance: rec.provenance(),
        n: n.to_string(),
        table: table.markdown(),
        gold: pct(gold),
        gold_met: gold >= targets.gold_exact_match,
        gold_target: format!("{:.0} %", 100.0 * targets.gold_exact_match),
        share_target: format!("{}", targets.retrieved_share_of_gold),
        passing,
        cells: ratios.len().to_string(),
        worst: label(&worst.0),
        worst_ratio: format!("{:.2}", worst.1),
        why,
        max_k: max_k.to_string(),
        attention: attention(cfg, &nums.summary),
        pairs: pairs.text(),
        traced: traces
            .first()
            .map(|t| label(&t.condition))
            .unwrap_or_default(),
        traces: traces.iter().map(trace_line).collect(),
        closed_book: pct(nums.em("closed_book")?),
        random: pct(nums.em("random")?),
        best: label(&best_name),
        best_em: pct(best_em),
        more_passages: more_passages(cfg, &nums, &pairs, max_k)?,
        split: super::answers::passages_values(cfg, &nums.outcomes),
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let cfg: ReaderConfig = rec.config_as()?;
    let refs = viz::references::References::load(&ctx.root)?;
    let values = reader_values(&cfg, &rec, &refs.targets)?;
    let part = |block: &str| viz::template::render_block("m8_reader.md", TEMPLATE, block, &values);
    Ok(vec![LogEntry {
        id: "m8_reader".into(),
        milestone: 8,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![
            Figure::new(
                FIG_LOSS,
                FigureKind::LossCurves,
                part("caption_m8_loss_curves")?,
            )
            .key(),
            Figure::new(
                FIG_ATTENTION,
                FigureKind::AttentionHeatmaps,
                part("caption_m8_context_attention")?,
            ),
            Figure::new(
                FIG_PIPELINE,
                FigureKind::PipelineDiagrams,
                part("caption_m8_rag_pipeline")?,
            ),
            Figure::new(
                FIG_K,
                FigureKind::PerplexityCurves,
                part("caption_m8_perplexity_vs_k")?,
            ),
            Figure::new(
                super::answers::FIG_PASSAGES,
                FigureKind::EvaluationTables,
                part("caption_m8_passages_vs_k")?,
            ),
        ],
        discussion: part("discussion")?,
    }])
}

/// Why the reader does worse with more passages even when the gold one is among them, from the
/// outcomes: per k (over every retriever), the wrong answers by where the prompt says them, and
/// exact match by the gold passage's position at the largest k.
fn why_more_passages_hurt(
    cfg: &ReaderConfig,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
) -> Result<WhyMorePassagesHurt> {
    let with_gold = |k: usize| -> Vec<&Outcome> {
        cfg.retriever
            .iter()
            .filter_map(|r| outcomes.get(&format!("{}@{k}", r.name())))
            .flatten()
            .filter(|o| o.gold_in_context)
            .collect()
    };
    let mut table = viz::table::Table::new(&[
        "k",
        "answers with the gold passage in the prompt",
        "exact match",
        "wrong: another passage's words",
        "wrong: the gold passage's other words",
        "wrong: words of no passage",
    ]);
    let share = |os: &[&Outcome], f: Found| {
        pct(mean(os.iter().map(|o| {
            f64::from(u8::from(!o.correct && o.found_in == f))
        })))
    };
    let mut wrong_elsewhere = (0usize, 0usize);
    for &k in &cfg.ks {
        let os = with_gold(k);
        if os.is_empty() {
            continue;
        }
        if k >= 3 {
            wrong_elsewhere.0 += os
                .iter()
                .filter(|o| !o.correct && o.found_in == Found::OtherPassage)
                .count();
            wrong_elsewhere.1 += os.iter().filter(|o| !o.correct).count();
        }
        table.push(vec![
            k.to_string(),
            os.len().to_string(),
            pct(mean(os.iter().map(|o| hit(o)))),
            share(&os, Found::OtherPassage),
            share(&os, Found::GoldPassage),
            share(&os, Found::Nowhere),
        ]);
    }
    if let Some(g) = outcomes.get("gold") {
        let os: Vec<&Outcome> = g.iter().collect();
        table.push(vec![
            "gold alone".into(),
            os.len().to_string(),
            pct(mean(os.iter().map(|o| hit(o)))),
            share(&os, Found::OtherPassage),
            share(&os, Found::GoldPassage),
            share(&os, Found::Nowhere),
        ]);
    }
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let at_max = with_gold(max_k);
    let by_rank: Vec<ByRank> = (1..=max_k)
        .filter_map(|r| {
            let os: Vec<&&Outcome> = at_max.iter().filter(|o| o.gold_rank == Some(r)).collect();
            (!os.is_empty()).then(|| ByRank {
                rank: ordinal(r),
                exact_match: pct(mean(os.iter().map(|o| hit(o)))),
                answers: os.len().to_string(),
            })
        })
        .collect();
    let wrong = (wrong_elsewhere.1 > 0).then(|| WrongElsewhere {
        elsewhere: wrong_elsewhere.0.to_string(),
        total: wrong_elsewhere.1.to_string(),
        share: pct(wrong_elsewhere.0 as f64 / wrong_elsewhere.1 as f64),
        mostly_elsewhere: 2 * wrong_elsewhere.0 > wrong_elsewhere.1,
    });
    Ok(WhyMorePassagesHurt {
        table: table.markdown(),
        wrong,
        by_rank,
    })
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
