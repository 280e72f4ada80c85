"""Eight users at once against a real ``ragmix ui`` on loopback, through the page's own API.

Each user has its own session and asks about its own document (a made-up pump with an access
code nobody else has): most in search-only mode, three through the model. Every request must
be answered, with its own question and its own sources, none lost or swapped; searches must
never wait for the model, and model answers take turns. Latencies are printed (p50/p95), not
asserted: ``benchmarks/bench_load.py`` measures them properly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.common import pct
from tests.webclient import (
    Job,
    ask,
    free_port,
    make_device_docs,
    run_users,
    start_ui,
    stop,
)

pytestmark = [pytest.mark.slow, pytest.mark.server]

N_USERS = 8
MODEL_USERS = {1, 4, 6}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from gradio_client import Client, handle_file

    base = tmp_path_factory.mktemp("load")
    docs = make_device_docs(base / "docs", N_USERS)
    log = base / "ui.log"
    # Short answers: the test is about the server, not about the model's prose.
    proc, url = start_ui(base / "store", free_port(), env={"RAGMIX_LLM__MAX_TOKENS": "48"}, log=log)
    try:
        client = Client(url, verbose=False, download_files=False)
        files = [handle_file(str(base / "docs" / d.name)) for d in docs]
        report = client.predict(files, [], api_name="/ingest")[0]
        client.close()
        assert report.count("— added") == N_USERS, report
        for job in (Job(docs[0]), Job(docs[0], "stuff", scoped=True)):  # load both models
            assert ask(url, job).problems() == []
        yield SimpleNamespace(url=url, docs=docs, log=log)
    finally:
        stop(proc)
    errors = re.findall(r"^([\w.]+(?:Error|Exception)):", Path(log).read_text(), re.M)
    assert errors == []


def test_concurrent_users_each_get_their_own_answer(server: SimpleNamespace) -> None:
    jobs = [
        Job(d, "stuff", scoped=True) if i in MODEL_USERS else Job(d, "search")
        for i, d in enumerate(server.docs)
    ]
    replies = run_users(server.url, jobs, timeout_s=300)

    assert len(replies) == N_USERS
    problems = {r.job.doc.name: r.problems() for r in replies if r.problems()}
    assert problems == {}
    search = [r for r in replies if r.job.mode == "search"]
    model = [r for r in replies if r.job.mode != "search"]
    assert all(r.badge.startswith("Search only · ") for r in search)
    assert all(r.badge.startswith("Whole document · ") and r.answer for r in model)
    # Searches never queue behind the model; model answers take turns, so with three
    # arriving together at least two of them showed "Waiting for the model" first.
    assert [r.job.doc.name for r in search if r.waited] == []
    assert sum(r.waited for r in model) >= 2

    for kind, rs in (("search", search), ("model", model)):
        s = [r.seconds for r in rs]
        print(f"\n{kind}: {len(s)} users, p50 {pct(s, 50):.2f} s, p95 {pct(s, 95):.2f} s")
    for r in model:
        print(f"{r.job.doc.device}: {r.answer!r} (code {r.job.doc.code})")
