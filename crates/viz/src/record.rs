//! Run records: everything needed to trust and redraw a result, written so that a crash loses nothing.
//!
//! ```text
//! records/<milestone>/<name>/
//!   config.toml     the full resolved config, exactly as the run used it
//!   meta.json       seed, git commit (+ dirty flag), start/end time, wall seconds, cores, status, summary
//!   metrics.jsonl   one {"step":…, "key":…, "value":…} per line, appended and flushed as the run goes
//!   artifacts/      named JSON or text (attention maps, samples, tables…)
//! ```
//!
//! A run never writes into the record it replaces. It writes into a hidden sibling,
//! `.<name>.staging-<pid>/`, and takes the record's place only when it finishes (or pauses, to be
//! resumed); a failed run is kept beside the old record as `.<name>.failed/`; a killed run leaves its
//! staging directory and the committed record untouched ([`staging`] says how, and
//! [`staging::leftovers`] finds what such runs left, for `cargo xtask check`). Inside the staging
//! directory, whole files are written to a temporary name and renamed, and metrics are appended line
//! by line, so a run killed mid-write leaves a `meta.json` that says `running` and a metrics file whose
//! complete lines all parse (a torn last line is skipped on load).
//!
//! A run that trains across several sessions (stopped on purpose, or killed, and resumed from its
//! last checkpoint) keeps one record: [`RunWriter::reopen`] continues it, first dropping the metrics
//! the checkpoint does not cover, so its curves stay one continuous line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{write_atomic, Context};

pub mod staging;
mod summary;
pub use staging::{leftovers, Leftover, LeftoverKind};

/// Life of a run, as stored in `meta.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Finished,
    Failed,
    /// Stopped on purpose before its end, to be continued ([`RunWriter::pause`], [`RunWriter::reopen`]).
    Paused,
}

/// `meta.json`: who, when, with what code, and the headline numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMeta {
    pub milestone: String,
    pub name: String,
    pub seed: u64,
    pub git_commit: String,
    pub git_dirty: bool,
    /// Unix seconds.
    pub started: u64,
    pub ended: Option<u64>,
    pub wall_s: Option<f64>,
    pub cores: usize,
    /// The CPU the run ran on (`model name` of /proc/cpuinfo): speeds are only comparable on one
    /// model. Absent from records written before it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    pub status: Status,
    /// Headline numbers of the run (final validation loss, accuracy…), for tables and the log.
    #[serde(default)]
    pub summary: BTreeMap<String, f64>,
}

/// One scalar observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    pub step: u64,
    pub key: String,
    pub value: f64,
}

/// Writes one run's record. Dropping it without [`RunWriter::finish`] marks the run `failed`.
pub struct RunWriter {
    /// Where this run writes: `.<name>.staging-<pid>/` beside the record.
    dir: PathBuf,
    /// The record it replaces when it finishes: `records/<milestone>/<name>/`.
    record_dir: PathBuf,
    meta: RunMeta,
    metrics: File,
    clock: Instant,
    /// Wall seconds of the record's earlier sessions (0 for a new record): `wall_s` is their sum.
    earlier_wall_s: f64,
    done: bool,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok || s.starts_with('.') {
        bail!("record {what} `{s}` must be non-empty and use only letters, digits, '_', '-', '.'");
    }
    Ok(())
}

/// The CPU's model name (`model name` in /proc/cpuinfo), `None` where the system does not say.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, name)| name.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|n| !n.is_empty())
}

/// The commit of the working tree at `root` and whether it has uncommitted changes to tracked files.
/// Outside a git checkout (a tarball) both are reported honestly as unknown / not dirty.
pub fn git_state(root: &Path) -> (String, bool) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Dirty = the code or configs differ from the commit. What runs themselves write (records,
    // figures, the generated log and READMEs) does not count: otherwise every record after the first
    // of a multi-experiment run would call itself dirty because of its predecessors' outputs.
    let dirty = run(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)records",
        ":(exclude)visualizations",
        ":(exclude)*.md",
    ])
    .map(|s| !s.is_empty())
    .unwrap_or(false);
    (commit, dirty)
}

