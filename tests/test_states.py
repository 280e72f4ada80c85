"""Prompt states on disk: the file protocol (fast, no model) and, with the packaged model,
a new process answering from a state another process kept, and every fault recomputed.

The protocol tests write real files through ``StateFolder``; its payload is opaque bytes, so
they use random bytes. The model tests run ``ragmix ask`` as separate processes, as a user
would, and read ``timings.first_token_s`` and the log's "loaded the saved state" line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragmix.core import faults
from ragmix.models import states
from ragmix.models.states import StateError, StateFolder

FP = {"model": "m.gguf", "model_bytes": 1, "n_ctx": 8192, "format": states.FORMAT}


def _ids(n: int, start: int = 0) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.intc)


def _payload(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_saved_state_loads_by_longest_prefix_and_survives_a_new_folder_object(
    tmp_path: Path,
) -> None:
    folder = StateFolder(tmp_path, FP, budget_bytes=10 << 20)
    doc_a, doc_b = _ids(600), _ids(400, start=10_000)
    path_a = folder.save(doc_a, _payload(50_000, 1), ["doc-a"])
    folder.save(doc_b, _payload(30_000, 2), ["doc-b"])
    assert path_a is not None and path_a.parent.name.startswith("m.gguf-")
    # Another process: a new folder object over the same files.
    again = StateFolder(tmp_path, dict(FP), budget_bytes=10 << 20)
    question = np.concatenate([doc_a[:590], _ids(20, start=50_000)])
    best, shared = again.best(question, min_tokens=256)
    assert best == path_a and shared == 590
    ids, payload = again.load(best)
    assert np.array_equal(ids, doc_a) and payload == _payload(50_000, 1)
    assert again.best(_ids(300, start=90_000), min_tokens=256) == (None, 0)
    assert states.usage(tmp_path)[0] == 2


def test_truncated_corrupted_and_foreign_states_are_dropped_never_loaded(
    tmp_path: Path,
) -> None:
    folder = StateFolder(tmp_path, FP, budget_bytes=10 << 20)
    doc = _ids(500)
    # Truncated (a copy cut short, as a full disk or a killed copy leaves it).
    path = folder.save(doc, _payload(40_000), ["d"])
    assert path is not None
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 1000)
    assert folder.best(doc, 256) == (None, 0) and not path.exists()
    # One flipped byte in the payload: the checksum fails on load.
    path = folder.save(doc, _payload(40_000), ["d"])
    assert path is not None
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    best, _ = folder.best(doc, 256)
    with pytest.raises(StateError, match="checksum"):
        folder.load(best)  # type: ignore[arg-type]
    assert not path.exists()
    # A state of another model (or n_ctx) placed in this model's folder.
    other = StateFolder(tmp_path / "other", {**FP, "n_ctx": 4096}, budget_bytes=10 << 20)
    foreign = other.save(doc, _payload(40_000), ["d"])
    assert foreign is not None
    moved = folder.dir / foreign.name
    foreign.rename(moved)
    assert folder.best(doc, 256) == (None, 0) and not moved.exists()
    # Not a state file at all.
    junk = folder.dir / f"junk{states.SUFFIX}"
    junk.write_bytes(b"hello")
    assert folder.best(doc, 256) == (None, 0) and not junk.exists()


def test_disk_budget_drops_least_recently_used_and_superseded_states(tmp_path: Path) -> None:
    folder = StateFolder(tmp_path, FP, budget_bytes=250_000)
    docs = [_ids(400, start=10_000 * i) for i in range(4)]
    paths = []
    for i, doc in enumerate(docs[:3]):
        paths.append(folder.save(doc, _payload(70_000, i), [f"d{i}"]))
        time.sleep(0.01)
    folder.load(paths[0])  # type: ignore[arg-type]  # doc 0 used again: doc 1 is now oldest
    folder.save(docs[3], _payload(70_000, 3), ["d3"])
    left = {p.name for p in folder.dir.iterdir()}
    assert paths[1].name not in left and paths[0].name in left  # type: ignore[union-attr]
    assert states.usage(tmp_path)[1] <= 250_000
    # A longer prompt on the same document replaces its state (one state per document).
    longer = np.concatenate([docs[0], _ids(30, start=99_000)])
    newer = folder.save(longer, _payload(70_000, 9), ["d0"])
    assert not paths[0].exists() and newer is not None and newer.exists()  # type: ignore[union-attr]
    # A state larger than the whole budget is not kept.
    assert folder.save(docs[1], _payload(300_000), ["d1"]) is None


def test_deleted_documents_take_their_states_with_them(tmp_path: Path) -> None:
    folder = StateFolder(tmp_path, FP, budget_bytes=10 << 20)
    keep = folder.save(_ids(300), _payload(1000), ["a"])
    both = folder.save(_ids(300, start=5000), _payload(1000), ["a", "b"])
    assert states.drop_documents(tmp_path, keep={"a"}) == 1
    assert keep is not None and keep.exists() and both is not None and not both.exists()


def test_a_state_dropped_by_another_writer_as_it_is_read_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest --sync` in one thread drops the states of a removed document while another
    thread reads one of them: the read has its bytes and answers; nothing raises (it raised
    FileNotFoundError from marking the file used)."""
    folder = StateFolder(tmp_path, FP, budget_bytes=10 << 20)
    path = folder.save(_ids(300), _payload(1000), ["gone"])
    assert path is not None
    real = os.utime

    def dropped_meanwhile(target: Any, *args: Any, **kwargs: Any) -> None:
        states.drop_documents(tmp_path, keep=set())  # the other writer, just now
        real(target, *args, **kwargs)

    monkeypatch.setattr(states.os, "utime", dropped_meanwhile)
    ids, payload = folder.load(path)
    assert np.array_equal(ids, _ids(300)) and payload == _payload(1000)
    assert not path.exists() and folder.best(_ids(300), min_tokens=256) == (None, 0)
    assert states.touch(path) is False


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_a_crash_at_any_step_of_saving_never_leaves_a_state_that_loads_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    doc, payload = _ids(500), _payload(60_000)
    folder = StateFolder(tmp_path, FP, budget_bytes=10 << 20)
    monkeypatch.setattr(faults, "crash_mode", "raise")
    monkeypatch.setattr(faults, "crash_after", step)
    monkeypatch.setattr(faults, "steps_taken", 0)
    with pytest.raises(faults.SimulatedCrash):
        folder.save(doc, payload, ["d"])
    monkeypatch.setattr(faults, "crash_after", 0)
    after = StateFolder(tmp_path, FP, budget_bytes=10 << 20)  # the next process
    best, shared = after.best(doc, 256)
    if step < 4:  # not renamed yet: no state, only a temporary file
        assert best is None
        assert [p.name for p in after.dir.iterdir()][0].count(".tmp-") == 1
    else:
        assert best is not None and after.load(best)[1] == payload
    # The stray temporary file is removed once stale.
    for tmp in after.dir.glob("*.tmp-*"):
        os.utime(tmp, (0, 0))
    states.prune(tmp_path, 10 << 20)
    assert not list(after.dir.glob("*.tmp-*"))


