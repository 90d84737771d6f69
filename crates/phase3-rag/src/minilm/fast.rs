//! The encoder of [`super`] again, on flat `f32` slices with phase 2's hand-written kernels
//! ([`phase2_lm::kernels`]): what encodes a collection. The candle version above stays the readable
//! reference; a test holds the two to 1e-5 on the same inputs.
//!
//! Why it is faster, in the order it matters on 2 cores:
//! * **No padding.** The texts of a batch are *packed*: their tokens are stacked row after row, so
//!   every linear layer is one matrix product over exactly the real tokens, and attention runs per
//!   text over its own `T×T` block. A padded batch computes every text at the longest one's length
//!   and then masks the waste away.
//! * **One core per batch.** Each worker thread takes whole batches and runs them single-threaded,
//!   so nothing waits for the other core inside an operation; candle splits each operation across
//!   threads and runs its reductions and copies on one.
//! * **Fused element-wise kernels**: layer norm, GELU (erf form, a polynomial, in place) and softmax
//!   are one pass each over vectorised loops, where candle makes a tensor per step.
//! * Q, K and V come from one product with their weights stacked (`[3H, H]`), and the attention
//!   scale is folded into the score product.
//!
//! A text's vector depends only on its batch (fixed by the text order and `batch_size`), never on
//! which thread ran it: the same inputs give the same bits on any number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, Result};
use candle_core::Tensor;
use phase2_lm::kernels::{
    gelu_in_place, gemm, layer_norm_fwd_eps, linear_fwd, softmax_rows_in_place,
};

use super::{LayerNorm, Linear, MiniLm};

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// A layer norm's weight and bias.
struct FlatNorm {
    w: Vec<f32>,
    b: Vec<f32>,
}

impl FlatNorm {
    fn new(ln: &LayerNorm) -> candle_core::Result<FlatNorm> {
        Ok(FlatNorm {
            w: flat(&ln.weight)?,
            b: flat(&ln.bias)?,
        })
    }
}

/// A linear layer in torch's layout: `w: [out, in]`, `b: [out]`.
struct FlatLinear {
    w: Vec<f32>,
    b: Vec<f32>,
}

impl FlatLinear {
    fn new(parts: &[&Linear]) -> candle_core::Result<FlatLinear> {
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for l in parts {
            w.extend(flat(&l.weight)?);
            b.extend(flat(&l.bias)?);
        }
        Ok(FlatLinear { w, b })
    }
}

struct FlatLayer {
    /// Query, key and value stacked: `[3H, H]`, so one product gives `[rows, 3H]`.
    qkv: FlatLinear,
    attn_out: FlatLinear,
    attn_ln: FlatNorm,
    intermediate: FlatLinear,
    ffn_out: FlatLinear,
    ffn_ln: FlatNorm,
}

/// The weights of a [`MiniLm`] as flat row-major slices.
pub(super) struct FlatEncoder {
    h: usize,
    n_head: usize,
    inter: usize,
    eps: f32,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Row 0 of the token-type table: every input is a single sentence.
    token_type: Vec<f32>,
    embeddings_ln: FlatNorm,
    layers: Vec<FlatLayer>,
}

/// Buffers for one packed batch, grown to the largest batch seen and reused.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    tmp: Vec<f32>,
    qkv: Vec<f32>,
    att_y: Vec<f32>,
    ff: Vec<f32>,
    scores: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

impl Scratch {
    /// Sizes every buffer for `rows` packed tokens whose longest text has `t_max` tokens.
    fn fit(&mut self, rows: usize, t_max: usize, h: usize, inter: usize) {
        for (buf, n) in [
            (&mut self.x, rows * h),
            (&mut self.tmp, rows * h),
            (&mut self.qkv, rows * 3 * h),
            (&mut self.att_y, rows * h),
            (&mut self.ff, rows * inter),
            (&mut self.scores, t_max * t_max),
            (&mut self.mean, rows),
            (&mut self.rstd, rows),
        ] {
            buf.resize(n, 0.0);
        }
    }
}

