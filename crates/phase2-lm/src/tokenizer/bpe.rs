//! Byte-level byte-pair encoding (BPE), trained from scratch.
//!
//! The vocabulary starts as the 256 byte values, so *any* UTF-8 text (indeed any byte string) can be
//! encoded and decoding is the identity. Training repeatedly finds the most frequent adjacent pair
//! of tokens and merges it into a new token, until the vocabulary has the requested size; merge `r`
//! creates token `256 + r`. Encoding replays the merges in the order they were learned.
//!
//! Optionally the text is first cut into pieces with GPT-2's regex (words with their leading space,
//! runs of digits, runs of punctuation, whitespace), so merges never cross a piece boundary: tokens
//! become "words" instead of "d the" fragments.
//!
//! Training is incremental, not a recount per merge: the corpus is a linked list of tokens (each
//! unique regex piece stored once with its frequency as weight), pair counts live in a hash map,
//! and each pair remembers where it occurs. A merge visits only the occurrences of the merged pair
//! and adjusts the counts of their neighbouring pairs; a max-heap with lazy deletion yields the next
//! best pair. Encoding uses the same linked list with a min-heap of merge ranks, so even a 1 MB
//! piece (no regex split) encodes in O(n log n).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use anyhow::{bail, Context as _, Result};
use fancy_regex::Regex;
use serde::{Deserialize, Serialize};

use super::Tokenizer;

/// GPT-2's pre-tokenisation pattern (from OpenAI's `encoder.py`).
pub const GPT2_SPLIT_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// A trained byte-level BPE tokenizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "BpeFile", into = "BpeFile")]
pub struct BpeTokenizer {
    /// `merges[r] = (a, b)`: merge number `r` replaces the pair `a b` by token `256 + r`.
    merges: Vec<(u32, u32)>,
    /// Whether text is cut with [`GPT2_SPLIT_PATTERN`] before merging.
    regex_split: bool,
    /// Derived: the bytes of every token.
    vocab: Vec<Vec<u8>>,
    /// Derived: pair -> its merge rank `r`.
    ranks: HashMap<(u32, u32), u32>,
    /// Derived: the compiled split pattern, when `regex_split` (boxed: a compiled pattern is large,
    /// and `AnyTokenizer` holds a tokenizer by value).
    splitter: Option<Box<Regex>>,
}

impl PartialEq for BpeTokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.merges == other.merges && self.regex_split == other.regex_split
    }
}

impl BpeTokenizer {
    /// Learns `vocab_size - 256` merges from `text`.
    ///
    /// Stops early (with a smaller vocabulary) if the text runs out of pairs. Ties between equally
    /// frequent pairs go to the smallest `(a, b)`, so training is deterministic.
    pub fn train(text: &str, vocab_size: usize, regex_split: bool) -> Result<Self> {
        if vocab_size < 256 {
            bail!("BPE vocab_size must be at least 256 (the byte alphabet), got {vocab_size}");
        }
        if vocab_size > u32::MAX as usize / 2 {
            bail!("BPE vocab_size {vocab_size} is too large");
        }
        let splitter = if regex_split {
            Some(gpt2_regex()?)
        } else {
            None
        };
        let pieces = weighted_pieces(text, splitter.as_ref());
        let merges = learn_merges(&pieces, vocab_size - 256);
        Self::from_merges(merges, regex_split)
    }

    /// Builds the tokenizer from its merge list (checked: each merge may only use earlier tokens).
    pub fn from_merges(merges: Vec<(u32, u32)>, regex_split: bool) -> Result<Self> {
        let mut vocab: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut ranks = HashMap::with_capacity(merges.len());
        for (r, &(a, b)) in merges.iter().enumerate() {
            let next = vocab.len() as u32;
            if a >= next || b >= next {
                bail!("merge {r} = ({a}, {b}) uses a token that does not exist yet (< {next})");
            }
            if ranks.insert((a, b), r as u32).is_some() {
                bail!("merge {r} = ({a}, {b}) appears twice");
            }
            let bytes = [vocab[a as usize].as_slice(), vocab[b as usize].as_slice()].concat();
            vocab.push(bytes);
        }
        let splitter = if regex_split {
            Some(Box::new(gpt2_regex()?))
        } else {
            None
        };
        Ok(BpeTokenizer {
            merges,
            regex_split,
            vocab,
            ranks,
            splitter,
        })
    }

