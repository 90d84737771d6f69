//! m11: the team's wiring as the runs used it — who wrote what to the bus, who read it, and what
//! the solvers did with their sub-questions — drawn from the recorded messages and episodes, in
//! the agent diagrams' colours (m10's loop uses the same).

use std::collections::{BTreeMap, BTreeSet};

use viz::diagram::Diagram;
use viz::plot::entity::Entity;

use phase4_agents::react::End;
use phase4_agents::team::Kind;
use phase4_agents::tools::names;

use super::{node_id, TeamOutcome};

/// Messages of each kind, per role.
type Counts = BTreeMap<String, BTreeMap<Kind, usize>>;

/// What the architecture counts over the runs.
#[derive(Default)]
pub(super) struct Wiring {
    pub runs: usize,
    pub messages: usize,
    wrote: Counts,
    read: Counts,
    /// Every solver's name (`solver-1`, …).
    solvers: BTreeSet<String>,
    /// Per tool (None: no well-formed action), its calls that worked and those that failed.
    tools: BTreeMap<Option<String>, (usize, usize)>,
    /// Solver episodes (one per sub-question sent), and those that ended without `finish`.
    pub episodes: usize,
    pub stopped: usize,
}

/// An agent's box in the architecture: the solvers (one per sub-question) share one.
fn role_of(agent: &str) -> &str {
    if agent.starts_with("solver-") {
        "solvers"
    } else {
        agent
    }
}

impl Wiring {
    pub(super) fn of(outcomes: &[TeamOutcome]) -> Wiring {
        let mut w = Wiring {
            runs: outcomes.len(),
            ..Wiring::default()
        };
        for o in outcomes {
            for m in &o.run.messages {
                w.messages += 1;
                for (counts, agent) in [(&mut w.wrote, &m.from), (&mut w.read, &m.to)] {
                    *counts
                        .entry(role_of(agent).into())
                        .or_default()
                        .entry(m.kind)
                        .or_default() += 1;
                }
                if m.to.starts_with("solver-") {
                    w.solvers.insert(m.to.clone());
                }
            }
            for ep in &o.run.episodes {
                w.episodes += 1;
                if ep.end != End::Finished {
                    w.stopped += 1;
                }
                for s in &ep.steps {
                    let calls = w
                        .tools
                        .entry(s.action.as_ref().map(|a| a.tool.clone()))
                        .or_default();
                    if s.error {
                        calls.1 += 1;
                    } else {
                        calls.0 += 1;
                    }
                }
            }
        }
        w
    }

    /// A role as its boxes name it: the solvers by their range when they are `solver-1` to
    /// `solver-n`.
    fn name(&self, role: &str) -> String {
        let n = self.solvers.len();
        let numbered = (1..=n).all(|i| self.solvers.contains(&format!("solver-{i}")));
        match role {
            "solvers" if n == 1 => "solver".into(),
            "solvers" if n > 1 && numbered => format!("solvers 1–{n}"),
            r => r.to_string(),
        }
    }

    /// `role` writes (or reads): then one message kind per line, so no entry is ever split.
    fn label(&self, role: &str, writes: bool, kinds: &BTreeMap<Kind, usize>) -> String {
        let plural = role == "solvers" && self.solvers.len() > 1;
        let verb = match (writes, plural) {
            (true, false) => "writes",
            (true, true) => "write",
            (false, false) => "reads",
            (false, true) => "read",
        };
        let mut label = format!("{} {verb}:", self.name(role));
        for (k, n) in kinds {
            label.push_str(&format!("\n{} ×{n}", k.label()));
        }
        label
    }
}

