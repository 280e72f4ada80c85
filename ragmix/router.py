"""The retrieve-or-stuff decision: a pure function of token counts and settings.

A long-context model reads a whole report better than it reads retrieved fragments, above all
for global questions ("summarise", "总结"), but only if the report fits. So, for ``auto``:

* the scope (the chosen documents, or all of them) fits the budget  -> ``stuff``
* it does not, and the question is global                           -> ``map_reduce``
  (each part of the document is summarised within the budget, then the parts are combined)
* it does not                                                        -> ``retrieve``

where ``budget = n_ctx - answer - overhead - question - history``: the tokens left for
document text. ``stuff`` that does not fit falls back to ``retrieve`` with the reason said;
``search`` never calls a model. A question that leaves no budget at all is an error, never a
truncated prompt. The LangChain wiring around this lives in ``ragmix.chain``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ragmix.errors import BudgetError

Mode = Literal["auto", "stuff", "retrieve", "search"]
Route = Literal["stuff", "retrieve", "search", "map_reduce"]

#: Smallest useful room for document text; below it a prompt would be all question.
MIN_BUDGET = 64

_GLOBAL = re.compile(
    r"(总结|概括|概述|摘要|归纳|全文|通篇|整篇|整份|主要内容|讲了什么|说了什么|写了什么|要点|大意"
    r"|summari[sz]e|summary|overview|outline|main (points|ideas|topics)|key (points|takeaways)"
    r"|what is (this|the) (document|report|paper|file) about|tl;?dr|whole document)",
    re.IGNORECASE,
)


def is_global_question(question: str) -> bool:
    """Whether a question asks about the document as a whole rather than a fact in it."""
    return bool(_GLOBAL.search(question))


@dataclass(frozen=True)
class RouteRequest:
    """Everything the decision depends on, in tokens of the answering model."""

    mode: Mode
    scope_tokens: int
    n_ctx: int
    answer_tokens: int
    overhead_tokens: int
    question_tokens: int
    history_tokens: int = 0
    is_global: bool = False
    n_docs: int = 1

    @property
    def budget(self) -> int:
        return (
            self.n_ctx
            - self.answer_tokens
            - self.overhead_tokens
            - self.question_tokens
            - self.history_tokens
        )


def question_limit(n_ctx: int, answer_tokens: int, overhead_tokens: int) -> int:
    """The most tokens a question (with its history) may take: what still leaves
    ``MIN_BUDGET`` tokens of document text after the answer and the instructions."""
    return max(n_ctx - answer_tokens - overhead_tokens - MIN_BUDGET, 0)


def _too_long(req: RouteRequest) -> str:
    q, h = req.question_tokens, req.history_tokens
    limit = question_limit(req.n_ctx, req.answer_tokens, req.overhead_tokens)
    if h:
        asked = f"the question ({q:,} tokens) and the chat history ({h:,}) take {q + h:,} tokens"
    else:
        asked = f"the question is {q:,} tokens long"
    return (
        f"{asked}, over the {limit:,}-token limit of this model: its {req.n_ctx:,}-token "
        f"context keeps {req.answer_tokens:,} for the answer, {req.overhead_tokens:,} for the "
        f"instructions and at least {MIN_BUDGET} for document text; shorten the question"
        f"{', clear the history' if h else ''} or use a model with a larger llm.n_ctx"
    )


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    reason: str
    scope: int
    budget: int


def decide(req: RouteRequest) -> RouteDecision:
    """Choose the route for one question.

    Raises:
        BudgetError: the question (with history) leaves no room for any document text.
    """
    budget = req.budget
    fits = req.scope_tokens <= budget
    scope = f"{req.scope_tokens:,}"
    room = f"{budget:,}"
    docs = "document" if req.n_docs == 1 else f"{req.n_docs} documents"
    if req.mode == "search":
        return RouteDecision("search", "search only: passages, no model", req.scope_tokens, budget)
    if budget < MIN_BUDGET:
        raise BudgetError(_too_long(req))
    if req.scope_tokens == 0:
        return RouteDecision("retrieve", "no document text in scope", 0, budget)
    if req.mode == "retrieve":
        return RouteDecision("retrieve", "retrieval chosen", req.scope_tokens, budget)
    if req.mode == "stuff":
        if fits:
            return RouteDecision(
                "stuff", f"whole {docs} chosen: {scope} of {room} tokens", req.scope_tokens, budget
            )
        return RouteDecision(
            "retrieve",
            f"whole {docs} asked for, but {scope} tokens exceed the {room}-token budget: "
            "retrieving passages instead",
            req.scope_tokens,
            budget,
        )
    if fits:
        return RouteDecision(
            "stuff",
            f"whole {docs} fits: {scope} of {room} tokens",
            req.scope_tokens,
            budget,
        )
    if req.is_global:
        return RouteDecision(
            "map_reduce",
            f"global question and {scope} tokens exceed the {room}-token budget: summarising "
            "the document part by part, then combining",
            req.scope_tokens,
            budget,
        )
    return RouteDecision(
        "retrieve",
        f"{scope} tokens exceed the {room}-token budget: retrieving passages",
        req.scope_tokens,
        budget,
    )
