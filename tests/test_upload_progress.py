"""One display per upload (issue 14, item 6): per-file lines, a single bar, seconds left,
from the pipeline's events; the pipeline reports each embedding batch (fast; the real
packaged embedder, no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragmix.core.events import (
    Embedding,
    FileDone,
    FileFailed,
    FilesFound,
    FileStarted,
    IngestEvent,
    IngestState,
)
from ragmix.ui.progress import UploadTracker
from ragmix.ui.render import upload_progress

HOSTILE = "<img src=x onerror=alert(1)>.txt"


def _run(tracker: UploadTracker, events: list[tuple[float, IngestEvent]]) -> None:
    for at, event in events:
        tracker.apply(event, at)


def test_each_file_has_its_line_and_the_upload_one_bar() -> None:
    t = UploadTracker({"a.pdf": 10_000, "b.txt": 5_000, HOSTILE: 100, "d.pdf": 1})
    _run(t, [
        (0.0, FilesFound(4, ("a.pdf", "b.txt", HOSTILE, "d.pdf"))),
        (0.0, FileStarted("a.pdf")),
    ])  # fmt: skip
    html = upload_progress(t.state, "en", fraction=t.fraction, left=t.seconds_left(0.1))
    assert html.count("<progress") == 1 and html.count("<li") == 4
    assert "a.pdf</span> — reading…" in html and "b.txt</span> — waiting" in html
    assert "estimating time left…" in html and "0 of 4 files" in html
    # A hostile name is text, never markup.
    assert "&lt;img src=x onerror=alert(1)&gt;.txt</span> — waiting" in html
    assert "<img" not in html

    _run(t, [
        (0.5, Embedding("a.pdf", 0, 100)),
        (10.0, Embedding("a.pdf", 32, 100)),  # the first batch also loaded the model
        (11.0, Embedding("a.pdf", 64, 100)),  # 32 passages a second from here
    ])  # fmt: skip
    html = upload_progress(t.state, "en", fraction=t.fraction, left=t.seconds_left(11.0))
    assert "a.pdf</span> — indexing 64 of 100 passages" in html
    # Left: 36 of a.pdf, and b.txt at a.pdf's 100 passages per 10,000 bytes (50), the
    # others likewise (1 and 0.01): 87 passages at 32 a second.
    assert t.seconds_left(11.0) == (36 + 50 + 1 + 0.01) / 32
    assert "about 3 s left" in html
    assert t.seconds_left(12.0) == t.seconds_left(11.0) - 1  # counts down between events
    assert t.fraction == 64 / (64 + 87.01)
    assert re.search(r'<progress class="rm-upbar" value="0.424" max="1">', html)

    _run(t, [
        (12.0, Embedding("a.pdf", 100, 100)),
        (12.1, FileDone("a.pdf", "ingested", 120)),
        (12.2, FileStarted("b.txt")),
        (12.3, FileFailed("b.txt", "the file is empty (0 bytes): …", "empty_file")),
        (12.4, FileStarted(HOSTILE)),
        (12.5, FileDone(HOSTILE, "duplicate")),
    ])  # fmt: skip
    zh = upload_progress(t.state, "zh", fraction=t.fraction, left=t.seconds_left(12.5))
    assert "a.pdf</span> — 已添加 · 120 个段落" in zh
    assert "b.txt</span> — 失败：文件是空的（0 字节）" in zh and "bytes" not in zh
    assert "内容与已存文档相同" in zh and "3 / 4 个文件" in zh
    assert "d.pdf</span> — 等待中" in zh


def test_seconds_left_reads_well_in_both_languages() -> None:
    state = IngestState().apply(FilesFound(1, ("a",)))
    cases = [(None, "estimating time left…", "正在估算剩余时间……"),
             (42.4, "about 42 s left", "约剩 42 秒"),
             (125, "about 2 min 5 s left", "约剩 2 分 5 秒"),
             (0.2, "finishing…", "即将完成……")]  # fmt: skip
    for left, en, zh in cases:
        assert en in upload_progress(state, "en", fraction=0.5, left=left)
        assert zh in upload_progress(state, "zh", fraction=0.5, left=left)


def test_names_shown_are_the_names_the_browser_sent() -> None:
    state = IngestState.fold([FilesFound(1, ("report.pdf",)), FileStarted("report.pdf")])
    html = upload_progress(state, "en", fraction=0, left=None, shown={"report.pdf": "报告.pdf"})
    assert "报告.pdf</span> — reading…" in html


def test_no_estimate_before_a_rate_and_no_division_by_zero() -> None:
    t = UploadTracker({"a": 10})
    _run(t, [(0.0, FilesFound(1, ("a",))), (0.1, FileStarted("a")), (5.0, Embedding("a", 8, 9))])
    assert t.seconds_left(5.0) is None and t.rate(5.0) is None
    assert t.fraction == 8 / 9  # by passages once the first batch is in
    assert UploadTracker().fraction == 0.0


@pytest.mark.slow
def test_the_pipeline_reports_each_embedding_batch_and_the_passages_added(
    tmp_path: Path,
) -> None:
    from ragmix import RagMix

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "log.txt").write_text(
        "".join(f"Day {i}: the harbour crane lifted {i * 7} containers.\n\n" for i in range(300)),
        encoding="utf-8",
    )
    (docs / "empty.txt").write_bytes(b"")
    rm = RagMix.from_config(
        None,
        store={"path": str(tmp_path / "store")},
        embeddings={"batch_size": 8},
        chunking={"chunk_tokens": 48, "overlap_tokens": 8},
        ingest={"store_batch": 32},
    )
    events: list[IngestEvent] = []
    rm.ingest(docs, progress=events.append)
    found = events[0]
    assert isinstance(found, FilesFound) and found.names == ("empty.txt", "log.txt")
    n = rm.documents()[0].n_chunks
    assert n > 40
    counts = [e.done for e in events if isinstance(e, Embedding)]
    # Every batch of 8 is reported, across store batches of 32; nothing is reported twice.
    assert counts == [0, *range(8, n, 8), n]
    done = [e for e in events if isinstance(e, FileDone)]
    assert done == [FileDone("log.txt", "ingested")] and done[0].chunks == n
    state = IngestState.fold(events)
    assert list(state.files) == ["empty.txt", "log.txt"]
    assert state.files["log.txt"].chunks == n and state.files["log.txt"].status == "ingested"
    failure = state.files["empty.txt"].failure
    assert failure is not None and failure.code == "empty_file"
