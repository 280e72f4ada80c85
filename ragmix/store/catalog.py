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
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import StoreError
from ragmix.core.schema import Chunk, PageNotes, Passage

if TYPE_CHECKING:
    from ragmix.store.lexical import LexicalIndex

logger = logging.getLogger(__name__)

#: 1: the first release. 2: ``aliases`` (every name a document was ingested under).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,             -- content hash: same bytes, same document
    name        TEXT NOT NULL,                -- display name: first source path, relative
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'deleting')),
    n_pages     INTEGER,
    n_chars     INTEGER NOT NULL,
    n_chunks    INTEGER NOT NULL DEFAULT 0,
    page_starts TEXT,                         -- JSON list of page start offsets
    text        TEXT NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
CREATE TABLE IF NOT EXISTS doc_tokens (
    doc_id    TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    tokenizer TEXT NOT NULL,
    n_tokens  INTEGER NOT NULL,
    PRIMARY KEY (doc_id, tokenizer)
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid    INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id   TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    page     INTEGER,
    start    INTEGER NOT NULL,
    "end"    INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    dense    INTEGER NOT NULL DEFAULT 1,      -- 1: has a vector (embedder reads its language)
    text     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, idx);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(tokens, tokenize = 'unicode61');
-- How many chunks hold each term: the inverse document frequencies of a question's terms.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
-- Chunks whose lexical-search entry (ragmix/store/lexical.py) must be refreshed: written by
-- these triggers in the transaction that changes the chunk, replayed and cleared after it.
CREATE TABLE IF NOT EXISTS lexical_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk INTEGER);
CREATE TRIGGER IF NOT EXISTS chunks_lexical_add AFTER INSERT ON chunks
    BEGIN INSERT INTO lexical_log (chunk) VALUES (new.rowid); END;
CREATE TRIGGER IF NOT EXISTS chunks_lexical_del AFTER DELETE ON chunks
    BEGIN INSERT INTO lexical_log (chunk) VALUES (old.rowid); END;
