"""Which files an ingest run reads, and how they are named in its reports: a stable walk of
folders that neither follows folder links nor loops, names that cannot break a summary line,
and whether a file is as its source record saw it."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ragmix.core.errors import LoadError
from ragmix.core.text import printable_name
from ragmix.ingest.manifest import SourceRow


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


def as_recorded(row: SourceRow | None, st: os.stat_result) -> bool:
    """Whether a file with stat ``st`` is as its source record ``row`` saw it."""
    return row is not None and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns


def os_error(name: str, exc: OSError) -> LoadError:
    return LoadError(name, f"cannot read: {exc.strerror}", "cannot_read", {"error": exc.strerror})


def display_name(file: Path, root: Path) -> str:
    try:
        name = file.relative_to(root).as_posix()
    except ValueError:
        name = file.name
    return printable_name(name)  # no newline or terminal escape reaches a summary line
