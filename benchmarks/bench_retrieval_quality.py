"""Chinese retrieval quality: recall@k of the gold context on CMRC 2018 dev and trial.

Each context becomes one document in a store built by the real ingest pipeline with the
default (offline) profile; ``ragmix`` rows query it through the same ``HybridSearcher`` that
``ask`` uses. The lexical-variant rows re-index *the same chunks* in an in-memory SQLite FTS5
table (the catalog's ranking function, ``bm25()``) with other tokenisations, so they differ
from the product in the tokens only. ``--dense`` adds dense rows (query embeddings for every
question; slow on a busy 2-core machine).

    python benchmarks/bench_retrieval_quality.py --data ../shared/data/cmrc2018
    python benchmarks/bench_retrieval_quality.py --sets trial          # the small held-out set

Writes ``benchmarks/results/retrieval_quality.json`` and ``retrieval_quality.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragmix.app.evaluation import (
    SquadSet,
    build_store,
    load_squad,
    rank_documents,
    retrieval_metrics,
)
from ragmix.core.settings import load_settings
from ragmix.core.text import _LEXICAL_RE, STOPWORDS, cjk_bigrams, lexical_tokens, to_simplified
from ragmix.qa.retrieval import rrf
from ragmix.store.catalog import fts_query

RESULTS = Path(__file__).resolve().parent / "results"
KS = (1, 5, 10)
Tokenizer = Callable[[str], list[str]]


def _variant(mode: str, bigrams: bool, stop: bool = True, t2s: bool = True) -> Tokenizer:
    """A lexical tokeniser: jieba ``mode`` ('search', 'lcut' or 'none') +/- CJK bigrams,
    +/- Traditional written as Simplified first (``to_simplified``)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)

    def tokens(text: str) -> list[str]:
        out: list[str] = []
        text = unicodedata.normalize("NFKC", text)
        for m in _LEXICAL_RE.finditer(to_simplified(text) if t2s else text):
            run = m.group("cjk")
            if run is None:
                word = m.group("word").lower()
                if not (stop and word in STOPWORDS):
                    out.append(word)
                continue
            if mode != "none":
                cut = jieba.lcut_for_search(run) if mode == "search" else jieba.lcut(run)
                out += [t for t in cut if not (stop and t in STOPWORDS)]
            if bigrams:
                out += cjk_bigrams(run)
        return out

    return tokens


VARIANTS: dict[str, Tokenizer] = {
    "bm25 jieba search-mode (before)": _variant("search", False),
    "bm25 jieba lcut": _variant("lcut", False),
    "bm25 jieba search-mode, no stopwords": _variant("search", False, stop=False),
    "bm25 CJK bigrams only": _variant("none", True),
    "bm25 jieba search-mode + bigrams": _variant("search", True),
    "bm25 jieba lcut + bigrams, no t2s (before)": _variant("lcut", True, t2s=False),
    "bm25 jieba lcut + bigrams + t2s (now)": _variant("lcut", True),
}
NOW = "bm25 jieba lcut + bigrams + t2s (now)"


def to_traditional(squad: SquadSet, config: str) -> SquadSet:
    """The same set written in Traditional Chinese by OpenCC ``config`` ('s2twp': Taiwan
    standard with Taiwan phrases, e.g. 软件 -> 軟體; 's2t': characters only)."""
    import opencc

    conv = opencc.OpenCC(config).convert
    return replace(
        squad,
        contexts=[conv(c) for c in squad.contexts],
        questions=[replace(q, question=conv(q.question)) for q in squad.questions],
    )


