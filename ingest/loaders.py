"""Turn one file into clean text: PDF, plain text, Markdown, Word (.docx), HTML, and through
their own modules scans and photos (ocr.py), spreadsheets and CSV (sheets.py) and slide decks
(slides.py).

``load_document`` is the only entry point. Every failure, whatever library raised it, comes
out as ``ragmix.core.errors.LoadError`` naming the file and saying what to do, so a batch ingest
can report the file and go on.

One room, though long: it is the one entry point for every file type and the place each
library's failures become a ``LoadError``; the larger formats have modules of their own.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.cleaning import clean_text
from ragmix.ingest.ocr import IMAGE_KINDS, PageProgress, ocr_pdf_blank_pages

__all__ = ["SUPPORTED", "decode_text", "load_document"]

#: File extension (lower case) -> document kind.
SUPPORTED: dict[str, str] = {
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
#: Kinds whose text is produced by OCR alone (no text layer to fall back on).
_OCR_ONLY = frozenset({"image"})

# Longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Tried in this order; on a tie the earlier wins (GBK files are far more common than Big5).
_CJK_CODECS = ("gb18030", "big5", "cp950", "big5hkscs")
# Share of non-ASCII characters that must look like real Chinese for a CJK codec to win.
_MIN_CJK_SCORE = 0.7
_NON_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
_SCORE_SAMPLE = 20_000
# Above this share of U+FFFD (or control characters) the bytes are not text.
_MAX_BAD_SHARE = 0.005
_MB = 1024 * 1024
_MAX_BYTES_PER_CHAR = 4  # UTF-8 and UTF-32 at most; GB18030 and UTF-16 too
# A .docx is a zip of XML: real ones unzip to 3-30 times their size (images do not shrink
# at all); a zip bomb's zeros or repeated XML shrink 1000 times. A part over _ZIP_SMALL may
# unzip to at most _ZIP_MAX_RATIO times its packed size, and so may the whole file. What
# passes is still parsed under the load guard's memory limit.
_ZIP_MAX_RATIO = 100
_ZIP_SMALL = 1 * _MB


@dataclass(frozen=True)
class _Options:
    """What every reader is given besides the bytes and the name."""

    max_pages: int
    max_chars: int
    ocr: bool = True
    ocr_max_pages: int = 50
    progress: PageProgress | None = None


def load_document(
    path: Path,
    *,
    max_bytes: int,
    max_pages: int,
    max_chars: int,
    display: str | None = None,
    ocr: bool = True,
    ocr_max_pages: int = 50,
    progress: PageProgress | None = None,
) -> LoadedDocument:
    """Read one file and return its cleaned text.

    Args:
        path: the file; its extension picks the loader (see ``SUPPORTED``).
        max_bytes: files larger than this are refused.
        max_pages: PDFs with more pages are refused.
        max_chars: documents whose cleaned text is longer are refused.
        display: the name used in error messages; defaults to ``str(path)``.
        ocr: read images, and PDF pages without a text layer, by OCR (``ingest.ocr``).
        ocr_max_pages: PDFs with more pages that need OCR are refused.
        progress: called with (pages read, pages to read) while pages are read by OCR.

    Returns:
        The document: cleaned ``text``, ``kind``, ``page_starts`` for PDFs (pages joined with
        ``"\\n\\n"``; a sheet or a slide is a page), ``encoding`` for text formats.

    Raises:
        LoadError: the file is empty, too big, of an unknown type, encrypted, scanned,
            corrupt, or not text; the message names the file and the fix.

    Example:
        >>> doc = load_document(Path("report.pdf"), max_bytes=200 * 2**20, max_pages=5000,
        ...                     max_chars=20_000_000)  # doctest: +SKIP
        >>> doc.text[doc.page_starts[1]:]  # page 2 onwards  # doctest: +SKIP
    """
    name = display if display is not None else str(path)
    ext = path.suffix.lower()
    kind = SUPPORTED.get(ext)
    if kind is None:
        raise LoadError(name, _unsupported_reason(ext), *_unsupported_code(ext))
    if kind in _OCR_ONLY and not ocr:
        raise LoadError(
            name,
            "images are read by OCR, which is off (ingest.ocr: off): set ingest.ocr: auto "
            "to read it",
            "ocr_off",
        )
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(
                name, "not a regular file (a folder or device?): pass a file", "not_a_file"
            )
        size = st.st_size
        if size > max_bytes:
            raise LoadError(
                name,
                f"the file is {_size(size)}, over the limit of "
                f"{_size(max_bytes)}: split it, or raise ingest.max_file_mb",
                "file_too_large",
                {"size": _size(size), "limit": _size(max_bytes)},
            )
        # No encoding takes more than 4 bytes a character: a text file with more bytes than
        # that cannot fit max_chars, and is refused before it is read, let alone decoded.
        if kind in ("txt", "md") and size > _MAX_BYTES_PER_CHAR * max_chars:
            raise LoadError(
                name,
                f"the text has more than {max_chars:,} characters "
                f"({_size(size)} of text is at least "
                f"{size // _MAX_BYTES_PER_CHAR:,}); refused before reading: "
                "split the file, or raise ingest.max_chars",
                "text_too_long",
                {"limit": max_chars, "n": size // _MAX_BYTES_PER_CHAR},
            )
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(
            name,
            f"cannot read the file ({exc.strerror or exc}): check the path and its permissions",
            "cannot_read",
            {"error": str(exc.strerror or exc)},
        ) from exc
    if not data:
        raise LoadError(
            name,
            "the file is empty (0 bytes): re-save or re-download it, or remove it from the folder",
            "empty_file",
        )
    from ragmix.ingest import ocr as ocr_reader
    from ragmix.ingest import sheets, slides

    readers: dict[str, Callable[[bytes, str, _Options], LoadedDocument]] = {
        "pdf": _load_pdf,
        "txt": _load_text,
        "md": _load_text,
        "docx": _load_docx,
        "html": _load_html,
        "xlsx": lambda d, n, o: sheets.load_workbook(
            d, n, o.max_chars, lambda d, n: check_office(d, n, "xlsx")
        ),
        "csv": lambda d, n, o: sheets.load_csv(d, n, o.max_chars, decode_text),
        "pptx": lambda d, n, o: slides.load_deck(
            d, n, o.max_chars, lambda d, n: check_office(d, n, "pptx")
        ),
        "image": lambda d, n, o: ocr_reader.load_image(
            d, n, o.max_chars, o.progress, o.ocr_max_pages
        ),
    }
    opts = _Options(max_pages, max_chars, ocr, ocr_max_pages, progress)
    try:
        doc = readers[kind](data, name, opts)
    except LoadError:
        raise
    except Exception as exc:  # a library's own error must never reach the user raw
        _reraise_memory_error(exc)
        if _caused_by(exc, RecursionError):
            raise LoadError(
                name,
                f"this {kind} file is nested too deeply to read (a damaged "
                "or hostile file?): re-save it from the program that made it, "
                "or convert it to PDF or plain text",
                "nested_too_deep",
                {"kind": kind},
            ) from exc
        raise LoadError(
            name,
            f"cannot read this {kind} file ({type(exc).__name__}: {exc}): "
            f"check that it opens in a viewer and re-save it",
            "unreadable",
            {"kind": kind, "error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    if kind == "md":
        doc = LoadedDocument(doc.text, "md", encoding=doc.encoding)
    if kind == "csv":
        doc = replace(doc, kind=ext[1:])
    if kind != "pdf" and not doc.text.strip():
        raise LoadError(
            name, "the file contains no text: nothing to index; remove it or fill it", "no_text"
        )
    if len(doc.text) > max_chars:
        raise LoadError(name, *_too_long(len(doc.text), max_chars))
    return doc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """``exc``, or one it was raised from or while handling (libraries wrap), is a ``kind``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def _reraise_memory_error(exc: BaseException) -> None:
    """Let a MemoryError through even when a library wrapped it (pypdf turns it into
    PdfReadError): the load guard reports it as "over ingest.file_memory_mb"."""
    if _caused_by(exc, MemoryError):
        raise MemoryError from exc


