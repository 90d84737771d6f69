//! Data-parallel training step: the batch is split along its first dimension, each part runs its
//! own forward and backward on its own thread, and the gradients are averaged.
//!
//! Why not let candle parallelise each op? For tensors this small (the bench model's biggest matmul
//! is `[768, 128] x [128, 512]`) the fork/join of every op costs more than it saves: measured on the
//! 2-core machine, a candle trainer got *slower* going from 1 to 2 threads. One whole single-threaded
//! graph per core has no synchronisation until the gradients are summed, once per step.
//!
//! Each worker must itself run single-threaded: candle's matmul and elementwise kernels use
//! `RAYON_NUM_THREADS` threads, so binaries that train set
//! `RAYON_NUM_THREADS=1` before the first candle op (the xtask main does). Without it the result is
//! the same, only slower (every worker would fan out over every core).

use candle_core::{Result, Tensor, Var};

use crate::dropout::{Dropout, Masks};
use crate::model::Gpt;

/// Loss and gradients for one batch, split over `workers` single-threaded candle graphs on scoped
/// threads, gradients averaged, returned in `model.vars()` order. `workers = 1` is a plain
/// `loss.backward()`.
///
/// The split keeps the mean exact: part `i` with `n_i` of the `B` rows weighs `n_i / B`, so the loss
/// and every gradient equal those of the whole batch up to float rounding (tested to 1e-4).
pub fn loss_and_grads(
    model: &Gpt,
    x: &Tensor,
    y: &Tensor,
    workers: usize,
) -> Result<(f32, Vec<Tensor>)> {
    split_loss_and_grads(&model.vars(), x, y, workers, |x, y| model.loss(x, y))
}

/// [`loss_and_grads`] of a training step with dropout ([`Gpt::loss_masked`]): each part draws the
/// masks of its own rows, keyed by their index in the whole batch, exactly as the hand-written
/// engine does, so both engines (and any split) drop the same activations.
pub fn loss_and_grads_dropout(
    model: &Gpt,
    x: &Tensor,
    y: &Tensor,
    workers: usize,
    dropout: &Dropout,
) -> Result<(f32, Vec<Tensor>)> {
    split_rows_loss_and_grads(&model.vars(), x, y, workers, |x, y, first| {
        let (b, t) = x.dims2()?;
        let masks = Masks::draw(&model.cfg, dropout, first, b, t);
        model.loss_masked(x, y, &masks)
    })
}

/// [`loss_and_grads`] for any model: `loss_fn(x_part, y_part)` must return the *mean* loss of the
/// part (a scalar) built from `vars`.
pub fn split_loss_and_grads<F>(
    vars: &[(String, Var)],
    x: &Tensor,
    y: &Tensor,
    workers: usize,
    loss_fn: F,
) -> Result<(f32, Vec<Tensor>)>
where
    F: Fn(&Tensor, &Tensor) -> Result<Tensor> + Sync,
{
    split_rows_loss_and_grads(vars, x, y, workers, |x, y, _| loss_fn(x, y))
}

