"""`ragmix serve`: a real server process on loopback, asked by the real `openai` SDK, LangChain's
`ChatOpenAI`, open-webui's calls (raw HTTP) and raw HTTP for the document routes, auth, limits
and error shapes. The store holds the two samples and eight service sheets, each with an access
code no other sheet has, so every answer can be checked against its own question.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from ragmix.server.shapes import ApiError, ChatMessage, conversation
from tests.webclient import DeviceDoc, free_port, make_device_docs, start_serve, stop

ROOT = Path(__file__).resolve().parent.parent
RAGMIX = Path(sys.executable).with_name("ragmix")
KEY = "test-key-0123456789abcdef"
#: What the servers here are started with (fast answers from the packaged SmolLM2).
ENV = {
    "RAGMIX_LLM__MAX_TOKENS": "48",
    "RAGMIX_SERVER__MAX_REQUEST_KB": "64",
    "RAGMIX_UI__UPLOAD_MAX_MB": "1",
}

JSON = {"content-type": "application/json"}
MULTIPART = "multipart/form-data; boundary=zz"


def _shape(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``r`` is an OpenAI-shaped error with ``status`` and ``code``; returns the error."""
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "code"}
    assert err["code"] == code, err
    assert err["type"] in ("invalid_request_error", "authentication_error", "server_error"), err
    assert err["message"] and isinstance(err["message"], str)
    return err


# -- pure: the conversation a chat request carries ------------------------------------------
def test_conversation_history_and_system_messages() -> None:
    msgs = [
        ChatMessage(role="user", content="first?"),
        ChatMessage(role="assistant", content="one."),
        ChatMessage(role="user", content="unanswered?"),
        ChatMessage(role="user", content=[{"type": "text", "text": t} for t in ("sec", "ond?")]),
    ]
    question, history = conversation(msgs, "refuse")
    assert question == "second?"
    assert history == [("first?", "one."), ("unanswered?", "")]
    with_system = [ChatMessage(role="system", content="be brief"), *msgs]
    with pytest.raises(ApiError) as err:
        conversation(with_system, "refuse")
    assert err.value.status == 400 and err.value.code == "system_message_not_supported"
    assert conversation(with_system, "ignore") == (question, history)
    for bad in (
        [ChatMessage(role="assistant", content="hi")],
        [ChatMessage(role="tool", content="x"), ChatMessage(role="user", content="q")],
        [ChatMessage(role="user", content=[{"type": "image_url", "image_url": {"url": "x"}}])],
    ):
        with pytest.raises(ApiError) as err:
            conversation(bad, "ignore")
        assert err.value.status == 400


