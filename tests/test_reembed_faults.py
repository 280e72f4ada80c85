"""A re-embedding meets a Chroma that fails for a moment: only a real "no such collection"
means there is none; any other error stops the run with a clear message and leaves the
re-embedding resumable (real Chroma on disk, the packaged e5 embedder; the failure is raised
by the Chroma client's own ``get_collection``, where a flaky store raises it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragmix import RagMix
from ragmix.core import faults
from ragmix.core.errors import StoreError

pytestmark = pytest.mark.slow

DOCS = {
    "a.md": "The warranty of the Lumen lamp lasts two years from the day of purchase.\n",
    "b.md": "Descale the espresso machine every ninety days with citric acid.\n",
}


def _rm(store: Path) -> RagMix:
    return RagMix.from_config(None, store={"path": str(store)}, ingest={"store_batch": 1})


def _interrupted_after_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store whose re-embedding filled and completed its staging collection, then stopped
    right after marking it complete, before the swap."""
    from ragmix.store.vectors import VectorIndex

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    store = tmp_path / "store"
    _rm(store).ingest(docs)
    real = VectorIndex.mark_complete

    def then_crash(self: VectorIndex) -> None:
        real(self)
        raise faults.SimulatedCrash("stopped after the staging collection was complete")

    with monkeypatch.context() as m:
        m.setattr(VectorIndex, "mark_complete", then_crash)
        rm = _rm(store)
        with pytest.raises(faults.SimulatedCrash):
            rm.ingest(reembed=True)
    assert rm.vectors.pending_staging() == ("ragmix.reembed", True)
    rm.catalog.close()
    return store


def test_a_flaky_chroma_does_not_read_as_an_already_promoted_reembedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.errors import InternalError

    store = _interrupted_after_staging(tmp_path, monkeypatch)
    rm = _rm(store)
    client = rm.vectors.client
    real = type(client).get_collection
    calls: list[str] = []

    def flaky(self: Any, name: str, *args: Any, **kw: Any) -> Any:
        if name.endswith(".reembed"):
            calls.append(name)
            raise InternalError("Error executing plan: database is locked")
        return real(self, name, *args, **kw)

    monkeypatch.setattr(type(client), "get_collection", flaky)
    with pytest.raises(StoreError) as caught:
        rm.ingest()  # every run first finishes a pending re-embedding
    msg = str(caught.value)
    assert calls and "database is locked" in msg
    assert "the re-embedding is kept: run `ragmix ingest --reembed` again" in msg
    monkeypatch.setattr(type(client), "get_collection", real)
    assert rm.catalog.get_meta("reembed") == "1"  # still pending
    assert rm.vectors.pending_staging() == ("ragmix.reembed", True)  # not orphaned

    summary = rm.ingest(reembed=True)  # the store answers again: resumes and swaps in
    assert summary.ok and rm.catalog.get_meta("reembed") is None
    assert rm.vectors.pending_staging() is None
    assert sorted(rm.vectors.iter_ids()) == sorted(rm.catalog.chunk_ids(dense_only=True))
    hits = rm.ask("How long is the lamp's warranty?", mode="search").sources
    assert hits[0]["source"] == "a.md"
