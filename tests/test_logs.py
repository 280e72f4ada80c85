"""Logging: the command's -v/-vv and --log-file, causes kept on wrapped errors. Real CLI
subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGMIX_EMBEDDINGS__MODEL": "packaged:all-MiniLM-L6-v2"}
    return subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_error_is_one_line_and_minus_vv_shows_its_causes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: [unclosed\n", encoding="utf-8")
    quiet = _cli("docs", "list", "--config", str(bad), cwd=tmp_path)
    assert quiet.returncode == 2
    said = " ".join(quiet.stderr.split())  # the terminal wraps long lines
    assert "is not valid YAML" in said and "Traceback" not in said
    loud = _cli("docs", "list", "--config", str(bad), "-vv", cwd=tmp_path)
    assert loud.returncode == 2
    assert "Traceback" in loud.stderr
    assert "yaml" in loud.stderr and "The above exception was the direct cause" in loud.stderr


@pytest.mark.slow
def test_minus_v_says_what_happens_and_log_file_keeps_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("The espresso machine needs descaling every two months.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    log = tmp_path / "logs" / "ragmix.log"
    store = str(tmp_path / "store")
    quiet = _cli("ingest", str(docs), "--store", store, cwd=tmp_path)
    assert "INFO" not in quiet.stderr
    (docs / "other.md").write_text("The grinder needs new burrs every three years.\n")
    run = _cli("ingest", str(docs), "--store", store, "-v", "--log-file", str(log), cwd=tmp_path)
    assert run.returncode == 1  # the broken PDF
    assert "INFO ragmix.ingest.pipeline: other.md: ingested" in run.stderr
    text = log.read_text(encoding="utf-8")
    assert "other.md: ingested" in text and "ingest of 3 files" in text
    assert "WARNING" in text and "broken.pdf not ingested" in text
    assert "MainThread" in text  # times and thread names, for a log read afterwards
