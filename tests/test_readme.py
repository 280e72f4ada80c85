"""The README's Python example and docs/python-api.md's, run as written (one after the other in
one process, in a scratch folder with configs and samples)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_block(path: Path, marker: str) -> str:
    """The first ```python block of ``path`` that contains ``marker``."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return next(b for b in blocks if marker in b)


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path: Path) -> None:
    short = _python_block(ROOT / "README.md", "RagMix.from_config")
    full = _python_block(ROOT / "docs" / "python-api.md", "RagMix.from_config")
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    script = tmp_path / "example.py"
    script.write_text(
        short
        + "\nprint('\\nREADME-OK', answer.route, summary.ingested)\n"
        + full
        + "\nprint('\\nEXAMPLE-OK', answer.route, len(docs))\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    readme = next(line for line in lines if line.startswith("README-OK"))
    assert readme.split()[1] == "stuff" and int(readme.split()[2]) > 0
    last = lines[-1]
    assert last.startswith("EXAMPLE-OK stuff ") and int(last.split()[-1]) > 0
    assert "lumen-x2-manual.md" in run.stdout
