"""One store object per mode, built once from the settings by :func:`open_store`.

* :class:`EmbeddedStore`: a folder on this machine. The SQLite catalog is the truth, Chroma
  runs in the process, and one process writes at a time (a file lock).
* :class:`ServerStore`: a ``chroma run`` server shared by several processes. The server is
  the truth (see :mod:`ragmix.store.shared`); this process keeps a catalog as a cache of it,
  and writers run at once.

Each owns its layout, resolved here and nowhere else (``~`` and ``$VARIABLES`` expanded):

    <root>/catalog.sqlite3            embedded: the catalog
    <root>/catalog.sqlite3.lexical/   its BM25 index (tantivy; derived, rebuilt when out of step)
    <root>/chroma/                    embedded: Chroma's files
    <root>/servers/<host>_<port>_<collection>/catalog.sqlite3
                                      server: this process's cache of the server's catalog
    <root>/uploads/                   files uploaded through the web page
    <root>/states/<model fingerprint>/  read states of whole-document prompts (the model's)
    <root>/writer.lock, writer.pid    embedded: the one writer

and the steps of the ingest protocol in which the modes differ: what a run starts and ends
with, how a new document is committed, how names change, how a document is withdrawn, which
vectors a repair may delete. The pipeline, the facade and the page call these; none of them
asks which mode it is in.

One room, though long: the two stores answer the same questions (layout, writer rule, the
mode's ingest steps) side by side, so a difference between the modes is seen in one file.
"""

from __future__ import annotations

import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import StoreLockedError
from ragmix.core.faults import checkpoint
from ragmix.core.paths import user_path
from ragmix.core.schema import Chunk
from ragmix.core.settings import StoreSettings
from ragmix.store.catalog import Catalog, readable

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from ragmix.store.vectors import DocRegistry, VectorIndex

NameChange = tuple[list[str], list[str]]
"""Names a document gains and loses: (add, drop)."""

#: Runs inside the transaction that makes a document ready (the writer's manifest row and the
#: names it takes from other documents); gets the server's names of changed documents (None
#: for an embedded store) and returns the documents left without a name.
Link = Callable[[Any, dict[str, list[str]] | None], list[str]]


@dataclass(frozen=True)
class NewDocument:
    """A loaded, split and counted document, ready to be committed."""

    doc_id: str
    name: str
    kind: str
    text: str
    page_starts: list[int] | None
    chunks: Sequence[Chunk]
    lexical: Sequence[list[str]]
    dense: Sequence[bool]
    tokens: dict[str, int]
    page_labels: list[str] | None = None
    ocr_pages: dict[int, float] | None = None


def resolve_root(path: str | Path) -> Path:
    """The store folder as an absolute path: ``~`` and ``$VARIABLES`` expanded (the one
    place where they are)."""
    return user_path(path).absolute()


def renamed(names: Sequence[str], add: Sequence[str], drop: Sequence[str]) -> list[str]:
    """``names`` with ``drop`` taken off and ``add`` appended (no duplicates, order kept)."""
    kept = [n for n in names if n not in drop]
    return kept + [n for n in dict.fromkeys(add) if n not in kept]


@contextmanager
def writer_lock(root: Path, timeout: float = 0.0) -> Iterator[None]:
    """One writer per embedded store; a second one stops at once with a clear message."""
    from filelock import FileLock, Timeout

    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / "writer.lock"))
    pid_file = root / "writer.pid"
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        holder = pid_file.read_text().strip() if pid_file.exists() else "?"
        raise StoreLockedError(
            f"another ragmix process (pid {holder}) is writing to {root}; wait for it to "
            "finish, or use a Chroma server (store.mode: http) for several writers",
            code="store_locked",
            params={"pid": holder},
        ) from None
    try:
        # The pid only informs a second writer's message; a full disk must not stop here.
        with suppress(OSError):
            pid_file.write_text(str(os.getpid()))
        yield
    finally:
        lock.release()


