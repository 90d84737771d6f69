//! Text → terms for BM25: lowercase, split by a token pattern, drop stop words, stem.
//!
//! BM25 scores a document by the query terms it contains, so what counts as "the same term" is
//! decided here, not in the scoring. The defaults reproduce `bm25s.tokenize` (bm25s 0.3) exactly,
//! which in turn follows scikit-learn's `CountVectorizer`:
//!
//! 1. lowercase the whole text (Unicode lowercasing, like Python's `str.lower`: `İ` becomes `i` +
//!    a combining dot, a word-final `Σ` becomes `ς`);
//! 2. take every match of the token pattern — bm25s's `(?u)\b\w\w+\b`, "runs of two or more word
//!    characters": one-letter words disappear and `don't` gives `don` (the `t` is one letter);
//! 3. drop stop words (bm25s's default is its 33-word English list; the CISI reference runs
//!    without them);
//! 4. optionally stem each remaining term (Snowball English, the algorithm PyStemmer's `english`
//!    runs, which is what bm25s's documentation pairs it with).
//!
//! **Why the default pattern is not written `\b\w\w+\b` here.** Python's `\w` is "a letter or a
//! number or `_`" — exactly the Unicode categories L and N plus `_` (checked over every code point
//! with Python 3.11's `re`) — while the Rust `regex` crate's `\w` also takes combining marks
//! (`\p{M}`). In `café` spelt with a combining accent Python splits at the accent and Rust would
//! not. So the default is spelt with Python's classes, `[\p{L}\p{N}_]{2,}`: a leftmost-greedy
//! match of two or more word characters is a whole maximal run, which is what `\b…\b` around
//! `\w\w+` selects, so no word boundaries are needed.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use anyhow::{Context, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// bm25s's `(?u)\b\w\w+\b` with Python's meaning of `\w` (see the module documentation).
pub const BM25S_TOKEN_PATTERN: &str = r"[\p{L}\p{N}_]{2,}";

/// bm25s's `STOPWORDS_EN` (`bm25s/stopwords.py`), in its order: the 33 English stop words of
/// Lucene's `EnglishAnalyzer`. One-letter entries (`a`) can never match the default pattern.
pub const ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Which stop words to drop after lowercasing (and before stemming, as bm25s does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopWords {
    /// Keep every term.
    None,
    /// [`ENGLISH_STOP_WORDS`], bm25s's `stopwords="en"` (its default).
    English,
    /// A list of your own, compared with the terms as they are after lowercasing.
    List(Vec<String>),
}

/// Which stemmer to apply to each term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stemmer {
    /// Snowball English ("Porter 2") from the `rust-stemmers` crate: `retrieval` → `retriev`.
    English,
}

/// How to turn text into terms. Deserialises from e.g.
/// `{"lowercase": true, "stopwords": "none", "stemmer": "english"}`; missing fields take the
/// bm25s defaults of [`TokenizerConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Lowercase the text before matching (bm25s: `lower=True`).
    pub lowercase: bool,
    /// Every match of this pattern (Rust `regex` syntax) is one token; the whole match is taken.
    pub token_pattern: String,
    /// Stop words to drop.
    pub stopwords: StopWords,
    /// Stemmer to apply, if any.
    pub stemmer: Option<Stemmer>,
}

impl Default for TokenizerConfig {
    /// `bm25s.tokenize`'s defaults: lowercase, `(?u)\b\w\w+\b`, English stop words, no stemmer.
    fn default() -> Self {
        TokenizerConfig {
            lowercase: true,
            token_pattern: BM25S_TOKEN_PATTERN.to_string(),
            stopwords: StopWords::English,
            stemmer: None,
        }
    }
}

impl TokenizerConfig {
    /// bm25s's tokenisation without stop words (`bm25s.tokenize(texts, stopwords=None)`): the
    /// setting of the CISI reference run.
    pub fn bm25s_no_stopwords() -> Self {
        TokenizerConfig {
            stopwords: StopWords::None,
            ..TokenizerConfig::default()
        }
    }
}

/// A compiled [`TokenizerConfig`].
pub struct Tokenizer {
    config: TokenizerConfig,
    pattern: Regex,
    stopwords: HashSet<String>,
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Compile `config`; fails only on an invalid token pattern.
    pub fn new(config: TokenizerConfig) -> Result<Tokenizer> {
        let pattern = Regex::new(&config.token_pattern)
            .with_context(|| format!("invalid token pattern {:?}", config.token_pattern))?;
        let stopwords = match &config.stopwords {
            StopWords::None => HashSet::new(),
            StopWords::English => ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()).collect(),
            StopWords::List(words) => words.iter().cloned().collect(),
        };
        let stemmer = config.stemmer.map(|s| match s {
            Stemmer::English => rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
        });
        Ok(Tokenizer {
            config,
            pattern,
            stopwords,
            stemmer,
        })
    }

    /// The configuration this tokenizer was built from.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The terms of `text`, in order, repeats kept (BM25 needs the term frequencies).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let lowered;
        let text = if self.config.lowercase {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        self.pattern
            .find_iter(text)
            .map(|m| m.as_str())
            .filter(|t| !self.stopwords.contains(*t))
            .map(|t| match &self.stemmer {
                Some(stemmer) => stemmer.stem(t).into_owned(),
                None => t.to_string(),
            })
            .collect()
    }

    /// Byte ranges of the token pattern's matches in `text` as written (not lowercased, stop words
    /// kept): where the tokens are, for chunking by tokens. Lowercasing can change byte lengths
    /// (`İ` is 2 bytes, its lowercase 3), so the pattern runs on the original text; with a
    /// pattern that depends on case the ranges can differ from what [`Tokenizer::tokenize`] sees.
    pub fn spans(&self, text: &str) -> Vec<Range<usize>> {
        self.pattern.find_iter(text).map(|m| m.range()).collect()
    }
}
