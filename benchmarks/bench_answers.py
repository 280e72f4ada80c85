"""Answer quality per strategy on long Chinese documents: whole document vs retrieval vs auto.

CMRC 2018 contexts are joined into documents of 2K, 8K and 16K tokens of the answering model
(``ragmix eval qa --doc-tokens``); each question is asked about its own document with each
strategy, the questions on one document one after the other (so the kept read state works as
in real use). Each length runs in its own ``ragmix eval qa`` process with the zh profile
(Qwen2.5-Coder-0.5B-Instruct, ``make setup-zh``), and ``ragmix eval calibrate`` reads the
results to propose ``router.stuff_max_tokens``.

    python benchmarks/bench_answers.py [--config configs/zh-small.yaml] [--sizes 2000,8000,16000]
        [--per-doc 10] [--docs 2] [--set ../shared/data/cmrc2018/cmrc2018_dev.json] [--keep]

Prints a table and writes benchmarks/results/answers.json and answers.png. Slow on a CPU:
about two hours on two cores for the three lengths (8K alone ~45 minutes); ``--keep`` measures
one length and keeps the others from the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import print_table, save_plot, write_json  # noqa: E402

STRATEGIES = ("auto", "stuff", "retrieve")


def run_size(
    dataset: Path, config: Path, tokens: int, docs: int, per_doc: int, n_ctx: int, out: Path
) -> dict[str, Any]:
    """One ``ragmix eval qa`` process at one document length."""
    env = {**os.environ, "RAGMIX_LLM__N_CTX": str(n_ctx)}
    cmd = [
        sys.executable, "-m", "ragmix.cli.main", "eval", "qa", str(dataset),
        "--config", str(config), "--doc-tokens", str(tokens), "--per-doc", str(per_doc),
        "--limit", str(docs * per_doc), "--strategies", ",".join(STRATEGIES),
        "--details", str(out), "--json",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"eval qa at {tokens} tokens failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _kept(args: argparse.Namespace, sizes: list[int]) -> tuple[list[Any], list[str]]:
    """The last run's results at other lengths than ``sizes``, if it used the same set and
    config (``--keep``)."""
    last = ROOT / "benchmarks" / "results" / "answers.json"
    if not last.exists():
        return [], []
    old = json.loads(last.read_text(encoding="utf-8"))
    if (old.get("set"), old.get("config")) != (Path(args.set).name, Path(args.config).name):
        raise SystemExit(f"--keep: {last} was made with another set or config; run every length")
    results = [r for r in old["results"] if r["doc_tokens"] not in sizes]
    return results, [d for d in old["details"] if int(d.split("-")[-1].split(".")[0]) not in sizes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default=str(ROOT.parent / "shared/data/cmrc2018/cmrc2018_dev.json"))
    ap.add_argument("--config", default=str(ROOT / "configs/zh-small.yaml"))
    ap.add_argument("--sizes", default="2000,8000,16000")
    ap.add_argument("--docs", type=int, default=2, help="documents per length")
    ap.add_argument("--per-doc", type=int, default=10, help="questions per document")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the other lengths' results of the last run (same set and config): "
        "measure one length at a time",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results, details = _kept(args, sizes) if args.keep else ([], [])
    for tokens in sizes:
        n_ctx = max(8192, tokens + 4096)  # the document, the question and the answer fit
        docs = 1 if tokens >= 16000 else args.docs
        log = ROOT / "benchmarks" / "results" / f"answers-{tokens}.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        r = run_size(Path(args.set), Path(args.config), tokens, docs, args.per_doc, n_ctx, log)
        r["n_ctx"] = n_ctx
        results.append(r)
        details.append(str(log.relative_to(ROOT)))
        results.sort(key=lambda r: r["doc_tokens"])
        details.sort(key=lambda d: int(d.split("-")[-1].split(".")[0]))
        print(f"{tokens} tokens: {json.dumps(r['strategies'], ensure_ascii=False)}", flush=True)
    files = []
    for r in results:
        f = ROOT / "benchmarks" / "results" / f"answers-{r['doc_tokens']}.json"
        f.write_text(json.dumps(r), encoding="utf-8")
        files.append(str(f))
    calib = subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", "eval", "calibrate", *files, "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for f in files:
        Path(f).unlink()
    proposal = json.loads(calib)
    rows = []
    for r in results:
        for name in STRATEGIES:
            s = r["strategies"][name]
            rows.append([
                r["doc_tokens"], name, s["em"], s["f1"], s["answer_in_sources"],
                s["prompt_tokens"], s["first_token_s_p50"] or 0.0, s["seconds"],
                ", ".join(f"{k} {v}" for k, v in s["routes"].items()),
            ])  # fmt: skip
    print_table(
        ["doc tokens", "strategy", "EM", "F1", "in sources", "prompt", "first token s",
         "seconds", "routes"],
        rows,
        title=f"answers per strategy ({args.config}; {Path(args.set).name})",
    )  # fmt: skip
    print(f"\nproposed router.stuff_max_tokens: {proposal['stuff_max_tokens']}")
    write_json(
        "answers",
        {"set": Path(args.set).name, "config": Path(args.config).name, "results": results,
         "calibration": proposal, "details": details},
    )  # fmt: skip

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 2, 1)
        bx = fig.add_subplot(1, 2, 2)
        xs = [r["doc_tokens"] for r in results]
        for name in STRATEGIES:
            ax.plot(xs, [r["strategies"][name]["f1"] for r in results], marker="o", label=name)
            bx.plot(
                xs, [r["strategies"][name]["first_token_s_p50"] or 0 for r in results],
                marker="o", label=name,
            )  # fmt: skip
        ax.set(xlabel="document tokens", ylabel="F1 (CMRC scorer)", title="answer F1")
        bx.set(xlabel="document tokens", ylabel="seconds", title="first token, median")
        ax.legend()
        bx.legend()

    save_plot("answers", draw)


if __name__ == "__main__":
    main()