class Store(ABC):
    """Where documents live: the layout, the catalog, the vector index, the writer rule and
    the mode's steps of the ingest protocol.

    Args:
        settings: the ``store`` section; its path is resolved here.
        embeddings: returns the embedder when the vector index is first opened.
    """

    def __init__(self, settings: StoreSettings, embeddings: Callable[[], Embeddings]) -> None:
        self.root = resolve_root(settings.path)
        self.settings = settings.model_copy(update={"path": self.root})
        self._embeddings = embeddings
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._vectors: VectorIndex | None = None

    # -- layout ---------------------------------------------------------------------------
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the documents live, for messages."""

    @property
    @abstractmethod
    def catalog_path(self) -> Path:
        """The SQLite catalog of this process."""

    @property
    def uploads(self) -> Path:
        """Where the web page keeps uploaded files."""
        return self.root / "uploads"

    @property
    def states(self) -> Path:
        """Where the in-process model keeps read states of whole-document prompts."""
        return self.root / "states"

    # -- parts, opened on first use -------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        with self._lock:
            if self._catalog is None:
                self._catalog = Catalog(self.catalog_path, lexical=self.settings.lexical)
            return self._catalog

    @property
    def vectors(self) -> VectorIndex:
        with self._lock:
            if self._vectors is None:
                from ragmix.store.vectors import VectorIndex

                self._vectors = VectorIndex(self.settings, self._embeddings(), self._client())
            return self._vectors

    @abstractmethod
    def _client(self) -> Any:
        """A new Chroma client for this store (opened with the vector index)."""

    def close(self) -> None:
        """Let go of the catalog's connections and the vector client."""
        with self._lock:
            if self._catalog is not None:
                self._catalog.close()
                self._catalog = None
            self._vectors = None  # Chroma's client has nothing to close; it goes with it

    def discard(self) -> None:
        """Remove what this store put outside its folder (a scratch store's server
        collections), then ``close``. The caller removes the folder."""
        self.close()

    def scratch(self, root: Path) -> StoreSettings:
        """Settings of a private store under ``root`` of the same kind as this one (for
        ``ragmix eval``: its documents never mix with this store's)."""
        return self.settings.model_copy(update={"path": root})

    # -- writers --------------------------------------------------------------------------
    @abstractmethod
    def writer(self) -> AbstractContextManager[None]:
        """Held around every write (ingest, delete)."""

    def refresh(self, force: bool = False) -> None:
        """Bring this process's catalog up to date with other writers' work."""
        return None

    def repair_catalog(self) -> tuple[list[str], bool]:
        """Move a catalog SQLite cannot read aside. Returns (what was done, whether the
        catalog is being rebuilt from the given files alone)."""
        path = self.catalog_path
        if not path.exists():
            return self._catalog_missing()
        if readable(path):
            return [], False
        self.close()
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                extra.rename(aside.with_name(aside.name + suffix))
        return self._catalog_moved(path, aside)

    def _catalog_missing(self) -> tuple[list[str], bool]:
        return [], False

    @abstractmethod
    def _catalog_moved(self, path: Path, aside: Path) -> tuple[list[str], bool]: ...

    # -- the ingest protocol, where the modes differ -------------------------------------
    @abstractmethod
    def begin_run(self) -> bool:
        """Called before an ingest run recovers; True when the previous writer never
        finished, so vectors of chunks the catalog does not know are to be deleted."""

    def end_run(self) -> None:
        """Called when an ingest run finished."""
        return None

    @abstractmethod
    def commit(
        self,
        doc: NewDocument,
        write_vectors: Callable[[], None],
        changes: dict[str, NameChange],
        link: Link,
    ) -> list[str]:
        """Store a new document so that readers see all of it or nothing; ``link`` runs in
        the transaction that makes it ready. Returns the documents left without a name."""

    def rename(self, changes: dict[str, NameChange]) -> dict[str, list[str]] | None:
        """Change names where the truth lives before the catalog follows (in the caller's
        transaction). Returns each changed document's names there now, or None when the
        catalog is the truth."""
        return None

    def withdraw(self, doc_id: str) -> None:
        """First step of removing a document: readers elsewhere stop seeing it."""
        return None

    @abstractmethod
    def stray_vectors(
        self, stored: dict[str, dict[str, Any]], dense: set[str], known: set[str], recreated: bool
    ) -> tuple[list[str], list[str]]:
        """Vectors a repair deletes, of ``stored`` (id -> metadata), given the catalog's
        embedded chunk ids and document ids. Returns (ids, notes for the report)."""

    def orphans_note(self, orphans: Sequence[str]) -> list[str]:
        """What a repair reports about documents with no source file on record."""
        return []

    # -- checks ----------------------------------------------------------------------------
    @abstractmethod
    def describe(self) -> str:
        """One line for ``ragmix doctor``: what the store is and holds (opens it)."""

    @abstractmethod
    def vector_problems(self, dense: set[str]) -> list[str]:
        """What is wrong between the catalog's embedded chunks and the stored vectors."""


