//! What phase 1's records hold, typed once: each run's summary (written with
//! [`viz::record::RunWriter::summaries`], read with [`viz::record::Record::summary_as`]) and the
//! names of the metrics its runs log. A misspelt field is a compile error, not a missing number.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metric keys the phase-1 runs log at every evaluation.
pub mod metric {
    pub const TRAIN_LOSS: &str = "train_loss";
    pub const VAL_LOSS: &str = "val_loss";
    pub const TRAIN_ACC: &str = "train_acc";
    pub const VAL_ACC: &str = "val_acc";
    pub const LR: &str = "lr";
    /// `grad_norm_W1`, `grad_norm_W2`, …: the gradient norm of each weight matrix.
    pub const GRAD_NORM: &str = "grad_norm_W";
    /// `dead_fraction_h1`, …: the share of each hidden layer's units that never fire.
    pub const DEAD_FRACTION: &str = "dead_fraction_h";
    /// One point per seed of a learning-rate sweep: its final training loss, capped.
    pub const FINAL_TRAIN_LOSS: &str = "final_train_loss";
    /// The Rosenbrock value along an optimizer's path.
    pub const ROSENBROCK: &str = "f";
}

/// m1: the worst relative error of each case's analytical gradient, against finite differences
/// and against candle's autograd, keyed by the case's name.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct GradCheckSummary {
    pub max_rel_error: BTreeMap<String, f64>,
    pub max_rel_error_autograd: BTreeMap<String, f64>,
}

/// A training run's last evaluation, and the step where it diverged if it did.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TrainSummary {
    pub train_loss: f64,
    pub val_loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub diverged_at: Option<u64>,
}

/// What an m2 classifier is judged against: the config's target and the Bayes-optimal rule's
/// accuracy on the same validation points and on the distribution.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct References {
    pub target_val_acc: Option<f64>,
    pub bayes_val_acc: Option<f64>,
    pub bayes_expected_acc: Option<f64>,
}

/// An m2 classifier's record: its training and its references.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ClassifierSummary {
    #[serde(flatten)]
    pub train: TrainSummary,
    #[serde(flatten)]
    pub references: References,
}

/// One seed of the m3 optimizer comparison.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SeedSummary {
    pub train_loss: f64,
    pub val_acc: f64,
    pub diverged_at: Option<u64>,
}

/// One learning rate of the m3 sweep, over its seeds (losses capped where a seed diverged).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LrSummary {
    pub lr: f64,
    pub final_train_loss_mean: f64,
    pub final_train_loss_std: f64,
    pub diverged_runs: u64,
}

/// One optimizer's path on the Rosenbrock function.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct PathSummary {
    pub final_f: f64,
    pub final_distance_to_minimum: f64,
    pub steps_taken: u64,
}
