"""Concurrent users of the web page: latency at N users against one user at a time.

A real ``ragmix ui`` process (default host: loopback) serves N small documents, each a pump
with an access code nobody else has. Users are ``gradio_client`` sessions in threads of this
process, sending what the page sends (``/add_question`` then ``/answer``), released together
by a barrier. Scenarios, all in one run against the same server:

  * ``solo``: every question alone, one after another: the baseline;
  * ``search``: N users at once, all search-only (no model: the server's own concurrency);
  * ``mixed``: N users at once, M of them answered by the packaged model (whole document,
    48-token answers), the rest search-only. Model answers take turns through the page's
    model gate; searches must not wait for them.

Every answer is checked (its own question, its own document first in the sources, no other
user's code); mismatches and errors are counted, never hidden. Reported per scenario and kind:
p50/p95/max seconds from pressing Enter to the final answer, the p50 ratio against ``solo``,
answers per second, and the server's peak RSS.

Run:  .venv/bin/python benchmarks/bench_load.py [--quick] [--users 8] [--model-users 2]
      [--rounds 3]
Writes benchmarks/results/load.json and load.png (quick mode: load_quick.*).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import pct, print_table, save_plot, write_json
from tests.webclient import (
    DeviceDoc,
    Job,
    Reply,
    ask,
    free_port,
    make_device_docs,
    run_users,
    start_ui,
    stop,
)

ANSWER_TOKENS = 48


def upload(url: str, folder: Path, docs: list[DeviceDoc]) -> float:
    """All documents through the page's upload event; returns seconds."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=False)
    t0 = time.perf_counter()
    report = client.predict(
        [handle_file(str(folder / d.name)) for d in docs], [], api_name="/ingest"
    )[0]
    client.close()
    if report.count("— added") != len(docs):
        raise RuntimeError(f"upload failed: {report}")
    return time.perf_counter() - t0


def jobs_for(docs: list[DeviceDoc], model_users: int) -> list[Job]:
    """Model users spread evenly among the search users."""
    n = len(docs)
    picks = {round(i * n / model_users) for i in range(model_users)} if model_users else set()
    return [Job(d, "stuff", scoped=True) if i in picks else Job(d) for i, d in enumerate(docs)]


def stats(replies: list[Reply], solo_p50: float | None = None) -> dict[str, Any]:
    s = [r.seconds for r in replies if not r.error]
    out: dict[str, Any] = {
        "n": len(replies),
        "answered": len(s),
        "errors": sum(bool(r.error) for r in replies),
        "mismatched": sum(bool(r.problems()) and not r.error for r in replies),
        "waited_for_model": sum(r.waited for r in replies),
        "p50_s": round(pct(s, 50), 3),
        "p95_s": round(pct(s, 95), 3),
        "max_s": round(max(s), 3) if s else float("nan"),
        "seconds": [round(x, 3) for x in s],
    }
    if solo_p50:
        out["p50_vs_solo"] = round(out["p50_s"] / solo_p50, 2)
    return out


def server_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def bench(users: int, model_users: int, rounds: int, work: Path) -> dict[str, Any]:
    docs = make_device_docs(work / "docs", users)
    env = {"RAGMIX_LLM__MAX_TOKENS": str(ANSWER_TOKENS)}
    t0 = time.perf_counter()
    proc, url = start_ui(work / "store", free_port(), env=env, log=work / "ui.log")
    start_s = time.perf_counter() - t0
    try:
        upload_s = upload(url, work / "docs", docs)
        for job in (Job(docs[0]), Job(docs[0], "stuff", scoped=True)):  # load both models
            warm = ask(url, job)
            if warm.problems():
                raise RuntimeError(f"warm-up failed: {warm.problems()}")
        model_docs = [j.doc for j in jobs_for(docs, model_users) if j.mode != "search"]
        solo_search = [ask(url, Job(d)) for d in docs]
        solo_model = [ask(url, Job(d, "stuff", scoped=True)) for d in model_docs]
        runs: dict[str, list[Reply]] = {"search": [], "mixed": []}
        spans: dict[str, list[float]] = {"search": [], "mixed": []}
        for r in range(rounds):
            for name, jobs in (
                ("search", [Job(d) for d in docs]),
                ("mixed", jobs_for(docs, model_users)),
            ):
                got = run_users(url, jobs, timeout_s=600)
                runs[name] += got
                # From the first question sent to the last answer received.
                spans[name].append(
                    max(g.started + g.seconds for g in got) - min(g.started for g in got)
                )
                print(f"  round {r + 1}/{rounds} {name}: {spans[name][-1]:.2f} s", flush=True)
        peak_mb = server_peak_mb(proc.pid)
    finally:
        stop(proc)

    base = {"search": stats(solo_search), "model": stats(solo_model)}
    rows = [
        {"scenario": "solo", "kind": "search", **base["search"]},
        {"scenario": "solo", "kind": "model", **base["model"]},
        {"scenario": f"search×{users}", "kind": "search",
         **stats(runs["search"], base["search"]["p50_s"])},
        {"scenario": f"mixed×{users}", "kind": "search",
         **stats([r for r in runs["mixed"] if r.job.mode == "search"], base["search"]["p50_s"])},
        {"scenario": f"mixed×{users}", "kind": "model",
         **stats([r for r in runs["mixed"] if r.job.mode != "search"], base["model"]["p50_s"])},
    ]  # fmt: skip
    return {
        "benchmark": "load",
        "users": users,
        "model_users": model_users,
        "rounds": rounds,
        "answer_tokens": ANSWER_TOKENS,
        "rows": rows,
        "answers_per_s": {
            name: round(users * rounds / sum(w), 2) for name, w in spans.items()
        },
        "server": {"start_s": round(start_s, 2), "upload_s": round(upload_s, 2),
                   "peak_rss_mb": peak_mb},
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "notes": [
            "latency: from sending the question (/add_question) to the final /answer "
            "output, per user; the client's own connection set-up is not counted",
            "clients run in threads of the benchmark process, on the same 2 cores as the "
            "server",
            "model questions: the packaged SmolLM2-135M, whole document (~40 tokens), "
            f"answers capped at {ANSWER_TOKENS} tokens",
        ],
    }  # fmt: skip


