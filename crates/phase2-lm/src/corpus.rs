//! The text a language model trains on, and the tokenizer a config asks for.
//!
//! [`Corpus`] is tiny-shakespeare split 90/10 by *character* (so character and BPE models validate on
//! the same text); [`TokenizerSpec`] is the `[tokenizer]` table of a config, and [`build_tokenizer`]
//! turns it into a tokenizer trained on the corpus.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::data::{tiny_shakespeare, train_val_split};
use crate::tokenizer::{AnyTokenizer, BpeTokenizer, CharTokenizer};

/// A training and a validation text.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub train_text: String,
    pub val_text: String,
}

impl Corpus {
    /// Tiny-shakespeare from the data cache, split 90/10 by character.
    pub fn tiny_shakespeare(ctx: &run_context::Context) -> Result<Corpus> {
        Ok(Corpus::split(&tiny_shakespeare(ctx)?))
    }

    /// Any text, split as tiny-shakespeare is: the first 90 % of the characters train.
    pub fn split(text: &str) -> Corpus {
        let chars: Vec<char> = text.chars().collect();
        let (train, val) = train_val_split(&chars);
        Corpus {
            train_text: train.into_iter().collect(),
            val_text: val.into_iter().collect(),
        }
    }
}

/// Which tokenizer a model reads: `kind = "char"`, or `kind = "bpe"` with its vocabulary size. Any
/// other kind, or a key the kind does not take, is a config error naming the valid ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TokenizerSpec {
    /// One token per character of the corpus (nanoGPT's `stoi`). A struct variant, not a unit one,
    /// so that a key it does not take is an error too.
    Char {},
    /// Byte-level BPE.
    Bpe {
        /// 256 bytes + merges.
        vocab_size: usize,
        /// Learn the merges from the first this many characters of the training text (all of it when
        /// absent).
        #[serde(default)]
        train_chars: Option<usize>,
    },
}

/// Build the tokenizer `spec` asks for, trained on `corpus`.
pub fn build_tokenizer(spec: &TokenizerSpec, corpus: &Corpus) -> Result<AnyTokenizer> {
    match spec {
        // The vocabulary of the whole text (as nanoGPT): 65 characters for tiny-shakespeare.
        TokenizerSpec::Char {} => Ok(CharTokenizer::from_text(&format!(
            "{}{}",
            corpus.train_text, corpus.val_text
        ))
        .into()),
        TokenizerSpec::Bpe {
            vocab_size,
            train_chars,
        } => {
            let n = train_chars.unwrap_or(usize::MAX);
            let sample: String = corpus.train_text.chars().take(n).collect();
            Ok(BpeTokenizer::train(&sample, *vocab_size, true)?.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m6_tokenizer_spec_errors_list_the_valid_kinds_and_keys() {
        let ok: TokenizerSpec = toml::from_str("kind = \"bpe\"\nvocab_size = 300").unwrap();
        assert_eq!(
            ok,
            TokenizerSpec::Bpe {
                vocab_size: 300,
                train_chars: None
            }
        );
        assert_eq!(
            toml::from_str::<TokenizerSpec>("kind = \"char\"").unwrap(),
            TokenizerSpec::Char {}
        );
        let extra = toml::from_str::<TokenizerSpec>("kind = \"char\"\nvocab_size = 300");
        assert!(extra.is_err(), "a char tokenizer takes no vocab_size");
        let typo = toml::from_str::<TokenizerSpec>("kind = \"bep\"").unwrap_err();
        let msg = typo.to_string();
        assert!(
            msg.contains("bep") && msg.contains("char") && msg.contains("bpe"),
            "{msg}"
        );
        let missing = toml::from_str::<TokenizerSpec>("kind = \"bpe\"").unwrap_err();
        assert!(missing.to_string().contains("vocab_size"), "{missing}");
        let extra = toml::from_str::<TokenizerSpec>("kind = \"bpe\"\nvocab_size = 300\nvocab = 1");
        assert!(extra.is_err(), "an unknown key must be an error");
    }

    #[test]
    fn m6_corpus_split_is_by_character() {
        let c = Corpus::split("abcdéfghij");
        assert_eq!(
            (c.train_text.as_str(), c.val_text.as_str()),
            ("abcdéfghi", "j")
        );
    }
}
