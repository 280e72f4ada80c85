"""Every routing decision, as pure functions of token counts and settings.

A long-context model reads a whole report better than it reads retrieved fragments, above all
for global questions ("summarise", "总结"), but only if the report fits. So, for ``auto``:

* the scope (the chosen documents, or all of them) fits the budget  -> ``stuff``
* it does not, and the question is global                           -> ``map_reduce``
  (each part of the document is summarised within the window, then the parts are combined)
* it does not                                                        -> ``retrieve``

The window is split once, in ``Window``::

    n_ctx = answer (llm.max_tokens) + overhead (router.overhead_tokens) + usable
    budget = usable - question - history            (the tokens left for document text)

Decisions made later, once a prompt has been built and counted exactly, live here too:

* ``confirm_stuff``: a whole-document prompt over the window falls back to ``retrieve``;
* ``wants_self_route`` / ``doubt`` / ``self_route``: a retrieval answer that is doubtful (it
  says 无法回答, is empty, loops, or its own words are not in the passages) is asked again
  over the whole most relevant document, if it fits the same budget;
* ``map_reduce_budget`` / ``split_parts``: how much of a document one map step reads;
  ``reduce_step`` / ``notes_room`` / ``reduced``: how the part notes reach the answer;
* ``trim_history`` / ``passages_kept``: how many chat turns and passages a prompt holds;
* ``rewrite`` / ``rewritten``: the query a follow-up searches for;
* ``self_route_target``: which document Self-Route re-reads; ``read_ahead``: whether one fits.

The mode is parsed once (``parse_mode``), where a question enters the chain.

``search`` never calls a model and has no budget. A question that leaves no budget at all is
an error, never a truncated prompt. The chain (``ragmix.qa.chain``) only carries decisions out.

One room, though long: every route and budget decision of an answer lives here on purpose
(issue 28), as pure functions with their examples; splitting it would give the chain two
places to ask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ragmix.core.errors import BudgetError, ConfigError
from ragmix.core.schema import MODES, Mode, Route

if TYPE_CHECKING:
    from ragmix.core.settings import Settings


#: Smallest useful room for document text; below it a prompt would be all question.
MIN_BUDGET = 64
#: The longest note a map step may write about one part (its ``max_tokens``). The map prompt
#: asks for at most 200 characters: ~200 Chinese tokens with a Qwen-style tokenizer, less in
#: English, so 256 leaves the note room to finish.
MAP_NOTE_TOKENS = 256
#: Tokens a map prompt adds around its part beyond ``router.overhead_tokens``: its
#: instruction (naming the document and "part i/n") is written twice, before and after the
#: text, each in a chat message of its own.
MAP_PROMPT_TOKENS = 160

_GLOBAL = re.compile(
    r"(总结|概括|概述|摘要|归纳|全文|通篇|整篇|整份|主要内容|讲了什么|说了什么|写了什么|要点|大意"
    r"|summari[sz]e|summary|overview|outline|main (points|ideas|topics)|key (points|takeaways)"
    r"|what is (this|the) (document|report|paper|file) about|tl;?dr|whole document)",
    re.IGNORECASE,
)


def parse_mode(mode: str) -> Mode:
    """``mode`` as a ``Mode``.

    Raises:
        ConfigError: not one of ``MODES``.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return cast(Mode, mode)


def is_global_question(question: str) -> bool:
    """Whether a question asks about the document as a whole rather than a fact in it."""
    return bool(_GLOBAL.search(question))


@dataclass(frozen=True)
class Window:
    """The answering model's context window and what every prompt must leave free in it.

    Example:
        >>> w = Window(n_ctx=8192, answer_tokens=512, overhead_tokens=256)
        >>> w.prompt_limit, w.usable, w.question_limit, w.budget(20, 0)
        (7680, 7424, 7360, 7404)
    """

    n_ctx: int
    answer_tokens: int
    overhead_tokens: int

    @classmethod
    def of(cls, settings: Settings, n_ctx: int | None = None) -> Window:
        """The window of ``settings.llm`` (``n_ctx``: the loaded model's, when it says)."""
        return cls(
            n_ctx or settings.llm.n_ctx, settings.llm.max_tokens, settings.router.overhead_tokens
        )

    @property
    def prompt_limit(self) -> int:
        """The most tokens a whole prompt may take: the rest is the answer's."""
        return self.n_ctx - self.answer_tokens

    @property
    def usable(self) -> int:
        """Tokens for document text, question and history: the prompt limit less the
        instructions, template and markup (``router.overhead_tokens``)."""
        return self.prompt_limit - self.overhead_tokens

    @property
    def question_limit(self) -> int:
        """The most tokens a question (with its history) may take: what still leaves
        ``MIN_BUDGET`` tokens of document text."""
        return max(self.usable - MIN_BUDGET, 0)

    def budget(self, question_tokens: int, history_tokens: int = 0) -> int:
        """Tokens left for document text after the question and the history."""
        return self.usable - question_tokens - history_tokens

    def fits(self, prompt_tokens: int) -> bool:
        """Whether a prompt, counted exactly, leaves the answer its tokens."""
        return prompt_tokens <= self.prompt_limit


