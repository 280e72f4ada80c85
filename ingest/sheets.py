"""Spreadsheets (.xlsx, .xlsm) and CSV/TSV files as text in which a number keeps its labels.

A table's numbers are only findable with the words that say what they are, so every data row
is written as ``header: value`` pairs, led by the sheet's name::

    【预算】项目: 办公费 | 金额: 12000 | 日期: 2025-03-01

``rows_to_lines`` makes that decision (which row is the header, which rows are titles, which
columns are empty) as a pure function of the cell strings; ``load_workbook`` and ``load_csv``
only read cells. In a workbook each sheet is a page (``page_starts``), and starts with its
name as a heading; merged cells repeat their value in every cell they cover; formulas give
their cached value (what Excel last computed); dates are written as dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.cleaning import clean_text

__all__ = ["cell_text", "load_csv", "load_workbook", "rows_to_lines"]

# Workbooks up to this size are opened whole, which fills merged cells; larger ones are
# streamed (openpyxl's read-only mode keeps memory flat but cannot see merges).
_WHOLE_MAX_BYTES = 16 * 1024 * 1024
# The header is looked for among the first rows (after titles).
_HEADER_SEARCH = 5
_NUMBER = re.compile(r"^[\s$¥€£+-]*[\d.,]+\s*%?$")


# --- decisions (pure) ------------------------------------------------------------------------


def _is_number(s: str) -> bool:
    return bool(_NUMBER.match(s))


def _is_header(row: Sequence[str]) -> bool:
    """At least two distinct labels and no numbers among the cells (a header names columns)."""
    filled = [c for c in row if c]
    return len(set(filled)) >= 2 and not any(_is_number(c) for c in filled)


def rows_to_lines(rows: Sequence[Sequence[str]], label: str = "") -> list[str]:
    """The lines of one table: titles, then each data row as ``header: value`` pairs.

    Empty rows and columns are dropped. Rows before the header whose filled cells all hold
    one value (a title merged across the sheet) are written once, as they are. The header is
    the first of the next few rows with two or more distinct labels and no numbers; with no
    such row, cells are joined with `` | ``. ``label`` (a sheet's name) leads every row.

    Example:
        >>> rows_to_lines([["2025 预算", "2025 预算", ""], ["项目", "金额", ""],
        ...                ["", "", ""], ["办公费", "12000", ""]], "预算")
        ['2025 预算', '【预算】项目: 办公费 | 金额: 12000']
        >>> rows_to_lines([["1", "2"], ["3", "4"]])
        ['1 | 2', '3 | 4']
    """
    kept = [list(r) for r in rows if any(c.strip() for c in r)]
    if not kept:
        return []
    width = max(len(r) for r in kept)
    cols = [j for j in range(width) if any(j < len(r) and r[j].strip() for r in kept)]
    table = [[r[j].strip() if j < len(r) else "" for j in cols] for r in kept]
    lead = f"【{label}】" if label else ""
    lines: list[str] = []
    i = 0
    while i < len(table) and len({c for c in table[i] if c}) == 1 and len(table) > 1:
        lines.append(next(c for c in table[i] if c))  # a title row
        i += 1
    header: list[str] | None = None
    for k in range(i, min(i + _HEADER_SEARCH, len(table) - 1)):
        if _is_header(table[k]):
            lines.extend(" | ".join(c for c in row if c) for row in table[i:k])
            header, i = table[k], k + 1
            break
    for row in table[i:]:
        if header is None:
            lines.append(lead + " | ".join(c for c in row if c))
            continue
        pairs = []
        for name, value in zip(header, row, strict=True):
            if value:
                pairs.append(f"{name}: {value}" if name else value)
        lines.append(lead + " | ".join(pairs))
    return lines


def cell_text(value: Any, number_format: str = "General") -> str:
    """A cell's value as a person reads it: dates as dates, whole numbers without ``.0``,
    percentages as percentages.

    Example:
        >>> cell_text(dt.datetime(2025, 3, 1)), cell_text(12000.0), cell_text(0.068, "0.0%")
        ('2025-03-01', '12000', '6.8%')
        >>> cell_text(True), cell_text(None), cell_text(1234.5678)
        ('TRUE', '', '1234.5678')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        if "%" in number_format:
            return f"{_number(value * 100)}%"
        return _number(value)
    return " ".join(str(value).split())


def _number(v: float) -> str:
    if isinstance(v, int) or v.is_integer():
        return str(int(v))
    return f"{round(v, 10):.10f}".rstrip("0").rstrip(".")


# --- workbooks -------------------------------------------------------------------------------


def load_workbook(
    data: bytes, name: str, max_chars: int, check_office: Callable[[bytes, str], None]
) -> LoadedDocument:
    """Every sheet of an .xlsx/.xlsm workbook, a sheet a page."""
    import openpyxl

    check_office(data, name)  # old or locked (OLE) files and zip bombs are refused
    whole = len(data) <= _WHOLE_MAX_BYTES
    try:
        book = openpyxl.load_workbook(
            io.BytesIO(data), read_only=not whole, data_only=True, keep_links=False
        )
    except Exception as exc:  # zip, XML and KeyError failures all mean "damaged"
        raise LoadError(
            name,
            f"not a valid .xlsx ({type(exc).__name__}: {exc}): open it in Excel or "
            "LibreOffice and save it again as .xlsx",
            "xlsx_invalid",
            {"error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    pages: list[str] = []
    titles: list[str] = []
    total = 0
    filled = 0
    try:
        for sheet in book.worksheets:
            lines = rows_to_lines(list(_sheet_rows(sheet, whole)), sheet.title)
            filled += len(lines)
            text = clean_text("\n".join([f"## {sheet.title}", *lines]), join_cjk=False)
            pages.append(text)
            titles.append(sheet.title)
            total += len(text) + 2
            if total > max_chars:
                raise LoadError(
                    name,
                    f"the text has more than {max_chars:,} characters ({total:,} so far): "
                    "split the workbook, or raise ingest.max_chars",
                    "text_too_long",
                    {"limit": max_chars, "n": total},
                )
    finally:
        book.close()
    if not filled:
        raise LoadError(name, "every sheet of the workbook is empty: nothing to index", "no_text")
    return _paged(pages, "xlsx", titles)


def _sheet_rows(sheet: Any, whole: bool) -> Iterable[list[str]]:
    merged: dict[tuple[int, int], Any] = {}
    if whole:  # a merged range's value lives in its top-left cell only: give it to all
        for rng in sheet.merged_cells.ranges:
            value = sheet.cell(rng.min_row, rng.min_col)
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    merged[(r, c)] = value
    for row in sheet.iter_rows():
        out = []
        for cell in row:
            if not hasattr(cell, "column"):  # an EmptyCell of read-only mode
                out.append("")
                continue
            src = merged.get((cell.row, cell.column), cell)
            out.append(cell_text(src.value, getattr(src, "number_format", "General") or ""))
        yield out


def _paged(pages: list[str], kind: str, labels: list[str]) -> LoadedDocument:
    """The pages joined by blank lines; each sheet's page is labelled by its name."""
    starts: list[int] = []
    offset = 0
    for text in pages:
        starts.append(offset)
        offset += len(text) + 2
    return LoadedDocument("\n\n".join(pages), kind, page_starts=starts, page_labels=labels)


# --- CSV and TSV -----------------------------------------------------------------------------


def load_csv(
    data: bytes, name: str, max_chars: int, decode: Callable[[bytes, str], tuple[str, str]]
) -> LoadedDocument:
    """A CSV or TSV file (any encoding ``decode`` detects: UTF-8, GBK, UTF-16...) as one
    table."""
    text, encoding = decode(data, name)
    sample = text[:20_000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:  # one column, or too irregular to tell
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines = rows_to_lines([[" ".join(c.split()) for c in r] for r in rows])
    return LoadedDocument(clean_text("\n".join(lines), join_cjk=False), "csv", encoding=encoding)
