"""The benchmarks run end to end in quick mode and write the JSON the README reads.

Only the shape of the output is checked: benchmarks print ratios, they are never timed
assertions (see STYLE.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _run(script: str, name: str) -> dict:
    out = RESULTS / f"{name}.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (RESULTS / f"{name}.png").stat().st_size > 0
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_bench_ingest_quick() -> None:
    data = _run("bench_ingest.py", "ingest_quick")
    assert data["quick"] is True
    for side in ("ragmix", "textbook"):
        assert {"cold_ingest_s", "reingest_s", "chunks", "embedded_chars", "peak_rss_mb"} <= data[
            side
        ].keys()
        assert data[side]["chunks"] > 0 and data[side]["peak_rss_mb"] > 0
    assert {"cold_speedup", "reingest_speedup", "chunks_ratio"} <= data["ratios"].keys()
    assert data["corpus"]["files"] == 3
    reingest = [r for r in data["runs"] if r["kind"] == "reingest"]
    assert reingest and all(r["skipped_unchanged"] == 3 for r in reingest)


@pytest.mark.slow
def test_bench_latency_quick() -> None:
    data = _run("bench_latency.py", "latency_quick")
    assert data["sizes"] == [200, 1000]
    assert [r["chunks"] for r in data["rows"]] == [200, 1000]
    for row in data["rows"]:
        kinds = ("hybrid", "hybrid_bounded", "hybrid_fts5", "hybrid_en", "hybrid_zh", "bm25",
                 "bm25_bounded", "bm25_fts5")  # fmt: skip
        for kind in (*kinds, "dense", "knn"):
            assert {"p50_ms", "p95_ms", "n"} <= row[kind].keys()
        assert row["bm25"]["n"] == row["bm25_fts5"]["n"] == data["queries"]
        # every engine's candidates are scored with FTS5's BM25 over the same tokens: on
        # stores this small their top 10s are FTS5's
        for path in ("tantivy", "bounded", "hybrid", "hybrid_bounded"):
            assert 0.9 <= row["top10_overlap"][path] <= 1.0, row["top10_overlap"]
        assert row["rss_mb"] > 0 and row["tantivy_mb"] > 0 and row["catalog_mb"] > 0
    assert {"hybrid", "hybrid_fts5", "bm25", "bm25_fts5", "dense", "knn"} <= data[
        "growth_p50"
    ].keys()


@pytest.mark.slow
@pytest.mark.server
def test_bench_load_quick() -> None:
    data = _run("bench_load.py", "load_quick")
    assert data["quick"] is True and data["users"] == 4 and data["model_users"] == 1
    rows = {(r["scenario"], r["kind"]): r for r in data["rows"]}
    assert set(rows) == {
        ("solo", "search"), ("solo", "model"), ("search×4", "search"),
        ("mixed×4", "search"), ("mixed×4", "model"),
    }  # fmt: skip
    assert {k: r["n"] for k, r in rows.items()} == {
        ("solo", "search"): 4, ("solo", "model"): 1, ("search×4", "search"): 4,
        ("mixed×4", "search"): 3, ("mixed×4", "model"): 1,
    }  # fmt: skip
    for r in rows.values():
        assert r["answered"] == r["n"] and r["errors"] == 0 and r["mismatched"] == 0
        assert 0 < r["p50_s"] <= r["p95_s"] <= r["max_s"]
    assert rows[("mixed×4", "search")]["waited_for_model"] == 0
    assert data["server"]["peak_rss_mb"] > 0
