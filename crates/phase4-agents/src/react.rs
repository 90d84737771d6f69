//! The agent loop (ReAct: Yao et al., 2023): the model writes a thought and an action, a tool
//! answers with an observation, and the transcript grows until the model calls `finish` or a
//! budget runs out.
//!
//! ```text
//! Tools: search[query], calc[expression], finish[answer]
//! Question: In which city is Teeldaar Mys's employer based?
//! Thought: I need the employer of Teeldaar Mys.          ← written by the model
//! Action: search[Teeldaar Mys]                           ← written by the model
//! Observation: * Teeldaar Mys: … She has a job at Vurmik Lab Systems. …
//! Thought: …
//! Action: finish[Klussamdal]
//! ```
//!
//! Each call continues the transcript after `Thought:` and stops at `\nObservation:`; the first
//! `Action:` line of what it wrote is the action. Everything a model can get wrong becomes either an
//! observation it reads on the next step — no `Action:` line, an action not shaped `tool[argument]`,
//! an unknown tool, a tool's own error — or a clean end of the episode: the step budget spent, the
//! context full, the model failing. Nothing panics.
//!
//! The trace keeps each step's model output, parsed action, observation and token counts; the prompt
//! of step n is the episode's opening followed by steps 0..n, exactly ([`Episode::prompt_of`]).

use std::time::Instant;

use phase2_lm::lm::{LanguageModel, Request};
use serde::{Deserialize, Serialize};

use crate::tools::Tool;

/// What ends a model's turn: the observation is the tool's to write.
pub const STOPS: &[&str] = &["\nObservation:", "\n\n"];

/// How an agent runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Model turns at most.
    pub max_steps: usize,
    /// Tokens a model turn may write.
    pub step_tokens: usize,
    /// Describe each tool in a line of its own (for models that read long prompts); otherwise one
    /// line lists them as `name[argument]`.
    #[serde(default)]
    pub describe_tools: bool,
    /// Constrained decoding of actions: the argument of a tool that takes a span (`search`,
    /// `finish`) is decoded again, greedy, restricted to the spans of the question and of the
    /// observations so far ([`spans`]), where the model can constrain its decoding.
    #[serde(default)]
    pub constrain: bool,
}

/// A parsed action: `tool[argument]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub tool: String,
    pub argument: String,
}

/// One turn: what the model wrote, what it meant, what came back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The model's text after `Thought:`, as written (it goes into the transcript verbatim).
    pub output: String,
    pub thought: String,
    /// None when the output held no well-formed action.
    pub action: Option<Action>,
    /// The tool's answer, or `Error: …` (for a finishing step, the answer).
    pub observation: String,
    /// Whether the observation is an error (malformed action, unknown tool, tool error).
    pub error: bool,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// How an episode ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// `finish[answer]` was called.
    Finished,
    /// `max_steps` turns without `finish`.
    Budget,
    /// The transcript no longer fits the model's context with a turn's tokens.
    ContextFull,
    /// The model call itself failed.
    ModelError(String),
}

/// One question, start to end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The opening: the tool line(s) and the question.
    pub opening: String,
    pub steps: Vec<Step>,
    pub answer: Option<String>,
    pub end: End,
    /// Wall time of each model call (ms): a timing, kept out of the reproducible trace.
    #[serde(skip)]
    pub latencies_ms: Vec<f64>,
}

impl Episode {
    /// The exact prompt the model was given at step `n`.
    pub fn prompt_of(&self, n: usize) -> String {
        let mut p = self.opening.clone();
        for s in &self.steps[..n] {
            p.push_str(&turn(s));
        }
        p.push_str("Thought:");
        p
    }

    /// The whole transcript.
    pub fn transcript(&self) -> String {
        let mut p = self.opening.clone();
        for s in &self.steps {
            p.push_str(&turn(s));
        }
        p
    }

    pub fn tokens(&self) -> usize {
        self.steps
            .iter()
            .map(|s| s.prompt_tokens + s.completion_tokens)
            .sum()
    }

    pub fn tool_errors(&self) -> usize {
        self.steps.iter().filter(|s| s.error).count()
    }
}

/// A step as the transcript shows it.
fn turn(s: &Step) -> String {
    format!("Thought:{}\nObservation: {}\n", s.output, s.observation)
}

