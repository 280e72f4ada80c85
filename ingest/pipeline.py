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
read ahead (``_Ahead``) and its embedding starts on the lanes this one leaves idle (at its last
batches and while it is written), so memory is bounded by the two largest consecutive documents
(and a few embedding batches), not by the folder.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ragmix.core.errors import LoadError
from ragmix.core.events import (
    Embedding,
    FileDone,
    FileFailed,
    FilesFound,
    FileStarted,
    IngestEvent,
    PagesRead,
)
from ragmix.core.faults import checkpoint
from ragmix.core.schema import Chunk, LoadedDocument
from ragmix.core.settings import Settings
from ragmix.core.text import detect_language, lexical_tokens, printable_name
from ragmix.core.tokens import TokenCounter
from ragmix.ingest.loaders import SUPPORTED
from ragmix.ingest.manifest import Manifest, SourceRow, content_id
from ragmix.store.catalog import Catalog, chunk_id, page_of
from ragmix.store.stores import NameChange, NewDocument, Store, renamed

if TYPE_CHECKING:
    from ragmix.models.embeddings import VectorStream

logger = logging.getLogger(__name__)

ProgressFn = Callable[[IngestEvent], None]
"""Called with each ``ragmix.core.events.IngestEvent``: ``FilesFound``, then per file
``FileStarted``, ``Embedding`` (chunks with vectors of the file's total) and ``FileDone`` or
``FileFailed``; ``--repair`` re-embeds under the name "repair"."""


