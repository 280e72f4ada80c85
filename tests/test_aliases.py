"""Every name a document was ingested under, through the CLI: identical files are one
document with several names, and each name works for `ask --doc`, `docs list`, `docs delete`
and `ingest --sync`. Real store on disk, real Chroma, the packaged embedder.

Most commands run through ``ragmix.cli.main`` in this process (the same parse, call and render
as the `ragmix` command, with the models loaded once); one runs as a real subprocess.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from ragmix.cli.main import main
from tests.test_ingest import _cli, state

pytestmark = pytest.mark.slow

TEA = "# Tea\n\nGreen tea is picked in spring and dried the same day. Steep it for two minutes.\n"
COFFEE = "# Coffee\n\nThe espresso machine needs descaling every three months.\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], store: Path) -> dict[str, dict[str, Any]]:
    code, out, err = run(capsys, "docs", "list", "--store", str(store), "--json")
    assert code == 0, err
    return {d["name"]: d for d in json.loads(out)}


def sources_of(capsys: pytest.CaptureFixture[str], store: Path, doc: str) -> set[str]:
    code, out, err = run(
        capsys, "ask", "How long do I steep the tea?", "--doc", doc, "--mode", "search",
        "--json", "--store", str(store),
    )  # fmt: skip
    assert code == 0, err
    return {s["source"] for s in json.loads(out)["sources"]}


def tea_folder(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    for name in ("a.md", "b.md", "sub/c.md"):
        (folder / name).write_text(TEA)
    (folder / "coffee.md").write_text(COFFEE)
    return folder


def test_every_name_lists_and_answers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    docs, store = tea_folder(tmp_path / "docs"), tmp_path / "store"
    code, out, err = run(capsys, "ingest", str(docs), "--store", str(store), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["ingested"], summary["duplicates"]) == (2, 2)

    docs_json = listed(capsys, store)
    assert set(docs_json) == {"a.md", "coffee.md"}  # the tea document once
    assert docs_json["a.md"]["aliases"] == ["b.md", "sub/c.md"]
    assert docs_json["coffee.md"]["aliases"] == []
    code, text, _ = run(capsys, "docs", "list", "--store", str(store))
    assert "also: b.md, sub/c.md" in text and text.count("a.md") == 1

    for name in ("a.md", "b.md", "sub/c.md", "c.md"):  # c.md: the file-name part of a name
        assert sources_of(capsys, store, name) == {"a.md"}, name
    # and as a real `ragmix` process
    proc = _cli("ask", "steep", "--doc", "sub/c.md", "--mode", "search", "--json",
                "--store", str(store))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {s["source"] for s in json.loads(proc.stdout)["sources"]} == {"a.md"}


def test_delete_takes_one_name_and_the_last_takes_the_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ragmix import RagMix

    docs, store = tea_folder(tmp_path / "docs"), tmp_path / "store"
    assert run(capsys, "ingest", str(docs), "--store", str(store), "--json")[0] == 0
    tea_id = listed(capsys, store)["a.md"]["doc_id"]

    code, out, _ = run(capsys, "docs", "delete", "b.md", "--store", str(store))
    assert (
        code == 0 and out.strip() == "removed the name b.md; the document stays as a.md, sub/c.md"
    )
    assert listed(capsys, store)["a.md"]["aliases"] == ["sub/c.md"]
    code, _, err = run(
        capsys, "ask", "tea", "--doc", "b.md", "--mode", "search", "--store", str(store)
    )
    assert code == 1 and "no document named 'b.md'" in err

    # the display name goes: the document is listed under the next one
    code, out, _ = run(capsys, "docs", "delete", "a.md", "--store", str(store))
    assert code == 0 and out.strip() == "removed the name a.md; the document stays as sub/c.md"
    after = listed(capsys, store)
    assert after["sub/c.md"]["doc_id"] == tea_id and after["sub/c.md"]["aliases"] == []
    assert sources_of(capsys, store, "sub/c.md") == {"sub/c.md"}  # citations follow

    code, out, _ = run(capsys, "docs", "delete", "c.md", "--store", str(store))
    assert code == 0 and out.strip() == "deleted sub/c.md (1 chunks)"
    assert set(listed(capsys, store)) == {"coffee.md"}
    s = state(RagMix.from_config(None, store={"path": str(store)}))
    assert not [c for c in s["all_chunks"] if c.startswith(tea_id)]
    assert s["catalog_chunks"] == s["chroma_chunks"] and s["problems"] == []

    # a later ingest of the folder gives the names back (the files are still there)
    code, out, _ = run(capsys, "ingest", str(docs), "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["ingested"] == 1
    assert listed(capsys, store)["a.md"]["aliases"] == ["b.md", "sub/c.md"]

    # by id: the document with every name
    code, out, _ = run(capsys, "docs", "delete", tea_id, "--store", str(store))
    assert code == 0 and out.strip() == "deleted a.md (1 chunks)"
    assert set(listed(capsys, store)) == {"coffee.md"}


def test_a_file_name_shared_by_two_names_is_not_guessed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    docs, store = tmp_path / "docs", tmp_path / "store"
    for folder in ("x", "y"):
        (docs / folder).mkdir(parents=True)
        (docs / folder / "notes.md").write_text(TEA)
    assert run(capsys, "ingest", str(docs), "--store", str(store))[0] == 0
    code, _, err = run(capsys, "docs", "delete", "notes.md", "--store", str(store))
    assert code == 1 and "x/notes.md, y/notes.md" in err and "whole name" in err
    assert listed(capsys, store)["x/notes.md"]["aliases"] == ["y/notes.md"]


def test_sync_removes_a_gone_file_s_name_and_the_document_with_its_last(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ragmix import RagMix

    docs, store = tea_folder(tmp_path / "docs"), tmp_path / "store"
    assert run(capsys, "ingest", str(docs), "--store", str(store))[0] == 0
    tea_id = listed(capsys, store)["a.md"]["doc_id"]

    (docs / "a.md").unlink()
    code, out, _ = run(capsys, "ingest", str(docs), "--sync", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["chunks_removed"] == 0
    after = listed(capsys, store)
    assert after["b.md"]["doc_id"] == tea_id and after["b.md"]["aliases"] == ["sub/c.md"]
    code, _, err = run(
        capsys, "ask", "tea", "--doc", "a.md", "--mode", "search", "--store", str(store)
    )
    assert code == 1 and "no document named 'a.md'" in err

    # a changed file takes its name to its new content; the old content keeps the rest
    time.sleep(0.01)
    (docs / "b.md").write_text("# Tea, second edition\n\nOolong is rolled by hand.\n")
    assert run(capsys, "ingest", str(docs), "--store", str(store))[0] == 0
    after = listed(capsys, store)
    assert after["sub/c.md"]["doc_id"] == tea_id and after["sub/c.md"]["aliases"] == []
    assert after["b.md"]["doc_id"] != tea_id

    (docs / "sub" / "c.md").unlink()
    code, out, _ = run(capsys, "ingest", str(docs), "--sync", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["chunks_removed"] == 1
    assert set(listed(capsys, store)) == {"b.md", "coffee.md"}
    s = state(RagMix.from_config(None, store={"path": str(store)}))
    assert s["catalog_chunks"] == s["chroma_chunks"] and s["problems"] == []
    assert s["sources"] == ["b.md", "coffee.md"]


def _as_schema_1(path: Path, display: dict[str, str]) -> None:
    """Rewrite a catalog into the shape ragmix 0.1 wrote (schema 1 is schema 2 without the
    ``aliases`` table), with the display names 0.1 would have left."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE aliases")
    conn.execute("DROP TABLE chunks_vocab")  # 0.1 had no term-frequency view either
    conn.execute("DROP TABLE lexical_log")  # nor a lexical journal (its triggers go with it)
    conn.execute("DROP TABLE doc_pages")  # nor pages' names and OCR marks
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    for doc_id, name in display.items():
        conn.execute("UPDATE documents SET name = ? WHERE doc_id = ?", (name, doc_id))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {t for t in tables if not t.startswith(("chunks_fts", "sqlite_"))} == {
        "meta", "documents", "doc_tokens", "chunks", "sources"
    }  # fmt: skip


