"""Server mode against the real servers: a `chroma run` process and `python -m
llama_cpp.server` with the packaged SmolLM2, both on loopback and started here.

The store contract runs against the embedded store and the Chroma server alike; the model
contract against the in-process llama.cpp model and the OpenAI-compatible server alike.
Then what only a shared store has: concurrent writers, a writer SIGKILLed at every step, a
down or stuck server (SIGSTOP) giving a clear error within the timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import make_chinese_pdf
from tests.servers import Server, start_chroma, start_hung, start_llama_server
from tests.test_ingest import PAGES, _change_corpus, _clean_states, _cli, _crash_corpus, state

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_chroma(tmp_path_factory.mktemp("chroma-server") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_llama_server(tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


def http_store(chroma: Server, path: Path, **extra: Any) -> dict[str, Any]:
    """Store settings for a fresh collection on the test server, cached under ``path``."""
    return {
        "mode": "http",
        "port": chroma.port,
        "path": str(path),
        "collection": f"t-{uuid.uuid4().hex[:10]}",
        "sync_interval_s": 0,
        **extra,
    }


@pytest.fixture(params=["embedded", "http"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_rm(kind: str, chroma: Server | None, path: Path, **overrides: Any) -> Any:
    from ragmix import RagMix

    store = {"path": str(path)} if kind == "embedded" else http_store(chroma, path)  # type: ignore[arg-type]
    return RagMix.from_config(None, store=store, **overrides)


def corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in SAMPLES.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    make_chinese_pdf(folder / "report.pdf", PAGES)
    return folder


def _chroma_fixture(request: pytest.FixtureRequest, kind: str) -> Server | None:
    return request.getfixturevalue("chroma") if kind == "http" else None


# -- the store contract, embedded and server ---------------------------------------------
def test_store_contract(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Ingest, list, search with pages, re-ingest, delete, re-add: same behaviour and the
    same ids on both stores, and every index agrees with every other."""
    chroma = _chroma_fixture(request, store_kind)
    docs = corpus(tmp_path / "docs")
    rm = make_rm(store_kind, chroma, tmp_path / "a")
    summary = rm.ingest(docs)
    assert summary.ok and summary.ingested == 3, summary
    names = sorted(d.name for d in rm.documents())
    assert names == ["jiangnan-annual-report-2025.txt", "lumen-x2-manual.md", "report.pdf"]
    s = state(rm)
    assert s["problems"] == [] and s["states"] == ["ready"]
    assert s["chroma_chunks"] == s["catalog_chunks"] and s["fts"] == len(s["all_chunks"])

    hits = rm.ask("How long is the warranty?", mode="search").sources
    assert hits[0]["source"] == "lumen-x2-manual.md" and "warranty" in hits[0]["text"]
    zh = rm.ask("营业收入是多少", docs=["report.pdf"], mode="search").sources
    assert zh[0]["source"] == "report.pdf" and zh[0]["page"] == 2

    again = rm.ingest(docs)
    assert again.skipped_unchanged == 3 and again.chunks_added == 0
    assert state(rm) == s

    rm.delete("report.pdf")
    assert "report.pdf" not in [d.name for d in rm.documents()]
    gone = state(rm)
    assert not [c for c in gone["chroma_chunks"] if c not in gone["catalog_chunks"]]
    assert rm.ingest(docs).ingested == 1
    assert state(rm) == s


def test_server_state_equals_embedded_state(chroma: Server, tmp_path: Path) -> None:
    """Same files: the same documents, chunk ids, vectors and BM25 rows on both stores."""
    docs = corpus(tmp_path / "docs")
    emb = make_rm("embedded", None, tmp_path / "e")
    srv = make_rm("http", chroma, tmp_path / "h")
    emb.ingest(docs)
    srv.ingest(docs)
    a, b = state(emb), state(srv)
    assert a == b


