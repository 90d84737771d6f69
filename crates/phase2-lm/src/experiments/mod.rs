//! What `cargo xtask phase2` runs: each experiment reads its TOML config, writes run records through
//! `viz::record`, and figures / log entries are rebuilt from those records alone.

use std::path::PathBuf;

use anyhow::{bail, Result};

pub mod m4;
pub mod m5;
pub mod m6;

/// Config folder name (`configs/phase2/`).
pub const PHASE: &str = "phase2";

/// Every experiment of the phase, in run order (m5's figures read the model m6 trains, so m6 runs first).
pub const EXPERIMENTS: &[&str] = &[
    m4::TOKENIZERS,
    m4::NGRAMS,
    m6::GPT,
    m6::ABLATIONS,
    m5::ATTENTION,
];

/// Run one experiment end to end from its config.
pub fn run(ctx: &viz::Context, name: &str) -> Result<()> {
    match name {
        n if m4::EXPERIMENTS.contains(&n) => m4::run(ctx, n),
        n if m5::EXPERIMENTS.contains(&n) => m5::run(ctx, n),
        n if m6::EXPERIMENTS.contains(&n) => m6::run(ctx, n),
        other => bail!(
            "unknown phase2 experiment `{other}`; valid names: {}",
            EXPERIMENTS.join(", ")
        ),
    }
}

/// Redraw every phase-2 figure from records.
pub fn figures(ctx: &viz::Context) -> Result<Vec<PathBuf>> {
    let mut out = m4::figures(ctx)?;
    out.extend(m6::figures(ctx)?);
    out.extend(m5::figures(ctx)?);
    Ok(out)
}

/// The phase-2 log entries, built from records.
pub fn log_entries(ctx: &viz::Context) -> Result<Vec<viz::log::LogEntry>> {
    let mut out = m4::log_entries(ctx)?;
    out.extend(m5::log_entries(ctx)?);
    out.extend(m6::log_entries(ctx)?);
    Ok(out)
}
