"""The OpenAI wire shapes ``ragmix serve`` reads and writes, and how ragmix's answers map onto
them. Pure functions and pydantic models: no FastAPI here.

A chat request is OpenAI's, plus an optional ``"ragmix"`` object (what the ``openai`` SDK sends
with ``extra_body``)::

    {"model": "ragmix", "messages": [...], "stream": true,
     "ragmix": {"mode": "auto|stuff|retrieve|search", "docs": ["report.pdf"]}}

Responses are OpenAI's, plus a top-level ``"ragmix"`` object: route, reason, tokens, sources
and timings (streamed: the route on the first chunk, the sources on the last).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragmix.core.events import Answer, RouteDecided, Source, Tokens
from ragmix.core.schema import MODES, Mode

#: Model ids a client may name, and the answering mode each one means (None: the configured
#: ``router.mode``). ``ragmix.mode`` in the request wins over the model's.
MODEL_MODES: dict[str, Mode | None] = {"ragmix": None, **{f"ragmix-{m}": m for m in MODES}}


class ApiError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

    ``type`` follows OpenAI's names: 'invalid_request_error' (4xx the client can fix),
    'authentication_error', 'server_error'.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        *,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.type, self.param, self.headers = type, param, headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


# -- requests ------------------------------------------------------------------------------
class RagmixOptions(BaseModel):
    """The request's ``"ragmix"`` object."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    docs: list[str] | None = Field(None, description="document names; all when empty")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat request; fields ragmix does not use (temperature, top_p, max_tokens,
    user, metadata, ...) are accepted and ignored: the answer's length and sampling are the
    server's settings (``llm.max_tokens``, ``llm.temperature``) so every budget stays exact."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int | None = None
    tools: list[Any] | None = None
    ragmix: RagmixOptions | None = None


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    docs: list[str] | None = None
    k: int = Field(8, ge=1, le=100)


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request. ``ragmix.input_type``: 'passage' (default: text to be
    found) or 'query' (a question), for embedders that embed the two differently (e5)."""

    model_config = ConfigDict(extra="allow")

    input: str | list[str]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    ragmix: dict[str, Literal["passage", "query"]] | None = None


def _text(m: ChatMessage, i: int) -> str:
    if m.content is None:
        return ""
    if isinstance(m.content, str):
        return m.content
    parts = []
    for part in m.content:
        if part.get("type") != "text":
            raise ApiError(
                400,
                f"messages[{i}] has a {part.get('type')!r} part; ragmix reads text only",
                "unsupported_content",
                param=f"messages[{i}].content",
            )
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def conversation(
    messages: Sequence[ChatMessage], system: Literal["refuse", "ignore"]
) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the history of (question, answer) pairs.

    Raises:
        ApiError: 400 for a system message (unless ``system`` is 'ignore'), a tool or other
            role, non-text content, or a conversation that does not end with the user.
    """
    turns: list[tuple[str, str]] = []  # (role, text)
    for i, m in enumerate(messages):
        if m.role in ("system", "developer"):
            if system == "ignore":
                continue
            raise ApiError(
                400,
                f"messages[{i}] is a {m.role} message: ragmix answers with its own prompt "
                "(grounded in your documents) and does not take another; leave it out, or "
                "start the server with server.system_messages: ignore",
                "system_message_not_supported",
                param=f"messages[{i}]",
            )
        if m.role not in ("user", "assistant"):
            raise ApiError(
                400,
                f"messages[{i}] has role {m.role!r}; ragmix takes user and assistant messages",
                "unsupported_role",
                param=f"messages[{i}].role",
            )
        turns.append((m.role, _text(m, i)))
    if not turns or turns[-1][0] != "user":
        raise ApiError(
            400, "the last message must be the user's question", "no_question", "messages"
        )
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            if pending is not None:  # two questions in a row: the first went unanswered
                history.append((pending, ""))
            pending = text
        else:
            history.append((pending or "", text))
            pending = None
    if pending is not None:
        history.append((pending, ""))
    return turns[-1][1], history


# -- responses -----------------------------------------------------------------------------
def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def passages_text(sources: Sequence[Source]) -> str:
    """Search mode's message: the passages, numbered, with where each comes from (a
    workbook's sheet by its name, a deck's slide, a page read by OCR with its confidence).

    Example:
        >>> print(passages_text([{"source": "b.xlsx", "page": 2, "page_kind": "sheet",
        ...     "page_label": "人员", "score": 0.5, "text": "李娜"}]))
        [1] b.xlsx, sheet 人员 (score 0.500)
        李娜
        >>> print(passages_text([{"source": "s.pdf", "page": 2, "ocr_pages": [2],
        ...     "ocr_confidence": 0.97, "score": 0.5, "text": "甲"}]))
        [1] s.pdf, p. 2, OCR confidence 0.97 (score 0.500)
        甲
    """
    out = []
    for i, s in enumerate(sources, 1):
        where = s["source"]
        if s.get("page_kind") == "sheet" and s.get("page_label"):
            where += f", sheet {s['page_label']}"
        elif s["page"] is not None:
            where += f", {'slide' if s.get('page_kind') == 'slide' else 'p.'} {s['page']}"
        if s.get("ocr_pages"):
            where += f", OCR confidence {s.get('ocr_confidence', 0.0):.2f}"
        out.append(f"[{i}] {where} (score {s['score']:.3f})\n{s['text'].strip()}")
    return "\n\n".join(out)


def message_text(answer: Answer) -> str:
    if answer.route == "search" and answer.sources:
        return passages_text(answer.sources)
    return answer.answer


def usage(tokens: Tokens) -> dict[str, int]:
    prompt, completion = int(tokens["prompt"] or 0), int(tokens["completion"] or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish_reason(answer: Answer, max_tokens: int) -> str:
    return "length" if answer.tokens["completion"] >= max_tokens else "stop"


def ragmix_head(event: RouteDecided) -> dict[str, Any]:
    return {
        "route": event.route,
        "reason": event.reason,
        "tokens": dict(event.tokens),
        "restart": event.restart,
    }


def ragmix_full(answer: Answer) -> dict[str, Any]:
    return {
        "route": answer.route,
        "reason": answer.reason,
        "tokens": dict(answer.tokens),
        "sources": list(answer.sources),
        "timings": answer.timings,
        "warnings": list(answer.warnings),
        "verdict": answer.verdict,
        "unsupported": list(answer.unsupported),
        "verdict_note": answer.verdict_note,
    }


def completion(cid: str, model: str, answer: Answer, max_tokens: int) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message_text(answer)},
                "finish_reason": finish_reason(answer, max_tokens),
                "logprobs": None,
            }
        ],
        "usage": usage(answer.tokens),
        "ragmix": ragmix_full(answer),
    }


def chunk(
    cid: str,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    ragmix: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One streamed ``chat.completion.chunk``."""
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if ragmix is not None:
        out["ragmix"] = ragmix
    return out
