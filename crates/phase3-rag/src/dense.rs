//! Dense retrieval: any [`Encoder`] (a text → a unit vector) and exact (flat) search over the
//! encoded documents. The two encoders of m7 sit behind the trait: the dual encoder trained here
//! ([`crate::dual`]) and the pretrained all-MiniLM-L6-v2 ([`crate::minilm`]).

use anyhow::{bail, ensure, Result};

use crate::retrieve::{Hit, Retriever};

/// A text encoder whose vectors are compared by dot product (unit length, so a cosine).
pub trait Encoder {
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// The vectors of `texts`, in their order, computed `batch_size` at a time.
    fn encode_all(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>>;
    /// The vector of one text.
    fn encode(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.encode_all(&[text], 1)?;
        v.pop()
            .ok_or_else(|| anyhow::anyhow!("the encoder returned no vector"))
    }
}

/// Exact search: every document's unit vector is kept, and a query is scored against all of them
/// by dot product. At m7's sizes (thousands of documents of 384 numbers) a scan takes a fraction of
/// a millisecond, so an approximate index would only add error.
pub struct DenseIndex {
    name: String,
    encoder: Box<dyn Encoder>,
    doc_ids: Vec<String>,
    /// Row-major `[n_docs, dim]`.
    vectors: Vec<f32>,
}

impl DenseIndex {
    /// Encodes `texts` (one per id in `doc_ids`) in batches of `batch_size`; `name` is the
    /// retriever's name in tables.
    pub fn build(
        name: &str,
        encoder: Box<dyn Encoder>,
        doc_ids: Vec<String>,
        texts: &[&str],
        batch_size: usize,
    ) -> Result<DenseIndex> {
        if doc_ids.len() != texts.len() {
            bail!("{} document ids for {} texts", doc_ids.len(), texts.len());
        }
        let vectors = encoder.encode_all(texts, batch_size)?;
        let dim = encoder.dim();
        ensure!(
            vectors.iter().all(|v| v.len() == dim),
            "the encoder gave a vector that is not {dim} long"
        );
        Ok(DenseIndex {
            name: name.to_string(),
            encoder,
            doc_ids,
            vectors: vectors.concat(),
        })
    }

    /// The encoder, to encode more text with it.
    pub fn encoder(&self) -> &dyn Encoder {
        self.encoder.as_ref()
    }

    /// Number of indexed documents.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }
}

impl Retriever for DenseIndex {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        Ok(self.rank(&self.encoder.encode(query)?, k))
    }

    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<Hit>>> {
        Ok(self
            .encoder
            .encode_all(queries, QUERY_BATCH)?
            .iter()
            .map(|q| self.rank(q, k))
            .collect())
    }
}

/// Queries encoded together by [`Retriever::search_batch`].
const QUERY_BATCH: usize = 32;

impl DenseIndex {
    /// The `k` documents whose vectors have the largest dot product with `q`, best first.
    fn rank(&self, q: &[f32], k: usize) -> Vec<Hit> {
        let dim = q.len();
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .chunks_exact(dim)
            .map(|d| d.iter().zip(q).map(|(a, b)| a * b).sum::<f32>())
            .enumerate()
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1);
        scored.select_nth_unstable_by(k - 1, by_score);
        scored.truncate(k);
        scored.sort_by(by_score);
        scored
            .into_iter()
            .map(|(i, s)| Hit {
                doc_id: self.doc_ids[i].clone(),
                score: s as f64,
            })
            .collect()
    }
}
