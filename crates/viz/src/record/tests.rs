use super::*;

#[derive(Serialize)]
struct Cfg {
    lr: f64,
    layers: Vec<usize>,
}

#[test]
fn round_trip_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 0.1,
        layers: vec![2, 16, 2],
    };
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m2", "moons", &cfg, 7).unwrap();
    w.scalar(1, "train/loss", 0.5).unwrap();
    w.scalars(2, &[("train/loss", 0.25), ("val/acc", 0.9)])
        .unwrap();
    w.summaries(&std::collections::BTreeMap::from([("val/acc", 0.9)]))
        .unwrap();
    w.artifact("grid", &vec![vec![1u8, 2], vec![3, 4]]).unwrap();
    w.text("sample", "to be").unwrap();
    let staged = w.dir().to_path_buf();
    let dir = w.record_dir().to_path_buf();
    assert_eq!(
        Record::load_dir(&staged).unwrap().meta.status,
        Status::Running
    );
    assert!(!dir.exists(), "a running run is not yet the record");
    w.finish().unwrap();
    assert!(!staged.exists(), "the finished run moved into place");
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.meta.status, Status::Finished);
    assert_eq!(r.meta.seed, 7);
    assert_eq!(
        r.series("train/loss").unwrap(),
        vec![(1.0, 0.5), (2.0, 0.25)]
    );
    assert_eq!(r.last("val/acc"), Some(0.9));
    assert_eq!(r.meta.summary.get("val/acc").copied(), Some(0.9));
    assert_eq!(
        r.artifact::<Vec<Vec<u8>>>("grid").unwrap(),
        vec![vec![1, 2], vec![3, 4]]
    );
    assert_eq!(r.text("sample").unwrap(), "to be");
    assert_eq!(r.config.get("lr").and_then(|v| v.as_float()), Some(0.1));
}

#[test]
fn typed_summaries_round_trip_and_a_missing_field_or_series_is_an_error() {
    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Summary {
        val_acc: f64,
        steps: u32,
        bayes: Option<f64>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Misspelt {
        #[allow(dead_code)]
        val_accuracy: f64,
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 0.1,
        layers: vec![2],
    };
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m2", "xor", &cfg, 1).unwrap();
    let s = Summary {
        val_acc: 0.97,
        steps: 600,
        bayes: None,
    };
    w.summaries(&s).unwrap();
    w.scalar(1, "train/loss", 0.5).unwrap();
    assert!(w.summaries(&vec![1.0]).is_err(), "a summary is a struct");
    let dir = w.record_dir().to_path_buf();
    w.finish().unwrap();
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.meta.summary.get("val_acc").copied(), Some(0.97));
    assert_eq!(
        r.meta.summary.get("bayes").copied(),
        None,
        "None fields are left out"
    );
    assert_eq!(r.summary_as::<Summary>().unwrap(), s);
    let err = format!("{:#}", r.summary_as::<Misspelt>().unwrap_err());
    assert!(err.contains("val_accuracy") && err.contains("xor"), "{err}");
    assert_eq!(r.series("train/loss").unwrap(), vec![(1.0, 0.5)]);
    let err = format!("{:#}", r.series("train/los").unwrap_err());
    assert!(
        err.contains("train/los") && err.contains("train/loss"),
        "{err}"
    );
}

#[test]
fn nested_summaries_are_stored_flat_and_read_back_nested() {
    use std::collections::BTreeMap;
    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Retriever {
        ndcg: f64,
        /// Stored as `<retriever>/ndcg/<kind>`: a breakdown of a number that is also stored.
        #[serde(flatten)]
        by_kind: BTreeMap<String, f64>,
    }
    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Summary {
        docs: u64,
        retrievers: BTreeMap<String, Retriever>,
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 0.1,
        layers: vec![2],
    };
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m7", "world", &cfg, 1).unwrap();
    let bm25 = Retriever {
        ndcg: 0.5,
        by_kind: BTreeMap::from([("ndcg/lookup".to_string(), 0.75)]),
    };
    let s = Summary {
        docs: 3,
        retrievers: BTreeMap::from([("bm25".to_string(), bm25)]),
    };
    w.summaries(&s).unwrap();
    let dir = w.record_dir().to_path_buf();
    w.finish().unwrap();
    let r = Record::load_dir(&dir).unwrap();
    let keys: Vec<&String> = r.meta.summary.keys().collect();
    assert_eq!(
        keys,
        [
            "docs",
            "retrievers/bm25/ndcg",
            "retrievers/bm25/ndcg/lookup"
        ]
    );
    assert_eq!(r.summary_as::<Summary>().unwrap(), s);
    assert_eq!(
        r.summary_rewritten_as::<Summary>().unwrap(),
        r.meta.summary,
        "read back and flattened again, the summary is what was written"
    );
}

#[test]
fn dropped_writer_is_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = {
        let mut w = RunWriter::create_in(
            tmp.path(),
            tmp.path(),
            "m1",
            "x",
            &Cfg {
                lr: 1.0,
                layers: vec![],
            },
            0,
        )
        .unwrap();
        w.scalar(0, "a", 1.0).unwrap();
        w.record_dir().to_path_buf()
    };
    assert_eq!(Record::load_dir(&dir).unwrap().meta.status, Status::Failed);
}

