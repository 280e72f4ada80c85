"""The events that cross from the core to the CLI and the page, and their one reducer each.

Fast and model-free: the events are scripted here. The same events from the real chain,
store and GGUF are checked in test_qa.py (answers) and test_ingest.py (ingest progress).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ragmix.core.errors import BudgetError, RagmixError
from ragmix.core.events import (
    Answer,
    AnswerEvent,
    AnswerState,
    Done,
    Embedding,
    Failed,
    FileDone,
    FileFailed,
    FilesFound,
    FileStarted,
    IngestState,
    PartStarted,
    Reading,
    RouteDecided,
    Source,
    Sources,
    Token,
    Tokens,
    catch_errors,
)

TOKENS: Tokens = {"scope": 5_700, "budget": 7_404, "prompt": 0, "completion": 0}
PASSAGE: Source = {
    "source": "report.pdf",
    "page": 2,
    "chunk": 3,
    "start": 120,
    "end": 180,
    "score": 0.031,
    "text": "报告期内营业收入为十八亿元。",
    "kind": "passage",
    "pages": [2],
    "highlights": [],
    "support": None,
}
WHOLE: Source = {
    **PASSAGE, "page": None, "chunk": None, "start": 0, "end": 900, "score": 1.0,
    "kind": "document", "pages": [],
}  # fmt: skip
FINAL = Answer(
    "营业收入为十八亿元。",
    "stuff",
    "self-route: whole document read",
    {**TOKENS, "prompt": 6_000, "completion": 9},
    [WHOLE],
    {"total_s": 3.5},
)
SELF_ROUTED: list[AnswerEvent] = [
    RouteDecided("retrieve", "5,700 tokens exceed the 900-token budget", TOKENS),
    Sources((PASSAGE,)),
    Token("无法"),
    Token("回答"),
    RouteDecided("stuff", "self-route: whole document read", TOKENS, restart=True),
    Sources((WHOLE,)),
    Token("营业收入为十八亿元。 "),
    Done(FINAL),
]


def states(events: list[AnswerEvent]) -> list[AnswerState]:
    out, state = [], AnswerState()
    for event in events:
        state = state.apply(event)
        out.append(state)
    return out


def test_answer_state_after_each_event() -> None:
    seen = states(SELF_ROUTED)
    assert [(s.route, s.text, len(s.sources), s.restarted, s.done) for s in seen] == [
        ("retrieve", "", 0, False, False),
        ("retrieve", "", 1, False, False),
        ("retrieve", "无法", 1, False, False),
        ("retrieve", "无法回答", 1, False, False),
        ("stuff", "", 0, True, False),  # Self-Route: the first answer is dropped
        ("stuff", "", 1, True, False),
        ("stuff", "营业收入为十八亿元。 ", 1, True, False),
        ("stuff", "营业收入为十八亿元。", 1, True, True),  # the final, stripped text
    ]
    assert seen[1].sources == (PASSAGE,) and seen[5].sources == (WHOLE,)
    assert seen[-1].result() is FINAL and seen[-1].tokens == FINAL.tokens
    assert AnswerState.fold(SELF_ROUTED) == seen[-1]


def test_map_reduce_progress_and_its_sources_arrive_late() -> None:
    events: list[AnswerEvent] = [
        RouteDecided("map_reduce", "global question", TOKENS),
        Sources(()),
        PartStarted(1, 2),
        PartStarted(2, 2),
        Sources((WHOLE,)),
        Token("notes"),
    ]
    seen = states(events)
    assert [s.status for s in seen] == ["", "", "part 1/2", "part 2/2", "part 2/2", "part 2/2"]
    assert seen[-1].sources == (WHOLE,) and seen[-1].text == "notes"
    done = seen[-1].apply(Done(FINAL))
    assert done.status == "" and done.done


def test_errors_end_the_stream_as_an_event() -> None:
    def failing() -> Iterator[AnswerEvent]:
        yield RouteDecided("stuff", "fits", TOKENS)
        raise BudgetError("the question is 20,000 tokens long")

    events = list(catch_errors(failing()))
    assert events[-1] == Failed("the question is 20,000 tokens long")
    state = AnswerState.fold(events)
    assert state.done and state.route == "stuff" and state.answer is None
    with pytest.raises(RagmixError, match="20,000 tokens long"):
        state.result()
    with pytest.raises(RuntimeError, match="before its Done event"):
        AnswerState.fold(events[:1]).result()

    def buggy() -> Iterator[AnswerEvent]:
        yield Token("x")
        raise KeyError("a bug, not a RagmixError")

    with pytest.raises(KeyError):
        list(catch_errors(buggy()))


def test_json_forms_are_tagged_and_keep_the_answer_contract() -> None:
    assert [e.as_dict()["type"] for e in SELF_ROUTED] == [
        "route", "sources", "token", "token", "route", "sources", "token", "done",
    ]  # fmt: skip
    assert SELF_ROUTED[4].as_dict() == {
        "type": "route",
        "route": "stuff",
        "reason": "self-route: whole document read",
        "tokens": TOKENS,
        "restart": True,
    }
    assert PartStarted(1, 3).as_dict() == {"type": "part", "part": 1, "parts": 3}
    assert Failed("x").as_dict() == {"type": "error", "message": "x"}
    done = Done(FINAL).as_dict()
    assert done["answer"] == FINAL.as_dict()
    assert list(FINAL.as_dict()) == [
        "answer", "route", "reason", "tokens", "sources", "timings", "warnings",
        "verdict", "unsupported", "verdict_note",
    ]  # fmt: skip
    json.dumps([e.as_dict() for e in SELF_ROUTED], ensure_ascii=False)  # all JSON-ready


def test_ingest_state_after_each_event() -> None:
    events = [
        FilesFound(3),
        FileStarted("a.md"),
        Embedding("a.md", 0, 4),
        Embedding("a.md", 2, 4),
        Embedding("a.md", 4, 4),
        FileDone("a.md", "ingested"),
        FileStarted("b.pdf"),
        FileFailed("b.pdf", "encrypted; remove the password"),
        FileStarted("c.md"),
        FileDone("c.md", "unchanged"),
        Embedding("repair", 3, 3),  # --repair re-embeds after the files
    ]
    seen, state = [], IngestState()
    for event in events:
        state = state.apply(event)
        seen.append(state)
    assert [(s.files_done, s.name, s.chunks_embedded, s.chunks_total) for s in seen] == [
        (0, "", 0, 0),
        (0, "a.md", 0, 0),
        (0, "a.md", 0, 4),
        (0, "a.md", 2, 4),
        (0, "a.md", 4, 4),
        (1, "a.md", 4, 4),
        (1, "b.pdf", 4, 4),
        (2, "b.pdf", 4, 4),
        (2, "c.md", 4, 4),
        (3, "c.md", 4, 4),
        (3, "repair", 7, 7),
    ]
    assert [round(s.fraction, 3) for s in seen[:6]] == [0, 0, 0, 0.167, 0.333, 0.333]
    assert seen[-1].fraction == 1.0
    assert dict(state.statuses) == {"a.md": "ingested", "b.pdf": "failed", "c.md": "unchanged"}
    assert dict(state.failed) == {"b.pdf": "encrypted; remove the password"}
    assert IngestState.fold(events) == state
    # a pure fold: an earlier state keeps what it had (no mapping shared and mutated)
    assert dict(seen[5].statuses) == {"a.md": "ingested"} and dict(seen[5].failed) == {}
    assert IngestState().fraction == 0.0  # no files known yet: no division by zero


def test_stop_flag_runs_its_hooks_once_and_only_while_registered() -> None:
    from ragmix.core.cancel import StopFlag, current, stoppable

    calls: list[str] = []
    flag = StopFlag()
    assert current() is None
    with stoppable(flag):
        assert current() is flag
        with flag.on_set(lambda: calls.append("a")):
            flag.set()
            flag.set()  # once
        with flag.on_set(lambda: calls.append("late")):  # already set: runs at once
            pass
    assert current() is None and calls == ["a", "late"]
    other = StopFlag()
    with other.on_set(lambda: calls.append("gone")):
        pass
    other.set()  # the hook left with its block
    assert calls == ["a", "late"] and other.is_set()


def test_reading_progress_folds_into_status_and_clears_when_done() -> None:
    events: list[AnswerEvent] = [
        RouteDecided("stuff", "fits", TOKENS),
        Reading(0, 5700, 0, "", None),
        Reading(1024, 5700, 0, "", 20.4),
        Token("营业收入"),
    ]
    seen = states(events)
    assert seen[1].reading == events[1] and seen[1].status == "reading 0/5,700 tokens"
    assert seen[2].status == "reading 1,024/5,700 tokens · 20 s left"
    restored = Reading(5600, 5700, 5600, "disk", 0.5)
    assert restored.text == "reading 5,600/5,700 tokens (5,600 restored from disk) · 0 s left"
    assert restored.as_dict() == {
        "type": "reading", "read": 5600, "total": 5700, "restored": 5600, "source": "disk",
        "seconds_left": 0.5,
    }  # fmt: skip
    done = seen[-1].apply(Done(FINAL))
    assert done.reading is None and done.status == ""
