"""How BM25 and dense rankings combine: recall@k of fusion rules on CMRC 2018 dev and trial.

Every context becomes one document in a store built by the real ingest pipeline with the
default profile (its embedder, its chunking). For every question the two candidate lists the
product's ``HybridSearcher`` starts from are taken once — BM25 from the catalog's FTS5 index
and dense from Chroma, ``retrieval.candidates`` each, with their scores — and cached in
``benchmarks/results/fusion_candidates-<set>.json``; each fusion rule then re-ranks the same
lists, so the rows differ in the rule only. The ``ragmix`` row runs the real searcher.

    python benchmarks/bench_fusion.py --data ../shared/data/cmrc2018
    python benchmarks/bench_fusion.py --sets trial --rebuild

Writes ``benchmarks/results/fusion.json``. Tune on these sets only; held-out sets (paraphrased
questions, Traditional Chinese) are for checking, never for choosing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragmix.app.evaluation import build_store, load_squad, rank_documents, retrieval_metrics
from ragmix.core.settings import RetrievalSettings, load_settings
from ragmix.core.text import detect_language, lexical_tokens
from ragmix.qa.retrieval import combine, coverage, fuse, minmax, rrf

RESULTS = Path(__file__).resolve().parent / "results"
KS = (1, 5, 10)
Hits = list[tuple[str, float]]
Rule = Callable[[Hits, Hits, float], list[str]]


def candidates(path: Path, name: str, rebuild: bool) -> dict[str, Any]:
    """BM25 and dense hits (chunk id, score) per question, the chunk→doc map and the gold."""
    cache = RESULTS / f"fusion_candidates-{name}.json"
    if cache.exists() and not rebuild:
        return dict(json.loads(cache.read_text()))
    squad = load_squad(path)
    settings = load_settings()
    n = settings.retrieval.candidates
    with tempfile.TemporaryDirectory(prefix="ragmix-fusion-") as tmp:
        rm, gold, ingest_s = build_store(squad, settings, Path(tmp))
        doc_of = {cid: doc for cid, doc, _ in rm.catalog.chunk_texts()}
        ids = rm.resolve_docs(None)
        t0 = time.perf_counter()
        rows = []
        for q in squad.questions:
            tokens = lexical_tokens(q.question)
            lex = rm.catalog.bm25(tokens, n, ids)
            den = rm.vectors.search(q.question, n, ids)
            ceiling = rm.catalog.bm25_ceiling(tokens)
            rows.append(
                {
                    "q": q.question,
                    "gold": gold[q.context],
                    "bm25": lex,
                    "dense": den,
                    "ceiling": ceiling,
                }
            )
        query_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        product = rank_documents(rm, squad, max(KS))
        product_s = time.perf_counter() - t0
    out = {
        "set": name,
        "embedder": settings.embeddings.model,
        "n_contexts": len(squad.contexts),
        "ingest_s": round(ingest_s, 1),
        "query_ms": round(1000 * query_s / len(rows), 1),
        "product_ms": round(1000 * product_s / len(rows), 1),
        "doc_of": doc_of,
        "questions": rows,
        "product": product,
    }
    RESULTS.mkdir(exist_ok=True)
    cache.write_text(json.dumps(out, ensure_ascii=False))
    return out


def docs_ranked(chunk_ids: Sequence[str], doc_of: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(doc_of[c] for c in chunk_ids if c in doc_of))


def _rrf(wl: float, wd: float, k: int = 60) -> Rule:
    def rule(lex: Hits, den: Hits, ceiling: float) -> list[str]:
        return [c for c, _ in rrf([([c for c, _ in lex], wl), ([c for c, _ in den], wd)], k)]

    return rule


def _scores(lexical: str, share: float) -> Rule:
    """Score fusion with BM25 normalised by ``lexical`` ('coverage' or 'minmax') and dense
    min-max, ``share`` the dense weight."""

    def rule(lex: Hits, den: Hits, ceiling: float) -> list[str]:
        norm = coverage(lex, ceiling) if lexical == "coverage" else minmax(lex)
        return [c for c, _ in combine(norm, minmax(den), share if den else 0.0)]

    return rule


def _product(settings: RetrievalSettings) -> Rule:
    return lambda lex, den, ceiling: [c for c, _ in fuse(lex, den, settings, ceiling)]


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {
        "bm25 alone": lambda lex, den, ceiling: [c for c, _ in lex],
        "dense alone": lambda lex, den, ceiling: [c for c, _ in den],
        "RRF k=60, 1:1 (before)": _rrf(1, 1),
        "RRF k=60, bm25 2:1": _rrf(2, 1),
    }
    for lexical in ("minmax", "coverage"):
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            out[f"bm25 {lexical} + dense minmax, dense {w:.1f}"] = _scores(lexical, w)
    out["ragmix default (fuse)"] = _product(RetrievalSettings())
    return out


def evaluate(data: dict[str, Any], rule: Rule) -> dict[str, float]:
    doc_of = data["doc_of"]
    rankings, gold = [], []
    for row in data["questions"]:
        lex = [(c, float(s)) for c, s in row["bm25"]]
        den = [(c, float(s)) for c, s in row["dense"]]
        rankings.append(docs_ranked(rule(lex, den, float(row["ceiling"])), doc_of))
        gold.append(row["gold"])
    return retrieval_metrics(rankings, gold, KS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/cmrc2018"))
    ap.add_argument("--sets", default="dev,trial", help="CMRC 2018 sets under --data")
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="another SQuAD-format file to check (never to tune on)",
    )
    ap.add_argument("--rebuild", action="store_true", help="recompute the cached candidates")
    args = ap.parse_args()
    table: dict[str, dict[str, dict[str, float]]] = {}
    meta: dict[str, Any] = {}
    files = {n: args.data / f"cmrc2018_{n}.json" for n in args.sets.split(",") if n}
    files.update({e.split("=", 1)[0]: Path(e.split("=", 1)[1]) for e in args.extra})
    for name, path in files.items():
        data = candidates(path, name, args.rebuild)
        langs = {detect_language(r["q"]) for r in data["questions"]}
        meta[name] = {k: data[k] for k in ("embedder", "n_contexts", "ingest_s", "query_ms")}
        meta[name]["n_questions"] = len(data["questions"])
        meta[name]["languages"] = sorted(langs)
        gold = [r["gold"] for r in data["questions"]]
        table.setdefault("ragmix (the real searcher)", {})[name] = retrieval_metrics(
            data["product"], gold, KS
        )
        for label, rule in rules().items():
            table.setdefault(label, {})[name] = evaluate(data, rule)
    sets = list(files)
    print(f"{'rule':<44}" + "".join(f"{s + ' R@1':>11}{s + ' R@5':>11}" for s in sets))
    for label, by_set in table.items():
        cells = "".join(
            f"{by_set[s]['recall@1']:>11.3f}{by_set[s]['recall@5']:>11.3f}" for s in sets
        )
        print(f"{label:<44}{cells}")
    out = RESULTS / "fusion.json"
    out.write_text(json.dumps({"sets": meta, "recall": table}, indent=2, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