@dataclass(frozen=True)
class RouteRequest:
    """Everything the first decision depends on, in tokens of the answering model."""

    mode: Mode
    scope_tokens: int
    window: Window
    question_tokens: int
    history_tokens: int = 0
    is_global: bool = False
    n_docs: int = 1
    stuff_max_tokens: int | None = None  # router.stuff_max_tokens: auto's own limit

    @property
    def budget(self) -> int:
        return self.window.budget(self.question_tokens, self.history_tokens)


@dataclass(frozen=True)
class RouteDecision:
    """A route with its reason in words.

    Attributes:
        route: how the question is answered.
        reason: why, for people (shown by the CLI, the page and ``--json``).
        scope: tokens of document text in scope (0 for ``search``: nothing is counted).
        budget: tokens of document text a prompt may hold; None for ``search``, which
            builds no prompt.
    """

    route: Route
    reason: str
    scope: int
    budget: int | None


def _too_long(req: RouteRequest) -> BudgetError:
    q, h, w = req.question_tokens, req.history_tokens, req.window
    params = {"q": q, "h": h, "qh": q + h, "limit": w.question_limit, "n_ctx": w.n_ctx,
              "answer": w.answer_tokens, "overhead": w.overhead_tokens,
              "min": MIN_BUDGET}  # fmt: skip
    if h:
        asked = f"the question ({q:,} tokens) and the chat history ({h:,}) take {q + h:,} tokens"
    else:
        asked = f"the question is {q:,} tokens long"
    return BudgetError(
        f"{asked}, over the {w.question_limit:,}-token limit of this model: its {w.n_ctx:,}-token "
        f"context keeps {w.answer_tokens:,} for the answer, {w.overhead_tokens:,} for the "
        f"instructions and at least {MIN_BUDGET} for document text; shorten the question"
        f"{', clear the history' if h else ''} or use a model with a larger llm.n_ctx",
        code="question_history_too_long" if h else "question_too_long",
        params=params,
    )


#: Room left for the question when a document is read ahead (``ragmix warm``).
READ_AHEAD_QUESTION_TOKENS = 64


def read_ahead(doc_tokens: int, window: Window) -> RouteDecision:
    """Whether one document can be read ahead (``ragmix warm``): ``stuff`` when it fits whole
    beside a short question, else the ``retrieve`` decision whose reason says why not.

    Example:
        >>> read_ahead(5000, Window(8192, 512, 256)).route
        'stuff'
        >>> read_ahead(9000, Window(8192, 512, 256)).route
        'retrieve'
    """
    req = RouteRequest("stuff", doc_tokens, window, READ_AHEAD_QUESTION_TOKENS)
    return decide(req)


def search_decision() -> RouteDecision:
    """``search``: passages only; no model, no prompt, so no budget."""
    return RouteDecision("search", "search only: passages, no model", 0, None)


