"""Load one file in a worker process, under a time limit and a memory limit.

A hostile or broken file can make a parser run for hours (a small PDF whose pages all share
one huge content stream), take gigabytes (a deeply nested HTML file) or kill the interpreter
(a crash in a C extension). ``LoadGuard`` runs ``load_document`` in a child process so that
none of this reaches the ingest run:

* The child is a fresh interpreter (``python -c``), never a fork: the parent may have torch
  and its thread pools loaded. Not multiprocessing's 'spawn' either, which re-imports the
  caller's main script in the child and so breaks any script without a
  ``if __name__ == "__main__"`` guard. Requests and answers are pickled over two pipes.
* It serves file after file, so its start-up (~0.3 s) is paid once per batch, not per file
  (and so is the OCR engine's, ~1 s, made on the first page that needs it).
* While it reads pages by OCR it sends ``("progress", (done, total))`` before its answer;
  the parent passes them to ``on_page`` and keeps waiting, within the same time limit.
* Before each file it lowers its own RLIMIT_AS (address space) to what it uses idle plus the
  memory limit, so a runaway allocation fails as ``MemoryError`` inside the child instead of
  swapping or waking the OOM killer. It reports that and exits; its heap is not trusted after.
* The parent waits at most the time limit for the answer, then kills the child (SIGKILL);
  the next file starts a fresh one. A child that dies by itself is reported and replaced.

Every outcome is a ``LoadedDocument`` or a ``LoadError`` naming the file, the limit that was
hit and the setting that raises it, so the batch goes on.

    RagMix.ingest -> Pipeline._add_document -> load_guarded -> LoadGuard.load
                                                   | pipe
                                                   v
                                  child: _serve -> load_document (loaders.py)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import LoadError
from ragmix.core.schema import LoadedDocument
from ragmix.ingest.loaders import load_document
from ragmix.ingest.ocr import set_engine_builder

if TYPE_CHECKING:
    from ragmix.core.settings import IngestSettings

__all__ = ["LoadGuard", "load_guarded"]

_MB = 1024 * 1024
# Seconds the child may take to start (interpreter and imports); not charged to a file.
_START_TIMEOUT = 60.0


class LoadGuard:
    """``load_document`` in a reusable child process with per-file time and memory limits.

    Args:
        timeout_s: most seconds one file may take; 0 means no limit.
        memory_mb: most MB of address space one file may take on top of what the idle
            loader uses; 0 means no limit. Needs RLIMIT_AS (Linux); elsewhere ignored.

    With both limits 0, or on Windows, files are loaded in this process, with no child.

    Example:
        >>> with LoadGuard(timeout_s=60, memory_mb=1024) as guard:  # doctest: +SKIP
        ...     doc = guard.load(Path("report.pdf"), max_bytes=2**27, max_pages=5000,
        ...                      max_chars=20_000_000, display="report.pdf")
    """

    def __init__(self, timeout_s: float, memory_mb: int) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._lock = threading.Lock()
        self._no_child = False  # set when a child cannot be started here at all

    def __enter__(self) -> LoadGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when none is running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def load(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_pages: int,
        max_chars: int,
        display: str,
        ocr: bool = True,
        ocr_max_pages: int = 50,
        on_page: Callable[[int, int], None] | None = None,
    ) -> LoadedDocument:
        """``load_document(path, ...)`` under the limits; see ``load_document`` for the rest.
        ``on_page(done, total)`` is called (in this thread) as pages are read by OCR.

        Raises:
            LoadError: whatever ``load_document`` raises, and: the file took longer than
                ``timeout_s``, needed more than ``memory_mb``, or the loader died on it.
        """
        kwargs: dict[str, Any] = {  # sent to the child as they are
            "max_bytes": max_bytes,
            "max_pages": max_pages,
            "max_chars": max_chars,
            "display": display,
            "ocr": ocr,
            "ocr_max_pages": ocr_max_pages,
        }
        if (not self.timeout_s and not self.memory_mb) or os.name == "nt" or self._no_child:
            return load_document(path, **kwargs, progress=on_page)
        with self._lock:
            pipes = self._ensure_child()
            if pipes is None:
                return load_document(path, **kwargs, progress=on_page)
            send, conn = pipes
            try:
                send.send((str(path), kwargs, self.memory_mb * _MB))
            except OSError:  # died between two files
                raise LoadError(display, *self._died()) from None
            deadline = time.monotonic() + self.timeout_s if self.timeout_s else None
            while True:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                if not conn.poll(left):
                    self._kill()
                    raise LoadError(
                        display,
                        f"loading took longer than {self.timeout_s:g} s and was stopped (a "
                        "huge or pathological file, or many pages to read by OCR?): split "
                        "the file, or raise ingest.file_timeout_s",
                        "load_timeout",
                        {"seconds": self.timeout_s},
                    )
                try:
                    status, payload = conn.recv()
                except (EOFError, OSError):
                    raise LoadError(display, *self._died()) from None
                if status != "progress":
                    break
                if on_page is not None:
                    on_page(*payload)
            if status == "memory":
                self._kill()  # it exits by itself; a fresh one serves the next file
        if status == "ok":
            doc: LoadedDocument = payload
            return doc
        if status == "memory":
            raise LoadError(
                display,
                f"loading used more than {self.memory_mb} MB and was stopped: split the "
                "file, or raise ingest.file_memory_mb",
                "load_memory",
                {"mb": self.memory_mb},
            )
        if status == "load_error":
            reason, code, params = payload
            raise LoadError(display, reason, code, params)
        raise LoadError(  # "crash": an exception that load_document itself did not expect
            display,
            f"the loader failed unexpectedly ({payload}): check that the file opens in a "
            "viewer and re-save it, and please report this",
            "loader_crashed",
            {"error": payload},
        )

    def close(self) -> None:
        """Stop the child, if any; the guard can still be used and starts a new one."""
        with self._lock:
            if self._send is not None:
                self._send.close()  # the child sees EOF and exits by itself
                self._send = None
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(2)
            self._kill()

    # -- the child ------------------------------------------------------------------------
    def _ensure_child(self) -> tuple[Connection, Connection] | None:
        """The running child's pipes; starts one if needed. None if none can start here (a
        frozen app without a Python to run, a broken install): then files load in this
        process, without limits, after one warning."""
        if self._proc is not None and self._proc.poll() is None:
            assert self._send is not None and self._recv is not None
            return self._send, self._recv
        self._kill()
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        code = f"from ragmix.ingest.guard import _main; _main({from_parent}, {to_parent})"
        send, recv = Connection(to_child, readable=False), Connection(from_child, writable=False)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=(from_parent, to_parent),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            problem = str(exc)
        else:
            self._send, self._recv = send, recv
            if recv.poll(_START_TIMEOUT) and _recv_or_none(recv) == "ready":
                return send, recv
            problem = "it did not answer"
        finally:
            os.close(from_parent)
            os.close(to_parent)
        send.close()
        recv.close()
        self._kill()
        self._no_child = True
        warnings.warn(
            f"ragmix: the loader process could not start ({sys.executable} -c ...: "
            f"{problem}); files are loaded without ingest.file_timeout_s and "
            "ingest.file_memory_mb",
            RuntimeWarning,
            stacklevel=3,
        )
        return None

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        for conn in (self._send, self._recv):
            if conn is not None and not conn.closed:
                conn.close()
        self._proc = self._send = self._recv = None

    def _died(self) -> tuple[str, str, dict[str, Any]]:
        """The reason, code and params of a loader process that died."""
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(5)
        self._kill()
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
            if how == "SIGKILL":
                how += ", perhaps by the system's out-of-memory killer"
        else:
            how = f"exit code {code}"
        return (
            f"the loader process died while reading this file ({how}): the file is probably "
            "damaged or hostile; re-save it from the program that made it",
            "loader_died",
            {"how": how},
        )


def _recv_or_none(conn: Connection) -> Any:
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def _main(from_parent: int, to_parent: int) -> None:
    """The child's loop: one (path, kwargs, memory bytes) in, one (status, payload) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.dup2(2, 1)  # a library's print() must not land in the parent's stdout (`--json`)
    recv, conn = Connection(from_parent, writable=False), Connection(to_parent, readable=False)
    try:
        import resource
    except ImportError:  # no RLIMIT_AS: time limit only
        resource = None  # type: ignore[assignment]
    allowance = _Allowance(resource)
    # The OCR engine (~1 GB of address space once, kept for every later file) is the loader's,
    # not the file's: it is built outside the limit, which then starts again from there.
    set_engine_builder(allowance.outside)
    conn.send("ready")
    while True:
        try:
            path, kwargs, memory = recv.recv()
        except (EOFError, OSError):
            return
        reply: tuple[str, Any]
        limited = bool(memory) and resource is not None
        allowance.start(memory if limited else 0)
        try:
            try:
                reply = ("ok", load_document(Path(path), **kwargs, progress=_sender(conn)))
            finally:
                allowance.lift()
        except LoadError as exc:
            reply = ("load_error", (exc.reason, exc.code, exc.params))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:
            reply = ("crash", f"{type(exc).__name__}: {exc}")
        base, peak_before = allowance.base, allowance.peak_before
        if limited and reply[0] in ("load_error", "crash") and not _decided(reply):
            # C libraries report a failed allocation in their own words (lxml: "XMLSyntaxError:
            # unknown error"). A failure after this file pushed the process past half its
            # allowance is taken for what it most likely is.
            peak = _peak_address_space()
            if peak > peak_before and peak - base >= memory // 2:
                reply = ("memory", None)
        try:
            try:
                conn.send(reply)
            except MemoryError:  # the document itself does not fit through the pipe
                conn.send(("memory", None))
        except OSError:  # the parent is gone (killed): nobody to answer
            return
        if reply[0] == "memory":
            return  # the heap may be fragmented or a library half-way: start afresh


