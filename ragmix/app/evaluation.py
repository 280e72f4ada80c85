"""``ragmix eval``: retrieval recall and answer quality on SQuAD-format question sets.

CMRC 2018, DRCD, DuReader (in its SQuAD conversion) and SQuAD itself share one layout::

    {"data": [{"paragraphs": [{"context": "...",
                               "qas": [{"id": "...", "question": "...",
                                        "answers": [{"text": "...", "answer_start": 0}]}]}]}]}

Every distinct ``context`` becomes one ``.txt`` document in a temporary store built with the
caller's settings through the normal ingest pipeline, and every question goes through the
same ``HybridSearcher`` (retrieval eval) or the same ``RagMix.ask`` (QA eval) that users get.
Nothing is special-cased for evaluation, so the numbers describe the product.

Retrieval is scored per *document*: chunks are ranked, then deduplicated by document before
cutting at ``k`` (a hit when any chunk of the gold context is among the first ``k`` documents).

Answers are scored as the official evaluations do: Chinese by CMRC 2018's
``cmrc2018_evaluate.py`` (mixed segmentation — each Han character one unit, Latin words and
numbers one unit each — punctuation removed, F1 from the longest common substring), English
by SQuAD v1.1's (lowercase, no punctuation or articles, bag-of-words F1).

One room, though long: the retrieval and the answer evaluations share the data set reader,
the store they build and the scoring, and are run and read together.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragmix.core.errors import RagmixError
from ragmix.core.events import FileDone, FileFailed, FilesFound, IngestEvent
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language

ProgressFn = Callable[..., None]
"""Called as ``progress(event, stage=..., total=...)`` then ``progress(event, advance=1)``."""


@dataclass(frozen=True)
class Question:
    """One question with its gold answers and the index of its (deduplicated) context."""

    id: str
    question: str
    answers: tuple[str, ...]
    context: int


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD-format file: distinct contexts and the questions on them."""

    path: Path
    contexts: list[str]
    questions: list[Question]


def _format_error(path: Path, what: str) -> RagmixError:
    return RagmixError(
        f"{path} is not a SQuAD-format question set: {what}. Expected "
        '{"data": [{"paragraphs": [{"context": "...", "qas": [{"id": "...", "question": "...", '
        '"answers": [{"text": "..."}]}]}]}]} (the layout of CMRC 2018, DRCD and SQuAD)'
    )


