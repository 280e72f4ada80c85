"""Cut a document's text into passages at paragraph and sentence ends, Chinese and English.

The text is first cut into *units*: whole sentences, each remembering how strong the boundary
before it is (paragraph > sentence). A sentence longer than ``chunk_tokens`` alone is cut at
line breaks, then at clause marks (，、：,:), then at token boundaries, and only those pieces
are smaller than a sentence. Units are packed greedily into chunks of at most ``chunk_tokens``;
when a chunk is full it ends at the strongest boundary that still leaves it at least half full,
so paragraphs stay together when they can. Each chunk after the first starts with trailing
whole sentences of the previous chunk totalling at most ``overlap_tokens``.

Token counting is the expensive part (a Hugging Face tokenizer is ~10-100 µs a call), so each
unit is counted once and packing adds those counts; every finished chunk is counted once more
for its real ``n_tokens``, and shrunk if the real count is over the limit.

Example:
    >>> from ragmix.ingest.splitter import char_token_estimate, split_text
    >>> [c.text for c in split_text("第一句。第二句。\\n\\n第三句。", char_token_estimate, 8, 0)]
    ['第一句。第二句。', '第三句。']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from ragmix.core.errors import ConfigError
from ragmix.core.schema import Chunk
from ragmix.core.text import CJK_CLASS

# Strength of the boundary *before* a unit: a full chunk ends before the strongest one.
PARA, SENT, LINE, CLAUSE, TOKEN = 4, 3, 2, 1, 0

_CLOSERS = "」』”’）)\\]】》〉\"'"
# A blank line, possibly holding spaces: the paragraph separator.
_PARA_RE = re.compile(r"\n[^\S\n]*\n")
# CJK ends need no space after them; Latin ends do (so "3.14" and "a.b" stay whole). A Latin
# run is matched from its first mark only and never given back: otherwise a long run of dots
# not followed by a space is retried from each dot (quadratic: 20,000 dots took 12 s).
_SENT_RE = re.compile(rf"[。！？；…]+[{_CLOSERS}]*|(?<![.!?;])[.!?;]++[{_CLOSERS}]*(?=\s|$)")
_LINE_RE = re.compile(r"\n")
# Not between digits' separators: "1,000" and "12:30" stay whole.
_CLAUSE_RE = re.compile(r"[，、：]|[,:](?!\d)")
# A chunk is also at most this many characters per token of its limit. Real text has 1-6;
# without the cap a run the tokenizer reads as one token (WordPiece turns a 100 MB word into
# a single [UNK]) would become one 100 MB chunk, and an over-long span would be tokenized
# whole (gigabytes of token objects) only to learn that it must be cut.
MAX_CHARS_PER_TOKEN = 16
# Fallbacks for a sentence over the limit, in order, before cutting at token boundaries.
_FALLBACKS = ((LINE, _LINE_RE), (CLAUSE, _CLAUSE_RE))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A "." after these is not a sentence end: list numbers ("1. Item"), initials, abbreviations.
_ABBREVIATIONS = _words(
    "mr mrs ms dr prof st vs e.g i.e fig figs no nos vol pp inc ltd co jr sr cf approx"
)
# A letter or digit of a space-separated script: a token cut between two of them splits a word.
_WORD_CHAR_RE = re.compile(rf"[^\W_{CJK_CLASS[1:-1]}]")

# char_token_estimate: CJK letters and full-width/CJK punctuation ~1 token each, a word of
# other scripts ~1.3 tokens, any other symbol 1.
_WIDE = CJK_CLASS[1:-1] + "\u3001-\u303f\uff00-\uffef"
_EST_WIDE_RUN_RE = re.compile(f"[{_WIDE}]+")
_EST_WORD_RE = re.compile(rf"[^\W_{_WIDE}]+")
_EST_SYM_RE = re.compile(rf"[^\w\s{_WIDE}]|_")


def char_token_estimate(text: str) -> int:
    """A cheap, deterministic token count for when no tokenizer is at hand (and for tests).

    Each CJK character or full-width punctuation mark counts 1, each word of another script
    1.3 (rounded half up over the whole text), each other symbol 1; whitespace counts 0, so
    any text with a visible character counts at least 1.

    Example:
        >>> char_token_estimate("苏州工业园区 has 3 parks.")
        11
    """
    # Removing runs is ~4x faster than finding millions of one-character matches.
    n_wide = len(text) - len(_EST_WIDE_RUN_RE.sub("", text))
    n_words = len(_EST_WORD_RE.findall(text))
    return n_wide + len(_EST_SYM_RE.findall(text)) + int(1.3 * n_words + 0.5)


@dataclass(slots=True)
class _Unit:
    start: int
    end: int
    n: int  # tokens, counted once
    level: int  # strength of the boundary before this unit
    whole: bool  # a whole sentence, so it may be repeated as overlap


def split_text(
    text: str,
    count_tokens: Callable[[str], int],
    chunk_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    """Cut ``text`` into ordered chunks of at most ``chunk_tokens`` tokens.

    Args:
        text: the whole document; chunk offsets point into it
            (``text[c.start:c.end] == c.text``).
        count_tokens: the tokenizer's count (e.g. the embedder's); called about once per
            sentence plus once per chunk.
        chunk_tokens: the most tokens a chunk may have. Only a run that cannot be cut (one
            character counting more than this) may exceed it. A chunk also has at most
            ``MAX_CHARS_PER_TOKEN * chunk_tokens`` characters.
        overlap_tokens: at most this many tokens of whole trailing sentences of a chunk are
            repeated at the start of the next one; 0 turns overlap off.

    Returns:
        Chunks numbered from 0, in text order, trimmed of surrounding whitespace, together
        covering every non-whitespace character; ``[]`` for an empty or blank text.

    Raises:
        ConfigError: ``chunk_tokens < 1`` or ``overlap_tokens`` not in ``[0, chunk_tokens)``.
    """
    if chunk_tokens < 1:
        raise ConfigError(
            f"chunk_tokens is {chunk_tokens}; it must be at least 1: "
            "set chunking.chunk_tokens to a positive number in your config"
        )
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ConfigError(
            f"overlap_tokens is {overlap_tokens}; it must be at least 0 and smaller than "
            f"chunk_tokens ({chunk_tokens}): lower chunking.overlap_tokens in your config"
        )
    max_chars = MAX_CHARS_PER_TOKEN * chunk_tokens
    units = _units(text, count_tokens, chunk_tokens, max_chars)
    return _pack(text, units, count_tokens, chunk_tokens, overlap_tokens, max_chars)


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _cut_after(
    text: str, start: int, end: int, pattern: re.Pattern[str], sentences: bool = False
) -> list[tuple[int, int]]:
    """Trimmed, non-blank spans of ``text[start:end]``, cut after each match of ``pattern``."""
    spans = []
    pos = start
    for m in pattern.finditer(text, start, end):
        if sentences and _not_a_sentence_end(text, m, start):
            continue
        if (span := _trim(text, pos, m.end())) is not None:
            spans.append(span)
        pos = m.end()
    if (span := _trim(text, pos, end)) is not None:
        spans.append(span)
    return spans


def _not_a_sentence_end(text: str, m: re.Match[str], floor: int) -> bool:
    """A lone "." after a list number, an initial or a known abbreviation ("Dr. Li")."""
    if text[m.start()] != "." or m.group().startswith(".."):
        return False
    i = m.start()
    while i > floor and i > m.start() - 12 and not text[i - 1].isspace():
        i -= 1
    word = text[i : m.start()]
    return (
        (word.isdigit() and len(word) <= 3)
        or (len(word) == 1 and word.isalpha())
        or word.lower() in _ABBREVIATIONS
    )


def _units(text: str, count: Callable[[str], int], limit: int, max_chars: int) -> list[_Unit]:
    units: list[_Unit] = []
    for ps, pe in _cut_after(text, 0, len(text), _PARA_RE):
        level = PARA
        for ss, se in _cut_after(text, ps, pe, _SENT_RE, sentences=True):
            n = _count_within(text, ss, se, count, limit, max_chars)
            if n <= limit:
                units.append(_Unit(ss, se, n, level, True))
            else:
                _split_long(text, ss, se, level, 0, count, limit, max_chars, units)
            level = SENT
    return units


def _count_within(
    text: str, start: int, end: int, count: Callable[[str], int], limit: int, max_chars: int
) -> int:
    """Tokens of ``text[start:end]``; a span over ``max_chars`` is not counted: limit + 1."""
    return count(text[start:end]) if end - start <= max_chars else limit + 1


def _split_long(
    text: str,
    start: int,
    end: int,
    level: int,
    depth: int,
    count: Callable[[str], int],
    limit: int,
    max_chars: int,
    out: list[_Unit],
) -> None:
    """Append pieces of an over-long span, cutting at the weakest boundaries only if needed."""
    for lvl, pattern in _FALLBACKS[depth:]:
        depth += 1
        pieces = _cut_after(text, start, end, pattern)
        if len(pieces) < 2:
            continue
        for ps, pe in pieces:
            n = _count_within(text, ps, pe, count, limit, max_chars)
            if n <= limit:
                out.append(_Unit(ps, pe, n, level, False))
            else:
                _split_long(text, ps, pe, level, depth, count, limit, max_chars, out)
            level = lvl
        return
    _cut_tokens(text, start, end, level, count, limit, max_chars, out)


def _cut_tokens(
    text: str,
    start: int,
    end: int,
    level: int,
    count: Callable[[str], int],
    limit: int,
    max_chars: int,
    out: list[_Unit],
) -> None:
    """Last resort: the longest prefixes that fit (and have at most ``max_chars``).

    Tokens grow about linearly with characters, so the first probes aim where the last
    count says the limit lies (the secant method; a CJK run needs 2 counts a piece), then
    plain bisection takes over so a nonlinear tokenizer still finishes in O(log n) counts.
    """
    pos = start
    while pos < end:
        remaining = end - pos
        room = min(remaining, max_chars)
        good, bad = 0, room + 1  # longest prefix known to fit, shortest known not to
        probe = min(limit, room)
        for step in itertools.count():
            n = count(text[pos : pos + probe])
            if n <= limit:
                good = probe
            else:
                bad = probe
            if bad - good <= 1:
                break
            if step < 3:  # aim at the first length over the limit
                aim = probe * (limit + 1) // max(n, 1)
                if n <= limit:
                    aim = min(aim, 4 * probe)  # a long cheap run must not make one huge count
                probe = min(max(aim, good + 1), bad - 1)
            else:  # bisect, or gallop while no length over the limit is known nearby
                probe = (good + bad) // 2 if bad <= 2 * good + 1 else 2 * good + 1
        cut = pos + max(good, 1)  # one character that alone is over the limit: indivisible
        if good < remaining and good > 1:
            cut = _back_off_to_word_end(text, pos, cut)
        span = _trim(text, pos, cut)
        if span is not None:
            out.append(_Unit(span[0], span[1], count(text[span[0] : span[1]]), level, False))
            level = TOKEN
        pos = cut


def _back_off_to_word_end(text: str, pos: int, cut: int) -> int:
    """Move a cut that falls inside a Latin word back to the last space, if not too far."""
    if not (_WORD_CHAR_RE.match(text[cut - 1]) and _WORD_CHAR_RE.match(text[cut])):
        return cut
    floor = pos + (cut - pos) // 2
    for i in range(cut - 1, floor, -1):
        if text[i].isspace():
            return i + 1
    return cut


def _pack(
    text: str,
    units: list[_Unit],
    count: Callable[[str], int],
    limit: int,
    overlap: int,
    max_chars: int,
) -> list[Chunk]:
    chunks: list[Chunk] = []
    start = new_from = 0  # first unit of the chunk (maybe overlap); first unit not yet emitted
    while new_from < len(units):
        total = sum(u.n for u in units[start:new_from])
        end = new_from
        while end < len(units) and (
            end == new_from
            or (total + units[end].n <= limit and units[end].end - units[start].start <= max_chars)
        ):
            total += units[end].n
            end += 1
        if end < len(units):
            end = _best_cut(units, start, new_from, end, total, limit)
        while True:  # the sum of unit counts is an estimate: check the real count
            s, e = units[start].start, units[end - 1].end
            n = count(text[s:e])
            if (n <= limit and e - s <= max_chars) or end - start == 1:
                break
            if end - 1 > new_from:
                end -= 1
            else:
                start += 1
        chunks.append(Chunk(index=len(chunks), text=text[s:e], start=s, end=e, n_tokens=n))
        new_from = end
        if end < len(units):
            start = _overlap_start(units, start, end, limit, overlap)
    return chunks


def _best_cut(
    units: list[_Unit], start: int, new_from: int, end: int, total: int, limit: int
) -> int:
    """End before the strongest boundary (latest on ties) that leaves the chunk half full."""
    best, best_level = end, units[end].level
    tok = total
    for c in range(end - 1, new_from, -1):
        tok -= units[c].n  # tokens of units[start:c]
        if 2 * tok < limit:
            break
        if units[c].level > best_level:
            best, best_level = c, units[c].level
    return best


def _overlap_start(units: list[_Unit], start: int, end: int, limit: int, overlap: int) -> int:
    """First unit of the next chunk: trailing whole sentences of this one, within budget."""
    k, tok = end, 0
    room = min(overlap, limit - units[end].n)  # the next chunk must still take a new unit
    while k - 1 > start:  # never repeat the whole previous chunk
        u = units[k - 1]
        if not u.whole or tok + u.n > room:
            break
        tok += u.n
        k -= 1
    return k
