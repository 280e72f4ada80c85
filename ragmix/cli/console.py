"""Terminal rendering for the CLI (rich): progress bars, summary tables, streamed answers.

Events are folded with the reducers of ``ragmix.core.events`` (as the web page folds them); this
module only decides how the state looks in a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragmix.core.events import (
    Answer,
    AnswerEvent,
    AnswerState,
    IngestEvent,
    IngestState,
    PartStarted,
    Reading,
    RouteDecided,
    Source,
    Token,
    WarmRow,
    source_label,
    source_pages,
    warm_rows,
)
from ragmix.qa.support import window

_err = Console(stderr=True)
_out = Console()


class IngestProgress:
    """Two bars, files and embedded chunks, fed by the pipeline's progress events."""

    state: IngestState

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}", style="dim"),
            TimeElapsedColumn(),
            console=_err,
            transient=False,
        )
        self._files = self._bar.add_task("files", total=None, detail="")
        self._chunks = self._bar.add_task("embedding", total=0, detail="")
        self.state = IngestState()

    def __enter__(self) -> IngestProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def __call__(self, event: IngestEvent) -> None:
        s = self.state = self.state.apply(event)
        detail = s.name[-50:]
        if s.ocr is not None:  # a scan being read (perhaps the next file, read ahead)
            name, done, total = s.ocr
            detail = f"{name[-40:]}: OCR page {done + 1}/{total}"
        self._bar.update(self._files, total=s.files_total, completed=s.files_done, detail=detail)
        self._bar.update(self._chunks, total=s.chunks_total, completed=s.chunks_embedded)


def print_summary(summary: Any, store: Path | str) -> None:
    table = Table(title=f"ingest into {store}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in [
        ("files seen", summary.files_seen),
        ("ingested", summary.ingested),
        ("unchanged", summary.skipped_unchanged),
        ("duplicates", summary.duplicates),
        ("failed", len(summary.failed)),
        ("unsupported", len(summary.unsupported)),
        ("chunks added", summary.chunks_added),
        ("chunks removed", summary.chunks_removed),
        *([("re-embedded", summary.reembedded)] if summary.reembedded else []),
        ("seconds", f"{summary.seconds:.1f}"),
    ]:
        table.add_row(label, str(value))
    _out.print(table)
    for f in summary.failed:
        _out.print(
            f"[red]failed[/] {escape(f.path)}: {escape(f.error)}",
            highlight=False,
            markup=True,
        )
    if summary.unsupported:
        _out.print(
            "[yellow]skipped (unsupported type):[/] " + escape(", ".join(summary.unsupported)),
            highlight=False,
            markup=True,
        )
    for line in getattr(summary, "repaired", []):
        _out.print(f"[cyan]repaired[/] {escape(line)}", highlight=False, markup=True)


def print_docs(docs: list[dict[str, Any]], store: Path | str) -> None:
    if not docs:
        _out.print(f"no documents in {store}; add some with `ragmix ingest PATH`")
        return
    table = Table(title=f"documents in {store}")
    table.add_column("document", overflow="fold", ratio=1)
    for col in ("pages", "chunks", "tokens", "ingested at"):
        table.add_column(col, justify="right", no_wrap=True)
    for d in docs:
        also = d.get("aliases") or []
        table.add_row(
            escape(d["name"] + (f"\n  also: {', '.join(also)}" if also else "")),
            "" if d["pages"] is None else str(d["pages"]),
            str(d["chunks"]),
            "" if d["tokens"] is None else f"{d['tokens']:,}",
            d["ingested_at"],
        )
    _out.print(table)


_ROUTE_LABEL = {
    "stuff": "whole document",
    "retrieve": "retrieved passages",
    "search": "search only",
    "map_reduce": "part-by-part summary",
}


_VERDICT_STYLE = {
    "supported": ("green", "supported by the documents"),
    "partial": ("yellow", "partly supported"),
    "unsupported": ("bold red", "NOT supported by the documents"),
    "no_answer": ("yellow", "not in your documents"),
}


def verdict_line(answer: Answer) -> str:
    """'verdict: partly supported · not found: 烹饪' (empty for a search).

    Example:
        >>> from ragmix.core.events import Answer
        >>> a = Answer("x", "retrieve", "", {"scope": 1, "budget": 1, "prompt": 1,
        ...            "completion": 1}, [], verdict="partial", unsupported=["烹饪"])
        >>> verdict_line(a)
        '[yellow]verdict: partly supported[/] · not found where the question is discussed: 烹饪'
    """
    if answer.verdict is None:
        return ""
    style, words = _VERDICT_STYLE[answer.verdict]
    line = f"[{style}]verdict: {words}[/]"
    if answer.unsupported:
        line += " · not found where the question is discussed: " + escape(
            ", ".join(answer.unsupported)
        )
    return line


def route_line(state: AnswerState) -> str:
    """'whole document · <reason> · scope 645 / budget 7,418 tokens'; a search has no
    budget, so it shows none."""
    route = state.route or ""
    line = f"[bold cyan]{_ROUTE_LABEL.get(route, route)}[/] · {escape(state.reason)}"
    t = state.tokens
    if t is not None and t["budget"] is not None:
        line += f" · scope {t['scope']:,} / budget {t['budget']:,} tokens"
    return line


