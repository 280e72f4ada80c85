"""Hostile input files: what each does to the loader without limits, and through the guard.

For every file of tests/hostile_files.py plus two good ones:

* unguarded: ``load_document`` in a fresh process with no time or memory limit (the old
  in-process behaviour), killed after ``--cap`` seconds; outcome, seconds, peak RSS;
* guarded: the same file through ``LoadGuard`` with the limits of tests/test_hostile.py
  (10 s, 256 MB), in one reused worker; outcome, seconds, the worker's peak RSS.

Then the guard's cost on ordinary small files (Markdown notes and 2-page PDFs): per-file time
in this process against through the worker, alternating, and the worker's start-up.

    python benchmarks/bench_hostile.py [--quick] [--cap 120]

Prints tables and writes benchmarks/results/hostile.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import print_table, write_json  # noqa: E402
from tests import hostile_files as hf  # noqa: E402
from tests.fixtures import SIMPLIFIED, make_chinese_pdf, make_gbk_txt  # noqa: E402

LIMITS = {"max_bytes": 150 << 20, "max_pages": 1000, "max_chars": 2_000_000}
GUARD = {"timeout_s": 10.0, "memory_mb": 256}

_UNGUARDED = """
import json, resource, sys, time
from pathlib import Path
from ragmix.core.errors import LoadError
from ragmix.ingest.loaders import load_document
t0 = time.perf_counter()
try:
    doc = load_document(Path(sys.argv[1]), **json.loads(sys.argv[2]))
    outcome = f"loaded, {len(doc.text):,} characters"
except LoadError as exc:
    outcome = "LoadError: " + exc.reason
