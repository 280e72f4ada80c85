"""First-token time of whole-document questions across processes: prompt states on disk.

Per document size (Chinese text from CMRC 2018 trial, in SmolLM2 tokens), each row a fresh
``ragmix ask --mode stuff --json`` process unless said otherwise, with the packaged SmolLM2:

    cold                 no saved state anywhere: the document is read (the baseline)
    warm in-process      a second question in the same process (live KV cache)
    warm from disk       a new process, after an earlier one read the document and then
                         another document (the state comes from <store>/states)
    after ragmix warm    a new process, after ``ragmix warm --doc`` read it ahead

and the state's size on disk, its load time and the disk budget. Ratios are against cold.
Writes benchmarks/results/states.json and states.png.

Run: .venv/bin/python benchmarks/bench_states.py [--sizes 1000,4000,5700,8000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, print_table, save_plot, write_json  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cmrc2018" / "cmrc2018_trial.json"
N_CTX = 9216
BUDGET_MB = 2048
QUESTIONS = ["这篇文档的第一段讲了什么？", "文中提到了哪些地方？", "文中提到了哪些年份？"]


def _contexts() -> list[str]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return [p["context"] for a in data["data"] for p in a["paragraphs"]]


def make_document(tokens: int, start: int) -> str:
    """CMRC contexts joined until ``tokens`` SmolLM2 tokens (the answering model's)."""
    from ragmix.models.llm import gguf_token_counter

    count = gguf_token_counter("packaged:SmolLM2-135M-Instruct").count
    contexts, out = _contexts(), []
    i = start
    while count("\n\n".join(out)) < tokens:
        out.append(contexts[i % len(contexts)])
        i += 1
    while len(out) > 1 and count("\n\n".join(out)) > tokens * 1.04:
        out[-1] = out[-1][: len(out[-1]) * 2 // 3]
    return "\n\n".join(out)


class Runner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.profile = root / "profile.yaml"
        self.profile.write_text(
            "embeddings:\n  model: packaged:all-MiniLM-L6-v2\n"
            f"llm:\n  n_ctx: {N_CTX}\n  max_tokens: 16\n  state_disk_mb: {BUDGET_MB}\n",
            encoding="utf-8",
        )

    def ragmix(self, *args: str, env: dict[str, str] | None = None) -> Any:
        cmd = [sys.executable, "-m", "ragmix.cli.main", *args]
        cmd += ["--store", str(self.root / "store"), "--config", str(self.profile), "-v"]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done

    def ask(self, doc: str, question: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        done = self.ragmix("ask", question, "--doc", doc, "--mode", "stuff", "--json", env=env)
        out = json.loads(done.stdout)
        loaded = re.search(
            r"loaded the saved state of \d+ prompt tokens .* in ([\d.]+) s", done.stderr
        )
        out["load_s"] = float(loaded.group(1)) if loaded else None
        return out

    def in_process(self, doc: str, other: str) -> tuple[float, float]:
        """(second question's first token, after another document) in one process."""
        code = (
            "import json,sys\nfrom ragmix.app.api import RagMix\n"
            f"rm = RagMix.from_config({str(self.profile)!r}, "
            f"store={{'path': {str(self.root / 'store')!r}}})\n"
            "ask = lambda d, q: rm.ask(q, docs=[d], mode='stuff').timings['first_token_s']\n"
            f"ask({doc!r}, {QUESTIONS[0]!r}); second = ask({doc!r}, {QUESTIONS[1]!r})\n"
            f"ask({other!r}, {QUESTIONS[0]!r}); back = ask({doc!r}, {QUESTIONS[2]!r})\n"
            "print(json.dumps([second, back]))\n"
        )
        env = {**os.environ, "RAGMIX_LLM__STATE_DISK_MB": "0"}  # RAM and live KV only
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=3600,
            cwd=ROOT, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        second, back = json.loads(done.stdout.strip().splitlines()[-1])
        return second, back

    def states(self) -> list[Path]:
        return sorted((self.root / "store" / "states").glob("*/*.kv"))

    def clear_states(self) -> None:
        shutil.rmtree(self.root / "store" / "states", ignore_errors=True)


def measure(run: Runner, size: int, name: str, other: str) -> dict[str, Any]:
    run.clear_states()
    cold = run.ask(name, QUESTIONS[0])
    prompt = cold["tokens"]["prompt"]
    (state,) = run.states()
    state_bytes = state.stat().st_size
    run.ask(other, QUESTIONS[0])  # another document read in between (kept too)
    disk = run.ask(name, QUESTIONS[1])
    second, back = run.in_process(name, other)
    run.clear_states()
    t0 = time.perf_counter()
    run.ragmix("warm", "--doc", name)
    warm_s = time.perf_counter() - t0
    after_warm = run.ask(name, QUESTIONS[2])
    c = cold["timings"]["first_token_s"]
    return {
        "doc_tokens": size,
        "prompt_tokens": prompt,
        "cold_s": c,
        "in_process_s": second,
        "in_process_after_other_s": back,
        "from_disk_s": disk["timings"]["first_token_s"],
        "after_warm_s": after_warm["timings"]["first_token_s"],
        "warm_command_s": round(warm_s, 2),
        "state_mb": round(state_bytes / 2**20, 1),
        "state_kb_per_token": round(state_bytes / 1024 / prompt, 1),
        "load_s": disk["load_s"],
        "ratio_from_disk": round(disk["timings"]["first_token_s"] / c, 4),
        "ratio_after_warm": round(after_warm["timings"]["first_token_s"] / c, 4),
    }


def budget_check(run: Runner, names: list[str], budget_mb: int) -> dict[str, Any]:
    """With a budget that holds about one of the largest states, every document asked in
    turn: the folder never exceeds it, and the least recently used states are the ones gone."""
    from ragmix.models import states

    run.clear_states()
    env = {"RAGMIX_LLM__STATE_DISK_MB": str(budget_mb)}
    used = []
    for name in names:
        run.ask(name, QUESTIONS[0], env=env)
        used.append(states.usage(run.root / "store" / "states")[1])
    kept = [p.stat().st_size for p in run.states()]
    return {"budget_mb": budget_mb, "peak_mb": round(max(used) / 2**20, 1),
            "kept": len(kept), "asked": len(names)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,4000,5700,8000")
    ap.add_argument("--quick", action="store_true", help="one 800-token size (smoke run)")
    args = ap.parse_args()
    sizes = [800] if args.quick else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-states-") as tmp:
        root = Path(tmp)
        docs = root / "docs"
        docs.mkdir()
        names = []
        for i, size in enumerate(sizes):
            name = f"doc-{size}.txt"
            (docs / name).write_text(make_document(size, start=40 * i), encoding="utf-8")
            names.append(name)
        (docs / "other.txt").write_text(make_document(600, start=200), encoding="utf-8")
        run = Runner(root)
        run.ragmix("ingest", str(docs))
        rows = [
            measure(run, size, name, "other.txt") for size, name in zip(sizes, names, strict=True)
        ]
        budget_mb = max(1, int(max(r["state_mb"] for r in rows) * 1.5))
        budget = budget_check(run, names, budget_mb)
    print_table(
        ["doc tokens", "cold s", "in-process s", "after other doc s", "from disk s",
         "after warm s", "disk/cold", "state MB", "KB/token", "load s"],
        [[r["doc_tokens"], r["cold_s"], r["in_process_s"], r["in_process_after_other_s"],
          r["from_disk_s"], r["after_warm_s"], f"{r['ratio_from_disk']:.3f}",
          r["state_mb"], r["state_kb_per_token"], r["load_s"]] for r in rows],
        title="First token of a whole-document question (SmolLM2-135M, 2 cores)",
    )  # fmt: skip
    print(f"\ndisk budget {budget['budget_mb']} MB: peak use {budget['peak_mb']} MB; "
          f"{budget['kept']} of {budget['asked']} documents' states kept")  # fmt: skip
    name = "states_quick" if args.quick else "states"
    write_json(name, {"quick": args.quick, "n_ctx": N_CTX, "rows": rows, "budget": budget})

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        xs = [r["doc_tokens"] for r in rows]
        for key, label in [("cold_s", "cold (reads the document)"),
                           ("from_disk_s", "new process, state from disk"),
                           ("after_warm_s", "new process after `ragmix warm`"),
                           ("in_process_s", "same process (live KV)")]:  # fmt: skip
            ax.plot(xs, [r[key] for r in rows], marker="o", label=label)
        ax.set_xlabel("document tokens")
        ax.set_ylabel("seconds to first token")
        ax.set_yscale("log")
        ax.set_title("Whole-document question: first token (SmolLM2-135M, 2 cores)")
        ax.legend()

    save_plot(name, draw)


if __name__ == "__main__":
    main()
