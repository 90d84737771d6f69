//! m11 — a team of agents: a planner that splits a question into sub-questions, solvers that
//! answer one sub-question each with the ReAct loop and its tools, and a verifier that checks the
//! final answer against the evidence the solvers saw and can send it back once.
//!
//! The agents share nothing but a message [`Bus`]: each reads only the messages addressed to it,
//! and every message is kept, in order, in the run's transcript. Every plan, action and verdict is
//! a call of the language model through [`LanguageModel`]; the roles differ only in their prompts:
//!
//! ```text
//! Plan: In which city is Teeldaar Mys's employer based?      ← planner prompt
//! 1. What is the employer of Teeldaar Mys?                     ← written by the model
//! 2. What is the headquarters of #1?                           ← (#1: the first answer)
//!
//! Check: In which city is Teeldaar Mys's employer based?     ← verifier prompt
//! * Teeldaar Mys: … She has a job at Vurmik Lab Systems. …     ← the solvers' observations
//! * Vurmik Lab Systems: … head office in Klussamdal. …
//! Answer: Klussamdal
//! Verdict: yes                                                 ← written by the model
//! ```
//!
//! A rejected answer goes back to the solvers once, who try again sampling instead of greedily;
//! the second answer stands if the verifier accepts it, otherwise the first.

use std::collections::VecDeque;
use std::time::Instant;

use phase2_lm::lm::{LanguageModel, Request};
use serde::{Deserialize, Serialize};

use crate::react::{self, Action, AgentConfig, Episode};
use crate::tools::{names, Tool};

/// One sub-question of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SubQuestion {
    /// One attribute of one entity (`#n` for an earlier answer).
    Fact { attribute: String, subject: String },
    /// The difference of the first two answers.
    Difference,
    /// Which of two entities has the earlier year (the first two answers).
    Earlier { a: String, b: String },
}

impl SubQuestion {
    /// As the planner writes it.
    pub fn text(&self) -> String {
        match self {
            SubQuestion::Fact { attribute, subject } => {
                format!("What is the {attribute} of {subject}?")
            }
            SubQuestion::Difference => "What is the difference between #1 and #2?".into(),
            SubQuestion::Earlier { a, b } => format!("Which is earlier, {a} (#1) or {b} (#2)?"),
        }
    }
}

/// The planner's prompt.
pub fn plan_prompt(question: &str) -> String {
    format!("Plan: {}\n", question.trim())
}

/// A plan as the planner writes it: numbered lines, then a blank line.
pub fn plan_text(subs: &[SubQuestion]) -> String {
    let mut s: String = subs
        .iter()
        .enumerate()
        .map(|(i, q)| format!("{}. {}\n", i + 1, q.text()))
        .collect();
    s.push('\n');
    s
}

/// The sub-questions of a plan the model wrote: its `n. text` lines, at most `max`.
pub fn parse_plan(text: &str, max: usize) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim().split_once(". ")?;
            n.parse::<usize>().ok()?;
            let rest = rest.trim();
            (!rest.is_empty()).then(|| rest.to_string())
        })
        .take(max)
        .collect()
}

/// `text` with each `#n` replaced by the n-th of `answers` (those not yet known stay).
pub fn substitute(text: &str, answers: &[String]) -> String {
    let mut s = text.to_string();
    // Highest first, so `#1` does not eat the start of `#12`.
    for (i, a) in answers.iter().enumerate().rev() {
        s = s.replace(&format!("#{}", i + 1), a);
    }
    s
}

/// The evidence a tool call shows, as the verifier reads it: a search's or lookup's lines, a
/// calculation with its result.
pub fn evidence_of(action: &Action, observation: &str) -> Vec<String> {
    match action.tool.as_str() {
        names::SEARCH | names::LOOKUP => observation.lines().map(str::to_string).collect(),
        names::CALC => vec![format!("{} = {observation}", action.argument.trim())],
        _ => Vec::new(),
    }
}

/// The evidence of an episode: what its successful tool calls showed.
pub fn evidence_of_episode(ep: &Episode) -> Vec<String> {
    ep.steps
        .iter()
        .filter(|s| !s.error)
        .filter_map(|s| s.action.as_ref().map(|a| evidence_of(a, &s.observation)))
        .flatten()
        .collect()
}