class EmbeddedStore(Store):
    """A store folder on this machine; the catalog is the truth; one writer at a time."""

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite3"

    def _client(self) -> Any:
        from ragmix.store.vectors import embedded_client

        return embedded_client(self.settings)

    def writer(self) -> AbstractContextManager[None]:
        return writer_lock(self.root, self.settings.lock_timeout_s)

    def _catalog_missing(self) -> tuple[list[str], bool]:
        if not (self.root / "chroma").exists():
            return [], False  # a new store
        return [f"the catalog {self.catalog_path} was missing: rebuilt from the given files"], True

    def _catalog_moved(self, path: Path, aside: Path) -> tuple[list[str], bool]:
        return [f"damaged catalog moved aside to {aside}; rebuilt from the given files"], True

    def begin_run(self) -> bool:
        was_dirty = self.catalog.get_meta("dirty") is not None
        # Set before recovery, so that a crash during recovery is also reconciled next time.
        with self.catalog.transaction() as conn:
            self.catalog.set_meta(conn, "dirty", str(os.getpid()))
        return was_dirty

    def end_run(self) -> None:
        with self.catalog.transaction() as conn:
            self.catalog.set_meta(conn, "dirty", None)

    def commit(
        self,
        doc: NewDocument,
        write_vectors: Callable[[], None],
        changes: dict[str, NameChange],
        link: Link,
    ) -> list[str]:
        """Catalog rows as 'pending', then vectors, then 'ready' with ``link``: a crash
        leaves a pending document that the next run's recovery removes."""
        with self.catalog.transaction() as conn:
            self.catalog.add_pending(
                conn,
                doc_id=doc.doc_id,
                name=doc.name,
                kind=doc.kind,
                text=doc.text,
                page_starts=doc.page_starts,
                chunks=doc.chunks,
                lexical=doc.lexical,
                dense=doc.dense,
                tokens=doc.tokens,
                page_labels=doc.page_labels,
                ocr_pages=doc.ocr_pages,
            )
        checkpoint()
        write_vectors()
        with self.catalog.transaction() as conn:
            self.catalog.set_state(conn, doc.doc_id, "ready")
            doomed = link(conn, None)
        checkpoint()
        return doomed

    def stray_vectors(
        self, stored: dict[str, dict[str, Any]], dense: set[str], known: set[str], recreated: bool
    ) -> tuple[list[str], list[str]]:
        # A catalog rebuilt from the given files alone does not know documents whose folders
        # were not given: their vectors may be all that is left of them, so they stay.
        strays = [
            cid
            for cid, meta in stored.items()
            if cid not in dense and (not recreated or meta.get("doc_id") in known)
        ]
        kept = {
            str(meta.get("source", meta.get("doc_id")))
            for cid, meta in stored.items()
            if cid not in dense and recreated and meta.get("doc_id") not in known
        }
        notes = []
        if kept:
            notes.append(
                f"kept the vectors of {len(kept)} documents whose files were not given "
                f"({', '.join(sorted(kept)[:5])}{' …' if len(kept) > 5 else ''}); run "
                "--repair again with their folders to restore them"
            )
        return strays, notes

    def orphans_note(self, orphans: Sequence[str]) -> list[str]:
        if not orphans:
            return []
        return [
            f"{len(orphans)} documents have no source file on record (kept; they are "
            f"answered from the catalog): {', '.join(orphans[:5])}"
            f"{' …' if len(orphans) > 5 else ''}; give their folders to relink them"
        ]

    def describe(self) -> str:
        return f"embedded Chroma in {self.root}: {self.vectors.count()} vectors"

    def vector_problems(self, dense: set[str]) -> list[str]:
        stored = set(self.vectors.iter_ids())
        problems = []
        if missing := len(dense - stored):
            problems.append(f"{missing} chunks have no vector")
        if extra := len(stored - dense):
            problems.append(f"{extra} vectors belong to no chunk")
        return problems


