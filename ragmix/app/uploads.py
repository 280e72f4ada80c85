"""Uploaded files: checked, given safe names and kept only under ``<store>/uploads/``.

A browser sends any name it likes (``../../etc/passwd``, ``C:\\x.txt``, ``.bashrc``, names
with control or bidi characters). ``safe_name`` keeps only the last path component, drops
control and format characters and leading dots, and leaves letters of every script alone, so
``苏州报告.pdf`` stays readable. ``save_uploads`` then copies each accepted file inside the
upload folder and nowhere else; the ingest pipeline does the rest (duplicates included).

A new version must never cost the old one: each file is first written under a hidden
temporary name in the upload folder (a copy cut short by a full disk is removed there), and
only a complete copy takes the real name, atomically, while the earlier file of that name is
kept aside under a hidden name (``.kept-…``; hidden files are never ingested). ``settle``
then keeps the new file of an upload that was ingested and puts the earlier one back, byte
for byte and with its old stat (so the catalog still finds it unchanged), for one that was
not. ``recover`` does the same for a process that died in between: the kept file wins.

The page and ``ragmix serve`` both upload through ``ragmix.app.desk.Desk``; tested directly
in ``tests/test_uploads.py``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Characters Windows refuses in file names; replaced there, harmless elsewhere.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
#: Longest stored name in UTF-8 bytes (file systems allow 255; leave room for a suffix).
MAX_NAME_BYTES = 200
#: Hidden names (the pipeline skips files starting with a dot) of a copy being written and of
#: the earlier file of a name while its new version is ingested.
STAGING_PREFIX = ".upload-"
KEPT_PREFIX = ".kept-"
#: Seconds after which such hidden files are taken as left by a process that died.
RECOVER_AFTER_S = 3600.0


@dataclass
class Upload:
    """One uploaded file and what happened to it before ingest.

    ``error`` is a reason code ('ext', 'size', 'name') with its data in ``detail``; an
    accepted upload has ``stored`` set instead. ``failure`` says why an accepted file could
    not be written (a full disk); nothing of it is left behind. ``kept`` is the earlier file of
    the same name, set aside until ``settle`` decides which one stays.
    """

    original: str
    stored: Path | None = None
    error: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    failure: str | None = None
    kept: Path | None = None

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
        One ``Upload`` per file, in order; refused ones carry an ``error`` code, ones that
        could not be written a ``failure``. A file with the name of an earlier upload replaces
        it (a new version), which stays aside in ``kept`` until ``settle`` is called.
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
        staged = dest / f"{STAGING_PREFIX}{secrets.token_hex(8)}{ext}"
        kept = dest / f"{KEPT_PREFIX}{secrets.token_hex(8)}-{name}"
        try:
            shutil.copyfile(tmp, staged)
            if target.is_file():
                os.replace(target, kept)  # a rename: the same bytes and stat come back later
                up.kept = kept
            os.replace(staged, target)
        except OSError as exc:  # a full disk, a quota: no partial copy stays
            staged.unlink(missing_ok=True)
            if up.kept is not None:
                os.replace(up.kept, target)
                up.kept = None
            up.failure = (
                f"could not be saved in the upload folder {dest}: {exc.strerror or exc}; "
                "free some disk space and upload it again"
            )
            continue
        up.stored = target
    return out


def settle(uploads: Sequence[Upload], failed: Iterable[str]) -> None:
    """Keep the new file of each stored upload that was ingested; for one whose name is in
    ``failed``, put the earlier file of its name back (or remove the new one if there was
    none), so a failed new version leaves the stored document and its file as they were."""
    bad = set(failed)
    # Backwards: a name uploaded twice in one batch gets its first earlier file back last.
    for up in reversed(uploads):
        if up.stored is None:
            continue
        if up.name in bad:
            if up.kept is not None:
                os.replace(up.kept, up.stored)
            else:
                up.stored.unlink(missing_ok=True)
        elif up.kept is not None:
            up.kept.unlink(missing_ok=True)
        up.kept = None


def recover(dest: Path, older_than_s: float = RECOVER_AFTER_S) -> list[str]:
    """Undo what a process that died while uploading into ``dest`` left: partial copies are
    removed and earlier files set aside go back under their names (whether or not their new
    version was ingested; the next ingest of the folder brings the catalog in line). Only
    what was left more than ``older_than_s`` seconds ago: another process sharing the folder
    may be uploading right now. Returns the names put back."""
    if not dest.is_dir():
        return []
    back = []
    now = time.time()
    for entry in sorted(dest.iterdir()):
        try:
            if now - entry.stat().st_ctime < older_than_s:  # ctime: when it was renamed
                continue
            if entry.name.startswith(STAGING_PREFIX):
                entry.unlink()
            elif entry.name.startswith(KEPT_PREFIX):
                name = entry.name[len(KEPT_PREFIX) :].split("-", 1)[-1]
                os.replace(entry, dest / name)
                back.append(name)
        except FileNotFoundError:  # taken care of by its own process meanwhile
            continue
    return back


def remove_upload(dest: Path, name: str) -> bool:
    """Delete the uploaded copy of a document named ``name`` from ``dest`` (the uploads
    folder), if it came from an upload."""
    dest = dest.resolve()
    target = (dest / name).resolve()
    if target.parent != dest or not target.is_file():
        return False
    target.unlink()
    return True
