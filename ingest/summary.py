"""What an ingest run reports and writes to: its summary (``--json`` prints it), the progress
callback's type, and the seams the pipeline writes through (the vector index, the encoder)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ragmix.core.events import IngestEvent

if TYPE_CHECKING:
    from ragmix.models.embeddings import VectorStream



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


def serialised(progress: ProgressFn) -> ProgressFn:
    """``progress`` called by one thread at a time: the read-ahead thread reports the pages
    it reads by OCR while this one reports embedding, and a front end folds them into one
    state (``IngestState``)."""
    lock = threading.Lock()

    def call(event: IngestEvent) -> None:
        with lock:
            progress(event)

    return call
