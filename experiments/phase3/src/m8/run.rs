//! Running m8: the reader trained on the world's seen documents and reading examples, then asked
//! the held-out questions under every context condition.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use viz::record::RunWriter;
use viz::Context;

use super::{
    conditions, curve_conditions, span_attention, traced_condition, traces, training_data,
    ReaderConfig, TrainingData, MILESTONE, READER,
};
use crate::records::{metric, AttentionSummary, ConditionSummary, ReaderSizes, Traced};
use crate::PHASE;
use phase3_rag::asker::{answer_jobs, eval_questions, hit, mean, Asker, Condition, Outcome};
use phase3_rag::beir::Collection;
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::rc::{self, Example};
use phase3_rag::reader::Passages;
use phase3_rag::retrieve::Retriever;
use phase3_rag::saved::{reader_dir, AskSettings};
use phase3_rag::world::{Question, World};

/// The config's values that the code below relies on.
fn check_config(cfg: &ReaderConfig) -> Result<()> {
    ensure!(
        !cfg.ks.is_empty() && cfg.ks.iter().all(|&k| k >= 1),
        "m8_reader: `ks` must list values of at least 1"
    );
    ensure!(
        cfg.answer_tokens >= 1 && cfg.answer_tokens < cfg.model.block_size,
        "m8_reader: `answer_tokens` must be between 1 and model.block_size − 1"
    );
    ensure!(
        (0.0..1.0).contains(&cfg.document_fraction),
        "m8_reader: `document_fraction` must be in [0, 1)"
    );
    ensure!(cfg.pool >= 1, "m8_reader: `pool` must be at least 1");
    Ok(())
}

