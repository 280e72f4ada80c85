"""Where an answer comes from: the passages of the text read that hold the answer's words.

A whole-document answer was written from tens of thousands of characters; showing the
document's first lines as its "source" tells the reader nothing. After the answer is written,
its words are matched back to what the model read, and the few sentences that hold most of
them become the answer's sources, with their pages, their offsets and the matched words
marked (``highlights``). The same matching marks the words in retrieved passages, and says
how much of the answer the text read holds at all (``coverage``), which is a signal of an
answer made up rather than read (used by Self-Route, see ``ragmix.qa.router``).

Matching is lexical, deterministic and cheap (a few milliseconds on a 40K-character report):

* Units: each CJK letter is one unit, each run of other letters or digits one unit
  (lowercased); full-width ASCII counts as ASCII. Offsets always point into the original text.
* Keys: overlapping pairs of adjacent CJK letters ("营业收入" -> 营业, 业收, 收入) without a
  function character (的, 是 ...), and every word or number that is not a stopword. The keys
  of the answer are looked up in the text.
* Weights: a key found in few sentences of the text weighs more (IDF over sentences); a key
  that the question already holds weighs less (an answer repeats its question's words, which
  locate the topic but do not show that the answer was read).
* Selection: the best sentence, then the sentence that adds most of what is still uncovered,
  up to ``max_spans``, each widened to its neighbours for context.

Example:
    >>> text = "公司成立于1998年。总部位于苏州工业园区。2025年营业收入为12.3亿元。"
    >>> found = find_support("营业收入是12.3亿元", text, question="营业收入是多少？")
    >>> span = found.spans[0]  # the whole text: shorter than CONTEXT_CHARS
    >>> [text[span.start + a : span.start + b] for a, b in span.highlights]
    ['营业收入', '12.3亿元']
    >>> found.coverage
    1.0
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragmix.core.text import _CJK_RANGES, CJK_CLASS, STOPWORDS, STOPWORDS_ZH

__all__ = ["Span", "Support", "coverage", "find_support", "highlight", "pages_of", "window"]

# Full-width ASCII to ASCII and the ideographic space to a space: one character to one, so
# offsets in the folded text are offsets in the original.
_FOLD = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_UNIT_RE = re.compile(rf"(?P<cjk>{CJK_CLASS})|(?P<word>[^\W_{_CJK_RANGES}]+)")
# Sentence ends: Chinese and Western full stops, question and exclamation marks, semicolons,
# and line breaks (headings and table rows are lines).
_SENTENCE_END_RE = re.compile(r"(?:[。！？；!?;]+[”’」』）)]*|\.(?=\s)|\n)\s*")
#: Weight of a key that the question also holds (see the module docstring).
QUESTION_ECHO = 0.3
#: A passage shown for a sentence is widened with its neighbours to about this many characters.
CONTEXT_CHARS = 160
#: ...but never beyond this many.
MAX_CHARS = 400
#: A further span is added only when it holds at least this share of the answer's weight.
MIN_GAIN = 0.15


@dataclass(frozen=True)
class Span:
    """A passage of the text that supports the answer.

    Attributes:
        start, end: character offsets of the passage in the text.
        highlights: ``(start, end)`` of the matched answer words, relative to ``start``.
        share: the share of the answer's weight this passage holds on its own (0..1).
    """

    start: int
    end: int
    highlights: tuple[tuple[int, int], ...]
    share: float


@dataclass(frozen=True)
class Support:
    """What supports an answer in one text: the passages and how much of the answer they hold.

    Attributes:
        spans: best first.
        coverage: the share of the answer's weight that the spans hold together (0..1); a
            key absent from the text weighs as much as the rarest key present.
        n_keys: how many distinct keys the answer has (0: nothing to match, e.g. empty).
    """

    spans: list[Span] = field(default_factory=list)
    coverage: float = 0.0
    n_keys: int = 0


def _keys(text: str) -> list[tuple[str, int, int]]:
    """``(key, start, end)`` of every key of ``text`` in order (see the module docstring)."""
    folded = text.translate(_FOLD)
    out: list[tuple[str, int, int]] = []
    prev_cjk: tuple[str, int] | None = None  # the CJK letter just before, if adjacent
    for m in _UNIT_RE.finditer(folded):
        s, e = m.span()
        ch = m.group("cjk")
        if ch is not None:
            adjacent = prev_cjk is not None and prev_cjk[1] == s - 1
            if adjacent and prev_cjk[0] not in STOPWORDS_ZH and ch not in STOPWORDS_ZH:  # type: ignore[index]
                out.append((prev_cjk[0] + ch, s - 1, e))  # type: ignore[index]
            prev_cjk = (ch, s)
            continue
        prev_cjk = None
        word = m.group("word").lower()
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            out.append((word, s, e))
    return out


@dataclass(frozen=True)
class _Index:
    """Where each key of a text is, and which sentence each offset is in."""

    positions: dict[str, list[tuple[int, int]]]
    sentence_starts: list[int]
    length: int
    breaks: frozenset[int]  # sentences that end a paragraph (a blank line follows)

    def sentence(self, offset: int) -> int:
        return bisect_right(self.sentence_starts, offset) - 1

    def bounds(self, i: int) -> tuple[int, int]:
        end = self.sentence_starts[i + 1] if i + 1 < len(self.sentence_starts) else self.length
        return self.sentence_starts[i], end


@functools.lru_cache(maxsize=16)
def _index(text: str) -> _Index:
    positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, s, e in _keys(text):
        positions[key].append((s, e))
    starts = [0]
    breaks = set()
    for m in _SENTENCE_END_RE.finditer(text):
        if m.end() < len(text):
            if m.group().count("\n") >= 2 or "\f" in m.group():
                breaks.add(len(starts) - 1)
            starts.append(m.end())
    return _Index(dict(positions), starts, len(text), frozenset(breaks))


#: A gap of one of these characters between two marks is marked too ("12" "." "3" -> "12.3").
_JOINERS = frozenset(".,:/%-．，")


def _merge(spans: Sequence[tuple[int, int]], text: str) -> tuple[tuple[int, int], ...]:
    """Sorted, overlapping or adjacent marks merged; ``text`` is what the offsets point into."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and (s <= out[-1][1] or (s == out[-1][1] + 1 and text[s - 1] in _JOINERS)):
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def _widen(index: _Index, first: int, last: int) -> tuple[int, int]:
    """Sentences ``first..last`` widened by whole neighbours towards ``CONTEXT_CHARS``,
    within their paragraph (never across a blank line)."""
    start, _ = index.bounds(first)
    _, end = index.bounds(last)
    lo, hi = first, last
    n = len(index.sentence_starts)
    while end - start < CONTEXT_CHARS and (lo > 0 or hi < n - 1):
        grew = False
        if hi < n - 1 and hi not in index.breaks and index.bounds(hi + 1)[1] - start <= MAX_CHARS:
            hi += 1
            end = index.bounds(hi)[1]
            grew = True
        if (
            end - start < CONTEXT_CHARS
            and lo > 0
            and lo - 1 not in index.breaks
            and end - index.bounds(lo - 1)[0] <= MAX_CHARS
        ):
            lo -= 1
            start = index.bounds(lo)[0]
            grew = True
        if not grew:
            break
    if end - start > MAX_CHARS:  # one very long sentence (a table, a run-on line)
        end = start + MAX_CHARS
    return start, end