-- The manifest (ingest/manifest.py): which file on this machine holds which document.
CREATE TABLE IF NOT EXISTS sources (
    path     TEXT PRIMARY KEY,   -- resolved absolute path
    name     TEXT NOT NULL,      -- path relative to the ingest root, for display and citation
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    doc_id   TEXT NOT NULL,
    seen_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_doc ON sources(doc_id);
-- Every name a document is known by (schema 2); rowid order is the order they were added.
CREATE TABLE IF NOT EXISTS aliases (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    UNIQUE (doc_id, name)
);
CREATE INDEX IF NOT EXISTS aliases_name ON aliases(name);
-- What a page is called (a workbook's sheet name) and whether OCR read it, with its mean
-- confidence; only pages with either have a row. Added after schema 2 without a new number:
-- an older catalog gets the empty table on open (its documents' pages stay numbered), and
-- an older ragmix ignores it.
CREATE TABLE IF NOT EXISTS doc_pages (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    page   INTEGER NOT NULL,
    label  TEXT,
    ocr    REAL,
    PRIMARY KEY (doc_id, page)
);
"""

#: Tables and indexes of the schema; one that went missing (e.g. a dropped BM25 index) is
#: created again on open, and then refilled (see ``Catalog.__init__``).
_SCHEMA_OBJECTS = set(re.findall(r"IF NOT EXISTS (\w+)", _SCHEMA))

#: Schema 1 -> 2: a document's names are the names of the files on record for it (its
#: display name alone when there are none); a display name no file gives any more (0.1 kept
#: the first name after that file changed) becomes the first of them.
_MIGRATE_TO_2 = (
    "INSERT OR IGNORE INTO aliases (doc_id, name) SELECT s.doc_id, s.name FROM sources s"
    " JOIN documents d ON d.doc_id = s.doc_id ORDER BY s.seen_at, s.name",
    "INSERT OR IGNORE INTO aliases (doc_id, name) SELECT d.doc_id, d.name FROM documents d"
    " WHERE NOT EXISTS (SELECT 1 FROM aliases a WHERE a.doc_id = d.doc_id)",
    "UPDATE documents SET name = (SELECT a.name FROM aliases a WHERE a.doc_id ="
    " documents.doc_id ORDER BY a.rowid LIMIT 1) WHERE NOT EXISTS (SELECT 1 FROM aliases a"
    " WHERE a.doc_id = documents.doc_id AND a.name = documents.name)",
)


@dataclass(frozen=True)
class DocumentInfo:
    """One row of ``ragmix docs list``."""

    doc_id: str
    name: str
    kind: str
    state: str
    n_pages: int | None
    n_chars: int
    n_chunks: int
    ingested_at: float
    n_tokens: int | None = None
    aliases: tuple[str, ...] = ()
    """The other names the same content was ingested under (``name`` is not repeated)."""
    ocr_pages: int = 0
    """How many of its pages OCR read."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name of the document, the display name first."""
        return (self.name, *self.aliases)

    def as_dict(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "name": self.name,
            "aliases": list(self.aliases),
            "kind": self.kind,
            "pages": self.n_pages,
            "chunks": self.n_chunks,
            "chars": self.n_chars,
            "tokens": self.n_tokens,
            "ocr_pages": self.ocr_pages,
            "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.ingested_at)),
        }


def chunk_id(doc_id: str, index: int) -> str:
    """Deterministic chunk ids make re-writing a chunk after a crash an idempotent upsert."""
    return f"{doc_id}-{index:06d}"


def page_of(page_starts: Sequence[int] | None, offset: int) -> int | None:
    """1-based page holding ``offset``, or None for formats without pages."""
    if not page_starts:
        return None
    from bisect import bisect_right

    return max(1, bisect_right(page_starts, offset))


def is_disk_full(exc: BaseException) -> bool:
    import errno

    text = str(exc).lower()
    return (
        getattr(exc, "errno", None) == errno.ENOSPC
        or "disk is full" in text
        or "no space left" in text
        or "disk full" in text
    )


def _statements(script: str) -> list[str]:
    """The statements of a schema script, whole (a trigger's body has ``;`` inside).

    >>> _statements("CREATE TABLE a (x); CREATE TRIGGER t AFTER INSERT ON a BEGIN "
    ...             "SELECT 1; END;")
    ['CREATE TABLE a (x);', 'CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;']
    """
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    out: list[str] = []
    current = ""
    for part in "\n".join(lines).split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                out.append(" ".join(current.split()))
            current = ""
    return out


def disk_full_error(path: Path) -> StoreError:
    return StoreError(
        f"the disk holding {path.parent} is full; free some space and run the same command "
        "again (what was stored before is intact; this run's unfinished work is redone)",
        code="disk_full",
        params={"path": str(path.parent)},
    )


def readable(path: Path) -> bool:
    """Whether SQLite reads the catalog file at ``path`` without finding damage."""
    try:
        conn = sqlite3.connect(Path(os.path.abspath(path)).as_uri() + "?mode=ro", uri=True)
        try:
            return bool(conn.execute("PRAGMA quick_check").fetchone()[0] == "ok")
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def _query_terms(tokens: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tok in tokens:
        tok = tok.replace('"', "").strip()
        if tok:
            seen.setdefault(tok, None)
    return list(seen)


def fts_query(tokens: Iterable[str]) -> str:
    """An FTS5 OR-query of quoted tokens (quotes make every token a literal)."""
    return " OR ".join(f'"{t}"' for t in _query_terms(tokens))


@dataclass(frozen=True)
class Match:
    """What a name given by a user (``--doc NAME``, ``docs delete NAME``) refers to."""

    doc: DocumentInfo
    names: tuple[str, ...]
    """The document's names that matched (empty when it matched by doc id)."""


class Catalog:
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

    # -- connections ----------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use. For reading only: writes go
        through :meth:`transaction` (tests and benchmarks inspect tables through it)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._closed:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the catalog {self.path} was closed; open the store again")
        uri = Path(os.path.abspath(self.path)).as_uri() + ("?mode=ro" if self.readonly else "")
        # check_same_thread=False only so that close() may close every thread's connection;
        # each connection is used by the thread that opened it and nobody else.
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error("opening", exc) from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.readonly:
                conn.execute("PRAGMA synchronous = NORMAL")
            elif self._legacy:
                conn.execute(_LEGACY_ALIASES)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("opening", exc) from exc
        with self._conns_lock:
            # Connections of threads that have ended are closed here, so a pool of
            # short-lived threads does not pile up open files.
            alive = []
            for ref, other in self._conns:
                thread = ref()
                if thread is not None and thread.is_alive():
                    alive.append((ref, other))
                else:
                    other.close()
            alive.append((weakref.ref(threading.current_thread()), conn))
            self._conns = alive
        return conn

    def close(self) -> None:
        """Close every thread's connection (call when no thread uses the catalog any more)."""
        with self._conns_lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for _ref, conn in conns:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all.

        One writer at a time: other threads wait here (and other processes in SQLite) up to
        ``busy_timeout_s``. A transaction opened inside another on the same thread joins it.

        Raises:
            StoreError: the write failed (disk full, locked too long, damaged file); the
                transaction is rolled back and the catalog keeps its previous state.
        """
        if not self._write_lock.acquire(timeout=self.busy_timeout_s):
            raise StoreError(
                f"another thread of this process kept the catalog {self.path} busy for more "
                f"than {self.busy_timeout_s:g} s; try again when it has finished"
            )
        replay = False
        try:
            depth = getattr(self._local, "depth", 0)
            conn = self.conn
            if depth:
                self._local.depth = depth + 1
                try:
                    yield conn
                finally:
                    self._local.depth = depth
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error("starting a write on", exc) from exc
            self._local.depth = 1
            try:
                yield conn
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self._error("writing to", exc) from exc
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback(conn)
                    raise self._error("committing a write to", exc) from exc
                replay = True
            finally:
                self._local.depth = 0
        finally:
            self._write_lock.release()
        if replay and self._engine_ok:
            self._replay()

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.warning("rollback failed", exc_info=True)  # SQLite undoes it on reopen

    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        """The one place a SQLite error becomes a StoreError (raise it ``from exc``)."""
        if is_disk_full(exc):
            return disk_full_error(self.path)
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{what} the catalog {self.path} failed: another process kept it locked "
                f"for more than {self.busy_timeout_s:g} s; try again when it has finished"
            )
        return StoreError(
            f"{what} the catalog {self.path} failed ({exc}); if the file is damaged, run "
            "`ragmix ingest --repair FOLDER...` with your document folders"
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read on this thread's connection. For the manifest, which owns the
        ``sources`` table; everything else asks through the named methods below."""
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error("reading from", exc) from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- schema ---------------------------------------------------------------------------
    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: an empty file
            return 0
        if row:
            return int(row[0])
        # Documents without a version: the first release's layout.
        documents = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
        return 1 if conn.execute(documents).fetchone() else 0

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the catalog {self.path} has schema {version}, made by a newer ragmix than "
                f"this one (schema {SCHEMA_VERSION}); upgrade ragmix to use this store"
            )

    def _create_or_migrate(self) -> None:
        version = self._version(self.conn)
        self._check_not_newer(version)
        have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        if version == SCHEMA_VERSION and have >= _SCHEMA_OBJECTS:
            return  # the common case: no write, so opening never waits for a writer
        with self.transaction() as conn:
            version = self._version(conn)  # another process may have just done it
            self._check_not_newer(version)
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            if version == 1:
                logger.info("upgrading the catalog %s from schema 1 to %d", self.path, 2)
                for statement in _MIGRATE_TO_2:
                    conn.execute(statement)
            self.set_meta(conn, "schema_version", str(SCHEMA_VERSION))

    def _lexical_count_off(self) -> bool:
        try:
            n_chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            n_fts = self.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        except sqlite3.DatabaseError:
            return True
        return bool(n_chunks != n_fts)

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- documents ------------------------------------------------------------------------
    def add_pending(
        self,
        conn: sqlite3.Connection,
        *,
        doc_id: str,
        name: str,
        kind: str,
        text: str,
        page_starts: list[int] | None,
        chunks: Sequence[Chunk],
        lexical: Sequence[Sequence[str]],
        tokens: dict[str, int],
        dense: Sequence[bool] | None = None,
        ingested_at: float | None = None,
        names: Sequence[str] = (),
        page_labels: Sequence[str] | None = None,
        ocr_pages: Mapping[int, float] | None = None,
    ) -> None:
        """Insert a document with its chunks and lexical tokens, in state ``pending``.

        ``name`` is its display name; ``names`` any further names it already has;
        ``page_labels`` its pages' names (one per page), ``ocr_pages`` the pages OCR read
        and the mean confidence on each (see ``LoadedDocument``)."""
        conn.execute(
            "INSERT INTO documents (doc_id, name, kind, state, n_pages, n_chars, n_chunks,"
            " page_starts, text, ingested_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
            (
                doc_id,
                name,
                kind,
                len(page_starts) if page_starts is not None else None,
                len(text),
                len(chunks),
                json.dumps(page_starts) if page_starts is not None else None,
                text,
                ingested_at or time.time(),
            ),
        )
        notes: dict[int, list[Any]] = {}
        for page, label in enumerate(page_labels or (), 1):
            notes.setdefault(page, [None, None])[0] = label
        for page, confidence in (ocr_pages or {}).items():
            notes.setdefault(int(page), [None, None])[1] = float(confidence)
        conn.executemany(
            "INSERT OR REPLACE INTO doc_pages VALUES (?, ?, ?, ?)",
            [(doc_id, page, label, ocr) for page, (label, ocr) in sorted(notes.items())],
        )
        for alias in dict.fromkeys([name, *names]):
            conn.execute(
                "INSERT OR IGNORE INTO aliases (doc_id, name) VALUES (?, ?)", (doc_id, alias)
            )
        for tokenizer, n in tokens.items():
            conn.execute("INSERT INTO doc_tokens VALUES (?, ?, ?)", (doc_id, tokenizer, n))
        flags = dense if dense is not None else [True] * len(chunks)
        for chunk, toks, flag in zip(chunks, lexical, flags, strict=True):
            cur = conn.execute(
                'INSERT INTO chunks (chunk_id, doc_id, idx, page, start, "end", n_tokens, dense,'
                " text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chunk_id(doc_id, chunk.index),
                    doc_id,
                    chunk.index,
                    page_of(page_starts, chunk.start),
                    chunk.start,
                    chunk.end,
                    chunk.n_tokens,
                    int(flag),
                    chunk.text,
                ),
            )
            conn.execute(
                "INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
                (cur.lastrowid, " ".join(toks)),
            )

    def set_state(self, conn: sqlite3.Connection, doc_id: str, state: str) -> None:
        conn.execute("UPDATE documents SET state = ? WHERE doc_id = ?", (state, doc_id))

    def remove(self, conn: sqlite3.Connection, doc_id: str) -> int:
        """Delete a document, its names, chunks and their lexical entries; returns chunks
        removed."""
        rows = conn.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", rows)
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM aliases WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM doc_pages WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return len(rows)

    # -- names ------------------------------------------------------------------------------
    def names(self, doc_id: str) -> list[str]:
        """Every name of a document, its display name first, then in the order added."""
        row = self._one("SELECT name FROM documents WHERE doc_id = ?", (doc_id,))
        if row is None:
            return []
        rows = self.query("SELECT name FROM aliases WHERE doc_id = ? ORDER BY rowid", (doc_id,))
        return list(dict.fromkeys([row[0], *(r[0] for r in rows)]))

    def name(self, doc_id: str) -> str:
        """The display name of a document (its id when it is unknown)."""
        row = self._one("SELECT name FROM documents WHERE doc_id = ?", (doc_id,))
        return str(row[0]) if row else doc_id

    def set_names(self, conn: sqlite3.Connection, doc_id: str, names: Sequence[str]) -> None:
        """Make ``names`` (not empty) exactly the names of a document. The display name is
        kept while it is among them, else it becomes the first of ``names``."""
        if not names:
            raise ValueError("a document keeps at least one name; remove it instead")
        want = list(dict.fromkeys(names))
        if conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is None:
            return  # removed meanwhile (another process sharing a server cache)
        have = [r[0] for r in conn.execute(
            "SELECT name FROM aliases WHERE doc_id = ? ORDER BY rowid", (doc_id,)
        )]  # fmt: skip
        conn.executemany(
            "DELETE FROM aliases WHERE doc_id = ? AND name = ?",
            [(doc_id, n) for n in have if n not in want],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO aliases (doc_id, name) VALUES (?, ?)",
            [(doc_id, n) for n in want],
        )
        conn.execute(
            "UPDATE documents SET name = ? WHERE doc_id = ? AND name NOT IN"
            f" ({','.join('?' * len(want))})",
            (want[0], doc_id, *want),
        )

    def all_names(self) -> dict[str, list[str]]:
        """Every ready document's names, in the order added."""
        out: dict[str, list[str]] = {}
        for doc_id, name in self.query(
            "SELECT a.doc_id, a.name FROM aliases a JOIN documents d ON d.doc_id = a.doc_id"
            " WHERE d.state = 'ready' ORDER BY a.rowid"
        ):
            out.setdefault(doc_id, []).append(name)
        return out

    # -- reading documents ------------------------------------------------------------------
    def unready_chunks(self) -> int:
        """Chunks of documents being ingested or deleted (searches skip them)."""
        rows = self.query(
            "SELECT count(*) FROM documents d CROSS JOIN chunks c ON c.doc_id = d.doc_id"
            " WHERE d.state != 'ready'"
        )
        return int(rows[0][0])

    def doc_ids(self, state: str | None = None) -> list[str]:
        if state is None:
            rows = self.query("SELECT doc_id FROM documents ORDER BY name")
        else:
            rows = self.query(
                "SELECT doc_id FROM documents WHERE state = ? ORDER BY name", (state,)
            )
        return [r[0] for r in rows]

    def state(self, doc_id: str) -> str | None:
        row = self._one("SELECT state FROM documents WHERE doc_id = ?", (doc_id,))
        return str(row[0]) if row else None

    def chunk_ids(self, doc_id: str | None = None, *, dense_only: bool = False) -> list[str]:
        if dense_only:
            rows = self.query("SELECT chunk_id FROM chunks WHERE dense = 1")
        elif doc_id is None:
            rows = self.query("SELECT chunk_id FROM chunks")
        else:
            rows = self.query(
                "SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,)
            )
        return [r[0] for r in rows]

    def chunk_texts(self) -> list[tuple[str, str, str]]:
        """``(chunk id, doc id, text)`` of every chunk of a ready document, in order."""
        rows = self.conn.execute(
            "SELECT c.chunk_id, c.doc_id, c.text FROM chunks c JOIN documents d"
            " ON d.doc_id = c.doc_id WHERE d.state = 'ready' ORDER BY d.name, c.idx"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def set_dense(self, conn: sqlite3.Connection, with_vector: set[str]) -> None:
        """Record which chunks have a vector (after a re-embedding with another embedder)."""
        conn.execute("UPDATE chunks SET dense = 0")
        conn.executemany(
            "UPDATE chunks SET dense = 1 WHERE chunk_id = ?", [(c,) for c in with_vector]
        )

    def documents(self, tokenizer: str | None = None) -> list[DocumentInfo]:
        """Ready documents, by name, each with its other names and its token count for
        ``tokenizer`` if known."""
        rows = self.query(
            "SELECT d.doc_id, d.name, d.kind, d.state, d.n_pages, d.n_chars, d.n_chunks,"
            " d.ingested_at, t.n_tokens FROM documents d LEFT JOIN doc_tokens t"
            " ON t.doc_id = d.doc_id AND t.tokenizer = ? WHERE d.state = 'ready'"
            " ORDER BY d.name",
            (tokenizer or "",),
        )
        aliases = self.all_names()
        try:
            ocr = dict(
                self.conn.execute(
                    "SELECT doc_id, count(*) FROM doc_pages WHERE ocr IS NOT NULL GROUP BY doc_id"
                ).fetchall()
            )
        except sqlite3.OperationalError:  # no such table: an older catalog opened read-only
            ocr = {}
        out = []
        for r in rows:
            others = tuple(n for n in aliases.get(r[0], ()) if n != r[1])
            doc_id, name, kind, state, n_pages, n_chars, n_chunks, at, n_tokens = r
            out.append(
                DocumentInfo(
                    doc_id, name, kind, state, n_pages, n_chars, n_chunks, at, n_tokens, others,
                    int(ocr.get(doc_id, 0)),
                )
            )  # fmt: skip
        return out

    def lookup(self, name_or_id: str) -> Match | None:
        """A ready document by one of its names, its doc id (or a unique prefix of at least
        six characters), or the file-name part of one of its names. A rule that fits
        several documents gives way to the next."""
        docs = self.documents()
        pairs = [(d, n) for d in docs for n in d.names]
        rules = (
            lambda n: n == name_or_id,
            lambda n: PurePosixPath(n).name == name_or_id,
        )
        for i, rule in enumerate(rules):
            hits = [(d, n) for d, n in pairs if rule(n)]
            if len({d.doc_id for d, _ in hits}) == 1:
                return Match(hits[0][0], tuple(n for _, n in hits))
            if i == 0:
                by_id = [d for d in docs if d.doc_id == name_or_id]
                if by_id:
                    return Match(by_id[0], ())
        if len(name_or_id) >= 6:
            hits_id = [d for d in docs if d.doc_id.startswith(name_or_id)]
            if len(hits_id) == 1:
                return Match(hits_id[0], ())
        return None

    def find(self, name_or_id: str) -> DocumentInfo | None:
        """A ready document by any of its names or its id; see :meth:`lookup`."""
        match = self.lookup(name_or_id)
        return match.doc if match else None

    def texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The full texts of those of ``doc_ids`` that are ready, in one read (a document
        removed by a writer meanwhile is simply absent)."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT doc_id, text FROM documents WHERE state = 'ready' AND doc_id IN ({marks})",
                part,
            ).fetchall()
            out.update((str(d), str(t)) for d, t in rows)
        return out

    def text(self, doc_id: str) -> str:
        row = self._one("SELECT text FROM documents WHERE doc_id = ?", (doc_id,))
        if row is None:
            raise StoreError(f"document {doc_id} is not in the catalog {self.path}")
        return str(row[0])

    def page_starts(self, doc_id: str) -> list[int] | None:
        row = self._one("SELECT page_starts FROM documents WHERE doc_id = ?", (doc_id,))
        return json.loads(row[0]) if row and row[0] else None

    def page_notes(self, doc_id: str) -> PageNotes:
        """A document's kind, its pages' names and the pages OCR read (empty for a document
        ingested before they were kept, or a read-only catalog of an older ragmix)."""
        row = self._one("SELECT kind FROM documents WHERE doc_id = ?", (doc_id,))
        try:
            rows = self.conn.execute(
                "SELECT page, label, ocr FROM doc_pages WHERE doc_id = ?", (doc_id,)
            ).fetchall()
        except sqlite3.OperationalError:  # no such table: opened read-only, never upgraded
            rows = []
        return PageNotes(
            str(row[0]) if row else "",
            {int(p): str(label) for p, label, _ in rows if label is not None},
            {int(p): float(ocr) for p, _, ocr in rows if ocr is not None},
        )

    def n_tokens(self, doc_id: str, tokenizer: str) -> int | None:
        row = self._one(
            "SELECT n_tokens FROM doc_tokens WHERE doc_id = ? AND tokenizer = ?",
            (doc_id, tokenizer),
        )
        return int(row[0]) if row else None

    def set_tokens(self, doc_id: str, tokenizer: str, n: int) -> None:
        """Record a token count computed lazily (another model than at ingest time); a
        no-op if the document was removed meanwhile (by another thread or process)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO doc_tokens SELECT ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM documents WHERE doc_id = ?)",
                (doc_id, tokenizer, n, doc_id),
            )

    # -- chunks -------------------------------------------------------------------------
    # CROSS JOIN fixes the order: chunks first (by id), then their document. Left to itself,
    # SQLite walks documents by state (every one is 'ready') and scans each one's chunks:
    # 16 ms instead of 0.2 for 40 chunks of a 20K-chunk store.
    _PASSAGE_SQL = (
        'SELECT c.chunk_id, c.doc_id, d.name, c.text, c.idx, c.start, c."end", c.page'
        " FROM chunks c CROSS JOIN documents d ON d.doc_id = c.doc_id"
    )

    def passages(self, chunk_ids: Sequence[str]) -> dict[str, Passage]:
        """Chunks by id (ready documents only), as passages."""
        out: dict[str, Passage] = {}
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            for row in self.query(
                f"{self._PASSAGE_SQL} WHERE c.chunk_id IN ({marks}) AND d.state = 'ready'", part
            ):
                out[row[0]] = Passage(*row)
        return out

    def chunk_records(self, chunk_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """(chunk id, doc id, display name, index, start, end, page, text, end of the
        document's previous chunk or None) of chunks, in any state: what re-embedding a
        chunk needs."""
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            rows += self.query(
                'SELECT c.chunk_id, c.doc_id, d.name, c.idx, c.start, c."end", c.page, c.text,'
                ' (SELECT p."end" FROM chunks p WHERE p.doc_id = c.doc_id AND p.idx = c.idx - 1)'
                " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
                f" WHERE c.chunk_id IN ({','.join('?' * len(part))})",
                part,
            )
        return rows

    def neighbours(self, doc_id: str, lo: int, hi: int) -> list[Passage]:
        """Chunks ``lo..hi`` (inclusive) of one document, in order."""
        rows = self.query(
            f"{self._PASSAGE_SQL} WHERE c.doc_id = ? AND c.idx BETWEEN ? AND ? ORDER BY c.idx",
            (doc_id, lo, hi),
        )
        return [Passage(*r) for r in rows]

    # -- the lexical engine: tantivy beside FTS5 (see ragmix/store/lexical.py) ----------------
    @property
    def lexical_folder(self) -> Path:
        """Where the lexical engine's index of this catalog lives."""
        return self.path.with_name(self.path.name + ".lexical")

    def _open_engine(self) -> LexicalIndex | None:
        if self._engine is None and self.lexical == "tantivy":
            from ragmix.store.lexical import LexicalIndex

            try:
                self._engine = LexicalIndex(self.lexical_folder, readonly=self.readonly)
            except (ImportError, OSError, ValueError) as exc:
                logger.warning("lexical engine unavailable (%s); searching with FTS5", exc)
                self.lexical = "fts5"
        return self._engine

    def _sync_engine(self) -> None:
        """Bring the engine up to the catalog: replay the journal if the engine holds this
        catalog's entries (same stamp, same count), else rebuild it from the FTS5 table."""
        engine = self._open_engine()
        if engine is None:
            return
        stamp = self.get_meta("lexical_stamp")
        if stamp and engine.stamp() == stamp:
            self._engine_ok = True
            self._replay()
            if engine.count() == self._one("SELECT count(*) FROM chunks")[0]:
                return
        self._engine_ok = False
        self._rebuild_engine()

    def _rebuild_engine(self) -> None:
        """Fill the engine from the FTS5 table's tokens (the same transaction's snapshot),
        then stamp both; a crash before the stamps only means another rebuild."""
        import uuid

        engine = self._open_engine()
        if engine is None:
            return
        conn = self.conn
        conn.execute("BEGIN")  # one snapshot for the journal position and the rows
        try:
            upto = conn.execute("SELECT coalesce(max(seq), 0) FROM lexical_log").fetchone()[0]
            rows = conn.execute(
                "SELECT c.rowid, c.doc_id, f.tokens FROM chunks c"
                " JOIN chunks_fts f ON f.rowid = c.rowid"
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        stamp = uuid.uuid4().hex
        try:
            engine.rebuild(rows, stamp)
        except ValueError as exc:  # another process holds its writer: FTS5 meanwhile
            logger.warning("lexical index not rebuilt now (%s); searching with FTS5", exc)
            return
        with self.transaction() as wconn:
            wconn.execute("DELETE FROM lexical_log WHERE seq <= ?", (upto,))
            self.set_meta(wconn, "lexical_stamp", stamp)
        self._engine_ok = True
        self._replay()

    def _replay(self) -> None:
        """Apply the journal's entries to the engine, then clear them (idempotent)."""
        engine = self._engine
        if engine is None or self.readonly:
            return
        rows = self.conn.execute(
            "SELECT l.seq, l.chunk, c.doc_id, f.tokens FROM lexical_log l"
            " LEFT JOIN chunks c ON c.rowid = l.chunk"
            " LEFT JOIN chunks_fts f ON f.rowid = l.chunk ORDER BY l.seq"
        ).fetchall()
        if not rows:
            return
        try:
            engine.apply([(chunk, doc, tokens) for _seq, chunk, doc, tokens in rows])
        except ValueError as exc:  # another process holds the engine's writer: it replays
            logger.info("lexical journal left to another writer: %s", exc)
            return
        with self.transaction() as conn:
            conn.execute("DELETE FROM lexical_log WHERE seq <= ?", (rows[-1][0],))

    def _engine_ready(self) -> LexicalIndex | None:
        """The engine, if it holds exactly what the catalog holds now; else None (FTS5)."""
        if self.lexical != "tantivy":
            return None
        if not self._engine_ok and self.readonly:
            engine = self._open_engine()
            stamp = self.get_meta("lexical_stamp")
            self._engine_ok = bool(engine and stamp and engine.stamp() == stamp)
        if not self._engine_ok:
            return None
        if self.conn.execute("SELECT 1 FROM lexical_log LIMIT 1").fetchone():
            if self.readonly:
                return None  # a writer has not replayed yet: FTS5 is up to date
            self._replay()
        return self._engine

    def bm25(
        self, tokens: Sequence[str], k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by BM25 (higher is better), optionally within some documents.

        Asks the lexical engine (tantivy: top-k by block-max WAND, so the cost follows the
        question's rarest terms, not the store's size), or FTS5 where the engine is off or not
        up to date (``store.lexical: fts5``, a reader of a store not yet reindexed)."""
        engine = self._engine_ready()
        if engine is None:
            return self.bm25_fts5(tokens, k, doc_ids)
        terms = list(dict.fromkeys(t.lower() for t in _query_terms(tokens)))
        if not terms:
            return []
        from ragmix.store.lexical import fts5_totals, rescore

        # tantivy finds the candidates, scored as FTS5 scores them (ragmix/store/lexical.py):
        # the engine never changes how the hybrid ranks them
        try:
            hits, n_all, held = engine.candidates(terms, k + self.unready_chunks(), doc_ids)
        except ValueError as exc:
            raise StoreError(
                f"lexical search failed on {self.lexical_folder}: {exc}; run "
                "`ragmix ingest --repair`"
            ) from exc
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        ready = self.query(
            # FTS5's own content table: a join on the virtual table scans it
            f"SELECT c.chunk_id, f.c0 FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
            f" JOIN chunks_fts_content f ON f.id = c.rowid"
            f" WHERE c.rowid IN ({marks}) AND d.state = 'ready'",
            hits,
        )
        found = rescore(ready, terms, held, n_all, fts5_totals(self.conn)[1])
        return sorted(found, key=lambda x: (-x[1], x[0]))[:k]

    def bm25_fts5(
        self, tokens: Sequence[str], k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """``bm25`` by an FTS5 OR-query (every chunk holding any term is scored)."""
        query = fts_query(tokens)
        if not query:
            return []
        if not doc_ids:
            # The best k + (chunks of documents not ready) by FTS5 alone, then the ready ones:
            # ranking every match joined to its chunk and document first costs twice as much.
            sql = (
                "SELECT c.chunk_id, -f.r FROM (SELECT rowid, bm25(chunks_fts) AS r"
                " FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY r LIMIT ?) f"
                " CROSS JOIN chunks c ON c.rowid = f.rowid"
                " CROSS JOIN documents d ON d.doc_id = c.doc_id"
                " WHERE d.state = 'ready' ORDER BY f.r LIMIT ?"
            )
            return self._bm25(sql, [query, k + self.unready_chunks(), k])
        sql = (
            "SELECT c.chunk_id, -bm25(chunks_fts) AS s FROM chunks_fts"
            " JOIN chunks c ON c.rowid = chunks_fts.rowid"
            " JOIN documents d ON d.doc_id = c.doc_id"
            " WHERE chunks_fts MATCH ? AND d.state = 'ready'"
        )
        params: list[object] = [query]
        if doc_ids:
            sql += f" AND c.doc_id IN ({','.join('?' * len(doc_ids))})"
            params.extend(doc_ids)
        sql += " ORDER BY bm25(chunks_fts) LIMIT ?"
        params.append(k)
        return self._bm25(sql, params)

    def _bm25(self, sql: str, params: Sequence[object]) -> list[tuple[str, float]]:
        try:
            return [(r[0], float(r[1])) for r in self.conn.execute(sql, params)]
        except sqlite3.Error as exc:
            raise StoreError(
                f"lexical search failed on {self.path}: {exc}; run `ragmix ingest --repair`"
            ) from exc

    def bm25_ceiling(self, tokens: Sequence[str]) -> float:
        """What BM25 gives a chunk of average length holding each query term once: the sum
        of the terms' inverse document frequencies (FTS5's formula). A term no chunk holds
        counts as held by one: the question asks for it, and nothing has it.

        ``score / ceiling`` says how much of the question's distinctive vocabulary a chunk
        covers, comparable across questions, unlike raw BM25 scores.
        """
        terms = _query_terms(tokens)
        if not terms:
            return 0.0
        engine = self._engine_ready()
        if engine is not None:  # the same counts from tantivy, without scanning postings
            from ragmix.store.lexical import fts5_idf

            lowered = list(dict.fromkeys(t.lower() for t in terms))
            n_all, counts = engine.doc_freqs(lowered)
            return sum(fts5_idf(n_all, max(counts[t], 1)) for t in lowered)
        n_rows = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        held: dict[str, int] = {}
        try:
            for t in terms:  # one lookup per term: fts5vocab answers `term = ?` from the index
                row = self.conn.execute(
                    "SELECT doc FROM chunks_vocab WHERE term = ?", (t.lower(),)
                ).fetchone()
                held[t.lower()] = int(row[0]) if row else 0
        except sqlite3.OperationalError:  # a read-only catalog of ragmix 0.1 has no vocabulary
            return 0.0
        total = 0.0
        for t in terms:
            # the count and the lookups are separate reads: a writer in between can leave a
            # term in more chunks than were counted, so the count is at least each term's
            n_rows = max(n_rows, held.get(t.lower(), 0))
            n = max(held.get(t.lower(), 0), 1)
            total += max(math.log(max(n_rows - n + 0.5, 0.5) / (n + 0.5)), 1e-6)
        return total

    def rebuild_lexical(self) -> int:
        """Re-tokenise every chunk into a fresh BM25 index (after a tokenizer change or
        damage); the chunk texts in the catalog are the source. Returns chunks indexed."""
        from ragmix.core.text import LEXICAL_VERSION, lexical_tokens

        with self.transaction() as conn:
            conn.execute("DELETE FROM chunks_fts")
            rows = conn.execute("SELECT rowid, text FROM chunks").fetchall()
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
                [(rowid, " ".join(lexical_tokens(text))) for rowid, text in rows],
            )
            self.set_meta(conn, "lexical_version", LEXICAL_VERSION)
        self._engine_ok = False
        self._rebuild_engine()
        return len(rows)

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


#: Read-only schema-1 catalogs (which cannot be upgraded in place): each document has one
#: name, its display name.
_LEGACY_ALIASES = (
    "CREATE TEMP VIEW IF NOT EXISTS aliases AS SELECT rowid, doc_id, name FROM main.documents"
)
