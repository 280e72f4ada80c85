"""How many passages a retrieval prompt should hold: answer F1 and first-token time against the
passage budget (number and tokens), and the concise answer style against the full one.

``ragmix eval qa --strategies retrieve`` on CMRC 2018 documents of ``--doc-tokens`` tokens (so
that retrieval has to choose), once per budget, the same questions each time; the widest
budget (12 passages, the route's whole budget) is the baseline the others are compared with.

    python benchmarks/bench_passages.py --config configs/zh-small.yaml --limit 12
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT

from ragmix.app.evaluation import run_qa_eval
from ragmix.core.settings import load_settings

DATA = ROOT.parent / "shared" / "data" / "cmrc2018" / "cmrc2018_dev.json"
BUDGETS = ((12, None), (6, 1200), (4, 800), (3, 500))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/zh-small.yaml")
    p.add_argument("--limit", type=int, default=12)
    p.add_argument("--doc-tokens", type=int, default=4000)
    p.add_argument("--styles", default="full,concise")
    p.add_argument("--budgets", default=",".join(f"{n}:{t}" for n, t in BUDGETS))
    args = p.parse_args()
    base = load_settings(config=Path(args.config))
    budgets = []
    for b in args.budgets.split(","):
        n, t = b.split(":")
        budgets.append((int(n), None if t == "None" else int(t)))
    rows: list[dict[str, Any]] = []
    for style in args.styles.split(","):
        for n, tokens in budgets:
            settings = base.model_copy(
                update={
                    "retrieval": base.retrieval.model_copy(
                        update={"max_passages": n, "max_passage_tokens": tokens}
                    ),
                    "answer": base.answer.model_copy(update={"style": style, "abstain": False}),
                }
            )
            details: list[dict[str, Any]] = []
            r = run_qa_eval(
                DATA, settings, limit=args.limit, doc_tokens=args.doc_tokens,
                per_doc=args.limit, strategies=["retrieve"], details=details,
            )  # fmt: skip
            s = r["strategies"]["retrieve"]
            f1s = [d["f1"] for d in details]
            row = {
                "style": style, "max_passages": n, "max_passage_tokens": tokens,
                "f1": s["f1"], "f1_sd": round(statistics.pstdev(f1s), 4),
                "answer_in_sources": s["answer_in_sources"], "prompt_tokens": s["prompt_tokens"],
                "first_token_s_p50": s["first_token_s_p50"], "seconds": s["seconds"],
                "f1s": f1s,
            }  # fmt: skip
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "f1s"}), flush=True)
    base_row = rows[0]
    print("\nstyle    passages  tokens  F1     Δ vs baseline (paired ± se)  prompt  first token")
    for r in rows:
        diffs = [a - b for a, b in zip(r["f1s"], base_row["f1s"], strict=True)]
        se = statistics.pstdev(diffs) / max(len(diffs), 1) ** 0.5
        ft = r["first_token_s_p50"]
        print(
            f"{r['style']:<8} {r['max_passages']:>8}  {str(r['max_passage_tokens']):>6}  "
            f"{r['f1']:.3f}  {statistics.mean(diffs):+.3f} ± {se:.3f}               "
            f"{r['prompt_tokens']:>6}  {ft if ft is None else round(ft, 1)} s "
            f"({(ft or 0) / (base_row['first_token_s_p50'] or 1):.2f}x)"
        )
    name = Path(args.config).stem
    (RESULTS / f"passages-{name}.json").write_text(
        json.dumps({"config": args.config, "doc_tokens": args.doc_tokens, "rows": rows},
                   ensure_ascii=False, indent=1),
        encoding="utf-8",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
