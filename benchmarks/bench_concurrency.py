"""Several users at once: answers/s and first-token latency with 1, 4 and 8 concurrent askers,
today's in-process model (one answer at a time, first come first served) beside llama.cpp's
``llama-server -np N --cont-batching`` behind ``llm.backend: openai`` (``llm.max_concurrent``
answers at once), on the same model, in one run.

Both paths are a real ``ragmix serve`` on loopback over the same store (the bundled samples:
an English manual and a Chinese annual report), asked through its HTTP API as a client would:
``POST /v1/chat/completions`` with model ``ragmix-retrieve`` (hybrid search, then the model
answers from the passages), streamed. Askers are threads of this process, released together;
each asks ``--rounds`` distinct questions one after another (one asker asks 8). Per path and
level: answers/s (answers from the first sent to the last done), first-token p50/p95 (from
sending to the first answer token: the wait for the model's turn included), answer p50, and the
completion tokens per second over all answers. Every answer is checked (HTTP 200, some text,
sources); failures are counted and printed.

  * ``fifo``: ``llm.backend: llama-cpp``, the model in the serve process;
  * ``server``: ``llm.backend: openai`` against ``llama-server -m <the same GGUF> -np 8
    --cont-batching -c 8×n_ctx``, ``llm.max_concurrent: 8``.

The model (``--model``): ``smollm2`` (the default profile's packaged SmolLM2-135M) or
``zh-small`` (``configs/zh-small.yaml``: the packaged Qwen2.5-Coder-0.5B, its retrieval
budget of 6 passages / 1,200 tokens). Every question reaches the model: ``answer.abstain`` is
off, since a question answered "not in your documents" without the model finishes at once on
the server path but queues behind model answers on the FIFO path, which inflates the ratio
(session 12's run: about half the answers at 4 and 8 askers). An answer that still came back
without a model token is counted in ``no model`` and left out of answers/s.

Then the hardware's own ceiling: the same llama-server asked directly, without ragmix, by
1, 4 and 8 clients at once, each request ~450 tokens of the samples and exactly 64 written
(``ignore_eos``, no prompt cache): answers/s at each level over one at a time. Where that is
~1×, as on this 2-core CPU (prompt reading and decoding are both bound by arithmetic there),
no client can get more answers/s from slots; on a GPU, where decoding one sequence leaves the
arithmetic units idle, it is several times. ``--ceiling-only`` measures just that.

Same model file, same threads (``--threads``, default 1: half the cores of this 2-core
machine, the in-process default), same answer length (``llm.max_tokens``, 64), same prompts.
The llama-server binary comes from ``make llama-server`` (or ``$RAGMIX_LLAMA_SERVER``).

Run:  .venv/bin/python benchmarks/bench_concurrency.py [--quick] [--levels 1,4,8] [--model zh-small]
Writes benchmarks/results/concurrency[-zh-small].json and .png (quick: concurrency_quick.*).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import pct, print_table, save_plot, write_json

ROOT = Path(__file__).resolve().parent.parent
MODELS = {  # --model: (llm.model_path, profile or None for the defaults)
    "smollm2": ("packaged:SmolLM2-135M-Instruct", None),
    "zh-small": ("packaged:Qwen2.5-Coder-0.5B-Instruct", "configs/zh-small.yaml"),
}
SLOTS = 8
N_CTX = 4096
MAX_TOKENS = 64
GOAL_ASKERS, GOAL_RATIO = 4, 2.0
TIMEOUT_S = 600.0

TOPICS_EN = [
    "the safety rules", "first use", "making espresso", "steaming milk", "descaling",
    "troubleshooting", "the warranty", "what the warranty does not cover", "the water tank",
    "the grind size", "the pump pressure", "cleaning the steam wand", "the drip tray",
    "how long the warranty lasts", "the brew temperature", "a weak espresso",
]  # fmt: skip
TOPICS_ZH = [
    "营业收入", "研发投入", "主要客户", "净利润", "毛利率", "员工人数", "主要产品", "风险因素",
    "现金流", "应收账款", "海外业务", "分红方案", "前五大客户的占比", "研发人员", "产能", "负债",
]  # fmt: skip


def questions(n: int) -> list[str]:
    """``n`` distinct questions, English and Chinese in turn."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            t = TOPICS_EN[(i // 2) % len(TOPICS_EN)]
            out.append(f"What does the manual say about {t}? ({i})")
        else:
            t = TOPICS_ZH[(i // 2) % len(TOPICS_ZH)]
            out.append(f"报告里关于{t}是怎么说的？（{i}）")
    return out


# -- servers --------------------------------------------------------------------------------------
def start_llama_server(work: Path, model: str, threads: int) -> Any:
    """``llama-server -np SLOTS --cont-batching`` with ``model``'s GGUF (``tests/servers``'s
    launcher); exits saying how to get the binary when there is none."""
    from tests.servers import launch_llama_cpp_server, llama_cpp_server_binary

    if llama_cpp_server_binary() is None:
        raise SystemExit("no llama-server: run `make llama-server` (or set RAGMIX_LLAMA_SERVER)")
    return launch_llama_cpp_server(
        work, "-c", str(N_CTX * SLOTS), "-np", str(SLOTS), "--cont-batching",
        "-t", str(threads), "-tb", str(threads), model=MODELS[model][0], alias="bench",
    )  # fmt: skip


# -- askers ---------------------------------------------------------------------------------------
@dataclass
class Answer:
    sent: float
    first_token: float | None
    done: float
    tokens: int
    error: str | None
    prompt_tokens: int = 0


def ask(http: Any, q: str) -> Answer:
    body = {"model": "ragmix-retrieve", "stream": True,
            "messages": [{"role": "user", "content": q}],
            "stream_options": {"include_usage": True}}  # fmt: skip
    t0 = time.perf_counter()
    first, text, tokens, sources, error = None, [], 0, False, None
    prompt = 0
    try:
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                r.read()
                problem = f"HTTP {r.status_code}: {r.text[:300]}"
                return Answer(t0, None, time.perf_counter(), 0, problem)
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    error = str(chunk["error"])[:300]
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                        text.append(piece)
                if chunk.get("usage"):
                    tokens = int(chunk["usage"].get("completion_tokens") or 0)
                    prompt = int(chunk["usage"].get("prompt_tokens") or 0)
                if (chunk.get("ragmix") or {}).get("sources"):
                    sources = True
    except Exception as exc:  # noqa: BLE001 - counted and printed, never hidden
        error = f"{type(exc).__name__}: {exc}"
    if error is None and not "".join(text).strip():
        error = "no answer text"
    elif error is None and not sources:
        error = "no sources"
    return Answer(t0, first, time.perf_counter(), tokens, error, prompt)


def together(askers: int, work: Callable[[int, threading.Barrier], None]) -> float:
    """``askers`` threads running ``work(i, start)``, each waiting at ``start`` once it is
    ready so all begin together; the seconds until the last is done."""
    start = threading.Barrier(askers)
    threads = [threading.Thread(target=work, args=(i, start)) for i in range(askers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run_level(url: str, askers: int, rounds: int, qs: list[str]) -> list[Answer]:
    import httpx

    out: list[Answer] = []
    lock = threading.Lock()

    def asker(i: int, start: threading.Barrier) -> None:
        with httpx.Client(base_url=url, timeout=TIMEOUT_S) as http:
            http.get("/health").raise_for_status()
            start.wait()
            for q in qs[i * rounds : (i + 1) * rounds]:
                a = ask(http, q)
                with lock:
                    out.append(a)

    together(askers, asker)
    return out


def stats(answers: list[Answer]) -> dict[str, Any]:
    done = [a for a in answers if a.error is None]
    good = [a for a in done if a.tokens > 0]  # written by the model
    span = max(a.done for a in answers) - min(a.sent for a in answers)
    ttft = [a.first_token - a.sent for a in good if a.first_token is not None]
    total = [a.done - a.sent for a in good]
    toks = sum(a.tokens for a in good)
    return {
        "answers": len(answers),
        "errors": len(answers) - len(done),
        "no_model": len(done) - len(good),
        "answers_per_s": round(len(good) / span, 3) if span > 0 else 0.0,
        "first_token_p50_s": round(pct(ttft, 50), 2) if ttft else None,
        "first_token_p95_s": round(pct(ttft, 95), 2) if ttft else None,
        "answer_p50_s": round(pct(total, 50), 2) if total else None,
        "completion_tokens_per_s": round(toks / span, 1) if span > 0 else 0.0,
        "mean_completion_tokens": round(toks / max(len(good), 1), 1),
        "mean_prompt_tokens": round(sum(a.prompt_tokens for a in good) / max(len(good), 1)),
        "wall_s": round(span, 1),
        "error_samples": [a.error for a in answers if a.error][:3],
    }


def raw_scaling(base: str, levels: list[int], rounds: int) -> list[dict[str, Any]]:
    """The hardware's own ceiling: ``llama-server`` asked directly (no ragmix), the same
    levels, each request a distinct ~450-token slice of the samples and exactly
    ``MAX_TOKENS`` tokens written (``ignore_eos``, no prompt cache), so every level does
    the same work per answer; answers/s at each level over one at a time."""
    import httpx

    text = (
        (ROOT / "samples" / "lumen-x2-manual.md").read_text(encoding="utf-8")
        + "\n"
        + (ROOT / "samples" / "jiangnan-annual-report-2025.txt").read_bytes().decode("gb18030")
    )  # the sample report is GBK, as many users' files are
    body = {"max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True, "cache_prompt": False}

    def one(http: Any, i: int) -> None:
        start = (i * 97) % max(len(text) - 1500, 1)
        msg = f"Request {i}. Summarise:\n{text[start : start + 1500]}"
        r = http.post("/v1/chat/completions",
                      json={**body, "messages": [{"role": "user", "content": msg}]})  # fmt: skip
        r.raise_for_status()

    out: list[dict[str, Any]] = []
    counter = iter(range(10**6))
    for askers in levels:
        r = max(rounds, 8) if askers == 1 else rounds

        def asker(_i: int, start: threading.Barrier, r: int = r) -> None:
            with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
                start.wait()
                for _ in range(r):
                    one(http, next(counter))

        rate = askers * r / together(askers, asker)
        out.append({"askers": askers, "answers_per_s": round(rate, 3)})
    for row in out:
        row["vs_one_at_a_time"] = round(row["answers_per_s"] / out[0]["answers_per_s"], 2)
        print(f"  llama-server alone ×{row['askers']}: {row['answers_per_s']:.2f} answers/s, "
              f"{row['vs_one_at_a_time']}× one at a time", flush=True)  # fmt: skip
    return out


# -- the run --------------------------------------------------------------------------------------
def bench(levels: list[int], rounds: int, threads: int, model: str, work: Path) -> dict[str, Any]:
    from ragmix.models.llm import resolve_gguf
    from tests.servers import llama_cpp_server_binary
    from tests.webclient import free_port, start_serve, stop

    model_path, profile = MODELS[model]
    gguf = resolve_gguf(model_path)
    store = work / "store"
    ragmix = Path(sys.executable).parent / "ragmix"
    base_env = {"RAGMIX_LLM__MAX_TOKENS": str(MAX_TOKENS), "RAGMIX_LLM__N_CTX": str(N_CTX),
                "RAGMIX_LLM__N_THREADS": str(threads), "RAGMIX_LLM__MODEL_PATH": model_path,
                "RAGMIX_EMBEDDINGS__THREADS": "1", "RAGMIX_ANSWER__ABSTAIN": "false"}  # fmt: skip
    if profile:
        base_env["RAGMIX_CONFIG"] = str(ROOT / profile)
    subprocess.run([str(ragmix), "ingest", str(ROOT / "samples"), "--store", str(store)],
                   check=True, capture_output=True, env={**os.environ, **base_env})  # fmt: skip
    n_q = sum(max(a * rounds, 8 if a == 1 else 0) for a in levels) + 2
    qs = questions(n_q)
    paths: dict[str, dict[str, str]] = {
        "fifo": {"RAGMIX_LLM__BACKEND": "llama-cpp"},
        "server": {
            "RAGMIX_LLM__BACKEND": "openai",
            "RAGMIX_LLM__MODEL": "bench",
            "RAGMIX_LLM__MAX_CONCURRENT": str(SLOTS),
        },  # fmt: skip
    }
    rows: list[dict[str, Any]] = []
    ceiling: list[dict[str, Any]] = []
    llama = None
    try:
        llama = start_llama_server(work, model, threads)
        paths["server"]["RAGMIX_LLM__BASE_URL"] = f"{llama.url}/v1"
        for path, env in paths.items():
            proc, url = start_serve(store, free_port(), env={**base_env, **env},
                                    log=work / f"serve-{path}.log")  # fmt: skip
            try:
                warm = run_level(url, 1, 2, questions(2))  # the model loaded, caches warm
                if any(a.error for a in warm):
                    raise RuntimeError(f"{path} warm-up failed: {[a.error for a in warm]}")
                used = 0
                for askers in levels:
                    r = max(rounds, 8) if askers == 1 else rounds
                    mine = qs[used : used + askers * r]
                    used += askers * r
                    row = {"path": path, "askers": askers, **stats(run_level(url, askers, r, mine))}
                    rows.append(row)
                    print(f"  {path:6s} ×{askers}: {row['answers_per_s']:.2f} answers/s, first "
                          f"token p50 {row['first_token_p50_s']} s p95 {row['first_token_p95_s']}"
                          f" s, {row['completion_tokens_per_s']} tok/s, errors {row['errors']}, "
                          f"no model {row['no_model']}", flush=True)  # fmt: skip
            finally:
                stop(proc)
        try:
            ceiling = raw_scaling(llama.url, levels, rounds)
        except Exception as exc:  # noqa: BLE001 - the rows above are kept; said in the output
            print(f"  llama-server alone failed: {type(exc).__name__}: {exc}", flush=True)
            ceiling = []
    finally:
        if llama is not None:
            llama.stop()
    fifo = {r["askers"]: r for r in rows if r["path"] == "fifo"}
    for r in rows:
        base = fifo.get(r["askers"])
        r["answers_per_s_vs_fifo"] = (
            round(r["answers_per_s"] / base["answers_per_s"], 2)
            if base and base["answers_per_s"] else None
        )  # fmt: skip
    goal = next((r for r in rows if r["path"] == "server" and r["askers"] == GOAL_ASKERS), None)
    value = goal["answers_per_s_vs_fifo"] if goal else None
    return {
        "benchmark": "concurrency",
        "levels": levels,
        "rows": rows,
        "llama_server_alone": ceiling,
        "goal": {
            "askers": GOAL_ASKERS,
            "target_ratio": GOAL_RATIO,
            "ratio": value,
            "met": value is not None
            and value >= GOAL_RATIO
            and not any(r["no_model"] or r["errors"] for r in rows),
        },  # fmt: skip
        "setup": {
            "model": model_path,
            "profile": profile or "defaults",
            "abstain": False,
            "gguf": gguf.name,
            "threads": threads,
            "n_ctx": N_CTX,
            "slots": SLOTS,
            "max_tokens": MAX_TOKENS,
            "llama_server": llama_cpp_server_binary(),
            "store": "samples/ (2 documents)",
            "mode": "ragmix-retrieve, streamed",
        },  # fmt: skip
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }


def report(data: dict[str, Any]) -> None:
    print_table(
        ["path", "askers", "answers", "errors", "no model", "answers/s", "× fifo",
         "1st token p50 s", "1st token p95 s", "answer p50 s", "tokens/s", "prompt tok"],
        [[r["path"], r["askers"], r["answers"], r["errors"], r.get("no_model", "-"),
          r["answers_per_s"],
          r["answers_per_s_vs_fifo"], r["first_token_p50_s"], r["first_token_p95_s"],
          r["answer_p50_s"], r["completion_tokens_per_s"], r.get("mean_prompt_tokens", "-")]
         for r in data["rows"]],
        title=f"Concurrent askers through `ragmix serve` ({data['setup']['model']}, "
        f"{data['setup']['threads']} thread(s), {data['setup']['max_tokens']}-token answers)",
    )  # fmt: skip
    for r in data["rows"]:
        if r["error_samples"]:
            print(f"  {r['path']} ×{r['askers']} errors: {r['error_samples']}")
    for row in data.get("llama_server_alone", []):
        print(
            f"llama-server alone, {row['askers']} at once: {row['answers_per_s']} answers/s, "
            f"{row['vs_one_at_a_time']}× one at a time (the batching this hardware gives)"
        )
    g = data["goal"]
    print(f"answers/s at {g['askers']} askers, server over fifo: {g['ratio']}× "
          f"(target ≥ {g['target_ratio']}×): {'met' if g['met'] else 'NOT met'}")  # fmt: skip


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        for i, path in enumerate(("fifo", "server")):
            rows = [r for r in data["rows"] if r["path"] == path]
            xs = [r["askers"] for r in rows]
            ax1.plot(xs, [r["answers_per_s"] for r in rows], "o-", color=f"C{i}", label=path)
            ax2.plot(xs, [r["first_token_p50_s"] for r in rows], "o-", color=f"C{i}",
                     label=f"{path} p50")  # fmt: skip
            ax2.plot(xs, [r["first_token_p95_s"] for r in rows], "s--", color=f"C{i}",
                     label=f"{path} p95")  # fmt: skip
        ax1.set_xlabel("concurrent askers")
        ax1.set_ylabel("answers/s")
        ax1.legend()
        ax2.set_xlabel("concurrent askers")
        ax2.set_ylabel("first token, s")
        ax2.legend(fontsize=7)
        fig.suptitle("In-process FIFO vs llama-server -np 8 --cont-batching (same model)")

    return save_plot(name, draw)


def ceiling_only(levels: list[int], rounds: int, threads: int, model: str) -> int:
    """``--ceiling-only``: :func:`raw_scaling` on a fresh llama-server; writes
    ``concurrency_ceiling-<model>.json``."""
    with tempfile.TemporaryDirectory(prefix="ragmix-ceiling-") as tmp:
        llama = start_llama_server(Path(tmp), model, threads)
        try:
            rows = raw_scaling(llama.url, levels, rounds)
        finally:
            llama.stop()
    machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    data = {"benchmark": "concurrency_ceiling", "model": MODELS[model][0], "threads": threads,
            "slots": SLOTS, "max_tokens": MAX_TOKENS, "llama_server_alone": rows,
            "machine": machine}  # fmt: skip
    print(f"wrote {write_json(f'concurrency_ceiling-{model}', data)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="levels 1 and 4, one round each")
    ap.add_argument("--levels", default=None, help="comma-separated asker counts (1,4,8)")
    ap.add_argument("--rounds", type=int, default=None, help="questions per asker (3)")
    ap.add_argument("--threads", type=int, default=1, help="model threads, both paths (1)")
    ap.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="smollm2",
        help="smollm2 (default profile) or zh-small (Qwen2.5-0.5B, its profile)",
    )
    ap.add_argument("--ceiling-only", action="store_true",
                    help="only llama-server asked directly: what batching gives on this "
                    "hardware")  # fmt: skip
    args = ap.parse_args(argv)
    levels = ([int(x) for x in args.levels.split(",")] if args.levels
              else [1, 4] if args.quick else [1, 4, 8])  # fmt: skip
    rounds = args.rounds or (1 if args.quick else 3)
    if args.ceiling_only:
        return ceiling_only(levels, rounds, args.threads, args.model)
    name = "concurrency_quick" if args.quick else "concurrency"
    if args.model != "smollm2":
        name += f"-{args.model}"
    work = Path(tempfile.mkdtemp(prefix="ragmix-concurrency-"))
    try:
        data = bench(levels, rounds, args.threads, args.model, work)
    except BaseException:
        print(f"logs kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
