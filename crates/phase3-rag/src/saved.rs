//! The reader m8 saves (`checkpoints/m8_reader/`): its checkpoint, the passages it reads and their
//! BM25 index, and the settings asking it needs. `cargo xtask ask`, the serving load test and
//! phase 4 start from it.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use run_context::Context;
use serde::{Deserialize, Serialize};

use crate::bm25::Bm25Index;
use crate::chunk::ChunkConfig;
use crate::reader::{fit_prompt, Passage, Passages};
use crate::world::WorldConfig;

/// The milestone whose record (`records/m8/reader`) describes the saved reader.
pub const MILESTONE: &str = "m8";
/// The experiment that trains and saves the reader (config `configs/phase3/m8_reader.toml`).
pub const READER: &str = "m8_reader";

/// What a later phase reads of the reader's config, as its record keeps it: the world the reader
/// was trained in.
#[derive(Clone, Debug, Deserialize)]
pub struct ReaderWorld {
    pub world: WorldConfig,
}

/// Where `cargo xtask ask` finds the reader, its passages and their BM25 index.
pub fn reader_dir(ctx: &Context) -> PathBuf {
    phase2_lm::checkpoint::dir_for(ctx, READER)
}

/// What `cargo xtask ask` needs besides the model: saved next to the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AskSettings {
    pub k: usize,
    pub answer_tokens: usize,
    pub chunks: String,
}

/// The reader m8 saved, with what asking it needs: its settings, its passages and their BM25 index
/// (`checkpoints/m8_reader/`). `cargo xtask ask` and the serving load test build prompts with it.
pub struct SavedReader {
    pub dir: PathBuf,
    pub settings: AskSettings,
    passages: Passages,
    index: Bm25Index,
}

impl SavedReader {
    /// The reader saved in `dir`, or an error that says how to train one.
    pub fn load(dir: &Path) -> Result<SavedReader> {
        ensure!(
            dir.join("ask.json").is_file(),
            "no trained reader in {}: run `cargo xtask phase3 --only {READER}` first",
            dir.display()
        );
        let read = |name: &str| -> Result<String> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let settings: AskSettings = serde_json::from_str(&read("ask.json")?)
            .with_context(|| format!("{} is not valid", dir.join("ask.json").display()))?;
        let all: Vec<Passage> = serde_json::from_str(&read("passages.json")?)
            .with_context(|| format!("{} is not valid", dir.join("passages.json").display()))?;
        Ok(SavedReader {
            dir: dir.to_path_buf(),
            settings,
            passages: Passages::from_passages(ChunkConfig::Sentences { max_chars: 1 }, all),
            index: Bm25Index::load(&dir.join("passages.bm25"))?,
        })
    }

    /// The `k` passages BM25 ranks best for `question`, best first.
    pub fn retrieve(&self, question: &str, k: usize) -> Vec<&Passage> {
        self.index
            .top_k(question, k)
            .into_iter()
            .filter_map(|(i, _)| self.passages.get(self.index.doc_id(i)))
            .collect()
    }

    /// The reader's prompt for `question` over its `k` best passages, within `budget` tokens by
    /// `count` (worst-ranked passages dropped first); the prompt, the passages used and those
    /// retrieved.
    pub fn prompt(
        &self,
        question: &str,
        k: usize,
        budget: usize,
        count: impl Fn(&str) -> usize,
    ) -> Result<(String, Vec<&Passage>, Vec<&Passage>)> {
        let hits = self.retrieve(question, k);
        let (prompt, used) = fit_prompt(&hits, question, budget, count)?;
        Ok((prompt, used, hits))
    }
}
