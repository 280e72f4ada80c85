"""The budget decisions the chain carries out, as tables: history trimming, passages kept,
the notes' room, the rewrite fallback, the Self-Route target and reading ahead. The chain
(``ragmix.qa.chain``) only counts tokens and builds prompts around them; these are the rules."""

from __future__ import annotations

import pytest

from ragmix.core.errors import BudgetError
from ragmix.qa.router import (
    READ_AHEAD_QUESTION_TOKENS,
    Window,
    notes_room,
    passages_kept,
    read_ahead,
    rewrite,
    rewritten,
    self_route_target,
    trim_history,
)

W = Window(n_ctx=1000, answer_tokens=100, overhead_tokens=100)  # prompt limit 900


@pytest.mark.parametrize(
    ("costs", "limit", "kept"),
    [
        ([], 500, 0),
        ([100, 100, 100], 300, 3),  # exactly at the limit
        ([100, 100, 100], 299, 2),  # the oldest goes first
        ([50, 300, 100, 100], 250, 2),  # stops at the first turn that does not fit
        ([50, 300, 100, 100], 550, 4),
        ([600], 500, 0),  # the newest alone is too long: no history
        ([10, 10], 0, 0),  # router.history_tokens: 0 turns history off
    ],
)
def test_history_keeps_the_newest_turns_that_fit(costs: list[int], limit: int, kept: int) -> None:
    assert trim_history(costs, limit) == kept


@pytest.mark.parametrize(
    ("n", "prompt", "kept"),
    [
        (4, 800, 4),
        (4, 900, 4),  # at the limit: fits
        (4, 901, 3),  # one over: the last (weakest) passage goes
        (1, 2000, 0),
        (0, 900, 0),
    ],
)
def test_passages_go_from_the_end_until_the_prompt_fits(n: int, prompt: int, kept: int) -> None:
    assert passages_kept(n, prompt, W) == kept


def test_no_passage_left_and_still_over_is_an_error() -> None:
    with pytest.raises(BudgetError, match="no passage at all") as exc:
        passages_kept(0, 901, W)
    assert exc.value.code == "no_room_for_passages"


@pytest.mark.parametrize(
    ("room", "costs", "over", "fit"),
    [
        (1000, [300, 300], 0, 1000),  # the estimate held
        (1000, [300, 300], -50, 1000),
        (1000, [300, 300], 100, 500),  # the exact prompt was over: the room shrinks
        (400, [300, 300], 100, 400),  # never above the estimate's room
    ],
)
def test_the_notes_room_follows_the_exact_count(
    room: int, costs: list[int], over: int, fit: int
) -> None:
    assert notes_room(room, costs, over) == fit


@pytest.mark.parametrize(
    ("how", "query"),
    [("off", "and in 2023?"), ("concat", "revenue in 2022 and in 2023?"), ("model", None)],
)
def test_the_rewrite_setting(how: str, query: str | None) -> None:
    assert rewrite(how, "and in 2023?", "revenue in 2022") == query


@pytest.mark.parametrize(
    ("reply", "query"),
    [
        ("What was the revenue in 2023?", "What was the revenue in 2023?"),
        ("  What was the revenue in 2023?\n", "What was the revenue in 2023?"),
        ("", "revenue in 2022 and in 2023?"),  # the model failed or said nothing
        ("x" * (4 * 12 + 200), "x" * (4 * 12 + 200)),  # at the limit
        ("x" * (4 * 12 + 201), "revenue in 2022 and in 2023?"),  # rambling
    ],
)
def test_a_model_rewrite_falls_back_to_concat(reply: str, query: str) -> None:
    assert rewritten("and in 2023?", "revenue in 2022", reply) == query


@pytest.mark.parametrize(
    ("passages", "target"),
    [
        ([("a", 0.9)], "a"),
        ([("a", 0.2), ("b", 0.9), ("a", 0.5)], "b"),
        ([("a", 0.5), ("b", 0.5)], "a"),  # a tie: the first (retrieval's order)
    ],
)
def test_self_route_rereads_the_best_passages_document(
    passages: list[tuple[str, float]], target: str
) -> None:
    assert self_route_target(passages) == target


@pytest.mark.parametrize(
    ("tokens", "route"),
    [
        (500, "stuff"),
        (W.budget(READ_AHEAD_QUESTION_TOKENS), "stuff"),  # exactly the budget
        (W.budget(READ_AHEAD_QUESTION_TOKENS) + 1, "retrieve"),
    ],
)
def test_read_ahead_only_what_fits_whole(tokens: int, route: str) -> None:
    d = read_ahead(tokens, W)
    assert d.route == route
    assert d.scope == tokens
