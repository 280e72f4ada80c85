"""The vector-store seam: the only module that imports chromadb and langchain-chroma.

``VectorIndex`` wraps a LangChain ``Chroma`` (cosine distance) over an embedded
``PersistentClient`` or a ``chroma run`` server (``store.mode: http``), and adds what the
ingest protocol needs: idempotent batched upserts with our own chunk ids, deletes by id, and
the full id list for reconciliation.

One room, though long: it is the seam to chromadb, and every chromadb call and error
translation stays behind it (the staging collection of ``--reembed`` included).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from ragmix.core.errors import EmbedderMismatchError, RagmixError, StoreError
from ragmix.core.settings import StoreSettings
from ragmix.store.catalog import disk_full_error, is_disk_full

#: Chroma refuses larger single writes; its own get_max_batch_size() may be lower.
_MAX_BATCH = 5000


def server_client(settings: StoreSettings) -> Any:
    """A client of the ``chroma run`` server ``settings`` name (checked: it answers, the
    credentials are accepted, and no request waits longer than ``store.timeout_s``)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    where = f"the Chroma server at {settings.host}:{settings.port}"
    hint = "start it (`chroma run --path DIR --host HOST --port PORT`) or fix store.host/port"
    with _opening(where, hint, settings, code="chroma_unreachable"):
        headers = dict(settings.headers)
        if settings.token:
            headers.setdefault("Authorization", f"Bearer {settings.token}")
        _preflight(settings, headers)
        client = chromadb.HttpClient(
            host=settings.host,
            port=settings.port,
            ssl=settings.ssl,
            headers=headers or None,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        _bound_http_timeout(client, settings.timeout_s)
        client.heartbeat()
        return client


def embedded_client(settings: StoreSettings) -> Any:
    """Chroma in this process, its files in ``<store>/chroma``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path = Path(settings.path) / "chroma"
    hint = "check the folder is writable and not damaged"
    with _opening(f"the embedded Chroma store in {settings.path}", hint, settings):
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )


@contextmanager
def _opening(
    where: str, hint: str, settings: StoreSettings, code: str = "store_unopenable"
) -> Iterator[None]:
    """What opening a client raises, as a StoreError that names the store and the fix."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if _is_timeout(exc) or is_disk_full(exc):
            raise _store_error("cannot open the store", exc, settings) from exc
        params = {"host": settings.host, "port": settings.port, "path": settings.path}
        raise StoreError(f"cannot open {where}: {exc}; {hint}", code=code, params=params) from exc


def _preflight(settings: StoreSettings, headers: dict[str, str]) -> None:
    """One heartbeat with a deadline before chromadb's client is built: its constructor
    already talks to the server (tenant checks) with no timeout at all, so a server that
    accepts connections but never answers would hang it forever."""
    import httpx

    scheme = "https" if settings.ssl else "http"
    url = f"{scheme}://{settings.host}:{settings.port}/api/v2/heartbeat"
    response = httpx.get(url, headers=headers, timeout=settings.timeout_s)
    if response.status_code in (401, 403):
        raise StoreError(
            f"the Chroma server at {settings.host}:{settings.port} refused the credentials "
            f"(HTTP {response.status_code}); set store.token or store.headers"
        )
    response.raise_for_status()


def _bound_http_timeout(client: Any, seconds: float) -> None:
    """chromadb's HTTP client waits forever (``httpx.Client(timeout=None)``); bound it, so a
    stuck server gives an error instead of a hang. Reaches into the client: checked by
    tests/test_server.py against a server that accepts and never answers."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        raise StoreError("this chromadb version hides its HTTP session; pin chromadb<2")
    session.timeout = httpx.Timeout(seconds)


def _caused_by(exc: BaseException, kinds: type | tuple[type, ...]) -> bool:
    """Whether ``exc`` or anything in its chain of causes is one of ``kinds``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_timeout(exc: BaseException) -> bool:
    import httpx

    return _caused_by(exc, (httpx.TimeoutException, TimeoutError))


def _store_error(what: str, exc: Exception, settings: StoreSettings) -> StoreError:
    # By what happened, not by mode: only a disk of this machine fills up under Chroma, and
    # only a server's HTTP client times out.
    if is_disk_full(exc):
        full = disk_full_error(Path(settings.path) / "chroma")
        return StoreError(f"{what}: {full}", code=full.code, params=full.params)
    if _is_timeout(exc):
        return StoreError(
            f"{what}: the Chroma server at {settings.host}:{settings.port} did not answer "
            f"within {settings.timeout_s:g} s; check it is running, or raise store.timeout_s",
            code="chroma_timeout",
            params={"host": settings.host, "port": settings.port, "seconds": settings.timeout_s},
        )
    if _is_connect_error(exc):
        return StoreError(
            f"{what}: {exc}",
            code="chroma_unreachable",
            params={"host": settings.host, "port": settings.port},
        )
    return StoreError(f"{what}: {exc}")


def _is_connect_error(exc: BaseException) -> bool:
    """A server that cannot be reached (refused, unknown host): not one that answered."""
    import httpx

    return _caused_by(exc, (httpx.ConnectError, ConnectionError))


@contextmanager
def chroma_errors(what: str, settings: StoreSettings) -> Iterator[None]:
    """The one place where a chromadb call's exceptions (and those of its HTTP client)
    become :class:`StoreError`: ``what`` failed, why, and the fix where one is known (a full
    disk, a server that does not answer). The original stays as ``__cause__``; ragmix's own
    errors pass through unchanged."""
    try:
        yield
    except RagmixError:
        raise
    except Exception as exc:
        raise _store_error(what, exc, settings) from exc


#: Collection metadata keys: which embedder made the vectors, and a re-embedding's progress.
EMBEDDER_KEY = "ragmix:embedder"
STATE_KEY = "ragmix:state"
#: The collection a re-embedding fills before it replaces the live one.
STAGING_SUFFIX = ".reembed"


class VectorIndex:
    """Dense vectors of every chunk, keyed by chunk id.

    The collection records which embedder made its vectors (name, dimension, version; see
    ``LazyEmbeddings.fingerprint``): writes and searches with another embedder raise
    ``EmbedderMismatchError`` instead of comparing vectors of two models.

    Args:
        settings: where the store lives (for messages and limits).
        embeddings: the LangChain embeddings used for passages and queries.
        client: the open Chroma client (``embedded_client`` or ``server_client``, chosen by
            the store object).
        collection: the collection's name; default ``settings.collection``.
    """

    def __init__(
        self,
        settings: StoreSettings,
        embeddings: Embeddings,
        client: Any,
        collection: str | None = None,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.name = collection or settings.collection
        self.client = client
        self._checked = False
        with chroma_errors(f"cannot open collection {self.name!r}", settings):
            self._collection = self._open()
            self.max_batch = min(_MAX_BATCH, int(self.client.get_max_batch_size()))

    def _open(self) -> Any:
        return self.client.get_or_create_collection(
            self.name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    def as_vectorstore(self) -> VectorStore:
        """The same collection as a LangChain ``VectorStore`` (langchain-chroma)."""
        from langchain_chroma import Chroma

        return Chroma(
            collection_name=self.name, embedding_function=self.embeddings, client=self.client
        )

    # -- which embedder made the vectors ----------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        # Fetched afresh: a Collection object keeps the metadata it was opened with, and
        # another writer may have stamped the embedder since (a shared server).
        with chroma_errors("reading the collection's metadata failed", self.settings):
            return dict(self.client.get_collection(self.name).metadata or {})

    def _set_meta(self, **values: Any) -> None:
        meta = {**self._meta(), **values}
        with chroma_errors("writing the collection's metadata failed", self.settings):
            self._collection.modify(metadata=meta)

    def recorded_embedder(self) -> dict[str, Any] | None:
        """The fingerprint of the embedder that made the stored vectors, if recorded."""
        raw = self._meta().get(EMBEDDER_KEY)
        return json.loads(raw) if isinstance(raw, str) else None

    def check_embedder(self) -> None:
        """Raise unless the stored vectors were made by ``embeddings``; an empty collection
        is stamped with it.

        Raises:
            EmbedderMismatchError: another embedder made them, with the command that fixes it.
        """
        if self._checked:
            return
        want = self.embeddings.fingerprint  # type: ignore[attr-defined]
        have = self.recorded_embedder()
        if have is None and self.count() == 0:
            self._set_meta(**{EMBEDDER_KEY: json.dumps(want, sort_keys=True)})
        elif have != want:
            raise EmbedderMismatchError(
                self._mismatch(have, want),
                code="embedder_mismatch" if have else "embedder_unrecorded",
                params={"have": have["name"] if have else "", "want": want["name"]},
            )
        self._checked = True

    def _mismatch(self, have: dict[str, Any] | None, want: dict[str, Any]) -> str:
        made = (
            "an embedder it did not record (a store of ragmix 0.1, whose default was "
            "packaged:all-MiniLM-L6-v2)"
            if have is None
            else f"{_describe(have)}"
        )
        back = f", or set embeddings.model back to {have['name']}" if have else ""
        return (
            f"the vectors in collection {self.name!r} were made by {made}, but this "
            f"configuration embeds with {_describe(want)}; vectors of two models cannot be "
            "compared. Run `ragmix ingest --reembed` to re-embed every chunk from the "
            f"catalog's texts (no file is read again){back}"
        )

    # -- re-embedding: fill a staging collection, then swap it in -----------------------------
    def staging(self) -> VectorIndex:
        """The collection a re-embedding with ``embeddings`` fills (created, or resumed if an
        earlier run with the same embedder was interrupted; restarted if with another)."""
        name = (self.name + STAGING_SUFFIX)[:512]
        stage = VectorIndex(self.settings, self.embeddings, self.client, collection=name)
        want = json.dumps(self.embeddings.fingerprint, sort_keys=True)  # type: ignore[attr-defined]
        if stage._meta().get(EMBEDDER_KEY) != want:
            if stage.count():
                stage.drop()
                stage._collection = stage._open()
            stage._set_meta(**{EMBEDDER_KEY: want, STATE_KEY: "building"})
        stage._checked = True
        return stage

    def pending_staging(self) -> tuple[str, bool] | None:
        """``(name, complete)`` of a re-embedding's staging collection, if one exists."""
        name = (self.name + STAGING_SUFFIX)[:512]
        col = self._collection_or_none(name, "looking for an unfinished re-embedding failed")
        if col is None:
            return None
        return name, (col.metadata or {}).get(STATE_KEY) == "complete"

    def _collection_or_none(self, name: str, what: str) -> Any:
        """The collection ``name``, or None if Chroma says there is none. Any other failure
        (a server that does not answer, a full disk) is a ``StoreError`` that says the
        re-embedding is kept: reading it as "no collection" would finish a re-embedding that
        is not done and orphan its collection."""
        from chromadb.errors import NotFoundError

        try:
            return self.client.get_collection(name)
        except NotFoundError:
            return None
        except Exception as exc:
            err = _store_error(what, exc, self.settings)
            raise StoreError(
                f"{err}; the re-embedding is kept: run `ragmix ingest --reembed` again once "
                "the store answers",
                code=err.code,
                params=err.params,
            ) from exc

    def mark_complete(self) -> None:
        self._set_meta(**{STATE_KEY: "complete"})

    def promote(self) -> None:
        """Replace the live collection with the complete staging collection.

        Idempotent: a crash between the delete and the rename is finished by the next call.
        """
        name = (self.name + STAGING_SUFFIX)[:512]
        stage = self._collection_or_none(name, "swapping in the re-embedded collection failed")
        if stage is None:
            return  # already promoted
        if (stage.metadata or {}).get(STATE_KEY) != "complete":
            raise StoreError(f"re-embedding into {name!r} is not complete; run it again")
        from chromadb.errors import NotFoundError

        with chroma_errors("swapping in the re-embedded collection failed", self.settings):
            with suppress(NotFoundError):  # gone already after an interrupted promotion
                self.client.delete_collection(self.name)
            meta = dict(stage.metadata or {})
            meta.pop(STATE_KEY, None)
            stage.modify(name=self.name, metadata=meta)
        self._collection = self.client.get_collection(self.name)
        self._checked = False

    def upsert_vectors(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write chunks whose vectors were already computed (the pipeline batches encoding)."""
        self.check_embedder()
        for i in range(0, len(ids), self.max_batch):
            sl = slice(i, i + self.max_batch)
            with chroma_errors(f"writing {len(ids)} chunks to Chroma failed", self.settings):
                self._collection.upsert(
                    ids=list(ids[sl]),
                    embeddings=[list(v) for v in vectors[sl]],
                    documents=list(texts[sl]),
                    metadatas=list(metadatas[sl]),
                )

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), self.max_batch):
            with chroma_errors("deleting chunks from Chroma failed", self.settings):
                self._collection.delete(ids=list(ids[i : i + self.max_batch]))

    def delete_doc(self, doc_id: str) -> None:
        """Every vector of one document, including any a crash left behind."""
        with chroma_errors(f"deleting document {doc_id} from Chroma failed", self.settings):
            self._collection.delete(where={"doc_id": doc_id})

    def iter_ids(self, page: int = 5000) -> Iterator[str]:
        for cid, _meta in self.iter_records(page, include_meta=False):
            yield cid

    def iter_records(
        self, page: int = 5000, *, include_meta: bool = True
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every (chunk id, metadata) in the collection, a page at a time."""
        offset = 0
        include: list[Any] = ["metadatas"] if include_meta else []
        while True:
            with chroma_errors("listing Chroma ids failed", self.settings):
                got = self._collection.get(include=include, limit=page, offset=offset)
            ids = got["ids"]
            metas = got.get("metadatas") or [{}] * len(ids)
            yield from zip(ids, (m or {} for m in metas), strict=True)
            if len(ids) < page:
                return
            offset += page

    def count(self) -> int:
        with chroma_errors("counting Chroma records failed", self.settings):
            return int(self._collection.count())

    def drop(self) -> None:
        """Delete the whole collection (temporary evaluation stores, stale staging)."""
        with chroma_errors("deleting the collection failed", self.settings):
            self.client.delete_collection(self.name)

    def search(
        self, query: str, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by cosine similarity (1 is identical); none from an empty
        collection, which a search does not stamp with its embedder. (Chroma's ``count()``
        is a SQL ``COUNT(*)``, 58 ms at 1M chunks, more than the HNSW search itself: it is
        asked only until the collection's embedder has been checked once.)"""
        if not self._checked:
            if self.recorded_embedder() is None and self.count() == 0:
                return []
            self.check_embedder()
        where: dict[str, Any] | None = None
        if doc_ids:
            where = (
                {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
            )
        vec = self.embeddings.embed_query(query)  # the embedder's errors are its own
        with chroma_errors("vector search failed", self.settings):
            res = self._collection.query(
                query_embeddings=[vec], n_results=k, where=where, include=["distances"]
            )
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)
        ]


def _describe(fp: dict[str, Any]) -> str:
    version = f", {fp['version']}" if fp.get("version") else ""
    return f"{fp['name']} ({fp['dim']} dimensions{version})"


class DocRegistry:
    """The shared store's list of documents, kept in the Chroma server itself.

    In ``store.mode: http`` several processes on several machines write to one collection,
    so no local file can say which documents exist. This second collection
    (``<collection>__docs``) does: one *header* record per ready document (name, kind, page
    starts, chunk boundaries, token counts; the record's presence is the document's commit
    point) and its full text in *part* records of at most ``PART_CHARS`` characters. The
    header's metadata also lists every name the document has (``names``, JSON; records
    written before names existed have only ``name``), so names change without rewriting it. Each
    client's SQLite catalog (full texts, chunks, BM25) is a cache rebuilt from it, see
    ``ragmix/store/shared.py``. Records carry a 1-dimensional dummy vector: Chroma needs one.

    Args:
        settings: the store settings (server, collection).
        client: the open Chroma client (shared with the ``VectorIndex``).
    """

    PART_CHARS = 1_000_000

    def __init__(self, settings: StoreSettings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.name = f"{settings.collection}__docs"[:512]
        with chroma_errors(f"cannot open collection {self.name!r}", settings):
            self._col = self.client.get_or_create_collection(
                self.name, embedding_function=None, metadata={"ragmix": "documents"}
            )

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        with chroma_errors(what, self.settings):
            return fn(**kw)

    def put(self, doc_id: str, header: dict[str, Any], text: str) -> None:
        """Write a document: text parts first, then the header that makes it visible."""
        parts = [text[i : i + self.PART_CHARS] for i in range(0, len(text), self.PART_CHARS)]
        for i, part in enumerate(parts or [""]):
            self._call(
                f"writing document {doc_id} to the server failed",
                self._col.upsert,
                ids=[f"{doc_id}~{i}"],
                embeddings=[[1.0]],
                documents=[part],
                metadatas=[{"part_of": doc_id, "i": i, "t": time.time()}],
            )
        names = [str(n) for n in header.get("names") or [header.get("name", "")]]
        meta = {
            "doc_id": doc_id,
            "name": names[0],
            "names": json.dumps(names, ensure_ascii=False),
            "parts": max(len(parts), 1),
            "t": time.time(),
        }
        self._call(
            f"writing document {doc_id} to the server failed",
            self._col.upsert,
            ids=[doc_id],
            embeddings=[[1.0]],
            documents=[json.dumps(header, ensure_ascii=False)],
            metadatas=[meta],
        )

    def rename(self, doc_id: str, add: Sequence[str] = (), drop: Sequence[str] = ()) -> list[str]:
        """Add and take off names of a committed document; returns its names now.

        Read just before it is written, so the names other writers gave it meanwhile are kept
        (two writers renaming the same document in the same instant can still lose one
        change; the next ingest of an unchanged file puts its name back). When no name would
        be left nothing is written and [] is returned: the caller deletes the document. []
        too when the document is gone from the server.
        """
        what = f"renaming document {doc_id} on the server failed"
        got = self._call(what, self._col.get, ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return []
        meta = dict(got["metadatas"][0] or {})
        names = _names(meta)
        kept = [n for n in names if n not in drop]
        new = kept + [n for n in dict.fromkeys(add) if n not in kept]
        if new and new != names:
            meta.update(name=new[0], names=json.dumps(new, ensure_ascii=False), t=time.time())
            self._call(
                what,
                self._col.upsert,
                ids=[doc_id],
                embeddings=[[1.0]],
                documents=[got["documents"][0]],
                metadatas=[meta],
            )
        return new

    def delete(self, doc_id: str) -> None:
        """Header first (the document disappears at once), then its text parts."""
        what = f"deleting document {doc_id} on the server failed"
        self._call(what, self._col.delete, ids=[doc_id])
        self._call(what, self._col.delete, where={"part_of": doc_id})

    def stamps(self) -> dict[str, float]:
        """Every committed document id with its last write time."""
        return {doc_id: float(meta.get("t", 0.0)) for doc_id, meta in self._headers()}

    def names(self) -> dict[str, list[str]]:
        """Every committed document id with its names (the display name first)."""
        return {doc_id: _names(meta) for doc_id, meta in self._headers()}

    def _headers(self) -> Iterator[tuple[str, dict[str, Any]]]:
        offset, page = 0, 5000
        while True:
            got = self._call(
                "listing documents on the server failed",
                self._col.get,
                where={"parts": {"$gte": 0}},
                include=["metadatas"],
                limit=page,
                offset=offset,
            )
            yield from zip(got["ids"], (m or {} for m in got["metadatas"]), strict=True)
            if len(got["ids"]) < page:
                return
            offset += page

    def get(self, doc_id: str) -> tuple[dict[str, Any], str] | None:
        """(header, full text) of one document, or None if it is gone."""
        got = self._call(
            f"reading document {doc_id} from the server failed",
            self._col.get,
            ids=[doc_id],
            include=["documents", "metadatas"],
        )
        if not got["ids"]:
            return None
        header = json.loads(got["documents"][0])
        header["names"] = _names(got["metadatas"][0] or {})
        header["name"] = header["names"][0]
        n = int(got["metadatas"][0].get("parts", 1))
        ids = [f"{doc_id}~{i}" for i in range(n)]
        parts = self._call(
            f"reading document {doc_id} from the server failed",
            self._col.get,
            ids=ids,
            include=["documents"],
        )
        by_id = dict(zip(parts["ids"], parts["documents"], strict=True))
        if any(i not in by_id for i in ids):
            return None  # being deleted right now
        return header, "".join(by_id[i] for i in ids)

    def stray_parts(self, committed: set[str], older_than: float) -> list[str]:
        """Text parts without a header (a writer stopped between the two writes), written
        before ``older_than`` (a timestamp)."""
        got = self._call(
            "listing documents on the server failed",
            self._col.get,
            where={"i": {"$gte": 0}},
            include=["metadatas"],
        )
        return [
            pid
            for pid, meta in zip(got["ids"], got["metadatas"], strict=True)
            if meta.get("part_of") not in committed and float(meta.get("t", 0)) < older_than
        ]

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            self._call("deleting records on the server failed", self._col.delete, ids=ids)

    def drop(self) -> None:
        self._call("deleting the collection failed", self.client.delete_collection, name=self.name)


def _names(meta: dict[str, Any]) -> list[str]:
    """The names in a header record's metadata (one ``name`` in records made before names)."""
    raw = meta.get("names")
    if isinstance(raw, str):
        try:
            names = [str(n) for n in json.loads(raw)]
        except ValueError:
            names = []
        if names:
            return names
    return [str(meta.get("name", ""))]
