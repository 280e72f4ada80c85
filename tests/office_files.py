"""Real files of the formats read since issue 26, made by the programs' own libraries: a
scanned PDF (text drawn, rasterised, turned and speckled, no text layer), a photographed
notice, a two-sheet workbook, a slide deck and a GBK CSV. Each holds facts found nowhere else
(``FACTS``), so a search for one must land on the right file and page/sheet/slide."""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

#: A Chinese font Debian ships (fonts-wqy-zenhei, installed with chromium by `make setup`).
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)

SCAN_PAGES = [
    [
        "苏州市财政局文件",
        "关于二〇二五年度预算执行情况的通报",
        "全市一般公共预算收入完成1234.5亿元。",
        "民生支出占一般公共预算支出的78%。",
    ],
    [
        "第二部分 重点项目",
        "轨道交通六号线累计完成投资318亿元。",
        "新建保障性住房4200套。",
        "联系人：王晓明 电话：0512-68881234",
    ],
]
NOTICE = ["停水通知", "因管道维修，金枫路片区", "12月9日8时至17时停水。", "咨询电话：96178"]


def cjk_font() -> str | None:
    """A font file with Chinese glyphs, or None (then OCR tests skip, saying what to install)."""
    for path in CJK_FONTS:
        if Path(path).exists():
            return path
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True
        ).stdout
    except OSError:
        return None
    return out if out and Path(out).exists() and "wqy" in out.lower() else None


def _scan(lines: list[str], *, seed: int, angle: float, size: tuple[int, int] = (1240, 1754),
          font_px: int = 40) -> Any:  # fmt: skip
    """A page as a scanner gives it: text drawn, turned ``angle`` degrees, speckled."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(seed)
    font = ImageFont.truetype(cjk_font() or CJK_FONTS[0], font_px)
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((110, 140 + i * round(font_px * 2.2)), line, font=font, fill=20)
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    pix = img.load()
    for _ in range(size[0] * size[1] // 500):
        pix[rng.randrange(size[0]), rng.randrange(size[1])] = rng.choice((0, 90, 255))
    return img


def make_scanned_text_pdf(path: Path, pages: list[list[str]] = SCAN_PAGES) -> Path:
    """An image-only PDF (150 dpi A4 pages, turned +-1 degree, speckled): no text layer."""
    images = [_scan(p, seed=i, angle=(1.1, -0.9)[i % 2]) for i, p in enumerate(pages)]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=150)
    return path


def make_mixed_pdf(path: Path) -> Path:
    """Page 1 has a text layer; page 2 is a scan (an image only): a signed page pasted in."""
    from pypdf import PdfReader, PdfWriter

    from tests.fixtures import _pdf_bytes

    text = PdfReader(io.BytesIO(_pdf_bytes(["第一页是正常的文字层，讲述会议的背景。"])))
    buf = io.BytesIO()
    _scan(["会议决定：拨款560万元用于河道清淤。"], seed=5, angle=0.7).save(
        buf, format="PDF", resolution=150
    )
    writer = PdfWriter()
    writer.add_page(text.pages[0])
    writer.add_page(PdfReader(buf).pages[0])
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_photo(path: Path) -> Path:
    """A notice photographed on a wall: grey, uneven light, turned, JPEG-compressed."""
    from PIL import Image, ImageFilter

    img = _scan(NOTICE, seed=9, angle=2.0, size=(900, 700), font_px=46)
    shade = Image.linear_gradient("L").resize(img.size).point(lambda v: 170 + v // 4)
    img = Image.composite(img, shade, img.point(lambda v: 255 if v < 128 else 0))
    img = img.filter(ImageFilter.GaussianBlur(0.6)).convert("RGB")
    img.save(path, quality=80) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)
    return path


def make_workbook(path: Path) -> Path:
    """Two sheets: 预算 (a merged title, a header, a date, a formula with its cached value)
    and 人员 (a merged category cell spanning two rows, a percentage)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "预算"
    ws["A1"] = "2025年度部门预算表"
    ws.merge_cells("A1:D1")
    ws.append(["项目", "金额（元）", "批准日期", "备注"])
    ws.append(["办公费", 12000, dt.datetime(2025, 3, 1), "含打印耗材"])
    ws.append(["差旅费", 48500, dt.datetime(2025, 4, 15), None])
    ws.append([None, None, None, None])  # an empty row: dropped
    ws.append(["合计", "=SUM(B3:B4)", None, None])
    ws["C3"].number_format = "yyyy-mm-dd"
    ws["C4"].number_format = "yyyy-mm-dd"
    people = wb.create_sheet("人员")
    people.append(["部门", "姓名", "出勤率"])
    people.append(["信息科", "李娜", 0.968])
    people.append([None, "赵磊", 0.874])
    people.merge_cells("A2:A3")
    people["C2"].number_format = "0.0%"
    people["C3"].number_format = "0.0%"
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl writes formulas without a cached value; Excel would store what it computed.
    path.write_bytes(_with_cached_value(buf.getvalue(), "SUM(B3:B4)", "60500"))
    return path


