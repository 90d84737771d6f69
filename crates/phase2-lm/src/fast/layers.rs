//! The passes of [`super::FastGpt`], layer by layer, as llm.c writes them: [`forward`] and
//! [`backward`] walk the model, and every layer is a small function with its backward right after
//! it, each backward formula the derivative of the forward line it mirrors:
//!
//! - [`encoder_fwd`] / [`encoder_bwd`]: token + position embeddings;
//! - [`attn_block_fwd`] / [`attn_block_bwd`]: a block's first half, `x + attn(ln1(x))`, built on
//!   [`attention_fwd`] / [`attention_bwd`] (scores, causal softmax, weighted sum of the values);
//! - [`mlp_block_fwd`] / [`mlp_block_bwd`]: its second half, `x + mlp(ln2(x))`;
//! - [`residual_fwd`] / [`residual_bwd`]: both halves' output projection added to the residual
//!   stream (through the branch's dropout mask, with dropout);
//! - [`head_fwd`] / [`head_bwd`]: the final layer norm, the tied output head and the loss.
//!
//! The matrix products, layer norms and GELU are the kernels of [`crate::kernels`]. Every layer
//! reads and writes buffers of the [`Workspace`], allocated once.

use crate::dropout::LayerMasks;
use crate::kernels::{
    add_assign, add_mul_into, causal_softmax_bwd_in_place, causal_softmax_in_place,
    gelu_bwd_in_place, gelu_fwd, gemm, layer_norm_bwd, layer_norm_fwd, linear_bwd, linear_fwd,
    mul_assign, mul_into, softmax_cross_entropy,
};
use crate::model::GptConfig;
use crate::ops::IGNORE;

use super::{ActGrads, BlockOffsets, LayerActs, Offsets, Workspace};

/// The shapes of one pass: `b` windows of `t` tokens, `n = b·t` rows, `c` channels, `nh` heads,
/// vocabulary `v`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    n: usize,
    c: usize,
    nh: usize,
    v: usize,
}

impl Dims {
    fn of(cfg: &GptConfig, ws: &Workspace) -> Dims {
        let (b, t) = (ws.b, ws.t);
        Dims {
            b,
            t,
            // Buffers may be longer than this pass needs (a workspace reused for shorter windows).
            n: b * t,
            c: cfg.d_model,
            nh: cfg.n_head,
            v: cfg.vocab_size,
        }
    }
}

/// One block's share of a pass with dropout: its masks, and the workspace's scratch buffers for a
/// residual branch before its mask (`branch`) and for one head's dropped attention weights (`att`).
struct BlockDrop<'a> {
    masks: &'a LayerMasks,
    branch: &'a mut [f32],
    att: &'a mut [f32],
}

/// A block's [`BlockDrop`] in a pass with dropout (`masks` given), `None` in one without.
fn block_drop<'a>(
    masks: Option<&'a LayerMasks>,
    branch: &'a mut [f32],
    att: &'a mut [f32],
) -> Option<BlockDrop<'a>> {
    masks.map(|masks| BlockDrop { masks, branch, att })
}

/// The parameter `[start, start + len)` of the flat vector `p`.
fn w(p: &[f32], start: usize, len: usize) -> &[f32] {
    &p[start..start + len]
}

// ---- the whole model --------------------------------------------------------------------------------

/// Forward pass over one worker's windows; returns the *sum* of the token losses and leaves the
/// probabilities in `ws.logits`. With `drop`, the activations are multiplied by `ws.masks` (drawn
/// by [`Workspace::draw_masks`]) in nanoGPT's places; without, no mask is read.
pub(super) fn forward(
    cfg: &GptConfig,
    off: &Offsets,
    p: &[f32],
    ws: &mut Workspace,
    x: &[u32],
    y: &[u32],
    drop: bool,
) -> f64 {
    let d = Dims::of(cfg, ws);
    let nc = d.n * d.c;
    let Workspace {
        x0,
        layers,
        masks,
        branch,
        att_drop,
        ..
    } = &mut *ws;
    encoder_fwd(&mut x0[..nc], p, off, x, d, drop.then(|| &masks.emb[..nc]));
    for l in 0..cfg.n_layer {
        let o = &off.blocks[l];
        let (before, rest) = layers.split_at_mut(l);
        let la = &mut rest[0];
        let inp: &[f32] = if l == 0 {
            &x0[..nc]
        } else {
            &before[l - 1].res3[..nc]
        };
        let lm = drop.then(|| &masks.layers[l]);
        attn_block_fwd(la, inp, o, p, d, block_drop(lm, branch, att_drop));
        mlp_block_fwd(la, o, p, d, block_drop(lm, branch, att_drop));
    }
    head_fwd(ws, off, p, y, d)
}

