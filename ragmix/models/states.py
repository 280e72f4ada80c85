"""Saved prompt states: what lets a model skip re-reading a document it has read before.

Two tiers, both found by the longest token prefix they share with a new prompt:

* :class:`PromptStateCache`, in RAM: the states of recently read prompts in this process.
* :class:`StateFolder`, on disk: states of whole-document prompts, kept across processes
  (the next ``ragmix ask``, a restarted page, a second worker) under ``<store>/states/``.

A disk state is valid only for the exact model and context it came from, so each lives in a
folder named by a *fingerprint* of everything that shapes the bytes (GGUF size and the hash of
its first and last MiB, n_ctx, KV cache types, flash attention, llama.cpp version). Files are
written to a temporary name, fsynced and renamed, and carry a SHA-256 of their tokens and
payload: a SIGKILL while saving leaves at most a stray temporary file (removed later), and a
truncated, corrupted or foreign file is deleted and the prompt is read again, never loaded.
The folder is bounded by ``llm.state_disk_mb``; the least recently used state leaves first.

Which prompts are kept on disk is the caller's choice (:func:`keep_on_disk`): the chain asks
for it around whole-document answers, where reading is long and the prefix comes back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragmix.core import faults

logger = logging.getLogger(__name__)

MAGIC = b"RAGMIXKV"
FORMAT = 1
SUFFIX = ".kv"
_TMP = ".tmp-"
_STALE_TMP_S = 600.0  # a temporary file this old was left by a process that died saving


def lcp(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two token arrays."""
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


# --------------------------------------------------------------------------- RAM tier


class PromptStateCache:
    """Saved llama states of recent prompts, LRU by bytes, found by longest token prefix.

    Unlike llama-cpp-python's ``LlamaRAMCache`` it (1) keeps no logits copy (``n_batch x
    n_vocab`` floats, ~100 MB for SmolLM2, not needed: a restored state always re-decodes a
    token) and counts every byte it keeps, (2) skips short prompts, (3) replaces a state that a
    newer one extends or shares most of its tokens with (two questions on one document keep
    one state).
    """

    MIN_TOKENS = 256

    def __init__(self, capacity_bytes: int, min_tokens: int = MIN_TOKENS) -> None:
        self.capacity_bytes = capacity_bytes
        self.min_tokens = min_tokens
        self._states: OrderedDict[tuple[int, ...], tuple[np.ndarray, Any, int]] = OrderedDict()

    @property
    def cache_size(self) -> int:
        """Bytes held."""
        return sum(size for _, _, size in self._states.values())

    @property
    def entries(self) -> list[tuple[int, int]]:
        """(tokens, bytes) of each saved state, least recently used first."""
        return [(len(k), size) for k, (_, _, size) in self._states.items()]

    def best(self, tokens: np.ndarray) -> tuple[Any, int]:
        """The state sharing the longest prefix with ``tokens`` and that length (None, 0)."""
        best, best_len = None, 0
        for key, (arr, _, _) in self._states.items():
            n = lcp(arr, tokens)
            if n > best_len:
                best, best_len = key, n
        if best is None or best_len < self.min_tokens:
            return None, 0
        self._states.move_to_end(best)
        return self._states[best][1], best_len

    def __contains__(self, key: Sequence[int]) -> bool:
        return self.best(np.asarray(key))[0] is not None

    def __getitem__(self, key: Sequence[int]) -> Any:
        state, _ = self.best(np.asarray(key))
        if state is None:
            raise KeyError("no saved state shares a long enough prefix")
        return state

    def __setitem__(self, key: Sequence[int], state: Any) -> None:
        if len(key) < self.min_tokens:
            return
        arr = np.asarray(key, dtype=np.intc)
        for old in list(self._states):
            if lcp(self._states[old][0], arr) * 2 >= len(old):
                del self._states[old]
        slim = slim_state(state)
        size = slim.llama_state_size + slim.input_ids.nbytes + slim.scores.nbytes + arr.nbytes
        if size > self.capacity_bytes:
            return
        self._states[tuple(key)] = (arr, slim, size)
        while self.cache_size > self.capacity_bytes:
            self._states.popitem(last=False)


def slim_state(state: Any) -> Any:
    """``state`` with one row of logits, which broadcasts over the rows load_state fills."""
    from llama_cpp.llama import LlamaState

    if state.scores.shape[0] <= 1:
        return state
    return LlamaState(
        input_ids=state.input_ids,
        scores=np.zeros((1, state.scores.shape[1]), dtype=np.single),
        n_tokens=state.n_tokens,
        llama_state=state.llama_state,
        llama_state_size=state.llama_state_size,
        seed=state.seed,
    )


# --------------------------------------------------------------------------- what to keep


@dataclass(frozen=True)
class Keep:
    """A request to keep the state of the prompt being answered on disk."""

    root: Path  # <store>/states
    budget_bytes: int
    docs: tuple[str, ...]  # document ids the prompt reads (their deletion drops the state)


