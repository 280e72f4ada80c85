"""``ragmix eval trust``: does ragmix say "not in your documents" when they do not tell, and
still answer when they do?

From a SQuAD-format set (CMRC 2018, DRCD, SQuAD), each question is asked twice, through the
same ``RagMix.ask`` users get:

* of its **own** document (the context that holds the answer): it should be answered, hold
  the gold answer and not be marked;
* of a **related** document that does not hold the answer: ``distractors`` other contexts of
  the set that share the most (rare) words with the question and contain none of its gold
  answers, joined with blank lines. The answer should be marked ``unsupported``/``no_answer``
  (or say the documents do not tell, which is ``no_answer``).

Reported: the rejection rate on the related documents, accuracy (gold held and not marked),
F1 and the false-alarm rate (marked) on the own documents, the verdict mix of each, and
seconds. One question per context, in the file's order (``limit`` of them).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragmix.app.evaluation import (
    ProgressFn,
    Question,
    SquadSet,
    _close,
    _normal,
    _p50,
    build_store,
    load_squad,
    score_answer,
)
from ragmix.core.errors import RagmixError
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language, lexical_tokens

#: Verdicts that tell the reader not to trust the answer.
MARKED = frozenset({"unsupported", "no_answer"})


@dataclass(frozen=True)
class TrustCase:
    """One question, the name of its own document and of a related one without its answer."""

    question: Question
    own: str
    related: str


def _related_contexts(squad: SquadSet, q: Question, k: int, df: Counter[str]) -> list[int]:
    """The ``k`` contexts (not ``q``'s own, holding none of its answers) that share the most
    IDF-weighted words with the question."""
    n = len(squad.contexts)
    terms = set(lexical_tokens(q.question))
    weight = {t: math.log(1 + n / (1 + df[t])) for t in terms}
    golds = [_normal(a) for a in q.answers if _normal(a)]
    scored = []
    for ci, context in enumerate(squad.contexts):
        if ci == q.context:
            continue
        if any(g in _normal(context) for g in golds):
            continue
        lowered = context.lower()
        score = sum(w for t, w in weight.items() if t in lowered)
        scored.append((score, ci))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [ci for _, ci in scored[:k]]


def trust_cases(
    squad: SquadSet, limit: int, distractors: int
) -> tuple[list[TrustCase], dict[str, str]]:
    """The cases and the documents they ask (name -> text)."""
    if distractors < 1:
        raise RagmixError(f"--distractors must be at least 1, not {distractors}")
    df: Counter[str] = Counter()
    for context in squad.contexts:
        df.update(set(lexical_tokens(context)))
    seen: set[int] = set()
    cases: list[TrustCase] = []
    texts: dict[str, str] = {}
    for q in squad.questions:
        if len(cases) >= limit:
            break
        if q.context in seen or not q.answers:
            continue
        seen.add(q.context)
        related = _related_contexts(squad, q, distractors, df)
        if not related:
            continue
        own = f"ctx{q.context:06d}.txt"
        other = f"related-{q.context:06d}.txt"
        texts[own] = squad.contexts[q.context]
        texts[other] = "\n\n".join(squad.contexts[ci] for ci in related)
        cases.append(TrustCase(q, own, other))
    if not cases:
        raise RagmixError(f"{squad.path} has no question with an answer and a related context")
    return cases, texts


def _summary(rows: Sequence[dict[str, Any]], answerable: bool) -> dict[str, Any]:
    n = len(rows) or 1
    verdicts = Counter(str(r["verdict"]) for r in rows)
    marked = sum(r["verdict"] in MARKED for r in rows)
    out: dict[str, Any] = {
        "n": len(rows),
        "verdicts": dict(verdicts),
        "first_token_s_p50": _p50([r["first_token_s"] for r in rows if r["first_token_s"]]),
        "model_called": round(sum(r["model_called"] for r in rows) / n, 4),
    }
    if answerable:
        out["accuracy"] = round(
            sum(r["holds_gold"] and r["verdict"] not in MARKED for r in rows) / n, 4
        )
        out["f1"] = round(sum(r["f1"] for r in rows) / n, 4)
        out["false_alarm"] = round(marked / n, 4)
    else:
        out["rejected"] = round(marked / n, 4)
    return out


def run_trust_eval(
    dataset: Path,
    settings: Settings,
    limit: int = 20,
    distractors: int = 3,
    mode: str | None = None,
    progress: ProgressFn | None = None,
    details: list[dict[str, Any]] | None = None,
    start: int = 0,
) -> dict[str, Any]:
    """Ask ``limit`` questions of their own document and of a related one (see the module
    docstring); ``start`` skips the first ones (to extend an earlier run).

    Returns:
        ``{"n_questions", "distractors", "mode", "answerable": {"accuracy", "f1",
        "false_alarm", "verdicts", "first_token_s_p50", "model_called"}, "unanswerable":
        {"rejected", "verdicts", ...}, "seconds"}``.
    """
    t0 = time.perf_counter()
    squad = load_squad(dataset)
    cases, texts = trust_cases(squad, limit, distractors)
    cases = cases[start:]
    rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="ragmix-trust-") as tmp:
        rm, _, _ = build_store(squad, settings, Path(tmp), progress, texts=texts)
        try:
            if progress:
                progress("questions", stage="questions", total=2 * len(cases))
            for case in cases:
                for answerable, doc in ((True, case.own), (False, case.related)):
                    q = case.question
                    a = rm.ask(q.question, [doc], mode=mode or settings.router.mode)
                    _, f1 = score_answer(a.answer, q.answers, detect_language(q.question))
                    row = {
                        "id": q.id, "question": q.question, "gold": list(q.answers),
                        "document": doc, "answerable": answerable, "answer": a.answer,
                        "verdict": a.verdict, "unsupported": a.unsupported, "route": a.route,
                        "reason": a.reason, "f1": round(f1, 4),
                        "holds_gold": any(_normal(g) in _normal(a.answer) for g in q.answers),
                        "first_token_s": a.timings.get("first_token_s"),
                        "model_called": a.tokens["prompt"] > 0,
                        "prompt_tokens": a.tokens["prompt"],
                    }  # fmt: skip
                    rows[answerable].append(row)
                    if details is not None:
                        details.append(row)
                    if progress:
                        progress("questions", stage="questions", advance=1)
        finally:
            _close(rm)
    return {
        "n_questions": len(cases),
        "distractors": distractors,
        "mode": mode or settings.router.mode,
        "answerable": _summary(rows[True], True),
        "unanswerable": _summary(rows[False], False),
        "seconds": round(time.perf_counter() - t0, 2),
    }
