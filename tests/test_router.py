"""The route decision as a table: token counts and settings in, route and reason out."""

from __future__ import annotations

import pytest

from ragmix.errors import BudgetError
from ragmix.router import RouteRequest, decide, is_global_question, question_limit


def req(
    mode: str = "auto",
    scope: int = 1000,
    n_ctx: int = 8192,
    answer: int = 512,
    overhead: int = 256,
    question: int = 20,
    history: int = 0,
    is_global: bool = False,
    n_docs: int = 1,
) -> RouteRequest:
    return RouteRequest(
        mode,
        scope,
        n_ctx,
        answer,
        overhead,
        question,
        history,  # type: ignore[arg-type]
        is_global,
        n_docs,
    )


# budget = n_ctx - answer - overhead - question - history = 8192-512-256-20 = 7404
TABLE = [
    # mode,      scope, n_ctx, history, global, route,        reason contains
    ("auto", 1000, 8192, 0, False, "stuff", "fits: 1,000 of 7,404"),
    ("auto", 7404, 8192, 0, False, "stuff", "fits"),  # exactly at budget
    ("auto", 7405, 8192, 0, False, "retrieve", "exceed the 7,404-token budget"),
    ("auto", 7000, 8192, 600, False, "retrieve", "6,804"),  # history eats room
    ("auto", 50000, 8192, 0, True, "map_reduce", "global question"),
    ("auto", 1000, 8192, 0, True, "stuff", "fits"),  # global but fits
    ("stuff", 1000, 8192, 0, False, "stuff", "chosen"),
    ("stuff", 20000, 8192, 0, False, "retrieve", "asked for, but 20,000"),
    ("retrieve", 100, 8192, 0, False, "retrieve", "retrieval chosen"),
    ("search", 999999, 8192, 0, False, "search", "no model"),
    ("auto", 30000, 32768, 0, False, "stuff", "30,000 of 31,980"),  # Mixtral 32K
    ("auto", 0, 8192, 0, False, "retrieve", "no document text"),
]


@pytest.mark.parametrize(("mode", "scope", "n_ctx", "history", "is_global", "route", "why"), TABLE)
def test_route_table(
    mode: str, scope: int, n_ctx: int, history: int, is_global: bool, route: str, why: str
) -> None:
    d = decide(req(mode, scope, n_ctx, history=history, is_global=is_global))
    assert d.route == route
    assert why in d.reason
    assert d.scope == scope
    assert d.budget == n_ctx - 512 - 256 - 20 - history


def test_question_longer_than_any_budget_is_an_error_not_a_truncation() -> None:
    # limit = n_ctx - answer - overhead - MIN_BUDGET = 8192 - 512 - 256 - 64 = 7360
    assert question_limit(8192, 512, 256) == 7360
    with pytest.raises(BudgetError) as err:
        decide(req(question=20_000))
    assert str(err.value) == (
        "the question is 20,000 tokens long, over the 7,360-token limit of this model: its "
        "8,192-token context keeps 512 for the answer, 256 for the instructions and at least "
        "64 for document text; shorten the question or use a model with a larger llm.n_ctx"
    )
    with pytest.raises(
        BudgetError,
        match=r"question \(3,000 tokens\) and the chat history "
        r"\(5,000\) take 8,000 tokens, over the 7,360-token limit.*clear the hist",
    ):
        decide(req(question=3000, history=5000))
    assert decide(req(question=7360)).route == "retrieve"  # the limit itself still passes
    with pytest.raises(BudgetError, match="7,361 tokens long"):
        decide(req(question=7361))
    # search never needs a budget
    assert decide(req("search", question=8000)).route == "search"


def test_several_documents_are_named_in_the_reason() -> None:
    assert "whole 3 documents fits" in decide(req(scope=3000, n_docs=3)).reason


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("请总结这份年报的主要内容", True),
        ("概括一下第三节", True),
        ("全文讲了什么？", True),
        ("Summarize the report", True),
        ("What is this document about?", True),
        ("公司 2025 年的营业收入是多少？", False),
        ("How long is the warranty?", False),
    ],
)
def test_global_questions(question: str, expected: bool) -> None:
    assert is_global_question(question) is expected