def load_squad(path: Path, limit: int | None = None) -> SquadSet:
    """Read a SQuAD-format file.

    Identical contexts are stored once (they would be one document anyway: documents are
    identified by content). ``limit`` keeps the first ``limit`` questions but every context,
    so the retrieval task does not get easier with a smaller sample.

    Raises:
        RagmixError: the file is missing, not JSON, or lacks ``data`` / ``paragraphs`` /
            ``context`` / ``qas`` / ``question``; the message names the file and the field.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RagmixError(f"{path} does not exist; pass a SQuAD-format JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _format_error(path, f"it is not UTF-8 JSON ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise _format_error(path, 'there is no top-level "data" list')
    contexts: list[str] = []
    index: dict[str, int] = {}
    questions: list[Question] = []
    for a, article in enumerate(raw["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise _format_error(path, f'data[{a}] has no "paragraphs" list')
        for p, para in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise _format_error(path, f'{where} has no "context" string')
            if not isinstance(para.get("qas"), list):
                raise _format_error(path, f'{where} has no "qas" list')
            context = para["context"]
            if not context.strip():
                continue  # nothing to retrieve; its questions cannot be scored
            ci = index.setdefault(context, len(contexts))
            if ci == len(contexts):
                contexts.append(context)
            for q, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise _format_error(path, f'{where}.qas[{q}] has no "question" string')
                answers = tuple(
                    str(x["text"])
                    for x in qa.get("answers") or []
                    if isinstance(x, dict) and "text" in x
                )
                qid = str(qa.get("id", f"{a}-{p}-{q}"))
                questions.append(Question(qid, qa["question"], answers, ci))
    if not questions:
        raise _format_error(path, "it holds no questions")
    if limit is not None:
        questions = questions[: max(0, limit)]
    return SquadSet(path, contexts, questions)


# -- the temporary store ------------------------------------------------------------------
def _context_name(i: int) -> str:
    return f"ctx{i:06d}.txt"


def build_store(
    squad: SquadSet,
    settings: Settings,
    root: Path,
    progress: ProgressFn | None = None,
    texts: dict[str, str] | None = None,
) -> tuple[Any, list[str], float]:
    """Ingest every context of ``squad`` (or the named ``texts`` instead) into a fresh
    store under ``root``.

    Returns:
        ``(rm, gold, seconds)``: the ``RagMix`` over the store, the doc id of each context
        (by context index), and the wall-clock seconds the ingest took.

    Raises:
        RagmixError: a context could not be ingested.
    """
    from ragmix.app.api import RagMix

    docs = root / "contexts"
    docs.mkdir(parents=True)
    named = (
        texts
        if texts is not None
        else {_context_name(i): text for i, text in enumerate(squad.contexts)}
    )
    for name, text in named.items():
        (docs / name).write_text(text, encoding="utf-8")
    # A private store of the same kind (a collection of its own on a server); _close()
    # removes what it put outside the folder.
    store = RagMix(settings).store.scratch(root / "store")
    rm = RagMix(settings.model_copy(update={"store": store}))

    def on_ingest(event: IngestEvent) -> None:
        if progress is None:
            return
        if isinstance(event, FilesFound):
            progress("ingest", stage="ingest", total=event.total)
        elif isinstance(event, FileDone | FileFailed):
            progress("ingest", stage="ingest", advance=1)

    t0 = time.perf_counter()
    summary = rm.ingest(docs, progress=on_ingest)
    seconds = time.perf_counter() - t0
    if summary.failed:
        first = summary.failed[0]
        raise RagmixError(
            f"{len(summary.failed)} contexts of {squad.path} could not be ingested, e.g. "
            f"{first.path}: {first.error}"
        )
    by_name = {d.name: d.doc_id for d in rm.catalog.documents()}
    gold = [by_name[n] for n in named] if texts is None else []
    return rm, gold, seconds


def ranked_documents(passages: Sequence[Any]) -> list[str]:
    """Doc ids in the order of their best chunk (duplicates dropped)."""
    return list(dict.fromkeys(p.doc_id for p in passages))


def retrieval_metrics(
    rankings: Sequence[Sequence[str]], gold: Sequence[str], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Recall@k for each ``k`` and MRR (cut at ``max(ks)``) of document rankings.

    Example:
        >>> retrieval_metrics([["a", "b"], ["c", "a"], ["c"]], ["a", "a", "b"], ks=(1, 2))
        {'recall@1': 0.3333, 'recall@2': 0.6667, 'mrr': 0.5}
    """
    n = len(gold)
    cut = max(ks)
    hits = dict.fromkeys(ks, 0)
    rr = 0.0
    for ranking, g in zip(rankings, gold, strict=True):
        top = list(ranking[:cut])
        if g in top:
            rank = top.index(g) + 1
            rr += 1.0 / rank
            for k in ks:
                hits[k] += rank <= k
    out = {f"recall@{k}": round(hits[k] / n, 4) if n else 0.0 for k in ks}
    out["mrr"] = round(rr / n, 4) if n else 0.0
    return out


