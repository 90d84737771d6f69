//! The one interface a reader (m8) and an agent (phase 4) talk to a language model through.
//!
//! Two calls: [`LanguageModel::complete`] (continue a prompt, stop sequences, a token budget) is
//! required of every backend; [`LanguageModel::score`] (the log-probability of a given continuation)
//! is a capability a backend may lack — a chat API that returns no log-probabilities cannot offer
//! it — so it answers `Ok(None)` rather than pretending. Our own GPT ([`GptLm`]) has both; a model
//! served over the OpenAI API stands behind the same trait.

use crate::generate::Sampling;
use crate::generator::{Finish, Generator};
use anyhow::{ensure, Result};

/// What a completion asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Request<'a> {
    pub prompt: &'a str,
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// The completion ends before the first of these (which is not part of the text).
    pub stop: &'a [&'a str],
    /// Seeds sampling; the same request and seed give the same text.
    pub seed: u64,
}

/// A completion and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The new text only, cut before the stop sequence.
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// True when a stop sequence ended it, false when the budget did.
    pub stopped: bool,
}

/// `log p(continuation | prompt)` token by token, in nats.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub token_logprobs: Vec<f64>,
}

impl Scored {
    pub fn logprob(&self) -> f64 {
        self.token_logprobs.iter().sum()
    }

    /// Perplexity per token of the continuation: `exp(−logprob / tokens)`.
    pub fn perplexity(&self) -> f64 {
        (-self.logprob() / self.token_logprobs.len().max(1) as f64).exp()
    }
}

/// A language model as a reader or an agent sees it.
pub trait LanguageModel {
    /// Short name for records and tables.
    fn name(&self) -> String;

    /// Continues `request.prompt`.
    fn complete(&mut self, request: &Request) -> Result<Completion>;

    /// The log-probability of `continuation` right after `prompt`; `Ok(None)` when this backend
    /// cannot score (the capability is optional).
    fn score(&mut self, prompt: &str, continuation: &str) -> Result<Option<Scored>> {
        let _ = (prompt, continuation);
        Ok(None)
    }

    /// Greedy decoding restricted to `allowed`: the continuation of `request.prompt` that spells one
    /// of `allowed` followed by `end` (the text returned stops before `end`). `Ok(None)` when this
    /// backend cannot constrain its decoding (the capability is optional); `request.stop` and
    /// `request.seed` are not used.
    fn complete_within(
        &mut self,
        request: &Request,
        allowed: &[String],
        end: &str,
    ) -> Result<Option<Completion>> {
        let _ = (request, allowed, end);
        Ok(None)
    }

    /// Tokens `text` takes in this model's vocabulary (for prompt budgets), when it knows.
    fn count_tokens(&self, text: &str) -> Option<usize> {
        let _ = text;
        None
    }

    /// The longest prompt + completion the model reads, in tokens, when it knows.
    fn context_tokens(&self) -> Option<usize> {
        None
    }
}

/// Phase 2's GPT behind the trait, through its [`Generator`] (the hand-written engine with a KV
/// cache). Greedy unless built with other sampling.
pub struct GptLm<'w> {
    name: String,
    generator: Generator<'w>,
}

impl<'w> GptLm<'w> {
    pub fn new(name: impl Into<String>, generator: Generator<'w>) -> GptLm<'w> {
        GptLm {
            name: name.into(),
            generator,
        }
    }

    /// Greedy decoding: what the reader is evaluated with (exact match needs the argmax answer).
    pub fn greedy() -> Sampling {
        Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        }
    }

    pub fn generator(&mut self) -> &mut Generator<'w> {
        &mut self.generator
    }
}

impl LanguageModel for GptLm<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn complete(&mut self, r: &Request) -> Result<Completion> {
        ensure!(r.max_tokens > 0, "max_tokens must be > 0");
        let c = self
            .generator
            .complete(r.prompt, r.max_tokens, r.stop, r.seed)?;
        Ok(Completion {
            completion_tokens: c.tokens.len(),
            prompt_tokens: c.prompt_tokens,
            stopped: c.finish == Finish::Stop,
            text: c.text,
        })
    }

    fn score(&mut self, prompt: &str, continuation: &str) -> Result<Option<Scored>> {
        let s = self.generator.score(prompt, continuation)?;
        Ok(Some(Scored {
            token_logprobs: s.token_logprobs,
        }))
    }

    fn complete_within(
        &mut self,
        r: &Request,
        allowed: &[String],
        end: &str,
    ) -> Result<Option<Completion>> {
        let c = self
            .generator
            .complete_within(r.prompt, allowed, end, r.max_tokens)?;
        Ok(Some(Completion {
            completion_tokens: c.tokens.len(),
            prompt_tokens: c.prompt_tokens,
            stopped: c.finish == Finish::Stop,
            text: c.text,
        }))
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        use crate::tokenizer::Tokenizer;
        Some(self.generator.tokenizer().encode(text).len())
    }

    fn context_tokens(&self) -> Option<usize> {
        Some(self.generator.config().block_size)
    }
}
