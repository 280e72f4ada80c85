"""The ingest pipeline end to end: real Chroma on disk, the real packaged embedder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragmix.core.events import Embedding, FilesFound, IngestEvent, IngestState
from tests.fixtures import (
    SIMPLIFIED,
    make_binary_junk_txt,
    make_chinese_pdf,
    make_docx,
    make_empty,
    make_encrypted_pdf,
    make_gbk_txt,
    make_html,
    make_scanned_pdf,
    make_truncated_pdf,
    make_utf16_txt,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "第一章 公司概况\n江南公司成立于二〇一二年。总部位于苏州工业园区。",
    "第二章 财务数据\n报告期内营业收入为十八亿元。净利润同比增长百分之三十一。",
    "第三章 风险提示\n客户集中度较高。原材料价格存在波动风险。",
]


def good_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_chinese_pdf(folder / "report.pdf", PAGES)
    make_gbk_txt(folder / "suzhou-gbk.txt")
    (folder / "sub").mkdir()
    make_utf16_txt(folder / "sub" / "utf16.txt")
    make_docx(
        folder / "memo.docx",
        ["会议纪要：下周一开会。", "Budget approved."],
        [["项目", "金额"], ["设备", "120 万元"]],
    )
    make_html(folder / "page.html")
    (folder / "notes.md").write_text("# Notes\n\nThe warranty lasts two years. Keep the receipt.\n")
    return folder


def state(rm) -> dict:  # type: ignore[no-untyped-def]
    """Everything that must agree: documents, chunk ids in catalog, BM25 and Chroma."""
    rm.refresh(force=True)  # server mode: what the server holds now
    cat = rm.catalog
    return {
        "docs": sorted((d.name, d.aliases, d.doc_id, d.n_chunks) for d in cat.documents()),
        "catalog_chunks": sorted(cat.chunk_ids(dense_only=True)),
        "all_chunks": sorted(cat.chunk_ids()),
        "chroma_chunks": sorted(rm.vectors.iter_ids()),
        "fts": cat.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0],
        "sources": sorted(r[0] for r in cat.conn.execute("SELECT name FROM sources")),
        "states": sorted({r[0] for r in cat.conn.execute("SELECT state FROM documents")}),
        "problems": cat.check(),
    }


def test_ingest_folder_pages_offsets_and_metadata(rm, tmp_path: Path) -> None:
    docs = good_corpus(tmp_path / "docs")
    summary = rm.ingest(docs)
    assert summary.ok, summary.failed
    assert (summary.files_seen, summary.ingested, summary.duplicates) == (6, 6, 0)
    names = [d.name for d in rm.documents()]
    assert names == [
        "memo.docx",
        "notes.md",
        "page.html",
        "report.pdf",
        "sub/utf16.txt",
        "suzhou-gbk.txt",
    ]
    report = rm.find("report.pdf")
    assert report.n_pages == 3
    text = rm.catalog.text(report.doc_id)
    rows = rm.catalog.conn.execute(
        'SELECT chunk_id, page, start, "end", text FROM chunks WHERE doc_id = ? ORDER BY idx',
        (report.doc_id,),
    ).fetchall()
    for _cid, page, start, end, chunk in rows:
        assert text[start:end] == chunk
        assert page is not None
    # every page's first line lands on that page
    starts = rm.catalog.page_starts(report.doc_id)
    for i, page_text in enumerate(PAGES, 1):
        off = text.index(page_text.split("\n")[1][:8])
        assert sum(1 for s in starts if s <= off) == i
    # no chunk crosses a page: each cites exactly one page
    assert [r[1] for r in rows] == [1, 2, 3]
    # the multilingual default embedder embeds the Chinese chunks too ...
    assert rm.vectors._collection.get(ids=[rows[0][0]])["ids"] == [rows[0][0]]
    # ... and Chroma holds the same metadata as the catalog
    notes = rm.find("notes.md")
    cid, start = rm.catalog.conn.execute(
        "SELECT chunk_id, start FROM chunks WHERE doc_id = ? AND idx = 0", (notes.doc_id,)
    ).fetchone()
    meta = rm.vectors._collection.get(ids=[cid], include=["metadatas"])["metadatas"][0]
    assert meta["source"] == "notes.md" and meta["doc_id"] == notes.doc_id
    assert meta["start"] == start and "page" not in meta
    # the GBK file is correct Chinese in the store
    gbk = rm.find("suzhou-gbk.txt")
    assert SIMPLIFIED[:40] in rm.catalog.text(gbk.doc_id)
    s = state(rm)
    assert s["catalog_chunks"] == s["chroma_chunks"] and s["fts"] == len(s["all_chunks"])
    assert len(s["all_chunks"]) == len(s["catalog_chunks"]) > 0  # every chunk has a vector
    assert s["problems"] == []


def test_reingest_changes_duplicates_and_sync(rm, tmp_path: Path) -> None:
    docs = good_corpus(tmp_path / "docs")
    first = rm.ingest(docs)
    before = state(rm)
    again = rm.ingest(docs)
    assert (again.ingested, again.skipped_unchanged, again.chunks_added, again.chunks_removed) == (
        0,
        6,
        0,
        0,
    )
    assert state(rm) == before

    # same content under a second name: counted, not stored twice, known by both names
    shutil.copy(docs / "notes.md", docs / "notes-copy.md")
    dup = rm.ingest(docs)
    assert (dup.duplicates, dup.ingested, dup.chunks_added) == (1, 0, 0)
    assert len(rm.documents()) == 6
    notes = rm.find("notes-copy.md")
    assert (notes.name, notes.aliases) == ("notes.md", ("notes-copy.md",))

    # a changed file replaces its chunks in both indexes
    old_id = rm.find("page.html").doc_id
    old_chunks = set(rm.catalog.chunk_ids(old_id))
    time.sleep(0.01)
    (docs / "page.html").write_text(
        "<html><body><p>Completely new text about tea.</p></body></html>"
    )
    changed = rm.ingest(docs)
    assert changed.ingested == 1 and changed.chunks_removed == len(old_chunks)
    new_id = rm.find("page.html").doc_id
    assert new_id != old_id
    s = state(rm)
    assert not old_chunks & set(s["chroma_chunks"]) and not old_chunks & set(s["catalog_chunks"])
    assert rm.catalog.bm25(["tea"], 5)[0][0].startswith(new_id)

    # --sync: a deleted file's document goes; a document still named by another file stays,
    # under that name only
    (docs / "memo.docx").unlink()
    (docs / "notes.md").unlink()
    synced = rm.ingest(docs, sync=True)
    names = [n for d in rm.documents() for n in d.names]
    assert "memo.docx" not in names and "notes.md" not in names
    assert rm.find("notes-copy.md").doc_id == notes.doc_id  # notes-copy.md keeps it
    assert synced.chunks_removed > 0
    s = state(rm)
    assert s["catalog_chunks"] == s["chroma_chunks"] and s["problems"] == []
    assert first.chunks_added - sum(d[3] for d in before["docs"]) == 0


def test_broken_files_are_reported_and_the_rest_ingested(rm, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("A good file about espresso machines.\n")
    make_scanned_pdf(docs / "scan.pdf")
    make_encrypted_pdf(docs / "locked.pdf")
    make_truncated_pdf(docs / "cut.pdf")
    make_empty(docs / "empty.txt")
    make_binary_junk_txt(docs / "junk.txt")
    (docs / "drawing.svg").write_text("<svg/>")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # cut off: not readable
    events: list[IngestEvent] = []
    summary = rm.ingest(docs, progress=events.append)
    assert summary.ingested == 1
    failed = {f.path: f.error for f in summary.failed}
    assert set(failed) == {
        "scan.pdf", "locked.pdf", "cut.pdf", "empty.txt", "junk.txt", "image.png"
    }  # fmt: skip
    assert "not a readable image" in failed["image.png"]
    assert "OCR" in failed["scan.pdf"] and "password" in failed["locked.pdf"].lower()
    assert "empty" in failed["empty.txt"].lower()
    assert summary.unsupported == ["drawing.svg"]
    assert [d.name for d in rm.documents()] == ["good.md"]
    # The progress events tell the same story as the summary, file by file.
    assert events[0] == FilesFound(8)
    state = IngestState.fold(events)
    assert (state.files_total, state.files_done, state.fraction) == (8, 8, 1.0)
    assert dict(state.failed) == failed
    assert dict(state.statuses) == {
        "good.md": "ingested",
        "drawing.svg": "unsupported",
        **{name: "failed" for name in failed},
    }
    good = rm.documents()[0].n_chunks
    assert (state.chunks_total, state.chunks_embedded) == (good, good)  # English: all embedded
    assert [e for e in events if isinstance(e, Embedding)][-1] == Embedding("good.md", good, good)
    again: list[IngestEvent] = []
    rm.ingest(docs, progress=again.append)
    assert IngestState.fold(again).statuses["good.md"] == "unchanged"
    assert not any(isinstance(e, Embedding) for e in again)


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_cli_json_contract_and_exit_codes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Alpha beta gamma. Delta epsilon.\n")
    make_empty(docs / "empty.txt")
    store = tmp_path / "store"
    run = _cli("ingest", str(docs), "--store", str(store), "--json")
    assert run.returncode == 1, run.stderr
    out = json.loads(run.stdout)
    assert set(out) == {
        "files_seen",
        "ingested",
        "skipped_unchanged",
        "duplicates",
        "failed",
        "unsupported",
        "chunks_added",
        "chunks_removed",
        "repaired",
        "reembedded",
        "seconds",
    }
    assert out["ingested"] == 1 and out["failed"][0]["path"] == "empty.txt"
    assert "Traceback" not in run.stderr
    (docs / "empty.txt").unlink()
    ok = _cli("ingest", str(docs), "--store", str(store), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["skipped_unchanged"] == 1
    assert _cli("ingest").returncode == 2
    bad = _cli("ingest", str(docs), "--config", str(tmp_path / "nope.yaml"))
    assert bad.returncode == 2 and "nope.yaml" in bad.stderr and "Traceback" not in bad.stderr
    listed = _cli("docs", "list", "--store", str(store), "--json")
    assert [d["name"] for d in json.loads(listed.stdout)] == ["a.md"]
    gone = _cli("docs", "delete", "a.md", "--store", str(store))
    assert gone.returncode == 0
    assert json.loads(_cli("docs", "list", "--store", str(store), "--json").stdout) == []
    missing = _cli("docs", "delete", "a.md", "--store", str(store))
    assert missing.returncode == 1 and "no document named" in missing.stderr


def test_second_writer_stops_at_once(rm, tmp_path: Path) -> None:
    from ragmix.store.stores import writer_lock

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Some text.\n")
    with writer_lock(rm.store.root):
        t0 = time.perf_counter()
        run = _cli("ingest", str(docs), "--store", str(rm.store.root), timeout=60)
        elapsed = time.perf_counter() - t0
    assert run.returncode == 1
    assert "another ragmix process" in run.stderr and str(os.getpid()) in run.stderr
    assert elapsed < 30  # returned instead of waiting for the lock
    assert rm.ingest(docs).ingested == 1  # and the store is usable afterwards


def _crash_corpus(docs: Path) -> None:
    docs.mkdir(exist_ok=True)
    (docs / "a.md").write_text("Document A. " + "Alpha filler sentence here. " * 120)
    (docs / "b.md").write_text("Document B. " + "Beta filler sentence here. " * 30)


def _change_corpus(docs: Path) -> None:
    (docs / "a.md").write_text("Document A, second edition. " + "Gamma sentence. " * 90)
    (docs / "b.md").unlink()


def _clean_states(tmp_path: Path) -> tuple[dict, dict]:
    from ragmix import RagMix

    docs = tmp_path / "clean-docs"
    _crash_corpus(docs)
    clean = RagMix.from_config(None, store={"path": str(tmp_path / "clean")})
    clean.ingest(docs)
    first = state(clean)
    _change_corpus(docs)
    clean.ingest(docs, sync=True)
    return first, state(clean)


def test_crash_at_every_step_converges(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Stop the writer in every gap of the write protocol (first ingest, then a change with
    --sync); each re-run must equal an uninterrupted run. In-process, so it can try them all."""
    from ragmix import RagMix
    from ragmix.core import faults

    want_first, want_second = _clean_states(tmp_path)
    monkeypatch.setattr(faults, "crash_mode", "raise")
    for phase, want in (("first", want_first), ("second", want_second)):
        step = 0
        while True:
            step += 1
            docs, store = tmp_path / f"{phase}{step}-docs", tmp_path / f"{phase}{step}"
            _crash_corpus(docs)
            if phase == "second":
                RagMix.from_config(None, store={"path": str(store)}).ingest(docs)
                _change_corpus(docs)
            monkeypatch.setattr(faults, "steps_taken", 0)
            monkeypatch.setattr(faults, "crash_after", step)
            try:
                RagMix.from_config(None, store={"path": str(store)}).ingest(docs, sync=True)
                crashed = False
            except faults.SimulatedCrash:
                crashed = True
            monkeypatch.setattr(faults, "crash_after", 0)
            rerun = RagMix.from_config(None, store={"path": str(store)})
            assert rerun.ingest(docs, sync=True).ok
            assert state(rerun) == want, f"{phase} phase, crash at step {step}"
            if not crashed:
                break
        assert step > 4, f"{phase} phase passed only {step} checkpoints"


