"""OCR of scanned pages: ragmix's engine against Tesseract (chi_sim+eng), side by side.

Pages are generated, so the true text is known: Chinese and English, several fonts (those of
Debian's fonts-wqy-zenhei, fonts-noto-cjk and fonts-dejavu-core that are installed), scanned
at 120-200 dpi, turned 0.4-1.5 degrees and speckled. Each engine runs in its own worker
process, and each page goes to every engine in turn (the order rotating), so a machine shared
with other work slows them alike; reported per engine:

* character error rate (edit distance over the true text's characters, whitespace ignored,
  full-width punctuation folded to ASCII so neither engine is charged for a style choice),
  overall and by language and dpi;
* pages per second and seconds per page (after one untimed warm-up page), and the start-up;
* the worker's peak RSS.

Engines: ``ragmix`` (``ragmix.ingest.ocr.read_image``: RapidOCR 3.x, the one ragmix uses),
``rapidocr-onnxruntime`` (the 1.4.4 line, PP-OCRv4; only if installed: it needs the
non-headless OpenCV, so it is not a ragmix dependency), ``tesseract`` (Debian's
``tesseract-ocr`` + ``tesseract-ocr-chi-sim``, the baseline; the run fails without it).

    python benchmarks/bench_ocr.py [--pages 24] [--quick]

Prints the table and writes benchmarks/results/ocr.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import english_sentence, print_table, write_json  # noqa: E402
from tests.fixtures import SIMPLIFIED  # noqa: E402

FONTS = {
    "zh": [
        ("WenQuanYi Zen Hei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
        ("Noto Sans CJK SC", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        ("Noto Serif CJK SC", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    ],
    "en": [
        ("DejaVu Sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        ("DejaVu Serif", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
        ("Noto Serif CJK SC", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    ],
}
DPIS = (120, 150, 200)
# A5 pages (148 x 210 mm), 11-point text: a typical scanned letter or notice, half size.
PAGE_IN = (5.83, 8.27)
FONT_PT = 11
# Noto's .ttc holds SC, TC, JP, KR faces: index 2 would be Japanese, 0 is JP in some builds.
_TTC_INDEX = {"Noto Sans CJK SC": 2, "Noto Serif CJK SC": 2}


def _fonts(lang: str) -> list[tuple[str, str]]:
    return [(n, p) for n, p in FONTS[lang] if Path(p).exists()]


def _sc_index(path: str, name: str) -> int:
    """The face index of ``name`` inside a .ttc (Noto ships SC as one of several)."""
    from PIL import ImageFont

    if not path.endswith(".ttc"):
        return 0
    for i in range(8):
        try:
            face = ImageFont.truetype(path, 12, index=i)
        except OSError:
            break
        if " ".join(face.getname()).startswith(name):
            return i
    return _TTC_INDEX.get(name, 0)


def make_pages(folder: Path, n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` page images (PNG) and their true text, cycling language, font and dpi."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(seed)
    pages: list[dict[str, Any]] = []
    for i in range(n):
        lang = ("zh", "en")[i % 2]
        fonts = _fonts(lang)
        font_name, font_path = fonts[(i // 2) % len(fonts)]
        dpi = DPIS[(i // (2 * len(fonts))) % len(DPIS)]
        px = round(FONT_PT / 72 * dpi)
        font = ImageFont.truetype(font_path, px, index=_sc_index(font_path, font_name))
        w, h = round(PAGE_IN[0] * dpi), round(PAGE_IN[1] * dpi)
        margin = round(0.6 * dpi)
        img = Image.new("L", (w, h), 255)
        draw = ImageDraw.Draw(img)
        lines: list[str] = []
        y = margin
        while y + 2 * px < h - margin and len(lines) < 16:
            line = _line(rng, lang, draw, font, w - 2 * margin)
            draw.text((margin, y), line, font=font, fill=rng.randint(0, 50))
            lines.append(line)
            y += round(px * 1.7)
        angle = rng.choice((-1, 1)) * rng.uniform(0.4, 1.5)
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        pix = img.load()
        for _ in range(w * h // 400):  # speckle: 0.25% of the pixels, dark and light
            pix[rng.randrange(w), rng.randrange(h)] = rng.choice((0, 60, 255))
        path = folder / f"page{i:03d}.png"
        img.save(path, dpi=(dpi, dpi))
        pages.append({"path": str(path), "lang": lang, "font": font_name, "dpi": dpi,
                      "angle": round(angle, 2), "truth": "\n".join(lines)})  # fmt: skip
    return pages


_CLAUSES = [c for c in re.split(r"[，。；：]", SIMPLIFIED) if len(c) > 3]


def chinese_sentence(rng: random.Random) -> str:
    """Simplified Chinese only (the baseline reads chi_sim), with numbers as in reports."""
    parts = rng.sample(_CLAUSES, 2)
    return f"{rng.randint(1990, 2030)}年，{parts[0]}，{parts[1]}{rng.randint(2, 999)}项。"


def _line(rng: random.Random, lang: str, draw: Any, font: Any, width: int) -> str:
    make = chinese_sentence if lang == "zh" else english_sentence
    text = ""
    while True:
        more = (text + make(rng)) if lang == "zh" else (text + " " + make(rng)).strip()
        for cut in range(len(more), 0, -1):
            if draw.textlength(more[:cut], font=font) <= width:
                break
        if cut < len(more):
            head = more[:cut]
            if lang == "en" and " " in head:
                head = head.rsplit(" ", 1)[0]
            return head.strip()
        text = more


# --- scoring -----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """What is compared: NFKC (full-width punctuation and digits to ASCII), no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(truth: str, read: str) -> tuple[int, int]:
    t, r = normalise(truth), normalise(read)
    return edit_distance(t, r), len(t)


