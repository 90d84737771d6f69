#!/usr/bin/env python3
"""Python side of phase 3's retrieval speed benchmark: bm25s and sentence-transformers timings.

Two subcommands, each reading a BEIR-layout directory (`corpus.jsonl` with `_id`, `title`, `text`;
`queries.jsonl` with `_id`, `text`). Progress goes to stderr; the last line of stdout is exactly
one JSON object with the numbers, so a caller can `tail -n 1` it.

    /root/torchvenv/bin/python crates/phase3-rag/scripts/rag_bench.py bm25 \
        --beir /work/shared/data/cisi [--k 100] [--threads 1] [--repeats 3]
    /root/torchvenv/bin/python crates/phase3-rag/scripts/rag_bench.py minilm \
        --beir /work/shared/data/cisi --model /work/shared/models/all-MiniLM-L6-v2 \
        [--threads 2] [--batch-size 32] [--limit N] [--repeats 1]

Protocol, `bm25` (bm25s, with the settings of the CISI README's reference row):
  * document text = (title + " " + text).strip(), in file order;
  * build = `bm25s.tokenize(docs, stopwords=None, show_progress=False)` (its default token
    pattern `(?u)\\b\\w\\w+\\b`, lowercasing, no stemmer) timed as `tokenize_s`, then
    `bm25s.BM25(k1=1.5, b=0.75, method="lucene").index(tokens, show_progress=False)` timed as
    `index_s`; `build_s` = the two. The build is run `--repeats` times from scratch (once when the
    corpus has over 200,000 documents); medians are reported, all runs in `build_s_runs`;
  * queries = one timed block: `bm25s.tokenize(all query texts, stopwords=None)` +
    `retrieve(tokens, k=K, n_threads=THREADS, show_progress=False)`; `queries_per_s` =
    n_queries / block time (query tokenisation included), median of `--repeats` blocks, all in
    `queries_per_s_runs`. K is capped at the number of documents (bm25s rejects a larger k).
  * `--backend numba` selects bm25s's compiled retrieval (`BM25(backend="numba")`); an untimed
    warm-up on 200 documents and 4 queries compiles it first, so neither timing includes the JIT;
  * OMP/MKL/OPENBLAS/NUMBA/RAYON thread counts are set from --threads before numpy is imported.

Protocol, `minilm` (sentence-transformers, all-MiniLM-L6-v2 from a local folder, offline):
  * texts = (title + " " + text).strip() for every corpus document in file order (the first N with
    --limit); the strip changes no token;
  * `torch.set_num_threads(THREADS)` (and the OMP/MKL/RAYON variables, so the tokenizer's thread
    pool is capped too), the model loaded with `SentenceTransformer(DIR, device="cpu")` from the
    folder's own modules.json (BERT -> mean pooling -> L2 normalisation, max_seq_length 256);
  * one untimed warm-up `encode` of the first 32 texts, then `model.encode(texts,
    batch_size=BATCH)` with every other argument at its default, timed (tokenisation included, as
    it happens inside encode); `docs_per_s` = n_docs / seconds, median of `--repeats` runs;
  * `mean_tokens` = mean token count per document after truncation to max_seq_length, [CLS] and
    [SEP] included (what the model actually attends over), computed after the timing.

Errors (missing file, a line that is not a JSON object, a missing field) exit non-zero with a
message naming the file and line.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "RAYON_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
BIG_CORPUS = 200_000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(msg):
    print(f"rag_bench: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def read_jsonl(path, required, optional=()):
    """Records of a JSONL file as dicts with the `required` fields (strings) and `optional` ones
    (defaulting to ""); blank lines are skipped."""
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    fail(f"{path}:{line_no}: bad JSON: {e}")
                if not isinstance(rec, dict):
                    fail(f"{path}:{line_no}: expected a JSON object")
                item = {}
                for key in required:
                    if key not in rec:
                        fail(f"{path}:{line_no}: missing field {key!r}")
                    item[key] = rec[key]
                for key in optional:
                    item[key] = rec.get(key) or ""
                for key, val in item.items():
                    if not isinstance(val, str):
                        fail(f"{path}:{line_no}: field {key!r} is not a string")
                out.append(item)
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8: {e}")
    except OSError as e:
        fail(f"{path}: {e}")
    return out


def read_corpus_texts(beir, limit=None):
    docs = read_jsonl(os.path.join(beir, "corpus.jsonl"), ("_id", "text"), ("title",))
    if limit is not None:
        docs = docs[:limit]
    if not docs:
        fail(f"{os.path.join(beir, 'corpus.jsonl')}: no documents")
    return [(d["title"] + " " + d["text"]).strip() for d in docs]


def set_thread_env(threads):
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def emit(result):
    print(json.dumps(result), flush=True)


def cmd_bm25(args):
    set_thread_env(args.threads)
    os.environ.setdefault("DISABLE_TQDM", "1")
    import gc

    import bm25s  # imports numpy: after the thread variables are set

    texts = read_corpus_texts(args.beir)
    queries = read_jsonl(os.path.join(args.beir, "queries.jsonl"), ("_id", "text"))
    if not queries:
        fail(f"{os.path.join(args.beir, 'queries.jsonl')}: no queries")
    query_texts = [q["text"] for q in queries]
    n_docs, n_queries = len(texts), len(queries)
    k = min(args.k, n_docs)
    build_repeats = args.repeats if n_docs <= BIG_CORPUS else 1
    log(f"bm25: {n_docs} documents, {n_queries} queries, k={k}, threads={args.threads}, "
        f"bm25s {bm25s.__version__}")

    # Untimed warm-up on a few documents: with the numba backend this compiles its kernels, which
    # a long-running process pays once, so neither timing below includes it.
    warm = bm25s.BM25(k1=1.5, b=0.75, method="lucene", backend=args.backend)
    warm.index(bm25s.tokenize(texts[:200], stopwords=None, show_progress=False), show_progress=False)
    warm.retrieve(bm25s.tokenize(query_texts[:4], stopwords=None, show_progress=False),
                  k=min(k, 200), n_threads=args.threads, show_progress=False)
    del warm

    tok_runs, idx_runs, build_runs = [], [], []
    retriever = None
    for r in range(build_repeats):
        retriever = None
        gc.collect()
        t0 = time.perf_counter()
        tokens = bm25s.tokenize(texts, stopwords=None, show_progress=False)
        t1 = time.perf_counter()
        retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene", backend=args.backend)
        retriever.index(tokens, show_progress=False)
        t2 = time.perf_counter()
        del tokens
        tok_runs.append(t1 - t0)
        idx_runs.append(t2 - t1)
        build_runs.append(t2 - t0)
        log(f"build {r + 1}/{build_repeats}: tokenize {t1 - t0:.4f} s, index {t2 - t1:.4f} s")

    qps_runs, q_seconds = [], []
    for r in range(args.repeats):
        gc.collect()
        t0 = time.perf_counter()
        q_tokens = bm25s.tokenize(query_texts, stopwords=None, show_progress=False)
        docs, scores = retriever.retrieve(q_tokens, k=k, n_threads=args.threads, show_progress=False)
        t1 = time.perf_counter()
        q_seconds.append(t1 - t0)
        qps_runs.append(n_queries / (t1 - t0))
        log(f"queries {r + 1}/{args.repeats}: {t1 - t0:.4f} s, {n_queries / (t1 - t0):.1f} queries/s")
    if docs.shape != (n_queries, k):
        fail(f"bm25s returned shape {docs.shape}, expected {(n_queries, k)}")

    emit({
        "bench": "bm25s",
        "beir": os.path.abspath(args.beir),
        "n_docs": n_docs,
        "n_queries": n_queries,
        "k": k,
        "threads": args.threads,
        "backend": retriever.backend,
        "tokenize_s": statistics.median(tok_runs),
        "index_s": statistics.median(idx_runs),
        "build_s": statistics.median(build_runs),
        "build_s_runs": build_runs,
        "tokenize_s_runs": tok_runs,
        "index_s_runs": idx_runs,
        "queries_s": statistics.median(q_seconds),
        "queries_per_s": statistics.median(qps_runs),
        "queries_per_s_runs": qps_runs,
        "bm25s_version": bm25s.__version__,
        "python_version": platform.python_version(),
    })


def cmd_minilm(args):
    set_thread_env(args.threads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    if not os.path.isfile(os.path.join(args.model, "modules.json")):
        fail(f"{os.path.join(args.model, 'modules.json')}: no such file (not a sentence-transformers folder)")

    import torch
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    texts = read_corpus_texts(args.beir, args.limit)
    n_docs = len(texts)
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model, device="cpu")
    log(f"minilm: {n_docs} documents, threads={torch.get_num_threads()}, batch_size={args.batch_size}, "
        f"max_seq_length={model.max_seq_length}, torch {torch.__version__}, "
        f"sentence-transformers {sentence_transformers.__version__}")

    model.encode(texts[:32], batch_size=args.batch_size)  # warm-up, untimed
    seconds = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        emb = model.encode(texts, batch_size=args.batch_size)
        t1 = time.perf_counter()
        seconds.append(t1 - t0)
        log(f"encode {r + 1}/{args.repeats}: {t1 - t0:.2f} s, {n_docs / (t1 - t0):.2f} documents/s")
    if emb.shape[0] != n_docs:
        fail(f"encode returned {emb.shape[0]} embeddings for {n_docs} documents")

    # Token counts after truncation, [CLS]/[SEP] included: after the timing, not part of it.
    enc = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
    lengths = [len(ids) for ids in enc["input_ids"]]

    med = statistics.median(seconds)
    emit({
        "bench": "sentence-transformers",
        "beir": os.path.abspath(args.beir),
        "model": os.path.abspath(args.model),
        "n_docs": n_docs,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "max_seq_length": model.max_seq_length,
        "dim": int(emb.shape[1]),
        "seconds": med,
        "seconds_runs": seconds,
        "docs_per_s": n_docs / med,
        "docs_per_s_runs": [n_docs / s for s in seconds],
        "mean_tokens": sum(lengths) / len(lengths),
        "truncated_docs": sum(1 for n in lengths if n >= model.max_seq_length),
        "torch_version": torch.__version__,
        "sentence_transformers_version": sentence_transformers.__version__,
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
    })


def positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {v}")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("bm25", help="bm25s build and query speed")
    b.add_argument("--beir", required=True, help="BEIR directory (corpus.jsonl, queries.jsonl)")
    b.add_argument("--k", type=positive_int, default=100)
    b.add_argument("--threads", type=positive_int, default=1)
    b.add_argument("--backend", choices=("numpy", "numba"), default="numpy",
                   help="bm25s's retrieval backend (numba: its compiled one, needs numba installed)")
    b.add_argument("--repeats", type=positive_int, default=3,
                   help="timed runs of the query block and of the build (build: 1 above 200k documents)")
    b.set_defaults(func=cmd_bm25)

    m = sub.add_parser("minilm", help="sentence-transformers corpus encoding speed")
    m.add_argument("--beir", required=True, help="BEIR directory (corpus.jsonl)")
    m.add_argument("--model", required=True, help="sentence-transformers model folder")
    m.add_argument("--threads", type=positive_int, default=2)
    m.add_argument("--batch-size", type=positive_int, default=32)
    m.add_argument("--limit", type=positive_int, default=None, help="encode the first N documents only")
    m.add_argument("--repeats", type=positive_int, default=1)
    m.set_defaults(func=cmd_minilm)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