class ReadingBar:
    """The model reading a long prompt: a transient bar on a terminal, else a line at each
    quarter (logs stay short)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None
        self._quarter = -1

    def update(self, event: Reading) -> None:
        if not _err.is_terminal:
            quarter = 4 * event.read // max(event.total, 1)
            if quarter > self._quarter:
                self._quarter = quarter
                _err.print(f"[dim]{escape(event.text)}[/]", highlight=False)
            return
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[dim]reading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[dim]tokens {task.fields[note]}"),
                console=_err,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("read", total=event.total, note="")
        note = f"· {event.seconds_left:.0f} s left" if event.seconds_left else ""
        if event.restored:
            where = "disk" if event.source == "disk" else "memory"
            note = f"({event.restored:,} restored from {where}) {note}"
        self._bar.update(self._task, completed=event.read, total=event.total, note=note)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def render_stream(events: Iterable[AnswerEvent]) -> AnswerState:
    """Print a streamed answer: route line, reading progress, tokens as they come, then
    sources and counts. Returns the final state (``state.text`` is the answer)."""
    state = AnswerState()
    reading = ReadingBar()
    for event in events:
        state = state.apply(event)
        if isinstance(event, RouteDecided):
            reading.close()
            if event.restart:
                _out.print()
            _err.print(route_line(state), highlight=False)
        elif isinstance(event, PartStarted):
            _err.print(f"[dim]{escape(state.status)}[/]")
        elif isinstance(event, Reading):
            reading.update(event)
        elif isinstance(event, Token):
            reading.close()
            _out.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
    reading.close()
    _out.print()
    if state.answer is not None:
        for warning in state.answer.warnings:
            _err.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
        line = verdict_line(state.answer)
        if line:
            _err.print(line, highlight=False)
        for i, s in enumerate(state.answer.sources, 1):
            _err.print(f"[dim][{source_label(s, i)}] {source_line(s)}[/]", highlight=False)
        t, tm = state.answer.tokens, state.answer.timings
        _err.print(
            f"[dim]prompt {t['prompt']:,} · completion {t['completion']:,} tokens · "
            f"{tm.get('total_s', 0):.1f} s[/]"
        )
    return state


def render_warm(events: Iterable[tuple[str, AnswerEvent]], as_json: bool = False) -> list[WarmRow]:
    """Show ``RagMix.warm``: a reading bar per document, then one line each (or one JSON
    line each: ``{"document", "ok", "tokens", "read", "seconds", "error"}``; ``read`` is the
    tokens actually read, 0 when the document had been read ahead already)."""
    import json

    results: list[WarmRow] = []
    bar = ReadingBar()
    for row in warm_rows(events, None if as_json else lambda _name, event: bar.update(event)):
        bar.close()
        if as_json:
            print(json.dumps(row.as_dict(), ensure_ascii=False), flush=True)
        elif row.ok:
            how = f"read {row.read:,} tokens and kept" if row.read else "already read ahead"
            _err.print(
                f"[green]✓[/] {escape(row.document)} · {how} · {row.seconds:.1f} s",
                highlight=False,
            )
        else:
            _err.print(f"[yellow]–[/] {escape(row.document)} · {escape(row.error or '')}")
        results.append(row)
    bar.close()
    return results


class EvalProgress:
    """One bar for an evaluation, fed as ``progress(event, done=..., total=..., stage=...)``."""

    def __init__(self, quiet: bool = False) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_err,
            disable=quiet,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> EvalProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def __call__(self, event: str, **data: Any) -> None:
        stage = str(data.get("stage", event))
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=data.get("total"))
        task = self._tasks[stage]
        if "total" in data:
            self._bar.update(task, total=data["total"])
        if "done" in data:
            self._bar.update(task, completed=data["done"])
        elif "advance" in data:
            self._bar.advance(task, data["advance"])


def print_metrics(result: dict[str, Any], title: str) -> None:
    table = Table(title=escape(title), show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in result.items():
        table.add_row(escape(key), f"{value:.3f}" if isinstance(value, float) else str(value))
    _out.print(table)


def print_strategies(result: dict[str, Any], title: str) -> None:
    """`ragmix eval qa`: one row per strategy."""
    table = Table(title=escape(title))
    for col in ("strategy", "EM", "F1", "answer in sources", "prompt tokens", "first token p50",
                "seconds", "routes"):  # fmt: skip
        table.add_column(col, justify="left" if col in {"strategy", "routes"} else "right")
    for name, r in result["strategies"].items():
        ft = r["first_token_s_p50"]
        table.add_row(
            name, f"{r['em']:.3f}", f"{r['f1']:.3f}", f"{r['answer_in_sources']:.3f}",
            f"{r['prompt_tokens']:,}", "-" if ft is None else f"{ft:.2f} s", f"{r['seconds']:.0f}",
            ", ".join(f"{k} {v}" for k, v in r["routes"].items()),
        )  # fmt: skip
    _out.print(table)
    docs = result["doc_tokens"]
    where = f"documents of ~{docs:,} tokens" if docs else "each context its own document"
    _out.print(f"[dim]{result['n_questions']} questions; {where}[/]")


def print_trust(result: dict[str, Any], title: str) -> None:
    """``eval trust``'s table: one row per kind of document."""
    table = Table(title=title)
    for col in ("documents", "n", "rejected", "accuracy", "F1", "false alarm", "verdicts",
                "model called", "first token p50"):  # fmt: skip
        table.add_column(col)
    for kind, label in (("answerable", "hold the answer"), ("unanswerable", "related, without")):
        r = result[kind]

        def pct(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.0%}" if key in r else "-"

        mix = ", ".join(f"{k} {v}" for k, v in sorted(r["verdicts"].items()))
        ft = r.get("first_token_s_p50")
        table.add_row(label, str(r["n"]), pct("rejected"), pct("accuracy"),
                      f"{r['f1']:.3f}" if "f1" in r else "-", pct("false_alarm"), mix,
                      pct("model_called"), f"{ft:.1f} s" if ft else "-")  # fmt: skip
    _out.print(table)
    _out.print(f"[dim]{result['seconds']:.0f} s · mode {result['mode']}[/]")