def decide(req: RouteRequest) -> RouteDecision:
    """Choose the route for one question.

    Raises:
        BudgetError: the question (with history) leaves no room for any document text.
    """
    if req.mode == "search":
        return search_decision()
    budget = req.budget
    if budget < MIN_BUDGET:
        raise _too_long(req)
    fits = req.scope_tokens <= budget
    scope = f"{req.scope_tokens:,}"
    room = f"{budget:,}"
    docs = "document" if req.n_docs == 1 else f"{req.n_docs} documents"

    def route(r: Route, reason: str) -> RouteDecision:
        return RouteDecision(r, reason, req.scope_tokens, budget)

    if req.scope_tokens == 0:
        return route("retrieve", "no document text in scope")
    if req.mode == "retrieve":
        return route("retrieve", "retrieval chosen")
    if req.mode == "stuff":
        if fits:
            return route("stuff", f"whole {docs} chosen: {scope} of {room} tokens")
        return route(
            "retrieve",
            f"whole {docs} asked for, but {scope} tokens exceed the {room}-token budget: "
            "retrieving passages instead",
        )
    # A calibrated limit (measured on questions about one fact); a question about the whole
    # text still reads it whole when it fits.
    limit = req.stuff_max_tokens
    if fits and limit is not None and req.scope_tokens > limit and not req.is_global:
        return route(
            "retrieve",
            f"{scope} tokens fit the {room}-token budget, but this model answers better from "
            f"passages beyond {limit:,} tokens (router.stuff_max_tokens): retrieving passages",
        )
    if fits:
        return route("stuff", f"whole {docs} fits: {scope} of {room} tokens")
    if req.is_global:
        parts = map_reduce_budget(req.window)
        if parts.part_tokens >= MIN_BUDGET:
            return route(
                "map_reduce",
                f"global question and {scope} tokens exceed the {room}-token budget: "
                "summarising the document part by part, then combining",
            )
        return route(
            "retrieve",
            f"global question and {scope} tokens exceed the {room}-token budget, but the "
            f"{req.window.n_ctx:,}-token context is too small to summarise part by part: "
            "retrieving passages",
        )
    return route("retrieve", f"{scope} tokens exceed the {room}-token budget: retrieving passages")


# -- after the prompt is built ------------------------------------------------------------
def confirm_stuff(decision: RouteDecision, prompt_tokens: int, window: Window) -> RouteDecision:
    """The whole-document prompt, counted exactly, against the window.

    ``router.overhead_tokens`` is an estimate of the template and instructions; when it is
    too low the real prompt can overflow. Then the route falls back to ``retrieve``, with a
    budget smaller by the overshoot so the passages fit where the whole text did not.

    Returns:
        ``decision`` itself when the prompt fits, else the ``retrieve`` decision.
    """
    if window.fits(prompt_tokens) or decision.budget is None:
        return decision
    limit = window.prompt_limit
    return RouteDecision(
        "retrieve",
        f"whole document prompt is {prompt_tokens:,} tokens, over the {limit:,} limit: "
        "retrieving passages",
        decision.scope,
        decision.budget - (prompt_tokens - limit),
    )


def with_passages(decision: RouteDecision, n_passages: int, note: str) -> RouteDecision:
    """A ``retrieve`` decision, its reason completed with what retrieval found."""
    return RouteDecision(
        "retrieve",
        f"{decision.reason}; {n_passages} passages ({note})",
        decision.scope,
        decision.budget,
    )


def no_room_for_passages(prompt_tokens: int, window: Window) -> BudgetError:
    """The error for a retrieval prompt that overflows with no passage left in it."""
    return BudgetError(
        f"the prompt needs {prompt_tokens:,} tokens with no passage at all, over the "
        f"{window.prompt_limit:,}-token limit; shorten the question or history",
        code="no_room_for_passages",
        params={"n": prompt_tokens, "limit": window.prompt_limit},
    )


# -- Self-Route ---------------------------------------------------------------------------
#: An answer with at least this many words of its own (keys, see ``ragmix.qa.support``) of
#: which fewer than ``MIN_COVERAGE`` are in the passages it was written from was not read
#: from them.
MIN_KEYS = 4
MIN_COVERAGE = 0.35


def wants_self_route(mode: Mode, route: Route, *, enabled: bool, has_passages: bool) -> bool:
    """Whether a retrieved answer may be asked again over a whole document (Self-Route).

    Only when the router chose retrieval itself (``auto``; a user who asked for
    ``retrieve`` gets retrieval), ``router.self_route`` is on and passages were read; the
    answer is then checked by :func:`doubt`.
    """
    return mode == "auto" and route == "retrieve" and enabled and has_passages


def doubt(answer: str, *, unanswerable: bool, coverage: tuple[float, int]) -> str | None:
    """Why a retrieved answer should not be trusted, or None.

    Small models rarely say 无法回答 when the passages lack the answer: they write one
    anyway. So besides the model's own words, signals that do not depend on the model's
    honesty: an empty answer, an answer that repeats itself (a loop to the token cap), and
    an answer whose own words (those not in the question) are mostly not in the passages.

    Args:
        answer: the answer written from the passages.
        unanswerable: the answer says the passages do not hold it.
        coverage: ``(share, n)`` from ``ragmix.qa.support.coverage``: the share of the
            answer's ``n`` own words found in the passages.

    Example:
        >>> doubt("钟楼建于1870年，由英国人设计", unanswerable=False, coverage=(0.0, 6))
        "only 0% of the answer's own words are in the passages"
    """
    text = answer.strip()
    if not text:
        return "the answer from the passages was empty"
    if unanswerable:
        return "the answer says the passages do not hold it"
    if repeats(text):
        return "the answer from the passages repeats itself"
    share, n = coverage
    if n >= MIN_KEYS and share < MIN_COVERAGE:
        return f"only {share:.0%} of the answer's own words are in the passages"
    return None


