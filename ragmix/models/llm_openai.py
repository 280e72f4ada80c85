"""The OpenAI-compatible backend (llama.cpp server, vLLM): chat model and token counting.

Part of the model seam (:mod:`ragmix.models.llm`, which imports this module for ``backend: openai``;
this module never imports it); the only ragmix module that imports
``langchain_openai``/``openai``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import PrivateAttr, SecretStr

from ragmix.core import tokens
from ragmix.core.errors import ModelError
from ragmix.core.paths import user_path
from ragmix.core.settings import LlmSettings
from ragmix.core.tokens import CounterKind, EstimateTokenCounter, TokenCounter
from ragmix.models import states

logger = logging.getLogger(__name__)


def _model_error(exc: Exception, base_url: str, timeout: float) -> ModelError:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ModelError(
            f"the model server at {base_url} did not answer within {timeout:g} s; "
            "check it is running and not overloaded, or raise llm.timeout_s",
            code="model_server_timeout",
            params={"url": base_url, "seconds": timeout},
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(
            f"cannot reach the model server at {base_url} ({exc.__cause__ or exc}); start it "
            "(e.g. `llama-server -m MODEL.gguf --port 8080`) or fix llm.base_url",
            code="model_server_unreachable",
            params={"url": base_url},
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelError(
            f"the model server at {base_url} refused the request: HTTP {exc.status_code} "
            f"{exc.message}; check llm.model and llm.api_key",
            code="model_server_refused",
            params={"url": base_url, "status": exc.status_code},
        )
    return ModelError(
        f"the model server at {base_url} failed: {exc}",
        code="model_server_failed",
        params={"url": base_url, "error": str(exc)},
    )


class SlotStates:
    """Whole-document read states kept by llama.cpp's server (``--slot-save-path``).

    Before a whole-document answer (``states.keep_on_disk``) the answer leases one of the
    server's slots ``llm.server_slot`` .. ``server_slot + llm.max_concurrent - 1`` (one that
    holds this document already if it is free; answers running at once never share one), the
    slot is restored from ``ragmix-<key>.bin`` (key: the model name and the system message,
    which holds the instructions and the document), the request is pinned to that slot so the
    server reuses the restored prefix (``cache_prompt``), and after a fresh read the slot is
    saved under that name. A server without slot saving (started without the
    flag, vLLM, llama-cpp-python's server) is noticed at the first try and left alone. The
    server refuses a file of another model (the document is read again) but aborts on a
    truncated one: with ``llm.server_slot_dir`` ragmix checks each file first.
    """

    def __init__(self, settings: LlmSettings) -> None:
        self.root = _server_root(settings.base_url)
        first = settings.server_slot
        self.slots = list(range(first, first + settings.max_concurrent))
        self.model = settings.model
        self.api_key = settings.api_key
        self.timeout = settings.timeout_s
        self.supported: bool | None = None  # unknown until the first try
        self._held: dict[int, str] = {}  # slot -> the file whose prefix it holds already
        self._free = list(self.slots)  # least recently used first
        self._cond = threading.Condition()
        self.dir = user_path(settings.server_slot_dir) if settings.server_slot_dir else None

    @contextmanager
    def lease(self, name: str) -> Iterator[int]:
        """A slot for one answer on ``name``, its own until the block ends: a free one that
        holds ``name`` already, else the free one used least recently. (The model's gate lets
        at most ``max_concurrent`` answers run, so a slot is nearly always free.)"""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._free))
            slot = next((n for n in self._free if self._held.get(n) == name), self._free[0])
            self._free.remove(slot)
        try:
            yield slot
        finally:
            with self._cond:
                self._free.append(slot)
                self._cond.notify()

    def _check(self, name: str) -> bool:
        """With the server's folder at hand: whether ``name`` is whole (its SHA-256 matches
        the one kept at save time). A file that is not is deleted: llama.cpp's server aborts
        on a truncated slot file instead of refusing it."""
        if self.dir is None:
            return True
        path, mark = self.dir / name, self.dir / f"{name}.sha256"
        if not path.exists():
            return False
        try:
            good = mark.read_text().strip() == _file_sha256(path)
        except OSError:
            good = False
        if not good:
            logger.warning(
                "slot file %s is damaged or unchecked: deleted, the document is read again", path
            )
            path.unlink(missing_ok=True)
            mark.unlink(missing_ok=True)
        return good

    def _mark(self, name: str) -> None:
        if self.dir is None:
            return
        path = self.dir / name
        try:
            tmp = self.dir / f"{name}.sha256.tmp"
            tmp.write_text(_file_sha256(path))
            tmp.replace(self.dir / f"{name}.sha256")
        except OSError as exc:
            logger.warning("cannot keep the checksum of %s: %s", path, exc)

    def name(self, messages: list[Any]) -> str:
        system = next((str(m.content) for m in messages if m.type == "system"), "")
        key = hashlib.sha256(f"{self.model}\0{system}".encode()).hexdigest()[:32]
        return f"ragmix-{key}.bin"

    def _action(self, action: str, name: str, slot: int) -> dict[str, Any] | None:
        url = f"{self.root}/slots/{slot}?action={action}"
        try:
            out = _post_json(url, {"filename": name}, self.timeout, self.api_key)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405, 501):  # no slot saving on this server
                if self.supported is None:
                    logger.info(
                        "the model server at %s does not save slots (HTTP %d); start llama.cpp's "
                        "server with --slot-save-path DIR to keep read documents", self.root,
                        exc.code,
                    )  # fmt: skip
                self.supported = False
            else:  # 400: no such file yet, or one the server cannot load
                self.supported = True
                logger.info(
                    "slot %s of %s: %s", action, name, exc.read()[:200].decode(errors="replace")
                )
            return None
        except (OSError, ValueError) as exc:
            logger.warning("slot %s at %s failed: %s", action, self.root, exc)
            return None
        self.supported = True
        return out if isinstance(out, dict) else {}

    def restore(self, name: str, slot: int) -> int:
        """Tokens ``slot`` holds of ``name`` (restored now, or still there); 0 if none."""
        if self.supported is False:
            return 0
        if self._held.get(slot) == name:
            return -1  # still in the slot: the server reuses it without a restore
        self._held.pop(slot, None)
        if not self._check(name):
            return 0
        out = self._action("restore", name, slot)
        n = int((out or {}).get("n_restored") or 0)
        if n:
            self._held[slot] = name
            logger.info("restored a read state of %d tokens into slot %d (%s)", n, slot, name)
        return n

    def save(self, name: str, slot: int) -> None:
        if self.supported is False:
            return
        out = self._action("save", name, slot)
        if out is not None:
            self._held[slot] = name
            self._mark(name)
            logger.info(
                "the model server kept the read state of %s tokens as %s",
                out.get("n_saved"), name,
            )  # fmt: skip


class _ServerChat(ChatOpenAI):
    """``ChatOpenAI`` whose server failures are :class:`ModelError` with the fix, which keeps
    whole-document read states in the server's slots where it can (:class:`SlotStates`), and
    which streams a llama.cpp server's reading progress (``return_progress``) as the
    in-process model does: empty chunks whose ``response_metadata["ragmix_reading"]`` holds
    ``{"read", "total", "restored", "from", "seconds_left"}``."""

    _slots: SlotStates | None = PrivateAttr(default=None)
    _progress: bool | None = PrivateAttr(default=None)  # llama.cpp's server: reading progress
    _restored: Any = PrivateAttr(default_factory=threading.local)  # this answer's restore

    def _reports_progress(self) -> bool:
        """Whether the server is llama.cpp's, the only one that knows ``return_progress``:
        known once one of its answers streamed llama.cpp's ``timings`` (no request is spent
        on asking; the first answer of a process streams no reading progress)."""
        return bool(self._progress)

    def _convert_chunk_to_generation_chunk(
        self, chunk: dict[str, Any], *args: Any, **kwargs: Any
    ) -> ChatGenerationChunk | None:
        out = super()._convert_chunk_to_generation_chunk(chunk, *args, **kwargs)
        if self._progress is None and ("timings" in chunk or "prompt_progress" in chunk):
            self._progress = True  # llama.cpp's server
        progress = chunk.get("prompt_progress")
        if out is None or not isinstance(progress, dict):
            return out
        reading = _reading(progress, getattr(self._restored, "n", 0))
        if reading is not None:
            out.message.response_metadata["ragmix_reading"] = [reading]
        return out

    def _fail(self, exc: Exception) -> ModelError:
        timeout = self.request_timeout if isinstance(self.request_timeout, float | int) else 0
        return _model_error(exc, str(self.openai_api_base), float(timeout or 0))

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        import openai

        try:
            return super()._generate(*args, **kwargs)
        except openai.APIError as exc:
            raise self._fail(exc) from exc

    def _stream(
        self, messages: list[Any], *args: Any, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        import openai

        slots = self._slots if states.kept() is not None else None
        if slots is not None and slots.supported is False:
            slots = None  # noticed at the first try: this server keeps no slots
        name = slots.name(messages) if slots is not None else ""
        extra = dict(kwargs.get("extra_body") or self.extra_body or {})
        if self._reports_progress():
            extra["return_progress"] = True
        with slots.lease(name) if slots is not None else nullcontext(-1) as slot:
            held = slots.restore(name, slot) if slots is not None else 0
            self._restored.n = max(held, 0)
            if slots is not None and slots.supported:
                extra.update(id_slot=slot, cache_prompt=True)
            kwargs["extra_body"] = extra
            try:
                yield from super()._stream(messages, *args, **kwargs)
            except openai.APIError as exc:
                raise self._fail(exc) from exc
            finally:
                self._restored.n = 0
            if slots is not None and slots.supported is not False and held == 0:
                slots.save(name, slot)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        import openai

        try:
            return await super()._agenerate(*args, **kwargs)
        except openai.APIError as exc:
            raise self._fail(exc) from exc

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        import openai

        try:
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk
        except openai.APIError as exc:
            raise self._fail(exc) from exc


def make_openai_chat(settings: LlmSettings) -> BaseChatModel:
    """A chat model for an OpenAI-compatible server; nothing is contacted until first use."""
    chat = _ServerChat(
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
    chat._slots = SlotStates(settings)
    return chat


def _reading(progress: dict[str, Any], restored: int) -> dict[str, Any] | None:
    """A llama.cpp server's ``prompt_progress`` (``total``, ``cache``: tokens it kept from an
    earlier prompt, ``processed``: tokens in the slot so far, ``time_ms``) as a reading event;
    None for a short read (under ``READ_REPORT_MIN`` new tokens, as the in-process model
    stays quiet about them) unless a state was restored from disk for it."""
    try:
        total, cache = int(progress["total"]), int(progress.get("cache") or 0)
        done, ms = int(progress.get("processed") or cache), float(progress.get("time_ms") or 0)
    except (KeyError, TypeError, ValueError):
        return None
    if total - cache < READ_REPORT_MIN and not restored:
        return None
    rate = (done - cache) / ms * 1000 if ms > 0 and done > cache else 0.0
    left = round((total - done) / rate, 1) if rate > 0 else None
    source = "disk" if restored else ("ram" if cache else "")
    return {"read": done, "total": total, "restored": cache, "from": source, "seconds_left": left}


#: New prompt tokens below which a server's reading progress is not reported.
READ_REPORT_MIN = 512


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _server_root(base_url: str) -> str:
    return re.sub(r"/v1/?$", "", base_url.rstrip("/"))


#: Tokenize endpoints of the OpenAI-compatible servers people run, tried in this order:
#: (path, request body, how to read the count). llama.cpp's ``llama-server``, vLLM, and
#: llama-cpp-python's ``python -m llama_cpp.server``.
_TOKENIZE: list[tuple[str, Any, Any]] = [
    ("/tokenize", lambda text, model: {"content": text}, lambda r: len(r["tokens"])),
    ("/tokenize", lambda text, model: {"model": model, "prompt": text}, lambda r: r["count"]),
    ("/extras/tokenize/count", lambda text, model: {"input": text}, lambda r: r["count"]),
]


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key and api_key != "not-needed" else {}


def _post_json(url: str, body: dict[str, Any], timeout: float, api_key: str = "") -> Any:
    headers = {"Content-Type": "application/json", **_auth(api_key)}
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def _get_json(url: str, timeout: float, api_key: str = "") -> Any:
    request = urllib.request.Request(url, headers=_auth(api_key))
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.load(r)


class ServerTokenCounter:
    """Exact counts from the model server's own tokenizer.

    ``probe()`` finds which tokenize endpoint the server has (llama.cpp ``/tokenize``, vLLM
    ``/tokenize``, llama-cpp-python ``/extras/tokenize/count``); after a failed probe,
    ``reachable`` says whether the server answered at all.
    """

    kind: CounterKind = "server"
    exact = True

    def __init__(self, base_url: str, timeout_s: float, model: str = "", api_key: str = "") -> None:
        self.root = _server_root(base_url)
        self.timeout_s = timeout_s
        self.model = model
        self.api_key = api_key
        self._endpoint: tuple[str, Any, Any] | None = None
        self.name = f"server:{self.root}"
        self.reachable = False

    def probe(self) -> None:
        """Pick the endpoint; raises ModelError when the server has none (or is down)."""
        last: Exception | None = None
        missing: set[str] = set()  # paths the server does not have: not asked twice
        for endpoint in _TOKENIZE:
            path, body, read = endpoint
            if path in missing:
                continue
            try:
                n = read(
                    _post_json(
                        self.root + path, body("probe", self.model), self.timeout_s, self.api_key
                    )
                )
                if isinstance(n, int) and n > 0:
                    self._endpoint = endpoint
                    self.name = f"server:{self.root}{path}"
                    return
                self.reachable = True
            except urllib.error.HTTPError as exc:
                self.reachable = True
                last = exc  # this server has another endpoint; try the next
                if exc.code in (404, 405):
                    missing.add(path)
            except OSError as exc:
                last = exc
                break  # down or unreachable: no point trying the others
            except (ValueError, KeyError, TypeError) as exc:
                self.reachable = True
                last = exc  # answered something else: another server's endpoint
        raise self._unreachable("", last) from last

    def _unreachable(self, path: str, exc: BaseException | None) -> ModelError:
        return ModelError(
            f"cannot count tokens at {self.root}{path}: {exc}; start the server or set "
            "llm.tokenizer_path to the model's GGUF",
            code="model_server_unreachable",
            params={"url": self.root},
        )

    def count(self, text: str) -> int:
        if self._endpoint is None:
            self.probe()
        assert self._endpoint is not None
        path, body, read = self._endpoint
        try:
            return int(
                read(
                    _post_json(
                        self.root + path, body(text, self.model), self.timeout_s, self.api_key
                    )
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, TimeoutError) or "timed out" in str(exc):
                raise ModelError(
                    f"the model server at {self.root} did not answer within "
                    f"{self.timeout_s:g} s (counting tokens); check it is running and not "
                    "overloaded, or raise llm.timeout_s",
                    code="model_server_timeout",
                    params={"url": self.root, "seconds": self.timeout_s},
                ) from exc
            raise self._unreachable(path, exc) from exc


def server_context_size(settings: LlmSettings) -> int | None:
    """The context window the server runs with, where it says: llama.cpp ``/props``
    (``n_ctx``), vLLM ``/v1/models`` (``max_model_len``). None when it does not tell."""
    root = _server_root(settings.base_url)
    timeout = min(settings.timeout_s, 10.0)
    try:
        props = _get_json(root + "/props", timeout, settings.api_key)
        n = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        if n:
            return int(n)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        models = _get_json(settings.base_url.rstrip("/") + "/models", timeout, settings.api_key)
        data = models.get("data", [])
        for m in data:
            if m.get("max_model_len") and (m.get("id") == settings.model or len(data) == 1):
                return int(m["max_model_len"])
    except (OSError, ValueError, AttributeError):
        pass
    return None


def server_models(settings: LlmSettings) -> list[str]:
    """Model ids the server serves (``GET /v1/models``); raises ModelError when it is down."""
    url = settings.base_url.rstrip("/") + "/models"
    try:
        models = _get_json(url, min(settings.timeout_s, 10.0), settings.api_key)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot reach the model server at {settings.base_url} ({exc}); start it "
            "(e.g. `llama-server -m MODEL.gguf --port 8080`) or fix llm.base_url",
            code="model_server_unreachable",
            params={"url": settings.base_url},
        ) from exc
    return [str(m.get("id")) for m in models.get("data", [])]


def server_token_counter(settings: LlmSettings) -> tuple[TokenCounter, float | None]:
    """Choose how to count for a server (for :func:`ragmix.core.tokens.resolve_once`): its
    tokenize endpoint if it has one (kept for good); else the estimate, kept for good when the
    server answered without one, for ``RETRY_DOWN_S`` when it could not be reached.

    Returns:
        (counter, seconds to keep it or None for the life of the process).
    """
    server = ServerTokenCounter(
        settings.base_url, min(settings.timeout_s, 30.0), settings.model, settings.api_key
    )
    try:
        server.probe()
    except ModelError as exc:
        if server.reachable:
            reason = f"the model server at {server.root} has no tokenize endpoint ({exc.__cause__})"
            return EstimateTokenCounter(reason), None
        reason = (
            f"cannot reach the model server at {server.root} ({exc.__cause__}); "
            f"trying again in {tokens.RETRY_DOWN_S:g} s"
        )
        return EstimateTokenCounter(reason), tokens.RETRY_DOWN_S
    return server, None
