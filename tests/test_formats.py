"""Spreadsheets, CSV/TSV and slide decks (issue 26): the table decisions as a table, then real
files made by openpyxl and python-pptx through ``load_document`` (fast: no models, no OCR)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from ragmix.core.errors import LoadError
from ragmix.ingest.loaders import SUPPORTED, load_document
from ragmix.ingest.sheets import cell_text, rows_to_lines
from tests.office_files import make_deck, make_gbk_csv, make_workbook

LIMITS = {"max_bytes": 10**8, "max_pages": 100, "max_chars": 10**7}

ROWS = [
    # (rows, label, lines)
    ([["项目", "金额"], ["办公费", "12000"]], "", ["项目: 办公费 | 金额: 12000"]),
    ([["项目", "金额"], ["办公费", "12000"]], "预算", ["【预算】项目: 办公费 | 金额: 12000"]),
    # A title merged across the sheet (the same value in every cell), then the header.
    ([["标题", "标题"], ["a", "b"], ["1", "2"]], "", ["标题", "a: 1 | b: 2"]),
    # Empty rows and columns go; an empty cell leaves its pair out.
    ([["", "", ""], ["name", "", "qty"], ["bolt", "", ""], ["nut", "", "7"]], "",
     ["name: bolt", "name: nut | qty: 7"]),
    # No header (numbers in the first rows): cells joined.
    ([["1", "2"], ["3", "4"]], "", ["1 | 2", "3 | 4"]),
    # A note above the header is kept as a line of its own.
    ([["单位：元", ""], ["项目", "金额"], ["房租", "5000"]], "",
     ["单位：元", "项目: 房租 | 金额: 5000"]),
    ([], "", []),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "label", "lines"), ROWS)
def test_rows_to_lines(rows: list[list[str]], label: str, lines: list[str]) -> None:
    assert rows_to_lines(rows, label) == lines


CELLS = [
    (dt.datetime(2025, 3, 1), "General", "2025-03-01"),
    (dt.datetime(2025, 3, 1, 14, 30), "General", "2025-03-01 14:30"),
    (dt.date(2025, 3, 1), "General", "2025-03-01"),
    (12000.0, "General", "12000"),
    (0.1 + 0.2, "General", "0.3"),
    (0.968, "0.0%", "96.8%"),
    (None, "General", ""),
    (False, "General", "FALSE"),
    ("  two\nlines ", "General", "two lines"),
]


@pytest.mark.parametrize(("value", "fmt", "text"), CELLS)
def test_cell_text(value: object, fmt: str, text: str) -> None:
    assert cell_text(value, fmt) == text


def test_workbook_sheets_are_pages_with_labels_dates_merges_and_cached_formulas(
    tmp_path: Path,
) -> None:
    doc = load_document(make_workbook(tmp_path / "budget.xlsx"), **LIMITS)
    assert doc.kind == "xlsx" and doc.page_starts is not None and len(doc.page_starts) == 2
    assert doc.page_labels == ["预算", "人员"]  # a sheet's page is named by the sheet
    first, second = doc.text[: doc.page_starts[1]], doc.text[doc.page_starts[1] :]
    assert first.startswith("## 预算\n2025年度部门预算表\n")  # the merged title, once
    assert "【预算】项目: 差旅费 | 金额（元）: 48500 | 批准日期: 2025-04-15" in first
    assert "【预算】项目: 合计 | 金额（元）: 60500" in first  # the formula's cached value
    assert second.startswith("## 人员\n")
    # The merged 部门 cell gives its value to both rows it spans; a percentage stays one.
    assert "【人员】部门: 信息科 | 姓名: 赵磊 | 出勤率: 87.4%" in second
    assert "None" not in doc.text and "=SUM" not in doc.text


def test_deck_slides_are_pages_with_title_body_table_and_notes(tmp_path: Path) -> None:
    doc = load_document(make_deck(tmp_path / "review.pptx"), **LIMITS)
    assert doc.kind == "pptx" and doc.page_starts is not None and len(doc.page_starts) == 3
    slides = [
        doc.text[a:b] for a, b in zip(doc.page_starts, [*doc.page_starts[1:], None], strict=True)
    ]
    assert slides[0].startswith("## Slide 1: 第三季度经营回顾\n市场部 2025年10月")
    assert slides[1].strip().split("\n") == [
        "## Slide 2: 客户增长",
        "新增企业客户137家",
        "续约率达到91%",
        "Notes: 讲解时强调：华东区贡献了新增客户的一半。",
    ]
    assert "区域: 华东 | 收入（万元）: 2860" in slides[2]


def test_gbk_csv_and_tsv(tmp_path: Path) -> None:
    doc = load_document(make_gbk_csv(tmp_path / "stock.csv"), **LIMITS)
    assert (doc.kind, doc.encoding, doc.page_starts) == ("csv", "gb18030", None)
    assert "仓库: 吴江二号库 | 物料编码: WL-4410 | 库存数量: 615 | 盘点日期: 2025-11-30" in doc.text
    tsv = tmp_path / "t.tsv"
    tsv.write_text("城市\t人口（万）\n苏州\t1295\n", encoding="utf-16")
    doc = load_document(tsv, **LIMITS)
    assert (doc.kind, doc.text) == ("tsv", "城市: 苏州 | 人口（万）: 1295")


def test_broken_office_files_name_the_fix(tmp_path: Path) -> None:
    cases = {
        "old.xls": "save it as .xlsx in Office or LibreOffice",
        "old.ppt": "save it as .pptx",
        "fake.xlsx": "not a valid .xlsx (BadZipFile",
        "fake.pptx": "not a valid .pptx (BadZipFile",
        "zip.xlsx": "not a valid .xlsx (",
    }
    for name in ("old.xls", "old.ppt", "fake.xlsx", "fake.pptx"):
        (tmp_path / name).write_bytes(b"not a zip at all")
    with zipfile.ZipFile(tmp_path / "zip.xlsx", "w") as z:
        z.writestr("hello.txt", "hi")
    for name, fix in cases.items():
        with pytest.raises(LoadError) as info:
            load_document(tmp_path / name, display=name, **LIMITS)
        assert fix in info.value.reason, (name, info.value.reason)
        assert str(info.value).startswith(f"{name}: ")


def test_the_unsupported_message_names_every_format(tmp_path: Path) -> None:
    (tmp_path / "a.xyz").write_text("x")
    with pytest.raises(LoadError) as info:
        load_document(tmp_path / "a.xyz", **LIMITS)
    for ext in (".xlsx", ".csv", ".pptx", ".png", ".jpg", ".tiff", ".webp", ".pdf"):
        assert ext in info.value.reason and ext in SUPPORTED


def test_ingest_help_and_the_upload_box_name_the_new_formats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ragmix.cli.main import main
    from ragmix.core.settings import Settings

    assert main(["ingest", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    for fmt in ("xlsx", "csv", "tsv", "pptx", "png", "jpg", "tiff", "webp", "OCR"):
        assert fmt in shown, fmt
    accepted = Settings().ingest.extensions  # the upload box's file types
    assert set(SUPPORTED) == set(accepted)


def test_doctor_reports_the_ocr_engine_or_that_it_is_off(tmp_path: Path) -> None:
    from ragmix import RagMix
    from ragmix.app.doctor import _ocr

    rm = RagMix.from_config(None, store={"path": str(tmp_path / "s")})
    status, detail, _ = _ocr(rm)
    assert status == "ok" and detail.startswith("RapidOCR 3.") and "onnxruntime" in detail
    off = RagMix.from_config(None, store={"path": str(tmp_path / "s")}, ingest={"ocr": "off"})
    assert _ocr(off)[1].startswith("off (ingest.ocr: off)")


WHERE = [
    # (source fields, the CLI's line, the page's label in English, in Chinese)
    ({"page": 3, "pages": [3, 4]}, "r pp.3-4 · x", "r · pp. 3–4", "r · 第 3–4 页"),
    ({"page": 2, "pages": [2], "page_kind": "sheet", "page_label": "人员"},
     "r · sheet 人员 · x", "r · sheet 人员", "r · 工作表 人员"),
    ({"page": 2, "pages": [2], "page_kind": "slide"}, "r slide 2 · x", "r · slide 2",
     "r · 第 2 张幻灯片"),
    ({"page": 2, "pages": [2], "ocr_pages": [2], "ocr_confidence": 0.97},
     "r · OCR, p. 2 (confidence 0.97) · x", "r · OCR, p. 2 (confidence 0.97)",
     "r · OCR 识别，第 2 页（置信度 0.97）"),
    ({"page": 1, "pages": [1, 2], "ocr_pages": [2], "ocr_confidence": 0.9},
     "r pp.1-2 · OCR, p. 2 (confidence 0.90) · x", "r · pp. 1–2 · OCR, p. 2 (confidence 0.90)",
     "r · 第 1–2 页 · OCR 识别，第 2 页（置信度 0.90）"),
    ({"page": None, "pages": []}, "r · x", "r", "r"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "line", "en", "zh"), WHERE)
def test_sources_name_sheets_slides_and_ocr(
    fields: dict[str, object], line: str, en: str, zh: str
) -> None:
    from ragmix.cli.console import source_line
    from ui.render import _where

    src: dict[str, object] = {"source": "r", "text": "x", "kind": "passage", **fields}
    assert source_line(src) == line  # type: ignore[arg-type]
    assert (_where(src, "en"), _where(src, "zh")) == (en, zh)  # type: ignore[arg-type]


def test_the_http_apis_search_message_names_sheets_slides_and_ocr() -> None:
    from ragmix.server.shapes import passages_text

    base = {"score": 0.5, "text": "x", "page": 2, "pages": [2]}
    sources = [
        {**base, "source": "b.xlsx", "page_kind": "sheet", "page_label": "人员"},
        {**base, "source": "r.pptx", "page_kind": "slide"},
        {**base, "source": "s.pdf", "ocr_pages": [2], "ocr_confidence": 0.97},
    ]
    heads = [line for line in passages_text(sources).split("\n") if line.startswith("[")]  # type: ignore[arg-type]
    assert heads == [
        "[1] b.xlsx, sheet 人员 (score 0.500)",
        "[2] r.pptx, slide 2 (score 0.500)",
        "[3] s.pdf, p. 2, OCR confidence 0.97 (score 0.500)",
    ]
