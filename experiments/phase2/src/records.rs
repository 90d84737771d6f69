//! What phase 2's records hold, typed once: each run's summary (written with
//! [`viz::record::RunWriter::summaries`], read with [`viz::record::Record::summary_as`]) and the
//! names of the metrics its runs log. A misspelt field is a compile error, not a missing number.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use viz::record::Record;

/// Metric keys the phase-2 runs log: the training loop's own (`phase2_lm::fit::metric`) and these.
pub mod metric {
    pub use phase2_lm::fit::metric::*;
    /// m4's neural bigram: validation perplexity at each evaluation.
    pub const VAL_PPL: &str = "val_ppl";
    /// `m6/torch_parity`: each side's loss per step and their difference.
    pub const OURS_LOSS: &str = "ours_loss";
    pub const TORCH_LOSS: &str = "torch_loss";
    pub const ABS_DIFF: &str = "abs_diff";
    /// `m6/bench_full`: one point per seed.
    pub const VAL_LOSS_FULL: &str = "val_loss_full";
    pub const PYTORCH_VAL_LOSS: &str = "pytorch_val_loss";
    pub const PYTORCH_TOKENS_PER_S: &str = "pytorch_tokens_per_s";
    /// `m6/long_select`: a candidate's own copy of a training-loop key.
    pub fn candidate(name: &str, key: &str) -> String {
        format!("{name}/{key}")
    }
    /// `m6/bench`: one point per round per trainer.
    pub fn tokens_per_s(trainer: &str) -> String {
        format!("tokens_per_s_{trainer}")
    }
}

/// `m4/tokenizers`: the split's sizes and each BPE's bytes per validation token.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TokenizersSummary {
    #[serde(flatten)]
    pub sizes: SplitBytes,
    /// `val_bytes_per_token_v<vocab>_<split>`, one per trained BPE (see [`bytes_per_token_key`]).
    #[serde(flatten)]
    pub val_bytes_per_token: BTreeMap<String, f64>,
}

/// The training and validation split of `m4/tokenizers`, in bytes.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SplitBytes {
    pub train_bytes: u64,
    pub val_bytes: u64,
}

/// The summary key of one BPE's bytes per validation token.
pub fn bytes_per_token_key(vocab_size: usize, split: &str) -> String {
    format!("val_bytes_per_token_v{vocab_size}_{split}")
}

/// `m4/ngrams`: the split, the count and neural bigrams, and each Kneser–Ney order's perplexity.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NgramsSummary {
    #[serde(flatten)]
    pub sizes: NgramSizes,
    #[serde(flatten)]
    pub bigrams: BigramSummary,
    /// `kn_val_ppl_n<n>`: validation perplexity per character of the order-n model.
    #[serde(flatten)]
    pub kn_val_ppl: BTreeMap<String, f64>,
}

impl NgramsSummary {
    /// The order-`n` Kneser–Ney model's validation perplexity, if the run trained one.
    pub fn kn(&self, n: usize) -> Option<f64> {
        self.kn_val_ppl.get(&kn_key(n)).copied()
    }
}

/// The summary key of the order-`n` Kneser–Ney model's validation perplexity.
pub fn kn_key(n: usize) -> String {
    format!("kn_val_ppl_n{n}")
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NgramSizes {
    pub vocab_size: u64,
    pub train_tokens: u64,
    pub val_tokens: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BigramSummary {
    pub count_bigram_val_ppl: f64,
    pub count_bigram_train_ppl: f64,
    pub neural_bigram_val_ppl: f64,
    pub neural_bigram_train_ppl: f64,
    /// The step the neural bigram came within 1 % of the count bigram, if it did.
    pub neural_bigram_within_1pct_step: Option<u64>,
}

/// `m5/attention`: the best induction and previous-token heads and the copy task's losses.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AttentionSummary {
    pub best_induction: f64,
    pub best_induction_layer: u64,
    pub best_induction_head: u64,
    pub best_prev_token: f64,
    pub best_prev_layer: u64,
    pub best_prev_head: u64,
    pub loss_first_copy: f64,
    pub loss_second_copy: f64,
    pub vocab_size: u64,
}

/// A GPT trained by `phase2_lm::fit` (m6's char, BPE and ablation runs).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct FitSummary {
    pub params: u64,
    pub chars_per_token: f64,
    pub val_loss_full: f64,
    pub val_predictions_full: u64,
    pub val_bpc_full: f64,
    pub val_loss: f64,
    pub val_bpc: f64,
    pub tokens_per_s: f64,
    pub train_seconds: f64,
    pub steps: u64,
}