/// The verifier's prompt.
pub fn verify_prompt(question: &str, evidence: &[String], answer: &str) -> String {
    let mut s = format!("Check: {}\n", question.trim());
    for e in evidence {
        s.push_str(e);
        s.push('\n');
    }
    s.push_str(&format!("Answer: {}\nVerdict:", answer.trim()));
    s
}

/// A verdict as the verifier writes it.
pub fn verdict_text(accept: bool) -> String {
    format!(" {}\n", if accept { "yes" } else { "no" })
}

/// The verdict in what the model wrote; None when it wrote neither word.
pub fn parse_verdict(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The prompt of m8's reader over `lines` (`* Title: text` each, best first): closed book when
/// there are none. Single-shot RAG and the reading rows use it.
pub fn read_prompt(lines: &[&str], question: &str) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("Q: {}\nA:", question.trim()));
    s
}

/// How the team runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Tokens the planner may write.
    pub plan_tokens: usize,
    /// Sub-questions followed at most.
    pub max_sub_questions: usize,
    /// Each solver's loop.
    pub solver: AgentConfig,
    /// Whether a rejected answer is sent back (once).
    pub send_back: bool,
}

/// Who is on the bus.
pub const USER: &str = "user";
pub const PLANNER: &str = "planner";
pub const VERIFIER: &str = "verifier";

/// A solver's address.
pub fn solver(n: usize) -> String {
    format!("solver-{n}")
}

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Task,
    SubQuestion,
    SubAnswer,
    Check,
    Verdict,
    Answer,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::SubQuestion => "sub-question",
            Kind::SubAnswer => "sub-answer",
            Kind::Check => "check",
            Kind::Verdict => "verdict",
            Kind::Answer => "answer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub from: String,
    pub to: String,
    pub kind: Kind,
    pub text: String,
}

/// The only way agents talk: messages in order, each read by its addressee; all kept.
#[derive(Default)]
pub struct Bus {
    log: Vec<Message>,
    queue: VecDeque<usize>,
}

impl Bus {
    pub fn send(&mut self, from: &str, to: &str, kind: Kind, text: impl Into<String>) {
        self.log.push(Message {
            from: from.into(),
            to: to.into(),
            kind,
            text: text.into(),
        });
        self.queue.push_back(self.log.len() - 1);
    }

    /// The next undelivered message.
    pub fn deliver(&mut self) -> Option<Message> {
        self.queue.pop_front().map(|i| self.log[i].clone())
    }
}

/// One model call of a team run (for tokens and the trace).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub role: String,
    pub output: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// A question through the team, start to end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamRun {
    /// Every message, in the order sent.
    pub messages: Vec<Message>,
    /// The planner's and the verifier's calls.
    pub calls: Vec<Call>,
    /// The plan's sub-questions as written.
    pub plan: Vec<String>,
    /// Each solver's episode, in order (a sent-back attempt's after the first's).
    pub episodes: Vec<Episode>,
    /// The verifier's verdicts (None: neither yes nor no), in order.
    pub verdicts: Vec<Option<bool>>,
    pub sent_back: bool,
    /// The first attempt's answer, and the team's.
    pub first_answer: Option<String>,
    pub answer: Option<String>,
    /// Why there is no answer, when there is none.
    pub failure: Option<String>,
    #[serde(skip)]
    pub latencies_ms: Vec<f64>,
}

impl TeamRun {
    pub fn tokens(&self) -> usize {
        self.calls
            .iter()
            .map(|c| c.prompt_tokens + c.completion_tokens)
            .sum::<usize>()
            + self.episodes.iter().map(Episode::tokens).sum::<usize>()
    }

    pub fn model_calls(&self) -> usize {
        self.calls.len() + self.episodes.iter().map(|e| e.steps.len()).sum::<usize>()
    }

    pub fn tool_errors(&self) -> usize {
        self.episodes.iter().map(Episode::tool_errors).sum()
    }
}

/// The planner's working state.
struct Planner {
    subs: Vec<String>,
    answers: Vec<String>,
    evidence: Vec<String>,
    attempt: usize,
}