def test_another_client_sees_the_same_store(chroma: Server, tmp_path: Path) -> None:
    """A second machine (own cache folder) sees the documents, pages and BM25 hits of the
    first without ingesting anything, and sees a deletion by the first."""
    from ragmix import RagMix

    store = http_store(chroma, tmp_path / "writer")
    writer = RagMix.from_config(None, store=store)
    writer.ingest(corpus(tmp_path / "docs"))
    reader = RagMix.from_config(None, store={**store, "path": str(tmp_path / "reader")})
    assert reader.store.catalog_path != writer.store.catalog_path
    assert state(reader)["docs"] == state(writer)["docs"]
    assert state(reader)["all_chunks"] == state(writer)["all_chunks"]
    zh = reader.ask("营业收入是多少", mode="search").sources
    assert zh[0]["source"] == "report.pdf" and zh[0]["page"] == 2
    writer.delete("lumen-x2-manual.md")
    assert "lumen-x2-manual.md" not in [d.name for d in reader.documents()]
    assert reader.catalog.check() == []


def test_names_are_shared_through_the_server(chroma: Server, tmp_path: Path) -> None:
    """Two machines ingest the same content under different names: every client lists the
    document once with all of them and finds it by each; a file gone from one machine
    (--sync) or a deleted name takes only that name; the last name takes the document."""
    from ragmix import RagMix

    text = "Shared handbook. The night shift ends at six. " * 10
    a_docs, b_docs = tmp_path / "a-docs", tmp_path / "b-docs"
    for folder, names in ((a_docs, ["a.md", "a2.md"]), (b_docs, ["b.md"])):
        folder.mkdir()
        for name in names:
            (folder / name).write_text(text)
    store = http_store(chroma, tmp_path / "a")
    a = RagMix.from_config(None, store=store)
    b = RagMix.from_config(None, store={**store, "path": str(tmp_path / "b")})
    reader = RagMix.from_config(None, store={**store, "path": str(tmp_path / "r")})
    assert a.ingest(a_docs).ingested == 1
    assert b.ingest(b_docs).duplicates == 1  # known to the server: only its name is added
    for rm in (a, b, reader):
        (doc,) = rm.documents()
        assert doc.names == ("a.md", "a2.md", "b.md"), doc
        for name in doc.names:
            assert rm.find(name).doc_id == doc.doc_id
    (a_docs / "a.md").unlink()
    a.ingest(a_docs, sync=True)
    assert reader.documents()[0].names == ("a2.md", "b.md")
    assert reader.ask("When does the night shift end?", docs=["b.md"], mode="search").sources
    assert not b.delete("a2.md").document_removed
    assert [d.names for d in a.documents()] == [("b.md",)]
    assert b.delete("b.md").document_removed
    assert reader.documents() == [] and a.documents() == []
    s = state(reader)
    assert s["chroma_chunks"] == [] and s["problems"] == []


def test_eval_retrieval_uses_its_own_server_collection(chroma: Server, tmp_path: Path) -> None:
    import chromadb

    from ragmix.app import evaluation
    from ragmix.core.settings import load_settings

    data = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": ctx,
                        "qas": [{"id": str(i), "question": q, "answers": [{"text": a}]}],
                    }
                ]
            }
            for i, (ctx, q, a) in enumerate(
                [
                    ("苏州园林以拙政园和留园最为著名。", "苏州最著名的园林是哪两个？", "拙政园"),
                    ("杭州西湖有断桥和苏堤。", "西湖有哪些景点？", "断桥"),
                    ("The lamp battery lasts 40 hours.", "How long does the battery last?", "40"),
                ]
            )
        ]
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    settings = load_settings(None, store=http_store(chroma, tmp_path / "s"))
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma.port)
    before = {c.name for c in client.list_collections()}
    result = evaluation.run_retrieval_eval(path, settings, ks=(1, 5))
    assert result["n_questions"] == 3 and result["recall@1"] == 1.0
    assert {c.name for c in client.list_collections()} == before  # dropped afterwards