/// The fair comparison with the n-gram: both scored by sliding windows on the same characters.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SlidingSummary {
    pub val_loss_sliding: f64,
    pub sliding_stride: u64,
    pub sliding_scored: u64,
    pub ngram_n: u64,
    pub ngram_val_loss_sliding: f64,
}

/// Generation speed with and without the KV cache, ours and candle's.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct KvCacheSummary {
    pub kv_tokens_per_s: f64,
    pub recompute_tokens_per_s: f64,
    pub candle_kv_tokens_per_s: f64,
    pub candle_recompute_tokens_per_s: f64,
}

/// `m6/gpt_char`: the training, the fair n-gram comparison and the KV-cache speeds.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CharGptSummary {
    #[serde(flatten)]
    pub fit: FitSummary,
    #[serde(flatten)]
    pub sliding: SlidingSummary,
    #[serde(flatten)]
    pub kv: KvCacheSummary,
}

/// Which of the config's variants an m6 ablation run trained.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct VariantIndex {
    pub variant_index: u64,
}

/// `m6/bench` and `m6/bench_long`: tokens/s per trainer, and the best of ours over PyTorch.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BenchSummary {
    pub ratio_vs_pytorch: Option<f64>,
    /// `tokens_per_s_<trainer>` ([`metric::tokens_per_s`]).
    #[serde(flatten)]
    pub tokens_per_s: BTreeMap<String, f64>,
}

/// `m6/bench_full`: means over seeds of the full-length run, ours and PyTorch's.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BenchFullSummary {
    pub val_loss: Option<f64>,
    pub val_loss_full: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub pytorch_val_loss: Option<f64>,
    pub pytorch_tokens_per_s: Option<f64>,
    pub seeds: u64,
}

/// `m6/torch_parity`: the same model and batches trained by both engines.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ParitySummary {
    pub max_abs_loss_diff: f64,
    pub ours_val_loss_full: f64,
    pub torch_val_loss_full: f64,
    pub steps: u64,
}

/// `m6/long` at its start: the plan and the n-gram it must beat on the evaluation subset.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LongPlanSummary {
    pub params: u64,
    pub schedule_steps: u64,
    pub budget_minutes: f64,
    pub eval_chars: u64,
    pub ngram_subset_loss: f64,
    pub ngram_n: u64,
}

/// `m6/long` after each session.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LongProgressSummary {
    pub sessions: u64,
    pub steps_done: u64,
    pub train_minutes: f64,
    pub tokens_per_s: f64,
}

/// `m6/long` once trained: the final scores, where it overtook the n-gram, the bench GPT's score.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LongResultSummary {
    pub val_loss_full: f64,
    pub overtook_step: Option<u64>,
    pub overtook_minutes: Option<f64>,
    pub overtook_chars: Option<f64>,
    pub best_subset_loss: Option<f64>,
    pub final_subset_loss: Option<f64>,
    pub bench_subset_loss: Option<f64>,
    pub bench_params: Option<u64>,
}

/// The whole `m6/long` record (each part but the plan optional: a paused run has only its plan
/// and progress). Read part by part: the plan and the sliding scores both hold `ngram_n`.
#[derive(Clone, Debug)]
pub struct LongSummary {
    pub plan: LongPlanSummary,
    pub progress: Option<LongProgressSummary>,
    pub sliding: Option<SlidingSummary>,
    pub result: Option<LongResultSummary>,
}

impl LongSummary {
    pub fn read(rec: &Record) -> Result<LongSummary> {
        Ok(LongSummary {
            plan: rec.summary_as()?,
            progress: rec.summary_as().ok(),
            sliding: rec.summary_as().ok(),
            result: rec.summary_as().ok(),
        })
    }
}

/// `m6/long_select`: which candidate the short runs chose, and the budgets.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SelectSummary {
    pub chosen_index: u64,
    pub chosen_extrapolated: f64,
    pub select_minutes: f64,
    pub budget_minutes: f64,
    pub ngram_n: u64,
}
