"""Slide decks (.pptx): per slide its title, body text, tables and speaker notes; a slide a page.

Each slide's text starts with a heading ``## Slide N: title``; shapes are read top to bottom,
left to right (the order a person reads a slide, not the order they were drawn in); a table's
rows become ``header: value`` pairs like a spreadsheet's (see sheets.py); the speaker notes
come last, after ``Notes:``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.cleaning import clean_text
from ragmix.ingest.sheets import rows_to_lines

__all__ = ["load_deck"]


def load_deck(
    data: bytes, name: str, max_chars: int, check_office: Callable[[bytes, str], None]
) -> LoadedDocument:
    """Every slide of a .pptx deck, a slide a page."""
    from pptx import Presentation

    check_office(data, name)  # old or locked (OLE) files and zip bombs are refused
    try:
        deck = Presentation(io.BytesIO(data))
        slides = list(deck.slides)
    except Exception as exc:  # zip, XML and KeyError failures all mean "damaged"
        raise LoadError(
            name,
            f"not a valid .pptx ({type(exc).__name__}: {exc}): open it in PowerPoint or "
            "LibreOffice and save it again as .pptx",
            "pptx_invalid",
            {"error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    pages: list[str] = []
    total = 0
    for number, slide in enumerate(slides, 1):
        text = clean_text(_slide_text(slide, number), join_cjk=False)
        pages.append(text)
        total += len(text) + 2
        if total > max_chars:
            raise LoadError(
                name,
                f"the text has more than {max_chars:,} characters ({total:,} so far): "
                "split the deck, or raise ingest.max_chars",
                "text_too_long",
                {"limit": max_chars, "n": total},
            )
    if not pages:
        raise LoadError(name, "the deck has no slides: nothing to index", "no_text")
    starts: list[int] = []
    offset = 0
    for text in pages:
        starts.append(offset)
        offset += len(text) + 2
    return LoadedDocument("\n\n".join(pages), "pptx", page_starts=starts)


def _slide_text(slide: Any, number: int) -> str:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    blocks = [f"## Slide {number}: {title}" if title else f"## Slide {number}"]
    title_id = title_shape.shape_id if title_shape is not None else None
    for shape in _in_reading_order(slide.shapes):
        if shape.shape_id == title_id:
            continue
        blocks.extend(_shape_blocks(shape))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            blocks.append("Notes: " + notes.text.strip())
    return "\n".join(b for b in blocks if b.strip())


def _in_reading_order(shapes: Any) -> list[Any]:
    def key(shape: Any) -> tuple[int, int]:
        # Placeholders without their own position inherit it: read those first.
        return (shape.top or 0, shape.left or 0)

    return sorted(shapes, key=key)


def _shape_blocks(shape: Any) -> Iterator[str]:
    if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):  # group
        for inner in _in_reading_order(shape.shapes):
            yield from _shape_blocks(inner)
        return
    if getattr(shape, "has_table", False):
        rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in shape.table.rows]
        yield from rows_to_lines(rows)
        return
    if getattr(shape, "has_text_frame", False):
        for para in shape.text_frame.paragraphs:
            text = "".join(run.text for run in para.runs) or para.text
            if text.strip():
                yield ("  " * para.level + "- " if para.level else "") + text.strip()
