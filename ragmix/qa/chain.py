"""Question answering as a stream of events; as a LangChain Runnable.

``QA.events`` answers one question: the ``Planner`` (``ragmix.qa.planner``) plans it with the
router's decisions, then this room carries the plan out: it streams the model's answer as
typed events (``ragmix.core.events``: ``RouteDecided``, ``Sources``, ``Token`` deltas and a last
``Done`` with the complete ``Answer``), asks again over a whole document when Self-Route doubts
a retrieved answer, runs map-reduce (``ragmix.qa.mapreduce``), finds the answer's sources
(``ragmix.qa.sources``) and its verdict.

``AnswerRunnable`` wraps it: ``invoke`` returns the final answer dict (``Answer.as_dict()``),
``stream`` yields each event's ``as_dict()``, ``batch`` comes with ``Runnable``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ragmix.core.events import (
    Answer,
    AnswerEvent,
    AnswerState,
    Done,
    Reading,
    RouteDecided,
    Source,
    Sources,
    Token,
    Tokens,
)
from ragmix.core.settings import model_languages
from ragmix.models.states import keep_on_disk
from ragmix.qa import direct, mapreduce, prompts, router, sources, verdict
from ragmix.qa.planner import Plan, Planner
from ragmix.qa.router import Mode
from ragmix.qa.sources import MAX_SUPPORT, WEAK_SUPPORT, by_support

__all__ = ["MAX_SUPPORT", "QA", "WEAK_SUPPORT", "Answer", "AnswerRunnable", "Plan", "by_support"]

logger = logging.getLogger(__name__)


class QA:
    """Answers questions over one store.

    Args:
        planner: plans each answer (route, prompt, sources) with the router's decisions; it
            holds the settings, the catalog, the searcher and the model.
        states_dir: where the in-process model keeps the read states of whole-document
            prompts (``llm.state_disk_mb`` bounds it); None keeps none on disk.
    """

    def __init__(self, planner: Planner, states_dir: Path | None = None) -> None:
        self.planner = planner
        self.settings = planner.settings
        self.states_dir = states_dir

    def judge(self, plan: Plan, answer: str) -> verdict.Judgement | None:
        """The verdict on an answer (None for a search, and when ``answer.verdict`` is off):
        checked against what the model read."""
        if plan.decision.route == "search" or not plan.question or not self.settings.answer.verdict:
            return None  # no question: a document read ahead
        if plan.canned is not None:
            return verdict.Judgement("no_answer", note="nothing in the documents bears on it")
        if plan.decision.route == "retrieve":
            read = [p.text for p in plan.passages]
            heads = [p.source for p in plan.passages]
        else:
            read = list(plan.texts.values())
            heads = [self.planner.catalog.name(d) for d in plan.texts]
        return verdict.judge(
            answer,
            read,
            plan.query or plan.question,
            global_question=router.is_global_question(plan.question),
            min_relevance=self.settings.answer.min_relevance,
            heads=heads,
        )

    def supported(self, plan: Plan, answer: str) -> list[Source]:
        """The sources once the answer is written (``ragmix.qa.sources.supported``); a search,
        an answer given without the model and an empty answer keep theirs."""
        if plan.decision.route == "search" or not answer or plan.canned is not None:
            return plan.sources
        p = self.planner
        return sources.supported(
            p.catalog, p.searcher, plan.decision.route, plan.sources, plan.texts,
            plan.question, answer,
        )  # fmt: skip

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
        parsed = router.parse_mode(mode or self.settings.router.mode)  # the one place
        plan = self.planner.plan(question, doc_ids, history, parsed)
        yield from self._head(plan)
        if plan.decision.route == "map_reduce":
            messages = yield from mapreduce.notes_prompt(self.planner, plan)
            yield Sources(tuple(plan.sources))
            text, completion, ttft = yield from self._generate(messages)
        elif plan.canned is not None:
            if plan.canned:
                yield Token(plan.canned)
            yield Done(self._answer(plan, plan.canned, 0, t_start, None))
            return
        else:
            text, completion, ttft = yield from self._generate(plan.messages or [], plan)
            retry = self.planner.second_look(plan, text, parsed)  # Self-Route
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
        plan = self.planner.read_ahead(doc_id)
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

    def _generate(
        self, messages: list[BaseMessage], plan: Plan | None = None, max_tokens: int | None = None
    ) -> Generator[AnswerEvent, None, tuple[str, int, float | None]]:
        """Stream reading-progress and token events; the generator's return value is (text,
        completion, ttft). A whole-document prompt's read state is kept on disk. A plan's
        answer is shown answer-first under ``answer.style: direct`` (``ragmix.qa.direct``);
        the completion counts what the model wrote."""
        t0 = time.perf_counter()
        shown = (
            direct.for_question(
                self.settings.answer.style,
                plan.question,
                router.is_global_question(plan.question),
            )
            if plan is not None
            else None
        )
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
            self.planner.model.stream(
                messages, max_tokens=max_tokens or self.settings.llm.max_tokens
            )
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
        completion = (
            int(usage["output_tokens"]) if usage else self.planner.count("".join(written))
        )
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