# Failures that are decisions about what was read, not a library's words for a failed
# allocation: reading a scan by OCR takes about 1.2 GB of address space a page, and then
# finding no text in it is still just that.
_DECISIONS = frozenset({"pdf_scanned", "ocr_no_text", "ocr_too_many_pages"})


def _decided(reply: tuple[str, Any]) -> bool:
    return reply[0] == "load_error" and reply[1][1] in _DECISIONS


class _Allowance:
    """The memory the current file may take: ``start(memory)`` caps the address space at what
    the process uses now plus ``memory`` (0: no cap), remembering where it started."""

    def __init__(self, resource: Any) -> None:
        self.resource = resource
        self.memory = 0
        self.base = self.peak_before = 0

    def start(self, memory: int) -> None:
        self.memory = memory
        self.base, self.peak_before = _address_space(), _peak_address_space()
        if self.resource is not None:
            soft = self.base + memory if memory else self.resource.RLIM_INFINITY
            _limit_memory(self.resource, soft)

    def lift(self) -> None:
        """No cap any more; ``base`` and ``peak_before`` stay the file's."""
        self.memory = 0
        if self.resource is not None:
            _limit_memory(self.resource, self.resource.RLIM_INFINITY)

    def outside(self, build: Callable[[], Any]) -> Any:
        """``build()`` with no cap; the file's allowance then starts again after it."""
        memory = self.memory
        self.lift()
        try:
            return build()
        finally:
            self.start(memory)


