"""A first-come, first-served turnstile: one holder at a time, the others wait their turn.

The web page and ``ragmix serve`` answer many questions at once, but the answering model
reads one prompt at a time. Search-only questions never touch the model, so they should not
queue behind someone else's long answer; questions that use the model pass this gate in the
order they arrived, and the page shows "Waiting for the model" meanwhile. Waiting is done in
short slices (``ready(ticket, timeout)``) so the caller can yield to Gradio (or the event loop)
between them and a closed tab or dropped connection cancels its place in line.

Tested directly in ``tests/test_gate.py``.

Example:
    >>> gate = Gate()
    >>> a, b = gate.join(), gate.join()
    >>> gate.ready(a, 0), gate.ready(b, 0), gate.ahead(b)
    (True, False, 1)
    >>> gate.leave(a)
    >>> gate.ready(b, 0)
    True
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class Gate:
    """Tickets in arrival order; only the first may pass."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._line: deque[object] = deque()

    def join(self) -> object:
        """Take a place at the end of the line; returns the ticket."""
        ticket = object()
        with self._cond:
            self._line.append(ticket)
        return ticket

    def ready(self, ticket: object, timeout: float) -> bool:
        """Whether ``ticket`` is first in line, waiting at most ``timeout`` seconds for it."""
        with self._cond:
            return self._cond.wait_for(lambda: self._line[0] is ticket, timeout)

    def ahead(self, ticket: object) -> int:
        """How many tickets are in line before ``ticket``."""
        with self._cond:
            return self._line.index(ticket)

    def leave(self, ticket: object) -> None:
        """Give up the turn, or the place in line; idempotent."""
        with self._cond:
            if ticket in self._line:
                self._line.remove(ticket)
                self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._line)


class Turn:
    """One answer's place in the model's line, or none (``gate`` None: a search, which never
    waits for the model). Every front end waits for the model through this.

    Example:
        >>> gate = Gate()
        >>> first, second, search = Turn(gate), Turn(gate), Turn(None)
        >>> first.ready(), second.ready(), second.ahead(), search.ready()
        (True, False, 1, True)
        >>> second.wait(stopped=lambda: True, slice_s=0)  # stopped while waiting
        False
        >>> first.leave(); second.wait(stopped=lambda: False)
        True
    """

    def __init__(self, gate: Gate | None) -> None:
        self._gate = gate
        self._ticket = gate.join() if gate is not None else None

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether it is this answer's turn, waiting at most ``timeout`` seconds for it."""
        if self._gate is None:
            return True
        return self._gate.ready(self._ticket, timeout)

    def ahead(self) -> int:
        """How many answers are in line before this one."""
        return 0 if self._gate is None else self._gate.ahead(self._ticket)

    def wait(self, stopped: Callable[[], bool], slice_s: float = 0.2) -> bool:
        """Wait for the turn in slices of ``slice_s`` seconds; False when ``stopped()`` says
        so first (the place is still held: ``leave`` gives it up)."""
        while not self.ready(slice_s):
            if stopped():
                return False
        return True

    def leave(self) -> None:
        """Give up the turn, or the place in line; idempotent."""
        if self._gate is not None:
            self._gate.leave(self._ticket)