def _size(n: int) -> str:
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def _unsupported_reason(ext: str) -> str:
    known = ", ".join(SUPPORTED)
    if ext == ".doc":
        return (
            f"old Word .doc files are not supported (supported: {known}): save it as "
            ".docx in Word or LibreOffice (`soffice --convert-to docx FILE`)"
        )
    shown = f"'{ext}'" if ext else "a file without an extension"
    if ext in (".xls", ".ppt"):
        new = ext + "x"
        return (
            f"old Office {ext} files are not supported (supported: {known}): save it as "
            f"{new} in Office or LibreOffice (`soffice --convert-to {new[1:]} FILE`)"
        )
    return (
        f"unsupported file type {shown} (supported: {known}): convert it to PDF or "
        "plain text, or rename it if the extension is wrong"
    )


def _unsupported_code(ext: str) -> tuple[str, dict[str, Any]]:
    if ext == ".doc":
        return "old_doc", {"supported": ", ".join(SUPPORTED)}
    return "unsupported_type", {"ext": ext, "supported": ", ".join(SUPPORTED)}


def _too_long(n: int, limit: int) -> tuple[str, str, dict[str, Any]]:
    """The reason, code and params of a text over ``ingest.max_chars``."""
    return (
        f"the text has more than {limit:,} characters ({n:,} so far): split the file, "
        "or raise ingest.max_chars",
        "text_too_long",
        {"limit": limit, "n": n},
    )


