//! The pretrained sentence encoder all-MiniLM-L6-v2, written out layer by layer on candle-core.
//!
//! What it is: BERT (Devlin et al. 2018) shrunk to 6 layers of width 384 with 12 heads
//! (MiniLM, Wang et al. 2020), fine-tuned by sentence-transformers so that the *mean* of its
//! last hidden states over a sentence's tokens, L2-normalised, is a sentence vector: two texts
//! about the same thing have a high cosine. That is the dense retriever m7 compares with BM25.
//!
//! The pipeline, top to bottom in this file, names as in the BERT paper and Hugging Face's
//! checkpoint:
//! 1. WordPiece tokens from `tokenizer.json` (the `tokenizers` crate, built without its C code),
//!    `[CLS] … [SEP]`, truncated to [`MAX_SEQ_LEN`] = 256 tokens as sentence-transformers does.
//! 2. Embeddings: word + position + token type (always type 0), then LayerNorm.
//! 3. Six encoder layers, each *post*-LN (BERT, unlike GPT-2): `x = LN(x + Attn(x))`,
//!    `x = LN(x + FFN(x))`, FFN = `Linear → GELU (erf form) → Linear`. Self-attention sees every
//!    token of its own sentence (not causal) and none of the padding: padded keys get `-∞`
//!    before the softmax, so their weight is exactly 0 and padding never changes a sentence's
//!    vector.
//! 4. Mean pooling over the attention mask, then L2 normalisation (the pooler head in the
//!    checkpoint is unused, as in sentence-transformers).
//!
//! LayerNorm and softmax are written from candle-core primitives, not candle-nn's fused kernels,
//! like phase 2's [`phase2_lm::ops`] (whose layer norm has GPT-2's eps 1e-5; BERT's is read from
//! `config.json`, 1e-12). Inference only, f32, CPU.
//!
//! Files: [`MiniLm::load`] reads `config.json`, `tokenizer.json` and `model.safetensors` from a
//! directory; [`minilm_files`] names them for the data cache (Hugging Face URLs, sizes, SHA-256),
//! and [`model_dir`] finds them (`../shared` beside the checkout, else the verified cache).
//! [`crate::dense::DenseIndex`] searches the encoded documents.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use candle_core::{DType, Device, Tensor, D};
use data_cache::DataFile;
use phase2_lm::ops::{gelu, linear};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use crate::dense::Encoder;

mod fast;

/// Longest input in tokens, `[CLS]` and `[SEP]` included (sentence-transformers'
/// `max_seq_length` for this model; BERT's position table would allow 512).
pub const MAX_SEQ_LEN: usize = 256;

/// The model's folder name, in `../shared/models/` and in the data cache.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Where the files come from when neither `../shared` nor the cache has them.
const HF_BASE: &str = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main";

/// The three files the encoder needs, as the data cache knows them (`all-MiniLM-L6-v2/<file>`),
/// with sizes and SHA-256 of the copies the reference vectors were computed from, so a machine
/// without `../shared` downloads exactly those bytes or fails naming the file.
pub fn minilm_files() -> Vec<DataFile> {
    [
        (
            "config.json",
            612,
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            "tokenizer.json",
            466_247,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        (
            "model.safetensors",
            90_868_376,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
    ]
    .into_iter()
    .map(|(file, bytes, sha)| {
        DataFile::new(
            &format!("{MODEL_NAME}/{file}"),
            &format!("{HF_BASE}/{file}"),
            bytes,
            sha,
        )
    })
    .collect()
}

/// The directory holding the model's files: `<root>/../shared/models/all-MiniLM-L6-v2` when it
/// has all three (CI and developers' machines lay `shared/` beside the checkout), otherwise
/// `<cache>/all-MiniLM-L6-v2`, each file verified (and downloaded if missing) by the data cache.
pub fn model_dir(root: &Path, cache: &Path) -> Result<PathBuf> {
    let shared = root
        .join("..")
        .join("shared")
        .join("models")
        .join(MODEL_NAME);
    let files = minilm_files();
    let file_name = |f: &DataFile| f.name[MODEL_NAME.len() + 1..].to_string();
    if files.iter().all(|f| shared.join(file_name(f)).is_file()) {
        return Ok(shared);
    }
    for f in &files {
        data_cache::fetch(cache, f)?;
    }
    Ok(cache.join(MODEL_NAME))
}

/// The fields of Hugging Face's `config.json` the encoder uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

/// LayerNorm over the last dimension: `(x - mean) / sqrt(var + eps) * weight + bias`, the
/// variance biased (divided by n) as torch computes it.
fn layer_norm(x: &Tensor, ln: &LayerNorm) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + ln.eps)?.sqrt()?)?;
    normed.broadcast_mul(&ln.weight)?.broadcast_add(&ln.bias)
}

