"""Map-reduce uses every part's note: notes that do not fit the answer's prompt are combined
in rounds (a pure router decision, tested as a table here); where even that cannot help (a
tiny window), the reason and the sources say which parts the answer covers. The wiring (the
real store and tokenizer around a scripted chat model) is tested in tests/test_qa.py, on its
1,024-token store."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ragmix.qa.router import ReduceStep, RouteDecision, reduce_step, reduced


@pytest.mark.parametrize(
    ("costs", "budget", "merge_tokens", "step"),
    [
        ([100, 100, 100], 300, 400, ReduceStep()),  # they fit: answer from them all
        ([], 10, 400, ReduceStep()),
        ([100, 100, 100, 100], 250, 250, ReduceStep(merge=((0, 1), (2, 3)))),
        ([100, 100, 100, 100, 100], 250, 300, ReduceStep(merge=((0, 2), (3, 4)))),
        ([300, 50, 50, 300], 400, 200, ReduceStep(merge=((0, 0), (1, 2), (3, 3)))),
        ([200, 200, 200], 250, 300, ReduceStep(keep=1)),  # no two fit one step
        ([100, 200, 200], 320, 250, ReduceStep(keep=2)),
        ([500], 300, 400, ReduceStep(keep=1)),  # one note over the room: still read
    ],
)
def test_reduce_step(costs: list[int], budget: int, merge_tokens: int, step: ReduceStep) -> None:
    assert reduce_step(costs, budget, merge_tokens) == step


def _rounds(costs: Sequence[int], budget: int, merge_tokens: int, merged_cost: int) -> int:
    """How many rounds the chain runs when every merged note costs ``merged_cost``."""
    costs, rounds = list(costs), 0
    while (step := reduce_step(costs, budget, merge_tokens)).merge:
        costs = [costs[a] if a == b else merged_cost for a, b in step.merge]
        rounds += 1
    assert step.keep is None  # every note reached the answer
    return rounds


@pytest.mark.parametrize(
    ("n", "budget", "merge_tokens", "rounds"),
    [(4, 1000, 800, 0), (40, 1000, 800, 2), (200, 1000, 800, 3), (200, 7000, 30000, 1)],
)
def test_rounds_always_end_with_every_note_used(
    n: int, budget: int, merge_tokens: int, rounds: int
) -> None:
    assert _rounds([200] * n, budget, merge_tokens, 200) == rounds


@pytest.mark.parametrize(
    ("n_parts", "rounds", "covered", "said"),
    [
        (4, 0, [1, 2, 3, 4], "answered from the notes of all 4 parts"),
        (9, 1, range(1, 10), "answered from the notes of all 9 parts, combined in 1 round"),
        (7, 0, [1, 2, 3], "answered from parts 1-3 of 7 only: the notes of parts 4-7 did not "
         "fit the context"),
        (5, 0, [1], "answered from parts 1 of 5 only: the notes of parts 2-5 did not fit the "
         "context"),
    ],
)  # fmt: skip
def test_the_reason_says_what_was_covered(
    n_parts: int, rounds: int, covered: Sequence[int], said: str
) -> None:
    d = RouteDecision("map_reduce", "global question", 9_000, 700)
    assert reduced(d, n_parts, rounds, list(covered)) == RouteDecision(
        "map_reduce", f"global question; {said}", 9_000, 700
    )
