"""Shared helpers of the benchmarks: synthetic corpora, subprocess runs with peak memory,
percentiles, tables, JSON results and PNG plots.

Every benchmark measures ragmix and its baseline in the same run, on the same machine, and
reports ratios: absolute seconds move with the load of the machine, ratios much less.

Example:
    >>> from benchmarks.common import make_corpus, run_worker
    >>> stats = make_corpus(Path("/tmp/corpus"), scale=0.1)              # doctest: +SKIP
    >>> result, wall_s, peak_mb = run_worker(["--worker", "ragmix"])     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `from tests.fixtures import ...` in the workers

# Offline by construction: the packaged models are on disk, nothing may reach a hub.
for _k, _v in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("ANONYMIZED_TELEMETRY", "False"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_k, _v)

# --------------------------------------------------------------------------- synthetic text

_EN_SUBJECTS = (
    "The harbour authority",
    "The city council",
    "Our maintenance team",
    "The regional bank",
    "The research group",
    "The steel mill",
    "The water utility",
    "The school board",
    "The museum trust",
    "The rail operator",
    "The hospital",
    "The port of Aldenham",
)
_EN_VERBS = (
    "approved",
    "postponed",
    "reviewed",
    "financed",
    "inspected",
    "rebuilt",
    "expanded",
    "audited",
    "replaced",
    "redesigned",
    "measured",
    "reported on",
)
_EN_OBJECTS = (
    "the northern bridge",
    "the pumping station",
    "the library roof",
    "the tram depot",
    "the cooling system",
    "the flood barrier",
    "the storage tanks",
    "the signal network",
    "the solar array",
    "the warehouse district",
    "the emergency generators",
    "the canal locks",
)
_EN_TAILS = (
    "after {n} complaints from residents",
    "at a cost of {n} thousand pounds",
    "within {n} weeks of the spring inspection",
    "because {n} percent of the parts had failed",
    "following the {y} safety review",
    "with {n} workers on night shifts",
    "before the warranty expired in {y}",
    "so that the load limit rose to {n} tonnes",
)


def english_sentence(rng: random.Random) -> str:
    tail = rng.choice(_EN_TAILS).format(n=rng.randint(2, 900), y=rng.randint(1950, 2030))
    return f"{rng.choice(_EN_SUBJECTS)} {rng.choice(_EN_VERBS)} {rng.choice(_EN_OBJECTS)} {tail}."


def _chinese_clauses() -> list[str]:
    from tests.fixtures import SIMPLIFIED, TRADITIONAL

    out: list[str] = []
    for text in (SIMPLIFIED, TRADITIONAL):
        for sent in text.replace("；", "，").replace("。", "，").split("，"):
            sent = sent.strip()
            if len(sent) >= 4:
                out.append(sent)
    return out


_ZH: list[str] = []


def chinese_sentence(rng: random.Random) -> str:
    """Two to four real clauses in a random order, with a random year: natural enough for
    jieba and the tokenizers, different enough that no two files hash the same."""
    if not _ZH:
        _ZH.extend(_chinese_clauses())
    parts = rng.sample(_ZH, rng.randint(2, 4))
    parts[0] = f"{rng.randint(1950, 2030)}年，{parts[0]}"
    return "，".join(parts) + "。"


def make_text(rng: random.Random, n_chars: int, lang: str) -> str:
    """About ``n_chars`` of paragraphs (5-9 sentences each) in 'en' or 'zh'."""
    make = english_sentence if lang == "en" else chinese_sentence
    sep = " " if lang == "en" else ""
    paras: list[str] = []
    size = 0
    while size < n_chars:
        para = sep.join(make(rng) for _ in range(rng.randint(5, 9)))
        paras.append(para)
        size += len(para) + 2
    return "\n\n".join(paras)


def _pdf_pages(text: str, line_chars: int = 36, lines_per_page: int = 38) -> list[str]:
    """Chinese text laid out as short visual lines (make_chinese_pdf does not wrap)."""
    flat = text.replace("\n\n", "")
    lines = [flat[i : i + line_chars] for i in range(0, len(flat), line_chars)]
    return ["\n".join(lines[i : i + lines_per_page]) for i in range(0, len(lines), lines_per_page)]


def make_corpus(folder: Path, scale: float = 1.0, seed: int = 7) -> dict[str, Any]:
    """Write the mixed benchmark corpus into ``folder``; returns its statistics.

    At ``scale=1``: 6 English .txt files of 150,000 characters, 4 Chinese .txt files of
    60,000 characters and 3 Chinese PDFs of 20 pages (~1,300 characters a page), about
    2 MB of UTF-8 text. All files are UTF-8 so the textbook ``TextLoader`` reads them too.
    """
    from tests.fixtures import make_chinese_pdf

    rng = random.Random(seed)
    for sub in ("en", "zh", "pdf"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    chars = {"en": 0, "zh": 0}
    n_files = 0
    n_bytes = 0

    def txt(name: str, lang: str, n: int) -> None:
        nonlocal n_files, n_bytes
        text = make_text(rng, n, lang)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        chars[lang] += len(text)
        n_files += 1
        n_bytes += len(text.encode("utf-8"))

    for i in range(max(1, round(6 * scale))):
        txt(f"en/report-{i:02d}.txt", "en", int(150_000 * min(scale, 1.0)))
    for i in range(max(1, round(4 * scale))):
        txt(f"zh/报告-{i:02d}.txt", "zh", int(60_000 * min(scale, 1.0)))
    n_pdf_pages = max(2, round(20 * min(scale, 1.0)))
    for i in range(max(1, round(3 * scale))):
        pages = _pdf_pages(make_text(rng, n_pdf_pages * 1300, "zh"))[:n_pdf_pages]
        make_chinese_pdf(folder / "pdf" / f"年报-{i:02d}.pdf", pages)
        chars["zh"] += sum(len(p.replace("\n", "")) for p in pages)
        n_files += 1
        n_bytes += sum(len(p.encode("utf-8")) for p in pages)
    return {
        "files": n_files,
        "chars_en": chars["en"],
        "chars_zh": chars["zh"],
        "text_mb": round(n_bytes / 2**20, 2),
    }


# --------------------------------------------------------------------------- subprocess runs


def run_worker(
    args: Sequence[str], script: Path, timeout: float = 1800.0
) -> tuple[dict[str, Any], float, float]:
    """Run ``python script *args`` in a fresh process; returns (its JSON, wall s, peak MB).

    The worker prints one JSON object as its last stdout line. Peak memory is the child's
    ``ru_maxrss`` as the kernel reports it when the child is reaped (``os.wait4`` gives the
    rusage of exactly that child; ``getrusage(RUSAGE_CHILDREN)`` would give the maximum over
    every child reaped so far, mixing the two sides).
    """
    import tempfile
    import threading

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(script), *args], stdout=out, stderr=err, text=True, cwd=str(ROOT)
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(
            f"worker {script.name} {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{stderr[-3000:]}"
        )
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"worker {script.name} printed no JSON result:\n{stdout[-2000:]}")
    return json.loads(lines[-1]), wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- statistics


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between order statistics."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean of durations given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(pct(ms, 50), 2),
        "p95_ms": round(pct(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "n": len(ms),
    }


# --------------------------------------------------------------------------- output


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A plain fixed-width table on stdout (readable in CI logs and in the README)."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        padded = (c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
        print("  ".join(padded))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("×", "").replace("-", "").isdigit()


def write_json(name: str, data: dict[str, Any], results: Path = RESULTS) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def save_plot(name: str, draw: Callable[[Any], None], results: Path = RESULTS) -> Path:
    """Render ``draw(fig)`` to ``results/<name>.png`` with the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=(9, 4.2), dpi=110)
    draw(fig)
    fig.tight_layout()
    path = results / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
