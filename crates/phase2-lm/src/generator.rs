//! [`Generator`]: one trained GPT ready for inference — its weights, its tokenizer and its sampling
//! settings — built once from a checkpoint or from a trainer. What phases 3 and 4 call: continue a
//! prompt (with stop sequences and a token budget), the next token's log-probabilities, and the
//! log-probability of a given continuation (how answers are scored).
//!
//! It runs on the hand-written engine ([`crate::fast`]) with its KV cache, over the same flat weight
//! vector the trainer trains: built from a trainer it borrows that vector, built from a checkpoint it
//! owns the one it loaded; no call copies it.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fast::{FastGpt, FastKvCache};
use crate::generate::{decode_with, fast_scores, sample_token, Sampling};
use crate::model::GptConfig;
use crate::tokenizer::{AnyTokenizer, Tokenizer};
use crate::train::Trainer;

/// A model, its tokenizer and how to sample from it. `'w` is the lifetime of borrowed weights
/// ([`Generator::from_trainer`]); a generator that owns its weights is a `Generator<'static>`.
pub struct Generator<'w> {
    params: Cow<'w, [f32]>,
    engine: FastGpt,
    cache: FastKvCache,
    tokenizer: AnyTokenizer,
    /// How [`Generator::complete`] draws each token.
    pub sampling: Sampling,
    /// Decode with the KV cache (the default). Off: a full forward pass over the window for every
    /// token — the same numbers, slower; kept as the baseline the cache is measured against.
    pub use_cache: bool,
}

/// A checkpoint loaded once for inference: the model's shape, its flat weights and its tokenizer.
/// Any number of [`Generator`]s borrow the weights ([`Loaded::generator`]), each with its own KV
/// cache: how the server shares one model across requests and an agent across workers.
pub struct Loaded {
    pub config: GptConfig,
    /// Flat, in [`crate::fast::Offsets`] layout.
    pub params: Vec<f32>,
    pub tokenizer: AnyTokenizer,
}

impl Loaded {
    /// The model saved in a checkpoint directory ([`crate::checkpoint`]).
    pub fn load(dir: &Path) -> Result<Loaded> {
        let (run, params, tokenizer) = crate::checkpoint::load_weights(dir)?;
        Ok(Loaded {
            config: run.model,
            params,
            tokenizer,
        })
    }

    /// A generator over the shared weights (its own KV cache), sampling as given.
    pub fn generator(&self, sampling: Sampling) -> Result<Generator<'_>> {
        Generator::new(
            &self.config,
            &self.params[..],
            self.tokenizer.clone(),
            sampling,
        )
    }
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A stop sequence appeared (it is not part of the text).
    Stop,
    /// The token budget ran out.
    Length,
    /// The caller's text callback asked to stop (a streaming client went away).
    Cancelled,
}

/// What [`Generator::complete`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The new text only (not the prompt), cut before the first stop sequence.
    pub text: String,
    /// The tokens generated (all of them, including any that spelled the stop sequence).
    pub tokens: Vec<u32>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    pub finish: Finish,
}

/// The log-probability of a continuation, token by token.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The continuation's tokens.
    pub tokens: Vec<u32>,
    /// `log p(token_i | prompt, token_<i)` in nats, one per token.
    pub token_logprobs: Vec<f64>,
}

impl Score {
    /// `log p(continuation | prompt)`: the sum of the per-token log-probabilities.
    pub fn logprob(&self) -> f64 {
        self.token_logprobs.iter().sum()
    }

    /// `exp(−logprob / tokens)`: the continuation's perplexity per token.
    pub fn perplexity(&self) -> f64 {
        (-self.logprob() / self.tokens.len() as f64).exp()
    }
}