    /// The learned merges, in order.
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    /// Whether the GPT-2 regex pre-split is used.
    pub fn regex_split(&self) -> bool {
        self.regex_split
    }

    /// The bytes of token `id`, if it exists.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.vocab.get(id as usize).map(|v| v.as_slice())
    }

    /// Encodes one piece (no splitting) by replaying merges in rank order, appending to `out`.
    fn encode_piece(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let mut seq = Seq::new(bytes.iter().map(|&b| b as u32).collect());
        // Min-heap of (rank, position): the lowest rank everywhere first, left to right within a
        // rank, which is exactly the order in which training applied the merges.
        let mut heap = BinaryHeap::new();
        for i in 0..seq.tok.len().saturating_sub(1) {
            if let Some(&r) = self.ranks.get(&(seq.tok[i], seq.tok[i + 1])) {
                heap.push(Reverse((r, i as u32)));
            }
        }
        while let Some(Reverse((r, i))) = heap.pop() {
            let i = i as usize;
            let Some(j) = seq.right(i) else { continue };
            // Stale entry: the pair at `i` has changed since it was pushed.
            if self.ranks.get(&(seq.tok[i], seq.tok[j])) != Some(&r) {
                continue;
            }
            seq.merge(i, j, 256 + r);
            if let Some(p) = seq.left(i) {
                if let Some(&rp) = self.ranks.get(&(seq.tok[p], seq.tok[i])) {
                    heap.push(Reverse((rp, p as u32)));
                }
            }
            if let Some(n) = seq.right(i) {
                if let Some(&rn) = self.ranks.get(&(seq.tok[i], seq.tok[n])) {
                    heap.push(Reverse((rn, i as u32)));
                }
            }
        }
        out.extend(seq.tokens());
    }
}

impl Tokenizer for BpeTokenizer {
    /// Every string is encodable: unknown text does not exist at the byte level.
    fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 2);
        match &self.splitter {
            None => self.encode_piece(text.as_bytes(), &mut out),
            Some(re) => {
                // Pieces repeat a lot (" the", "\n"): encode each distinct piece once.
                let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
                for piece in split_pieces(text, re) {
                    let ids = cache.entry(piece).or_insert_with(|| {
                        let mut ids = Vec::new();
                        self.encode_piece(piece.as_bytes(), &mut ids);
                        ids
                    });
                    out.extend_from_slice(ids);
                }
            }
        }
        out
    }

    /// Concatenates the tokens' bytes; invalid UTF-8 (a sequence cut mid-character) becomes U+FFFD.
    fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 3);
        for &id in ids {
            match self.vocab.get(id as usize) {
                Some(b) => bytes.extend_from_slice(b),
                None => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn vocab_size(&self) -> usize {
        self.vocab.len()
    }
}

fn gpt2_regex() -> Result<Regex> {
    Regex::new(GPT2_SPLIT_PATTERN).context("compiling the GPT-2 split pattern")
}

/// Cuts `text` into consecutive pieces covering all of it: the regex matches, plus any text
/// between them (GPT-2's pattern leaves none, but covering gaps makes decode∘encode the identity
/// whatever the pattern). If the regex engine gives up (backtracking limit), the rest of the text
/// becomes one piece instead of a panic.
fn split_pieces<'t>(text: &'t str, re: &Regex) -> Vec<&'t str> {
    let mut pieces = Vec::new();
    let mut end = 0;
    for m in re.find_iter(text) {
        let Ok(m) = m else { break };
        if m.start() > end {
            pieces.push(&text[end..m.start()]);
        }
        if m.end() > m.start() {
            pieces.push(m.as_str());
        }
        end = m.end();
    }
    if end < text.len() {
        pieces.push(&text[end..]);
    }
    pieces
}

