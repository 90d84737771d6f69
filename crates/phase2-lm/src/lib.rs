//! Phase 2 (m4–m6): from characters to a GPT.
//!
//! Read in this order: [`data`] (tiny-shakespeare through the data cache), [`tokenizer`] (characters and
//! byte-level BPE), [`ngram`] and [`bigram`] (the baselines any language model must beat), [`ops`] (the
//! few fused operations, each with a hand-derived backward), [`attention`] and [`model`] (the GPT, top to
//! bottom in one file), [`train`] (AdamW, schedule, clipping, checkpoints), [`generate`] (sampling with a
//! KV cache), and [`experiments`] (what `cargo xtask phase2` runs).

pub mod attention;
pub mod bench;
pub mod bigram;
pub mod checkpoint;
pub mod data;
pub mod experiments;
pub mod generate;
pub mod model;
pub mod ngram;
pub mod ops;
pub mod parallel;
pub mod tokenizer;
pub mod train;
