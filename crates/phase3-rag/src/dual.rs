//! m7's own dense retriever: a small dual encoder trained here from scratch, with in-batch
//! negatives, on a collection's training questions (a generated world's `qrels/train.tsv`).
//!
//! The model is DSSM's (Huang et al. 2013) in miniature, one tower shared by queries and documents:
//! 1. **Features by hashing** (DSSM's "word hashing"): every word of the bm25s tokenisation, and
//!    every letter trigram of `#word#`, hashed (FNV-1a) into one of `buckets` rows. Trigrams let a
//!    misspelt or unseen word share most of its features with the words it resembles; hashing
//!    keeps the table a fixed size whatever the vocabulary.
//! 2. **Bag**: `x` = mean of the feature rows of the embedding table `E: [buckets, dim]`.
//! 3. **One residual tanh layer**: `v = x + tanh(x Wᵀ + b)`, then L2 normalisation, so a score is
//!    a cosine.
//!
//! Training is the contrastive loss of dense passage retrieval (Karpukhin et al. 2020): a batch of
//! `B` (question, gold document) pairs gives `B × B` scores `sᵢⱼ = qᵢ·dⱼ / τ`; each question's own
//! document is the positive and the other `B − 1` documents of the batch are its negatives, so the
//! loss is the cross-entropy of row `i` against column `i`. When a batch holds the same document
//! twice, the copy is not a negative (its score is masked). Gradients come from candle's autograd
//! (checked against finite differences in this module's tests); AdamW and the warm-up + cosine
//! schedule are phase 2's.
//!
//! Why it can retrieve held-out entities at all: an entity's name features that no training
//! question trained keep their random initial rows, and the query and the document share them, so
//! the same name still pulls the two vectors together — the training shapes how much the other,
//! paraphrased words count.

use anyhow::{bail, ensure, Context as _, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use phase1_mlp::optim::Optimizer;
use phase1_mlp::schedule::LrSchedule;
use phase2_lm::ops::cross_entropy;
use phase2_lm::train::AdamW;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dense::Encoder;
use crate::tokenize::{Tokenizer, TokenizerConfig};

/// The encoder's size and its training, as `dual = { … }` in a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DualConfig {
    /// Rows of the hashed feature table.
    pub buckets: usize,
    /// Vector length.
    pub dim: usize,
    pub steps: usize,
    /// (question, document) pairs per step: each question has `batch_size - 1` negatives.
    pub batch_size: usize,
    pub max_lr: f64,
    pub min_lr: f64,
    pub warmup: usize,
    /// τ: scores are cosines divided by it before the softmax.
    pub temperature: f64,
    /// AdamW's decoupled weight decay, on `W` only (decay would shrink every untrained
    /// embedding row towards zero at each step).
    pub weight_decay: f64,
    /// Seeds the initialisation and the batch order.
    pub seed: u64,
    /// Record the mean training loss every this many steps.
    pub log_interval: usize,
}

impl Default for DualConfig {
    fn default() -> Self {
        DualConfig {
            buckets: 1 << 15,
            dim: 128,
            steps: 1500,
            batch_size: 64,
            max_lr: 3e-3,
            min_lr: 3e-4,
            warmup: 100,
            temperature: 0.05,
            weight_decay: 0.01,
            seed: 7,
            log_interval: 50,
        }
    }
}

impl DualConfig {
    fn validate(&self) -> Result<()> {
        ensure!(self.buckets > 0, "dual: `buckets` must be positive");
        ensure!(self.dim > 0, "dual: `dim` must be positive");
        ensure!(self.steps > 0, "dual: `steps` must be positive");
        ensure!(
            self.batch_size >= 2,
            "dual: `batch_size` must be at least 2 (one positive and a negative)"
        );
        ensure!(
            self.temperature > 0.0,
            "dual: `temperature` must be positive, got {}",
            self.temperature
        );
        ensure!(
            self.log_interval > 0,
            "dual: `log_interval` must be positive"
        );
        Ok(())
    }
}

/// FNV-1a, 64 bits: a fixed, seedless hash, so feature ids are the same on every machine.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The trained (or freshly initialised) dual encoder.
pub struct DualEncoder {
    config: DualConfig,
    tokenizer: Tokenizer,
    device: Device,
    /// `E: [buckets, dim]`.
    emb: Var,
    /// `W: [dim, dim]`, `b: [dim]`.
    w: Var,
    b: Var,
}