/// How much of `text` (a completion so far) can be handed out: all of it but a tail that is the
/// start of a stop sequence (it may yet become one) or ends in U+FFFD (a character whose bytes
/// are split across tokens decodes to it until its last byte comes).
fn settled(text: &str, stop: &[&str]) -> usize {
    let mut end = text.len();
    for s in stop {
        // The longest proper prefix of `s` that `text` ends with.
        let cuts: Vec<usize> = s.char_indices().skip(1).map(|(i, _)| i).collect();
        for &i in cuts.iter().rev() {
            if text.ends_with(&s[..i]) {
                end = end.min(text.len() - i);
                break;
            }
        }
    }
    let trimmed = text[..end].trim_end_matches('\u{FFFD}');
    trimmed.len()
}

impl<'w> Generator<'w> {
    /// A generator over flat weights (in [`crate::fast::Offsets`] layout, as [`Trainer::params`] and
    /// [`crate::checkpoint::load_weights`] give them), owned (`Vec<f32>`) or borrowed (`&[f32]`).
    pub fn new(
        model: &GptConfig,
        params: impl Into<Cow<'w, [f32]>>,
        tokenizer: AnyTokenizer,
        sampling: Sampling,
    ) -> Result<Generator<'w>> {
        let params = params.into();
        sampling.validate()?;
        let engine = FastGpt::new(model, 1)?;
        ensure!(
            params.len() == engine.off.total(),
            "{} weights given, the model has {}",
            params.len(),
            engine.off.total()
        );
        ensure!(
            tokenizer.vocab_size() == model.vocab_size,
            "the tokenizer has {} tokens, the model {}",
            tokenizer.vocab_size(),
            model.vocab_size
        );
        Ok(Generator {
            params,
            cache: FastKvCache::new(model),
            engine,
            tokenizer,
            sampling,
            use_cache: true,
        })
    }

    /// The model saved in a checkpoint directory ([`crate::checkpoint`]).
    pub fn from_checkpoint(dir: &Path, sampling: Sampling) -> Result<Generator<'static>> {
        let (cfg, params, tokenizer) = crate::checkpoint::load_weights(dir)?;
        Generator::new(&cfg.model, params, tokenizer, sampling)
            .with_context(|| format!("checkpoint {}", dir.display()))
    }

    /// The trainer's current weights, borrowed (the trainer cannot step while the generator lives).
    pub fn from_trainer(
        trainer: &'w Trainer,
        tokenizer: AnyTokenizer,
        sampling: Sampling,
    ) -> Result<Generator<'w>> {
        Generator::new(&trainer.cfg.model, trainer.params(), tokenizer, sampling)
    }

    pub fn tokenizer(&self) -> &AnyTokenizer {
        &self.tokenizer
    }

    pub fn config(&self) -> &GptConfig {
        &self.engine.cfg
    }

    /// The weights (flat, [`crate::fast::Offsets`] layout).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    fn encode(&self, what: &str, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .try_encode(text)
            .with_context(|| format!("encoding the {what}"))
    }

    /// Continue `prompt` by at most `max_tokens` tokens drawn with [`Generator::sampling`] from a
    /// stream seeded with `seed` (the same seed gives the same text), stopping early where the new
    /// text contains one of `stop`.
    pub fn complete(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        stop: &[&str],
        seed: u64,
    ) -> Result<Completion> {
        self.complete_with(prompt, max_tokens, stop, seed, |_| true)
    }

    /// [`Generator::complete`], handing the text to `on_text` as it is generated: the pieces
    /// concatenate to the returned text exactly. A piece is held back while it could still turn
    /// into a stop sequence or is the first part of a character split across tokens, so no
    /// stop-sequence text and no broken character is ever handed out. `on_text` returning `false`
    /// ends the completion ([`Finish::Cancelled`]).
    pub fn complete_with(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        stop: &[&str],
        seed: u64,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Completion> {
        self.sampling.validate()?;
        let ids = self.encode("prompt", prompt)?;
        if stop.iter().any(|s| s.is_empty()) {
            bail!("stop sequences must not be empty");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (s, tokenizer) = (self.sampling, &self.tokenizer);
        let mut tokens = Vec::with_capacity(max_tokens);
        let mut text = String::new();
        let mut sent = 0;
        let mut finish = Finish::Length;
        decode_with(
            self.engine.cfg.block_size,
            &ids,
            max_tokens,
            fast_scores(
                &mut self.engine,
                &self.params,
                &mut self.cache,
                self.use_cache,
            ),
            |_, scores| {
                let tok = sample_token(&scores, &s, &mut rng);
                tokens.push(tok);
                text = tokenizer.decode(&tokens);
                if let Some(at) = stop.iter().filter_map(|s| text.find(s)).min() {
                    text.truncate(at);
                    finish = Finish::Stop;
                    return Ok(None);
                }
                let safe = settled(&text, stop).max(sent);
                if safe > sent {
                    let keep_going = on_text(&text[sent..safe]);
                    sent = safe;
                    if !keep_going {
                        finish = Finish::Cancelled;
                        return Ok(None);
                    }
                }
                Ok(Some(tok))
            },
        )?;
        if finish != Finish::Cancelled && text.len() > sent {
            on_text(&text[sent..]);
        }
        Ok(Completion {
            text,
            tokens,
            prompt_tokens: ids.len(),
            finish,
        })
    }

    /// Greedy decoding restricted to a set of strings (constrained decoding, as llama.cpp's grammars
    /// or outlines do it, over a plain list): the continuation of `prompt` that spells one of
    /// `allowed` and then `end`. Each step takes the most likely token that keeps the text a prefix
    /// of an allowed string, or that completes one and starts `end`; the returned text is the
    /// allowed string without `end`. Stops after `max_tokens` tokens with the prefix reached (an
    /// allowed string not yet complete, or empty when `allowed` is).
    pub fn complete_within(
        &mut self,
        prompt: &str,
        allowed: &[String],
        end: &str,
        max_tokens: usize,
    ) -> Result<Completion> {
        ensure!(
            !end.is_empty(),
            "the end of a constrained completion must not be empty"
        );
        let ids = self.encode("prompt", prompt)?;
        let allowed = Allowed::new(allowed);
        let tokenizer = &self.tokenizer;
        let mut tokens: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut finish = Finish::Length;
        decode_with(
            self.engine.cfg.block_size,
            &ids,
            max_tokens,
            fast_scores(
                &mut self.engine,
                &self.params,
                &mut self.cache,
                self.use_cache,
            ),
            |_, scores| {
                let mut order: Vec<u32> = (0..scores.len() as u32).collect();
                order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
                tokens.push(0);
                for tok in order {
                    *tokens.last_mut().expect("pushed") = tok;
                    let candidate = tokenizer.decode(&tokens);
                    if let Some(done) = allowed.completed(&candidate, end) {
                        text = done.to_string();
                        finish = Finish::Stop;
                        return Ok(None);
                    }
                    if allowed.continues(&candidate) {
                        text = candidate;
                        return Ok(Some(tok));
                    }
                }
                tokens.pop();
                Ok(None)
            },
        )?;
        Ok(Completion {
            text,
            tokens,
            prompt_tokens: ids.len(),
            finish,
        })
    }

    /// The prompt's own tokens and, for each token after the first, its log-probability given the
    /// tokens before it (the first has no context to be scored in). What an OpenAI-style `echo` with
    /// `logprobs` returns.
    pub fn prompt_logprobs(&mut self, prompt: &str) -> Result<Score> {
        let ids = self.encode("prompt", prompt)?;
        ensure!(!ids.is_empty(), "the prompt to score is empty");
        let mut token_logprobs = Vec::with_capacity(ids.len() - 1);
        if ids.len() > 1 {
            decode_with(
                self.engine.cfg.block_size,
                &ids[..1],
                ids.len() - 1,
                fast_scores(
                    &mut self.engine,
                    &self.params,
                    &mut self.cache,
                    self.use_cache,
                ),
                |i, scores| {
                    token_logprobs.push(scores[ids[i + 1] as usize] as f64);
                    Ok(Some(ids[i + 1]))
                },
            )?;
        }
        Ok(Score {
            tokens: ids,
            token_logprobs,
        })
    }

    /// Log-probabilities (nats) of every possible next token after `prompt`.
    pub fn next_token_logprobs(&mut self, prompt: &str) -> Result<Vec<f32>> {
        let ids = self.encode("prompt", prompt)?;
        let mut out = Vec::new();
        decode_with(
            self.engine.cfg.block_size,
            &ids,
            1,
            fast_scores(
                &mut self.engine,
                &self.params,
                &mut self.cache,
                self.use_cache,
            ),
            |_, scores| {
                out = scores;
                Ok(None)
            },
        )?;
        Ok(out)
    }

    /// The log-probability of `continuation` right after `prompt`, token by token. Prompt and
    /// continuation are tokenized separately, so the continuation's tokens are the same whatever
    /// prompt it follows. Contexts longer than the model's block follow the window rule of
    /// [`crate::generate`].
    pub fn score(&mut self, prompt: &str, continuation: &str) -> Result<Score> {
        let ids = self.encode("prompt", prompt)?;
        let cont = self.encode("continuation", continuation)?;
        if cont.is_empty() {
            bail!("the continuation to score is empty");
        }
        let mut token_logprobs = Vec::with_capacity(cont.len());
        decode_with(
            self.engine.cfg.block_size,
            &ids,
            cont.len(),
            fast_scores(
                &mut self.engine,
                &self.params,
                &mut self.cache,
                self.use_cache,
            ),
            |i, scores| {
                token_logprobs.push(scores[cont[i] as usize] as f64);
                Ok(Some(cont[i]))
            },
        )?;
        Ok(Score {
            tokens: cont,
            token_logprobs,
        })
    }
}

/// The strings a constrained completion may spell, sorted for prefix search.
struct Allowed(Vec<String>);

impl Allowed {
    fn new(allowed: &[String]) -> Allowed {
        let mut v = allowed.to_vec();
        v.sort();
        v.dedup();
        Allowed(v)
    }

    /// Whether `text` is a prefix of an allowed string (not yet followed by the end).
    fn continues(&self, text: &str) -> bool {
        let at = self.0.partition_point(|a| a.as_str() < text);
        self.0.get(at).is_some_and(|a| a.starts_with(text))
    }

    /// The allowed string `text` completes, when `text` is one followed by the start of `end` (a
    /// token may carry more than the end's first characters).
    fn completed<'a>(&'a self, text: &str, end: &str) -> Option<&'a str> {
        let first = end.chars().next()?;
        text.match_indices(first).find_map(|(at, _)| {
            let (head, tail) = text.split_at(at);
            let starts_end = end.starts_with(tail) || tail.starts_with(end);
            let found = self.0.binary_search_by(|a| a.as_str().cmp(head)).ok()?;
            starts_end.then(|| self.0[found].as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::settled;

    #[test]
    fn m6_streamed_text_holds_back_what_may_become_a_stop_or_a_character() {
        assert_eq!(settled("hello", &[]), 5);
        assert_eq!(settled("hello\n", &["\n\n"]), 5, "half a stop sequence");
        assert_eq!(
            settled("hello\nUs", &["\nUser:"]),
            5,
            "the longest prefix counts"
        );
        assert_eq!(settled("hello\nX", &["\n\n"]), 7, "no longer a prefix");
        assert_eq!(settled("caf\u{FFFD}", &[]), 3, "a character still arriving");
    }

    #[test]
    fn m10_allowed_strings_are_found_by_prefix_and_completed_by_the_end() {
        let a = super::Allowed::new(&[" Hy Labs".into(), " Hy".into(), "1987".into()]);
        assert!(a.continues(""));
        assert!(a.continues(" H"));
        assert!(a.continues(" Hy La"));
        assert!(!a.continues(" Hz"));
        assert!(!a.continues(" Hy Labs]"));
        assert_eq!(a.completed(" Hy]", "]"), Some(" Hy"));
        assert_eq!(a.completed(" Hy Labs]\n", "]"), Some(" Hy Labs"));
        assert_eq!(a.completed(" Hy La]", "]"), None, "not an allowed string");
        assert_eq!(a.completed(" Hy Labs", "]"), None, "no end yet");
    }
}
