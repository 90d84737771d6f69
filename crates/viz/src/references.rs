//! Published numbers the experiments compare against (`configs/references.toml`): the one file
//! where a number that no record produces is typed, each with its source.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;

/// Where the file lives, relative to the workspace root.
pub const PATH: &str = "configs/references.toml";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct References {
    pub nanogpt: NanoGpt,
    pub cisi: Cisi,
    pub targets: Targets,
}

/// Targets the milestones were set before they ran.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub source: String,
    /// m7: MiniLM's encoding speed over sentence-transformers' (ratio).
    pub minilm_speedup: f64,
    /// m7: how far sentence-transformers' measured speed may be from CISI's README (fraction).
    pub readme_speed_tolerance: f64,
    /// m8: exact match with the gold passage as context.
    pub gold_exact_match: f64,
    /// m8: with the gold passage among the retrieved k, exact match as a share of gold's.
    pub retrieved_share_of_gold: f64,
}

/// nanoGPT's character-level Shakespeare result.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NanoGpt {
    pub source: String,
    /// Validation loss of its CPU "baby GPT" (nats per character).
    pub char_val_loss: f64,
}

/// The CISI collection's reference numbers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cisi {
    pub source: String,
    /// Published nDCG@10 by retriever name.
    pub ndcg_cut_10: BTreeMap<String, f64>,
    /// sentence-transformers' all-MiniLM-L6-v2 encoding speed on 2 threads (documents/s).
    pub minilm_docs_per_s: f64,
}

impl References {
    /// Read `configs/references.toml` under `root`; an error names the file and the key.
    pub fn load(root: &Path) -> Result<References> {
        Ok(run_context::load_toml(&root.join(PATH))?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_references_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let r = References::load(&root).unwrap();
        assert!(r.nanogpt.char_val_loss > 1.0 && !r.nanogpt.source.is_empty());
        assert!(r.cisi.ndcg_cut_10.contains_key("bm25"));
    }
}