class VectorWriter(Protocol):
    def upsert_vectors(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None: ...

    def delete_doc(self, doc_id: str) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def iter_ids(self) -> Iterator[str]: ...

    def iter_records(self) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def staging(self) -> VectorWriter: ...

    def pending_staging(self) -> tuple[str, bool] | None: ...

    def mark_complete(self) -> None: ...

    def promote(self) -> None: ...


class Encoder(Protocol):
    def embed_in_batches(self, texts: Sequence[str], size: int) -> VectorStream: ...

    def understands(self, language: str) -> bool: ...


@dataclass(frozen=True)
class IngestFailure:
    """A file (or path) an ingest run could not store: its name and why, in words."""

    path: str
    error: str


@dataclass
class IngestSummary:
    """What one ingest run did; ``--json`` prints exactly ``as_dict()``."""

    files_seen: int = 0
    ingested: int = 0
    skipped_unchanged: int = 0
    duplicates: int = 0
    failed: list[IngestFailure] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    repaired: list[str] = field(default_factory=list)
    reembedded: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def iter_files(paths: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, root) pairs in a stable order; hidden files and folders are skipped.

    Links to folders are not followed, so folder loops cannot make the walk endless; links
    that loop back to themselves name no file and are left out. The walk keeps its own stack:
    os.walk in Python 3.11 recurses once per level and fails on folders nested ~1,000 deep.
    """
    for p in paths:
        p = Path(p)
        if p.is_file():
            yield p, p.parent
        elif p.is_dir():
            stack = [p]
            while stack:
                folder = stack.pop()
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except OSError:  # unreadable or vanished: skipped, as os.walk does
                    continue
                subfolders = []
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    path = folder / entry.name
                    if _is_dir(entry):
                        if not entry.is_symlink():
                            subfolders.append(path)
                    elif not _symlink_loop(path):
                        yield path, p
                stack.extend(reversed(subfolders))  # depth first, in name order


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _symlink_loop(path: Path) -> bool:
    """A symlink that leads back to itself (or round a cycle of links) names no file."""
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


class Pipeline:
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
        self.progress: ProgressFn = _serialised(progress or (lambda event: None))

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog

    @property
    def vectors(self) -> VectorWriter:
        """Opened on first use: a re-run over unchanged files never opens Chroma."""
        return self.store.vectors

    @cached_property
    def _chunking(self) -> tuple[Callable[[str], int], int]:
        count, max_len = self._chunk_tokenizer()
        return count, min(self.settings.chunking.chunk_tokens, max_len)

    @cached_property
    def token_counters(self) -> list[TokenCounter]:
        return list(self._token_counters())

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
        names = [_display(file, root) for file, root in files]
        self.progress(FilesFound(len(files), tuple(names)))
        seen: set[str] = set()
        with _Ahead(self) as ahead:
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
                    err = exc if isinstance(exc, LoadError) else _os_error(name, exc)
                    summary.failed.append(IngestFailure(name, err.reason))
                    logger.warning("%s not ingested: %s", name, err.reason)
                    self.progress(FileFailed.of(name, err))
                    continue
                finally:  # unused (unchanged, a duplicate, failed, any error) or written
                    _drop(ready)
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
        self, file: Path, name: str, summary: IngestSummary, ready: Future[_Prepared] | None = None
    ) -> str:
        path = str(file.resolve())
        st = file.stat()
        old = self.manifest.get(path)
        if old and self.catalog.state(old.doc_id) != "ready":
            old = None  # its document was removed (by another writer, or a repair): re-add
        if old is not None and _as_recorded(old, st):
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

    def _prepare(self, file: Path, name: str, doc_id: str | None = None) -> _Prepared:
        """Everything about a new file that needs no store: its content id (hashed here
        unless given), text, chunks, which chunks get vectors, BM25 tokens and token counts.
        Touches nothing stored, so it may run ahead of the file's turn (``_Ahead``)."""
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
        return _Prepared(doc_id, doc, chunks, lexical, dense, tokens, vectors)

    @property
    def _embed_batch(self) -> int:
        """Texts per embedding batch: each batch is reported, so progress moves about every
        second; never more than a store batch."""
        step = max(self.settings.ingest.store_batch, 1)
        return max(min(self.settings.embeddings.batch_size, step), 1)

    def _add_document(
        self,
        file: Path,
        row: SourceRow,
        changes: dict[str, NameChange],
        ready: Future[_Prepared] | None = None,
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
            _vector_meta(doc_id, name, c.index, c.start, c.end, page_of(page_starts, c.start), now)
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
                _vector_meta(doc_id, name, idx, start, end, page, now)
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


@dataclass(frozen=True)
class _Prepared:
    """A new file read, split and tokenised (``Pipeline._prepare``), not yet stored."""

    doc_id: str
    doc: LoadedDocument
    chunks: list[Chunk]
    lexical: list[list[str]]
    dense: list[bool]
    tokens: dict[str, int]
    vectors: VectorStream
    """The dense chunks' vectors, being embedded since the file was prepared."""


class _Ahead:
    """Prepares the next new file in a worker thread while the current one is embedded.

    Embedding runs in C with the GIL released, so reading, cleaning, splitting and
    tokenising the next file overlaps it; the next file's embedding then starts at once,
    behind the current file's batches (see ``LazyEmbeddings.embed_in_batches``). Only a file
    whose record says it changed (or that has none) is prepared, one at a time; what is
    prepared touches nothing stored, and is used only if the file's content is still the same
    at its turn. Errors surface at the file's turn, as if it had been read then.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ragmix-read-ahead")
        self.pending: dict[Path, Future[_Prepared]] = {}

    def offer(self, file: Path, name: str) -> None:
        if file.suffix.lower() not in SUPPORTED:
            return
        try:
            if _as_recorded(self.pipeline.manifest.get(str(file.resolve())), file.stat()):
                return
        except (OSError, LoadError):  # e.g. a name that is not UTF-8: its turn says so
            return
        self.pending[file] = self.pool.submit(self.pipeline._prepare, file, name)

    def take(self, file: Path) -> Future[_Prepared] | None:
        return self.pending.pop(file, None)

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        for ready in self.pending.values():
            _drop(ready)
        self.pool.shutdown(wait=True, cancel_futures=True)


def _drop(ready: Future[_Prepared] | None) -> None:
    """Stop embedding a prepared file's vectors that will not be written (a no-op for a
    stream already written), now or when its preparation ends."""

    def close(done: Future[_Prepared]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().vectors.close()

    if ready is not None:
        ready.add_done_callback(close)


def _serialised(progress: ProgressFn) -> ProgressFn:
    """``progress`` called by one thread at a time: the read-ahead thread reports the pages
    it reads by OCR while this one reports embedding, and a front end folds them into one
    state (``IngestState``)."""
    lock = threading.Lock()

    def call(event: IngestEvent) -> None:
        with lock:
            progress(event)

    return call


def _as_recorded(row: SourceRow | None, st: os.stat_result) -> bool:
    """Whether a file with stat ``st`` is as its source record ``row`` saw it."""
    return row is not None and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns


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


def _vector_meta(
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


def _os_error(name: str, exc: OSError) -> LoadError:
    return LoadError(name, f"cannot read: {exc.strerror}", "cannot_read", {"error": exc.strerror})


def _display(file: Path, root: Path) -> str:
    try:
        name = file.relative_to(root).as_posix()
    except ValueError:
        name = file.name
    return printable_name(name)  # no newline or terminal escape reaches a summary line
