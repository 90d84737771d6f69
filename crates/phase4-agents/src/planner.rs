//! The scripted planner: it writes the transcripts the agent policy imitates, from the world's
//! ground truth — the reasoning chain of each question — by calling the real tools, so a
//! demonstration shows exactly the observations the agent will see.
//!
//! Besides the single agent's transcripts it writes the rows every other role of phase 4 learns
//! from, from the same ground truth: the team's plans ([`plan_demo`]), its solvers' transcripts on
//! one sub-question each and its verifier's verdicts ([`team_demos`]), and m8-style reading rows
//! ([`read_demo`]) so that one set of weights also serves as the single-shot RAG reader.
//!
//! It writes training data only. Evaluation runs the policy through the language-model trait and
//! never calls this module: [`calls`] counts every transcript it writes, and a test holds it
//! unchanged across an evaluation.

use std::sync::atomic::{AtomicUsize, Ordering};

use phase3_rag::reader::{self, continuation};
use phase3_rag::world::{Hop, Question, QuestionKind, World};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::react::{self, Action};
use crate::team::{self, SubQuestion};
use crate::tools::{attribute, names, Corpus, Tool, Toolset, ATTRIBUTES};

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// How many transcripts the planner has written in this process.
pub fn calls() -> usize {
    CALLS.load(Ordering::SeqCst)
}

/// A demonstration: the transcript in pieces, each marked as the model's to write (scored in
/// training) or given to it (the opening, the observations).
#[derive(Clone, Debug, PartialEq)]
pub struct Demo {
    pub pieces: Vec<(String, bool)>,
}

impl Demo {
    pub fn text(&self) -> String {
        self.pieces.iter().map(|(s, _)| s.as_str()).collect()
    }
}

/// One planned turn: the thought and the action.
struct Turn {
    thought: String,
    action: Action,
}

fn turn(thought: String, tool: &str, argument: &str) -> Turn {
    Turn {
        thought,
        action: Action {
            tool: tool.into(),
            argument: argument.into(),
        },
    }
}

/// The action that fetches `hop`'s fact with `toolset`.
fn fetch(hop: &Hop, toolset: Toolset) -> (&'static str, String) {
    match toolset {
        Toolset::Search => (names::SEARCH, hop.subject.clone()),
        Toolset::Lookup => (
            names::LOOKUP,
            format!("{}; {}", hop.subject, attribute(hop.relation)),
        ),
    }
}

fn need(hop: &Hop) -> String {
    format!("I need the {} of {}.", attribute(hop.relation), hop.subject)
}

fn state(hop: &Hop) -> String {
    format!(
        "The {} of {} is {}.",
        attribute(hop.relation),
        hop.subject,
        hop.value
    )
}

/// The turns that answer `q` with `toolset`, or None for a kind the agent is not taught.
fn plan(q: &Question, toolset: Toolset) -> Option<Vec<Turn>> {
    let c = &q.chain;
    let get = |hop: &Hop, thought: String| {
        let (tool, arg) = fetch(hop, toolset);
        turn(thought, tool, &arg)
    };
    Some(match q.kind {
        QuestionKind::Lookup => vec![
            get(&c[0], need(&c[0])),
            turn(state(&c[0]), names::FINISH, &q.answer),
        ],
        QuestionKind::MultiHop => vec![
            get(&c[0], need(&c[0])),
            get(&c[1], need(&c[1])),
            turn(state(&c[1]), names::FINISH, &q.answer),
        ],
        QuestionKind::Numeric => {
            let (a, b) = (&c[0].value, &c[1].value);
            let mut turns = vec![get(&c[0], need(&c[0])), get(&c[1], need(&c[1]))];
            turns.extend(difference(a, b, &q.answer)?);
            turns
        }
        QuestionKind::Comparison => vec![
            get(&c[0], need(&c[0])),
            get(&c[1], need(&c[1])),
            earlier(
                &c[0].subject,
                &c[0].value,
                &c[1].subject,
                &c[1].value,
                &q.answer,
            ),
        ],
        QuestionKind::Indirect => return None,
    })
}

/// The turns that take the difference of two years and finish with it.
fn difference(a: &str, b: &str, answer: &str) -> Option<Vec<Turn>> {
    let (a, b): (i64, i64) = (a.parse().ok()?, b.parse().ok()?);
    let (hi, lo) = (a.max(b), a.min(b));
    Some(vec![
        turn(
            format!("{a} and {b}: I need the difference."),
            names::CALC,
            &format!("{hi} - {lo}"),
        ),
        turn(
            format!("The difference is {answer}."),
            names::FINISH,
            answer,
        ),
    ])
}

