"""Faults: SIGKILL at seeded points, damaged or lost catalog, manifest and BM25 index, a full
disk. Each ends in the state of an uninterrupted run, or in a clear error that leaves the
previous state intact; `ingest --repair` rebuilds what can be rebuilt without losing a
document. Real subprocesses, real Chroma, real packaged embedder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_ingest import _cli, good_corpus, state

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("RAGMIX_FAULT_SEED", "20261127"))
KILLS = int(os.environ.get("RAGMIX_FAULT_KILLS", "10"))


def _rm(store: Path, **overrides: Any) -> Any:
    from ragmix import RagMix

    return RagMix.from_config(None, store={"path": str(store)}, **overrides)


def _corpus(folder: Path) -> Path:
    """Several files, several embedding batches each (48-token chunks, store_batch 4): many
    kill points, little text to embed again after each kill."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (folder / f"doc{i}.md").write_text(
            f"Document {i}. " + " ".join(f"Sentence {j} of document {i}." for j in range(60))
        )
    (folder / "zh.txt").write_text("第一段。苏州园林甲天下。\n\n第二段。营业收入十八亿元。" * 8)
    return folder


def test_seeded_sigkills_converge(tmp_path: Path) -> None:
    """SIGKILL a real `ragmix ingest --sync` at KILLS seeded points spread over every step of
    a first ingest and of a change (edit one file, delete another); each re-run equals the
    uninterrupted run."""
    from ragmix.core import faults

    env = {
        "RAGMIX_INGEST__STORE_BATCH": "4",
        "RAGMIX_CHUNKING__CHUNK_TOKENS": "48",
        "RAGMIX_CHUNKING__OVERLAP_TOKENS": "8",
    }
    overrides = {
        "ingest": {"store_batch": 4},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
    }
    clean_docs = _corpus(tmp_path / "clean-docs")
    faults.steps_taken = 0
    clean = _rm(tmp_path / "clean", **overrides)
    clean.ingest(clean_docs, sync=True)
    first_steps = faults.steps_taken
    want_first = state(clean)
    _change(clean_docs)
    faults.steps_taken = 0
    clean.ingest(clean_docs, sync=True)
    second_steps = faults.steps_taken
    want_second = state(clean)
    n_second = min(KILLS // 2, second_steps - 1)
    assert first_steps - 1 >= KILLS - n_second, (first_steps, second_steps)

    rng = random.Random(SEED)
    plan = [("first", k) for k in sorted(rng.sample(range(1, first_steps), KILLS - n_second))]
    plan += [("second", k) for k in sorted(rng.sample(range(1, second_steps), n_second))]
    for n, (phase, step) in enumerate(plan):
        docs, store = _corpus(tmp_path / f"d{n}"), tmp_path / f"s{n}"
        if phase == "second":
            _rm(store, **overrides).ingest(docs, sync=True)
            _change(docs)
        run = _cli(
            "ingest",
            str(docs),
            "--store",
            str(store),
            "--sync",
            "--json",
            env={**env, "RAGMIX_CRASH_AFTER": str(step)},
        )
        assert run.returncode == -9, (phase, step, run.returncode, run.stderr[-800:])
        rerun = _rm(store, **overrides)
        assert rerun.ingest(docs, sync=True).ok
        want = want_first if phase == "first" else want_second
        assert state(rerun) == want, f"seed {SEED}: {phase} phase, SIGKILL at step {step}"
        shutil.rmtree(store)
    print(f"seed {SEED}: {len(plan)} SIGKILLs survived at steps {plan}")


def _change(docs: Path) -> None:
    (docs / "doc1.md").write_text("Document 1, second edition. " + "New text here. " * 150)
    (docs / "doc3.md").unlink()


def test_lost_bm25_index_heals_on_open(tmp_path: Path) -> None:
    rm = _rm(tmp_path / "s")
    rm.ingest(good_corpus(tmp_path / "docs"))
    want = state(rm)
    rm.catalog.conn.execute("DROP TABLE chunks_fts")
    rm.catalog.close()
    again = _rm(tmp_path / "s")
    assert state(again) == want
    assert again.ask("warranty", mode="search").sources[0]["source"] == "notes.md"


def test_repair_reembeds_missing_and_drops_stray_vectors(tmp_path: Path) -> None:
    rm = _rm(tmp_path / "s")
    docs = _corpus(tmp_path / "docs")
    rm.ingest(docs)
    want = state(rm)
    ids = want["chroma_chunks"]
    assert len(ids) > 5
    rm.vectors.delete(ids[:3])
    rm.vectors.upsert_vectors(["ghost-000001"], [[0.1] * 384], ["ghost"], [{"doc_id": "ghost"}])
    with rm.catalog.transaction() as conn:  # an index that lost rows while open
        conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks LIMIT 2)")
    summary = rm.ingest(docs, repair=True)
    text = " | ".join(summary.repaired)
    assert "BM25 index rebuilt" in text and "re-embedded 3 chunks" in text, text
    assert "removed 1 vectors" in text, text
    assert state(rm) == want
    assert rm.ingest(docs, repair=True).repaired == []  # nothing left to repair