/// Backward pass after [`forward`] (with the same `drop`): parameter gradients of `scale · Σ loss`
/// into `ws.grads`. A dropped activation `a ⊙ m` passes `g ⊙ m` back to `a`. The layers run in
/// reverse; `ws.back.dres`, the gradient of the residual stream, flows from each to the one before.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    cfg: &GptConfig,
    off: &Offsets,
    p: &[f32],
    ws: &mut Workspace,
    x: &[u32],
    y: &[u32],
    scale: f32,
    drop: bool,
) {
    let d = Dims::of(cfg, ws);
    assert_eq!(
        d.t, ws.t_cap,
        "backward needs a workspace of the exact shape"
    );
    ws.grads.resize(off.total, 0.0);
    ws.grads.fill(0.0);
    head_bwd(ws, off, p, y, scale, d);
    let Workspace {
        x0,
        layers,
        masks,
        branch,
        att_drop,
        back,
        grads: g,
        ..
    } = ws;
    for l in (0..cfg.n_layer).rev() {
        let o = &off.blocks[l];
        let la = &layers[l];
        let inp: &[f32] = if l == 0 { &x0[..] } else { &layers[l - 1].res3 };
        let lm = drop.then(|| &masks.layers[l]);
        mlp_block_bwd(g, back, la, o, p, d, block_drop(lm, branch, att_drop));
        attn_block_bwd(g, back, la, inp, o, p, d, block_drop(lm, branch, att_drop));
    }
    encoder_bwd(g, &mut back.dres, off, x, d, drop.then(|| &masks.emb[..]));
}

// ---- embeddings ----------------------------------------------------------------------------------

/// Token embedding + position embedding: row `r` of `x0` is `wte[x[r]] + wpe[r mod t]` (times the
/// embedding's dropout mask, with `mask`).
fn encoder_fwd(x0: &mut [f32], p: &[f32], off: &Offsets, x: &[u32], d: Dims, mask: Option<&[f32]>) {
    let (t, c) = (d.t, d.c);
    for (r, (row, &tok)) in x0.chunks_exact_mut(c).zip(x).enumerate() {
        row.copy_from_slice(w(p, off.wte + tok as usize * c, c));
        if let Some(wpe) = off.wpe {
            add_assign(row, w(p, wpe + (r % t) * c, c));
        }
    }
    if let Some(mask) = mask {
        mul_assign(x0, mask);
    }
}

/// Backward of [`encoder_fwd`]: each row's gradient `dres` goes to its token's and its position's
/// row (through the embedding's mask, with `mask`).
fn encoder_bwd(
    g: &mut [f32],
    dres: &mut [f32],
    off: &Offsets,
    x: &[u32],
    d: Dims,
    mask: Option<&[f32]>,
) {
    let (t, c) = (d.t, d.c);
    if let Some(mask) = mask {
        mul_assign(dres, mask);
    }
    for (r, (row, &tok)) in dres.chunks_exact(c).zip(x).enumerate() {
        let s = off.wte + tok as usize * c;
        add_assign(&mut g[s..s + c], row);
        if let Some(wpe) = off.wpe {
            let s = wpe + (r % t) * c;
            add_assign(&mut g[s..s + c], row);
        }
    }
}

// ---- a block's first half: x + attn(ln1(x)) ----------------------------------------------------