/// The lines that open every prompt: the tools, then the question.
pub fn opening(tools: &[Box<dyn Tool>], question: &str, describe: bool) -> String {
    let mut s = String::new();
    if describe {
        s.push_str("Tools:\n");
        for t in tools {
            s.push_str(&format!(
                "- {}[{}]: {}\n",
                t.name(),
                t.argument(),
                t.description()
            ));
        }
    } else {
        let list: Vec<String> = tools
            .iter()
            .map(|t| format!("{}[{}]", t.name(), t.argument()))
            .collect();
        s.push_str(&format!("Tools: {}\n", list.join(", ")));
    }
    s.push_str(&format!("Question: {}\n", question.trim()));
    s
}

/// An action as a transcript writes it. `spaced` puts a space after the bracket — `finish[ Hy
/// Labs]` — so a name in an argument tokenizes as it does in running text (` Hy`, ` Labs`): a
/// byte-level BPE learned on documents splits `[Hy` into pieces the model rarely saw. [`parse`]
/// trims the argument, so both forms read the same.
pub fn action_text(tool: &str, argument: &str, spaced: bool) -> String {
    if spaced {
        format!("{tool}[ {argument}]")
    } else {
        format!("{tool}[{argument}]")
    }
}

/// The thought and the action of a model's turn; the action is Err with what to fix when the
/// output holds none that is well formed.
pub fn parse(output: &str) -> (String, Result<Action, String>) {
    let Some(at) = output.find("Action:") else {
        return (
            output.trim().to_string(),
            Err("no `Action:` line; write `Action: tool[argument]`".into()),
        );
    };
    let thought = output[..at].trim().to_string();
    let line = output[at + "Action:".len()..]
        .lines()
        .next()
        .unwrap_or("")
        .trim();
    let shaped = line
        .find('[')
        .filter(|_| line.ends_with(']'))
        .map(|open| (&line[..open], &line[open + 1..line.len() - 1]));
    match shaped {
        Some((tool, argument))
            if !tool.trim().is_empty()
                && tool
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            (
                thought,
                Ok(Action {
                    tool: tool.trim().to_string(),
                    argument: argument.trim().to_string(),
                }),
            )
        }
        _ => (
            thought,
            Err(format!(
                "`{}` is not an action; write `tool[argument]`",
                line.chars().take(80).collect::<String>()
            )),
        ),
    }
}

/// Runs one episode of `lm` with `tools` on `question`. Sampling is seeded by `seed` (and the step).
pub fn run(
    lm: &mut dyn LanguageModel,
    tools: &mut [Box<dyn Tool>],
    question: &str,
    cfg: &AgentConfig,
    seed: u64,
) -> Episode {
    let mut ep = Episode {
        opening: opening(tools, question, cfg.describe_tools),
        steps: Vec::new(),
        answer: None,
        end: End::Budget,
        latencies_ms: Vec::new(),
    };
    let names: Vec<&'static str> = tools.iter().map(|t| t.name()).collect();
    for n in 0..cfg.max_steps {
        let prompt = ep.prompt_of(n);
        if let (Some(context), Some(used)) = (lm.context_tokens(), lm.count_tokens(&prompt)) {
            if used + cfg.step_tokens > context {
                ep.end = End::ContextFull;
                return ep;
            }
        }
        let t0 = Instant::now();
        let completion = match lm.complete(&Request {
            prompt: &prompt,
            max_tokens: cfg.step_tokens,
            stop: STOPS,
            seed: seed.wrapping_add(n as u64),
        }) {
            Ok(c) => c,
            Err(e) => {
                ep.end = End::ModelError(format!("{e:#}"));
                return ep;
            }
        };
        // The transcript keeps the turn on one line per field: a model that wrote a blank line
        // ended its turn there.
        let mut output = completion.text.trim_end().to_string();
        let (mut prompt_tokens, mut completion_tokens) =
            (completion.prompt_tokens, completion.completion_tokens);
        if cfg.constrain {
            match constrain_argument(lm, &prompt, &output, tools, &ep, question, cfg.step_tokens) {
                Ok(Some((constrained, c))) => {
                    output = constrained;
                    prompt_tokens += c.prompt_tokens;
                    completion_tokens += c.completion_tokens;
                }
                Ok(None) => {}
                Err(e) => {
                    ep.end = End::ModelError(format!("{e:#}"));
                    return ep;
                }
            }
        }
        ep.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let (thought, action) = parse(&output);
        let (observation, error, ends) = match &action {
            Err(why) => (format!("Error: {why}"), true, false),
            Ok(a) => match tools.iter_mut().find(|t| t.name() == a.tool) {
                None => (
                    format!(
                        "Error: unknown tool `{}`; the tools are {}",
                        a.tool,
                        names.join(", ")
                    ),
                    true,
                    false,
                ),
                Some(tool) => match tool.call(&a.argument) {
                    Ok(text) => (text, false, tool.ends()),
                    Err(e) => (format!("Error: {e}"), true, false),
                },
            },
        };
        ep.steps.push(Step {
            output,
            thought,
            action: action.ok(),
            observation: observation.clone(),
            error,
            prompt_tokens,
            completion_tokens,
        });
        if ends {
            ep.answer = Some(observation);
            ep.end = End::Finished;
            return ep;
        }
    }
    ep.end = End::Budget;
    ep
}