def _sender(conn: Connection) -> Callable[[int, int], None]:
    """A page-progress callback that tells the parent (a gone parent is not an error here:
    the answer's own send finds out)."""

    def send(done: int, total: int) -> None:
        with contextlib.suppress(OSError):
            conn.send(("progress", (done, total)))

    return send


def _limit_memory(resource: Any, soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
        soft = hard
    # macOS, for one, refuses RLIMIT_AS: the time limit still holds there.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _peak_address_space() -> int:
    """The most virtual memory this process has had, in bytes (Linux: VmPeak), else 0."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux), else 0."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# -- one guard per process, shared by every ingest run ------------------------------------

_shared: LoadGuard | None = None
_shared_lock = threading.Lock()


def load_guarded(
    path: Path,
    limits: IngestSettings,
    *,
    display: str,
    on_page: Callable[[int, int], None] | None = None,
) -> LoadedDocument:
    """Load ``path`` with the limits of ``limits`` (``ingest`` settings), in the shared guard;
    ``on_page(done, total)`` is told of pages read by OCR.

    The child is started on the first call and reused by every later one in this process
    (several ingest runs, web uploads); it exits with the process.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LoadGuard(limits.file_timeout_s, limits.file_memory_mb)
            atexit.register(_shared.close)
        guard = _shared
        guard.timeout_s, guard.memory_mb = limits.file_timeout_s, limits.file_memory_mb
    return guard.load(
        path,
        max_bytes=int(limits.max_file_mb * _MB),
        max_pages=limits.max_pages,
        max_chars=limits.max_chars,
        display=display,
        ocr=limits.ocr != "off",
        ocr_max_pages=limits.ocr_max_pages,
        on_page=on_page,
    )
