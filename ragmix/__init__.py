"""ragmix: local, private question answering over long documents, Chinese first.

Public API (everything else is internal):

    RagMix            the facade: ingest, documents, ask, stream, chain, retriever
    Settings          the typed settings tree; load_settings() builds it in layers
    IngestSummary     what an ingest run did
    DocumentInfo      one stored document
    RagmixError       root of every error ragmix raises (see ragmix.errors)
"""

from __future__ import annotations

import typing as _t

from ragmix.errors import (
    BudgetError,
    ConfigError,
    LoadError,
    ModelError,
    RagmixError,
    StoreError,
    StoreLockedError,
)
from ragmix.settings import Settings, load_settings

if _t.TYPE_CHECKING:
    from ragmix.api import RagMix
    from ragmix.catalog import DocumentInfo
    from ragmix.ingest.pipeline import IngestSummary

__version__ = "0.1.0"

__all__ = [
    "BudgetError",
    "ConfigError",
    "DocumentInfo",
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

_LAZY = {
    "RagMix": "ragmix.api",
    "DocumentInfo": "ragmix.catalog",
    "IngestSummary": "ragmix.ingest.pipeline",
}


def __getattr__(name: str) -> _t.Any:
    # Lazy so that `import ragmix` (and `ragmix --help`) never pays for heavy imports.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ragmix' has no attribute {name!r}")
