"""The exceptions ragmix raises, all under one root.

Every message says what failed and how to fix it; the CLI prints it as one red line and exits
non-zero, never with a traceback.

    RagmixError
    ├── ConfigError           bad settings file or value
    ├── StoreError            the document store cannot be opened, read or written
    │   ├── StoreLockedError  another process is writing to the embedded store
    │   └── EmbedderMismatchError  the store's vectors came from another embedder
    ├── LoadError             one input file cannot be read (reported per file, batch goes on)
    ├── ModelError            a model (embedder or LLM) cannot be loaded or does not answer
    └── BudgetError           a prompt cannot be made to fit the model's context window

An error a person can meet in the web page also carries a stable ``code`` and the ``params``
its message was made from, so the page can say the same in its own language
(``ragmix.ui.i18n``: ``err_<code>``); ``str(exc)`` stays the English message the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RagmixError(Exception):
    """Root of every error ragmix raises on purpose.

    Args:
        message: what failed and how to fix it, in English (``str(exc)``).
        code: a stable name of the failure (e.g. ``question_too_long``), or None.
        params: the values the message was made from, for a translation of ``code``.

    Example:
        >>> exc = RagmixError("the question is empty", code="empty_question")
        >>> str(exc), exc.code, exc.params
        ('the question is empty', 'empty_question', {})
    """

    def __init__(
        self, message: str = "", *, code: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, Any] = dict(params or {})


class ConfigError(RagmixError):
    """A settings file or value is invalid."""


class StoreError(RagmixError):
    """The document store cannot be opened, read or written."""


class UnknownDocumentError(StoreError):
    """No stored document has the name (or id) asked for."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store's writer lock."""


class EmbedderMismatchError(StoreError):
    """The store's vectors were made by another embedder than the configured one."""


class LoadError(RagmixError):
    """One input file cannot be turned into text.

    Attributes:
        path: the file, as the user named it (relative to the ingest root where possible).
        reason: what is wrong and what to do about it.
        code, params: as for ``RagmixError``, of the reason (the path is not a param).
    """

    def __init__(
        self,
        path: str,
        reason: str,
        code: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{path}: {reason}", code=code, params=params)
        self.path = path
        self.reason = reason


class ModelError(RagmixError):
    """A model cannot be loaded or does not answer."""


class BudgetError(RagmixError):
    """A prompt cannot be made to fit the model's context window."""