# -- a real server -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    work = tmp_path_factory.mktemp("serve")
    docs = make_device_docs(work / "docs", 8)
    store = work / "store"
    env = {**os.environ, **ENV}
    for folder in (ROOT / "samples", work / "docs"):
        subprocess.run(
            [str(RAGMIX), "ingest", str(folder), "--store", str(store)],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
    port = free_port()
    log = work / "serve.log"
    proc, url = start_serve(store, port, "--api-key", KEY, "-v", env=ENV, log=log)
    try:
        yield SimpleNamespace(url=url, base=url + "/v1", store=store, docs=docs, log=log, work=work)
    finally:
        stop(proc)


def _client(api: SimpleNamespace, **kw: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=api.base, api_key=KEY, max_retries=0, timeout=300, **kw)


def _http(api: SimpleNamespace, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=api.url, headers=headers, timeout=300)


@pytest.mark.parametrize("_", [0], ids=["first"])
@pytest.mark.slow
@pytest.mark.server
def test_search_mode_through_the_sdk_loads_no_model(api: SimpleNamespace, _: int) -> None:
    """The first test on the server: search-mode chat answers with the passages, in the
    message and in ``ragmix.sources``, and the model is never loaded."""
    client = _client(api)
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "ragmix" and "ragmix-search" in ids and "ragmix-auto" in ids
    doc = api.docs[3]
    r = client.chat.completions.create(
        model="ragmix-search", messages=[{"role": "user", "content": doc.question}]
    )
    text = r.choices[0].message.content
    extra = r.model_extra["ragmix"]
    assert extra["route"] == "search" and extra["tokens"]["prompt"] == 0
    assert extra["sources"][0]["source"] == doc.name
    assert doc.code in extra["sources"][0]["text"] and doc.code in text
    assert text.startswith(f"[1] {doc.name}")
    assert r.choices[0].finish_reason == "stop" and r.object == "chat.completion"
    with _http(api, None) as h:
        assert h.get("/health").json() == {"status": "ok", "model_loaded": False}


@pytest.mark.slow
@pytest.mark.server
def test_auto_answer_streamed_and_not_through_the_sdk(api: SimpleNamespace) -> None:
    client = _client(api)
    doc = api.docs[1]
    ask = {
        "model": "ragmix",
        "messages": [{"role": "user", "content": doc.question}],
        "extra_body": {"ragmix": {"mode": "auto", "docs": [doc.name]}},
    }
    whole = client.chat.completions.create(**ask)
    extra = whole.model_extra["ragmix"]
    assert extra["route"] == "stuff" and "fits" in extra["reason"]
    assert {s["source"] for s in extra["sources"]} == {doc.name}
    assert whole.usage.prompt_tokens == extra["tokens"]["prompt"] > 0
    assert whole.usage.completion_tokens == extra["tokens"]["completion"] > 0
    assert whole.choices[0].message.content.strip()
    assert extra["timings"]["total_s"] > 0

    chunks = list(
        client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True})
    )
    first, *middle = chunks  # fmt: skip
    head = first.model_extra["ragmix"]
    assert first.choices[0].delta.role == "assistant"
    assert head["route"] == "stuff" and head["restart"] is False and "sources" not in head
    # Reading progress before the first word (at least where reading starts: the document
    # was read by the call above, so only the question is left).
    extras = [(c.model_extra or {}).get("ragmix") or {} for c in chunks]
    reading = [x["reading"] for x in extras if "reading" in x]
    assert reading and reading[0]["total"] == head["tokens"]["prompt"], extras[:3]
    assert reading[0]["read"] >= reading[0]["total"] - 64  # only the question was left
    done = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert done.choices[0].finish_reason in ("stop", "length")
    assert {s["source"] for s in done.model_extra["ragmix"]["sources"]} == {doc.name}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    # The same prompt, seed and temperature: the streamed answer is the non-streamed one.
    assert text.strip() == whole.choices[0].message.content


@pytest.mark.slow
@pytest.mark.server
def test_langchain_chat_openai(api: SimpleNamespace) -> None:
    from langchain_openai import ChatOpenAI

    doc = api.docs[5]
    search = ChatOpenAI(base_url=api.base, api_key=KEY, model="ragmix-search", max_retries=0)
    said = search.invoke(doc.question)
    assert doc.code in said.content
    assert "".join(str(c.content) for c in search.stream(doc.question)) == said.content
    answer = ChatOpenAI(
        base_url=api.base,
        api_key=KEY,
        model="ragmix",
        max_retries=0,
        extra_body={"ragmix": {"docs": [doc.name]}},
    )
    assert str(answer.invoke(doc.question).content).strip()


@pytest.mark.slow
@pytest.mark.server
def test_open_webui_calls(api: SimpleNamespace) -> None:
    """What open-webui sends to an OpenAI connection: the model list, then a streamed chat
    with its usual extra fields, read line by line as its SSE parser does."""
    with _http(api) as h:
        models = h.get("/v1/models").json()
        assert models["object"] == "list"
        assert all({"id", "object", "owned_by"} <= set(m) for m in models["data"])
        body = {
            "model": "ragmix-search",
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi! Ask me about your documents."},
                {"role": "user", "content": api.docs[2].question},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.8,
            "max_tokens": 1000,
            "user": {"name": "Ann", "id": "u1", "email": "ann@example.com", "role": "user"},
        }
        with h.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert api.docs[2].code in text
    assert chunks[-1]["usage"]["total_tokens"] == 0  # search reads no prompt, writes nothing


@pytest.mark.slow
@pytest.mark.server
def test_auth(api: SimpleNamespace) -> None:
    with _http(api, None) as h:
        assert h.get("/health").status_code == 200
        routes = ["GET /v1/models", "GET /v1/documents", "POST /v1/search", "POST /v1/embeddings",
                  "POST /v1/chat/completions", "DELETE /v1/documents/x.txt"]  # fmt: skip
        for method, path in (r.split() for r in routes):
            r = h.request(method, path, json={})
            assert _shape(r, 401, "invalid_api_key")["type"] == "authentication_error"
            assert r.headers["www-authenticate"] == "Bearer"
    for wrong in ("Bearer", f"Bearer {KEY[:-1]}", f"Bearer {KEY}x", f"Basic {KEY}", KEY):
        with httpx.Client(base_url=api.url, headers={"Authorization": wrong}) as h:
            _shape(h.get("/v1/models"), 401, "invalid_api_key")
    with _http(api) as h:
        assert h.get("/v1/models").status_code == 200