/// A process killed while appending leaves a torn last line and a meta.json saying `running`:
/// the record must still load, with every complete line.
#[test]
fn record_killed_mid_write_still_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create_in(
        tmp.path(),
        tmp.path(),
        "m6",
        "gpt",
        &Cfg {
            lr: 1.0,
            layers: vec![1],
        },
        3,
    )
    .unwrap();
    for step in 0..10 {
        w.scalar(step, "train/loss", 1.0 / (step as f64 + 1.0))
            .unwrap();
    }
    let dir = w.dir().to_path_buf();
    // Simulate the kill: no finish, no Drop (as with SIGKILL), and half a line appended.
    std::mem::forget(w);
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.join("metrics.jsonl"))
        .unwrap();
    f.write_all(br#"{"step":10,"key":"train/lo"#).unwrap();
    drop(f);
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.meta.status, Status::Running);
    assert_eq!(r.series("train/loss").unwrap().len(), 10);
    // No temporary files left behind by the atomic writes.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A resumed run continues its record: metrics past the checkpoint go (so no step appears
/// twice), a torn last line goes, summary and config stay, wall seconds add up, and the status
/// follows (paused, running, finished).
#[test]
fn reopened_record_keeps_what_the_checkpoint_covers() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 1.0,
        layers: vec![2],
    };
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m6", "long", &cfg, 5).unwrap();
    for step in 0..6 {
        w.scalar(step, "loss", 10.0 - step as f64).unwrap();
    }
    w.summaries(&std::collections::BTreeMap::from([("params", 42.0)]))
        .unwrap();
    let dir = w.record_dir().to_path_buf();
    w.pause().unwrap();
    let paused = Record::load_dir(&dir).unwrap();
    assert_eq!(paused.meta.status, Status::Paused);
    let first_wall = paused.meta.wall_s.unwrap();
    // The previous session was killed mid-append after the pause was written.
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.join("metrics.jsonl"))
        .unwrap();
    f.write_all(br#"{"step":6,"key":"lo"#).unwrap();
    drop(f);
    let mut meta: RunMeta =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    meta.status = Status::Running;
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();

    let mut w = RunWriter::reopen_in(tmp.path(), "m6", "long", |s| s.step <= 3).unwrap();
    assert_eq!(
        Record::load_dir(w.dir()).unwrap().meta.status,
        Status::Running
    );
    for step in 4..8 {
        w.scalar(step, "loss", 20.0 - step as f64).unwrap();
    }
    w.finish().unwrap();
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.meta.status, Status::Finished);
    assert_eq!(
        r.series("loss").unwrap(),
        vec![
            (0.0, 10.0),
            (1.0, 9.0),
            (2.0, 8.0),
            (3.0, 7.0),
            (4.0, 16.0),
            (5.0, 15.0),
            (6.0, 14.0),
            (7.0, 13.0)
        ]
    );
    assert_eq!(r.meta.summary.get("params").copied(), Some(42.0));
    assert_eq!(r.meta.seed, 5);
    assert!(r.meta.wall_s.unwrap() >= first_wall);
    assert!(RunWriter::reopen_in(tmp.path(), "m6", "missing", |_| true).is_err());
}

#[test]
fn malformed_middle_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let w = RunWriter::create_in(
        tmp.path(),
        tmp.path(),
        "m1",
        "y",
        &Cfg {
            lr: 1.0,
            layers: vec![],
        },
        0,
    )
    .unwrap();
    let dir = w.record_dir().to_path_buf();
    w.finish().unwrap();
    std::fs::write(dir.join("metrics.jsonl"), "{\"step\":0,\"key\":\"a\",\"value\":1}\nnot json\n{\"step\":1,\"key\":\"a\",\"value\":1}\n").unwrap();
    let err = format!("{:#}", Record::load_dir(&dir).unwrap_err());
    assert!(err.contains("metrics.jsonl:2"), "{err}");
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn finished(records: &Path, name: &str, value: f64) -> PathBuf {
    let cfg = Cfg {
        lr: value,
        layers: vec![1],
    };
    let mut w = RunWriter::create_in(records, records, "m3", name, &cfg, 1).unwrap();
    w.scalar(0, "loss", value).unwrap();
    w.summaries(&std::collections::BTreeMap::from([("loss", value)]))
        .unwrap();
    let dir = w.record_dir().to_path_buf();
    w.finish().unwrap();
    dir
}