def _with_cached_value(xlsx: bytes, formula: str, value: str) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                text = data.decode()
                cell = re.compile(rf"<f>{re.escape(formula)}</f>(<v\s*/>|<v></v>)?")
                text = cell.sub(f"<f>{formula}</f><v>{value}</v>", text)
                data = text.encode()
            dst.writestr(item, data)
    return out.getvalue()


def make_deck(path: Path) -> Path:
    """Three slides: a title slide, a bullet slide with speaker notes, a table slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    s1 = deck.slides.add_slide(deck.slide_layouts[0])
    s1.shapes.title.text = "第三季度经营回顾"
    s1.placeholders[1].text = "市场部 2025年10月"
    s2 = deck.slides.add_slide(deck.slide_layouts[1])
    s2.shapes.title.text = "客户增长"
    body = s2.placeholders[1].text_frame
    body.text = "新增企业客户137家"
    body.add_paragraph().text = "续约率达到91%"
    s2.notes_slide.notes_text_frame.text = "讲解时强调：华东区贡献了新增客户的一半。"
    s3 = deck.slides.add_slide(deck.slide_layouts[5])
    s3.shapes.title.text = "区域收入"
    table = s3.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for r, row in enumerate([["区域", "收入（万元）"], ["华东", "2860"], ["华南", "1975"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(str(path))
    return path


def make_gbk_csv(path: Path) -> Path:
    """A CSV export in GBK, the way Excel on a Chinese Windows saves it."""
    rows = [
        "仓库,物料编码,库存数量,盘点日期",
        "昆山一号库,WL-3391,2750,2025-11-30",
        "吴江二号库,WL-4410,615,2025-11-30",
    ]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))
    return path


#: (question, file, page (sheet/slide number; None for no pages), words the passage must hold)
FACTS: list[tuple[str, str, int | None, tuple[str, ...]]] = [
    ("一般公共预算收入完成多少亿元", "scan.pdf", 1, ("预算收入", "1234.5")),
    ("轨道交通六号线累计完成投资", "scan.pdf", 2, ("六号线", "318")),
    ("新建保障性住房多少套", "scan.pdf", 2, ("保障性住房", "4200")),
    ("民生支出占比", "scan.pdf", 1, ("民生支出", "78")),
    ("联系人王晓明的电话", "scan.pdf", 2, ("王晓明", "68881234")),
    ("差旅费金额", "budget.xlsx", 1, ("差旅费", "金额", "48500")),
    ("预算合计金额", "budget.xlsx", 1, ("合计", "60500")),
    ("李娜的出勤率", "budget.xlsx", 2, ("李娜", "出勤率", "96.8%")),
    ("新增企业客户多少家", "review.pptx", 2, ("新增企业客户", "137")),
    ("华东区域收入", "review.pptx", 3, ("华东", "收入", "2860")),
    ("WL-4410 库存数量", "stock.csv", None, ("WL-4410", "库存数量", "615")),
    ("金枫路停水时间", "notice.jpg", 1, ("金枫路", "停水")),
]
