"""The front desk: the one door the web page, ``ragmix serve`` and ``ragmix chat`` go through.

The page and the API serve many people at once over one ``RagMix``; the CLI's chat serves one.
What they must agree on lives here, so the front ends cannot drift apart:

* **questions**: ``stream`` (the answer's events) and ``ask`` (folded with ``AnswerState``),
  over a ``scope`` of documents (``documents`` lists them); ``warm`` reads documents ahead;

* **uploads**: checked, given safe names and copied under ``<store>/uploads/`` only
  (``ragmix.app.uploads``), the temporary copies deleted, then ingested by the one pipeline;
  a new version that fails leaves the earlier file of its name and its document as they were;
* **deletions**: the name comes off its document, and the uploaded copy goes with it;
* **writes** take turns (the embedded store has one writer);
* **questions** longer than ``CHARS_PER_TOKEN_MAX`` characters per token of the model's question
  limit are refused before anything is counted;
* **the model's line**: answers that use the model take a ``turn`` at the gate, first come
  first served, one at a time for the in-process model, ``llm.max_concurrent`` at a time for
  a model server; search-only questions (``uses_model``) never wait in it;
* **the history rule** (``keeps_turn``, ``remember``; the page's conversations and the CLI's
  ``chat`` follow it too): only answered turns are kept.

Example:
    >>> desk = Desk(RagMix.from_config(None))                      # doctest: +SKIP
    >>> outcome = desk.upload([("/tmp/upl123", "报告.pdf")])         # doctest: +SKIP
    >>> [u.name for u in outcome.uploads], outcome.failed            # doctest: +SKIP
    (['报告.pdf'], {})
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragmix.app.api import RagMix, Removal
from ragmix.app.gate import Gate, Turn
from ragmix.app.uploads import Upload, recover, remove_upload, save_uploads, settle
from ragmix.core.errors import RagmixError
from ragmix.core.events import (
    Answer,
    AnswerEvent,
    AnswerState,
    FileFailed,
    FileProgress,
    IngestEvent,
    IngestState,
)
from ragmix.core.schema import Mode
from ragmix.qa.router import Window, parse_mode

if TYPE_CHECKING:
    from ragmix.ingest.pipeline import ProgressFn
    from ragmix.store.catalog import DocumentInfo

logger = logging.getLogger(__name__)

#: No ordinary text averages more characters per token (English BPE: about 4), so a question
#: this many times longer than the question limit in tokens is over every budget.
CHARS_PER_TOKEN_MAX = 8


def keeps_turn(state: AnswerState) -> bool:
    """Whether a finished turn joins the chat history: a search turn (passages, no answer), a
    failed one or an empty one is not conversation, and as history it would be folded into the
    next question's rewrite. The page and ``ragmix chat`` both follow this rule.

    Example:
        >>> from ragmix.core.events import Failed, RouteDecided, Token
        >>> tokens = {"scope": 1, "budget": 9, "prompt": 0, "completion": 0}
        >>> keeps_turn(AnswerState.fold([RouteDecided("stuff", "fits", tokens), Token("42")]))
        True
        >>> keeps_turn(AnswerState.fold([RouteDecided("search", "search only", tokens)]))
        False
        >>> keeps_turn(AnswerState().apply(Failed("no model")))
        False
    """
    return state.error is None and state.route != "search" and bool(state.text.strip())


@dataclass
class UploadOutcome:
    """What became of one batch of uploads.

    Attributes:
        uploads: one per file, in order; refused ones carry an ``error`` code.
        statuses: each ingested file's status by name ('ingested', 'unchanged', 'duplicate',
            'renamed'), as the pipeline reported it.
        failed: files that could not be saved, read or stored, by name, with the reason
            (their uploaded copies are deleted; an earlier file of the name is put back).
        files: each ingested file's ``FileProgress`` by name: its passages, and a failure's
            code and params (for a message in the page's language).
    """

    uploads: list[Upload]
    statuses: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, FileProgress] = field(default_factory=dict)


class Desk:
    """One store's shared front desk (one per process; thread-safe).

    Args:
        rm: the store and models.
    """

    def __init__(self, rm: RagMix) -> None:
        self.rm = rm
        #: The answering model's line (see ``ragmix.app.gate``).
        llm = rm.settings.llm
        self.gate = Gate(llm.max_concurrent if llm.backend == "openai" else 1)
        self._writer = threading.Lock()
        self.max_question_chars = CHARS_PER_TOKEN_MAX * max(
            Window.of(rm.settings).question_limit, 1
        )

    # -- questions ------------------------------------------------------------------------
    def uses_model(self, mode: Mode | str | None) -> bool:
        """Whether an answer in ``mode`` needs the answering model (search does not)."""
        return parse_mode(mode or self.rm.settings.router.mode) != "search"

    def turn(self, mode: Mode | str | None) -> Turn:
        """A place in the model's line for an answer in ``mode`` (none for a search); wait
        with ``Turn.ready``/``Turn.wait``, give it back with ``Turn.leave``."""
        return Turn(self.gate if self.uses_model(mode) else None)

    def documents(self) -> list[DocumentInfo]:
        """The ready documents, with pages, chunks and tokens."""
        return self.rm.documents()

    def scope(self, names: Sequence[str] | None) -> list[str]:
        """The doc ids a question over ``names`` reads: all ready documents when empty.

        Raises:
            UnknownDocumentError: a name the store does not know.
        """
        return self.rm.resolve_docs(names)

    def stream(self, question: str, **how: Any) -> Iterator[AnswerEvent]:
        """The answer's events (``RagMix.stream``; ``how``: its ``docs``, ``mode`` and
        ``history``); a front end that shares the model takes its ``turn`` first."""
        return self.rm.stream(question, **how)

    def ask(self, question: str, **how: Any) -> Answer:
        """The whole answer: ``stream``'s events (``how``: its ``docs``, ``mode``, ``history``)
        folded with ``AnswerState``."""
        return AnswerState.fold(self.stream(question, **how)).result()

    def warm(self, docs: Sequence[str] | None = None) -> Iterator[tuple[str, AnswerEvent]]:
        """Read documents ahead (``RagMix.warm``): ``(name, event)`` pairs."""
        return self.rm.warm(docs)

    @staticmethod
    def remember(history: list[tuple[str, str]], question: str, state: AnswerState) -> None:
        """Add a finished turn to ``history`` if the history rule keeps it (``keeps_turn``)."""
        if keeps_turn(state):
            history.append((question, state.text))

    def question_problem(self, question: str) -> tuple[int, int] | None:
        """``(length, limit)`` in characters when ``question`` is too long to ever fit."""
        if len(question) > self.max_question_chars:
            return len(question), self.max_question_chars
        return None

    def upload(
        self,
        files: Sequence[tuple[str | Path, str]],
        progress: ProgressFn | None = None,
        saved: Callable[[Sequence[Upload]], None] | None = None,
    ) -> UploadOutcome:
        """Check, store and ingest uploaded files; the temporary copies are deleted.

        Args:
            files: ``(temporary path, name the client sent)`` pairs.
            progress: called with the pipeline's ingest events.
            saved: called with the checked and stored uploads, before they are ingested.
        """
        settings = self.rm.settings
        with self._writer:
            for name in recover(self.rm.store.uploads):
                logger.warning("upload of a new %r was interrupted; the earlier file is back", name)
            uploads = save_uploads(
                files,
                self.rm.store.uploads,
                max_mb=settings.ui.upload_max_mb,
                extensions=settings.ingest.extensions,
            )
            for tmp, _ in files:  # a client's copy: nothing but the stored one stays
                Path(tmp).unlink(missing_ok=True)
            for u in uploads:
                if u.error:
                    logger.info("upload %r refused (%s)", u.original, u.error)
                elif u.failure:
                    logger.warning("upload %r not saved: %s", u.original, u.failure)
            unsaved = {u.name: u.failure for u in uploads if u.failure}
            stored = [u.stored for u in uploads if u.stored]
            if saved is not None:
                saved(uploads)
            if not stored:
                return UploadOutcome(uploads, failed=unsaved)
            state = IngestState()

            def track(event: IngestEvent) -> None:
                nonlocal state
                state = state.apply(event)
                if progress is not None:
                    progress(event)

            failed: dict[str, str] = {}
            try:
                summary = self.rm.ingest(*stored, progress=track)
                failed = {f.path: f.error for f in summary.failed}
            except RagmixError as exc:  # the store or the embedder: every file failed
                logger.warning("upload of %d files not ingested: %s", len(stored), exc)
                failed = {u.name: str(exc) for u in uploads if u.stored}
                for u in uploads:
                    if u.stored:
                        track(FileFailed.of(u.name, exc))
            except BaseException:  # anything else: no earlier file may stay aside
                settle(uploads, [u.name for u in uploads if u.stored])
                raise
            # A file that is no document keeps no copy; an earlier file of its name comes back.
            settle(uploads, failed)
            return UploadOutcome(uploads, state.statuses, {**unsaved, **failed}, state.files)

    def delete(self, name: str) -> Removal:
        """Take ``name`` off its document (``RagMix.delete``); the uploaded copy goes too.

        Raises:
            StoreError: no such document (``UnknownDocumentError``), or an ambiguous name.
        """
        with self._writer:
            done = self.rm.delete(name)
        for gone in done.document.names if done.document_removed else (done.name,):
            remove_upload(self.rm.store.uploads, gone)
        return done