# --- PDF ------------------------------------------------------------------------------------


def _load_pdf(data: bytes, name: str, opts: _Options) -> LoadedDocument:
    max_pages, max_chars = opts.max_pages, opts.max_chars
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs carry only an owner password (copy/print restrictions) and open with
            # an empty user password; only a real user password stops us.
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise LoadError(
                    name,
                    f"encrypted with AES and {exc}: run "
                    "`pip install cryptography`, then ingest again",
                    "pdf_needs_cryptography",
                ) from exc
            if not opened:
                raise LoadError(
                    name,
                    "encrypted: remove the password (e.g. `qpdf "
                    "--decrypt --password=PASSWORD in.pdf out.pdf`, or print to "
                    "PDF from a viewer), then ingest the result",
                    "pdf_encrypted",
                )
        # The page tree's own count first: refusing a 100,000-page file must not cost a
        # walk over every page object.
        n_pages = _declared_pages(reader)
        if n_pages is None or n_pages <= max_pages:
            n_pages = len(reader.pages)
        if n_pages > max_pages:
            raise LoadError(
                name,
                f"the PDF has {n_pages} pages, more than the limit of "
                f"{max_pages}: split it (`qpdf --split-pages=500 in.pdf "
                "out.pdf`) or raise ingest.max_pages",
                "pdf_too_many_pages",
                {"n": n_pages, "limit": max_pages},
            )
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            # Cleaned per page so page_starts stay exact after cleaning.
            text = clean_text(page.extract_text() or "")
            pages.append(text)
            total += len(text) + 2
            if total - 2 > max_chars:
                raise LoadError(name, *_too_long(total - 2, max_chars))
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError(
            name, "encrypted: remove the password, then ingest the result", "pdf_encrypted"
        ) from None
    except Exception as exc:  # pypdf raises many types on damaged files; all mean "corrupt"
        from pypdf.errors import LimitReachedError

        _reraise_memory_error(exc)
        cut_off = b"%%EOF" not in data[-4096:]
        code = "pdf_truncated" if cut_off else "pdf_corrupt"
        if cut_off:
            detail = "no %%EOF end marker: the file is cut off"
        elif _caused_by(exc, RecursionError):
            detail = "objects nested too deeply to read"
        elif _caused_by(exc, LimitReachedError):
            detail = f"over a safety limit of the PDF reader: {exc}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        raise LoadError(name, _corrupt_pdf(detail), code, {"detail": detail}) from exc
    if n_pages == 0:
        raise LoadError(name, _corrupt_pdf("it has no pages"), "pdf_no_pages")
    ocr_pages = (
        ocr_pdf_blank_pages(
            data, pages, name, max_pages=opts.ocr_max_pages, progress=opts.progress
        )
        if opts.ocr
        else {}
    )
    if not any(p.strip() for p in pages):
        how = (
            "set ingest.ocr: auto to read it by OCR, or run OCR yourself"
            if not opts.ocr
            else "OCR found no text in it either; run OCR yourself"
        )
        raise LoadError(
            name,
            f"no text layer (scanned PDF?): {how}, e.g. `ocrmypdf "
            "-l chi_sim+eng in.pdf out.pdf`, then ingest the result",
            "pdf_scanned",
        )
    starts: list[int] = []
    offset = 0
    for text in pages:
        starts.append(offset)
        offset += len(text) + 2
    text = "\n\n".join(pages)
    if len(text) > max_chars:
        raise LoadError(name, *_too_long(len(text), max_chars))
    return LoadedDocument(text, "pdf", page_starts=starts, ocr_pages=ocr_pages or None)


