"""The manifest: which file on disk holds which document.

One row per source file, keyed by its resolved absolute path, with the size and mtime seen
and the content hash (= doc id) it had. It lives in the catalog's SQLite database so that a
source row and the document it points at are written in the same transaction.

A file whose size and mtime are unchanged is skipped without being read; one whose stat
changed is hashed, and only a new hash means new content.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ragmix.core.errors import LoadError
from ragmix.store.catalog import Catalog

#: Bytes of content hash kept in the doc id (80 bits: no collision in any real library).
_ID_HEX = 20


@dataclass(frozen=True)
class SourceRow:
    path: str
    name: str
    size: int
    mtime_ns: int
    doc_id: str


def content_id(path: Path, block: int = 1 << 20) -> str:
    """The document id of a file: its SHA-256, streamed so large files never sit in memory.

    Raises:
        LoadError: ``path`` is not a regular file. A named pipe would block the open for
            ever and a link to /dev/zero would never end; both are refused before reading.
    """
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LoadError(
                str(path),
                "not a regular file (a named pipe, device or socket): only files can be "
                "ingested; remove it from the folder",
            )
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()[:_ID_HEX]


class Manifest:
    """Source-file bookkeeping on top of a ``Catalog``: it owns the ``sources`` table.

    Reads go through the catalog's per-thread connection (``Catalog.query``); writes take the
    connection of the caller's ``Catalog.transaction()``.
    """

    _ROW = "SELECT path, name, size, mtime_ns, doc_id FROM sources"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog  # its schema includes the sources table

    def get(self, path: str) -> SourceRow | None:
        """The row of ``path``; raises LoadError if the path cannot be stored (see below)."""
        rows = self.catalog.query(f"{self._ROW} WHERE path = ?", (_storable(path),))
        return SourceRow(*rows[0]) if rows else None

    def under(self, root: str) -> list[SourceRow]:
        """Sources at or below ``root`` (an absolute path)."""
        prefix = root.rstrip("/") + "/"
        rows = self.catalog.query(
            f"{self._ROW} WHERE path = ? OR substr(path, 1, ?) = ?", (root, len(prefix), prefix)
        )
        return [SourceRow(*r) for r in rows]

    def named(self, doc_id: str, name: str) -> list[SourceRow]:
        """Sources that give document ``doc_id`` the name ``name`` (several folders can hold
        the same file under the same relative name)."""
        rows = self.catalog.query(f"{self._ROW} WHERE doc_id = ? AND name = ?", (doc_id, name))
        return [SourceRow(*r) for r in rows]

    def put(self, conn: sqlite3.Connection, row: SourceRow) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?)",
            (_storable(row.path), row.name, row.size, row.mtime_ns, row.doc_id, time.time()),
        )

    def drop(self, conn: sqlite3.Connection, path: str) -> None:
        conn.execute("DELETE FROM sources WHERE path = ?", (path,))

    def drop_doc(self, conn: sqlite3.Connection, doc_id: str) -> None:
        conn.execute("DELETE FROM sources WHERE doc_id = ?", (doc_id,))

    def drop_name(self, conn: sqlite3.Connection, doc_id: str, name: str) -> None:
        """Forget the files that gave ``doc_id`` the name ``name``."""
        conn.execute("DELETE FROM sources WHERE doc_id = ? AND name = ?", (doc_id, name))

    def orphan_names(self) -> list[str]:
        """Display names of ready documents no source file is on record for, by name."""
        rows = self.catalog.query(
            "SELECT d.name FROM documents d WHERE d.state = 'ready' AND NOT EXISTS"
            " (SELECT 1 FROM sources s WHERE s.doc_id = d.doc_id) ORDER BY d.name"
        )
        return [r[0] for r in rows]

    def dangling(self, conn: sqlite3.Connection) -> list[str]:
        """Source paths whose document is not ready (crash between the two writes)."""
        rows = conn.execute(
            "SELECT s.path FROM sources s WHERE NOT EXISTS (SELECT 1 FROM documents d"
            " WHERE d.doc_id = s.doc_id AND d.state = 'ready')"
        ).fetchall()
        return [r[0] for r in rows]


def _storable(path: str) -> str:
    """``path``, if SQLite can store it: a name that is not valid UTF-8 (bytes of another
    encoding, which Python keeps as lone surrogates) cannot be, and is refused."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        bad = Path(path).name.encode("utf-8", "surrogateescape")
        raise LoadError(
            path.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"),
            f"the file name is not valid UTF-8 ({bad!r}; saved on a system using another "
            "encoding, e.g. GBK): rename the file, e.g. `convmv -f gbk -t utf-8 --notest "
            "FILE`",
        ) from None
    return path
