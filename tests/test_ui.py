"""The web page in a real browser: Debian chromium driven by Playwright, app served in-process.

One app (tmp store, real packaged models) and one browser for the whole module; the tests
run in file order and build on each other like a user's session: ask before uploading,
switch the language, upload, ask, search, hostile file name, delete (confirmed), a
whole-document answer and its supporting passage, copy, scrolling, keyboard, Chinese
interface, two users at once; the last test runs the same flows over a real `chroma run`
server. Screenshots go to ``tests/artifacts/``; those of the main states, shown in the
README, to ``tests/artifacts/screenshots/``, or with ``RAGMIX_SCREENSHOTS=docs/screenshots``
to the README's own copies (so a test run does not change tracked files).
"""

from __future__ import annotations

import io
import os
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
MANUAL = "lumen-x2-manual.txt"
HOSTILE = "<img src=x onerror=alert(1)>.txt"
#: A long file uploaded with the first two, so the upload lasts long enough to watch.
LEDGER = "harbour-ledger.txt"
BOT = '#rm-chat [data-testid="bot"]'
USER = '#rm-chat [data-testid="user"]'
SCREENSHOTS = Path(
    os.environ.get("RAGMIX_SCREENSHOTS")
    or Path(__file__).resolve().parent / "artifacts" / "screenshots"
).resolve()
#: The sentence a whole-document answer comes from, deep inside MANUAL.
WARRANTY = "The warranty lasts three years from the date of purchase."
#: Sections of MANUAL: (title, text); the warranty is the 21st of 27.
SECTIONS = [
    ("Unpacking", "Lift the lamp out of the box by its base, never by the arm."),
    ("Placing the lamp", "Stand the base on a flat, dry desk at least ten centimetres from "
     "the edge."),
    ("Mains adapter", "Plug the round connector into the socket at the back of the base, then "
     "the adapter into the wall."),
    ("Switching on", "Touch the ring on the lamp head once; the light comes on at the last "
     "brightness used."),
    ("Brightness", "Slide a finger clockwise around the ring to raise the brightness in twelve "
     "steps."),
    ("Colour temperature", "Hold the ring for two seconds, then slide to move between warm "
     "2700 K and cool 6500 K."),
    ("Night mode", "Tap the ring twice to dim to a faint amber glow for reading in the dark."),
    ("Timer", "Tap three times to switch the lamp off automatically after forty-five minutes."),
    ("Arm and head", "The arm bends at two joints; the head turns 300 degrees. Do not force "
     "the joints past their stops."),
    ("USB port", "The port in the base charges a phone at up to 10 watts."),
    ("Battery", "The built-in battery keeps the lamp lit during a power cut."),
    ("Cleaning", "Wipe the head and arm with a dry cloth. Never use solvents or sprays."),
    ("Storage", "Store the lamp between minus ten and forty degrees Celsius."),
    ("Flicker", "A flickering light usually means a loose adapter: reseat both plugs firmly."),
    ("No light", "If the ring does not respond, hold it for ten seconds to restart it."),
    ("Warm head", "The head may feel warm after hours at full brightness; this is normal."),
    ("Safety", "Do not cover the head with paper or cloth while the lamp is lit."),
    ("Children", "The lamp is not a toy. Keep the adapter cap away from young children."),
    ("Disposal", "Take the lamp to an electronics collection point; do not burn the battery."),
    ("Specifications", "Weight 1.4 kg; height 46 cm folded; light output 800 lumen."),
    ("Warranty", f"{WARRANTY} Keep the receipt: it proves the date."),
    ("Service", "For repairs write to the service centre with the serial number printed "
     "under the base."),
    ("Spare parts", "Replacement adapters, arms and diffusers are sold by authorised dealers."),
    ("Accessories", "A clamp mount and a wall bracket are available separately."),
    ("Software", "The lamp has no app and no radio; every setting is made with the ring."),
    ("Declarations", "The lamp meets the European directives for low-voltage equipment."),
    ("Contact", "Write to Northwind Lighting, Harbour Road, Fjordby. The office is open on "
     "weekdays from nine to five."),
]  # fmt: skip


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
    manual = d / MANUAL
    parts = ["Lumen X2 desk lamp: owner's manual"]
    parts += [f"{i}. {title}\n\n{text}" for i, (title, text) in enumerate(SECTIONS, 1)]
    manual.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    ledger = d / LEDGER
    ledger.write_text(
        "".join(
            f"Entry {i}: the crane on quay {i % 9} lifted {i * 7} containers of timber, grain "
            f"and machine parts for the ship Aurora {i % 13} before the evening tide.\n"
            for i in range(1500)
        ),
        encoding="utf-8",
    )
    return {
        "pdf": make_chinese_pdf(d / PDF, pages),
        "txt": txt,
        "ledger": ledger,
        "hostile": hostile,
        "manual": manual,
    }


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
    ctx = browser.new_context(
        locale=locale,
        viewport={"width": 1400, "height": 1000},
        permissions=["clipboard-read", "clipboard-write"],  # the answers' Copy buttons
    )
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


