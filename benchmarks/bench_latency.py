"""Retrieval latency against store size: hybrid search, BM25 alone and dense alone.

One store grows through 1K, 10K, 20K and 50K chunks; at each size ~100 mixed Chinese/English
queries are timed, the three kinds interleaved per query so a change in machine load hits all
of them. Reported per size: p50/p95 of

  * ``hybrid``: ``RagMix.searcher().search(q)`` (BM25 + dense fused, passages fetched; dense is
    skipped for Chinese questions because the default embedder is English-only),
  * ``bm25``: ``Catalog.bm25(lexical_tokens(q), candidates)`` (jieba + SQLite FTS5),
  * ``dense``: ``VectorIndex.search(q, candidates)`` (query embedding + Chroma HNSW query),
  * ``knn``: the Chroma query alone with a precomputed query vector,

and the growth ratio 50K/1K of each p50. Target (issue 3): hybrid p50 <= 100 ms at 20K chunks.

How the store is built (stated in the output too): chunk texts are real mixed sentences and go
through the real catalog (``Catalog.add_pending`` + ``set_state('ready')``: chunk rows and the
FTS5 index, jieba tokens); the vectors are random unit vectors written straight into Chroma
with ``VectorIndex.upsert_vectors``, because embedding 50K chunks takes ~11 minutes here. The
HNSW search cost depends on the number and dimension of vectors, not on what they mean; the
query is still embedded by the real model.

Run:  .venv/bin/python benchmarks/bench_latency.py [--quick] [--queries 100]
Writes benchmarks/results/latency.json and latency.png (quick mode: latency_quick.*).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import (
    _EN_OBJECTS,
    _EN_SUBJECTS,
    _EN_VERBS,
    chinese_sentence,
    english_sentence,
    print_table,
    save_plot,
    summary_ms,
    write_json,
)

KINDS = ("hybrid", "bm25", "dense", "knn")
TARGET_P50_MS = 100.0
TARGET_SIZE = 20_000
CHUNKS_PER_DOC = 100
DIM = 384  # all-MiniLM-L6-v2


class SentencePool:
    """Sentences with their BM25 tokens computed once (jieba on 50K chunks would dominate)."""

    def __init__(self, rng: random.Random, n: int) -> None:
        from ragmix.core.text import lexical_tokens

        self.en = [english_sentence(rng) for _ in range(n)]
        self.zh = [chinese_sentence(rng) for _ in range(n)]
        self.tokens = {s: lexical_tokens(s) for s in self.en + self.zh}

    def chunk(self, rng: random.Random) -> tuple[str, list[str]]:
        """A ~200-token chunk: Chinese, English, or a mix (a Chinese text quoting English)."""
        r = rng.random()
        if r < 0.45:
            sents = rng.sample(self.en, rng.randint(6, 9))
        elif r < 0.9:
            sents = rng.sample(self.zh, rng.randint(3, 5))
        else:
            sents = rng.sample(self.zh, 2) + rng.sample(self.en, 3)
        return " ".join(sents), [t for s in sents for t in self.tokens[s]]


def queries(rng: random.Random, n: int) -> list[str]:
    from benchmarks.common import _chinese_clauses

    clauses = _chinese_clauses()
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(
                f"When did {rng.choice(_EN_SUBJECTS).lower()} "
                f"{rng.choice(_EN_VERBS)} {rng.choice(_EN_OBJECTS)}?"
            )
        else:
            c = rng.choice(clauses)
            start = rng.randint(0, max(0, len(c) - 8))
            out.append(f"{c[start : start + rng.randint(6, 12)]}是在哪一年？")
    return out


def grow(rm: Any, pool: SentencePool, rng: random.Random, n_docs: int, first: int) -> None:
    """Add ``n_docs`` documents of CHUNKS_PER_DOC chunks each (catalog rows + random vectors)."""
    import numpy as np

    from ragmix.core.schema import Chunk
    from ragmix.store.catalog import chunk_id

    np_rng = np.random.default_rng(first)
    catalog, vectors = rm.catalog, rm.vectors
    for d in range(first, first + n_docs):
        doc_id = f"bench{d:07d}"
        chunks: list[Chunk] = []
        lexical: list[list[str]] = []
        parts: list[str] = []
        pos = 0
        for i in range(CHUNKS_PER_DOC):
            text, toks = pool.chunk(rng)
            chunks.append(Chunk(i, text, pos, pos + len(text), 200))
            lexical.append(toks)
            parts.append(text)
            pos += len(text) + 2
        with catalog.transaction() as conn:
            catalog.add_pending(
                conn,
                doc_id=doc_id,
                name=f"doc-{d:05d}.txt",
                kind="txt",
                text="\n\n".join(parts),
                page_starts=None,
                chunks=chunks,
                lexical=lexical,
                tokens={},
            )
        vecs = np_rng.standard_normal((len(chunks), DIM)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vectors.upsert_vectors(
            [chunk_id(doc_id, c.index) for c in chunks],
            vecs.tolist(),
            [c.text for c in chunks],
            [
                {
                    "doc_id": doc_id,
                    "source": f"doc-{d:05d}.txt",
                    "chunk": c.index,
                    "start": c.start,
                    "end": c.end,
                }
                for c in chunks
            ],
        )
        with catalog.transaction() as conn:
            catalog.set_state(conn, doc_id, "ready")


def time_queries(rm: Any, qs: list[str]) -> dict[str, dict[str, Any]]:
    """Each query through every kind, the order rotated per query; seconds per call."""
    from ragmix.core.text import detect_language, lexical_tokens

    searcher, catalog, vectors = rm.searcher(), rm.catalog, rm.vectors
    k = rm.settings.retrieval.candidates
    qvec = {q: rm.embeddings.embed_query(q) for q in qs}  # for the knn-only timing
    calls = {
        "hybrid": lambda q: searcher.search(q),
        "bm25": lambda q: catalog.bm25(lexical_tokens(q), k),
        "dense": lambda q: vectors.search(q, k),
        "knn": lambda q: vectors._collection.query(
            query_embeddings=[qvec[q]], n_results=k, include=["distances"]
        ),
    }
    for q in qs[:5]:  # warm caches: SQLite pages, HNSW segments, jieba, the model
        for fn in calls.values():
            fn(q)
    times: dict[str, list[float]] = {kd: [] for kd in KINDS}
    by_lang: dict[str, list[float]] = {"en": [], "zh": []}
    for i, q in enumerate(qs):
        order = KINDS[i % len(KINDS) :] + KINDS[: i % len(KINDS)]
        for kind in order:
            t0 = time.perf_counter()
            calls[kind](q)
            dt = time.perf_counter() - t0
            times[kind].append(dt)
            if kind == "hybrid":
                by_lang[detect_language(q)].append(dt)
    out = {kd: summary_ms(ts) for kd, ts in times.items()}
    out["hybrid_en"] = summary_ms(by_lang["en"])
    out["hybrid_zh"] = summary_ms(by_lang["zh"])
    return out


def bench(quick: bool, n_queries: int, work: Path) -> dict[str, Any]:
    from ragmix import RagMix

    sizes = [200, 1000] if quick else [1000, 10_000, 20_000, 50_000]
    rng = random.Random(11)
    rm = RagMix.from_config(None, store={"path": str(work / "store")})
    pool = SentencePool(rng, 400 if quick else 3000)
    qs = queries(random.Random(5), n_queries)
    rows: list[dict[str, Any]] = []
    n_docs = 0
    for size in sizes:
        t0 = time.perf_counter()
        want = size // CHUNKS_PER_DOC
        grow(rm, pool, rng, want - n_docs, n_docs)
        n_docs = want
        build_s = time.perf_counter() - t0
        assert rm.vectors.count() == size, (rm.vectors.count(), size)
        lat = time_queries(rm, qs)
        rows.append({"chunks": size, "build_s": round(build_s, 1), **lat})
        print(
            f"  {size:6d} chunks (built in {build_s:5.1f} s): hybrid p50 "
            f"{lat['hybrid']['p50_ms']:.1f} ms, bm25 {lat['bm25']['p50_ms']:.1f}, "
            f"dense {lat['dense']['p50_ms']:.1f}, knn {lat['knn']['p50_ms']:.1f}",
            flush=True,
        )
    first, last = rows[0], rows[-1]
    growth = {
        kd: round(last[kd]["p50_ms"] / max(first[kd]["p50_ms"], 1e-6), 2)
        for kd in (*KINDS, "hybrid_en", "hybrid_zh")
    }
    at_target = next((r for r in rows if r["chunks"] == TARGET_SIZE), None)
    return {
        "benchmark": "latency",
        "quick": quick,
        "queries": n_queries,
        "sizes": sizes,
        "rows": rows,
        "growth_p50": growth,
        "growth_between": [first["chunks"], last["chunks"]],
        "target": {"chunks": TARGET_SIZE, "hybrid_p50_ms": TARGET_P50_MS},
        "met": None if at_target is None else at_target["hybrid"]["p50_ms"] <= TARGET_P50_MS,
        "notes": [
            "chunk rows and the BM25 (FTS5, jieba) index are written through "
            "Catalog.add_pending + set_state('ready'); vectors are random unit vectors "
            "inserted with VectorIndex.upsert_vectors (no passage embedding); queries are "
            "embedded by the real all-MiniLM-L6-v2",
            "half the queries are Chinese: the default embedder is English-only, so hybrid "
            "runs BM25 alone for them (hybrid_zh) and BM25 + dense for English (hybrid_en)",
            f"candidates per retriever: {rm.settings.retrieval.candidates}",
        ],
    }


def report(data: dict[str, Any]) -> None:
    headers = ["chunks", "kind", "p50 ms", "p95 ms", "mean ms"]
    table = []
    for r in data["rows"]:
        for kd in ("hybrid", "hybrid_en", "hybrid_zh", "bm25", "dense", "knn"):
            s = r[kd]
            table.append([r["chunks"], kd, s["p50_ms"], s["p95_ms"], s["mean_ms"]])
    print_table(headers, table, title=f"Retrieval latency, {data['queries']} queries per size")
    a, b = data["growth_between"]
    print(
        f"\np50 growth {b:,}/{a:,} chunks: "
        + ", ".join(f"{k} {v}×" for k, v in data["growth_p50"].items())
    )
    if data["met"] is not None:
        row = next(r for r in data["rows"] if r["chunks"] == TARGET_SIZE)
        print(
            f"hybrid p50 at {TARGET_SIZE:,} chunks: {row['hybrid']['p50_ms']} ms "
            f"(target ≤ {TARGET_P50_MS:g} ms): {'met' if data['met'] else 'NOT met'}"
        )
    print("note: " + data["notes"][0])


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        xs = [r["chunks"] for r in data["rows"]]
        for i, kd in enumerate(("hybrid", "bm25", "dense", "knn")):
            ax.plot(
                xs, [r[kd]["p50_ms"] for r in data["rows"]], "o-", color=f"C{i}", label=f"{kd} p50"
            )
            ax.plot(
                xs, [r[kd]["p95_ms"] for r in data["rows"]], ":", color=f"C{i}", label=f"{kd} p95"
            )
        ax.axhline(TARGET_P50_MS, color="grey", lw=0.8, ls="--", label="target p50 at 20K")
        ax.set_xscale("log")
        ax.set_xlabel("chunks in store (log)")
        ax.set_ylabel("ms per query")
        ax.set_title("Retrieval latency vs store size (mixed zh/en queries)")
        ax.legend(fontsize=7, ncol=2)

    return save_plot(name, draw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 and 1K chunks, 10 queries")
    ap.add_argument("--queries", type=int, default=None, help="queries per size (default 100)")
    args = ap.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    n_q = args.queries or (10 if args.quick else 100)
    name = "latency_quick" if args.quick else "latency"
    with tempfile.TemporaryDirectory(prefix="ragmix-latency-") as tmp:
        data = bench(args.quick, n_q, Path(tmp))
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
