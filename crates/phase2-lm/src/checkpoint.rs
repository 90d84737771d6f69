//! Checkpoints: everything needed to sample from a model, or to continue its training exactly.
//!
//! A checkpoint is a directory:
//!
//! ```text
//! model.safetensors      parameters, named as in Gpt::vars (torch layout)
//! optimizer.safetensors  AdamW moments `m.<name>` / `v.<name>`
//! state.json             steps done, AdamW step count, the batch sampler's seed and stream position
//! config.toml            model + training config
//! tokenizer.json         the tokenizer (phase2_lm::tokenizer::AnyTokenizer)
//! progress.json          optional: the training loop's own clock (`Progress`), for runs with a
//!                        wall-clock budget that continue across sessions
//! ```
//!
//! It is written into a temporary sibling directory and renamed into place, so a crash mid-write
//! leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fast::Offsets;
use crate::model::{param_specs, Gpt};
use crate::tokenizer::AnyTokenizer;
use crate::train::{RunConfig, Trainer};

const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";
const CONFIG: &str = "config.toml";
const TOKENIZER: &str = "tokenizer.json";
const PROGRESS: &str = "progress.json";

/// What a training loop knows that the [`Trainer`] does not: the training seconds spent so far over
/// every session. Saved in the same directory as the weights (so in the same atomic rename), a
/// resumed run's wall clock continues exactly where the checkpoint's weights were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Seconds spent in training steps (evaluation and checkpointing excluded), all sessions.
    pub train_seconds: f64,
}

/// The scalar part of the training state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    step: usize,
    adam_t: i32,
    rng_seed: [u8; 32],
    /// The sampler's position in its ChaCha stream (u128, stored as a decimal string for JSON).
    rng_word_pos: String,
}

/// Save `trainer` (+ `tokenizer`) as the checkpoint directory `dir`, atomically.
pub fn save(dir: &Path, trainer: &Trainer, tokenizer: &AnyTokenizer) -> Result<()> {
    save_with_progress(dir, trainer, tokenizer, None)
}