impl RunWriter {
    /// Start a run of `records/<milestone>/<name>/`. It writes beside any earlier record of that name
    /// and replaces it only when it finishes ([`RunWriter::finish`]).
    pub fn create(
        ctx: &Context,
        milestone: &str,
        name: &str,
        config: &impl Serialize,
        seed: u64,
    ) -> Result<RunWriter> {
        Self::create_in(&ctx.records, &ctx.root, milestone, name, config, seed)
    }

    /// As [`RunWriter::create`], with explicit records root and git root (for tests).
    pub fn create_in(
        records: &Path,
        git_root: &Path,
        milestone: &str,
        name: &str,
        config: &impl Serialize,
        seed: u64,
    ) -> Result<RunWriter> {
        check_name("milestone", milestone)?;
        check_name("name", name)?;
        let record_dir = records.join(milestone).join(name);
        // What earlier killed runs of this record left is of no use to a new run.
        for stale in staging::stale_stagings(&record_dir) {
            std::fs::remove_dir_all(&stale)
                .with_context(|| format!("removing {}, left by a killed run", stale.display()))?;
        }
        let dir = staging::staging_dir(&record_dir, std::process::id());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.join("artifacts"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let config_toml =
            toml::to_string_pretty(config).context("serialising the run config to TOML")?;
        write_atomic(&dir.join("config.toml"), config_toml.as_bytes())?;
        let (git_commit, git_dirty) = git_state(git_root);
        let meta = RunMeta {
            milestone: milestone.into(),
            name: name.into(),
            seed,
            git_commit,
            git_dirty,
            started: unix_now(),
            ended: None,
            wall_s: None,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu: cpu_model(),
            status: Status::Running,
            summary: BTreeMap::new(),
        };
        let metrics_path = dir.join("metrics.jsonl");
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("opening {}", metrics_path.display()))?;
        let w = RunWriter {
            dir,
            record_dir,
            meta,
            metrics,
            clock: Instant::now(),
            earlier_wall_s: 0.0,
            done: false,
        };
        w.write_meta()?;
        Ok(w)
    }

    /// Continue the existing record `records/<milestone>/<name>/` (a resumed run): its config, seed,
    /// start time, commit and summary are kept, it is `running` again, its wall seconds add up over
    /// the sessions, and only the metrics lines for which `keep` is true stay — a run resumed from a
    /// checkpoint at step `s` keeps `step <= s` and logs the rest again, so no step appears twice. A
    /// torn last line (the previous session was killed mid-append) is dropped. The session writes into
    /// its own staging directory, a copy of the record — or of what a killed earlier session left
    /// staged, which is newer — and replaces the record when it pauses or finishes.
    pub fn reopen(
        ctx: &Context,
        milestone: &str,
        name: &str,
        keep: impl Fn(&Scalar) -> bool,
    ) -> Result<RunWriter> {
        Self::reopen_in(&ctx.records, milestone, name, keep)
    }

