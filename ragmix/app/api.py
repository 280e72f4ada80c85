"""The Python API: one ``RagMix`` object per store.

``RagMix`` is the facade that wires the pieces together, as the CLI and the web page do: the
catalog and vector index of the store, the embedder, the answering model. Everything heavy
loads on first use; constructing one is cheap.

Example:
    >>> from ragmix import RagMix
    >>> rm = RagMix.from_config("configs/default.yaml", store={"path": "/tmp/rm"})
    >>> summary = rm.ingest("docs/")                       # doctest: +SKIP
    >>> summary.ingested, summary.chunks_added             # doctest: +SKIP
    (2, 41)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragmix.core.errors import ConfigError, StoreError, UnknownDocumentError
from ragmix.core.events import Answer, AnswerEvent, AnswerState, catch_errors
from ragmix.core.settings import Settings, load_settings
from ragmix.qa.router import Mode
from ragmix.store.catalog import Catalog, DocumentInfo, Match
from ragmix.store.stores import Store, open_store

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from ragmix.ingest.pipeline import IngestSummary, Pipeline, ProgressFn
    from ragmix.models.embeddings import LazyEmbeddings
    from ragmix.models.llm import TokenCounter
    from ragmix.qa.chain import QA, AnswerRunnable
    from ragmix.qa.retrieval import HybridSearcher, RagmixRetriever
    from ragmix.store.vectors import VectorIndex


class _Deferred:
    """Builds the wrapped object on first attribute access."""

    def __init__(self, factory: Callable[[], object]) -> None:
        self._factory = factory
        self._obj: object = None

    def __getattr__(self, name: str) -> Any:
        if self._obj is None:
            self._obj = self._factory()
        return getattr(self._obj, name)


@dataclass(frozen=True)
class Removal:
    """What ``RagMix.delete`` did.

    Attributes:
        name: the name taken off (the display name when the document was named by its id).
        document: the document as it was before.
        remaining: the names it keeps; empty when the document itself was removed.
    """

    name: str
    document: DocumentInfo
    remaining: tuple[str, ...]

    @property
    def document_removed(self) -> bool:
        return not self.remaining


class RagMix:
    """A document store and the models that answer over it.

    Args:
        settings: the settings tree; see ``load_settings`` and ``configs/``.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._lock = threading.RLock()
        self._embeddings: LazyEmbeddings | None = None
        #: Where the documents live (embedded folder or Chroma server): layout, catalog,
        #: vectors, the writer rule. Nothing is opened until first used.
        self.store: Store = open_store(self.settings.store, lambda: self.embeddings)

    @classmethod
    def from_config(cls, config: str | Path | None = None, **overrides: Any) -> RagMix:
        """Settings from a YAML profile, ``RAGMIX_*`` variables and ``overrides``."""
        return cls(load_settings(config, **overrides))

    # -- parts, built on first use ------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the documents live, for messages."""
        return self.store.location

    @property
    def catalog(self) -> Catalog:
        return self.store.catalog

    @property
    def vectors(self) -> VectorIndex:
        return self.store.vectors

    def refresh(self, force: bool = False) -> None:
        """Bring this process's catalog up to date with other writers (a Chroma server's
        documents); at most every ``store.sync_interval_s`` unless ``force``."""
        self.store.refresh(force)

    @property
    def embeddings(self) -> LazyEmbeddings:
        with self._lock:
            if self._embeddings is None:
                from ragmix.models.embeddings import make_embeddings

                self._embeddings = make_embeddings(self.settings.embeddings)
            return self._embeddings

    def token_counters(self) -> list[TokenCounter]:
        """Tokenizers whose whole-document counts are stored at ingest (the answering model's)."""
        from ragmix.models.llm import make_token_counter

        try:
            return [make_token_counter(self.settings.llm)]
        except Exception:  # counted lazily at question time instead
            return []

    # -- documents -----------------------------------------------------------------------
    def ingest(
        self,
        *paths: str | Path,
        sync: bool = False,
        repair: bool = False,
        reembed: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestSummary:
        """Load, chunk, embed and index files or folders; incremental and crash-safe.

        Args:
            progress: called with each ``ragmix.core.events.IngestEvent`` (fold them with
                ``IngestState.apply`` for a progress bar).
            sync: also remove documents whose files are gone from the given folders.
            repair: first move a damaged catalog aside (it is rebuilt from the given files
                and the vector store), then rebuild the BM25 index if it is inconsistent,
                re-embed chunks whose vectors are missing and drop vectors of no chunk.
                ``summary.repaired`` says what was done. Never removes a document.
            reembed: re-embed every stored chunk with the configured embedder (after
                changing ``embeddings.model``), from the catalog's texts; crash-safe and
                resumable. ``summary.reembedded`` counts the chunks embedded.

        Returns:
            An ``IngestSummary``; files that failed are listed in ``failed`` and the rest
            are stored.

        Raises:
            StoreLockedError: another process is writing to this embedded store.
        """
        with self.store.writer():
            done, recreated = self.store.repair_catalog() if repair else ([], False)
            pipeline = self._pipeline(progress)
            summary = pipeline.run([Path(p) for p in paths], sync=sync)
            if reembed:
                summary.reembedded = pipeline.reembed()
            if repair:
                summary.repaired = done + pipeline.repair(recreated=recreated)
        if sync:
            self.drop_stale_states()
        return summary

    def _pipeline(self, progress: ProgressFn | None = None) -> Pipeline:
        from ragmix.ingest.pipeline import Pipeline
        from ragmix.models.embeddings import chunk_token_counter

        # Chroma and the models are opened only if a file actually changed.
        return Pipeline(
            self.settings,
            self.store,
            _Deferred(lambda: self.embeddings),
            lambda: chunk_token_counter(self.settings.embeddings),
            token_counters=self.token_counters,
            progress=progress,
        )

    def documents(self) -> list[DocumentInfo]:
        """Ready documents with pages, chunks and (answering-model) tokens."""
        self.refresh()
        names = [tc.name for tc in self.token_counters()]
        return self.catalog.documents(names[0] if names else None)

    def delete(self, name: str) -> Removal:
        """Take a name off its document; the document goes from every index with its last
        name. Named by its doc id (``docs list --json``), the document goes with all its names.

        A document is its content: identical files ingested under several names are one
        document with several names (``DocumentInfo.aliases``). Deleting one of them leaves
        the others (and the content) in place; a later ingest of a file under that name
        gives it back.

        Raises:
            StoreError: no such document (``UnknownDocumentError``), or a bare file name
                that several of one document's names end in (give the whole name).
        """
        match = self._match(name)
        doc = match.doc
        if len(match.names) > 1:
            raise StoreError(
                f"{name!r} is several names of one document ({', '.join(match.names)}); "
                "give the whole name to delete, or its id to delete the document"
            )
        with self.store.writer():
            pipeline = self._pipeline()
            if match.names:
                remaining = pipeline.forget(doc.doc_id, match.names[0])
                return Removal(match.names[0], doc, tuple(remaining))
            pipeline.delete(doc.doc_id)
        self.drop_stale_states()
        return Removal(doc.name, doc, ())

    @property
    def states_dir(self) -> Path | None:
        """Where read states of whole-document prompts are kept (None: ``llm.state_disk_mb``
        is 0)."""
        return self.store.states if self.settings.llm.state_disk_mb > 0 else None

    def drop_stale_states(self) -> int:
        """Delete saved prompt states that read a document no longer in the store."""
        from ragmix.models import states

        if not self.store.states.is_dir():
            return 0
        known = set(self.catalog.doc_ids())
        return states.drop_documents(self.store.states, keep=known)

    def find(self, name: str) -> DocumentInfo:
        """A document by any of its names, the file-name part of one, or its id."""
        return self._match(name).doc

    def _match(self, name: str) -> Match:
        self.refresh()
        match = self.catalog.lookup(name)
        if match is None:
            known = ", ".join(d.name for d in self.catalog.documents()[:10]) or "none"
            raise UnknownDocumentError(
                f"no document named {name!r} in {self.location}; known: {known} "
                "(see `ragmix docs list`)",
                code="unknown_document",
                params={"name": name},
            )
        return match

    def resolve_docs(self, names: Sequence[str] | None) -> list[str]:
        """Doc ids for document names; all ready documents when ``names`` is empty."""
        self.refresh()
        if not names:
            return self.catalog.doc_ids("ready")
        return [self.find(n).doc_id for n in names]

    # -- questions ------------------------------------------------------------------------
    def searcher(self) -> HybridSearcher:
        from ragmix.qa.retrieval import HybridSearcher

        with self._lock:
            if getattr(self, "_searcher", None) is None:
                reranker = None
                if self.settings.retrieval.reranker:
                    from ragmix.models.embeddings import CrossEncoderReranker

                    e = self.settings.embeddings
                    reranker = CrossEncoderReranker(
                        self.settings.retrieval.reranker, e.device, e.allow_download
                    )
                self._searcher = HybridSearcher(
                    self.catalog,
                    self.vectors,
                    self.settings.retrieval,
                    understands=self.embeddings.understands,
                    reranker=reranker,
                )
            return self._searcher

    def chat_model(self) -> BaseChatModel:
        """The answering model (loaded on first use; one per process and configuration)."""
        from ragmix.models.llm import make_chat_model

        with self._lock:
            if getattr(self, "_chat", None) is None:
                self._chat = make_chat_model(self.settings.llm)
            return self._chat

    @property
    def model_loaded(self) -> bool:
        """Whether the answering model has been loaded (search-only use never loads it)."""
        return getattr(self, "_chat", None) is not None

    def _counter(self) -> TokenCounter:
        from ragmix.models.llm import make_token_counter

        return make_token_counter(self.settings.llm)

    def qa(self) -> QA:
        from ragmix.qa.chain import QA
        from ragmix.qa.planner import Planner

        with self._lock:
            if getattr(self, "_qa", None) is None:
                planner = Planner(
                    self.settings, self.catalog, self.searcher(), self.chat_model, self._counter
                )
                self._qa = QA(planner, states_dir=self.states_dir)
            return self._qa

    def chain(self) -> AnswerRunnable:
        """The QA chain as a LangChain Runnable over ``{"question", "docs", "history"}``.

        Example:
            >>> chain = rm.chain()                                        # doctest: +SKIP
            >>> out = chain.invoke({"question": "What is the warranty?"})  # doctest: +SKIP
            >>> out["route"], out["sources"][0]["source"]                  # doctest: +SKIP
            ('stuff', 'lumen-x2-manual.md')
        """
        from ragmix.qa.chain import AnswerRunnable

        return AnswerRunnable(self.qa(), self.resolve_docs)

    def ask(
        self,
        question: str,
        docs: Sequence[str] | None = None,
        mode: Mode | str | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        """Answer one question; returns an ``Answer`` (answer, route, reason, tokens, sources,
        timings). ``mode``: 'auto', 'stuff', 'retrieve' or 'search' (passages, no model).

        Raises:
            RagmixError: e.g. ``BudgetError`` (the question leaves no room for document
                text), ``StoreError`` (no such document), ``ModelError``.
        """
        return AnswerState.fold(self.stream(question, docs, mode, history)).result()

    def stream(
        self,
        question: str,
        docs: Sequence[str] | None = None,
        mode: Mode | str | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[AnswerEvent]:
        """Yield the answer's events (``ragmix.core.events``): ``RouteDecided``, ``Sources``,
        ``Token`` deltas, then ``Done`` with the ``Answer``. Fold them with
        ``AnswerState.apply`` to get what a person sees so far.

        Raises:
            RagmixError: as ``ask``, while iterating (also an unknown document name).
        """
        yield from self.qa().events(question, self.resolve_docs(docs), history, mode)

    def warm(self, docs: Sequence[str] | None = None) -> Iterator[tuple[str, AnswerEvent]]:
        """Read documents ahead (default: every ready one) so the first whole-document
        question on each, in any process, skips reading it: the model's state after the
        instructions and the document is kept on disk (``llm.state_disk_mb``).

        Yields ``(document name, event)``: per document ``RouteDecided``, ``Reading``* and
        ``Done`` (its ``timings``), or ``Failed`` for one that does not fit the context (the
        others go on).

        Raises:
            ConfigError: ``llm.state_disk_mb`` is 0 (nothing would be kept).
            StoreError: an unknown document name.
        """
        if self.states_dir is None and self.settings.llm.backend == "llama-cpp":
            raise ConfigError(
                "llm.state_disk_mb is 0, so read documents are not kept; set it (MB of disk "
                "for read states) to use warm"
            )
        qa = self.qa()
        for doc_id in self.resolve_docs(docs):
            name = self.catalog.name(doc_id)
            for event in catch_errors(qa.warm(doc_id)):
                yield name, event

    def retriever(self, docs: Sequence[str] | None = None, k: int = 8) -> RagmixRetriever:
        """A LangChain ``BaseRetriever`` over this store (hybrid BM25 + dense)."""
        from ragmix.qa.retrieval import RagmixRetriever

        return RagmixRetriever(
            searcher=self.searcher(), doc_ids=self.resolve_docs(docs) if docs else None, k=k
        )
