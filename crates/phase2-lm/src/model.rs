//! A GPT (Radford et al. 2018/2019), top to bottom in one file, in the style of nanoGPT's model.py.
//!
//! tokens -> token embedding + learned position embedding -> N pre-LayerNorm decoder blocks
//! (`x + attn(ln1(x))`, then `x + mlp(ln2(x))`) -> final LayerNorm -> logits through the *same*
//! matrix as the token embedding (tied weights, Press & Wolf 2017).
//!
//! The architecture, initialisation and parameter names match `crates/phase2-lm/scripts/torch_gpt.py`, so our
//! numbers can be compared with PyTorch's: Linear/Embedding weights ~ N(0, 0.02), biases 0,
//! LayerNorm weight 1 / bias 0, GELU in its erf form. The arithmetic is [`crate::ops`]: candle
//! primitives that candle's autograd differentiates. This is the readable reference; training runs on
//! the same model written out by hand over flat buffers ([`crate::fast`]), tested against this one.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::attention::{CausalSelfAttention, KvCache};
use crate::dropout::Masks;
use crate::ops;

/// The model's shape, in its own module ([`crate::config`]) so that what only needs the shape
/// (dropout's masks) does not import the model.
pub use crate::config::GptConfig;

/// Every parameter's name and shape in [`Gpt::vars`] order, without building the model: the layout of
/// the flat weight vector ([`crate::fast::Offsets`]) and of a checkpoint's `model.safetensors`.
pub fn param_specs(cfg: &GptConfig) -> Vec<(String, Vec<usize>)> {
    let d = cfg.d_model;
    let mut out = vec![("tok_emb".to_string(), vec![cfg.vocab_size, d])];
    if cfg.pos_emb {
        out.push(("pos_emb".to_string(), vec![cfg.block_size, d]));
    }
    for i in 0..cfg.n_layer {
        for (name, shape) in [
            ("ln1.weight", vec![d]),
            ("ln1.bias", vec![d]),
            ("attn.qkv.weight", vec![3 * d, d]),
            ("attn.qkv.bias", vec![3 * d]),
            ("attn.proj.weight", vec![d, d]),
            ("attn.proj.bias", vec![d]),
            ("ln2.weight", vec![d]),
            ("ln2.bias", vec![d]),
            ("mlp.fc.weight", vec![4 * d, d]),
            ("mlp.fc.bias", vec![4 * d]),
            ("mlp.proj.weight", vec![d, 4 * d]),
            ("mlp.proj.bias", vec![d]),
        ] {
            out.push((format!("blocks.{i}.{name}"), shape));
        }
    }
    out.push(("ln_f.weight".to_string(), vec![d]));
    out.push(("ln_f.bias".to_string(), vec![d]));
    out
}

/// `params` (flat, in [`param_specs`] order) of a model read at `cfg.block_size`, lengthened to read
/// `block_size` tokens: the position table gains rows, copied from its last learned rows (they
/// already stand for "late in the window", a better start than noise); every other weight is kept.
/// On sequences the old model could read, the new one computes exactly what the old one did.
pub fn lengthen_context(
    cfg: &GptConfig,
    params: &[f32],
    block_size: usize,
) -> anyhow::Result<(GptConfig, Vec<f32>)> {
    let total: usize = param_specs(cfg)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    anyhow::ensure!(
        params.len() == total,
        "{} parameters, but the config needs {total}",
        params.len()
    );
    anyhow::ensure!(
        block_size >= cfg.block_size,
        "a context of {block_size} is not longer than the model's {}",
        cfg.block_size
    );
    let mut out_cfg = cfg.clone();
    out_cfg.block_size = block_size;
    if !cfg.pos_emb || block_size == cfg.block_size {
        return Ok((out_cfg, params.to_vec()));
    }
    let d = cfg.d_model;
    let at = cfg.vocab_size * d; // tok_emb comes first, pos_emb right after it
    let old = &params[at..at + cfg.block_size * d];
    let mut out = Vec::with_capacity(params.len() + (block_size - cfg.block_size) * d);
    out.extend_from_slice(&params[..at]);
    out.extend_from_slice(old);
    let extra = block_size - cfg.block_size;
    for i in 0..extra {
        // Cycle through the last `extra` rows (all rows when the table more than doubles).
        let src = cfg.block_size - extra.min(cfg.block_size) + i % extra.min(cfg.block_size);
        out.extend_from_slice(&old[src * d..(src + 1) * d]);
    }
    out.extend_from_slice(&params[at + cfg.block_size * d..]);
    Ok((out_cfg, out))
}