/// Softmax over the last dimension of `scores + bias`, where `bias` is 0 for keys a query may see
/// and `-∞` for padding (so their weight is exactly 0). Every row has at least `[CLS]` unmasked,
/// so no row is all `-∞`.
fn masked_softmax(scores: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let s = scores.broadcast_add(bias)?;
    let max = s.max_keepdim(D::Minus1)?;
    let e = s.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        linear(x, &self.weight, Some(&self.bias))
    }
}

/// One encoder layer (`encoder.layer.{i}` in the checkpoint).
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    /// `attention.output.dense`: the projection after the heads are concatenated.
    attn_out: Linear,
    attn_ln: LayerNorm,
    /// `intermediate.dense`: hidden → 4·hidden, followed by GELU.
    intermediate: Linear,
    /// `output.dense`: 4·hidden → hidden.
    ffn_out: Linear,
    ffn_ln: LayerNorm,
}

/// The tensors of `model.safetensors`, looked up by name with their expected shape, so a wrong or
/// incomplete checkpoint is an error naming the file and the tensor.
struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| {
            anyhow!(
                "{}: tensor `{name}` is missing (is it a BERT checkpoint?)",
                self.path.display()
            )
        })?;
        ensure!(
            t.dims() == shape,
            "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
            self.path.display(),
            t.dims()
        );
        Ok(t.to_dtype(DType::F32)?)
    }

    fn linear(&self, prefix: &str, out: usize, inp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.get(&format!("{prefix}.weight"), &[out, inp])?,
            bias: self.get(&format!("{prefix}.bias"), &[out])?,
        })
    }

    fn layer_norm(&self, prefix: &str, n: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.get(&format!("{prefix}.weight"), &[n])?,
            bias: self.get(&format!("{prefix}.bias"), &[n])?,
            eps,
        })
    }
}

/// all-MiniLM-L6-v2: tokenizer, BERT encoder, mean pooling, L2 normalisation.
pub struct MiniLm {
    pub config: Config,
    tokenizer: Tokenizer,
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    embeddings_ln: LayerNorm,
    layers: Vec<Layer>,
    /// The same weights as flat slices, for the hand-written engine ([`fast`]).
    /// Built by [`MiniLm::load`] from the tensors above; `None` only while loading.
    flat: Option<fast::FlatEncoder>,
    threads: usize,
}

impl MiniLm {
    /// Reads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`. A missing,
    /// truncated or malformed file is an error naming it, never a panic.
    pub fn load(dir: &Path) -> Result<MiniLm> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let config: Config = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a BERT config", config_path.display()))?;
        ensure!(
            config.hidden_act == "gelu",
            "{}: hidden_act `{}` is not supported (only BERT's erf GELU, `gelu`)",
            config_path.display(),
            config.hidden_act
        );
        ensure!(
            config.num_attention_heads > 0
                && config
                    .hidden_size
                    .is_multiple_of(config.num_attention_heads),
            "{}: hidden_size {} is not a multiple of num_attention_heads {}",
            config_path.display(),
            config.hidden_size,
            config.num_attention_heads
        );