def _shot(page: Any, name: str) -> None:
    """A screenshot for the README: ``SCREENSHOTS/NAME.png``, in 256 colours (a page
    has few) so each stays well under 250 KB."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    image.quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)
    assert path.stat().st_size < 250_000, f"{path} is {path.stat().st_size:,} bytes"


def _untick_all(page: Any) -> None:
    for box in page.locator("#rm-scope input:checked").all():
        box.click()


def _new_conversation(page: Any) -> None:
    page.click("#rm-clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length == 0")


def _report_says(page: Any, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        "t => document.querySelector('#rm-report').innerText.includes(t)", arg=text, timeout=timeout
    )


def _note_says(page: Any, where: str, text: str, timeout: int = 30_000) -> None:
    """The message next to a control (``where``) says ``text``."""
    page.wait_for_function(
        "([w, t]) => document.querySelector(w).innerText.includes(t)",
        arg=[where, text],
        timeout=timeout,
    )


def _confirm_delete(page: Any, name: str) -> None:
    """Pick ``name`` and delete it: Delete, then "Yes, delete"."""
    page.click("#rm-pick input")
    page.get_by_role("option", name=name).click()
    page.click("#rm-delete")
    page.wait_for_selector("#rm-confirm", timeout=10_000)
    page.click("#rm-confirm")


def test_a_question_before_any_upload_points_to_the_upload_box(page: Any) -> None:
    """Issue 14, item 9: the page's own words (not the CLI's `ragmix ingest`), in its language."""
    page.wait_for_selector("#rm-docs .rm-empty")
    _shot(page, "1-empty-store")
    page.locator("#rm-mode label", has_text="Search only").click()
    _ask(page, "How long is the warranty?")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{BOT}')].pop().innerText.includes('upload')",
        timeout=30_000,
    )
    text = page.locator(BOT).last.inner_text()
    assert "upload files with the upload box" in text and "ragmix ingest" not in text
    _shot(page, "7-error")
    page.click("#rm-clear")
    page.locator("#rm-mode label", has_text="Auto").click()


def test_the_language_switch_turns_every_message_chinese(page: Any, artifacts: Path) -> None:
    """Issue 14, item 11: "Language / 语言" overrides the browser's language for the session:
    labels, notices and errors all turn Chinese, and back."""
    assert page.locator("#rm-lang input:checked").get_attribute("value") == "en"
    page.locator("#rm-lang label", has_text="中文").click()
    page.wait_for_function("() => document.querySelector('#rm-send').innerText.trim() == '发送'")
    assert page.inner_text("#rm-delete").strip() == "删除"
    assert page.inner_text("#rm-clear").strip() == "新对话"
    assert page.locator("#rm-mode label", has_text="仅搜索").count() == 1
    assert "提问范围" in page.inner_text("#rm-scope")
    assert page.inner_text("#rm-docs .rm-empty") == "还没有文档。"
    assert page.get_attribute("#rm-question textarea", "placeholder") == "就你的文档提一个问题……"
    assert "请先上传文档" in page.inner_text("#rm-chat")
    # A notice, an error in the chat and a note under the upload box.
    page.fill("#rm-question textarea", "  ")
    page.click("#rm-send")
    page.get_by_text("请先输入问题。").first.wait_for(timeout=10_000)
    page.locator("#rm-mode label", has_text="仅搜索").click()
    _ask(page, "保修期多长？")
    bubble = page.locator(BOT).last
    bubble.get_by_text("无法回答").wait_for(timeout=30_000)
    assert (
        bubble.inner_text().strip() == "无法回答：还没有文档：请先用上传框上传文件，再提问。"
    )
    page.click("#rm-delete")
    _note_says(page, "#rm-delete-note", "请先选择文档。")
    page.screenshot(path=str(artifacts / "ui-0-language-switch.png"))
    page.locator("#rm-lang label", has_text="English").click()
    page.wait_for_function("() => document.querySelector('#rm-send').innerText.trim() == 'Send'")
    assert page.inner_text("#rm-docs .rm-empty") == "No documents yet."
    page.fill("#rm-question textarea", "  ")
    page.click("#rm-send")
    _note_says(page, "#rm-ask-note", "Type a question first.")
    page.fill("#rm-question textarea", "")
    _new_conversation(page)
    page.locator("#rm-mode label", has_text="Auto").click()


def _watch_upload(page: Any, n_docs: int, timeout_s: float = 240) -> list[dict[str, Any]]:
    """What the upload area showed, polled until the table lists ``n_docs`` documents: the
    report's text, its bars and lines, and Gradio's own progress overlays on the left."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = page.evaluate(
            """() => {
                const r = document.querySelector('#rm-report');
                return {text: r.innerText,
                        bars: r.querySelectorAll('progress').length,
                        lines: r.querySelectorAll('li').length,
                        overlays: [...document.querySelectorAll(
                          '#rm-left .progress-text, #rm-left .eta-bar, #rm-left .meta-text, '
                          + '#rm-left .progress-bar'
                        )].filter(e => e.checkVisibility()).map(e => e.closest('[id]').id),
                        docs: document.querySelectorAll('#rm-docs td.rm-doc').length};
            }"""
        )
        if not seen or seen[-1] != view:
            seen.append(view)
            if re.search(r"about \d+ s left", view["text"]) and not any(
                re.search(r"about \d+ s left", v["text"]) for v in seen[:-1]
            ):
                _shot(page, "2-upload-in-progress")  # lines, the bar and the time left
        if view["docs"] >= n_docs:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the upload did not finish in {timeout_s} s; saw {seen[-3:]}")


