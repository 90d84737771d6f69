//! Phase 3 (m7–m9): retrieval-augmented generation, built on phase 2's library.
//!
//! m7 is retrieval: a collection in the BEIR layout ([`beir`]), metrics computed exactly as
//! trec_eval computes them ([`metrics`]), and retrievers to compare on it — BM25 over an inverted
//! index written here ([`bm25`], with [`tokenize`]), dense retrieval ([`dense`]) with two encoders, one trained here from scratch ([`dual`]) and the
//! pretrained all-MiniLM-L6-v2 ([`minilm`]), and a generated
//! world with known answers ([`world`]); [`retrievers`] builds them from a config, hybrids included.
//!
//! m8 is the reader, phase 2's GPT behind `phase2_lm::lm`: its prompts ([`reader`]), its training
//! examples ([`rc`]), asking it under each context condition ([`asker`]), the reader it saves
//! ([`saved`]); its experiments compare conditions with the `stats` crate.

pub mod asker;
pub mod beir;
pub mod bm25;
pub mod chunk;
pub mod dense;
pub mod dual;
pub mod metrics;
pub mod minilm;
pub mod rc;
pub mod reader;
pub mod retrieve;
pub mod retrievers;
pub mod saved;
pub mod tokenize;
pub mod world;