def fts_rankings(
    chunks: list[tuple[str, str]], questions: list[str], tokens: Tokenizer, depth: int = 40
) -> tuple[list[list[str]], float]:
    """Document rankings from an FTS5 index of ``chunks`` ``(doc_id, text)``; ms per query."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(tokens, tokenize = 'unicode61')")
    db.executemany(
        "INSERT INTO f (rowid, tokens) VALUES (?, ?)",
        [(i, " ".join(tokens(text))) for i, (_, text) in enumerate(chunks)],
    )
    out: list[list[str]] = []
    t0 = time.perf_counter()
    for q in questions:
        query = fts_query(tokens(q))
        rows = (
            db.execute(
                "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (query, depth)
            ).fetchall()
            if query
            else []
        )
        out.append(list(dict.fromkeys(chunks[r][0] for (r,) in rows)))
    return out, 1000 * (time.perf_counter() - t0) / max(1, len(questions))


def chunk_rankings(rm: Any, questions: list[str], depth: int = 40) -> list[list[tuple[str, str]]]:
    """Dense (MiniLM, from the store's Chroma) chunk rankings as ``(chunk_id, doc_id)``."""
    out = []
    for q in questions:
        hits = rm.vectors.search(q, depth)
        out.append([(cid, cid.rsplit("-", 1)[0]) for cid, _ in hits])
    return out


def run_set(
    path: Path, dense: bool, traditional: str | None = None, embedder: str | None = None
) -> dict[str, object]:
    squad = load_squad(path)
    if traditional:
        squad = to_traditional(squad, traditional)
    settings = load_settings()
    if embedder:  # e.g. the English-only MiniLM: Chinese questions then go by BM25 alone
        emb = settings.embeddings.model_copy(update={"model": embedder})
        settings = settings.model_copy(update={"embeddings": emb})
    questions = [q.question for q in squad.questions]
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ragmix-bench-") as tmp:
        rm, gold_ids, ingest_s = build_store(squad, settings, Path(tmp))
        gold = [gold_ids[q.context] for q in squad.questions]
        n_chunks = rm.catalog.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        t0 = time.perf_counter()
        rankings = rank_documents(rm, squad, max(KS))
        ms = 1000 * (time.perf_counter() - t0) / len(questions)
        rows["ragmix default (hybrid, real pipeline)"] = {
            **retrieval_metrics(rankings, gold, KS),
            "ms_per_query": round(ms, 2),
        }
        # The same store and searcher with the FTS5 OR-query as the lexical side (before).
        rm.catalog.lexical = "fts5"
        t0 = time.perf_counter()
        rankings = rank_documents(rm, squad, max(KS))
        ms = 1000 * (time.perf_counter() - t0) / len(questions)
        rm.catalog.lexical = "tantivy"
        rows["ragmix hybrid, FTS5 lexical (before)"] = {
            **retrieval_metrics(rankings, gold, KS),
            "ms_per_query": round(ms, 2),
        }
        sql = "SELECT doc_id, text FROM chunks ORDER BY rowid"
        chunks = rm.catalog.conn.execute(sql).fetchall()
        lexical: dict[str, list[list[str]]] = {}
        for name, tok in VARIANTS.items():
            lexical[name], ms = fts_rankings(chunks, questions, tok)
            metrics = retrieval_metrics(lexical[name], gold, KS)
            rows[name] = {**metrics, "ms_per_query": round(ms, 2)}
        if dense:
            ranked = chunk_rankings(rm, questions)
            docs = [list(dict.fromkeys(d for _, d in r)) for r in ranked]
            rows["dense MiniLM alone"] = retrieval_metrics(docs, gold, KS)
            now = lexical[NOW]
            pairs = zip(now, docs, strict=True)
            fused = [[d for d, _ in rrf([(b, 1.0), (m, 1.0)])] for b, m in pairs]
            rows["RRF(bm25 now, MiniLM) (naive fusion)"] = retrieval_metrics(fused, gold, KS)
        rm.catalog.close()
    return {
        "file": str(path),
        "n_contexts": len(squad.contexts),
        "n_questions": len(questions),
        "n_chunks": n_chunks,
        "ingest_seconds": round(ingest_s, 1),
        "rows": rows,
    }


def print_table(name: str, res: dict[str, object]) -> None:
    print(
        f"\n{name}: {res['n_contexts']} contexts ({res['n_chunks']} chunks), "
        f"{res['n_questions']} questions, ingest {res['ingest_seconds']} s"
    )
    print(f"{'method':<42} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6} {'ms/q':>6}")
    for method, m in res["rows"].items():  # type: ignore[attr-defined]
        ms = m.get("ms_per_query", float("nan"))
        print(
            f"{method:<42} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f} "
            f"{m['recall@10']:>6.3f} {m['mrr']:>6.3f} {ms:>6.1f}"
        )


def plot(results: dict[str, dict[str, object]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    methods = list(results[sets[0]]["rows"])  # type: ignore[call-overload]
    fig, axes = plt.subplots(1, len(sets), figsize=(7 * len(sets), 5), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        rows = results[s]["rows"]
        y = range(len(methods))
        ax.barh([i + 0.2 for i in y], [rows[m]["recall@1"] for m in methods], 0.4, label="recall@1")  # type: ignore[index]
        ax.barh([i - 0.2 for i in y], [rows[m]["recall@5"] for m in methods], 0.4, label="recall@5")  # type: ignore[index]
        ax.axvline(0.95, color="C0", ls="--", lw=0.8)
        ax.axvline(0.99, color="C1", ls="--", lw=0.8)
        ax.set_yticks(list(y), methods if ax is axes[0][0] else [""] * len(methods), fontsize=8)
        ax.set_xlim(0.85, 1.0)
        ax.invert_yaxis()
        ax.set_title(f"CMRC 2018 {s} (targets: R@1 0.95, R@5 0.99)")
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cmrc2018"))
    parser.add_argument("--sets", default="dev,trial", help="comma-separated: dev,trial")
    parser.add_argument("--dense", action="store_true", help="also rank by MiniLM (slow)")
    parser.add_argument(
        "--traditional", default="s2twp",
        help="also each set written in Traditional by this OpenCC config ('' for none)",
    )  # fmt: skip
    parser.add_argument("--out", default="retrieval_quality", help="results file name")
    parser.add_argument(
        "--embedder", default=None,
        help="embeddings.model for the store (default: the configured one, e5); "
        "'packaged:all-MiniLM-L6-v2' reads no Chinese: the hybrid rows are then BM25 alone, "
        "through the real pipeline, in seconds instead of half an hour",
    )  # fmt: skip
    args = parser.parse_args()
    lexical_tokens("预热")  # load jieba's dictionary outside the timings
    results = {}
    for s in args.sets.split(","):
        results[s] = run_set(args.data / f"cmrc2018_{s}.json", args.dense, None, args.embedder)
        print_table(s, results[s])
        if args.traditional:
            name = f"{s}-traditional-{args.traditional}"
            results[name] = run_set(
                args.data / f"cmrc2018_{s}.json", args.dense, args.traditional, args.embedder
            )
            print_table(name, results[name])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.out}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    plot(results, RESULTS / f"{args.out}.png")
    print(f"\nwrote {out} and {args.out}.png")


if __name__ == "__main__":
    main()
