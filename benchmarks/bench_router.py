"""Router economy: prompt tokens and time of `auto` against always-stuff and always-retrieve.

A mixed question set over short and long documents (the bundled samples plus a long generated
report that does not fit the default 8K window). Each strategy runs in its own process with a
fresh model, so no strategy profits from another's KV cache; within a strategy, questions run
in the same order, as a user would ask them.

    python benchmarks/bench_router.py [--quick] [--max-tokens 48]

Prints a table and writes benchmarks/results/router.json and router.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

QUESTIONS = [
    ("lumen-x2-manual.md", "How long is the warranty?"),
    ("lumen-x2-manual.md", "What does a red indicator mean?"),
    ("jiangnan-annual-report-2025.txt", "公司 2025 年的营业收入是多少？"),
    ("jiangnan-annual-report-2025.txt", "请总结这份年报的主要内容。"),
    ("long-minutes.txt", "Which supplier delivered item 117?"),
    ("long-minutes.txt", "What budget line was approved for item 42?"),
]


def long_minutes(n: int = 400) -> str:
    return "\n\n".join(
        f"Item {i}. The committee reviewed item {i} and approved budget line {i * 7}. "
        f"Supplier {i % 17} delivered item {i} in week {i % 52}; the note for item {i} asks for "
        f"a follow-up by team {i % 5}."
        for i in range(n)
    )


def worker(store: str, strategy: str, max_tokens: int, quick: bool) -> None:
    from ragmix import RagMix

    rm = RagMix.from_config(
        None, store={"path": store}, llm={"max_tokens": max_tokens}, router={"self_route": False}
    )
    rows = []
    questions = QUESTIONS[::2] if quick else QUESTIONS
    for doc, q in questions:
        t0 = time.perf_counter()
        ans = rm.ask(q, docs=[doc], mode=strategy)
        rows.append(
            {
                "doc": doc,
                "question": q,
                "route": ans.route,
                "prompt": ans.tokens["prompt"],
                "scope": ans.tokens["scope"],
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    print(json.dumps(rows, ensure_ascii=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="half the questions")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--worker", nargs=2, metavar=("STORE", "STRATEGY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.max_tokens, args.quick)
        return

    from ragmix import RagMix

    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for f in (ROOT / "samples").iterdir():
            (docs / f.name).write_bytes(f.read_bytes())
        (docs / "long-minutes.txt").write_text(long_minutes(), encoding="utf-8")
        store = str(Path(tmp) / "store")
        RagMix.from_config(None, store={"path": store}).ingest(docs)
        results = {}
        for strategy in ("auto", "stuff", "retrieve"):
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                store,
                strategy,
                "--max-tokens",
                str(args.max_tokens),
            ] + (["--quick"] if args.quick else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[strategy] = json.loads(out.stdout.strip().splitlines()[-1])

    totals = {
        s: {
            "prompt_tokens": sum(r["prompt"] for r in rows),
            "seconds": round(sum(r["seconds"] for r in rows), 1),
            "routes": [r["route"] for r in rows],
        }
        for s, rows in results.items()
    }
    base = totals["stuff"]
    print(
        f"{'strategy':<10}{'prompt tokens':>15}{'seconds':>10}{'tokens vs stuff':>17}"
        f"{'time vs stuff':>15}  routes"
    )
    for s, t in totals.items():
        print(
            f"{s:<10}{t['prompt_tokens']:>15,}{t['seconds']:>10.1f}"
            f"{t['prompt_tokens'] / base['prompt_tokens']:>17.2f}"
            f"{t['seconds'] / base['seconds']:>15.2f}  {' '.join(t['routes'])}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "router.json").write_text(
        json.dumps({"totals": totals, "questions": results}, ensure_ascii=False, indent=1)
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    names = list(totals)
    axes[0].bar(names, [totals[n]["prompt_tokens"] for n in names], color="#6366f1")
    axes[0].set_title("prompt tokens (all questions)")
    axes[1].bar(names, [totals[n]["seconds"] for n in names], color="#10b981")
    axes[1].set_title("seconds (all questions)")
    fig.tight_layout()
    fig.savefig(RESULTS / "router.png", dpi=110)
    print(f"wrote {RESULTS / 'router.json'} and router.png")


if __name__ == "__main__":
    main()