# -- several writers at once --------------------------------------------------------------
def _ingest_cli(folder: Path, store: dict[str, Any], *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RAGMIX_STORE__MODE": "http",
        "RAGMIX_STORE__PORT": str(store["port"]),
        "RAGMIX_STORE__COLLECTION": store["collection"],
        "RAGMIX_STORE": store["path"],
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ragmix.cli.main", "ingest", str(folder), "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("same_cache", [False, True], ids=["two-machines", "one-machine"])
def test_two_concurrent_writers(chroma: Server, tmp_path: Path, same_cache: bool) -> None:
    """Two `ragmix ingest` processes write to one collection at the same time, with an
    identical file in both folders; a third client then sees every document once and a
    store whose vectors, chunks and BM25 rows all agree."""
    from ragmix import RagMix

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, tag in ((a, "Alpha"), (b, "Beta")):
        folder.mkdir()
        for i in range(3):
            (folder / f"{tag.lower()}{i}.md").write_text(
                f"{tag} note {i}. " + f"{tag} plant report line {i}. " * 60
            )
        (folder / "shared.md").write_text("Shared handbook. " + "Common rule text. " * 80)
    make_chinese_pdf(b / "report.pdf", PAGES)
    store = http_store(chroma, tmp_path / "cache-a")
    other = {**store, "path": store["path"] if same_cache else str(tmp_path / "cache-b")}
    procs = [_ingest_cli(a, store), _ingest_cli(b, other)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    ingested = sum(json.loads(out)["ingested"] for out, _ in outs)
    assert ingested in (8, 9)  # shared.md: ingested once, or by both (identical records)

    reader = RagMix.from_config(None, store={**store, "path": str(tmp_path / "reader")})
    s = state(reader)
    names = sorted(n for n, *_ in s["docs"])
    assert names.count("shared.md") == 1 and len(names) == 8
    assert s["problems"] == [] and s["chroma_chunks"] == s["catalog_chunks"]
    assert reader.vectors.count() == len(s["chroma_chunks"])  # no duplicate records
    assert len(reader.store.registry.stamps()) == 8
    for cache in {store["path"], other["path"]}:
        w = RagMix.from_config(None, store={**store, "path": cache})
        assert state(w)["docs"] == s["docs"]


# -- crashes -----------------------------------------------------------------------------
def test_writer_killed_at_every_step_converges(
    chroma: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded crash sweep, against the server: stop the writer in every gap of the
    http publish protocol; each re-run equals an uninterrupted *embedded* run."""
    from ragmix import RagMix
    from ragmix.core import faults

    want_first, want_second = _clean_states(tmp_path)
    monkeypatch.setattr(faults, "crash_mode", "raise")
    for phase, want in (("first", want_first), ("second", want_second)):
        step = 0
        while True:
            step += 1
            docs = tmp_path / f"{phase}{step}-docs"
            store = http_store(chroma, tmp_path / f"{phase}{step}")
            _crash_corpus(docs)
            if phase == "second":
                RagMix.from_config(None, store=store).ingest(docs)
                _change_corpus(docs)
            monkeypatch.setattr(faults, "steps_taken", 0)
            monkeypatch.setattr(faults, "crash_after", step)
            try:
                RagMix.from_config(None, store=store).ingest(docs, sync=True)
                crashed = False
            except faults.SimulatedCrash:
                crashed = True
            monkeypatch.setattr(faults, "crash_after", 0)
            rerun = RagMix.from_config(None, store=store)
            assert rerun.ingest(docs, sync=True).ok
            assert state(rerun) == want, f"{phase} phase, crash at step {step}"
            fresh = RagMix.from_config(None, store={**store, "path": str(tmp_path / "fresh")})
            got = state(fresh)
            assert got["docs"] == want["docs"] and got["chroma_chunks"] == want["chroma_chunks"]
            if not crashed:
                break
        assert step > 4, f"{phase} phase passed only {step} checkpoints"


# -- servers that are down or stuck --------------------------------------------------------
def _timed(fn: Any) -> tuple[BaseException | None, float]:
    t0 = time.monotonic()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


def test_chroma_down_or_stuck_is_a_clear_error(chroma: Server, tmp_path: Path) -> None:
    from ragmix import RagMix
    from ragmix.core.errors import StoreError

    hung = start_hung()
    for port, words in ((1, "cannot open the Chroma server"), (hung.port, "did not answer")):
        rm = RagMix.from_config(
            None, store={**http_store(chroma, tmp_path), "port": port, "timeout_s": 2}
        )
        exc, secs = _timed(rm.documents)
        assert isinstance(exc, StoreError) and words in str(exc), exc
        assert secs < 8

    # A server that was fine and then stops answering (SIGSTOP) mid-session.
    store = http_store(chroma, tmp_path / "s", timeout_s=2)
    rm = RagMix.from_config(None, store=store)
    rm.ingest(SAMPLES)
    chroma.pause()
    try:
        exc, secs = _timed(lambda: rm.ask("warranty", mode="search"))
    finally:
        chroma.resume()
    assert isinstance(exc, StoreError) and "did not answer within 2 s" in str(exc), exc
    assert secs < 10
    run = _cli(
        "docs",
        "list",
        timeout=60,
        env={
            "RAGMIX_STORE__MODE": "http",
            "RAGMIX_STORE__PORT": "1",
            "RAGMIX_STORE": str(tmp_path / "cli"),
        },
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot open the Chroma server" in run.stderr


# -- the model contract, in-process and server ----------------------------------------------
def _llm(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if kind == "llama-cpp":
        return {}
    server: Server = request.getfixturevalue("llama_server")
    return {"backend": "openai", "base_url": f"{server.url}/v1", "model": "smollm2"}


@pytest.mark.parametrize("backend", ["llama-cpp", "openai"])
def test_model_contract(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Same question, same route, streamed deltas, prompt within the window, exact token
    counts, on the in-process model and on `python -m llama_cpp.server`."""
    from ragmix import AnswerState, RagMix
    from ragmix.core.events import RouteDecided, Token
    from ragmix.models.llm import gguf_token_counter

    rm = RagMix.from_config(None, store={"path": str(tmp_path)}, llm=_llm(backend, request))
    rm.ingest(SAMPLES)
    counter = rm._counter()
    text = "苏州园林 Lumen X2 espresso: 保修两年。"
    want = gguf_token_counter("packaged:SmolLM2-135M-Instruct").count(text)
    assert not counter.name.startswith("estimate"), counter.name
    assert abs(counter.count(text) - want) <= 1  # a server may count a BOS token
    events = list(rm.stream("How long is the warranty?", docs=["lumen-x2-manual.md"]))
    head = events[0]
    deltas = [e.text for e in events if isinstance(e, Token)]
    final = AnswerState.fold(events).result()
    assert isinstance(head, RouteDecided) and head.route == "stuff"
    assert len(deltas) >= 2 and final.answer.strip()
    assert final.tokens["prompt"] + rm.settings.llm.max_tokens <= rm.settings.llm.n_ctx
    assert final.sources[0]["source"] == "lumen-x2-manual.md"


def test_model_server_down_or_stuck_is_a_clear_error(llama_server: Server, tmp_path: Path) -> None:
    from ragmix import RagMix
    from ragmix.core.errors import ModelError

    hung = start_hung()
    cases = [(1, "cannot reach the model server"), (hung.port, "did not answer within 2 s")]
    for port, words in cases:
        rm = RagMix.from_config(
            None,
            store={"path": str(tmp_path / str(port))},
            llm={
                "backend": "openai",
                "base_url": f"http://127.0.0.1:{port}/v1",
                "timeout_s": 2,
                "tokenizer_path": "packaged:SmolLM2-135M-Instruct",
            },
        )
        rm.ingest(SAMPLES)
        exc, secs = _timed(lambda rm=rm: rm.ask("How long is the warranty?"))
        assert isinstance(exc, ModelError) and words in str(exc), exc
        assert secs < 10, secs

    rm = RagMix.from_config(
        None,
        store={"path": str(tmp_path / "live")},
        llm={"backend": "openai", "base_url": f"{llama_server.url}/v1", "timeout_s": 2},
    )
    rm.ingest(SAMPLES)
    llama_server.pause()
    try:
        exc, secs = _timed(lambda: rm.ask("How long is the warranty?"))
    finally:
        llama_server.resume()
    assert isinstance(exc, ModelError) and "did not answer" in str(exc), exc
    assert secs < 15


@pytest.mark.parametrize("backend", ["llama-cpp", "openai"])
def test_doctor_passes_on_a_working_setup(
    backend: str, request: pytest.FixtureRequest, chroma: Server, tmp_path: Path
) -> None:
    from ragmix.app.doctor import diagnose

    rm = make_rm("http", chroma, tmp_path, llm=_llm(backend, request))
    rm.ingest(SAMPLES)
    checks = {c.name: c for c in diagnose(rm)}
    assert [c for c in checks.values() if c.status == "fail"] == []
    assert "answered" in checks["model"].detail
    assert checks["embedder"].status == "warn" and "Chinese" in checks["embedder"].fix


def test_doctor_names_what_to_fix(chroma: Server, tmp_path: Path) -> None:
    """A dead store, a context larger than the model's, a damaged lexical index."""
    from ragmix import RagMix
    from ragmix.app.doctor import diagnose

    dead = RagMix.from_config(
        None, store={"mode": "http", "port": 1, "path": str(tmp_path)}, llm={"n_ctx": 65536}
    )
    checks = {c.name: c for c in diagnose(dead)}
    assert checks["store"].status == "fail" and "chroma run" in checks["store"].detail
    assert (
        checks["model"].status == "fail" and "set llm.n_ctx to at most 8192" in checks["model"].fix
    )

    rm = RagMix.from_config(None, store={"path": str(tmp_path / "e")})
    rm.ingest(SAMPLES)
    with rm.catalog.transaction() as conn:  # the BM25 index loses rows while open
        conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks LIMIT 2)")
    checks = {c.name: c for c in diagnose(rm, model=False)}
    assert checks["catalog"].status == "fail" and "--repair" in checks["catalog"].fix
    rm.catalog.rebuild_lexical()
    rm.vectors.delete(rm.catalog.chunk_ids(dense_only=True)[:1])  # a vector goes missing
    cli = _cli("doctor", "--no-model", "--json", "--store", str(tmp_path / "e"), timeout=120)
    assert cli.returncode == 1
    catalog = {c["name"]: c for c in json.loads(cli.stdout)}["catalog"]
    assert catalog["status"] == "fail" and "1 chunks have no vector" in catalog["detail"]
    fixed = _cli("ingest", "--repair", "--json", "--store", str(tmp_path / "e"), timeout=120)
    assert fixed.returncode == 0 and "re-embedded 1 chunks" in fixed.stdout, fixed.stderr
    assert {c.name: c.status for c in diagnose(rm, model=False)}["catalog"] == "ok"


@pytest.mark.browser
def test_web_page_on_a_server_store(chroma: Server, browser: Any, tmp_path: Path) -> None:
    """The web page over a shared store: it lists another client's documents, an upload
    through the page reaches the other client, search answers with sources."""
    from ragmix import RagMix
    from ragmix.ui.app import launch
    from tests.servers import free_port
    from tests.test_ui import _ask, _doc_names, _open, _watch_answer

    store = http_store(chroma, tmp_path / "web")
    other = RagMix.from_config(None, store={**store, "path": str(tmp_path / "other")})
    other.ingest(SAMPLES)
    rm = RagMix.from_config(None, store=store)
    port = free_port()
    demo = launch(rm, host="127.0.0.1", port=port, auth=None, block=False)
    try:
        page = _open(browser, f"http://127.0.0.1:{port}/", "en-US")
        page.wait_for_function(
            "() => document.querySelectorAll('#rm-docs td.rm-doc').length >= 2", timeout=30_000
        )
        assert sorted(_doc_names(page)) == sorted(f.name for f in SAMPLES.iterdir())
        note = tmp_path / "kiln-log.txt"
        note.write_text("Kiln log: the glaze firing reached 1280 degrees on Tuesday.\n")
        page.set_input_files("#rm-upload input[type=file]", [str(note)])
        page.wait_for_function(
            "n => [...document.querySelectorAll('#rm-docs td.rm-doc')]"
            ".some(td => td.innerText == n)",
            arg=note.name,
            timeout=120_000,
        )
        assert note.name in [d.name for d in other.documents()]
        page.locator("#rm-mode label", has_text="Search only").click()
        _ask(page, "What temperature did the glaze firing reach?")
        _watch_answer(page, 60)
        first = page.locator('#rm-chat [data-testid="bot"]').last.locator(".rm-source").first
        assert note.name in first.inner_text() and "1280" in first.inner_text()
    finally:
        demo.close()


def test_serve_on_a_chroma_server_and_a_model_server(
    chroma: Server, llama_server: Server, tmp_path: Path
) -> None:
    """`ragmix serve` over a shared store and a model server: it lists and searches another
    client's documents, an upload through the API reaches that client and a deletion too, and
    answers come from the model server with exact token counts."""
    import httpx
    from openai import OpenAI

    from ragmix import RagMix
    from tests.servers import free_port
    from tests.webclient import start_serve, stop

    store = http_store(chroma, tmp_path / "other")
    other = RagMix.from_config(None, store=store)
    other.ingest(SAMPLES)
    env = {
        "RAGMIX_STORE__MODE": "http",
        "RAGMIX_STORE__PORT": str(chroma.port),
        "RAGMIX_STORE__COLLECTION": store["collection"],
        "RAGMIX_STORE__SYNC_INTERVAL_S": "0",
        "RAGMIX_LLM__BACKEND": "openai",
        "RAGMIX_LLM__BASE_URL": f"{llama_server.url}/v1",
        "RAGMIX_LLM__MODEL": "smollm2",
        "RAGMIX_LLM__MAX_TOKENS": "32",
    }
    proc, url = start_serve(tmp_path / "serve", free_port(), env=env, log=tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=url, timeout=300) as h:
            listed = [d["name"] for d in h.get("/v1/documents").json()["data"]]
            assert sorted(listed) == sorted(f.name for f in SAMPLES.iterdir())
            note = b"Kiln log: the glaze firing reached 1280 degrees on Tuesday.\n"
            up = h.post("/v1/documents", files={"file": ("kiln-log.txt", note, "text/plain")})
            assert up.json()["data"][0]["status"] == "ingested", up.text
            other.refresh(force=True)
            assert "kiln-log.txt" in [d.name for d in other.documents()]
            found = h.post("/v1/search", json={"query": "glaze firing temperature", "k": 2})
            assert found.json()["data"][0]["source"] == "kiln-log.txt"

            client = OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
            r = client.chat.completions.create(
                model="ragmix-stuff",
                messages=[{"role": "user", "content": "How long is the warranty?"}],
                extra_body={"ragmix": {"docs": ["lumen-x2-manual.md"]}},
            )
            extra = r.model_extra["ragmix"]
            assert extra["route"] == "stuff" and r.choices[0].message.content.strip()
            assert [s["source"] for s in extra["sources"]] == ["lumen-x2-manual.md"]
            assert 0 < r.usage.completion_tokens <= 32 and r.usage.prompt_tokens > 0

            assert h.delete("/v1/documents/kiln-log.txt").json()["deleted"] is True
            other.refresh(force=True)
            assert "kiln-log.txt" not in [d.name for d in other.documents()]
    finally:
        stop(proc)