/// [`split_loss_and_grads`] whose `loss_fn` is also told the index of the part's first row in the
/// whole batch (what a per-row random stream needs).
fn split_rows_loss_and_grads<F>(
    vars: &[(String, Var)],
    x: &Tensor,
    y: &Tensor,
    workers: usize,
    loss_fn: F,
) -> Result<(f32, Vec<Tensor>)>
where
    F: Fn(&Tensor, &Tensor, usize) -> Result<Tensor> + Sync,
{
    let rows = x.dim(0)?;
    if y.dim(0)? != rows {
        candle_core::bail!("loss_and_grads: x has {rows} rows but y has {}", y.dim(0)?);
    }
    if workers == 0 || rows == 0 {
        candle_core::bail!("loss_and_grads: need workers >= 1 and a non-empty batch (workers {workers}, rows {rows})");
    }
    let parts = split_rows(rows, workers);
    if parts.len() == 1 {
        return part_loss_and_grads(vars, x, y, 0, 1.0, &loss_fn);
    }
    // With ignored targets (`ops::IGNORE` among u32 targets) a part weighs by the targets it
    // scores, not by its rows.
    let scored = |y: &Tensor| -> Result<usize> {
        if y.dtype() != candle_core::DType::U32 {
            return Ok(y.elem_count());
        }
        Ok(y.flatten_all()?
            .to_vec1::<u32>()?
            .iter()
            .filter(|&&t| t != crate::ops::IGNORE)
            .count())
    };
    let all_scored = scored(y)?;
    let masked = all_scored != y.elem_count();
    let run = |&(start, len): &(usize, usize)| -> Result<(f32, Vec<Tensor>)> {
        let weight = if masked {
            scored(&y.narrow(0, start, len)?)? as f64 / all_scored as f64
        } else {
            len as f64 / rows as f64
        };
        if weight == 0.0 {
            // A part with nothing to score contributes zero loss and zero gradient.
            let zeros = vars
                .iter()
                .map(|(_, v)| v.as_tensor().zeros_like())
                .collect::<Result<Vec<_>>>()?;
            return Ok((0.0, zeros));
        }
        part_loss_and_grads(
            vars,
            &x.narrow(0, start, len)?,
            &y.narrow(0, start, len)?,
            start,
            weight,
            &loss_fn,
        )
    };
    let results: Vec<Result<(f32, Vec<Tensor>)>> = std::thread::scope(|s| {
        // The calling thread does the first part itself; the others get one thread each.
        let handles: Vec<_> = parts[1..].iter().map(|p| s.spawn(move || run(p))).collect();
        let mut out = vec![run(&parts[0])];
        for h in handles {
            out.push(h.join().unwrap_or_else(|_| {
                Err(candle_core::Error::Msg(
                    "loss_and_grads: a worker thread panicked".into(),
                ))
            }));
        }
        out
    });
    let mut results = results.into_iter();
    let (mut loss, mut grads) = results.next().expect("at least two parts")?;
    for r in results {
        let (l, g) = r?;
        loss += l;
        for (acc, g) in grads.iter_mut().zip(g) {
            *acc = (&*acc + g)?;
        }
    }
    Ok((loss, grads))
}

/// Splits `rows` into at most `workers` contiguous `(start, len)` parts, sizes differing by at most 1.
pub(crate) fn split_rows(rows: usize, workers: usize) -> Vec<(usize, usize)> {
    let n = workers.min(rows);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = rows / n + usize::from(i < rows % n);
            let part = (start, len);
            start += len;
            part
        })
        .collect()
}

/// One part's loss and gradients (its rows start at row `first` of the batch), both already
/// multiplied by the part's weight.
fn part_loss_and_grads<F>(
    vars: &[(String, Var)],
    x: &Tensor,
    y: &Tensor,
    first: usize,
    weight: f64,
    loss_fn: &F,
) -> Result<(f32, Vec<Tensor>)>
where
    F: Fn(&Tensor, &Tensor, usize) -> Result<Tensor> + Sync,
{
    let loss = loss_fn(x, y, first)?;
    let store = loss.backward()?;
    let loss = loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? * weight as f32;
    let grads = vars
        .iter()
        .map(|(name, var)| match store.get(var.as_tensor()) {
            Some(g) if weight == 1.0 => Ok(g.clone()),
            Some(g) => g.affine(weight, 0.0),
            // A parameter without a gradient is a bug (an op that returns none, like candle-nn's fused
            // layer norm), not a zero: say which one.
            None => candle_core::bail!("loss_and_grads: parameter `{name}` received no gradient"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((loss, grads))
}

#[cfg(test)]
mod tests {
    use super::split_rows;

    #[test]
    fn m6_parallel_split_rows_covers_the_batch() {
        assert_eq!(split_rows(12, 2), vec![(0, 6), (6, 6)]);
        assert_eq!(split_rows(5, 2), vec![(0, 3), (3, 2)]);
        assert_eq!(split_rows(2, 4), vec![(0, 1), (1, 1)]);
        assert_eq!(split_rows(7, 1), vec![(0, 7)]);
    }
}
