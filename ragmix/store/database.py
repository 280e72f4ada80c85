"""The catalog's SQLite file: connections (one per thread, WAL), the write transaction (one
writer at a time per process, behind a lock), the schema and its migrations, and the ``meta``
table. ``Database`` is the base the catalog's tables build on (``ragmix.store.documents``,
``ragmix.store.bm25``); ``ragmix.store.catalog.Catalog`` puts them together.

A SQLite error never escapes as such: it becomes a :class:`~ragmix.core.errors.StoreError`
that says what failed and keeps the cause.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragmix.core.errors import StoreError

logger = logging.getLogger("ragmix.store.catalog")

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


#: Read-only schema-1 catalogs (which cannot be upgraded in place): each document has one
#: name, its display name.
_LEGACY_ALIASES = (
    "CREATE TEMP VIEW IF NOT EXISTS aliases AS SELECT rowid, doc_id, name FROM main.documents"
)


class Database:
    """Connections, transactions, schema and meta of one catalog file; the attributes are set
    by ``Catalog.__init__``."""

    path: Path
    readonly: bool
    busy_timeout_s: float
    lexical: str
    _engine_ok: bool
    _local: threading.local
    _conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]]
    _conns_lock: threading.Lock
    _write_lock: threading.RLock
    _closed: bool
    _legacy: bool

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

    def _replay(self) -> None:
        """After a commit: bring the lexical engine up to the catalog (``LexicalRows``)."""

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def unready_chunks(self) -> int:
        """Chunks of documents being ingested or deleted (searches skip them)."""
        rows = self.query(
            "SELECT count(*) FROM documents d CROSS JOIN chunks c ON c.doc_id = d.doc_id"
            " WHERE d.state != 'ready'"
        )
        return int(rows[0][0])
