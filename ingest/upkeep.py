"""Keeping a store whole around the ingest run: recovery from an interrupted writer,
``--repair`` (derived indexes rebuilt, vectors reconciled with the chunks), ``--reembed`` (every
chunk embedded again into a staging collection, then swapped in) and deletion. ``Upkeep`` is
the base of ``ragmix.ingest.pipeline.Pipeline``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import closing
from typing import Any

from ragmix.core.events import (
    Embedding,
)
from ragmix.core.faults import checkpoint
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language
from ragmix.ingest.manifest import Manifest
from ragmix.ingest.summary import Encoder, ProgressFn, VectorWriter
from ragmix.store.catalog import Catalog
from ragmix.store.stores import Store

logger = logging.getLogger("ragmix.ingest.pipeline")


class Upkeep:
    """Recovery, repair, re-embedding and deletion over one store (set up by ``Pipeline``)."""

    settings: Settings
    store: Store
    manifest: Manifest
    encoder: Encoder
    progress: ProgressFn

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog

    @property
    def vectors(self) -> VectorWriter:
        """Opened on first use: a re-run over unchanged files never opens Chroma."""
        return self.store.vectors

    @property
    def _embed_batch(self) -> int:
        """Texts per embedding batch: each batch is reported, so progress moves about every
        second; never more than a store batch."""
        step = max(self.settings.ingest.store_batch, 1)
        return max(min(self.settings.embeddings.batch_size, step), 1)

    # -- recovery -------------------------------------------------------------------------
    def recover(self, reconcile: bool = False) -> int:
        """Finish or undo whatever an interrupted writer left; returns chunks removed.

        Args:
            reconcile: the previous writer never finished (its dirty flag is still set):
                also delete vectors whose chunk the catalog does not know.
        """
        removed = 0
        with self.catalog.transaction() as conn:
            for path in self.manifest.dangling(conn):
                self.manifest.drop(conn, path)
            # Documents without a source are *not* removed here: no crash can leave one
            # (a document turns ready in the transaction that links its file), so they come
            # from a lost manifest, or, in http mode, from other writers. `--repair` relinks
            # them; `--sync` and `docs delete` remove documents deliberately.
        for state in ("pending", "deleting"):
            for doc_id in self.catalog.doc_ids(state):
                removed += self._purge(doc_id)
        if reconcile:
            known = set(self.catalog.chunk_ids())
            strays = [cid for cid in self.vectors.iter_ids() if cid not in known]
            if strays:
                self.vectors.delete(strays)
        return removed

    def _purge(self, doc_id: str) -> int:
        self.store.withdraw(doc_id)
        self.vectors.delete_doc(doc_id)
        checkpoint()
        with self.catalog.transaction() as conn:
            self.manifest.drop_doc(conn, doc_id)
            return self.catalog.remove(conn, doc_id)

    # -- repair ---------------------------------------------------------------------------
    def repair(self, recreated: bool = False) -> list[str]:
        """Rebuild derived indexes from the catalog's texts and reconcile the vectors with
        the chunks; returns what was done, one line each. Never removes a document.

        Args:
            recreated: the catalog was lost and rebuilt from source files in this run, so
                vectors of documents it does not know may be the only trace of documents whose
                folders were not given: keep them (and say so) instead of deleting them.
        """
        done: list[str] = []
        problems = self.catalog.check()
        if problems:
            n = self.catalog.rebuild_lexical()
            done.append(f"BM25 index rebuilt from {n} chunk texts ({'; '.join(problems)})")
            still = self.catalog.check()
            if still:
                done.append("still inconsistent after the rebuild: " + "; ".join(still))
        dense = set(self.catalog.chunk_ids(dense_only=True))
        known_docs = set(self.catalog.doc_ids())
        stored: dict[str, dict[str, Any]] = dict(self.vectors.iter_records())
        strays, notes = self.store.stray_vectors(stored, dense, known_docs, recreated)
        done += notes
        if strays:
            self.vectors.delete(strays)
            done.append(f"removed {len(strays)} vectors that belong to no chunk")
        missing = sorted(dense - stored.keys())
        if missing:
            self._reembed(missing)
            done.append(f"re-embedded {len(missing)} chunks whose vectors were missing")
        done += self.store.orphans_note(self.manifest.orphan_names())
        for line in done:
            logger.warning("repair: %s", line)
        return done

    def _reembed(
        self,
        chunk_ids: Sequence[str],
        into: VectorWriter | None = None,
        label: str = "repair",
        done: int = 0,
    ) -> None:
        """Embed chunks again from the catalog's texts and write them to ``into`` (default:
        the live collection); progress under ``label``, counting ``done`` as already done."""
        target = into or self.vectors
        step = max(self.settings.ingest.store_batch, 1)
        now = time.time()
        for i in range(0, len(chunk_ids), step):
            batch = self.catalog.chunk_records(chunk_ids[i : i + step])
            metas = [
                vector_meta(doc_id, name, idx, start, end, page, now)
                for _cid, doc_id, name, idx, start, end, page, _text, _prev in batch
            ]
            texts = [r[7] for r in batch]
            said = [embedded_text(r[7], r[4], r[8]) for r in batch]
            with closing(self.encoder.embed_in_batches(said, self._embed_batch)) as stream:
                vectors = [v for got in stream for v in got]
            target.upsert_vectors([r[0] for r in batch], vectors, texts, metas)
            self.progress(Embedding(label, done + i + len(batch), done + len(chunk_ids)))
            checkpoint()

    # -- re-embedding with another embedder -------------------------------------------------
    def reembed(self) -> int:
        """Re-embed every chunk with the configured embedder; returns chunks embedded.

        Reads the chunk texts from the catalog (no file is read again) and fills a staging
        collection, which then replaces the live one, so searches never meet a mix of two
        embedders' vectors. Crash-safe: chunk ids are deterministic, a re-run resumes the
        staging collection where it stopped, and a finished but unswapped staging
        collection is swapped in by the next run (``finish_reembed``).
        """
        self.recover()
        with self.catalog.transaction() as conn:
            self.catalog.set_meta(conn, "reembed", "1")
        stage = self.vectors.staging()
        want = [  # chunk_texts() holds the chunks of ready documents only
            cid
            for cid, _doc_id, text in self.catalog.chunk_texts()
            if self.encoder.understands(detect_language(text))
        ]
        have = set(stage.iter_ids())
        stale = sorted(have - set(want))  # chunks deleted since an interrupted run
        if stale:
            stage.delete(stale)
        todo = [cid for cid in want if cid not in have]
        self._reembed(todo, into=stage, label="reembed", done=len(want) - len(todo))
        stage.mark_complete()
        checkpoint()
        self.finish_reembed()
        return len(todo)

    def finish_reembed(self) -> bool:
        """Swap in a complete staging collection and record which chunks have vectors;
        True if there was one. Run at the start of every ingest, so an interrupted swap is
        always finished."""
        if self.catalog.get_meta("reembed") is None:
            return False  # the common case: no Chroma call
        pending = self.vectors.pending_staging()
        if pending is not None and not pending[1]:
            return False  # interrupted while embedding: `--reembed` resumes it
        self.vectors.promote()
        checkpoint()
        dense = set(self.vectors.iter_ids())
        with self.catalog.transaction() as conn:
            self.catalog.set_dense(conn, dense)
            self.catalog.set_meta(conn, "reembed", None)
        return True

    def delete(self, doc_id: str) -> int:
        """Remove one document and its sources from every index."""
        with self.catalog.transaction() as conn:
            self.catalog.set_state(conn, doc_id, "deleting")
        return self._purge(doc_id)


def embedded_text(text: str, start: int, previous_end: int | None) -> str:
    """What a chunk's vector is made of: its text without the overlap it repeats from the
    previous chunk (which ends at ``previous_end``; None for a document's first chunk).

    The overlap is there so a reader (BM25, the answering model) never meets a sentence cut
    from its context; embedding it twice only costs time (~12% of the characters of a
    corpus at the default 32 of 220 tokens): the previous chunk's vector already carries it.
    The stored text, BM25 and answers keep the whole chunk.
    """
    if previous_end is None or previous_end <= start:
        return text
    rest = text[previous_end - start :].strip()
    return rest or text


def vector_meta(
    doc_id: str, name: str, idx: int, start: int, end: int, page: int | None, now: float
) -> dict[str, Any]:
    """Metadata stored with a chunk's vector (``t``: when, for `--repair`'s grace period)."""
    meta: dict[str, Any] = {
        "doc_id": doc_id,
        "source": name,
        "chunk": idx,
        "start": start,
        "end": end,
        "t": now,
    }
    if page is not None:
        meta["page"] = page
    return meta