/// One pre-LayerNorm decoder block.
#[derive(Debug, Clone)]
pub struct Block {
    pub ln1_w: Var,
    pub ln1_b: Var,
    pub attn: CausalSelfAttention,
    pub ln2_w: Var,
    pub ln2_b: Var,
    /// `[4d, d]` and `[d, 4d]`: the MLP widens the stream fourfold, applies GELU, narrows it back.
    pub fc_w: Var,
    pub fc_b: Var,
    pub proj_w: Var,
    pub proj_b: Var,
}

/// One block's dropout masks as tensors: attention weights `[B, H, T, T]`, the two residual
/// branches `[B, T, d]`.
struct BlockMasks {
    att: Tensor,
    attn_out: Tensor,
    mlp_out: Tensor,
}

/// `x ⊙ mask` when there is a mask.
fn apply_mask(x: Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    match mask {
        Some(m) => x * m,
        None => Ok(x),
    }
}

impl Block {
    fn forward(
        &self,
        x: &Tensor,
        cache: Option<&mut KvCache>,
        want_weights: bool,
        masks: Option<&BlockMasks>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let h = ops::layer_norm(x, self.ln1_w.as_tensor(), self.ln1_b.as_tensor())?;
        let (a, weights) =
            self.attn
                .forward_dropout(&h, cache, want_weights, masks.map(|m| &m.att))?;
        let x = (x + apply_mask(a, masks.map(|m| &m.attn_out))?)?;
        let h = ops::layer_norm(&x, self.ln2_w.as_tensor(), self.ln2_b.as_tensor())?;
        let h = ops::linear(&h, self.fc_w.as_tensor(), Some(self.fc_b.as_tensor()))?;
        let h = ops::linear(
            &ops::gelu(&h)?,
            self.proj_w.as_tensor(),
            Some(self.proj_b.as_tensor()),
        )?;
        Ok(((x + apply_mask(h, masks.map(|m| &m.mlp_out))?)?, weights))
    }
}

/// The whole model: embeddings, blocks, final LayerNorm; the head reuses `tok_emb`.
#[derive(Debug, Clone)]
pub struct Gpt {
    pub cfg: GptConfig,
    /// `[V, d]`: token embedding, and (transposed) the output head.
    pub tok_emb: Var,
    /// `[T, d]`, absent in the no-position ablation.
    pub pos_emb: Option<Var>,
    pub blocks: Vec<Block>,
    pub ln_f_w: Var,
    pub ln_f_b: Var,
}