@pytest.mark.slow
@pytest.mark.server
def test_document_routes(api: SimpleNamespace) -> None:
    folder = api.work / "uploads-src"
    folder.mkdir()
    (folder / "a.txt").write_text("The Zephyr kettle boils water in 97 seconds.\n", "utf-8")
    (folder / "big.txt").write_text("x" * (1024 * 1024 + 10), "utf-8")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (folder / "x.exe").write_bytes(b"MZ")
    uploads = api.store / "uploads"
    outside = api.work / "苏州.txt"
    with _http(api) as h:
        before = {d["name"] for d in h.get("/v1/documents").json()["data"]}
        files = [
            ("file", ("../../" + outside.name, (folder / "a.txt").read_bytes(), "text/plain")),
            ("file", ("x.exe", b"MZ", "application/octet-stream")),
        ]
        r = h.post("/v1/documents", files=files)
        assert r.status_code == 200, r.text
        got = {d["filename"]: d for d in r.json()["data"]}
        assert got["../../苏州.txt"]["status"] == "ingested"
        assert got["../../苏州.txt"]["name"] == "苏州.txt"
        assert (
            got["x.exe"]["status"] == "refused" and got["x.exe"]["code"] == "unsupported_file_type"
        )
        assert not outside.exists() and (uploads / "苏州.txt").is_file()
        assert not (uploads / "x.exe").exists()
        listed = {d["name"]: d for d in h.get("/v1/documents").json()["data"]}
        assert set(listed) == before | {"苏州.txt"} and listed["苏州.txt"]["chunks"] == 1
        found = h.post("/v1/search", json={"query": "Zephyr kettle", "docs": ["苏州.txt"], "k": 3})
        assert found.json()["data"][0]["source"] == "苏州.txt"
        assert "97 seconds" in found.json()["data"][0]["text"]

        # Refusals: each alone gets its status, and nothing is stored.
        big = h.post(
            "/v1/documents", files={"file": ("big.txt", (folder / "big.txt").read_bytes())}
        )
        _shape(big, 413, "file_too_large")
        bad = h.post(
            "/v1/documents", files={"file": ("bad.pdf", (folder / "bad.pdf").read_bytes())}
        )
        assert "bad.pdf" in _shape(bad, 422, "unreadable_file")["message"]
        _shape(
            h.post("/v1/documents", files={"file": ("x.exe", b"MZ")}), 415, "unsupported_file_type"
        )
        _shape(h.post("/v1/documents", data={"other": "1"}), 400, "no_file")
        junk = h.post("/v1/documents", content=b"junk", headers={"content-type": MULTIPART})
        assert _shape(junk, 400, "invalid_upload")["type"] == "invalid_request_error"
        assert sorted(p.name for p in uploads.iterdir()) == ["苏州.txt"]
        # Too many bytes in all: refused before the body is read.
        many = [("file", (f"f{i}.txt", b"y" * 1_000_000)) for i in range(25)]
        _shape(h.post("/v1/documents", files=many), 413, "request_too_large")

        # Delete: the name goes, with its upload; unknown and escaping names are 404s.
        gone = h.delete("/v1/documents/苏州.txt")
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        assert not (uploads / "苏州.txt").exists()
        assert {d["name"] for d in h.get("/v1/documents").json()["data"]} == before
        _shape(h.delete("/v1/documents/苏州.txt"), 404, "document_not_found")
        victim = api.work / "victim.txt"
        victim.write_text("keep me", "utf-8")
        _shape(h.delete("/v1/documents/..%2F..%2Fvictim.txt"), 404, "document_not_found")
        _shape(h.delete(f"/v1/documents/{victim}"), 404, "document_not_found")
        assert victim.read_text("utf-8") == "keep me"


