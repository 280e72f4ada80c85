"""``embeddings.backend: openai``: ingest and search through a real embedding server.

The server is a real ``ragmix serve`` process on loopback (its ``/v1/embeddings``, behind an API
key), embedding with the packaged e5; the same files ingested in-process are the reference.
Killing the server mid-ingest must stop the run with a message naming the server and the fix,
keep every finished document, and let the next run finish the rest with nothing duplicated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ragmix.core.errors import EmbedderMismatchError, ModelError
from ragmix.core.events import FileDone
from tests.webclient import free_port, start_serve, stop

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parent.parent
KEY = "embed-key-0123456789abcdef"
KEY_VAR = "RAGMIX_TEST_EMBEDDER_KEY"

#: Short files on unrelated subjects (Chinese and English), ingested one after another.
FILES = {
    "a-clock.txt": "青石镇的钟楼始建于一九〇七年，由当地商会集资修建，楼高二十八米，四面各有一座机械钟。",  # noqa: E501
    "b-tea.txt": "碧螺春产于太湖东山和西山，采摘期在春分到谷雨之间，一斤干茶约需六万个嫩芽。",
    "c-rail.txt": "高铁开通后，两座城市之间的行车时间由四个小时缩短到五十分钟，每天往返班次超过八十趟。",  # noqa: E501
    "d-warranty.txt": "本产品自购买之日起保修两年；人为损坏、进水和私自拆机不在保修范围之内。",
    "e-lamp.md": "The lamp runs for eight hours on one charge. Clean the lens with a dry cloth.\n",
}
QUESTIONS = [
    "那座有四面大钟的塔是哪一年盖起来的？",
    "这种绿茶要多少芽尖才能做出五百克？",
    "火车提速以后两地来往要花多久？",
    "东西坏了多长时间内可以免费修？",
    "How long does the battery last?",
    "江南集团2025年的营业收入是多少？",
    "How do I reset the Lumen X2?",
]


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    for sample in sorted((ROOT / "samples").iterdir()):
        (folder / sample.name).write_bytes(sample.read_bytes())
    return folder


def _server(work: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    proc, _url = start_serve(
        work / "server-store", port, "--api-key", KEY, env=env, log=work / "s.log"
    )
    return proc


def _remote(store: Path, port: int, **extra: Any) -> Any:
    from ragmix import RagMix

    emb = {
        "backend": "openai",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "api_key_env": KEY_VAR,
        **extra,
    }
    return RagMix.from_config(None, store={"path": str(store)}, embeddings=emb)


def _state(rm: Any) -> dict[str, Any]:
    cat = rm.catalog
    return {
        "docs": sorted((d.name, d.doc_id, d.n_chunks) for d in cat.documents()),
        "dense": sorted(cat.chunk_ids(dense_only=True)),
        "vectors": sorted(rm.vectors.iter_ids()),
        "embedder": rm.vectors.recorded_embedder(),
        "problems": cat.check(),
    }


def _found(rm: Any) -> list[list[tuple[str, int]]]:
    searcher = rm.searcher()
    return [[(p.source, p.index) for p in searcher.search(q, k=4).passages] for q in QUESTIONS]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The files, ingested in-process with the packaged e5 (the reference)."""
    from ragmix import RagMix

    work = tmp_path_factory.mktemp("embed-server")
    docs = _corpus(work / "docs")
    rm = RagMix.from_config(None, store={"path": str(work / "local")})
    rm.ingest(docs)
    yield SimpleNamespace(work=work, docs=docs, rm=rm, state=_state(rm), found=_found(rm))


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)


def test_ingest_through_a_ragmix_server_finds_what_in_process_finds(
    ref: SimpleNamespace, key: None
) -> None:
    port = free_port()
    proc = _server(ref.work, port)
    try:
        rm = _remote(ref.work / "remote", port)
        summary = rm.ingest(ref.docs)
        assert summary.ingested == len(FILES) + 2 and not summary.failed
        got = _state(rm)
        # the same chunks, vectors and embedder record as in-process: the server says which
        # build of e5 it runs, so the two stores are interchangeable
        assert got == ref.state
        assert got["embedder"]["name"] == "packaged:multilingual-e5-small"
        assert _found(rm) == ref.found
        assert ref.found[0][0][0] == "a-clock.txt"  # the paraphrase is found (not by BM25)
        q = QUESTIONS[1]
        a = ref.rm.embeddings.embed_query(q)
        b = rm.embeddings.embed_query(q)
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    finally:
        stop(proc)