    /// As [`RunWriter::reopen`], with an explicit records root (for tests).
    pub fn reopen_in(
        records: &Path,
        milestone: &str,
        name: &str,
        keep: impl Fn(&Scalar) -> bool,
    ) -> Result<RunWriter> {
        check_name("milestone", milestone)?;
        check_name("name", name)?;
        let record_dir = records.join(milestone).join(name);
        let dir = staging::staging_dir(&record_dir, std::process::id());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let stale = staging::stale_stagings(&record_dir);
        match stale.first() {
            Some(newest) => std::fs::rename(newest, &dir).with_context(|| {
                format!("taking over {}, left by a killed session", newest.display())
            })?,
            None if record_dir.join("meta.json").exists() => {
                staging::copy_record(&record_dir, &dir)?
            }
            None => bail!(
                "no record {} to continue (reading {}: has this run been started?)",
                record_dir.display(),
                record_dir.join("meta.json").display()
            ),
        }
        for older in stale.iter().skip(1) {
            std::fs::remove_dir_all(older).with_context(|| {
                format!("removing {}, left by a killed session", older.display())
            })?;
        }
        let old = Record::load_dir(&dir)?;
        let mut kept = String::new();
        for s in old.scalars.iter().filter(|s| keep(s)) {
            kept.push_str(&serde_json::to_string(s)?);
            kept.push('\n');
        }
        let metrics_path = dir.join("metrics.jsonl");
        write_atomic(&metrics_path, kept.as_bytes())?;
        let metrics = OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("opening {}", metrics_path.display()))?;
        let mut meta = old.meta;
        let earlier_wall_s = meta.wall_s.unwrap_or(0.0);
        meta.status = Status::Running;
        meta.ended = None;
        let w = RunWriter {
            dir,
            record_dir,
            meta,
            metrics,
            clock: Instant::now(),
            earlier_wall_s,
            done: false,
        };
        w.write_meta()?;
        Ok(w)
    }

    /// Where this run is being written (its staging directory) until it finishes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record this run becomes when it finishes: `records/<milestone>/<name>/`.
    pub fn record_dir(&self) -> &Path {
        &self.record_dir
    }

    /// The run as written so far (it is not at its record's place until it finishes).
    pub fn snapshot(&self) -> Result<Record> {
        Record::load_dir(&self.dir)
    }

    /// The record's name (`<name>` of `records/<milestone>/<name>/`).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    fn write_meta(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.meta)?;
        write_atomic(&self.dir.join("meta.json"), &json)
    }

    /// Append one scalar; flushed immediately so a crash keeps it.
    pub fn scalar(&mut self, step: u64, key: &str, value: f64) -> Result<()> {
        self.scalars(step, &[(key, value)])
    }

    /// Append several scalars of one step in a single write.
    pub fn scalars(&mut self, step: u64, kv: &[(&str, f64)]) -> Result<()> {
        let mut buf = String::new();
        for (key, value) in kv {
            let s = Scalar {
                step,
                key: (*key).to_string(),
                value: *value,
            };
            buf.push_str(&serde_json::to_string(&s)?);
            buf.push('\n');
        }
        self.metrics
            .write_all(buf.as_bytes())
            .and_then(|_| self.metrics.flush())
            .with_context(|| format!("appending metrics to {}", self.dir.display()))
    }

    /// Record a typed summary: each numeric field of `summary` becomes one headline number under the
    /// field's name (`None` fields are left out; a nested struct or map is stored under
    /// `outer/inner` keys), so the record is read back with [`Record::summary_as`] into the same type
    /// and a misspelt field is a compile error. Called again, it adds to (or overwrites) the summary.
    pub fn summaries<T: Serialize>(&mut self, summary: &T) -> Result<()> {
        for (key, x) in summary::flat(summary)? {
            self.meta.summary.insert(key, x);
        }
        // A failed meta write is reported at finish(); a summary must never abort a long run.
        let _ = self.write_meta();
        Ok(())
    }

    /// Store a JSON artifact `artifacts/<name>.json`.
    pub fn artifact<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        check_name("artifact", name)?;
        let json =
            serde_json::to_vec(value).with_context(|| format!("serialising artifact {name}"))?;
        write_atomic(
            &self.dir.join("artifacts").join(format!("{name}.json")),
            &json,
        )
    }

    /// Store a text artifact `artifacts/<name>.txt`.
    pub fn text(&self, name: &str, text: &str) -> Result<()> {
        check_name("artifact", name)?;
        write_atomic(
            &self.dir.join("artifacts").join(format!("{name}.txt")),
            text.as_bytes(),
        )
    }

    /// Mark the run finished and stamp its end time and wall seconds.
    pub fn finish(mut self) -> Result<()> {
        self.close(Status::Finished)
    }

    /// Mark the run failed explicitly (a dropped writer does the same).
    pub fn fail(mut self) -> Result<()> {
        self.close(Status::Failed)
    }

    /// Mark the run paused: stopped on purpose, to be continued by [`RunWriter::reopen`].
    pub fn pause(mut self) -> Result<()> {
        self.close(Status::Paused)
    }

    /// Stamp the end, then put the run where it belongs: a finished or paused run replaces the
    /// record, a failed one is kept beside it.
    fn close(&mut self, status: Status) -> Result<()> {
        self.done = true;
        self.meta.status = status;
        self.meta.ended = Some(unix_now());
        self.meta.wall_s = Some(self.earlier_wall_s + self.clock.elapsed().as_secs_f64());
        self.write_meta()?;
        self.metrics.sync_all().ok();
        match status {
            Status::Finished | Status::Paused => staging::publish(&self.dir, &self.record_dir),
            Status::Failed | Status::Running => {
                staging::set_aside_failed(&self.dir, &self.record_dir)
            }
        }
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.close(Status::Failed);
        }
    }
}

