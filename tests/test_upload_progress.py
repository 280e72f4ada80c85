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
    PagesRead,
)
from ragmix.ui.progress import OCR_SHARE, UploadTracker
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
    # The bar weighs each file by its bytes: 64% of a.pdf's 10,000 of 15,101 bytes.
    assert t.fraction == 10_000 * 0.64 / 15_101
    assert re.search(r'<progress class="rm-upbar" value="0.424" max="1">', html)
    # One second of measuring is not enough for a time left.
    assert t.seconds_left(11.0) is None and "estimating time left…" in html
    _run(t, [(13.0, Embedding("a.pdf", 96, 100))])
    # From 10 s to 13 s the bar went from 32% to 96% of a.pdf: its rate gives the rest.
    f0, f1 = 10_000 * 0.32 / 15_101, 10_000 * 0.96 / 15_101
    assert t.seconds_left(13.0) == pytest.approx((1 - f1) / ((f1 - f0) / 3))
    html = upload_progress(t.state, "en", fraction=t.fraction, left=t.seconds_left(13.0))
    assert "about 3 s left" in html
    assert t.seconds_left(14.0) == pytest.approx(t.seconds_left(13.0) - 1)  # counts down

    _run(t, [
        (13.05, Embedding("a.pdf", 100, 100)),
        (13.1, FileDone("a.pdf", "ingested", 120)),
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
    assert t.fraction == pytest.approx(8 / 9)  # by passages once the first batch is in
    assert UploadTracker().fraction == 0.0


def test_the_bar_only_moves_forward_and_the_time_left_waits_for_a_measure() -> None:
    """Issue 27, item 6: the upload that showed 14% → 2% → 6% → 3% → 64% and 59 s → 5 min
    25 s → 6 s: a small file embedded first, then a large one split late."""
    t = UploadTracker({"small.txt": 1_000, "big.pdf": 99_000})
    events: list[tuple[float, IngestEvent]] = [
        (0.0, FilesFound(2, ("small.txt", "big.pdf"))),
        (0.1, FileStarted("small.txt")),
        (1.0, Embedding("small.txt", 0, 4)),
        (2.0, Embedding("small.txt", 4, 4)),
        (2.1, FileDone("small.txt", "ingested", 4)),
        (2.2, FileStarted("big.pdf")),
        (6.0, Embedding("big.pdf", 0, 400)),
        (7.0, Embedding("big.pdf", 32, 400)),
    ] + [(7.0 + i, Embedding("big.pdf", 32 + 32 * i, 400)) for i in range(1, 12)]
    shown, lefts = [], []
    for at, event in events:
        t.apply(event, at)
        shown.append(t.fraction)
        lefts.append((at, t.seconds_left(at)))
    assert shown == sorted(shown) and shown[-1] == pytest.approx((1_000 + 99_000 * 0.96) / 100_000)
    # No time left after the first, tiny file alone (under 3 s and 5% measured).
    assert all(left is None for at, left in lefts if at < 5.0)
    measured = [left for at, left in lefts if left is not None]
    assert measured and all(b <= a + 1.0 for a, b in zip(measured, measured[1:], strict=False))


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


def test_a_file_read_by_ocr_shows_its_pages_and_moves_the_bar_page_by_page() -> None:
    """Issue 26: the page shows OCR's per-page progress (the CLI's ``PagesRead``) under the
    file's line, and the bar advances with each page, before any passage is embedded."""
    t = UploadTracker({"scan.pdf": 50_000, "a.txt": 50_000})
    _run(t, [(0.0, FilesFound(2, ("scan.pdf", "a.txt"))), (0.1, FileStarted("scan.pdf")),
             (0.2, PagesRead("scan.pdf", 0, 4))])  # fmt: skip
    html = upload_progress(t.state, "en", fraction=t.fraction, left=t.seconds_left(0.2))
    assert "scan.pdf</span> — reading by OCR: page 1 of 4" in html
    assert t.fraction == 0.0
    bars = [t.fraction]
    for page in (1, 2, 3, 4):  # 3 s a page; the first also loaded the OCR models
        _run(t, [(5.0 + 3 * page, PagesRead("scan.pdf", page, 4))])
        bars.append(t.fraction)
    assert bars == sorted(bars) and len(set(bars)) == 5
    # Half the upload's bytes, OCR's share of that file: 0.5 * 0.9 once every page is read.
    assert t.fraction == pytest.approx(0.5 * OCR_SHARE)
    zh = upload_progress(t.state, "zh", fraction=t.fraction, left=t.seconds_left(17.0))
    assert "scan.pdf</span> — 文字识别（OCR）完成：4 / 4 页" in zh
    # Pages read at a measured rate give a time left before any passage is embedded.
    assert t.seconds_left(17.0) is not None
    mid = UploadTracker({"scan.pdf": 1}).state.apply(FilesFound(1, ("scan.pdf",)))
    mid = mid.apply(PagesRead("scan.pdf", 2, 5))
    assert "第 3 / 5 页" in upload_progress(mid, "zh", fraction=0.3, left=None)
    # Then its passages are embedded: the bar goes on from OCR's share, never back.
    _run(t, [(18.0, Embedding("scan.pdf", 0, 10)), (19.0, Embedding("scan.pdf", 5, 10))])
    assert t.fraction == pytest.approx(0.5 * (OCR_SHARE + (1 - OCR_SHARE) * 0.5))
    html = upload_progress(t.state, "en", fraction=t.fraction, left=None)
    assert "scan.pdf</span> — indexing 5 of 10 passages" in html