def test_upload_lists_both_documents(
    page: Any, app: SimpleNamespace, files: dict[str, Path], artifacts: Path
) -> None:
    """Issue 14, item 6: one display per upload: a line per file (waiting, reading, indexing
    k of n passages, added · N passages), a single bar, and the seconds left once there is a
    rate to go by; no progress overlay anywhere else."""
    upload = [files["pdf"], files["txt"], files["ledger"]]
    page.set_input_files("#rm-upload input[type=file]", [str(f) for f in upload])
    seen = _watch_upload(page, 3)
    during = [v for v in seen if v["docs"] < 3 and v["bars"]]
    assert during, seen
    # A document is listed once it is stored, while the others are still being indexed.
    assert any(0 < v["docs"] < 3 for v in during), [v["docs"] for v in during]
    assert all(v["bars"] == 1 and v["lines"] == 3 for v in during), during
    # Gradio's own overlays: none while the upload's lines show its work (Gradio may flash
    # its pending state for a moment as the event starts), so one display only.
    busy = [v for v in during if re.search("indexing|added", v["text"])]
    assert busy and not any(v["overlays"] for v in busy), [v for v in busy if v["overlays"]]
    texts = "\n".join(v["text"] for v in during)
    assert re.search(rf"{LEDGER} — (waiting|reading…)", texts), texts
    assert re.search(rf"{LEDGER} — indexing \d+ of \d+ passages", texts), texts
    assert re.search(rf"{re.escape(PDF)} — added · \d+ passages?", texts), texts
    assert "estimating time left…" in texts and re.search(r"about \d+ s left", texts), texts
    assert re.search(r"\d+% · [0-3] of 3 files", texts), texts
    assert sorted(_doc_names(page)) == sorted([PDF, TXT, LEDGER])
    report = page.inner_text("#rm-report")
    assert re.search(rf"{LEDGER} — added · \d+ passages", report), report
    assert f"{PDF} — added" in report and f"{TXT} — added" in report
    assert page.locator("#rm-report progress").count() == 0  # done: the bar is gone
    _confirm_delete(page, LEDGER)  # the tests below expect two documents
    _note_says(page, "#rm-delete-note", f"Deleted {LEDGER}.")
    page.wait_for_function("() => document.querySelectorAll('#rm-docs td.rm-doc').length == 2")
    assert sorted(_doc_names(page)) == sorted([PDF, TXT])
    pdf_row = page.locator("#rm-docs tr", has_text=PDF).locator("td").all_inner_texts()
    assert pdf_row[1] == "2" and int(pdf_row[2]) >= 1 and int(pdf_row[3].replace(",", "")) > 300
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
    assert re.search(r"Retrieved · \d+ passages?", bubble.inner_text())
    bubble.locator(".rm-sources > summary").click()
    first = bubble.locator(".rm-source").first
    # The page the passage starts on, or both when it runs onto the next.
    assert re.search(rf"{PDF} · (p\. [12]|pp\. 1–2)\b", first.locator("summary").inner_text())
    first.locator("summary").click()  # open the passage itself
    assert "苏州" in first.locator(".rm-passage").inner_text()
    page.screenshot(path=str(artifacts / "ui-2-answer.png"))


