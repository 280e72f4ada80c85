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
"""

from __future__ import annotations


class RagmixError(Exception):
    """Root of every error ragmix raises on purpose."""


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
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelError(RagmixError):
    """A model cannot be loaded or does not answer."""


class BudgetError(RagmixError):
    """A prompt cannot be made to fit the model's context window."""