def rank_documents(
    rm: Any, squad: SquadSet, cut: int = 10, progress: ProgressFn | None = None
) -> list[list[str]]:
    """Each question through the store's searcher, as ``ask`` calls it; doc ids best first."""
    searcher = rm.searcher()
    doc_ids = rm.resolve_docs(None)  # what `ask` passes: every ready document
    # Enough chunks that ``cut`` distinct documents survive deduplication.
    depth = max(rm.settings.retrieval.candidates, 4 * cut)
    rankings: list[list[str]] = []
    if progress:
        progress("questions", stage="questions", total=len(squad.questions))
    for q in squad.questions:
        result = searcher.search(q.question, doc_ids, k=depth)
        rankings.append(ranked_documents(result.passages))
        if progress:
            progress("questions", stage="questions", advance=1)
    return rankings


def run_retrieval_eval(
    dataset: Path,
    settings: Settings,
    ks: Sequence[int] = (1, 5, 10),
    limit: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Recall@k and MRR of the store's retriever on a SQuAD-format file.

    Args:
        dataset: the question set (CMRC 2018, DRCD, SQuAD ...).
        settings: the configuration to evaluate (its store path is replaced by a temporary one).
        ks: cut-offs, in documents.
        limit: score only the first ``limit`` questions (every context is still ingested).
        progress: ``progress(event, **data)`` for a progress bar.

    Returns:
        ``{"n_contexts", "n_questions", "recall@1", "recall@5", "recall@10", "mrr",
        "seconds"}`` (one ``recall@k`` per requested ``k``).
        ``mrr`` is cut at ``max(ks)``; ``seconds`` is the whole run.

    Example:
        >>> run_retrieval_eval(Path("cmrc2018_dev.json"), load_settings())  # doctest: +SKIP
        {'n_contexts': 848, 'n_questions': 3219, 'recall@1': 0.9..., ...}
    """
    t0 = time.perf_counter()
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise RagmixError(f"k must be whole numbers of at least 1, not {ks}")
    squad = load_squad(dataset, limit)
    with tempfile.TemporaryDirectory(prefix="ragmix-eval-") as tmp:
        rm, gold, _ = build_store(squad, settings, Path(tmp), progress)
        try:
            rankings = rank_documents(rm, squad, ks[-1], progress)
        finally:
            _close(rm)
    metrics = retrieval_metrics(rankings, [gold[q.context] for q in squad.questions], ks)
    return {
        "n_contexts": len(squad.contexts),
        "n_questions": len(squad.questions),
        **metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }


STRATEGIES = ("auto", "stuff", "retrieve")


@dataclass(frozen=True)
class LongDoc:
    """Contexts joined into one document of about ``doc_tokens`` model tokens."""

    name: str
    text: str
    tokens: int
    questions: list[Question]


def long_documents(
    squad: SquadSet, count: Callable[[str], int], doc_tokens: int, n_docs: int, per_doc: int
) -> list[LongDoc]:
    """Consecutive contexts joined until each document holds ``doc_tokens`` tokens.

    Contexts are kept whole and in the file's order (neighbours are often on the same
    subject, as the sections of a report are), separated by a blank line; a document ends
    with the context that reaches ``doc_tokens``. Each document keeps ``per_doc`` of its
    questions, spread evenly over its length so that every part of it is asked about.

    Raises:
        RagmixError: the set has too few contexts for one document.
    """
    by_context: dict[int, list[Question]] = {}
    for q in squad.questions:
        by_context.setdefault(q.context, []).append(q)
    docs: list[LongDoc] = []
    parts: list[str] = []
    asked: list[Question] = []
    used = 0
    for ci, context in enumerate(squad.contexts):
        parts.append(context)
        asked.extend(by_context.get(ci, []))
        used += count(context) + 2
        if used < doc_tokens:
            continue
        text = "\n\n".join(parts)
        step = max(1, len(asked) / max(per_doc, 1))
        picked = [asked[int(i * step)] for i in range(min(per_doc, len(asked)))]
        docs.append(LongDoc(f"doc{len(docs):03d}.txt", text, count(text), picked))
        parts, asked, used = [], [], 0
        if len(docs) == n_docs:
            break
    if not docs:
        raise RagmixError(
            f"{squad.path} has too few contexts for one {doc_tokens:,}-token document; "
            "use a smaller --doc-tokens"
        )
    return docs


def _normal(text: str) -> str:
    return "".join(text.split()).lower()


def answer_in_sources(answers: Sequence[str], sources: Sequence[Any]) -> bool:
    """Whether a shown source holds a gold answer (whitespace and case aside).

    Example:
        >>> answer_in_sources(["1998年"], [{"text": "钟楼建于 1998 年。"}])
        True
    """
    shown = [_normal(str(s.get("text", ""))) for s in sources]
    return any(_normal(a) and _normal(a) in t for a in answers for t in shown)


def _p50(values: Sequence[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[len(v) // 2], 3)


def run_qa_eval(
    dataset: Path,
    settings: Settings,
    limit: int | None = None,
    progress: ProgressFn | None = None,
    *,
    doc_tokens: int | None = None,
    per_doc: int = 10,
    strategies: Sequence[str] = ("auto",),
    details: list[dict[str, Any]] | None = None,
    own_document: bool = False,
) -> dict[str, Any]:
    """Answer quality per strategy: exact match, F1 and whether the shown sources hold the
    answer, with prompt sizes and times.

    With ``doc_tokens``, contexts are joined into long documents of that many tokens of the
    answering model (:func:`long_documents`) and each question is asked about its own
    document, the questions on one document one after the other, as a person reading it
    would ask them (so the model's kept read state works as in real use). Without, every
    context is its own document and each question is asked over all of them, or, with
    ``own_document``, about its own context only (as ``ask --doc NAME`` asks: a set of real
    long documents, one context each).

    Chinese questions are scored character-level as CMRC 2018 does, English ones word-level
    as SQuAD does (both 0..1). Meant for real models; the default 135M model scores near zero
    on Chinese.

    Args:
        dataset: a SQuAD-format file (CMRC 2018, DRCD, DuReader-style).
        settings: the configuration to evaluate (its store is replaced by a temporary one).
        limit: at most this many questions (default: all; with ``doc_tokens``,
            ``ceil(limit / per_doc)`` documents).
        doc_tokens: build long documents of about this many tokens.
        per_doc: questions kept per long document.
        strategies: routes to compare: 'auto', 'stuff', 'retrieve'.
        details: if given, one dict per question and strategy is appended to it.
        own_document: ask each question about its own context only.

    Returns:
        ``{"n_questions", "doc_tokens", "strategies": {name: {"em", "f1",
        "answer_in_sources", "prompt_tokens", "first_token_s_p50", "seconds", "routes"}}}``
        (``doc_tokens`` is the mean of the documents built, None without; ``routes`` counts
        the routes auto took, Self-Route restarts as ``self-route``).
    """
    for name in strategies:
        if name not in STRATEGIES:
            raise RagmixError(f"unknown strategy {name!r}; use some of {', '.join(STRATEGIES)}")
    squad = load_squad(dataset, None if doc_tokens else limit)
    with tempfile.TemporaryDirectory(prefix="ragmix-eval-") as tmp:
        if doc_tokens:
            from ragmix.models.llm import make_token_counter

            count = make_token_counter(settings.llm).count
            n_docs = -(-(limit or len(squad.questions)) // per_doc)
            docs = long_documents(squad, count, doc_tokens, n_docs, per_doc)
            rm, _, _ = build_store(
                squad, settings, Path(tmp), progress, texts={d.name: d.text for d in docs}
            )
            plan: list[tuple[Question, list[str] | None]] = [
                (q, [d.name]) for d in docs for q in d.questions
            ]
            mean_tokens: int | None = round(sum(d.tokens for d in docs) / len(docs))
        else:
            rm, gold, _ = build_store(squad, settings, Path(tmp), progress)
            plan = [(q, [gold[q.context]] if own_document else None) for q in squad.questions]
            mean_tokens = None
        out: dict[str, Any] = {}
        try:
            for i, name in enumerate(strategies):
                if i:
                    _start_cold(rm)
                if progress:
                    progress(name, stage=name, total=len(plan))
                out[name] = _ask_all(rm, plan, name, progress, details)
        finally:
            _close(rm)
    return {"n_questions": len(plan), "doc_tokens": mean_tokens, "strategies": out}


def _ask_all(
    rm: Any,
    plan: Sequence[tuple[Question, list[str] | None]],
    strategy: str,
    progress: ProgressFn | None,
    details: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    em = f1 = found = 0.0
    prompt: list[int] = []
    first: list[float] = []
    routes: Counter[str] = Counter()
    t0 = time.perf_counter()
    for q, docs in plan:
        a = rm.ask(q.question, docs, mode=strategy)
        e, f = score_answer(a.answer, q.answers, detect_language(q.question))
        hit = answer_in_sources(q.answers, a.sources)
        em, f1, found = em + e, f1 + f, found + hit
        prompt.append(a.tokens["prompt"])
        if "first_token_s" in a.timings:
            first.append(a.timings["first_token_s"])
        routes["self-route" if a.reason.startswith("self-route") else a.route] += 1
        if details is not None:
            details.append(
                {"strategy": strategy, "id": q.id, "question": q.question,
                 "gold": list(q.answers), "answer": a.answer, "route": a.route,
                 "reason": a.reason, "em": e, "f1": round(f, 4), "in_sources": hit,
                 "prompt_tokens": a.tokens["prompt"], "timings": a.timings}
            )  # fmt: skip
        if progress:
            progress(strategy, stage=strategy, advance=1)
    n = len(plan) or 1
    return {
        "em": round(em / n, 4),
        "f1": round(f1 / n, 4),
        "answer_in_sources": round(found / n, 4),
        "prompt_tokens": round(sum(prompt) / n),
        "first_token_s_p50": _p50(first),
        "seconds": round(time.perf_counter() - t0, 2),
        "routes": dict(routes),
    }


#: Stuffing is kept at a length while its F1 is within this of retrieval's.
CALIBRATE_TOLERANCE = 0.02


def calibrate(
    results: Sequence[dict[str, Any]], tolerance: float = CALIBRATE_TOLERANCE
) -> dict[str, Any]:
    """Propose ``router.stuff_max_tokens`` from ``eval qa`` results at several lengths.

    The proposal is the longest measured document length up to which reading whole
    (``stuff``) answers at least as well as retrieval (F1 within ``tolerance``) at every
    shorter length too; None (no limit) when stuffing holds up at every length measured,
    0 when it loses already at the shortest.

    Example:
        >>> r = lambda n, s, t: {"doc_tokens": n, "strategies": {"stuff": {"f1": s},
        ...                                                      "retrieve": {"f1": t}}}
        >>> calibrate([r(2000, .5, .4), r(8000, .45, .44), r(16000, .3, .42)])["stuff_max_tokens"]
        8000
    """
    rows = sorted(
        (
            r
            for r in results
            if r.get("doc_tokens") and {"stuff", "retrieve"} <= r["strategies"].keys()
        ),
        key=lambda r: r["doc_tokens"],
    )
    if not rows:
        raise RagmixError(
            "calibration needs `ragmix eval qa --doc-tokens N --strategies stuff,retrieve --json` "
            "results at one or more lengths"
        )
    table = []
    limit: int | None = None
    holds = True
    for r in rows:
        stuff, retrieve = r["strategies"]["stuff"]["f1"], r["strategies"]["retrieve"]["f1"]
        ok = stuff >= retrieve - tolerance
        table.append({"doc_tokens": r["doc_tokens"], "stuff_f1": stuff, "retrieve_f1": retrieve,
                      "stuff_holds": ok})  # fmt: skip
        if holds and ok:
            limit = r["doc_tokens"]
        holds = holds and ok
    proposal = None if holds else (limit or 0)
    return {"stuff_max_tokens": proposal, "table": table, "tolerance": tolerance}


def _start_cold(rm: Any) -> None:
    """Forget what the strategy before read (the states kept on disk and in RAM, and the live
    KV cache), so that each strategy's seconds are its own: otherwise auto's whole-document
    reads would make stuff's look free, and its retrieval prompts retrieve's."""
    import shutil

    if rm.states_dir is not None:
        shutil.rmtree(rm.states_dir, ignore_errors=True)
    if rm.model_loaded and rm.settings.llm.backend == "llama-cpp":
        from ragmix.models.llm import set_state_cache

        llm = rm.settings.llm
        set_state_cache(
            rm.chat_model(), "prefix" if llm.state_cache_mb else "off", llm.state_cache_mb
        )


def _close(rm: Any) -> None:
    # The temporary folder is removed next; let go of SQLite and Chroma handles first.
    rm.store.discard()


# -- answer scoring -----------------------------------------------------------------------
#: CMRC 2018's punctuation list (``cmrc2018_evaluate.py``), plus its multi-char "……" as "…".
_CMRC_PUNCT = frozenset("-:_*^/\\~`+=，。：？！“”；’《》…·、「」（）－～『』")
_HAN_RE = re.compile(r"[\u4e00-\u9fa5]")
# Stand-in for nltk.word_tokenize on the non-Han runs: words/numbers, and other symbols alone.
_WORD_RE = re.compile(r"\w+|[^\w\s]")


def mixed_segmentation(text: str, remove_punct: bool = True) -> list[str]:
    """CMRC 2018 units: each Han character alone, Latin words and numbers whole.

    Example:
        >>> mixed_segmentation("光荣和ω-force 2代")  # '-' is punctuation: dropped, not a break
        ['光', '荣', '和', 'ωforce', '2', '代']
    """
    out: list[str] = []
    run = ""
    for ch in text.lower().strip():
        if remove_punct and ch in _CMRC_PUNCT:
            continue
        if _HAN_RE.match(ch) or ch in _CMRC_PUNCT:
            if run:
                out.extend(_WORD_RE.findall(run))
                run = ""
            out.append(ch)
        else:
            run += ch
    if run:
        out.extend(_WORD_RE.findall(run))
    return out


def _longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def f1_zh(prediction: str, answer: str) -> float:
    """CMRC 2018 F1: longest common substring of mixed-segmentation units.

    Example:
        >>> round(f1_zh("北京大学", "北京"), 4)
        0.6667
    """
    pred, gold = mixed_segmentation(prediction), mixed_segmentation(answer)
    lcs = _longest_common_substring(gold, pred)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(pred), lcs / len(gold)
    return 2 * p * r / (p + r)


def em_zh(prediction: str, answer: str) -> float:
    """CMRC 2018 exact match: equal after lowercasing and removing punctuation."""

    def norm(s: str) -> str:
        return "".join(c for c in s.lower().strip() if c not in _CMRC_PUNCT)

    return float(norm(prediction) == norm(answer))


def _squad_normalize(text: str) -> list[str]:
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def f1_en(prediction: str, answer: str) -> float:
    """SQuAD v1.1 F1: overlap of normalised word bags.

    Example:
        >>> round(f1_en("the Eiffel Tower in Paris", "Eiffel Tower"), 4)
        0.6667
    """
    pred, gold = _squad_normalize(prediction), _squad_normalize(answer)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)


def em_en(prediction: str, answer: str) -> float:
    """SQuAD v1.1 exact match of normalised strings."""
    return float(_squad_normalize(prediction) == _squad_normalize(answer))


def score_answer(prediction: str, answers: Sequence[str], language: str) -> tuple[float, float]:
    """``(exact_match, f1)`` of one prediction, best over the gold answers (0 when none)."""
    if not answers:
        return 0.0, 0.0
    em, f1 = (em_zh, f1_zh) if language == "zh" else (em_en, f1_en)
    return max(em(prediction, a) for a in answers), max(f1(prediction, a) for a in answers)