def test_search_only_shows_passages(page: Any, artifacts: Path) -> None:
    _new_conversation(page)
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
    # Issue 14, item 10: relevance in words and a bar, the question's words marked, and no
    # raw retrieval scores (0.0164) anywhere a person reads.
    assert "relevance 100%" in first.locator("summary").inner_text()
    assert first.locator("summary meter").count() == 1
    assert "warranty" in [m.lower() for m in first.locator(".rm-snippet mark").all_inner_texts()]
    assert not re.search(r"\b0\.\d{3,}", bubble.inner_text()), bubble.inner_text()
    page.screenshot(path=str(artifacts / "ui-3-search.png"))
    first.locator("summary").click()
    assert "warranty" in [m.lower() for m in first.locator(".rm-passage mark").all_inner_texts()]
    _shot(page, "5-search-results")


def test_read_ahead_keeps_the_ticked_documents_state(page: Any, app: SimpleNamespace) -> None:
    for box in page.locator("#rm-scope input:checked").all():
        box.click()
    page.locator("#rm-scope label", has_text=PDF).click()
    page.click("#rm-warm")
    page.wait_for_function(
        "() => document.querySelector('#rm-warm-note').innerText.includes('read ahead')",
        timeout=180_000,
    )
    report = page.inner_text("#rm-warm-note")
    assert re.search(rf"{re.escape(PDF)} — read ahead: [\d,]+ tokens in [\d.]+ s", report)
    kept = list((app.store / "states").glob("*/*.kv"))
    assert len(kept) == 1, report
    page.click("#rm-warm")  # again: nothing left to read
    page.wait_for_function(
        "() => document.querySelector('#rm-warm-note').innerText.includes('already read ahead')",
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
    found = re.search(r"Retrieved · (\d+) passages?", text)
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
    # Issue 14, item 11: the duplicate names the stored document it duplicates...
    assert (
        f"lumen-copy.txt — same content as {TXT}; not added again (kept as another name of it)"
        in page.inner_text("#rm-report")
    )
    # ...and Delete asks first: Cancel keeps the name.
    page.click("#rm-pick input")
    page.get_by_role("option", name="lumen-copy.txt").click()
    page.click("#rm-delete")
    page.wait_for_selector("#rm-confirm", timeout=10_000)
    assert "Delete lumen-copy.txt?" in page.inner_text("#rm-delete-note")
    page.click("#rm-cancel")
    _note_says(page, "#rm-delete-note", "Kept lumen-copy.txt; nothing was deleted.")
    assert page.locator("#rm-confirm:visible").count() == 0
    assert [d.names for d in app.rm.documents() if d.name == TXT] == [(TXT, "lumen-copy.txt")]
    assert (app.store / "uploads" / "lumen-copy.txt").exists()
    page.click("#rm-delete")  # the name is still picked
    page.wait_for_selector("#rm-confirm", timeout=10_000)
    page.click("#rm-confirm")
    page.wait_for_function("() => !document.querySelector('#rm-docs .rm-also')", timeout=60_000)
    report = page.inner_text("#rm-delete-note")
    assert f"Removed the name lumen-copy.txt; the document stays as {TXT}." in report
    assert TXT in _doc_names(page)
    assert [d.names for d in app.rm.documents() if d.name == TXT] == [(TXT,)]
    assert not (app.store / "uploads" / "lumen-copy.txt").exists()
    assert (app.store / "uploads" / TXT).exists()


def test_delete_document(page: Any, app: SimpleNamespace, artifacts: Path) -> None:
    _confirm_delete(page, TXT)
    page.wait_for_function(
        "n => ![...document.querySelectorAll('#rm-docs td.rm-doc')].some(td => td.innerText == n)",
        arg=TXT,
        timeout=60_000,
    )
    assert f"Deleted {TXT}." in page.inner_text("#rm-delete-note")
    assert sorted(_doc_names(page)) == sorted([PDF, HOSTILE])
    assert TXT not in [d.name for d in app.rm.documents()]
    assert not (app.store / "uploads" / TXT).exists()
    page.screenshot(path=str(artifacts / "ui-5-deleted.png"))


def test_a_whole_document_answer_opens_to_the_passage_that_holds_it(
    page: Any, files: dict[str, Path], model_works: None
) -> None:
    """Issue 14, item 1: the source of an answer read from a whole document is the passage
    the answer came from (its words marked), not the document's first lines."""
    manual = files["manual"].read_text(encoding="utf-8")
    assert manual.index(WARRANTY) > 1500  # far past the 300 characters the old page showed
    page.set_input_files("#rm-upload input[type=file]", [str(files["manual"])])
    page.wait_for_selector(f"#rm-scope label:has-text('{MANUAL}')", timeout=180_000)
    _new_conversation(page)
    _untick_all(page)
    page.locator("#rm-scope label", has_text=MANUAL).click()
    page.locator("#rm-mode label", has_text="Whole document").click()
    _ask(page, "How long does the warranty last?")
    _watch_answer(page)
    bubble = page.locator(BOT).last
    assert bubble.locator(".rm-badge").inner_text().startswith("Whole document · ")
    assert "three years" in bubble.inner_text()
    bubble.locator(".rm-sources > summary").click()
    first = bubble.locator(".rm-source").first
    summary = first.locator("summary").inner_text()
    assert MANUAL in summary and "supports the answer" in summary
    assert re.search(r"holds \d+% of the answer's words", summary)
    first.locator("summary").click()
    passage = first.locator(".rm-passage")
    assert WARRANTY in passage.inner_text()
    assert not passage.inner_text().startswith("Lumen X2 desk lamp")
    marks = {m.lower() for m in passage.locator("mark").all_inner_texts()}
    assert {"warranty", "three", "years"} <= marks, marks
    _shot(page, "3-whole-document-answer")

    # The same question answered from retrieved passages: the answer's words are marked there.
    _new_conversation(page)
    page.locator("#rm-mode label", has_text="Retrieve").click()
    _ask(page, "How long does the warranty last?")
    _watch_answer(page)
    bubble = page.locator(BOT).last
    assert re.search(r"Retrieved · \d+ passages?", bubble.inner_text())
    bubble.locator(".rm-sources > summary").click()
    sources = bubble.locator(".rm-source").all()
    held = [re.search(r"holds (\d+)% of the answer's words", s.inner_text()) for s in sources]
    assert all(held) and MANUAL in sources[0].locator("summary").inner_text()
    best = max(range(len(sources)), key=lambda i: int(held[i].group(1)))  # type: ignore[union-attr]
    sources[best].locator("summary").click()
    assert sources[best].locator(".rm-passage mark").count() > 0
    bubble.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.evaluate("window.scrollTo(0, 0)")  # the chat scrolled, not the page
    _shot(page, "4-retrieved-answer")


def test_copy_gives_the_answer_and_its_sources_as_plain_text(page: Any) -> None:
    """Issue 14, item 5: Copy puts the answer and its numbered sources (file, pages) on the
    clipboard as plain text, and screen readers get the same text, not the bubble's HTML."""
    bubble = page.locator(BOT).last
    answer = bubble.inner_text().split("\n")[0].strip()
    files = bubble.locator(".rm-source .rm-file").all_inner_texts()
    # Each source keeps the number the answer cites it by (issue 25), in the core's order.
    numbers = bubble.locator(".rm-source .rm-num").all_inner_texts()
    assert answer and files
    rows = [f"{n} {name}" for n, name in zip(numbers, files, strict=True)]
    # A partly or not supported answer says so before its sources (issue 27).
    doubt = {"rm-v-partial": "[Partly supported", "rm-v-unsupported": "[Not supported"}
    said = [v for k, v in doubt.items() if bubble.locator(f".{k}").count()]
    page.evaluate("navigator.clipboard.writeText('')")
    bubble.locator(".rm-copy").click()
    bubble.locator(".rm-copy", has_text="Copied").wait_for(timeout=5_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(answer + "\n\n")
    assert copied.endswith("\n\nSources:\n" + "\n".join(rows))
    assert all(s in copied for s in said)
    assert bubble.get_attribute("aria-label") == "Answer: " + copied
    assert "<" not in page.locator(USER).last.get_attribute("aria-label")


def _scrolled_chat(page: Any) -> Any:
    """Two search-only turns, and more until the chat scrolls well beyond its height; the
    chat's scrolling box."""
    page.locator("#rm-mode label", has_text="Search only").click()
    _untick_all(page)
    wrap = page.locator("#rm-chat .bubble-wrap")
    turns = 0
    while turns < 2 or wrap.evaluate("e => e.scrollHeight - e.clientHeight") < 600:
        _ask(page, "How long does the warranty last?")
        _watch_answer(page, 60)
        turns += 1
    page.wait_for_timeout(800)  # Gradio scrolls to the bottom 300 ms after the last update
    return wrap


def test_the_chat_label_never_covers_an_answer(page: Any) -> None:
    """Issue 14, item 8: the "Conversation" label floated over the chat, covering the route
    badge of a bubble scrolled to the top."""
    _scrolled_chat(page)
    label = page.locator("#rm-chat [data-testid='block-label']")
    for badge in page.locator(f"{BOT} .rm-badge").all()[:2]:
        badge.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(200)
        a, b = label.bounding_box(), badge.bounding_box()
        assert a and b and label.is_visible()
        apart = (
            a["y"] + a["height"] <= b["y"]
            or b["y"] + b["height"] <= a["y"]
            or a["x"] + a["width"] <= b["x"]
            or b["x"] + b["width"] <= a["x"]
        )
        assert apart, (a, b)


def test_opening_a_source_scrolls_it_into_view(page: Any) -> None:
    """Issue 14, item 8: a source opened at the chat's lower edge used to unfold out of sight."""
    wrap = _scrolled_chat(page)
    source = page.locator(BOT).nth(-2).locator(".rm-source").last
    summary = source.locator("summary")
    summary.evaluate("e => e.scrollIntoView({block: 'end'})")  # at the chat's lower edge
    at = summary.bounding_box()
    assert at
    # A person's click: Playwright's own click() would scroll the summary to the middle first.
    page.mouse.click(at["x"] + 30, at["y"] + 8)
    page.wait_for_timeout(500)
    box, seen = source.locator(".rm-passage").bounding_box(), wrap.bounding_box()
    assert box and seen
    lines = min(box["height"], 60)  # the passage's first lines, at least
    assert seen["y"] - 1 <= box["y"] and box["y"] + lines <= seen["y"] + seen["height"] + 1
    assert box["y"] + lines <= page.viewport_size["height"]


def test_the_chat_grows_with_the_window(page: Any) -> None:
    """Issue 14, item 8: the chat was 600 px whatever the window; it fills the window's
    height, with the question box still on screen."""
    heights = {}
    try:
        for tall in (700, 1100):
            page.set_viewport_size({"width": 1400, "height": tall})
            page.wait_for_timeout(300)
            heights[tall] = page.locator("#rm-chat").bounding_box()["height"]
            page.locator("#rm-send").scroll_into_view_if_needed()
            send = page.locator("#rm-send").bounding_box()
            assert send["y"] + send["height"] <= tall
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    assert heights[1100] - heights[700] >= 350, heights
    assert heights[1100] >= 850, heights


def test_enter_sends_and_shift_enter_starts_a_new_line(page: Any) -> None:
    """Keyboard use (issue 14): Enter sends, Shift+Enter breaks the line, and the focused
    control shows a focus ring."""
    page.locator("#rm-mode label", has_text="Search only").click()
    before = page.locator(USER).count()
    box = page.locator("#rm-question textarea")
    box.click()
    box.fill("")
    page.keyboard.type("How long does")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("the warranty last?")
    assert box.input_value() == "How long does\nthe warranty last?"
    page.wait_for_timeout(300)
    assert page.locator(USER).count() == before
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"n => document.querySelectorAll('{USER}').length > n", arg=before, timeout=10_000
    )
    assert page.locator(USER).last.inner_text().strip() == "How long does\nthe warranty last?"
    _watch_answer(page, 60)

    def ring() -> list[str]:
        page.wait_for_timeout(400)  # the theme animates outlines
        return page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.id, s.outlineStyle, s.outlineWidth, s.outlineColor] }"
        )

    box.click()
    assert ring()[1:] == ["solid", "2px", "rgb(79, 70, 229)"]
    page.keyboard.press("Tab")
    assert ring() == ["rm-send", "solid", "2px", "rgb(79, 70, 229)"]


