"""The README's Python example runs as written (in a scratch folder with configs and samples)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "RagMix.from_config" in b)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    script = tmp_path / "example.py"
    script.write_text(example + "\nprint('\\nEXAMPLE-OK', answer.route, len(docs))\n")
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("EXAMPLE-OK stuff ") and int(last.split()[-1]) > 0
    assert "lumen-x2-manual.md" in run.stdout
