"""The web server against a hostile client: plain HTTP to a real ``ragmix ui`` on loopback.

One ``ragmix ui`` process (started without --host, upload limit 0.01 MB) serves a fresh store
for the module. The requests are what a script, not a browser, can send: file paths outside
the uploads, hostile upload names, oversized files, questions longer than the page allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ragmix.core.settings import UiSettings, load_settings
from tests.webclient import (
    free_port,
    http_call,
    http_get,
    http_upload,
    listening_addresses,
    parse_bubble,
    start_ui,
    stop,
)

pytestmark = pytest.mark.server

LIMIT_MB = 0.01  # 10,485 bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    store = tmp_path_factory.mktemp("web") / "store"
    secret = store / "uploads" / "secret-report.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("SECRET-7731 quarterly figures", encoding="utf-8")
    port = free_port()
    log = store.parent / "ui.log"
    proc, url = start_ui(store, port, env={"RAGMIX_UI__UPLOAD_MAX_MB": str(LIMIT_MB)}, log=log)
    http_call(url, "list_docs", [[]])  # the page's first request; creates the catalog
    yield SimpleNamespace(url=url, port=port, store=store, secret=secret, proc=proc, log=log)
    stop(proc)
    # The only errors the server may log are the refusals provoked here.
    errors = re.findall(r"^([\w.]+(?:Error|Exception)):", log.read_text(errors="replace"), re.M)
    assert set(errors) <= {"gradio.exceptions.InvalidPathError"}, errors


def test_localhost_is_the_default() -> None:
    assert UiSettings().host == "127.0.0.1"
    assert load_settings(None).ui.host == "127.0.0.1"
    from ragmix.cli.main import build_parser

    args = build_parser().parse_args(["ui"])
    assert args.host is None  # so `ragmix ui` takes ui.host


def test_ragmix_ui_without_host_listens_on_loopback_only(server: SimpleNamespace) -> None:
    assert listening_addresses(server.port) == {"127.0.0.1"}


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=/proc/self/environ",
        "/gradio_api/file=../../../../../../etc/passwd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=/tmp/gradio/../../etc/passwd",
        "/gradio_api/file/etc/passwd",
        "/file=/etc/passwd",
        "/static/../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2fetc/passwd",
    ],
)
def test_file_route_serves_no_system_file(server: SimpleNamespace, path: str) -> None:
    status, body = http_get(server.url, path)
    assert status in (403, 404), (status, body[:200])
    assert b"root:" not in body and b"PATH=" not in body


@pytest.mark.parametrize(
    "name", ["catalog.sqlite3", "uploads/secret-report.txt", "uploads", ".", "chroma"]
)
def test_file_route_serves_nothing_of_the_store(server: SimpleNamespace, name: str) -> None:
    target = server.store.resolve() / name
    if name == "catalog.sqlite3":
        assert target.is_file()  # the request would find it if it were allowed
    for path in (str(target), str(target).upper(), f"{server.store.resolve()}/./{name}"):
        status, body = http_get(server.url, f"/gradio_api/file={path}")
        assert status == 403, (path, status)
        assert b"SECRET-7731" not in body and b"SQLite format" not in body


def test_upload_copy_is_served_until_ingest_deletes_it(server: SimpleNamespace) -> None:
    """The control for the tests above: Gradio does serve its own upload folder, so ragmix
    deletes its copy once the file has been handled (here: refused for its type)."""
    status, paths = http_upload(server.url, "tool.exe", b"MZ-not-a-document")
    assert status == 200 and len(paths) == 1
    tmp = paths[0]
    status, body = http_get(server.url, f"/gradio_api/file={tmp}")
    assert status == 200 and body == b"MZ-not-a-document"
    files = [{"path": tmp, "orig_name": "tool.exe", "meta": {"_type": "gradio.FileData"}}]
    done = http_call(server.url, "ingest", [files, []])
    assert done["success"], done
    report = done["output"]["data"][0]
    assert "tool.exe</span> — refused: type .exe is not accepted" in report
    assert not Path(tmp).exists()
    assert http_get(server.url, f"/gradio_api/file={tmp}")[0] == 403
    assert sorted(p.name for p in (server.store / "uploads").iterdir()) == ["secret-report.txt"]


def test_other_sites_and_foreign_host_names_are_refused(server: SimpleNamespace) -> None:
    """Another site's page may not upload or ask through the page (the browser sends its
    Origin), nor reach it under a name of its own (DNS rebinding); the page itself may."""
    import httpx

    evil = "https://evil.example"
    files = {"files": ("a.txt", b"hello", "text/plain")}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        refused = client.post("/gradio_api/upload", files=files, headers={"origin": evil})
        assert refused.status_code == 403
        assert refused.json()["error"].startswith(f"requests from the web page at {evil} are")
        assert "ui.allowed_origins" in refused.json()["error"]
        join = client.post("/gradio_api/queue/join", json={}, headers={"origin": evil})
        assert join.status_code == 403
        own = client.post("/gradio_api/upload", files=files, headers={"origin": server.url[:-1]})
        assert own.status_code == 200, own.text
        rebound = client.get("/", headers={"host": f"evil.example:{server.port}"})
        assert rebound.status_code == 403 and "ui.allowed_hosts" in rebound.json()["error"]
        assert client.get("/", headers={"host": f"localhost:{server.port}"}).status_code == 200


def test_oversized_upload_is_refused_by_the_server(server: SimpleNamespace) -> None:
    status, text = http_upload(server.url, "big.txt", b"x" * 20_000)
    assert status == 413
    assert "10485 bytes" in str(text)
    small_status, _ = http_upload(server.url, "small.txt", b"x" * 10_000)
    assert small_status == 200


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/tmp/gradio/../../etc/hostname", "SECRET", "../../../etc/passwd"]
)
def test_api_cannot_ingest_a_server_file(server: SimpleNamespace, path: str) -> None:
    if path == "SECRET":
        path = str(server.secret)
    files = [{"path": path, "orig_name": "notes.txt", "meta": {"_type": "gradio.FileData"}}]
    done = http_call(server.url, "ingest", [files, []])
    assert done["success"] is False
    error = json.dumps(done["output"])
    assert "Cannot move" in error
    assert "not uploaded by a user" in error or "blocked_paths" in error
    assert sorted(p.name for p in (server.store / "uploads").iterdir()) == ["secret-report.txt"]


def test_api_question_longer_than_the_page_allows(server: SimpleNamespace) -> None:
    """The box stops at the limit; a script that skips the box gets a clear refusal."""
    from ragmix import RagMix
    from ragmix.app.desk import Desk

    limit = Desk(RagMix.from_config(None, store={"path": str(server.store)})).max_question_chars
    assert limit == 8 * (8192 - 512 - 256 - 64)
    question = "How long is the warranty? " * (limit // 26 + 1)
    asked = http_call(server.url, "add_question", [question, None], session="long-question")
    # add_question: box, chat, the question pending, the conversations, ...; answer takes the
    # pending question, the conversations, the scope and the mode.
    pending, book = asked["output"]["data"][2], asked["output"]["data"][3]
    done = http_call(server.url, "answer", [pending, book, [], "search"], "long-question")
    assert done["success"], done
    bubble = parse_bubble(done["output"]["data"][0][-1]["content"])
    n = len(question.strip())
    assert bubble["answer"] == (
        f"Could not answer: the question is {n:,} characters long; this page accepts at most "
        f"{limit:,}"
    )


HOSTILE_NAMES = {
    "../../../../../tmp/ragmix-escape.txt": "ragmix-escape.txt",
    "/etc/cron.d/ragmix.txt": "ragmix.txt",
    "..\\..\\windows\\evil.txt": "evil.txt",
    "nul\x00byte\nname.txt": "nulbytename.txt",
    "长" * 150 + ".txt": "长" * 65 + ".txt",  # cut to at most 200 UTF-8 bytes
}


@pytest.mark.slow
def test_hostile_upload_names_stay_in_the_upload_folder(server: SimpleNamespace) -> None:
    """The browser sends the file's name as it likes; only the last plain component is kept.
    (Ingest loads the embedder in the server: slow.)"""
    files = []
    for i, sent in enumerate(HOSTILE_NAMES):
        status, paths = http_upload(
            server.url, f"f{i}.txt", f"Note {i}: valve {i} is blue.".encode()
        )
        assert status == 200
        files.append({"path": paths[0], "orig_name": sent, "meta": {"_type": "gradio.FileData"}})
    done = http_call(server.url, "ingest", [files, []], timeout=300)
    assert done["success"], done
    report = done["output"]["data"][0]
    assert report.count("— added") == len(HOSTILE_NAMES), report
    stored = sorted(p.name for p in (server.store / "uploads").iterdir())
    assert stored == sorted([*HOSTILE_NAMES.values(), "secret-report.txt"])
    assert not Path("/tmp/ragmix-escape.txt").exists()
    assert not Path("/etc/cron.d/ragmix.txt").exists()
    assert all(not Path(f["path"]).exists() for f in files)  # Gradio's copies are gone
    listed = http_call(server.url, "list_docs", [[]])["output"]["data"][0]
    for name in HOSTILE_NAMES.values():
        assert f'<td class="rm-doc">{name}</td>' in listed