def _declared_pages(reader: object) -> int | None:
    """The /Count of the root page-tree node, or None when it is missing or not a number."""
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]  # type: ignore[attr-defined]
        return int(count)
    except Exception:  # a damaged tree: len(reader.pages) will say what is wrong
        return None


def _corrupt_pdf(detail: str) -> str:
    return (
        f"truncated or corrupt PDF ({detail}): download or export it again; "
        "`qpdf in.pdf repaired.pdf` can sometimes repair it"
    )


# --- plain text and Markdown ------------------------------------------------------------------


def _load_text(data: bytes, name: str, opts: _Options) -> LoadedDocument:
    text, encoding = decode_text(data, name)
    return LoadedDocument(clean_text(text), "txt", encoding=encoding)


def decode_text(data: bytes, name: str = "<bytes>") -> tuple[str, str]:
    """Decode the bytes of a text file, detecting the encoding.

    Order: a BOM (UTF-8, UTF-16, UTF-32); more than a few NUL bytes mean "not text" (a few
    are dropped); strict UTF-8; GB18030 (a superset of GBK and GB2312) or Big5, whichever
    decodes strictly and reads as common Chinese characters; UTF-8 with a handful of bad
    bytes replaced; Windows-1252 if it reads as Western text; charset-normalizer's best guess.

    Args:
        data: the file's bytes.
        name: the file, for the error message.

    Returns:
        ``(text, codec name)``, e.g. ``("苏州…", "gb18030")``.

    Raises:
        LoadError: the bytes are not text in any encoding we can tell (NUL bytes, or too
            many undecodable bytes).
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec.removesuffix("-sig")), codec
            except UnicodeDecodeError:
                raise LoadError(
                    name,
                    _not_text(
                        f"it starts with a {codec} byte-order mark but does not decode as that"
                    ),
                    "not_text_bom",
                    {"codec": codec},
                ) from None
    # Before UTF-8: NULs are valid UTF-8, and binary files are often mostly ASCII and NULs.
    # A few stray NULs in text (a bad export) are dropped; no GBK, Big5 or UTF-8 character
    # contains a NUL byte, so that cannot cut one.
    if b"\x00" in data:
        if data.count(b"\x00") > _MAX_BAD_SHARE * len(data):
            raise LoadError(
                name,
                _not_text(
                    "it contains NUL bytes; if it is UTF-16 text "
                    "without a byte-order mark, re-save it as UTF-8"
                ),
                "not_text_nul",
            )
        data = data.replace(b"\x00", b"")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best: tuple[float, str, str] | None = None
    for codec in _CJK_CODECS:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _chinese_score(_NON_ASCII_RUNS.sub("", text))
        if best is None or score > best[0]:
            best = (score, text, codec)
    if best is not None and best[0] >= _MIN_CJK_SCORE:
        return best[1], best[2]
    lenient = data.decode("utf-8", errors="replace")
    if lenient.count("\ufffd") <= max(1, _MAX_BAD_SHARE * len(lenient)):
        return lenient, "utf-8"
    western = _western(data)
    if western is not None:
        return western, "cp1252"
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is not None:
        guess = str(match)
        bad = sum(1 for ch in guess if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f"))
        if bad <= _MAX_BAD_SHARE * len(guess):
            return guess, match.encoding
    raise LoadError(
        name,
        _not_text("no text encoding fits it (UTF-8, GB18030/GBK, Big5 and others were tried)"),
        "not_text_encoding",
    )


def _western(data: bytes) -> str | None:
    """Windows-1252 text (English/Western European files saved on Windows), or None.

    Tried before charset-normalizer because it picks cp1250 for short French text.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    high = [ch for ch in text if ord(ch) >= 0x80]
    latin = sum(1 for ch in high if ch.isalpha() or ch in "“”‘’–—…€£©®°·«»§¶")
    return text if latin >= 0.9 * len(high) else None


def _not_text(detail: str) -> str:
    return (
        f"not a text file ({detail}): if it is text, re-save it as UTF-8; otherwise "
        "remove it or give it its real extension"
    )


@functools.cache
def _common_han() -> frozenset[str]:
    """The everyday Chinese characters: GB2312 level 1 plus Big5 level 1 (6,722 in all)."""
    common: set[str] = set()
    for cp in range(0x4E00, 0xA000):
        ch = chr(cp)
        try:
            if 0xB0 <= ch.encode("gb2312")[0] <= 0xD7:
                common.add(ch)
        except UnicodeEncodeError:
            pass
        try:
            if 0xA440 <= int.from_bytes(ch.encode("big5"), "big") <= 0xC67E:
                common.add(ch)
        except UnicodeEncodeError:
            pass
    return frozenset(common)


