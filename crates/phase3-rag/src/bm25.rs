//! BM25 over an inverted index, written out in full.
//!
//! BM25 scores a document `d` for a query `q` as a sum over the query's terms `t`:
//!
//! ```text
//! score(q, d) = Σ_{t ∈ q}  idf(t) · tf(t, d) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl))
//! ```
//!
//! * `idf(t)` rewards rare terms: a term in every document tells documents apart poorly.
//! * the fraction saturates with the term frequency `tf`: the first occurrence counts most, the
//!   tenth little (`k1` sets how fast; `k1 = 0` would ignore repeats entirely);
//! * `|d| / avgdl` is the document's length relative to the average: a long document is expected
//!   to contain a term more often, so its counts are discounted (`b` sets how much; `b = 0` ignores
//!   length).
//!
//! Repeated query terms count once per occurrence (as in bm25s and rank-bm25), so the sum runs over
//! the query's distinct terms, each weighted by how often it occurs in the query.
//!
//! Two variants, following Kamphuis et al., "Which BM25 do you mean?" (ECIR 2020), the paper bm25s
//! implements:
//!
//! * [`Bm25Variant::Lucene`] — Lucene ≥ 8 and bm25s's default `method="lucene"`:
//!   `idf = ln(1 + (N − df + 0.5) / (df + 0.5))`, always positive, and the tf part above. Textbook
//!   BM25 multiplies the tf part by `(k1 + 1)`; Lucene 8 dropped that constant (it scales every
//!   score alike, so rankings are the same), and so does bm25s — we follow them so that scores,
//!   not only rankings, can be compared with bm25s.
//! * [`Bm25Variant::Robertson`] — rank-bm25's `BM25Okapi`: `idf = ln((N − df + 0.5) / (df + 0.5))`,
//!   negative for terms in more than half the documents; those get `ε · mean idf` instead
//!   (ε = 0.25, mean over the whole vocabulary); tf part multiplied by `(k1 + 1)`.
//!
//! **The index.** For every term a posting list of `(document, tf)`, sorted by document. A query
//! walks only the posting lists of its own terms and adds each posting's contribution to that
//! document's accumulator, so a query costs the length of its terms' postings, not the size of the
//! collection. The best `k` are then kept with a size-`k` heap.
//!
//! **On disk** ([`Bm25Index::save`] / [`Bm25Index::load`]): a small binary format written here,
//! little-endian, `magic · version · payload length · FNV-1a-64 checksum · payload`. The payload
//! holds the configuration (JSON), the documents (id, length) and the postings; idf, the average
//! length and the per-document length norms are recomputed on load. A truncated, corrupt or
//! inconsistent file is an error that names the file.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use crate::retrieve::{Hit, Retriever};
use crate::tokenize::{Tokenizer, TokenizerConfig};

/// Which BM25: see the module documentation for the formulas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bm25Variant {
    /// Lucene ≥ 8 / bm25s `method="lucene"` (bm25s's default).
    Lucene,
    /// Robertson's idf with rank-bm25's ε floor, textbook `(k1 + 1)` tf part (rank-bm25 `BM25Okapi`).
    Robertson,
}

/// rank-bm25's `BM25Okapi` default ε: a term in more than half the documents gets this fraction of
/// the mean idf instead of its negative idf.
pub const ROBERTSON_EPSILON: f64 = 0.25;

/// Everything that decides the scores. Deserialises from e.g.
/// `{"k1": 1.2, "variant": "robertson", "tokenizer": {"stopwords": "english"}}`; missing fields
/// take the defaults of [`Bm25Config::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bm25Config {
    /// Term-frequency saturation (1.2–2.0 is usual; bm25s and rank-bm25 default to 1.5).
    pub k1: f64,
    /// Length normalisation, 0 (none) to 1 (full); 0.75 everywhere by default.
    pub b: f64,
    pub variant: Bm25Variant,
    pub tokenizer: TokenizerConfig,
}

impl Default for Bm25Config {
    /// bm25s's `BM25()` with bm25s's tokenisation minus stop words: Lucene, k1 1.5, b 0.75 — the
    /// setting of the CISI reference run (nDCG@10 0.360).
    fn default() -> Self {
        Bm25Config {
            k1: 1.5,
            b: 0.75,
            variant: Bm25Variant::Lucene,
            tokenizer: TokenizerConfig::bm25s_no_stopwords(),
        }
    }
}

