"""Time to first token of follow-up questions on long documents, per saved-state cache.

Sequence per cache kind, each on a fresh KV cache, with the packaged SmolLM2 (n_ctx 8192):

    q1: doc A, question 1      (reads the whole document)
    q2: doc A, question 2      (same document: live KV prefix reuse)
    --  doc B, question 1      (another document in between)
    q3: doc A, question 3      (needs the saved state of doc A)

Ratios q2/q1 and q3/q1 are compared with the target (<= 0.05). Cache kinds: 'prefix'
(ragmix's PromptStateCache, the default), 'llama-ram' (llama-cpp-python's LlamaRAMCache),
'off' (live KV cache only). Writes benchmarks/results/followup.json.

Run: .venv/bin/python benchmarks/bench_followup.py [--tokens 4000] [--kinds prefix,llama-ram,off]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

from ragmix.core.settings import LlmSettings
from ragmix.models.llm import LlamaCppChat, set_state_cache

TARGET = 0.05
SYSTEM = "Answer the question using only the document. Answer in one short sentence."
NAMES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Juniper", "Larch"]
THINGS = ["bridge", "library", "harbour", "museum", "school", "mill", "tower", "market"]


def make_document(chat: LlamaCppChat, seed: int, n_tokens: int) -> str:
    """A synthetic town report of about ``n_tokens`` model tokens."""
    rng = random.Random(seed)
    town = f"{rng.choice(NAMES)}ford-{seed}"
    lines = [f"Annual report of the town of {town}."]
    while chat.count_tokens("\n".join(lines)) < n_tokens:
        lines.append(
            f"In {rng.randint(1850, 2020)} the {rng.choice(THINGS)} of {rng.choice(NAMES)} street "
            f"was rebuilt by {rng.randint(3, 400)} workers for {rng.randint(1, 900)} thousand "
            f"crowns, and the council of {town} recorded {rng.randint(2, 80)} complaints."
        )
    return "\n".join(lines[:-1])


def ask(chat: LlamaCppChat, doc: str, question: str) -> dict[str, float]:
    messages = [SystemMessage(SYSTEM), HumanMessage(f"Document:\n{doc}\n\nQuestion: {question}")]
    msg = chat.invoke(messages)
    return {
        "ttft_s": msg.response_metadata["ttft_s"],
        "total_s": msg.response_metadata["total_s"],
        "prompt_tokens": msg.usage_metadata["input_tokens"],
    }


def run_kind(chat: LlamaCppChat, kind: str, doc_a: str, doc_b: str, cache_mb: int) -> dict:
    set_state_cache(chat, kind, cache_mb)  # also empties the live KV cache
    q1 = ask(chat, doc_a, "How many complaints were recorded in the first year listed?")
    q2 = ask(chat, doc_a, "Which street had its bridge rebuilt?")
    other = ask(chat, doc_b, "How many workers rebuilt the library?")
    q3 = ask(chat, doc_a, "What was rebuilt by the most workers?")
    cache = chat.llama().cache
    entries = getattr(cache, "entries", None)
    if entries is None and cache is not None:  # LlamaRAMCache: (tokens, state bytes counted)
        entries = [(len(k), v.llama_state_size) for k, v in cache.cache_state.items()]
        # Bytes it holds but does not count: the logits copy in every state.
        hidden = sum(v.scores.nbytes for v in cache.cache_state.values())
    else:
        hidden = 0
    return {
        "kind": kind,
        "q1": q1, "q2": q2, "other_doc": other, "q3": q3,
        "ratio_q2": q2["ttft_s"] / q1["ttft_s"],
        "ratio_q3": q3["ttft_s"] / q1["ttft_s"],
        "cache_entries_tokens_bytes": entries or [],
        "cache_bytes_counted": sum(b for _, b in entries or []),
        "cache_bytes_uncounted": hidden,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4000, help="document size in tokens")
    parser.add_argument("--kinds", default="prefix,llama-ram,off")
    parser.add_argument("--cache-mb", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "followup.json"))
    args = parser.parse_args(argv)

    settings = LlmSettings(
        n_ctx=8192, max_tokens=24, temperature=0.0, state_cache_mb=args.cache_mb,
        n_threads=args.threads,
    )  # fmt: skip
    chat = LlamaCppChat(settings=settings)
    t0 = time.perf_counter()
    chat.llama()
    load_s = time.perf_counter() - t0
    doc_a, doc_b = make_document(chat, 1, args.tokens), make_document(chat, 2, args.tokens)
    runs = [run_kind(chat, k, doc_a, doc_b, args.cache_mb) for k in args.kinds.split(",")]

    print(f"SmolLM2-135M Q4_1, n_ctx 8192, n_batch {settings.n_batch}, load {load_s:.2f} s, "
          f"documents {chat.count_tokens(doc_a)} / {chat.count_tokens(doc_b)} tokens")  # fmt: skip
    head = f"{'cache':<10}{'q1 s':>8}{'q2 s':>8}{'q3 s':>8}{'q2/q1':>8}{'q3/q1':>8}  target"
    print(head)
    print("-" * len(head) + "------")
    for r in runs:
        ok = "ok" if max(r["ratio_q2"], r["ratio_q3"]) <= TARGET else "MISS"
        print(
            f"{r['kind']:<10}{r['q1']['ttft_s']:>8.2f}{r['q2']['ttft_s']:>8.2f}"
            f"{r['q3']['ttft_s']:>8.2f}{r['ratio_q2']:>8.3f}{r['ratio_q3']:>8.3f}  "
            f"<= {TARGET} {ok}"
        )
    for r in runs:
        mb = r["cache_bytes_counted"] / 2**20
        hidden = r["cache_bytes_uncounted"] / 2**20
        print(f"{r['kind']:<10}saved states {len(r['cache_entries_tokens_bytes'])}, "
              f"{mb:.1f} MB counted, {hidden:.1f} MB more not counted (logits copies)")  # fmt: skip

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "model": settings.model_path, "n_ctx": settings.n_ctx, "n_batch": settings.n_batch,
        "threads": settings.n_threads, "load_avg_1m": os.getloadavg()[0],
        "doc_tokens": [chat.count_tokens(doc_a), chat.count_tokens(doc_b)],
        "load_s": load_s, "target_ratio": TARGET, "runs": runs,
    }  # fmt: skip
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png').name}")
    return 0


def plot(result: dict, path: Path) -> None:
    """Time to first token of each question, per saved-state cache (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [("q1", "q1: doc A"), ("q2", "q2: doc A again"), ("other_doc", "doc B"),
             ("q3", "q3: doc A after B")]  # fmt: skip
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    width = 0.8 / max(len(result["runs"]), 1)
    for i, run in enumerate(result["runs"]):
        xs = [j + i * width for j in range(len(steps))]
        ax.bar(xs, [run[k]["ttft_s"] for k, _ in steps], width, label=run["kind"])
    ax.set_xticks([j + width * (len(result["runs"]) - 1) / 2 for j in range(len(steps))])
    ax.set_xticklabels([label for _, label in steps])
    ax.set_yscale("log")
    ax.set_ylabel("time to first token (s)")
    ax.set_title(f"follow-up questions, {result['doc_tokens'][0]:,}-token documents")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