/// One model call for a role; its output, or the error as text.
fn call(
    lm: &mut dyn LanguageModel,
    run: &mut TeamRun,
    role: &str,
    prompt: &str,
    max_tokens: usize,
    stop: &[&str],
    seed: u64,
) -> Result<String, String> {
    let t0 = Instant::now();
    let c = lm
        .complete(&Request {
            prompt,
            max_tokens,
            stop,
            seed,
        })
        .map_err(|e| format!("{role}: {e:#}"))?;
    run.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    run.calls.push(Call {
        role: role.into(),
        output: c.text.clone(),
        prompt_tokens: c.prompt_tokens,
        completion_tokens: c.completion_tokens,
    });
    Ok(c.text)
}

/// Runs `question` through the team. `lm` plays every role greedily; `retry` (the same weights,
/// sampling) is the solvers' model when an answer is sent back. Each solver gets `tools`.
///
/// The team is a loop over the message bus: each delivered message goes to the agent it names
/// ([`Team`]'s handlers, one per kind of message), who answers by sending the next one.
pub fn run(
    lm: &mut dyn LanguageModel,
    retry: &mut dyn LanguageModel,
    tools: &mut [Box<dyn Tool>],
    question: &str,
    cfg: &TeamConfig,
    seed: u64,
) -> TeamRun {
    let mut team = Team::new(question, cfg, seed);
    team.bus.send(USER, PLANNER, Kind::Task, question.trim());
    // A bound no well-behaved run reaches: plan, ≤ 2 × (sub-questions + answers + check + verdict).
    let limit = 4 * (cfg.max_sub_questions + 2) + 2;
    let mut delivered = 0;
    while let Some(m) = team.bus.deliver() {
        delivered += 1;
        if delivered > limit {
            team.r.failure = Some("the message budget ran out".into());
            break;
        }
        match (m.to.as_str(), m.kind) {
            (PLANNER, Kind::Task) => team.plan(lm, &m.text),
            (to, Kind::SubQuestion) if to.starts_with("solver-") => {
                team.solve(lm, retry, tools, to, &m.text)
            }
            (PLANNER, Kind::SubAnswer) => team.take_sub_answer(&m.text),
            (VERIFIER, Kind::Check) => {
                if !team.check(lm, &m.text) {
                    break;
                }
            }
            (PLANNER, Kind::Verdict) => team.take_verdict(&m.text),
            (USER, Kind::Answer) => team.take_answer(&m.text),
            (to, kind) => {
                team.r.failure = Some(format!("no agent takes a {} for `{to}`", kind.label()));
                break;
            }
        }
    }
    team.r.messages = team.bus.log;
    team.r
}

/// One run's state while its messages go round: the bus, the planner's working state and the
/// record being written.
struct Team<'a> {
    question: &'a str,
    cfg: &'a TeamConfig,
    seed: u64,
    bus: Bus,
    planner: Planner,
    r: TeamRun,
}