# --------------------------------------------------------------------------- real model

REPORT_CHARS = 400  # ~800 SmolLM2 tokens of Chinese: a whole-document read of ~6 s


def _chinese_text(seed: int, n_chars: int) -> str:
    """Seeded Chinese paragraphs made of the fixtures' real clauses (in the repository: the
    tests never read data from outside it)."""
    import random

    from benchmarks.common import make_text

    return make_text(random.Random(seed), n_chars, "zh")


@pytest.fixture(scope="module")
def store_with_two_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("states")
    docs = root / "docs"
    docs.mkdir()
    (docs / "report-a.txt").write_text(_chinese_text(1, REPORT_CHARS), encoding="utf-8")
    (docs / "report-b.txt").write_text(_chinese_text(2, REPORT_CHARS // 2), encoding="utf-8")
    (docs / "report-long.txt").write_text(_chinese_text(3, 750), encoding="utf-8")
    (root / "profile.yaml").write_text(
        "embeddings:\n  model: packaged:all-MiniLM-L6-v2\nllm:\n  max_tokens: 16\n"
    )
    _ragmix(root, "ingest", str(docs))
    return root


def _ragmix(root: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    cmd = [sys.executable, "-m", "ragmix.cli.main", *args, "--store", str(root / "store")]
    cmd += ["--config", str(root / "profile.yaml")]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def _ask(root: Path, doc: str, question: str, **env: str) -> dict[str, Any]:
    done = _ragmix(root, "ask", question, "--doc", doc, "--mode", "stuff", "--json", "-v", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    out["log"] = done.stderr
    return out


def _state_files(root: Path) -> list[Path]:
    return sorted((root / "store" / "states").glob(f"*/*{states.SUFFIX}"))


@pytest.mark.slow
def test_a_new_process_answers_from_the_state_another_one_kept(
    store_with_two_reports: Path,
) -> None:
    root = store_with_two_reports
    cold = _ask(root, "report-a.txt", "这篇文档的第一段讲了什么？")
    assert "loaded the saved state" not in cold["log"] and len(_state_files(root)) == 1
    _ask(root, "report-b.txt", "这篇文档讲了什么？")  # another document in between
    assert len(_state_files(root)) == 2
    warm = _ask(root, "report-a.txt", "文中提到了哪些地方？")
    assert "loaded the saved state" in warm["log"]
    ratio = warm["timings"]["first_token_s"] / cold["timings"]["first_token_s"]
    assert ratio < 0.35, (cold["timings"], warm["timings"])
    assert len(_state_files(root)) == 2  # the state was used, not written again
    from ragmix import RagMix
    from ragmix.app.doctor import diagnose

    rm = RagMix.from_config(root / "profile.yaml", store={"path": str(root / "store")})
    check = next(c for c in diagnose(rm, model=False) if c.name == "read states")
    assert check.status == "ok" and check.detail.startswith("2 kept, "), check


@pytest.mark.slow
@pytest.mark.parametrize("step", [2, 4])
def test_sigkill_while_keeping_a_state_then_the_same_question_answers_as_before(
    store_with_two_reports: Path, tmp_path: Path, step: int
) -> None:
    root = store_with_two_reports
    for f in _state_files(root):
        f.unlink()
    question = "第一段讲了什么？"
    killed = _ragmix(
        root, "ask", question, "--doc", "report-a.txt", "--mode", "stuff", "--json",
        env={"RAGMIX_CRASH_AFTER": str(step)},
    )  # fmt: skip
    assert killed.returncode == -9
    again = _ask(root, "report-a.txt", question)
    if step == 2:  # killed mid-payload: nothing loads, the document is read again
        assert "loaded the saved state" not in again["log"]
    else:  # killed after the rename: the state is whole and is used
        assert "loaded the saved state" in again["log"]
    reference = _ask(root, "report-a.txt", question)
    assert again["answer"] == reference["answer"]
    assert len(_state_files(root)) == 1


@pytest.mark.slow
def test_truncated_state_and_another_n_ctx_are_read_again_never_used(
    store_with_two_reports: Path,
) -> None:
    root = store_with_two_reports
    question = "文中提到了哪些年份？"
    for f in _state_files(root):
        f.unlink()
    first = _ask(root, "report-a.txt", question)
    (state,) = _state_files(root)
    with open(state, "r+b") as f:
        f.truncate(state.stat().st_size // 2)
    again = _ask(root, "report-a.txt", question)
    assert "dropping saved prompt state" in again["log"] and "truncated" in again["log"]
    assert "loaded the saved state" not in again["log"]
    assert again["answer"] == first["answer"]
    (state,) = _state_files(root)  # kept again, whole
    # Another n_ctx is another fingerprint, so another folder: nothing there is loaded.
    small = {"RAGMIX_LLM__N_CTX": "4096"}
    other = _ask(root, "report-a.txt", question, **small)
    assert "loaded the saved state" not in other["log"]
    (theirs,) = [f for f in _state_files(root) if f.parent != state.parent]
    # The 8K model's state copied into the 4K model's folder is detected and dropped.
    theirs.unlink()
    (theirs.parent / state.name).write_bytes(state.read_bytes())
    moved = _ask(root, "report-a.txt", question, **small)
    assert "loaded the saved state" not in moved["log"]
    assert "another model" in moved["log"]
    assert moved["answer"] == other["answer"]


@pytest.mark.slow
def test_reading_progress_streams_before_the_first_word(store_with_two_reports: Path) -> None:
    from ragmix import RagMix
    from ragmix.core.events import Reading, Token

    root = store_with_two_reports
    rm = RagMix.from_config(root / "profile.yaml", store={"path": str(root / "store")})
    events = list(rm.stream("第一段讲了什么？", docs=["report-long.txt"], mode="stuff"))
    first_word = next(i for i, e in enumerate(events) if isinstance(e, Token))
    reading = [(i, e) for i, e in enumerate(events) if isinstance(e, Reading)]
    assert reading and all(i < first_word for i, _ in reading)
    reads = [e.read for _, e in reading]
    # From (about) the start: at most the chat template's opening tokens are still in the
    # KV cache from an earlier prompt of this process; none of this document is.
    assert reads[0] < 16 and reads == sorted(reads) and len(reads) >= 3, reads
    last = reading[-1][1]
    assert last.read == last.total - 1  # the last token is decoded by generation
    assert last.total == events[-1].answer.tokens["prompt"]  # type: ignore[union-attr]
    assert reading[1][1].seconds_left is not None and reading[1][1].seconds_left > 0


@pytest.mark.slow
@pytest.mark.server
def test_llama_cpp_server_keeps_a_read_document_in_its_slot_across_restarts(
    store_with_two_reports: Path, tmp_path: Path
) -> None:
    from tests.servers import llama_cpp_server_binary, start_llama_cpp_server

    if not llama_cpp_server_binary():
        pytest.skip("llama.cpp's llama-server is not built: `make llama-server` builds it once "
                    "into ~/.cache/ragmix-wheels (or RAGMIX_LLAMA_SERVER, or PATH)")  # fmt: skip
    root = store_with_two_reports
    slot_dir = tmp_path / "slots"
    slot_dir.mkdir()

    def env(server: Any) -> dict[str, str]:
        return {"RAGMIX_LLM__BACKEND": "openai", "RAGMIX_LLM__BASE_URL": f"{server.url}/v1",
                "RAGMIX_LLM__MODEL": "smollm2",
                "RAGMIX_LLM__SERVER_SLOT_DIR": str(slot_dir)}  # fmt: skip

    server = start_llama_cpp_server(tmp_path, slot_dir)
    try:
        cold = _ask(root, "report-a.txt", "第一段讲了什么？", **env(server))
        assert "the model server kept the read state" in cold["log"], cold["log"][-2000:]
        (kept,) = slot_dir.glob("ragmix-*.bin")
        assert (slot_dir / f"{kept.name}.sha256").exists()
    finally:
        server.stop()
    server = start_llama_cpp_server(tmp_path, slot_dir)  # a new server: nothing in memory
    try:
        _ask(root, "report-b.txt", "这篇文档讲了什么？", **env(server))  # another document
        assert len(list(slot_dir.glob("ragmix-*.bin"))) == 2
        warm = _ask(root, "report-a.txt", "文中提到了哪些地方？", **env(server))
        assert "restored a read state of" in warm["log"], warm["log"][-2000:]
        ratio = warm["timings"]["first_token_s"] / cold["timings"]["first_token_s"]
        assert ratio < 0.5, (cold["timings"], warm["timings"])
        # A truncated file (llama.cpp's server aborts on one): ragmix finds it damaged,
        # deletes it and the document is read again; the server lives on.
        _ask(root, "report-b.txt", "这篇文档讲了什么？", **env(server))
        kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 3])
        again = _ask(root, "report-a.txt", "文中提到了哪些地方？", **env(server))
        assert "is damaged or unchecked: deleted" in again["log"]
        assert "restored a read state of" not in again["log"]
        assert again["answer"].strip() and "kept the read state" in again["log"]
        assert kept.stat().st_size > 3 * 1024 * 1024  # written whole again
        assert server.proc is not None and server.proc.poll() is None
    finally:
        server.stop()