@pytest.mark.slow
@pytest.mark.server
def test_other_sites_and_foreign_host_names_are_refused(api: SimpleNamespace) -> None:
    """A form another site's page posts (the browser adds its Origin; a multipart form needs
    no preflight) is refused, as are its questions and deletions, and any request under a
    host name the server does not have (DNS rebinding); the server's own page and scripts
    (no Origin) are served. The API key is checked as before, on top."""
    evil = "https://evil.example"
    own = api.url.rstrip("/")
    port = own.rsplit(":", 1)[1]
    upload = {"file": ("origin.txt", b"The Quill lamp glows for 19 hours.\n", "text/plain")}
    uploads = api.store / "uploads"
    with _http(api) as h:
        before = {d["name"] for d in h.get("/v1/documents").json()["data"]}
        r = h.post("/v1/documents", files=upload, headers={"origin": evil})
        err = _shape(r, 403, "cross_origin_refused")
        assert err["message"] == (
            f"requests from the web page at {evil} are refused: only this server's own pages "
            f"may change documents or ask; to allow that site, add {evil} to server.cors_origins"
        )
        assert not (uploads / "origin.txt").exists()
        ask = {"model": "ragmix-search", "messages": [{"role": "user", "content": "lamp?"}]}
        _shape(h.post("/v1/chat/completions", json=ask, headers={"origin": evil}), 403,
               "cross_origin_refused")  # fmt: skip
        _shape(h.delete("/v1/documents/x.txt", headers={"origin": evil}), 403,
               "cross_origin_refused")  # fmt: skip
        rebound = h.get("/v1/documents", headers={"host": f"evil.example:{port}"})
        message = _shape(rebound, 403, "cross_origin_refused")["message"]
        assert "does not answer to the host name 'evil.example:" in message
        assert "server.allowed_hosts" in message
        assert h.get("/health", headers={"host": "evil.example"}).status_code == 200
        assert {d["name"] for d in h.get("/v1/documents").json()["data"]} == before

        r = h.post("/v1/documents", files=upload, headers={"origin": own})
        assert r.status_code == 200 and r.json()["data"][0]["status"] == "ingested", r.text
        found = h.post("/v1/search", json={"query": "Quill lamp", "docs": ["origin.txt"]})
        assert found.status_code == 200 and found.json()["data"][0]["source"] == "origin.txt"
        local = {"host": f"localhost:{port}", "origin": f"http://localhost:{port}"}
        assert h.delete("/v1/documents/origin.txt", headers=local).status_code == 200
    with _http(api, key=None) as h:  # the key still decides, for a same-origin page too
        _shape(h.post("/v1/documents", files=upload, headers={"origin": own}), 401,
               "invalid_api_key")  # fmt: skip


@pytest.mark.slow
@pytest.mark.server
def test_limits_and_error_shapes(api: SimpleNamespace) -> None:
    ask = {"model": "ragmix-search", "messages": [{"role": "user", "content": "warranty?"}]}
    with _http(api) as h:
        chat = "/v1/chat/completions"
        _shape(h.post(chat, content=b"{bad", headers=JSON), 400, "invalid_request")
        _shape(h.post(chat, json={"model": "ragmix"}), 400, "invalid_request")
        _shape(h.post(chat, json={**ask, "model": "gpt-4o"}), 404, "model_not_found")
        assert _shape(h.post(chat, json={**ask, "n": 2}), 400, "n_unsupported")["param"] == "n"
        system = {**ask, "messages": [{"role": "system", "content": "x"}, *ask["messages"]]}
        _shape(h.post(chat, json=system), 400, "system_message_not_supported")
        _shape(
            h.post(chat, json={**ask, "ragmix": {"docs": ["nope.pdf"]}}), 404, "document_not_found"
        )
        _shape(h.post(chat, json={**ask, "ragmix": {"mode": "fast"}}), 400, "invalid_request")
        long_q = {**ask, "messages": [{"role": "user", "content": "warranty " * 7000}]}
        _shape(h.post(chat, json=long_q), 400, "context_length_exceeded")
        # Over server.max_request_kb (64 KB here): by Content-Length, and chunked.
        huge = {**ask, "messages": [{"role": "user", "content": "w" * 70_000}]}
        _shape(h.post(chat, json=huge), 413, "request_too_large")

        def chunked() -> Iterator[bytes]:
            yield json.dumps(huge).encode()

        _shape(h.post(chat, content=chunked(), headers=JSON), 413, "request_too_large")
        _shape(h.get("/v1/nothing"), 404, "not_found")
        _shape(h.delete("/v1/models"), 405, "method_not_allowed")
        _shape(h.post("/v1/search", json={"query": ""}), 400, "invalid_request")
        other = {"input": "x", "model": "text-embedding-3-small"}
        _shape(h.post("/v1/embeddings", json=other), 404, "model_not_found")
        # The server still answers after all that.
        assert h.post(chat, json=ask).status_code == 200


