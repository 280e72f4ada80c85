"""Read-ahead: while one file is embedded, the next new one is read, split and tokenised in a
worker thread, and its embedding starts on the lanes this one leaves idle."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ragmix.core.errors import LoadError
from ragmix.core.schema import Chunk, LoadedDocument
from ragmix.ingest.loaders import SUPPORTED
from ragmix.ingest.manifest import Manifest
from ragmix.ingest.walk import as_recorded

if TYPE_CHECKING:
    from ragmix.models.embeddings import VectorStream


@dataclass(frozen=True)
class Prepared:
    """A new file read, split and tokenised (``Pipeline._prepare``), not yet stored."""

    doc_id: str
    doc: LoadedDocument
    chunks: list[Chunk]
    lexical: list[list[str]]
    dense: list[bool]
    tokens: dict[str, int]
    vectors: VectorStream
    """The dense chunks' vectors, being embedded since the file was prepared."""


class Ahead:
    """Prepares the next new file in a worker thread while the current one is embedded.

    Embedding runs in C with the GIL released, so reading, cleaning, splitting and
    tokenising the next file overlaps it; the next file's embedding then starts at once,
    behind the current file's batches (see ``LazyEmbeddings.embed_in_batches``). Only a file
    whose record says it changed (or that has none) is prepared, one at a time; what is
    prepared touches nothing stored, and is used only if the file's content is still the same
    at its turn. Errors surface at the file's turn, as if it had been read then.
    """

    def __init__(self, prepare: Callable[[Path, str], Prepared], manifest: Manifest) -> None:
        self.prepare, self.manifest = prepare, manifest
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ragmix-read-ahead")
        self.pending: dict[Path, Future[Prepared]] = {}

    def offer(self, file: Path, name: str) -> None:
        if file.suffix.lower() not in SUPPORTED:
            return
        try:
            if as_recorded(self.manifest.get(str(file.resolve())), file.stat()):
                return
        except (OSError, LoadError):  # e.g. a name that is not UTF-8: its turn says so
            return
        self.pending[file] = self.pool.submit(self.prepare, file, name)

    def take(self, file: Path) -> Future[Prepared] | None:
        return self.pending.pop(file, None)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        for ready in self.pending.values():
            drop_prepared(ready)
        self.pool.shutdown(wait=True, cancel_futures=True)


def drop_prepared(ready: Future[Prepared] | None) -> None:
    """Stop embedding a prepared file's vectors that will not be written (a no-op for a
    stream already written), now or when its preparation ends."""

    def close(done: Future[Prepared]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().vectors.close()

    if ready is not None:
        ready.add_done_callback(close)