def report(data: dict[str, Any]) -> None:
    headers = ["scenario", "kind", "n", "p50 s", "p95 s", "max s", "×solo p50", "waited",
               "errors", "wrong"]  # fmt: skip
    table = [
        [r["scenario"], r["kind"], r["n"], r["p50_s"], r["p95_s"], r["max_s"],
         r.get("p50_vs_solo", "-"), r["waited_for_model"], r["errors"], r["mismatched"]]
        for r in data["rows"]
    ]  # fmt: skip
    title = (
        f"Web page under load: {data['users']} users at once ({data['model_users']} through "
        f"the model in 'mixed'), {data['rounds']} rounds"
    )
    print_table(headers, table, title=title)
    aps = data["answers_per_s"]
    srv = data["server"]
    print(
        f"\nanswers/s: search {aps['search']}, mixed {aps['mixed']}; server start "
        f"{srv['start_s']} s, upload+ingest {srv['upload_s']} s, peak RSS {srv['peak_rss_mb']} MB"
    )


def plot(data: dict[str, Any], name: str) -> Path:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        rows = data["rows"]
        labels = [f"{r['scenario']}\n{r['kind']}" for r in rows]
        colors = ["#6366f1" if r["kind"] == "search" else "#f59e0b" for r in rows]
        for i, r in enumerate(rows):
            ax.scatter([i] * len(r["seconds"]), r["seconds"], s=12, alpha=0.5, color=colors[i])
            ax.hlines(r["p50_s"], i - 0.3, i + 0.3, color="black", linewidth=2)
            ax.hlines(r["p95_s"], i - 0.3, i + 0.3, color="black", linewidth=1, linestyle="--")
        ax.set_xticks(range(len(rows)), labels)
        ax.set_yscale("log")
        from matplotlib.ticker import FormatStrFormatter

        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.set_ylabel("seconds to final answer (log)")
        ax.set_title(
            f"{data['users']} users at once on loopback: p50 (solid), p95 (dashed); "
            "blue search, orange model",
            fontsize=10,
        )
        ax.grid(axis="y", alpha=0.3)

    return save_plot(name, draw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 users, 1 through the model, 1 round")
    ap.add_argument("--users", type=int, default=None, help="users at once (default 8)")
    ap.add_argument("--model-users", type=int, default=None, help="of them, model (default 2)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per scenario (default 3)")
    args = ap.parse_args(argv)
    users = args.users or (4 if args.quick else 8)
    model_users = args.model_users if args.model_users is not None else (1 if args.quick else 2)
    rounds = args.rounds or (1 if args.quick else 3)
    if not 0 <= model_users <= users:
        ap.error("--model-users must be between 0 and --users")
    name = "load_quick" if args.quick else "load"
    with tempfile.TemporaryDirectory(prefix="ragmix-load-") as tmp:
        data = bench(users, model_users, rounds, Path(tmp))
    data["quick"] = args.quick
    report(data)
    print(f"\nwrote {write_json(name, data)}\nwrote {plot(data, name)}")
    bad = sum(r["errors"] + r["mismatched"] for r in data["rows"])
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
