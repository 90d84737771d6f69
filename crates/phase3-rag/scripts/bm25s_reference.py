#!/usr/bin/env python3
"""bm25s reference run on CISI for m7's exactness test (and trec_eval numbers for any run).

Runs bm25s 0.3 (Lucene BM25, k1 1.5, b 0.75, `bm25s.tokenize` with its default token pattern and
lowercasing, no stop words, no stemmer) over CISI with documents = title + " " + text, and

* prints nDCG@10 / recall@100 / MAP of that run as pytrec_eval (trec_eval) computes them, next to
  the neighbouring settings (text only, English stop words) so the README's 0.360 can be matched
  to the setting that produces it;
* writes the top-10 of every query with bm25s's scores to
  `crates/phase3-rag/tests/data/cisi_bm25s_top10.tsv` (query id, rank, doc id, score), the file
  `tests/m7_bm25.rs` compares our index against;
* with `--run FILE` (TSV: query id, doc id, score — what `m7_bm25_cisi_matches_bm25s` writes when
  `M7_WRITE_RUN` is set), also evaluates that run the same way.

Usage (from the workspace root):
    /root/torchvenv/bin/python crates/phase3-rag/scripts/bm25s_reference.py [--run run.tsv]
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("DISABLE_TQDM", "1")

import bm25s  # noqa: E402
import pytrec_eval  # noqa: E402

CISI = Path(os.environ.get("CISI_DIR", "/work/shared/data/cisi"))
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "cisi_bm25s_top10.tsv"
MEASURES = {"ndcg_cut.10", "recall.100", "map"}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    return qrels


def evaluate(qrels, run):
    """Mean of each measure over the queries that have judgements (trec_eval's default)."""
    per_query = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    n = len(per_query)
    return {m: sum(v[m] for v in per_query.values()) / n for m in ("ndcg_cut_10", "recall_100", "map")}


def bm25s_run(doc_texts, doc_ids, queries, stopwords, k):
    corpus_tokens = bm25s.tokenize(doc_texts, stopwords=stopwords, show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(corpus_tokens, show_progress=False)
    query_tokens = bm25s.tokenize([q["text"] for q in queries], stopwords=stopwords, show_progress=False)
    docs, scores = retriever.retrieve(query_tokens, k=k, show_progress=False)
    run = {}
    for qi, q in enumerate(queries):
        # Documents sharing no term with the query score 0 and are an arbitrary pick: leave them out.
        run[q["_id"]] = {doc_ids[d]: float(s) for d, s in zip(docs[qi], scores[qi]) if s > 0}
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="a run to evaluate (TSV: query id, doc id, score)")
    args = ap.parse_args()

    corpus = read_jsonl(CISI / "corpus.jsonl")
    queries = read_jsonl(CISI / "queries.jsonl")
    qrels = read_qrels(CISI / "qrels" / "test.tsv")
    doc_ids = [d["_id"] for d in corpus]
    title_text = [d["title"] + " " + d["text"] for d in corpus]
    text_only = [d["text"] for d in corpus]

    settings = [
        ("title + text, no stop words (reference)", title_text, None),
        ("title + text, English stop words", title_text, "en"),
        ("text only, no stop words", text_only, None),
        ("text only, English stop words", text_only, "en"),
    ]
    reference = None
    for name, texts, stop in settings:
        run = bm25s_run(texts, doc_ids, queries, stop, k=100)
        m = evaluate(qrels, run)
        print(f"bm25s {name}: nDCG@10 {m['ndcg_cut_10']:.4f}  recall@100 {m['recall_100']:.4f}  MAP {m['map']:.4f}")
        if reference is None:
            reference = run

    with open(OUT, "w", encoding="utf-8") as f:
        f.write("query_id\trank\tdoc_id\tscore\n")
        for q in queries:
            hits = sorted(reference[q["_id"]].items(), key=lambda kv: -kv[1])[:10]
            for rank, (d, s) in enumerate(hits, 1):
                f.write(f"{q['_id']}\t{rank}\t{d}\t{s:.6f}\n")
    print(f"wrote {OUT}")

    if args.run is not None:
        run = {}
        with open(args.run, encoding="utf-8") as f:
            for line in f:
                q, d, s = line.rstrip("\n").split("\t")
                run.setdefault(q, {})[d] = float(s)
        m = evaluate(qrels, run)
        print(f"{args.run}: nDCG@10 {m['ndcg_cut_10']:.4f}  recall@100 {m['recall_100']:.4f}  MAP {m['map']:.4f}")


if __name__ == "__main__":
    main()
