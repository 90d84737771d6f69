//! Mini-batch training of an [`Mlp`] classifier with the hand-written backward pass, and the
//! measurements m2 and m3 plot: loss and accuracy on both splits, the gradient norm of every
//! layer, and the fraction of dead ReLU units.

use crate::data::Dataset;
use crate::layers::{softmax_cross_entropy, Activation, Bug};
use crate::mlp::Mlp;
use crate::optim::OptimizerConfig;
use crate::schedule::LrSchedule;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How to train, as written in a config.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimizer steps (mini-batches).
    pub steps: usize,
    pub batch: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    /// Evaluate on the full train and validation sets every this many steps (and at the end).
    pub eval_every: usize,
}

/// Measurements at one evaluation point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    pub step: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    /// L2 norm of each weight matrix's gradient (W1, W2, ...), averaged over the mini-batch
    /// steps since the previous evaluation so that one noisy batch does not dominate.
    pub grad_norms: Vec<f64>,
    /// For a ReLU net, the fraction of units in each hidden layer that output zero for every
    /// training example: such a unit gets no gradient and can never recover. Empty otherwise.
    pub dead_fraction: Vec<f64>,
}

/// The outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainResult {
    pub last: Eval,
    /// The step at which the loss became NaN or infinite, if it did (training stops there).
    pub diverged_at: Option<usize>,
}

/// Mean cross-entropy and accuracy of `mlp` on a whole dataset.
pub fn evaluate(mlp: &Mlp, data: &Dataset, dtype: DType) -> Result<(f64, f64)> {
    let logits = mlp.forward(&data.x(dtype)?)?;
    let y = data.y()?;
    let (loss, _) = softmax_cross_entropy(&logits, &y)?;
    Ok((scalar(&loss)?, accuracy(&logits, &y)?))
}

/// Fraction of rows whose largest logit is the target class.
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let pred = logits.argmax(D::Minus1)?;
    let correct = pred.eq(targets)?.to_dtype(DType::F64)?.sum_all()?;
    Ok(correct.to_scalar::<f64>()? / targets.elem_count() as f64)
}

/// Predicted class of every point, for decision-boundary plots.
pub fn predict(mlp: &Mlp, points: &[[f64; 2]], dtype: DType) -> Result<Vec<usize>> {
    let flat: Vec<f64> = points.iter().flat_map(|p| *p).collect();
    let x = Tensor::from_vec(flat, (points.len(), 2), &Device::Cpu)?.to_dtype(dtype)?;
    let pred = mlp.forward(&x)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
    Ok(pred.into_iter().map(|p| p as usize).collect())
}

/// Softmax class probabilities of every point (`[point][class]`), for decision-boundary plots.
pub fn predict_proba(mlp: &Mlp, points: &[[f64; 2]], dtype: DType) -> Result<Vec<Vec<f64>>> {
    let flat: Vec<f64> = points.iter().flat_map(|p| *p).collect();
    let x = Tensor::from_vec(flat, (points.len(), 2), &Device::Cpu)?.to_dtype(dtype)?;
    let logits = mlp.forward(&x)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    Ok(logits
        .into_iter()
        .map(|row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.into_iter().map(|v| v / z).collect()
        })
        .collect())
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Fraction of units of each hidden layer whose pre-activation is <= 0 on every example.
fn dead_fractions(mlp: &Mlp, x: &Tensor) -> Result<Vec<f64>> {
    let trace = mlp.forward_trace(x)?;
    trace
        .pre
        .iter()
        .map(|z| {
            let max_over_examples = z.max(0)?;
            let dead = max_over_examples.le(0.0)?.to_dtype(DType::F64)?.sum_all()?;
            Ok(dead.to_scalar::<f64>()? / max_over_examples.elem_count() as f64)
        })
        .collect()
}

/// Trains `mlp` in place on `train` with mini-batches drawn (without replacement, reshuffled
/// every epoch) from `rng`, calling `on_eval` at step 0, every `eval_every` steps and at the end.
pub fn train(
    mlp: &Mlp,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
    dtype: DType,
    rng: &mut impl Rng,
    mut on_eval: impl FnMut(&Eval) -> Result<()>,
) -> Result<TrainResult> {
    if cfg.batch == 0 || cfg.eval_every == 0 {
        bail!("batch and eval_every must be positive");
    }
    let params = mlp.params();
    let mut opt = cfg.optimizer.build();
    let x_train = train.x(dtype)?;
    let y_train = train.y()?;
    let n_weights = mlp.layers.len();

    let mut order: Vec<usize> = Vec::new();
    let mut norm_sums = vec![0.0; n_weights];
    let mut norm_count = 0usize;
    let mut last = None;
    let mut diverged_at = None;

    let measure = |step: usize, norm_sums: &mut [f64], norm_count: &mut usize| -> Result<Eval> {
        let (train_loss, train_acc) = evaluate(mlp, train, dtype)?;
        let (val_loss, val_acc) = evaluate(mlp, val, dtype)?;
        let grad_norms = if *norm_count == 0 {
            Vec::new()
        } else {
            norm_sums.iter().map(|s| s / *norm_count as f64).collect()
        };
        norm_sums.iter_mut().for_each(|s| *s = 0.0);
        *norm_count = 0;
        let dead_fraction = if mlp.activation == Activation::Relu {
            dead_fractions(mlp, &x_train)?
        } else {
            Vec::new()
        };
        Ok(Eval {
            step,
            lr: cfg.schedule.lr_at(step),
            train_loss,
            train_acc,
            val_loss,
            val_acc,
            grad_norms,
            dead_fraction,
        })
    };

    for step in 0..cfg.steps {
        if order.len() < cfg.batch {
            let mut epoch: Vec<usize> = (0..train.len()).collect();
            epoch.shuffle(rng);
            order.extend(epoch);
        }
        let idx: Vec<u32> = order
            .drain(..cfg.batch.min(train.len()))
            .map(|i| i as u32)
            .collect();
        let idx = Tensor::from_vec(idx.clone(), idx.len(), &Device::Cpu)?;
        let xb = x_train.index_select(&idx, 0)?;
        let yb = y_train.index_select(&idx, 0)?;

        let trace = mlp.forward_trace(&xb)?;
        let (loss, dlogits) = softmax_cross_entropy(&trace.logits, &yb)?;
        if !scalar(&loss)?.is_finite() {
            diverged_at = Some(step);
            break;
        }
        let grads = mlp.backward(&trace, &dlogits, Bug::None)?;
        for (l, sum) in norm_sums.iter_mut().enumerate() {
            *sum += scalar(&grads[2 * l].sqr()?.sum_all()?)?.sqrt();
        }
        norm_count += 1;

        if step == 0 || step % cfg.eval_every == 0 {
            let e = measure(step, &mut norm_sums, &mut norm_count)?;
            on_eval(&e)?;
            last = Some(e);
        }
        opt.step(&params, &grads, cfg.schedule.lr_at(step))?;
    }
    // Final evaluation, after the last update.
    let final_step = diverged_at.unwrap_or(cfg.steps);
    if diverged_at.is_none() {
        let e = measure(final_step, &mut norm_sums, &mut norm_count)?;
        on_eval(&e)?;
        last = Some(e);
    }
    let last = match last {
        Some(e) => e,
        None => bail!("training ran no steps (steps = {})", cfg.steps),
    };
    Ok(TrainResult { last, diverged_at })
}