def repeats(text: str, width: int = 12) -> bool:
    """Whether ``text`` loops: under half of its ``width``-character pieces are distinct.

    Example:
        >>> repeats("营业收入为12.3亿元。" * 20), repeats("营业收入为12.3亿元。")
        (True, False)
    """
    pieces = [text[i : i + width] for i in range(0, max(len(text) - width, 0), 3)]
    return len(pieces) >= 20 and len(set(pieces)) < len(pieces) / 2


def self_route_target(passages: Sequence[tuple[str, float]]) -> str:
    """The document Self-Route re-reads: the one holding the best-scored passage.

    Args:
        passages: ``(doc id, score)`` of the passages the answer was written from.

    Example:
        >>> self_route_target([("a", 0.2), ("b", 0.9), ("a", 0.5)])
        'b'
    """
    return max(passages, key=lambda p: p[1])[0]


def self_route(decision: RouteDecision, doc_tokens: int, why: str) -> RouteDecision | None:
    """Re-read the most relevant document (``doc_tokens`` long) whole, if it fits the budget
    the retrieval had; None when it does not (the retrieval answer stands). ``why`` (from
    :func:`doubt`) goes into the reason."""
    if decision.budget is None or doc_tokens > decision.budget:
        return None
    return RouteDecision(
        "stuff",
        f"self-route: {why}, so the whole most relevant document "
        f"({doc_tokens:,} of {decision.budget:,} tokens) was read",
        doc_tokens,
        decision.budget,
    )


# -- abstention ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Confidence:
    """How far the retrieved passages bear on the question, measured before any model call.

    Attributes:
        terms: the best passage's share of the question's key-term weight (0..1; 1.0 when the
            question has no key terms to look for), see ``ragmix.qa.verdict.relevance``.
        dense: the best passage's cosine similarity to the question (None when the embedder
            was not used: it does not read the question's language, or there is none).
    """

    terms: float
    dense: float | None


def abstain(conf: Confidence, *, enabled: bool, min_terms: float, min_dense: float) -> str | None:
    """Why the documents do not bear on the question, or None (ask the model).

    Both signals must be low: the key terms missing from every passage *and* (when measured)
    no passage close in meaning. A question worded unlike its passage keeps the model through
    the meaning; a passage that names what was asked keeps it through the terms.
    ``answer.abstain_min_terms`` / ``abstain_min_dense`` are measured on CMRC 2018
    (``benchmarks/bench_trust.py``).

    Example:
        >>> why = abstain(Confidence(0.2, 0.80), enabled=True, min_terms=0.35, min_dense=0.86)
        >>> why[:60]
        'not in your documents: the best passage holds 20% of the que'
        >>> why[-45:]
        'its meaning similarity is 0.800 (under 0.860)'
        >>> abstain(Confidence(0.2, 0.90), enabled=True, min_terms=0.35, min_dense=0.86) is None
        True
    """
    if not enabled or conf.terms >= min_terms:
        return None
    why = (
        f"not in your documents: the best passage holds {conf.terms:.0%} of the question's key "
        f"terms (under {min_terms:.0%})"
    )
    if conf.dense is None:
        return why + " (meaning not measured: the embedder does not read the question)"
    if conf.dense >= min_dense:
        return None
    return why + f" and its meaning similarity is {conf.dense:.3f} (under {min_dense:.3f})"


def abstained(decision: RouteDecision, why: str) -> RouteDecision:
    """The retrieval decision once it abstains: no prompt is built, the model not called."""
    return RouteDecision(
        decision.route, f"{why}; the model was not asked", decision.scope, decision.budget
    )


# -- what a prompt holds -------------------------------------------------------------------
def trim_history(turn_costs: Sequence[int], limit: int) -> int:
    """How many of the newest chat turns a prompt keeps: as many as fit ``limit`` tokens
    (``router.history_tokens``), newest first, stopping at the first that does not fit (an
    older turn without the ones after it would read out of order).

    Args:
        turn_costs: each turn's tokens, oldest first.
        limit: tokens the history may take.

    Example:
        >>> trim_history([50, 300, 100, 100], 250), trim_history([50], 0), trim_history([], 9)
        (2, 0, 0)
    """
    kept = used = 0
    for cost in reversed(turn_costs):
        if used + cost > limit:
            break
        kept += 1
        used += cost
    return kept


