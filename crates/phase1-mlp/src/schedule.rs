//! Learning-rate schedules: a pure function from the step index to the learning rate.
//!
//! Phase 2 reuses these, and `WarmupCosine` is written to match `crates/phase2-lm/scripts/torch_gpt.py`'s
//! `lr_at` to the last bit so that our GPT run and the PyTorch reference see the same rates.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule as written in a TOML config, e.g.
/// `{ kind = "warmup_cosine", max_lr = 1e-3, min_lr = 1e-4, warmup = 100, total = 5000 }`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate at every step.
    Constant { lr: f64 },
    /// `lr * gamma^(step / step_size)`: the rate drops by `gamma` every `step_size` steps.
    Step {
        lr: f64,
        step_size: usize,
        gamma: f64,
    },
    /// Linear warm-up from `max_lr / (warmup + 1)` to `max_lr` over `warmup` steps, then a
    /// half-cosine from `max_lr` down to `min_lr` at step `total`, constant after that.
    WarmupCosine {
        max_lr: f64,
        min_lr: f64,
        warmup: usize,
        total: usize,
    },
}

impl LrSchedule {
    /// The learning rate for step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::Step {
                lr,
                step_size,
                gamma,
            } => lr * gamma.powi((step / step_size.max(1)) as i32),
            LrSchedule::WarmupCosine {
                max_lr,
                min_lr,
                warmup,
                total,
            } => {
                if step < warmup {
                    max_lr * (step + 1) as f64 / (warmup + 1) as f64
                } else {
                    let r = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
                    min_lr
                        + 0.5
                            * (1.0 + (std::f64::consts::PI * r.min(1.0)).cos())
                            * (max_lr - min_lr)
                }
            }
        }
    }

    /// The largest rate the schedule ever returns (used to label runs and figure legends).
    pub fn peak_lr(&self) -> f64 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::Step { lr, gamma, .. } => lr.max(lr * gamma),
            LrSchedule::WarmupCosine { max_lr, .. } => max_lr,
        }
    }
}