def test_chinese_interface_follows_the_browser(
    browser: Any, app: SimpleNamespace, artifacts: Path
) -> None:
    zh = _open(browser, app.url, "zh-CN")
    try:
        zh.wait_for_selector("#rm-docs th")
        assert zh.inner_text("#rm-send").strip() == "发送"
        assert zh.locator("#rm-mode label", has_text="仅搜索").count() == 1
        assert zh.inner_text("#rm-docs th >> nth=0") == "文档"
        assert zh.locator("#rm-lang input:checked").get_attribute("value") == "zh"
        zh.locator("#rm-mode label", has_text="仅搜索").click()
        _ask(zh, "苏州有哪些古典园林？")
        zh.wait_for_selector(f"{BOT} .rm-sources", timeout=60_000)
        text = zh.locator(BOT).last.inner_text()
        assert re.search(r"仅搜索 · \d+ 个段落", text) and "相关度" in text, text
        zh.screenshot(path=str(artifacts / "ui-6-chinese.png"))
        _shot(zh, "6-chinese-interface")
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


def test_errors_in_the_chinese_interface_are_chinese(
    browser: Any, app: SimpleNamespace, tmp_path: Path, artifacts: Path
) -> None:
    """Issue 14, item 9: with 语言 switched to 中文, an error of the core (a question over
    every budget) and an upload that cannot be read read as Chinese, naming the file."""
    from ragmix.models.llm import make_token_counter
    from tests.fixtures import make_encrypted_pdf

    question = "请问苏州有哪些古典园林，它们分别是在哪个朝代建成的？" * 500
    n = make_token_counter(app.rm.settings.llm).count(question)
    locked = make_encrypted_pdf(tmp_path / "机密报告.pdf")
    page = _open(browser, app.url, "en-US")
    try:
        page.locator("#rm-lang label", has_text="中文").click()
        page.wait_for_function(
            "() => document.querySelector('#rm-send').innerText.trim() == '发送'"
        )
        _ask(page, question)
        bubble = page.locator(BOT).last
        bubble.get_by_text("无法回答").wait_for(timeout=60_000)
        text = bubble.inner_text().strip()
        assert text.startswith(
            f"无法回答：问题长 {n:,} 个词元，超过了当前模型 7,360 个词元的上限"
        ), text
        assert "请缩短问题" in text and "tokens" not in text
        page.set_input_files("#rm-upload input[type=file]", [str(locked)])
        _report_says(page, "机密报告.pdf — 失败：", timeout=120_000)
        report = page.inner_text("#rm-report")
        assert "机密报告.pdf — 失败：这个 PDF 已加密：请先去掉密码" in report, report
        assert "password" not in report
        page.screenshot(path=str(artifacts / "ui-8b-chinese-errors.png"))
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