/// A record as loaded from disk.
#[derive(Clone, Debug)]
pub struct Record {
    pub dir: PathBuf,
    pub meta: RunMeta,
    pub config: toml::Value,
    pub scalars: Vec<Scalar>,
}

impl Record {
    /// Load `records/<milestone>/<name>`.
    pub fn load(ctx: &Context, milestone: &str, name: &str) -> Result<Record> {
        Self::load_dir(&ctx.records.join(milestone).join(name))
    }

    /// Load a record directory. A torn last metrics line (a crash mid-append) is skipped; any other
    /// malformed line is an error naming the file and line.
    pub fn load_dir(dir: &Path) -> Result<Record> {
        let meta_path = dir.join("meta.json");
        let meta: RunMeta =
            serde_json::from_slice(&std::fs::read(&meta_path).with_context(|| {
                format!(
                    "reading {} (has this experiment been run?)",
                    meta_path.display()
                )
            })?)
            .with_context(|| format!("parsing {}", meta_path.display()))?;
        let config_path = dir.join("config.toml");
        let config: toml::Value = toml::from_str(
            &std::fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?,
        )
        .with_context(|| format!("parsing {}", config_path.display()))?;
        let metrics_path = dir.join("metrics.jsonl");
        let mut scalars = Vec::new();
        if metrics_path.exists() {
            let f = File::open(&metrics_path)
                .with_context(|| format!("opening {}", metrics_path.display()))?;
            let lines: Vec<String> = BufReader::new(f).lines().collect::<std::io::Result<_>>()?;
            let n = lines.len();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Scalar>(line) {
                    Ok(s) => scalars.push(s),
                    Err(_) if i + 1 == n && meta.status != Status::Finished => {} // torn final line of a crashed run
                    Err(e) => bail!(
                        "{}:{}: malformed metrics line: {e}",
                        metrics_path.display(),
                        i + 1
                    ),
                }
            }
        }
        Ok(Record {
            dir: dir.to_path_buf(),
            meta,
            config,
            scalars,
        })
    }

    /// `(step, value)` pairs of a logged key, sorted by step: an error naming the record and the key
    /// when the run logged none (a misspelt key would otherwise draw a figure without its line).
    pub fn series(&self, key: &str) -> Result<Vec<(f64, f64)>> {
        let v = self.series_if_logged(key);
        if v.is_empty() {
            bail!(
                "record {} has no metric `{key}` (logged: {})",
                self.dir.display(),
                self.metric_keys().join(", ")
            );
        }
        Ok(v)
    }

    /// `(step, value)` pairs of a key a run logs only sometimes (empty when it did not): the caller
    /// says why it may be missing.
    pub fn series_if_logged(&self, key: &str) -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = self
            .scalars
            .iter()
            .filter(|s| s.key == key)
            .map(|s| (s.step as f64, s.value))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }

    /// The metric keys this run logged, sorted.
    pub fn metric_keys(&self) -> Vec<String> {
        let keys: BTreeSet<&str> = self.scalars.iter().map(|s| s.key.as_str()).collect();
        keys.into_iter().map(str::to_string).collect()
    }

    /// The summary read into a typed struct (written by [`RunWriter::summaries`]): a field the
    /// record lacks is an error naming the record and the field, unless the field is an `Option`.
    pub fn summary_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(summary::unflatten(&self.meta.summary))
            .with_context(|| format!("summary of record {}", self.dir.display()))
    }

    /// The summary read as `T` and flattened again, as [`RunWriter::summaries`] would store it:
    /// equal to `meta.summary` when `T` keeps every key and value of the record.
    pub fn summary_rewritten_as<T: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<BTreeMap<String, f64>> {
        Ok(summary::flat(&self.summary_as::<T>()?)?
            .into_iter()
            .collect())
    }

    /// Last logged value of a key.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.series_if_logged(key).last().map(|p| p.1)
    }

    /// A JSON artifact.
    pub fn artifact<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let p = self.dir.join("artifacts").join(format!("{name}.json"));
        let bytes =
            std::fs::read(&p).with_context(|| format!("reading artifact {}", p.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing artifact {}", p.display()))
    }

    /// A text artifact.
    pub fn text(&self, name: &str) -> Result<String> {
        let p = self.dir.join("artifacts").join(format!("{name}.txt"));
        std::fs::read_to_string(&p).with_context(|| format!("reading artifact {}", p.display()))
    }

    /// The stored config as a typed value.
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T> {
        self.config.clone().try_into().with_context(|| {
            format!(
                "config of record {} does not match the expected shape",
                self.dir.display()
            )
        })
    }

    /// Short provenance line for the log: commit, seed, wall time.
    pub fn provenance(&self) -> String {
        let commit: String = self.meta.git_commit.chars().take(10).collect();
        let cpu = self
            .meta
            .cpu
            .as_ref()
            .map_or(String::new(), |c| format!(" of an {c}"));
        format!(
            "commit `{}`{}, seed {}, {:.0} s on {} cores{cpu}",
            commit,
            if self.meta.git_dirty {
                " (dirty tree)"
            } else {
                ""
            },
            self.meta.seed,
            self.meta.wall_s.unwrap_or(f64::NAN),
            self.meta.cores
        )
    }
}

