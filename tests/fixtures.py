"""Builders of sample input files, shared by the test modules.

Each ``make_*`` writes one real file at ``path`` and returns ``path``. No apt packages are
needed: Chinese PDFs use reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1, not
embedded), which pypdf maps back to Unicode exactly.

Example:
    >>> from tests.fixtures import SIMPLIFIED, make_gbk_txt
    >>> make_gbk_txt(tmp_path / "a.txt")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path
from typing import Any

#: About 300 characters of ordinary simplified Chinese (all in GBK; 镕 is GBK-only, not GB2312).
SIMPLIFIED = (
    "苏州位于长江三角洲中部，东临上海，西抱太湖，是一座有两千五百多年历史的文化名城。"
    "城内河道纵横，小桥流水，粉墙黛瓦，素有“人间天堂”的美誉。明清时期，苏州的丝绸、刺绣"
    "和园林艺术闻名全国，拙政园、留园等古典园林已被列入世界文化遗产名录。改革开放以后，"
    "苏州工业园区和高新区吸引了大量外资企业，电子信息、装备制造和生物医药成为支柱产业。"
    "与此同时，政府重视古城保护，限制老城区建筑高度，修缮历史街区，并在平江路、山塘街等地"
    "恢复传统风貌。每年春天，游客沿着运河乘船观光，品尝碧螺春茶和松鼠鳜鱼，听评弹艺人用"
    "吴语讲述古老的故事。1996年，朱镕基总理视察了园区；对于研究中国城市发展的学者来说，"
    "苏州提供了一个经济增长与文化传承相互平衡的典型案例。"
)

#: About 300 characters of ordinary traditional Chinese (all in Big5).
TRADITIONAL = (
    "臺北市位於臺灣北部的盆地之中，四周群山環繞，淡水河與基隆河在此交會。清朝末年，這裡"
    "逐漸發展成為重要的商業港口，茶葉與樟腦經由大稻埕運往世界各地。日治時期，總督府在城內"
    "興建了許多西式建築，鐵路和自來水系統也陸續完成。戰後人口快速增加，市區不斷向東擴張，"
    "信義計畫區如今高樓林立，成為金融與購物的中心。捷運系統自一九九六年通車以來，大大改善"
    "了交通擁擠的問題，市民可以方便地前往陽明山泡溫泉，或到北投欣賞圖書館的綠建築。夜市是"
    "臺北生活不可缺少的一部分，士林、饒河街等地販賣蚵仔煎、珍珠奶茶和臭豆腐，吸引許多國外"
    "旅客。學者認為，這座城市在保存傳統廟宇與推動科技產業之間，找到了獨特的平衡。"
)

_CJK_FONT = "STSong-Light"


def _parent(path: Path) -> Path:
    """Builders may be pointed into sub-folders that do not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _register_cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))
    return _CJK_FONT


