"""What crosses from the core to the CLI, the web page and (later) an HTTP API: typed events
and the one reducer each consumer folds them with.

An answer streams as::

    RouteDecided            the route, its reason and token counts, before any token
    Sources                 what the answer is read from (passages or whole documents)
    PartStarted*            map-reduce only: part i of n is being summarised
    Reading*                a long prompt is being read (tokens read of total, seconds left)
    Token*                  text deltas
    [RouteDecided(restart=True), Sources, Token*]   Self-Route re-read a whole document
    Done                    the complete ``Answer``, with counts and timings

``QA.events`` raises a ``RagmixError`` where it fails; ``catch_errors`` turns that into a
last ``Failed`` event for consumers that must keep streaming (the page, an HTTP API).
``AnswerState.apply`` folds any of these into what a person sees so far.

An ingest run reports ``FilesFound`` (with the names), then per file ``FileStarted``,
``Embedding`` (chunks embedded of the file's total) and ``FileDone`` or ``FileFailed``;
``IngestState.apply`` folds them into counts, a fraction for a progress bar and a line per
file.

Example:
    >>> state = AnswerState()
    >>> for event in [Token("Two "), Token("years.")]:
    ...     state = state.apply(event)
    >>> state.text
    'Two years.'

One room, though long: each event and the reducer that folds it are read together (the
reducers check every event with ``assert_never``), so events and states stay in one file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Literal, NotRequired, TypedDict, assert_never

from ragmix.core.errors import LoadError, RagmixError
from ragmix.core.schema import Route

logger = logging.getLogger(__name__)


class Tokens(TypedDict):
    """Token counts of one answer, in the answering model's tokens."""

    scope: int  # document text in scope (0 for search: nothing is counted)
    budget: int | None  # room for document text in the prompt; None for search (no prompt)
    prompt: int
    completion: int


SourceKind = Literal["passage", "support", "document"]
#: Whether the documents back an answer (``ragmix.qa.verdict``): ``supported`` (its words and
#: every number, date, name and quoted phrase are in what the model read, near the question's
#: own terms), ``partial`` (some are not: ``Answer.unsupported`` names them), ``unsupported``
#: (its specifics are not there), ``no_answer`` (it says the documents do not tell, or ragmix
#: found nothing that bears on the question and did not call the model).
Verdict = Literal["supported", "partial", "unsupported", "no_answer"]
VERDICTS: tuple[Verdict, ...] = ("supported", "partial", "unsupported", "no_answer")


class Source(TypedDict):
    """One source of an answer.

    ``kind`` says what it is:

    * ``passage``: retrieved text the model read (``chunk`` is its first chunk, ``score``
      the retrieval score);
    * ``support``: a passage of a document read whole that holds the answer's words, found
      after the answer was written (``chunk`` None, ``score`` the share of the answer's
      weight it holds, see ``ragmix.qa.support``);
    * ``document``: a document read whole when no passage of it holds the answer (``text``
      is its beginning).

    ``start``/``end`` are character offsets in the document; ``page`` is the page where the
    text starts and ``pages`` every page it covers ([] for formats without pages);
    ``highlights`` are ``[start, end]`` offsets in ``text`` of the answer's words (of the
    question's words for search results); ``support`` is the share of the answer's words
    the text holds (None before the answer is written). ``n`` is the number the model saw the
    passage under in its prompt (``[n]`` in the answer's text): sources are listed in the order
    of support, so a front end labels each with its ``n`` (absent: its position), never with a
    count of its own, and the answer's ``[2]`` is the source labelled 2 everywhere.

    Where pages have names, ``page_kind`` says what they are: ``sheet`` (a workbook's, named
    by ``page_label``: the sheet's name) or ``slide`` (a deck's, numbered by ``pages``).
    ``ocr_pages`` are the pages of the text read by OCR, ``ocr_confidence`` the engine's mean
    confidence on them (0-1). All four are absent where they do not apply.
    """

    source: str
    page: int | None
    chunk: int | None
    start: int
    end: int
    score: float
    text: str
    kind: SourceKind
    pages: list[int]
    highlights: list[list[int]]
    support: float | None
    n: NotRequired[int]
    page_kind: NotRequired[Literal["sheet", "slide"]]
    page_label: NotRequired[str]
    ocr_pages: NotRequired[list[int]]
    ocr_confidence: NotRequired[float]