def passages_kept(n_passages: int, prompt_tokens: int, window: Window) -> int:
    """How many of a retrieval prompt's passages (best first) it keeps, given the prompt
    counted exactly: all when it fits the window, else one fewer (the chain builds the
    smaller prompt, counts it and asks again: the passages were packed to the route's
    budget, which is exact up to the template's overhead, so one or two go at the most).

    Raises:
        BudgetError: the prompt overflows with no passage left in it.

    Example:
        >>> w = Window(1000, 100, 100)                  # prompt limit 900
        >>> passages_kept(3, 900, w), passages_kept(3, 950, w), passages_kept(0, 900, w)
        (3, 2, 0)
    """
    if window.fits(prompt_tokens):
        return n_passages
    if not n_passages:
        raise no_room_for_passages(prompt_tokens, window)
    return n_passages - 1


def notes_room(room: int, note_costs: Sequence[int], over: int) -> int:
    """Tokens the reduce prompt has for notes: ``room`` (the window's budget after the
    question), smaller when the prompt, counted exactly, was ``over`` the window by more than
    the estimate said (the exact count is the judge).

    Example:
        >>> notes_room(1000, [300, 300], 0), notes_room(1000, [300, 300], 100)
        (1000, 500)
    """
    return min(room, sum(note_costs) - over) if over > 0 else room


#: The longest rewritten follow-up, compared to the question: a standalone question is one
#: sentence, so a reply longer than this is a model rambling, not a question.
REWRITE_MAX_CHARS = (4, 200)  # 4 × the question's characters + 200


def rewrite(how: str, question: str, previous: str) -> str | None:
    """The query retrieval searches for a follow-up (``router.rewrite``): ``off`` the
    question as asked, ``concat`` the previous question and this one; None for ``model``
    (ask the model, then :func:`rewritten`).

    Example:
        >>> rewrite("off", "and 2023?", "revenue"), rewrite("concat", "and 2023?", "revenue")
        ('and 2023?', 'revenue and 2023?')
        >>> rewrite("model", "and 2023?", "revenue") is None
        True
    """
    if how == "off":
        return question
    if how == "concat":
        return f"{previous} {question}"
    return None


def rewritten(question: str, previous: str, reply: str) -> str:
    """The model's rewrite of a follow-up, or the ``concat`` fallback when the reply is empty
    (the model failed) or too long to be one question.

    Example:
        >>> rewritten("and 2023?", "revenue", "What was revenue in 2023?")
        'What was revenue in 2023?'
        >>> rewritten("and 2023?", "revenue", ""), rewritten("and 2023?", "revenue", "x" * 300)
        ('revenue and 2023?', 'revenue and 2023?')
    """
    times, plus = REWRITE_MAX_CHARS
    text = reply.strip()
    if not text or len(text) > times * len(question) + plus:
        return f"{previous} {question}"
    return text


def passage_budget(budget: int, max_passage_tokens: int | None) -> int:
    """Tokens of passages a retrieval prompt may hold: the route's budget, capped by
    ``retrieval.max_passage_tokens`` (small models answer worse from many passages).

    Example:
        >>> passage_budget(7000, 1500), passage_budget(900, 1500), passage_budget(7000, None)
        (1500, 900, 7000)
    """
    return budget if max_passage_tokens is None else min(budget, max_passage_tokens)


# -- map-reduce ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MapReduceBudget:
    """How one map step is sized.

    Attributes:
        part_tokens: the most document tokens one part may hold.
        note_tokens: the most tokens a part's note may take (the map step's ``max_tokens``).
    """

    part_tokens: int
    note_tokens: int


def map_reduce_budget(window: Window) -> MapReduceBudget:
    """A part is what fits beside the map prompt's instructions and its note.

    Example:
        >>> map_reduce_budget(Window(1024, 96, 256))
        MapReduceBudget(part_tokens=352, note_tokens=256)
    """
    part = window.n_ctx - MAP_NOTE_TOKENS - window.overhead_tokens - MAP_PROMPT_TOKENS
    return MapReduceBudget(part, MAP_NOTE_TOKENS)


