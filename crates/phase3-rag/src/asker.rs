//! Asking the reader: the context conditions a question is asked under (no passages, random ones,
//! a retriever's top k, the gold passage), the prompts they make ([`Asker`], [`Job`]) and what the
//! greedy answer gave ([`Outcome`], [`answer_jobs`]). m8 and m9 evaluate the reader with it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use phase2_lm::generator::Generator;
use phase2_lm::lm::{GptLm, LanguageModel, Request};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::AnyTokenizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::reader::{continuation, exact_match, fit_prompt, mentions, Passage, Passages, STOP};
use crate::retrieve::{Hit, Retriever};
use crate::world::{Question, QuestionKind, Split, World};

/// What one question gave under one condition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub question: String,
    pub answer: String,
    pub prediction: String,
    pub correct: bool,
    /// Per-token perplexity of the gold answer (with its stop) given the prompt.
    pub answer_perplexity: f64,
    /// Whether a gold passage was in the prompt.
    pub gold_in_context: bool,
    /// Passage ids in the prompt, in order.
    pub passages: Vec<String>,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Position (1 = first) of the first gold passage in the prompt, if one is there.
    #[serde(default)]
    pub gold_rank: Option<usize>,
    /// Where the prompt says the prediction: how a wrong answer is traced to its source.
    #[serde(default)]
    pub found_in: Found,
}

/// Which passage of the prompt states a prediction (as whole words, normalised): a gold passage
/// (for a wrong answer: the right entity, the wrong fact), another passage (another entity's
/// fact: a distractor was read), or none (garbled, or made up).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    GoldPassage,
    OtherPassage,
    #[default]
    Nowhere,
}

/// A context condition: a name and the passages it puts before a question.
pub struct Condition {
    pub name: String,
    /// For retrieved conditions: the retriever and k.
    pub retrieved: Option<(String, usize)>,
}

/// Ids of the held-out entities' documents: the reader never trains on them.
pub fn held_out_docs(world: &World) -> HashSet<String> {
    world
        .entities()
        .filter(|&e| world.is_held_out(e))
        .map(|e| e.doc_id())
        .collect()
}

/// The held-out single-hop questions asked: lookups whose gold documents all belong to held-out
/// entities (documents the reader never trained on), a seeded sample of `n`.
pub fn eval_questions(world: &World, n: usize, seed: u64) -> Vec<Question> {
    let held = held_out_docs(world);
    let mut qs: Vec<Question> = world
        .questions()
        .iter()
        .filter(|q| {
            q.kind == QuestionKind::Lookup
                && q.split == Split::HeldOut
                && q.gold_doc_ids.iter().all(|d| held.contains(d))
        })
        .cloned()
        .collect();
    qs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    qs.truncate(n);
    qs
}

/// Greedy answer, exact match and the gold answer's perplexity for one prompt; `gold` are the ids
/// of the passages that state the answer.
fn ask_one(
    lm: &mut dyn LanguageModel,
    passages: &[&Passage],
    gold: &[String],
    q: &Question,
    block: usize,
    answer_tokens: usize,
) -> Result<Outcome> {
    let count = |s: &str| lm.count_tokens(s).unwrap_or(s.len());
    let (prompt, used) = fit_prompt(passages, &q.text, block - answer_tokens, count)?;
    let completion = lm.complete(&Request {
        prompt: &prompt,
        max_tokens: answer_tokens,
        stop: &[STOP],
        seed: 0,
    })?;
    let scored = lm
        .score(&prompt, &continuation(&q.answer))?
        .context("the reader must be able to score")?;
    let gold: HashSet<&str> = gold.iter().map(String::as_str).collect();
    let is_gold = |p: &Passage| gold.contains(p.id.as_str());
    let prediction = completion.text.trim().to_string();
    let says = |p: &Passage| mentions(&format!("{} {}", p.title, p.text), &prediction);
    let found_in = if used.iter().any(|p| is_gold(p) && says(p)) {
        Found::GoldPassage
    } else if used.iter().any(|p| !is_gold(p) && says(p)) {
        Found::OtherPassage
    } else {
        Found::Nowhere
    };
    Ok(Outcome {
        question: q.id.clone(),
        answer: q.answer.clone(),
        correct: exact_match(&prediction, &q.answer),
        prediction,
        answer_perplexity: scored.perplexity(),
        gold_in_context: used.iter().any(|p| is_gold(p)),
        gold_rank: used.iter().position(|p| is_gold(p)).map(|i| i + 1),
        found_in,
        passages: used.iter().map(|p| p.id.clone()).collect(),
        prompt_tokens: completion.prompt_tokens,
    })
}

/// The mean of `xs` (0 for none).
pub fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

/// 1 for a correct answer, 0 for a wrong one.
pub fn hit(o: &Outcome) -> f64 {
    f64::from(u8::from(o.correct))
}

/// (retriever, question id) → the question's ranking and the ms its search took.
type Rankings = HashMap<(String, String), (Vec<Hit>, f64)>;