def source_label(s: Mapping[str, Any], position: int) -> int:
    """The number a source is shown with: the ``n`` the model cited it by, else its 1-based
    ``position`` in the list.

    Example:
        >>> source_label({"n": 3}, 1), source_label({}, 2)
        (3, 2)
    """
    n = s.get("n")
    return int(n) if n is not None else position


def source_pages(s: Mapping[str, Any]) -> list[int]:
    """Every page a source covers: its ``pages``, else (a source from an older ragmix, or a
    client that sends only ``page``) its one ``page``, else none.

    Example:
        >>> source_pages({"page": 3, "pages": [3, 4]}), source_pages({"page": 2})
        ([3, 4], [2])
    """
    pages = s.get("pages")
    if pages:
        return [int(p) for p in pages]
    return [int(s["page"])] if s.get("page") is not None else []


@dataclass(frozen=True)
class Answer:
    """One answer, with how it was made. ``--json`` prints ``as_dict()``:
    ``{"answer", "route", "reason", "tokens", "sources", "timings", "warnings", "verdict",
    "unsupported"}``; ``warnings`` are for people, shown next to the answer (e.g. a model
    that does not read the question's language); ``verdict`` says whether the documents back
    the answer (``Verdict``; None for a search, which has no answer), ``unsupported`` lists
    the answer's pieces (numbers, names, words) not found where the question is discussed and
    ``verdict_note`` says why in a few English words."""

    answer: str
    route: Route
    reason: str
    tokens: Tokens
    sources: list[Source]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    unsupported: list[str] = field(default_factory=list)
    verdict_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Event:
    """Base of the events: ``as_dict()`` is the JSON form, tagged with ``type``."""

    kind: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}  # type: ignore[call-overload]


# -- answering -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteDecided(_Event):
    """The router's decision. ``restart``: Self-Route switched to a whole document, so the
    text so far is replaced."""

    kind: ClassVar[str] = "route"
    route: Route
    reason: str
    tokens: Tokens
    restart: bool = False


@dataclass(frozen=True)
class Sources(_Event):
    kind: ClassVar[str] = "sources"
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class PartStarted(_Event):
    """Map-reduce: the model is summarising part ``part`` of ``parts``."""

    kind: ClassVar[str] = "part"
    part: int
    parts: int

    @property
    def text(self) -> str:
        return f"part {self.part}/{self.parts}"


@dataclass(frozen=True)
class Reading(_Event):
    """The model is reading a long prompt: ``read`` of ``total`` tokens so far, of which
    ``restored`` came from a saved state (``source`` 'disk' or 'ram'; '' when none), and an
    estimate of the seconds left (None before the first batch)."""

    kind: ClassVar[str] = "reading"
    read: int
    total: int
    restored: int = 0
    source: str = ""
    seconds_left: float | None = None

    @property
    def text(self) -> str:
        head = f"reading {self.read:,}/{self.total:,} tokens"
        if self.restored:
            where = "from disk" if self.source == "disk" else "from memory"
            head += f" ({self.restored:,} restored {where})"
        if self.seconds_left:
            head += f" · {self.seconds_left:.0f} s left"
        return head


@dataclass(frozen=True)
class Token(_Event):
    """A piece of the answer's text, as the model wrote it."""

    kind: ClassVar[str] = "token"
    text: str


@dataclass(frozen=True)
class Done(_Event):
    kind: ClassVar[str] = "done"
    answer: Answer


