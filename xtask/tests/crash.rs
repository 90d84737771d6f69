//! A run killed at any moment never destroys a committed record.
//!
//! In a temporary copy of the workspace whose phase 1 configs are the quick ones, a real
//! `xtask phase1` child is killed with SIGKILL at several points — once right after it starts, and
//! each time after the run in progress has written metrics — and after each kill every record that
//! was there before is either byte-identical or replaced by a complete, finished new one; `xtask
//! check` names the record whose run was killed and says the record itself is untouched. The
//! repository's own `records/` is only read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The workspace as `xtask` needs it to run phase 1 and check: its configs (phase 1's quick ones in
/// place of the full ones), records, figures, documents and the sources they link.
fn workspace_copy(dst: &Path) {
    let src = repo();
    for f in [
        "Cargo.toml",
        "xtask/Cargo.toml",
        "README.md",
        "ARCHITECTURE.md",
        "experiments_log.md",
    ] {
        let target = dst.join(f);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(src.join(f), target).unwrap();
    }
    // The sources too: the READMEs link them, and `check` follows every link.
    for d in [
        "configs",
        "records",
        "visualizations",
        "crates",
        "experiments",
    ] {
        viz::record::staging::copy_record(&src.join(d), &dst.join(d)).unwrap();
    }
    let quick = dst.join("configs/phase1/quick");
    for e in std::fs::read_dir(&quick).unwrap().flatten() {
        std::fs::copy(e.path(), dst.join("configs/phase1").join(e.file_name())).unwrap();
    }
}

fn xtask(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    // Else xtask would take the repository (where this test was built) for its workspace.
    c.env_remove("CARGO_MANIFEST_DIR")
        .current_dir(root)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Every file of every record, by path.
fn snapshot(records: &Path) -> BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<u8>>> {
    fn files(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                files(&e.path(), base, out);
            } else {
                let rel = e.path().strip_prefix(base).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    for r in viz::record::list_record_dirs(records).unwrap() {
        let mut f = BTreeMap::new();
        files(&r, &r, &mut f);
        out.insert(r, f);
    }
    out
}

/// Whether process `pid`'s run in progress has written at least one complete metrics line.
fn staged_with_metrics(records: &Path, pid: u32) -> bool {
    viz::record::leftovers(records)
        .unwrap()
        .into_iter()
        .filter(|l| l.kind == viz::record::LeftoverKind::Interrupted { pid, alive: true })
        .any(|l| {
            std::fs::read_to_string(l.path.join("metrics.jsonl"))
                .is_ok_and(|m| m.lines().any(|line| line.ends_with('}')))
        })
}

/// How many records' `meta.json` differ from `before` (replaced by the run since).
fn replaced_since(before: &BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<u8>>>) -> usize {
    before
        .iter()
        .filter(|(dir, files)| {
            std::fs::read(dir.join("meta.json")).ok().as_ref() != files.get(Path::new("meta.json"))
        })
        .count()
}

/// Start `xtask phase1` and kill it with SIGKILL (no destructor, no cleanup) once `ready(pid)`
/// holds, or after `limit`; true if `ready` was seen before the run ended.
fn kill_when(root: &Path, limit: Duration, ready: impl Fn(u32) -> bool) -> bool {
    let mut child = xtask(root, &["phase1", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut seen = false;
    while t0.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if ready(child.id()) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().ok();
    child.wait().unwrap();
    seen
}

/// Each earlier record is untouched or replaced by a complete, finished run; returns how many were
/// replaced.
fn assert_records_whole(
    before: &BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<u8>>>,
    records: &Path,
) -> usize {
    let after = snapshot(records);
    let mut replaced = 0;
    for (dir, files) in before {
        let now = after
            .get(dir)
            .unwrap_or_else(|| panic!("record {} is gone", dir.display()));
        if now == files {
            continue;
        }
        let r = viz::record::Record::load_dir(dir)
            .unwrap_or_else(|e| panic!("record {} was damaged: {e:#}", dir.display()));
        assert_eq!(
            r.meta.status,
            viz::record::Status::Finished,
            "{} changed but is not a finished run",
            dir.display()
        );
        assert!(now.contains_key(Path::new("config.toml")));
        replaced += 1;
    }
    replaced
}

#[test]
fn killed_runs_never_destroy_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    workspace_copy(&root);
    let records = root.join("records");
    let original = snapshot(&records);
    assert!(original.len() > 10);

    // Right after the start, then after the run in progress wrote metrics: in its first record,
    // and further in, once it had replaced 3 and then 10 earlier records.
    kill_when(&root, Duration::from_millis(150), |_| false);
    assert_records_whole(&original, &records);
    for replaced in [0, 3, 10] {
        let before = snapshot(&records);
        let seen = kill_when(&root, Duration::from_secs(300), |pid| {
            replaced_since(&before) >= replaced && staged_with_metrics(&records, pid)
        });
        assert!(
            seen,
            "the run ended before it replaced {replaced} records and wrote metrics"
        );
        assert!(assert_records_whole(&before, &records) >= replaced);
        assert_records_whole(&original, &records);
    }

    // `check` names the record whose run was killed and says the record is the earlier one.
    let interrupted: Vec<_> = viz::record::leftovers(&records)
        .unwrap()
        .into_iter()
        .filter(|l| matches!(l.kind, viz::record::LeftoverKind::Interrupted { .. }))
        .collect();
    assert!(!interrupted.is_empty());
    let out = xtask(&root, &["check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "check passed after a killed run:\n{err}"
    );
    for l in &interrupted {
        let record = l.record.strip_prefix(&root).unwrap().display().to_string();
        assert!(
            err.contains(&format!("a run of {record} was killed before it finished")),
            "check does not name {record}:\n{err}"
        );
    }
    assert!(
        err.contains("the record itself is the earlier run, untouched"),
        "{err}"
    );

    // A full run afterwards clears what the killed runs left and replaces every phase 1 record.
    let status = xtask(&root, &["phase1", "--quiet"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(viz::record::leftovers(&records).unwrap().is_empty());
    assert!(assert_records_whole(&original, &records) > 10);
    let out = xtask(&root, &["check"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `check` fails on a record directory that lost its `meta.json` (what the old writer left when
/// killed) and says what it is.
#[test]
fn check_names_a_record_without_meta() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    workspace_copy(&root);
    let victim = viz::record::list_records(&root.join("records")).unwrap()[0].clone();
    std::fs::remove_file(victim.join("meta.json")).unwrap();
    let out = xtask(&root, &["check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let name = victim.strip_prefix(&root).unwrap().display().to_string();
    assert!(err.contains(&format!("{name} has no meta.json")), "{err}");
}

/// `check` fails when a record a figure needs is gone, naming the figure.
#[test]
fn check_names_a_figure_whose_record_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    workspace_copy(&root);
    std::fs::remove_dir_all(root.join("records/m5/attention")).unwrap();
    let out = xtask(&root, &["check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "visualizations/m5_attention_heatmap.png is drawn by no phase from the records"
        ),
        "{err}"
    );
}