_KEEP: ContextVar[Keep | None] = ContextVar("ragmix_keep_state", default=None)


@contextmanager
def keep_on_disk(root: Path, budget_mb: int, docs: Sequence[str]) -> Iterator[None]:
    """Inside, the in-process model keeps the states of the prompts it reads under ``root``
    and looks there for saved ones (``budget_mb`` 0: neither)."""
    token = _KEEP.set(Keep(Path(root), budget_mb << 20, tuple(docs)) if budget_mb > 0 else None)
    try:
        yield
    finally:
        _KEEP.reset(token)


def kept() -> Keep | None:
    """The current request to keep states on disk, if any."""
    return _KEEP.get()


# --------------------------------------------------------------------------- disk tier


class StateError(Exception):
    """A saved state file that must not be loaded (it has been deleted)."""


def model_fingerprint(
    model_path: Path, n_ctx: int, type_k: int, type_v: int, flash_attn: bool
) -> dict[str, Any]:
    """What a saved state is valid for. Hashes 1 MiB at each end of the GGUF (a full hash of a
    26 GB Mixtral would take minutes) plus its size."""
    import llama_cpp

    size = model_path.stat().st_size
    h = hashlib.sha256()
    with open(model_path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return {
        "model": model_path.name,
        "model_bytes": size,
        "model_ends_sha256": h.hexdigest(),
        "n_ctx": n_ctx,
        "type_k": type_k,
        "type_v": type_v,
        "flash_attn": flash_attn,
        "llama_cpp": llama_cpp.__version__,
        "format": FORMAT,
    }


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    blob = json.dumps(fingerprint, sort_keys=True).encode()
    return f"{fingerprint['model'][:40]}-{hashlib.sha256(blob).hexdigest()[:16]}"


@dataclass(frozen=True)
class _Head:
    path: Path
    ids: np.ndarray
    meta: dict[str, Any]
    offset: int  # where the payload starts
    size: int  # file bytes


class StateFolder:
    """Saved states of one model fingerprint under ``root/<fingerprint id>/``.

    File layout: ``MAGIC``, a little-endian u32 header length, the JSON header (fingerprint,
    ``n_tokens``, ``payload_bytes``, ``sha256`` of ids+payload, ``docs``), ``n_tokens`` int32
    token ids, then llama.cpp's state bytes.
    """

    def __init__(self, root: Path, fingerprint: dict[str, Any], budget_bytes: int) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.budget_bytes = budget_bytes
        self.dir = root / fingerprint_id(fingerprint)
        self._heads: dict[Path, _Head] = {}  # by path, while the file's size stays

    # -- reading ------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        try:
            return [p for p in self.dir.iterdir() if p.suffix == SUFFIX]
        except FileNotFoundError:
            return []

    def _head(self, path: Path) -> _Head | None:
        """The file's header and token ids (cached while its size and mtime stay), or None
        for a file that is not a whole state of this fingerprint (it is deleted)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        cached = self._heads.get(path)
        if cached is not None and cached.size == st.st_size:
            return cached
        try:
            head = _read_head(path, st.st_size, self.fingerprint)
        except (StateError, OSError) as exc:
            self.discard(path, str(exc))
            return None
        self._heads[path] = head
        return head

    def best(self, tokens: np.ndarray, min_tokens: int) -> tuple[Path | None, int]:
        """The saved state sharing the longest prefix with ``tokens`` (at least
        ``min_tokens``), and that length."""
        best, best_len = None, 0
        for path in self._files():
            head = self._head(path)
            if head is None:
                continue
            n = lcp(head.ids, tokens)
            if n > best_len:
                best, best_len = path, n
        return (best, best_len) if best_len >= min_tokens else (None, 0)

    def load(self, path: Path) -> tuple[np.ndarray, bytes]:
        """Token ids and llama.cpp state bytes of ``path``, checked against its checksum.

        Raises:
            StateError: the file is gone, truncated, corrupted or of another model (then it
                is deleted).
        """
        head = self._head(path)
        if head is None:
            raise StateError(f"{path.name}: not a usable state")
        try:
            with open(path, "rb") as f:
                f.seek(head.offset)
                payload = f.read()
        except OSError as exc:
            self.discard(path, str(exc))
            raise StateError(f"{path.name}: {exc}") from exc
        if len(payload) != head.meta["payload_bytes"]:
            self.discard(path, "truncated")
            raise StateError(f"{path.name}: truncated")
        if _checksum(head.ids, payload) != head.meta["sha256"]:
            self.discard(path, "checksum mismatch")
            raise StateError(f"{path.name}: checksum mismatch")
        touch(path)  # least recently used goes first
        return head.ids, payload

    def discard(self, path: Path, why: str) -> None:
        logger.warning("dropping saved prompt state %s (%s); it will be read again", path, why)
        self._heads.pop(path, None)
        path.unlink(missing_ok=True)

    # -- writing ------------------------------------------------------------------------
    def save(
        self, ids: np.ndarray, payload: bytes | memoryview, docs: Sequence[str]
    ) -> Path | None:
        """Keep a state (atomically); drop those it supersedes, then the least recently used
        until the folder's root fits the budget. None when it alone exceeds the budget."""
        ids = np.asarray(ids, dtype="<i4")
        checksum = _checksum(ids, payload)
        meta: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "n_tokens": len(ids),
            "payload_bytes": len(payload),
            "sha256": checksum,
            "docs": list(docs),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        head = json.dumps(meta, sort_keys=True).encode()
        total = len(MAGIC) + 4 + len(head) + ids.nbytes + len(payload)
        if total > self.budget_bytes:
            logger.info("a %d MB prompt state exceeds llm.state_disk_mb: not kept", total >> 20)
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{checksum[:24]}{SUFFIX}"
        tmp = self.dir / f"{path.name}{_TMP}{os.getpid()}"
        half = len(payload) // 2
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(head)) + head)
            f.write(ids.tobytes())
            faults.checkpoint()
            f.write(memoryview(payload)[:half])
            f.flush()
            faults.checkpoint()
            f.write(memoryview(payload)[half:])
            f.flush()
            os.fsync(f.fileno())
        faults.checkpoint()
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        faults.checkpoint()
        for other in self._files():
            head_o = self._head(other) if other != path else None
            if head_o is not None and lcp(head_o.ids, ids) * 2 >= len(head_o.ids):
                self.discard(other, "superseded by a newer state of the same prompt")
        prune(self.root, self.budget_bytes, keep=path)
        return path