@dataclass(frozen=True)
class Failed(_Event):
    """The answer failed; ``message`` is the ``RagmixError``'s (what failed, how to fix it),
    ``code`` and ``params`` its stable code and values, for a message in another language
    (None and {} for an error without a code; ``as_dict`` then leaves them out)."""

    kind: ClassVar[str] = "error"
    message: str
    code: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: RagmixError) -> Failed:
        return cls(str(exc), exc.code, dict(exc.params))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code is not None:
            out.update(code=self.code, params=dict(self.params))
        return out


AnswerEvent = RouteDecided | Sources | PartStarted | Reading | Token | Done | Failed


def catch_errors(events: Iterable[AnswerEvent]) -> Iterator[AnswerEvent]:
    """``events``, with a ``RagmixError`` raised while producing them turned into a last
    ``Failed`` event (other exceptions are bugs and propagate)."""
    try:
        yield from events
    except RagmixError as exc:
        logger.info("answer failed: %s", exc, exc_info=logger.isEnabledFor(logging.DEBUG))
        yield Failed.of(exc)


@dataclass(frozen=True)
class AnswerState:
    """What a person sees of an answer so far; ``apply`` is a pure fold over the events.

    Attributes:
        route, reason, tokens: the latest route decision (None/empty before the first).
        sources: the latest sources (the final answer's once done).
        text: the answer's text so far (the final, stripped text once done).
        status: progress before the answer's text: "part 2/5" (map-reduce), "reading
            1,024/5,700 tokens · 20 s left"; empty once done.
        reading: the latest ``Reading`` event (None before any, and once done).
        restarted: Self-Route re-read a whole document.
        answer: the final ``Answer``, once done.
        error: the failure's message, if the answer failed.
        failure: the ``Failed`` event itself (its code and params), if the answer failed.
    """

    route: Route | None = None
    reason: str = ""
    tokens: Tokens | None = None
    sources: tuple[Source, ...] = ()
    text: str = ""
    status: str = ""
    reading: Reading | None = None
    restarted: bool = False
    answer: Answer | None = None
    error: str | None = None
    failure: Failed | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.error is not None

    def apply(self, event: AnswerEvent) -> AnswerState:
        """The state after ``event``."""
        if isinstance(event, RouteDecided):
            return replace(
                self,
                route=event.route,
                reason=event.reason,
                tokens=event.tokens,
                sources=(),
                text="" if event.restart else self.text,
                restarted=self.restarted or event.restart,
            )
        if isinstance(event, Sources):
            return replace(self, sources=event.sources)
        if isinstance(event, PartStarted):
            return replace(self, status=event.text)
        if isinstance(event, Reading):
            return replace(self, status=event.text, reading=event)
        if isinstance(event, Token):
            return replace(self, text=self.text + event.text)
        if isinstance(event, Done):
            a = event.answer
            return replace(
                self,
                route=a.route,
                reason=a.reason,
                tokens=a.tokens,
                sources=tuple(a.sources),
                text=a.answer,
                status="",
                reading=None,
                answer=a,
            )
        if isinstance(event, Failed):
            return replace(self, status="", reading=None, error=event.message, failure=event)
        assert_never(event)  # mypy checks that every event is handled above

    @classmethod
    def fold(cls, events: Iterable[AnswerEvent]) -> AnswerState:
        """The state after all of ``events``."""
        state = cls()
        for event in events:
            state = state.apply(event)
        return state

    def result(self) -> Answer:
        """The final answer.

        Raises:
            RagmixError: the answer failed (its message).
        """
        if self.error is not None:
            f = self.failure
            code, params = (f.code, f.params) if f is not None else (None, None)
            raise RagmixError(self.error, code=code, params=params)
        if self.answer is None:
            raise RuntimeError("the answer stream ended before its Done event")
        return self.answer


