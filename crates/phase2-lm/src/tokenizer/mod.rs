//! Text to token ids and back: characters ([`CharTokenizer`]) and byte-level BPE ([`BpeTokenizer`]).
//!
//! Both map any text to ids in `0..vocab_size()`, so an embedding table indexed by them never reads
//! out of bounds. [`AnyTokenizer`] is what models and checkpoints store: it is saved as JSON.

mod bpe;
mod char;

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

pub use self::bpe::{BpeTokenizer, GPT2_SPLIT_PATTERN};
pub use self::char::CharTokenizer;

/// Text <-> token ids.
pub trait Tokenizer {
    /// Token ids of `text`, every id `< vocab_size()`. Never panics; see each tokenizer for what
    /// happens to text it cannot represent.
    fn encode(&self, text: &str) -> Vec<u32>;
    /// Text of `ids`. Ids `>= vocab_size()` decode to U+FFFD (�) rather than panicking.
    fn decode(&self, ids: &[u32]) -> String;
    /// Number of distinct ids.
    fn vocab_size(&self) -> usize;
    /// Like [`Tokenizer::encode`], but an error instead of a lossy result when `text` cannot be
    /// represented exactly (only the character tokenizer can fail: unseen characters).
    fn try_encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode(text))
    }
}

/// Either tokenizer, for code (and files) that must not care which one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AnyTokenizer {
    Char(CharTokenizer),
    Bpe(BpeTokenizer),
}

impl AnyTokenizer {
    /// Writes the tokenizer as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string(self).context("serialising the tokenizer")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads a tokenizer written by [`AnyTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let json =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&json)
            .with_context(|| format!("{} is not a valid tokenizer file", path.display()))
    }

    /// "char" or "bpe".
    pub fn kind(&self) -> &'static str {
        match self {
            AnyTokenizer::Char(_) => "char",
            AnyTokenizer::Bpe(_) => "bpe",
        }
    }
}

impl Tokenizer for AnyTokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        match self {
            AnyTokenizer::Char(t) => t.encode(text),
            AnyTokenizer::Bpe(t) => t.encode(text),
        }
    }
    fn decode(&self, ids: &[u32]) -> String {
        match self {
            AnyTokenizer::Char(t) => t.decode(ids),
            AnyTokenizer::Bpe(t) => t.decode(ids),
        }
    }
    fn vocab_size(&self) -> usize {
        match self {
            AnyTokenizer::Char(t) => t.vocab_size(),
            AnyTokenizer::Bpe(t) => t.vocab_size(),
        }
    }
    fn try_encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            AnyTokenizer::Char(t) => t.try_encode(text),
            AnyTokenizer::Bpe(t) => t.try_encode(text),
        }
    }
}

impl From<CharTokenizer> for AnyTokenizer {
    fn from(t: CharTokenizer) -> Self {
        AnyTokenizer::Char(t)
    }
}

impl From<BpeTokenizer> for AnyTokenizer {
    fn from(t: BpeTokenizer) -> Self {
        AnyTokenizer::Bpe(t)
    }
}