/// How long the run that produces a checkpoint took, read from its committed record, for the message
/// of a command that needs the checkpoint: "about 16 min on 2 cores (records/m8/reader)"; `None`
/// when the record is missing.
pub fn how_long(ctx: &Context, milestone: &str, name: &str) -> Option<String> {
    let r = Record::load(ctx, milestone, name).ok()?;
    let minutes = r.meta.wall_s? / 60.0;
    let span = if minutes < 1.5 {
        "about a minute".to_string()
    } else {
        format!("about {minutes:.0} min")
    };
    Some(format!(
        "{span} on {} cores (records/{milestone}/{name})",
        r.meta.cores
    ))
}

/// "`command` produces it (about N min on C cores, records/…)": what a command that lacks a
/// checkpoint says, with the time from the committed record when there is one.
pub fn produced_by(ctx: &Context, command: &str, milestone: &str, name: &str) -> String {
    match how_long(ctx, milestone, name) {
        Some(t) => format!("`{command}` produces it, in {t}"),
        None => format!("`{command}` produces it"),
    }
}

/// Every record directory under `records` (`<milestone>/<name>` holding a `meta.json`), sorted.
/// Hidden directories (runs in progress, killed or failed: [`staging`]) are not records.
pub fn list_records(records: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_record_dirs(records)?
        .into_iter()
        .filter(|r| r.join("meta.json").exists())
        .collect())
}

/// Every visible directory `<milestone>/<name>` under `records`, a record or not, sorted.
pub fn list_record_dirs(records: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !records.exists() {
        return Ok(out);
    }
    for m in std::fs::read_dir(records).with_context(|| format!("listing {}", records.display()))? {
        let m = m?.path();
        if !m.is_dir() {
            continue;
        }
        for r in std::fs::read_dir(&m)? {
            let r = r?;
            if r.path().is_dir() && !r.file_name().to_string_lossy().starts_with('.') {
                out.push(r.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