/// The index of the chunking m8's conditions use.
fn main_chunking(cfg: &ReaderConfig) -> Result<usize> {
    cfg.chunking
        .iter()
        .position(|c| c.name == cfg.chunks)
        .with_context(|| {
            format!(
                "m8_reader: `chunks = \"{}\"` names no chunking (have {})",
                cfg.chunks,
                cfg.chunking
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The retrievers by name.
type Retrievers = BTreeMap<String, Rc<dyn Retriever>>;

/// Retrievers over the passages of the main chunking, written as a BEIR collection; with the
/// seconds each index took to build.
fn build_retrievers(
    ctx: &Context,
    cfg: &ReaderConfig,
    world: &World,
    passages: &Passages,
) -> Result<(Retrievers, BTreeMap<String, f64>)> {
    let dir = ctx
        .data_cache
        .join("worlds")
        .join(format!("m8_passages_{}", cfg.chunks));
    passages.write_beir(&dir, world.questions())?;
    let collection = Collection::load(&dir)?;
    let mut retrievers: Retrievers = BTreeMap::new();
    let mut index_s = BTreeMap::new();
    for spec in &cfg.retriever {
        let t = Instant::now();
        let b = spec.build(ctx, &collection, &dir, &retrievers)?;
        index_s.insert(spec.name().to_string(), t.elapsed().as_secs_f64());
        retrievers.insert(spec.name().to_string(), b.retriever);
    }
    Ok((retrievers, index_s))
}

/// What asking a question takes: the passages and retrievers, the model's shape, the tokenizer.
struct Reading<'a> {
    asker: &'a Asker<'a>,
    model: &'a GptConfig,
    tokenizer: &'a AnyTokenizer,
    cfg: &'a ReaderConfig,
}

impl Reading<'_> {
    /// Every outcome of condition `c` on `qs`, read by the weights `params`.
    fn ask(
        &self,
        c: &Condition,
        qs: &[Question],
        rng: &mut ChaCha8Rng,
        params: &[f32],
    ) -> Result<Vec<Outcome>> {
        let (jobs, _) = self.asker.jobs(c, qs, rng)?;
        Ok(answer_jobs(
            self.model,
            params,
            self.tokenizer,
            &jobs,
            self.cfg.answer_tokens,
            self.cfg.train.workers,
        )?
        .into_iter()
        .map(|(o, _)| o)
        .collect())
    }
}

/// One training batch: reading rows from a window of similar lengths; document rows as long as the
/// longest.
fn batch_rows(
    cfg: &ReaderConfig,
    data: &TrainingData,
    block: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Example>> {
    let b = cfg.train.batch_size;
    let centre = rng.gen_range(0..data.pool.len());
    let near = centre.saturating_sub(2 * b)..(centre + 2 * b).min(data.pool.len());
    let mut rows: Vec<Example> = Vec::with_capacity(b);
    let mut documents = 0;
    for _ in 0..b {
        if rng.gen_bool(cfg.document_fraction) {
            documents += 1;
        } else {
            rows.push(data.pool[rng.gen_range(near.clone())].clone());
        }
    }
    let longest = rows
        .iter()
        .map(|e| e.tokens.len())
        .max()
        .unwrap_or(block + 1);
    for _ in 0..documents {
        rows.push(rc::document_example(&data.docs, longest, rng)?);
    }
    Ok(rows)
}

/// The training loop: loss every `log_interval` steps, the curve conditions asked every
/// `eval_interval`. Returns the seconds it took.
#[allow(clippy::too_many_arguments)]
fn train(
    ctx: &Context,
    cfg: &ReaderConfig,
    data: &TrainingData,
    trainer: &mut Trainer,
    rec: &mut RunWriter,
    reading: &Reading,
    curve: &[&Condition],
    curve_qs: &[Question],
) -> Result<f64> {
    let block = reading.model.block_size;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let bar = ctx.progress(cfg.train.steps as u64, "m8 training the reader");
    let train_started = Instant::now();
    let mut window = Vec::new();
    for step in 0..cfg.train.steps {
        let rows = batch_rows(cfg, data, block, &mut rng)?;
        let refs: Vec<&Example> = rows.iter().collect();
        let stats = trainer.step_on(&rc::batch(&refs, block)?)?;
        window.push(stats.loss as f64);
        let last = step + 1 == cfg.train.steps;
        if (step + 1) % cfg.train.log_interval == 0 || last {
            rec.scalar(step as u64 + 1, metric::TRAIN_LOSS, mean(window.drain(..)))?;
        }
        if (step + 1) % cfg.train.eval_interval == 0 || last {
            let mut random = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(3));
            for c in curve {
                let outcomes = reading.ask(c, curve_qs, &mut random, trainer.params())?;
                rec.scalar(
                    step as u64 + 1,
                    &metric::curve(&c.name, metric::EXACT_MATCH),
                    mean(outcomes.iter().map(hit)),
                )?;
                rec.scalar(
                    step as u64 + 1,
                    &metric::curve(&c.name, metric::ANSWER_PERPLEXITY),
                    mean(outcomes.iter().map(|o| o.answer_perplexity)),
                )?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(train_started.elapsed().as_secs_f64())
}

/// The reader, its tokenizer, and what `cargo xtask ask` retrieves from.
fn save_reader(
    ctx: &Context,
    cfg: &ReaderConfig,
    trainer: &Trainer,
    tokenizer: &AnyTokenizer,
    passages: &Passages,
) -> Result<()> {
    let ckpt = reader_dir(ctx);
    phase2_lm::checkpoint::save(&ckpt, trainer, tokenizer)?;
    Bm25Index::build(
        Bm25Config::default(),
        passages
            .passages
            .iter()
            .map(|p| (p.id.clone(), format!("{} {}", p.title, p.text))),
    )?
    .save(&ckpt.join("passages.bm25"))?;
    let json = serde_json::to_string(&passages.passages)?;
    viz::write_atomic(&ckpt.join("passages.json"), json.as_bytes())?;
    let settings = AskSettings {
        k: cfg.ks.iter().copied().max().unwrap_or(1),
        answer_tokens: cfg.answer_tokens,
        chunks: cfg.chunks.clone(),
    };
    viz::write_atomic(
        &ckpt.join("ask.json"),
        serde_json::to_string_pretty(&settings)?.as_bytes(),
    )?;
    Ok(())
}

/// Every condition asked the held-out questions; the means go to the record's summary.
fn evaluate(
    ctx: &Context,
    cfg: &ReaderConfig,
    reading: &Reading,
    all_conditions: &[Condition],
    questions: &[Question],
    params: &[f32],
    rec: &mut RunWriter,
) -> Result<BTreeMap<String, Vec<Outcome>>> {
    let mut outcomes: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    let bar = ctx.progress(
        (all_conditions.len() * questions.len()) as u64,
        "m8 asking held-out questions",
    );
    let mut random = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(2));
    // [`crate::records::ReaderSummary::conditions`], written as each condition is done.
    let mut summary: BTreeMap<String, ConditionSummary> = BTreeMap::new();
    for c in all_conditions {
        let out = reading.ask(c, questions, &mut random, params)?;
        bar.inc(questions.len() as u64);
        let with_gold: Vec<&Outcome> = out.iter().filter(|o| o.gold_in_context).collect();
        summary.insert(
            c.name.clone(),
            ConditionSummary {
                exact_match: mean(out.iter().map(hit)),
                answer_perplexity: mean(out.iter().map(|o| o.answer_perplexity)),
                gold_in_context: with_gold.len() as f64 / out.len() as f64,
                exact_match_gold_in_context: (!with_gold.is_empty())
                    .then(|| mean(with_gold.iter().map(|o| hit(o)))),
            },
        );
        rec.summaries(&summary)?;
        outcomes.insert(c.name.clone(), out);
    }
    bar.finish_and_clear();
    Ok(outcomes)
}

/// Where the answers look, on the traced condition (the gold passage among retrieved ones).
fn record_attention(
    cfg: &ReaderConfig,
    reading: &Reading,
    all_conditions: &[Condition],
    questions: &[Question],
    trainer: &Trainer,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
    rec: &mut RunWriter,
) -> Result<()> {
    let Some(cond) = traced_condition(cfg) else {
        return Ok(());
    };
    let c = all_conditions
        .iter()
        .find(|c| c.name == cond)
        .context("the traced condition is one of the conditions")?;
    let mut unused = ChaCha8Rng::seed_from_u64(0);
    let (jobs, _) = reading.asker.jobs(c, questions, &mut unused)?;
    let att = span_attention(
        &trainer.to_gpt()?,
        reading.tokenizer,
        &cond,
        &jobs,
        &outcomes[&cond],
        reading.model.block_size,
        cfg.answer_tokens,
    )?;
    rec.summaries(&Traced {
        attention: Some(AttentionSummary::new(
            &att.per_layer,
            att.uniform,
            att.questions as u64,
        )),
    })?;
    if let Some(example) = &att.example {
        rec.artifact("attention_example", example)?;
    }
    Ok(())
}

/// The record's remaining summary and artifacts: sizes, outcomes, traces, questions, timings.
#[allow(clippy::too_many_arguments)]
fn finish_record(
    mut rec: RunWriter,
    cfg: &ReaderConfig,
    data: &TrainingData,
    trainer: &Trainer,
    passages: &Passages,
    questions: &[Question],
    outcomes: &BTreeMap<String, Vec<Outcome>>,
    timings: BTreeMap<String, f64>,
) -> Result<()> {
    rec.summaries(&ReaderSizes {
        questions: questions.len() as u64,
        pool: data.pool.len() as u64,
        parameters: trainer.params().len() as u64,
        vocab_size: data.tokenizer.vocab_size() as u64,
        passages: passages.passages.len() as u64,
    })?;
    rec.artifact("outcomes", outcomes)?;
    rec.artifact("traces", &traces(cfg, outcomes, questions, passages))?;
    let questions_json: BTreeMap<String, (String, Vec<String>)> = questions
        .iter()
        .map(|q| (q.id.clone(), (q.text.clone(), q.gold_doc_ids.clone())))
        .collect();
    rec.artifact("questions", &questions_json)?;
    rec.artifact("timings", &timings)?;
    rec.finish()?;
    Ok(())
}

pub fn run_reader(ctx: &Context) -> Result<String> {
    let (cfg, raw): (ReaderConfig, toml::Value) = ctx.load_config(PHASE, READER)?;
    check_config(&cfg)?;
    let started = Instant::now();
    let world = World::generate(&cfg.world)?;
    let by_chunking: Vec<Passages> = cfg
        .chunking
        .iter()
        .map(|c| Passages::new(c.chunk.clone(), world.documents()))
        .collect::<Result<_>>()?;
    let main = main_chunking(&cfg)?;
    let data = training_data(ctx, &cfg, &world, &by_chunking)?;
    let passages = &by_chunking[main];
    let (retrievers, index_s) = build_retrievers(ctx, &cfg, &world, passages)?;
    let prep_s = started.elapsed().as_secs_f64();

    let mut rec = RunWriter::create(ctx, MILESTONE, "reader", &raw, cfg.train.seed)?;
    let mut model = cfg.model.clone();
    model.vocab_size = data.tokenizer.vocab_size();
    let mut trainer = Trainer::new(RunConfig {
        model: model.clone(),
        train: cfg.train.clone(),
    })?;
    let questions = eval_questions(&world, cfg.eval_questions, cfg.seed);
    ensure!(!questions.is_empty(), "m8: no held-out lookups to evaluate");
    let curve_qs = &questions[..cfg.curve_questions.clamp(1, questions.len())];
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let asker = Asker::new(passages, &retrievers, max_k, max_k);
    let all_conditions = conditions(&cfg);
    let curve: Vec<&Condition> = curve_conditions(&cfg)
        .iter()
        .filter_map(|n| all_conditions.iter().find(|c| &c.name == n))
        .collect();
    let reading = Reading {
        asker: &asker,
        model: &model,
        tokenizer: &data.tokenizer,
        cfg: &cfg,
    };
    let train_s = train(
        ctx,
        &cfg,
        &data,
        &mut trainer,
        &mut rec,
        &reading,
        &curve,
        curve_qs,
    )?;
    save_reader(ctx, &cfg, &trainer, &data.tokenizer, passages)?;

    let eval_started = Instant::now();
    let outcomes = evaluate(
        ctx,
        &cfg,
        &reading,
        &all_conditions,
        &questions,
        trainer.params(),
        &mut rec,
    )?;
    let eval_s = eval_started.elapsed().as_secs_f64();
    record_attention(
        &cfg,
        &reading,
        &all_conditions,
        &questions,
        &trainer,
        &outcomes,
        &mut rec,
    )?;
    let mut timings = BTreeMap::from([
        ("prepare_s".to_string(), prep_s),
        ("train_s".to_string(), train_s),
        ("evaluate_s".to_string(), eval_s),
    ]);
    for (name, s) in index_s {
        timings.insert(format!("index_s/{name}"), s);
    }
    finish_record(
        rec, &cfg, &data, &trainer, passages, &questions, &outcomes, timings,
    )?;
    let em = |name: &str| mean(outcomes[name].iter().map(hit));
    Ok(format!(
        "held-out exact match: gold {:.3}, closed book {:.3}, random {:.3} ({} questions; trained {:.0} s)",
        em("gold"),
        em("closed_book"),
        em("random"),
        questions.len(),
        train_s
    ))
}
