"""Read the text of page images offline: scanned PDF pages and photos (the OCR seam).

The only module that imports the OCR engine, RapidOCR 3.x (``rapidocr`` on ``onnxruntime``),
whose wheel carries the PP-OCR Chinese/English detection, recognition and angle models, so
nothing is downloaded at run time (chosen by ``benchmarks/bench_ocr.py``: see
docs/formats.md). PDF pages are rendered with ``pypdfium2``.

    load_image (an image file: one page)        ocr_pdf_pages (pages of a PDF with no text)
              \\                                   /  render with pypdfium2
               read_image -> engine lines -> layout (reading order, paragraphs)

``layout`` is a pure function of the engine's boxes; the engine is made once per process
(in the guarded loader process, see guard.py) on first use.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.cleaning import clean_text

__all__ = [
    "IMAGE_KINDS",
    "OcrLine",
    "OcrPage",
    "engine_status",
    "layout",
    "load_image",
    "needs_ocr",
    "ocr_pdf_blank_pages",
    "ocr_pdf_pages",
    "page_header",
    "read_image",
    "set_engine_builder",
]

logger = logging.getLogger(__name__)

#: Image file extension -> document kind ("image": one page, read by OCR).
IMAGE_KINDS: dict[str, str] = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".webp": "image",
}
#: Called with (pages read, pages to read).
PageProgress = Callable[[int, int], None]

# Render PDF pages at this resolution (a scan's own is usually 150-300 dpi), but never with a
# side over _MAX_SIDE pixels: the detector scales larger images down to that anyway (and its
# activations take about 1.2 GB of address space at that size).
_RENDER_DPI = 200
_MAX_SIDE = 2000
# A PDF page with fewer non-blank characters than this in its text layer is read by OCR.
_MIN_PAGE_CHARS = 8
# Images with more pixels than this are refused before decoding (a decompression bomb).
_MAX_PIXELS = 60_000_000
_INSTALL = "`pip install rapidocr onnxruntime`"

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


@dataclass(frozen=True)
class OcrLine:
    """One line the engine read: its box (left, top, right, bottom in pixels), text, score."""

    left: float
    top: float
    right: float
    bottom: float
    text: str
    score: float

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1.0)


@dataclass(frozen=True)
class OcrPage:
    """One page read by OCR: its text in reading order and the engine's mean confidence
    (weighted by characters; 0 for a page with no text)."""

    text: str
    confidence: float


def page_header(page: int, confidence: float) -> str:
    """The line that starts an OCR page's text, so every source shows where it came from.

    Example:
        >>> page_header(2, 0.9712)
        '〔OCR, p. 2, confidence 0.97〕'
    """
    return f"〔OCR, p. {page}, confidence {confidence:.2f}〕"


# --- reading order (pure) --------------------------------------------------------------------


def layout(lines: Sequence[OcrLine]) -> str:
    """Put OCR lines in reading order and join them into paragraphs.

    Lines whose vertical middles overlap form one row, read left to right (cells of a table,
    two labels on a form). Rows follow top to bottom; a row joins the paragraph above it when
    the gap between them is under 0.8 of a line's height and it starts near the same left
    edge, else it starts a new paragraph. Chinese text joins without a space; other text
    with one.

    Example:
        >>> L = OcrLine
        >>> layout([L(10, 50, 200, 70, "第二行", 0.9), L(10, 20, 300, 40, "第一行", 0.9),
        ...         L(10, 140, 200, 160, "New paragraph", 0.9)])
        '第一行第二行\\n\\nNew paragraph'
    """
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.top + ln.bottom) / 2):
        if not line.text.strip():
            continue
        if rows:
            last = rows[-1]
            mid = (line.top + line.bottom) / 2
            top = min(ln.top for ln in last)
            bottom = max(ln.bottom for ln in last)
            # Same row when this line's middle falls inside the row's middle half.
            margin = (bottom - top) / 4
            if top + margin <= mid <= bottom - margin:
                last.append(line)
                continue
        rows.append([line])
    paragraphs: list[str] = []
    prev: tuple[float, float, float] | None = None  # bottom, left, height of the row above
    for row in rows:
        row.sort(key=lambda ln: ln.left)
        text = "  ".join(ln.text.strip() for ln in row) if len(row) > 1 else row[0].text.strip()
        top = min(ln.top for ln in row)
        left = row[0].left
        height = sum(ln.height for ln in row) / len(row)
        joins = (
            prev is not None
            and len(row) == 1
            and top - prev[0] < 0.8 * max(height, prev[2])
            and abs(left - prev[1]) < 2.5 * max(height, prev[2])
        )
        if joins and paragraphs:
            paragraphs[-1] = _join(paragraphs[-1], text)
        else:
            paragraphs.append(text)
        prev = (max(ln.bottom for ln in row), left, height)
    return "\n\n".join(paragraphs)


def _join(a: str, b: str) -> str:
    if a and b and _CJK.match(a[-1]) and _CJK.match(b[0]):
        return a + b
    if a.endswith("-") and b[:1].islower():  # a word hyphenated at the line end
        return a[:-1] + b
    return f"{a} {b}"


def _mean_confidence(lines: Sequence[OcrLine]) -> float:
    weight = sum(len(ln.text) for ln in lines)
    if not weight:
        return 0.0
    return sum(ln.score * len(ln.text) for ln in lines) / weight


# --- the engine ------------------------------------------------------------------------------

_engine_lock = threading.Lock()


def _build_here(build: Callable[[], Any]) -> Any:
    return build()


_builder: Callable[[Callable[[], Any]], Any] = _build_here


def set_engine_builder(builder: Callable[[Callable[[], Any]], Any]) -> None:
    """Have ``builder(build)`` call ``build()`` when the engine is first made: the guarded
    loader process makes it outside a file's memory limit (see guard.py)."""
    global _builder
    _builder = builder


