"""Upload sanitising and HTML escaping of the web page (fast; no browser, no models)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ragmix.app.uploads import remove_upload, safe_name, save_uploads
from ragmix.core.events import (
    Answer,
    AnswerState,
    Done,
    Failed,
    PartStarted,
    RouteDecided,
    Source,
    Sources,
    Token,
    Tokens,
)
from ragmix.ui.i18n import pick_language
from ragmix.ui.render import answer_html, docs_table, upload_report

EXTS = [".pdf", ".txt", ".md"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("report.pdf", "report.pdf"),
        ("苏州 报告（2024）.pdf", "苏州 报告（2024）.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\win.ini.txt", "win.ini.txt"),
        ("/abs/path/a.txt", "a.txt"),
        ("C:\\Users\\me\\b.md", "b.md"),
        (".bashrc.txt", "bashrc.txt"),
        (".env", "env"),  # no longer hidden; refused later for its missing extension
        ("...hidden.txt", "hidden.txt"),
        ("a\x00b\nc\x1b[31m.txt", "abc[31m.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),  # right-to-left override removed
        ("<img src=x onerror=alert(1)>.txt", "<img src=x onerror=alert(1)>.txt"),
        ("trailing. . ", "trailing"),
    ],
)
def test_safe_name_keeps_one_plain_component(sent: str, stored: str) -> None:
    assert safe_name(sent, windows=False) == stored


@pytest.mark.parametrize("sent", ["", ".", "..", "...", "../", "/", " \t", "\x00\x01"])
def test_safe_name_refuses_empty_and_hidden(sent: str) -> None:
    assert safe_name(sent, windows=False) is None


def test_safe_name_windows_rules_and_length() -> None:
    assert safe_name('a<b>:"c|?*.txt', windows=True) == "a_b___c___.txt"
    assert safe_name("CON.txt", windows=True) == "_CON.txt"
    long = safe_name("长" * 300 + ".pdf", windows=False)
    assert long is not None and long.endswith(".pdf") and len(long.encode()) <= 200


def test_save_uploads_only_writes_inside_the_upload_folder(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    ok, big, exe, dot = (src / n for n in ("ok.txt", "big.txt", "x.exe", "dot.txt"))
    ok.write_text("hello", encoding="utf-8")
    big.write_bytes(b"x" * 3000)
    exe.write_bytes(b"MZ")
    dot.write_text("secret", encoding="utf-8")
    store = tmp_path / "store"
    ups = save_uploads(
        [(ok, "../../../escape.txt"), (big, "big.txt"), (exe, "tool.exe"), (dot, "../")],
        store / "uploads",
        max_mb=2000 / 2**20,
        extensions=EXTS,
    )
    assert [u.error for u in ups] == [None, "size", "ext", "name"]
    assert ups[0].stored == store / "uploads" / "escape.txt"
    assert ups[0].stored.read_text(encoding="utf-8") == "hello"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["ok.txt", "big.txt", "x.exe", "dot.txt", "escape.txt"]
    )
    assert ups[1].detail == {"mb": 3000 / 2**20, "limit": 2000 / 2**20}
    assert ups[2].detail["ext"] == ".exe"


def test_remove_upload_never_leaves_the_folder(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "uploads").mkdir(parents=True)
    (store / "uploads" / "a.txt").write_text("a", encoding="utf-8")
    (store / "catalog.sqlite3").write_text("db", encoding="utf-8")
    assert remove_upload(store / "uploads", "../catalog.sqlite3") is False
    assert (store / "catalog.sqlite3").exists()
    assert remove_upload(store / "uploads", "a.txt") is True
    assert not (store / "uploads" / "a.txt").exists()


HOSTILE = "<img src=x onerror=alert(1)>.txt"


def test_rendered_names_and_passages_are_escaped() -> None:
    from ragmix.store.catalog import DocumentInfo

    doc = DocumentInfo("d1", HOSTILE, "txt", "ready", None, 10, 1, 0.0, 12)
    table = docs_table([doc], "en")
    assert "<img" not in table and "&lt;img src=x onerror=alert(1)&gt;.txt" in table
    tokens: Tokens = {"scope": 12_345, "budget": 30_720, "prompt": 900, "completion": 20}
    src: Source = {
        "source": HOSTILE,
        "page": 3,
        "chunk": 0,
        "start": 0,
        "end": 9,
        "score": 0.5,
        "text": "<script>x</script>",
        "kind": "passage",
        "pages": [3],
        "highlights": [[0, 8], [7, 9], [40, 50]],  # overlapping and out of range: skipped
        "support": None,
    }
    srcs = (src, {**src, "page": None, "pages": []})
    final = Answer("<b>answer</b>", "retrieve", 'a "quoted" <reason>', tokens, list(srcs), {})
    state = AnswerState.fold(
        [
            RouteDecided("retrieve", 'a "quoted" <reason>', tokens),
            Sources(srcs),
            Token("<b>answer</b>"),
            Done(replace(final, timings={"total_s": 1.25})),
        ]
    )
    out = answer_html(state, "en")
    assert "<img" not in out and "<script>" not in out and "<b>answer" not in out
    assert "Retrieved · 2 passages" in out and "Why: a &quot;quoted&quot; &lt;reason&gt;" in out
    assert "p. 3" in out and "score 0.5000" in out and "Sources (2)" in out
    assert "<mark>&lt;script&gt;</mark>x&lt;/script&gt;" in out  # marked, still escaped
    assert "relevance 100%" in out
    assert "900 prompt · 20 answer tokens · 1.2 s" in out
    stuff = answer_html(AnswerState().apply(RouteDecided("stuff", "fits", tokens)), "zh")
    assert "整篇文档 · 12,345 / 30,720 词元" in stuff


def test_answer_bubble_follows_the_events() -> None:
    """What the page shows at each step of a stream: its own status, map-reduce progress,
    the text, a Self-Route restart, the final counts; search shows no budget."""
    tokens: Tokens = {"scope": 9_000, "budget": 700, "prompt": 0, "completion": 0}
    state = AnswerState()
    assert answer_html(state, "en", "Reading…") == "<em>Reading…</em>"
    state = state.apply(RouteDecided("map_reduce", "global question", tokens))
    state = state.apply(PartStarted(2, 5))
    assert answer_html(state, "en", "Reading…").startswith("<em>part 2/5</em>")
    assert "Part by part · 9,000 tokens" in answer_html(state, "en")
    state = AnswerState().apply(RouteDecided("retrieve", "over budget", tokens))
    state = state.apply(Token("无法回答"))
    state = state.apply(RouteDecided("stuff", "self-route: …", tokens, restart=True))
    state = state.apply(Token("十八亿元"))
    out = answer_html(state, "zh")
    assert out.startswith('<div class="rm-text">\n\n十八亿元') and "无法回答" not in out
    assert "整篇文档 · 9,000 / 700 词元 · 改为阅读整篇文档" in out
    searched: Tokens = {"scope": 0, "budget": None, "prompt": 0, "completion": 0}
    done = AnswerState.fold(
        [
            RouteDecided("search", "search only: passages, no model", searched),
            Sources(()),
            Done(Answer("", "search", "search only: passages, no model", searched, [])),
        ]
    )
    out = answer_html(done, "en", "Reading…")
    assert out.startswith("No matching passages.") and "Search only · 0 passages" in out
    assert "None" not in out and "prompt" not in out  # no budget, no counts for a search
    failed = AnswerState().apply(Failed("the question is 9,000 tokens long"))
    assert answer_html(failed, "en", "Reading…") == (
        "Could not answer: the question is 9,000 tokens long"
    )


def test_upload_report_names_each_outcome(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x", encoding="utf-8")
    ups = save_uploads(
        [(f, "a.txt"), (f, "b.txt"), (f, "c.exe"), (f, "/")],
        tmp_path / "s" / "uploads",
        max_mb=1,
        extensions=EXTS,
    )
    html = upload_report(ups, {"a.txt": "ingested", "b.txt": "duplicate"}, {}, "en")
    assert "a.txt</span> — added" in html
    assert "same content as a stored document" in html
    assert "type .exe is not accepted" in html and "empty or hidden" in html


@pytest.mark.parametrize(
    ("setting", "header", "lang"),
    [
        ("auto", "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("auto", "en-US,en;q=0.9", "en"),
        ("auto", "fr-FR,zh-TW;q=0.5", "zh"),
        ("auto", None, "en"),
        ("zh", "en-US", "zh"),
        ("en", "zh-CN", "en"),
    ],
)
def test_pick_language(setting: str, header: str | None, lang: str) -> None:
    assert pick_language(setting, header) == lang
