"""Loaders and cleaning on real files: PDFs from reportlab, real encodings, real .docx/HTML."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import pytest

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.cleaning import clean_text
from ragmix.ingest.loaders import SUPPORTED, decode_text, load_document
from ragmix.ingest.ocr import IMAGE_KINDS
from tests.fixtures import (
    HTML_VISIBLE,
    SIMPLIFIED,
    TRADITIONAL,
    make_big5_txt,
    make_binary_junk_txt,
    make_chinese_pdf,
    make_docx,
    make_empty,
    make_encrypted_pdf,
    make_gbk_txt,
    make_html,
    make_scanned_pdf,
    make_truncated_pdf,
    make_utf8_bom_txt,
    make_utf16_txt,
)

# OCR off: these are the text loaders' tests (a damaged PDF's blank pages would each be read
# by OCR, minutes in all); tests/test_ocr.py damages scans for the OCR path.
LIMITS = {"max_bytes": 10 * 2**20, "max_pages": 100, "max_chars": 1_000_000, "ocr": False}


def load(path: Path, **kw: object) -> LoadedDocument:
    return load_document(path, **{**LIMITS, **kw})


# --- PDF ------------------------------------------------------------------------------------

# Body lines fill the page width, as in a real report; headings are short.
PAGES = [
    "第一章 总则\n本公司成立于2001年，主营工业传感器与控制软件的研发和生产，并\n"
    "在苏州设立第一家工厂。\nRevenue grew by 12% in 2023.",
    "产品与市场\n主要产品包括“工业传感器”和“过程控制软件”两大类，销往欧洲、北美\n"
    "和东南亚的三十个国家，其中出口收入占总收入的百分之四十二\n左右。",
    "三、结论\n公司将继续扩大研发投入！\n联系人：王芳",
]
EXPECTED_PAGES = [
    "第一章 总则\n本公司成立于2001年，主营工业传感器与控制软件的研发和生产，并"
    "在苏州设立第一家工厂。\nRevenue grew by 12% in 2023.",
    "产品与市场\n主要产品包括“工业传感器”和“过程控制软件”两大类，销往欧洲、北美"
    "和东南亚的三十个国家，其中出口收入占总收入的百分之四十二左右。",
    "三、结论\n公司将继续扩大研发投入！\n联系人：王芳",
]


def test_chinese_pdf_pages_and_offsets(tmp_path: Path) -> None:
    doc = load(make_chinese_pdf(tmp_path / "report.pdf", PAGES))
    assert doc.kind == "pdf"
    assert doc.page_starts == [0, 81, 153]
    assert doc.n_pages == 3
    assert doc.text == "\n\n".join(EXPECTED_PAGES)
    bounds = [*doc.page_starts, len(doc.text) + 2]
    pages = [doc.text[a : b - 2] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert pages == EXPECTED_PAGES
    assert doc.encoding is None


def test_pdf_empty_page_keeps_its_entry(tmp_path: Path) -> None:
    doc = load(make_chinese_pdf(tmp_path / "gap.pdf", ["甲页。", "", "丙页。"]))
    assert doc.text == "甲页。\n\n\n\n丙页。"
    assert doc.page_starts == [0, 5, 7]


def test_pdf_with_owner_password_only_opens(tmp_path: Path) -> None:
    doc = load(make_encrypted_pdf(tmp_path / "owner.pdf", user_password=""))
    assert doc.text == "加密文件第一页。"
    assert doc.page_starts == [0]


# --- text encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "text", "encoding"),
    [
        (make_gbk_txt, SIMPLIFIED, "gb18030"),
        (make_big5_txt, TRADITIONAL, "big5"),
        (make_utf16_txt, SIMPLIFIED, "utf-16-le"),
        (lambda p, t: make_utf16_txt(p, t, big_endian=True), TRADITIONAL, "utf-16-be"),
        (make_utf8_bom_txt, SIMPLIFIED, "utf-8-sig"),
    ],
    ids=["gbk", "big5", "utf16le", "utf16be", "utf8bom"],
)
def test_text_encodings_round_trip(tmp_path: Path, builder, text: str, encoding: str) -> None:
    doc = load(builder(tmp_path / "doc.txt", text))
    assert doc.text == text
    assert doc.encoding == encoding
    assert doc.kind == "txt"


def test_utf8_markdown(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# 标题\n正文第一行\n- 列表", encoding="utf-8")
    doc = load(path)
    assert (doc.text, doc.kind, doc.encoding) == ("# 标题\n正文第一行\n- 列表", "md", "utf-8")


@pytest.mark.parametrize("n", [4, 8, 16, 64])
def test_short_gbk_and_big5_are_not_confused(n: int) -> None:
    # Every window of n characters, both ways: charset-normalizer alone gets short ones wrong.
    for source, codec in ((SIMPLIFIED, "gbk"), (TRADITIONAL, "big5")):
        for start in range(0, len(source) - n + 1, 5):
            window = source[start : start + n]
            assert decode_text(window.encode(codec))[0] == window


def test_nul_bytes_are_not_text_even_when_valid_utf8() -> None:
    with pytest.raises(LoadError, match="contains NUL bytes"):
        decode_text(b"SQLite format 3\x00\x10\x00\x01\x01\x00@  ")


def test_latin1_english_falls_back_to_detection() -> None:
    text = "Café au lait, naïve résumé, crème brûlée. " * 5
    assert decode_text(text.encode("cp1252"))[0] == text


# --- docx and HTML ------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_in_order(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "a.docx",
        ["第一章 概述", "本报告介绍", "结论：销量上升。"],
        [["产品", "数量"], ["传感器", "120"]],
        table_after=2,
    )
    doc = load(path)
    # Paragraphs stay separate even without sentence-end punctuation (no CJK joining).
    assert doc.text == "第一章 概述\n本报告介绍\n产品 | 数量\n传感器 | 120\n结论：销量上升。"
    assert doc.kind == "docx"


def test_html_visible_text_only(tmp_path: Path) -> None:
    doc = load(make_html(tmp_path / "page.html"))
    assert doc.text == "\n".join(HTML_VISIBLE)
    for hidden in ("SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEADTITLE", "COMMENT", "脚本"):
        assert hidden not in doc.text
    assert doc.kind == "html"


@pytest.mark.parametrize("declare", [True, False], ids=["meta", "detected"])
def test_html_gbk(tmp_path: Path, declare: bool) -> None:
    doc = load(make_html(tmp_path / "page.htm", encoding="gbk", declare=declare))
    assert doc.text == "\n".join(HTML_VISIBLE)
    assert doc.encoding == "gb18030"


# --- broken files ------------------------------------------------------------------------------


def _not_a_zip(p: Path) -> Path:
    p.write_text("this is not a word document", encoding="utf-8")
    return p


def _zip_not_docx(p: Path) -> Path:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "hi")
    return p


def _garbage_pdf(p: Path) -> Path:
    p.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\n%%EOF\n")
    return p


def _three_pages(p: Path) -> Path:
    return make_chinese_pdf(p, ["一。", "二。", "三。"])


SCANNED = "no text layer (scanned PDF?): set ingest.ocr: auto to read it by OCR, or run OCR"
BROKEN = [
    ("empty.txt", make_empty, {}, "the file is empty (0 bytes)"),
    ("empty.pdf", make_empty, {}, "the file is empty (0 bytes)"),
    ("big.txt", make_gbk_txt, {"max_bytes": 100}, "over the limit of 100 bytes: split it, or"),
    ("data.xyz", make_gbk_txt, {}, "unsupported file type '.xyz'"),
    ("old.doc", make_gbk_txt, {}, "save it as .docx"),
    ("scan.pdf", make_scanned_pdf, {}, SCANNED),
    ("locked.pdf", make_encrypted_pdf, {}, "encrypted: remove the password (e.g. `qpdf"),
    ("cut.pdf", make_truncated_pdf, {}, "corrupt PDF (no %%EOF end marker: the file is cut off)"),
    ("junk.pdf", _garbage_pdf, {}, "truncated or corrupt PDF"),
    ("junk.txt", make_binary_junk_txt, {}, "not a text file (it contains NUL bytes"),
    ("junk.md", lambda p: make_binary_junk_txt(p, with_nul=False), {}, "not a text file (no "),
    ("fake.docx", _not_a_zip, {}, "not a valid .docx (BadZipFile: File is not a zip"),
    ("zip.docx", _zip_not_docx, {}, "not a valid .docx (KeyError"),
    ("long.pdf", _three_pages, {"max_pages": 2}, "3 pages, more than the limit of 2"),
    ("long.txt", make_gbk_txt, {"max_chars": 100}, "more than 100 characters"),
    ("long2.pdf", _three_pages, {"max_chars": 5}, "or raise ingest.max_chars"),
]


@pytest.mark.parametrize(("name", "builder", "limits", "fix"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_raise_load_error(
    tmp_path: Path, name: str, builder, limits: dict, fix: str
) -> None:
    path = builder(tmp_path / name)
    with pytest.raises(LoadError) as info:
        load(path, display=f"inbox/{name}", **limits)
    assert str(info.value).startswith(f"inbox/{name}: ")
    assert info.value.path == f"inbox/{name}"
    assert fix in info.value.reason
    # Without display the message names the path itself.
    with pytest.raises(LoadError, match="^" + str(path).replace("\\", "\\\\")):
        load(path, **limits)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="nope.pdf: cannot read the file .No such file"):
        load(tmp_path / "nope.pdf")
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(LoadError, match="dir.txt: not a regular file"):
        load(tmp_path / "dir.txt")


def test_damaged_files_never_leak_library_errors(tmp_path: Path) -> None:
    pdf = make_chinese_pdf(tmp_path / "ok.pdf", PAGES)
    docx = make_docx(tmp_path / "ok.docx", ["段落。"], [["a", "b"]])
    for original in (pdf, docx):
        data = original.read_bytes()
        for i in range(24):
            damaged = bytearray(data)
            at = (i * 7919) % (len(data) - 64)
            damaged[at : at + 16] = bytes(16)
            path = tmp_path / f"d{i}{original.suffix}"
            path.write_bytes(bytes(damaged))
            # Loading may succeed or raise LoadError; any other exception fails the test.
            with contextlib.suppress(LoadError):
                load(path)


def test_supported_extensions() -> None:
    assert SUPPORTED == {
        ".pdf": "pdf",
        ".txt": "txt",
        ".md": "md",
        ".docx": "docx",
        ".html": "html",
        ".htm": "html",
        ".xlsx": "xlsx",
        ".xlsm": "xlsx",
        ".csv": "csv",
        ".tsv": "csv",
        ".pptx": "pptx",
        **IMAGE_KINDS,
    }


# --- cleaning ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b\x00c", "abc"),
        ("tab\tkept\x07\x1b[0m\x7f\x9f", "tab\tkept[0m"),
        ("page\x0cbreak\vv", "page\nbreak\nv"),
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("trailing   \t\nspaces  ", "trailing\nspaces"),
        ("a\n\n\n\n\n\nb\n\n\nc\n\nd", "a\n\nb\n\nc\n\nd"),
        ("\n\n  \nstart", "start"),
        ("公司成立于2001年，并\n在苏州设立工厂。", "公司成立于2001年，并在苏州设立工厂。"),
        ("结束。\n下一段", "结束。\n下一段"),
        ("他说：“好。”\n然后", "他说：“好。”\n然后"),
        ("如下：\n甲", "如下：\n甲"),
        ("包括“传感器”和\n软件", "包括“传感器”和软件"),
        ("第一章 总则\n本法", "第一章 总则\n本法"),
        ("其次\n二、范围", "其次\n二、范围"),
        ("甲\n（一）乙", "甲\n（一）乙"),
        ("# 标题\n正文", "# 标题\n正文"),
        ("上一段\n\u3000\u3000缩进段落", "上一段\n\u3000\u3000缩进段落"),
        ("使用\nPython", "使用\nPython"),
        ("English lines\nstay apart", "English lines\nstay apart"),
        ("并\n\n在", "并\n\n在"),
        ("全角，标点（保留）", "全角，标点（保留）"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_without_cjk_join() -> None:
    assert clean_text("标题\n正文", join_cjk=False) == "标题\n正文"