impl FlatEncoder {
    pub(super) fn new(m: &MiniLm) -> candle_core::Result<FlatEncoder> {
        let c = &m.config;
        let layers = m
            .layers
            .iter()
            .map(|l| {
                Ok(FlatLayer {
                    qkv: FlatLinear::new(&[&l.query, &l.key, &l.value])?,
                    attn_out: FlatLinear::new(&[&l.attn_out])?,
                    attn_ln: FlatNorm::new(&l.attn_ln)?,
                    intermediate: FlatLinear::new(&[&l.intermediate])?,
                    ffn_out: FlatLinear::new(&[&l.ffn_out])?,
                    ffn_ln: FlatNorm::new(&l.ffn_ln)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(FlatEncoder {
            h: c.hidden_size,
            n_head: c.num_attention_heads,
            inter: c.intermediate_size,
            eps: c.layer_norm_eps as f32,
            word: flat(&m.word_embeddings)?,
            position: flat(&m.position_embeddings)?,
            token_type: flat(&m.token_type_embeddings.narrow(0, 0, 1)?)?,
            embeddings_ln: FlatNorm::new(&m.embeddings_ln)?,
            layers,
        })
    }

    /// `dst = LN(src)` over rows of `h`.
    fn norm(
        &self,
        dst: &mut [f32],
        src: &[f32],
        ln: &FlatNorm,
        mean: &mut [f32],
        rstd: &mut [f32],
    ) {
        layer_norm_fwd_eps(dst, mean, rstd, src, &ln.w, &ln.b, self.h, self.eps);
    }

    /// The unit-length sentence vectors of the token-id sequences `seqs`, run as one packed batch.
    /// Every sequence must be non-empty, within the position table, and its ids in the vocabulary
    /// (the caller, [`MiniLm::embed_packed`], checks).
    fn embed(&self, seqs: &[Vec<u32>], s: &mut Scratch) -> Vec<Vec<f32>> {
        let (h, nh) = (self.h, self.n_head);
        let hs = h / nh;
        let rows: usize = seqs.iter().map(Vec::len).sum();
        let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
        s.fit(rows, t_max, h, self.inter);
        let mut starts = Vec::with_capacity(seqs.len());

        // Embeddings: word + position + token type, then LayerNorm (into `x`).
        let mut r = 0;
        for seq in seqs {
            starts.push(r);
            for (p, &id) in seq.iter().enumerate() {
                let row = &mut s.tmp[r * h..(r + 1) * h];
                let word = &self.word[id as usize * h..][..h];
                let pos = &self.position[p * h..][..h];
                for (k, e) in row.iter_mut().enumerate() {
                    *e = word[k] + pos[k] + self.token_type[k];
                }
                r += 1;
            }
        }
        self.norm(
            &mut s.x,
            &s.tmp,
            &self.embeddings_ln,
            &mut s.mean,
            &mut s.rstd,
        );

        let scale = 1.0 / (hs as f32).sqrt();
        for l in &self.layers {
            // Self-attention: packed Q, K, V, then per text and head softmax(QKᵀ/√d) V, written
            // into that head's columns of `att_y`.
            linear_fwd(
                &mut s.qkv,
                &s.x,
                &l.qkv.w,
                Some(&l.qkv.b),
                rows,
                h,
                3 * h,
                false,
            );
            for (seq, &start) in seqs.iter().zip(&starts) {
                let t = seq.len();
                let base = start * 3 * h;
                let p = &mut s.scores[..t * t];
                for head in 0..nh {
                    let q = &s.qkv[base + head * hs..];
                    let k = &s.qkv[base + h + head * hs..];
                    let v = &s.qkv[base + 2 * h + head * hs..];
                    gemm((t, t, hs), p, t, false, q, (3 * h, 1), k, (1, 3 * h), scale);
                    softmax_rows_in_place(p, t);
                    let y = &mut s.att_y[start * h + head * hs..];
                    gemm((t, hs, t), y, h, false, p, (t, 1), v, (3 * h, 1), 1.0);
                }
            }
            // x = LN(x + AttnOut(y)): the residual is the accumulator of the product.
            s.tmp.copy_from_slice(&s.x);
            let ao = &l.attn_out;
            linear_fwd(&mut s.tmp, &s.att_y, &ao.w, Some(&ao.b), rows, h, h, true);
            self.norm(&mut s.x, &s.tmp, &l.attn_ln, &mut s.mean, &mut s.rstd);

            // x = LN(x + W₂ GELU(W₁ x)).
            let (i, o) = (&l.intermediate, &l.ffn_out);
            linear_fwd(
                &mut s.ff,
                &s.x,
                &i.w,
                Some(&i.b),
                rows,
                h,
                self.inter,
                false,
            );
            gelu_in_place(&mut s.ff);
            s.tmp.copy_from_slice(&s.x);
            linear_fwd(
                &mut s.tmp,
                &s.ff,
                &o.w,
                Some(&o.b),
                rows,
                self.inter,
                h,
                true,
            );
            self.norm(&mut s.x, &s.tmp, &l.ffn_ln, &mut s.mean, &mut s.rstd);
        }

        // Mean pooling over each text's tokens (in f64, then f32), L2 normalisation.
        seqs.iter()
            .zip(&starts)
            .map(|(seq, &start)| {
                let mut v = vec![0f64; h];
                for row in s.x[start * h..(start + seq.len()) * h].chunks_exact(h) {
                    for (a, &x) in v.iter_mut().zip(row) {
                        *a += x as f64;
                    }
                }
                let n = seq.len() as f64;
                let norm = (v.iter().map(|a| (a / n).powi(2)).sum::<f64>())
                    .sqrt()
                    .max(1e-12);
                v.iter().map(|a| (a / n / norm) as f32).collect()
            })
            .collect()
    }
}

impl MiniLm {
    fn flat(&self) -> Result<&FlatEncoder> {
        self.flat
            .as_ref()
            .ok_or_else(|| anyhow!("the encoder's flat weights were not built"))
    }

    /// Sentence vectors of already-tokenised inputs through the hand-written engine, in batches of
    /// `batch_size` taken in the given order and shared among `threads` workers. Equal (to ~1e-6) to
    /// [`MiniLm::embed_ids`]; use this one for anything large.
    pub fn embed_packed(
        &self,
        ids: &[Vec<u32>],
        batch_size: usize,
        threads: usize,
    ) -> Result<Vec<Vec<f32>>> {
        self.check_ids(ids)?;
        let flat = self.flat()?;
        let batches: Vec<&[Vec<u32>]> = ids.chunks(batch_size.max(1)).collect();
        run_batches(batches.len(), threads, |b, scratch| {
            Ok(flat.embed(batches[b], scratch))
        })
    }

    /// The sentence vectors of many texts, in their order: texts are grouped by length (longest
    /// first, by characters, as sentence-transformers orders them) into batches of `batch_size`,
    /// and each worker tokenises and encodes whole batches. Tokenisation is inside the timing of
    /// anything that calls this, as it is inside sentence-transformers' `encode`.
    pub fn encode_all(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        anyhow::ensure!(batch_size > 0, "batch_size must be positive");
        let flat = self.flat()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].chars().count()));
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        let per_batch = run_batches(batches.len(), self.threads, |b, scratch| {
            let chunk: Vec<&str> = batches[b].iter().map(|&i| texts[i]).collect();
            let ids = self.tokenize(&chunk)?;
            self.check_ids(&ids)?;
            Ok(flat.embed(&ids, scratch))
        })?;
        let mut out = vec![Vec::new(); texts.len()];
        for (&i, v) in order.iter().zip(per_batch) {
            out[i] = v;
        }
        Ok(out)
    }
}

/// Runs `job(b, scratch)` for every batch `b < n` on `threads` scoped workers (each with its own
/// scratch buffers, taking the next batch when done) and returns the batches' outputs concatenated
/// in batch order. The first error stops the workers and is returned.
fn run_batches<F>(n: usize, threads: usize, job: F) -> Result<Vec<Vec<f32>>>
where
    F: Fn(usize, &mut Scratch) -> Result<Vec<Vec<f32>>> + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Vec<Vec<f32>>>>> = Mutex::new(vec![None; n]);
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| {
                let mut scratch = Scratch::default();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= n || failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    match job(b, &mut scratch) {
                        Ok(v) => {
                            if let Ok(mut r) = results.lock() {
                                r[b] = Some(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed
        .into_inner()
        .map_err(|_| anyhow!("a worker panicked"))?
    {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a worker panicked"))?;
    Ok(results.into_iter().flatten().flatten().collect())
}
