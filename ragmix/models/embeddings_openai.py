"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` server (``embeddings.backend: openai``).

Part of the embedding seam (:mod:`ragmix.models.embeddings` imports this module and nothing
else does). Any server that speaks OpenAI's embeddings shape works: Hugging Face's TEI, vLLM,
Infinity, or another machine's ``ragmix serve``.

What a store records about the embedder (``fingerprint``) comes from the server: the model
name it reports and the dimension of its vectors. A ``ragmix serve`` also says which build of
which model it runs, and takes ``ragmix.input_type`` so e5 embeds questions as queries: its
vectors are then exactly those of the same embedder run in-process, and a store may be filled
by either. Other servers get ``query_prefix`` / ``passage_prefix`` in front of the texts.

Failures are translated here, once: a connection error, a timeout, HTTP 429 or 5xx are tried
again (``retries``, with a doubling wait from ``backoff_s``, or the server's Retry-After), then
raise ``ModelError`` naming the server and what to do; an ingest stopped by it keeps every
document it finished and resumes with the next run.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any

from ragmix.core.errors import ModelError
from ragmix.core.settings import EmbeddingSettings

logger = logging.getLogger(__name__)

#: The text embedded once at start: the server's name, dimension and kind come with it.
PROBE = "维度 dimension"
#: The longest wait between two tries, whatever the backoff or Retry-After says.
MAX_WAIT_S = 60.0
#: HTTP statuses worth trying again: the server is busy or restarting.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_waits(retries: int, first_s: float, cap_s: float = MAX_WAIT_S) -> list[float]:
    """The waits before each try after the first: ``first_s`` doubling, at most ``cap_s``.

    >>> backoff_waits(4, 0.5)
    [0.5, 1.0, 2.0, 4.0]
    >>> backoff_waits(3, 40.0)
    [40.0, 60.0, 60.0]
    >>> backoff_waits(0, 1.0)
    []
    """
    return [min(first_s * 2**i, cap_s) for i in range(retries)]


def retry_after(header: str | None, default: float, cap_s: float = MAX_WAIT_S) -> float:
    """The wait a Retry-After header asks for (seconds only), else ``default``; capped.

    >>> retry_after("3", 0.5), retry_after(None, 0.5), retry_after("soon", 0.5)
    (3.0, 0.5, 0.5)
    >>> retry_after("3600", 1.0)
    60.0
    """
    try:
        asked = float(header) if header is not None else default
    except ValueError:
        asked = default
    return min(max(asked, 0.0), cap_s)


class _Retryable(Exception):
    """A try failed in a way another try may not (the reason in ``args[0]``)."""

    def __init__(self, why: str, wait: float | None = None) -> None:
        super().__init__(why)
        self.wait = wait


class OpenAIEmbeddings:
    """One OpenAI-compatible embedding server, asked over HTTP (thread-safe).

    Args:
        settings: ``base_url``, ``model`` (the name sent), ``api_key_env``, ``timeout_s``,
            ``retries``, ``backoff_s``, ``batch_size``, ``concurrency`` and the prefixes.

    Constructing it asks the server once (``PROBE``), so a wrong URL, key or model fails
    at the start of a run, with the fix, rather than after the first file is read.
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        import httpx

        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/embeddings"
        key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(headers=headers, timeout=settings.timeout_s)
        self._lock = threading.Lock()
        self.ragmix = False  # set by the probe: the server is a `ragmix serve`
        body = self._post([PROBE], "passage", probe=True)
        self.dim = len(body["data"][0]["embedding"])
        told = (body.get("ragmix") or {}).get("fingerprint")
        self.ragmix = isinstance(told, dict)
        name = str(body.get("model") or settings.model)
        self.fingerprint: dict[str, Any] = (
            dict(told) if isinstance(told, dict) else {"name": name, "dim": self.dim, "version": ""}
        )
        if self.fingerprint.get("dim") != self.dim:
            said = self.fingerprint.get("dim")
            raise self._error(f"it says its vectors have {said} dimensions but sent {self.dim}",
                              "embedder_server_bad_reply")  # fmt: skip
        logger.info(
            "embedding through %s: %s, %d dimensions%s", self.url, name, self.dim,
            " (a ragmix server)" if self.ragmix else "",
        )  # fmt: skip

    # -- what LazyEmbeddings asks ---------------------------------------------------------------
    @property
    def lanes(self) -> int:
        """Requests in flight at once during ingest (``embeddings.concurrency``)."""
        return self.settings.concurrency

    def use_one_core(self) -> None:
        """Nothing to limit here: the server does the arithmetic."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        size = max(self.settings.batch_size, 1)
        out: list[list[float]] = []
        for i in range(0, len(texts), size):
            out += self._embed(texts[i : i + size], "passage")
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text], "query")[0]

    def close(self) -> None:
        self._http.close()

    # -- one request, tried again while it may help --------------------------------------------
    def _embed(self, texts: list[str], kind: str) -> list[list[float]]:
        body = self._post(texts, kind)
        vectors = [item["embedding"] for item in body["data"]]
        # ragmix's own are normalised already (left as they are, to equal in-process ones);
        # other servers may not be (cosine ranks the same, but scores are compared as dots).
        return vectors if self.ragmix else [_unit(v) for v in vectors]

    def _post(self, texts: list[str], kind: str, *, probe: bool = False) -> dict[str, Any]:
        s = self.settings
        prefix = "" if self.ragmix else (s.query_prefix if kind == "query" else s.passage_prefix)
        request: dict[str, Any] = {"input": [prefix + t for t in texts], "model": s.model}
        if self.ragmix or probe:
            # Only a ragmix server is sent its extension (others may refuse unknown fields);
            # the probe's is a passage, the default anywhere, so it is safe to send it.
            request["ragmix"] = {"input_type": kind}
        waits = backoff_waits(s.retries, s.backoff_s)
        for attempt in range(len(waits) + 1):
            try:
                return self._try(request, len(texts))
            except _Retryable as exc:
                if attempt == len(waits):
                    raise self._error(
                        f"{exc.args[0]}, {attempt + 1} tries",
                        "embedder_server_unreachable",
                        fix="start it again (or fix embeddings.base_url), then run the same "
                        "command again: what was stored is kept and the rest resumes",
                    ) from exc
                wait = exc.wait if exc.wait is not None else waits[attempt]
                logger.warning("embedding server %s: %s; trying again in %.1f s",
                               self.url, exc.args[0], wait)  # fmt: skip
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _try(self, request: dict[str, Any], n: int) -> dict[str, Any]:
        import httpx

        try:
            response = self._http.post(self.url, json=request)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"no answer within {self.settings.timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"cannot connect ({exc.__class__.__name__}: {exc})") from exc
        if response.status_code in RETRY_STATUS:
            wait = retry_after(response.headers.get("retry-after"), -1.0)
            raise _Retryable(
                f"HTTP {response.status_code} {_said(response)}", wait if wait >= 0 else None
            )
        if response.status_code in (401, 403):
            raise self._error(
                f"HTTP {response.status_code} {_said(response)}", "embedder_server_refused",
                fix=f"put the server's key in the environment variable {self.settings.api_key_env}"
                " (embeddings.api_key_env names it)",
            )  # fmt: skip
        if response.status_code != 200:
            raise self._error(
                f"HTTP {response.status_code} {_said(response)}", "embedder_server_refused",
                fix=f"check embeddings.model ({self.settings.model!r} was sent) and "
                "embeddings.base_url",
            )  # fmt: skip
        try:
            body = response.json()
            data = sorted(body["data"], key=lambda item: int(item["index"]))
            vectors = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._error(f"its answer is not OpenAI's embeddings shape ({exc})",
                              "embedder_server_bad_reply") from exc  # fmt: skip
        problem = _check_vectors(vectors, n, getattr(self, "dim", None))
        if problem:
            raise self._error(problem, "embedder_server_bad_reply")
        body["data"] = [{"embedding": [float(x) for x in v]} for v in vectors]
        return dict(body)

    def _error(self, why: str, code: str, fix: str = "") -> ModelError:
        fix = fix or "check that embeddings.base_url is an OpenAI-compatible embedding server"
        return ModelError(
            f"the embedding server at {self.settings.base_url} failed: {why}; {fix}",
            code=code,
            params={"url": self.settings.base_url, "error": why},
        )


