//! Cutting documents into passages for retrieval.
//!
//! A reader model sees a few hundred tokens at a time and a retriever ranks better when a unit of
//! retrieval is about one topic, so long documents are split before indexing. Three ways:
//!
//! * [`ChunkConfig::Characters`] — windows of `size` characters, each starting `size − overlap`
//!   after the previous one; blind to words, but exact in length.
//! * [`ChunkConfig::Tokens`] — windows of `size` tokens (the tokenizer's pattern matches) with
//!   `overlap` tokens shared between neighbours, so a sentence cut at one window's end is whole in
//!   the next one; a chunk runs from its first token's start to its last token's end.
//! * [`ChunkConfig::Sentences`] — split after `.`, `!` or `?` (and any closing quotes or brackets)
//!   followed by white space, then pack whole sentences while the chunk stays within `max_chars`
//!   characters; a single longer sentence is cut into `max_chars` windows. The rule is the plain
//!   one: an abbreviation such as `e.g.` followed by a space ends a sentence too.
//!
//! Every [`Chunk`] keeps its document's id and byte offsets into the original text, so
//! `&text[chunk.start..chunk.end] == chunk.text` and a hit can be shown in context.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use crate::tokenize::{Tokenizer, TokenizerConfig};

/// One passage of a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Id of the document it comes from.
    pub doc_id: String,
    /// Byte offsets into the document's text: `text[start..end]`.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// How to chunk; deserialises from e.g. `{"kind": "tokens", "size": 128, "overlap": 32}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChunkConfig {
    /// `size` characters (Unicode scalar values), `overlap` of them shared with the next chunk.
    Characters { size: usize, overlap: usize },
    /// `size` tokens, `overlap` of them shared with the next chunk.
    Tokens {
        size: usize,
        overlap: usize,
        /// Whose pattern decides what a token is (bm25s's by default).
        #[serde(default)]
        tokenizer: TokenizerConfig,
    },
    /// Whole sentences, packed up to `max_chars` characters per chunk.
    Sentences { max_chars: usize },
}

/// A validated [`ChunkConfig`], with its tokenizer compiled when it needs one.
#[derive(Debug)]
pub struct Chunker {
    config: ChunkConfig,
    tokenizer: Option<Tokenizer>,
}

impl Chunker {
    pub fn new(config: ChunkConfig) -> Result<Chunker> {
        let tokenizer = match &config {
            ChunkConfig::Characters { size, overlap } => {
                check_window(*size, *overlap)?;
                None
            }
            ChunkConfig::Tokens {
                size,
                overlap,
                tokenizer,
            } => {
                check_window(*size, *overlap)?;
                Some(Tokenizer::new(tokenizer.clone())?)
            }
            ChunkConfig::Sentences { max_chars } => {
                ensure!(*max_chars > 0, "max_chars must be positive");
                None
            }
        };
        Ok(Chunker { config, tokenizer })
    }

    /// The chunks of one document, in order. A text with nothing to chunk (empty, or no tokens
    /// for token chunking) gives none.
    pub fn chunk(&self, doc_id: &str, text: &str) -> Vec<Chunk> {
        let ranges = match (&self.config, &self.tokenizer) {
            (ChunkConfig::Characters { size, overlap }, _) => {
                let bounds = char_bounds(text, 0..text.len());
                windows(bounds.len() - 1, *size, *overlap)
                    .map(|(a, b)| (bounds[a], bounds[b]))
                    .collect()
            }
            (ChunkConfig::Tokens { size, overlap, .. }, Some(tokenizer)) => {
                let spans = tokenizer.spans(text);
                windows(spans.len(), *size, *overlap)
                    .map(|(a, b)| (spans[a].start, spans[b - 1].end))
                    .collect()
            }
            (ChunkConfig::Tokens { .. }, None) => unreachable!("Chunker::new compiles it"),
            (ChunkConfig::Sentences { max_chars }, _) => sentence_chunks(text, *max_chars),
        };
        ranges
            .into_iter()
            .map(|(start, end)| Chunk {
                doc_id: doc_id.to_string(),
                start,
                end,
                text: text[start..end].to_string(),
            })
            .collect()
    }
}

fn check_window(size: usize, overlap: usize) -> Result<()> {
    ensure!(size > 0, "chunk size must be positive");
    ensure!(
        overlap < size,
        "overlap ({overlap}) must be smaller than the chunk size ({size})"
    );
    Ok(())
}

/// `[start, end)` item ranges of windows of `size` over `n` items, advancing by `size − overlap`;
/// the last window ends at `n`, and none is contained in the previous one.
fn windows(n: usize, size: usize, overlap: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = size - overlap;
    let mut start = 0;
    let mut done = n == 0;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let end = (start + size).min(n);
        let window = (start, end);
        done = end == n;
        start += step;
        Some(window)
    })
}

/// Byte offsets of every character start in `text[range]`, plus `range.end`.
fn char_bounds(text: &str, range: std::ops::Range<usize>) -> Vec<usize> {
    let mut bounds: Vec<usize> = text[range.clone()]
        .char_indices()
        .map(|(i, _)| range.start + i)
        .collect();
    bounds.push(range.end);
    bounds
}

/// Byte ranges of the sentences of `text`, without surrounding white space.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if start.is_none() && !c.is_whitespace() {
            start = Some(at);
        }
        if matches!(c, '.' | '!' | '?') {
            // Take the whole run of terminators and closing quotes or brackets: `?!`, `."`, `.)`.
            let mut j = i + 1;
            while j < chars.len()
                && matches!(
                    chars[j].1,
                    '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '’' | '”'
                )
            {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
            if j == chars.len() || chars[j].1.is_whitespace() {
                if let Some(s) = start.take() {
                    out.push((s, end));
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    if let Some(s) = start {
        let end = s + text[s..].trim_end().len();
        out.push((s, end));
    }
    out
}

/// Whole sentences packed greedily into chunks of at most `max_chars` characters (a chunk's
/// span includes the white space between its sentences); a longer sentence is cut into windows.
fn sentence_chunks(text: &str, max_chars: usize) -> Vec<(usize, usize)> {
    let chars_in = |a: usize, b: usize| text[a..b].chars().count();
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for (s, e) in sentences(text) {
        if let Some((cs, _)) = current {
            if chars_in(cs, e) <= max_chars {
                current = Some((cs, e));
                continue;
            }
            out.extend(current.take());
        }
        if chars_in(s, e) <= max_chars {
            current = Some((s, e));
        } else {
            let bounds = char_bounds(text, s..e);
            out.extend(
                windows(bounds.len() - 1, max_chars, 0).map(|(a, b)| (bounds[a], bounds[b])),
            );
        }
    }
    out.extend(current);
    out
}
