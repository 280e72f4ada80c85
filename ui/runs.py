"""One answer (or read-ahead) per page session at a time, each stoppable from another request.

The page runs the core's event stream in a thread of its own, under the core's stop flag
(``ragmix.core.cancel``), and hands the events to Gradio's handler through a queue. So a
Stop click (a separate, unqueued request), a closed tab (Gradio's ``unload``) or Gradio
closing the handler sets the flag; the in-process model aborts within a token or a batch of
the prompt it is reading, the thread gives the model's place in line back, and the handler
keeps what was written and marks it stopped.

Nothing here imports gradio (tested in ``tests/test_ui_runs.py`` with threads).

Example:
    >>> runs = Runs()
    >>> flag = runs.reserve("tab-1")
    >>> runs.reserve("tab-1") is None    # one at a time per session
    True
    >>> runs.stop("tab-1"), flag.is_set()
    (True, True)
    >>> runs.release("tab-1", flag); runs.busy("tab-1")
    False
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from ragmix.core.cancel import StopFlag, stoppable

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The queue's end marker.
_END = object()


class Runs:
    """The running answer of each session, by Gradio session hash (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[str, StopFlag] = {}

    def reserve(self, session: str) -> StopFlag | None:
        """A new stop flag for ``session``'s next run; None while one is running."""
        with self._lock:
            if session in self._by_session:
                return None
            flag = self._by_session[session] = StopFlag()
            return flag

    def current(self, session: str) -> StopFlag | None:
        with self._lock:
            return self._by_session.get(session)

    def busy(self, session: str) -> bool:
        with self._lock:
            return session in self._by_session

    def stop(self, session: str) -> bool:
        """Stop ``session``'s run (if any); whether there was one."""
        with self._lock:
            flag = self._by_session.get(session)
        if flag is None:
            return False
        flag.set()
        return True

    def release(self, session: str, flag: StopFlag) -> None:
        """The run of ``flag`` is over (a later run's flag is left alone)."""
        with self._lock:
            if self._by_session.get(session) is flag:
                del self._by_session[session]


def in_thread(
    produce: Callable[[], Iterator[T]],
    flag: StopFlag,
    *,
    poll_s: float,
    before: Callable[[], bool] | None = None,
    after: Callable[[], None] | None = None,
) -> Iterator[T | None]:
    """``produce()``'s items, made in a worker thread under ``stoppable(flag)``.

    Yields None every ``poll_s`` seconds without an item (the caller may refresh the page,
    and Gradio notices a closed tab). Ends when the items do, or soon after ``flag`` is set:
    the worker then stops at its next item (the model's own abort hook stops it sooner).
    ``before()`` runs first in the worker (e.g. waiting for the model's turn; False: stopped
    while waiting, produce nothing); ``after()`` always runs last in the worker, when it is
    done with the model (e.g. giving the turn back). An exception from ``produce`` is
    raised here, unless the flag was set (then it is the stop itself). Once the flag is
    set this returns at once, without waiting for the worker."""
    box: queue.Queue[object] = queue.Queue()

    def work() -> None:
        gen: Iterator[T] | None = None
        try:
            with stoppable(flag):
                if before is not None and not before():
                    return
                gen = produce()
                for item in gen:
                    if flag.is_set():
                        break
                    box.put(item)
        except BaseException as exc:  # handed over: the caller's errors are its own
            if flag.is_set():
                logger.info("run stopped (%s)", type(exc).__name__)
            else:
                box.put(_Raised(exc))
        finally:
            try:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
            finally:
                if after is not None:
                    after()
                box.put(_END)

    worker = threading.Thread(target=work, name="ragmix-page-run", daemon=True)
    worker.start()
    try:
        while not flag.is_set():
            try:
                item = box.get(timeout=poll_s)
            except queue.Empty:
                yield None
                continue
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            if not flag.is_set():
                yield item  # type: ignore[misc]
        # Stopped: the caller shows what it has at once; the worker gives the model back
        # (``after``) when the model has noticed, within a token or a batch.
    finally:
        if worker.is_alive():
            flag.set()  # the caller went away (a closed tab): the worker stops too


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