/// The team's wiring as the runs used it: each role writes to the bus (top row), the bus delivers
/// to each role (the row below); each box lists the messages of each kind that took that way. Below
/// the solvers, what they did with their sub-questions, and their loop back. A model's boxes are
/// the agent diagrams' model colour; the bus, a stage that stands for no role, and the user grey.
pub fn architecture(outcomes: &[TeamOutcome]) -> Diagram {
    let w = Wiring::of(outcomes);
    let mut d = Diagram::new().node_in(
        "bus",
        &format!("message bus: {} messages, every one recorded", w.messages),
        Entity::Plain,
    );
    // In the order a task flows: user, planner, solvers, verifier.
    let rank = |r: &str| {
        ["user", "planner", "solvers", "verifier"]
            .iter()
            .position(|x| *x == r)
    };
    let order = |c: &Counts| {
        let mut v: Vec<(String, BTreeMap<Kind, usize>)> =
            c.iter().map(|(r, k)| (r.clone(), k.clone())).collect();
        v.sort_by_key(|(r, _)| rank(r));
        v
    };
    let entity = |role: &str| {
        if role == "user" {
            Entity::Plain
        } else {
            Entity::AgentModel
        }
    };
    for (role, kinds) in &order(&w.wrote) {
        let id = format!("{role}_out");
        d = d
            .node_in(&id, &w.label(role, true, kinds), entity(role))
            .edge(&id, "bus", None);
    }
    // The solvers read first (leftmost), so their loop's return reaches them round the left side
    // without passing behind another box.
    let mut reads = order(&w.read);
    reads.sort_by_key(|(r, _)| r != "solvers");
    for (role, kinds) in &reads {
        let id = format!("{role}_in");
        d = d
            .node_in(&id, &w.label(role, false, kinds), entity(role))
            .edge("bus", &id, None);
    }
    if w.episodes > 0 && w.read.contains_key("solvers") {
        d = solver_steps(d, &w);
    }
    d
}

/// Below the solvers, what their turns did (in m10's loop order): actions no tool could take,
/// each tool they called (its box counting the calls that worked and failed, the edge all of
/// them), and the sub-questions stopped without `finish`. The observations (errors included) are
/// counted on the edges into the box they end in, and on the edge looping back from it to the
/// solvers (as m10's loop returns each observation to the model).
fn solver_steps(mut d: Diagram, w: &Wiring) -> Diagram {
    let order = [
        None,
        Some(names::SEARCH),
        Some(names::CALC),
        Some(names::FINISH),
    ];
    let rank = |t: &Option<String>| {
        order
            .iter()
            .position(|o| o.as_deref() == t.as_deref())
            .unwrap_or(order.len())
    };
    let mut sorted: Vec<(&Option<String>, &(usize, usize))> = w.tools.iter().collect();
    sorted.sort_by_key(|(t, _)| rank(t));
    let mut observed = 0;
    for (tool, &(ok, failed)) in sorted {
        let calls = (ok + failed).to_string();
        match tool {
            Some(t) => {
                let id = format!("tool_{}", node_id(t));
                d = d
                    .node_in(
                        &id,
                        &format!("{t}[…]\n{ok} ok\n{failed} failed"),
                        Entity::AgentTool,
                    )
                    .edge("solvers_in", &id, Some(&calls));
                // A finish that worked ends the solver's loop; anything else is observed.
                let back = if t == names::FINISH {
                    failed
                } else {
                    ok + failed
                };
                observed += back;
                if back > 0 {
                    d = d.edge(&id, "observe", Some(&back.to_string()));
                }
            }
            None => {
                // No well-formed action is always an error.
                observed += ok + failed;
                d = d
                    .node_in(
                        "malformed",
                        "malformed: no well-formed action",
                        Entity::Plain,
                    )
                    .edge("solvers_in", "malformed", Some(&calls))
                    .edge("malformed", "observe", Some(&calls));
            }
        }
    }
    d = d
        .node_in(
            "stopped",
            "stopped: step budget or context full",
            Entity::Plain,
        )
        .edge("solvers_in", "stopped", Some(&w.stopped.to_string()));
    if observed == 0 {
        return d;
    }
    d.node_in(
        "observe",
        "observation or error, appended to the solver's transcript for its next turn",
        Entity::AgentObservation,
    )
    .back("observe", "solvers_in", Some(&observed.to_string()))
}