def _pdf_bytes(pages: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _register_cjk_font()
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for page in pages:
        y = A4[1] - 72
        for line in page.split("\n"):
            if line:
                pdf.setFont(font, 12)
                pdf.drawString(72, y, line)
            y -= 18
        pdf.showPage()  # an empty string still makes an (empty) page
    pdf.save()
    return buf.getvalue()


def make_chinese_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF with one page per string; each ``\\n`` in a string starts a new visual line.

    Lines are not wrapped: keep them under ~38 Chinese characters to stay on the page.
    """
    _parent(path)
    path.write_bytes(_pdf_bytes(pages))
    return path


def make_scanned_pdf(path: Path, n_pages: int = 2) -> Path:
    """A PDF whose pages are only pictures (grey "lines of text" as bars), no text layer."""
    _parent(path)
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = Image.new("L", (600, 800), 255)
    draw = ImageDraw.Draw(img)
    for y in range(60, 740, 30):
        draw.rectangle((50, y, 550, y + 12), fill=40)
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    for _ in range(n_pages):
        pdf.drawImage(ImageReader(img), 0, 0, width=A4[0], height=A4[1])
        pdf.showPage()
    pdf.save()
    return path


def make_encrypted_pdf(
    path: Path, user_password: str = "secret", pages: list[str] | None = None
) -> Path:
    """A Chinese PDF encrypted with RC4-128 (needs no `cryptography`).

    ``user_password=""`` gives the common owner-password-only file that opens without asking.
    """
    _parent(path)
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(_pdf_bytes(pages or ["加密文件第一页。"])))
    writer = PdfWriter(clone_from=reader)
    writer.encrypt(user_password=user_password, owner_password="owner-pw", algorithm="RC4-128")
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_truncated_pdf(path: Path, keep: float = 0.6) -> Path:
    """The first ``keep`` share of a valid 3-page Chinese PDF, as an interrupted download."""
    _parent(path)
    data = _pdf_bytes(["第一页内容。", "第二页内容。", "第三页内容。"])
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_gbk_txt(path: Path, text: str = SIMPLIFIED) -> Path:
    """``text`` encoded as GBK (no BOM), as Windows Notepad in China saves it."""
    _parent(path)
    path.write_bytes(text.encode("gbk"))
    return path


def make_big5_txt(path: Path, text: str = TRADITIONAL) -> Path:
    """``text`` encoded as Big5 (no BOM)."""
    _parent(path)
    path.write_bytes(text.encode("big5"))
    return path


def make_utf16_txt(path: Path, text: str = SIMPLIFIED, *, big_endian: bool = False) -> Path:
    """``text`` as UTF-16 with a byte-order mark (little-endian by default, like Windows)."""
    _parent(path)
    codec = "utf-16-be" if big_endian else "utf-16-le"
    bom = b"\xfe\xff" if big_endian else b"\xff\xfe"
    path.write_bytes(bom + text.encode(codec))
    return path


def make_utf8_bom_txt(path: Path, text: str = SIMPLIFIED) -> Path:
    """``text`` as UTF-8 with a BOM (``utf-8-sig``)."""
    _parent(path)
    path.write_bytes(text.encode("utf-8-sig"))
    return path


def make_docx(
    path: Path, paragraphs: list[str], table: list[list[str]], *, table_after: int = 1
) -> Path:
    """A .docx with ``paragraphs``, and ``table`` (rows of cells) after the first
    ``table_after`` of them."""
    _parent(path)
    import docx

    document = docx.Document()
    for i, text in enumerate(paragraphs):
        if i == table_after:
            _add_table(document, table)
        document.add_paragraph(text)
    if table_after >= len(paragraphs):
        _add_table(document, table)
    document.save(str(path))
    return path


def _add_table(document: object, rows: list[list[str]]) -> None:
    n_cols = max((len(r) for r in rows), default=1)
    table = document.add_table(rows=len(rows), cols=n_cols)  # type: ignore[attr-defined]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value


#: What ``make_html`` shows a reader, one block per line.
HTML_VISIBLE = [
    "苏州简介",
    "苏州是一座历史文化名城。",
    "第一项",
    "第二项",
    "城市 | 人口",
    "苏州 | 1295万",
    "Line one",
    "line two",
]


def make_html(path: Path, *, encoding: str = "utf-8", declare: bool = True) -> Path:
    """An HTML page with script, style, noscript, template and head text that must not show.

    Args:
        path: where to write.
        encoding: the bytes' encoding, e.g. "gbk".
        declare: put ``<meta charset>`` naming ``encoding`` in the head.
    """
    _parent(path)
    meta = f'<meta charset="{encoding}">' if declare else ""
    html = f"""<!DOCTYPE html>
<html><head>{meta}<title>HEADTITLE</title>
<style>body {{ color: red; }} .STYLETEXT {{}}</style>
<script>var SCRIPTTEXT = "脚本内容";</script></head>
<body>
<!-- COMMENTTEXT -->
<h1>苏州简介</h1>
<p>苏州是一座
历史文化名城。</p>
<ul><li>第一项</li><li>第二项</li></ul>
<table><tr><th>城市</th><th>人口</th></tr><tr><td>苏州</td><td>1295万</td></tr></table>
<script type="text/javascript">document.write("SCRIPTTEXT2");</script>
<noscript>NOSCRIPTTEXT</noscript><template><p>TEMPLATETEXT</p></template>
<div>Line   one<br>line
two</div>
</body></html>
"""
    path.write_bytes(html.encode(encoding))
    return path


def make_binary_junk_txt(path: Path, *, with_nul: bool = True, size: int = 4096) -> Path:
    """Random bytes named .txt; ``with_nul=False`` avoids NUL bytes (only 0x80-0xFF)."""
    _parent(path)
    rng = random.Random(1234)
    if not with_nul:
        path.write_bytes(bytes(rng.randrange(0x80, 0x100) for _ in range(size)))
        return path
    path.write_bytes(rng.randbytes(size))
    return path


def make_empty(path: Path) -> Path:
    """A 0-byte file (any extension)."""
    _parent(path)
    path.write_bytes(b"")
    return path


def run_threads(*targets: Any, join_s: float = 120) -> list[BaseException]:
    """Run each target in its own thread (joined within 120 s, ``join_s``); the exceptions
    they raised."""
    errors: list[BaseException] = []

    def wrap(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001  (collected for the assertion)
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_s)
    return errors