@pytest.mark.slow
@pytest.mark.server
def test_embeddings_are_the_stores(api: SimpleNamespace) -> None:
    from ragmix import RagMix

    client = _client(api)
    texts = ["苏州园林的历史", "How long is the warranty?"]
    packed = client.embeddings.create(model="ragmix", input=texts)  # the SDK asks for base64
    plain = client.embeddings.create(model="ragmix", input=texts, encoding_format="float")
    mine = RagMix.from_config(None, store={"path": str(api.store)}).embeddings.embed_documents(
        texts
    )
    for a, b, c in zip(packed.data, plain.data, mine, strict=True):
        assert len(a.embedding) == len(c) == 384
        assert max(abs(x - y) for x, y in zip(a.embedding, b.embedding, strict=True)) < 1e-6
        assert max(abs(x - y) for x, y in zip(b.embedding, c, strict=True)) < 1e-4


# -- the model's line ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def busy_api(api: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """A second server on the same store that gives up waiting for the model after 1 s."""
    port = free_port()
    log = api.work / "busy.log"
    env = {**ENV, "RAGMIX_LLM__MAX_TOKENS": "512", "RAGMIX_SERVER__QUEUE_TIMEOUT_S": "1"}
    proc, url = start_serve(api.store, port, "--api-key", KEY, "-v", env=env, log=log)
    try:
        yield SimpleNamespace(**{**vars(api), "url": url, "base": url + "/v1", "log": log})
    finally:
        stop(proc)


LONG = "Write a long, detailed report on every section of the annual report, in full sentences."


def _gone(api: SimpleNamespace) -> int:
    return api.log.read_text("utf-8").count("the client is gone")


def _wait_gone(api: SimpleNamespace, before: int, limit_s: float, why: str) -> float:
    """Seconds until the server logs one more client gone than ``before`` (at most ``limit_s``)."""
    t0 = time.monotonic()
    while _gone(api) == before:
        assert time.monotonic() - t0 < limit_s, why
        time.sleep(0.1)
    return time.monotonic() - t0


def _ask_own_doc(api: SimpleNamespace, doc: DeviceDoc) -> None:
    """An answer scoped to ``doc``; queue_timeout_s is 1 s, so a model still busy gives 503."""
    r = _client(api).chat.completions.create(
        model="ragmix",
        messages=[{"role": "user", "content": doc.question}],
        extra_body={"ragmix": {"docs": [doc.name]}},
    )
    assert r.model_extra["ragmix"]["sources"][0]["source"] == doc.name


@pytest.mark.slow
@pytest.mark.server
def test_client_gone_while_the_model_reads_the_prompt(busy_api: SimpleNamespace) -> None:
    """A client that leaves before the first word: llama.cpp stops reading the prompt at its
    next batch (512 tokens), not at its end, and the next answer gets the model at once."""
    client = _client(busy_api)
    before = _gone(busy_api)
    stream = client.chat.completions.create(
        model="ragmix-stuff",
        messages=[{"role": "user", "content": LONG}],
        stream=True,
        extra_body={"ragmix": {"docs": ["jiangnan-annual-report-2025.txt"]}},
    )
    first = next(iter(stream))  # the route, sent before the model reads anything
    tokens = first.model_extra["ragmix"]["tokens"]["prompt"]
    assert tokens > 3 * 512, tokens  # four batches to read: ~20 s on one core
    time.sleep(1)
    stream.close()
    freed = _wait_gone(busy_api, before, 15, "the model read the whole prompt for nobody")
    _ask_own_doc(busy_api, busy_api.docs[6])
    assert "abandoned while the model read it" in busy_api.log.read_text("utf-8"), freed


@pytest.mark.slow
@pytest.mark.server
def test_busy_model_503_while_searches_go_on(busy_api: SimpleNamespace) -> None:
    client = _client(busy_api)
    stream = client.chat.completions.create(
        model="ragmix-stuff",
        messages=[{"role": "user", "content": LONG}],
        stream=True,
        extra_body={"ragmix": {"docs": ["jiangnan-annual-report-2025.txt"]}},
    )
    gone = _gone(busy_api)
    # Once the first words come, this answer holds the model for a while (512 tokens).
    assert next(c for c in stream if c.choices and c.choices[0].delta.content)
    t0 = time.perf_counter()
    with _http(busy_api) as h:
        found = h.post("/v1/search", json={"query": busy_api.docs[0].question, "k": 3})
        searched = time.perf_counter() - t0
        assert found.status_code == 200 and searched < 5
        ask = {"model": "ragmix", "messages": [{"role": "user", "content": "warranty?"}]}
        r = h.post("/v1/chat/completions", json=ask)
        err = _shape(r, 503, "model_busy")
        assert err["type"] == "server_error" and r.headers["retry-after"]
    stream.close()  # the server notices, stops the answer and frees the model
    _wait_gone(busy_api, gone, 60, "the closed stream's answer went on")


