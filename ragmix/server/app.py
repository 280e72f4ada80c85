"""``ragmix serve``: an OpenAI-compatible HTTP API over one store, so any OpenAI client (the
``openai`` SDK, LangChain's ``ChatOpenAI``, open-webui, LobeChat, Dify) asks your documents.

Routes (all under ``/v1`` need ``Authorization: Bearer KEY`` when a key is set; ``/health``
never does):

* ``GET /v1/models``: ``ragmix`` (the configured mode) and ``ragmix-auto|stuff|retrieve|search``;
* ``POST /v1/chat/completions``: OpenAI's shapes, streamed (SSE, ``data: [DONE]``) or not, with
  a ``ragmix`` object (route, reason, tokens, sources, timings); see ``ragmix.server.shapes``;
* ``GET|POST /v1/documents``, ``DELETE /v1/documents/{name}``: the page's upload pipeline;
* ``POST /v1/search``: passages with scores; never waits for the model;
* ``POST /v1/embeddings``: the store's embedder in OpenAI's shape.

How a question is answered: the same ``RagMix.stream`` events the CLI and the page fold. An
answer that uses the model takes a ticket at the front desk's gate (``ragmix.app.desk``, the
page's rule): first come, first served, one at a time; a request that waits longer than
``server.queue_timeout_s`` gets 503. The answer runs in a thread of its own that hands events
to the event loop; a client that disconnects (noticed within a quarter second, waiting or
streaming) stops its answer at the next token and frees the model for the next in line.

Every error is OpenAI's ``{"error": {"message", "type", "param", "code"}}`` with the status
that fits: 400 bad request, 401, 403 a web page of another site or a foreign host name
(``ragmix.app.origins``), 404 unknown document or model, 413 too large, 415 file type,
422 unreadable file, 503 busy; never a traceback (those go to the log).

One room, though long: the routes, their limits and their error shapes are one contract
with OpenAI clients; the shapes themselves are in ``ragmix.server.shapes``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragmix.app.api import RagMix
from ragmix.app.desk import Desk
from ragmix.app.origins import OriginGuard, Origins, exposure_warning
from ragmix.core.cancel import StopFlag, stoppable
from ragmix.core.errors import (
    BudgetError,
    ConfigError,
    ModelError,
    RagmixError,
    StoreError,
    StoreLockedError,
    UnknownDocumentError,
)
from ragmix.core.events import (
    AnswerEvent,
    AnswerState,
    Done,
    PartStarted,
    Reading,
    RouteDecided,
    Token,
)
from ragmix.core.schema import Mode
from ragmix.server import shapes
from ragmix.server.shapes import ApiError

logger = logging.getLogger(__name__)

#: Seconds between checks that a waiting or streaming client is still there.
WATCH_S = 0.25
#: Seconds of silence on a stream (a long prompt being read) before an SSE comment keeps
#: proxies from closing it.
KEEPALIVE_S = 10.0
_END = object()


# -- errors --------------------------------------------------------------------------------
def _api_error(exc: RagmixError) -> ApiError:
    """The HTTP form of a ragmix error."""
    msg = str(exc)
    if isinstance(exc, UnknownDocumentError):
        return ApiError(404, msg, "document_not_found")
    if isinstance(exc, BudgetError):
        return ApiError(400, msg, "context_length_exceeded")
    if isinstance(exc, StoreLockedError):
        return ApiError(503, msg, "store_busy", type="server_error", headers={"Retry-After": "5"})
    if isinstance(exc, StoreError):
        return ApiError(500, msg, "store_error", type="server_error")
    if isinstance(exc, ModelError):
        return ApiError(502, msg, "model_error", type="server_error")
    if isinstance(exc, ConfigError):
        return ApiError(500, msg, "config_error", type="server_error")
    return ApiError(500, msg, "ragmix_error", type="server_error")


def _json_error(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    parts, param = [], None
    for e in exc.errors()[:5]:
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error", "")
            return f"the body is not valid JSON ({why} at character {e['loc'][-1]})", None
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        param = param or loc or None
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request", param


class _TooLarge(HTTPException):
    """Raised while a body is read past its limit (an HTTPException, so FastAPI's body
    parsing lets it through as it is)."""

    def __init__(self, err: ApiError) -> None:
        super().__init__(err.status, err.message)
        self.err = err


class BodyLimit:
    """Refuses request bodies over a limit with 413, by Content-Length before reading and by
    counting while reading (a chunked body has no length). Uploads get their own limit."""

    def __init__(self, app: ASGIApp, json_bytes: int, upload_bytes: int) -> None:
        self.app, self.json_bytes, self.upload_bytes = app, json_bytes, upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/") == "/v1/documents"
        limit = self.upload_bytes if upload else self.json_bytes
        what = "upload" if upload else "request body"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_error(send, _too_large(what, int(length), limit))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(_too_large(what, seen, limit))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge as exc:  # raised outside FastAPI's handlers
            if not started:
                await _send_error(send, exc.err)


def _too_large(what: str, size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the {what} is over {limit / 2**20:.1f} MB ({size / 2**20:.1f} MB so far); "
        + (
            "send fewer or smaller files (limit: ui.upload_max_mb per file)"
            if what == "upload"
            else "send less (limit: server.max_request_kb)"
        ),
        "request_too_large",
    )


async def _send_error(send: Send, err: ApiError) -> None:
    body = json.dumps(err.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- answers in a thread, events on the loop -----------------------------------------------
class _Run:
    """One answer's ``RagMix.stream`` in its own thread; events (or the exception) arrive on
    an asyncio queue. ``cancel()`` stops it at the next event; ``release`` runs when the
    thread is done with the model (frees the gate's ticket)."""

    def __init__(
        self, events: Callable[[], Iterator[AnswerEvent]], release: Callable[[], None]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = StopFlag()  # set: stops the answer, down to llama.cpp's prompt
        self._events, self._release = events, release
        self.thread = threading.Thread(target=self._work, name="ragmix-answer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()

    def _put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is stopping
            self.cancel()

    def _work(self) -> None:
        gen = None
        try:
            with stoppable(self.cancelled):
                gen = self._events()
                for n, event in enumerate(gen):
                    if self.cancelled.is_set():
                        logger.info("answer stopped after %d events: the client is gone", n)
                        break
                    self._put(event)
        except BaseException as exc:  # handed to the loop: ragmix errors become responses
            if self.cancelled.is_set():  # e.g. the model stopped mid-prompt: nobody to tell
                logger.info("answer stopped (%s): the client is gone", type(exc).__name__)
            else:
                self._put(exc)
        finally:
            try:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()  # a generator: stops the model's token stream
            finally:
                self._release()
                self._put(_END)

    async def next(self, timeout: float | None = None) -> Any:
        """The next event, an exception, ``_END``, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


async def _watch(request: Request, run: _Run) -> None:
    """Cancels ``run`` when the client goes away."""
    while run.thread.is_alive() and not run.cancelled.is_set():
        if await request.is_disconnected():
            run.cancel()
            return
        await asyncio.sleep(WATCH_S)


class Api:
    """The HTTP API of one ``RagMix``.

    Args:
        rm: the store and models.
        desk: the front desk to share with a page in the same process (new by default).
        api_key: required bearer key (default ``server.api_key``); None for no key.
    """

    def __init__(
        self,
        rm: RagMix,
        desk: Desk | None = None,
        api_key: str | None = None,
        host: str | None = None,
    ) -> None:
        self.rm = rm
        self.desk = desk or Desk(rm)
        self.settings = rm.settings.server
        self.api_key = api_key if api_key is not None else self.settings.api_key
        self.host = host or self.settings.host
        self.created = int(time.time())
        self._tasks: set[asyncio.Task[None]] = set()

    # -- app -------------------------------------------------------------------------------
    def build(self) -> ASGIApp:
        app = FastAPI(
            title="ragmix",
            summary="OpenAI-compatible API over your documents",
            docs_url=None,
            redoc_url=None,
            openapi_url="/v1/openapi.json",
        )

        @app.exception_handler(ApiError)
        async def api_error(_: Request, exc: ApiError) -> JSONResponse:
            return _json_error(exc)

        @app.exception_handler(RagmixError)
        async def ragmix_error(_: Request, exc: RagmixError) -> JSONResponse:
            return _json_error(_api_error(exc))

        @app.exception_handler(RequestValidationError)
        async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
            message, param = _validation_message(exc)
            return _json_error(ApiError(400, message, "invalid_request", param=param))

        @app.exception_handler(StarletteHTTPException)
        async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
            if isinstance(exc, _TooLarge):
                return _json_error(exc.err)
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
            message = str(exc.detail)
            if exc.status_code in (404, 405):
                message = (
                    f"no route {request.method} {request.url.path}; the routes are listed at "
                    "/v1/openapi.json"
                )
            return _json_error(ApiError(exc.status_code, message, code))

        @app.exception_handler(Exception)
        async def bug(request: Request, exc: Exception) -> JSONResponse:
            # Starlette re-raises it after this answer: the server's log gets the traceback.
            return _json_error(
                ApiError(500, "internal error; the server's log has the details", "internal",
                         type="server_error")
            )  # fmt: skip

        @app.get("/health")
        async def health() -> dict[str, Any]:
            return {"status": "ok", "model_loaded": self.rm.model_loaded}

        v1 = APIRouter(prefix="/v1", dependencies=[Depends(self._auth)])
        v1.add_api_route("/models", self.models, methods=["GET"])
        v1.add_api_route("/models/{model_id}", self.model, methods=["GET"])
        v1.add_api_route("/chat/completions", self.chat, methods=["POST"], response_model=None)
        v1.add_api_route("/documents", self.documents, methods=["GET"])
        v1.add_api_route("/documents", self.upload, methods=["POST"])
        v1.add_api_route("/documents/{name:path}", self.delete, methods=["DELETE"])
        v1.add_api_route("/search", self.search, methods=["POST"])
        v1.add_api_route("/embeddings", self.embeddings, methods=["POST"])
        app.include_router(v1)
        if self.settings.cors_origins:
            from fastapi.middleware.cors import CORSMiddleware

            app.add_middleware(
                CORSMiddleware,
                allow_origins=self.settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
            )
        upload_bytes = int(
            self.rm.settings.ui.upload_max_mb * 2**20 * self.settings.max_files + 2**20
        )
        guarded = OriginGuard(
            app,
            Origins(self.host, self.settings.cors_origins, self.settings.allowed_hosts),
            "server",
            lambda message: ApiError(403, message, "cross_origin_refused").body(),
            exempt=("/health",),
        )
        return BodyLimit(guarded, int(self.settings.max_request_kb * 1024), upload_bytes)

    async def _auth(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), self.api_key.encode()
        )
        if not ok:
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY' (the key the "
                "server was started with: --api-key or RAGMIX_API_KEY)",
                "invalid_api_key",
                type="authentication_error",
                headers={"WWW-Authenticate": "Bearer"},
            )

    # -- models ----------------------------------------------------------------------------
    def _model_object(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self.created, "owned_by": "ragmix"}

    async def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [self._model_object(m) for m in shapes.MODEL_MODES]}

    async def model(self, model_id: str) -> dict[str, Any]:
        self._mode_of(model_id)
        return self._model_object(model_id)

    def _mode_of(self, model_id: str) -> Mode | None:
        if model_id not in shapes.MODEL_MODES:
            raise ApiError(
                404,
                f"no model {model_id!r}; this server has {', '.join(shapes.MODEL_MODES)} "
                "(GET /v1/models)",
                "model_not_found",
                param="model",
            )
        return shapes.MODEL_MODES[model_id]

    # -- chat ------------------------------------------------------------------------------
    async def chat(self, body: shapes.ChatRequest, request: Request) -> Response:
        mode = self._mode_of(body.model)
        opts = body.ragmix or shapes.RagmixOptions()
        mode = opts.mode or mode or self.rm.settings.router.mode
        if body.n not in (None, 1):
            raise ApiError(400, "ragmix writes one answer per request (n=1)", "n_unsupported", "n")
        if body.tools:
            raise ApiError(400, "ragmix does not call tools", "tools_unsupported", "tools")
        question, history = shapes.conversation(body.messages, self.settings.system_messages)
        if not question.strip():
            raise ApiError(400, "the question is empty", "empty_question", "messages")
        too_long = self.desk.question_problem(question)
        if too_long is not None:
            n, limit = too_long
            raise ApiError(
                400,
                f"the question is {n:,} characters, over this server's limit of {limit:,}",
                "context_length_exceeded",
                "messages",
            )
        docs = await run_in_threadpool(self._scope, opts.docs)
        run = await self._start(
            request, lambda: self.desk.stream(question, docs=docs, mode=mode, history=history), mode
        )
        first = await self._first(run)
        cid = shapes.completion_id()
        if body.stream:
            usage = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(
                self._sse(run, first, cid, body.model, usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        state = AnswerState().apply(first)  # the fold the CLI and the page use
        while not state.done:
            event = await run.next()
            if event is _END:
                raise ApiError(499, "the answer was stopped", "cancelled")
            if isinstance(event, BaseException):
                raise self._translate(event)
            state = state.apply(event)
        try:
            answer = state.result()
        except RagmixError as exc:
            raise self._translate(exc) from exc
        return JSONResponse(
            shapes.completion(cid, body.model, answer, self.rm.settings.llm.max_tokens)
        )

    def _scope(self, names: list[str] | None) -> list[str]:
        """Document names as the store knows them (404 for an unknown one); all when empty."""
        if names:
            self.desk.scope(names)  # UnknownDocumentError -> 404
            return names
        if not self.desk.scope(None):
            raise ApiError(
                400,
                f"no documents in {self.rm.location} yet; upload some with POST /v1/documents "
                "or `ragmix ingest PATH`",
                "no_documents",
            )
        return []

    async def _start(
        self, request: Request, events: Callable[[], Iterator[AnswerEvent]], mode: str
    ) -> _Run:
        """Waits for the model's turn (if ``mode`` uses it) and starts the answer's thread."""
        turn = self.desk.turn(mode)  # a search takes none: it never waits
        try:
            deadline = time.monotonic() + self.settings.queue_timeout_s
            next_watch = 0.0
            while not turn.ready():  # in slices: the event loop serves others meanwhile
                now = time.monotonic()
                if now > deadline:
                    raise ApiError(
                        503,
                        f"the model is busy: waited {self.settings.queue_timeout_s:.0f} s "
                        f"with {turn.ahead()} answer(s) ahead; try again later",
                        "model_busy",
                        type="server_error",
                        headers={"Retry-After": "30"},
                    )
                if now >= next_watch:
                    next_watch = now + WATCH_S
                    if await request.is_disconnected():
                        raise ApiError(499, "the client went away", "cancelled")
                await asyncio.sleep(0.02)
            run = _Run(events, turn.leave)
        except BaseException:
            turn.leave()
            raise
        run.start()
        task = asyncio.create_task(_watch(request, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def _translate(self, exc: BaseException) -> ApiError:
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, RagmixError):
            return _api_error(exc)
        logger.error("an answer failed", exc_info=exc)
        return ApiError(500, "internal error; the server's log has the details", "internal",
                        type="server_error")  # fmt: skip

    async def _first(self, run: _Run) -> AnswerEvent:
        """The answer's first event; its failure before any text becomes the HTTP error."""
        first = await run.next()
        if isinstance(first, BaseException):
            raise self._translate(first)
        if first is _END:
            raise ApiError(499, "the answer was stopped", "cancelled")
        return first

    async def _sse(
        self, run: _Run, first: AnswerEvent, cid: str, model: str, include_usage: bool
    ) -> AsyncIterator[str]:
        def data(obj: object) -> str:
            return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

        started = False
        event: Any = first
        try:
            while True:
                if event is None:  # nothing for a while: keep the connection open
                    yield ": keep-alive\n\n"
                elif event is _END:
                    break
                elif isinstance(event, BaseException):
                    yield data(self._translate(event).body())
                    break
                elif isinstance(event, RouteDecided):
                    head = shapes.ragmix_head(event)
                    if not started:
                        started = True
                        delta = {"role": "assistant", "content": ""}
                    else:  # Self-Route reads a whole document: a new answer follows
                        delta = {"content": "\n\n"}
                    yield data(shapes.chunk(cid, model, delta, ragmix=head))
                elif isinstance(event, PartStarted):
                    yield data(shapes.chunk(cid, model, {}, ragmix={"status": event.text}))
                elif isinstance(event, Reading):
                    reading = event.as_dict()
                    del reading["type"]
                    head = {"status": event.text, "reading": reading}
                    yield data(shapes.chunk(cid, model, {}, ragmix=head))
                elif isinstance(event, Token):
                    yield data(shapes.chunk(cid, model, {"content": event.text}))
                elif isinstance(event, Done):
                    a = event.answer
                    if a.route == "search" and a.sources:
                        text = shapes.passages_text(a.sources)
                        yield data(shapes.chunk(cid, model, {"content": text}))
                    finish = shapes.finish_reason(a, self.rm.settings.llm.max_tokens)
                    yield data(shapes.chunk(cid, model, {}, finish, shapes.ragmix_full(a)))
                    if include_usage:
                        last = shapes.chunk(cid, model, {})
                        last["choices"], last["usage"] = [], shapes.usage(a.tokens)
                        yield data(last)
                # Sources events: the last chunk carries the final sources.
                event = await run.next(KEEPALIVE_S)
            yield "data: [DONE]\n\n"
        finally:
            run.cancel()  # a client gone mid-stream: the model stops at its next token

    # -- documents -------------------------------------------------------------------------
    def documents(self) -> dict[str, Any]:
        return {"object": "list", "data": [_doc(d) for d in self.desk.documents()]}

    async def upload(self, request: Request) -> JSONResponse:
        ui = self.rm.settings.ui
        try:
            form = await request.form(max_files=self.settings.max_files, max_fields=20)
        except _TooLarge:
            raise
        except Exception as exc:  # malformed multipart, too many files
            raise ApiError(
                400,
                f"send the files as multipart/form-data fields named 'file' ({exc})",
                "invalid_upload",
                param="file",
            ) from None
        files = [f for key, f in form.multi_items() if key == "file" and hasattr(f, "filename")]
        if not files:
            raise ApiError(
                400, "no files: send multipart fields named 'file'", "no_file", param="file"
            )
        pairs: list[tuple[str | Path, str]] = []
        try:
            for f in files:
                with tempfile.NamedTemporaryFile(delete=False, prefix="ragmix-up-") as tmp:
                    while block := await f.read(1 << 20):  # type: ignore[union-attr]
                        tmp.write(block)
                pairs.append((tmp.name, f.filename or "upload"))
        finally:
            await form.close()
        try:
            outcome = await run_in_threadpool(self.desk.upload, pairs)
        finally:
            for tmp_name, _ in pairs:
                Path(tmp_name).unlink(missing_ok=True)
        results = []
        for u in outcome.uploads:
            item: dict[str, Any] = {"filename": u.original, "name": u.name}
            if u.error:
                item.update(status="refused", error=_refusal(u.error, u.detail, ui.upload_max_mb))
                item["code"] = {"size": "file_too_large", "ext": "unsupported_file_type"}.get(
                    u.error, "bad_file_name"
                )
            elif u.name in outcome.failed:
                item.update(status="failed", error=outcome.failed[u.name], code="unreadable_file")
            else:
                item["status"] = outcome.statuses.get(u.name, "failed")
            results.append(item)
        if any(r["status"] not in ("refused", "failed") for r in results):
            return JSONResponse({"object": "list", "data": results})
        first = results[0]
        status = {"file_too_large": 413, "unsupported_file_type": 415, "unreadable_file": 422}
        err = ApiError(
            status.get(first["code"], 400),
            "; ".join(f"{r['filename']}: {r['error']}" for r in results),
            first["code"],
            param="file",
        )
        body = err.body()
        body["data"] = results
        return JSONResponse(body, status_code=err.status)

    def delete(self, name: str) -> dict[str, Any]:
        done = self.desk.delete(name)
        return {
            "object": "document.deleted",
            "name": done.name,
            "deleted": done.document_removed,
            "remaining_names": list(done.remaining),
            "id": done.document.doc_id,
        }

    # -- search and embeddings -------------------------------------------------------------
    def search(self, body: shapes.SearchRequest) -> dict[str, Any]:
        too_long = self.desk.question_problem(body.query)
        if too_long is not None:
            raise ApiError(400, f"the query is {too_long[0]:,} characters, over {too_long[1]:,}",
                           "query_too_long", "query")  # fmt: skip
        t0 = time.perf_counter()
        doc_ids = self.desk.scope(body.docs)
        result = self.rm.searcher().search(body.query, doc_ids, k=body.k)
        data = [
            {
                "object": "search.result",
                **p.where(),
                "scores": p.scores,
                "text": p.text,
            }
            for p in result.passages
        ]
        took = round(time.perf_counter() - t0, 4)
        return {"object": "list", "data": data, "ragmix": {"note": result.note, "search_s": took}}

    def embeddings(self, body: shapes.EmbeddingRequest) -> dict[str, Any]:
        name = self.rm.settings.embeddings.model
        if body.model not in (None, "ragmix", name):
            raise ApiError(404, f"no embedding model {body.model!r}; this server embeds with "
                           f"{name!r} (or say 'ragmix')", "model_not_found", "model")  # fmt: skip
        if body.dimensions is not None:
            raise ApiError(400, "dimensions cannot be changed", "dimensions_unsupported")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts or len(texts) > 2048:
            raise ApiError(400, "input takes 1 to 2048 texts", "invalid_input", "input")
        kind = (body.ragmix or {}).get("input_type", "passage")
        emb = self.rm.embeddings
        vectors = (
            [emb.embed_query(t) for t in texts] if kind == "query" else emb.embed_documents(texts)
        )
        data = []
        for i, v in enumerate(vectors):
            value: Any = list(map(float, v))
            if body.encoding_format == "base64":
                value = base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        n = sum(len(t) for t in texts)  # characters: the embedder's tokens are not counted
        return {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": n, "total_tokens": n},
            # Which build of which model made these: a ragmix client records it in its store,
            # so vectors from here and from the same embedder in-process are interchangeable.
            "ragmix": {"fingerprint": emb.fingerprint},
        }


def _doc(d: Any) -> dict[str, Any]:
    return {
        "object": "document",
        "id": d.doc_id,
        "name": d.name,
        "names": list(d.names),
        "pages": d.n_pages,
        "chunks": d.n_chunks,
        "tokens": d.n_tokens,
    }


def _refusal(code: str, detail: dict[str, Any], max_mb: float) -> str:
    if code == "size":
        return f"{detail['mb']:.1f} MB is over the {max_mb:g} MB limit (ui.upload_max_mb)"
    if code == "ext":
        return f"file type {detail['ext']} is not accepted; accepted: {detail['allowed']}"
    return "no usable file name is left once unsafe characters are removed; rename the file"


def build_api(
    rm: RagMix, desk: Desk | None = None, api_key: str | None = None, host: str | None = None
) -> ASGIApp:
    """The ASGI app of ``ragmix serve`` (run it with any ASGI server); ``host`` is the address
    it listens on (default ``server.host``), which decides the host names it answers to."""
    return Api(rm, desk, api_key, host).build()


def serve(
    rm: RagMix, *, host: str, port: int, api_key: str | None, log_level: str = "info"
) -> None:
    """Serve the API with uvicorn until interrupted.

    Raises:
        ConfigError: the port is taken.
    """
    import socket

    import uvicorn

    with socket.socket() as probe:
        # As uvicorn binds: connections of a server killed a moment ago (TIME_WAIT) do not
        # keep a restarted one off its port; a server listening there still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); is another server (a Chroma "
                "server also defaults to 8000) using it? choose one with --port"
            ) from None
    warning = exposure_warning(host, api_key, "an API key", "--api-key or RAGMIX_API_KEY")
    if warning:
        logger.warning("%s", warning)
    emb = rm.settings.embeddings
    if emb.threads is None and rm.embeddings.spec.engine == "sentence-transformers":
        # A server embeds one short question per request: torch's second thread saves ~2 ms
        # of 15 and fights BM25 and the other requests for the cores (2 cores, 20K chunks:
        # p50 56 -> 31 ms). Ingest through uploads is slower (about half the passages/s).
        emb.threads = 1
    uvicorn.run(
        build_api(rm, api_key=api_key, host=host),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
