"""The model seam: the only ragmix module that imports ``llama_cpp``.

Everything else receives a LangChain ``BaseChatModel`` from :func:`make_chat_model` and a
:class:`~ragmix.core.tokens.TokenCounter` from :func:`make_token_counter` (resolved once per model
configuration, see :mod:`ragmix.core.tokens`). The OpenAI-compatible backend lives in
:mod:`ragmix.models.llm_openai`, which this module imports when that backend is chosen; it never
imports this one.

Design points, each measured (see ``benchmarks/bench_followup.py``):

* One ``llama_cpp.Llama`` per (GGUF, n_ctx, n_batch, threads, GPU layers, flash attention) per
  process, shared by every chain: llama.cpp reuses the KV cache of the longest common token
  prefix of consecutive prompts, so a follow-up question on the same document skips
  re-reading it. One generation at a time per model (a lock).
* Saved prompt states (:mod:`ragmix.models.states`): a RAM tier keeps the KV state of recently
  read prompts, so a question on document A after one on document B loads A's state instead of
  re-reading A; a disk tier, asked for with ``states.keep_on_disk``, keeps whole-document
  states across processes. The engine, not llama-cpp-python's ``set_cache``, restores them,
  then reads the rest of the prompt batch by batch and streams the progress (empty chunks
  whose ``response_metadata["ragmix_reading"]`` holds ``{"read", "total", ...}``).
* Prompts are rendered here (GGUF chat template, else Mixtral ``[INST]``) and sent to
  ``create_completion`` as one string, so :meth:`LlamaCppChat.count_prompt_tokens` is exact.

The module is the LangChain adapter and the backend factory; its parts are rooms of their own
and every name they had here is still importable from here: ``ragmix.models.gguf`` (finding a
GGUF, its tokenizer and context length), ``ragmix.models.templates`` (prompt rendering) and
``ragmix.models.engine`` (the shared model, its saved states and its stop flag).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from ragmix.core.errors import BudgetError
from ragmix.core.settings import LlmSettings
from ragmix.core.tokens import TokenCounter, resolve_once
from ragmix.models import states
from ragmix.models.engine import Engine, engine_for
from ragmix.models.gguf import gguf_context_length, gguf_token_counter, resolve_gguf
from ragmix.models.states import PromptStateCache
from ragmix.models.templates import Messages, make_renderer, render_mixtral, to_dicts

__all__ = [
    "LlamaCppChat",
    "Messages",
    "PromptStateCache",
    "TokenCounter",
    "gguf_context_length",
    "gguf_token_counter",
    "make_chat_model",
    "make_renderer",
    "make_token_counter",
    "render_mixtral",
    "resolve_gguf",
    "set_state_cache",
    "to_dicts",
]

logger = logging.getLogger(__name__)


def make_token_counter(settings: LlmSettings) -> TokenCounter:
    """The token counter that matches the model :func:`make_chat_model` builds, chosen once
    per configuration and then reused (a dictionary look-up per call).

    ``llama-cpp``: the GGUF's tokenizer. ``openai``: the GGUF at ``llm.tokenizer_path`` if
    set, else the server's tokenize endpoint if it has one, else
    :class:`~ragmix.core.tokens.EstimateTokenCounter` (``kind`` says which).

    Raises:
        ModelError: the GGUF named by the settings cannot be found or read.
    """
    gguf = settings.model_path if settings.backend != "openai" else settings.tokenizer_path
    if gguf:
        path = gguf
        return resolve_once(("gguf", path), lambda: (gguf_token_counter(path), None))
    from ragmix.models.llm_openai import server_token_counter

    key = ("server", settings.base_url, settings.model, settings.timeout_s, settings.api_key)
    return resolve_once(key, lambda: server_token_counter(settings))


def set_state_cache(
    target: LlamaCppChat | Engine, kind: Literal["prefix", "llama-ram", "off"], capacity_mb: int
) -> None:
    """Swap the saved-state cache of a loaded model and forget its live KV cache.

    For benchmarks: 'prefix' is :class:`PromptStateCache` (the default), 'llama-ram' is
    llama-cpp-python's ``LlamaRAMCache``, 'off' keeps only the live KV cache.
    """
    engine = target._engine() if isinstance(target, LlamaCppChat) else target
    llama = engine._llama if engine._llama is not None else engine.llama()
    with engine.lock:
        llama.reset()
        llama.set_cache(None)
        engine.states = None
        if kind == "prefix":
            engine.states = PromptStateCache(capacity_mb << 20)
        elif kind == "llama-ram":
            from llama_cpp import LlamaRAMCache

            llama.set_cache(LlamaRAMCache(capacity_bytes=capacity_mb << 20))


# --------------------------------------------------------------------------- LangChain model


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over a GGUF in this process (llama-cpp-python).

    Cheap to construct; the model loads on first generation. Every instance with the same
    load settings shares one ``Llama``, so prompts that start alike reuse the KV cache.

    Example:
        >>> chat = LlamaCppChat(settings=LlmSettings(max_tokens=32))
        >>> chat.invoke("What is 2+2?").usage_metadata["input_tokens"] > 0
        True
    """

    settings: LlmSettings = Field(default_factory=LlmSettings)
    #: Stop sequences for every call (a call's own ``stop`` replaces them).
    stop: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _standard_params(cls, data: Any) -> Any:
        """LangChain's usual constructor arguments next to (or instead of) ``settings``:
        ``model`` (a GGUF path or packaged name), ``temperature``, ``max_tokens``, ``seed``,
        ``n_ctx``, ``stop``. ``timeout`` and ``max_retries`` are accepted and ignored: a model
        in this process has no connection to time out or retry."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        fields = {"model": "model_path", "model_path": "model_path", "temperature": "temperature"}
        fields |= {"max_tokens": "max_tokens", "seed": "seed", "n_ctx": "n_ctx"}
        overrides = {fields[k]: data.pop(k) for k in list(data) if k in fields}
        data.pop("timeout", None)
        data.pop("max_retries", None)
        if overrides or not isinstance(data.get("settings"), LlmSettings):
            base = data.get("settings") or {}
            base = base.model_dump() if isinstance(base, LlmSettings) else dict(base)
            data["settings"] = LlmSettings.model_validate({**base, **overrides})
        return data

    @property
    def _llm_type(self) -> str:
        return "ragmix-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        s = self.settings
        return {"model_path": s.model_path, "n_ctx": s.n_ctx, "temperature": s.temperature}

    def _engine(self) -> Engine:
        return engine_for(self.settings)

    @property
    def n_ctx(self) -> int:
        """Context window in tokens (prompt plus answer)."""
        return self.settings.n_ctx

    @property
    def chat_format(self) -> str:
        """'gguf-template', 'mixtral' or the llama-cpp-python format name in use."""
        return self._engine().renderer()[0]

    def llama(self) -> Any:
        """The shared ``llama_cpp.Llama`` (loads it)."""
        return self._engine().llama()

    def render(self, messages: Sequence[BaseMessage]) -> str:
        """The exact prompt string sent to the model for ``messages``."""
        return self._engine().renderer()[1](to_dicts(messages))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model (without BOS)."""
        tok = self._engine().tokenizer()
        return len(tok.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Exactly the number of prompt tokens the model will see, BOS included."""
        return self._count_prompt(self.render(messages))

    def _count_prompt(self, prompt: str) -> int:
        return len(self._prompt_tokens(prompt))

    def _prompt_tokens(self, prompt: str) -> list[int]:
        tok = self._engine().tokenizer()
        return list(tok.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, None, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from llama_cpp.llama import StoppingCriteriaList

        engine = self._engine()
        prompt = self.render(messages)
        # The tokens the model reads are the ones counted (vocab-only until the model loads).
        tokens = np.asarray(self._prompt_tokens(prompt), dtype=np.intc)
        n_prompt = len(tokens)
        if n_prompt >= self.n_ctx:
            raise BudgetError(
                f"the prompt has {n_prompt} tokens but the model's context window "
                f"(llm.n_ctx) is {self.n_ctx}; shorten the input or raise llm.n_ctx",
                code="prompt_over_context",
                params={"n": n_prompt, "n_ctx": self.n_ctx},
            )
        llama = engine.llama()
        sampled = [0]

        def _count(_ids: Any, _logits: Any) -> bool:
            sampled[0] += 1
            return False

        start, ttft, finish = time.perf_counter(), None, None
        keep = states.kept()
        with engine.lock, engine.stoppable() as flag:
            try:
                for progress in engine.read(tokens, flag):
                    # A list: LangChain merges streamed metadata, and lists merge by appending.
                    reading = {"ragmix_reading": [progress]}
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(content="", response_metadata=reading)
                    )
                if flag is not None and flag.is_set():
                    raise RuntimeError("stopped while reading the prompt")
                parts = llama.create_completion(
                    tokens.tolist(),
                    max_tokens=kwargs.get("max_tokens", self.settings.max_tokens),
                    temperature=kwargs.get("temperature", self.settings.temperature),
                    seed=kwargs.get("seed", self.settings.seed),
                    repeat_penalty=kwargs.get("repeat_penalty", self.settings.repeat_penalty),
                    stop=stop if stop is not None else (self.stop or []),
                    stream=True,
                    stopping_criteria=StoppingCriteriaList([_count]),
                )
                for part in parts:
                    choice = part["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    if ttft is None:
                        ttft = time.perf_counter() - start
                    if choice["text"]:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=choice["text"]))
                        if run_manager:
                            run_manager.on_llm_new_token(choice["text"], chunk=chunk)
                        yield chunk
            except RuntimeError as exc:  # llama_decode returned 2: stopped from outside
                if flag is None or not flag.is_set():
                    raise
                logger.info("the prompt was abandoned while the model read it (%s)", exc)
                finish = "abandoned"
            except GeneratorExit:  # the consumer stopped at a progress chunk or a token
                if ttft is None:
                    logger.info("the prompt was abandoned while the model read it (consumer gone)")
                raise
            if finish != "abandoned":
                engine.remember(keep)
        total = time.perf_counter() - start
        # llama calls the criteria once per sampled token plus once after the loop; an
        # end-of-generation token is sampled but is not part of the answer.
        n_out = max(0, sampled[0] - 1 - (1 if finish == "stop" and not (stop or self.stop) else 0))
        usage = UsageMetadata(
            input_tokens=n_prompt, output_tokens=n_out, total_tokens=n_prompt + n_out
        )
        meta = {
            "model_name": self.settings.model_path,
            "finish_reason": finish,
            "ttft_s": round(ttft if ttft is not None else total, 4),
            "total_s": round(total, 4),
        }
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta),
            generation_info={"finish_reason": finish},
        )


def make_chat_model(settings: LlmSettings) -> BaseChatModel:
    """The chat model the settings ask for; nothing is loaded or contacted yet.

    Returns:
        :class:`LlamaCppChat` for ``backend='llama-cpp'``, else a ``ChatOpenAI`` whose
        connection failures raise :class:`~ragmix.core.errors.ModelError`.
    """
    if settings.backend == "openai":
        from ragmix.models.llm_openai import make_openai_chat

        return make_openai_chat(settings)
    return LlamaCppChat(settings=settings)