@pytest.mark.server
def test_the_same_flows_work_over_a_chroma_server(
    browser: Any, files: dict[str, Path], model_works: None, tmp_path: Path, artifacts: Path
) -> None:
    """Issue 14: upload, search, an answer and a confirmed delete, with the store on a real
    `chroma run` server (``store.mode: http``) instead of on disk."""
    from ragmix import RagMix
    from ragmix.ui.app import launch
    from tests.servers import start_chroma

    chroma = start_chroma(tmp_path / "chroma-data")
    demo = page = None
    try:
        store = {"mode": "http", "port": chroma.port, "path": str(tmp_path / "cache"),
                 "collection": "ui-flows", "sync_interval_s": 0}  # fmt: skip
        rm = RagMix.from_config(None, store=store)
        port = _free_port()
        demo = launch(rm, host="127.0.0.1", port=port, auth=None, block=False)
        page = _open(browser, f"http://127.0.0.1:{port}/", "en-US")
        page.wait_for_selector("#rm-docs .rm-empty")
        page.set_input_files("#rm-upload input[type=file]", [str(files["txt"])])
        _report_says(page, f"{TXT} — added", timeout=180_000)
        page.wait_for_selector("#rm-docs td.rm-doc")
        assert _doc_names(page) == [TXT]

        page.locator("#rm-mode label", has_text="Search only").click()
        _ask(page, "How long is the warranty?")
        _watch_answer(page, 60)
        first = page.locator(BOT).last.locator(".rm-source").first
        assert TXT in first.locator("summary").inner_text()
        assert "three years" in first.inner_text()
        assert first.locator("mark").count() > 0

        page.locator("#rm-mode label", has_text="Retrieve").click()
        _ask(page, "How long does the warranty last?")
        _watch_answer(page)
        bubble = page.locator(BOT).last
        assert re.search(r"Retrieved · \d+ passages?", bubble.inner_text())
        assert TXT in (bubble.locator(".rm-source .rm-file").first.text_content() or "")
        page.screenshot(path=str(artifacts / "ui-11-chroma-server.png"))

        _confirm_delete(page, TXT)
        _note_says(page, "#rm-delete-note", f"Deleted {TXT}.")
        page.wait_for_selector("#rm-docs .rm-empty")
        assert rm.documents() == []
        # A fresh view of the server (its own local cache) agrees: the document is gone.
        again = RagMix.from_config(None, store={**store, "path": str(tmp_path / "cache2")})
        assert again.documents() == []
    finally:
        if page is not None:
            page.context.close()
        if demo is not None:
            demo.close()
        chroma.stop()