/// `res2 = inp + attn(ln1(inp))`: layer norm, the packed query/key/value projection, causal
/// attention over the heads, and the output projection added to the residual stream.
fn attn_block_fwd(
    la: &mut LayerActs,
    inp: &[f32],
    o: &BlockOffsets,
    p: &[f32],
    d: Dims,
    drop: Option<BlockDrop>,
) {
    let Dims { b, t, n, c, nh, .. } = d;
    layer_norm_fwd(
        &mut la.ln1[..n * c],
        &mut la.ln1_mean[..n],
        &mut la.ln1_rstd[..n],
        inp,
        w(p, o.ln1_w, c),
        w(p, o.ln1_b, c),
        c,
    );
    linear_fwd(
        &mut la.qkv[..n * 3 * c],
        &la.ln1[..n * c],
        w(p, o.qkv_w, 3 * c * c),
        Some(w(p, o.qkv_b, 3 * c)),
        n,
        c,
        3 * c,
        false,
    );
    let (att_drop, out_drop) = match drop {
        Some(BlockDrop { masks, branch, att }) => (
            Some((&masks.att[..b * nh * t * t], &mut att[..t * t])),
            Some((&mut branch[..n * c], &masks.attn_out[..n * c])),
        ),
        None => (None, None),
    };
    attention_fwd(
        &mut la.atty[..n * c],
        &mut la.att[..b * nh * t * t],
        &la.qkv[..n * 3 * c],
        b,
        t,
        c,
        nh,
        att_drop,
    );
    residual_fwd(
        &mut la.res2[..n * c],
        inp,
        &la.atty[..n * c],
        w(p, o.attn_proj_w, c * c),
        w(p, o.attn_proj_b, c),
        c,
        d,
        out_drop,
    );
}

/// Backward of [`attn_block_fwd`]: takes `back.dres` = d loss / d res2 and leaves d loss / d inp
/// there (the residual's share plus the branch's, through ln1).
#[allow(clippy::too_many_arguments)]
fn attn_block_bwd(
    g: &mut [f32],
    back: &mut ActGrads,
    la: &LayerActs,
    inp: &[f32],
    o: &BlockOffsets,
    p: &[f32],
    d: Dims,
    drop: Option<BlockDrop>,
) {
    let Dims { b, t, n, c, nh, .. } = d;
    let (att_drop, out_drop) = match drop {
        Some(BlockDrop { masks, branch, att }) => (
            Some((&masks.att[..], &mut att[..])),
            Some((&mut branch[..], &masks.attn_out[..])),
        ),
        None => (None, None),
    };
    // res2 = inp + atty · attn_proj_wᵀ + attn_proj_b
    {
        let (dw, db) = two(g, o.attn_proj_w, c * c, o.attn_proj_b, c);
        residual_bwd(
            &mut back.datty,
            dw,
            db,
            &back.dres,
            &la.atty,
            w(p, o.attn_proj_w, c * c),
            c,
            d,
            out_drop,
        );
    }
    attention_bwd(
        &mut back.dqkv,
        &mut back.dscore,
        &back.datty,
        &la.att,
        &la.qkv,
        b,
        t,
        c,
        nh,
        att_drop,
    );
    {
        let (dw, db) = two(g, o.qkv_w, 3 * c * c, o.qkv_b, 3 * c);
        linear_bwd(
            Some(&mut back.dln),
            dw,
            Some(db),
            &back.dqkv,
            &la.ln1,
            w(p, o.qkv_w, 3 * c * c),
            n,
            c,
            3 * c,
        );
    }
    {
        let (dw, db) = two(g, o.ln1_w, c, o.ln1_b, c);
        layer_norm_bwd(
            &mut back.dres,
            dw,
            db,
            &back.dln,
            inp,
            w(p, o.ln1_w, c),
            &la.ln1_mean,
            &la.ln1_rstd,
            c,
        );
    }
}

