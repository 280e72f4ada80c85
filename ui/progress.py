"""How far an upload is and how long it has left: the page's upload display, from the
pipeline's events (``IngestState``) and the clock.

One bar per upload that only moves forward: each file weighs its bytes, and counts as done
by the share of its passages embedded (0 before it is split, 1 once stored or failed). A file
read by OCR (a scan, a photo) spends most of its time there (2-6 s a page, against well under
a second to embed a page's passages): its pages read count for ``OCR_SHARE`` of it, its
passages for the rest, so the bar moves page by page. The time left goes by that fraction's
rate in this run, measured from the first embedded batch or OCR page on (the first also
loads its model, so it says nothing about the rate), and
is shown only once at least ``MIN_MEASURE_S`` seconds and ``MIN_MEASURE_SHARE`` of the work
were measured; before that the page says "estimating…". Between two events it counts down.

Nothing here imports gradio: ``UploadTracker`` is fed events with the time they came, so
tests drive it with a fake clock.

Example:
    >>> from ragmix.core.events import FilesFound
    >>> t = UploadTracker({"a.txt": 4_000})
    >>> t.apply(FilesFound(1, ("a.txt",)), now=0.0)
    >>> t.apply(Embedding("a.txt", 32, 128), now=10.0)  # model loaded, first batch embedded
    >>> t.apply(Embedding("a.txt", 64, 128), now=13.0)  # a quarter in 3 s
    >>> t.fraction, t.seconds_left(now=13.5)
    (0.5, 5.5)
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ragmix.core.events import (
    Embedding,
    FileDone,
    FileFailed,
    FileProgress,
    IngestEvent,
    IngestState,
    PagesRead,
)

R = TypeVar("R")


#: Seconds and share of the upload measured before a time left is shown.
MIN_MEASURE_S = 3.0
MIN_MEASURE_SHARE = 0.05
#: Share of a file read by OCR that its pages weigh (the rest: embedding its passages).
OCR_SHARE = 0.9


@dataclass
class UploadTracker:
    """One upload's progress over time.

    Args:
        sizes: bytes of each file by the name the pipeline reports (each file's weight in
            the bar; equal weights for files of unknown size).
    """

    sizes: Mapping[str, int] = field(default_factory=dict)
    state: IngestState = field(default_factory=IngestState)
    #: (time, fraction) when the first batch was done: the rate is measured from it.
    _origin: tuple[float, float] | None = None
    #: (time, seconds left then) at the last event that gave an estimate.
    _estimate: tuple[float, float] | None = None
    #: The largest fraction shown so far (the bar never goes back).
    _shown: float = 0.0

    def apply(self, event: IngestEvent, now: float) -> None:
        """Fold ``event``, which came at ``now`` (seconds on any monotonic clock)."""
        self.state = self.state.apply(event)
        self._shown = max(self._shown, self._raw())
        if isinstance(event, Embedding | PagesRead) and event.done > 0 and self._origin is None:
            self._origin = (now, self._shown)
            return
        rate = self.rate(now)
        if rate and isinstance(event, Embedding | PagesRead | FileDone | FileFailed):
            self._estimate = (now, (1.0 - self._shown) / rate)

    def rate(self, now: float) -> float | None:
        """The upload's fraction done per second since the first batch; None until enough
        was measured (``MIN_MEASURE_S`` seconds and ``MIN_MEASURE_SHARE`` of the work)."""
        if self._origin is None:
            return None
        t0, f0 = self._origin
        gained = self._shown - f0
        if now - t0 < MIN_MEASURE_S or gained < MIN_MEASURE_SHARE:
            return None
        return gained / (now - t0)

    def _raw(self) -> float:
        files = self.state.files
        if not files:
            return 0.0
        weights = {n: float(self.sizes.get(n) or 0) for n in files}
        if not all(weights.values()):
            weights = dict.fromkeys(files, 1.0)
        done = sum(weights[name] * _share(fp) for name, fp in files.items())
        return min(done / sum(weights.values()), 1.0)

    def seconds_left(self, now: float) -> float | None:
        """The estimate, counted down since it was made; None before there is one."""
        if self._estimate is None:
            return None
        at, left = self._estimate
        return max(left - (now - at), 0.0)

    @property
    def fraction(self) -> float:
        """How far the upload is, 0..1, never less than before."""
        return self._shown


def _share(fp: FileProgress) -> float:
    """How much of one file is done, 0..1 (see the module's note on OCR)."""
    if fp.status not in ("waiting", "reading", "indexing"):
        return 1.0  # stored, unchanged, duplicate or failed: nothing left to do
    ocr = OCR_SHARE * fp.pages / fp.pages_total if fp.pages_total else 0.0
    if fp.status == "indexing" and fp.total:
        base = OCR_SHARE if fp.pages_total else 0.0
        return base + (1.0 - base) * fp.done / fp.total
    return ocr


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