def _chinese_score(text: str) -> float:
    """How much ``text`` (the non-ASCII characters of a file) reads as ordinary Chinese, 0-1.

    Text decoded with the wrong one of GBK/Big5 still decodes, but lands on rare characters,
    kana, Cyrillic, box drawing and private-use code points; the right decoding is almost all
    everyday characters and CJK punctuation. Measured on short texts where charset-normalizer
    confuses the two (see tests/test_loaders.py).
    """
    if len(text) > _SCORE_SAMPLE:  # a strided sample: a wrong codec is wrong everywhere
        text = text[:: len(text) // _SCORE_SAMPLE]
    common = _common_han()
    total = 0.0
    good = 0.0
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            continue
        total += 1
        if (
            ch in common
            or 0x3000 <= cp <= 0x303F
            or 0xFF01 <= cp <= 0xFF5E
            or (0x2010 <= cp <= 0x2027)
        ):
            good += 1
        elif 0x3400 <= cp <= 0x9FFF or 0x2460 <= cp <= 0x24FF or 0x20000 <= cp <= 0x3134F:
            good += 0.5  # a real but rarer character, or circled numbers
    return good / total if total else 1.0


# --- Word -----------------------------------------------------------------------------------


def _load_docx(data: bytes, name: str, opts: _Options) -> LoadedDocument:
    max_chars = opts.max_chars
    import docx
    from docx.table import Table

    check_office(data, name, "docx")
    blocks: list[str] = []
    try:
        document = docx.Document(io.BytesIO(data))
        total = 0
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.append(_docx_table(item))
            else:
                blocks.append(item.text)
            total += len(blocks[-1]) + 1
            if total > max_chars:  # stop reading here, not after a million more paragraphs
                raise LoadError(name, *_too_long(total, max_chars))
    except LoadError:
        raise
    except Exception as exc:  # zip, zlib, XML and KeyError failures all mean "damaged"
        _reraise_memory_error(exc)
        raise LoadError(
            name,
            f"not a valid .docx ({type(exc).__name__}: {exc}): open it in "
            "Word or LibreOffice and save it again as .docx",
            "docx_invalid",
            {"error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    # Paragraph breaks in a .docx are real: no joining of Chinese lines.
    return LoadedDocument(clean_text("\n".join(blocks), join_cjk=False), "docx")


#: Office format -> (the program that writes it, its old binary format, what a file is).
_OFFICE = {
    "docx": ("Word", ".doc", "document"),
    "xlsx": ("Excel", ".xls", "workbook"),
    "pptx": ("PowerPoint", ".ppt", "deck"),
}


def check_office(data: bytes, name: str, fmt: str) -> None:
    """Refuse what cannot be an Office Open XML file of format ``fmt`` ('docx', 'xlsx' or
    'pptx') before it is parsed: an old binary file (.doc, .xls, .ppt) or a password-protected
    one (both are OLE compound files), then a zip bomb (``_check_zip``).

    Example:
        >>> try:
        ...     check_office(bytes.fromhex("d0cf11e0"), "budget.xlsx", "xlsx")
        ... except LoadError as exc:
        ...     print(exc.code, exc.reason[:47])
        xlsx_old_or_locked not a valid .xlsx: it is an old Excel .xls file
    """
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        app, old, thing = _OFFICE[fmt]
        raise LoadError(
            name,
            f"not a valid .{fmt}: it is an old {app} {old} file or a password-protected "
            f"{thing}; open it in {app} or LibreOffice, remove any password and save it as "
            f".{fmt}",
            f"{fmt}_old_or_locked",
        )
    _check_zip(data, name)


def _check_zip(data: bytes, name: str) -> None:
    """Refuse a zip bomb from the sizes its directory declares, before anything is unzipped.

    zipfile never returns more bytes than a member declares (a member that inflates to more
    fails its CRC check), so the declared sizes bound what parsing can unzip.
    """
    label = Path(name).suffix.lower() or ".docx"  # the same message for .xlsx and .pptx
    app = "Word" if label == ".docx" else "Office"
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise LoadError(
            name,
            f"not a valid {label} (BadZipFile: {exc}; a {label} is a zip "
            f"archive): open it in {app} or LibreOffice and save it again as "
            f"{label}",
            "docx_invalid" if label == ".docx" else "office_invalid",
            {"error": f"BadZipFile: {exc}", "label": label},
        ) from exc
    if not members:
        return
    total = sum(m.file_size for m in members)
    largest = max(members, key=lambda m: m.file_size)
    bomb = total > _ZIP_MAX_RATIO * max(len(data), _ZIP_SMALL) or any(
        m.file_size > max(_ZIP_MAX_RATIO * m.compress_size, _ZIP_SMALL) for m in members
    )
    if bomb:
        ratio = largest.file_size / max(largest.compress_size, 1)
        raise LoadError(
            name,
            f"the {label} would unzip from {_size(len(data))} to "
            f"{_size(total)} ({largest.filename!r} alone {_size(largest.file_size)}, "
            f"{ratio:,.0f} times its packed size): a zip bomb, or a damaged file; "
            f"if it is a real document, open it in {app} or LibreOffice and save it "
            "again",
            "zip_bomb",
            {"packed": _size(len(data)), "unpacked": _size(total), "label": label},
        )


def _docx_table(table: object) -> str:
    rows: list[str] = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A horizontally merged cell is returned once per grid column it spans.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split("\n")).strip())
        rows.append(" | ".join(cells))
    return "\n".join(rows)


# --- HTML -----------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
# WHATWG: these labels mean a superset in practice.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "big5": "big5hkscs",
}
_DROP_TAGS = ("script", "style", "noscript", "template", "head")
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    }
)
_WS = re.compile(r"\s+")
_CJK_CHAR = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Control characters were removed from the markup, so these mark <pre> spaces and newlines.
_PRE_SPACE, _PRE_NEWLINE = "\x00", "\x01"


