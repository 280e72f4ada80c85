"""Stopping an answer from another thread, down to the model.

A consumer that runs an answer in a thread of its own (the HTTP API) wraps it in
``stoppable(flag)``; when its client goes away it calls ``flag.set()``. Code deep in the call
(the in-process model, reading a long prompt inside llama.cpp where no Python runs between
tokens) reads the flag with ``current()`` and registers what stops it with ``flag.on_set``:
the hook runs at once on ``set()``, from the thread that calls it. The flag travels in a
context variable, so nothing between the two (the chain, LangChain's Runnables) passes it on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class StopFlag:
    """A ``threading.Event`` that also runs hooks when it is set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    @contextmanager
    def on_set(self, hook: Callable[[], None]) -> Iterator[None]:
        """Runs ``hook`` when the flag is set while inside (at once if it already is)."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._hooks.append(hook)
        if already:
            hook()
        try:
            yield
        finally:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)


_CURRENT: ContextVar[StopFlag | None] = ContextVar("ragmix_stop_flag", default=None)


@contextmanager
def stoppable(flag: StopFlag) -> Iterator[StopFlag]:
    """Code run inside (on this thread) sees ``flag`` as ``current()``."""
    token = _CURRENT.set(flag)
    try:
        yield flag
    finally:
        _CURRENT.reset(token)


def current() -> StopFlag | None:
    """The flag of the answer running on this thread, if its consumer can stop it."""
    return _CURRENT.get()
