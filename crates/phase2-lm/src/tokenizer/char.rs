//! The character tokenizer: one id per distinct character of the training text.
//!
//! Ids are positions in the sorted set of characters, exactly like nanoGPT's and
//! `torch_gpt.py`'s `stoi = {c: i for i, c in enumerate(sorted(set(text)))}` (Python sorts strings
//! by code point, as Rust's `char` ordering does), so ids, vocab size (65 on tiny-shakespeare) and
//! losses are directly comparable.
//!
//! Characters that were not in the text have no id. [`Tokenizer::encode`] *skips* them (so every id
//! it returns is valid for an embedding table of `vocab_size()` rows, and it never panics);
//! [`Tokenizer::try_encode`] instead returns an error naming the first such character and its byte
//! offset. Use `try_encode` for user input such as sampling prompts.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::Tokenizer;

/// One id per character, ids in code-point order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CharFile", into = "CharFile")]
pub struct CharTokenizer {
    /// `chars[id]` is the character of `id`; sorted and distinct, so lookup is a binary search.
    chars: Vec<char>,
}

impl CharTokenizer {
    /// The sorted set of characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer { chars }
    }

    /// The vocabulary: `chars()[id]` is the character with that id.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }
}

impl Tokenizer for CharTokenizer {
    /// Ids of the characters of `text`; characters outside the vocabulary are skipped.
    fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().filter_map(|c| self.id(c)).collect()
    }

    fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{FFFD}'))
            .collect()
    }

    fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    fn try_encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len());
        for (offset, c) in text.char_indices() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => bail!(
                    "character {c:?} (U+{:04X}) at byte {offset} is not in the character \
                     tokenizer's vocabulary of {} characters",
                    c as u32,
                    self.chars.len()
                ),
            }
        }
        Ok(ids)
    }
}

/// On-disk form: the vocabulary as one string, readable in the JSON file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharFile {
    chars: String,
}

impl From<CharTokenizer> for CharFile {
    fn from(t: CharTokenizer) -> Self {
        CharFile {
            chars: t.chars.into_iter().collect(),
        }
    }
}

impl TryFrom<CharFile> for CharTokenizer {
    type Error = String;
    fn try_from(f: CharFile) -> Result<Self, String> {
        let chars: Vec<char> = f.chars.chars().collect();
        if chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err("`chars` must be sorted by code point without repeats".into());
        }
        Ok(CharTokenizer { chars })
    }
}