def _load_html(data: bytes, name: str, opts: _Options) -> LoadedDocument:
    from bs4 import BeautifulSoup

    text, encoding = _decode_html(data, name)
    soup = BeautifulSoup(text.replace("\x00", "").replace("\x01", ""), "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    parts: list[str] = []
    _html_walk(soup, parts, pre=False)
    joined = re.sub(r"\s*\n\s*", "\n", "".join(parts))
    joined = joined.replace(_PRE_SPACE, " ").replace(_PRE_NEWLINE, "\n")
    return LoadedDocument(clean_text(joined, join_cjk=False), "html", encoding=encoding)


def _decode_html(data: bytes, name: str) -> tuple[str, str]:
    if not any(data.startswith(bom) for bom, _ in _BOMS):
        m = _META_CHARSET.search(data[:4096])
        if m:
            label = m.group(1).decode("ascii").lower()
            codec = _CHARSET_ALIASES.get(label, label)
            try:
                return data.decode(codec), codec
            except (LookupError, UnicodeDecodeError):
                pass  # a wrong or unknown declaration: detect instead, like browsers do
    return decode_text(data, name)


def _html_walk(node: object, out: list[str], *, pre: bool) -> None:
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    for child in node.children:  # type: ignore[attr-defined]
        if isinstance(child, PreformattedString):  # comments, doctype, CDATA, <?...?>
            continue
        if isinstance(child, NavigableString):
            if pre:
                out.append(str(child).replace(" ", _PRE_SPACE).replace("\n", _PRE_NEWLINE))
            else:
                out.append(_html_space(str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        if child.name == "br":
            out.append("\n")
        elif child.name == "tr":
            cells = []
            for cell in child.find_all(["td", "th"], recursive=False):
                buf: list[str] = []
                _html_walk(cell, buf, pre=pre)
                cells.append(" ".join("".join(buf).split()))
            out.append("\n" + " | ".join(cells) + "\n")
        elif child.name in _BLOCK_TAGS:
            out.append("\n")
            _html_walk(child, out, pre=pre or child.name == "pre")
            out.append("\n")
        else:
            _html_walk(child, out, pre=pre)


def _html_space(s: str) -> str:
    """Collapse HTML whitespace; a line break between two Chinese characters is dropped."""

    def repl(m: re.Match[str]) -> str:
        s_, a, b = m.string, m.start(), m.end()
        if (
            "\n" in m.group()
            and a > 0
            and b < len(s_)
            and _CJK_CHAR.match(s_, a - 1)
            and _CJK_CHAR.match(s_, b)
        ):
            return ""
        return " "

    return _WS.sub(repl, s)
