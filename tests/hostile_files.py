"""Builders of hostile input files: small on disk, expensive to parse.

Shared by ``tests/test_hostile.py`` and ``benchmarks/bench_hostile.py``. Each ``make_*``
writes one file at ``path`` and returns ``path``; all are built in a second or two.

Example:
    >>> make_zip_bomb_docx(tmp_path / "bomb.docx", unzipped_mb=300)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from tests.fixtures import SIMPLIFIED, make_docx


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written by hand: object ``i`` (from 1) is ``objects[i - 1]``; object 1 is the
    catalog. The cross-reference table is exact, so pypdf reads it without repairs."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_many_pages_pdf(path: Path, pages: int = 3000) -> Path:
    """A real PDF of ``pages`` blank pages (~120 bytes a page)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(200, 200)
    buf = io.BytesIO()
    writer.write(buf)
    path.write_bytes(buf.getvalue())
    return path


def make_forged_count_pdf(path: Path, count: int = 100_000) -> Path:
    """A page tree that claims ``count`` pages but whose one kid does not exist: only a
    reader that walks the tree notices; one that trusts /Count refuses it at once."""
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [99 0 R] /Count %d >>" % count,
            ]
        )
    )
    return path


def make_nested_pdf(path: Path, depth: int = 50_000) -> Path:
    """One page whose dictionary holds an array nested ``depth`` levels deep (~100 KB)."""
    deep = b"[" * depth + b"]" * depth
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /X " + deep + b" >>",
            ]
        )
    )
    return path


def make_spinning_pdf(path: Path, pages: int = 500, ops: int = 30_000) -> Path:
    """``pages`` pages that all show one compressed content stream of ``ops`` text operators:
    ~80 KB on disk, about 1.5 s of pypdf text extraction per page (minutes in all)."""
    content = zlib.compress(b"BT /F1 12 Tf 10 10 Td (a) Tj ET\n" * ops, 9)
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 3 0 R"
        b" /Resources << /Font << /F1 4 0 R >> >> >>"
    )
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
                + content
                + b"\nendstream",
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            ]
            + [page] * pages
        )
    )
    return path


def make_zip_bomb_docx(path: Path, unzipped_mb: int = 300) -> Path:
    """A real .docx plus one member of ``unzipped_mb`` MB of zeros (~0.3 MB packed)."""
    base = make_docx(path.with_suffix(".base.docx"), ["A small memo."], [])
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            z.writestr(item, src.read(item.filename))
        block = bytes(1 << 20)
        with z.open("word/media/image1.bin", "w", force_zip64=True) as member:
            for _ in range(unzipped_mb):
                member.write(block)
    base.unlink()
    return path


def make_fat_docx(path: Path, paragraphs: int = 1_000_000) -> Path:
    """A .docx whose document.xml holds ``paragraphs`` short paragraphs: ~2.7 MB packed,
    69 MB of XML (25 times: not a zip bomb), several hundred MB once parsed."""
    base = make_docx(path.with_suffix(".base.docx"), ["x"], [])
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                head, sep, tail = data.decode("utf-8").partition("<w:body>")
                body = "".join(
                    f"<w:p><w:r><w:t>Paragraph {i} of the long report.</w:t></w:r></w:p>"
                    for i in range(paragraphs)
                )
                data = (head + sep + body + tail).encode("utf-8")
            z.writestr(item, data)
    base.unlink()
    return path


def make_nested_html(path: Path, depth: int = 20_000) -> Path:
    path.write_text(
        "<html><body>" + "<div>" * depth + "deep" + "</div>" * depth + "</body></html>",
        encoding="utf-8",
    )
    return path


def make_single_line(path: Path, mb: int = 100) -> Path:
    """``mb`` MB of text on one line, no sentence end, no space."""
    block = (b"abcdefghijklmnopqrstuvwxyz0123456789" * 30_000)[: 1 << 20]
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
    return path


def make_sparse(path: Path, mb: int) -> Path:
    """A file of ``mb`` MB that takes no disk space (all zeros, sparse)."""
    with path.open("wb") as fh:
        fh.truncate(mb << 20)
    return path


def make_dirty_utf8(path: Path) -> Path:
    """UTF-8 Chinese and English with stray NULs, terminal escapes, BEL, DEL, a C1 control,
    a lone continuation byte, an 0xFF and a cut-off sequence in the middle."""
    good = (SIMPLIFIED * 4).encode("utf-8")
    path.write_bytes(
        b"Dirty export. The boiler pressure must stay below 3 bar.\x00\x07\n"
        + good[:300]
        + b"\x1b[31mred\x1b[0m \x7f\xc2\x9b \x80 \xff \xe4\xb8\n"
        + good[300:]
        + b"\x00\nEnd of the dirty export.\n"
    )
    return path
