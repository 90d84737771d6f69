//! What phase 3's records hold, typed once: each run's summary (written with
//! [`viz::record::RunWriter::summaries`], read with [`viz::record::Record::summary_as`]) and the
//! names of the metrics its runs log. A misspelt field is a compile error, not a missing number.
//!
//! Names that are data — a retriever, a context condition (`bm25@3`), a chunking, a question
//! kind — are the keys of maps, looked up through the methods here, which say what is missing.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Metric keys the phase-3 runs log.
pub mod metric {
    /// m8: the reader's training loss, the mean over each logging interval; m7: a trained
    /// retriever's (see [`retriever_train_loss`]).
    pub const TRAIN_LOSS: &str = "train_loss";
    /// m8's training curve: a condition's exact match (see [`curve`]).
    pub const EXACT_MATCH: &str = "exact_match";
    /// m8's training curve: a condition's answer perplexity (see [`curve`]).
    pub const ANSWER_PERPLEXITY: &str = "answer_perplexity";

    /// m8: `curve/{condition}/{what}` — [`EXACT_MATCH`] or [`ANSWER_PERPLEXITY`] of a context
    /// condition, asked during training.
    pub fn curve(condition: &str, what: &str) -> String {
        format!("curve/{condition}/{what}")
    }

    /// m7: `{retriever}/train_loss` — a retriever's contrastive loss while it trains.
    pub fn retriever_train_loss(retriever: &str) -> String {
        format!("{retriever}/{TRAIN_LOSS}")
    }
}

/// The key prefix of a retriever's recall@k (`recall_5`).
const RECALL: &str = "recall_";
/// The key prefix of a retriever's nDCG@10 over one question kind (`ndcg_cut_10/lookup`): the key
/// stays whole beside `ndcg_cut_10` itself (see [`viz::record::Record::summary_as`]).
const NDCG_OF_KIND: &str = "ndcg_cut_10/";

/// m7: one collection's record — its size, and every retriever that ran on it, by name.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RetrievalSummary {
    pub docs: u64,
    pub queries: u64,
    pub judged_queries: u64,
    #[serde(flatten)]
    pub retrievers: BTreeMap<String, RetrieverSummary>,
}

impl RetrievalSummary {
    /// The scores of retriever `name` (an error naming it when the record has none).
    pub fn retriever(&self, name: &str) -> Result<&RetrieverSummary> {
        self.retrievers
            .get(name)
            .with_context(|| format!("m7 record has no scores for retriever `{name}`"))
    }
}

/// m7: one retriever's mean scores on one collection (trec_eval's measures), and, for a retriever
/// trained while it was built, its training.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RetrieverSummary {
    pub ndcg_cut_10: f64,
    pub map: f64,
    pub recip_rank: f64,
    pub mrr_10: f64,
    pub queries_scored: u64,
    pub train_pairs: Option<u64>,
    pub train_loss_final: Option<f64>,
    pub train_in_batch_accuracy: Option<f64>,
    #[serde(flatten)]
    pub breakdown: Breakdown,
}

impl RetrieverSummary {
    /// Mean recall@`k` (the record holds the config's `recall_at`).
    pub fn recall_at(&self, k: usize) -> Result<f64> {
        self.breakdown
            .recall
            .get(&k)
            .copied()
            .with_context(|| format!("m7 record has no recall@{k}"))
    }

    /// Mean nDCG@10 over the questions of one kind.
    pub fn ndcg_of(&self, kind: &str) -> Result<f64> {
        self.breakdown
            .ndcg_by_kind
            .get(kind)
            .copied()
            .with_context(|| format!("m7 record has no nDCG@10 for question kind `{kind}`"))
    }

    /// The question kinds scored apart, in name order (none on a collection without kinds).
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.breakdown.ndcg_by_kind.keys().map(String::as_str)
    }
}

/// m7: a retriever's numbers under keys built from a value: recall@k per k (`recall_{k}`) and, on a
/// collection whose questions have kinds, nDCG@10 per kind (`ndcg_cut_10/{kind}`). Flattened into
/// [`RetrieverSummary`], it writes and reads exactly those keys.
#[derive(Clone, Debug, Default)]
pub struct Breakdown {
    pub recall: BTreeMap<usize, f64>,
    pub ndcg_by_kind: BTreeMap<String, f64>,
}

