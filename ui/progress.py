"""How far an upload is and how long it has left: the page's upload display, from the
pipeline's events (``IngestState``) and the clock.

The estimate goes by passages embedded per second, measured from the first embedded batch
on (the first batch also loads the embedding model, so it says nothing about the rate).
Files not split yet are counted at the passages per byte of those already split. Before
there is a rate, there is no estimate (the page says "estimating…"). Between two events
the estimate counts down.

Nothing here imports gradio: ``UploadTracker`` is fed events with the time they came, so
tests drive it with a fake clock.

Example:
    >>> from ragmix.core.events import FilesFound
    >>> t = UploadTracker({"a.txt": 4_000})
    >>> t.apply(FilesFound(1, ("a.txt",)), now=0.0)
    >>> t.apply(Embedding("a.txt", 32, 128), now=10.0)  # model loaded, first batch embedded
    >>> t.apply(Embedding("a.txt", 64, 128), now=11.0)  # 32 passages a second
    >>> t.seconds_left(now=11.5)
    1.5
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ragmix.core.events import Embedding, IngestEvent, IngestState

R = TypeVar("R")


@dataclass
class UploadTracker:
    """One upload's progress over time.

    Args:
        sizes: bytes of each file by the name the pipeline reports (to guess the passages
            of files not split yet).
    """

    sizes: Mapping[str, int] = field(default_factory=dict)
    state: IngestState = field(default_factory=IngestState)
    #: (time, passages embedded) when the first batch was done: the rate is measured from it.
    _origin: tuple[float, int] | None = None
    #: (time, seconds left then) at the last event that gave an estimate.
    _estimate: tuple[float, float] | None = None

    def apply(self, event: IngestEvent, now: float) -> None:
        """Fold ``event``, which came at ``now`` (seconds on any monotonic clock)."""
        self.state = self.state.apply(event)
        embedded = self.state.chunks_embedded
        if isinstance(event, Embedding) and event.done > 0 and self._origin is None:
            self._origin = (now, embedded)
            return
        rate = self.rate(now)
        if rate and isinstance(event, Embedding):
            self._estimate = (now, self.remaining() / rate)

    def rate(self, now: float) -> float | None:
        """Passages embedded per second since the first batch; None before a second one."""
        if self._origin is None:
            return None
        t0, n0 = self._origin
        n = self.state.chunks_embedded - n0
        return n / (now - t0) if n > 0 and now > t0 else None

    def remaining(self) -> float:
        """Passages still to embed: the rest of the files being indexed, plus the files not
        split yet at the passages per byte seen so far (0 for them before any was split)."""
        known = [(n, fp) for n, fp in self.state.files.items() if fp.status != "waiting"]
        split = [(n, fp.total) for n, fp in known if fp.total and self.sizes.get(n)]
        per_byte = sum(t for _, t in split) / sum(self.sizes[n] for n, _ in split) if split else 0.0
        left = 0.0
        for name, fp in self.state.files.items():
            if fp.status == "indexing":
                left += fp.total - fp.done
            elif fp.status in ("waiting", "reading"):
                left += per_byte * self.sizes.get(name, 0)
        return left

    def seconds_left(self, now: float) -> float | None:
        """The estimate, counted down since it was made; None before there is one."""
        if self._estimate is None:
            return None
        at, left = self._estimate
        return max(left - (now - at), 0.0)

    @property
    def fraction(self) -> float:
        """How far the upload is, 0..1: by passages once their number can be guessed,
        else by files (``IngestState.fraction``)."""
        done = self.state.chunks_embedded
        left = self.remaining() if self._origin is not None else 0.0
        if self._origin is None or done + left <= 0:
            return self.state.fraction
        return min(done / (done + left), 1.0)


class Background(Generic[R]):
    """``work(report)`` in a thread of its own, its reported events collected as they come:
    a page handler streams them with ``batches`` and then takes ``result``. The work runs
    to its end even when nobody reads any more (a closed tab): an upload is never cut.

    Args:
        work: called with the function to report events to; its return value is the
            result.
    """

    def __init__(self, work: Callable[[Callable[[IngestEvent], None]], R]) -> None:
        self._events: queue.Queue[tuple[float, IngestEvent]] = queue.Queue()
        self._done = threading.Event()
        self._result: R | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = work(lambda e: self._events.put((time.monotonic(), e)))
            except BaseException as exc:  # handed to the reader, which raises it
                self._error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, name="ragmix-upload", daemon=True).start()

    def batches(self, every_s: float) -> Iterator[list[tuple[float, IngestEvent]]]:
        """The ``(time, event)`` pairs reported since the last batch, one batch at least
        every ``every_s`` seconds (empty when nothing came), until the work is done."""
        while True:
            finished = self._done.wait(every_s)
            batch = []
            while True:
                try:
                    batch.append(self._events.get_nowait())
                except queue.Empty:
                    break
            yield batch
            if finished:
                return

    def result(self) -> R:
        """What the work returned (after ``batches`` ended); its exception, if it raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