/// A run that fails or is killed never touches the record it would replace; a failed run is
/// kept beside it, a killed one leaves its staging directory, and only a finished run replaces it.
#[test]
fn only_a_finished_run_replaces_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = finished(tmp.path(), "sgd", 1.0);
    let before = files(&dir);
    let cfg = Cfg {
        lr: 2.0,
        layers: vec![],
    };

    // Failed (dropped without finish): beside the record, which stays byte-identical.
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m3", "sgd", &cfg, 1).unwrap();
    w.scalar(0, "loss", 2.0).unwrap();
    drop(w);
    assert_eq!(files(&dir), before);
    let failed = tmp.path().join("m3").join(".sgd.failed");
    assert_eq!(
        Record::load_dir(&failed).unwrap().meta.status,
        Status::Failed
    );
    assert_eq!(list_records(tmp.path()).unwrap(), vec![dir.clone()]);

    // Killed (no Drop runs, as with SIGKILL): the staging directory stays, the record too.
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m3", "sgd", &cfg, 1).unwrap();
    w.scalar(0, "loss", 3.0).unwrap();
    let staged = w.dir().to_path_buf();
    std::mem::forget(w);
    assert_eq!(files(&dir), before);
    let found = leftovers(tmp.path()).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|l| l.record == dir));
    assert!(found.iter().any(|l| l.kind == LeftoverKind::Failed));
    let pid = std::process::id();
    assert!(found
        .iter()
        .any(|l| l.path == staged && l.kind == LeftoverKind::Interrupted { pid, alive: true }));

    // Its process gone, a new run clears the leftover and replaces the record when it finishes.
    let dead = staging::staging_dir(&dir, u32::MAX - 1);
    std::fs::rename(&staged, &dead).unwrap();
    let new = finished(tmp.path(), "sgd", 4.0);
    assert_eq!(new, dir);
    assert!(!dead.exists());
    assert_eq!(
        Record::load_dir(&dir)
            .unwrap()
            .meta
            .summary
            .get("loss")
            .copied(),
        Some(4.0)
    );
    assert_ne!(files(&dir), before);
}

/// A resumed session killed before it paused left newer metrics staged than the record holds:
/// the next session continues from those.
#[test]
fn a_resumed_run_continues_from_a_killed_session() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 1.0,
        layers: vec![],
    };
    let mut w = RunWriter::create_in(tmp.path(), tmp.path(), "m6", "long", &cfg, 5).unwrap();
    w.scalar(0, "loss", 9.0).unwrap();
    let dir = w.record_dir().to_path_buf();
    w.pause().unwrap();
    let mut w = RunWriter::reopen_in(tmp.path(), "m6", "long", |_| true).unwrap();
    w.scalar(1, "loss", 8.0).unwrap();
    let staged = w.dir().to_path_buf();
    std::mem::forget(w);
    std::fs::rename(&staged, staging::staging_dir(&dir, u32::MAX - 1)).unwrap();
    assert_eq!(
        Record::load_dir(&dir)
            .unwrap()
            .series("loss")
            .unwrap()
            .len(),
        1
    );
    let w = RunWriter::reopen_in(tmp.path(), "m6", "long", |_| true).unwrap();
    w.finish().unwrap();
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.series("loss").unwrap(), vec![(0.0, 9.0), (1.0, 8.0)]);
    assert!(leftovers(tmp.path()).unwrap().is_empty());
}

#[test]
fn bad_names_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 1.0,
        layers: vec![],
    };
    assert!(RunWriter::create_in(tmp.path(), tmp.path(), "m1", "a/b", &cfg, 0).is_err());
    assert!(RunWriter::create_in(tmp.path(), tmp.path(), "", "a", &cfg, 0).is_err());
}

/// Outputs of runs (records, figures, Markdown) leave a tree clean; code and configs do not.
#[test]
fn dirty_means_code_or_config_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(tmp.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    for (path, text) in [
        ("src/lib.rs", "a"),
        ("configs/x.toml", "a"),
        ("records/m1/r/meta.json", "a"),
        ("visualizations/m1_x.png", "a"),
        ("experiments_log.md", "a"),
    ] {
        let p = tmp.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "init",
    ]);
    assert!(!git_state(tmp.path()).1);
    for out in [
        "records/m1/r/meta.json",
        "visualizations/m1_x.png",
        "experiments_log.md",
    ] {
        std::fs::write(tmp.path().join(out), "b").unwrap();
    }
    assert!(!git_state(tmp.path()).1, "run outputs alone are not dirty");
    std::fs::write(tmp.path().join("configs/x.toml"), "b").unwrap();
    assert!(git_state(tmp.path()).1, "a changed config is dirty");
}

#[test]
fn a_record_names_its_cpu_and_older_records_without_one_still_load() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        lr: 0.1,
        layers: vec![2],
    };
    let w = RunWriter::create_in(tmp.path(), tmp.path(), "m6", "bench", &cfg, 1).unwrap();
    let dir = w.record_dir().to_path_buf();
    w.finish().unwrap();
    let r = Record::load_dir(&dir).unwrap();
    assert_eq!(r.meta.cpu, cpu_model());
    if let Some(cpu) = &r.meta.cpu {
        assert!(
            r.provenance().ends_with(&format!("of an {cpu}")),
            "{}",
            r.provenance()
        );
    }
    // A record written before the CPU was stored: no field, no CPU, the same provenance as then.
    let meta = dir.join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("cpu");
    std::fs::write(&meta, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let old = Record::load_dir(&dir).unwrap();
    assert_eq!(old.meta.cpu, None);
    assert!(old.provenance().ends_with("cores"), "{}", old.provenance());
}
