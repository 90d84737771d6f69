#!/usr/bin/env python3
"""Reference values for m7's metrics, computed by pytrec_eval (trec_eval's own C code).

Reads the committed test run (`tests/data/mini_run.trec`, TREC run format) and judgements
(`tests/data/mini/qrels/test.tsv`, BEIR layout) and writes pytrec_eval's per-query values and
their means to `tests/data/pytrec_expected.json`. The Rust test `tests/m7_metrics.rs` compares
`phase3_rag::metrics` with that file, so Python is needed only to regenerate it:

    pip install pytrec-eval-terrier      # 0.5.x
    python crates/phase3-rag/scripts/pytrec_reference.py

Measures: recall at 1, 3, 5, 10, 100; ndcg_cut at 5 and 10; map; recip_rank; and
recip_rank_cut_10 (MRR@10's per-query value). trec_eval has no cut reciprocal rank — it is
`trec_eval -M 10 -m recip_rank`, and pytrec_eval exposes no `-M` — so it is derived from
pytrec_eval's recip_rank: the first relevant hit is within the first 10 exactly when
recip_rank = 1/rank >= 1/10, and then the cut value equals recip_rank; otherwise it is 0.
(1.0 / 10 is the same double on both sides of the comparison, so the boundary is exact.)

Means are the plain average over the queries pytrec_eval returns: those that are judged and in
the run, the same set trec_eval averages over without `-c`.
"""

import json
import sys
from pathlib import Path

import pytrec_eval

CRATE = Path(__file__).resolve().parent.parent
DATA = CRATE / "tests" / "data"
RECALL_DEPTHS = [1, 3, 5, 10, 100]
NDCG_DEPTHS = [5, 10]
MRR_DEPTH = 10


def read_run(path):
    """TREC run lines `qid Q0 docid rank score tag`; the rank column is ignored, as trec_eval does."""
    run = {}
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        qid, _, doc, _rank, score, _tag = line.split()
        hits = run.setdefault(qid, {})
        if doc in hits:
            sys.exit(f"{path}:{line_no}: duplicate document {doc} for query {qid}")
        hits[doc] = float(score)
    return run


def read_qrels(path):
    """BEIR qrels: a `query-id corpus-id score` header, then tab-separated rows."""
    lines = path.read_text().splitlines()
    if lines[0].split("\t") != ["query-id", "corpus-id", "score"]:
        sys.exit(f"{path}:1: expected the BEIR header")
    qrels = {}
    for line in lines[1:]:
        if line.strip():
            qid, doc, score = line.split("\t")
            qrels.setdefault(qid, {})[doc] = int(score)
    return qrels


def main():
    run = read_run(DATA / "mini_run.trec")
    qrels = read_qrels(DATA / "mini" / "qrels" / "test.tsv")
    measures = {
        "recall." + ",".join(map(str, RECALL_DEPTHS)),
        "ndcg_cut." + ",".join(map(str, NDCG_DEPTHS)),
        "map",
        "recip_rank",
    }
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for values in per_query.values():
        rr = values["recip_rank"]
        values[f"recip_rank_cut_{MRR_DEPTH}"] = rr if rr >= 1.0 / MRR_DEPTH else 0.0
    names = sorted(next(iter(per_query.values())))
    mean = {m: sum(v[m] for v in per_query.values()) / len(per_query) for m in names}
    out = {
        "generated_by": "scripts/pytrec_reference.py with pytrec_eval-terrier "
        + pytrec_eval.__version__,
        "run": "tests/data/mini_run.trec",
        "qrels": "tests/data/mini/qrels/test.tsv",
        "per_query": {q: dict(sorted(per_query[q].items())) for q in sorted(per_query)},
        "mean": mean,
    }
    path = DATA / "pytrec_expected.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}: {len(per_query)} queries, {len(names)} measures")


if __name__ == "__main__":
    main()