/// A BM25 index over one collection.
#[derive(Debug)]
pub struct Bm25Index {
    config: Bm25Config,
    tokenizer: Tokenizer,
    /// Collection ids, by document index.
    doc_ids: Vec<String>,
    /// Number of terms (after tokenisation) of each document.
    doc_lens: Vec<u32>,
    /// Terms by term id, and the way back.
    terms: Vec<String>,
    term_ids: HashMap<String, u32>,
    /// Postings of term `t` are `post_docs[offsets[t]..offsets[t + 1]]` (document indices,
    /// ascending) with their frequencies in `post_tfs` at the same positions.
    offsets: Vec<usize>,
    post_docs: Vec<u32>,
    post_tfs: Vec<u32>,
    /// Derived from the above on build and load.
    avg_doc_len: f64,
    idf: Vec<f64>,
    /// Each posting's whole contribution, `idf(t) · tf · s / (tf + k1 · (1 − b + b · |d| / avgdl))` (s = 1 for
    /// Lucene, k1 + 1 for Robertson), computed once here instead of in every query that walks it
    /// ("eager" scoring, as bm25s does): a query is then one multiply-add per posting.
    impacts: Vec<f64>,
}

impl Bm25Index {
    /// Index `docs` (collection id, text). Document ids must be unique; the collection must not
    /// be empty.
    pub fn build<I, D, T>(config: Bm25Config, docs: I) -> Result<Bm25Index>
    where
        I: IntoIterator<Item = (D, T)>,
        D: Into<String>,
        T: AsRef<str>,
    {
        validate_params(&config)?;
        let tokenizer = Tokenizer::new(config.tokenizer.clone())?;
        let mut doc_ids = Vec::new();
        let mut doc_lens = Vec::new();
        let mut terms: Vec<String> = Vec::new();
        let mut term_ids: HashMap<String, u32> = HashMap::new();
        // One growing posting list per term; documents arrive in order, so each list is sorted.
        let mut postings: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut seen_ids = HashSet::new();
        for (id, text) in docs {
            let id: String = id.into();
            ensure!(
                seen_ids.insert(id.clone()),
                "document id {id:?} occurs twice"
            );
            let doc = u32::try_from(doc_ids.len()).context("more than 2^32 documents")?;
            let tokens = tokenizer.tokenize(text.as_ref());
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for t in &tokens {
                *counts.entry(t.as_str()).or_insert(0) += 1;
            }
            // Sort the document's terms so term ids come out the same on every run.
            let mut counts: Vec<(&str, u32)> = counts.into_iter().collect();
            counts.sort_unstable();
            for (term, tf) in counts {
                let tid = match term_ids.get(term) {
                    Some(&tid) => tid,
                    None => {
                        let tid = terms.len() as u32;
                        terms.push(term.to_string());
                        term_ids.insert(term.to_string(), tid);
                        postings.push(Vec::new());
                        tid
                    }
                };
                postings[tid as usize].push((doc, tf));
            }
            doc_lens.push(u32::try_from(tokens.len()).context("document of over 2^32 terms")?);
            doc_ids.push(id);
        }
        ensure!(!doc_ids.is_empty(), "cannot index an empty collection");
        let mut offsets = Vec::with_capacity(postings.len() + 1);
        let mut post_docs = Vec::new();
        let mut post_tfs = Vec::new();
        offsets.push(0);
        for list in postings {
            for (doc, tf) in list {
                post_docs.push(doc);
                post_tfs.push(tf);
            }
            offsets.push(post_docs.len());
        }
        Ok(Bm25Index::assemble(
            config, tokenizer, doc_ids, doc_lens, terms, term_ids, offsets, post_docs, post_tfs,
        ))
    }

