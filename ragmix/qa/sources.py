"""Where an answer comes from, as the reader sees it: retrieved passages and documents read
whole as ``Source`` rows, and, once the answer is written, the passages that hold it, in the
order of support (``ragmix.qa.support`` finds them; this room shapes and orders them).

Each source keeps ``n``, the number the model cited it by, so ``[2]`` is the same source in
the answer, the CLI, the page and the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ragmix.core.events import Source
from ragmix.core.schema import PageFields, PageNotes, Passage, Route
from ragmix.qa import support
from ragmix.qa.retrieval import HybridSearcher
from ragmix.store.catalog import Catalog

__all__ = [
    "MAX_SUPPORT",
    "WEAK_SUPPORT",
    "by_support",
    "marked",
    "passage_source",
    "passage_sources",
    "supported",
    "text_source",
]

#: A whole-document answer shows at most this many supporting passages.
MAX_SUPPORT = 3
#: Below this coverage of the answer, the passages retrieved for the question are shown too.
WEAK_SUPPORT = 0.5


def passage_source(
    p: Passage,
    page_starts: Sequence[int] | None,
    marks: Sequence[Any] = (),
    notes: PageNotes | None = None,
) -> Source:
    """A retrieved passage as a source; ``marks`` are highlight offsets in its text, ``notes``
    name its pages (a workbook's sheets, a deck's slides, OCR)."""
    pages = support.pages_of(page_starts, p.start, p.end) or ([p.page] if p.page else [])
    named = notes.fields(pages) if notes is not None else PageFields()
    return {
        "source": p.source,
        "page": p.page,
        "chunk": p.index,
        "start": p.start,
        "end": p.end,
        "score": round(p.score, 6),
        "text": p.text,
        "kind": "passage",
        "pages": pages,
        "highlights": [list(m) for m in marks],
        "support": None,
        **named,
    }


def text_source(name: str, text: str) -> Source:
    """A document read whole, shown by its beginning (until the answer's passages are found)."""
    return {"source": name, "page": None, "chunk": None, "start": 0, "end": len(text),
            "score": 1.0, "text": text[:300], "kind": "document", "pages": [],
            "highlights": [], "support": None}  # fmt: skip


def marked(sources: Sequence[Source], answer: str) -> list[Source]:
    """``sources`` with the answer's words marked and the share of them each holds."""
    out: list[Source] = []
    for s in sources:
        marks, share = support.highlight(answer, s["text"])
        out.append({**s, "highlights": [list(m) for m in marks], "support": share})
    return out


def by_support(sources: Sequence[Source]) -> list[Source]:
    """Sources in the order that helps a reader: the one holding most of the answer first,
    then by retrieval score. Each keeps the number it had before (``n``: a retrieved passage's
    number in the prompt, which the answer cites as ``[n]``).

    Example:
        >>> s = [{"support": 0.0, "score": 0.9}, {"support": 0.94, "score": 0.4}]
        >>> [(x["n"], x["support"]) for x in by_support(s)]  # type: ignore[arg-type]
        [(2, 0.94), (1, 0.0)]
    """
    numbered = [{**s, "n": s.get("n", i)} for i, s in enumerate(sources, 1)]
    numbered.sort(key=lambda s: (-float(s.get("support") or 0.0), -float(s.get("score") or 0.0)))  # type: ignore[arg-type]
    return numbered  # type: ignore[return-value]


def passage_sources(
    catalog: Catalog, passages: Sequence[Passage], marks_of: str = ""
) -> list[Source]:
    """Passages as sources, with every page each covers; ``marks_of``'s words marked."""
    ids = {p.doc_id for p in passages}
    starts = {d: catalog.page_starts(d) for d in ids}
    notes = {d: catalog.page_notes(d) for d in ids}
    return [
        passage_source(
            p,
            starts[p.doc_id],
            support.highlight(marks_of, p.text)[0] if marks_of else (),
            notes[p.doc_id],
        )
        for p in passages
    ]


def supported(
    catalog: Catalog,
    searcher: HybridSearcher,
    route: Route,
    shown: Sequence[Source],
    texts: Mapping[str, str],
    question: str,
    answer: str,
) -> list[Source]:
    """The sources once the answer is written: retrieved passages (``route`` ``retrieve``)
    with the answer's words marked and the share of them each holds; for documents read
    whole (``texts``, by doc id), the passages that hold the answer (best first, at most
    ``MAX_SUPPORT``), or the sources ``shown`` so far when none does (an answer that says
    the text does not hold it)."""
    if route == "retrieve":
        return by_support(marked(shown, answer))
    found: list[tuple[float, str, support.Span]] = []
    covered = 0.0
    for doc_id, text in texts.items():
        spans = support.find_support(answer, text, question)
        covered = max(covered, spans.coverage)
        found.extend((span.share, doc_id, span) for span in spans.spans)
    found.sort(key=lambda f: -f[0])
    out: list[Source] = []
    for share, doc_id, span in found[:MAX_SUPPORT]:
        starts = catalog.page_starts(doc_id)
        pages = support.pages_of(starts, span.start, span.end)
        out.append(
            Source(
                source=catalog.name(doc_id),
                page=pages[0] if pages else None,
                chunk=None,
                start=span.start,
                end=span.end,
                score=share,
                text=texts[doc_id][span.start : span.end],
                kind="support",
                pages=pages,
                highlights=[list(h) for h in span.highlights],
                support=share,
                **catalog.page_notes(doc_id).fields(pages),
            )
        )
    if covered < WEAK_SUPPORT:
        # The answer is not (all) in the text read: show also where the text speaks of
        # the question, so the reader can check it, rather than nothing.
        hits = searcher.search(question, list(texts), k=MAX_SUPPORT).passages
        fresh = [
            p
            for p in hits
            if not any(
                s["source"] == p.source and p.start < s["end"] and s["start"] < p.end for s in out
            )
        ]
        more = marked(passage_sources(catalog, fresh), answer)
        out.extend(more[: MAX_SUPPORT + 1 - len(out)])
    return by_support(out or shown)
