"""The lexical engine behind the catalog (tantivy beside FTS5) and Traditional Chinese matched
as Simplified: what a search finds, after crashes between the two commits, after the index is
lost or from another version, and for a reader. Real SQLite files, a real tantivy index."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from ragmix.core.schema import Chunk
from ragmix.core.text import lexical_tokens, to_simplified
from ragmix.store import lexical
from ragmix.store.catalog import Catalog

DOCS = {
    "tea": ["碧螺春产于太湖东山和西山", "采摘期在春分到谷雨之间"],
    "taipei": ["臺北市的捷運系統自一九九六年通車", "夜市販賣蚵仔煎和珍珠奶茶"],
    "lamp": ["The lamp runs for eight hours", "Clean the lens with a dry cloth"],
}


def _add(cat: Catalog, doc_id: str, texts: list[str], state: str = "ready") -> None:
    chunks, at = [], 0
    for i, t in enumerate(texts):
        chunks.append(Chunk(i, t, at, at + len(t), 3))
        at += len(t)
    with cat.transaction() as conn:
        cat.add_pending(conn, doc_id=doc_id, name=f"{doc_id}.txt", kind="txt",
                        text="".join(texts), page_starts=None, chunks=chunks,
                        lexical=[lexical_tokens(t) for t in texts], tokens={})  # fmt: skip
        cat.set_state(conn, doc_id, state)


def _remove(cat: Catalog, doc_id: str) -> None:
    with cat.transaction() as conn:
        cat.remove(conn, doc_id)


def _top(cat: Catalog, question: str, k: int = 3) -> list[str]:
    return [c for c, _ in cat.bm25(lexical_tokens(question), k)]


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    c = Catalog(tmp_path / "catalog.sqlite3")
    for doc_id, texts in DOCS.items():
        _add(c, doc_id, texts)
    return c


def test_tantivy_finds_what_fts5_finds(cat: Catalog) -> None:
    assert cat._engine_ready() is not None  # the engine answers, not the FTS5 fallback
    for q, want in [
        ("太湖的碧螺春", "tea-000000"), ("how long does the lamp run", "lamp-000000"),
        ("dry cloth lens", "lamp-000001"), ("珍珠奶茶在哪里卖", "taipei-000001"),
    ]:  # fmt: skip
        got = _top(cat, q)
        cat.lexical = "fts5"
        before = _top(cat, q)
        cat.lexical = "tantivy"
        assert got[0] == want == before[0], (q, got, before)
        assert set(got) == set(before)
    assert _top(cat, "碧螺春", 3) == ["tea-000000"]
    assert [c for c, _ in cat.bm25(["lamp"], 5, ["tea"])] == []  # within some documents
    assert [c for c, _ in cat.bm25(["lamp"], 5, ["lamp", "tea"])] == ["lamp-000000"]
    # the ceiling (a chunk of average length holding each term once) and the scores are
    # FTS5's, whichever engine found the chunks: the fusion reads the same numbers
    assert cat.bm25_ceiling(["lamp", "lens"]) == pytest.approx(2 * lexical.fts5_idf(6, 1))
    for q in ["how long does the lamp run", "太湖的碧螺春", "臺北夜市"]:
        found = cat.bm25(lexical_tokens(q), 5)
        cat.lexical = "fts5"
        before = cat.bm25(lexical_tokens(q), 5)
        cat.lexical = "tantivy"
        assert [c for c, _ in found] == [c for c, _ in before], q
        assert [s for _, s in found] == pytest.approx([s for _, s in before], rel=1e-9), q
    assert cat.check() == []


def test_documents_not_ready_never_take_a_ready_ones_place(cat: Catalog) -> None:
    _add(cat, "pending", ["lamp lamp lamp lamp"] * 4, "pending")
    _add(cat, "deleting", ["lamp lamp lamp"] * 3, "deleting")
    assert _top(cat, "lamp", 1) == ["lamp-000000"]


def test_a_crash_between_the_two_commits_is_replayed_by_the_next_writer(
    cat: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks commit in SQLite, then the process dies before tantivy commits: the
    journal (written in the SQLite transaction) brings the index up to date when the catalog
    is next opened; a removal is replayed the same way, and replaying twice changes nothing."""

    def die(self: object, ops: object) -> None:
        raise KeyboardInterrupt("killed between the commits")

    monkeypatch.setattr(lexical.LexicalIndex, "apply", die)
    with pytest.raises(KeyboardInterrupt):
        _add(cat, "bridge", ["这座石拱桥全长五十米，共有七个桥洞"])
    with pytest.raises(KeyboardInterrupt):
        _remove(cat, "tea")
    monkeypatch.undo()
    stamp = cat.get_meta("lexical_stamp")
    cat.close()
    assert _journal(tmp_path) > 0

    again = Catalog(tmp_path / "catalog.sqlite3")
    assert _journal(tmp_path) == 0
    assert again.get_meta("lexical_stamp") == stamp  # replayed, not rebuilt
    assert _top(again, "石拱桥有几个桥洞") == ["bridge-000000"]
    assert _top(again, "太湖的碧螺春") == []
    assert again.check() == []
    engine = again._engine
    assert engine is not None and engine.count() == 5
    (rowid, tokens), = again.query(
        "SELECT c.rowid, f.tokens FROM chunks c JOIN chunks_fts f ON f.rowid = c.rowid"
        " WHERE c.chunk_id = 'bridge-000000'"
    )
    engine.apply([(rowid, "bridge", tokens), (rowid, "bridge", tokens)])  # replayed twice
    engine.apply([(rowid, "bridge", tokens)])
    assert engine.count() == 5 and _top(again, "石拱桥有几个桥洞") == ["bridge-000000"]


