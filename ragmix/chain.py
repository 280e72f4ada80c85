"""Question answering: plan (route, prompt, sources), then generate; as a LangChain Runnable.

``QA.plan`` is where the pure router meets the store: it counts tokens with the answering
model's own tokenizer, asks ``router.decide``, and builds the exact messages. ``QA.events``
streams the answer as a sequence of dict events:

    {"route", "reason", "tokens", "sources"}   the plan, before any token
    {"answer": "..."}                          token deltas
    {"restart": True, "route", ...}            self-routing switched to the whole document
    {"final": Answer.as_dict()}                the complete answer with counts and timings

``AnswerRunnable`` wraps it: ``invoke`` returns the final answer dict, ``stream`` yields the
events, ``batch`` comes with ``Runnable``.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ragmix import prompts
from ragmix.catalog import Catalog
from ragmix.errors import BudgetError, StoreError
from ragmix.retrieval import HybridSearcher, pack
from ragmix.router import RouteDecision, RouteRequest, decide, is_global_question
from ragmix.schema import Passage
from ragmix.settings import Settings
from ragmix.text import detect_language

#: Tokens a chat template adds per message when the model cannot render it exactly.
_PER_MESSAGE = 8


@dataclass
class Answer:
    """One answer, with how it was made. ``--json`` prints ``as_dict()``."""

    answer: str
    route: str
    reason: str
    tokens: dict[str, int]
    sources: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    question: str
    lang: prompts.Lang
    decision: RouteDecision
    messages: list[BaseMessage] | None
    sources: list[dict[str, Any]]
    prompt_tokens: int = 0
    passages: list[Passage] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    canned: str | None = None  # an answer given without calling the model


def _source(p: Passage) -> dict[str, Any]:
    return {
        "source": p.source,
        "page": p.page,
        "chunk": p.index,
        "start": p.start,
        "end": p.end,
        "score": round(p.score, 6),
        "text": p.text,
    }


def _text_source(name: str, text: str) -> dict[str, Any]:
    """A source that is a whole text (a stuffed document), not one chunk."""
    return {"source": name, "page": None, "chunk": None, "start": 0, "end": len(text),
            "score": 1.0, "text": text[:300]}  # fmt: skip


class QA:
    """Answers questions over one store.

    Args:
        settings: the settings tree.
        catalog: the store's catalog.
        searcher: hybrid searcher over the store.
        model: a factory returning the chat model (called only when a model is needed).
        counter: a factory returning the answering model's token counter.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        searcher: HybridSearcher,
        model: Any,
        counter: Any,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.searcher = searcher
        self._model_factory = model
        self._counter_factory = counter

    @property
    def model(self) -> BaseChatModel:
        return self._model_factory()

    @property
    def counter(self) -> Any:
        return self._counter_factory()

    @property
    def n_ctx(self) -> int:
        return (
            int(getattr(self.model, "n_ctx", None) or self.settings.llm.n_ctx)
            if self.settings.llm.backend == "llama-cpp"
            else self.settings.llm.n_ctx
        )

    # -- counting -------------------------------------------------------------------------
    def count(self, text: str) -> int:
        return int(self.counter.count(text))

    def count_prompt(self, messages: Sequence[BaseMessage]) -> int:
        model = self.model
        exact = getattr(model, "count_prompt_tokens", None)
        if exact is not None:
            return int(exact(messages))
        return sum(self.count(str(m.content)) + _PER_MESSAGE for m in messages)

    def doc_tokens(self, doc_id: str) -> int:
        name = self.counter.name
        n = self.catalog.n_tokens(doc_id, name)
        if n is None:  # ingested with another model: count once, remember
            n = self.count(self.catalog.text(doc_id))
            self.catalog.set_tokens(doc_id, name, n)
        return n

    def _trim_history(self, history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Newest turns first, as many as fit ``router.history_tokens``."""
        kept: list[tuple[str, str]] = []
        used = 0
        for q, a in reversed(list(history)):
            cost = self.count(q) + self.count(a) + 2 * _PER_MESSAGE
            if used + cost > self.settings.router.history_tokens:
                break
            kept.insert(0, (q, a))
            used += cost
        return kept

    # -- planning -------------------------------------------------------------------------
    def plan(
        self, question: str, doc_ids: Sequence[str], history: Sequence[tuple[str, str]], mode: str
    ) -> Plan:
        question = question.strip()
        if not question:
            raise BudgetError("the question is empty; ask something about the documents")
        if not doc_ids:
            raise StoreError("no documents in the store yet; add some with `ragmix ingest PATH`")
        lang = prompts.lang_for(detect_language(question))
        t0 = time.perf_counter()
        if mode == "search":
            decision = decide(RouteRequest("search", 0, 1 << 30, 0, 0, 0))
            result = self.searcher.search(question, doc_ids, k=self.settings.retrieval.max_passages)
            return Plan(
                question,
                lang,
                decision,
                None,
                [_source(p) for p in result.passages],
                passages=result.passages,
                doc_ids=list(doc_ids),
                timings={"retrieve_s": time.perf_counter() - t0},
                canned="" if result.passages else lang.no_passages,
            )
        hist = self._trim_history(history)
        req = RouteRequest(
            mode=mode,  # type: ignore[arg-type]
            scope_tokens=sum(self.doc_tokens(d) for d in doc_ids),
            n_ctx=self.n_ctx,
            answer_tokens=self.settings.llm.max_tokens,
            overhead_tokens=self.settings.router.overhead_tokens,
            question_tokens=self.count(question),
            history_tokens=sum(self.count(q) + self.count(a) + 2 * _PER_MESSAGE for q, a in hist),
            is_global=is_global_question(question),
            n_docs=len(doc_ids),
        )
        decision = decide(req)
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
    ) -> Plan:
        docs = [(self._name(d), self.catalog.text(d)) for d in doc_ids]
        messages = prompts.stuff_messages(docs, question, hist, lang)
        n = self.count_prompt(messages)
        limit = self.n_ctx - self.settings.llm.max_tokens
        if n > limit:  # overhead under-estimated: never overflow, retrieve instead
            decision = RouteDecision(
                "retrieve",
                f"whole document prompt is {n:,} tokens, over the {limit:,} limit: "
                "retrieving passages",
                decision.scope,
                decision.budget - (n - limit),
            )
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
            )
        passages = pack(
            self.catalog,
            result.passages,
            decision.budget,
            self.count,
            self.settings.retrieval.max_passages,
        )
        messages = prompts.retrieve_messages(passages, question, hist, lang)
        n = self.count_prompt(messages)
        limit = self.n_ctx - self.settings.llm.max_tokens
        while n > limit and passages:  # the budget is exact up to template overhead
            passages = passages[:-1]
            messages = prompts.retrieve_messages(passages, question, hist, lang)
            n = self.count_prompt(messages)
        if n > limit:
            raise BudgetError(
                f"the prompt needs {n:,} tokens with no passage at all, over the "
                f"{limit:,}-token limit; shorten the question or history"
            )
        reason = f"{decision.reason}; {len(passages)} passages ({result.note})"
        decision = RouteDecision("retrieve", reason, decision.scope, decision.budget)
        return Plan(
            question,
            lang,
            decision,
            messages,
            [_source(p) for p in passages],
            n,
            passages=passages,
            doc_ids=list(doc_ids),
            history=hist,
            timings={"retrieve_s": t1 - t0},
        )

    def _name(self, doc_id: str) -> str:
        return self.catalog.name(doc_id)

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
                    prompts.rewrite_messages(hist, question, lang), max_tokens=64
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
        mode: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        t_start = time.perf_counter()
        mode = mode or self.settings.router.mode
        plan = self.plan(question, doc_ids, history, mode)
        if plan.decision.route == "map_reduce":
            yield from self._map_reduce(plan, t_start)
            return
        yield self._head(plan)
        if plan.canned is not None:
            yield {"answer": plan.canned} if plan.canned else {}
            yield {"final": self._answer(plan, plan.canned, 0, t_start, None).as_dict()}
            return
        text, completion, ttft = yield from self._generate(plan.messages or [])
        if (
            plan.decision.route == "retrieve"
            and mode == "auto"
            and self.settings.router.self_route
            and prompts.says_unanswerable(text)
            and plan.passages
        ):
            retry = self._self_route(plan)
            if retry is not None:
                yield {"restart": True, **self._head(retry)}
                text, completion, ttft = yield from self._generate(retry.messages or [])
                plan = retry
        yield {"final": self._answer(plan, text, completion, t_start, ttft).as_dict()}

    def _self_route(self, plan: Plan) -> Plan | None:
        best = max(plan.passages, key=lambda p: p.score).doc_id
        n = self.doc_tokens(best)
        if n > plan.decision.budget:
            return None
        decision = RouteDecision(
            "stuff",
            f"self-route: the passages did not hold the answer, so the whole most "
            f"relevant document ({n:,} of {plan.decision.budget:,} tokens) was read",
            n,
            plan.decision.budget,
        )
        return self._plan_stuff(
            plan.question, plan.lang, decision, [best], plan.history, time.perf_counter()
        )

    def _head(self, plan: Plan) -> dict[str, Any]:
        return {
            "route": plan.decision.route,
            "reason": plan.decision.reason,
            "tokens": self._tokens(plan, 0),
            "sources": plan.sources,
        }

    def _tokens(self, plan: Plan, completion: int) -> dict[str, int]:
        return {
            "scope": plan.decision.scope,
            "budget": max(plan.decision.budget, 0),
            "prompt": plan.prompt_tokens,
            "completion": completion,
        }

    def _generate(
        self, messages: list[BaseMessage]
    ) -> Generator[dict[str, Any], None, tuple[str, int, float | None]]:
        """Stream token events; the generator's return value is (text, completion, ttft)."""
        t0 = time.perf_counter()
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        ttft: float | None = None
        for chunk in self.model.stream(messages, max_tokens=self.settings.llm.max_tokens):
            piece = str(chunk.content)
            if piece:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                parts.append(piece)
                yield {"answer": piece}
            if getattr(chunk, "usage_metadata", None):
                usage = chunk.usage_metadata  # type: ignore[assignment]
        text = "".join(parts).strip()
        completion = int(usage["output_tokens"]) if usage else self.count(text)
        return text, completion, ttft

    def _answer(
        self, plan: Plan, text: str, completion: int, t_start: float, ttft: float | None
    ) -> Answer:
        timings = {k: round(v, 4) for k, v in plan.timings.items()}
        if ttft is not None:
            timings["first_token_s"] = round(ttft, 4)
        timings["total_s"] = round(time.perf_counter() - t_start, 4)
        return Answer(
            text,
            plan.decision.route,
            plan.decision.reason,
            self._tokens(plan, completion),
            plan.sources,
            timings,
        )

    def _map_reduce(self, plan: Plan, t_start: float) -> Iterator[dict[str, Any]]:
        """Summarise each part within the context, then answer from the part notes."""
        lang, s = plan.lang, self.settings
        part_budget = self.n_ctx - 256 - s.router.overhead_tokens - 160
        parts: list[tuple[str, str, str]] = []  # (doc id, name, text)
        for doc_id in plan.doc_ids:
            name, used = self._name(doc_id), 0
            cur: list[str] = []
            for p in self.catalog.neighbours(doc_id, 0, 1 << 30):
                cost = self.count(p.text)
                if cur and used + cost > part_budget:
                    parts.append((doc_id, name, "\n".join(cur)))
                    cur, used = [], 0
                cur.append(p.text)
                used += cost
            if cur:
                parts.append((doc_id, name, "\n".join(cur)))
        yield self._head(plan)
        notes: list[str] = []
        for i, (_doc_id, name, text) in enumerate(parts, 1):
            yield {"status": f"part {i}/{len(parts)}"}
            msg = prompts.map_messages(name, text, i, len(parts), lang)
            notes.append(str(self.model.invoke(msg, max_tokens=256).content).strip())
        messages = prompts.reduce_messages(notes, plan.question, lang)
        while self.count_prompt(messages) > self.n_ctx - s.llm.max_tokens and len(notes) > 1:
            notes = notes[:-1]
            messages = prompts.reduce_messages(notes, plan.question, lang)
        plan.prompt_tokens = self.count_prompt(messages)
        # The sources are the whole documents whose notes the answer was written from.
        read = dict.fromkeys((d, n) for d, n, _ in parts[: len(notes)])
        plan.sources = [_text_source(n, self.catalog.text(d)) for d, n in read]
        text, completion, ttft = yield from self._generate(messages)
        yield {"final": self._answer(plan, text, completion, t_start, ttft).as_dict()}


class AnswerRunnable(Runnable[dict[str, Any], dict[str, Any]]):
    """The QA chain as a LangChain Runnable over ``{"question", "docs", "history", "mode"}``.

    ``invoke`` returns the final answer dict (``Answer.as_dict()``); ``stream`` yields the
    events described in the module docstring; ``batch`` and ``|`` composition come with
    ``Runnable``. ``docs`` are document names (default: all), ``history`` a list of
    ``(question, answer)`` pairs.
    """

    def __init__(self, qa: QA, resolve: Any) -> None:
        self.qa = qa
        self.resolve = resolve

    def _events(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if isinstance(inp, str):
            inp = {"question": inp}
        history = [tuple(h) for h in inp.get("history") or []]
        return self.qa.events(
            inp["question"], self.resolve(inp.get("docs")), history, inp.get("mode")
        )

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        final: dict[str, Any] = {}
        for event in self._events(input):
            final = event.get("final", final)
        return final

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        yield from self._events(input)