    /// Fill in the derived statistics: average length, idf per term, length norm per document.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        config: Bm25Config,
        tokenizer: Tokenizer,
        doc_ids: Vec<String>,
        doc_lens: Vec<u32>,
        terms: Vec<String>,
        term_ids: HashMap<String, u32>,
        offsets: Vec<usize>,
        post_docs: Vec<u32>,
        post_tfs: Vec<u32>,
    ) -> Bm25Index {
        let n = doc_ids.len() as f64;
        let total: u64 = doc_lens.iter().map(|&l| l as u64).sum();
        let avg_doc_len = total as f64 / n;
        let idf = idf_per_term(config.variant, n, &offsets);
        // `k1 · (1 − b + b · |d| / avgdl)` for each document: the tf part's denominator minus tf.
        let length_norm: Vec<f64> = doc_lens
            .iter()
            .map(|&len| {
                // A collection without a single term has no postings, so the norm is never used.
                let rel = if avg_doc_len > 0.0 {
                    len as f64 / avg_doc_len
                } else {
                    1.0
                };
                config.k1 * (1.0 - config.b + config.b * rel)
            })
            .collect();
        let tf_scale = match config.variant {
            Bm25Variant::Lucene => 1.0,
            Bm25Variant::Robertson => config.k1 + 1.0,
        };
        let mut impacts = Vec::with_capacity(post_docs.len());
        for t in 0..terms.len() {
            let weight = idf[t] * tf_scale;
            for i in offsets[t]..offsets[t + 1] {
                let tf = post_tfs[i] as f64;
                impacts.push(weight * tf / (tf + length_norm[post_docs[i] as usize]));
            }
        }
        Bm25Index {
            config,
            tokenizer,
            doc_ids,
            doc_lens,
            terms,
            term_ids,
            offsets,
            post_docs,
            post_tfs,
            avg_doc_len,
            idf,
            impacts,
        }
    }

    pub fn config(&self) -> &Bm25Config {
        &self.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Number of documents `N`.
    pub fn num_docs(&self) -> usize {
        self.doc_ids.len()
    }

    /// Number of distinct terms.
    pub fn num_terms(&self) -> usize {
        self.terms.len()
    }

    /// Collection id of document `index`.
    pub fn doc_id(&self, index: usize) -> &str {
        &self.doc_ids[index]
    }

    /// Length `|d|` (number of terms) of document `index`.
    pub fn doc_len(&self, index: usize) -> u32 {
        self.doc_lens[index]
    }

    /// Mean document length `avgdl`.
    pub fn avg_doc_len(&self) -> f64 {
        self.avg_doc_len
    }

    /// Document frequency `df` of a term (already tokenised), 0 if it is not in the collection.
    pub fn doc_freq(&self, term: &str) -> usize {
        self.term_ids.get(term).map_or(0, |&t| {
            self.offsets[t as usize + 1] - self.offsets[t as usize]
        })
    }

    /// idf of a term (already tokenised) under the configured variant; `None` if unseen.
    pub fn idf(&self, term: &str) -> Option<f64> {
        self.term_ids.get(term).map(|&t| self.idf[t as usize])
    }

    /// The posting list of a term: (document index, term frequency), by document index.
    pub fn postings(&self, term: &str) -> impl Iterator<Item = (usize, u32)> + '_ {
        let range = match self.term_ids.get(term) {
            Some(&t) => self.offsets[t as usize]..self.offsets[t as usize + 1],
            None => 0..0,
        };
        range.map(|i| (self.post_docs[i] as usize, self.post_tfs[i]))
    }

    /// The best `k` documents for `query` as (document index, score), best first; ties broken by
    /// document index. Only documents containing at least one query term are candidates (every
    /// other one scores 0), so fewer than `k` can come back.
    pub fn top_k(&self, query: &str, k: usize) -> Vec<(usize, f64)> {
        if k == 0 {
            return Vec::new();
        }
        // Query term → how often it occurs in the query (terms outside the collection add 0).
        let mut query_tf: HashMap<u32, u32> = HashMap::new();
        for token in self.tokenizer.tokenize(query) {
            if let Some(&t) = self.term_ids.get(&token) {
                *query_tf.entry(t).or_insert(0) += 1;
            }
        }
        // Term-at-a-time: walk each query term's postings, accumulating per document, and mark
        // every document met (a plain store, no branch: the candidates are collected after).
        let n = self.doc_ids.len();
        SCRATCH.with_borrow_mut(|(acc, met)| {
            // Reused across queries: a fresh 8·n-byte buffer per query would page-fault on every
            // page of it. Cleared before use, so no query sees another's sums.
            acc.clear();
            acc.resize(n, 0.0);
            met.clear();
            met.resize(n, false);
            self.rank(query_tf, acc, met, k)
        })
    }

    /// The accumulation and selection of [`Bm25Index::top_k`], on zeroed buffers of one entry per
    /// document.
    fn rank(
        &self,
        query_tf: HashMap<u32, u32>,
        acc: &mut [f64],
        met: &mut [bool],
        k: usize,
    ) -> Vec<(usize, f64)> {
        let mut query_terms: Vec<(u32, u32)> = query_tf.into_iter().collect();
        query_terms.sort_unstable(); // a fixed summation order: identical scores run to run
        for (t, qtf) in query_terms {
            let t = t as usize;
            let range = self.offsets[t]..self.offsets[t + 1];
            let qtf = qtf as f64;
            for (&d, &impact) in self.post_docs[range.clone()]
                .iter()
                .zip(&self.impacts[range])
            {
                acc[d as usize] += qtf * impact;
                met[d as usize] = true;
            }
        }
        // Keep the best k in a min-heap whose top is the worst kept: (score, then later index
        // counts as worse). The result is the k best in that total order, whatever the order
        // candidates arrive in.
        // Once the heap is full, `floor` is its worst score: a candidate below it cannot enter, and
        // one plain float compare says so (most candidates, on a large collection).
        let mut heap: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(k + 1);
        let mut floor = f64::NEG_INFINITY;
        for (d, (&score, &m)) in acc.iter().zip(met.iter()).enumerate() {
            if !m || score < floor {
                continue;
            }
            let candidate = Ranked {
                score,
                doc: d as u32,
            };
            if heap.len() < k {
                heap.push(Reverse(candidate));
            } else if heap.peek().is_some_and(|worst| candidate > worst.0) {
                heap.pop();
                heap.push(Reverse(candidate));
            }
            if heap.len() == k {
                floor = heap.peek().map_or(floor, |worst| worst.0.score);
            }
        }
        let mut best: Vec<Ranked> = heap.into_iter().map(|r| r.0).collect();
        best.sort_unstable_by(|a, b| b.cmp(a));
        best.into_iter()
            .map(|r| (r.doc as usize, r.score))
            .collect()
    }

    /// Write the index to `path` (format in the module documentation).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut payload = Vec::new();
        let config = serde_json::to_vec(&self.config)?;
        put_bytes(&mut payload, &config);
        put_u32(&mut payload, self.doc_ids.len() as u32);
        for (id, &len) in self.doc_ids.iter().zip(&self.doc_lens) {
            put_bytes(&mut payload, id.as_bytes());
            put_u32(&mut payload, len);
        }
        put_u32(&mut payload, self.terms.len() as u32);
        for (t, term) in self.terms.iter().enumerate() {
            put_bytes(&mut payload, term.as_bytes());
            let range = self.offsets[t]..self.offsets[t + 1];
            put_u32(&mut payload, range.len() as u32);
            for i in range {
                put_u32(&mut payload, self.post_docs[i]);
                put_u32(&mut payload, self.post_tfs[i]);
            }
        }
        let mut file = Vec::with_capacity(HEADER_LEN + payload.len());
        file.extend_from_slice(MAGIC);
        put_u32(&mut file, FORMAT_VERSION);
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&fnv1a64(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        fs::write(path, file).with_context(|| format!("writing BM25 index {}", path.display()))
    }

    /// Read an index written by [`Bm25Index::save`]. Every length and index in the file is checked
    /// before it is used, so a damaged file gives an error naming it, never a panic.
    pub fn load(path: &Path) -> Result<Bm25Index> {
        let bytes =
            fs::read(path).with_context(|| format!("reading BM25 index {}", path.display()))?;
        Bm25Index::from_bytes(&bytes)
            .with_context(|| format!("BM25 index {} is unreadable", path.display()))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Bm25Index> {
        ensure!(
            bytes.len() >= HEADER_LEN,
            "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        );
        ensure!(&bytes[..8] == MAGIC, "not a BM25 index (wrong magic bytes)");
        let mut header = Reader::new(&bytes[8..HEADER_LEN]);
        let version = header.u32()?;
        ensure!(
            version == FORMAT_VERSION,
            "format version {version}, expected {FORMAT_VERSION}"
        );
        let payload_len = header.u64()?;
        let checksum = header.u64()?;
        let payload = &bytes[HEADER_LEN..];
        ensure!(
            payload.len() as u64 == payload_len,
            "truncated or padded: payload of {} bytes, header says {payload_len}",
            payload.len()
        );
        ensure!(fnv1a64(payload) == checksum, "corrupt: checksum mismatch");

        let mut r = Reader::new(payload);
        let config: Bm25Config =
            serde_json::from_slice(r.bytes()?).context("configuration is not valid JSON")?;
        validate_params(&config)?;
        let tokenizer = Tokenizer::new(config.tokenizer.clone())?;
        let n_docs = r.count(8)?; // each document takes at least 8 bytes
        ensure!(n_docs > 0, "no documents");
        let mut doc_ids = Vec::with_capacity(n_docs);
        let mut doc_lens = Vec::with_capacity(n_docs);
        for _ in 0..n_docs {
            doc_ids.push(r.string()?);
            doc_lens.push(r.u32()?);
        }
        let n_terms = r.count(8)?;
        let mut terms = Vec::with_capacity(n_terms);
        let mut term_ids = HashMap::with_capacity(n_terms);
        let mut offsets = Vec::with_capacity(n_terms + 1);
        let mut post_docs = Vec::new();
        let mut post_tfs = Vec::new();
        let mut len_from_postings = vec![0u64; n_docs];
        offsets.push(0);
        for t in 0..n_terms {
            let term = r.string()?;
            let df = r.count(8)?;
            ensure!(df > 0, "term {term:?} has no postings");
            let mut previous: Option<u32> = None;
            for _ in 0..df {
                let doc = r.u32()?;
                let tf = r.u32()?;
                ensure!(
                    (doc as usize) < n_docs,
                    "term {term:?}: document {doc} of {n_docs}"
                );
                ensure!(
                    previous.is_none_or(|p| doc > p),
                    "term {term:?}: postings not in increasing document order"
                );
                ensure!(tf > 0, "term {term:?}: zero term frequency");
                previous = Some(doc);
                len_from_postings[doc as usize] += tf as u64;
                post_docs.push(doc);
                post_tfs.push(tf);
            }
            ensure!(
                term_ids.insert(term.clone(), t as u32).is_none(),
                "term {term:?} occurs twice"
            );
            terms.push(term);
            offsets.push(post_docs.len());
        }
        ensure!(
            r.is_at_end(),
            "{} stray bytes after the postings",
            r.remaining()
        );
        for (d, (&len, &from_postings)) in doc_lens.iter().zip(&len_from_postings).enumerate() {
            ensure!(
                len as u64 == from_postings,
                "document {:?} has length {len} but {from_postings} term occurrences",
                doc_ids[d]
            );
        }
        Ok(Bm25Index::assemble(
            config, tokenizer, doc_ids, doc_lens, terms, term_ids, offsets, post_docs, post_tfs,
        ))
    }
}

impl Retriever for Bm25Index {
    fn name(&self) -> String {
        "bm25".to_string()
    }

    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        Ok(self
            .top_k(query, k)
            .into_iter()
            .map(|(d, score)| Hit {
                doc_id: self.doc_ids[d].clone(),
                score,
            })
            .collect())
    }
}

