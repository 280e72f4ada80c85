"""Question answering: plan (route, prompt, sources), then generate; as a LangChain Runnable.

``QA.plan`` is where the router meets the store: it counts tokens with the answering model's
own tokenizer, asks ``ragmix.qa.router`` for each decision (route, fallback, Self-Route,
map-reduce parts) and builds the exact messages. It decides nothing itself. ``QA.events``
streams the answer as typed events (``ragmix.core.events``): ``RouteDecided``, ``Sources``,
``Token`` deltas and a last ``Done`` with the complete ``Answer``.

``AnswerRunnable`` wraps it: ``invoke`` returns the final answer dict (``Answer.as_dict()``),
``stream`` yields each event's ``as_dict()``, ``batch`` comes with ``Runnable``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ragmix.core.errors import BudgetError, StoreError
from ragmix.core.events import (
    Answer,
    AnswerEvent,
    AnswerState,
    Done,
    PartStarted,
    Reading,
    RouteDecided,
    Source,
    Sources,
    Token,
    Tokens,
)
from ragmix.core.schema import PageFields, PageNotes, Passage
from ragmix.core.settings import Settings, model_languages
from ragmix.core.text import detect_language
from ragmix.models.states import keep_on_disk
from ragmix.qa import direct, prompts, router, support, verdict
from ragmix.qa.retrieval import HybridSearcher, SearchResult, pack
from ragmix.qa.router import Confidence, Mode, RouteDecision, RouteRequest, Window
from ragmix.store.catalog import Catalog

if TYPE_CHECKING:
    from ragmix.models.llm import TokenCounter

#: Tokens a chat template adds per message when the model cannot render it exactly.
_PER_MESSAGE = 8
#: Longest rewritten follow-up (``router.rewrite: model``): a standalone question is one
#: sentence, so a reply is cut here rather than let a rambling model hold up the answer.
_REWRITE_TOKENS = 64
#: Room left for the question when a document is read ahead (``ragmix warm``).
_WARM_QUESTION_TOKENS = 64

__all__ = ["QA", "Answer", "AnswerRunnable", "Plan"]

logger = logging.getLogger(__name__)
#: Every document of a question's scope was removed by a writer before it could be read.
_REMOVED_MEANWHILE = "the documents asked about were removed meanwhile; ask again"


@dataclass
class Plan:
    question: str
    lang: prompts.Lang
    decision: RouteDecision
    messages: list[BaseMessage] | None
    sources: list[Source]
    prompt_tokens: int = 0
    passages: list[Passage] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    canned: str | None = None  # an answer given without calling the model
    texts: dict[str, str] = field(default_factory=dict)  # documents read whole, by doc id
    query: str = ""  # what retrieval searched for (a follow-up rewritten); "" = the question


def _source(
    p: Passage,
    page_starts: Sequence[int] | None,
    marks: Sequence[Any] = (),
    notes: PageNotes | None = None,
) -> Source:
    """A retrieved passage as a source; ``marks`` are highlight offsets in its text, ``notes``
    name its pages (a workbook's sheets, a deck's slides, OCR)."""
    pages = support.pages_of(page_starts, p.start, p.end) or ([p.page] if p.page else [])
    named = notes.fields(pages) if notes is not None else PageFields()
    return {
        "source": p.source,
        "page": p.page,
        "chunk": p.index,
        "start": p.start,
        "end": p.end,
        "score": round(p.score, 6),
        "text": p.text,
        "kind": "passage",
        "pages": pages,
        "highlights": [list(m) for m in marks],
        "support": None,
        **named,
    }


def _text_source(name: str, text: str) -> Source:
    """A document read whole, shown by its beginning (until the answer's passages are found)."""
    return {"source": name, "page": None, "chunk": None, "start": 0, "end": len(text),
            "score": 1.0, "text": text[:300], "kind": "document", "pages": [],
            "highlights": [], "support": None}  # fmt: skip


def _marked(sources: Sequence[Source], answer: str) -> list[Source]:
    """``sources`` with the answer's words marked and the share of them each holds."""
    out: list[Source] = []
    for s in sources:
        marks, share = support.highlight(answer, s["text"])
        out.append({**s, "highlights": [list(m) for m in marks], "support": share})
    return out


def by_support(sources: Sequence[Source]) -> list[Source]:
    """Sources in the order that helps a reader: the one holding most of the answer first,
    then by retrieval score. Each keeps the number it had before (``n``: a retrieved passage's
    number in the prompt, which the answer cites as ``[n]``).

    Example:
        >>> s = [{"support": 0.0, "score": 0.9}, {"support": 0.94, "score": 0.4}]
        >>> [(x["n"], x["support"]) for x in by_support(s)]  # type: ignore[arg-type]
        [(2, 0.94), (1, 0.0)]
    """
    numbered = [{**s, "n": s.get("n", i)} for i, s in enumerate(sources, 1)]
    numbered.sort(key=lambda s: (-float(s.get("support") or 0.0), -float(s.get("score") or 0.0)))  # type: ignore[arg-type]
    return numbered  # type: ignore[return-value]


#: A whole-document answer shows at most this many supporting passages.
MAX_SUPPORT = 3
#: Below this coverage of the answer, the passages retrieved for the question are shown too.
WEAK_SUPPORT = 0.5


class QA:
    """Answers questions over one store.

    Args:
        settings: the settings tree.
        catalog: the store's catalog.
        searcher: hybrid searcher over the store.
        model: a factory returning the chat model (called only when a model is needed).
        counter: a factory returning the answering model's token counter.
        states_dir: where the in-process model keeps the read states of whole-document
            prompts (``llm.state_disk_mb`` bounds it); None keeps none on disk.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        searcher: HybridSearcher,
        model: Callable[[], BaseChatModel],
        counter: Callable[[], TokenCounter],
        states_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.states_dir = states_dir
        self.catalog = catalog
        self.searcher = searcher
        self._model_factory = model
        self._counter_factory = counter

    @property
    def model(self) -> BaseChatModel:
        return self._model_factory()

    @property
    def counter(self) -> TokenCounter:
        return self._counter_factory()

    @property
    def n_ctx(self) -> int:
        return (
            int(getattr(self.model, "n_ctx", None) or self.settings.llm.n_ctx)
            if self.settings.llm.backend == "llama-cpp"
            else self.settings.llm.n_ctx
        )

    @property
    def window(self) -> Window:
        """The answering model's window, split by the router (answer, overhead, usable)."""
        return Window.of(self.settings, self.n_ctx)

    # -- counting -------------------------------------------------------------------------
    def count(self, text: str) -> int:
        return int(self.counter.count(text))

    def count_prompt(self, messages: Sequence[BaseMessage]) -> int:
        model = self.model
        exact = getattr(model, "count_prompt_tokens", None)
        if exact is not None:
            return int(exact(messages))
        return sum(self.count(str(m.content)) + _PER_MESSAGE for m in messages)

    def doc_tokens(self, doc_id: str) -> int | None:
        """A document's length in the answering model's tokens; None once it was removed."""
        name = self.counter.name
        n = self.catalog.n_tokens(doc_id, name)
        if n is None:  # ingested with another model: count once, remember
            text = self.catalog.texts([doc_id]).get(doc_id)
            if text is None:
                return None
            n = self.count(text)
            self.catalog.set_tokens(doc_id, name, n)
        return n

    def _present(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """Token counts of the documents of the scope that are still there. A writer may
        remove one between the question's arrival and now (``ingest --sync`` on another
        thread): the answer is then written from the rest, never from half a document."""
        counts = {d: self.doc_tokens(d) for d in doc_ids}
        present = {d: n for d, n in counts.items() if n is not None}
        if not present:
            raise StoreError(_REMOVED_MEANWHILE, code="removed_meanwhile")
        return present

    def _history_tokens(self, history: Sequence[tuple[str, str]]) -> int:
        return sum(self.count(q) + self.count(a) + 2 * _PER_MESSAGE for q, a in history)

    def _trim_history(self, history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Newest turns first, as many as fit ``router.history_tokens``."""
        kept: list[tuple[str, str]] = []
        used = 0
        for q, a in reversed(list(history)):
            cost = self._history_tokens([(q, a)])
            if used + cost > self.settings.router.history_tokens:
                break
            kept.insert(0, (q, a))
            used += cost
        return kept

    # -- planning -------------------------------------------------------------------------
    def plan(
        self,
        question: str,
        doc_ids: Sequence[str],
        history: Sequence[tuple[str, str]],
        mode: Mode | str,
    ) -> Plan:
        question = question.strip()
        if not question:
            raise BudgetError(
                "the question is empty; ask something about the documents", code="empty_question"
            )
        if not doc_ids:
            raise StoreError(
                "no documents in the store yet; add some with `ragmix ingest PATH`",
                code="no_documents",
            )
        mode = router.parse_mode(mode)
        lang = prompts.lang_for(detect_language(question))
        t0 = time.perf_counter()
        if mode == "search":
            result = self.searcher.search(question, doc_ids, k=self.settings.retrieval.max_passages)
            return Plan(
                question,
                lang,
                router.search_decision(),
                None,
                self._sources(result.passages, marks_of=question),
                passages=result.passages,
                doc_ids=list(doc_ids),
                timings={"retrieve_s": time.perf_counter() - t0},
                canned="" if result.passages else lang.no_passages,
            )
        hist = self._trim_history(history)
        tokens = self._present(doc_ids)
        doc_ids = list(tokens)
        req = RouteRequest(
            mode=mode,
            scope_tokens=sum(tokens.values()),
            window=self.window,
            question_tokens=self.count(question),
            history_tokens=self._history_tokens(hist),
            is_global=router.is_global_question(question),
            n_docs=len(doc_ids),
            stuff_max_tokens=self.settings.router.stuff_max_tokens,
        )
        decision = router.decide(req)
        if decision.route == "stuff":
            return self._plan_stuff(question, lang, decision, doc_ids, hist, t0)
        if decision.route == "map_reduce":
            return Plan(question, lang, decision, None, [], doc_ids=list(doc_ids), history=hist)
        return self._plan_retrieve(question, lang, decision, doc_ids, hist, t0)

    def _plan_stuff(
        self,
        question: str,
        lang: prompts.Lang,
        decision: RouteDecision,
        doc_ids: Sequence[str],
        hist: list[tuple[str, str]],
        t0: float,
        texts: Mapping[str, str] | None = None,
    ) -> Plan:
        """The whole-document prompt (``texts``: the documents' texts when the caller has
        read them already), or the retrieval plan when it does not fit after all."""
        if texts is None:
            texts = self.catalog.texts(doc_ids)
        doc_ids = [d for d in doc_ids if d in texts]  # removed meanwhile: read the rest
        if not doc_ids:
            raise StoreError(_REMOVED_MEANWHILE, code="removed_meanwhile")
        docs = [(self._name(d), texts[d]) for d in doc_ids]
        messages = prompts.stuff_messages(docs, question, hist, lang, self._concise(question))
        n = self.count_prompt(messages)
        decision = router.confirm_stuff(decision, n, self.window)
        if decision.route != "stuff":
            return self._plan_retrieve(question, lang, decision, doc_ids, hist, t0)
        sources = [_text_source(name, text) for name, text in docs]
        return Plan(
            question,
            lang,
            decision,
            messages,
            sources,
            n,
            doc_ids=list(doc_ids),
            history=hist,
            timings={"plan_s": time.perf_counter() - t0},
            texts={d: texts[d] for d in doc_ids},
        )

    def _plan_retrieve(
        self,
        question: str,
        lang: prompts.Lang,
        decision: RouteDecision,
        doc_ids: Sequence[str],
        hist: list[tuple[str, str]],
        t0: float,
    ) -> Plan:
        assert decision.budget is not None  # only search has none
        query = self.standalone(question, hist, lang) if hist else question
        result = self.searcher.search(query, doc_ids)
        t1 = time.perf_counter()
        if not result.passages:
            return Plan(
                question,
                lang,
                decision,
                None,
                [],
                doc_ids=list(doc_ids),
                history=hist,
                timings={"retrieve_s": t1 - t0},
                canned=lang.no_passages,
                query=query,
            )
        a = self.settings.answer
        conf = self.confidence(query, result)
        why = router.abstain(
            conf,
            enabled=a.abstain,
            min_terms=a.abstain_min_terms,
            min_dense=a.abstain_min_dense,
        )
        if why is not None:
            closest = result.passages[:MAX_SUPPORT]
            return Plan(
                question,
                lang,
                router.abstained(decision, why),
                None,
                self._sources(closest, marks_of=query),
                passages=closest,
                doc_ids=list(doc_ids),
                history=hist,
                timings={"retrieve_s": t1 - t0},
                canned=lang.abstained.format(terms=conf.terms),
                query=query,
            )
        passages = pack(
            self.catalog,
            result.passages,
            router.passage_budget(decision.budget, self.settings.retrieval.max_passage_tokens),
            self.count,
            self.settings.retrieval.max_passages,
        )
        concise = self._concise(question)
        messages = prompts.retrieve_messages(passages, question, hist, lang, concise)
        n = self.count_prompt(messages)
        window = self.window
        while not window.fits(n) and passages:  # the budget is exact up to template overhead
            passages = passages[:-1]
            messages = prompts.retrieve_messages(passages, question, hist, lang, concise)
            n = self.count_prompt(messages)
        if not window.fits(n):
            raise router.no_room_for_passages(n, window)
        return Plan(
            question,
            lang,
            router.with_passages(decision, len(passages), result.note),
            messages,
            self._sources(passages),
            n,
            passages=passages,
            doc_ids=list(doc_ids),
            history=hist,
            timings={"retrieve_s": t1 - t0},
            query=query,
        )

    def _concise(self, question: str) -> bool:
        """The bare-answer instruction: for fact questions under ``answer.style: concise``; a
        question about the whole text (a summary) is answered in full."""
        return self.settings.answer.style == "concise" and not router.is_global_question(question)

    def confidence(self, query: str, result: SearchResult) -> Confidence:
        """How far the passages found bear on ``query``, before any model call: the best
        passage's share of the question's key terms, and its meaning similarity."""
        terms = verdict.question_terms(query)
        best = max(
            (verdict.relevance(terms, verdict.normalise(p.text)) for p in result.passages),
            default=0.0,
        )
        dense = [p.scores["dense"] for p in result.passages if "dense" in p.scores]
        return Confidence(best, max(dense) if result.dense_used and dense else None)

    def judge(self, plan: Plan, answer: str) -> verdict.Judgement | None:
        """The verdict on an answer (None for a search, and when ``answer.verdict`` is off):
        checked against what the model read."""
        if plan.decision.route == "search" or not plan.question or not self.settings.answer.verdict:
            return None  # no question: a document read ahead
        if plan.canned is not None:
            return verdict.Judgement("no_answer", note="nothing in the documents bears on it")
        read = (
            [p.text for p in plan.passages]
            if plan.decision.route == "retrieve"
            else list(plan.texts.values())
        )
        return verdict.judge(
            answer,
            read,
            plan.query or plan.question,
            global_question=router.is_global_question(plan.question),
            min_relevance=self.settings.answer.min_relevance,
        )

    def _name(self, doc_id: str) -> str:
        return self.catalog.name(doc_id)

    def _sources(self, passages: Sequence[Passage], marks_of: str = "") -> list[Source]:
        """Passages as sources, with every page each covers; ``marks_of``'s words marked."""
        ids = {p.doc_id for p in passages}
        starts = {d: self.catalog.page_starts(d) for d in ids}
        notes = {d: self.catalog.page_notes(d) for d in ids}
        return [
            _source(
                p,
                starts[p.doc_id],
                support.highlight(marks_of, p.text)[0] if marks_of else (),
                notes[p.doc_id],
            )
            for p in passages
        ]

    def supported(self, plan: Plan, answer: str) -> list[Source]:
        """The sources once the answer is written: retrieved passages with the answer's words
        marked and the share of them each holds; for documents read whole, the passages that
        hold the answer (best first, at most ``MAX_SUPPORT``), or the documents themselves
        when none does (an answer that says the text does not hold it)."""
        if plan.decision.route == "search" or not answer or plan.canned is not None:
            return plan.sources
        if plan.decision.route == "retrieve":
            return by_support(_marked(plan.sources, answer))
        found: list[tuple[float, str, support.Span]] = []
        covered = 0.0
        for doc_id, text in plan.texts.items():
            spans = support.find_support(answer, text, plan.question)
            covered = max(covered, spans.coverage)
            found.extend((span.share, doc_id, span) for span in spans.spans)
        found.sort(key=lambda f: -f[0])
        out: list[Source] = []
        for share, doc_id, span in found[:MAX_SUPPORT]:
            starts = self.catalog.page_starts(doc_id)
            pages = support.pages_of(starts, span.start, span.end)
            out.append(
                Source(
                    source=self._name(doc_id),
                    page=pages[0] if pages else None,
                    chunk=None,
                    start=span.start,
                    end=span.end,
                    score=share,
                    text=plan.texts[doc_id][span.start : span.end],
                    kind="support",
                    pages=pages,
                    highlights=[list(h) for h in span.highlights],
                    support=share,
                    **self.catalog.page_notes(doc_id).fields(pages),
                )
            )
        if covered < WEAK_SUPPORT:
            # The answer is not (all) in the text read: show also where the text speaks of
            # the question, so the reader can check it, rather than nothing.
            out.extend(self._question_passages(plan, answer, out)[: MAX_SUPPORT + 1 - len(out)])
        return by_support(out or plan.sources)

    def _question_passages(self, plan: Plan, answer: str, shown: list[Source]) -> list[Source]:
        hits = self.searcher.search(plan.question, list(plan.texts), k=MAX_SUPPORT).passages
        fresh = [
            p
            for p in hits
            if not any(
                s["source"] == p.source and p.start < s["end"] and s["start"] < p.end for s in shown
            )
        ]
        return _marked(self._sources(fresh), answer)

    def standalone(self, question: str, hist: list[tuple[str, str]], lang: prompts.Lang) -> str:
        """A follow-up rewritten into a question that retrieval can use on its own."""
        how = self.settings.router.rewrite
        if how == "off":
            return question
        if how == "concat":
            return f"{hist[-1][0]} {question}"
        try:
            text = str(
                self.model.invoke(
                    prompts.rewrite_messages(hist, question, lang), max_tokens=_REWRITE_TOKENS
                ).content
            ).strip()
        except Exception:
            text = ""
        if not text or len(text) > 4 * len(question) + 200:
            text = f"{hist[-1][0]} {question}"
        return text

    # -- generation -----------------------------------------------------------------------
    def events(
        self,
        question: str,
        doc_ids: Sequence[str],
        history: Sequence[tuple[str, str]] = (),
        mode: Mode | str | None = None,
    ) -> Iterator[AnswerEvent]:
        """Answer one question as a stream of events (see ``ragmix.core.events``).

        Raises:
            RagmixError: e.g. ``BudgetError`` for a question that leaves no room for any
                document text, ``ModelError`` when the model does not answer.
        """
        t_start = time.perf_counter()
        mode = router.parse_mode(mode or self.settings.router.mode)
        plan = self.plan(question, doc_ids, history, mode)
        if plan.decision.route == "map_reduce":
            yield from self._map_reduce(plan, t_start)
            return
        yield from self._head(plan)
        if plan.canned is not None:
            if plan.canned:
                yield Token(plan.canned)
            yield Done(self._answer(plan, plan.canned, 0, t_start, None))
            return
        text, completion, ttft = yield from self._generate(plan.messages or [], plan)
        if router.wants_self_route(
            mode,
            plan.decision.route,
            enabled=self.settings.router.self_route,
            has_passages=bool(plan.passages),
        ):
            doubt = router.doubt(
                text,
                unanswerable=prompts.says_unanswerable(text),
                coverage=support.coverage(text, [p.text for p in plan.passages], plan.question),
            )
            retry = self._self_route(plan, doubt) if doubt else None
            if retry is not None:
                yield from self._head(retry, restart=True)
                text, completion, ttft = yield from self._generate(retry.messages or [], retry)
                plan = retry
        plan.sources = self.supported(plan, text)
        yield Sources(tuple(plan.sources))
        yield Done(self._answer(plan, text, completion, t_start, ttft))

    def warm(self, doc_id: str) -> Iterator[AnswerEvent]:
        """Read one document ahead as a whole-document answer reads it (instructions in the
        document's language, then the document), so that the first question on it, in any
        process, starts from the kept state. Streams ``RouteDecided``, ``Reading``* and a
        ``Done`` whose timings say how long it took.

        Raises:
            BudgetError: the document does not fit the context window (questions on it are
                answered from retrieved passages; nothing to read ahead).
            StoreError: the document was removed meanwhile.
        """
        t_start = time.perf_counter()
        present = self._present([doc_id])
        text = self.catalog.texts([doc_id]).get(doc_id)
        if not present or text is None:
            raise StoreError(_REMOVED_MEANWHILE, code="removed_meanwhile")
        lang = prompts.lang_for(detect_language(text[:2000]))
        req = RouteRequest(
            mode="stuff",
            scope_tokens=present[doc_id],
            window=self.window,
            question_tokens=_WARM_QUESTION_TOKENS,
            history_tokens=0,
            is_global=False,
            n_docs=1,
        )
        decision = router.decide(req)
        plan = (
            self._plan_stuff("", lang, decision, [doc_id], [], t_start, {doc_id: text})
            if decision.route == "stuff"
            else None
        )
        if plan is None or plan.decision.route != "stuff":
            raise BudgetError(
                f"{self._name(doc_id)} does not fit the model's context whole "
                f"({present[doc_id]:,} tokens; {decision.reason}): questions on it are "
                "answered from retrieved passages, so there is nothing to read ahead",
                code="too_long_to_read_ahead",
                params={"name": self._name(doc_id), "tokens": present[doc_id]},
            )
        yield RouteDecided(plan.decision.route, "read ahead", self._tokens(plan, 0))
        events = self._generate(plan.messages or [], plan, max_tokens=1)
        try:
            while True:
                event = next(events)
                if isinstance(event, Reading):
                    yield event
        except StopIteration as stop:
            _, completion, ttft = stop.value
        yield Done(self._answer(plan, "", completion, t_start, ttft))

    def _self_route(self, plan: Plan, doubt: str) -> Plan | None:
        best = max(plan.passages, key=lambda p: p.score).doc_id
        tokens = self.doc_tokens(best)
        if tokens is None:  # removed meanwhile: keep the passages already found
            return None
        decision = router.self_route(plan.decision, tokens, doubt)
        if decision is None:
            return None
        return self._plan_stuff(
            plan.question, plan.lang, decision, [best], plan.history, time.perf_counter()
        )

    def _head(self, plan: Plan, restart: bool = False) -> Iterator[AnswerEvent]:
        d = plan.decision
        tokens = self._tokens(plan, 0)
        logger.info(
            "route %s%s: %s (prompt %s tokens)",
            d.route, " (Self-Route restart)" if restart else "", d.reason, tokens.get("prompt"),
        )  # fmt: skip
        yield RouteDecided(d.route, d.reason, tokens, restart)
        yield Sources(tuple(plan.sources))

    def _tokens(self, plan: Plan, completion: int) -> Tokens:
        budget = plan.decision.budget
        return {
            "scope": plan.decision.scope,
            "budget": None if budget is None else max(budget, 0),
            "prompt": plan.prompt_tokens,
            "completion": completion,
        }

    def _direct(self, plan: Plan) -> direct.DirectLead | None:
        """The answer-first filter for a Chinese fact question under ``answer.style: direct``."""
        question = plan.question
        if (
            self.settings.answer.style != "direct"
            or not question
            or detect_language(question) != "zh"
            or router.is_global_question(question)
        ):
            return None
        return direct.DirectLead(question)

    def _generate(
        self, messages: list[BaseMessage], plan: Plan | None = None, max_tokens: int | None = None
    ) -> Generator[AnswerEvent, None, tuple[str, int, float | None]]:
        """Stream reading-progress and token events; the generator's return value is (text,
        completion, ttft). A whole-document prompt's read state is kept on disk. A plan's
        answer is shown answer-first (:meth:`_direct`); the completion counts what the model
        wrote."""
        t0 = time.perf_counter()
        shown = self._direct(plan) if plan is not None else None
        written: list[str] = []
        parts: list[str] = []
        usage: Any = None  # LangChain's UsageMetadata
        ttft: float | None = None
        keep = (
            keep_on_disk(self.states_dir, self.settings.llm.state_disk_mb, plan.doc_ids)
            if plan is not None and plan.decision.route == "stuff" and self.states_dir
            else nullcontext()
        )
        stream = iter(
            self.model.stream(messages, max_tokens=max_tokens or self.settings.llm.max_tokens)
        )
        # The model reads the request when it starts, in the first step. Set and reset in
        # that step only: a consumer such as Gradio runs each step of this generator in a
        # context of its own, where a context variable set in another step cannot be reset.
        with keep:
            first = next(stream, None)
        for chunk in itertools.chain([first] if first is not None else [], stream):
            for p in chunk.response_metadata.get("ragmix_reading") or ():
                yield Reading(p["read"], p["total"], p["restored"], p["from"], p["seconds_left"])
            piece = str(chunk.content)
            written.append(piece)
            if shown is not None and piece:
                piece = shown.feed(piece)
            if piece:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                parts.append(piece)
                yield Token(piece)
            if getattr(chunk, "usage_metadata", None):
                usage = chunk.usage_metadata
        rest = shown.finish() if shown is not None else ""
        if rest:
            ttft = ttft if ttft is not None else time.perf_counter() - t0
            parts.append(rest)
            yield Token(rest)
        text = "".join(parts).strip()
        completion = int(usage["output_tokens"]) if usage else self.count("".join(written))
        return text, completion, ttft

    def _answer(
        self, plan: Plan, text: str, completion: int, t_start: float, ttft: float | None
    ) -> Answer:
        timings = {k: round(v, 4) for k, v in plan.timings.items()}
        if ttft is not None:
            timings["first_token_s"] = round(ttft, 4)
        j = self.judge(plan, text)
        timings["total_s"] = round(time.perf_counter() - t_start, 4)
        if j is not None:
            logger.info("verdict %s: %s", j.verdict, j.note)
        return Answer(
            text,
            plan.decision.route,
            plan.decision.reason,
            self._tokens(plan, completion),
            plan.sources,
            timings,
            self._warnings(plan),
            verdict=None if j is None else j.verdict,
            unsupported=[] if j is None else j.unsupported,
            verdict_note="" if j is None else j.note,
        )

    def _warnings(self, plan: Plan) -> list[str]:
        """A model that does not read the question's language (the default SmolLM2 and a
        Chinese question) answers anyway, often in loops and with wrong facts: say so."""
        if plan.decision.route == "search":
            return []
        reads = model_languages(self.settings.llm)
        lang = "zh" if plan.lang is prompts.ZH else "en"
        if reads is None or "multi" in reads or lang in reads:
            return []
        name = {"zh": "Chinese", "en": "English"}[lang]
        return [
            f"the answering model ({Path(self.settings.llm.model_path).name}) does not read "
            f"{name} well (it reads: {', '.join(reads)}), so this answer may be wrong; for "
            f"{name} use a model that does, e.g. `make setup-zh` and --config "
            "configs/zh-small.yaml (or Chinese-Mixtral, configs/chinese-mixtral.yaml)"
        ]

    def _map_reduce(self, plan: Plan, t_start: float) -> Iterator[AnswerEvent]:
        """Summarise each part within the context, combine the notes in rounds until they fit
        (``router.reduce_step``), then answer from them; the reason and the sources say which
        parts the answer covers."""
        lang, window = plan.lang, self.window
        budget = router.map_reduce_budget(window)
        parts: list[tuple[str, str, str, int]] = []  # (doc id, name, text, where it ends)
        for doc_id in plan.doc_ids:
            name = self._name(doc_id)
            chunks = list(self.catalog.neighbours(doc_id, 0, 1 << 30))
            texts = [c.text for c in chunks]
            first = 0
            for size in router.split_parts([self.count(t) for t in texts], budget.part_tokens):
                end = chunks[first + size - 1].end
                parts.append((doc_id, name, "\n".join(texts[first : first + size]), end))
                first += size
        yield from self._head(plan)
        notes: list[str] = []
        for i, (_doc_id, name, text, _end) in enumerate(parts, 1):
            yield PartStarted(i, len(parts))
            msg = prompts.map_messages(name, text, i, len(parts), lang)
            notes.append(str(self.model.invoke(msg, max_tokens=budget.note_tokens).content).strip())
        covers = [[i] for i in range(len(parts))]  # the parts (0-based) each note stands for
        room = window.budget(self.count(plan.question))
        rounds = 0
        while True:
            messages = prompts.reduce_messages(notes, plan.question, lang)
            over = self.count_prompt(messages) - window.prompt_limit
            costs = [self.count(n) + router.NOTE_MARK_TOKENS for n in notes]
            # The exact prompt is the judge: an estimate that was short shrinks the room.
            fit = min(room, sum(costs) - over) if over > 0 else room
            step = router.reduce_step(costs, fit, budget.part_tokens)
            if step.keep is not None:
                notes, covers = notes[: step.keep], covers[: step.keep]
                messages = prompts.reduce_messages(notes, plan.question, lang)
                break
            if not step.merge:
                break
            rounds += 1
            merged: list[str] = []
            merged_covers: list[list[int]] = []
            for k, (a, b) in enumerate(step.merge, 1):
                group = [p for c in covers[a : b + 1] for p in c]
                if a == b:
                    merged.append(notes[a])
                else:
                    yield PartStarted(k, len(step.merge))
                    body = "\n\n".join(f"({j - a + 1}) {notes[j]}" for j in range(a, b + 1))
                    names = ", ".join(dict.fromkeys(parts[p][1] for p in group))
                    msg = prompts.map_messages(names, body, k, len(step.merge), lang)
                    reply = self.model.invoke(msg, max_tokens=budget.note_tokens).content
                    merged.append(str(reply).strip())
                merged_covers.append(group)
            notes, covers = merged, merged_covers
        covered = sorted(p for c in covers for p in c)
        plan.decision = router.reduced(plan.decision, len(parts), rounds, [p + 1 for p in covered])
        plan.prompt_tokens = self.count_prompt(messages)
        # The sources are the documents whose parts the answer was written from: whole, or
        # up to the end of the last part covered when later parts' notes were left out (the
        # notes kept are always the first ones).
        ends: dict[str, tuple[str, int]] = {}
        for p in covered:
            doc_id, name, _text, end = parts[p]
            ends[doc_id] = (name, max(end, ends.get(doc_id, (name, 0))[1]))
        full = self.catalog.texts(list(ends))
        plan.sources, plan.texts = [], {}
        for doc_id, (name, end) in ends.items():
            if doc_id in full:
                whole = all(p in covered for p, part in enumerate(parts) if part[0] == doc_id)
                text = full[doc_id] if whole else full[doc_id][:end]
                plan.sources.append(_text_source(name, text))
                plan.texts[doc_id] = text
        yield Sources(tuple(plan.sources))
        text, completion, ttft = yield from self._generate(messages)
        plan.sources = self.supported(plan, text)
        yield Sources(tuple(plan.sources))
        yield Done(self._answer(plan, text, completion, t_start, ttft))


class AnswerInput(TypedDict, total=False):
    """What ``AnswerRunnable`` takes: ``question`` (required), ``docs`` (document names;
    default all), ``history`` (``(question, answer)`` pairs), ``mode``."""

    question: str
    docs: Sequence[str] | None
    history: Sequence[Sequence[str]]
    mode: str | None


class AnswerRunnable(Runnable[AnswerInput | str, dict[str, Any]]):
    """The QA chain as a LangChain Runnable over ``{"question", "docs", "history", "mode"}``.

    ``invoke`` returns the final answer dict (``Answer.as_dict()``, the ``--json`` shape);
    ``stream`` yields each event's ``as_dict()`` (``{"type": "route" | "sources" | "part" |
    "reading" | "token" | "done", ...}``, see ``ragmix.core.events``); ``batch`` and ``|``
    composition come with ``Runnable``. A bare string is a question over all documents.
    """

    def __init__(self, qa: QA, resolve: Callable[[Sequence[str] | None], list[str]]) -> None:
        self.qa = qa
        self.resolve = resolve

    def _events(self, inp: AnswerInput | str) -> Iterator[AnswerEvent]:
        if isinstance(inp, str):
            inp = {"question": inp}
        history = [(str(h[0]), str(h[1])) for h in inp.get("history") or []]
        return self.qa.events(
            inp["question"], self.resolve(inp.get("docs")), history, inp.get("mode")
        )

    def invoke(
        self, input: AnswerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return AnswerState.fold(self._events(input)).result().as_dict()

    def stream(
        self, input: AnswerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        for event in self._events(input):
            yield event.as_dict()