def test_sigkill_mid_run_converges(tmp_path: Path) -> None:
    """Real SIGKILLs of a `ragmix ingest` process at chosen points, then a re-run."""
    from ragmix import RagMix

    want_first, _ = _clean_states(tmp_path)
    for step in (1, 2, 5):  # after the pending commit, after vectors, inside the second file
        docs, store = tmp_path / f"k{step}-docs", tmp_path / f"k{step}"
        _crash_corpus(docs)
        run = _cli(
            "ingest",
            str(docs),
            "--store",
            str(store),
            "--json",
            env={"RAGMIX_CRASH_AFTER": str(step)},
        )
        assert run.returncode == -9, (step, run.returncode, run.stderr[-500:])
        rerun = _cli("ingest", str(docs), "--store", str(store), "--json")
        assert rerun.returncode == 0, rerun.stderr
        assert state(RagMix.from_config(None, store={"path": str(store)})) == want_first


def test_the_next_file_is_read_ahead_and_a_change_meanwhile_is_read_again(
    rm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """While one file is embedded the next new one is read and split in a worker thread;
    a file that changes after it was read ahead is read again at its turn, so what is
    stored is always the file as it is then. A broken file read ahead fails at its turn
    and the rest go on."""
    import threading

    from ragmix.ingest.pipeline import Pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("第一份文件讲的是仓库的面积和存放的货物。" * 30, encoding="utf-8")
    (folder / "b.txt").write_text("第二份文件原来的内容。" * 30, encoding="utf-8")
    (folder / "c.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (folder / "d.txt").write_text("第四份文件讲的是铁路。" * 30, encoding="utf-8")
    ahead: list[str] = []
    real = Pipeline._prepare

    def prepare(self: Pipeline, file: Path, name: str, doc_id: str | None = None):  # type: ignore[no-untyped-def]
        out = real(self, file, name, doc_id)
        if threading.current_thread().name.startswith("ragmix-read-ahead"):
            ahead.append(file.name)
            if file.name == "b.txt":  # changed after it was read ahead
                file.write_text("第二份文件后来改写的内容。" * 30, encoding="utf-8")
        return out

    monkeypatch.setattr(Pipeline, "_prepare", prepare)
    summary = rm.ingest(folder)
    assert "b.txt" in ahead and "d.txt" in ahead  # read while the file before was embedded
    assert summary.ingested == 3 and [f.path for f in summary.failed] == ["c.pdf"]
    by_name = {d.name: d.doc_id for d in rm.documents()}
    assert rm.catalog.text(by_name["b.txt"]).startswith("第二份文件后来改写的内容。")
    # Its vectors too: the embedding started when it was read ahead was dropped, not stored.
    rows = rm.catalog.query(
        "SELECT chunk_id, text FROM chunks WHERE doc_id = ? ORDER BY idx", (by_name["b.txt"],)
    )
    got = rm.vectors._collection.get(ids=[r[0] for r in rows], include=["embeddings"])
    vec = dict(zip(got["ids"], got["embeddings"], strict=True))
    want = rm.embeddings.embed_documents([r[1] for r in rows[:1]])  # the first: no overlap
    assert list(vec[rows[0][0]]) == pytest.approx(want[0], abs=1e-6)
    again = rm.ingest(folder)
    assert again.ingested == 0 and again.skipped_unchanged == 3  # b's record is its new state
