"""HTML for the page: answer bubbles with route badge and sources, ingest reports.

Every string that came from a file or a model goes through ``html.escape`` here, so a file
named ``<img src=x onerror=alert(1)>.txt`` is shown as those characters. Nothing here
imports gradio. Mirrors ``ragmix.cli.console`` (the CLI's rendering).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ragmix.app.uploads import Upload
from ragmix.core.events import AnswerState, Source
from ragmix.ui.i18n import Lang, tr

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
    return f'<span class="rm-badge rm-{esc(route)}" title="{esc(state.reason)}">{esc(label)}</span>'


_BADGES = {"badge_stuff", "badge_retrieve", "badge_search", "badge_map_reduce"}


def sources(items: Sequence[Source], lang: Lang, *, open_list: bool = False) -> str:
    """A folded list of sources; each opens to the whole passage."""
    if not items:
        return ""
    rows = []
    for i, s in enumerate(items, 1):
        where = esc(s["source"])
        if s.get("page"):
            where += " · " + esc(tr("page", lang, page=s["page"]))
        elif s.get("chunk") is None:  # the whole document was read
            where += " · " + esc(tr("whole", lang))
        snippet = " ".join(str(s.get("text", "")).split())
        short = snippet[:SNIPPET_CHARS] + ("…" if len(snippet) > SNIPPET_CHARS else "")
        score = "" if s.get("chunk") is None else tr("score", lang, score=f"{s['score']:.4f}")
        rows.append(
            '<details class="rm-source">'
            f'<summary><span class="rm-num">[{i}]</span> <b class="rm-file">{where}</b>'
            f' <span class="rm-score">{esc(score)}</span>'
            f'<br><span class="rm-snippet">{esc(short)}</span></summary>'
            f'<div class="rm-passage">{esc(s.get("text", ""))}</div></details>'
        )
    attr = " open" if open_list else ""
    return (
        f'<details class="rm-sources"{attr}><summary>{esc(tr("sources", lang, n=len(items)))}'
        f"</summary>{''.join(rows)}</details>"
    )


def user_html(question: str) -> str:
    """The user's own question, shown as the text typed: never as HTML or markdown."""
    return f'<div class="rm-user">{esc(question)}</div>'


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


def answer_html(state: AnswerState, lang: Lang, status: str = "") -> str:
    """One assistant bubble: the answer (escaped) or why it failed, then badge, sources and
    counts. ``status``: the page's own note ("Reading…") until the answer says more."""
    parts = []
    final = state.answer
    text = state.text if state.error is None else tr("error", lang, error=state.error)
    if text:
        parts.append(html.escape(text))
    elif not state.done and state.reading is not None:
        parts.append(reading_html(state, lang))
    elif not state.done and (state.status or status):
        parts.append(f"<em>{esc(state.status or status)}</em>")
    elif final is not None and final.route == "search" and not final.sources:
        parts.append(esc(tr("no_passages", lang)))
    meta = []
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
    if meta:
        # A blank line before the block keeps Markdown from treating it as inline text.
        parts.append('<div class="rm-meta">' + " ".join(meta) + "</div>")
    if final is not None:
        parts.append(sources(final.sources, lang, open_list=final.route == "search"))
    return "\n\n".join(p for p in parts if p)


def upload_report(
    uploads: list[Upload], statuses: Mapping[str, str], failed: Mapping[str, str], lang: Lang
) -> str:
    """One line per uploaded file: added, duplicate, unchanged, refused or failed (why)."""
    lines = []
    for up in uploads:
        if up.error:
            reason = tr(f"rej_{up.error}", lang, **up.detail)
            text, cls = tr("st_rejected", lang, error=reason), "rm-bad"
        elif up.name in failed:
            text, cls = tr("st_failed", lang, error=failed[up.name]), "rm-bad"
        else:
            status = statuses.get(up.name, "failed")
            text = tr(f"st_{status}", lang, error="?")
            cls = "rm-ok" if status == "ingested" else "rm-note"
            if up.stored and up.stored.name != up.original:
                text += " · " + tr("st_stored_as", lang, name=up.stored.name)
        lines.append(
            f'<li class="{cls}"><span class="rm-file">{esc(up.original)}</span> — {esc(text)}</li>'
        )
    return f'<ul class="rm-report">{"".join(lines)}</ul>' if lines else ""


def warm_report(rows: list[dict[str, Any]], lang: Lang) -> str:
    """One line per document read ahead (``ragmix.cli.console.warm_rows``)."""
    lines = []
    for r in rows:
        if not r["ok"]:
            text, cls = tr("warm_skip", lang, error=r["error"]), "rm-note"
        elif not r["read"]:
            text, cls = tr("warm_kept", lang), "rm-ok"
        else:
            text = tr("warm_done", lang, tokens=f"{r['read']:,}", seconds=f"{r['seconds']:.1f}")
            cls = "rm-ok"
        lines.append(
            f'<li class="{cls}"><span class="rm-file">{esc(r["document"])}</span> — '
            f"{esc(text)}</li>"
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