@functools.cache
def _engine() -> Any:
    """The RapidOCR engine, made once per process (about 1 s: three ONNX sessions)."""

    def build() -> Any:
        from rapidocr import RapidOCR

        # Logging at error level: RapidOCR logs every call at info level by default.
        return RapidOCR(params={"Global.log_level": "error"})

    return _builder(build)


def engine_status() -> tuple[bool, str]:
    """Whether OCR can run here and the engine's name and version, or how to install it.

    Does not load the models (doctor calls it).
    """
    try:
        ocr = metadata.version("rapidocr")
        ort = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError as exc:
        return False, f"not installed ({exc.name} is missing): {_INSTALL}"
    return True, f"RapidOCR {ocr} (PP-OCR models in the wheel) on onnxruntime {ort}"


def read_image(image: Any) -> OcrPage:
    """OCR one page image (a ``PIL.Image``): text in reading order and mean confidence."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    with _engine_lock:  # one ONNX run at a time: each already uses every core
        out = _engine()(rgb)
    boxes = getattr(out, "boxes", None)
    if boxes is None or not len(boxes):
        return OcrPage("", 0.0)
    lines = [
        OcrLine(
            float(min(p[0] for p in box)),
            float(min(p[1] for p in box)),
            float(max(p[0] for p in box)),
            float(max(p[1] for p in box)),
            str(text),
            float(score),
        )
        for box, text, score in zip(boxes, out.txts, out.scores, strict=True)
    ]
    return OcrPage(layout(lines), _mean_confidence(lines))


def _require_engine(name: str) -> None:
    ok, status = engine_status()
    if not ok:
        raise LoadError(
            name,
            f"this file needs OCR, and the OCR engine is {status}, then ingest again "
            "(or set ingest.ocr: off to skip such files)",
            "ocr_missing",
        )


# --- images ----------------------------------------------------------------------------------


def load_image(
    data: bytes,
    name: str,
    max_chars: int,
    progress: PageProgress | None = None,
    max_pages: int = 50,
) -> LoadedDocument:
    """An image file as a document read by OCR: one page, or one per frame of a multi-page
    TIFF (a fax or a scanner's batch), at most ``max_pages``."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    _require_engine(name)
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > _MAX_PIXELS:
            raise LoadError(
                name,
                f"the image is {image.width}x{image.height} pixels, over the "
                f"{_MAX_PIXELS // 1_000_000} million this reader takes: scale it down "
                "(300 dpi is plenty for text) and ingest it again",
                "image_too_large",
                {"width": image.width, "height": image.height},
            )
        n = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
        if n > max_pages:
            raise LoadError(
                name,
                f"the TIFF has {n} pages, more than ingest.ocr_max_pages ({max_pages}): "
                "raise ingest.ocr_max_pages, or split the file",
                "ocr_too_many_pages",
                {"n": n, "limit": max_pages},
            )
        frames = [_upright(f) for f in ImageSequence.Iterator(image)][:n]
    except LoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LoadError(
            name,
            f"not a readable image ({type(exc).__name__}: {exc}): open it in an image viewer "
            "and save it again as PNG or JPEG",
            "image_invalid",
            {"error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    texts: list[str] = []
    confidences: dict[int, float] = {}
    for i, frame in enumerate(frames):
        if progress is not None:
            progress(i, len(frames))
        page = read_image(_fit(frame))
        text = clean_text(page.text, join_cjk=False)
        if text.strip():
            text = f"{page_header(i + 1, page.confidence)}\n{text}"
            confidences[i + 1] = round(page.confidence, 4)
        texts.append(text)
    if progress is not None:
        progress(len(frames), len(frames))
    if not confidences:
        raise LoadError(
            name,
            "no text was found in this image (OCR read nothing): if it holds text, scan or "
            "photograph it again, sharper and straight",
            "ocr_no_text",
        )
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2
    body = "\n\n".join(texts)
    if len(body) > max_chars:
        raise LoadError(
            name,
            f"the text has more than {max_chars:,} characters ({len(body):,}): split the "
            "file, or raise ingest.max_chars",
            "text_too_long",
            {"limit": max_chars, "n": len(body)},
        )
    return LoadedDocument(body, "image", page_starts=starts, ocr_pages=confidences)


def _upright(frame: Any) -> Any:
    """A frame as a person sees it: turned as its EXIF orientation says (phone photos), and
    transparency laid on white (a transparent PNG's black text would vanish on black)."""
    from PIL import Image, ImageOps

    frame = ImageOps.exif_transpose(frame)
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(white, rgba)
    return frame.convert("RGB") if frame.mode not in ("L", "RGB") else frame


def _fit(image: Any) -> Any:
    """A photo larger than the detector reads is scaled down first (saves memory and time)."""
    longest = max(image.width, image.height)
    if longest <= _MAX_SIDE:
        return image
    scale = _MAX_SIDE / longest
    return image.resize((round(image.width * scale), round(image.height * scale)))


# --- PDF pages -------------------------------------------------------------------------------


def ocr_pdf_pages(
    data: bytes,
    pages: Sequence[int],
    name: str,
    *,
    max_pages: int,
    progress: PageProgress | None = None,
) -> dict[int, OcrPage]:
    """Render the PDF's ``pages`` (0-based) and read them by OCR.

    Raises:
        LoadError: more than ``max_pages`` pages need OCR (``ingest.ocr_max_pages``), the
            engine is missing, or the PDF cannot be rendered.
    """
    if len(pages) > max_pages:
        raise LoadError(
            name,
            f"{len(pages)} pages have no text layer and need OCR, more than "
            f"ingest.ocr_max_pages ({max_pages}): raise ingest.ocr_max_pages (OCR takes "
            "2-6 s a page; raise ingest.file_timeout_s to match), or split the PDF",
            "ocr_too_many_pages",
            {"n": len(pages), "limit": max_pages},
        )
    _require_engine(name)
    import pypdfium2 as pdfium

    out: dict[int, OcrPage] = {}
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise LoadError(
            name,
            f"cannot render this PDF for OCR ({exc}): open it in a viewer and print it to "
            "a new PDF",
            "ocr_render_failed",
            {"error": str(exc)},
        ) from exc
    try:
        for done, index in enumerate(pages):
            if progress is not None:
                progress(done, len(pages))
            page = pdf[index]
            try:
                width, height = page.get_size()  # points
                scale = min(_RENDER_DPI / 72, _MAX_SIDE / max(width, height, 1))
                image = page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()
            out[index] = read_image(image)
            logger.debug(
                "%s: OCR of page %d: %d characters, confidence %.2f",
                name, index + 1, len(out[index].text), out[index].confidence,
            )  # fmt: skip
        if progress is not None:
            progress(len(pages), len(pages))
    finally:
        pdf.close()
    return out


def needs_ocr(page_text: str) -> bool:
    """A PDF page with (almost) no text layer: a scan, perhaps with a page number or a stray
    mark in text.

    Example:
        >>> needs_ocr(""), needs_ocr(" 3 "), needs_ocr("第一章 总则")
        (True, True, False)
    """
    return len("".join(page_text.split())) < _MIN_PAGE_CHARS


def ocr_pdf_blank_pages(
    data: bytes,
    pages: list[str],
    name: str,
    *,
    max_pages: int,
    progress: PageProgress | None = None,
) -> dict[int, float]:
    """Read the pages of a PDF without a text layer by OCR, replacing their text in
    ``pages`` (each with its ``page_header``); their 1-based numbers and mean confidences.
    With the engine missing and other pages with text, none (logged)."""
    blank = [i for i, p in enumerate(pages) if needs_ocr(p)]
    if not blank:
        return {}
    try:
        read = ocr_pdf_pages(data, blank, name, max_pages=max_pages, progress=progress)
    except LoadError as exc:
        if exc.code == "ocr_missing" and len(blank) < len(pages):
            logger.warning("%s: %d pages without text were skipped: %s", name, len(blank), exc)
            return {}
        raise
    confidences: dict[int, float] = {}
    for i, page in read.items():
        text = clean_text(page.text, join_cjk=False)
        if text.strip():
            pages[i] = f"{page_header(i + 1, page.confidence)}\n{text}"
            confidences[i + 1] = round(page.confidence, 4)
    return confidences
