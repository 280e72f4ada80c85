"""The catalog's lexical search: the FTS5 index over jieba/word tokens of every chunk (BM25
ranking), kept in the catalog's transactions, and the tantivy engine beside it (see
``ragmix.store.lexical``), kept in step through a trigger log replayed after each commit.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragmix.core.errors import StoreError
from ragmix.store.database import Database

if TYPE_CHECKING:
    from ragmix.store.lexical import LexicalIndex

logger = logging.getLogger("ragmix.store.catalog")


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


class LexicalRows(Database):
    """BM25 over the catalog's chunks: FTS5, or tantivy when ``store.lexical`` says so."""

    _engine: LexicalIndex | None

    def _lexical_count_off(self) -> bool:
        try:
            n_chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            n_fts = self.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        except sqlite3.DatabaseError:
            return True
        return bool(n_chunks != n_fts)

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