/// Causal multi-head attention on the packed `qkv: [BT, 3C]` (queries, keys, values of every head
/// side by side): weights `att: [B, NH, T, T]` and output `atty: [BT, C]`. With `drop = (mask,
/// scratch)` the values are weighed by `att ⊙ mask` (formed one head at a time in the `[T, T]`
/// scratch); `att` keeps the undropped weights, which the softmax's backward needs.
#[allow(clippy::too_many_arguments)]
fn attention_fwd(
    atty: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    mut drop: Option<(&[f32], &mut [f32])>,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    for bi in 0..b {
        let base = bi * t * 3 * c;
        for h in 0..nh {
            let q = &qkv[base + h * hs..];
            let k = &qkv[base + c + h * hs..];
            let v = &qkv[base + 2 * c + h * hs..];
            let p = &mut att[(bi * nh + h) * t * t..(bi * nh + h + 1) * t * t];
            // scores = scale · Q Kᵀ (Kᵀ read through strides), then the masked softmax in place.
            gemm((t, t, hs), p, t, false, q, (3 * c, 1), k, (1, 3 * c), scale);
            causal_softmax_in_place(p, t);
            let p: &[f32] = match &mut drop {
                Some((mask, scratch)) => {
                    let m = &mask[(bi * nh + h) * t * t..(bi * nh + h + 1) * t * t];
                    mul_into(scratch, p, m);
                    scratch
                }
                None => p,
            };
            // Y = P V, written straight into this head's columns of `atty`.
            let y = &mut atty[bi * t * c + h * hs..];
            gemm((t, hs, t), y, c, false, p, (t, 1), v, (3 * c, 1), 1.0);
        }
    }
}

/// Backward of [`attention_fwd`] (with the same `drop`): fills every element of `dqkv`.
#[allow(clippy::too_many_arguments)]
fn attention_bwd(
    dqkv: &mut [f32],
    dscore: &mut [f32],
    datty: &[f32],
    att: &[f32],
    qkv: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    mut drop: Option<(&[f32], &mut [f32])>,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    for bi in 0..b {
        let base = bi * t * 3 * c;
        for h in 0..nh {
            let (q, k, v) = (
                &qkv[base + h * hs..],
                &qkv[base + c + h * hs..],
                &qkv[base + 2 * c + h * hs..],
            );
            let p = &att[(bi * nh + h) * t * t..(bi * nh + h + 1) * t * t];
            let dy = &datty[bi * t * c + h * hs..];
            // With dropout the values were weighed by P' = P ⊙ M: dP' = dY Vᵀ, dV = P'ᵀ dY and
            // dP = dP' ⊙ M. Without, P' = P.
            let (pd, m): (&[f32], Option<&[f32]>) = match &mut drop {
                Some((mask, scratch)) => {
                    let m = &mask[(bi * nh + h) * t * t..(bi * nh + h + 1) * t * t];
                    mul_into(scratch, p, m);
                    (&**scratch, Some(m))
                }
                None => (p, None),
            };
            // dP = dY Vᵀ ; dV = Pᵀ dY
            gemm((t, t, hs), dscore, t, false, dy, (c, 1), v, (1, 3 * c), 1.0);
            gemm(
                (t, hs, t),
                &mut dqkv[base + 2 * c + h * hs..],
                3 * c,
                false,
                pd,
                (1, t),
                dy,
                (c, 1),
                1.0,
            );
            if let Some(m) = m {
                mul_assign(dscore, m);
            }
            // dS = P ⊙ (dP − rowsum(P ⊙ dP)), zero above the diagonal.
            causal_softmax_bwd_in_place(p, dscore, t);
            // dQ = scale · dS K ; dK = scale · dSᵀ Q
            gemm(
                (t, hs, t),
                &mut dqkv[base + h * hs..],
                3 * c,
                false,
                dscore,
                (t, 1),
                k,
                (3 * c, 1),
                scale,
            );
            gemm(
                (t, hs, t),
                &mut dqkv[base + c + h * hs..],
                3 * c,
                false,
                dscore,
                (1, t),
                q,
                (3 * c, 1),
                scale,
            );
        }
    }
}

// ---- a block's second half: x + mlp(ln2(x)) ----------------------------------------------------