def split_parts(costs: Sequence[int], part_tokens: int) -> list[int]:
    """Cut a document's chunks, in order, into parts of at most ``part_tokens``.

    Args:
        costs: each chunk's tokens.
        part_tokens: the part budget (``map_reduce_budget(...).part_tokens``).

    Returns:
        How many chunks each part takes. A chunk larger than the budget is a part of its own.

    Example:
        >>> split_parts([100, 100, 100, 400, 50], 250)
        [2, 1, 1, 1]
    """
    sizes: list[int] = []
    n = used = 0
    for cost in costs:
        if n and used + cost > part_tokens:
            sizes.append(n)
            n = used = 0
        n += 1
        used += cost
    if n:
        sizes.append(n)
    return sizes


#: Tokens the reduce prompt adds per note: its "(i) " label and the blank line after it.
NOTE_MARK_TOKENS = 4


@dataclass(frozen=True)
class ReduceStep:
    """One round of combining part notes (``reduce_step``).

    Attributes:
        merge: ``(first, last)`` note indexes, in order and covering every note, each range
            to be summarised into one note this round (a range of one note stays as it is);
            empty when the notes already fit the answer's prompt.
        keep: when no two notes fit one summarising step (a tiny window), how many notes the
            answer reads; the rest are left out and the reason says so. None otherwise.
    """

    merge: tuple[tuple[int, int], ...] = ()
    keep: int | None = None


def reduce_step(note_costs: Sequence[int], budget: int, merge_tokens: int) -> ReduceStep:
    """What to do with part notes before the answer: nothing when they fit ``budget``, else
    merge neighbours into groups of at most ``merge_tokens`` (one round; the chain asks
    again with the merged notes), so that every part's note reaches the answer.

    Args:
        note_costs: each note's tokens in the reduce prompt (with ``NOTE_MARK_TOKENS``).
        budget: tokens the answer's prompt has for notes.
        merge_tokens: tokens one summarising step may read (a map step's part budget).

    Example:
        >>> reduce_step([100, 100], 250, 400)
        ReduceStep(merge=(), keep=None)
        >>> reduce_step([100, 100, 100, 100], 250, 250)
        ReduceStep(merge=((0, 1), (2, 3)), keep=None)
        >>> reduce_step([200, 200, 200], 250, 300)
        ReduceStep(merge=(), keep=1)
    """
    if sum(note_costs) <= budget:
        return ReduceStep()
    sizes = split_parts(note_costs, merge_tokens)
    if len(sizes) < len(note_costs):  # at least two notes share a step: progress
        merge, first = [], 0
        for size in sizes:
            merge.append((first, first + size - 1))
            first += size
        return ReduceStep(tuple(merge))
    keep = used = 0
    for cost in note_costs:
        if used + cost > budget:
            break
        keep += 1
        used += cost
    return ReduceStep(keep=max(keep, 1))


def _ranges(parts: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``'1-3, 5'``."""
    out: list[str] = []
    for p in sorted(set(parts)):
        if out and p == int(out[-1].rpartition("-")[2]) + 1:
            out[-1] = f"{out[-1].partition('-')[0]}-{p}"
        else:
            out.append(str(p))
    return ", ".join(out)


def reduced(
    decision: RouteDecision, n_parts: int, rounds: int, covered: Sequence[int]
) -> RouteDecision:
    """A ``map_reduce`` decision, its reason completed with what the answer was written from:
    how many rounds combined the notes and, if any part's note was left out, which parts
    (1-based) it covers.

    Example:
        >>> d = RouteDecision("map_reduce", "global question", 9_000, 3_000)
        >>> reduced(d, 4, 0, [1, 2, 3, 4]).reason
        'global question; answered from the notes of all 4 parts'
        >>> reduced(d, 9, 2, range(1, 10)).reason
        'global question; answered from the notes of all 9 parts, combined in 2 rounds'
        >>> reduced(d, 5, 0, [1, 2]).reason[17:]
        'answered from parts 1-2 of 5 only: the notes of parts 3-5 did not fit the context'
    """
    if len(set(covered)) >= n_parts:
        how = f", combined in {rounds} round{'s' if rounds != 1 else ''}" if rounds else ""
        note = f"answered from the notes of all {n_parts} parts{how}"
    else:
        left = [p for p in range(1, n_parts + 1) if p not in set(covered)]
        note = (
            f"answered from parts {_ranges(covered)} of {n_parts} only: the notes of parts "
            f"{_ranges(left)} did not fit the context"
        )
    reason = f"{decision.reason}; {note}"
    return RouteDecision(decision.route, reason, decision.scope, decision.budget)