/// Everything a question is asked with: the passages of the main chunking and the retrievers
/// over them. Each question is retrieved once per retriever, `depth` deep and timed; the top k for
/// every k are prefixes of that ranking (exact search costs the same for any k), and every k's
/// latency is that one search's.
pub struct Asker<'a> {
    passages: &'a Passages,
    retrievers: &'a BTreeMap<String, Rc<dyn Retriever>>,
    random_k: usize,
    depth: usize,
    /// (retriever, question id) → its ranking and the ms the search took.
    ranked: RefCell<Rankings>,
}

impl<'a> Asker<'a> {
    pub fn new(
        passages: &'a Passages,
        retrievers: &'a BTreeMap<String, Rc<dyn Retriever>>,
        random_k: usize,
        depth: usize,
    ) -> Asker<'a> {
        Asker {
            passages,
            retrievers,
            random_k,
            depth,
            ranked: RefCell::new(HashMap::new()),
        }
    }

    /// The first `k` hits of `retriever`'s ranking for `q`, and the ms its search took.
    fn retrieve(&self, retriever: &str, k: usize, q: &Question) -> Result<(Vec<Hit>, f64)> {
        let key = (retriever.to_string(), q.id.clone());
        if let Some((hits, ms)) = self.ranked.borrow().get(&key) {
            if k <= self.depth {
                return Ok((hits[..k.min(hits.len())].to_vec(), *ms));
            }
        }
        let r = self
            .retrievers
            .get(retriever)
            .with_context(|| format!("no retriever `{retriever}`"))?;
        let depth = k.max(self.depth);
        let t = Instant::now();
        let hits = r.search(&q.text, depth)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let top = hits[..k.min(hits.len())].to_vec();
        self.ranked.borrow_mut().insert(key, (hits, ms));
        Ok((top, ms))
    }

    /// The passages condition `c` puts before `q` (random ones drawn from `rng`), and the ms it
    /// took to find them.
    fn context(
        &self,
        c: &Condition,
        q: &Question,
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<&'a Passage>, f64)> {
        let all = &self.passages.passages;
        let t = Instant::now();
        let passages = match (c.name.as_str(), &c.retrieved) {
            (_, Some((r, k))) => {
                let (hits, ms) = self.retrieve(r, *k, q)?;
                let found = hits
                    .iter()
                    .filter_map(|h| self.passages.get(&h.doc_id))
                    .collect();
                return Ok((found, ms));
            }
            ("closed_book", None) => vec![],
            ("gold", None) => self.passages.gold(q)?,
            ("random", None) => (0..self.random_k)
                .map(|_| &all[rng.gen_range(0..all.len())])
                .collect(),
            (other, None) => anyhow::bail!("unknown condition `{other}`"),
        };
        Ok((passages, t.elapsed().as_secs_f64() * 1e3))
    }

    /// The prompt job of condition `c` for each question, and each question's retrieval time (ms).
    pub fn jobs<'q>(
        &self,
        c: &Condition,
        questions: &'q [Question],
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<Job<'a, 'q>>, Vec<f64>)> {
        let mut jobs = Vec::with_capacity(questions.len());
        let mut ms = Vec::with_capacity(questions.len());
        for q in questions {
            let (passages, took) = self.context(c, q, rng)?;
            ms.push(took);
            let gold = self
                .passages
                .gold(q)?
                .iter()
                .map(|p| p.id.clone())
                .collect();
            jobs.push(Job {
                passages,
                gold,
                question: q,
            });
        }
        Ok((jobs, ms))
    }
}

/// One prompt to answer: its passages, the ids of the gold passages, the question.
pub struct Job<'p, 'q> {
    pub passages: Vec<&'p Passage>,
    pub gold: Vec<String>,
    pub question: &'q Question,
}

/// Answers every job with the reader (`model`, flat `params`, `tokenizer`), greedy, the jobs split
/// over `threads` threads with one generator each (outcomes do not depend on the split); returns
/// each outcome with its reading time in ms.
pub fn answer_jobs(
    model: &GptConfig,
    params: &[f32],
    tokenizer: &AnyTokenizer,
    jobs: &[Job],
    answer_tokens: usize,
    threads: usize,
) -> Result<Vec<(Outcome, f64)>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let part = jobs.len().div_ceil(threads.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(part)
            .map(|chunk| {
                s.spawn(move || -> Result<Vec<(Outcome, f64)>> {
                    let generator =
                        Generator::new(model, params, tokenizer.clone(), GptLm::greedy())?;
                    let mut lm = GptLm::new("reader", generator);
                    chunk
                        .iter()
                        .map(|j| {
                            let t = Instant::now();
                            let o = ask_one(
                                &mut lm,
                                &j.passages,
                                &j.gold,
                                j.question,
                                model.block_size,
                                answer_tokens,
                            )?;
                            Ok((o, t.elapsed().as_secs_f64() * 1e3))
                        })
                        .collect()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for h in handles {
            out.extend(h.join().expect("a reader thread panicked")?);
        }
        Ok(out)
    })
}