@dataclass(frozen=True)
class WarmRow:
    """One document read ahead (``RagMix.warm``), as the CLI, the page and ``--json`` show it.

    Attributes:
        document: its name.
        ok: it was read (or had been already); False: it was skipped, ``error`` says why.
        tokens: the whole prompt's tokens (instructions and document).
        read: tokens actually read now; 0 when it had been read ahead already.
        seconds: how long it took.
        error, code, params: why it was skipped (``code`` and ``params``: see ``Failed``).
    """

    document: str
    ok: bool
    tokens: int = 0
    read: int = 0
    seconds: float = 0.0
    error: str | None = None
    code: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``--json``'s line: ``{"document", "ok", "tokens", "read", "seconds", "error", "code",
        "params"}``."""
        return asdict(self)


def warm_rows(
    events: Iterable[tuple[str, AnswerEvent]],
    on_reading: Callable[[str, Reading], None] | None = None,
) -> Iterator[WarmRow]:
    """Fold ``RagMix.warm``'s events into one row per document (the CLI's and the page's);
    ``on_reading(name, event)`` sees each ``Reading`` as it comes."""
    start: dict[str, int] = {}
    for name, event in events:
        if isinstance(event, Reading):
            start.setdefault(name, event.read)
            if on_reading is not None:
                on_reading(name, event)
        elif isinstance(event, Done):
            a = event.answer
            total = a.tokens["prompt"]
            read = max(0, total - 1 - start.get(name, 0))
            yield WarmRow(name, True, total, read, a.timings.get("total_s", 0.0))
        elif isinstance(event, Failed):
            yield WarmRow(name, False, error=event.message, code=event.code,
                          params=dict(event.params))  # fmt: skip


# -- ingesting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FilesFound(_Event):
    """``total`` files will be read, by these ``names`` in order (names do not take part in
    comparisons: ``FilesFound(3)`` equals the event of any three files)."""

    kind: ClassVar[str] = "files"
    total: int
    names: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class FileStarted(_Event):
    kind: ClassVar[str] = "file"
    name: str


@dataclass(frozen=True)
class Embedding(_Event):
    """``done`` of ``total`` chunks of ``name`` have vectors (``--repair`` re-embeds under
    the name "repair")."""

    kind: ClassVar[str] = "embedding"
    name: str
    done: int
    total: int


@dataclass(frozen=True)
class PagesRead(_Event):
    """``done`` of ``total`` pages of ``name`` are read by OCR (sent while it is loaded,
    which may be ahead of its turn: the file being indexed stays the current one)."""

    kind: ClassVar[str] = "pages"
    name: str
    done: int
    total: int


@dataclass(frozen=True)
class FileDone(_Event):
    """A file is finished: ``status`` is 'ingested', 'unchanged', 'duplicate', 'renamed' or
    'unsupported'; ``chunks``: passages added (for 'ingested'; not compared)."""

    kind: ClassVar[str] = "file_done"
    name: str
    status: str
    chunks: int = field(default=0, compare=False)


@dataclass(frozen=True)
class FileFailed(_Event):
    """A file could not be ingested; ``error`` says why and what to do (the batch goes on),
    ``code`` and ``params`` are the ``LoadError``'s (see ``Failed``)."""

    kind: ClassVar[str] = "file_failed"
    name: str
    error: str
    code: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, exc: RagmixError) -> FileFailed:
        reason = exc.reason if isinstance(exc, LoadError) else str(exc)
        return cls(name, reason, exc.code, dict(exc.params))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "name": self.name, "error": self.error}
        if self.code is not None:
            out.update(code=self.code, params=dict(self.params))
        return out


IngestEvent = FilesFound | FileStarted | PagesRead | Embedding | FileDone | FileFailed


@dataclass(frozen=True)
class FileProgress:
    """Where one file of an ingest run is.

    Attributes:
        status: 'waiting', 'reading', 'indexing', then a ``FileDone`` status or 'failed'.
        done, total: passages with vectors, of those to embed (known once it is split).
        chunks: passages added (once 'ingested').
        failure: why it failed.
        pages, pages_total: pages read by OCR, of those to read (0 of 0: none to read).
    """

    status: str = "waiting"
    done: int = 0
    total: int = 0
    chunks: int = 0
    failure: FileFailed | None = None
    pages: int = 0
    pages_total: int = 0