/// What training reports (no wall-clock time: it is in the run's timings): the mean loss of every `log_interval` steps, and the in-batch accuracy
/// (how often a question's own document scored highest in its batch) over the last interval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainLog {
    /// `(step, mean loss over the interval ending there)`.
    pub loss: Vec<(usize, f64)>,
    pub final_in_batch_accuracy: f64,
    pub pairs: usize,
}

impl DualEncoder {
    /// A fresh encoder: `E ~ N(0, 1/√dim)` row by row, `W ~ N(0, 0.02)`, `b = 0`, in `dtype`
    /// (f32 to train; the gradient test uses f64).
    pub fn new(config: DualConfig, dtype: DType) -> Result<DualEncoder> {
        config.validate()?;
        let device = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut normal = |n: usize, std: f64| -> Vec<f64> {
            use rand_distr::{Distribution, Normal};
            let d = Normal::new(0.0, std).expect("std is positive");
            (0..n).map(|_| d.sample(&mut rng)).collect()
        };
        let (n, d) = (config.buckets, config.dim);
        let emb = Tensor::from_vec(normal(n * d, 1.0 / (d as f64).sqrt()), (n, d), &device)?;
        let w = Tensor::from_vec(normal(d * d, 0.02), (d, d), &device)?;
        Ok(DualEncoder {
            tokenizer: Tokenizer::new(TokenizerConfig::bm25s_no_stopwords())?,
            emb: Var::from_tensor(&emb.to_dtype(dtype)?)?,
            w: Var::from_tensor(&w.to_dtype(dtype)?)?,
            b: Var::zeros(d, dtype, &device)?,
            device,
            config,
        })
    }

    pub fn config(&self) -> &DualConfig {
        &self.config
    }

    /// The hashed feature rows of `text`: each word, and each letter trigram of `#word#`.
    pub fn features(&self, text: &str) -> Vec<u32> {
        let n = self.config.buckets as u64;
        let mut out = Vec::new();
        for word in self.tokenizer.tokenize(text) {
            out.push((fnv1a(&[b"w:", word.as_bytes()]) % n) as u32);
            let marked: Vec<char> = format!("#{word}#").chars().collect();
            for tri in marked.windows(3) {
                let s: String = tri.iter().collect();
                out.push((fnv1a(&[b"t:", s.as_bytes()]) % n) as u32);
            }
        }
        out
    }

    /// Unit vectors `[B, dim]` of `texts`, as a tensor that carries gradients to the parameters.
    fn forward(&self, texts: &[&str]) -> Result<Tensor> {
        let feats: Vec<Vec<u32>> = texts.iter().map(|t| self.features(t)).collect();
        let total: usize = feats.iter().map(Vec::len).sum();
        let dtype = self.emb.dtype();
        // The bag as a product: `M: [B, total]` holds 1/len in each text's own columns, so
        // `M · E[ids]` is every text's mean feature row. A text without features gets 0.
        let mut bag = vec![0f64; texts.len() * total];
        let mut ids = Vec::with_capacity(total);
        for (i, f) in feats.iter().enumerate() {
            for &id in f {
                bag[i * total + ids.len()] = 1.0 / f.len() as f64;
                ids.push(id);
            }
        }
        let x = if total == 0 {
            Tensor::zeros((texts.len(), self.config.dim), dtype, &self.device)?
        } else {
            let rows = self
                .emb
                .index_select(&Tensor::from_vec(ids, total, &self.device)?, 0)?;
            let bag = Tensor::from_vec(bag, (texts.len(), total), &self.device)?.to_dtype(dtype)?;
            bag.matmul(&rows)?
        };
        let h = x
            .matmul(&self.w.t()?)?
            .broadcast_add(self.b.as_tensor())?
            .tanh()?;
        let v = (x + h)?;
        let norm = v
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(v.broadcast_div(&norm)?)
    }