def test_wrong_key_is_refused_with_the_variable_to_set(ref: SimpleNamespace) -> None:
    port = free_port()
    proc = _server(ref.work, port)
    try:
        os.environ.pop(KEY_VAR, None)
        rm = _remote(ref.work / "nokey", port)
        with pytest.raises(ModelError) as err:
            rm.ingest(ref.docs)
        msg = str(err.value)
        assert f"http://127.0.0.1:{port}/v1" in msg and "HTTP 401" in msg and KEY_VAR in msg
        assert _state(rm)["docs"] == []
    finally:
        stop(proc)


def test_server_killed_mid_ingest_stops_clearly_and_the_next_run_finishes(
    ref: SimpleNamespace, key: None
) -> None:
    port = free_port()
    proc = _server(ref.work, port)
    store = ref.work / "killed"
    done: list[str] = []

    def kill_after_first(event: object) -> None:
        if isinstance(event, FileDone) and event.status == "ingested":
            done.append(event.name)
            if len(done) == 2:
                proc.kill()  # SIGKILL: no goodbye to requests in flight
                proc.wait()

    try:
        rm = _remote(store, port, retries=2, backoff_s=0.1, timeout_s=20)
        with pytest.raises(ModelError) as err:
            rm.ingest(ref.docs, progress=kill_after_first)
        msg = str(err.value)
        assert f"the embedding server at http://127.0.0.1:{port}/v1 failed" in msg
        assert "3 tries" in msg and "start it again" in msg
        half = _state(rm)
        assert [d[0] for d in half["docs"]] == done  # the finished ones, whole
        assert 0 < len(half["docs"]) < len(FILES) + 2
        # the one being written when the server went stays 'pending' (never shown), as after
        # a crash: the next run's recovery removes it before anything else
        assert len(rm.catalog.doc_ids("pending")) <= 1

        # back at the same address, though the killed one's connections are in TIME_WAIT
        proc = _server(ref.work, port)
        rm = _remote(store, port)
        summary = rm.ingest(ref.docs)
        assert summary.skipped_unchanged == len(done)
        assert summary.ingested == len(FILES) + 2 - len(done) and not summary.failed
        assert _state(rm) == ref.state  # nothing lost, nothing twice
        assert _found(rm) == ref.found
    finally:
        stop(proc)


def test_cli_says_which_server_is_down_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("钟楼建于一九〇七年。", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "RAGMIX_EMBEDDINGS__BACKEND": "openai",
        "RAGMIX_EMBEDDINGS__BASE_URL": f"http://127.0.0.1:{port}/v1",
        "RAGMIX_EMBEDDINGS__RETRIES": "1",
        "RAGMIX_EMBEDDINGS__BACKOFF_S": "0.1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", "ingest", str(tmp_path / "a.txt"),
         "--store", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert run.returncode != 0
    assert f"the embedding server at http://127.0.0.1:{port}/v1 failed: cannot connect" in (
        run.stderr
    )
    assert "2 tries" in run.stderr and "Traceback" not in run.stderr


def test_a_store_moves_to_another_servers_embedder_with_reembed(
    tmp_path: Path, key: None
) -> None:
    """A store made in-process with e5, then a server embedding with MiniLM: refused with the
    fix, and ``--reembed`` moves every chunk to the server's embedder."""
    from ragmix import RagMix

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in FILES.items():
        (docs / name).write_text(text, encoding="utf-8")
    store = tmp_path / "store"
    RagMix.from_config(None, store={"path": str(store)}).ingest(docs)
    port = free_port()
    proc = _server(tmp_path, port, RAGMIX_EMBEDDINGS__MODEL="packaged:all-MiniLM-L6-v2")
    try:
        rm = _remote(store, port, model="ragmix")
        (docs / "f-more.md").write_text("The charger needs two hours.\n")
        with pytest.raises(EmbedderMismatchError) as err:
            rm.ingest(docs)
        assert "all-MiniLM-L6-v2" in str(err.value) and "ragmix ingest --reembed" in str(err.value)
        summary = rm.ingest(reembed=True)
        assert summary.reembedded == len(FILES)  # one chunk each
        assert rm.vectors.recorded_embedder()["name"] == "packaged:all-MiniLM-L6-v2"
        rm.ingest(docs)  # now accepted
        hits = rm.searcher().search("How long does the charger need?", k=2).passages
        assert hits[0].source == "f-more.md"
    finally:
        stop(proc)
