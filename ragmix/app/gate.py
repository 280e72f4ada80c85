"""A first-come, first-served turnstile: ``width`` holders at a time, the others wait their turn.

The web page and ``ragmix serve`` answer many questions at once, but the in-process model
reads one prompt at a time (width 1); a model server with N parallel slots (``llama-server
-np N``) answers up to ``llm.max_concurrent`` at once. Search-only questions never touch the
model, so they should not queue behind someone else's long answer; questions that use the model
pass this gate in the order they arrived, and the page shows "Waiting for the model" meanwhile.
Waiting is done in short slices (``ready(ticket, timeout)``) so the caller can yield to Gradio
(or the event loop) between them and a closed tab or dropped connection cancels its place in
line.

Tested directly in ``tests/test_gate.py``.

Example:
    >>> gate = Gate()
    >>> a, b = gate.join(), gate.join()
    >>> gate.ready(a, 0), gate.ready(b, 0), gate.ahead(b)
    (True, False, 1)
    >>> gate.leave(a)
    >>> gate.ready(b, 0)
    True
    >>> wide = Gate(2)
    >>> a, b, c = wide.join(), wide.join(), wide.join()
    >>> wide.ready(a, 0), wide.ready(b, 0), wide.ready(c, 0), wide.ahead(c)
    (True, True, False, 1)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class Gate:
    """Tickets in arrival order; the first ``width`` may pass."""

    def __init__(self, width: int = 1) -> None:
        if width < 1:
            raise ValueError(f"a gate lets at least one through, not {width}")
        self.width = width
        self._cond = threading.Condition()
        self._line: deque[object] = deque()

    def join(self) -> object:
        """Take a place at the end of the line; returns the ticket."""
        ticket = object()
        with self._cond:
            self._line.append(ticket)
        return ticket

    def ready(self, ticket: object, timeout: float) -> bool:
        """Whether ``ticket`` is among the first ``width`` in line, waiting at most
        ``timeout`` seconds for it."""
        with self._cond:
            return self._cond.wait_for(lambda: self._place(ticket) < self.width, timeout)

    def ahead(self, ticket: object) -> int:
        """How many tickets must leave before ``ticket`` may pass (0: it may)."""
        with self._cond:
            return max(0, self._line.index(ticket) - self.width + 1)

    def _place(self, ticket: object) -> int:
        for i, t in enumerate(self._line):  # the first few are the ones asked about
            if t is ticket:
                return i
        return len(self._line) + self.width  # gone from the line: never its turn

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
