"""Server mode (``store.mode: http``): the local catalog as a cache of a shared Chroma server.

With an embedded store one process owns everything, and the SQLite catalog (full texts,
chunks, BM25 index, manifest) is the source of truth. With a ``chroma run`` server, several
ingest processes on several machines write at once, so the truth must live on the server:

* the chunk collection holds the dense vectors (as in embedded mode);
* ``<collection>__docs`` (:class:`ragmix.store.vectors.DocRegistry`) holds one header per
  committed document (chunk boundaries, pages, token counts, and every name the document was
  ingested under, by any writer) plus its full text.

A writer publishes a document in this order: chunk vectors, text parts, header. The header is
the commit point: until it exists no reader sees the document; once it exists everything it
refers to is on the server. Deletion runs the other way (header first). Chunk ids and doc ids
are content hashes, so two writers that ingest the same file write identical records, and a
writer killed half-way leaves only records that the next run overwrites with the same values
(or that ``ragmix ingest --repair`` removes once older than ``store.stray_grace_s``).

Every client keeps its own SQLite catalog as a *cache*, under
``<store.path>/servers/<host>_<port>_<collection>/``: :func:`sync_catalog` diffs its ready
documents with the server's headers, removes the ones that are gone, rebuilds the new ones
(chunk rows, pages, token counts, and the BM25 entries, tokenised locally) from the header and
text, each in one SQLite transaction, and takes over the names of the others. The lexical
index is therefore always derived from the server's records, never written independently, and
two clients that synced see the same documents, names and chunks. Readers sync at most every
``store.sync_interval_s`` seconds; writers sync before they start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ragmix.core.schema import Chunk
from ragmix.core.text import lexical_tokens
from ragmix.store.catalog import Catalog


class Registry(Protocol):
    def stamps(self) -> dict[str, float]: ...

    def names(self) -> dict[str, list[str]]: ...

    def get(self, doc_id: str) -> tuple[dict[str, Any], str] | None: ...

    def put(self, doc_id: str, header: dict[str, Any], text: str) -> None: ...

    def delete(self, doc_id: str) -> None: ...


def header(
    *,
    name: str,
    kind: str,
    page_starts: list[int] | None,
    chunks: Sequence[Chunk],
    dense: Sequence[bool],
    tokens: dict[str, int],
    page_labels: list[str] | None = None,
    ocr_pages: dict[int, float] | None = None,
) -> dict[str, Any]:
    """What a reader needs, besides the text, to rebuild a document's catalog rows
    (``page_labels``/``ocr_pages`` are absent from a header an older ragmix wrote)."""
    head = {
        "v": 1,
        "name": name,
        "names": [name],
        "kind": kind,
        "page_starts": page_starts,
        "chunks": [
            [c.start, c.end, c.n_tokens, int(d)] for c, d in zip(chunks, dense, strict=True)
        ],
        "tokens": tokens,
        "ingested_at": time.time(),
    }
    if page_labels:
        head["page_labels"] = page_labels
    if ocr_pages:
        head["ocr_pages"] = {str(p): c for p, c in ocr_pages.items()}  # JSON keys are text
    return head


def add_local(
    catalog: Catalog,
    doc_id: str,
    head: dict[str, Any],
    text: str,
    link: Callable[[Any], None] | None = None,
) -> bool:
    """Insert a committed server document into the local catalog as ready (one transaction;
    ``link(conn)`` runs inside it: the writer's manifest row).

    Returns False when it was already there (another process sharing this cache was first).
    """
    chunks = [
        Chunk(i, text[start:end], start, end, n_tokens)
        for i, (start, end, n_tokens, _dense) in enumerate(head["chunks"])
    ]
    lexical = [lexical_tokens(c.text) for c in chunks]
    with catalog.transaction() as conn:
        if catalog.state(doc_id) is not None:
            if link is not None:
                link(conn)
            return False
        names = list(head.get("names") or [head["name"]])
        catalog.add_pending(
            conn,
            doc_id=doc_id,
            name=names[0],
            names=names,
            kind=head["kind"],
            text=text,
            page_starts=head["page_starts"],
            chunks=chunks,
            lexical=lexical,
            dense=[bool(c[3]) for c in head["chunks"]],
            tokens=dict(head.get("tokens") or {}),
            ingested_at=head.get("ingested_at"),
            page_labels=head.get("page_labels"),
            ocr_pages={int(p): float(c) for p, c in (head.get("ocr_pages") or {}).items()},
        )
        catalog.set_state(conn, doc_id, "ready")
        if link is not None:
            link(conn)
    return True


def sync_catalog(catalog: Catalog, registry: Registry) -> tuple[int, int]:
    """Make the local catalog's ready documents, and their names, equal the server's; returns
    (added, removed)."""
    remote = registry.names()
    local: dict[str, list[str]] = {d: [] for d in catalog.doc_ids("ready")}
    local.update(catalog.all_names())
    gone = sorted(local.keys() - remote.keys())
    renamed = {
        doc_id: names
        for doc_id, names in remote.items()
        if doc_id in local and names and set(names) != set(local[doc_id])
    }
    if gone or renamed:
        with catalog.transaction() as conn:
            for doc_id in gone:
                catalog.remove(conn, doc_id)
            for doc_id, names in renamed.items():
                catalog.set_names(conn, doc_id, names)
    added = 0
    for doc_id in sorted(remote.keys() - local.keys()):
        if catalog.state(doc_id) is not None:
            continue  # pending or being deleted by a writer sharing this cache
        got = registry.get(doc_id)
        if got is not None and add_local(catalog, doc_id, *got):
            added += 1
    return added, len(gone)
