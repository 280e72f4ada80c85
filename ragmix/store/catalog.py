"""The catalog: documents, their full texts, chunks and the BM25 index, in one SQLite file.

Everything the question side needs besides the vectors lives here, so answering never
re-reads a source file: the whole text of each document (for the whole-document route), its
token counts, its chunks with offsets and pages, and an FTS5 index over jieba/word tokens of
every chunk (BM25 ranking, ``bm25()``). Because the lexical index is in the same SQLite
database as the chunk table, a single transaction keeps them in step: there is no moment at
which one has a chunk the other lacks.

The vector store (Chroma) is the one thing outside that transaction. The ingest pipeline
keeps it consistent with a small protocol (see ``ingest/pipeline.py``): a document is
committed here as ``pending`` before its vectors are written and flipped to ``ready`` after;
deletions go through ``deleting``. A crash leaves those states behind and the next writer
finishes or undoes them, so the two stores converge.

A document is its content (the doc id is a content hash), so it can carry several names:
every file name it was ingested under is one of its *aliases* (``aliases`` table), and the
document stays while it has at least one. ``documents.name`` is the display name: the first
name it got that it still has; citations use it.

Threads: every thread gets its own SQLite connection (WAL mode, so readers never wait for the
writer), and writes go through :meth:`Catalog.transaction`, one at a time per process behind a
lock; other processes are waited for up to ``busy_timeout_s``. A SQLite error never escapes as
such: it becomes a :class:`~ragmix.core.errors.StoreError` that says what failed and keeps
the cause.

The catalog is one class built from rooms of one concept each: ``ragmix.store.database``
(connections, transactions, schema and migrations), ``ragmix.store.documents`` (documents,
names, texts, chunks) and ``ragmix.store.bm25`` (FTS5 and the tantivy engine); this module
opens it and checks it whole.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from ragmix.core.errors import StoreError
from ragmix.store.bm25 import LexicalRows, fts_query
from ragmix.store.database import (
    _LEGACY_ALIASES,
    SCHEMA_VERSION,
    disk_full_error,
    is_disk_full,
    readable,
)
from ragmix.store.documents import DocumentInfo, DocumentRows, Match, chunk_id, page_of

if TYPE_CHECKING:
    from ragmix.store.lexical import LexicalIndex

__all__ = [
    "SCHEMA_VERSION",
    "Catalog",
    "DocumentInfo",
    "Match",
    "chunk_id",
    "disk_full_error",
    "fts_query",
    "is_disk_full",
    "page_of",
    "readable",
]

logger = logging.getLogger(__name__)


class Catalog(DocumentRows, LexicalRows):
    """The SQLite catalog of one store. Cheap to open; safe to use from several threads.

    Each thread reads through its own connection; writes go through :meth:`transaction`.

    Args:
        path: the database file (``<store>/catalog.sqlite3``).
        readonly: open without the ability to write (question side of a shared store).
        busy_timeout_s: how long a write waits for another writer (thread or process).

    Raises:
        StoreError: the file cannot be opened, is damaged, or was made by a newer ragmix.
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
        lexical: str = "tantivy",
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.busy_timeout_s = busy_timeout_s
        self.lexical = lexical
        self._engine: LexicalIndex | None = None
        self._engine_ok = False  # the engine holds what the catalog says (same stamp)
        if readonly and not self.path.exists():
            raise StoreError(
                f"no catalog at {self.path}: run `ragmix ingest PATH` with this store first"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self._legacy = False  # a read-only schema-1 file: names come from documents.name
        try:
            if readonly:
                self._legacy = self._version(self.conn) < 2
                if self._legacy:
                    self.conn.execute(_LEGACY_ALIASES)
            else:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self._create_or_migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            if is_disk_full(exc):
                raise disk_full_error(self.path) from exc
            raise StoreError(
                f"the catalog {self.path} cannot be opened ({exc}); if it is damaged, run "
                "`ragmix ingest --repair FOLDER...` with your document folders: it moves the "
                "damaged file aside and rebuilds the catalog from them and the vector store"
            ) from exc
        except BaseException:
            self.close()
            raise

        from ragmix.core.text import LEXICAL_VERSION

        if not readonly:
            if self.get_meta("lexical_version") != LEXICAL_VERSION or self._lexical_count_off():
                # A new tokenizer, or an index that lost rows (dropped or damaged): the chunk
                # texts in this database are the source, so rebuild it now.
                self.rebuild_lexical()
            else:
                self._sync_engine()
        elif self.get_meta("lexical_version") != LEXICAL_VERSION:
            # A reader cannot rebuild it: questions still match, but with today's tokens
            # against older ones (e.g. Traditional text unmatched by a Simplified question).
            logger.warning(
                "the BM25 index of %s was made by another ragmix version; run `ragmix ingest "
                "--repair` (or any ingest) once with this store to rebuild it", self.path,
            )  # fmt: skip

    def check(self) -> list[str]:
        """Internal consistency problems (empty list when healthy)."""
        problems: list[str] = []
        n_chunks = self._one("SELECT count(*) FROM chunks")[0]
        n_fts = self._one("SELECT count(*) FROM chunks_fts")[0]
        if n_chunks != n_fts:
            problems.append(f"lexical index has {n_fts} entries for {n_chunks} chunks")
        engine = self._engine_ready()
        if self.lexical == "tantivy" and not self.readonly:
            n_engine = engine.count() if engine is not None else None
            if n_engine != n_chunks:
                problems.append(
                    f"lexical search index ({self.lexical_folder.name}) has "
                    f"{'no entries of this catalog' if n_engine is None else n_engine} "
                    f"for {n_chunks} chunks"
                )
        bad = self.query(
            "SELECT d.name, d.n_chunks, count(c.rowid) FROM documents d"
            " LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id"
            " HAVING d.n_chunks != count(c.rowid)"
        )
        problems += [f"{name}: {want} chunks expected, {have} stored" for name, want, have in bad]
        nameless = self.query(
            "SELECT d.name FROM documents d WHERE d.state = 'ready' AND NOT EXISTS"
            " (SELECT 1 FROM aliases a WHERE a.doc_id = d.doc_id AND a.name = d.name)"
        )
        problems += [f"{r[0]}: its display name is not among its names" for r in nameless]
        try:
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            problems.append(f"lexical index damaged: {exc}")
        return problems