def _kill_mid_stream(api: SimpleNamespace) -> None:
    """A client process that starts a long streamed answer and is killed after 3 tokens."""
    code = f"""
import os, signal
from openai import OpenAI
c = OpenAI(base_url={api.base!r}, api_key={KEY!r}, max_retries=0)
s = c.chat.completions.create(model="ragmix-stuff", stream=True,
    messages=[{{"role": "user", "content": {LONG!r}}}],
    extra_body={{"ragmix": {{"docs": ["jiangnan-annual-report-2025.txt"]}}}})
n = 0
for ch in s:
    n += bool(ch.choices and ch.choices[0].delta.content)
    if n == 3:
        print("killed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == -signal.SIGKILL and "killed" in out.stdout, out.stderr


@pytest.mark.slow
@pytest.mark.server
def test_client_killed_mid_stream_frees_the_model(busy_api: SimpleNamespace) -> None:
    before = _gone(busy_api)
    _kill_mid_stream(busy_api)
    t0 = time.perf_counter()
    _ask_own_doc(busy_api, busy_api.docs[4])
    assert time.perf_counter() - t0 < 120
    assert _gone(busy_api) == before + 1


# -- load ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.server
def test_32_clients_for_half_a_minute_lose_nothing_and_mix_no_sources(api: SimpleNamespace) -> None:
    """32 clients, each asking about its own device: most search (the API route or the chat
    route in search mode), every fourth asks the model; for 30 s. Every request gets its
    answer, and every answer's sources are its own document's."""
    from openai import OpenAI

    stop_at = time.monotonic() + 30
    results: list[tuple[str, str, DeviceDoc, Any]] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(i)
        oa = OpenAI(base_url=api.base, api_key=KEY, max_retries=0, timeout=300)
        with _http(api) as h:
            while time.monotonic() < stop_at:
                doc = rng.choice(api.docs)
                kind = "answer" if i % 4 == 0 else rng.choice(["search", "chat-search"])
                try:
                    if kind == "search":
                        r = h.post("/v1/search", json={"query": doc.question, "k": 3})
                        got: Any = (r.status_code, r.json())
                    else:
                        model = "ragmix" if kind == "answer" else "ragmix-search"
                        scope = {"ragmix": {"docs": [doc.name]}} if kind == "answer" else {}
                        c = oa.chat.completions.create(
                            model=model,
                            messages=[{"role": "user", "content": doc.question}],
                            extra_body=scope,
                        )
                        got = (200, c.model_extra["ragmix"], c.choices[0].message.content)
                except Exception as exc:  # counted, never hidden
                    got = (0, repr(exc))
                with lock:
                    results.append((f"client{i}", kind, doc, got))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=400)
    assert not any(t.is_alive() for t in threads)
    failures = [r for r in results if r[3][0] != 200]
    assert not failures, failures[:3]
    mixed = []
    for _who, kind, doc, got in results:
        if kind == "search":
            sources = [d["source"] for d in got[1]["data"]]
            ok = sources[0] == doc.name and doc.code in got[1]["data"][0]["text"]
        elif kind == "chat-search":
            sources = [s["source"] for s in got[1]["sources"]]
            ok = sources[0] == doc.name and doc.code in got[2]
        else:
            sources = [s["source"] for s in got[1]["sources"]]
            ok = set(sources) == {doc.name}  # scoped to its own document
        if not ok:
            mixed.append((kind, doc.name, sources[:3]))
    assert not mixed, mixed[:5]
    kinds = [r[1] for r in results]
    assert kinds.count("answer") >= 8 and kinds.count("search") >= 100, {
        k: kinds.count(k) for k in set(kinds)
    }


@pytest.mark.slow
@pytest.mark.server
def test_readme_client_example_runs(api: SimpleNamespace) -> None:
    """docs/http-api.md's `openai` SDK + ChatOpenAI example, as written, against this server."""
    readme = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "from openai import OpenAI" in b)
    assert example.count("http://127.0.0.1:8000/v1") == 2
    script = api.work / "client_example.py"
    script.write_text(example.replace("http://127.0.0.1:8000/v1", api.base), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "KEY": KEY},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "stuff" in run.stdout and "'lumen-x2-manual.md'" in run.stdout
    assert "[1] lumen-x2-manual.md" in run.stdout  # ChatOpenAI on the search model
