"""Hybrid retrieval: BM25 (jieba) and dense (Chroma) fused, then packed into a budget.

Fusion (``fuse``) is a convex combination of the two lists' scores, each min-max normalised
over its own candidates, so that how far ahead a hit is counts, not only its rank: a passage
that shares the question's rare words scores near 1 on BM25 and wins even when the embedder
ranks it second, and a paraphrase that BM25 barely finds still wins on meaning. (Reciprocal-rank
fusion, ``retrieval.fusion: rrf``, throws those margins away; measured on CMRC 2018 in
``benchmarks/bench_fusion.py``.) One safeguard matters for Chinese: dense scores are used only
for questions in a language the embedder understands (``embeddings.languages``). An
English-only embedder on Chinese text ranks nearly at random, and fusion with it halves
BM25's top-1 accuracy; ignoring it there makes the hybrid exactly BM25.

``pack`` turns ranked chunks into the passages a prompt shows: best first until the token
budget or ``max_passages`` is reached, overlapping or adjacent chunks of one document merged
into one span, duplicates dropped, then put back in document order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ragmix.core.schema import Passage
from ragmix.core.settings import RetrievalSettings
from ragmix.core.text import detect_language, lexical_tokens
from ragmix.store.catalog import Catalog


class DenseIndex(Protocol):
    def search(
        self, query: str, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]: ...


def rrf(rankings: Sequence[tuple[Sequence[str], float]], k: int = 60) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion of several rankings ``(ids best-first, weight)``."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def minmax(hits: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Scores mapped to [0, 1] over the list (best 1, worst candidate 0; one hit: 1)."""
    if not hits:
        return {}
    scores = [s for _, s in hits]
    lo, span = min(scores), max(scores) - min(scores)
    return {c: (s - lo) / span if span > 0 else 1.0 for c, s in hits}


def coverage(hits: Sequence[tuple[str, float]], ceiling: float) -> dict[str, float]:
    """BM25 scores as a share of ``ceiling`` (``Catalog.bm25_ceiling``), capped at 1."""
    if ceiling <= 0:
        return minmax(hits)
    return {c: min(s / ceiling, 1.0) for c, s in hits}


