"""Plain data passed between ingestion, the store and the question side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
    """

    text: str
    kind: str
    page_starts: list[int] | None = None
    encoding: str | None = None
    ocr_pages: dict[int, float] | None = None

    @property
    def n_pages(self) -> int | None:
        return len(self.page_starts) if self.page_starts is not None else None


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
