//! Dropout (Srivastava et al. 2014) in nanoGPT's four places: on the sum of token and position
//! embeddings, on the attention weights after the softmax, and on each residual branch (the
//! attention's output projection, the MLP's output) before it joins the stream. Inverted dropout: a
//! kept activation is scaled by `1/(1 − p)` so its expectation is unchanged and evaluation needs no
//! rescaling; evaluation, scoring and generation simply never drop.
//!
//! The masks are drawn here, once per training step, and *handed* to whichever engine computes the
//! step: the hand-written one ([`crate::fast`]) multiplies its activations by them, the reference
//! candle model ([`crate::model::Gpt::loss_masked`]) does the same with tensors, so the two can be
//! compared gradient for gradient with identical masks — the way the rest of the engine is tested.
//!
//! Each window (row of the batch) has its own random stream, keyed by the run's seed, the step and the
//! row's index in the batch ([`Dropout::row_rng`]). So the masks depend on nothing else: not on how
//! many threads the batch is split over, not on what ran before in this process, and a run resumed
//! from a checkpoint (which stores the step) draws what the uninterrupted run would have drawn.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::GptConfig;

/// One training step's dropout: its probability and the key of its masks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Probability that an activation is zeroed, in `[0, 1)`.
    pub p: f64,
    /// The run's seed ([`crate::train::TrainConfig::seed`]).
    pub seed: u64,
    /// Steps completed before this one ([`crate::train::Trainer::step`]).
    pub step: u64,
}

impl Dropout {
    /// The random stream of row `row`'s masks: a ChaCha8 key made of the seed, the step, the row and
    /// a tag (ChaCha is a keyed cipher, so distinct keys give unrelated streams; no seed is derived
    /// from another stream's output).
    pub fn row_rng(&self, row: usize) -> ChaCha8Rng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&self.step.to_le_bytes());
        key[16..24].copy_from_slice(&(row as u64).to_le_bytes());
        key[24..].copy_from_slice(b"dropout\0");
        ChaCha8Rng::from_seed(key)
    }

    /// An activation is dropped when its 32-bit draw is below `p · 2³²` (one draw per activation).
    fn threshold(&self) -> u32 {
        (self.p * 4_294_967_296.0).min(u32::MAX as f64) as u32
    }

    /// What a kept activation is multiplied by.
    fn keep_scale(&self) -> f32 {
        (1.0 / (1.0 - self.p)) as f32
    }
}

/// The factor (0 or `1/(1 − p)`) each droppable activation of `b` windows of `t` tokens is
/// multiplied by, laid out like the activations of [`crate::fast`] (row-major, window first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Masks {
    pub b: usize,
    pub t: usize,
    /// `[B, T, C]`: the token + position embedding sum.
    pub emb: Vec<f32>,
    /// One per block.
    pub layers: Vec<LayerMasks>,
}

/// One block's masks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerMasks {
    /// `[B, NH, T, T]`: the attention weights after the softmax. Above the diagonal it is 0 and costs
    /// no draw: those weights are 0 already.
    pub att: Vec<f32>,
    /// `[B, T, C]`: the attention's output projection (a residual branch).
    pub attn_out: Vec<f32>,
    /// `[B, T, C]`: the MLP's output (a residual branch).
    pub mlp_out: Vec<f32>,
}

impl Masks {
    /// The masks of rows `first..first + b` of a step's batch of windows of `t` tokens.
    pub fn draw(cfg: &GptConfig, d: &Dropout, first: usize, b: usize, t: usize) -> Masks {
        let mut m = Masks::default();
        m.fill(cfg, d, first, b, t);
        m
    }

    /// [`Masks::draw`] into `self`, reusing its buffers (the engine's workspaces call it every step).
    ///
    /// Per row, the draws come in forward order: the embedding, then for each block the attention
    /// weights (head by head, row `i` of each `[T, T]` block drawing for keys `0..=i`), the attention
    /// branch and the MLP branch. A row's masks are contiguous in every buffer, so rows can be
    /// filled independently.
    pub fn fill(&mut self, cfg: &GptConfig, d: &Dropout, first: usize, b: usize, t: usize) {
        let (c, nh) = (cfg.d_model, cfg.n_head);
        let (row_c, row_att) = (t * c, nh * t * t);
        self.b = b;
        self.t = t;
        self.emb.resize(b * row_c, 0.0);
        self.layers.resize_with(cfg.n_layer, LayerMasks::default);
        for la in &mut self.layers {
            la.att.resize(b * row_att, 0.0);
            la.attn_out.resize(b * row_c, 0.0);
            la.mlp_out.resize(b * row_c, 0.0);
        }
        let (thr, scale) = (d.threshold(), d.keep_scale());
        // The draws come in blocks on the stack, then a branch-free (vectorised) pass turns them into
        // factors: a `next_u32` and a branch per activation cost three times as much.
        let fill = |rng: &mut ChaCha8Rng, out: &mut [f32]| {
            let mut bits = [0u32; 256];
            for chunk in out.chunks_mut(bits.len()) {
                let bits = &mut bits[..chunk.len()];
                rng.fill(bits);
                keep_or_drop(chunk, bits, thr, scale);
            }
        };
        for r in 0..b {
            let mut rng = d.row_rng(first + r);
            fill(&mut rng, &mut self.emb[r * row_c..(r + 1) * row_c]);
            for la in &mut self.layers {
                for (i, row) in la.att[r * row_att..(r + 1) * row_att]
                    .chunks_exact_mut(t)
                    .enumerate()
                {
                    let (seen, future) = row.split_at_mut(i % t + 1);
                    fill(&mut rng, seen);
                    future.fill(0.0);
                }
                fill(&mut rng, &mut la.attn_out[r * row_c..(r + 1) * row_c]);
                fill(&mut rng, &mut la.mlp_out[r * row_c..(r + 1) * row_c]);
            }
        }
    }
}

simd_f32!(
    /// `out[k] = scale` where `bits[k] ≥ thr`, else 0.
    fn keep_or_drop(out: &mut [f32], bits: &[u32], thr: u32, scale: f32) {
        for (m, &r) in out.iter_mut().zip(bits) {
            *m = if r >= thr { scale } else { 0.0 };
        }
    }
);
