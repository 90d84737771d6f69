//! The scripted planner: it writes the transcripts the agent policy imitates, from the world's
//! ground truth — the reasoning chain of each question — by calling the real tools, so a
//! demonstration shows exactly the observations the agent will see.
//!
//! It writes training data only. Evaluation runs the policy through the language-model trait and
//! never calls this module: [`calls`] counts every transcript it writes, and a test holds it
//! unchanged across an evaluation.

use std::sync::atomic::{AtomicUsize, Ordering};

use phase3_rag::world::{Hop, Question, QuestionKind};

use crate::react::{self, Action};
use crate::tools::{attribute, Tool, Toolset};

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
        Toolset::Search => ("search", hop.subject.clone()),
        Toolset::Lookup => (
            "lookup",
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
            turn(state(&c[0]), "finish", &q.answer),
        ],
        QuestionKind::MultiHop => vec![
            get(&c[0], need(&c[0])),
            get(&c[1], need(&c[1])),
            turn(state(&c[1]), "finish", &q.answer),
        ],
        QuestionKind::Numeric => {
            let (a, b): (i64, i64) = (c[0].value.parse().ok()?, c[1].value.parse().ok()?);
            let (hi, lo) = (a.max(b), a.min(b));
            vec![
                get(&c[0], need(&c[0])),
                get(&c[1], need(&c[1])),
                turn(
                    format!("{} and {}: I need the difference.", c[0].value, c[1].value),
                    "calc",
                    &format!("{hi} - {lo}"),
                ),
                turn(
                    format!("The difference is {}.", q.answer),
                    "finish",
                    &q.answer,
                ),
            ]
        }
        QuestionKind::Comparison => vec![
            get(&c[0], need(&c[0])),
            get(&c[1], need(&c[1])),
            turn(
                format!(
                    "{} {}, {} {}: the earlier is {}.",
                    c[0].subject, c[0].value, c[1].subject, c[1].value, q.answer
                ),
                "finish",
                &q.answer,
            ),
        ],
        QuestionKind::Indirect => return None,
    })
}

/// The demonstration for `q` with `tools` (built for `toolset`), or None when the kind is not
/// taught or a tool's observation does not show the fact the plan relies on (a search whose best
/// document is a near-namesake's): the policy imitates only transcripts that work.
pub fn demonstrate(
    q: &Question,
    toolset: Toolset,
    tools: &mut [Box<dyn Tool>],
    describe: bool,
) -> Option<Demo> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let turns = plan(q, toolset)?;
    let mut pieces = vec![(react::opening(tools, &q.text, describe), false)];
    let mut hop = 0;
    for t in turns {
        let written = format!(
            " {}\nAction: {}[{}]",
            t.thought, t.action.tool, t.action.argument
        );
        let tool = tools.iter_mut().find(|x| x.name() == t.action.tool)?;
        let observation = tool.call(&t.action.argument).ok()?;
        if tool.ends() {
            pieces.push(("Thought:".into(), false));
            // The turn ends with a blank line (a stop sequence): the episode is over.
            pieces.push((format!("{written}\n\n"), true));
            return Some(Demo { pieces });
        }
        if matches!(t.action.tool.as_str(), "search" | "lookup") {
            if !observation.contains(&q.chain[hop].sentence) {
                return None;
            }
            hop += 1;
        }
        pieces.push(("Thought:".into(), false));
        pieces.push((format!("{written}\nObservation:"), true));
        pieces.push((format!(" {observation}\n"), false));
    }
    None
}
