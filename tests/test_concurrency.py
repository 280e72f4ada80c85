"""Several users at once against a model server: ``llm.max_concurrent`` answers pass the
model's gate together, each whole-document answer leases a slot of its own, and llama.cpp's
``llama-server -np N`` answers them at once, streaming its reading progress.

The tests that need ``llama-server`` (built once by ``make llama-server``, or
``$RAGMIX_LLAMA_SERVER``, or on PATH) run when it is there and are skipped, saying so, when it
is not. Real store, real embedder, real server with the packaged SmolLM2.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragmix.core.settings import LlmSettings
from ragmix.models.llm_openai import SlotStates, _reading
from tests.servers import Server, launch_llama_cpp_server, llama_cpp_server_binary

ROOT = Path(__file__).resolve().parent.parent
SKIP = (
    "llama.cpp's llama-server is not built: `make llama-server` builds it once into "
    "~/.cache/ragmix-wheels (or set RAGMIX_LLAMA_SERVER, or put it on PATH)"
)


def test_answers_at_once_never_share_a_slot_and_a_document_returns_to_its_own() -> None:
    slots = SlotStates(LlmSettings(backend="openai", max_concurrent=3, server_slot=2))
    assert slots.slots == [2, 3, 4]
    with slots.lease("a.bin") as a, slots.lease("b.bin") as b, slots.lease("c.bin") as c:
        assert sorted([a, b, c]) == [2, 3, 4]
        slots._held.update({a: "a.bin", b: "b.bin", c: "c.bin"})  # what save() records
        waited: list[int] = []
        fourth = threading.Thread(target=lambda: waited.append(_lease_once(slots, "d.bin")))
        fourth.start()
        time.sleep(0.1)
        assert not waited  # all three slots busy: the fourth waits
    fourth.join(5)
    assert waited and waited[0] in (2, 3, 4)
    with slots.lease("b.bin") as again:  # free again: the slot that holds b is preferred
        assert again == b


def _lease_once(slots: SlotStates, name: str) -> int:
    with slots.lease(name) as slot:
        return slot


def test_server_reading_progress_becomes_reading_events() -> None:
    # llama.cpp's prompt_progress: processed counts the slot's tokens (the cached ones too)
    got = _reading({"total": 3000, "cache": 1000, "processed": 2000, "time_ms": 500.0}, 0)
    assert got == {"read": 2000, "total": 3000, "restored": 1000, "from": "ram",
                   "seconds_left": 0.5}  # fmt: skip
    assert _reading({"total": 400, "cache": 0, "processed": 0, "time_ms": 0}, 0) is None
    restored = _reading({"total": 400, "cache": 390, "processed": 390, "time_ms": 0}, 390)
    assert restored is not None and restored["from"] == "disk"
    assert restored["seconds_left"] is None
    assert _reading({"bogus": 1}, 0) is None


# -- against a real llama-server -------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not llama_cpp_server_binary():
        pytest.skip(SKIP)
    server = launch_llama_cpp_server(
        tmp_path_factory.mktemp("llama-server"),
        "-c", "16384", "-np", "2", "--cont-batching", "-t", "1", "-b", "256", "-ub", "256",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rm(llama_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ragmix import RagMix

    store = tmp_path_factory.mktemp("store")
    r = RagMix.from_config(
        None,
        store={"path": str(store)},
        llm={
            "backend": "openai",
            "base_url": f"{llama_server.url}/v1",
            "model": "smollm2",
            "max_concurrent": 2,
            "max_tokens": 48,
        },  # fmt: skip
        # the model's own words as they come: answer first would hold back a Chinese
        # answer's restated question, and these tests time the model, not the display
        answer={"style": "full"},
    )
    r.ingest(ROOT / "samples")
    return r


@pytest.mark.slow
@pytest.mark.server
def test_two_users_are_answered_at_once(rm: Any) -> None:
    from ragmix.app.desk import Desk
    from ragmix.core.events import Done, Token

    desk = Desk(rm)
    assert desk.gate.width == 2
    spans: dict[str, tuple[float, float]] = {}
    answers: dict[str, Any] = {}

    def user(question: str) -> None:
        ticket = desk.gate.join()
        try:
            assert desk.gate.ready(ticket, 60)  # two at once: nobody waits
            first = None
            for event in rm.stream(question, mode="retrieve"):
                if isinstance(event, Token) and first is None:
                    first = time.perf_counter()
                if isinstance(event, Done):
                    answers[question] = event.answer
            spans[question] = (first or 0.0, time.perf_counter())
        finally:
            desk.gate.leave(ticket)

    qs = ["How long is the warranty, and what does it not cover?", "公司 2025 年的营业收入是多少？"]
    threads = [threading.Thread(target=user, args=(q,)) for q in qs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert set(answers) == set(qs)
    for q in qs:
        assert answers[q].answer.strip() and answers[q].sources, answers[q]
    (a0, a1), (b0, b1) = spans[qs[0]], spans[qs[1]]
    assert a0 < b1 and b0 < a1, spans  # each wrote its first word before the other finished


@pytest.mark.slow
@pytest.mark.server
def test_reading_progress_from_the_server_comes_before_the_first_word(rm: Any) -> None:
    from ragmix.core.events import Done, Reading, Token

    list(rm.stream("What is the warranty?", mode="retrieve"))  # it learns the server's kind
    events = list(rm.stream("这份报告讲了什么？", docs=["jiangnan-annual-report-2025.txt"],
                            mode="stuff"))  # fmt: skip
    first_word = next(i for i, e in enumerate(events) if isinstance(e, Token))
    reading = [(i, e) for i, e in enumerate(events) if isinstance(e, Reading)]
    done = events[-1]
    assert isinstance(done, Done)
    if done.answer.tokens["prompt"] < 512 + 64:
        pytest.fail(f"the prompt is too short to report progress: {done.answer.tokens}")
    assert reading and all(i < first_word for i, _ in reading), events[:first_word]
    reads = [e.read for _, e in reading]
    assert reads == sorted(reads) and len(reads) >= 2, reads
    # the server's own count of the prompt, within a few tokens of ragmix's (its template
    # may add or merge a special token or two)
    assert abs(reading[-1][1].total - done.answer.tokens["prompt"]) <= 8, reading[-1]