def _unit(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v] if norm > 0 else v


def _said(response: Any) -> str:
    """The server's own words about a refusal, short."""
    text = " ".join(str(response.text or "").split())
    return (response.reason_phrase or "") + (f": {text[:200]}" if text else "")


def _check_vectors(vectors: list[Any], n: int, dim: int | None) -> str:
    """What is wrong with the vectors a server sent for ``n`` texts, or ''.

    >>> _check_vectors([[0.6, 0.8]], 1, 2)
    ''
    >>> _check_vectors([[0.6, 0.8]], 2, 2)
    'it sent 1 vectors for 2 texts'
    >>> _check_vectors([[0.6, 0.8, 0.0]], 1, 2)
    'it sent a vector of 3 dimensions, not 2'
    >>> _check_vectors([[float("nan"), 1.0]], 1, None)
    'it sent a vector that is not finite numbers'
    """
    if len(vectors) != n:
        return f"it sent {len(vectors)} vectors for {n} texts"
    for v in vectors:
        if not isinstance(v, list) or not v:
            return "it sent a vector that is not a list of numbers (ask for encoding_format float)"
        if dim is not None and len(v) != dim:
            return f"it sent a vector of {len(v)} dimensions, not {dim}"
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in v):
            return "it sent a vector that is not finite numbers"
    return ""
