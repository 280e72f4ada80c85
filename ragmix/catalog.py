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
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ragmix.errors import StoreError
from ragmix.schema import Chunk, Passage

SCHEMA_VERSION = 1

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
"""


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

    def as_dict(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "name": self.name,
            "kind": self.kind,
            "pages": self.n_pages,
            "chunks": self.n_chunks,
            "chars": self.n_chars,
            "tokens": self.n_tokens,
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


def disk_full_error(path: Path) -> StoreError:
    return StoreError(
        f"the disk holding {path.parent} is full; free some space and run the same command "
        "again (what was stored before is intact; this run's unfinished work is redone)"
    )


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


class Catalog:
    """The SQLite catalog of one store. Cheap to open; safe to read from several threads.

    Args:
        path: the database file (``<store>/catalog.sqlite3``).
        readonly: open without the ability to write (question side of a shared store).
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise StoreError(
                f"no catalog at {self.path}: run `ragmix ingest PATH` with this store first"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self.conn = sqlite3.connect(
                uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.executescript(_SCHEMA)
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.path) from None
            raise StoreError(
                f"the catalog {self.path} cannot be opened ({exc}); if it is damaged, run "
                "`ragmix ingest --repair FOLDER...` with your document folders: it moves the "
                "damaged file aside and rebuilds the catalog from them and the vector store"
            ) from None

        if not readonly:
            from ragmix.text import LEXICAL_VERSION

            if self.get_meta("lexical_version") != LEXICAL_VERSION or self._lexical_count_off():
                # A new tokenizer, or an index that lost rows (dropped or damaged): the chunk
                # texts in this database are the source, so rebuild it now.
                self.rebuild_lexical()

    def _lexical_count_off(self) -> bool:
        try:
            n_chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            n_fts = self.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        except sqlite3.DatabaseError:
            return True
        return bool(n_chunks != n_fts)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all.

        Raises:
            StoreError: the disk is full (the transaction is rolled back: the catalog keeps
                its previous state).
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.path) from None
            raise

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
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
    ) -> None:
        """Insert a document with its chunks and lexical tokens, in state ``pending``."""
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
        """Delete a document, its chunks and their lexical entries; returns chunks removed."""
        rows = conn.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", rows)
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return len(rows)

    def doc_ids(self, state: str | None = None) -> list[str]:
        if state is None:
            rows = self.conn.execute("SELECT doc_id FROM documents ORDER BY name").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT doc_id FROM documents WHERE state = ? ORDER BY name", (state,)
            ).fetchall()
        return [r[0] for r in rows]

    def state(self, doc_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT state FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def chunk_ids(self, doc_id: str | None = None, *, dense_only: bool = False) -> list[str]:
        if dense_only:
            rows = self.conn.execute("SELECT chunk_id FROM chunks WHERE dense = 1").fetchall()
        elif doc_id is None:
            rows = self.conn.execute("SELECT chunk_id FROM chunks").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,)
            ).fetchall()
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
        """Ready documents, by name, with their token count for ``tokenizer`` if known."""
        rows = self.conn.execute(
            "SELECT d.doc_id, d.name, d.kind, d.state, d.n_pages, d.n_chars, d.n_chunks,"
            " d.ingested_at, t.n_tokens FROM documents d LEFT JOIN doc_tokens t"
            " ON t.doc_id = d.doc_id AND t.tokenizer = ? WHERE d.state = 'ready'"
            " ORDER BY d.name",
            (tokenizer or "",),
        ).fetchall()
        return [DocumentInfo(*r) for r in rows]

    def find(self, name_or_id: str) -> DocumentInfo | None:
        """A ready document by display name, doc id (or unique prefix), or file name."""
        docs = self.documents()
        for key in (
            lambda d: d.name == name_or_id,
            lambda d: d.doc_id == name_or_id,
            lambda d: Path(d.name).name == name_or_id,
            lambda d: d.doc_id.startswith(name_or_id) and len(name_or_id) >= 6,
        ):
            hits = [d for d in docs if key(d)]
            if len(hits) == 1:
                return hits[0]
        return None

    def text(self, doc_id: str) -> str:
        row = self.conn.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise StoreError(f"document {doc_id} is not in the catalog {self.path}")
        return str(row[0])

    def page_starts(self, doc_id: str) -> list[int] | None:
        row = self.conn.execute(
            "SELECT page_starts FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def n_tokens(self, doc_id: str, tokenizer: str) -> int | None:
        row = self.conn.execute(
            "SELECT n_tokens FROM doc_tokens WHERE doc_id = ? AND tokenizer = ?",
            (doc_id, tokenizer),
        ).fetchone()
        return int(row[0]) if row else None

    def set_tokens(self, doc_id: str, tokenizer: str, n: int) -> None:
        """Record a token count computed lazily (another model than at ingest time)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO doc_tokens VALUES (?, ?, ?)", (doc_id, tokenizer, n)
            )

    # -- chunks -------------------------------------------------------------------------
    _PASSAGE_SQL = (
        'SELECT c.chunk_id, c.doc_id, d.name, c.text, c.idx, c.start, c."end", c.page'
        " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
    )

    def passages(self, chunk_ids: Sequence[str]) -> dict[str, Passage]:
        """Chunks by id (ready documents only), as passages."""
        out: dict[str, Passage] = {}
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                f"{self._PASSAGE_SQL} WHERE c.chunk_id IN ({marks}) AND d.state = 'ready'", part
            ):
                out[row[0]] = Passage(*row)
        return out

    def neighbours(self, doc_id: str, lo: int, hi: int) -> list[Passage]:
        """Chunks ``lo..hi`` (inclusive) of one document, in order."""
        rows = self.conn.execute(
            f"{self._PASSAGE_SQL} WHERE c.doc_id = ? AND c.idx BETWEEN ? AND ? ORDER BY c.idx",
            (doc_id, lo, hi),
        ).fetchall()
        return [Passage(*r) for r in rows]

    def bm25(
        self, tokens: Sequence[str], k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by BM25 (higher is better), optionally within some documents."""
        query = fts_query(tokens)
        if not query:
            return []
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
        try:
            return [(r[0], float(r[1])) for r in self.conn.execute(sql, params)]
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"lexical search failed on {self.path}: {exc}; run `ragmix ingest --repair`"
            ) from None

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
        n_rows = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        held: dict[str, int] = {}
        for t in terms:  # one lookup per term: fts5vocab answers `term = ?` from the index
            row = self.conn.execute(
                "SELECT doc FROM chunks_vocab WHERE term = ?", (t.lower(),)
            ).fetchone()
            held[t.lower()] = int(row[0]) if row else 0
        total = 0.0
        for t in terms:
            n = max(held.get(t.lower(), 0), 1)
            total += max(math.log((n_rows - n + 0.5) / (n + 0.5)), 1e-6)
        return total

    def rebuild_lexical(self) -> int:
        """Re-tokenise every chunk into a fresh BM25 index (after a tokenizer change or
        damage); the chunk texts in the catalog are the source. Returns chunks indexed."""
        from ragmix.text import LEXICAL_VERSION, lexical_tokens

        with self.transaction() as conn:
            conn.execute("DELETE FROM chunks_fts")
            rows = conn.execute("SELECT rowid, text FROM chunks").fetchall()
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
                [(rowid, " ".join(lexical_tokens(text))) for rowid, text in rows],
            )
            self.set_meta(conn, "lexical_version", LEXICAL_VERSION)
        return len(rows)

    def check(self) -> list[str]:
        """Internal consistency problems (empty list when healthy)."""
        problems: list[str] = []
        n_chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        n_fts = self.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        if n_chunks != n_fts:
            problems.append(f"lexical index has {n_fts} entries for {n_chunks} chunks")
        bad = self.conn.execute(
            "SELECT d.name, d.n_chunks, count(c.rowid) FROM documents d"
            " LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id"
            " HAVING d.n_chunks != count(c.rowid)"
        ).fetchall()
        problems += [f"{name}: {want} chunks expected, {have} stored" for name, want, have in bad]
        try:
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            problems.append(f"lexical index damaged: {exc}")
        return problems
