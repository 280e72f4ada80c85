"""ragmix: local, private question answering over long documents, Chinese first.

Public API (everything else is internal):

    RagMix            the facade: ingest, documents, ask, stream, chain, retriever
    Settings          the typed settings tree; load_settings() builds it in layers
    IngestSummary     what an ingest run did
    DocumentInfo      one stored document
    Answer            one answer: text, route, reason, tokens, sources, timings
    AnswerEvent       what RagMix.stream yields (the classes are in ragmix.core.events)
    AnswerState       the answer so far: AnswerState.apply(event) folds the events
    IngestEvent       what RagMix.ingest(progress=...) is called with
    IngestState       ingest progress so far: IngestState.apply(event) folds the events
    RagmixError       root of every error ragmix raises (see ragmix.core.errors)
"""

from __future__ import annotations

import logging as _logging
import os as _os
import typing as _t

from ragmix.core.errors import (
    BudgetError,
    ConfigError,
    LoadError,
    ModelError,
    RagmixError,
    StoreError,
    StoreLockedError,
)
from ragmix.core.events import Answer, AnswerEvent, AnswerState, IngestEvent, IngestState

# ingest/ and ui/ live next to ragmix/ in the project and install as ragmix.ingest and
# ragmix.ui (setuptools package-dir; configs/ as ragmix.configs). Imported straight from a
# source checkout (PYTHONPATH, `python -m ragmix.cli.main`), the package also searches the
# checkout, so those three resolve to the same folders there.
_here = _os.path.dirname(_os.path.abspath(__file__))
_checkout = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "ingest")) and _os.path.isfile(
    _os.path.join(_checkout, "ingest", "__init__.py")
):
    __path__.append(_checkout)

if _t.TYPE_CHECKING:
    from ragmix.app.api import RagMix
    from ragmix.core.settings import Settings, load_settings
    from ragmix.ingest.pipeline import IngestSummary
    from ragmix.store.catalog import DocumentInfo

__version__ = "0.1.0"

# A library leaves logging to the application (ragmix.core.logs.configure is the command's).
_logging.getLogger("ragmix").addHandler(_logging.NullHandler())

__all__ = [
    "Answer",
    "AnswerEvent",
    "AnswerState",
    "BudgetError",
    "ConfigError",
    "DocumentInfo",
    "IngestEvent",
    "IngestState",
    "IngestSummary",
    "LoadError",
    "ModelError",
    "RagMix",
    "RagmixError",
    "Settings",
    "StoreError",
    "StoreLockedError",
    "load_settings",
]

_LAZY = {  # the settings need pydantic-settings (~0.4 s): not for the loader process
    "RagMix": "ragmix.app.api",
    "Settings": "ragmix.core.settings",
    "load_settings": "ragmix.core.settings",
    "DocumentInfo": "ragmix.store.catalog",
    "IngestSummary": "ragmix.ingest.pipeline",
}


def __getattr__(name: str) -> _t.Any:
    # Lazy so that `import ragmix` (and `ragmix --help`) never pays for heavy imports.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ragmix' has no attribute {name!r}")
