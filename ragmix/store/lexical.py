"""The lexical (BM25) index: tantivy, top-k by block-max WAND; the only module that imports it.

An FTS5 OR-query scores every chunk that holds any term of the question, so its cost grows
with the store (56 ms at 50K chunks, seconds at 1M). tantivy keeps, per block of postings, the
best score any chunk in it can reach, and skips blocks that cannot enter the top k: the cost
follows the question's rarest terms, not the store (``benchmarks/bench_latency.py``).

The index is *derived*: the catalog's chunk texts are the truth, and the catalog decides what
the index must hold. Changes reach it through the catalog's journal (``lexical_log``, written
in the same SQLite transaction as the chunks), which :meth:`LexicalIndex.apply` replays and the
catalog then clears. Replaying is idempotent (a chunk's entry is deleted by its rowid before it
is added), so a crash between the two commits only means the next writer replays the same
entries again. Tokens come in already cut (``ragmix.core.text.lexical_tokens``: jieba words,
CJK bigrams, lowercased words); tantivy only splits them on spaces.

tantivy only *finds* the candidates (its own BM25 uses Lucene's idf and 1-byte length norms).
What the hybrid fusion reads is one score for every engine: FTS5's BM25 (k1 = 1.2, b = 0.75,
idf ``ln((N - n + 0.5) / (n + 0.5))``, at least 1e-6), computed here for the candidates from
their stored tokens (:func:`rescore`). So the engine decides which chunks are candidates, never
how they rank against each other or against dense hits: on a small store, where every chunk
holding a term is a candidate, a search ranks exactly as with FTS5; on a large one the two
differ only where tantivy's top k is not FTS5's.

The other way to a fast BM25, FTS5 asked only for the question's rarest terms and the
candidates rescored, was measured beside tantivy and not taken (``bounded_fts5`` in
``benchmarks/bench_latency.py``).
"""

from __future__ import annotations

import collections
import logging
import math
import shutil
import sqlite3
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

#: Bumped when the index's schema changes: an index of another version is rebuilt.
ENGINE_VERSION = "tantivy-2"
#: Memory of the one writer thread (tantivy's minimum is 15 MB per thread).
WRITER_HEAP = 64_000_000


K1, B = 1.2, 0.75  # BM25's constants, as in FTS5's bm25() and tantivy
_Key = TypeVar("_Key", bound=Hashable)


def fts5_idf(n_chunks: int, holding: int) -> float:
    """FTS5's inverse document frequency (``bm25()`` in SQLite's fts5_aux.c) of a term
    ``holding`` chunks hold: never below 1e-6 (a term in most chunks counts next to nothing).

    >>> round(fts5_idf(1000, 1), 3), fts5_idf(1000, 999), round(fts5_idf(6, 1), 4)
    (6.503, 1e-06, 1.2993)
    """
    value = math.log(max(n_chunks - holding + 0.5, 0.5) / (holding + 0.5))
    return value if value > 1e-6 else 1e-6


