"""The OpenAI-compatible backend (llama.cpp server, vLLM): chat model and token counting.

Part of the model seam (:mod:`ragmix.llm`); the only ragmix module that imports
``langchain_openai``/``openai``.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from ragmix.errors import ModelError
from ragmix.llm import TokenCounter, gguf_token_counter
from ragmix.settings import LlmSettings


def _model_error(exc: Exception, base_url: str, timeout: float) -> ModelError:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ModelError(
            f"the model server at {base_url} did not answer within {timeout:g} s; "
            "check it is running and not overloaded, or raise llm.timeout_s"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(
            f"cannot reach the model server at {base_url} ({exc.__cause__ or exc}); start it "
            "(e.g. `llama-server -m MODEL.gguf --port 8080`) or fix llm.base_url"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelError(
            f"the model server at {base_url} refused the request: HTTP {exc.status_code} "
            f"{exc.message}; check llm.model and llm.api_key"
        )
    return ModelError(f"the model server at {base_url} failed: {exc}")


class _ServerChat(ChatOpenAI):
    """``ChatOpenAI`` whose server failures are :class:`ModelError` with the fix."""

    def _fail(self, exc: Exception) -> ModelError:
        timeout = self.request_timeout if isinstance(self.request_timeout, float | int) else 0
        return _model_error(exc, str(self.openai_api_base), float(timeout or 0))

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        import openai

        try:
            return super()._generate(*args, **kwargs)
        except openai.APIError as exc:
            raise self._fail(exc) from None

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        import openai

        try:
            yield from super()._stream(*args, **kwargs)
        except openai.APIError as exc:
            raise self._fail(exc) from None

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        import openai

        try:
            return await super()._agenerate(*args, **kwargs)
        except openai.APIError as exc:
            raise self._fail(exc) from None

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        import openai

        try:
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk
        except openai.APIError as exc:
            raise self._fail(exc) from None


def make_openai_chat(settings: LlmSettings) -> BaseChatModel:
    """A chat model for an OpenAI-compatible server; nothing is contacted until first use."""
    return _ServerChat(
        base_url=settings.base_url,
        api_key=SecretStr(settings.api_key),
        model=settings.model,
        timeout=settings.timeout_s,
        max_retries=1,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        # langchain-openai sends only max_completion_tokens, which llama.cpp servers before
        # 2026-02 and llama-cpp-python's server ignore (answers would be unlimited).
        extra_body={"max_tokens": settings.max_tokens},
        seed=settings.seed,
        stream_usage=True,
    )


def _server_root(base_url: str) -> str:
    return re.sub(r"/v1/?$", "", base_url.rstrip("/"))


class ServerTokenCounter:
    """Exact counts from a llama.cpp server's ``POST /tokenize``."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.url = _server_root(base_url) + "/tokenize"
        self.name = f"server:{self.url}"
        self.timeout_s = timeout_s

    def count(self, text: str) -> int:
        body = json.dumps({"content": text}).encode("utf-8")
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return len(json.load(response)["tokens"])
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"cannot count tokens at {self.url}: {exc}; start the server or set "
                "llm.tokenizer_path to the model's GGUF"
            ) from None


class EstimateTokenCounter:
    """Upper-bound guess when no tokenizer is available: 2 per CJK character, 1 per 3 others.

    Measured tokenizers give Chinese 1.3-1.85 and English ~0.25-0.3 tokens per character, so
    prompts sized with this fit, at the price of wasting some context.
    """

    name = "estimate (no tokenizer: set llm.tokenizer_path)"
    _CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

    def count(self, text: str) -> int:
        cjk = len(self._CJK.findall(text))
        return 2 * cjk + math.ceil((len(text) - cjk) / 3)


_COUNTERS: dict[tuple[str, str | None], TokenCounter] = {}


def openai_token_counter(settings: LlmSettings) -> TokenCounter:
    """``tokenizer_path`` GGUF if set, else the server's ``/tokenize`` if it answers now,
    else :class:`EstimateTokenCounter`. ``name`` says which was chosen."""
    key = (settings.base_url, settings.tokenizer_path)
    if key in _COUNTERS:
        return _COUNTERS[key]
    if settings.tokenizer_path:
        counter: TokenCounter = gguf_token_counter(settings.tokenizer_path)
    else:
        server = ServerTokenCounter(settings.base_url, min(settings.timeout_s, 5.0))
        try:
            server.count("probe")
            counter = server
        except ModelError:
            # Not cached: the server may come up later.
            return EstimateTokenCounter()
    _COUNTERS[key] = counter
    return counter