def test_a_lost_or_foreign_index_is_rebuilt_and_repair_reports_it(cat: Catalog, tmp_path: Path) -> None:  # noqa: E501
    folder = cat.lexical_folder
    cat.close()
    shutil.rmtree(folder)
    again = Catalog(tmp_path / "catalog.sqlite3")  # rebuilt on open, from the FTS5 table
    assert _top(again, "珍珠奶茶") == ["taipei-000001"] and again.check() == []
    # another catalog's index in its place (a catalog moved aside by --repair): not trusted
    (folder / "ragmix-stamp").write_text("someone else")
    third = Catalog(tmp_path / "catalog.sqlite3")
    assert (folder / "ragmix-stamp").read_text() == third.get_meta("lexical_stamp")
    assert _top(third, "珍珠奶茶") == ["taipei-000001"]
    # entries lost behind the catalog's back: check() says so, a rebuild (--repair) mends it
    third._engine.rebuild([], third.get_meta("lexical_stamp") or "")  # type: ignore[union-attr]
    assert any("lexical search index" in p for p in third.check())
    assert third.rebuild_lexical() == 6 and third.check() == []
    assert _top(third, "珍珠奶茶") == ["taipei-000001"]


def test_a_reader_uses_the_index_and_falls_back_to_fts5_while_it_lags(
    cat: Catalog, tmp_path: Path
) -> None:
    reader = Catalog(tmp_path / "catalog.sqlite3", readonly=True)
    assert reader._engine_ready() is not None and _top(reader, "碧螺春") == ["tea-000000"]
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as raw:  # a writer not replayed yet
        raw.execute("INSERT INTO lexical_log (chunk) VALUES (1)")
    assert reader._engine_ready() is None and _top(reader, "碧螺春") == ["tea-000000"]


def test_fts5_setting_keeps_the_old_engine(tmp_path: Path) -> None:
    c = Catalog(tmp_path / "catalog.sqlite3", lexical="fts5")
    _add(c, "lamp", DOCS["lamp"])
    assert c._engine is None and not c.lexical_folder.exists()
    assert _top(c, "dry cloth") == ["lamp-000001"]


# -- Traditional Chinese --------------------------------------------------------------------------
def test_traditional_is_matched_as_simplified_and_stored_as_written(cat: Catalog) -> None:
    assert to_simplified("臺北市的捷運系統") == "台北市的捷运系统"
    assert to_simplified("The lamp, 2024") == "The lamp, 2024"
    assert lexical_tokens("臺北捷運") == lexical_tokens("台北捷运")
    assert _top(cat, "台北的捷运是哪一年通车的") == ["taipei-000000"]  # Simplified question
    assert _top(cat, "臺北的捷運是哪一年通車的") == ["taipei-000000"]  # Traditional question
    assert _top(cat, "碧螺春產於哪裡") == ["tea-000000"]  # Traditional question, Simplified text
    stored = cat.passages(["taipei-000000"])["taipei-000000"].text
    assert stored == DOCS["taipei"][0]  # the text is kept as written


def test_a_store_indexed_before_t2s_is_reindexed_on_open(cat: Catalog, tmp_path: Path) -> None:
    """A catalog of the previous tokenizer (Traditional cut by jieba as it is) rebuilds its
    index from the stored texts when next opened for writing."""
    with cat.transaction() as conn:
        for rowid, text in conn.execute("SELECT rowid, text FROM chunks").fetchall():
            conn.execute("UPDATE chunks_fts SET tokens = ? WHERE rowid = ?",
                         (" ".join(text.split()), rowid))  # fmt: skip
        cat.set_meta(conn, "lexical_version", "2-lcut-bigrams")
    cat._rebuild_engine()
    cat.lexical = "fts5"
    assert _top(cat, "台北的捷运") == []  # the old index cannot match it
    cat.close()
    again = Catalog(tmp_path / "catalog.sqlite3")
    assert _top(again, "台北的捷运") == ["taipei-000000"]
    again.lexical = "fts5"
    assert _top(again, "台北的捷运") == ["taipei-000000"]


def _journal(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as raw:
        return int(raw.execute("SELECT count(*) FROM lexical_log").fetchone()[0])
