"""Scans and photos read by OCR, offline (issue 26): reading order as a table, then real
image-only PDFs and a photo made in the test (text drawn with a Chinese font, rasterised,
turned, speckled) through the loader, the guarded loader process and a whole ingest, with the
facts found by search on the right page; and the new formats' incremental re-ingest.

The OCR tests read about a dozen pages in all, most of them small."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ragmix.cli.console import source_line
from ragmix.core.errors import LoadError
from ragmix.core.events import (
    Embedding,
    FilesFound,
    FileStarted,
    IngestEvent,
    IngestState,
    PagesRead,
)
from ragmix.ingest.guard import LoadGuard
from ragmix.ingest.loaders import load_document
from ragmix.ingest.ocr import OcrLine, engine_status, layout, needs_ocr
from tests.fixtures import make_scanned_pdf
from tests.office_files import (
    FACTS,
    cjk_font,
    make_deck,
    make_gbk_csv,
    make_mixed_pdf,
    make_photo,
    make_scanned_text_pdf,
    make_workbook,
)

LIMITS = {"max_bytes": 10**8, "max_pages": 100, "max_chars": 10**7}

needs_font = pytest.mark.skipif(
    cjk_font() is None, reason="no Chinese font: apt-get install fonts-wqy-zenhei"
)


def L(left: float, top: float, text: str, width: float = 300, height: float = 20) -> OcrLine:  # noqa: N802
    return OcrLine(left, top, left + width, top + height, text, 0.9)


LAYOUTS = [
    # (lines in the engine's order, text)
    ([L(10, 50, "第二行"), L(10, 20, "第一行")], "第一行第二行"),  # top to bottom, joined
    ([L(10, 20, "first line"), L(10, 46, "second")], "first line second"),
    ([L(10, 20, "hyphen-"), L(10, 46, "ated")], "hyphenated"),
    ([L(10, 20, "标题"), L(10, 120, "正文")], "标题\n\n正文"),  # a wide gap: new paragraph
    # Two cells on one row (middles overlap, one slightly lower), read left to right.
    ([L(400, 24, "金额：300元", 100), L(10, 20, "项目：办公", 100)], "项目：办公  金额：300元"),
    ([L(10, 20, "  "), L(10, 46, "只有这一行")], "只有这一行"),
    ([], ""),
]


@pytest.mark.parametrize(("lines", "text"), LAYOUTS)
def test_layout_reading_order_and_paragraphs(lines: list[OcrLine], text: str) -> None:
    assert layout(lines) == text


@pytest.mark.parametrize(
    ("text", "ocr"), [("", True), ("  7 \n", True), ("- 12 -", True), ("第一章 总则 第一条", False)]
)
def test_which_pdf_pages_need_ocr(text: str, ocr: bool) -> None:
    assert needs_ocr(text) is ocr


def test_pages_read_ahead_fold_into_their_file_not_the_current_one() -> None:
    events: list[IngestEvent] = [
        FilesFound(2, ("a.md", "scan.pdf")),
        FileStarted("a.md"),
        PagesRead("scan.pdf", 0, 3),  # the next file, read ahead while a.md is embedded
        Embedding("a.md", 0, 4),
        PagesRead("scan.pdf", 1, 3),
    ]
    state = IngestState.fold(events)
    assert (state.name, state.chunks_total, state.ocr) == ("a.md", 4, ("scan.pdf", 1, 3))
    assert state.files["a.md"].status == "indexing"
    assert (state.files["scan.pdf"].status, state.files["scan.pdf"].pages) == ("reading", 1)
    assert state.apply(PagesRead("scan.pdf", 3, 3)).ocr is None
    assert PagesRead("x", 1, 2).as_dict() == {"type": "pages", "name": "x", "done": 1, "total": 2}


def test_engine_ships_its_models_in_the_wheel() -> None:
    from importlib import resources

    ok, status = engine_status()
    assert ok, status
    models = resources.files("rapidocr") / "models"
    names = [p.name for p in models.iterdir() if p.name.endswith(".onnx")]
    assert any("det" in n for n in names) and any("rec" in n for n in names), names


@needs_font
def test_too_many_pages_for_ocr_and_ocr_off_say_which_setting(tmp_path: Path) -> None:
    scan = make_scanned_text_pdf(tmp_path / "scan.pdf")
    with pytest.raises(LoadError) as info:
        load_document(scan, ocr_max_pages=1, **LIMITS)
    assert info.value.code == "ocr_too_many_pages"
    assert "2 pages have no text layer" in info.value.reason
    assert "raise ingest.ocr_max_pages" in info.value.reason
    with pytest.raises(LoadError) as info:
        load_document(scan, ocr=False, **LIMITS)
    assert info.value.code == "pdf_scanned" and "set ingest.ocr: auto" in info.value.reason
    photo = make_photo(tmp_path / "notice.png")
    with pytest.raises(LoadError, match="ingest.ocr: off"):
        load_document(photo, ocr=False, **LIMITS)


@pytest.mark.slow
@needs_font
def test_scanned_pdf_is_read_page_by_page_in_the_guarded_process(tmp_path: Path) -> None:
    scan = make_scanned_text_pdf(tmp_path / "scan.pdf")
    pages: list[tuple[int, int]] = []
    with LoadGuard(timeout_s=120, memory_mb=2048) as guard:
        doc = guard.load(scan, display="scan.pdf", on_page=lambda *p: pages.append(p), **LIMITS)
        assert guard.pid is not None  # it ran in the child
    assert pages == [(0, 2), (1, 2), (2, 2)]  # sent from the child while it read
    assert doc.kind == "pdf" and doc.page_starts is not None and len(doc.page_starts) == 2
    p1, p2 = doc.text[: doc.page_starts[1]], doc.text[doc.page_starts[1] :]
    assert re.match(r"〔OCR, p\. 1, confidence (0\.9\d|1\.00)〕\n", p1), p1
    assert p2.startswith("〔OCR, p. 2, confidence ")
    for words, page in (("1234.5亿元", p1), ("78%", p1), ("六号线", p2), ("4200套", p2)):
        assert words in page, (words, page)
    assert "0512-68881234" in p2 and "王晓明" in p2
    assert doc.ocr_pages is not None and set(doc.ocr_pages) == {1, 2}
    assert min(doc.ocr_pages.values()) > 0.9
    # The engine is built outside a file's memory limit: a fresh loader whose first file is a
    # scan OCR finds nothing in fails as that, not as "over ingest.file_memory_mb" (the
    # engine's address space was once taken for the file's), and the next file still gets
    # its whole allowance.
    with LoadGuard(timeout_s=120, memory_mb=2048) as guard:
        with pytest.raises(LoadError) as info:
            guard.load(make_scanned_pdf(tmp_path / "bars.pdf", 1), display="bars.pdf", **LIMITS)
        assert info.value.code == "pdf_scanned", info.value.reason
        assert "OCR found no text" in info.value.reason
        notice = guard.load(make_photo(tmp_path / "n.png"), display="n.png", **LIMITS)
        assert "金枫路" in notice.text
    # The time limit holds while pages are read: the child is stopped, the error says so.
    with LoadGuard(timeout_s=0.5, memory_mb=2048) as guard, pytest.raises(LoadError) as info:
        guard.load(scan, display="scan.pdf", **LIMITS)
    assert info.value.code == "load_timeout" and "OCR" in info.value.reason


@pytest.mark.slow
@needs_font
def test_damaged_scans_and_images_never_leak_library_errors(tmp_path: Path) -> None:
    scan = make_scanned_text_pdf(tmp_path / "scan.pdf", [["第一页"]]).read_bytes()
    photo = make_photo(tmp_path / "notice.png").read_bytes()
    for data, suffix in ((scan, ".pdf"), (photo, ".png")):
        for i in range(2):
            damaged = bytearray(data)
            at = len(data) // 3 * (i + 1)
            damaged[at : at + 64] = bytes(64)
            path = tmp_path / f"d{i}{suffix}"
            path.write_bytes(bytes(damaged))
            # Loading may succeed or raise LoadError; any other exception fails the test.
            with contextlib.suppress(LoadError):
                load_document(path, **LIMITS)


@pytest.mark.slow
@needs_font
def test_a_blank_page_in_a_text_pdf_and_a_photo_are_read(tmp_path: Path) -> None:
    doc = load_document(make_mixed_pdf(tmp_path / "mixed.pdf"), **LIMITS)
    assert doc.page_starts is not None and doc.ocr_pages is not None
    assert doc.text.startswith("第一页是正常的文字层")  # the text layer, as it was
    assert set(doc.ocr_pages) == {2}
    assert "拨款560万元用于河道清淤" in doc.text[doc.page_starts[1] :]
    photo = load_document(make_photo(tmp_path / "notice.jpg"), **LIMITS)
    assert (photo.kind, photo.page_starts) == ("image", [0])
    assert "金枫路" in photo.text and "96178" in photo.text
    # A two-page TIFF (a fax), the second page transparent PNG-style: a page per frame.
    from PIL import Image, ImageDraw, ImageFont

    frames = []
    for text in ("传真第一页：会议改到周五", "第二页：地点在三楼会议室"):
        img = Image.new("RGBA", (760, 160), (0, 0, 0, 0))
        ImageDraw.Draw(img).text((30, 50), text, font=ImageFont.truetype(cjk_font(), 40),
                                 fill=(0, 0, 0, 255))  # fmt: skip
        frames.append(img)
    frames[0].save(tmp_path / "fax.tif", save_all=True, append_images=frames[1:])
    fax = load_document(tmp_path / "fax.tif", **LIMITS)
    assert fax.page_starts is not None and len(fax.page_starts) == 2
    assert "周五" in fax.text[: fax.page_starts[1]] and "三楼" in fax.text[fax.page_starts[1] :]


@pytest.mark.slow
@needs_font
def test_every_new_format_is_ingested_searched_and_skipped_when_unchanged(
    rm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_scanned_text_pdf(docs / "scan.pdf")
    make_photo(docs / "notice.jpg")
    make_workbook(docs / "budget.xlsx")
    make_deck(docs / "review.pptx")
    make_gbk_csv(docs / "stock.csv")
    events: list[IngestEvent] = []
    summary = rm.ingest(docs, progress=events.append)
    assert (summary.ingested, summary.failed, summary.unsupported) == (5, [], [])
    assert [e for e in events if isinstance(e, PagesRead) and e.name == "scan.pdf"] == [
        PagesRead("scan.pdf", 0, 2), PagesRead("scan.pdf", 1, 2), PagesRead("scan.pdf", 2, 2)
    ]  # fmt: skip
    state = IngestState.fold(events)
    assert state.files["scan.pdf"].pages_total == 2 and state.ocr is None
    kinds = {d.name: d.kind for d in rm.documents()}
    assert kinds == {"scan.pdf": "pdf", "notice.jpg": "image", "budget.xlsx": "xlsx",
                     "review.pptx": "pptx", "stock.csv": "csv"}  # fmt: skip
    sheets = {1: "预算", 2: "人员"}
    for question, name, page, words in FACTS:
        top = rm.ask(question, mode="search").sources[:3]
        hit = [s for s in top if s["source"] == name and all(w in s["text"] for w in words)]
        assert hit, (question, [(s["source"], s["page"], s["text"][:80]) for s in top])
        assert hit[0]["page"] == page, (question, hit[0]["page"])
        # Where it is, as sources say it: a workbook's sheet by its name, a deck's slide,
        # the page OCR read with the engine's mean confidence.
        src, line = hit[0], source_line(hit[0])
        named = {k: v for k, v in src.items() if k in ("page_kind", "page_label")}
        if name == "budget.xlsx" and page is not None:
            assert named == {"page_kind": "sheet", "page_label": sheets[page]}, src
            assert line.startswith(f"budget.xlsx · sheet {sheets[page]} · "), line
        elif name == "review.pptx":
            assert named == {"page_kind": "slide"} and "ocr_pages" not in src, src
            assert line.startswith(f"review.pptx slide {page} · "), line
        elif name in ("scan.pdf", "notice.jpg"):
            assert not named and src.get("ocr_pages") == [page], src
            assert 0.8 < src.get("ocr_confidence", 0) <= 1.0, src
            assert re.match(rf"{name} · OCR, p\. {page} \(confidence (0\.[89]\d|1\.00)\) · ", line)
        else:  # a CSV has no pages
            assert not named and "ocr_pages" not in src and line.startswith("stock.csv · "), src
    # `ask --json` carries them (another process reading the same store).
    out = subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", "ask", "李娜的出勤率", "--mode", "search",
         "--json", "--store", str(rm.store.root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)["sources"][0]
    assert (first["source"], first["page"], first["page_kind"], first["page_label"]) == (
        "budget.xlsx", 2, "sheet", "人员"
    )  # fmt: skip

    # Unchanged files cost a stat: nothing is loaded again.
    def no_load(*a: object, **k: object) -> None:
        raise AssertionError("an unchanged file was loaded")

    monkeypatch.setattr("ragmix.ingest.guard.load_guarded", no_load)
    again = rm.ingest(docs)
    assert (again.ingested, again.skipped_unchanged, again.chunks_added) == (0, 5, 0)
    # A changed workbook is read again, and only it.
    monkeypatch.undo()
    import openpyxl

    wb = openpyxl.load_workbook(docs / "budget.xlsx")
    wb["预算"]["B4"] = 51000
    wb.save(docs / "budget.xlsx")
    third = rm.ingest(docs)
    assert (third.ingested, third.skipped_unchanged) == (1, 4)
    top = rm.ask("差旅费金额", mode="search").sources[:3]
    assert any("51000" in s["text"] and s["source"] == "budget.xlsx" for s in top)
    assert not any("48500" in s["text"] for s in rm.ask("差旅费", mode="search").sources)