def find_support(
    answer: str, text: str, question: str = "", max_spans: int = 3, min_gain: float = MIN_GAIN
) -> Support:
    """The passages of ``text`` that hold the words of ``answer``.

    Args:
        answer: the model's answer.
        text: what the model read (a whole document, or one passage).
        question: the question; its words weigh less (see the module docstring).
        max_spans: at most this many passages.
        min_gain: a passage must add at least this share of the answer's weight.

    Returns:
        The passages (best first) with highlights, and the answer's coverage.
    """
    answer_keys = {k for k, _, _ in _keys(answer)}
    if not answer_keys or not text:
        return Support(n_keys=len(answer_keys))
    question_keys = {k for k, _, _ in _keys(question)}
    index = _index(text)
    n_sentences = len(index.sentence_starts)
    rarest = math.log(1 + n_sentences)
    weight: dict[str, float] = {}
    by_sentence: dict[int, set[str]] = defaultdict(set)
    for key in answer_keys:
        where = index.positions.get(key)
        if not where:
            weight[key] = rarest * (QUESTION_ECHO if key in question_keys else 1.0)
            continue
        sentences = {index.sentence(s) for s, _ in where[:2000]}
        w = math.log(1 + n_sentences / len(sentences))
        weight[key] = w * (QUESTION_ECHO if key in question_keys else 1.0)
        for i in sentences:
            by_sentence[i].add(key)
    total = sum(weight.values())
    covered: set[str] = set()
    spans: list[Span] = []
    chosen: list[tuple[int, int]] = []
    while len(spans) < max_spans and by_sentence:
        gains = {i: sum(weight[k] for k in keys - covered) for i, keys in by_sentence.items()}
        best = max(gains, key=lambda i: (gains[i], -i))
        g = gains[best]
        if g <= 0 or g < min_gain * total:
            break
        start, end = _widen(index, best, best)
        if any(start < e and s < end for s, e in chosen):  # overlaps a passage already shown
            covered |= by_sentence.pop(best)
            continue
        keys = by_sentence.pop(best)
        covered |= keys
        marks = [
            (s - start, e - start)
            for k in answer_keys
            for s, e in index.positions.get(k, ())
            if start <= s and e <= end
        ]
        spans.append(Span(start, end, _merge(marks, text[start:end]), round(g / total, 4)))
        chosen.append((start, end))
    coverage = sum(weight[k] for k in covered) / total if total else 0.0
    return Support(spans, round(coverage, 4), len(answer_keys))


