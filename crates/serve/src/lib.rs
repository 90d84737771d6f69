//! The project's models over the OpenAI API. The client for any OpenAI-compatible server is its own
//! crate, `openai-client` (no server dependencies), which this crate's tests use.
//!
//! - [`server`] — `/v1/models`, `/v1/completions`, `/v1/chat/completions` on tokio, with streaming
//!   by server-sent events, bounded concurrency and the checks that keep a local server safe.
//! - [`api`] — request bodies, the checked parameters, errors in OpenAI's shape.
//! - [`registry`] — the served checkpoints by name.
//! - [`chat`] — the chat template for our base models.
//! - [`load`] — a bounded load test of a running server, every reply checked against a reference.
//! - [`cli`] — `cargo xtask serve` and the `serve` binary.
//!
//! `cargo xtask serving`, the load test as a recorded experiment, lives above it in `experiments/serve`.

pub mod api;
pub mod chat;
pub mod cli;
pub mod load;
pub mod registry;
pub mod server;