def combine(
    lex: dict[str, float], den: dict[str, float], dense_share: float
) -> list[tuple[str, float]]:
    """``dense_share·den + (1−dense_share)·lex`` (a missing score counts 0), best first;
    ties break by id so the order is deterministic."""
    fused = {
        c: (1 - dense_share) * lex.get(c, 0.0) + dense_share * den.get(c, 0.0)
        for c in lex.keys() | den.keys()
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse(
    lexical: Sequence[tuple[str, float]],
    dense: Sequence[tuple[str, float]],
    settings: RetrievalSettings,
    ceiling: float = 0.0,
) -> list[tuple[str, float]]:
    """One ranking from BM25 and dense hits ``(chunk id, score)``, best first.

    ``settings.fusion == "score"``: BM25 scores as the share of the question's terms' weight
    a chunk covers (``coverage``; min-max without a ``ceiling``), dense scores min-max
    normalised over the candidates, combined with ``dense_weight : lexical_weight``.
    ``"rrf"``: weighted reciprocal-rank fusion.
    """
    if settings.fusion == "rrf":
        return rrf(
            [
                ([c for c, _ in lexical], settings.lexical_weight),
                ([c for c, _ in dense], settings.dense_weight),
            ],
            k=settings.rrf_k,
        )
    total = settings.dense_weight + settings.lexical_weight
    share = settings.dense_weight / total if dense and total > 0 else 0.0
    return combine(coverage(lexical, ceiling), minmax(dense), share)


@dataclass(frozen=True)
class SearchResult:
    passages: list[Passage]
    dense_used: bool
    note: str


#: BM25 runs here while the dense half runs in the caller's thread: SQLite's ranking and
#: embedding the question both release the GIL, so one search takes the longer of the two,
#: not their sum. (The embedder stays on the caller's thread: torch and OpenMP keep a thread
#: team per calling thread, and teams spread over pool threads fight for the cores.)
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragmix-bm25")


class HybridSearcher:
    """Ranks chunks for a question over the catalog (BM25) and a dense index."""

    def __init__(
        self,
        catalog: Catalog,
        dense: DenseIndex | None,
        settings: RetrievalSettings,
        understands: Callable[[str], bool] = lambda lang: True,
        reranker: Any = None,
    ) -> None:
        self.catalog = catalog
        self.reranker = reranker
        self.dense = dense
        self.settings = settings
        self.understands = understands

    def search(
        self,
        query: str,
        doc_ids: Sequence[str] | None = None,
        k: int | None = None,
        relative_cut: bool = True,
    ) -> SearchResult:
        """The best ``k`` passages (default ``retrieval.candidates``); ``relative_cut`` drops
        those under ``retrieval.min_relative_score`` times the best fused score."""
        s = self.settings
        n = k or s.candidates
        if doc_ids is not None and set(doc_ids) >= set(self.catalog.doc_ids("ready")):
            # Every document: no filter. Chroma's `doc_id $in [...]` over hundreds of ids
            # costs more than the search (58 ms against 3 on 20K chunks); chunks of documents
            # not ready are dropped below, as the catalog gives only ready ones.
            doc_ids = None
        tokens = lexical_tokens(query)
        lang = detect_language(query)
        dense_used = self.dense is not None and s.dense_weight > 0 and self.understands(lang)
        hits: list[tuple[str, float]] = []
        if dense_used:
            pending = _LEXICAL_POOL.submit(self.catalog.bm25, tokens, s.candidates, doc_ids)
            try:
                hits = self.dense.search(query, s.candidates, doc_ids)  # type: ignore[union-attr]
            finally:
                lexical = pending.result()  # its errors are raised here
        else:
            lexical = self.catalog.bm25(tokens, s.candidates, doc_ids)
        dense = [(cid, score) for cid, score in hits if score >= s.min_dense_score]
        note = (
            "bm25 + dense"
            if dense_used
            else (
                f"bm25 only (the embedder does not read '{lang}')"
                if self.dense is not None
                else "bm25 only"
            )
        )
        ceiling = self.catalog.bm25_ceiling(tokens) if dense else 0.0
        fused = fuse(lexical, dense, s, ceiling)[:n]
        if relative_cut and fused and dense:  # the embedder's noise: BM25 hits hold a term
            floor = s.min_relative_score * fused[0][1]
            fused = [(cid, score) for cid, score in fused if score >= floor]
        found = self.catalog.passages([c for c, _ in fused])
        lex, den = dict(lexical), dict(dense)
        out: list[Passage] = []
        for cid, score in fused:
            p = found.get(cid)
            if p is None:  # vector of a chunk the catalog no longer has (being deleted)
                continue
            p.score = round(score, 6)
            p.scores = {
                k2: round(v, 4)
                for k2, v in (("bm25", lex.get(cid)), ("dense", den.get(cid)))
                if v is not None
            }
            out.append(p)
        if self.reranker is not None and out:
            # The cross-encoder reads question and passage together: slower, sharper.
            scores = self.reranker.score(query, [p.text for p in out])
            for p, r in zip(out, scores, strict=True):
                p.scores["rerank"] = round(r, 4)
                p.score = r
            out.sort(key=lambda p: -p.score)
            note += " + rerank"
        return SearchResult(out, dense_used, note)


def pack(
    catalog: Catalog,
    ranked: Sequence[Passage],
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    max_passages: int,
) -> list[Passage]:
    """Best-first passages merged per document and fitted into ``budget_tokens``.

    Returns the passages in document order (by document, then offset), each with the best
    score of the chunks it merges. Never returns more text than the budget allows.
    """
    spans: list[Passage] = []
    used = 0
    texts: dict[str, str] = {}
    for p in ranked:
        if len(spans) >= max_passages and not any(_touches(s, p) for s in spans):
            continue
        merged = None
        for i, s in enumerate(spans):
            if _touches(s, p):
                merged = i
                break
        if merged is None:
            cand = replace(p)
            cost = count_tokens(cand.text)
            if used + cost > budget_tokens:
                continue
            spans.append(cand)
            used += cost
        else:
            s = spans[merged]
            if p.start >= s.start and p.end <= s.end:
                continue  # already inside (duplicate or overlap)
            if s.doc_id not in texts:  # one read per document, not per merge
                texts.update(catalog.texts([s.doc_id]))
            text = texts.get(s.doc_id)
            if text is None:  # removed by a writer since the search: keep the span as it is
                continue
            start, end = min(s.start, p.start), max(s.end, p.end)
            new_text = text[start:end]
            delta = count_tokens(new_text) - count_tokens(s.text)
            if used + delta > budget_tokens:
                continue
            spans[merged] = replace(
                s,
                start=start,
                end=end,
                text=new_text,
                score=max(s.score, p.score),
                index=min(s.index, p.index),
                page=p.page if p.start < s.start else s.page,  # the page where it starts
            )
            used += delta
    spans.sort(key=lambda s: (s.source, s.start))
    return spans


def _touches(a: Passage, b: Passage) -> bool:
    """Same document and overlapping or adjacent spans: chunks overlap or meet within a page,
    and consecutive pages' chunks are two characters apart (the "\n\n" between pages), so a
    passage read across a page break is merged, and cites both pages."""
    return a.doc_id == b.doc_id and a.start <= b.end + 2 and b.start <= a.end + 2


class RagmixRetriever(BaseRetriever):
    """A LangChain retriever over a ragmix store (hybrid, optionally within some documents).

    Example:
        >>> docs = rm.retriever(docs=["report.pdf"]).invoke("营业收入是多少？")  # doctest: +SKIP
        >>> docs[0].metadata["source"], docs[0].metadata["page"]            # doctest: +SKIP
        ('report.pdf', 2)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Any
    doc_ids: list[str] | None = None
    k: int = 8
    #: Drop passages far below the best (``retrieval.min_relative_score``), as ``ask`` does;
    #: off by default: a LangChain retriever returns ``k`` documents when it has them.
    relative_cut: bool = False

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """The best ``k`` passages (default: the retriever's ``k``); ``invoke(query, k=3)``
        asks for another number once."""
        result = self.searcher.search(
            query, self.doc_ids, k=k or self.k, relative_cut=self.relative_cut
        )
        return [
            Document(
                id=p.chunk_id,
                page_content=p.text,
                metadata={**p.where(), "doc_id": p.doc_id, **p.scores},
            )
            for p in result.passages
        ]