/// `res3 = res2 + mlp(ln2(res2))`: layer norm, the expansion to `4C` channels, GELU, and the
/// projection back added to the residual stream.
fn mlp_block_fwd(
    la: &mut LayerActs,
    o: &BlockOffsets,
    p: &[f32],
    d: Dims,
    drop: Option<BlockDrop>,
) {
    let (n, c) = (d.n, d.c);
    layer_norm_fwd(
        &mut la.ln2[..n * c],
        &mut la.ln2_mean[..n],
        &mut la.ln2_rstd[..n],
        &la.res2[..n * c],
        w(p, o.ln2_w, c),
        w(p, o.ln2_b, c),
        c,
    );
    linear_fwd(
        &mut la.fch[..n * 4 * c],
        &la.ln2[..n * c],
        w(p, o.fc_w, 4 * c * c),
        Some(w(p, o.fc_b, 4 * c)),
        n,
        c,
        4 * c,
        false,
    );
    gelu_fwd(
        &la.fch[..n * 4 * c],
        &mut la.fch_gelu[..n * 4 * c],
        &mut la.fch_cdf[..n * 4 * c],
    );
    let out_drop = drop.map(|dr| (&mut dr.branch[..n * c], &dr.masks.mlp_out[..n * c]));
    residual_fwd(
        &mut la.res3[..n * c],
        &la.res2[..n * c],
        &la.fch_gelu[..n * 4 * c],
        w(p, o.proj_w, 4 * c * c),
        w(p, o.proj_b, c),
        4 * c,
        d,
        out_drop,
    );
}

/// Backward of [`mlp_block_fwd`]: takes `back.dres` = d loss / d res3 and leaves d loss / d res2
/// there.
fn mlp_block_bwd(
    g: &mut [f32],
    back: &mut ActGrads,
    la: &LayerActs,
    o: &BlockOffsets,
    p: &[f32],
    d: Dims,
    drop: Option<BlockDrop>,
) {
    let (n, c) = (d.n, d.c);
    let out_drop = drop.map(|dr| (&mut dr.branch[..], &dr.masks.mlp_out[..]));
    // res3 = res2 + fch_gelu · proj_wᵀ + proj_b
    {
        let (dw, db) = two(g, o.proj_w, 4 * c * c, o.proj_b, c);
        residual_bwd(
            &mut back.dfch,
            dw,
            db,
            &back.dres,
            &la.fch_gelu,
            w(p, o.proj_w, 4 * c * c),
            4 * c,
            d,
            out_drop,
        );
    }
    gelu_bwd_in_place(&la.fch, &la.fch_cdf, &mut back.dfch);
    {
        let (dw, db) = two(g, o.fc_w, 4 * c * c, o.fc_b, 4 * c);
        linear_bwd(
            Some(&mut back.dln),
            dw,
            Some(db),
            &back.dfch,
            &la.ln2,
            w(p, o.fc_w, 4 * c * c),
            n,
            c,
            4 * c,
        );
    }
    {
        let (dw, db) = two(g, o.ln2_w, c, o.ln2_b, c);
        layer_norm_bwd(
            &mut back.dres,
            dw,
            db,
            &back.dln,
            &la.res2,
            w(p, o.ln2_w, c),
            &la.ln2_mean,
            &la.ln2_rstd,
            c,
        );
    }
}

// ---- residual branches -----------------------------------------------------------------------------

/// A residual branch's output projection added to the stream: `out = inp + act · weightᵀ + bias`,
/// `act: [n, k]` projected to `[n, C]`. With `drop = (scratch, mask)` the branch goes through the
/// scratch buffer so its mask can apply before the residual sum.
#[allow(clippy::too_many_arguments)]
fn residual_fwd(
    out: &mut [f32],
    inp: &[f32],
    act: &[f32],
    weight: &[f32],
    bias: &[f32],
    k: usize,
    d: Dims,
    drop: Option<(&mut [f32], &[f32])>,
) {
    let (n, c) = (d.n, d.c);
    match drop {
        Some((branch, mask)) => {
            linear_fwd(branch, act, weight, Some(bias), n, k, c, false);
            add_mul_into(out, inp, branch, mask);
        }
        None => {
            out.copy_from_slice(inp);
            linear_fwd(out, act, weight, Some(bias), n, k, c, true);
        }
    }
}

