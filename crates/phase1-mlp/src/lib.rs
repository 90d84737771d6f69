//! Phase 1 of ml-from-scratch-rs: how a neural network learns.
//!
//! * m1 — layers with hand-written `forward`/`backward` ([`layers`], [`mlp`]), checked against
//!   central finite differences and candle's autograd ([`gradcheck`]).
//! * m2 — an MLP classifier on 2-D datasets ([`data`], [`train`]), and what its gradients say.
//! * m3 — optimizers and learning-rate schedules written by hand ([`optim`], [`schedule`]),
//!   compared on one task and on the Rosenbrock function ([`rosenbrock`]).
//!
//! Its experiments (m1–m3: configs, records, figures, log entries) live above it, in `experiments/phase1`.

pub mod data;
pub mod gradcheck;
pub mod layers;
pub mod mlp;
pub mod optim;
pub mod rosenbrock;
pub mod schedule;
pub mod train;