impl Serialize for Breakdown {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.recall.len() + self.ndcg_by_kind.len()))?;
        for (k, v) in &self.recall {
            map.serialize_entry(&format!("{RECALL}{k}"), v)?;
        }
        for (kind, v) in &self.ndcg_by_kind {
            map.serialize_entry(&format!("{NDCG_OF_KIND}{kind}"), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Breakdown {
    /// From the retriever's keys its named fields left: those of the two forms, any other ignored.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rest = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut out = Breakdown::default();
        for (key, v) in rest {
            let Some(x) = v.as_f64() else { continue };
            if let Some(k) = key.strip_prefix(RECALL).and_then(|k| k.parse().ok()) {
                out.recall.insert(k, x);
            } else if let Some(kind) = key.strip_prefix(NDCG_OF_KIND) {
                out.ndcg_by_kind.insert(kind.to_string(), x);
            }
        }
        Ok(out)
    }
}

/// `cargo xtask bench-rag` (`records/m7/bench_rag`): the medians per side, and ours ÷ theirs (for a
/// time, theirs ÷ ours, so above 1 always means ours is faster). Python's side and bm25s's numba
/// backend are there only when they ran.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BenchSummary {
    pub bm25_build_s: Sides,
    pub bm25_queries_per_s: Sides,
    pub minilm_docs_per_s: Sides,
    pub bm25_build_speedup: Option<f64>,
    pub bm25_query_speedup: Option<f64>,
    pub minilm_speedup: Option<f64>,
    pub bm25_build_speedup_numba: Option<f64>,
    pub bm25_query_speedup_numba: Option<f64>,
}

/// One measurement's median per side of the bench.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Sides {
    pub ours: f64,
    pub python: Option<f64>,
    pub bm25s_numba: Option<f64>,
}

/// m8 (`records/m8/reader`): its sizes, where the answers look, and each context condition's
/// means, keyed by the condition's name (`closed_book`, `bm25@3`, `gold` …).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ReaderSummary {
    #[serde(flatten)]
    pub sizes: ReaderSizes,
    #[serde(flatten)]
    pub traced: Traced,
    #[serde(flatten)]
    pub conditions: BTreeMap<String, ConditionSummary>,
}

impl ReaderSummary {
    /// The means of context condition `name`.
    pub fn condition(&self, name: &str) -> Result<&ConditionSummary> {
        self.conditions
            .get(name)
            .with_context(|| format!("m8 record has no context condition `{name}`"))
    }

    /// The means of the condition that reads the top `k` passages of `retriever`.
    pub fn retrieved(&self, retriever: &str, k: usize) -> Result<&ConditionSummary> {
        self.condition(&retrieved(retriever, k))
    }
}

/// m8: how many held-out questions, reading examples, parameters, vocabulary entries and passages.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ReaderSizes {
    pub questions: u64,
    pub pool: u64,
    pub parameters: u64,
    pub vocab_size: u64,
    pub passages: u64,
}

/// m8: where the answers look, when the config names a condition to trace.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Traced {
    pub attention: Option<AttentionSummary>,
}

/// m8: one context condition asked the held-out questions: the means over them, and exact match
/// over those whose prompt held the gold passage (when any did).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ConditionSummary {
    pub exact_match: f64,
    pub answer_perplexity: f64,
    pub gold_in_context: f64,
    pub exact_match_gold_in_context: Option<f64>,
}

/// m8: the attention mass of the answer tokens on the answer inside the gold passage, per layer
/// (keyed `layer{l}`), against the mass if attention were uniform, over `questions` questions.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AttentionSummary {
    pub uniform_baseline: f64,
    pub questions: u64,
    #[serde(flatten)]
    pub layers: BTreeMap<String, LayerAttention>,
}

impl AttentionSummary {
    /// The summary of per-layer masses (layer 0 first).
    pub fn new(per_layer: &[f64], uniform_baseline: f64, questions: u64) -> Self {
        let layers = per_layer
            .iter()
            .enumerate()
            .map(|(l, &m)| {
                (
                    layer_key(l),
                    LayerAttention {
                        answer_span_mass: m,
                    },
                )
            })
            .collect();
        AttentionSummary {
            uniform_baseline,
            questions,
            layers,
        }
    }

