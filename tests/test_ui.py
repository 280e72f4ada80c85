"""The web page in a real browser: Debian chromium driven by Playwright, app served in-process.

One app (tmp store, real packaged models) and one browser for the whole module; the tests
run in file order and build on each other like a user's session: upload, ask, search,
hostile file name, delete, Chinese interface, two users at once. Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fixtures import SIMPLIFIED, make_chinese_pdf

pytestmark = pytest.mark.browser

PDF = "苏州报告.pdf"
TXT = "lumen-guide.txt"
HOSTILE = "<img src=x onerror=alert(1)>.txt"
BOT = '#rm-chat [data-testid="bot"]'
USER = '#rm-chat [data-testid="user"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("uploads-src")
    half = len(SIMPLIFIED) // 2
    pages = ["\n".join(textwrap.wrap(t, 30)) for t in (SIMPLIFIED[:half], SIMPLIFIED[half:])]
    txt = d / TXT
    txt.write_text(
        "Lumen X2 desk lamp: user guide.\n\nThe warranty lasts three years from the date of "
        "purchase. The battery gives 40 hours of light on the low setting.\n",
        encoding="utf-8",
    )
    hostile = d / HOSTILE
    hostile.write_text(
        "A hostile note: <script>window.__pwned = 1</script><img src=y onerror=alert(2)>",
        encoding="utf-8",
    )
    return {"pdf": make_chinese_pdf(d / PDF, pages), "txt": txt, "hostile": hostile}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from ragmix import RagMix
    from ragmix.core.logs import configure
    from ragmix.ui.app import launch

    store = tmp_path_factory.mktemp("ui") / "store"
    log = store.parent / "ui.log"
    configure(0, log)  # what `ragmix ui --log-file` (or ui.log_file) does
    rm = RagMix.from_config(None, store={"path": str(store)})
    port = _free_port()
    demo = launch(rm, host="127.0.0.1", port=port, auth=None, block=False)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", rm=rm, store=store, log=log)
    demo.close()
    configure(0)


@pytest.fixture(scope="module")
def model_works() -> None:
    """Generation is probed in a child process: a crashing native build (SIGILL) must fail
    these tests with a reason, not kill the whole test run."""
    code = (
        "from ragmix import RagMix; "
        "print(RagMix.from_config(None).chat_model().invoke('Say hi', max_tokens=4).content)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        how = (
            f"killed by {signal.Signals(-done.returncode).name}"
            if done.returncode < 0
            else f"exit {done.returncode}"
        )
        pytest.fail(f"the answering model cannot generate ({how}): {done.stderr.strip()[-300:]}")


def _open(browser: Any, url: str, locale: str) -> Any:
    ctx = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.dialogs = []  # every alert/confirm the page tries to open
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("#rm-send")
    return page


@pytest.fixture(scope="module")
def page(browser: Any, app: SimpleNamespace) -> Iterator[Any]:
    page = _open(browser, app.url, "en-US")
    yield page
    page.context.close()


def _ask(page: Any, question: str) -> None:
    """Send a question and wait for its own answer bubble, so ``.last`` is never the old one."""
    before = page.locator(BOT).count()
    page.fill("#rm-question textarea", question)
    page.click("#rm-send")
    page.wait_for_function(
        f"n => document.querySelectorAll('{BOT}').length > n", arg=before, timeout=30_000
    )


def _watch_answer(page: Any, timeout_s: float = 240) -> list[str]:
    """Texts the last answer bubble showed until its sources/badge are final."""
    seen: list[str] = []
    last = page.locator(BOT).last
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = last.inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if (
            last.locator(".rm-sources, .rm-timing").count()
            or "No passage" in text
            or "No matching" in text
        ):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no final answer after {timeout_s} s; saw {seen[-3:]}")


def _doc_names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#rm-docs td.rm-doc").all_inner_texts()]


def test_a_question_before_any_upload_points_to_the_upload_box(page: Any) -> None:
    """Issue 14, item 9: the page's own words (not the CLI's `ragmix ingest`), in its language."""
    page.locator("#rm-mode label", has_text="Search only").click()
    _ask(page, "How long is the warranty?")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{BOT}')].pop().innerText.includes('upload')",
        timeout=30_000,
    )
    text = page.locator(BOT).last.inner_text()
    assert "upload files with the box on the left" in text and "ragmix ingest" not in text
    page.click("#rm-clear")
    page.locator("#rm-mode label", has_text="Auto").click()


def test_upload_lists_both_documents(page: Any, files: dict[str, Path], artifacts: Path) -> None:
    page.set_input_files("#rm-upload input[type=file]", [str(files["pdf"]), str(files["txt"])])
    page.wait_for_function(
        "n => document.querySelectorAll('#rm-docs td.rm-doc').length >= n", arg=2, timeout=180_000
    )
    assert sorted(_doc_names(page)) == sorted([PDF, TXT])
    pdf_row = page.locator("#rm-docs tr", has_text=PDF).locator("td").all_inner_texts()
    assert pdf_row[1] == "2" and int(pdf_row[2]) >= 1 and int(pdf_row[3].replace(",", "")) > 300
    report = page.inner_text("#rm-report")
    assert f"{PDF} — added" in report and f"{TXT} — added" in report
    assert page.locator("#rm-scope label", has_text=PDF).count() == 1
    page.screenshot(path=str(artifacts / "ui-1-uploaded.png"))


def test_streamed_answer_names_file_and_page(page: Any, model_works: None, artifacts: Path) -> None:
    page.locator("#rm-mode label", has_text="Retrieve").click()
    page.locator("#rm-scope label", has_text=PDF).click()
    _ask(page, "苏州有哪些古典园林？")
    seen = _watch_answer(page)
    bubble = page.locator(BOT).last
    partial = [s for s in seen[:-1] if s.strip() and "Waiting" not in s and "Reading" not in s]
    assert len(partial) >= 2, f"the answer was not streamed: {seen}"
    assert re.search(r"Retrieved · \d+ passages", bubble.inner_text())
    bubble.locator(".rm-sources > summary").click()
    first = bubble.locator(".rm-source").first
    assert re.search(rf"{PDF} · p\. [12]", first.locator("summary").inner_text())
    first.locator("summary").click()  # open the passage itself
    assert "苏州" in first.locator(".rm-passage").inner_text()
    page.screenshot(path=str(artifacts / "ui-2-answer.png"))


def test_search_only_shows_passages(page: Any, artifacts: Path) -> None:
    page.locator("#rm-mode label", has_text="Search only").click()
    for box in page.locator("#rm-scope input:checked").all():
        box.click()  # back to all documents
    _ask(page, "How long is the warranty?")
    _watch_answer(page, 60)
    bubble = page.locator(BOT).last
    assert re.search(r"Search only · \d+ passages?", bubble.inner_text())
    first = bubble.locator(".rm-source").first
    assert TXT in first.locator("summary").inner_text()
    assert "three years" in first.inner_text()
    page.screenshot(path=str(artifacts / "ui-3-search.png"))


def test_read_ahead_keeps_the_ticked_documents_state(page: Any, app: SimpleNamespace) -> None:
    for box in page.locator("#rm-scope input:checked").all():
        box.click()
    page.locator("#rm-scope label", has_text=PDF).click()
    page.click("#rm-warm")
    page.wait_for_function(
        "() => document.querySelector('#rm-report').innerText.includes('read ahead')",
        timeout=180_000,
    )
    report = page.inner_text("#rm-report")
    assert re.search(rf"{re.escape(PDF)} — read ahead: [\d,]+ tokens in [\d.]+ s", report)
    kept = list((app.store / "states").glob("*/*.kv"))
    assert len(kept) == 1, report
    page.click("#rm-warm")  # again: nothing left to read
    page.wait_for_function(
        "() => document.querySelector('#rm-report').innerText.includes('already read ahead')",
        timeout=60_000,
    )
    assert list((app.store / "states").glob("*/*.kv")) == kept
    page.locator("#rm-scope label", has_text=PDF).click()  # back to all documents


def test_a_single_user_never_sees_waiting_for_the_model(page: Any) -> None:
    """Issue 14, item 3: the queue notice is for a question that really waits."""
    page.locator("#rm-mode label", has_text="Search only").click()
    _ask(page, "How long is the warranty?")
    seen = _watch_answer(page, 60)
    assert not [s for s in seen if "Waiting for the model" in s], seen


def test_the_users_question_is_shown_as_typed(page: Any) -> None:
    """Issue 14, item 4: a question with markup shows as its text, never as HTML."""
    question = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold**?"
    _ask(page, question)
    _watch_answer(page, 60)
    assert page.locator(USER).last.inner_text().strip() == question
    page.wait_for_timeout(300)
    assert page.dialogs == [] and page.locator("#rm-chat img[src='x']").count() == 0


def test_an_empty_question_says_what_to_do(page: Any) -> None:
    """Issue 14, item 12: Send with nothing typed is answered with a notice, not silence."""
    before = page.locator(USER).count()
    page.fill("#rm-question textarea", "   ")
    page.click("#rm-send")
    page.get_by_text("Type a question first.").first.wait_for(timeout=10_000)
    assert page.locator(USER).count() == before


def test_a_search_turn_does_not_derail_the_next_answer(page: Any, model_works: None) -> None:
    """Issue 14, item 2: a search-only turn has no answer, so it is not conversation history
    that the next question's rewrite would fold in."""
    page.click("#rm-clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 0")
    page.locator("#rm-mode label", has_text="Search only").click()
    _ask(page, "苏州有哪些古典园林？")
    _watch_answer(page, 60)
    page.locator("#rm-mode label", has_text="Retrieve").click()
    _ask(page, "苏州有哪些古典园林？")
    _watch_answer(page)
    text = page.locator(BOT).last.inner_text()
    found = re.search(r"Retrieved · (\d+) passages", text)
    assert found and int(found.group(1)) > 0, text
    assert "No passage in the selected documents" not in text
    page.locator("#rm-mode label", has_text="Search only").click()  # as the next test expects


