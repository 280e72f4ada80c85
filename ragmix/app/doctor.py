"""`ragmix doctor`: check a configuration end to end and say what to fix.

Each check is run in order and independently (a dead model server does not hide a damaged
catalog): settings, store (embedded folder or Chroma server, catalog consistency, vectors
against chunks), embedder (loads, its dimension matches the stored vectors), model file (for a
model assembled from several packages: assembled, SHA-256 checked), model (loads or answers,
context size against ``llm.n_ctx``), token counting (exact or an estimate), the OCR engine
(installed, or off).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import EmbedderMismatchError, RagmixError

if TYPE_CHECKING:
    from ragmix.models.assembled import SplitModel


@dataclass
class Check:
    """One line of the report. ``status``: 'ok', 'warn' (works, but see ``fix``) or 'fail'."""

    name: str
    status: str
    detail: str
    fix: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run(name: str, fn: Callable[[], tuple[str, str, str]]) -> Check:
    t0 = time.perf_counter()
    try:
        status, detail, fix = fn()
    except RagmixError as exc:
        status, detail, fix = "fail", str(exc), ""
    except Exception as exc:  # a doctor reports, it does not crash
        status, detail, fix = "fail", f"{type(exc).__name__}: {exc}", ""
    return Check(name, status, detail, fix, round(time.perf_counter() - t0, 2))


def diagnose(rm: Any, *, model: bool = True) -> list[Check]:
    """Run every check against ``rm`` (a ``RagMix``); ``model=False`` skips loading the model."""
    checks = [_run("store", lambda: _store(rm))]
    checks.append(_run("catalog", lambda: _catalog(rm)))
    checks.append(_run("embedder", lambda: _embedder(rm)))
    if model:
        if _split_model(rm) is not None:  # assembled from packages: say where, verified
            checks.append(_run("model file", lambda: _model_file(rm)))
        checks.append(_run("model", lambda: _model(rm)))
    checks.append(_run("token counting", lambda: _tokens(rm)))
    checks.append(_run("read states", lambda: _states(rm)))
    checks.append(_run("ocr", lambda: _ocr(rm)))
    return checks


def _ocr(rm: Any) -> tuple[str, str, str]:
    """The OCR engine for scans and images: installed (offline models), off, or missing."""
    from ragmix.ingest.ocr import engine_status

    if rm.settings.ingest.ocr == "off":
        return "ok", "off (ingest.ocr: off): images and PDF pages without text are skipped", ""
    ok, status = engine_status()
    if ok:
        return "ok", f"{status}; images and PDF pages without a text layer are read", ""
    return (
        "warn",
        f"OCR engine {status.split(':')[0]}: images and scanned PDF pages cannot be read",
        "install it: `pip install rapidocr onnxruntime pypdfium2` (ragmix's own dependencies), "
        "or set ingest.ocr: off",
    )


def _states(rm: Any) -> tuple[str, str, str]:
    """Whole-document read states kept on disk, against their budget."""
    from ragmix.models import states

    budget = rm.settings.llm.state_disk_mb
    if rm.settings.llm.backend != "llama-cpp":
        return "ok", "kept by the model server (see the backend table in docs/asking.md)", ""
    if budget <= 0:
        return "ok", "off (llm.state_disk_mb: 0): every new process reads documents again", ""
    n, used = states.usage(rm.store.states)
    detail = f"{n} kept, {used / 2**20:,.0f} of {budget:,} MB in {rm.store.states}"
    if used > budget << 20:
        return "warn", detail, "they shrink to the budget at the next save"
    return "ok", detail, ""


def _store(rm: Any) -> tuple[str, str, str]:
    # Opens the client: raises StoreError with the fix when it cannot.
    return "ok", rm.store.describe(), ""


def _catalog(rm: Any) -> tuple[str, str, str]:
    rm.refresh(force=True)
    cat = rm.catalog
    problems = cat.check()
    pending = cat.doc_ids("pending") + cat.doc_ids("deleting")
    docs = cat.documents()
    dense = set(cat.chunk_ids(dense_only=True))
    problems += rm.store.vector_problems(dense)
    if problems:
        return (
            "fail",
            f"{rm.store.catalog_path}: " + "; ".join(problems),
            "run `ragmix ingest --repair` (rebuilds the lexical index and the vectors from "
            "the catalog's texts without losing a document)",
        )
    detail = f"{len(docs)} documents, {len(dense)} embedded chunks, BM25 index consistent"
    if pending:
        return (
            "warn",
            f"{detail}; {len(pending)} documents half-written by an interrupted ingest",
            "run `ragmix ingest` (any path) or `ragmix ingest --repair` to finish them",
        )
    return "ok", detail, ""


def _embedder(rm: Any) -> tuple[str, str, str]:
    emb = rm.embeddings
    spec = emb.spec
    t0 = time.perf_counter()
    fp = emb.fingerprint  # loads the model and embeds a probe
    secs = time.perf_counter() - t0
    langs = ", ".join(spec.languages)
    detail = (
        f"{spec.model}: {fp['dim']} dimensions, languages: [{langs}]"
        + (f", {fp['version']}" if fp["version"] else "")
        + f"; loaded in {secs:.1f} s"
    )
    try:
        rm.vectors.check_embedder()
    except EmbedderMismatchError as exc:
        return "fail", str(exc).split("; vectors of two")[0], "run `ragmix ingest --reembed`"
    staging = rm.vectors.pending_staging()
    if staging is not None:
        return (
            "warn",
            f"{detail}; a re-embedding into {staging[0]!r} was interrupted",
            "run `ragmix ingest --reembed` to finish it",
        )
    if spec.fallback:
        return "warn", detail, spec.fallback
    if not spec.understands("zh"):
        return (
            "warn",
            detail,
            "English-only embedder: Chinese questions use BM25 alone; for Chinese set "
            "embeddings.model to packaged:multilingual-e5-small or a Chinese model (e.g. "
            "BAAI/bge-m3; configs/chinese-mixtral.yaml)",
        )
    return "ok", detail, ""


def _split_model(rm: Any) -> SplitModel | None:
    """The split model ``llm.model_path`` names (llama-cpp backend), else None."""
    from ragmix.models.assembled import split_model

    s = rm.settings.llm
    return split_model(s.model_path) if s.backend == "llama-cpp" else None


def _model_file(rm: Any) -> tuple[str, str, str]:
    """A model assembled from several packages: its file is there and has the pinned hash."""
    from ragmix.models.assembled import ensure

    split = _split_model(rm)
    assert split is not None  # only checked for such a model
    return "ok", ensure(split).describe(), ""


def _model(rm: Any) -> tuple[str, str, str]:
    from langchain_core.messages import HumanMessage

    s = rm.settings.llm
    warn = ""
    if s.backend == "openai":
        from ragmix.models.llm_openai import server_context_size, server_models

        served = server_models(s)
        if s.model not in served and served:
            warn = f"llm.model {s.model!r} is not among the served models {served}"
        n_ctx = server_context_size(s)
        where = f"{s.base_url} (model {s.model!r})"
    else:
        from ragmix.models.llm import gguf_context_length, resolve_gguf

        n_ctx = gguf_context_length(s.model_path)
        where = str(resolve_gguf(s.model_path))
    if n_ctx is not None and s.n_ctx > n_ctx:
        return (
            "fail",
            f"{where}: llm.n_ctx is {s.n_ctx:,} but the model "
            f"{'server runs with' if s.backend == 'openai' else 'was trained for'} {n_ctx:,}",
            f"set llm.n_ctx to at most {n_ctx}"
            + (
                " or start the server with a larger context (-c / --max-model-len)"
                if s.backend == "openai"
                else ""
            ),
        )
    t0 = time.perf_counter()
    reply = rm.chat_model().invoke([HumanMessage("Reply with one word: hello")], max_tokens=8)
    secs = time.perf_counter() - t0
    text = str(reply.content).strip()
    if not text:
        return "fail", f"{where} answered with nothing", "check the model file or server logs"
    ctx = f"context {s.n_ctx:,}" + (f" of {n_ctx:,}" if n_ctx else " (the server does not say)")
    detail = f"{where}: answered {text[:40]!r} in {secs:.1f} s; {ctx}"
    if warn:
        return "warn", detail, warn
    return "ok", detail, ""


def _tokens(rm: Any) -> tuple[str, str, str]:
    counter = rm._counter()
    n = counter.count("苏州园林 gardens")
    if not counter.exact:
        return (
            "warn",
            f"{counter.kind}: {getattr(counter, 'reason', 'no tokenizer')}; budgets use an "
            f"upper-bound estimate ({n} tokens for a probe)",
            "set llm.tokenizer_path to the model's GGUF, or use a server with a tokenize "
            "endpoint (llama.cpp, vLLM, llama-cpp-python)",
        )
    return "ok", f"{counter.kind}, exact: {counter.name} ({n} tokens for a probe)", ""