def touch(path: Path) -> bool:
    """Mark a kept state as just used (pruning drops the least recently used first); False
    if it is gone: another thread or process may drop it at any moment (the disk budget, a
    newer state of the same prompt, or its document removed by ``ingest --sync``)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _checksum(ids: np.ndarray, payload: bytes | memoryview) -> str:
    h = hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes())
    h.update(payload)
    return h.hexdigest()


def _read_head(path: Path, size: int, fingerprint: dict[str, Any] | None) -> _Head:
    with open(path, "rb") as f:
        start = f.read(len(MAGIC) + 4)
        if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
            raise StateError("not a ragmix state file")
        (n_head,) = struct.unpack("<I", start[len(MAGIC) :])
        if n_head > 1 << 20:
            raise StateError("header too long")
        try:
            meta = json.loads(f.read(n_head))
            n_tokens = int(meta["n_tokens"])
            payload_bytes = int(meta["payload_bytes"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"unreadable header ({exc})") from exc
        if fingerprint is not None and meta.get("fingerprint") != fingerprint:
            raise StateError("saved by another model, context size or llama.cpp version")
        raw = f.read(4 * n_tokens)
    offset = len(MAGIC) + 4 + n_head + 4 * n_tokens
    if len(raw) != 4 * n_tokens or size != offset + payload_bytes:
        raise StateError("truncated")
    return _Head(path, np.frombuffer(raw, dtype="<i4").astype(np.intc), meta, offset, size)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _all_files(root: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for sub in root.glob("*/*"):
        try:
            out.append((sub, sub.stat()))
        except FileNotFoundError:
            continue
    return out


def prune(root: Path, budget_bytes: int, keep: Path | None = None) -> int:
    """Delete stale temporary files, then the least recently used states under ``root`` (all
    fingerprints) until they fit ``budget_bytes``. Returns the bytes left."""
    now = time.time()
    files = []
    for path, st in _all_files(root):
        if _TMP in path.name:
            if now - st.st_mtime > _STALE_TMP_S:
                path.unlink(missing_ok=True)
            continue
        if path.suffix == SUFFIX:
            files.append((st.st_mtime_ns, path, st.st_size))
    files.sort()
    total = sum(size for _, _, size in files)
    for _, path, size in files:
        if total <= budget_bytes:
            break
        if path == keep:
            continue
        logger.info("prompt state %s leaves the disk budget (least recently used)", path.name)
        path.unlink(missing_ok=True)
        total -= size
    return total


def usage(root: Path) -> tuple[int, int]:
    """(states, bytes) kept under ``root``."""
    files = [(p, st) for p, st in _all_files(root) if p.suffix == SUFFIX]
    return len(files), sum(st.st_size for _, st in files)


def drop_documents(root: Path, keep: set[str]) -> int:
    """Delete every saved state under ``root`` that read a document not in ``keep`` (deleted
    documents leave nothing behind that was read from them); returns how many."""
    dropped = 0
    for path, st in _all_files(root):
        if path.suffix != SUFFIX:
            continue
        try:
            head = _read_head(path, st.st_size, None)
        except (StateError, OSError):
            continue
        if set(head.meta.get("docs") or ()) - keep:
            path.unlink(missing_ok=True)
            dropped += 1
    return dropped
