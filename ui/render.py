"""HTML for the page: answer bubbles with route badge and sources, ingest reports.

Every string that came from a file or a model goes through ``html.escape`` here, so a file
named ``<img src=x onerror=alert(1)>.txt`` is shown as those characters. Nothing here
imports gradio. Mirrors ``ragmix.cli.console`` (the CLI's rendering).

One room, though long: every piece of HTML the page shows is made here, so escaping has one
place to be checked (tests/test_web_security.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ragmix.app.uploads import Upload
from ragmix.core.events import (
    Answer,
    AnswerState,
    FileFailed,
    FileProgress,
    IngestState,
    Source,
    WarmRow,
    source_label,
    source_pages,
)
from ragmix.qa.support import window
from ragmix.ui.conversations import restore
from ragmix.ui.i18n import Lang, error_text, tr
from ragmix.ui.reasons import reason_text

#: Characters of a passage shown in a source's one-line summary.
SNIPPET_CHARS = 90


def esc(text: object) -> str:
    """Escape for HTML text and attributes; newlines become <br> so Markdown cannot split
    an HTML block on a blank line."""
    return html.escape(str(text), quote=True).replace("\n", "<br>")


def badge(state: AnswerState, lang: Lang) -> str:
    """The route badge, e.g. 'Whole document · 12,345 / 30,720 tokens'; the router's reason
    is its tooltip. Search has no budget and its badge shows none."""
    route = state.route or "retrieve"
    scope, budget = (state.tokens["scope"], state.tokens["budget"]) if state.tokens else (0, None)
    n = len(state.sources)
    key = f"badge_{route}" if f"badge_{route}" in _BADGES else "badge_retrieve"
    room = "" if budget is None else f"{budget:,}"
    label = tr(key, lang, scope=f"{scope:,}", budget=room, n=n)
    if n == 1 and lang == "en":
        label = label.replace("passages", "passage")
    if state.restarted:
        label += " · " + tr("badge_restart", lang)
    return f'<span class="rm-badge rm-{esc(route)}">{esc(label)}</span>'


def reason_line(state: AnswerState, lang: Lang) -> str:
    """Why the router chose the route, as visible text under the badge (touch screens have
    no tooltips), in ``lang``."""
    if not state.reason:
        return ""
    words = reason_text(state.reason, state.route, lang)
    return f'<div class="rm-reason">{esc(tr("reason", lang, reason=words))}</div>'


_BADGES = {"badge_stuff", "badge_retrieve", "badge_search", "badge_map_reduce"}


def marked(text: str, marks: Sequence[Sequence[int]]) -> str:
    """``text`` escaped, with the ``[start, end]`` spans in ``marks`` wrapped in <mark>."""
    out, at = [], 0
    for start, end in sorted((int(m[0]), int(m[1])) for m in marks):
        if start < at or end > len(text) or start >= end:
            continue  # overlapping or out of range: never cut an escape in half
        out.append(esc(text[at:start]) + "<mark>" + esc(text[start:end]) + "</mark>")
        at = end
    return "".join(out) + esc(text[at:])


def snippet(s: Source) -> tuple[str, list[list[int]]]:
    """A one-line view of a source: ``SNIPPET_CHARS`` around its first marked word (not
    simply its start), and the marks moved into it."""
    text, marks = str(s.get("text", "")), [list(m) for m in s.get("highlights") or []]
    start, end = window(len(text), min((m[0] for m in marks), default=None), SNIPPET_CHARS)
    lead = "…" if start else ""
    shift = len(lead) - start
    piece = lead + text[start:end].replace("\n", " ") + ("…" if end < len(text) else "")
    return piece, [[a + shift, b + shift] for a, b in marks if a >= start and b <= end]


def _paragraphs(marked_html: str) -> str:
    """Blank lines (``<br><br>``) as a small gap: a passage of short paragraphs stays compact."""
    return re.sub(r"(?:<br>){2,}", '<span class="rm-gap"></span>', marked_html)


def _numbered(pages: list[int], lang: Lang, one: str = "page", many: str = "pages") -> str:
    if len(pages) > 1:
        return tr(many, lang, first=pages[0], last=pages[-1])
    return tr(one, lang, page=pages[0])


def _where(s: Source, lang: Lang) -> str:
    """'report.pdf · pp. 3–4' (the file, and the pages the text covers; a workbook's sheet
    by its name, a deck's slides, the pages OCR read with its mean confidence), unescaped."""
    where = str(s["source"])
    pages = source_pages(s)
    ocr = [int(p) for p in s.get("ocr_pages") or []]
    kind = s.get("page_kind")
    if kind == "sheet" and s.get("page_label"):
        where += " · " + tr("sheet", lang, name=s["page_label"])
    elif kind == "slide" and pages:
        where += " · " + _numbered(pages, lang, "slide", "slides")
    elif pages and pages != ocr:
        where += " · " + _numbered(pages, lang)
    if ocr:
        confidence = f"{float(s.get('ocr_confidence') or 0.0):.2f}"
        where += " · " + tr("ocr", lang, pages=_numbered(ocr, lang), confidence=confidence)
    return where


def _strength(s: Source, best: float, lang: Lang) -> str:
    """How much a source matters, in words and a bar: for a passage that supports the
    answer, the share of the answer's words it holds; for a retrieved passage, its relevance
    relative to the best one found."""
    kind = s.get("kind", "passage")
    if kind == "document":
        return f'<span class="rm-score">{esc(tr("whole_no_support", lang))}</span>'
    if kind == "support" or s.get("support") is not None:
        share = float(s.get("support") or 0.0)
        label = tr("holds", lang, pct=f"{share:.0%}")
    else:
        share = float(s["score"]) / best if best > 0 else 0.0
        label = tr("relevance", lang, pct=f"{share:.0%}")
    raw = tr("score", lang, score=f"{s['score']:.4f}")
    return (
        f'<span class="rm-score" title="{esc(raw)}">'
        f'<meter min="0" max="1" value="{min(max(share, 0.0), 1.0):.2f}"></meter> '
        f"{esc(label)}</span>"
    )


def sources(items: Sequence[Source], lang: Lang, *, open_list: bool = False) -> str:
    """A folded list of sources; each opens to the whole passage, with the answer's (for
    search, the question's) words marked. Passages found in a document read whole say so."""
    if not items:
        return ""
    best = max(
        (float(s["score"]) for s in items if s.get("kind", "passage") == "passage"), default=0.0
    )
    rows = []
    for i, s in enumerate(items, 1):
        n = source_label(s, i)  # the number the answer's text cites it by
        short, short_marks = snippet(s)
        passage = _paragraphs(marked(str(s.get("text", "")).rstrip(), s.get("highlights") or []))
        kind = s.get("kind", "passage")
        label = {"support": tr("supports", lang), "document": tr("whole", lang)}.get(kind, "")
        tag = f' <span class="rm-kind">{esc(label)}</span>' if label else ""
        rows.append(
            f'<details class="rm-source rm-{esc(kind)}">'
            f'<summary><span class="rm-num">[{n}]</span> '
            f'<b class="rm-file">{esc(_where(s, lang))}</b>'
            f"{tag} {_strength(s, best, lang)}"
            f'<br><span class="rm-snippet">{marked(short, short_marks)}</span></summary>'
            f'<div class="rm-passage">{passage}'
            "</div></details>"
        )
    attr = " open" if open_list else ""
    return (
        f'<details class="rm-sources"{attr}><summary>{esc(tr("sources", lang, n=len(items)))}'
        f"</summary>{''.join(rows)}</details>"
    )


def plain_answer(state: AnswerState, lang: Lang, *, stopped: bool = False) -> str:
    """The answer as plain text, for the clipboard: its text (or why it failed), then its
    sources numbered as in the bubble, with file and pages, e.g.::

        The warranty lasts three years.

        Sources:
        [1] lumen-guide.txt · p. 2
    """
    final = state.answer
    if state.error is not None:
        return tr("error", lang, error=failure_text(state, lang))
    lines = [state.text.strip()] if state.text.strip() else []
    if stopped:
        lines.append(tr("stopped_plain", lang))
    doubt = _verdict_plain(final, lang)
    if doubt:
        lines.append(doubt)
    if final is not None and final.route == "search" and not final.sources:
        lines.append(tr("no_passages", lang))
    items = final.sources if final is not None else state.sources
    if items:
        rows = [f"[{source_label(s, i)}] {_where(s, lang)}" for i, s in enumerate(items, 1)]
        if final is not None and final.route == "search":  # no answer: the passages are it
            rows = [
                f"{row}: {' '.join(snippet(s)[0].split())}"
                for row, s in zip(rows, items, strict=True)
            ]
        lines.append("\n".join([tr("sources_plain", lang), *rows]))
    return "\n\n".join(lines)


def _pieces(answer: Answer, lang: Lang) -> str:
    return ("、" if lang == "zh" else ", ").join(answer.unsupported)


def _verdict_plain(answer: Answer | None, lang: Lang) -> str:
    """What the Copy text says of an answer the documents do not (fully) back."""
    if answer is None or answer.verdict not in ("partial", "unsupported"):
        return ""
    if answer.verdict == "partial" and answer.unsupported:
        return tr("verdict_plain_partial", lang, items=_pieces(answer, lang))
    return tr("verdict_plain_unsupported", lang)


def verdict_badge(answer: Answer | None, lang: Lang) -> str:
    """Whether the documents back the answer, as a badge in ``lang`` (a partly supported one
    names the pieces not found in the sources); nothing for a search."""
    if answer is None or answer.verdict is None:
        return ""
    label = tr(f"verdict_{answer.verdict}", lang)
    out = f'<span class="rm-verdict rm-v-{esc(answer.verdict)}">{esc(label)}</span>'
    if answer.verdict == "partial" and answer.unsupported:
        missing = tr("verdict_missing", lang, items=_pieces(answer, lang))
        out += f' <span class="rm-missing">{esc(missing)}</span>'
    return out


def copy_button(state: AnswerState, lang: Lang, *, stopped: bool = False) -> str:
    """A button that copies ``plain_answer``, kept in its ``value`` (Gradio's sanitizer drops
    ``data-*``; the page's script does the copying). Gradio's own copy button would copy the
    bubble's HTML."""
    text = html.escape(plain_answer(state, lang, stopped=stopped), quote=True)
    text = text.replace("\n", "&#10;")
    return (
        f'<button type="button" class="rm-copy" value="{text}" '
        f'title="{esc(tr("copy_title", lang))}"><span class="rm-copy-label">'
        f'{esc(tr("copy", lang))}</span><span class="rm-copy-done" hidden>'
        f"{esc(tr('copied', lang))}</span></button>"
    )


def user_html(question: str) -> str:
    """The user's own question, shown as the text typed: never as HTML or markdown."""
    return f'<div class="rm-user">{esc(question)}</div>'


def failure_text(state: AnswerState, lang: Lang) -> str:
    """Why the answer failed, in ``lang`` when the error has a code (else its message)."""
    f = state.failure
    if f is None:
        return state.error or ""
    return error_text(f.message, f.code, f.params, lang)


def file_failure(failure: FileFailed, lang: Lang) -> str:
    """Why a file could not be read, in ``lang`` when the error has a code."""
    return error_text(failure.error, failure.code, failure.params, lang)


def reading_html(state: AnswerState, lang: Lang) -> str:
    """The model reading a long prompt: tokens read of total, seconds left, and a bar."""
    r = state.reading
    assert r is not None
    text = tr("reading", lang, read=f"{r.read:,}", total=f"{r.total:,}")
    if r.restored and r.source == "disk":
        text += tr("reading_restored", lang, n=f"{r.restored:,}")
    if r.seconds_left:
        text += tr("reading_left", lang, s=f"{r.seconds_left:.0f}")
    return (
        f'<em class="rm-reading">{esc(text)}</em><br>'
        f'<progress class="rm-progress" value="{r.read}" max="{max(r.total, 1)}"></progress>'
    )


_LINK = re.compile(r"(!?)\[([^\]\n]{0,300})\]\(([^)\s]{0,2000})\)")


def answer_text(text: str) -> str:
    """A model's text for the chat's Markdown, made safe: HTML shown as text; a Markdown link
    to an ``http(s)`` address is a link opening in a new tab, any other link (``javascript:``,
    a relative path) and every image is shown as its words and address, never fetched."""
    out, at = [], 0
    for m in _LINK.finditer(text):
        out.append(_md_text(text[at : m.start()]))
        image, label, target = m.groups()
        if not image and re.match(r"https?://", target, re.IGNORECASE):
            out.append(
                f'<a href="{html.escape(target, quote=True)}" target="_blank" '
                f'rel="noopener noreferrer nofollow">{esc(label)}</a>'
            )
        else:
            out.append(_md_text(f"{image}[{label}]({target})").replace("[", "&#91;"))
        at = m.end()
    out.append(_md_text(text[at:]))
    return "".join(out)


def _md_text(text: str) -> str:
    """Escaped text that Markdown still formats (lists, emphasis), but whose brackets cannot
    start a link or an image."""
    return html.escape(text).replace("[", "&#91;").replace("]", "&#93;")


def stopped_mark(lang: Lang) -> str:
    return f'<span class="rm-stopped" role="status">{esc(tr("stopped", lang))}</span>'


def answer_html(state: AnswerState, lang: Lang, status: str = "", *, stopped: bool = False) -> str:
    """One assistant bubble: the answer (escaped) or why it failed, then badge, the router's
    reason, sources and counts. ``status``: the page's own note ("Reading…") until the answer
    says more; ``stopped``: the answer was stopped (what was written is kept)."""
    parts = []
    final = state.answer
    if state.error is not None:
        parts.append(html.escape(tr("error", lang, error=failure_text(state, lang))))
    elif state.text:
        # The model's text is its own Markdown block between blank lines, in a marked <div>.
        parts.append(f'<div class="rm-text">\n\n{answer_text(state.text)}\n\n</div>')
    elif stopped:
        pass
    elif not state.done and state.reading is not None:
        parts.append(reading_html(state, lang))
    elif not state.done and (state.status or status):
        parts.append(f"<em>{esc(state.status or status)}</em>")
    elif final is not None and final.route == "search" and not final.sources:
        parts.append(esc(tr("no_passages", lang)))
    for warning in final.warnings if final is not None else ():
        # The one warning there is: the model does not read the question's language.
        words = warning if lang == "en" else tr("model_language", lang)
        parts.append(f'<div class="rm-warning" role="note">⚠ {esc(words)}</div>')
    meta = []
    if stopped:
        meta.append(stopped_mark(lang))
    if final is not None and final.verdict is not None:
        meta.append(verdict_badge(final, lang))
    if state.route is not None:
        meta.append(badge(state, lang))
    if final is not None and final.route != "search":
        t, tm = final.tokens, final.timings
        timing = tr(
            "timing",
            lang,
            prompt=f"{t['prompt']:,}",
            completion=f"{t['completion']:,}",
            seconds=f"{tm.get('total_s', 0):.1f}",
        )
        meta.append(f'<span class="rm-timing">{esc(timing)}</span>')
    if final is not None or (stopped and state.text):
        meta.append(copy_button(state, lang, stopped=stopped))
    if meta:
        # A blank line before the block keeps Markdown from treating it as inline text.
        parts.append('<div class="rm-meta">' + " ".join(meta) + "</div>")
    if state.route is not None:
        parts.append(reason_line(state, lang))
    shown = final.sources if final is not None else (state.sources if stopped else [])
    if shown:
        parts.append(sources(shown, lang, open_list=final is not None and final.route == "search"))
    return "\n\n".join(p for p in parts if p)


def chat_messages(turns: Sequence[Mapping[str, Any]], lang: Lang) -> list[dict[str, Any]]:
    """A kept conversation (``ragmix.ui.conversations``) as the chat's messages in ``lang``."""
    out: list[dict[str, Any]] = []
    for turn in turns:
        state, stopped = restore(turn.get("answer"))
        out.append({"role": "user", "content": user_html(str(turn.get("question", "")))})
        out.append({"role": "assistant", "content": answer_html(state, lang, stopped=stopped)})
    return out


def upload_report(
    uploads: list[Upload],
    statuses: Mapping[str, str],
    failed: Mapping[str, str],
    lang: Lang,
    same_as: Mapping[str, str] | None = None,
    files: Mapping[str, FileProgress] | None = None,
) -> str:
    """One line per uploaded file: added (with its passages, from ``files``), duplicate (of
    which stored document, by ``same_as``: uploaded name -> the document's name), unchanged,
    refused or failed (why, in ``lang`` when ``files`` holds the error's code)."""
    lines = []
    for up in uploads:
        fp = (files or {}).get(up.name)
        if up.error:
            reason = tr(f"rej_{up.error}", lang, **up.detail)
            text, cls = tr("st_rejected", lang, error=reason), "rm-bad"
        elif fp is not None and fp.failure is not None:
            text, cls = tr("st_failed", lang, error=file_failure(fp.failure, lang)), "rm-bad"
        elif up.name in failed:
            text, cls = tr("st_failed", lang, error=failed[up.name]), "rm-bad"
        else:
            status = statuses.get(up.name, "failed")
            text = _done_text(status, fp.chunks if fp else 0, (same_as or {}).get(up.name), lang)
            cls = "rm-ok" if status == "ingested" else "rm-note"
            if up.stored and up.stored.name != up.original:
                text += " · " + tr("st_stored_as", lang, name=up.stored.name)
        lines.append(
            f'<li class="{cls}"><span class="rm-file">{esc(up.original)}</span> — {esc(text)}</li>'
        )
    return f'<ul class="rm-report">{"".join(lines)}</ul>' if lines else ""


def _done_text(status: str, chunks: int, twin: str | None, lang: Lang) -> str:
    """A finished file's outcome: 'added · 12 passages', 'same content as X; …', …"""
    if status == "duplicate" and twin:
        return tr("st_duplicate_of", lang, name=twin)
    if status == "ingested" and chunks:
        return tr("indexed_one", lang) if chunks == 1 else tr("indexed", lang, n=chunks)
    return tr(f"st_{status}", lang, error="?")


def _left_text(left: float | None, lang: Lang) -> str:
    """'about 12 s left', 'about 2 min 5 s left', 'finishing…', or 'estimating…' (None)."""
    if left is None:
        return tr("up_estimating", lang)
    if left < 1:
        return tr("up_finishing", lang)
    whole = round(left)
    if whole >= 60:
        return tr("up_left_min", lang, m=whole // 60, s=whole % 60)
    return tr("up_left", lang, s=whole)


def _ocr_text(fp: FileProgress, lang: Lang) -> str:
    """'OCR: page 2 of 5' (the page being read), then 'OCR: 5 of 5 pages read'."""
    if fp.pages >= fp.pages_total:
        return tr("up_ocr_done", lang, total=fp.pages_total)
    return tr("up_ocr", lang, page=fp.pages + 1, total=fp.pages_total)


def upload_progress(
    state: IngestState,
    lang: Lang,
    *,
    fraction: float,
    left: float | None,
    shown: Mapping[str, str] | None = None,
) -> str:
    """The one display of an upload in progress: a bar over the whole upload, files done and
    the seconds left (or 'estimating…' before there is a rate to go by), then a line per file:
    waiting, reading (by OCR: the page being read, of how many), indexing k of n passages,
    added · N passages, unchanged, duplicate, failed (why, in ``lang``). ``shown``: the name
    to show for a file (the name the browser sent), by its stored name."""
    names = shown or {}
    rows = []
    for name, fp in state.files.items():
        if fp.status == "waiting":
            text, cls = tr("up_waiting", lang), "rm-wait"
        elif fp.status == "reading" and fp.pages_total:
            text, cls = _ocr_text(fp, lang), "rm-busy"
        elif fp.status == "reading" or (fp.status == "indexing" and not fp.total):
            text, cls = tr("up_reading", lang), "rm-busy"
        elif fp.status == "indexing":
            text, cls = tr("up_indexing", lang, done=fp.done, total=fp.total), "rm-busy"
        elif fp.failure is not None:
            text, cls = tr("st_failed", lang, error=file_failure(fp.failure, lang)), "rm-bad"
        else:
            text = _done_text(fp.status, fp.chunks, None, lang)
            cls = "rm-ok" if fp.status == "ingested" else "rm-note"
        rows.append(
            f'<li class="{cls}"><span class="rm-file">{esc(names.get(name, name))}</span> — '
            f"{esc(text)}</li>"
        )
    total = state.files_total if state.files_total is not None else len(state.files)
    files = tr("up_files", lang, done=state.files_done, total=total)
    value = min(max(fraction, 0.0), 1.0)
    return (
        f'<div class="rm-upload" role="status"><div class="rm-upload-head">'
        f'<progress class="rm-upbar" value="{value:.3f}" max="1"></progress> '
        f'<span class="rm-upmeta">{value:.0%} · {esc(files)} · '
        f'<span class="rm-left">{esc(_left_text(left, lang))}</span></span></div>'
        f'<ul class="rm-report">{"".join(rows)}</ul></div>'
    )


def warm_report(rows: list[WarmRow], lang: Lang) -> str:
    """One line per document read ahead (``ragmix.core.events.warm_rows``)."""
    lines = []
    for r in rows:
        if not r.ok:
            error = error_text(r.error or "", r.code, r.params, lang)
            text, cls = tr("warm_skip", lang, error=error), "rm-note"
        elif not r.read:
            text, cls = tr("warm_kept", lang), "rm-ok"
        else:
            text = tr("warm_done", lang, tokens=f"{r.read:,}", seconds=f"{r.seconds:.1f}")
            cls = "rm-ok"
        lines.append(
            f'<li class="{cls}"><span class="rm-file">{esc(r.document)}</span> — {esc(text)}</li>'
        )
    return f'<ul class="rm-report">{"".join(lines)}</ul>' if lines else ""


def docs_table(docs: list[Any], lang: Lang) -> str:
    """The document list: name, pages, chunks and answering-model tokens."""
    if not docs:
        return f'<div class="rm-empty">{esc(tr("no_docs", lang))}</div>'
    head = (
        f"<tr><th>{esc(tr('col_doc', lang))}</th><th class='num'>{esc(tr('col_pages', lang))}"
        f"</th><th class='num'>{esc(tr('col_chunks', lang))}</th>"
        f"<th class='num'>{esc(tr('col_tokens', lang))}</th></tr>"
    )
    rows = "".join(
        f'<tr><td class="rm-doc">{esc(d.name)}{_also(d.aliases, lang)}</td>'
        f'<td class="num">{"" if d.n_pages is None else d.n_pages}</td>'
        f'<td class="num">{d.n_chunks:,}</td>'
        f'<td class="num">{"" if d.n_tokens is None else f"{d.n_tokens:,}"}</td></tr>'
        for d in docs
    )
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _also(aliases: Sequence[str], lang: Lang) -> str:
    """The other names of a document (identical files ingested under several names)."""
    if not aliases:
        return ""
    return f'<div class="rm-also">{esc(tr("also_named", lang, names=", ".join(aliases)))}</div>'


def note(text: str, *, bad: bool = False) -> str:
    """A one-line message under the upload area."""
    cls = "rm-bad" if bad else "rm-note"
    return f'<ul class="rm-report"><li class="{cls}">{esc(text)}</li></ul>'


def warm_progress(name: str, r: Any, lang: Lang) -> str:
    """Reading ahead, after each batch: the document, tokens read of total and a bar."""
    text = (
        tr("warm_reading", lang, name=name)
        + " · "
        + tr("reading", lang, read=f"{r.read:,}", total=f"{r.total:,}")
    )
    return (
        f'<div class="rm-upload" role="status"><div>{esc(text)}</div>'
        f'<progress class="rm-warmbar" value="{r.read}" max="{max(r.total, 1)}"></progress>'
        "</div>"
    )