/// The turn that names the earlier of two dated entities.
fn earlier(a: &str, ya: &str, b: &str, yb: &str, answer: &str) -> Turn {
    turn(
        format!("{a} {ya}, {b} {yb}: the earlier is {answer}."),
        names::FINISH,
        answer,
    )
}

/// A transcript of `turns` on `question` with `tools`, checking that each search or lookup shows
/// the sentence of the next of `hops`; None when one does not (a search whose best document is a
/// near-namesake's) or a tool fails. Also returns the evidence the tools showed.
fn transcript(
    question: &str,
    turns: Vec<Turn>,
    hops: &[&Hop],
    tools: &mut [Box<dyn Tool>],
    describe: bool,
    spaced: bool,
) -> Option<(Demo, Vec<String>)> {
    let mut pieces = vec![(react::opening(tools, question, describe), false)];
    let mut evidence = Vec::new();
    let mut hop = 0;
    for t in turns {
        let written = format!(
            " {}\nAction: {}",
            t.thought,
            react::action_text(&t.action.tool, &t.action.argument, spaced)
        );
        let tool = tools.iter_mut().find(|x| x.name() == t.action.tool)?;
        let observation = tool.call(&t.action.argument).ok()?;
        if tool.ends() {
            pieces.push(("Thought:".into(), false));
            // The turn ends with a blank line (a stop sequence): the episode is over.
            pieces.push((format!("{written}\n\n"), true));
            return Some((Demo { pieces }, evidence));
        }
        if matches!(t.action.tool.as_str(), names::SEARCH | names::LOOKUP) {
            if !observation.contains(&hops.get(hop)?.sentence) {
                return None;
            }
            hop += 1;
        }
        evidence.extend(team::evidence_of(&t.action, &observation));
        pieces.push(("Thought:".into(), false));
        pieces.push((format!("{written}\nObservation:"), true));
        pieces.push((format!(" {observation}\n"), false));
    }
    None
}

/// The demonstration for `q` with `tools` (built for `toolset`), or None when the kind is not
/// taught or a tool's observation does not show the fact the plan relies on: the policy imitates
/// only transcripts that work.
pub fn demonstrate(
    q: &Question,
    toolset: Toolset,
    tools: &mut [Box<dyn Tool>],
    describe: bool,
    spaced: bool,
) -> Option<Demo> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let turns = plan(q, toolset)?;
    let hops: Vec<&Hop> = q.chain.iter().collect();
    transcript(&q.text, turns, &hops, tools, describe, spaced).map(|(d, _)| d)
}

/// The team planner's sub-questions for `q`, in order; `#n` stands for the answer to the n-th.
pub fn sub_questions(q: &Question) -> Option<Vec<SubQuestion>> {
    let c = &q.chain;
    let fact = |hop: &Hop, subject: &str| SubQuestion::Fact {
        attribute: attribute(hop.relation).to_string(),
        subject: subject.to_string(),
    };
    Some(match q.kind {
        QuestionKind::Lookup => vec![fact(&c[0], &c[0].subject)],
        QuestionKind::MultiHop => vec![fact(&c[0], &c[0].subject), fact(&c[1], "#1")],
        QuestionKind::Numeric => vec![
            fact(&c[0], &c[0].subject),
            fact(&c[1], &c[1].subject),
            SubQuestion::Difference,
        ],
        QuestionKind::Comparison => vec![
            fact(&c[0], &c[0].subject),
            fact(&c[1], &c[1].subject),
            SubQuestion::Earlier {
                a: c[0].subject.clone(),
                b: c[1].subject.clone(),
            },
        ],
        QuestionKind::Indirect => return None,
    })
}

/// A planner row: the plan prompt, then the plan (scored).
pub fn plan_demo(q: &Question) -> Option<Demo> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let subs = sub_questions(q)?;
    Some(Demo {
        pieces: vec![
            (team::plan_prompt(&q.text), false),
            (team::plan_text(&subs), true),
        ],
    })
}

