"""Errors in the page's language (issue 14, item 9): every coded error of the core has an
English and a Chinese text that take its params; real raise sites carry their code (fast; no
browser, no models)."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Any

import pytest

from ragmix.core.errors import BudgetError, LoadError, RagmixError
from ragmix.core.events import AnswerState, Failed, FileFailed, catch_errors
from ragmix.ingest.loaders import load_document
from ragmix.qa.router import RouteRequest, Window, decide
from ragmix.ui.i18n import TEXTS, error_text
from ragmix.ui.render import answer_html, plain_answer, upload_report
from tests.fixtures import make_binary_junk_txt, make_encrypted_pdf

#: Every code a page user can meet, with params as the raise site gives them.
CODES: dict[str, dict[str, Any]] = {
    "question_too_long": {"q": 9000, "h": 0, "qh": 9000, "limit": 7360, "n_ctx": 8192,
                          "answer": 512, "overhead": 256, "min": 64},
    "question_history_too_long": {"q": 7000, "h": 900, "qh": 7900, "limit": 7360,
                                  "n_ctx": 8192, "answer": 512, "overhead": 256, "min": 64},
    "no_room_for_passages": {"n": 8000, "limit": 7680},
    "prompt_over_context": {"n": 9000, "n_ctx": 8192},
    "removed_meanwhile": {},
    "empty_question": {},
    "no_documents": {},
    "store_locked": {"pid": "4242"},
    "disk_full": {"path": "/data/ragmix"},
    "unknown_document": {"name": "年报.pdf"},
    "too_long_to_read_ahead": {"name": "报告.pdf", "tokens": 45000},
    "embedder_mismatch": {"have": "packaged:all-MiniLM-L6-v2", "want": "BAAI/bge-m3"},
    "embedder_unrecorded": {"have": "", "want": "BAAI/bge-m3"},
    "model_server_timeout": {"url": "http://127.0.0.1:8080/v1", "seconds": 120.0},
    "model_server_unreachable": {"url": "http://127.0.0.1:8080/v1"},
    "model_server_refused": {"url": "http://127.0.0.1:8080/v1", "status": 401},
    "model_server_failed": {"url": "http://127.0.0.1:8080/v1", "error": "boom"},
    "chroma_unreachable": {"host": "127.0.0.1", "port": 8000, "path": "/s"},
    "chroma_timeout": {"host": "127.0.0.1", "port": 8000, "seconds": 30.0},
    "store_unopenable": {"host": "localhost", "port": 8000, "path": "/srv/store"},
    "model_unknown": {"model": "packaged:nope"},
    "model_package_missing": {"model": "packaged:SmolLM2", "package": "gt-smollm2"},
    "model_file_missing": {"path": "/models/x.gguf"},
    "model_load_failed": {"path": "/models/x.gguf", "error": "bad magic"},
    "embedder_missing": {"model": "BAAI/bge-m3"},
    "embedder_load_failed": {"model": "BAAI/bge-m3", "error": "no weights"},
    # uploads
    "unsupported_type": {"ext": ".exe", "supported": ".pdf, .txt"},
    "old_doc": {"supported": ".pdf, .txt"},
    "not_a_file": {},
    "file_too_large": {"size": "300.0 MB", "limit": "200.0 MB"},
    "text_too_long": {"limit": 20_000_000, "n": 20_000_001},
    "cannot_read": {"error": "Permission denied"},
    "empty_file": {},
    "nested_too_deep": {"kind": "html"},
    "unreadable": {"kind": "html", "error": "ValueError: x"},
    "no_text": {},
    "pdf_needs_cryptography": {},
    "pdf_encrypted": {},
    "pdf_too_many_pages": {"n": 6000, "limit": 5000},
    "pdf_truncated": {"detail": "no %%EOF end marker: the file is cut off"},
    "pdf_corrupt": {"detail": "PdfReadError: x"},
    "pdf_no_pages": {},
    "pdf_scanned": {},
    "not_text_bom": {"codec": "utf-16"},
    "not_text_nul": {},
    "not_text_encoding": {},
    "docx_old_or_locked": {},
    "docx_invalid": {"error": "BadZipFile: x"},
    "zip_bomb": {"packed": "10.0 KB", "unpacked": "1.0 GB", "label": ".xlsx"},
    "office_invalid": {"error": "BadZipFile: x", "label": ".xlsm"},
    "xlsx_old_or_locked": {},
    "xlsx_invalid": {"error": "KeyError: x"},
    "pptx_old_or_locked": {},
    "pptx_invalid": {"error": "KeyError: x"},
    "image_invalid": {"error": "UnidentifiedImageError: x"},
    "image_too_large": {"width": 20000, "height": 12000},
    "ocr_missing": {},
    "ocr_off": {},
    "ocr_no_text": {},
    "ocr_too_many_pages": {"n": 80, "limit": 50},
    "ocr_render_failed": {"error": "PdfiumError: x"},
    "load_timeout": {"seconds": 300.0},
    "load_memory": {"mb": 2048},
    "loader_died": {"how": "SIGKILL"},
    "loader_crashed": {"error": "RuntimeError: x"},
}  # fmt: skip

#: Three or more English words in a row: a sentence left untranslated.
_ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,']+[A-Za-z]{2,}){2,}")


def _without_names(text: str) -> str:
    """``text`` less what may stay English: placeholders, `commands`, setting names."""
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\b[a-z_]+(?:\.[a-z_]+)+\b|RAGMIX_\w+", " ", text)


def test_every_error_text_has_a_code_in_the_table() -> None:
    assert {k.removeprefix("err_") for k in TEXTS if k.startswith("err_")} == set(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_coded_error_renders_in_both_languages(code: str) -> None:
    params = CODES[code]
    texts = TEXTS[f"err_{code}"]
    assert set(texts) == {"en", "zh"}
    # Each text uses the params its raise site gives (no KeyError), and only those.
    for lang in ("en", "zh"):
        used = {f for _, f, _, _ in string.Formatter().parse(texts[lang]) if f}
        assert used <= set(params), (lang, used - set(params))
    en = error_text("english fallback", code, params, "en")
    zh = error_text("english fallback", code, params, "zh")
    assert en != "english fallback" and zh != "english fallback"
    han = re.compile(r"[\u4e00-\u9fff]")
    assert han.search(texts["zh"]) and not han.search(texts["en"])
    assert not _ENGLISH_RUN.search(_without_names(texts["zh"])), texts["zh"]
    used = {f for _, f, _, _ in string.Formatter().parse(texts["zh"]) if f}
    for key in used:  # what the Chinese text names shows up as given (names, sizes)
        if isinstance(params[key], str):
            assert params[key] in zh, (code, key)


def test_numbers_are_grouped_and_values_shown() -> None:
    zh = error_text("x", "question_too_long", CODES["question_too_long"], "zh")
    assert "问题长 9,000 个词元" in zh and "7,360" in zh and "请缩短问题" in zh
    zh = error_text("x", "question_history_too_long", CODES["question_history_too_long"], "zh")
    assert "新对话" in zh  # the button that clears the history
    zh = error_text("x", "prompt_over_context", CODES["prompt_over_context"], "zh")
    assert "检索段落" in zh  # the mode switch's choice
    assert "上传框" in error_text("x", "no_documents", {}, "zh")


def test_unknown_code_and_bad_params_fall_back_to_the_english_message() -> None:
    assert error_text("the message", None, {}, "zh") == "the message"
    assert error_text("the message", "no_such_code", {}, "zh") == "the message"
    assert error_text("the message", "pdf_too_many_pages", {"n": 1}, "zh") == "the message"


def _router_error(history: int) -> BudgetError:
    window = Window(n_ctx=8192, answer_tokens=512, overhead_tokens=256)
    req = RouteRequest(mode="auto", scope_tokens=100, window=window, question_tokens=9000,
                       history_tokens=history, is_global=False, n_docs=1)  # fmt: skip
    with pytest.raises(BudgetError) as caught:
        decide(req)
    return caught.value


def test_the_router_error_keeps_its_english_message_and_gives_its_code() -> None:
    exc = _router_error(0)
    assert exc.code == "question_too_long"
    # The English page text is the CLI's message, word for word.
    assert error_text("x", exc.code, exc.params, "en") == str(exc)
    assert str(exc).startswith("the question is 9,000 tokens long, over the 7,360-token limit")
    zh = error_text(str(exc), exc.code, exc.params, "zh")
    assert zh.startswith("问题长 9,000 个词元，超过了当前模型 7,360 个词元的上限")
    assert _router_error(50).code == "question_history_too_long"


def test_a_failed_answer_shows_its_error_in_the_pages_language() -> None:
    exc = _router_error(0)

    def fail() -> Any:
        raise exc
        yield  # a generator

    events = list(catch_errors(fail()))
    assert events == [Failed(str(exc), "question_too_long", exc.params)]
    state = AnswerState.fold(events)
    assert state.error == str(exc)  # what the CLI prints
    zh = answer_html(state, "zh")
    assert zh.startswith("无法回答：问题长 9,000 个词元") and "tokens long" not in zh
    assert plain_answer(state, "zh").startswith("无法回答：问题长")
    assert answer_html(state, "en") == f"Could not answer: {exc}"
    # The JSON form carries the code; an error without one is as before.
    assert events[0].as_dict()["code"] == "question_too_long"
    assert Failed("x").as_dict() == {"type": "error", "message": "x"}
    with pytest.raises(RagmixError) as again:
        state.result()
    assert again.value.code == "question_too_long"


def test_an_unreadable_upload_fails_with_a_code_and_a_chinese_reason(tmp_path: Path) -> None:
    from ragmix.app.uploads import save_uploads

    locked = make_encrypted_pdf(tmp_path / "locked.pdf")
    with pytest.raises(LoadError) as caught:
        load_document(locked, max_bytes=10**8, max_pages=100, max_chars=10**7)
    exc = caught.value
    assert exc.code == "pdf_encrypted" and "password" in exc.reason
    failure = FileFailed.of("机密.pdf", exc)
    assert failure.error == exc.reason and failure.as_dict()["code"] == "pdf_encrypted"
    ups = save_uploads([(locked, "机密.pdf")], tmp_path / "s" / "uploads", max_mb=5,
                       extensions=[".pdf"])  # fmt: skip
    from ragmix.core.events import FileProgress

    files = {"机密.pdf": FileProgress("failed", failure=failure)}
    zh = upload_report(ups, {"机密.pdf": "failed"}, {"机密.pdf": exc.reason}, "zh", None, files)
    assert "机密.pdf</span> — 失败：这个 PDF 已加密" in zh and "password" not in zh
    en = upload_report(ups, {"机密.pdf": "failed"}, {"机密.pdf": exc.reason}, "en", None, files)
    assert "failed: the PDF is encrypted: remove the password" in en


def test_binary_renamed_txt_fails_with_the_not_text_code(tmp_path: Path) -> None:
    junk = make_binary_junk_txt(tmp_path / "junk.txt")
    with pytest.raises(LoadError) as caught:
        load_document(junk, max_bytes=10**8, max_pages=100, max_chars=10**7)
    assert caught.value.code in ("not_text_nul", "not_text_encoding")
    assert "不是文本文件" in error_text("x", caught.value.code, caught.value.params, "zh")


def test_the_store_raise_sites_give_the_codes_the_page_translates(tmp_path: Path) -> None:
    """A second writer, a full disk and a name deleted meanwhile (another tab): each error
    comes with the code and params its Chinese text needs."""
    from ragmix import RagMix
    from ragmix.store.catalog import disk_full_error
    from ragmix.store.stores import writer_lock

    got: list[RagmixError] = []
    second_writer = writer_lock(tmp_path / "s")
    with writer_lock(tmp_path / "s"), pytest.raises(RagmixError) as locked:
        second_writer.__enter__()
    got.append(locked.value)
    got.append(disk_full_error(tmp_path / "s" / "catalog.sqlite3"))
    rm = RagMix.from_config(None, store={"path": str(tmp_path / "s")})
    with pytest.raises(RagmixError) as unknown:
        rm.find("年报.pdf")
    got.append(unknown.value)
    shown = [error_text(str(e), e.code, e.params, "zh") for e in got]
    assert [e.code for e in got] == ["store_locked", "disk_full", "unknown_document"]
    assert str(os.getpid()) in shown[0] and "正在写入" in shown[0]
    assert str(tmp_path / "s") in shown[1] and "磁盘已满" in shown[1]
    assert "“年报.pdf”" in shown[2] and "刷新" in shown[2]


def test_a_full_disk_under_chroma_keeps_its_code(tmp_path: Path) -> None:
    """Chroma's own write failing for want of space says so in the page's language too."""
    import errno

    from ragmix.core.settings import StoreSettings
    from ragmix.store.vectors import _store_error

    exc = _store_error(
        "adding vectors", OSError(errno.ENOSPC, "No space left"), StoreSettings(path=str(tmp_path))
    )
    assert exc.code == "disk_full" and str(tmp_path) in str(exc)
    assert "磁盘已满" in error_text(str(exc), exc.code, exc.params, "zh")


def _raised_codes(source: str) -> set[str]:
    """The codes a module's ``LoadError(name, reason, code, ...)`` calls give (constants, both
    sides of a conditional, and ``f"{fmt}_..."`` over the Office formats)."""
    import ast

    from ragmix.ingest.loaders import _OFFICE

    def values(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return values(node.body) | values(node.orelse)
        if isinstance(node, ast.JoinedStr):
            tail = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            return {fmt + tail for fmt in _OFFICE}
        return set()

    found: set[str] = set()
    for call in ast.walk(ast.parse(source)):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "LoadError":
            if len(call.args) >= 3:
                found |= values(call.args[2])
            found |= {c for k in call.keywords if k.arg == "code" for c in values(k.value)}
    return found


def test_every_code_a_file_can_fail_with_has_its_texts() -> None:
    """Issue 26: the OCR, workbook, deck and image loaders' codes (and any new one) have an
    English and a Chinese text, so the Chinese page never shows their English reason."""
    import ragmix.ingest

    folder = Path(next(iter(ragmix.ingest.__path__)))
    raised = set().union(*(_raised_codes(p.read_text("utf-8")) for p in folder.glob("*.py")))
    assert {"ocr_missing", "xlsx_old_or_locked", "pptx_invalid", "image_invalid"} <= raised
    assert raised - set(CODES) == set(), "codes without page texts"


def test_the_office_refusals_give_their_format_in_both_languages(tmp_path: Path) -> None:
    """One refusal for old or locked Office files, named by format, in the page's words."""
    for ext, app in ((".xlsx", "Excel"), (".pptx", "PowerPoint"), (".docx", "Word")):
        path = tmp_path / f"old{ext}"
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
        with pytest.raises(LoadError) as caught:
            load_document(path, max_bytes=10**8, max_pages=100, max_chars=10**7)
        exc = caught.value
        assert exc.code == f"{ext[1:]}_old_or_locked" and f"old {app}" in exc.reason
        assert error_text(str(exc), exc.code, exc.params, "en") == exc.reason
        zh = error_text(str(exc), exc.code, exc.params, "zh")
        assert f"旧版 {app}" in zh and "password" not in zh