fn validate_params(config: &Bm25Config) -> Result<()> {
    ensure!(
        config.k1.is_finite() && config.k1 >= 0.0,
        "k1 must be finite and ≥ 0, got {}",
        config.k1
    );
    ensure!(
        (0.0..=1.0).contains(&config.b),
        "b must lie in [0, 1], got {}",
        config.b
    );
    Ok(())
}

/// idf of every term from its document frequency (the length of its posting list).
fn idf_per_term(variant: Bm25Variant, n: f64, offsets: &[usize]) -> Vec<f64> {
    let dfs = offsets.windows(2).map(|w| (w[1] - w[0]) as f64);
    match variant {
        Bm25Variant::Lucene => dfs
            .map(|df| (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
            .collect(),
        Bm25Variant::Robertson => {
            let mut idf: Vec<f64> = dfs.map(|df| ((n - df + 0.5) / (df + 0.5)).ln()).collect();
            if !idf.is_empty() {
                let floor = ROBERTSON_EPSILON * idf.iter().sum::<f64>() / idf.len() as f64;
                for v in idf.iter_mut().filter(|v| **v < 0.0) {
                    *v = floor;
                }
            }
            idf
        }
    }
}

/// A candidate in the top-k heap, ordered by score, then by *earlier* document as better.
#[derive(Clone, Copy, Debug)]
struct Ranked {
    score: f64,
    doc: u32,
}

thread_local! {
    /// Per-thread accumulators of [`Bm25Index::top_k`]: a score and a "met" flag per document.
    static SCRATCH: std::cell::RefCell<(Vec<f64>, Vec<bool>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.doc.cmp(&self.doc))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

const MAGIC: &[u8; 8] = b"M7BM25\0\0";
const FORMAT_VERSION: u32 = 1;
/// Magic (8) + version (4) + payload length (8) + checksum (8).
const HEADER_LEN: usize = 28;

/// FNV-1a, 64-bit: a tiny non-cryptographic hash, enough to notice a damaged file.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length-prefixed byte string.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// A bounds-checked cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn is_at_end(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(anyhow!(
                "truncated: needs {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String> {
        let at = self.pos;
        let b = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|_| anyhow!("invalid UTF-8 in a string at offset {at}"))
    }

    /// A count of items that each take at least `min_item_bytes`: rejected if the rest of the file
    /// could not hold them, so a corrupt count cannot ask for a huge allocation.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            bail!(
                "truncated: {n} items announced at offset {}, only {} bytes left",
                self.pos - 4,
                self.remaining()
            );
        }
        Ok(n)
    }
}
