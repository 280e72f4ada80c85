"""Plain data passed between ingestion, the store and the question side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

#: What a user asks for: let the router choose, read whole documents, retrieve, or only search.
Mode = Literal["auto", "stuff", "retrieve", "search"]
#: What the router chose (map_reduce: a document too long to read whole, read in parts).
Route = Literal["stuff", "retrieve", "search", "map_reduce"]
#: The modes a user may ask for, in the order menus show them.
MODES: tuple[Mode, ...] = ("auto", "stuff", "retrieve", "search")


@dataclass(frozen=True)
class LoadedDocument:
    """One file turned into clean text.

    Attributes:
        text: the cleaned full text; every offset elsewhere points into this string.
        kind: 'pdf', 'txt', 'md', 'docx', 'html', 'xlsx', 'csv', 'tsv', 'pptx' or 'image'.
        page_starts: for paged formats (PDF; a workbook's sheets, a deck's slides, an image),
            the offset in ``text`` where each page begins (page 1 starts at
            ``page_starts[0] == 0``); None when the format has no pages.
        encoding: the detected text encoding, for text formats.
        ocr_pages: the pages read by OCR (1-based) and the engine's mean confidence on each.
        page_labels: what each page is called where it has a name rather than a number (a
            workbook's sheet names), one per page; None when pages are numbered.
    """

    text: str
    kind: str
    page_starts: list[int] | None = None
    encoding: str | None = None
    ocr_pages: dict[int, float] | None = None
    page_labels: list[str] | None = None

    @property
    def n_pages(self) -> int | None:
        return len(self.page_starts) if self.page_starts is not None else None


class PageFields(TypedDict, total=False):
    """What a source says about its pages besides their numbers (see ``PageNotes.fields``)."""

    page_kind: Literal["sheet", "slide"]
    page_label: str
    ocr_pages: list[int]
    ocr_confidence: float


@dataclass(frozen=True)
class PageNotes:
    """What the catalog keeps about a document's pages besides where they start: their
    names (a workbook's sheets) and which were read by OCR, with the mean confidence."""

    kind: str = ""
    labels: Mapping[int, str] = field(default_factory=dict)
    ocr: Mapping[int, float] = field(default_factory=dict)

    def fields(self, pages: Sequence[int]) -> PageFields:
        """The fields of a source whose text covers ``pages``: a workbook's pages are
        sheets named by ``page_label`` (the names of every sheet covered, joined by ', '), a
        deck's pages are slides; pages read by OCR are named, with their mean confidence.

        Example:
            >>> notes = PageNotes("xlsx", {1: "预算", 2: "人员"})
            >>> notes.fields([2])
            {'page_kind': 'sheet', 'page_label': '人员'}
            >>> PageNotes("pptx").fields([3])
            {'page_kind': 'slide'}
            >>> PageNotes("pdf", ocr={2: 0.9712, 3: 0.91}).fields([1, 2, 3])
            {'ocr_pages': [2, 3], 'ocr_confidence': 0.94}
            >>> PageNotes("pdf").fields([1]), PageNotes("xlsx", {1: "a"}).fields([])
            ({}, {})
        """
        out: PageFields = {}
        named = [self.labels[p] for p in pages if p in self.labels]
        if named:
            out["page_kind"] = "sheet"
            out["page_label"] = ", ".join(dict.fromkeys(named))
        elif pages and self.kind == "pptx":
            out["page_kind"] = "slide"
        read = [p for p in pages if p in self.ocr]
        if read:
            out["ocr_pages"] = read
            out["ocr_confidence"] = round(sum(self.ocr[p] for p in read) / len(read), 2)
        return out


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``document.text[start:end] == text``."""

    index: int
    text: str
    start: int
    end: int
    n_tokens: int


@dataclass
class Passage:
    """A chunk found for a question, with where it comes from."""

    chunk_id: str
    doc_id: str
    source: str
    text: str
    index: int
    start: int
    end: int
    page: int | None = None
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)

    def where(self) -> dict[str, Any]:
        """Where the passage stands and how well it scored, as every front end names it:
        ``source``, ``page``, ``chunk`` (its index), ``start``, ``end``, ``score``."""
        return {"source": self.source, "page": self.page, "chunk": self.index,
                "start": self.start, "end": self.end, "score": self.score}  # fmt: skip