/// Longest span, in words, constrained decoding allows (the world's longest name has four).
pub const MAX_SPAN_WORDS: usize = 6;

/// Every run of at most [`MAX_SPAN_WORDS`] words of `text` that crosses no punctuation: a word's
/// leading and trailing punctuation is trimmed, and a word that ended in punctuation ends the run.
pub fn spans(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<(&str, bool)> = line
            .split_whitespace()
            .map(|w| {
                let core = w.trim_matches(|c: char| !c.is_alphanumeric());
                let ends_run = w.ends_with(|c: char| !c.is_alphanumeric());
                (core, ends_run)
            })
            .collect();
        for start in 0..words.len() {
            let mut span = String::new();
            for &(word, ends_run) in words[start..].iter().take(MAX_SPAN_WORDS) {
                if word.is_empty() {
                    break;
                }
                if !span.is_empty() {
                    span.push(' ');
                }
                span.push_str(word);
                out.push(span.clone());
                if ends_run {
                    break;
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// With constrained decoding: when `output`'s action names a tool that takes a span, decode its
/// argument again restricted to the spans of the question and of the episode's observations
/// (each also with a leading space, as `finish[ Hy Labs]` writes it). Returns the new output and
/// the constrained call's cost; None when nothing is constrained or the model cannot be.
fn constrain_argument(
    lm: &mut dyn LanguageModel,
    prompt: &str,
    output: &str,
    tools: &[Box<dyn Tool>],
    ep: &Episode,
    question: &str,
    max_tokens: usize,
) -> anyhow::Result<Option<(String, phase2_lm::lm::Completion)>> {
    let Some(at) = output.find("Action:") else {
        return Ok(None);
    };
    let line_end = output[at..].find('\n').map_or(output.len(), |i| at + i);
    let Some(open) = output[at..line_end].find('[').map(|i| at + i) else {
        return Ok(None);
    };
    let tool = output[at + "Action:".len()..open].trim();
    if !tools.iter().any(|t| t.name() == tool && t.takes_a_span()) {
        return Ok(None);
    }
    let mut text = question.to_string();
    for s in ep.steps.iter().filter(|s| !s.error) {
        text.push('\n');
        text.push_str(&s.observation);
    }
    let allowed: Vec<String> = spans(&text)
        .into_iter()
        .flat_map(|s| [format!(" {s}"), s])
        .collect();
    let head = &output[..=open];
    let request = Request {
        prompt: &format!("{prompt}{head}"),
        max_tokens,
        stop: &[],
        seed: 0,
    };
    Ok(lm
        .complete_within(&request, &allowed, "]")?
        .map(|c| (format!("{head}{}]", c.text), c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{names, Calc, Finish};
    use anyhow::Result;
    use phase2_lm::lm::Completion;

    /// A model that answers from a script, one output per call, and counts its calls.
    struct Scripted {
        outputs: Vec<String>,
        prompts: Vec<String>,
        context: Option<usize>,
    }

    impl LanguageModel for Scripted {
        fn name(&self) -> String {
            "scripted".into()
        }
        fn complete(&mut self, r: &Request) -> Result<Completion> {
            self.prompts.push(r.prompt.to_string());
            let i = self.prompts.len() - 1;
            let text = self.outputs.get(i).cloned().unwrap_or_default();
            Ok(Completion {
                completion_tokens: text.len(),
                text,
                prompt_tokens: r.prompt.len(),
                stopped: true,
            })
        }
        fn count_tokens(&self, text: &str) -> Option<usize> {
            Some(text.len())
        }
        fn context_tokens(&self) -> Option<usize> {
            self.context
        }
    }

    fn tools() -> Vec<Box<dyn Tool>> {
        vec![Box::new(Calc), Box::new(Finish)]
    }

    /// Constrains by picking the longest allowed string that starts with `pick`, and keeps what it
    /// was offered.
    struct Constrained {
        inner: Scripted,
        pick: String,
        offered: Vec<(String, Vec<String>)>,
    }

    impl LanguageModel for Constrained {
        fn name(&self) -> String {
            "constrained".into()
        }
        fn complete(&mut self, r: &Request) -> Result<Completion> {
            self.inner.complete(r)
        }
        fn complete_within(
            &mut self,
            r: &Request,
            allowed: &[String],
            end: &str,
        ) -> Result<Option<Completion>> {
            assert_eq!(end, "]");
            self.offered.push((r.prompt.to_string(), allowed.to_vec()));
            let text = allowed
                .iter()
                .filter(|a| a.starts_with(&self.pick))
                .max_by_key(|a| a.len())
                .cloned()
                .unwrap_or_default();
            Ok(Some(Completion {
                completion_tokens: 2,
                text,
                prompt_tokens: 7,
                stopped: true,
            }))
        }
    }

    #[test]
    fn m12_spans_are_word_runs_that_cross_no_punctuation() {
        let s = spans("Hy Labs, a firm in Vurmik City. Founded 1987.");
        for want in [
            "Hy",
            "Hy Labs",
            "a firm in Vurmik City",
            "Vurmik City",
            "1987",
            "Founded 1987",
        ] {
            assert!(s.contains(&want.to_string()), "{want} missing from {s:?}");
        }
        for not in ["Labs, a", "Labs a", "City Founded", "Labs,", "1987."] {
            assert!(!s.contains(&not.to_string()), "{not} in {s:?}");
        }
        assert!(s.iter().all(|x| x.split(' ').count() <= MAX_SPAN_WORDS));
    }

    #[test]
    fn m12_constrained_decoding_rewrites_a_span_argument_and_leaves_calc_alone() {
        let mut lm = Constrained {
            inner: scripted(&[
                " add\nAction: calc[2 + 2]",
                " done\nAction: finish[ the numbr four]",
            ]),
            pick: " 4".into(),
            offered: Vec::new(),
        };
        let mut c = cfg(3);
        c.constrain = true;
        let ep = run(&mut lm, &mut tools(), "What is two plus two?", &c, 0);
        // calc's expression is not a span: decoded once, freely.
        assert_eq!(ep.steps[0].output, " add\nAction: calc[2 + 2]");
        assert_eq!(lm.offered.len(), 1);
        let (prompt, allowed) = &lm.offered[0];
        assert!(
            prompt.ends_with("Thought: done\nAction: finish["),
            "{prompt}"
        );
        // The question's spans and calc's observation, each with and without a leading space.
        for a in ["What is two", " two plus two", "4", " 4"] {
            assert!(allowed.contains(&a.to_string()), "{a} not offered");
        }
        assert!(!allowed.iter().any(|a| a.contains("numbr")));
        assert_eq!(ep.steps[1].output, " done\nAction: finish[ 4]");
        assert_eq!(ep.answer.as_deref(), Some("4"));
        // The second call's cost is counted.
        let free = " done\nAction: finish[ the numbr four]".len();
        assert_eq!(ep.steps[1].completion_tokens, free + 2);
        // Without the capability nothing changes.
        let mut plain = scripted(&[" done\nAction: finish[ the numbr four]"]);
        let ep = run(&mut plain, &mut tools(), "q", &c, 0);
        assert_eq!(ep.answer.as_deref(), Some("the numbr four"));
    }

    fn cfg(max_steps: usize) -> AgentConfig {
        AgentConfig {
            max_steps,
            step_tokens: 16,
            describe_tools: false,
            constrain: false,
        }
    }

    fn scripted(outputs: &[&str]) -> Scripted {
        Scripted {
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            prompts: Vec::new(),
            context: None,
        }
    }

    #[test]
    fn m10_parse_reads_the_first_action_and_names_what_is_wrong() {
        let (t, a) = parse(" I need it.\nAction: calc[2 + 2]");
        assert_eq!(t, "I need it.");
        assert_eq!(
            a,
            Ok(Action {
                tool: names::CALC.into(),
                argument: "2 + 2".into()
            })
        );
        let (_, a) = parse(" x\nAction: finish[a [b] c]\nAction: calc[1]");
        assert_eq!(a.unwrap().argument, "a [b] c");
        // The spaced form reads the same.
        let (_, a) = parse(&format!(
            " x\nAction: {}",
            action_text(names::FINISH, "Hy Labs", true)
        ));
        assert_eq!(a.unwrap().argument, "Hy Labs");
        assert!(parse(" just talking")
            .1
            .unwrap_err()
            .contains("no `Action:`"));
        assert!(parse(" t\nAction: calc 2+2")
            .1
            .unwrap_err()
            .contains("not an action"));
        assert!(parse(" t\nAction: [2]")
            .1
            .unwrap_err()
            .contains("not an action"));
        assert!(parse(" t\nAction: rm -rf[/]")
            .1
            .unwrap_err()
            .contains("not an action"));
        assert!(parse(" t\nAction: calc[2").1.is_err());
    }

    #[test]
    fn m10_a_malformed_output_becomes_an_observation_and_the_agent_recovers() {
        let mut lm = scripted(&[
            " hmm",
            " t\nAction: shell[ls]",
            " t\nAction: calc[1/0]",
            " t\nAction: calc(3)",
            " t\nAction: calc[40 + 2]",
            " done\nAction: finish[42]",
        ]);
        let ep = run(&mut lm, &mut tools(), "What is 40 + 2?", &cfg(8), 0);
        assert_eq!(ep.end, End::Finished);
        assert_eq!(ep.answer.as_deref(), Some("42"));
        let obs: Vec<&str> = ep.steps.iter().map(|s| s.observation.as_str()).collect();
        assert!(obs[0].starts_with("Error: no `Action:`"), "{obs:?}");
        assert!(obs[1].contains("unknown tool `shell`"), "{obs:?}");
        assert!(obs[2].contains("division by zero"), "{obs:?}");
        assert!(obs[3].contains("not an action"), "{obs:?}");
        assert_eq!(obs[4], "42");
        assert_eq!(ep.tool_errors(), 4);
        // Every prompt the model saw is the trace's reconstruction, and each shows the last error.
        for (n, p) in lm.prompts.iter().enumerate() {
            assert_eq!(p, &ep.prompt_of(n));
        }
        assert!(lm.prompts[1].contains("Observation: Error: no `Action:`"));
        assert!(lm.prompts[0].starts_with(
            "Tools: calc[expression], finish[answer]\nQuestion: What is 40 + 2?\nThought:"
        ));
    }

    #[test]
    fn m10_the_loop_stops_at_its_budget_and_when_the_context_is_full() {
        let mut lm = scripted(&[" t\nAction: calc[1]"; 10]);
        let ep = run(&mut lm, &mut tools(), "q", &cfg(3), 0);
        assert_eq!(ep.end, End::Budget);
        assert_eq!(ep.steps.len(), 3);
        assert_eq!(lm.prompts.len(), 3);
        assert_eq!(ep.answer, None);

        let mut lm = scripted(&[" t\nAction: calc[1]"; 10]);
        lm.context = Some(120);
        let ep = run(&mut lm, &mut tools(), "q", &cfg(10), 0);
        assert_eq!(ep.end, End::ContextFull);
        assert!(!ep.steps.is_empty() && ep.steps.len() < 10);
        assert!(ep.prompt_of(ep.steps.len()).len() + 16 > 120);

        // A model that never calls finish, and one with nothing to say.
        let mut lm = scripted(&[]);
        let ep = run(&mut lm, &mut tools(), "q", &cfg(2), 0);
        assert_eq!(ep.end, End::Budget);
        assert!(ep.steps.iter().all(|s| s.error));
    }
}
