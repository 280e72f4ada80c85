"""Planning one answer: where the router meets the store.

``Planner`` counts tokens with the answering model's own tokenizer, asks ``ragmix.qa.router``
for each decision (route, history kept, passages kept, the rewrite fallback, abstention,
Self-Route) and builds the exact messages. It decides nothing itself: every budget rule is a
pure function of the router. The result is a ``Plan``, which the chain (``ragmix.qa.chain``)
carries out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from ragmix.core.errors import BudgetError, StoreError
from ragmix.core.events import Source
from ragmix.core.schema import Passage
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language
from ragmix.qa import prompts, router, support, verdict
from ragmix.qa.retrieval import HybridSearcher, SearchResult, pack
from ragmix.qa.router import Confidence, Mode, RouteDecision, RouteRequest, Window
from ragmix.qa.sources import MAX_SUPPORT, passage_sources, text_source
from ragmix.store.catalog import Catalog

if TYPE_CHECKING:
    from ragmix.models.llm import TokenCounter

__all__ = ["REMOVED_MEANWHILE", "Asked", "Plan", "Planner"]

#: Tokens a chat template adds per message when the model cannot render it exactly.
PER_MESSAGE = 8
#: Longest rewritten follow-up (``router.rewrite: model``): a standalone question is one
#: sentence, so a reply is cut here rather than let a rambling model hold up the answer.
_REWRITE_TOKENS = 64
#: Every document of a question's scope was removed by a writer before it could be read.
REMOVED_MEANWHILE = "the documents asked about were removed meanwhile; ask again"


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


@dataclass(frozen=True)
class Asked:
    """One question as the planner carries it between its steps."""

    question: str
    lang: prompts.Lang
    doc_ids: list[str]  # the scope: documents still in the store
    history: list[tuple[str, str]]  # the turns kept (``router.trim_history``)
    t0: float = field(default_factory=time.perf_counter)


@dataclass
class Planner:
    """Plans answers over one store.

    Attributes:
        settings: the settings tree.
        catalog: the store's catalog.
        searcher: hybrid searcher over the store.
        make_model: returns the chat model (called only when a model is needed).
        make_counter: returns the answering model's token counter.
    """

    settings: Settings
    catalog: Catalog
    searcher: HybridSearcher
    make_model: Callable[[], BaseChatModel]
    make_counter: Callable[[], TokenCounter]

    @property
    def model(self) -> BaseChatModel:
        return self.make_model()

    @property
    def counter(self) -> TokenCounter:
        return self.make_counter()

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
        return sum(self.count(str(m.content)) + PER_MESSAGE for m in messages)

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

    def present(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """Token counts of the documents of the scope that are still there. A writer may
        remove one between the question's arrival and now (``ingest --sync`` on another
        thread): the answer is then written from the rest, never from half a document."""
        counts = {d: self.doc_tokens(d) for d in doc_ids}
        present = {d: n for d, n in counts.items() if n is not None}
        if not present:
            raise StoreError(REMOVED_MEANWHILE, code="removed_meanwhile")
        return present

    def history_tokens(self, history: Sequence[tuple[str, str]]) -> int:
        return sum(self.count(q) + self.count(a) + 2 * PER_MESSAGE for q, a in history)

    def trim_history(self, history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The newest turns that fit ``router.history_tokens`` (``router.trim_history``)."""
        turns = list(history)
        costs = [self.history_tokens([t]) for t in turns]
        keep = router.trim_history(costs, self.settings.router.history_tokens)
        return turns[len(turns) - keep :]

    # -- planning -------------------------------------------------------------------------
    def plan(
        self,
        question: str,
        doc_ids: Sequence[str],
        history: Sequence[tuple[str, str]],
        mode: Mode,
    ) -> Plan:
        """The route, prompt and sources for one question (``mode`` parsed by the caller)."""
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
        lang = prompts.lang_for(detect_language(question))
        t0 = time.perf_counter()
        if mode == "search":
            result = self.searcher.search(question, doc_ids, k=self.settings.retrieval.max_passages)
            return Plan(
                question,
                lang,
                router.search_decision(),
                None,
                passage_sources(self.catalog, result.passages, marks_of=question),
                passages=result.passages,
                doc_ids=list(doc_ids),
                timings={"retrieve_s": time.perf_counter() - t0},
                canned="" if result.passages else lang.no_passages,
            )
        hist = self.trim_history(history)
        tokens = self.present(doc_ids)
        doc_ids = list(tokens)
        req = RouteRequest(
            mode=mode,
            scope_tokens=sum(tokens.values()),
            window=self.window,
            question_tokens=self.count(question),
            history_tokens=self.history_tokens(hist),
            is_global=router.is_global_question(question),
            n_docs=len(doc_ids),
            stuff_max_tokens=self.settings.router.stuff_max_tokens,
        )
        decision = router.decide(req)
        asked = Asked(question, lang, doc_ids, hist, t0)
        if decision.route == "stuff":
            return self.plan_stuff(asked, decision)
        if decision.route == "map_reduce":
            return Plan(question, lang, decision, None, [], doc_ids=list(doc_ids), history=hist)
        return self.plan_retrieve(asked, decision)

    def plan_stuff(
        self, asked: Asked, decision: RouteDecision, texts: Mapping[str, str] | None = None
    ) -> Plan:
        """The whole-document prompt (``texts``: the documents' texts when the caller has
        read them already), or the retrieval plan when it does not fit after all."""
        question, lang, hist = asked.question, asked.lang, asked.history
        doc_ids: Sequence[str] = asked.doc_ids
        if texts is None:
            texts = self.catalog.texts(doc_ids)
        doc_ids = [d for d in doc_ids if d in texts]  # removed meanwhile: read the rest
        if not doc_ids:
            raise StoreError(REMOVED_MEANWHILE, code="removed_meanwhile")
        docs = [(self.catalog.name(d), texts[d]) for d in doc_ids]
        messages = prompts.stuff_messages(docs, question, hist, lang, self.concise(question))
        n = self.count_prompt(messages)
        decision = router.confirm_stuff(decision, n, self.window)
        if decision.route != "stuff":
            return self.plan_retrieve(replace(asked, doc_ids=doc_ids), decision)
        sources = [text_source(name, text) for name, text in docs]
        return Plan(
            question,
            lang,
            decision,
            messages,
            sources,
            n,
            doc_ids=list(doc_ids),
            history=hist,
            timings={"plan_s": time.perf_counter() - asked.t0},
            texts={d: texts[d] for d in doc_ids},
        )

    def plan_retrieve(self, asked: Asked, decision: RouteDecision) -> Plan:
        """The prompt over the passages retrieval finds, or an answer without the model (no
        passages, or none bearing on the question)."""
        assert decision.budget is not None  # only search has none
        question, lang, hist, doc_ids = asked.question, asked.lang, asked.history, asked.doc_ids
        query = self.standalone(question, hist, lang) if hist else question
        result = self.searcher.search(query, doc_ids)
        timings = {"retrieve_s": time.perf_counter() - asked.t0}

        def planned(
            d: RouteDecision, passages: list[Passage], canned: str | None = None, marks: str = ""
        ) -> Plan:
            messages, n = None, 0
            if canned is None:
                concise = self.concise(question)
                messages = prompts.retrieve_messages(passages, question, hist, lang, concise)
                n = self.count_prompt(messages)
            sources = passage_sources(self.catalog, passages, marks_of=marks)
            return Plan(question, lang, d, messages, sources, n, passages, list(doc_ids), hist,
                        timings, canned, query=query)  # fmt: skip

        if not result.passages:
            return planned(decision, [], lang.no_passages)
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
            canned = lang.abstained.format(terms=conf.terms)
            return planned(router.abstained(decision, why), closest, canned, marks=query)
        passages = pack(
            self.catalog,
            result.passages,
            router.passage_budget(decision.budget, self.settings.retrieval.max_passage_tokens),
            self.count,
            self.settings.retrieval.max_passages,
        )
        window = self.window
        while True:  # the router's budget is exact up to the template's overhead
            plan = planned(decision, passages)
            keep = router.passages_kept(len(passages), plan.prompt_tokens, window)
            if keep == len(passages):
                break
            passages = passages[:keep]
        plan.decision = router.with_passages(decision, len(passages), result.note)
        return plan

    def concise(self, question: str) -> bool:
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

    def standalone(self, question: str, hist: list[tuple[str, str]], lang: prompts.Lang) -> str:
        """A follow-up rewritten into a question that retrieval can use on its own."""
        previous = hist[-1][0]
        query = router.rewrite(self.settings.router.rewrite, question, previous)
        if query is not None:
            return query
        try:
            reply = str(
                self.model.invoke(
                    prompts.rewrite_messages(hist, question, lang), max_tokens=_REWRITE_TOKENS
                ).content
            )
        except Exception:
            reply = ""  # the model failed: the fallback
        return router.rewritten(question, previous, reply)

    def second_look(self, plan: Plan, answer: str, mode: Mode) -> Plan | None:
        """Self-Route: the whole-document plan to ask again with when the router doubts a
        retrieved ``answer`` (``router.wants_self_route``, ``router.doubt``), or None (the
        answer stands)."""
        if not router.wants_self_route(
            mode,
            plan.decision.route,
            enabled=self.settings.router.self_route,
            has_passages=bool(plan.passages),
        ):
            return None
        doubt = router.doubt(
            answer,
            unanswerable=prompts.says_unanswerable(answer),
            coverage=support.coverage(answer, [p.text for p in plan.passages], plan.question),
        )
        return self.self_route(plan, doubt) if doubt else None

    def self_route(self, plan: Plan, doubt: str) -> Plan | None:
        """The whole-document plan Self-Route asks again with, or None (the answer stands)."""
        best = router.self_route_target([(p.doc_id, p.score) for p in plan.passages])
        tokens = self.doc_tokens(best)
        if tokens is None:  # removed meanwhile: keep the passages already found
            return None
        decision = router.self_route(plan.decision, tokens, doubt)
        if decision is None:
            return None
        return self.plan_stuff(Asked(plan.question, plan.lang, [best], plan.history), decision)

    def read_ahead(self, doc_id: str) -> Plan:
        """The whole-document plan that reads one document ahead (``ragmix warm``).

        Raises:
            BudgetError: the document does not fit the context window whole.
            StoreError: the document was removed meanwhile.
        """
        asked = Asked("", prompts.EN, [doc_id], [])
        present = self.present([doc_id])
        text = self.catalog.texts([doc_id]).get(doc_id)
        if not present or text is None:
            raise StoreError(REMOVED_MEANWHILE, code="removed_meanwhile")
        asked = replace(asked, lang=prompts.lang_for(detect_language(text[:2000])))
        decision = router.read_ahead(present[doc_id], self.window)
        plan = (
            self.plan_stuff(asked, decision, {doc_id: text}) if decision.route == "stuff" else None
        )
        if plan is None or plan.decision.route != "stuff":
            name = self.catalog.name(doc_id)
            raise BudgetError(
                f"{name} does not fit the model's context whole "
                f"({present[doc_id]:,} tokens; {decision.reason}): questions on it are "
                "answered from retrieved passages, so there is nothing to read ahead",
                code="too_long_to_read_ahead",
                params={"name": name, "tokens": present[doc_id]},
            )
        return plan
