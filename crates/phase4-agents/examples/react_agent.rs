//! Phase 4 on one screen: the ReAct loop — think, call a tool, read what it returns, repeat,
//! then `finish[answer]` — over a generated world, with BM25 `search`, `calc` and `finish`.
//!
//! ```sh
//! cargo run --release -p phase4-agents --example react_agent
//! ```
//!
//! **The policy here is not learned.** A policy that can drive this loop is m10's: phase 3's reader
//! fine-tuned on the planner's transcripts, about half an hour of training on 2 cores, which does
//! not fit a one-minute example. So the model behind the loop is the *scripted planner*
//! (`phase4_agents::planner`) replayed through the `LanguageModel` trait: it writes each question's
//! thoughts and actions from the question's known reasoning chain — it has seen the answer key,
//! which a real policy never has. What the run shows is everything else, unchanged from m10–m12:
//! the prompt the loop builds, the parsing of `Action: tool[argument]`, the real tools answering,
//! the observations fed back, the `finish` that ends an episode, exact-match scoring.
//!
//! The idea it demonstrates: a multi-hop question ("Where is the employer of X based?") needs a
//! document that only the *first* observation names, so one search with the question text rarely
//! finds both; an agent that searches again with what it has read does. The number asserted is
//! the fraction of multi-hop test tasks whose evidence (every hop's sentence) the loop's
//! observations showed, against one-shot BM25 with the question (top 3); the program exits non-zero
//! unless the loop shows more, and unless the episodes score exact match on at least 80 % of the
//! tasks (the only failures allowed are searches that surface a near-namesake's document).

use anyhow::{bail, Result};
use phase2_lm::lm::{Completion, LanguageModel, Request}; // the one place the trait is imported
use phase3_rag::reader::exact_match;
use phase3_rag::world::{Question, QuestionKind, World, WorldConfig};
use phase4_agents::planner;
use phase4_agents::react::{self, AgentConfig, End};
use phase4_agents::tools::{Corpus, Toolset};
use std::sync::Arc;

const SEARCH_K: usize = 3; // documents a search shows (and one-shot retrieval retrieves)
const TASKS_PER_KIND: usize = 40;

/// The scripted planner's turns for one question, handed out one per call, as a model would write
/// them (each cut before its stop sequence, as a completion is).
struct Replay {
    turns: Vec<String>,
    next: usize,
}

impl LanguageModel for Replay {
    fn name(&self) -> String {
        "scripted-planner".into()
    }
    fn complete(&mut self, r: &Request) -> Result<Completion> {
        let text = self.turns.get(self.next).cloned().unwrap_or_default();
        self.next += 1;
        Ok(Completion {
            completion_tokens: text.len(),
            prompt_tokens: r.prompt.len(),
            stopped: true,
            text,
        })
    }
}

fn main() -> Result<()> {
    // -- the world: people, companies, cities, universities; one document each --------------
    let world = Arc::new(World::generate(&WorldConfig::default())?);
    let corpus = Arc::new(Corpus::of(&world)?); // BM25 over every document
    let mut tools = Toolset::Search.build(&corpus, &world, SEARCH_K); // search, calc, finish
    println!(
        "world: {} documents, tools: search (BM25, top {SEARCH_K}), calc, finish",
        world.num_documents()
    );

    // -- tasks: test questions (never used to train anything) of each kind the agent is taught --
    let kinds = [
        QuestionKind::Lookup,
        QuestionKind::MultiHop,
        QuestionKind::Numeric,
        QuestionKind::Comparison,
    ];
    let tasks: Vec<&Question> = kinds
        .iter()
        .flat_map(|&k| {
            let test = world
                .questions()
                .iter()
                .filter(move |q| q.kind == k && !q.train);
            test.take(TASKS_PER_KIND)
        })
        .collect();

    // -- run the loop on every task ------------------------------------------------------------
    let cfg = AgentConfig {
        max_steps: 6,
        step_tokens: 64,
        describe_tools: false,
        constrain: false,
    };
    let (mut correct, mut total, mut steps) =
        (vec![0usize; kinds.len()], vec![0usize; kinds.len()], 0usize);
    let (mut agent_evidence, mut oneshot_evidence, mut multi_hop) = (0usize, 0usize, 0usize);
    let mut shown = false;
    for q in &tasks {
        // The planner writes its transcript by calling the same tools; None when its search did
        // not surface the fact it needed (it then has no script, and the task counts as failed).
        let turns = match planner::demonstrate(q, Toolset::Search, &mut tools, false, true) {
            Some(demo) => demo
                .pieces
                .into_iter()
                .filter(|(_, written_by_model)| *written_by_model)
                .map(|(text, _)| {
                    text.trim_end_matches("\nObservation:")
                        .trim_end()
                        .to_string()
                })
                .collect(),
            None => Vec::new(),
        };
        let mut policy = Replay { turns, next: 0 };
        let episode = react::run(&mut policy, &mut tools, &q.text, &cfg, 0);
        steps += episode.steps.len();
        let answer = episode.answer.clone().unwrap_or_default();
        let ok = episode.end == End::Finished && exact_match(&answer, &q.answer);
        let kind = kinds.iter().position(|&k| k == q.kind).unwrap();
        (correct[kind], total[kind]) = (correct[kind] + usize::from(ok), total[kind] + 1);

        if q.kind == QuestionKind::MultiHop {
            // Evidence: did the observations show the sentence of every hop of the chain?
            multi_hop += 1;
            let seen = |text: &str| q.chain.iter().all(|hop| text.contains(&hop.sentence));
            let observed: String = episode
                .steps
                .iter()
                .map(|s| s.observation.as_str())
                .collect();
            agent_evidence += usize::from(seen(&observed));
            let oneshot: String = corpus
                .search(&q.text, SEARCH_K)
                .iter()
                .map(|(_, line)| *line)
                .collect();
            oneshot_evidence += usize::from(seen(&oneshot));
            if !shown && ok {
                println!(
                    "\n--- one episode (multi-hop) ---\n{}--- gold answer: {} ---\n",
                    episode.transcript(),
                    q.answer
                );
                shown = true;
            }
        }
    }

    // -- report ----------------------------------------------------------------------------------
    for ((k, c), t) in kinds.iter().zip(&correct).zip(&total) {
        println!("{:<12} exact match {c:>2}/{t}", format!("{k:?}"));
    }
    let success = correct.iter().sum::<usize>() as f64 / tasks.len() as f64;
    let agent_ev = agent_evidence as f64 / multi_hop as f64;
    let oneshot_ev = oneshot_evidence as f64 / multi_hop as f64;
    println!(
        "mean steps per episode: {:.2}",
        steps as f64 / tasks.len() as f64
    );
    println!(
        "multi-hop evidence found: agent loop {agent_ev:.3}, one BM25 search with the question {oneshot_ev:.3} (top {SEARCH_K})"
    );
    println!(
        "policy: the scripted planner (knows each question's reasoning chain), not a learned model"
    );
    println!("RESULT success_rate={success:.3} multihop_evidence_agent={agent_ev:.3} multihop_evidence_oneshot={oneshot_ev:.3} policy=scripted");
    if success < 0.8 {
        bail!("the loop answered only {success:.3} of the tasks (needs 0.8)");
    }
    if agent_ev <= oneshot_ev {
        bail!("the loop found no more multi-hop evidence ({agent_ev:.3}) than one search ({oneshot_ev:.3})");
    }
    Ok(())
}
