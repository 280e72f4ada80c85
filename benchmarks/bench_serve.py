"""Search through the HTTP API (``ragmix serve``) beside the same searches through the page.

One store of about 20,000 chunks (``--chunks``) is served at the same time by a real
``ragmix serve`` and a real ``ragmix ui`` (both on loopback, same store, same embedder). For
1, 8 and 32 concurrent clients, each path gets N search requests (``--requests``, default
200 per level), every one a distinct mixed Chinese/English question made of words that occur
in the corpus (``bench_latency.queries``):

  * ``api search``: ``POST /v1/search`` ``{"query": q, "k": 8}``, one keep-alive
    ``httpx.Client`` per client thread;
  * ``api chat``: ``POST /v1/chat/completions`` with model ``ragmix-search``, not streamed
    (the same searcher through ``RagMix.stream``, 12 passages as the page's search);
  * ``page``: what the page sends on Enter in search mode, as bench_load's ``search``
    scenario does it (``/add_question`` then ``/answer`` with mode 'search', through
    ``gradio_client``). One session per client thread, kept for all its questions (a browser
    tab asking several questions), so neither side pays its connection or session set-up
    inside the measurement.

Clients are threads of this process, released together by a barrier; each server is warmed
up first (models loaded, caches filled). Per (path, clients): requests/s (answered requests
from the first sent to the last answered), p50/p95 ms per request, and the API's requests/s
against the page's at the same client count. Every response is checked (HTTP 200 and at least
one passage; the page's chat must show the question and sources); failures are counted and
printed, never dropped. Goals: API searches/s >= 4x the page's at 8 clients; API search p50
<= 50 ms for 1 client at 20K chunks.

The store: generated text files (``common.make_text``), alternately English and Chinese, about
100 chunks each (chunks are ``chunking.chunk_tokens`` = 220 embedder tokens; the characters
per chunk are measured with the embedder's own tokenizer and ``split_text`` first), ingested
with ``ragmix ingest DIR --store STORE``. It is cached in ``benchmarks/results/.cache`` (which
ignores itself in git), keyed by size, embedder and chunk size, so a rerun does not ingest.

Embedder: ``packaged:all-MiniLM-L6-v2`` (``RAGMIX_EMBEDDINGS__MODEL``, for ingest and both
servers), not the default ``packaged:multilingual-e5-small``. Measured here (2 cores): e5
embeds ~4.3 passages/s and MiniLM ~20/s; and ragmix embeds only the chunks an embedder
understands, so MiniLM embeds only the English half (Chinese chunks are BM25-only). A 20K-chunk
store (200 files) took 501 s with MiniLM (about 10K passages embedded); e5 would embed all 20K,
over an hour. Query embedding costs about the same (~21 ms MiniLM, ~24 ms e5 per query), but
with MiniLM Chinese questions skip the dense search: the p50 over the mixed questions is lower
than e5 would give, so per-language p50s are in the JSON. Both servers run with their own
defaults: ``ragmix serve`` embeds with one torch thread (``embeddings.threads`` unset), the
page with torch's default.

Run:  .venv/bin/python benchmarks/bench_serve.py [--quick] [--chunks 20000] [--requests 200]
Writes benchmarks/results/serve.json and serve.png (quick mode: ~2,000 chunks, 40 requests
per level, serve_quick.*).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_latency import queries as mixed_queries
from benchmarks.bench_load import server_peak_mb
from benchmarks.common import RESULTS, ROOT, make_text, pct, print_table, save_plot, write_json
from tests.webclient import (
    RAGMIX,
    _content,
    free_port,
    parse_bubble,
    start_serve,
    start_ui,
    stop,
)

EMBEDDER = "packaged:all-MiniLM-L6-v2"
ENV = {"RAGMIX_EMBEDDINGS__MODEL": EMBEDDER}
CACHE = RESULTS / ".cache"
CHUNKS_PER_FILE = 100
LEVELS = (1, 8, 32)
K = 8
WARMUP = 4
TIMEOUT_S = 120.0
GOAL_RATIO, GOAL_RATIO_CLIENTS = 4.0, 8
GOAL_P50_MS, GOAL_CHUNKS = 50.0, 20_000
PATHS = {"api search": "POST /v1/search", "api chat": "POST /v1/chat/completions",
         "page": "/add_question + /answer (search)"}  # fmt: skip


# --------------------------------------------------------------------------- the store


def chars_per_chunk() -> dict[str, float]:
    """Characters per chunk of generated English and Chinese text, as the ingest splits it."""
    from ragmix.core.settings import load_settings
    from ragmix.ingest.splitter import split_text
    from ragmix.models.embeddings import chunk_token_counter

    settings = load_settings(embeddings={"model": EMBEDDER})
    count, max_len = chunk_token_counter(settings.embeddings)
    size = min(settings.chunking.chunk_tokens, max_len)
    overlap = min(settings.chunking.overlap_tokens, size // 2)
    rng = random.Random(3)
    out = {}
    for lang in ("en", "zh"):
        text = make_text(rng, 60_000, lang)
        out[lang] = len(text) / len(split_text(text, count, size, overlap))
    return out


def write_corpus(folder: Path, chunks: int, seed: int = 11) -> int:
    """Text files of about CHUNKS_PER_FILE chunks each, alternately English and Chinese."""
    folder.mkdir(parents=True, exist_ok=True)
    per_chunk = chars_per_chunk()
    rng = random.Random(seed)
    n_files = max(2, round(chunks / CHUNKS_PER_FILE))
    for i in range(n_files):
        lang = "en" if i % 2 == 0 else "zh"
        text = make_text(rng, int(CHUNKS_PER_FILE * per_chunk[lang]), lang)
        (folder / f"{lang}-{i:04d}.txt").write_text(text, encoding="utf-8")
    return n_files


def cached_store(chunks: int) -> tuple[Path, dict[str, Any]]:
    """The store of about ``chunks`` chunks: from the cache, or generated and ingested."""
    from ragmix.core.settings import load_settings

    chunk_tokens = load_settings().chunking.chunk_tokens
    key = f"serve-{chunks}-{EMBEDDER.split(':')[-1].lower()}-{chunk_tokens}t-v1"
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n", encoding="utf-8")  # the cache is never committed
    store, marker = CACHE / key, CACHE / f"{key}.json"
    if store.is_dir() and marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        print(f"store: cached {store} ({info['chunks']:,} chunks)", flush=True)
        return store, {**info, "cached": True}
    shutil.rmtree(store, ignore_errors=True)  # an interrupted build
    with tempfile.TemporaryDirectory(prefix="ragmix-serve-corpus-") as tmp:
        t0 = time.perf_counter()
        n_files = write_corpus(Path(tmp), chunks)
        write_s = time.perf_counter() - t0
        print(f"store: ingesting {n_files} files (~{chunks:,} chunks) with {EMBEDDER}; this "
              f"takes a while the first time", flush=True)  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(RAGMIX), "ingest", tmp, "--store", str(store), "--json"],
            cwd=ROOT, env={**os.environ, **ENV}, capture_output=True, text=True,
        )  # fmt: skip
        ingest_s = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"ingest failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(lines[-1])
    info = {
        "chunks": summary["chunks_added"],
        "files": summary["ingested"],
        "embedder": EMBEDDER,
        "chunk_tokens": chunk_tokens,
        "write_s": round(write_s, 1),
        "ingest_s": round(ingest_s, 1),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"store: {info['chunks']:,} chunks from {info['files']} files in {ingest_s:.0f} s",
          flush=True)  # fmt: skip
    return store, {**info, "cached": False}


# --------------------------------------------------------------------------- the servers


def tail(log: Path, n: int = 3000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-n:] if log.exists() else ""


# --------------------------------------------------------------------------- the clients


class Conn(Protocol):
    server_s: float | None  # the server's own search seconds for the last answer, if known

    def ask(self, q: str) -> str | None: ...  # the problem with the answer, None if fine

    def close(self) -> None: ...


class ApiConn:
    """One API client: a keep-alive connection; ``chat`` sends the question as a chat."""

    def __init__(self, url: str, chat: bool) -> None:
        import httpx

        key = os.environ.get("RAGMIX_API_KEY")  # the server reads it too
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url, timeout=TIMEOUT_S, headers=headers)
        self.chat = chat
        self.server_s: float | None = None
        self.http.get("/health").raise_for_status()  # the connection is open before timing

    def ask(self, q: str) -> str | None:
        self.server_s = None
        if self.chat:
            body = {"model": "ragmix-search", "messages": [{"role": "user", "content": q}]}
            r = self.http.post("/v1/chat/completions", json=body)
        else:
            r = self.http.post("/v1/search", json={"query": q, "k": K})
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:300]}"
        data = r.json()
        if not self.chat:
            self.server_s = data["ragmix"]["search_s"]
            return None if data.get("data") else f"no results: {r.text[:300]}"
        self.server_s = data["ragmix"]["timings"].get("retrieve_s")
        text = data["choices"][0]["message"]["content"]
        return None if text and data["ragmix"]["sources"] else f"no sources: {r.text[:300]}"

    def close(self) -> None:
        self.http.close()


class PageConn:
    """One page user (a browser tab): its own Gradio session for all its questions."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False)
        self.server_s: float | None = None  # the page does not say
        self.client.predict([], api_name="/list_docs")  # as the page does on load

    def ask(self, q: str) -> str | None:
        _, chat = self.client.predict(q, [], api_name="/add_question")
        chat = self.client.submit(chat, [], "search", api_name="/answer").result(TIMEOUT_S)
        if len(chat) != 2:
            return f"the chat has {len(chat)} messages, not 2"
        asked = parse_bubble(_content(chat[0]))["answer"]
        bubble = parse_bubble(_content(chat[-1]))
        if asked != q:
            return f"the chat shows another question: {asked!r}"
        return None if bubble["sources"] else f"no sources: {bubble['answer'][:300]!r}"

    def close(self) -> None:
        self.client.close()