/// Backward of [`residual_fwd`]: the residual passes `dres` through unchanged (so the caller's
/// `dres` stays as it is), and the branch receives `dres` (`dres ⊙ mask` with dropout, formed in
/// the scratch buffer), which goes on to `weight`, `bias` (`dw`, `db`) and to `act` (`dact`).
#[allow(clippy::too_many_arguments)]
fn residual_bwd(
    dact: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
    dres: &[f32],
    act: &[f32],
    weight: &[f32],
    k: usize,
    d: Dims,
    drop: Option<(&mut [f32], &[f32])>,
) {
    let (n, c) = (d.n, d.c);
    let dbranch: &[f32] = match drop {
        Some((branch, mask)) => {
            mul_into(branch, dres, mask);
            branch
        }
        None => dres,
    };
    linear_bwd(Some(dact), dw, Some(db), dbranch, act, weight, n, k, c);
}

// ---- final layer norm, tied head, loss ----------------------------------------------------------

/// The final layer norm of the last block's output (the embeddings, with no block), the tied head
/// `logits = lnf · wteᵀ` and the loss: returns the sum of the scored rows' cross-entropies and
/// leaves their probabilities in `ws.logits`.
fn head_fwd(ws: &mut Workspace, off: &Offsets, p: &[f32], y: &[u32], d: Dims) -> f64 {
    let (n, c, v) = (d.n, d.c, d.v);
    let last = ws
        .layers
        .last()
        .map_or(&ws.x0[..n * c], |la| &la.res3[..n * c]);
    layer_norm_fwd(
        &mut ws.lnf[..n * c],
        &mut ws.lnf_mean[..n],
        &mut ws.lnf_rstd[..n],
        last,
        w(p, off.lnf_w, c),
        w(p, off.lnf_b, c),
        c,
    );
    // Tied head: logits = lnf · wteᵀ.
    linear_fwd(
        &mut ws.logits[..n * v],
        &ws.lnf[..n * c],
        w(p, off.wte, v * c),
        None,
        n,
        c,
        v,
        false,
    );
    softmax_cross_entropy(&mut ws.logits[..n * v], y, v)
}

/// Backward of [`head_fwd`] for the loss `scale · Σ loss`: the loss, the tied head (whose gradient
/// goes to `wte`'s rows in `ws.grads`), then the final layer norm; `ws.back.dres` becomes
/// d loss / d (last block's output).
fn head_bwd(ws: &mut Workspace, off: &Offsets, p: &[f32], y: &[u32], scale: f32, d: Dims) {
    let (n, c, v) = (d.n, d.c, d.v);
    let g = &mut ws.grads;
    loss_bwd(&mut ws.logits, y, v, scale);
    {
        let (dwte, _) = g[off.wte..].split_at_mut(v * c);
        linear_bwd(
            Some(&mut ws.back.dln),
            dwte,
            None,
            &ws.logits,
            &ws.lnf,
            w(p, off.wte, v * c),
            n,
            c,
            v,
        );
    }
    ws.back.dres.fill(0.0);
    let last = ws.layers.last().map_or(&ws.x0, |la| &la.res3);
    {
        let (dw, db) = g[off.lnf_w..off.lnf_w + 2 * c].split_at_mut(c);
        layer_norm_bwd(
            &mut ws.back.dres,
            dw,
            db,
            &ws.back.dln,
            last,
            w(p, off.lnf_w, c),
            &ws.lnf_mean,
            &ws.lnf_rstd,
            c,
        );
    }
}

/// d loss / d logits = (softmax − one-hot) · scale, in place over the probabilities [`head_fwd`]
/// left; zero for a row whose target is [`IGNORE`].
fn loss_bwd(probs: &mut [f32], y: &[u32], v: usize, scale: f32) {
    for (row, &tgt) in probs.chunks_exact_mut(v).zip(y) {
        if tgt == IGNORE {
            row.fill(0.0);
            continue;
        }
        row[tgt as usize] -= 1.0;
        for e in row.iter_mut() {
            *e *= scale;
        }
    }
}

/// Two disjoint mutable parameter slices `[a, a+na)` and `[b, b+nb)` with `a + na <= b`.
fn two(g: &mut [f32], a: usize, na: usize, b: usize, nb: usize) -> (&mut [f32], &mut [f32]) {
    let (lo, hi) = g.split_at_mut(b);
    (&mut lo[a..a + na], &mut hi[..nb])
}
