"""A browser's conversations, kept in its local storage: pure functions over plain JSON.

The page keeps a *book* per browser (``gr.BrowserState``, so it survives a reload and a
server restart)::

    {"current": "c1a2…", "items": [{"id": "c1a2…", "title": "What does…", "turns": [
        {"question": "What does the warranty cover?", "answer": {...} | None}]}]}

An answer is kept as data (``record``), not HTML: the page draws it again in the language
shown (a language switch redraws every answer) with its badge, reason and sources. A turn
whose answer is None was cut off (a closed tab, a reload mid-answer) and is shown stopped.
Nothing here imports gradio.

Example:
    >>> book = add_question(new_book(), "Two?")
    >>> [t["question"] for t in current(book)["turns"]], titles(book)[0][0]
    (['Two?'], 'Two?')
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from ragmix.app.desk import keeps_turn
from ragmix.core.events import Answer, AnswerState, Failed

#: Conversations kept per browser (the oldest go first); local storage holds a few MB.
MAX_CONVERSATIONS = 30
#: Turns kept per conversation.
MAX_TURNS = 100
#: Characters of the first question that title a conversation.
TITLE_CHARS = 40

Book = dict[str, Any]
Turn = dict[str, Any]


def _new_item() -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:12], "title": "", "turns": []}


def new_book() -> Book:
    item = _new_item()
    return {"current": item["id"], "items": [item]}


def valid(book: Any) -> Book:
    """``book`` if it has the expected shape (local storage may hold anything), else new."""
    try:
        items = book["items"]
        ok = isinstance(items, list) and all(
            isinstance(i["id"], str) and isinstance(i["turns"], list) for i in items
        )
    except (KeyError, TypeError):
        ok = False
    if not ok or not items:
        return new_book()
    if book.get("current") not in {i["id"] for i in items}:
        book = {**book, "current": items[0]["id"]}
    return book


def current(book: Book) -> dict[str, Any]:
    """The conversation shown."""
    book = valid(book)
    return next(i for i in book["items"] if i["id"] == book["current"])


def _with_current(book: Book, item: dict[str, Any]) -> Book:
    items = [item if i["id"] == item["id"] else i for i in book["items"]]
    return {**book, "items": items}


def add_question(book: Book, question: str) -> Book:
    """A new turn in the current conversation, its answer not yet there."""
    book = valid(book)
    item = current(book)
    turns = [*item["turns"], {"question": question, "answer": None}][-MAX_TURNS:]
    title = item["title"] or " ".join(question.split())[:TITLE_CHARS]
    return _with_current(book, {**item, "title": title, "turns": turns})


def finish(book: Book, answer: dict[str, Any]) -> Book:
    """The current conversation's last turn gets ``answer`` (a ``record``)."""
    book = valid(book)
    item = current(book)
    if not item["turns"]:
        return book
    turns = [*item["turns"][:-1], {**item["turns"][-1], "answer": answer}]
    return _with_current(book, {**item, "turns": turns})


def start_new(book: Book) -> Book:
    """A new empty conversation, shown (the current one is reused if still empty)."""
    book = valid(book)
    if not current(book)["turns"]:
        return book
    item = _new_item()
    return {"current": item["id"], "items": [item, *book["items"]][:MAX_CONVERSATIONS]}


def open_item(book: Book, item_id: str | None) -> Book:
    book = valid(book)
    if item_id in {i["id"] for i in book["items"]}:
        return {**book, "current": item_id}
    return book


def delete(book: Book, item_id: str | None) -> Book:
    """Without conversation ``item_id``; the next one (or a new one) is shown."""
    book = valid(book)
    items = [i for i in book["items"] if i["id"] != item_id]
    if not items:
        return new_book()
    shown = book["current"] if book["current"] != item_id else items[0]["id"]
    return {"current": shown, "items": items}


def titles(book: Book) -> list[tuple[str, str]]:
    """(title, id) of each conversation that has a turn, newest first."""
    return [(i["title"], i["id"]) for i in valid(book)["items"] if i["turns"]]


def history(book: Book) -> list[tuple[str, str]]:
    """The (question, answer) pairs the model sees as conversation: answered turns only (a
    search, a failure or a stopped answer would be folded into the next question)."""
    pairs = []
    for turn in current(book)["turns"]:
        a = turn.get("answer") or {}
        final = a.get("answer")
        if not final or a.get("stopped"):
            continue
        state = AnswerState(route=final.get("route"), text=final.get("answer") or "",
                            error=a.get("error"))  # fmt: skip
        if keeps_turn(state):  # ragmix chat's rule too: search, failed, empty turns are not kept
            pairs.append((turn["question"], final["answer"]))
    return pairs


# -- an answer as data ---------------------------------------------------------------------
def record(state: AnswerState, *, stopped: bool = False) -> dict[str, Any]:
    """What is kept of an answer: enough to draw it again in any language."""
    failure = state.failure
    return {
        "route": state.route,
        "reason": state.reason,
        "tokens": dict(state.tokens) if state.tokens else None,
        "sources": [dict(s) for s in state.sources],
        "text": state.text,
        "restarted": state.restarted,
        "answer": state.answer.as_dict() if state.answer is not None else None,
        "error": state.error,
        "failure": None if failure is None else failure.as_dict(),
        "stopped": stopped,
    }


_ANSWER_FIELDS = {f.name for f in dataclasses.fields(Answer)}


def restore(kept: dict[str, Any] | None) -> tuple[AnswerState, bool]:
    """The ``AnswerState`` and 'stopped' of a kept answer (None: cut off, so stopped)."""
    if not kept:
        return AnswerState(), True
    a = kept.get("answer")
    answer = Answer(**{k: v for k, v in a.items() if k in _ANSWER_FIELDS}) if a else None
    f = kept.get("failure")
    failure = Failed(f["message"], f.get("code"), f.get("params") or {}) if f else None
    state = AnswerState(
        route=kept.get("route"),
        reason=kept.get("reason") or "",
        tokens=kept.get("tokens"),
        sources=tuple(kept.get("sources") or ()),
        text=kept.get("text") or "",
        restarted=bool(kept.get("restarted")),
        answer=answer,
        error=kept.get("error"),
        failure=failure,
    )
    return state, bool(kept.get("stopped"))