@dataclass
class Hit:
    query: str
    started: float
    seconds: float
    error: str | None
    server_s: float | None = None


def run_level(make: Callable[[], Conn], qs: list[str], clients: int) -> list[Hit]:
    """``qs`` shared among ``clients`` threads, each with its own connection, released
    together; every request's latency and problem."""
    with ThreadPoolExecutor(8) as pool:  # sessions and connections before the clock starts
        conns = list(pool.map(lambda _: make(), range(clients)))
    barrier = threading.Barrier(clients)
    shares = [qs[i::clients] for i in range(clients)]
    hits: list[list[Hit]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        barrier.wait(timeout=60)
        for q in shares[i]:
            t0 = time.perf_counter()
            try:
                error = conns[i].ask(q)
            except Exception as exc:  # every failure is a finding
                error = f"{type(exc).__name__}: {exc}"
            dt = time.perf_counter() - t0
            hits[i].append(Hit(q, t0, dt, error, None if error else conns[i].server_s))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT_S * (len(qs) // clients + 2)
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    for c in conns:
        c.close()
    out = [h for share in hits for h in share]
    done = {h.query for h in out}
    late = time.perf_counter()
    out += [Hit(q, late, 0.0, "no reply: the client hung") for q in qs if q not in done]
    return out


def level_stats(hits: list[Hit]) -> dict[str, Any]:
    from ragmix.core.text import detect_language

    ok = [h for h in hits if h.error is None]
    ms = [h.seconds * 1000 for h in ok]
    server_ms = [h.server_s * 1000 for h in ok if h.server_s is not None]
    span = max((h.started + h.seconds for h in ok), default=0.0) - min(
        (h.started for h in hits), default=0.0
    )
    by_lang = {
        lang: [h.seconds * 1000 for h in ok if detect_language(h.query) == lang]
        for lang in ("en", "zh")
    }
    return {
        "n": len(hits),
        "ok": len(ok),
        "errors": len(hits) - len(ok),
        "rps": round(len(ok) / span, 2) if ok and span > 0 else 0.0,
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
        "p50_en_ms": round(pct(by_lang["en"], 50), 1),
        "p50_zh_ms": round(pct(by_lang["zh"], 50), 1),
        "server_p50_ms": round(pct(server_ms, 50), 1) if server_ms else None,
        "span_s": round(span, 2),
        "ms": [round(x, 1) for x in ms],
        "error_messages": [h.error for h in hits if h.error],
    }


def distinct_queries(n: int, seed: int = 5) -> list[str]:
    """``n`` different questions, half English, half Chinese while the Chinese ones last."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    for _ in range(200):
        out.update(dict.fromkeys(mixed_queries(rng, 200)))
        if len(out) >= n:
            return list(out)[:n]
    raise SystemExit(f"only {len(out)} distinct questions can be made; ask for fewer requests")


# --------------------------------------------------------------------------- the benchmark


def bench(chunks: int, requests: int, work: Path) -> dict[str, Any]:
    store, store_info = cached_store(chunks)
    qs = distinct_queries(len(PATHS) * (WARMUP + requests * len(LEVELS)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        api, api_url = start_serve(store, free_port(), env=ENV, log=work / "serve.log")
        procs.append(api)
        api_start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        page, page_url = start_ui(store, free_port(), env=ENV, log=work / "ui.log")
        procs.append(page)
        page_start_s = time.perf_counter() - t0
        print(f"servers: serve {api_url} in {api_start_s:.1f} s, ui {page_url} in "
              f"{page_start_s:.1f} s", flush=True)  # fmt: skip
        makers: dict[str, Callable[[], Conn]] = {
            "api search": lambda: ApiConn(api_url, chat=False),
            "api chat": lambda: ApiConn(api_url, chat=True),
            "page": lambda: PageConn(page_url),
        }
        for path, make in makers.items():  # models loaded, caches warm
            warm = [qs.pop() for _ in range(WARMUP)]
            bad = [h.error for h in run_level(make, warm, 1) if h.error]
            if bad:
                raise RuntimeError(f"{path} warm-up failed: {bad}")
        rows = []
        for clients in LEVELS:
            for path, make in makers.items():  # the paths in turn at each level
                got = run_level(make, [qs.pop() for _ in range(requests)], clients)
                row = {"path": path, "route": PATHS[path], "clients": clients,
                       **level_stats(got)}  # fmt: skip
                rows.append(row)
                print(f"  {path:10s} ×{clients:<2d}: {row['rps']:7.1f} req/s, p50 "
                      f"{row['p50_ms']:7.1f} ms, p95 {row['p95_ms']:7.1f} ms, errors "
                      f"{row['errors']}", flush=True)  # fmt: skip
        peaks = {"serve": server_peak_mb(api.pid), "ui": server_peak_mb(page.pid)}
    except BaseException:
        for name in ("serve.log", "ui.log"):
            print(f"--- {name} (end) ---\n{tail(work / name)}", file=sys.stderr)
        raise
    finally:
        for p in procs:
            stop(p)

    page_rps = {r["clients"]: r["rps"] for r in rows if r["path"] == "page"}
    for r in rows:
        base = page_rps.get(r["clients"])
        r["vs_page"] = round(r["rps"] / base, 2) if base else None
    at = {(r["path"], r["clients"]): r for r in rows}
    ratio = at[("api search", GOAL_RATIO_CLIENTS)]["vs_page"]
    p50 = at[("api search", 1)]["p50_ms"]
    return {
        "benchmark": "serve",
        "levels": list(LEVELS),
        "requests_per_level": requests,
        "k": K,
        "store": {"target_chunks": chunks, **store_info},
        "rows": rows,
        "goals": {
            "ratio": {"clients": GOAL_RATIO_CLIENTS, "target": GOAL_RATIO, "value": ratio,
                      "met": ratio is not None and ratio >= GOAL_RATIO},
            "p50": {"clients": 1, "target_ms": GOAL_P50_MS, "value_ms": p50,
                    "met": p50 <= GOAL_P50_MS, "at_chunks": store_info["chunks"],
                    "goal_chunks": GOAL_CHUNKS},
        },
        "server": {"serve_start_s": round(api_start_s, 2), "ui_start_s": round(page_start_s, 2),
                   "peak_rss_mb": peaks},
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "notes": [
            f"embedder {EMBEDDER} (ingest and both servers): Chinese chunks are BM25-only "
            "and Chinese questions skip the dense search; see p50_en_ms / p50_zh_ms",
            "requests/s: answered requests from the first sent to the last answered; "
            "latency: one request, connection or session already open",
            "clients are threads of the benchmark process, on the same cores as the servers",
            f"api search returns k={K} passages; api chat (ragmix-search) and the page return "
            "retrieval.max_passages (12), rendered as text or HTML",
        ],
    }  # fmt: skip


def report(data: dict[str, Any]) -> None:
    headers = ["path", "clients", "n", "errors", "req/s", "p50 ms", "p95 ms", "req/s ÷ page",
               "server p50 ms"]  # fmt: skip
    table = [
        [r["path"], r["clients"], r["n"], r["errors"], r["rps"], r["p50_ms"], r["p95_ms"],
         f"{r['vs_page']:.2f}×" if r["vs_page"] is not None else "-",
         "-" if r["server_p50_ms"] is None else r["server_p50_ms"]]
        for r in data["rows"]
    ]  # fmt: skip
    st = data["store"]
    title = (
        f"Search through `ragmix serve` and the page: {st['chunks']:,} chunks "
        f"({st['files']} files, {st['embedder']}), {data['requests_per_level']} requests per "
        f"path and client count"
    )
    print_table(headers, table, title=title)
    print("server p50: the search alone as the server timed it (ragmix.search_s, or "
          "timings.retrieve_s of the chat answer); the page does not report it")  # fmt: skip
    errors = Counter(m for r in data["rows"] for m in r["error_messages"])
    if errors:
        print(f"\n{sum(errors.values())} failed requests:")
        for msg, n in errors.most_common():
            print(f"  {n:4d} × {msg}")
    g = data["goals"]
    r, p = g["ratio"], g["p50"]
    print(
        f"\ngoal: API searches/s ≥ {r['target']:g}× the page's at {r['clients']} clients: "
        f"{r['value']}× — {'met' if r['met'] else 'NOT met'}"
    )
    size_note = "" if p["at_chunks"] >= p["goal_chunks"] * 0.9 else (
        f" (this store has {p['at_chunks']:,} chunks; the goal is for {p['goal_chunks']:,})"
    )  # fmt: skip
    print(
        f"goal: API search p50 ≤ {p['target_ms']:g} ms at 1 client: {p['value_ms']} ms — "
        f"{'met' if p['met'] else 'NOT met'}{size_note}"
    )
    built = "cached" if st["cached"] else "built now"
    srv = data["server"]
    print(f"store: {built}, ingest took {st['ingest_s']} s; servers started in "
          f"{srv['serve_start_s']} s (serve) and {srv['ui_start_s']} s (ui); peak RSS "
          f"{srv['peak_rss_mb']}")  # fmt: skip


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        for i, path in enumerate(PATHS):
            rows = [r for r in data["rows"] if r["path"] == path]
            xs = [r["clients"] for r in rows]
            left.plot(xs, [r["rps"] for r in rows], "o-", color=f"C{i}", label=path)
            right.plot(xs, [r["p50_ms"] for r in rows], "o-", color=f"C{i}", label=f"{path} p50")
            right.plot(xs, [r["p95_ms"] for r in rows], ":", color=f"C{i}", label=f"{path} p95")
        right.axhline(GOAL_P50_MS, color="grey", lw=0.8, ls="--", label="goal p50, 1 client")
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(LEVELS), [str(c) for c in LEVELS])
            ax.set_xlabel("concurrent clients")
            ax.grid(alpha=0.3)
        left.set_ylabel("searches per second")
        left.set_title(f"Throughput, {data['store']['chunks']:,} chunks", fontsize=10)
        right.set_yscale("log")
        right.set_ylabel("ms per search (log)")
        right.set_title("Latency per request", fontsize=10)
        left.legend(fontsize=8)
        right.legend(fontsize=7, ncol=2)

    return save_plot(name, draw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="~2,000 chunks, 40 requests per level")
    ap.add_argument("--chunks", type=int, default=None, help="store size (default 20000)")
    ap.add_argument("--requests", type=int, default=None, help="per path and level (default 200)")
    args = ap.parse_args(argv)
    chunks = args.chunks or (2_000 if args.quick else 20_000)
    requests = args.requests or (40 if args.quick else 200)
    if requests < max(LEVELS):
        ap.error(f"--requests must be at least {max(LEVELS)} (one per client)")
    name = "serve_quick" if args.quick else "serve"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ragmix-serve-") as tmp:
        data = bench(chunks, requests, Path(tmp))
    data["quick"] = args.quick
    data["wall_s"] = round(time.perf_counter() - t0, 1)
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    return 1 if any(r["errors"] for r in data["rows"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