    /// Layer `l`'s mass on the answer span, if the record measured it.
    pub fn layer(&self, l: usize) -> Option<f64> {
        self.layers.get(&layer_key(l)).map(|a| a.answer_span_mass)
    }
}

fn layer_key(l: usize) -> String {
    format!("layer{l}")
}

/// m8: one layer's attention on the answer span.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LayerAttention {
    pub answer_span_mass: f64,
}

/// m9 (`records/m9/ablation`): the questions asked in every cell, and per chunking its cells.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AblationSummary {
    pub questions: u64,
    #[serde(flatten)]
    pub chunkings: BTreeMap<String, ChunkingSummary>,
}

impl AblationSummary {
    /// The cell of `chunking`, `retriever` and `k`.
    pub fn cell(&self, chunking: &str, retriever: &str, k: usize) -> Result<&CellSummary> {
        let key = retrieved(retriever, k);
        self.chunkings
            .get(chunking)
            .and_then(|c| c.cells.get(&key))
            .with_context(|| format!("m9 record has no cell `{chunking}/{key}`"))
    }

    /// How many passages `chunking` cut the world into, if the record has it.
    pub fn passages(&self, chunking: &str) -> Option<u64> {
        self.chunkings.get(chunking).map(|c| c.passages)
    }
}

/// m9: one chunking — its passages, and its cells keyed `{retriever}@{k}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ChunkingSummary {
    pub passages: u64,
    #[serde(flatten)]
    pub cells: BTreeMap<String, CellSummary>,
}

impl ChunkingSummary {
    /// Records the cell of `retriever` and `k`.
    pub fn insert(&mut self, retriever: &str, k: usize, cell: CellSummary) {
        self.cells.insert(retrieved(retriever, k), cell);
    }
}

/// The name of the condition that reads the top `k` passages of `retriever` (`bm25@3`).
fn retrieved(retriever: &str, k: usize) -> String {
    format!("{retriever}@{k}")
}

/// m9: one cell (chunking × retriever × k), means over its questions.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CellSummary {
    pub exact_match: f64,
    pub answer_perplexity: f64,
    pub gold_in_context: f64,
    pub prompt_tokens: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use viz::record::Record;

    fn committed(milestone: &str, name: &str) -> Record {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../records")
            .join(milestone)
            .join(name);
        Record::load_dir(&dir).unwrap()
    }

    /// Every committed phase-3 record reads into its type and writes back exactly its summary.
    #[test]
    fn records_read_into_their_types_and_write_back_the_same_keys() {
        fn round_trip<T: Serialize + serde::de::DeserializeOwned>(rec: &Record) {
            let back = rec.summary_rewritten_as::<T>().unwrap();
            assert_eq!(back, rec.meta.summary, "{}", rec.dir.display());
        }
        round_trip::<RetrievalSummary>(&committed("m7", "retrieval_world"));
        round_trip::<RetrievalSummary>(&committed("m7", "retrieval_cisi"));
        round_trip::<BenchSummary>(&committed("m7", "bench_rag"));
        round_trip::<ReaderSummary>(&committed("m8", "reader"));
        round_trip::<AblationSummary>(&committed("m9", "ablation"));
    }

    #[test]
    fn lookups_name_what_is_missing() {
        let world: RetrievalSummary = committed("m7", "retrieval_world").summary_as().unwrap();
        let bm25 = world.retriever("bm25").unwrap();
        assert!(bm25.ndcg_of("lookup").unwrap() > 0.0);
        assert!(bm25.recall_at(5).is_ok());
        assert_eq!(bm25.kinds().count(), 5);
        let e = format!("{:#}", world.retriever("nobody").unwrap_err());
        assert!(e.contains("nobody"), "{e}");
        let m9: AblationSummary = committed("m9", "ablation").summary_as().unwrap();
        let e = format!("{:#}", m9.cell("sentence", "bm25", 9).unwrap_err());
        assert!(e.contains("sentence/bm25@9"), "{e}");
        let m8: ReaderSummary = committed("m8", "reader").summary_as().unwrap();
        assert!(m8.traced.attention.unwrap().layer(3).is_some());
    }
}
