//! The GPT's shape ([`GptConfig`]), stored with every checkpoint. The model ([`crate::model`]), the
//! hand-written engine ([`crate::fast`]) and dropout's masks ([`crate::dropout`]) are all laid out
//! by it.

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The model's shape. Stored with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Number of distinct tokens (filled in from the tokenizer when omitted from a config).
    #[serde(default)]
    pub vocab_size: usize,
    /// Longest context the model sees (rows of the position-embedding table).
    pub block_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub d_model: usize,
    /// Learned position embeddings (`false` only for the ablation: attention alone is then blind
    /// to order, except through the causal mask).
    #[serde(default = "yes")]
    pub pos_emb: bool,
}

fn yes() -> bool {
    true
}

impl GptConfig {
    /// Errors naming the offending field.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.vocab_size == 0 {
            bail!("model.vocab_size must be > 0");
        }
        if self.n_head == 0 || !self.d_model.is_multiple_of(self.n_head) {
            bail!(
                "model.d_model = {} must be a multiple of model.n_head = {}",
                self.d_model,
                self.n_head
            );
        }
        if self.block_size == 0 || self.n_layer == 0 {
            bail!("model.block_size and model.n_layer must be > 0");
        }
        Ok(())
    }

    /// Parameter count (the tied head counted once), as `sum(p.numel())` in PyTorch.
    pub fn n_params(&self) -> usize {
        let d = self.d_model;
        let per_block = 2 * d
            + (3 * d * d + 3 * d)
            + (d * d + d)
            + 2 * d
            + (4 * d * d + 4 * d)
            + (4 * d * d + d);
        let pos = if self.pos_emb { self.block_size * d } else { 0 };
        self.vocab_size * d + pos + self.n_layer * per_block + 2 * d
    }
}
