//! m7: the BEIR loader and the trec_eval metrics.
//!
//! The metrics are checked per query against `pytrec_eval` (trec_eval's C code) on a small run
//! built to hit every rule that changes numbers — ties, graded and negative judgements, relevant
//! documents never retrieved or missing from the corpus, unjudged and unrun queries, cutoffs at
//! exactly rank 10. The reference values are committed (`tests/data/pytrec_expected.json`, from
//! `scripts/pytrec_reference.py`), so no Python runs here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use phase3_rag::beir::{self, Collection};
use phase3_rag::metrics::{self, Run};
use phase3_rag::retrieve::Hit;
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;
const RECALL_DEPTHS: [usize; 5] = [1, 3, 5, 10, 100];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A TREC run file (`qid Q0 docid rank score tag`); the rank column is ignored, as by trec_eval.
fn read_trec_run(path: &Path) -> Run {
    let mut run = Run::new();
    for line in fs::read_to_string(path).unwrap().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [query, _, doc, _, score, _] = fields[..] else {
            panic!("bad run line {line:?}");
        };
        run.entry(query.to_string()).or_default().push(Hit {
            doc_id: doc.to_string(),
            score: score.parse().unwrap(),
        });
    }
    run
}

fn expected() -> Value {
    let text = fs::read_to_string(data().join("pytrec_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn mini_run_and_qrels() -> (Run, beir::Qrels) {
    let run = read_trec_run(&data().join("mini_run.trec"));
    let qrels = beir::load_qrels(&data().join("mini/qrels/test.tsv")).unwrap();
    (run, qrels)
}

/// Our value of a pytrec_eval measure name (`recall_5`, `ndcg_cut_10`, `map`, …).
fn measure(scores: &metrics::QueryScores, name: &str) -> f64 {
    if let Some(k) = name.strip_prefix("recall_") {
        return scores.recall[&k.parse::<usize>().unwrap()];
    }
    match name {
        "ndcg_cut_10" => scores.ndcg_cut_10,
        "map" => scores.ap,
        "recip_rank" => scores.recip_rank,
        "recip_rank_cut_10" => scores.recip_rank_cut_10,
        other => panic!("no field for measure {other}"),
    }
}

fn assert_close(ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: ours {ours}, pytrec_eval {theirs}"
    );
}

#[test]
fn m7_metrics_match_pytrec_eval_per_query() {
    let (run, qrels) = mini_run_and_qrels();
    let evaluation = metrics::evaluate(&run, &qrels, &RECALL_DEPTHS).unwrap();
    let expected = expected();
    let expected = expected["per_query"].as_object().unwrap();
    let ours: BTreeSet<&String> = evaluation.per_query.keys().collect();
    let theirs: BTreeSet<&String> = expected.keys().collect();
    assert_eq!(ours, theirs, "the queries scored");
    let mut compared = 0;
    for (query, values) in expected {
        let scores = &evaluation.per_query[query];
        for (name, value) in values.as_object().unwrap() {
            let theirs = value.as_f64().unwrap();
            let ours = if name == "ndcg_cut_5" {
                // Not a field of QueryScores: the general-depth function, checked at a second depth.
                let ranked = metrics::trec_order(&run[query], query).unwrap();
                let judged = &qrels[query];
                metrics::ndcg_cut(&metrics::judged_ranking(&ranked, judged), judged, 5)
            } else {
                measure(scores, name)
            };
            assert_close(ours, theirs, &format!("{query} {name}"));
            compared += 1;
        }
    }
    assert_eq!(compared, 5 * 10, "5 queries × 10 measures");
}

#[test]
fn m7_means_match_pytrec_eval() {
    let (run, qrels) = mini_run_and_qrels();
    let evaluation = metrics::evaluate(&run, &qrels, &RECALL_DEPTHS).unwrap();
    let expected = expected();
    for (name, value) in expected["mean"].as_object().unwrap() {
        if name != "ndcg_cut_5" {
            assert_close(
                measure(&evaluation.mean, name),
                value.as_f64().unwrap(),
                name,
            );
        }
    }
}

#[test]
fn m7_skipped_queries_and_outside_corpus_are_reported() {
    let collection = Collection::load(&data().join("mini")).unwrap();
    let run = read_trec_run(&data().join("mini_run.trec"));
    let evaluation = metrics::evaluate_collection(&run, &collection, &RECALL_DEPTHS).unwrap();
    assert_eq!(evaluation.unjudged_in_run, ["q6"]);
    assert_eq!(evaluation.judged_not_in_run, ["q7"]);
    // q1 judges d99 relevant; the corpus stops at d20. It stays in q1's denominator.
    assert_eq!(evaluation.relevant_outside_corpus, Some(1));
    assert_eq!(evaluation.per_query["q1"].recall[&100], 0.5);
    let warnings = evaluation.warnings().join("\n");
    for needle in ["q7", "q6", "1 relevant judgements"] {
        assert!(
            warnings.contains(needle),
            "{needle:?} missing from {warnings}"
        );
    }
}

/// qrels {a: 2, b: 1, c: 0, d: -1}; run c 3.0, d 2.0, a 2.0, b 1.0, e 0.5.
/// trec_eval's order: c, d, a (d before a: tie, descending id), b, e — judgements 0, -1, 2, 1, none.
/// Relevant: a (rank 3), b (rank 4); 2 relevant judged.
#[test]
fn m7_hand_computed_example() {
    let judged: BTreeMap<String, i32> = [("a", 2), ("b", 1), ("c", 0), ("d", -1)]
        .into_iter()
        .map(|(d, r)| (d.to_string(), r))
        .collect();
    let qrels = BTreeMap::from([("q".to_string(), judged)]);
    let hits = [("a", 2.0), ("b", 1.0), ("c", 3.0), ("d", 2.0), ("e", 0.5)]
        .into_iter()
        .map(|(d, s)| Hit {
            doc_id: d.to_string(),
            score: s,
        })
        .collect();
    let run = Run::from([("q".to_string(), hits)]);
    let e = metrics::evaluate(&run, &qrels, &[1, 3, 4]).unwrap();
    let s = &e.per_query["q"];
    let ideal = 2.0 + 1.0 / 3f64.log2();
    let dcg = 2.0 / 4f64.log2() + 1.0 / 5f64.log2();
    let expected = [
        (s.recall[&1], 0.0),
        (s.recall[&3], 0.5),
        (s.recall[&4], 1.0),
        (s.ap, (1.0 / 3.0 + 2.0 / 4.0) / 2.0),
        (s.recip_rank, 1.0 / 3.0),
        (s.recip_rank_cut_10, 1.0 / 3.0),
        (s.ndcg_cut_10, dcg / ideal),
    ];
    for (i, (ours, hand)) in expected.into_iter().enumerate() {
        assert!((ours - hand).abs() < 1e-12, "value {i}: {ours} vs {hand}");
    }
    assert_eq!(e.mean, *s, "one query: the mean is that query");
}

#[test]
fn m7_ties_break_by_descending_doc_id() {
    let hits: Vec<Hit> = ["d10", "d9", "d2", "d1"]
        .iter()
        .map(|d| Hit {
            doc_id: d.to_string(),
            score: 1.0,
        })
        .collect();
    let order: Vec<&str> = metrics::trec_order(&hits, "q")
        .unwrap()
        .iter()
        .map(|h| h.doc_id.as_str())
        .collect();
    // Byte order, not numeric: "d9" > "d2" > "d10" > "d1".
    assert_eq!(order, ["d9", "d2", "d10", "d1"]);
}

#[test]
fn m7_empty_hits_score_zero_and_bad_runs_are_errors() {
    let qrels = BTreeMap::from([("q".to_string(), BTreeMap::from([("a".to_string(), 1)]))]);
    let hit = |d: &str, s: f64| Hit {
        doc_id: d.to_string(),
        score: s,
    };
    let empty = metrics::evaluate(&Run::from([("q".into(), vec![])]), &qrels, &[10]).unwrap();
    assert_eq!(empty.mean.ap, 0.0);
    assert_eq!(empty.mean.ndcg_cut_10, 0.0);

    let nan = Run::from([("q".into(), vec![hit("a", f64::NAN)])]);
    let err = format!("{:#}", metrics::evaluate(&nan, &qrels, &[10]).unwrap_err());
    assert!(err.contains("NaN") && err.contains("`q`"), "{err}");

    let twice = Run::from([("q".into(), vec![hit("a", 1.0), hit("a", 0.5)])]);
    let err = format!(
        "{:#}",
        metrics::evaluate(&twice, &qrels, &[10]).unwrap_err()
    );
    assert!(err.contains("twice"), "{err}");

    let unjudged = Run::from([("other".into(), vec![hit("a", 1.0)])]);
    assert!(metrics::evaluate(&unjudged, &qrels, &[10]).is_err());
    let good = Run::from([("q".into(), vec![hit("a", 1.0)])]);
    assert!(metrics::evaluate(&good, &qrels, &[0]).is_err());
}

#[test]
fn m7_loads_mini_collection() {
    let c = Collection::load(&data().join("mini")).unwrap();
    assert_eq!(c.docs.len(), 20);
    assert_eq!(c.docs[5].id, "d6");
    assert_eq!(c.docs[5].title, "", "an empty title is allowed");
    assert_eq!(c.queries.len(), 7);
    assert_eq!(c.judged_queries().len(), 6, "all but q6");
    assert_eq!(c.qrels["q1"]["d4"], -1);
    assert_eq!(c.qrels.values().map(|j| j.len()).sum::<usize>(), 18);
    assert_eq!(c.judged_outside_corpus(), 1, "d99");
}

const CORPUS: &str = r#"{"_id": "d1", "title": "T", "text": "one"}
{"_id": "d2", "title": "", "text": "two"}
"#;
const QUERIES: &str = r#"{"_id": "q1", "text": "first"}
"#;
const QRELS: &str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n";

/// Writes a BEIR directory with the given files and returns the loader's error, `{:#}`-formatted.
fn load_error(corpus: &str, queries: &str, qrels: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("corpus.jsonl"), corpus).unwrap();
    fs::write(dir.path().join("queries.jsonl"), queries).unwrap();
    fs::create_dir(dir.path().join("qrels")).unwrap();
    fs::write(dir.path().join("qrels/test.tsv"), qrels).unwrap();
    match Collection::load(dir.path()) {
        Ok(_) => panic!("loaded a bad collection"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn m7_loader_accepts_the_reference_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("corpus.jsonl"), CORPUS).unwrap();
    fs::write(dir.path().join("queries.jsonl"), QUERIES).unwrap();
    fs::create_dir(dir.path().join("qrels")).unwrap();
    fs::write(dir.path().join("qrels/test.tsv"), QRELS).unwrap();
    let c = Collection::load(dir.path()).unwrap();
    assert_eq!((c.docs.len(), c.queries.len(), c.qrels.len()), (2, 1, 1));
}

#[test]
fn m7_loader_malformed_json_names_file_and_line() {
    let corpus = format!("{CORPUS}{{\"_id\": \"d3\", \"title\": \"T\", \"text\": \n");
    let err = load_error(&corpus, QUERIES, QRELS);
    assert!(
        err.contains("corpus.jsonl:3") && err.contains("malformed JSON"),
        "{err}"
    );
}

#[test]
fn m7_loader_missing_field_names_file_and_line() {
    let corpus = format!("{CORPUS}{{\"_id\": \"d3\", \"title\": \"T\"}}\n");
    let err = load_error(&corpus, QUERIES, QRELS);
    assert!(
        err.contains("corpus.jsonl:3") && err.contains("`text`"),
        "{err}"
    );
    let err = load_error(CORPUS, "{\"text\": \"no id\"}\n", QRELS);
    assert!(
        err.contains("queries.jsonl:1") && err.contains("`_id`"),
        "{err}"
    );
}

#[test]
fn m7_loader_bad_qrels_rows() {
    let err = load_error(CORPUS, QUERIES, &format!("{QRELS}q1\td2\trelevant\n"));
    assert!(
        err.contains("test.tsv:3") && err.contains("not an integer"),
        "{err}"
    );
    let err = load_error(CORPUS, QUERIES, &format!("{QRELS}q1 d2 1\n"));
    assert!(
        err.contains("test.tsv:3") && err.contains("3 tab-separated"),
        "{err}"
    );
    let err = load_error(CORPUS, QUERIES, &format!("{QRELS}q1\td1\t2\n"));
    assert!(err.contains("test.tsv:3") && err.contains("twice"), "{err}");
    let err = load_error(CORPUS, QUERIES, &format!("{QRELS}q9\td1\t1\n"));
    assert!(err.contains("test.tsv") && err.contains("q9"), "{err}");
}

#[test]
fn m7_loader_rejects_empty_query_and_duplicate_ids() {
    let queries = format!("{QUERIES}{{\"_id\": \"q2\", \"text\": \"  \"}}\n");
    let err = load_error(CORPUS, &queries, QRELS);
    assert!(
        err.contains("queries.jsonl:2") && err.contains("empty text"),
        "{err}"
    );
    let corpus = format!("{CORPUS}{{\"_id\": \"d1\", \"title\": \"\", \"text\": \"again\"}}\n");
    let err = load_error(&corpus, QUERIES, QRELS);
    assert!(
        err.contains("corpus.jsonl:3") && err.contains("duplicate"),
        "{err}"
    );
}

/// The real collection CI has at `../shared`: counts from its README, and an oracle run (each
/// query's relevant documents, most relevant first) must score 1 — every judged document is in
/// the corpus, so nothing caps recall.
#[test]
fn m7_cisi_smoke() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cisi");
    if !dir.exists() {
        println!("skipping: {} is absent", dir.display());
        return;
    }
    let cisi = Collection::load(&dir).unwrap();
    assert_eq!(cisi.docs.len(), 1460);
    assert_eq!(cisi.queries.len(), 112);
    assert_eq!(cisi.judged_queries().len(), 76);
    assert_eq!(cisi.qrels.values().map(|j| j.len()).sum::<usize>(), 3114);
    assert_eq!(cisi.judged_outside_corpus(), 0);

    let oracle: Run = cisi
        .qrels
        .iter()
        .map(|(q, judged)| {
            let hits = judged
                .iter()
                .map(|(d, &r)| Hit {
                    doc_id: d.clone(),
                    score: r as f64,
                })
                .collect();
            (q.clone(), hits)
        })
        .collect();
    let e = metrics::evaluate_collection(&oracle, &cisi, &[1000]).unwrap();
    assert_eq!(e.per_query.len(), 76);
    assert!(e.warnings().is_empty(), "{:?}", e.warnings());
    for value in [
        e.mean.recall[&1000],
        e.mean.ndcg_cut_10,
        e.mean.ap,
        e.mean.recip_rank,
    ] {
        assert!((value - 1.0).abs() < 1e-12, "{:?}", e.mean);
    }
}