/// [`save`], with the loop's [`Progress`] in the same directory (read back by [`load_progress`]).
pub fn save_with_progress(
    dir: &Path,
    trainer: &Trainer,
    tokenizer: &AnyTokenizer,
    progress: Option<&Progress>,
) -> Result<()> {
    let parent = dir
        .parent()
        .context("checkpoint path has no parent directory")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dir
        .file_name()
        .context("checkpoint path has no name")?
        .to_string_lossy();
    let tmp = parent.join(format!(".{name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;

    // One named tensor per parameter, cut from the flat vectors (weights, AdamW moments).
    let named = |flat: &[f32], prefix: &str| -> Result<HashMap<String, Tensor>> {
        param_specs(&trainer.cfg.model)
            .iter()
            .zip(trainer.layout().spans())
            .map(|((name, shape), &(start, len))| {
                let t =
                    Tensor::from_slice(&flat[start..start + len], shape.as_slice(), &Device::Cpu)?;
                Ok((format!("{prefix}{name}"), t))
            })
            .collect()
    };
    candle_core::safetensors::save(&named(trainer.params(), "")?, tmp.join(MODEL))?;
    let mut opt = HashMap::new();
    if !trainer.opt.m.is_empty() {
        opt.extend(named(&trainer.opt.m, "m.")?);
        opt.extend(named(&trainer.opt.v, "v.")?);
    }
    candle_core::safetensors::save(&opt, tmp.join(OPTIMIZER))?;
    let state = State {
        step: trainer.step,
        adam_t: trainer.opt.t,
        rng_seed: trainer.rng.get_seed(),
        rng_word_pos: trainer.rng.get_word_pos().to_string(),
    };
    fs::write(tmp.join(STATE), serde_json::to_vec_pretty(&state)?)?;
    fs::write(tmp.join(CONFIG), toml::to_string_pretty(&trainer.cfg)?)?;
    tokenizer.save(&tmp.join(TOKENIZER))?;
    if let Some(p) = progress {
        fs::write(tmp.join(PROGRESS), serde_json::to_vec_pretty(p)?)?;
    }

    // Swap in: old -> .old, tmp -> dir, drop .old. Between the renames the previous checkpoint still
    // exists under .old, so some complete checkpoint is on disk at every instant.
    let old = parent.join(format!(".{name}.old"));
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    if dir.exists() {
        fs::rename(dir, &old).with_context(|| format!("moving aside {}", dir.display()))?;
    }
    fs::rename(&tmp, dir).with_context(|| format!("renaming {} into place", tmp.display()))?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

fn read_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("reading {}", path.display()))
}

/// The flat vector (in [`Offsets`] layout) of the tensors `{prefix}{name}` of the safetensors file
/// `path` (already read into `tensors`), each checked against the model's parameter shapes.
fn read_flat(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    cfg: &crate::model::GptConfig,
    prefix: &str,
) -> Result<Vec<f32>> {
    let mut flat = Vec::with_capacity(Offsets::new(cfg).total());
    for (name, shape) in param_specs(cfg) {
        let key = format!("{prefix}{name}");
        let t = tensors
            .get(&key)
            .with_context(|| format!("{} has no tensor `{key}`", path.display()))?;
        if t.dims() != shape.as_slice() {
            bail!(
                "{}: `{key}` has shape {:?}, the model expects {shape:?}",
                path.display(),
                t.dims()
            );
        }
        flat.extend(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
    }
    Ok(flat)
}

/// A checkpoint's config, weights (flat, [`Offsets`] layout) and tokenizer: what inference needs
/// ([`crate::generator::Generator::from_checkpoint`]).
pub fn load_weights(dir: &Path) -> Result<(RunConfig, Vec<f32>, AnyTokenizer)> {
    if !dir.is_dir() {
        bail!("checkpoint directory {} does not exist", dir.display());
    }
    let cfg = read_config(dir)?;
    cfg.model
        .validate()
        .with_context(|| format!("{}", dir.join(CONFIG).display()))?;
    let path = dir.join(MODEL);
    let params = read_flat(&read_tensors(&path)?, &path, &cfg.model, "")?;
    let tokenizer = AnyTokenizer::load(&dir.join(TOKENIZER))?;
    Ok((cfg, params, tokenizer))
}

/// The readable candle model of a checkpoint (attention maps, the reference path), and its tokenizer.
pub fn load_model(dir: &Path) -> Result<(Gpt, AnyTokenizer, RunConfig)> {
    let (cfg, params, tokenizer) = load_weights(dir)?;
    let model = Gpt::new(&cfg.model, cfg.train.seed)?;
    crate::fast::scatter(&params, &Offsets::new(&cfg.model), &model)?;
    Ok((model, tokenizer, cfg))
}

/// Everything: a [`Trainer`] that continues exactly where the saved one stopped.
pub fn load(dir: &Path) -> Result<(Trainer, AnyTokenizer)> {
    let (cfg, params, tokenizer) = load_weights(dir)?;
    let mut trainer = Trainer::from_params(cfg, params)?;
    let state_path = dir.join(STATE);
    let state: State = serde_json::from_slice(
        &fs::read(&state_path).with_context(|| format!("reading {}", state_path.display()))?,
    )
    .with_context(|| format!("parsing {}", state_path.display()))?;
    trainer.step = state.step;
    trainer.opt.t = state.adam_t;
    let mut rng: ChaCha8Rng = rand::SeedableRng::from_seed(state.rng_seed);
    let pos: u128 = state
        .rng_word_pos
        .parse()
        .with_context(|| format!("{}: bad rng_word_pos", state_path.display()))?;
    rng.set_word_pos(pos);
    trainer.rng = rng;
    if state.adam_t > 0 {
        let path = dir.join(OPTIMIZER);
        let moments = read_tensors(&path)?;
        trainer.opt.m = read_flat(&moments, &path, &trainer.cfg.model, "m.")?;
        trainer.opt.v = read_flat(&moments, &path, &trainer.cfg.model, "v.")?;
    }
    Ok((trainer, tokenizer))
}

/// The [`Progress`] saved with a checkpoint (a fresh one when it was saved without: a run that had
/// no clock starts its clock at 0).
pub fn load_progress(dir: &Path) -> Result<Progress> {
    let path = dir.join(PROGRESS);
    if !path.exists() {
        return Ok(Progress::default());
    }
    serde_json::from_slice(&fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
        .with_context(|| format!("parsing {}", path.display()))
}

/// Where the checkpoints of run `run` live: `<records>/../checkpoints/<run>` — next to the records
/// (git-ignored `checkpoints/` in the repository, or the scratch folder of a quick run).
pub fn dir_for(ctx: &run_context::Context, run: &str) -> PathBuf {
    ctx.records
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ctx.root.clone())
        .join("checkpoints")
        .join(run)
}
