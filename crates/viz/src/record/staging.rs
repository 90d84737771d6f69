//! Where a run writes while it runs, and how it replaces the record before it.
//!
//! A run of `records/<milestone>/<name>/` writes into a hidden sibling, `.<name>.staging-<pid>/`, and
//! only a finished (or paused) run takes the record's place: the old record is renamed aside, the new
//! one renamed in, the old one deleted. A run that fails keeps its record beside the old one, as
//! `.<name>.failed/` (or in its place when there was none). A killed run leaves its staging directory
//! behind and the committed record untouched. [`leftovers`] finds what interrupted or failed runs
//! left, for `cargo xtask check`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

const STAGING: &str = ".staging-";
const REPLACED: &str = ".replaced-";
const FAILED: &str = ".failed";

/// `.<name>.staging-<pid>` beside the record `dir`.
pub(crate) fn staging_dir(dir: &Path, pid: u32) -> PathBuf {
    sibling(dir, &format!("{STAGING}{pid}"))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!(".{}{suffix}", name.unwrap_or_default()))
}

/// Whether process `pid` is alive (on Linux, by `/proc`; elsewhere assumed alive, so nothing of a
/// live run is ever taken for a leftover).
pub fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Staging directories of `dir`'s record whose process is gone, newest first.
pub(crate) fn stale_stagings(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = leftovers_of(dir)
        .into_iter()
        .filter(|l| matches!(l.kind, LeftoverKind::Interrupted { alive: false, .. }))
        .map(|l| {
            let modified = std::fs::metadata(l.path.join("metrics.jsonl"))
                .or_else(|_| std::fs::metadata(&l.path))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (modified, l.path)
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Move the finished run in `staging` to `dir`, replacing the record there. The old record is renamed
/// aside first and deleted last, so at every instant one complete record exists under a known name.
pub(crate) fn publish(staging: &Path, dir: &Path) -> Result<()> {
    let aside = sibling(dir, &format!("{REPLACED}{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(dir, &aside)
            .with_context(|| format!("moving the old record {} aside", dir.display()))?;
    }
    std::fs::rename(staging, dir).with_context(|| {
        format!(
            "moving the finished run {} to {}",
            staging.display(),
            dir.display()
        )
    })?;
    if aside.exists() {
        std::fs::remove_dir_all(&aside)
            .with_context(|| format!("removing the replaced record {}", aside.display()))?;
    }
    Ok(())
}

/// Keep a failed run: in the record's place when there is no record, else beside it as
/// `.<name>.failed` (replacing an earlier failed run), so the last good record stays.
pub(crate) fn set_aside_failed(staging: &Path, dir: &Path) -> Result<()> {
    if !dir.exists() {
        return std::fs::rename(staging, dir).with_context(|| {
            format!(
                "moving the failed run {} to {}",
                staging.display(),
                dir.display()
            )
        });
    }
    let failed = sibling(dir, FAILED);
    if failed.exists() {
        std::fs::remove_dir_all(&failed)
            .with_context(|| format!("removing the earlier failed run {}", failed.display()))?;
    }
    std::fs::rename(staging, &failed)
        .with_context(|| format!("keeping the failed run at {}", failed.display()))
}

/// Copy a directory and everything below it (a record: its files and `artifacts/`).
pub fn copy_record(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_record(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!("copying {} to {}", entry.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// What an interrupted or failed run left beside a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeftoverKind {
    /// A run still writing (`alive`) or killed before it finished: the record beside it is untouched.
    Interrupted { pid: u32, alive: bool },
    /// A run killed between moving the old record aside and moving the new one in.
    Replaced { pid: u32 },
    /// A run that failed; the record beside it is the earlier, good one.
    Failed,
}

/// One leftover: where it is, and the record (`records/<milestone>/<name>`) it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub kind: LeftoverKind,
    pub path: PathBuf,
    pub record: PathBuf,
}

/// Parse a hidden sibling's name into its record name and kind.
fn parse(file_name: &str) -> Option<(String, LeftoverKind)> {
    let rest = file_name.strip_prefix('.')?;
    if let Some(name) = rest.strip_suffix(FAILED) {
        return Some((name.to_string(), LeftoverKind::Failed));
    }
    for (mark, interrupted) in [(STAGING, true), (REPLACED, false)] {
        if let Some(i) = rest.rfind(mark) {
            let pid: u32 = rest[i + mark.len()..].parse().ok()?;
            let kind = if interrupted {
                LeftoverKind::Interrupted {
                    pid,
                    alive: process_alive(pid),
                }
            } else {
                LeftoverKind::Replaced { pid }
            };
            return Some((rest[..i].to_string(), kind));
        }
    }
    None
}

/// What runs left beside the one record `dir`.
fn leftovers_of(dir: &Path) -> Vec<Leftover> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    leftovers_in(parent)
        .into_iter()
        .filter(|l| {
            l.record
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == name)
        })
        .collect()
}

fn leftovers_in(milestone: &Path) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir(milestone) else {
        return Vec::new();
    };
    let mut out: Vec<Leftover> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let (name, kind) = parse(&e.file_name().to_string_lossy())?;
            Some(Leftover {
                kind,
                path: e.path(),
                record: milestone.join(name),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Everything interrupted or failed runs left under `records/`, sorted by path.
pub fn leftovers(records: &Path) -> Result<Vec<Leftover>> {
    let mut out = Vec::new();
    if !records.exists() {
        return Ok(out);
    }
    let mut milestones: Vec<PathBuf> = std::fs::read_dir(records)
        .with_context(|| format!("listing {}", records.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    milestones.sort();
    for m in milestones {
        out.extend(leftovers_in(&m));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let dir = Path::new("/r/m3/lr_sgd_1e-1");
        let s = staging_dir(dir, 4_294_967_000);
        assert_eq!(s, Path::new("/r/m3/.lr_sgd_1e-1.staging-4294967000"));
        let (name, kind) = parse(".lr_sgd_1e-1.staging-4294967000").unwrap();
        assert_eq!(name, "lr_sgd_1e-1");
        assert_eq!(
            kind,
            LeftoverKind::Interrupted {
                pid: 4_294_967_000,
                alive: false
            }
        );
        assert_eq!(
            parse(".a.b.failed").unwrap(),
            ("a.b".into(), LeftoverKind::Failed)
        );
        assert_eq!(
            parse(".a.replaced-12").unwrap(),
            ("a".into(), LeftoverKind::Replaced { pid: 12 })
        );
        assert_eq!(parse("visible"), None);
        assert_eq!(parse(".a.staging-x"), None);
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id()));
    }
}
