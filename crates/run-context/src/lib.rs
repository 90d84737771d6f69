//! Where a run reads and writes: the repository's root, its `configs/`, `records/`, figures and
//! documents, the data cache, and whether the run is a smoke run (`--quick`) or quiet.
//!
//! One small crate with one job, so that the libraries (which only need to know where data and
//! checkpoints live, and whether to draw a progress bar) take it without compiling `viz`'s
//! records, figures and log. `viz` re-exports it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::de::DeserializeOwned;

/// Where a phase reads its configs and writes records, figures and documents.
///
/// A full run writes into the repository; `--quick` points every output into a scratch folder so that a
/// smoke run touches nothing committed.
#[derive(Clone, Debug)]
pub struct Context {
    /// Workspace root (holds `configs/`).
    pub root: PathBuf,
    /// Run records: `records/` (or `scratch/quick/records`).
    pub records: PathBuf,
    /// Figures: `visualizations/` (or `scratch/quick/visualizations`).
    pub figures: PathBuf,
    /// Where `experiments_log.md` and the crate READMEs live (the root, or a scratch copy).
    pub docs: PathBuf,
    /// Downloaded datasets (`.data/`, git-ignored).
    pub data_cache: PathBuf,
    /// Use the smoke configs in `configs/<phase>/quick/`.
    pub quick: bool,
    /// No progress bars (CI).
    pub quiet: bool,
}

impl Context {
    /// The context of a full run: everything lands in the repository at `root`.
    pub fn full(root: &Path, quiet: bool) -> Context {
        Context {
            root: root.to_path_buf(),
            records: root.join("records"),
            figures: root.join("visualizations"),
            docs: root.to_path_buf(),
            data_cache: root.join(".data"),
            quick: false,
            quiet,
        }
    }

    /// The context a phase's subcommand reads from: the smoke run's (`scratch/quick/`, where
    /// `cargo xtask all --quick` left it) when `quick`, else the repository's. Unlike a phase run, it
    /// clears nothing.
    pub fn for_command(root: &Path, quick: bool, quiet: bool) -> Context {
        if quick {
            Context::quick(root, &root.join("scratch").join("quick"), quiet)
        } else {
            Context::full(root, quiet)
        }
    }

    /// The context of a smoke run: configs from `configs/<phase>/quick/`, every output under `scratch`.
    pub fn quick(root: &Path, scratch: &Path, quiet: bool) -> Context {
        Context {
            root: root.to_path_buf(),
            records: scratch.join("records"),
            figures: scratch.join("visualizations"),
            docs: scratch.to_path_buf(),
            data_cache: root.join(".data"),
            quick: true,
            quiet,
        }
    }

    /// `configs/<phase>/<name>.toml`, or `configs/<phase>/quick/<name>.toml` in quick mode.
    pub fn config_path(&self, phase: &str, name: &str) -> PathBuf {
        let dir = self.root.join("configs").join(phase);
        let dir = if self.quick { dir.join("quick") } else { dir };
        dir.join(format!("{name}.toml"))
    }

    /// Read and deserialize an experiment config. Returns the typed config and the raw TOML value
    /// (which is what a record stores). Errors name the file, and toml's message names the key.
    pub fn load_config<T: DeserializeOwned>(
        &self,
        phase: &str,
        name: &str,
    ) -> Result<(T, toml::Value)> {
        let path = self.config_path(phase, name);
        load_toml(&path)
    }

    /// Path of a figure file, e.g. `figure("m1_gradient_check.png")`.
    pub fn figure(&self, file: &str) -> PathBuf {
        self.figures.join(file)
    }

    /// A progress bar in the project's style, hidden when `quiet`.
    pub fn progress(&self, len: u64, prefix: &str) -> indicatif::ProgressBar {
        if self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>22.bold} [{bar:30}] {pos}/{len} {per_sec:>10} ETA {eta:>4} {msg}",
            )
            .expect("valid progress template")
            .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }
}

/// Read a TOML file into `T` (and the raw value). Unknown keys are errors when `T` says
/// `deny_unknown_fields`; the message names the file, and toml names the offending key and line.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<(T, toml::Value)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let typed: T =
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
    let raw: toml::Value =
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
    Ok((typed, raw))
}

/// Write `bytes` to `path` crash-safely: to a temporary sibling first, then rename over the target, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