def test_damaged_catalog_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    store, docs = tmp_path / "s", good_corpus(tmp_path / "docs")
    rm = _rm(store)
    rm.ingest(docs)
    want = state(rm)
    rm.catalog.close()
    (store / "catalog.sqlite3").write_bytes(b"this is not a database" * 100)
    for side in ("-wal", "-shm"):
        (store / f"catalog.sqlite3{side}").unlink(missing_ok=True)
    listed = _cli("docs", "list", "--store", str(store))
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert "ingest --repair" in " ".join(listed.stderr.split())  # rich wraps lines
    fixed = _cli("ingest", str(docs), "--repair", "--store", str(store), "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert "moved aside" in " ".join(json.loads(fixed.stdout)["repaired"])
    assert state(_rm(store)) == want
    assert list(store.glob("catalog.sqlite3.damaged-*"))


def test_lost_catalog_keeps_documents_whose_folders_were_not_given(tmp_path: Path) -> None:
    store = tmp_path / "s"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "alpha.md").write_text("Alpha plant. " + "The alpha line runs at night. " * 40)
    (b / "beta.md").write_text("Beta plant. " + "The beta line runs by day. " * 40)
    rm = _rm(store)
    rm.ingest(a, b)
    want = state(rm)
    rm.catalog.close()
    (store / "catalog.sqlite3").unlink()
    only_a = _rm(store).ingest(a, repair=True)
    assert any(
        "kept the vectors of 1 documents" in r and "beta.md" in r for r in only_a.repaired
    ), only_a.repaired
    both = _rm(store)
    both.ingest(a, b, repair=True)
    assert state(both) == want


def test_lost_manifest_relinks_without_reembedding(tmp_path: Path) -> None:
    rm = _rm(tmp_path / "s")
    docs = good_corpus(tmp_path / "docs")
    rm.ingest(docs)
    want = state(rm)
    with rm.catalog.transaction() as conn:
        conn.execute("DELETE FROM sources")
    assert rm.ingest(tmp_path / "nothing-here").failed  # nothing was removed meanwhile
    assert state(rm)["docs"] == want["docs"]
    again = rm.ingest(docs)
    assert again.chunks_added == 0 and again.ok
    assert state(rm) == want


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path, leave_kb: int) -> Path:
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as fh:
        fh.truncate(0)
        fh.write(b"\0" * max(free - leave_kb * 1024, 0))
    return filler


def test_full_disk_fails_clearly_and_keeps_the_previous_state(
    small_disk: Path, tmp_path: Path
) -> None:
    store = small_disk / "store"
    first = good_corpus(tmp_path / "first")
    rm = _rm(store)
    rm.ingest(first)
    before = state(rm)
    more = tmp_path / "more"
    more.mkdir()
    for i in range(6):
        (more / f"big{i}.md").write_text(f"Big {i}. " + f"Row {i} of the big ledger. " * 1200)
    filler = _fill(small_disk, leave_kb=256)
    run = _cli("ingest", str(more), "--store", str(store), timeout=600)
    assert run.returncode == 1, run.stderr[-1500:]
    assert "Traceback" not in run.stderr and "full" in run.stderr, run.stderr[-1500:]
    print("full disk:", " ".join(run.stderr.split()))
    after = _rm(store)
    got = state(after)
    assert got["docs"] == before["docs"] and got["problems"] == []
    assert after.ask("warranty", mode="search").sources[0]["source"] == "notes.md"
    filler.unlink()
    done = _rm(store).ingest(first, more)
    assert done.ok and done.ingested == 6
    final = state(_rm(store))
    assert final["problems"] == [] and final["chroma_chunks"] == final["catalog_chunks"]
    assert final["states"] == ["ready"]