def test_a_catalog_of_the_old_schema_opens_with_every_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ragmix.store.catalog import SCHEMA_VERSION, Catalog

    docs, store = tmp_path / "docs", tmp_path / "store"
    docs.mkdir()
    for name in ("old.md", "copy.md", "twin.md"):
        (docs / name).write_text(TEA)
    (docs / "coffee.md").write_text(COFFEE)
    assert run(capsys, "ingest", str(docs), "--store", str(store))[0] == 0
    time.sleep(0.01)
    (docs / "old.md").write_text(COFFEE + "\nAnd a second page.\n")
    assert run(capsys, "ingest", str(docs), "--store", str(store))[0] == 0
    before = listed(capsys, store)
    tea_id = before["copy.md"]["doc_id"]
    # 0.1 kept the first name of the tea document although old.md now holds other content
    catalog = store / "catalog.sqlite3"
    _as_schema_1(catalog, {tea_id: "old.md"})

    legacy = Catalog(catalog, readonly=True)  # read-only: nothing upgraded, one name each
    assert sorted(d.name for d in legacy.documents()) == ["coffee.md", "old.md", "old.md"]
    legacy.close()

    after = listed(capsys, store)  # opening it for writing upgrades it
    assert after["copy.md"]["doc_id"] == tea_id and after["copy.md"]["aliases"] == ["twin.md"]
    assert after["old.md"]["doc_id"] != tea_id  # the stale display name was dropped
    assert sources_of(capsys, store, "twin.md") == {"copy.md"}
    check = sqlite3.connect(catalog)
    assert check.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    check.close()
    code, out, _ = run(capsys, "ingest", str(docs), "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["skipped_unchanged"] == 4  # the manifest still holds
    assert listed(capsys, store) == after