def fts5_totals(conn: sqlite3.Connection, table: str = "chunks_fts") -> tuple[int, float]:
    """Rows in an FTS5 table and their average length in tokens, read from FTS5's own
    "averages" record (``<table>_data`` row 1: varints, rows then tokens per column) in O(1);
    ``(0, 0.0)`` for an empty table."""
    row = conn.execute(f"SELECT block FROM {table}_data WHERE id = 1").fetchone()
    if not row or not row[0]:
        return 0, 0.0
    values: list[int] = []
    buf, at = bytes(row[0]), 0
    while at < len(buf) and len(values) < 2:
        value, at = _varint(buf, at)
        values.append(value)
    n_rows, n_tokens = (values + [0, 0])[:2]
    return n_rows, (n_tokens / n_rows if n_rows else 0.0)


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    """SQLite's varint at ``buf[at:]``: big-endian 7-bit groups, a ninth byte of 8 bits."""
    value = 0
    for i in range(9):
        byte = buf[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def rescore(
    rows: Iterable[tuple[_Key, str]],
    terms: Sequence[str],
    held: Mapping[str, int],
    n_chunks: int,
    avg_tokens: float,
) -> list[tuple[_Key, float]]:
    """FTS5's BM25 of each ``(key, space-separated tokens)`` row for ``terms`` (lowercased,
    distinct), given how many chunks hold each term and the store's size: what
    ``bm25(chunks_fts)`` gives the row for an OR-query of the terms (positive, higher is
    better), without FTS5 reading any term's whole posting list."""
    weights = {t: fts5_idf(n_chunks, max(held.get(t, 0), 1)) for t in terms}
    avg = avg_tokens or 1.0
    out = []
    for key, tokens in rows:
        words = tokens.lower().split()
        counts = collections.Counter(w for w in words if w in weights)
        norm = K1 * (1 - B + B * len(words) / avg)
        score = sum(weights[t] * f * (K1 + 1) / (f + norm) for t, f in counts.items())
        out.append((key, score))
    return out


def idf(n_chunks: int, holding: int) -> float:
    """tantivy's (Lucene's) inverse document frequency of a term ``holding`` chunks hold.

    >>> round(idf(1000, 1), 3), round(idf(1000, 999), 4), idf(0, 0) > 0
    (6.503, 0.0015, True)
    """
    return math.log(1 + (n_chunks - holding + 0.5) / (holding + 0.5))


class LexicalIndex:
    """A tantivy index of chunk tokens in ``folder`` (rowid, doc id, tokens).

    Thread-safe: searches share one reader; writes take the one writer, held only while
    ``apply`` or ``rebuild`` runs, so another process can write between them.

    Args:
        folder: where the index lives (``<catalog>.lexical/``); created if missing.
        readonly: only search (the folder must exist; nothing is written).

    The folder's ``ragmix-stamp`` names the catalog state it was built from (written after
    each rebuild's commit): the catalog trusts the index only while its own stamp matches.
    """

    def __init__(self, folder: Path, *, readonly: bool = False) -> None:
        import tantivy

        self.folder = Path(folder)
        self.readonly = readonly
        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("tokens", tokenizer_name="whitespace", index_option="freq")
        builder.add_text_field("doc", tokenizer_name="raw", index_option="basic")
        builder.add_integer_field("rowid", indexed=True, fast=True)  # i64: deletes by term match
        self.schema = builder.build()
        self._lock = threading.Lock()
        self.index = self._open()

    def _open(self) -> Any:
        if self.readonly:
            if not (self.folder / "meta.json").exists():
                raise OSError(f"no lexical index in {self.folder}")
            return self._tantivy.Index.open(str(self.folder))
        self.folder.mkdir(parents=True, exist_ok=True)
        version = self.folder / "ragmix-version"
        if version.exists() and version.read_text() != ENGINE_VERSION:
            self._wipe()
        try:
            index = self._tantivy.Index(self.schema, path=str(self.folder), reuse=True)
        except ValueError:  # damaged or of another schema: it is derived, so start again
            logger.warning("lexical index in %s unreadable: made again", self.folder)
            self._wipe()
            index = self._tantivy.Index(self.schema, path=str(self.folder), reuse=True)
        version.write_text(ENGINE_VERSION)
        return index

    def stamp(self) -> str:
        """The catalog state this index was last rebuilt from ('' if none)."""
        try:
            return (self.folder / "ragmix-stamp").read_text()
        except OSError:
            return ""

    def _wipe(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- reading ------------------------------------------------------------------------------
    def _searcher(self) -> Any:
        self.index.reload()  # see commits of this process and of others
        return self.index.searcher()

    def count(self) -> int:
        """Chunks indexed."""
        return int(self._searcher().num_docs)

    def candidates(
        self, terms: Sequence[str], k: int, doc_ids: Sequence[str] | None = None
    ) -> tuple[list[int], int, dict[str, int]]:
        """Rowids of FTS5's best ``k`` chunks for any of ``terms`` (optionally only in
        ``doc_ids``), for :func:`rescore`, with the chunks indexed and how many hold each term
        (one consistent view).

        Each term is boosted by FTS5's idf over tantivy's own (Lucene's), so tantivy's top k
        is the one FTS5's idf gives. (Block-max pruning does not see through boosts: about five
        times slower than tantivy's own idf at 100K chunks, ``benchmarks/bench_latency.py``;
        the top k by Lucene's idf reorders searches, e.g. the hostile-files search,
        ``tests/test_hostile.py``.)"""
        t = self._tantivy
        searcher = self._searcher()
        n_all = int(searcher.num_docs)
        held = {term: int(searcher.doc_freq("tokens", term)) for term in terms}
        if not terms or k <= 0:
            return [], n_all, held

        def term_query(term: str) -> Any:
            q = t.Query.term_query(self.schema, "tokens", term, index_option="freq")
            holding = max(held[term], 1)
            return t.Query.boost_query(q, fts5_idf(n_all, holding) / idf(n_all, holding))

        query = t.Query.boolean_query([(t.Occur.Should, term_query(term)) for term in terms])
        if doc_ids:
            query = t.Query.boolean_query(
                [
                    (t.Occur.Must, query),
                    (t.Occur.Must, t.Query.term_set_query(self.schema, "doc", list(doc_ids))),
                ]
            )
        hits = searcher.search(query, limit=k, count=False).hits
        if not hits:
            return [], n_all, held
        rowids = searcher.fast_field_values("rowid", [addr for _, addr in hits])
        return [int(r) for r in rowids], n_all, held

    def doc_freqs(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        """Chunks indexed, and how many hold each term (one consistent view)."""
        searcher = self._searcher()
        held = {term: int(searcher.doc_freq("tokens", term)) for term in terms}
        return int(searcher.num_docs), held

    # -- writing -----------------------------------------------------------------------------
    def apply(self, ops: Sequence[tuple[int, str | None, str | None]]) -> None:
        """Replay journal entries ``(rowid, doc_id, tokens)``: every rowid's entry is deleted,
        then those with tokens are added; committed at once (idempotent)."""
        if not ops:
            return
        last: dict[int, tuple[str | None, str | None]] = {}
        for rowid, doc, tokens in ops:
            last[rowid] = (doc, tokens)

        def write(writer: Any) -> None:
            for rowid, (doc, tokens) in last.items():
                writer.delete_documents_by_term("rowid", rowid)
                if tokens is not None:
                    writer.add_document(self._doc(rowid, doc or "", tokens))

        self._write(write)

    def rebuild(self, rows: Iterable[tuple[int, str, str]], stamp: str) -> int:
        """Replace everything with ``rows`` ``(rowid, doc_id, tokens)`` and mark the index
        with ``stamp`` once committed; returns how many."""
        (self.folder / "ragmix-stamp").unlink(missing_ok=True)
        n = 0

        def write(writer: Any) -> None:
            nonlocal n
            writer.delete_all_documents()
            for rowid, doc, tokens in rows:
                writer.add_document(self._doc(rowid, doc, tokens))
                n += 1

        self._write(write)
        tmp = self.folder / "ragmix-stamp.tmp"
        tmp.write_text(stamp)
        tmp.replace(self.folder / "ragmix-stamp")
        return n

    def _write(self, write: Any) -> None:
        """Run ``write(writer)`` and commit, or roll back on any error; the writer (and
        tantivy's lock on the folder) is let go either way."""
        with self._lock:
            writer = self.index.writer(WRITER_HEAP, 1)
            try:
                write(writer)
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            finally:
                del writer

    def _doc(self, rowid: int, doc: str, tokens: str) -> Any:
        d = self._tantivy.Document()
        d.add_integer("rowid", rowid)
        d.add_text("doc", doc)
        d.add_text("tokens", tokens)
        return d

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