        let tok_path = dir.join("tokenizer.json");
        let bytes =
            std::fs::read(&tok_path).with_context(|| format!("reading {}", tok_path.display()))?;
        let mut tokenizer = Tokenizer::from_bytes(&bytes)
            .map_err(|e| anyhow!("{} is not a tokenizer file: {e}", tok_path.display()))?;
        // The file pads every input to a fixed 128 and truncates there; we pad per batch ourselves
        // and truncate where sentence-transformers does.
        tokenizer.with_padding(None);
        let max_len = MAX_SEQ_LEN.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| anyhow!("{}: {e}", tok_path.display()))?;

        let w_path = dir.join("model.safetensors");
        let bytes =
            std::fs::read(&w_path).with_context(|| format!("reading {}", w_path.display()))?;
        let tensors =
            candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).with_context(|| {
                format!(
                    "{} is not a complete safetensors file (truncated or corrupt? delete it and \
                     fetch it again)",
                    w_path.display()
                )
            })?;
        let w = Weights {
            path: w_path,
            tensors,
        };

        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: w.linear(&format!("{p}.attention.self.query"), h, h)?,
                    key: w.linear(&format!("{p}.attention.self.key"), h, h)?,
                    value: w.linear(&format!("{p}.attention.self.value"), h, h)?,
                    attn_out: w.linear(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_ln: w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
                    intermediate: w.linear(
                        &format!("{p}.intermediate.dense"),
                        config.intermediate_size,
                        h,
                    )?,
                    ffn_out: w.linear(&format!("{p}.output.dense"), h, config.intermediate_size)?,
                    ffn_ln: w.layer_norm(&format!("{p}.output.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let m = MiniLm {
            flat: None,
            word_embeddings: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position_embeddings: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type_embeddings: w.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?,
            embeddings_ln: w.layer_norm("embeddings.LayerNorm", h, eps)?,
            layers,
            tokenizer,
            config,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(MiniLm {
            flat: Some(fast::FlatEncoder::new(&m)?),
            ..m
        })
    }

    /// Length of the sentence vectors (384).
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// WordPiece ids of each text, `[CLS] … [SEP]`, at most [`MAX_SEQ_LEN`] of them.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(*t, true)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| anyhow!("tokenizing {t:?}: {e}"))
            })
            .collect()
    }

    /// The unit-length sentence vector of one text (the hand-written engine, one thread).
    pub fn encode(&self, text: &str) -> Result<Vec<f32>> {
        let ids = self.tokenize(&[text])?;
        Ok(self.embed_packed(&ids, 1, 1)?.remove(0))
    }

    /// Worker threads [`MiniLm::encode_all`] uses (all cores unless set).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the worker threads of [`MiniLm::encode_all`]; the vectors do not depend on it.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Checks what both engines need of token ids: at least one per input, no more than the
    /// position table has, each in the vocabulary.
    fn check_ids(&self, ids: &[Vec<u32>]) -> Result<()> {
        for seq in ids {
            ensure!(
                !seq.is_empty(),
                "every input needs at least one token ([CLS])"
            );
            ensure!(
                seq.len() <= self.config.max_position_embeddings,
                "{} tokens is more than the {} positions BERT has",
                seq.len(),
                self.config.max_position_embeddings
            );
            if let Some(&bad) = seq
                .iter()
                .find(|&&id| id as usize >= self.config.vocab_size)
            {
                bail!(
                    "token id {bad} is outside the vocabulary of {}",
                    self.config.vocab_size
                );
            }
        }
        Ok(())
    }

    /// The sentence vectors of `texts`, run through the candle reference as one batch padded to its
    /// longest text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_ids(&self.tokenize(texts)?)
    }

    /// Sentence vectors of already-tokenised inputs through the candle reference: pad to the longest
    /// with id 0 behind an attention mask, run the encoder, mean-pool over the real tokens,
    /// L2-normalise. Slow (see [`fast`]); it is the definition the fast engine is tested against.
    pub fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.check_ids(ids)?;
        let (b, t) = (ids.len(), ids.iter().map(Vec::len).max().unwrap_or(0));
        let mut flat = vec![0u32; b * t];
        let mut mask = vec![0f32; b * t];
        for (row, seq) in ids.iter().enumerate() {
            flat[row * t..row * t + seq.len()].copy_from_slice(seq);
            mask[row * t..row * t + seq.len()].fill(1.0);
        }
        let ids = Tensor::from_vec(flat, (b, t), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu)?;
        let hidden = self.forward(&ids, &mask)?; // [B, T, H]

        // Mean pooling: sum of the real tokens' states over their count.
        let m = mask.unsqueeze(2)?; // [B, T, 1]
        let summed = hidden.broadcast_mul(&m)?.sum(1)?; // [B, H]
        let counts = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?; // [B, 1]
        let mean = summed.broadcast_div(&counts)?;
        // L2 normalisation (torch's F.normalize: divide by max(‖v‖, 1e-12)).
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }

    /// The last hidden states `[B, T, H]` of token ids `[B, T]` (u32) under an attention mask
    /// `[B, T]` (1 for real tokens, 0 for padding).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let h = self.config.hidden_size;

        // Embeddings: word + position + token type (a single sentence is all type 0).
        let word = self
            .word_embeddings
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((b, t, h))?;
        let position = self.position_embeddings.narrow(0, 0, t)?; // [T, H]
        let token_type = self.token_type_embeddings.narrow(0, 0, 1)?; // [1, H]
        let x = word.broadcast_add(&position)?.broadcast_add(&token_type)?;
        let mut x = layer_norm(&x, &self.embeddings_ln)?;

        // Additive attention bias [B, 1, 1, T]: 0 for real keys, -inf for padding. Built from the
        // mask's values on the host, since 0 * -inf would be NaN.
        let bias: Vec<f32> = attention_mask
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|m| if m > 0.0 { 0.0 } else { f32::NEG_INFINITY })
            .collect();
        let bias = Tensor::from_vec(bias, (b, 1, 1, t), &Device::Cpu)?;

        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &bias)?;
        }
        Ok(x)
    }

    /// One post-LN encoder layer: `x = LN(x + Attn(x)); x = LN(x + FFN(x))`.
    fn layer_forward(&self, l: &Layer, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let n_head = self.config.num_attention_heads;
        let d_head = h / n_head;
        // [B, T, H] -> [B, n_head, T, d_head]
        let heads = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((b, t, n_head, d_head))?
                .transpose(1, 2)?
                .contiguous()
        };
        // Scaled dot-product attention, Attention(Q,K,V) = softmax(QKᵀ/√d_k) V. Q is scaled
        // before the product: the same numbers, one pass over [B, nh, T, d_head] instead of over
        // the T times larger scores.
        let q = heads((l.query.forward(x)? / (d_head as f64).sqrt())?)?;
        let k = heads(l.key.forward(x)?)?;
        let v = heads(l.value.forward(x)?)?;
        let scores = q.matmul(&k.t()?)?; // [B, nh, T, T]
        let att = masked_softmax(&scores, bias)?;
        let y = att
            .matmul(&v)? // [B, nh, T, d_head]
            .transpose(1, 2)?
            .reshape((b, t, h))?;
        let x = layer_norm(&(x + l.attn_out.forward(&y)?)?, &l.attn_ln)?;

        let ffn = l.ffn_out.forward(&gelu(&l.intermediate.forward(&x)?)?)?;
        Ok(layer_norm(&(x + ffn)?, &l.ffn_ln)?)
    }
}

/// Cosine of two vectors (their dot product over both norms).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-300)
}

impl Encoder for MiniLm {
    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn encode_all(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        MiniLm::encode_all(self, texts, batch_size)
    }

    fn encode(&self, text: &str) -> Result<Vec<f32>> {
        MiniLm::encode(self, text)
    }
}