/// The training corpus as distinct pieces with their counts, sorted so training is deterministic.
fn weighted_pieces<'t>(text: &'t str, splitter: Option<&Regex>) -> Vec<(&'t [u8], u64)> {
    let Some(re) = splitter else {
        return vec![(text.as_bytes(), 1)];
    };
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for piece in split_pieces(text, re) {
        *counts.entry(piece).or_insert(0) += 1;
    }
    let mut pieces: Vec<(&[u8], u64)> =
        counts.into_iter().map(|(p, c)| (p.as_bytes(), c)).collect();
    pieces.sort_unstable();
    pieces
}

const NONE: u32 = u32::MAX;

/// A token sequence as a doubly linked list over positions, so merging is O(1).
/// Merged-away positions are unlinked and marked dead; `tok[i]` is only meaningful when alive.
struct Seq {
    tok: Vec<u32>,
    prev: Vec<u32>,
    next: Vec<u32>,
    alive: Vec<bool>,
}

impl Seq {
    fn new(tok: Vec<u32>) -> Self {
        let n = tok.len();
        Seq {
            prev: (0..n)
                .map(|i| if i == 0 { NONE } else { i as u32 - 1 })
                .collect(),
            next: (0..n)
                .map(|i| if i + 1 == n { NONE } else { i as u32 + 1 })
                .collect(),
            alive: vec![true; n],
            tok,
        }
    }

    /// Links a boundary: no pair spans from `i` to `i + 1` (pieces of one training corpus).
    fn cut_after(&mut self, i: usize) {
        self.next[i] = NONE;
        if i + 1 < self.prev.len() {
            self.prev[i + 1] = NONE;
        }
    }

    /// The live position after `i`, if `i` is alive and has one.
    fn right(&self, i: usize) -> Option<usize> {
        (self.alive[i] && self.next[i] != NONE).then(|| self.next[i] as usize)
    }

    fn left(&self, i: usize) -> Option<usize> {
        (self.alive[i] && self.prev[i] != NONE).then(|| self.prev[i] as usize)
    }

    /// Replaces the pair at `i`, `j = right(i)` by `new`, kept at position `i`.
    fn merge(&mut self, i: usize, j: usize, new: u32) {
        self.tok[i] = new;
        self.alive[j] = false;
        let n = self.next[j];
        self.next[i] = n;
        if n != NONE {
            self.prev[n as usize] = i as u32;
        }
    }

    fn tokens(&self) -> impl Iterator<Item = u32> + '_ {
        self.tok
            .iter()
            .zip(&self.alive)
            .filter(|(_, &a)| a)
            .map(|(&t, _)| t)
    }
}

/// Pair counts maintained incrementally, with a lazily-cleaned max-heap to find the best pair.
struct PairCounts {
    count: HashMap<(u32, u32), i64>,
    /// Where each pair was seen (left position); may hold stale positions, checked on use.
    seen_at: HashMap<(u32, u32), Vec<u32>>,
    /// `(count, Reverse(pair))`: max count first, then the smallest pair. An entry is valid only
    /// while its count equals the current one.
    heap: BinaryHeap<(i64, Reverse<(u32, u32)>)>,
    /// Pairs whose count changed during the current merge (their new count gets pushed).
    touched: Vec<(u32, u32)>,
}

impl PairCounts {
    fn add(&mut self, pair: (u32, u32), pos: u32, weight: i64) {
        *self.count.entry(pair).or_insert(0) += weight;
        if weight > 0 {
            self.seen_at.entry(pair).or_default().push(pos);
        }
        self.touched.push(pair);
    }