# --- workers -------------------------------------------------------------------------------


def _worker(engine: str, warm_page: str) -> None:
    """Serve ``engine``: one page path a line on stdin, one JSON line back (text, seconds);
    an empty line ends it with the start-up and the peak RSS."""
    t0 = time.perf_counter()
    if engine == "ragmix":
        from PIL import Image

        from ragmix.ingest.ocr import read_image

        def read(path: str) -> str:
            return read_image(Image.open(path)).text
    elif engine == "rapidocr-onnxruntime":
        from rapidocr_onnxruntime import RapidOCR

        eng = RapidOCR()

        def read(path: str) -> str:
            result, _ = eng(path)
            return "\n".join(r[1] for r in result or [])
    else:
        lang = "chi_sim+eng"

        def read(path: str) -> str:
            out = subprocess.run(
                ["tesseract", path, "stdout", "-l", lang, "--psm", "3"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            return out.stdout

    read(warm_page)  # warm-up (models load), untimed
    startup = time.perf_counter() - t0
    for line in sys.stdin:
        path = line.strip()
        if not path:
            break
        t = time.perf_counter()
        text = read(path)
        print(json.dumps({"text": text, "seconds": time.perf_counter() - t}), flush=True)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(json.dumps({"startup": startup, "peak_rss_mb": rss / 1024}), flush=True)


def _run_interleaved(engines: list[str], pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Every engine in its own worker; each page goes to each engine in turn (the order
    rotating), so a busy machine slows all of them alike."""
    procs = {
        e: subprocess.Popen(
            [sys.executable, __file__, "--worker", e, pages[0]["path"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )  # fmt: skip
        for e in engines
    }
    results: dict[str, Any] = {e: {"texts": [], "seconds": []} for e in engines}
    for i, page in enumerate(pages):
        for e in engines[i % len(engines) :] + engines[: i % len(engines)]:
            proc = procs[e]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(page["path"] + "\n")
            proc.stdin.flush()
            reply = json.loads(proc.stdout.readline())
            results[e]["texts"].append(reply["text"])
            results[e]["seconds"].append(reply["seconds"])
        print(f"page {i + 1}/{len(pages)}", file=sys.stderr, flush=True)
    for e, proc in procs.items():
        out, _ = proc.communicate("\n")
        results[e].update(json.loads(out.strip().splitlines()[-1]))
    return results


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _available() -> list[str]:
    engines = ["ragmix"]
    try:
        import importlib.util

        if importlib.util.find_spec("rapidocr_onnxruntime") is not None:
            engines.append("rapidocr-onnxruntime")
    except ImportError:
        pass
    if shutil.which("tesseract") is None:
        sys.exit("tesseract is missing: apt-get install tesseract-ocr tesseract-ocr-chi-sim")
    return [*engines, "tesseract"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 18 pages: each language, font and dpi together once.
    ap.add_argument("--pages", type=int, default=18)
    ap.add_argument("--quick", action="store_true", help="6 pages")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    n = 6 if args.quick else args.pages
    with tempfile.TemporaryDirectory() as tmp:
        pages = make_pages(Path(tmp), n)
        results = _run_interleaved(_available(), pages)
    rows, summary = [], {}
    for engine, r in results.items():
        groups: dict[str, list[int]] = {}
        for page, text in zip(pages, r["texts"], strict=True):
            errors, total = cer(page["truth"], text)
            for key in ("all", page["lang"], f"{page['dpi']} dpi"):
                g = groups.setdefault(key, [0, 0])
                g[0] += errors
                g[1] += total
            page.setdefault("read", {})[engine] = text
        secs = sum(r["seconds"])
        summary[engine] = {
            "cer": {k: round(e / t, 4) for k, (e, t) in groups.items()},
            "pages_per_s": round(len(pages) / secs, 3),
            "s_per_page": round(secs / len(pages), 3),
            "startup_s": round(r["startup"], 2),
            "peak_rss_mb": round(r["peak_rss_mb"], 1),
        }
        s = summary[engine]
        rows.append([engine, f"{s['cer']['all']:.2%}", f"{s['cer']['zh']:.2%}",
                     f"{s['cer']['en']:.2%}",
                     *[_pct(s["cer"].get(f"{d} dpi")) for d in DPIS],
                     s["s_per_page"], s["pages_per_s"], s["peak_rss_mb"]])  # fmt: skip
    base = summary["tesseract"]
    ours = summary["ragmix"]
    ratios = {
        "cer_ratio": round(ours["cer"]["all"] / max(base["cer"]["all"], 1e-9), 3),
        "speed_ratio": round(ours["pages_per_s"] / base["pages_per_s"], 3),
        "memory_ratio": round(ours["peak_rss_mb"] / base["peak_rss_mb"], 3),
    }
    print_table(
        ["engine", "CER", "CER zh", "CER en", *[f"CER {d}" for d in DPIS], "s/page",
         "pages/s", "peak RSS MB"],
        rows,
        f"OCR of {len(pages)} generated scanned A5 pages (zh and en, "
        f"{len(FONTS['zh'])}+{len(FONTS['en'])} fonts, 120-200 dpi, rotated, speckled)",
    )  # fmt: skip
    print(
        f"ragmix vs tesseract: CER x{ratios['cer_ratio']}, speed x{ratios['speed_ratio']}, "
        f"memory x{ratios['memory_ratio']}"
    )
    for page in pages:
        page.pop("path")
    write_json("ocr", {"pages": len(pages), "engines": summary, "ratios": ratios,
                       "page_details": pages})  # fmt: skip


if __name__ == "__main__":
    main()