impl<'a> Team<'a> {
    fn new(question: &'a str, cfg: &'a TeamConfig, seed: u64) -> Team<'a> {
        Team {
            question,
            cfg,
            seed,
            bus: Bus::default(),
            planner: Planner {
                subs: Vec::new(),
                answers: Vec::new(),
                evidence: Vec::new(),
                attempt: 0,
            },
            r: TeamRun {
                messages: Vec::new(),
                calls: Vec::new(),
                plan: Vec::new(),
                episodes: Vec::new(),
                verdicts: Vec::new(),
                sent_back: false,
                first_answer: None,
                answer: None,
                failure: None,
                latencies_ms: Vec::new(),
            },
        }
    }

    /// The planner gets the task: it writes the plan and sends the first sub-question to solver 1
    /// (or, with no sub-question, an empty answer to the user).
    fn plan(&mut self, lm: &mut dyn LanguageModel, task: &str) {
        let (cfg, seed) = (self.cfg, self.seed);
        let prompt = plan_prompt(task);
        match call(
            lm,
            &mut self.r,
            PLANNER,
            &prompt,
            cfg.plan_tokens,
            &["\n\n"],
            seed,
        ) {
            Err(e) => self.r.failure = Some(e),
            Ok(text) => {
                self.planner.subs = parse_plan(&text, cfg.max_sub_questions);
                self.r.plan = self.planner.subs.clone();
                match self.planner.subs.first() {
                    None => {
                        self.r.failure = Some("the plan has no sub-question".into());
                        self.bus.send(PLANNER, USER, Kind::Answer, "");
                    }
                    Some(first) => {
                        self.bus
                            .send(PLANNER, &solver(1), Kind::SubQuestion, first.clone())
                    }
                }
            }
        }
    }

    /// A solver gets a sub-question: one ReAct episode (with `lm`, or `retry` once the answer was
    /// sent back), whose evidence the planner keeps; the answer goes back to the planner.
    fn solve(
        &mut self,
        lm: &mut dyn LanguageModel,
        retry: &mut dyn LanguageModel,
        tools: &mut [Box<dyn Tool>],
        to: &str,
        sub_question: &str,
    ) {
        let attempt = self.planner.attempt;
        let model: &mut dyn LanguageModel = if attempt == 0 { &mut *lm } else { &mut *retry };
        let ep = react::run(
            model,
            tools,
            sub_question,
            &self.cfg.solver,
            self.seed.wrapping_add(17 * attempt as u64),
        );
        self.r.latencies_ms.extend(&ep.latencies_ms);
        let answer = ep.answer.clone().unwrap_or_default();
        self.planner.evidence.extend(evidence_of_episode(&ep));
        self.r.episodes.push(ep);
        self.bus.send(to, PLANNER, Kind::SubAnswer, answer);
    }

    /// The planner gets a sub-answer: the next sub-question (earlier answers substituted in) to
    /// the next solver, or, after the last one (or an empty answer), the check to the verifier.
    fn take_sub_answer(&mut self, answer: &str) {
        let planner = &mut self.planner;
        let done = planner.answers.len() + 1;
        planner.answers.push(answer.to_string());
        if answer.is_empty() || done == planner.subs.len() {
            self.bus.send(
                PLANNER,
                VERIFIER,
                Kind::Check,
                verify_prompt(self.question, &planner.evidence, answer),
            );
        } else {
            let next = substitute(&planner.subs[done], &planner.answers);
            self.bus
                .send(PLANNER, &solver(done + 1), Kind::SubQuestion, next);
        }
    }

    /// The verifier gets the check and sends its verdict to the planner. False when the model
    /// call failed and the run stops.
    fn check(&mut self, lm: &mut dyn LanguageModel, prompt: &str) -> bool {
        // An empty answer needs no model to reject.
        let verdict = if prompt.ends_with("Answer: \nVerdict:") {
            Some(false)
        } else {
            match call(lm, &mut self.r, VERIFIER, prompt, 4, &["\n"], self.seed) {
                Err(e) => {
                    self.r.failure = Some(e);
                    return false;
                }
                Ok(text) => parse_verdict(&text),
            }
        };
        self.r.verdicts.push(verdict);
        self.bus.send(
            VERIFIER,
            PLANNER,
            Kind::Verdict,
            match verdict {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unreadable",
            },
        );
        true
    }

    /// The planner gets the verdict: an accepted answer goes to the user; a rejected first one is
    /// sent back once (with `send_back`), the sub-questions starting over; otherwise the first
    /// attempt's answer stands.
    fn take_verdict(&mut self, verdict: &str) {
        let (planner, r) = (&mut self.planner, &mut self.r);
        let answer = planner.answers.last().cloned().unwrap_or_default();
        if planner.attempt == 0 {
            r.first_answer = Some(answer.clone()).filter(|a| !a.is_empty());
        }
        if verdict == "yes" {
            self.bus.send(PLANNER, USER, Kind::Answer, answer);
        } else if planner.attempt == 0 && self.cfg.send_back {
            planner.attempt = 1;
            r.sent_back = true;
            planner.answers.clear();
            planner.evidence.clear();
            self.bus.send(
                PLANNER,
                &solver(1),
                Kind::SubQuestion,
                planner.subs[0].clone(),
            );
        } else {
            // Rejected again (or never sent back): the first attempt's answer stands.
            self.bus.send(
                PLANNER,
                USER,
                Kind::Answer,
                r.first_answer.clone().unwrap_or_default(),
            );
        }
    }

    /// The user gets the answer (an empty one is none: a failure, unless one is already recorded).
    fn take_answer(&mut self, answer: &str) {
        let r = &mut self.r;
        r.answer = Some(answer.to_string()).filter(|a| !a.is_empty());
        if r.answer.is_none() && r.failure.is_none() {
            r.failure = Some("no answer".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{Calc, Finish};
    use anyhow::Result;
    use phase2_lm::lm::Completion;

    /// A scripted backend: a plan for `Plan:` prompts, a verdict from `verdicts` (in turn) for
    /// `Check:` prompts, and for a solver the calculation its sub-question asks, then finish.
    struct Script {
        plan: String,
        verdicts: Vec<&'static str>,
        prompts: Vec<String>,
    }

    impl LanguageModel for Script {
        fn name(&self) -> String {
            "script".into()
        }
        fn complete(&mut self, r: &Request) -> Result<Completion> {
            self.prompts.push(r.prompt.to_string());
            let p = r.prompt;
            let text = if p.starts_with("Plan: ") {
                self.plan.clone()
            } else if p.starts_with("Check: ") {
                let n = self
                    .prompts
                    .iter()
                    .filter(|p| p.starts_with("Check: "))
                    .count();
                format!(" {}", self.verdicts[(n - 1).min(self.verdicts.len() - 1)])
            } else {
                let q = p
                    .lines()
                    .find_map(|l| l.strip_prefix("Question: What is "))
                    .and_then(|l| l.strip_suffix('?'))
                    .unwrap_or("nothing");
                match p.rsplit("Observation: ").next() {
                    // After an error it rambles without an action, to the end of its budget.
                    Some(obs) if obs.starts_with("Error") => " I am stuck.".into(),
                    Some(obs) if p.contains("Observation: ") => {
                        format!(
                            " done\nAction: finish[ {}]",
                            obs.lines().next().unwrap_or("")
                        )
                    }
                    _ => format!(" I calculate.\nAction: calc[ {q}]"),
                }
            };
            Ok(Completion {
                completion_tokens: text.len(),
                prompt_tokens: p.len(),
                stopped: true,
                text,
            })
        }
    }

    fn script(plan: &str, verdicts: &[&'static str]) -> Script {
        Script {
            plan: plan.into(),
            verdicts: verdicts.to_vec(),
            prompts: Vec::new(),
        }
    }

    fn cfg() -> TeamConfig {
        TeamConfig {
            plan_tokens: 32,
            max_sub_questions: 4,
            solver: AgentConfig {
                max_steps: 3,
                step_tokens: 16,
                describe_tools: false,
                constrain: false,
            },
            send_back: true,
        }
    }

    fn tools() -> Vec<Box<dyn Tool>> {
        vec![Box::new(Calc), Box::new(Finish)]
    }

    fn route(r: &TeamRun) -> Vec<String> {
        r.messages
            .iter()
            .map(|m| format!("{}>{}:{}", m.from, m.to, m.kind.label()))
            .collect()
    }

    #[test]
    fn m11_the_planner_solvers_and_verifier_talk_only_over_the_bus() {
        let mut lm = script("1. What is 2 + 3?\n2. What is #1 * 4?", &["yes"]);
        let mut retry = script("", &[]);
        let r = run(
            &mut lm,
            &mut retry,
            &mut tools(),
            "What is (2 + 3) * 4?",
            &cfg(),
            0,
        );
        assert_eq!(r.answer.as_deref(), Some("20"));
        assert_eq!(r.failure, None);
        assert_eq!(
            route(&r),
            [
                "user>planner:task",
                "planner>solver-1:sub-question",
                "solver-1>planner:sub-answer",
                "planner>solver-2:sub-question",
                "solver-2>planner:sub-answer",
                "planner>verifier:check",
                "verifier>planner:verdict",
                "planner>user:answer",
            ]
        );
        // The second solver got the first answer in place of `#1`; the verifier saw the evidence.
        assert_eq!(r.messages[3].text, "What is 5 * 4?");
        let check = &r.messages[5].text;
        assert!(
            check.contains("2 + 3 = 5\n5 * 4 = 20\nAnswer: 20\nVerdict:"),
            "{check}"
        );
        assert_eq!(r.plan, ["What is 2 + 3?", "What is #1 * 4?"]);
        assert!(!r.sent_back && retry.prompts.is_empty());
        // Every model call is on the record: plan, 2 × 2 solver turns, verdict.
        assert_eq!(r.model_calls(), 6);
        assert_eq!(lm.prompts.len(), 6);
    }

    #[test]
    fn m11_a_rejected_answer_is_sent_back_once_to_sampling_solvers() {
        // Rejected, then accepted: the second attempt's answer stands, solved by the retry model.
        let mut lm = script("1. What is 6 / 2?", &["no", "yes"]);
        let mut retry = script("", &[]);
        let r = run(&mut lm, &mut retry, &mut tools(), "Half of 6?", &cfg(), 0);
        assert!(r.sent_back);
        assert_eq!(r.verdicts, [Some(false), Some(true)]);
        assert_eq!(
            retry.prompts.len(),
            2,
            "the retry model ran the second solver"
        );
        assert_eq!(r.answer.as_deref(), Some("3"));
        let kinds: Vec<Kind> = r.messages.iter().map(|m| m.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Check).count(), 2);

        // Rejected twice: sent back only once, and the first answer stands.
        let mut lm = script("1. What is 6 / 2?", &["no", "no"]);
        let mut retry = script("", &[]);
        let r = run(&mut lm, &mut retry, &mut tools(), "Half of 6?", &cfg(), 0);
        assert_eq!(r.verdicts, [Some(false), Some(false)]);
        assert_eq!(r.first_answer.as_deref(), Some("3"));
        assert_eq!(r.answer.as_deref(), Some("3"));

        // Without send-back, one verdict; an unreadable one counts as a rejection.
        let mut c = cfg();
        c.send_back = false;
        let mut lm = script("1. What is 6 / 2?", &["maybe"]);
        let r = run(
            &mut lm,
            &mut script("", &[]),
            &mut tools(),
            "Half of 6?",
            &c,
            0,
        );
        assert_eq!(r.verdicts, [None]);
        assert!(!r.sent_back);
        assert_eq!(r.answer.as_deref(), Some("3"));
    }

    #[test]
    fn m11_an_empty_plan_or_a_failed_solver_ends_cleanly() {
        let mut lm = script("I do not know.", &["yes"]);
        let r = run(&mut lm, &mut script("", &[]), &mut tools(), "q", &cfg(), 0);
        assert_eq!(r.answer, None);
        assert_eq!(r.failure.as_deref(), Some("the plan has no sub-question"));
        assert_eq!(route(&r), ["user>planner:task", "planner>user:answer"]);

        // A solver that cannot answer (division by zero, then no finish within budget): the
        // empty answer is rejected without asking the model, sent back once, and nothing stands.
        let mut lm = script("1. What is 1 / 0?", &["yes"]);
        let mut retry = script("", &[]);
        let r = run(&mut lm, &mut retry, &mut tools(), "q", &cfg(), 0);
        assert_eq!(r.answer, None);
        assert_eq!(r.verdicts, [Some(false), Some(false)]);
        assert!(!lm.prompts.iter().any(|p| p.starts_with("Check: ")));
    }

    #[test]
    fn m11_plans_parse_and_fill_in_earlier_answers() {
        let subs = vec![
            SubQuestion::Fact {
                attribute: "employer".into(),
                subject: "Teeldaar Mys".into(),
            },
            SubQuestion::Fact {
                attribute: "headquarters".into(),
                subject: "#1".into(),
            },
        ];
        let text = plan_text(&subs);
        assert_eq!(
            text,
            "1. What is the employer of Teeldaar Mys?\n2. What is the headquarters of #1?\n\n"
        );
        let parsed = parse_plan(&text, 4);
        assert_eq!(
            parsed,
            subs.iter().map(SubQuestion::text).collect::<Vec<_>>()
        );
        assert_eq!(parse_plan("1. a\nno\n2. b\n3. c", 2), ["a", "b"]);
        assert_eq!(
            substitute(&parsed[1], &["Vurmik Labs".into()]),
            "What is the headquarters of Vurmik Labs?"
        );
        assert_eq!(substitute("#1 and #12", &["x".into()]), "x and x2");
        assert_eq!(parse_verdict(" Yes "), Some(true));
        assert_eq!(parse_verdict("no"), Some(false));
        assert_eq!(parse_verdict("no idea"), None);
    }

    #[test]
    fn m11_the_reading_prompt_is_m8s() {
        use phase3_rag::reader::{prompt, Passage};
        let p = Passage {
            id: "d#0".into(),
            doc_id: "d".into(),
            title: "Vedon Bels".into(),
            text: "He was born in 1971.".into(),
        };
        let line = p.line();
        assert_eq!(
            read_prompt(&[line.trim_end()], "When?"),
            prompt(&[&p], "When?")
        );
        assert_eq!(read_prompt(&[], "When?"), prompt(&[], "When?"));
    }
}