/// The team's other rows for `q`, from its gold chain: each solver's transcript on its
/// sub-question (the earlier answers filled in), and two verifier rows over the evidence those
/// transcripts show — the gold answer (`yes`) and a wrong one the evidence makes plausible (`no`):
/// another fact of the same document, the middle entity of a chain, the other entity of a
/// comparison, a nearby number. None when a search does not show the fact it needs.
pub fn team_demos(
    q: &Question,
    world: &World,
    tools: &mut [Box<dyn Tool>],
    spaced: bool,
    rng: &mut ChaCha8Rng,
) -> Option<(Vec<Demo>, Vec<Demo>)> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let subs = sub_questions(q)?;
    let mut answers: Vec<String> = Vec::new();
    let mut solvers = Vec::new();
    let mut evidence = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        let text = team::substitute(&sub.text(), &answers);
        let (turns, hops): (Vec<Turn>, Vec<&Hop>) = match sub {
            SubQuestion::Fact { .. } => {
                let hop = &q.chain[i];
                let (tool, arg) = fetch(hop, Toolset::Search);
                (
                    vec![
                        turn(need(hop), tool, &arg),
                        turn(state(hop), names::FINISH, &hop.value),
                    ],
                    vec![hop],
                )
            }
            SubQuestion::Difference => (difference(&answers[0], &answers[1], &q.answer)?, vec![]),
            SubQuestion::Earlier { a, b } => (
                vec![earlier(a, &answers[0], b, &answers[1], &q.answer)],
                vec![],
            ),
        };
        let answer = turns.last()?.action.argument.clone();
        let (demo, shown) = transcript(&text, turns, &hops, tools, false, spaced)?;
        solvers.push(demo);
        evidence.extend(shown);
        answers.push(answer);
    }
    let wrong = wrong_answer(q, world, rng)?;
    let verdicts = [(q.answer.as_str(), true), (wrong.as_str(), false)]
        .into_iter()
        .map(|(answer, right)| Demo {
            pieces: vec![
                (team::verify_prompt(&q.text, &evidence, answer), false),
                (team::verdict_text(right), true),
            ],
        })
        .collect();
    Some((solvers, verdicts))
}

/// A wrong answer to `q`, half the time one the evidence shows (another fact of the same document,
/// the middle entity of a chain, the other entity of a comparison), half the time one it does not
/// (another entity's value of the same attribute, a number off by a few): the policy's own mistakes
/// are mostly of the second sort — a garbled or recalled name instead of the one it read.
fn wrong_answer(q: &Question, world: &World, rng: &mut ChaCha8Rng) -> Option<String> {
    let c = &q.chain;
    let last = c.last()?;
    // Values of the same attribute elsewhere in the world: the evidence does not show them.
    let all: Vec<_> = world.entities().collect();
    let elsewhere = |rng: &mut ChaCha8Rng, relation| -> Vec<String> {
        (0..8)
            .filter_map(|_| world.value(*all.choose(rng)?, relation))
            .collect()
    };
    let (shown, unshown): (Vec<String>, Vec<String>) = match q.kind {
        QuestionKind::Comparison => {
            let other = if q.answer == c[0].subject {
                &c[1]
            } else {
                &c[0]
            };
            let names: Vec<String> = (0..8)
                .filter_map(|_| {
                    let e = *all.choose(rng)?;
                    world
                        .value(e, c[0].relation)
                        .map(|_| world.name(e).to_string())
                })
                .collect();
            (vec![other.subject.clone()], names)
        }
        QuestionKind::Numeric => {
            let n: i64 = q.answer.parse().ok()?;
            let d = rng.gen_range(1..=9);
            (
                vec![c[0].value.clone(), c[1].value.clone()],
                vec![(n + d).to_string(), (n - d).abs().to_string()],
            )
        }
        _ => {
            let entity = world.find(&last.subject)?;
            let mut v: Vec<String> = ATTRIBUTES
                .iter()
                .filter(|(r, _)| *r != last.relation)
                .filter_map(|(r, _)| world.value(entity, *r))
                .collect();
            if c.len() > 1 {
                v.push(c[0].subject.clone());
            }
            (v, elsewhere(rng, last.relation))
        }
    };
    let pick = |v: Vec<String>, rng: &mut ChaCha8Rng| {
        v.into_iter()
            .filter(|a| !reader::exact_match(a, &q.answer))
            .collect::<Vec<_>>()
            .choose(rng)
            .cloned()
    };
    if rng.gen_bool(0.5) {
        pick(shown, rng).or_else(|| pick(unshown, rng))
    } else {
        pick(unshown, rng).or_else(|| pick(shown, rng))
    }
}

/// A reading row in m8's format, for a single-hop `q`: the `k` documents `corpus` ranks best for
/// it with the gold one among them (in place of the last, when missed), the question, the answer
/// (scored). The same prompt, without the gold guarantee, is single-shot RAG at evaluation.
pub fn read_demo(q: &Question, corpus: &Corpus, k: usize, rng: &mut ChaCha8Rng) -> Option<Demo> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let gold = q.gold_doc_ids.first()?;
    let mut hits = corpus.search(&q.text, k);
    if !hits.iter().any(|(id, _)| id == gold) {
        hits.pop();
        let at = rng.gen_range(0..=hits.len());
        hits.insert(at, corpus.document(gold)?);
    }
    let lines: Vec<&str> = hits.iter().map(|(_, line)| *line).collect();
    Some(Demo {
        pieces: vec![
            (team::read_prompt(&lines, &q.text), false),
            (continuation(&q.answer), true),
        ],
    })
}