def test_hostile_file_name_is_shown_as_text(
    page: Any, files: dict[str, Path], artifacts: Path
) -> None:
    page.set_input_files("#rm-upload input[type=file]", [str(files["hostile"])])
    page.wait_for_function(
        "n => [...document.querySelectorAll('#rm-docs td.rm-doc')].some(td => td.innerText == n)",
        arg=HOSTILE,
        timeout=60_000,
    )
    assert HOSTILE in page.inner_text("#rm-report")
    # A new conversation: with the warranty question still in the history, the follow-up
    # rewrite may (rightly) fold it into this query and rank the lamp guide first.
    page.click("#rm-clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 0")
    _ask(page, "hostile note")
    _watch_answer(page, 60)
    bubble = page.locator(BOT).last
    assert HOSTILE in bubble.locator(".rm-source").first.inner_text()
    assert "<script>window.__pwned = 1</script>" in bubble.inner_text()
    page.wait_for_timeout(500)  # give any injected handler the chance to fire
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x'], img[src='y']").count() == 0
    page.screenshot(path=str(artifacts / "ui-4-hostile-name.png"))


def test_identical_upload_gets_a_name_that_is_deleted_alone(
    page: Any, app: SimpleNamespace, files: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "lumen-copy.txt"
    copy.write_bytes(files["txt"].read_bytes())
    page.set_input_files("#rm-upload input[type=file]", [str(copy)])
    page.wait_for_selector("#rm-docs .rm-also", timeout=60_000)
    row = page.locator("#rm-docs td.rm-doc", has_text=TXT)
    assert row.inner_text().split("\n") == [TXT, "also: lumen-copy.txt"]
    assert len(_doc_names(page)) == 3  # listed once
    page.click("#rm-pick input")
    page.get_by_role("option", name="lumen-copy.txt").click()
    page.click("#rm-delete")
    page.wait_for_function("() => !document.querySelector('#rm-docs .rm-also')", timeout=60_000)
    report = page.inner_text("#rm-report")
    assert f"Removed the name lumen-copy.txt; the document stays as {TXT}." in report
    assert TXT in _doc_names(page)
    assert [d.names for d in app.rm.documents() if d.name == TXT] == [(TXT,)]
    assert not (app.store / "uploads" / "lumen-copy.txt").exists()
    assert (app.store / "uploads" / TXT).exists()


def test_delete_document(page: Any, app: SimpleNamespace, artifacts: Path) -> None:
    page.click("#rm-pick input")
    page.get_by_role("option", name=TXT).click()
    page.click("#rm-delete")
    page.wait_for_function(
        "n => ![...document.querySelectorAll('#rm-docs td.rm-doc')].some(td => td.innerText == n)",
        arg=TXT,
        timeout=60_000,
    )
    assert f"Deleted {TXT}." in page.inner_text("#rm-report")
    assert sorted(_doc_names(page)) == sorted([PDF, HOSTILE])
    assert TXT not in [d.name for d in app.rm.documents()]
    assert not (app.store / "uploads" / TXT).exists()
    page.screenshot(path=str(artifacts / "ui-5-deleted.png"))


def test_chinese_interface_follows_the_browser(
    browser: Any, app: SimpleNamespace, artifacts: Path
) -> None:
    zh = _open(browser, app.url, "zh-CN")
    try:
        zh.wait_for_selector("#rm-docs th")
        assert zh.inner_text("#rm-send").strip() == "发送"
        assert zh.locator("#rm-mode label", has_text="仅搜索").count() == 1
        assert zh.inner_text("#rm-docs th >> nth=0") == "文档"
        zh.screenshot(path=str(artifacts / "ui-6-chinese.png"))
    finally:
        zh.context.close()


def test_second_user_waits_for_the_model(
    browser: Any, app: SimpleNamespace, model_works: None, artifacts: Path
) -> None:
    a, b = _open(browser, app.url, "en-US"), _open(browser, app.url, "en-US")
    try:
        _ask(a, "苏州在哪里？")
        a.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 1", timeout=10_000)
        _ask(b, "苏州有什么园林？")
        # While A's answer is being generated, B must show that it is waiting.
        b_waited = False
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not a.locator(f"{BOT} .rm-timing").count():
            if not b_waited and "Waiting for the model" in b.locator(BOT).last.inner_text():
                b_waited = True
                b.screenshot(path=str(artifacts / "ui-7-waiting.png"))
            time.sleep(0.1)
        assert b_waited
        for p in (a, b):
            _watch_answer(p)
            assert p.locator(BOT).count() == 1
            assert p.locator(f"{BOT} .rm-badge").count() == 1
    finally:
        a.context.close()
        b.context.close()


def test_question_over_every_budget_gets_a_clear_error(
    browser: Any, app: SimpleNamespace, artifacts: Path
) -> None:
    """A question that leaves no room for any document text is refused with the router's
    message in the chat; nothing is cut to fit. The box itself stops at a length that is over
    every budget (8 characters per token of the question limit)."""
    from ragmix.app.desk import Desk
    from ragmix.models.llm import make_token_counter

    limit = Desk(app.rm).max_question_chars
    question = "请问苏州有哪些古典园林，它们分别是在哪个朝代建成的？" * 500  # 13,000 characters
    n = make_token_counter(app.rm.settings.llm).count(question)
    assert n > 7360 and len(question) < limit
    page = _open(browser, app.url, "en-US")  # a fresh page: 'Auto' mode, all documents
    try:
        assert page.get_attribute("#rm-question textarea", "maxlength") == str(limit)
        _ask(page, question)
        bubble = page.locator(BOT).last
        bubble.get_by_text("Could not answer").wait_for(timeout=60_000)
        assert bubble.inner_text().strip() == (
            f"Could not answer: the question is {n:,} tokens long, over the 7,360-token limit "
            "of this model: its 8,192-token context keeps 512 for the answer, 256 for the "
            "instructions and at least 64 for document text; shorten the question or use a "
            "model with a larger llm.n_ctx"
        )
        assert bubble.locator(".rm-badge, .rm-sources").count() == 0
        page.screenshot(path=str(artifacts / "ui-8-too-long.png"))
    finally:
        page.context.close()


def test_upload_while_answering_logs_nothing(
    browser: Any, app: SimpleNamespace, model_works: None, tmp_path: Path, artifacts: Path
) -> None:
    """One session uploads while another's answer is being generated: both finish, and the
    page's log file holds their records (the route, the file ingested) and no warning or
    error."""
    note = tmp_path / "lamp-care.txt"
    note.write_text(
        "Lumen X2 care: wipe the lamp head with a dry cloth; never use solvents.\n" * 20,
        encoding="utf-8",
    )
    start = app.log.stat().st_size if app.log.exists() else 0
    a, b = _open(browser, app.url, "en-US"), _open(browser, app.url, "en-US")
    try:
        a.locator("#rm-mode label", has_text="Retrieve").click()
        _ask(a, "How long does the Lumen X2 warranty last?")
        b.set_input_files("#rm-upload input[type=file]", [str(note)])
        b.wait_for_function(
            "() => [...document.querySelectorAll('#rm-docs td.rm-doc')]"
            ".some(td => td.innerText.includes('lamp-care.txt'))",
            timeout=180_000,
        )
        _watch_answer(a)
        assert "lamp-care.txt — added" in b.inner_text("#rm-report")
        b.screenshot(path=str(artifacts / "ui-9-upload-while-answering.png"))
    finally:
        a.context.close()
        b.context.close()
    with app.log.open(encoding="utf-8") as f:
        f.seek(start)
        lines = f.read().splitlines()
    assert any("lamp-care.txt: ingested" in line for line in lines), lines
    assert any(" route retrieve" in line for line in lines), lines
    assert [line for line in lines if " WARNING " in line or " ERROR " in line] == []


def test_reading_a_long_document_shows_progress(
    browser: Any, app: SimpleNamespace, model_works: None, tmp_path: Path, artifacts: Path
) -> None:
    """Issue 14, item 7: a long first read shows tokens read of total and a bar, not only
    "Reading…"."""
    long = tmp_path / "harbour-log.txt"
    long.write_text(
        "".join(f"Day {i}: the harbour crane lifted {i * 7} containers.\n" for i in range(160)),
        encoding="utf-8",
    )
    page = _open(browser, app.url, "en-US")
    try:
        page.set_input_files("#rm-upload input[type=file]", [str(long)])
        page.wait_for_selector("#rm-scope label:has-text('harbour-log.txt')", timeout=180_000)
        page.locator("#rm-scope label", has_text="harbour-log.txt").click()
        page.locator("#rm-mode label", has_text="Whole document").click()
        _ask(page, "How many containers on day 3?")
        seen = _watch_answer(page)
        progress = [s for s in seen if "Reading the documents:" in s]
        assert progress, seen
        assert re.search(r"Reading the documents: [\d,]+ of [\d,]+ tokens", progress[0])
        page.screenshot(path=str(artifacts / "ui-10-reading-progress.png"))
    finally:
        page.context.close()
