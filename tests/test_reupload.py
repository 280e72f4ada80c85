"""A new version of an uploaded file that cannot be read must cost nothing: the stored
document stays answerable, its file stays byte for byte, and a later ``ingest --sync`` of the
upload folder keeps it (real store, the real packaged embedder, search mode: no LLM)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragmix import RagMix
from ragmix.app.desk import Desk
from ragmix.app.uploads import KEPT_PREFIX, STAGING_PREFIX
from tests.fixtures import make_binary_junk_txt

REPORT = "The Lumen plant in Suzhou made 4,200 kilns in 2025; descaling is due every 90 days.\n"


@pytest.mark.slow
def test_a_corrupt_reupload_leaves_the_stored_document_and_its_file(
    rm: RagMix, tmp_path: Path
) -> None:
    desk = Desk(rm)
    good = tmp_path / "good.txt"
    good.write_text(REPORT * 3, encoding="utf-8")
    first = desk.upload([(good, "report.txt")])
    assert first.statuses == {"report.txt": "ingested"} and not first.failed
    stored = rm.store.uploads / "report.txt"
    before, stat = stored.read_bytes(), stored.stat()

    junk = make_binary_junk_txt(tmp_path / "junk.txt")
    again = desk.upload([(junk, "report.txt")])
    assert list(again.failed) == ["report.txt"]
    assert stored.read_bytes() == before and stored.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in rm.store.uploads.iterdir()) == ["report.txt"]  # nothing aside
    assert [d.name for d in rm.documents()] == ["report.txt"]
    hits = rm.ask("How many kilns did the Suzhou plant make?", mode="search").sources
    assert hits and hits[0]["source"] == "report.txt"

    synced = rm.ingest(rm.store.uploads, sync=True)
    assert (synced.skipped_unchanged, synced.chunks_removed, synced.failed) == (1, 0, [])
    assert [d.name for d in rm.documents()] == ["report.txt"]

    # A good new version replaces it, and nothing is left aside.
    newer = tmp_path / "newer.txt"
    text = REPORT.replace("4,200", "5,100") * 3
    newer.write_text(text, encoding="utf-8")
    assert desk.upload([(newer, "report.txt")]).statuses == {"report.txt": "ingested"}
    assert stored.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in rm.store.uploads.iterdir()) == ["report.txt"]
    assert [d.name for d in rm.documents()] == ["report.txt"]


def test_a_copy_cut_short_leaves_no_partial_file_and_the_earlier_one(tmp_path: Path) -> None:
    """A real short write (the file size limit of the process, as a full disk would) while
    saving a new version: no partial copy stays and the earlier file is untouched."""
    dest = tmp_path / "uploads"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"old" * 10)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 200_000)
    code = f"""
import resource, signal
from pathlib import Path
from ragmix.app.uploads import save_uploads
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.RLIM_INFINITY))
up, = save_uploads([({str(big)!r}, "a.txt")], Path({str(dest)!r}), max_mb=1, extensions=[".txt"])
print(up.stored, "|", up.failure)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.startswith("None | could not be saved in the upload folder"), out
    assert "free some disk space" in out
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt"]
    assert (dest / "a.txt").read_bytes() == b"old" * 10


def test_recover_puts_an_earlier_file_back_after_a_crash(tmp_path: Path) -> None:
    from ragmix.app.uploads import recover

    dest = tmp_path / "uploads"
    dest.mkdir()
    (dest / "r.txt").write_bytes(b"new, maybe unreadable")
    (dest / f"{KEPT_PREFIX}0123456789abcdef-r.txt").write_bytes(b"earlier")
    (dest / f"{STAGING_PREFIX}fedcba9876543210.txt").write_bytes(b"half a cop")
    assert recover(dest) == []  # maybe another process's upload in progress: left alone
    assert recover(dest, older_than_s=0) == ["r.txt"]
    assert sorted(p.name for p in dest.iterdir()) == ["r.txt"]
    assert (dest / "r.txt").read_bytes() == b"earlier"