impl Gpt {
    /// A freshly initialised model (f32, CPU). Every random number comes from one ChaCha stream
    /// seeded with `seed`, drawn in [`Gpt::vars`] order, so a seed names one exact model.
    pub fn new(cfg: &GptConfig, seed: u64) -> anyhow::Result<Gpt> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = cfg.d_model;
        let mut randn = |shape: (usize, usize)| -> Result<Var> {
            let v: Vec<f32> = (0..shape.0 * shape.1)
                .map(|_| 0.02 * std_normal(&mut rng))
                .collect();
            Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu)?)
        };
        let tok_emb = randn((cfg.vocab_size, d))?;
        let pos_emb = if cfg.pos_emb {
            Some(randn((cfg.block_size, d))?)
        } else {
            None
        };
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for _ in 0..cfg.n_layer {
            let qkv_w = randn((3 * d, d))?;
            let proj_w = randn((d, d))?;
            let fc_w = randn((4 * d, d))?;
            let mlp_proj_w = randn((d, 4 * d))?;
            blocks.push(Block {
                ln1_w: ones(d)?,
                ln1_b: zeros(d)?,
                attn: CausalSelfAttention {
                    qkv_w,
                    qkv_b: zeros(3 * d)?,
                    proj_w,
                    proj_b: zeros(d)?,
                    n_head: cfg.n_head,
                },
                ln2_w: ones(d)?,
                ln2_b: zeros(d)?,
                fc_w,
                fc_b: zeros(4 * d)?,
                proj_w: mlp_proj_w,
                proj_b: zeros(d)?,
            });
        }
        Ok(Gpt {
            cfg: cfg.clone(),
            tok_emb,
            pos_emb,
            blocks,
            ln_f_w: ones(d)?,
            ln_f_b: zeros(d)?,
        })
    }

    /// Every parameter with its safetensors name, in a fixed order (the optimizer's order too).
    pub fn vars(&self) -> Vec<(String, Var)> {
        let mut out = vec![("tok_emb".to_string(), self.tok_emb.clone())];
        if let Some(p) = &self.pos_emb {
            out.push(("pos_emb".to_string(), p.clone()));
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let name = |s: &str| format!("blocks.{i}.{s}");
            out.extend([
                (name("ln1.weight"), b.ln1_w.clone()),
                (name("ln1.bias"), b.ln1_b.clone()),
                (name("attn.qkv.weight"), b.attn.qkv_w.clone()),
                (name("attn.qkv.bias"), b.attn.qkv_b.clone()),
                (name("attn.proj.weight"), b.attn.proj_w.clone()),
                (name("attn.proj.bias"), b.attn.proj_b.clone()),
                (name("ln2.weight"), b.ln2_w.clone()),
                (name("ln2.bias"), b.ln2_b.clone()),
                (name("mlp.fc.weight"), b.fc_w.clone()),
                (name("mlp.fc.bias"), b.fc_b.clone()),
                (name("mlp.proj.weight"), b.proj_w.clone()),
                (name("mlp.proj.bias"), b.proj_b.clone()),
            ]);
        }
        out.push(("ln_f.weight".to_string(), self.ln_f_w.clone()));
        out.push(("ln_f.bias".to_string(), self.ln_f_b.clone()));
        out
    }

    /// Logits `[B, T, V]` for token ids `idx: [B, T]` (u32).
    pub fn forward(&self, idx: &Tensor) -> Result<Tensor> {
        Ok(self.run(idx, 0, None, false, None)?.0)
    }

    /// [`Gpt::loss`] of a training step with dropout: the activations multiplied by `masks`
    /// ([`crate::dropout`], drawn for these `B` windows of `T` tokens) in nanoGPT's places — the
    /// embedding sum, the attention weights, the attention and MLP branches before each residual
    /// sum. With the hand-written engine's masks, candle's gradient of this is the reference for its
    /// dropout backward.
    pub fn loss_masked(&self, idx: &Tensor, targets: &Tensor, masks: &Masks) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        let (d, h) = (self.cfg.d_model, self.cfg.n_head);
        if (masks.b, masks.t, masks.layers.len()) != (b, t, self.cfg.n_layer) {
            candle_core::bail!(
                "dropout masks for {} windows of {} tokens and {} blocks, input is {b} x {t} and {} blocks",
                masks.b,
                masks.t,
                masks.layers.len(),
                self.cfg.n_layer
            );
        }
        let dev = &Device::Cpu;
        let emb = Tensor::from_slice(&masks.emb, (b, t, d), dev)?;
        let blocks = masks
            .layers
            .iter()
            .map(|m| {
                Ok(BlockMasks {
                    att: Tensor::from_slice(&m.att, (b, h, t, t), dev)?,
                    attn_out: Tensor::from_slice(&m.attn_out, (b, t, d), dev)?,
                    mlp_out: Tensor::from_slice(&m.mlp_out, (b, t, d), dev)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let logits = self.run(idx, 0, None, false, Some((&emb, &blocks)))?.0;
        let v = self.cfg.vocab_size;
        ops::cross_entropy(&logits.reshape((b * t, v))?, &targets.reshape(b * t)?)
    }

    /// Mean next-token cross-entropy (nats) of `idx: [B, T]` against `targets: [B, T]`.
    pub fn loss(&self, idx: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.forward(idx)?;
        let (b, t, v) = logits.dims3()?;
        ops::cross_entropy(&logits.reshape((b * t, v))?, &targets.reshape(b * t)?)
    }

    /// Logits and every layer's attention weights `[B, H, T, T]` (reference ops).
    pub fn forward_with_attention(&self, idx: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        self.run(idx, 0, None, true, None)
    }

    /// Logits `[B, T_new, V]` of new tokens at positions `start..start+T_new`, using and extending
    /// one [`KvCache`] per layer (generation).
    pub fn forward_cached(
        &self,
        idx: &Tensor,
        start: usize,
        caches: &mut [KvCache],
    ) -> Result<Tensor> {
        Ok(self.run(idx, start, Some(caches), false, None)?.0)
    }

    fn run(
        &self,
        idx: &Tensor,
        start: usize,
        mut caches: Option<&mut [KvCache]>,
        want_weights: bool,
        masks: Option<(&Tensor, &[BlockMasks])>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t) = idx.dims2()?;
        let d = self.cfg.d_model;
        if start + t > self.cfg.block_size {
            candle_core::bail!(
                "sequence of {} tokens exceeds block_size {}",
                start + t,
                self.cfg.block_size
            );
        }
        // Token embeddings, plus the embedding of each position.
        let mut x = self
            .tok_emb
            .as_tensor()
            .index_select(&idx.flatten_all()?, 0)?
            .reshape((b, t, d))?;
        if let Some(pos) = &self.pos_emb {
            x = x.broadcast_add(&pos.as_tensor().narrow(0, start, t)?)?;
        }
        x = apply_mask(x, masks.map(|(emb, _)| emb))?;
        let mut weights = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let cache = caches.as_deref_mut().map(|c| &mut c[i]);
            let block_masks = masks.map(|(_, m)| &m[i]);
            let (y, w) = block.forward(&x, cache, want_weights, block_masks)?;
            x = y;
            weights.extend(w);
        }
        let x = ops::layer_norm(&x, self.ln_f_w.as_tensor(), self.ln_f_b.as_tensor())?;
        // Tied head: logits = x @ tok_emb^T.
        let logits = ops::linear(&x, self.tok_emb.as_tensor(), None)?;
        Ok((logits, weights))
    }
}