    /// The in-batch-negatives loss of `(question, document)` pairs; `doc_keys` identify documents
    /// so that a repeated one is not its own negative. Also returns how many questions scored
    /// their own document highest.
    pub fn loss(
        &self,
        questions: &[&str],
        docs: &[&str],
        doc_keys: &[usize],
    ) -> Result<(Tensor, usize)> {
        let n = questions.len();
        ensure!(
            docs.len() == n && doc_keys.len() == n,
            "{n} questions, {} documents, {} keys",
            docs.len(),
            doc_keys.len()
        );
        let q = self.forward(questions)?;
        let d = self.forward(docs)?;
        let mut mask = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                if i != j && doc_keys[i] == doc_keys[j] {
                    mask[i * n + j] = -1e4;
                }
            }
        }
        let mask = Tensor::from_vec(mask, (n, n), &self.device)?.to_dtype(q.dtype())?;
        let scores = ((q.matmul(&d.t()?)? / self.config.temperature)? + mask)?;
        let targets = Tensor::from_vec((0..n as u32).collect::<Vec<_>>(), n, &self.device)?;
        let correct = scores
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?
            .iter()
            .enumerate()
            .filter(|(i, &j)| *i == j as usize)
            .count();
        Ok((cross_entropy(&scores, &targets)?, correct))
    }

    /// The parameters, in the order the optimizer sees them: `E`, `W`, `b`.
    pub fn params(&self) -> [&Var; 3] {
        [&self.emb, &self.w, &self.b]
    }

    /// Trains on `pairs` of (question text, document index into `docs`) for `steps` steps of
    /// shuffled batches (a new shuffle each pass), calling `progress` after every step.
    pub fn train(
        &mut self,
        pairs: &[(String, usize)],
        docs: &[String],
        mut progress: impl FnMut(usize),
    ) -> Result<TrainLog> {
        let cfg = self.config.clone();
        if pairs.len() < 2 {
            bail!(
                "the dual encoder needs at least 2 training pairs, got {}",
                pairs.len()
            );
        }
        if let Some((q, d)) = pairs.iter().find(|(_, d)| *d >= docs.len()) {
            bail!("training pair {q:?} names document {d} of {}", docs.len());
        }
        let schedule = LrSchedule::WarmupCosine {
            max_lr: cfg.max_lr,
            min_lr: cfg.min_lr,
            warmup: cfg.warmup,
            total: cfg.steps,
        };
        let mut opt = AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: cfg.weight_decay,
            decay: vec![false, true, false],
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
        let mut order: Vec<usize> = Vec::new();
        let batch = cfg.batch_size.min(pairs.len());
        let (mut sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut log = TrainLog {
            loss: Vec::new(),
            final_in_batch_accuracy: 0.0,
            pairs: pairs.len(),
        };
        let params: Vec<Var> = self.params().into_iter().cloned().collect();
        for step in 1..=cfg.steps {
            if order.len() < batch {
                let mut pass: Vec<usize> = (0..pairs.len()).collect();
                pass.shuffle(&mut rng);
                order.extend(pass);
            }
            let picked: Vec<usize> = order.drain(..batch).collect();
            let qs: Vec<&str> = picked.iter().map(|&i| pairs[i].0.as_str()).collect();
            let keys: Vec<usize> = picked.iter().map(|&i| pairs[i].1).collect();
            let ds: Vec<&str> = keys.iter().map(|&d| docs[d].as_str()).collect();
            let (loss, hits) = self.loss(&qs, &ds, &keys)?;
            let grads = loss.backward()?;
            let g = params
                .iter()
                .map(|p| {
                    grads
                        .get(p.as_tensor())
                        .cloned()
                        .map_or_else(|| p.as_tensor().zeros_like(), Ok)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            opt.step(&params, &g, schedule.lr_at(step - 1))?;
            let l = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            ensure!(l.is_finite(), "dual encoder: loss {l} at step {step}");
            sum += l;
            correct += hits;
            seen += batch;
            if step % cfg.log_interval == 0 || step == cfg.steps {
                let n = (step - 1) % cfg.log_interval + 1;
                log.loss.push((step, sum / n as f64));
                log.final_in_batch_accuracy = correct as f64 / seen as f64;
                (sum, correct, seen) = (0.0, 0, 0);
            }
            progress(step);
        }
        Ok(log)
    }
}

impl Encoder for DualEncoder {
    fn dim(&self) -> usize {
        self.config.dim
    }

    /// Vectors of `texts` in chunks of `batch_size` (no gradient is kept).
    fn encode_all(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch_size.max(1)) {
            let v = self.forward(chunk)?.detach().to_dtype(DType::F32)?;
            out.extend(v.to_vec2::<f32>().context("dual encoder output")?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(seed: u64) -> DualConfig {
        DualConfig {
            buckets: 16,
            dim: 4,
            steps: 40,
            batch_size: 3,
            warmup: 0,
            seed,
            log_interval: 10,
            ..DualConfig::default()
        }
    }

    /// A fixed batch: three questions, the last two sharing their document (so it is masked, not
    /// a negative, for the other).
    const QS: [&str; 3] = ["who founded norvik labs", "when was arla born", "arla"];
    const DS: [&str; 3] = [
        "Norvik Labs was set up by Arla Steen.",
        "Arla Steen came into the world in 1961.",
        "Arla Steen came into the world in 1961.",
    ];
    const KEYS: [usize; 3] = [0, 1, 1];

    /// Loss of the fixed batch as an f64.
    fn batch_loss(m: &DualEncoder) -> f64 {
        let (l, _) = m.loss(&QS, &DS, &KEYS).unwrap();
        l.to_scalar::<f64>().unwrap()
    }

    /// Every parameter's gradient from candle's autograd equals the central finite difference of
    /// the loss (in f64), entry by entry for a sample of entries of `E`, `W` and `b`.
    #[test]
    fn m7_dual_gradients_match_finite_differences() {
        let m = DualEncoder::new(tiny(3), DType::F64).unwrap();
        let (loss, _) = m.loss(&QS, &DS, &KEYS).unwrap();
        let grads = loss.backward().unwrap();
        let h = 1e-6;
        let mut checked = 0;
        for p in m.params() {
            let g = grads
                .get(p.as_tensor())
                .map(|g| g.flatten_all().unwrap().to_vec1::<f64>().unwrap())
                .unwrap_or_else(|| vec![0.0; p.elem_count()]);
            let base = p
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            for i in (0..base.len()).step_by(base.len().div_ceil(12)) {
                let at = |delta: f64| {
                    let mut v = base.clone();
                    v[i] += delta;
                    p.set(&Tensor::from_vec(v, p.shape(), &Device::Cpu).unwrap())
                        .unwrap();
                    batch_loss(&m)
                };
                let fd = (at(h) - at(-h)) / (2.0 * h);
                at(0.0);
                let tol = 1e-6 * (1.0 + fd.abs().max(g[i].abs()));
                assert!(
                    (fd - g[i]).abs() <= tol,
                    "parameter of shape {:?}, entry {i}: autograd {} vs finite difference {fd}",
                    p.shape(),
                    g[i]
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "{checked} entries checked");
    }

    /// Training on a tiny collection drives the loss down and ranks each question's document
    /// first; the same seed gives the same loss curve, another seed another one.
    #[test]
    fn m7_dual_training_learns_and_is_deterministic() {
        let people = ["arla", "bodil", "caius", "dagny", "eskil", "frode"];
        let docs: Vec<String> = people
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{p} steen came into the world in {} in town{i}", 1950 + i))
            .collect();
        let pairs: Vec<(String, usize)> = people
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                [
                    (format!("what year was {p} steen born"), i),
                    (format!("where is {p} from"), i),
                ]
            })
            .collect();
        let cfg = DualConfig {
            buckets: 512,
            dim: 16,
            steps: 60,
            batch_size: 6,
            warmup: 5,
            max_lr: 1e-2,
            ..tiny(11)
        };
        let train = |cfg: DualConfig| {
            let mut m = DualEncoder::new(cfg, DType::F32).unwrap();
            let log = m.train(&pairs, &docs, |_| {}).unwrap();
            (m, log)
        };
        let (m, log) = train(cfg.clone());
        let (first, last) = (log.loss[0].1, log.loss.last().unwrap().1);
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let index = crate::dense::DenseIndex::build(
            "dual",
            Box::new(m),
            (0..docs.len()).map(|i| i.to_string()).collect(),
            &refs,
            4,
        )
        .unwrap();
        use crate::retrieve::Retriever;
        for (q, d) in &pairs {
            assert_eq!(index.search(q, 1).unwrap()[0].doc_id, d.to_string(), "{q}");
        }
        assert_eq!(train(cfg.clone()).1.loss, log.loss);
        assert_ne!(train(DualConfig { seed: 12, ..cfg }).1.loss, log.loss);
    }

    #[test]
    fn m7_dual_bad_settings_are_errors_naming_the_key() {
        let e = DualEncoder::new(
            DualConfig {
                batch_size: 1,
                ..tiny(1)
            },
            DType::F32,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("batch_size"), "{e}");
        let e = DualEncoder::new(
            DualConfig {
                temperature: 0.0,
                ..tiny(1)
            },
            DType::F32,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("temperature"), "{e}");
        let mut m = DualEncoder::new(tiny(1), DType::F32).unwrap();
        let e = m
            .train(&[("a".into(), 0), ("b".into(), 5)], &["x".into()], |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("document 5"), "{e}");
    }
}
