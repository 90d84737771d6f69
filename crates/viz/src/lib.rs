//! `viz` is the one way results leave a phase.
//!
//! A phase runs an experiment and writes a [`record::RunWriter`]; everything a reader sees afterwards —
//! figures ([`plot`]), Markdown tables ([`table`]), pipeline diagrams ([`diagram`]) and the generated parts
//! of `experiments_log.md` and the crate READMEs ([`log`]) — is rebuilt from those records alone, so any
//! figure can be redrawn without retraining and every number in the log can be traced to a run.

pub mod claims;
pub mod diagram;
pub mod log;
pub mod phase;
pub mod plot;
pub mod record;
pub mod references;
pub mod table;
pub mod template;

pub use run_context::{load_toml, write_atomic, Context};