class ServerStore(Store):
    """A ``chroma run`` server shared by several processes; the server is the truth, this
    process's catalog a cache of it (``ragmix.store.shared``); writers run at once."""

    def __init__(self, settings: StoreSettings, embeddings: Callable[[], Embeddings]) -> None:
        super().__init__(settings, embeddings)
        self._registry: DocRegistry | None = None
        self._synced_at = float("-inf")

    @property
    def location(self) -> str:
        s = self.settings
        return f"the Chroma server {s.host}:{s.port} (collection {s.collection})"

    @property
    def catalog_path(self) -> Path:
        s = self.settings
        key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{s.host}_{s.port}_{s.collection}")
        return self.root / "servers" / key / "catalog.sqlite3"

    @property
    def registry(self) -> DocRegistry:
        """The server's document list."""
        with self._lock:
            if self._registry is None:
                from ragmix.store.vectors import DocRegistry

                self._registry = DocRegistry(self.settings, self.vectors.client)
            return self._registry

    def close(self) -> None:
        self._registry = None
        super().close()

    def discard(self) -> None:
        with self._lock:
            if self._vectors is not None:
                self._vectors.drop()
                if self._registry is not None:
                    self._registry.drop()
        self.close()

    def scratch(self, root: Path) -> StoreSettings:
        import uuid

        # The same server, a collection of its own; discard() drops it afterwards.
        name = f"{self.settings.collection}-eval-{uuid.uuid4().hex[:8]}"
        return self.settings.model_copy(update={"path": root, "collection": name})

    def _client(self) -> Any:
        from ragmix.store.vectors import server_client

        return server_client(self.settings)

    def writer(self) -> AbstractContextManager[None]:
        return nullcontext()  # the server serialises writes; documents are idempotent

    def refresh(self, force: bool = False) -> None:
        """At most every ``store.sync_interval_s`` unless ``force``."""
        from ragmix.store.shared import sync_catalog

        with self._lock:
            now = time.monotonic()
            if not force and now - self._synced_at < self.settings.sync_interval_s:
                return
            sync_catalog(self.catalog, self.registry)
            self._synced_at = time.monotonic()

    def _catalog_moved(self, path: Path, aside: Path) -> tuple[list[str], bool]:
        return [f"damaged cache {path} moved aside; re-synced from the server"], False

    def begin_run(self) -> bool:
        # Other writers may be working right now: no dirty flag, no id reconciliation
        # (that is `ingest --repair`, with a grace period). Learn what they committed.
        self.refresh(force=True)
        return False

    def commit(
        self,
        doc: NewDocument,
        write_vectors: Callable[[], None],
        changes: dict[str, NameChange],
        link: Link,
    ) -> list[str]:
        """Vectors, then the document's record on the server (its commit point), then the
        names it takes from other documents there, then the local cache with ``link``."""
        from ragmix.store import shared

        write_vectors()
        head = shared.header(
            name=doc.name,
            kind=doc.kind,
            page_starts=doc.page_starts,
            chunks=doc.chunks,
            dense=doc.dense,
            tokens=doc.tokens,
            page_labels=doc.page_labels,
            ocr_pages=doc.ocr_pages,
        )
        self.registry.put(doc.doc_id, head, doc.text)
        checkpoint()
        server = self.rename(changes)
        doomed: list[str] = []
        shared.add_local(
            self.catalog, doc.doc_id, head, doc.text, lambda conn: doomed.extend(link(conn, server))
        )
        checkpoint()
        return doomed

    def rename(self, changes: dict[str, NameChange]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for doc_id, (add, drop) in changes.items():
            local = self.catalog.names(doc_id)
            if local and renamed(local, add, drop) != local:
                out[doc_id] = self.registry.rename(doc_id, add, drop)
        return out

    def withdraw(self, doc_id: str) -> None:
        self.registry.delete(doc_id)  # readers stop seeing it here
        checkpoint()

    def stray_vectors(
        self, stored: dict[str, dict[str, Any]], dense: set[str], known: set[str], recreated: bool
    ) -> tuple[list[str], list[str]]:
        # Another writer may be between its vectors and its header right now: only records
        # older than the grace period and of no committed document are strays.
        committed = set(self.registry.stamps())
        cutoff = time.time() - self.settings.stray_grace_s
        strays = [
            cid
            for cid, meta in stored.items()
            if meta.get("doc_id") not in committed and float(meta.get("t", 0)) < cutoff
        ]
        notes = []
        parts = self.registry.stray_parts(committed, cutoff)
        if parts:
            self.registry.delete_ids(parts)
            notes.append(f"removed {len(parts)} text parts no committed document owns")
        return strays, notes

    def describe(self) -> str:
        s = self.settings
        version = self.vectors.client.get_version()
        n, docs = self.vectors.count(), len(self.registry.stamps())
        return (
            f"Chroma server {s.host}:{s.port} (version {version}), collection "
            f"{s.collection!r}: {n} vectors, {docs} documents"
        )

    def vector_problems(self, dense: set[str]) -> list[str]:
        # Vectors of documents not committed yet are another writer's work in progress.
        known = self.registry.stamps().keys()
        stored = {cid for cid, meta in self.vectors.iter_records() if meta.get("doc_id") in known}
        missing = len(dense - stored)
        return [f"{missing} chunks have no vector"] if missing else []


def open_store(settings: StoreSettings, embeddings: Callable[[], Embeddings]) -> Store:
    """The store object for ``settings.mode`` (nothing is opened yet)."""
    kind = ServerStore if settings.mode == "http" else EmbeddedStore
    return kind(settings, embeddings)