def print_checks(checks: list[Any], where: str) -> None:
    """`ragmix doctor`: one row per check, the fix under any that is not ok."""
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
    table = Table(title=f"ragmix doctor: {where}", show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold", ratio=1)
    for c in checks:
        detail = escape(c.detail)
        if c.fix:
            detail += f"\n[cyan]fix:[/] {escape(c.fix)}"
        table.add_row(c.name, marks.get(c.status, c.status), detail)
    _out.print(table)
    failed = [c.name for c in checks if c.status == "fail"]
    _out.print(
        "[bold red]problems: " + ", ".join(failed) + "[/]"
        if failed
        else "[green]all checks passed[/]"
    )


def _numbers(pages: list[int], one: str, many: str) -> str:
    return f"{many}{pages[0]}-{pages[-1]}" if len(pages) > 1 else f"{one}{pages[0]}"


def where_text(s: Source) -> str:
    """Where in its document a source is, as the CLI says it: its pages, or the sheet of a
    workbook, the slides of a deck, and the pages OCR read with its mean confidence.

    Example:
        >>> where_text({"page": 3, "pages": [3, 4]})
        ' pp.3-4'
        >>> where_text({"page": 2, "page_kind": "slide"})
        ' slide 2'
        >>> where_text({"page": 2, "ocr_pages": [2], "ocr_confidence": 0.97})
        ' · OCR, p. 2 (confidence 0.97)'
        >>> where_text({"pages": [1, 2], "ocr_pages": [2], "ocr_confidence": 0.9})
        ' pp.1-2 · OCR, p. 2 (confidence 0.90)'
    """
    pages = source_pages(s)
    ocr = [int(p) for p in s.get("ocr_pages") or []]
    kind = s.get("page_kind")
    if kind == "sheet" and s.get("page_label"):
        out = " · sheet " + escape(str(s["page_label"]))
    elif kind == "slide" and pages:
        out = " " + _numbers(pages, "slide ", "slides ")
    elif pages and pages != ocr:
        out = " " + _numbers(pages, "p.", "pp.")
    else:
        out = ""
    if ocr:
        confidence = float(s.get("ocr_confidence") or 0.0)
        out += f" · OCR, {_numbers(ocr, 'p. ', 'pp. ')} (confidence {confidence:.2f})"
    return out


def source_line(s: Source, width: int = 90) -> str:
    """One source as rich markup: file, pages, what it is, and about ``width`` characters
    around the first of the answer's words it holds, those words in bold.

    Example:
        >>> src = {"source": "r.pdf", "page": 3, "pages": [3, 4], "kind": "support",
        ...        "support": 0.5, "text": "钟楼建于1998年。", "highlights": [[4, 8]]}
        >>> source_line(src)
        'r.pdf pp.3-4 · supports the answer (50%) · 钟楼建于[bold]1998[/bold]年。'
        >>> src = {"source": "b.xlsx", "page": 2, "page_kind": "sheet", "page_label": "预算",
        ...        "text": "【预算】"}
        >>> source_line(src)
        'b.xlsx · sheet 预算 · 【预算】'
    """
    where = escape(s["source"]) + where_text(s)
    kind = s.get("kind", "passage")
    if kind == "support":
        where += f" · supports the answer ({s.get('support') or 0:.0%})"
    elif kind == "document":
        where += " · whole document (no passage holds the answer's words)"
    text = s["text"]
    marks = sorted((int(a), int(b)) for a, b in s.get("highlights") or [])
    start, end = window(len(text), marks[0][0] if marks else None, width)
    out, at = [], start
    for a, b in marks:
        if a < at or b > end:
            continue
        out.append(escape(text[at:a]) + "[bold]" + escape(text[a:b]) + "[/bold]")
        at = b
    out.append(escape(text[at:end]))
    body = " ".join("".join(out).split())
    return f"{where} · {'…' if start else ''}{body}{'…' if end < len(text) else ''}"
