"""Uploaded files: checked, given safe names and kept only under ``<store>/uploads/``.

A browser sends any name it likes (``../../etc/passwd``, ``C:\\x.txt``, ``.bashrc``, names
with control or bidi characters). ``safe_name`` keeps only the last path component, drops
control and format characters and leading dots, and leaves letters of every script alone, so
``苏州报告.pdf`` stays readable. ``save_uploads`` then copies each accepted file inside the
upload folder and nowhere else; the ingest pipeline does the rest (duplicates included).

The page and ``ragmix serve`` both upload through ``ragmix.app.desk.Desk``; tested directly
in ``tests/test_uploads.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Characters Windows refuses in file names; replaced there, harmless elsewhere.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
#: Longest stored name in UTF-8 bytes (file systems allow 255; leave room for a suffix).
MAX_NAME_BYTES = 200


@dataclass
class Upload:
    """One uploaded file and what happened to it before ingest.

    ``error`` is a reason code ('ext', 'size', 'name') with its data in ``detail``; an
    accepted upload has ``stored`` set instead.
    """

    original: str
    stored: Path | None = None
    error: str | None = None
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The name the document list shows: the stored name when there is one."""
        return self.stored.name if self.stored else self.original


def safe_name(original: str, *, windows: bool | None = None) -> str | None:
    """A file name that is safe to create inside the upload folder, or None if nothing is left.

    Example:
        >>> safe_name("../../etc/passwd.txt")
        'passwd.txt'
        >>> safe_name("C:\\\\Users\\\\me\\\\苏州 报告.pdf")
        '苏州 报告.pdf'
        >>> safe_name(".env") is None
        True
    """
    windows = os.name == "nt" if windows is None else windows
    # Browsers may send either separator; only the last component is a file name.
    name = re.split(r"[/\\]", original)[-1]
    name = unicodedata.normalize("NFC", name)
    # Cc: control characters (NUL, newlines, ESC); Cf: format characters such as the
    # right-to-left override that makes "txt.exe" look like "exe.txt".
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    name = name.strip().lstrip(".").strip().rstrip(". ")
    if windows:
        name = _WINDOWS_FORBIDDEN.sub("_", name)
        if _WINDOWS_RESERVED.match(name):
            name = "_" + name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if not stem.strip():
        return None
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
        name = f"{stem}.{ext}" if dot else stem
    return name


def save_uploads(
    files: Iterable[tuple[str | Path, str]],
    dest: Path,
    *,
    max_mb: float,
    extensions: Sequence[str],
) -> list[Upload]:
    """Check and copy uploaded files into ``dest`` (the store's ``uploads`` folder).

    Args:
        files: ``(temporary path, name the browser sent)`` pairs.
        dest: the only folder uploads are written to (``Store.uploads``).
        max_mb: the largest accepted file, in MB.
        extensions: accepted endings such as '.pdf' (case-insensitive).

    Returns:
        One ``Upload`` per file, in order; refused ones carry an ``error`` code.
        A file with the name of an earlier upload replaces it (a new version).
    """
    allowed = {e.lower() for e in extensions}
    out: list[Upload] = []
    for tmp, original in files:
        tmp = Path(tmp)
        up = Upload(original=original)
        out.append(up)
        name = safe_name(original)
        if name is None:
            up.error = "name"
            continue
        ext = Path(name).suffix.lower()
        if ext not in allowed:
            up.error, up.detail = "ext", {"ext": ext or "''", "allowed": " ".join(sorted(allowed))}
            continue
        size = tmp.stat().st_size
        if size > max_mb * 1024 * 1024:
            up.error, up.detail = "size", {"mb": size / 2**20, "limit": max_mb}
            continue
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / name
        # safe_name already removed separators; this guards against any future change.
        if target.resolve().parent != dest.resolve():
            up.error = "name"
            continue
        shutil.copyfile(tmp, target)
        up.stored = target
    return out


def remove_upload(dest: Path, name: str) -> bool:
    """Delete the uploaded copy of a document named ``name`` from ``dest`` (the uploads
    folder), if it came from an upload."""
    dest = dest.resolve()
    target = (dest / name).resolve()
    if target.parent != dest or not target.is_file():
        return False
    target.unlink()
    return True
