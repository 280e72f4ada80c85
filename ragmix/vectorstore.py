"""The vector-store seam: the only module that imports chromadb and langchain-chroma.

``VectorIndex`` wraps a LangChain ``Chroma`` (cosine distance) over an embedded
``PersistentClient`` or a ``chroma run`` server (``store.mode: http``), and adds what the
ingest protocol needs: idempotent batched upserts with our own chunk ids, deletes by id, and
the full id list for reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from ragmix.errors import StoreError
from ragmix.settings import StoreSettings

#: Chroma refuses larger single writes; its own get_max_batch_size() may be lower.
_MAX_BATCH = 5000


def _client(settings: StoreSettings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.mode == "http":
            client = chromadb.HttpClient(
                host=settings.host,
                port=settings.port,
                ssl=settings.ssl,
                headers=settings.headers or None,
                settings=chroma_settings,
            )
            client.heartbeat()
            return client
        path = Path(settings.path) / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except StoreError:
        raise
    except Exception as exc:
        where = (
            f"the Chroma server at {settings.host}:{settings.port}"
            if settings.mode == "http"
            else f"the embedded Chroma store in {settings.path}"
        )
        hint = (
            "start it (`chroma run --path DIR --host HOST --port PORT`) or fix store.host/port"
            if settings.mode == "http"
            else "check the folder is writable and not damaged"
        )
        raise StoreError(f"cannot open {where}: {exc}; {hint}") from None


class VectorIndex:
    """Dense vectors of every chunk, keyed by chunk id.

    Args:
        settings: where the store lives (embedded folder or server).
        embeddings: the LangChain embeddings used for passages and queries.
    """

    def __init__(self, settings: StoreSettings, embeddings: Embeddings) -> None:
        from langchain_chroma import Chroma

        self.settings = settings
        self.client = _client(settings)
        try:
            self.store: VectorStore = Chroma(
                collection_name=settings.collection,
                embedding_function=embeddings,
                client=self.client,
                collection_configuration={"hnsw": {"space": "cosine"}},
            )
            self._collection = self.client.get_collection(settings.collection)
            self.max_batch = min(_MAX_BATCH, int(self.client.get_max_batch_size()))
        except Exception as exc:
            raise StoreError(f"cannot open collection {settings.collection!r}: {exc}") from None

    def upsert(
        self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Embed and write chunks; writing the same id again replaces it (crash re-runs)."""
        for i in range(0, len(ids), self.max_batch):
            sl = slice(i, i + self.max_batch)
            try:
                self.store.add_texts(
                    list(texts[sl]), metadatas=list(metadatas[sl]), ids=list(ids[sl])
                )
            except Exception as exc:
                raise StoreError(f"writing {len(ids)} chunks to Chroma failed: {exc}") from None

    def upsert_vectors(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write chunks whose vectors were already computed (the pipeline batches encoding)."""
        for i in range(0, len(ids), self.max_batch):
            sl = slice(i, i + self.max_batch)
            try:
                self._collection.upsert(
                    ids=list(ids[sl]),
                    embeddings=[list(v) for v in vectors[sl]],
                    documents=list(texts[sl]),
                    metadatas=list(metadatas[sl]),
                )
            except Exception as exc:
                raise StoreError(f"writing {len(ids)} chunks to Chroma failed: {exc}") from None

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), self.max_batch):
            try:
                self._collection.delete(ids=list(ids[i : i + self.max_batch]))
            except Exception as exc:
                raise StoreError(f"deleting chunks from Chroma failed: {exc}") from None

    def delete_doc(self, doc_id: str) -> None:
        """Every vector of one document, including any a crash left behind."""
        try:
            self._collection.delete(where={"doc_id": doc_id})
        except Exception as exc:
            raise StoreError(f"deleting document {doc_id} from Chroma failed: {exc}") from None

    def iter_ids(self, page: int = 5000) -> Iterator[str]:
        offset = 0
        while True:
            got = self._collection.get(include=[], limit=page, offset=offset)
            ids = got["ids"]
            yield from ids
            if len(ids) < page:
                return
            offset += page

    def count(self) -> int:
        return int(self._collection.count())

    def search(
        self, query: str, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by cosine similarity (1 is identical)."""
        if self.count() == 0:
            return []
        where: dict[str, Any] | None = None
        if doc_ids:
            where = (
                {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
            )
        try:
            vec = self.store.embeddings.embed_query(query)  # type: ignore[union-attr]
            res = self._collection.query(
                query_embeddings=[vec], n_results=k, where=where, include=["distances"]
            )
        except Exception as exc:
            raise StoreError(f"vector search failed: {exc}") from None
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)
        ]