    fn flush_touched(&mut self) {
        self.touched.sort_unstable();
        self.touched.dedup();
        for pair in self.touched.drain(..) {
            let c = self.count[&pair];
            if c > 0 {
                self.heap.push((c, Reverse(pair)));
            }
        }
    }

    /// The most frequent pair, if any pair occurs at all.
    fn best(&mut self) -> Option<(u32, u32)> {
        while let Some((c, Reverse(pair))) = self.heap.pop() {
            if self.count.get(&pair) == Some(&c) {
                return Some(pair);
            }
        }
        None
    }
}

/// Learns up to `n_merges` merges on the weighted pieces.
fn learn_merges(pieces: &[(&[u8], u64)], n_merges: usize) -> Vec<(u32, u32)> {
    // All pieces in one linked list, cut at piece boundaries; each position weighs its piece's count.
    let total: usize = pieces.iter().map(|(p, _)| p.len()).sum();
    let mut tok = Vec::with_capacity(total);
    let mut weight = Vec::with_capacity(total);
    let mut ends = Vec::with_capacity(pieces.len());
    for (piece, w) in pieces {
        tok.extend(piece.iter().map(|&b| b as u32));
        weight.extend(std::iter::repeat_n(*w as i64, piece.len()));
        ends.push(tok.len());
    }
    let mut seq = Seq::new(tok);
    for &e in &ends {
        if e > 0 {
            seq.cut_after(e - 1);
        }
    }

    let mut pairs = PairCounts {
        count: HashMap::new(),
        seen_at: HashMap::new(),
        heap: BinaryHeap::new(),
        touched: Vec::new(),
    };
    for (i, &w) in weight.iter().enumerate() {
        if let Some(j) = seq.right(i) {
            pairs.add((seq.tok[i], seq.tok[j]), i as u32, w);
        }
    }
    pairs.flush_touched();

    let mut merges = Vec::with_capacity(n_merges);
    while merges.len() < n_merges {
        let Some((a, b)) = pairs.best() else { break };
        let new = 256 + merges.len() as u32;
        merges.push((a, b));
        let mut at = pairs.seen_at.remove(&(a, b)).unwrap_or_default();
        // Left to right, so overlapping occurrences ("a a a") merge like encoding does.
        at.sort_unstable();
        at.dedup();
        for i in at {
            let i = i as usize;
            let Some(j) = seq.right(i) else { continue };
            if seq.tok[i] != a || seq.tok[j] != b {
                continue; // stale: this occurrence was destroyed by an earlier merge
            }
            let w = weight[i];
            if let Some(p) = seq.left(i) {
                pairs.add((seq.tok[p], a), p as u32, -w);
                pairs.add((seq.tok[p], new), p as u32, w);
            }
            if let Some(n) = seq.right(j) {
                pairs.add((b, seq.tok[n]), j as u32, -w);
                pairs.add((new, seq.tok[n]), i as u32, w);
            }
            pairs.add((a, b), i as u32, -w);
            seq.merge(i, j, new);
        }
        pairs.flush_touched();
    }
    merges
}

/// On-disk form: the merges (everything else is derived from them).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BpeFile {
    regex_split: bool,
    /// `merges[r] = [a, b]` creates token `256 + r`.
    merges: Vec<[u32; 2]>,
}

impl From<BpeTokenizer> for BpeFile {
    fn from(t: BpeTokenizer) -> Self {
        BpeFile {
            regex_split: t.regex_split,
            merges: t.merges.iter().map(|&(a, b)| [a, b]).collect(),
        }
    }
}

impl TryFrom<BpeFile> for BpeTokenizer {
    type Error = String;
    fn try_from(f: BpeFile) -> Result<Self, String> {
        let merges = f.merges.iter().map(|&[a, b]| (a, b)).collect();
        BpeTokenizer::from_merges(merges, f.regex_split).map_err(|e| format!("{e:#}"))
    }
}