except BaseException as exc:
    outcome = f"CRASH {type(exc).__name__}: {exc}"
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - t0}))
"""


def build(folder: Path, quick: bool) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "good.md": folder / "good.md",
        "gbk.txt": make_gbk_txt(folder / "gbk.txt"),
        "many-pages.pdf (3,000 pages)": hf.make_many_pages_pdf(folder / "many.pdf"),
        "forged-count.pdf (/Count 100,000)": hf.make_forged_count_pdf(folder / "forged.pdf"),
        "nested.pdf (50,000 levels)": hf.make_nested_pdf(folder / "nested.pdf"),
        "spin.pdf (500 pages x 30k ops)": hf.make_spinning_pdf(folder / "spin.pdf"),
        "bomb.docx (300 MB of zeros)": hf.make_zip_bomb_docx(folder / "bomb.docx"),
        "fat.docx (1M paragraphs)": hf.make_fat_docx(folder / "fat.docx"),
        "nested.html (20,000 levels)": hf.make_nested_html(folder / "nested.html"),
        "huge-line.txt (100 MB, 1 line)": hf.make_single_line(folder / "line.txt", mb=100),
        "dirty.txt (NUL, ESC, bad UTF-8)": hf.make_dirty_utf8(folder / "dirty.txt"),
    }
    files["good.md"].write_text("The espresso machine warranty lasts two years.\n")
    if quick:
        for key in ("spin.pdf (500 pages x 30k ops)", "fat.docx (1M paragraphs)"):
            del files[key]
    return files


def unguarded(path: Path, cap: float, limits: dict[str, int] = LIMITS) -> dict[str, Any]:
    """``load_document`` alone in a fresh process, killed after ``cap`` seconds.

    Peak memory is the child's VmHWM, sampled every 20 ms: its ``ru_maxrss`` would also count
    the pages of this (large) process that the fork copied before the exec.
    """
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _UNGUARDED, str(path), json.dumps(limits)],
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=str(ROOT),
        )
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm(proc.pid) or 0.0)
            if time.perf_counter() - t0 > cap:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        out.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith("{")]
    if lines:
        row = json.loads(lines[-1])
        return {"outcome": row["outcome"], "seconds": row["seconds"], "peak_mb": peak}
    return {
        "outcome": f"still running after {cap:g} s: killed"
        if proc.returncode == -9
        else f"process died (exit {proc.returncode})",
        "seconds": wall,
        "peak_mb": peak,
    }


def guarded(guard: Any, path: Path) -> dict[str, Any]:
    from ragmix.core.errors import LoadError

    t0 = time.perf_counter()
    try:
        doc = guard.load(path, **LIMITS, display=path.name)
        outcome = f"loaded, {len(doc.text):,} characters"
    except LoadError as exc:
        outcome = "LoadError: " + exc.reason
    seconds = time.perf_counter() - t0
    pid = guard.pid
    return {"outcome": outcome, "seconds": seconds, "worker_peak_mb": _vm_hwm(pid)}


def _vm_hwm(pid: int | None) -> float | None:
    """Peak RSS (MB) of a live process so far, or None (killed, exited, not Linux)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def overhead(folder: Path, rounds: int, n_md: int, n_pdf: int) -> dict[str, Any]:
    from ragmix.ingest.guard import LoadGuard
    from ragmix.ingest.loaders import load_document

    small = folder / "small"
    small.mkdir(exist_ok=True)
    files = []
    for i in range(n_md):
        p = small / f"note{i}.md"
        p.write_text(f"# Note {i}\n\nThe warranty lasts {i} years. Keep the receipt.\n" * 5)
        files.append(p)
    for i in range(n_pdf):
        files.append(make_chinese_pdf(small / f"r{i}.pdf", [SIMPLIFIED[:120], SIMPLIFIED[120:]]))
    kw = {**LIMITS, "max_chars": 20_000_000}

    def per_file_ms(load: Callable[..., Any]) -> float:
        t0 = time.perf_counter()
        for f in files:
            load(f, display=f.name, **kw)
        return (time.perf_counter() - t0) / len(files) * 1000

    for f in files[:3] + files[-3:]:
        load_document(f, **kw)  # imports and fonts warm in this process
    guard = LoadGuard(**GUARD)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    guard.load(files[0], display="warm", **kw)
    start_s = time.perf_counter() - t0
    for f in files[-3:]:
        guard.load(f, display="warm", **kw)
    inproc, worker = [], []
    for _ in range(rounds):  # alternating, so a busy moment hurts both sides alike
        inproc.append(per_file_ms(load_document))
        worker.append(per_file_ms(guard.load))
    guard.close()
    a, b = statistics.median(inproc), statistics.median(worker)
    return {
        "files": len(files),
        "markdown": n_md,
        "pdf": n_pdf,
        "rounds": rounds,
        "in_process_ms_per_file": round(a, 2),
        "worker_ms_per_file": round(b, 2),
        "overhead_ms_per_file": round(b - a, 2),
        "ratio": round(b / a, 2),
        "worker_start_s": round(start_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the two slowest files")
    ap.add_argument("--cap", type=float, default=120.0, help="unguarded run's time cap (s)")
    args = ap.parse_args()
    from ragmix.ingest.guard import LoadGuard

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = build(folder, args.quick)
        rows: dict[str, Any] = {}
        with LoadGuard(**GUARD) as guard:  # type: ignore[arg-type]
            guard.load(files["good.md"], **LIMITS, display="warm-up")
            for label, path in files.items():
                rows[label] = {
                    "bytes": path.stat().st_size,
                    "unguarded": unguarded(path, args.cap),
                    "guarded": guarded(guard, path),
                }
                print(label, json.dumps(rows[label], ensure_ascii=False)[:300], flush=True)
            if "fat.docx (1M paragraphs)" in files:  # with the default max_chars of 20M
                fat = files["fat.docx (1M paragraphs)"]
                rows["fat.docx, max_chars 20M"] = {
                    "bytes": fat.stat().st_size,
                    "unguarded": unguarded(fat, args.cap, {**LIMITS, "max_chars": 20_000_000}),
                    "guarded": guarded(guard, fat),
                }
        cost = overhead(folder, rounds=3 if args.quick else 5, n_md=100, n_pdf=20)

    print_table(
        ["file", "size", "unguarded", "s", "peak MB", "guarded", "s", "worker MB"],
        [
            [
                label,
                _size(r["bytes"]),
                r["unguarded"]["outcome"][:48],
                round(r["unguarded"]["seconds"], 2),
                round(r["unguarded"]["peak_mb"]),
                r["guarded"]["outcome"][:48],
                round(r["guarded"]["seconds"], 2),
                r["guarded"]["worker_peak_mb"] and round(r["guarded"]["worker_peak_mb"]),
            ]
            for label, r in rows.items()
        ],
        title=f"hostile files (guard: {GUARD['timeout_s']:g} s, {GUARD['memory_mb']} MB)",
    )
    print_table(
        ["in process ms/file", "worker ms/file", "overhead ms/file", "ratio", "worker start s"],
        [
            [
                cost["in_process_ms_per_file"],
                cost["worker_ms_per_file"],
                cost["overhead_ms_per_file"],
                cost["ratio"],
                cost["worker_start_s"],
            ]
        ],
        title=f"guard cost on {cost['files']} small files (median of {cost['rounds']} rounds)",
    )
    name = "hostile_quick" if args.quick else "hostile"
    write_json(
        name,
        {"quick": args.quick, "limits": LIMITS, "guard": GUARD, "files": rows, "overhead": cost},
    )


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


if __name__ == "__main__":
    main()