fn ones(n: usize) -> Result<Var> {
    Var::ones(n, DType::F32, &Device::Cpu)
}

fn zeros(n: usize) -> Result<Var> {
    Var::zeros(n, DType::F32, &Device::Cpu)
}

/// One draw from N(0, 1) by the Box–Muller transform (so only `rand` is needed).
fn std_normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m6_param_specs_are_the_models_vars() {
        for pos_emb in [true, false] {
            let cfg = GptConfig {
                vocab_size: 11,
                block_size: 8,
                n_layer: 2,
                n_head: 2,
                d_model: 8,
                pos_emb,
            };
            let specs = param_specs(&cfg);
            let vars: Vec<(String, Vec<usize>)> = Gpt::new(&cfg, 0)
                .unwrap()
                .vars()
                .into_iter()
                .map(|(n, v)| (n, v.dims().to_vec()))
                .collect();
            assert_eq!(specs, vars);
            let total: usize = specs.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
            assert_eq!(total, cfg.n_params());
            // The flat layout the engine and checkpoints use lines up with the specs, span by span.
            let off = crate::fast::Offsets::new(&cfg);
            let lens: Vec<usize> = off.spans().iter().map(|&(_, n)| n).collect();
            let sizes: Vec<usize> = specs.iter().map(|(_, s)| s.iter().product()).collect();
            assert_eq!(lens, sizes);
        }
    }

    #[test]
    fn m6_a_lengthened_context_reads_short_sequences_exactly_as_before() {
        use crate::generate::Sampling;
        use crate::generator::Generator;
        use crate::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
        use crate::train::{RunConfig, TrainConfig, Trainer};
        let text = "the cat sat on the mat; the dog sat on the log.";
        let tok: AnyTokenizer = CharTokenizer::from_text(text).into();
        let cfg = GptConfig {
            vocab_size: tok.vocab_size(),
            block_size: 16,
            n_layer: 2,
            n_head: 2,
            d_model: 16,
            pos_emb: true,
        };
        let train: TrainConfig = toml::from_str(
            "steps = 1\nbatch_size = 1\nmax_lr = 1e-3\nmin_lr = 1e-4\nwarmup = 1\neval_interval = 1\neval_iters = 1\nseed = 3",
        )
        .unwrap();
        let trainer = Trainer::new(RunConfig {
            model: cfg.clone(),
            train,
        })
        .unwrap();
        let (long, params) = lengthen_context(&cfg, trainer.params(), 40).unwrap();
        assert_eq!(long.block_size, 40);
        assert_eq!(
            params.len(),
            trainer.params().len() + 24 * cfg.d_model,
            "24 new position rows"
        );
        let greedy = Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        };
        let score = |c: &GptConfig, p: &[f32], s: &str| {
            Generator::new(c, p.to_vec(), tok.clone(), greedy)
                .unwrap()
                .prompt_logprobs(s)
                .unwrap()
                .token_logprobs
        };
        assert_eq!(
            score(&cfg, trainer.params(), "the cat sat on"),
            score(&long, &params, "the cat sat on")
        );
        // And it reads past the old block.
        assert_eq!(score(&long, &params, &text[..35]).len(), 34);
        assert!(lengthen_context(&cfg, trainer.params(), 8).is_err());
        assert!(lengthen_context(&cfg, &trainer.params()[1..], 40).is_err());
    }
}