@dataclass(frozen=True)
class IngestState:
    """Progress of an ingest run; ``apply`` is a pure fold over the events.

    Attributes:
        files_total: files found (None until known).
        files_done: files finished, failed ones included.
        name: the file being worked on.
        chunks_total, chunks_embedded: chunks to embed and embedded, over all files so far.
        statuses: each finished file's status ('failed' for a failure).
        failed: each failed file's error.
        files: every file's ``FileProgress``, in the order they are read (those announced
            by ``FilesFound`` first).
    """

    files_total: int | None = None
    files_done: int = 0
    name: str = ""
    chunks_total: int = 0
    chunks_embedded: int = 0
    file_chunks: int = 0
    file_embedded: int = 0
    statuses: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, FileProgress] = field(default_factory=dict)

    @classmethod
    def fold(cls, events: Iterable[IngestEvent]) -> IngestState:
        """The state after all of ``events``."""
        state = cls()
        for event in events:
            state = state.apply(event)
        return state

    @property
    def fraction(self) -> float:
        """How far the run is, 0..1: whole files, plus the embedded share of the current one."""
        within = self.file_embedded / self.file_chunks if self.file_chunks else 0.0
        return min((self.files_done + within) / max(self.files_total or 0, 1), 1.0)

    @property
    def ocr(self) -> tuple[str, int, int] | None:
        """The file whose pages are being read by OCR, and how far: (name, done, total)."""
        for name, fp in reversed(list(self.files.items())):
            if fp.status == "reading" and fp.pages < fp.pages_total:
                return name, fp.pages, fp.pages_total
        return None

    def _file(self, name: str, **changes: Any) -> Mapping[str, FileProgress]:
        """``files`` with ``name``'s entry changed (added at the end if new)."""
        return {**self.files, name: replace(self.files.get(name, FileProgress()), **changes)}

    def apply(self, event: IngestEvent) -> IngestState:
        """The state after ``event``."""
        if isinstance(event, FilesFound):
            found = {n: FileProgress() for n in event.names}
            return replace(self, files_total=event.total, files=found or self.files)
        if isinstance(event, FileStarted):
            files = self._file(event.name, status="reading")
            return replace(self, name=event.name, file_chunks=0, file_embedded=0, files=files)
        if isinstance(event, PagesRead):
            files = self._file(
                event.name, status="reading", pages=event.done, pages_total=event.total
            )
            return replace(self, files=files)
        if isinstance(event, Embedding):
            files = self._file(event.name, status="indexing", done=event.done, total=event.total)
            if event.name != self.name:  # chunks of a new file (or of a repair)
                return replace(
                    self,
                    name=event.name,
                    chunks_total=self.chunks_total + event.total,
                    chunks_embedded=self.chunks_embedded + event.done,
                    file_chunks=event.total,
                    file_embedded=event.done,
                    files=files,
                )
            return replace(
                self,
                chunks_total=self.chunks_total + event.total - self.file_chunks,
                chunks_embedded=self.chunks_embedded + event.done - self.file_embedded,
                file_chunks=event.total,
                file_embedded=event.done,
                files=files,
            )
        if isinstance(event, FileDone):
            return replace(
                self,
                files_done=self.files_done + 1,
                file_chunks=0,
                file_embedded=0,
                statuses={**self.statuses, event.name: event.status},
                files=self._file(event.name, status=event.status, chunks=event.chunks),
            )
        if isinstance(event, FileFailed):
            return replace(
                self,
                files_done=self.files_done + 1,
                file_chunks=0,
                file_embedded=0,
                statuses={**self.statuses, event.name: "failed"},
                failed={**self.failed, event.name: event.error},
                files=self._file(event.name, status="failed", failure=event),
            )
        assert_never(event)
