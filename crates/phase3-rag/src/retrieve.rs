//! What every retriever is to the evaluation: given a query's text, the ids of the best `k`
//! documents with their scores, best first.

use anyhow::Result;

/// One ranked hit: a document id of the collection and the retriever's score (higher is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub doc_id: String,
    pub score: f64,
}

/// A retriever over one collection.
pub trait Retriever {
    /// Short name for tables and figures (`bm25`, `minilm`, `hybrid`, …).
    fn name(&self) -> String;
    /// The best `k` documents for `query`, best first. Ties may come in any order: the evaluation
    /// re-sorts them the way trec_eval does.
    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>>;
}