def highlight(answer: str, passage: str) -> tuple[tuple[tuple[int, int], ...], float]:
    """The answer's words in one passage: ``(highlights, share of the answer's keys)``.

    Example:
        >>> highlight("建于1998年", "钟楼建于1998年，高三十米。")
        (((2, 8),), 1.0)
    """
    keys = {k for k, _, _ in _keys(answer)}
    if not keys:
        return (), 0.0
    found = [(k, s, e) for k, s, e in _keys(passage) if k in keys]
    share = len({k for k, _, _ in found}) / len(keys)
    return _merge([(s, e) for _, s, e in found], passage), round(share, 4)


def pages_of(page_starts: Sequence[int] | None, start: int, end: int) -> list[int]:
    """Every 1-based page that the characters ``start..end`` touch ([] without pages).

    Example:
        >>> pages_of([0, 100, 250], 90, 260)
        [1, 2, 3]
    """
    if not page_starts:
        return []
    first = max(1, bisect_right(page_starts, start))
    last = max(first, bisect_right(page_starts, max(start, end - 1)))
    return list(range(first, last + 1))


def coverage(answer: str, texts: Sequence[str], question: str = "") -> tuple[float, int]:
    """The share of the answer's own keys (those the question does not already hold) found
    in any of ``texts``, and how many such keys there are. Low coverage of a long answer
    means it was not read from these texts.

    Example:
        >>> coverage("钟楼建于1998年", ["钟楼建于1998年，高三十米。"], "钟楼建于哪一年？")
        (1.0, 1)
        >>> coverage("钟楼建于1870年，由英国人设计", ["钟楼建于1998年。"], "钟楼建于哪一年？")
        (0.0, 6)
    """
    keys = {k for k, _, _ in _keys(answer)}
    own = keys - {k for k, _, _ in _keys(question)}
    if not own:
        return 1.0, 0
    present: set[str] = set()
    for text in texts:
        present |= own & set(_index(text).positions)
    return round(len(present) / len(own), 4), len(own)


def window(length: int, first_mark: int | None, width: int) -> tuple[int, int]:
    """Where a ``width``-character view of a text of ``length`` starts and ends: a third of
    the width before its first marked word (the start without marks), kept inside the text.

    Example:
        >>> window(1000, 500, 90), window(1000, None, 90), window(50, 40, 90)
        ((470, 560), (0, 90), (0, 90))
    """
    start = max(0, min((first_mark or 0) - width // 3, length - width))
    return start, start + width
