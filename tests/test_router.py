"""Every routing decision as a table: token counts and settings in, route and reason out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ragmix.core.errors import BudgetError, ConfigError
from ragmix.core.settings import load_settings
from ragmix.qa.router import (
    MAP_NOTE_TOKENS,
    MAP_PROMPT_TOKENS,
    MIN_BUDGET,
    MapReduceBudget,
    Mode,
    Route,
    RouteDecision,
    RouteRequest,
    Window,
    confirm_stuff,
    decide,
    doubt,
    is_global_question,
    map_reduce_budget,
    no_room_for_passages,
    parse_mode,
    search_decision,
    self_route,
    split_parts,
    wants_self_route,
    with_passages,
)

W8K = Window(n_ctx=8192, answer_tokens=512, overhead_tokens=256)


def req(
    mode: Mode = "auto",
    scope: int = 1000,
    n_ctx: int = 8192,
    question: int = 20,
    history: int = 0,
    is_global: bool = False,
    n_docs: int = 1,
    answer: int = 512,
) -> RouteRequest:
    return RouteRequest(
        mode, scope, Window(n_ctx, answer, 256), question, history, is_global, n_docs
    )


def test_the_window_is_split_in_one_place() -> None:
    assert (W8K.prompt_limit, W8K.usable, W8K.question_limit) == (7680, 7424, 7360)
    assert W8K.budget(20, 600) == 7424 - 20 - 600
    assert W8K.fits(7680) and not W8K.fits(7681)
    assert Window(512, 512, 256).question_limit == 0  # never negative
    s = load_settings(None, llm={"n_ctx": 4096, "max_tokens": 300}, router={"overhead_tokens": 99})
    assert Window.of(s) == Window(4096, 300, 99)
    assert Window.of(s, n_ctx=2048) == Window(2048, 300, 99)  # the loaded model's own


# budget = n_ctx - answer - overhead - question - history = 8192-512-256-20 = 7404
TABLE: list[tuple[Mode, int, int, int, bool, Route, str]] = [
    # mode,      scope, n_ctx, history, global, route,        reason contains
    ("auto", 1000, 8192, 0, False, "stuff", "whole document fits: 1,000 of 7,404 tokens"),
    ("auto", 7404, 8192, 0, False, "stuff", "fits"),  # exactly at budget
    ("auto", 7405, 8192, 0, False, "retrieve", "7,405 tokens exceed the 7,404-token budget"),
    ("auto", 7000, 8192, 600, False, "retrieve", "6,804"),  # history eats room
    ("auto", 50000, 8192, 0, True, "map_reduce", "global question"),
    ("auto", 1000, 8192, 0, True, "stuff", "fits"),  # global but fits
    ("stuff", 1000, 8192, 0, False, "stuff", "whole document chosen: 1,000 of 7,404"),
    # fallback: stuff asked for, does not fit
    ("stuff", 20000, 8192, 0, False, "retrieve", "asked for, but 20,000 tokens exceed"),
    ("retrieve", 100, 8192, 0, False, "retrieve", "retrieval chosen"),
    ("auto", 30000, 32768, 0, False, "stuff", "30,000 of 31,980"),  # Mixtral 32K
    ("auto", 0, 8192, 0, False, "retrieve", "no document text"),
    ("stuff", 0, 8192, 0, False, "retrieve", "no document text"),
]


@pytest.mark.parametrize(("mode", "scope", "n_ctx", "history", "is_global", "route", "why"), TABLE)
def test_route_table(
    mode: Mode, scope: int, n_ctx: int, history: int, is_global: bool, route: Route, why: str
) -> None:
    d = decide(req(mode, scope, n_ctx, history=history, is_global=is_global))
    assert d.route == route
    assert why in d.reason
    assert d.scope == scope
    assert d.budget == n_ctx - 512 - 256 - 20 - history


def test_search_has_no_budget_and_never_fails_on_length() -> None:
    expected = RouteDecision("search", "search only: passages, no model", 0, None)
    assert search_decision() == expected
    assert decide(req("search", scope=999_999)) == expected
    assert decide(req("search", question=20_000)) == expected  # no prompt: no length limit


def test_question_longer_than_any_budget_is_an_error_not_a_truncation() -> None:
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
    assert decide(req(question=7360)).budget == MIN_BUDGET
    with pytest.raises(BudgetError, match="7,361 tokens long"):
        decide(req(question=7361))


def test_global_question_in_a_window_too_small_for_parts_is_retrieved() -> None:
    # 640 - 96 answer - 256 overhead - 20 question = 268 tokens of budget, but a map part
    # would get 640 - 256 note - 256 overhead - 160 map prompt = -32: nothing to summarise
    d = decide(req(scope=5000, n_ctx=640, is_global=True, answer=96))
    assert (d.route, d.budget) == ("retrieve", 268)
    assert d.reason == (
        "global question and 5,000 tokens exceed the 268-token budget, but the 640-token "
        "context is too small to summarise part by part: retrieving passages"
    )
    # 100 tokens more context and a part holds MIN_BUDGET + 4 tokens: part by part
    assert decide(req(scope=5000, n_ctx=740, is_global=True, answer=96)).route == "map_reduce"


def test_several_documents_are_named_in_the_reason() -> None:
    assert "whole 3 documents fits" in decide(req(scope=3000, n_docs=3)).reason


def test_mode_names_are_checked() -> None:
    assert parse_mode("stuff") == "stuff"
    with pytest.raises(ConfigError, match="unknown mode 'whole'; use one of auto, stuff"):
        parse_mode("whole")


# -- fallbacks after the prompt is counted exactly ------------------------------------------
STUFFED = RouteDecision("stuff", "whole document fits: 7,000 of 7,404 tokens", 7000, 7404)


@pytest.mark.parametrize(
    ("prompt", "route", "budget", "why"),
    [
        (7500, "stuff", 7404, "fits"),  # within 8,192 - 512 = 7,680
        (7680, "stuff", 7404, "fits"),  # exactly at the limit
        (7681, "retrieve", 7403, "whole document prompt is 7,681 tokens, over the 7,680 limit"),
        (8000, "retrieve", 7084, "retrieving passages"),  # budget shrinks by the overshoot
    ],
)
def test_stuffed_prompt_over_the_window_falls_back_to_retrieval(
    prompt: int, route: Route, budget: int, why: str
) -> None:
    d = confirm_stuff(STUFFED, prompt, W8K)
    assert (d.route, d.budget, d.scope) == (route, budget, 7000)
    assert why in d.reason
    if route == "stuff":
        assert d is STUFFED


def test_retrieval_reason_says_what_was_found() -> None:
    d = with_passages(RouteDecision("retrieve", "retrieval chosen", 900, 7404), 3, "bm25 only")
    assert d == RouteDecision("retrieve", "retrieval chosen; 3 passages (bm25 only)", 900, 7404)
    assert str(no_room_for_passages(7700, W8K)) == (
        "the prompt needs 7,700 tokens with no passage at all, over the 7,680-token limit; "
        "shorten the question or history"
    )


# -- Self-Route -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "route", "enabled", "passages", "wanted"),
    [
        ("auto", "retrieve", True, True, True),
        ("auto", "retrieve", False, True, False),  # router.self_route off
        ("auto", "retrieve", True, False, False),  # nothing was read
        ("retrieve", "retrieve", True, True, False),  # the user chose retrieval
        ("auto", "stuff", True, True, False),  # the whole document was read already
        ("stuff", "retrieve", True, True, False),  # a stuff fallback: the user's mode
        ("auto", "map_reduce", True, True, False),
    ],
)
def test_self_route_only_for_the_routers_own_retrieval(
    mode: Mode, route: Route, enabled: bool, passages: bool, wanted: bool
) -> None:
    assert wants_self_route(mode, route, enabled=enabled, has_passages=passages) is wanted


@pytest.mark.parametrize(
    ("answer", "unanswerable", "coverage", "why"),
    [
        ("钟楼建于1998年。", False, (1.0, 2), None),  # read from the passages
        ("", False, (1.0, 0), "the answer from the passages was empty"),
        ("无法回答", True, (0.0, 2), "the answer says the passages do not hold it"),
        ("钟楼建于1998年。" * 30, False, (1.0, 2), "the answer from the passages repeats itself"),
        # made up: its own words are not in the passages (a small model rarely says 无法回答)
        (
            "钟楼由英国建筑师设计",
            False,
            (0.2, 5),
            "only 20% of the answer's own words are in the passages",
        ),
        ("钟楼由英国建筑师设计", False, (0.4, 5), None),
        ("1870年", False, (0.0, 1), None),  # too short to judge by its words
    ],
)
def test_doubt_does_not_rely_on_the_model_saying_so(
    answer: str, unanswerable: bool, coverage: tuple[float, int], why: str | None
) -> None:
    assert doubt(answer, unanswerable=unanswerable, coverage=coverage) == why


RETRIEVED = RouteDecision("retrieve", "12,000 tokens exceed the 7,404-token budget", 12000, 7404)


@pytest.mark.parametrize(
    ("doc_tokens", "rereads"),
    [(3000, True), (7404, True), (7405, False), (50_000, False)],
)
def test_self_route_rereads_the_document_only_if_it_fits(doc_tokens: int, rereads: bool) -> None:
    d = self_route(RETRIEVED, doc_tokens, "the answer says the passages do not hold it")
    if not rereads:
        assert d is None
        return
    assert d == RouteDecision(
        "stuff",
        "self-route: the answer says the passages do not hold it, so the whole most relevant "
        f"document ({doc_tokens:,} of 7,404 tokens) was read",
        doc_tokens,
        7404,
    )


# -- map-reduce -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_ctx", "overhead", "part"),
    [
        (1024, 256, 352),  # 1,024 - 256 note - 256 overhead - 160 map prompt
        (8192, 256, 7520),
        (32768, 512, 31840),
        (640, 256, -32),  # too small: decide() retrieves instead (see the route table)
    ],
)
def test_map_reduce_part_budget(n_ctx: int, overhead: int, part: int) -> None:
    # the answer's own max_tokens does not matter: a map step writes a note, not the answer
    for answer in (96, 512):
        assert map_reduce_budget(Window(n_ctx, answer, overhead)) == MapReduceBudget(
            part, MAP_NOTE_TOKENS
        )
    assert part == n_ctx - MAP_NOTE_TOKENS - overhead - MAP_PROMPT_TOKENS


@pytest.mark.parametrize(
    ("costs", "budget", "sizes"),
    [
        ([100, 100, 100], 250, [2, 1]),
        ([100, 100, 100], 300, [3]),  # exactly at the budget
        ([100, 400, 50], 250, [1, 1, 1]),  # a chunk over the budget is a part of its own
        ([400, 400], 250, [1, 1]),
        ([], 250, []),
        ([10] * 10, 35, [3, 3, 3, 1]),
    ],
)
def test_map_reduce_parts(costs: list[int], budget: int, sizes: list[int]) -> None:
    assert split_parts(costs, budget) == sizes
    assert sum(sizes) == len(costs)


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


@pytest.mark.parametrize(
    ("scope", "limit", "is_global", "route"),
    [
        (2_000, None, False, "stuff"),  # no calibrated limit: whatever fits
        (2_000, 2_300, False, "stuff"),
        (5_000, 2_300, False, "retrieve"),  # fits, but this model answers better from passages
        (5_000, 2_300, True, "stuff"),  # a question about the whole text still reads it whole
        (5_000, 0, False, "retrieve"),
    ],
)
def test_a_calibrated_stuff_limit_applies_to_auto_only(
    scope: int, limit: int | None, is_global: bool, route: str
) -> None:
    req = RouteRequest("auto", scope, W8K, 20, is_global=is_global, stuff_max_tokens=limit)
    d = decide(req)
    assert d.route == route
    if limit is not None and route == "retrieve":
        assert "router.stuff_max_tokens" in d.reason and f"{limit:,}" in d.reason
    # a user who asks for the whole document gets it
    assert decide(replace(req, mode="stuff")).route == "stuff"
