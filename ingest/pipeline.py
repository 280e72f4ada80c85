"""`ragmix ingest`: files in, documents, chunks, vectors and BM25 entries out.

Crash safety rests on two facts: the catalog (documents, chunks, BM25, manifest) changes only
in SQLite transactions, and every vector has a deterministic id. Chroma is written between
two catalog transactions:

    1. catalog: document + chunks + BM25 rows inserted, state 'pending'   (one transaction)
    2. Chroma:  vectors upserted by chunk id                             (idempotent)
    3. catalog: state 'ready', manifest row for the file                 (one transaction)

Removal mirrors it: 'deleting' (one transaction), vectors deleted, rows deleted (one
transaction). A writer that finds 'pending' or 'deleting' documents, or the dirty flag of a
writer that never finished, first undoes or completes that work and, after a crash,
reconciles the vector ids with the catalog's. So a SIGKILL at any moment followed by a re-run
converges to exactly the state of an uninterrupted run.

Names: a document is its content, and every file name it was ingested under is one of its
names (identical files under two names are stored once, listed once, and found by either).
A file that changes or goes away (``--sync``) takes only its own name off its old document;
the document is removed with its last name. Names change in the same transaction as the
source records that give them; in http mode the server's document record changes first.

Files are stored one at a time and hashed in blocks; while one is embedded the next new one is
read ahead (``Ahead``) and its embedding starts on the lanes this one leaves idle (at its last
batches and while it is written), so memory is bounded by the two largest consecutive documents
(and a few embedding batches), not by the folder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import closing
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import LoadError
from ragmix.core.events import (
    Embedding,
    FileDone,
    FileFailed,
    FilesFound,
    FileStarted,
    PagesRead,
)
from ragmix.core.faults import checkpoint
from ragmix.core.schema import Chunk
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language, lexical_tokens
from ragmix.core.tokens import TokenCounter
from ragmix.ingest.loaders import SUPPORTED
from ragmix.ingest.manifest import Manifest, SourceRow, content_id
from ragmix.store.catalog import chunk_id, page_of
from ragmix.store.stores import NameChange, NewDocument, Store, renamed

if TYPE_CHECKING:
    from ragmix.models.embeddings import VectorStream
from ragmix.ingest.ahead import Ahead, Prepared, drop_prepared
from ragmix.ingest.summary import (
    Encoder,
    IngestFailure,
    IngestSummary,
    ProgressFn,
    VectorWriter,
    serialised,
)
from ragmix.ingest.upkeep import Upkeep, embedded_text, vector_meta
from ragmix.ingest.walk import as_recorded, display_name, iter_files, os_error

__all__ = [
    "Encoder",
    "IngestFailure",
    "IngestSummary",
    "Pipeline",
    "ProgressFn",
    "VectorWriter",
    "embedded_text",
    "iter_files",
]

logger = logging.getLogger(__name__)


class Pipeline(Upkeep):
    """Ingest files into one store. Build with ``RagMix.ingest`` or directly in tests.

    Args:
        settings: the settings tree (chunking, ingest limits, store batch).
        catalog: the store's catalog.
        vectors: the vector index (Chroma) to write to.
        encoder: embeds passages.
        chunk_tokenizer: returns the embedder's tokenizer (to size chunks) and its maximum
            sequence length; called when the first file needs chunking.
        token_counters: returns the tokenizers of answering models; each document's
            full-text token count is stored for each, so the router never re-reads a
            document to budget it. Called when the first file needs counting.
        progress: optional progress callback (see ``ProgressFn``).

    ``vectors`` and ``encoder`` are touched only when a file changed or a crash is being
    repaired, so a re-run over an unchanged folder never opens Chroma or loads a model.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        encoder: Encoder,
        chunk_tokenizer: Callable[[], tuple[Callable[[str], int], int]],
        token_counters: Callable[[], Sequence[TokenCounter]] = lambda: (),
        progress: ProgressFn | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.manifest = Manifest(store.catalog)
        self.encoder = encoder
        self._chunk_tokenizer = chunk_tokenizer
        self._token_counters = token_counters
        self.progress: ProgressFn = serialised(progress or (lambda event: None))

    @cached_property
    def _chunking(self) -> tuple[Callable[[str], int], int]:
        count, max_len = self._chunk_tokenizer()
        return count, min(self.settings.chunking.chunk_tokens, max_len)

    @cached_property
    def token_counters(self) -> list[TokenCounter]:
        return list(self._token_counters())

    # -- the run --------------------------------------------------------------------------
    def run(self, paths: Sequence[Path], *, sync: bool = False) -> IngestSummary:
        t0 = time.perf_counter()
        summary = IngestSummary()
        reconcile = self.store.begin_run()
        summary.chunks_removed += self.recover(reconcile=reconcile)
        if summary.chunks_removed:
            logger.info("recovered an interrupted run: %d chunks removed", summary.chunks_removed)
        self.finish_reembed()

        files = list(iter_files(paths))
        missing = [str(p) for p in paths if not Path(p).exists()]
        summary.failed += [
            IngestFailure(m, "no such file or folder; check the path") for m in missing
        ]
        names = [display_name(file, root) for file, root in files]
        self.progress(FilesFound(len(files), tuple(names)))
        seen: set[str] = set()
        with Ahead(self._prepare, self.manifest) as ahead:
            for i, ((file, _root), name) in enumerate(zip(files, names, strict=True)):
                summary.files_seen += 1
                self.progress(FileStarted(name))
                if file.suffix.lower() not in SUPPORTED:
                    summary.unsupported.append(name)
                    self.progress(FileDone(name, "unsupported"))
                    continue
                seen.add(str(file.resolve()))
                added = summary.chunks_added
                ready = ahead.take(file)
                if i + 1 < len(files):  # read the next file while this one is embedded
                    ahead.offer(files[i + 1][0], names[i + 1])
                try:
                    status = self._ingest_file(file, name, summary, ready)
                except (LoadError, OSError) as exc:
                    err = exc if isinstance(exc, LoadError) else os_error(name, exc)
                    summary.failed.append(IngestFailure(name, err.reason))
                    logger.warning("%s not ingested: %s", name, err.reason)
                    self.progress(FileFailed.of(name, err))
                    continue
                finally:  # unused (unchanged, a duplicate, failed, any error) or written
                    drop_prepared(ready)
                logger.log(
                    logging.DEBUG if status == "unchanged" else logging.INFO,
                    "%s: %s", name, status,
                )  # fmt: skip
                self.progress(FileDone(name, status, summary.chunks_added - added))

        if sync:
            summary.chunks_removed += self._sync(paths, seen)
        self.store.end_run()
        summary.seconds = round(time.perf_counter() - t0, 3)
        logger.info(
            "ingest of %d files in %.1f s: %d added, %d unchanged, %d failed, %d chunks added, "
            "%d removed",
            summary.files_seen, summary.seconds, summary.ingested, summary.skipped_unchanged,
            len(summary.failed), summary.chunks_added, summary.chunks_removed,
        )  # fmt: skip
        return summary

    def _ingest_file(
        self, file: Path, name: str, summary: IngestSummary, ready: Future[Prepared] | None = None
    ) -> str:
        path = str(file.resolve())
        st = file.stat()
        old = self.manifest.get(path)
        if old and self.catalog.state(old.doc_id) != "ready":
            old = None  # its document was removed (by another writer, or a repair): re-add
        if old is not None and as_recorded(old, st):
            if old.name not in self.catalog.names(old.doc_id):
                # Its name was taken off (in http mode, by a writer on another machine that
                # lost its own file of that name): this file still gives it.
                self._commit_source(old, None, summary)
            summary.skipped_unchanged += 1
            return "unchanged"
        limit = int(self.settings.ingest.max_file_mb * 1024 * 1024)
        if st.st_size > limit:
            raise LoadError(
                name,
                f"{st.st_size / 2**20:.1f} MB is over the {self.settings.ingest.max_file_mb:g} MB "
                "limit; split the file or raise ingest.max_file_mb",
            )
        doc_id = content_id(file)
        row = SourceRow(path, name, st.st_size, st.st_mtime_ns, doc_id)
        if old and old.doc_id == doc_id:
            self._commit_source(row, old, summary)  # new stat (and name, if given another root)
            summary.skipped_unchanged += 1
            return "unchanged"

        exists = self.catalog.state(doc_id) == "ready"
        if exists:
            status = "duplicate" if not old else "renamed"
            summary.duplicates += 1
            self._commit_source(row, old, summary)
        else:
            # The source row is linked in the same transaction that makes the document
            # ready: a ready document always has the source it came from.
            added, doomed = self._add_document(file, row, self._link_changes(row, old, True), ready)
            summary.chunks_added += added
            summary.ingested += 1
            status = "ingested"
            for gone in doomed:
                summary.chunks_removed += self._purge(gone)
        return status

    def _prepare(self, file: Path, name: str, doc_id: str | None = None) -> Prepared:
        """Everything about a new file that needs no store: its content id (hashed here
        unless given), text, chunks, which chunks get vectors, BM25 tokens and token counts.
        Touches nothing stored, so it may run ahead of the file's turn (``Ahead``)."""
        # In a worker process with per-file time and memory limits (see guard.py).
        from ragmix.ingest.guard import load_guarded  # here: an unchanged run never loads

        doc_id = doc_id or content_id(file)
        doc = load_guarded(
            file,
            self.settings.ingest,
            display=name,
            on_page=lambda done, total: self.progress(PagesRead(name, done, total)),
        )
        chunks = self._split(doc.text, doc.page_starts)
        if not chunks:
            raise LoadError(
                name, "no text to index after cleaning; check the file's content", "no_text"
            )
        # Only chunks in a language the embedder reads get vectors: the retriever ignores
        # dense scores for other languages anyway, so embedding them is wasted time (with the
        # English default embedder, about half of a Chinese corpus). BM25 covers every chunk.
        dense = [self.encoder.understands(detect_language(c.text)) for c in chunks]
        # Embedding starts now, on the lanes the file being stored leaves idle (see
        # ``LazyEmbeddings.embed_in_batches``); the BM25 tokens are made meanwhile.
        said = [
            embedded_text(c.text, c.start, chunks[c.index - 1].end if c.index else None)
            for c in chunks
            if dense[c.index]
        ]
        vectors = self.encoder.embed_in_batches(said, self._embed_batch)
        try:
            lexical = [lexical_tokens(c.text) for c in chunks]
            tokens = {tc.name: tc.count(doc.text) for tc in self.token_counters}
        except BaseException:
            vectors.close()
            raise
        return Prepared(doc_id, doc, chunks, lexical, dense, tokens, vectors)

    def _add_document(
        self,
        file: Path,
        row: SourceRow,
        changes: dict[str, NameChange],
        ready: Future[Prepared] | None = None,
    ) -> tuple[int, list[str]]:
        """Load, split, embed and store one new document; its source ``row`` and the name
        ``changes`` of other documents are written in the transaction that makes it ready.
        ``ready``: the file prepared ahead (used only if it still has the content of
        ``row``). Returns (chunks added, documents left without a name, to purge)."""
        name, doc_id = row.name, row.doc_id
        prepared = ready.result() if ready is not None else None  # its LoadError, as if here
        if prepared is None or prepared.doc_id != doc_id:  # none, or the file changed since
            if prepared is not None:
                prepared.vectors.close()
            prepared = self._prepare(file, name, doc_id)
        doc, chunks, dense = prepared.doc, prepared.chunks, prepared.dense
        self.progress(Embedding(name, 0, sum(dense)))
        new = NewDocument(
            doc_id, name, doc.kind, doc.text, doc.page_starts, chunks, prepared.lexical, dense,
            prepared.tokens, doc.page_labels, doc.ocr_pages,
        )  # fmt: skip

        def link(conn: Any, server: dict[str, list[str]] | None) -> list[str]:
            self.manifest.put(conn, row)
            return self._apply_names(conn, changes, server)

        doomed = self.store.commit(
            new,
            lambda: self._write_vectors(
                doc_id, name, new.page_starts, chunks, dense, prepared.vectors
            ),
            changes,
            link,
        )
        return len(chunks), doomed

    def _write_vectors(
        self,
        doc_id: str,
        name: str,
        page_starts: list[int] | None,
        chunks: Sequence[Chunk],
        dense: Sequence[bool],
        stream: VectorStream,
    ) -> None:
        """Write the vectors ``stream`` yields for the ``dense`` chunks, a store batch at a
        time, in order; closes the stream."""
        dense_chunks = [c for c in chunks if dense[c.index]]
        ids = [chunk_id(doc_id, c.index) for c in dense_chunks]
        texts = [c.text for c in dense_chunks]
        now = time.time()
        metas = [
            vector_meta(doc_id, name, c.index, c.start, c.end, page_of(page_starts, c.start), now)
            for c in dense_chunks
        ]
        step = max(self.settings.ingest.store_batch, 1)
        total = len(dense_chunks)
        done = written = 0
        vectors: list[list[float]] = []
        with closing(stream):
            for got in stream:
                vectors += got
                done += len(got)
                if done < total:
                    self.progress(Embedding(name, done, total))
                while len(vectors) >= step or (vectors and done == total):
                    n = min(step, len(vectors))
                    j = slice(written, written + n)
                    self.vectors.upsert_vectors(ids[j], vectors[:n], texts[j], metas[j])
                    written += n
                    del vectors[:n]
                    checkpoint()
        self.progress(Embedding(name, total, total))

    def _split(self, text: str, page_starts: list[int] | None) -> list[Chunk]:
        """Chunks of a document; in a paged document no chunk crosses a page, so every
        citation names exactly one page."""
        from ragmix.ingest.splitter import split_text

        count, size = self._chunking
        overlap = min(self.settings.chunking.overlap_tokens, size // 2)
        bounds = list(page_starts or [0]) + [len(text)]
        out: list[Chunk] = []
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            for c in split_text(text[lo:hi], count, size, overlap):
                out.append(Chunk(len(out), c.text, c.start + lo, c.end + lo, c.n_tokens))
        return out

    # -- names ----------------------------------------------------------------------------
    def _link_changes(
        self, row: SourceRow | None, old: SourceRow | None, new_doc: bool = False
    ) -> dict[str, NameChange]:
        """The names that change when ``row`` replaces ``old`` as the record of one path.

        ``row`` None: the path is forgotten. ``new_doc``: ``row`` names a document being
        added, which gets its name with it. ``old``'s name leaves its document unless another
        file still gives the document that name (the same relative name in another folder).
        """
        changes: dict[str, NameChange] = {}
        if row is not None and not new_doc:
            changes[row.doc_id] = ([row.name], [])
        if old and (row is None or (old.doc_id, old.name) != (row.doc_id, row.name)):
            others = [s for s in self.manifest.named(old.doc_id, old.name) if s.path != old.path]
            if not others:
                changes.setdefault(old.doc_id, ([], []))[1].append(old.name)
        return changes

    def _apply_names(
        self, conn: Any, changes: dict[str, NameChange], server: dict[str, list[str]] | None
    ) -> list[str]:
        """Write the names ``changes`` leave (as ``server`` has them, in http mode) inside the
        caller's transaction; returns the documents left without any, now 'deleting'."""
        doomed: list[str] = []
        for doc_id, (add, drop) in changes.items():
            local = self.catalog.names(doc_id)  # read through the transaction's connection
            if not local:
                continue  # not in the catalog (any more)
            if server is None:
                names = renamed(local, add, drop)
            elif doc_id in server:
                names = server[doc_id]
            else:
                continue
            if not names:
                self.catalog.set_state(conn, doc_id, "deleting")
                doomed.append(doc_id)
            elif names != local:
                self.catalog.set_names(conn, doc_id, names)
        return doomed

    def _commit_source(self, row: SourceRow, old: SourceRow | None, summary: IngestSummary) -> None:
        """Point the file at its (new) document; drop the old document if now nameless."""
        changes = self._link_changes(row, old)
        server = self.store.rename(changes)
        with self.catalog.transaction() as conn:
            self.manifest.put(conn, row)
            doomed = self._apply_names(conn, changes, server)
        checkpoint()
        for doc_id in doomed:
            summary.chunks_removed += self._purge(doc_id)

    def _sync(self, paths: Sequence[Path], seen: set[str]) -> int:
        """Forget files under the given folders that are gone: each takes its name off its
        document, and a document left without a name is removed."""
        removed = 0
        gone: dict[str, SourceRow] = {}
        for p in paths:
            if Path(p).is_dir():
                for s in self.manifest.under(str(Path(p).resolve())):
                    if s.path not in seen and not Path(s.path).exists():
                        gone[s.path] = s
        changes: dict[str, NameChange] = {}
        for s in gone.values():
            others = [o for o in self.manifest.named(s.doc_id, s.name) if o.path not in gone]
            drop = changes.setdefault(s.doc_id, ([], []))[1]
            if not others and s.name not in drop:
                drop.append(s.name)
        server = self.store.rename(changes)
        with self.catalog.transaction() as conn:
            for path in gone:
                self.manifest.drop(conn, path)
            doomed = self._apply_names(conn, changes, server)
        for doc_id in sorted(doomed):
            removed += self._purge(doc_id)
        return removed

    def forget(self, doc_id: str, name: str) -> list[str]:
        """Take one name off a document, with the source records that gave it; the document
        is removed with its last name. Returns the names it keeps ([] once removed)."""
        changes: dict[str, NameChange] = {doc_id: ([], [name])}
        server = self.store.rename(changes)
        with self.catalog.transaction() as conn:
            self.manifest.drop_name(conn, doc_id, name)
            doomed = self._apply_names(conn, changes, server)
        for gone in doomed:
            self._purge(gone)
        return [] if doomed else self.catalog.names(doc_id)
