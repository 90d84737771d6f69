//! Phase 4 (m10–m12): agents that use tools, built on phase 3's world, retrievers and language-model
//! trait and phase 2's GPT.
//!
//! - [`calc`] — arithmetic parsed here, for the `calc` tool.
//! - [`tools`] — the [`tools::Tool`] trait and `search`, `lookup`, `calc`, `finish`.
//! - [`react`] — the agent loop: thought, action, observation, traced step by step.
//! - [`team`] — m11's planner, solvers and verifier on a message bus.
//! - [`planner`] — the scripted planner that writes the transcripts the policy imitates (training
//!   data only).
//! - [`backend`] — our policy or any OpenAI-compatible model, behind every role of m11–m12.
//!
//! Its experiments (`cargo xtask phase4`) live above it, in `experiments/phase4`.

pub mod backend;
pub mod calc;
pub mod planner;
pub mod react;
pub mod team;
pub mod tools;
