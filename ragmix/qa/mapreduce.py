"""Map-reduce over documents too long to read whole: each part is summarised within the
window, the notes are combined in rounds until they fit (``router.reduce_step``), and the
answer is written from them. The reason and the sources say which parts the answer covers.

Every size here is the router's (``map_reduce_budget``, ``split_parts``, ``notes_room``,
``reduce_step``, ``reduced``); this room calls the model and keeps track of the parts.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from ragmix.core.events import AnswerEvent, PartStarted
from ragmix.qa import prompts, router
from ragmix.qa.planner import Plan, Planner
from ragmix.qa.sources import text_source

__all__ = ["notes_prompt"]


@dataclass(frozen=True)
class _Part:
    doc_id: str
    name: str
    text: str
    end: int  # where the part ends in its document


def _parts(planner: Planner, doc_ids: list[str], part_tokens: int) -> list[_Part]:
    """The documents cut into parts of at most ``part_tokens``, at chunk boundaries."""
    parts: list[_Part] = []
    for doc_id in doc_ids:
        name = planner.catalog.name(doc_id)
        chunks = list(planner.catalog.neighbours(doc_id, 0, 1 << 30))
        texts = [c.text for c in chunks]
        first = 0
        for size in router.split_parts([planner.count(t) for t in texts], part_tokens):
            end = chunks[first + size - 1].end
            parts.append(_Part(doc_id, name, "\n".join(texts[first : first + size]), end))
            first += size
    return parts


def notes_prompt(planner: Planner, plan: Plan) -> Generator[AnswerEvent, None, list[BaseMessage]]:
    """Summarise each part, combine the notes until they fit, and return the answer's
    messages; ``PartStarted`` events say which step runs. ``plan`` gets its final decision
    (its reason says what was covered), prompt size, sources and texts read."""
    lang, window, model = plan.lang, planner.window, planner.model
    budget = router.map_reduce_budget(window)
    parts = _parts(planner, plan.doc_ids, budget.part_tokens)
    notes: list[str] = []
    for i, part in enumerate(parts, 1):
        yield PartStarted(i, len(parts))
        msg = prompts.map_messages(part.name, part.text, i, len(parts), lang)
        notes.append(str(model.invoke(msg, max_tokens=budget.note_tokens).content).strip())
    covers = [[i] for i in range(len(parts))]  # the parts (0-based) each note stands for
    room = window.budget(planner.count(plan.question))
    rounds = 0
    while True:
        messages = prompts.reduce_messages(notes, plan.question, lang)
        over = planner.count_prompt(messages) - window.prompt_limit
        costs = [planner.count(n) + router.NOTE_MARK_TOKENS for n in notes]
        # The exact prompt is the judge: an estimate that was short shrinks the room.
        step = router.reduce_step(costs, router.notes_room(room, costs, over), budget.part_tokens)
        if step.keep is not None:
            notes, covers = notes[: step.keep], covers[: step.keep]
            messages = prompts.reduce_messages(notes, plan.question, lang)
            break
        if not step.merge:
            break
        rounds += 1
        merged: list[str] = []
        merged_covers: list[list[int]] = []
        for k, (a, b) in enumerate(step.merge, 1):
            group = [p for c in covers[a : b + 1] for p in c]
            if a == b:
                merged.append(notes[a])
            else:
                yield PartStarted(k, len(step.merge))
                body = "\n\n".join(f"({j - a + 1}) {notes[j]}" for j in range(a, b + 1))
                names = ", ".join(dict.fromkeys(parts[p].name for p in group))
                msg = prompts.map_messages(names, body, k, len(step.merge), lang)
                reply = model.invoke(msg, max_tokens=budget.note_tokens).content
                merged.append(str(reply).strip())
            merged_covers.append(group)
        notes, covers = merged, merged_covers
    covered = sorted(p for c in covers for p in c)
    plan.decision = router.reduced(plan.decision, len(parts), rounds, [p + 1 for p in covered])
    plan.prompt_tokens = planner.count_prompt(messages)
    _read_sources(planner, plan, parts, covered)
    return messages


def _read_sources(planner: Planner, plan: Plan, parts: list[_Part], covered: list[int]) -> None:
    """The sources are the documents whose parts the answer was written from: whole, or up to
    the end of the last part covered when later parts' notes were left out (the notes kept are
    always the first ones)."""
    ends: dict[str, tuple[str, int]] = {}
    for p in covered:
        part = parts[p]
        ends[part.doc_id] = (part.name, max(part.end, ends.get(part.doc_id, (part.name, 0))[1]))
    full = planner.catalog.texts(list(ends))
    plan.sources, plan.texts = [], {}
    for doc_id, (name, end) in ends.items():
        if doc_id in full:
            whole = all(p in covered for p, part in enumerate(parts) if part.doc_id == doc_id)
            text = full[doc_id] if whole else full[doc_id][:end]
            plan.sources.append(text_source(name, text))
            plan.texts[doc_id] = text
