"""The splitter: exact chunks, sentence-safe cuts, overlap and the offset invariants."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragmix.core.errors import ConfigError
from ragmix.core.schema import Chunk
from ragmix.ingest.splitter import char_token_estimate, split_text

est = char_token_estimate

P1 = "苏州工业园区成立于1994年。园区位于苏州市东部。它是中国和新加坡的合作项目！"
P2 = "园区的面积是多少？总面积为278平方公里；其中合作区80平方公里。"
P3 = "他说：“园区发展很快。”大家都同意……"
ZH = P1 + "\n\n" + P2 + "\n\n" + P3 + "\n"
# The sentences of ZH and their estimated tokens: 12, 10, 14 | 9, 10, 11 | 12, 7.


def spans(chunks: list[Chunk]) -> list[tuple[str, int, int, int]]:
    return [(c.text, c.start, c.end, c.n_tokens) for c in chunks]


def test_char_token_estimate() -> None:
    assert est("") == 0
    assert est(" \n\t\u3000") == 0
    assert est("苏州。") == 3  # CJK letters and CJK punctuation: 1 each
    assert est("hello") == 1  # one word: round(1.3)
    assert est("hello world again") == 4  # round(3.9)
    assert est("苏州工业园区 has 3 parks.") == 11  # 6 + round(3.9) + "."
    assert est("a_b") == 4  # two words (round(2.6)) and an underscore


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t\n", "\u3000"])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert split_text(text, est, 10, 2) == []


def test_chinese_paragraphs_exact() -> None:
    assert spans(split_text(ZH, est, 40, 0)) == [
        (P1, 0, 39, 36),
        (P2, 41, 74, 31),
        (P3, 76, 95, 19),
    ]
    # 30 tokens: P1's third sentence (14) cannot join its first two (22), and the paragraph
    # boundary after it leaves a chunk under half full, so the cut is at a sentence end.
    assert spans(split_text(ZH, est, 30, 0)) == [
        ("苏州工业园区成立于1994年。园区位于苏州市东部。", 0, 25, 22),
        ("它是中国和新加坡的合作项目！\n\n园区的面积是多少？", 25, 50, 23),
        ("总面积为278平方公里；其中合作区80平方公里。", 50, 74, 22),
        (P3, 76, 95, 19),
    ]


def test_overlap_is_whole_trailing_sentences_exact() -> None:
    assert spans(split_text(ZH, est, 30, 12)) == [
        ("苏州工业园区成立于1994年。园区位于苏州市东部。", 0, 25, 22),
        ("园区位于苏州市东部。它是中国和新加坡的合作项目！", 15, 39, 24),
        # "它是…项目！" (14) is over the overlap budget: no overlap here.
        ("园区的面积是多少？总面积为278平方公里；", 41, 62, 19),
        ("总面积为278平方公里；其中合作区80平方公里。", 50, 74, 22),
        ("其中合作区80平方公里。\n\n他说：“园区发展很快。”大家都同意……", 62, 95, 30),
    ]


def test_real_count_over_the_limit_shrinks_the_chunk() -> None:
    # In the 30/12 case above, chunk 2 packs 9 + 10 + 11 = 30 by unit counts, but the real
    # count of the joined text is 31 ("278" and "80" are 2 words: round(2.6) = 3), so the
    # last sentence is dropped. A counter that charges for the newlines between sentences
    # makes every packed estimate low; the real counts must still respect the limit.
    def newline_heavy(s: str) -> int:
        return est(s) + 10 * s.count("\n")

    text = "\n".join(["第一句话。", "第二句话。", "第三句话。", "第四句话。"])
    chunks = split_text(text, newline_heavy, 15, 0)
    assert all(c.n_tokens == newline_heavy(c.text) <= 15 for c in chunks)
    assert [c.text for c in chunks] == ["第一句话。", "第二句话。", "第三句话。", "第四句话。"]


def test_paragraph_end_preferred_when_chunk_is_half_full() -> None:
    text = "甲甲甲甲甲甲甲甲甲。乙乙乙乙乙乙乙乙乙。\n\n丙丙丙丙丙丙丙丙丙。丁丁丁丁丁丁丁丁丁。"
    # Greedy packing would take three sentences (30 <= 35); the paragraph end after two
    # (20 >= 35 / 2) is the better cut.
    assert [c.text for c in split_text(text, est, 35, 0)] == [
        "甲甲甲甲甲甲甲甲甲。乙乙乙乙乙乙乙乙乙。",
        "丙丙丙丙丙丙丙丙丙。丁丁丁丁丁丁丁丁丁。",
    ]


def test_single_newline_inside_a_sentence_is_not_a_cut() -> None:
    text = "园区位于\n苏州市东部。它是中国和新加坡的\n合作项目！"  # 10 + 14 tokens
    assert [c.text for c in split_text(text, est, 15, 0)] == [
        "园区位于\n苏州市东部。",
        "它是中国和新加坡的\n合作项目！",
    ]


def test_oversize_sentence_is_cut_at_clause_marks() -> None:
    clause_a = "这是一个非常长的句子，里面有很多逗号，"  # 19 tokens
    clause_b = "但是没有句号、也没有其他的结束符号，"  # 18 tokens
    text = (clause_a + clause_b) * 2 + "结束。"
    chunks = split_text(text, est, 20, 5)
    assert [c.text for c in chunks] == [clause_a, clause_b, clause_a, clause_b, "结束。"]
    assert [c.n_tokens for c in chunks] == [19, 18, 19, 18, 3]
    # Pieces of a sentence are not whole sentences: none is repeated as overlap.
    assert all(a.end <= b.start for a, b in zip(chunks, chunks[1:], strict=False))


def test_run_without_any_mark_is_cut_at_token_boundaries() -> None:
    chunks = split_text("中" * 50, est, 16, 4)
    assert spans(chunks) == [
        ("中" * 16, 0, 16, 16),
        ("中" * 16, 16, 32, 16),
        ("中" * 16, 32, 48, 16),
        ("中" * 2, 48, 50, 2),
    ]


def test_token_cut_backs_off_to_a_space_between_words() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    assert [c.text for c in split_text(text, len, 12, 0)] == [
        "alpha beta",
        "gamma delta",
        "epsilon zeta",
        "eta theta",
    ]


def test_indivisible_character_over_the_limit_is_its_own_chunk() -> None:
    def expensive(s: str) -> int:
        return 3 * len(s)

    assert spans(split_text("ab", expensive, 2, 0)) == [("a", 0, 1, 3), ("b", 1, 2, 3)]


def test_english_sentences_exact() -> None:
    text = (
        "Dr. Li visited the park in 2023. Its area is 278.5 square km! "
        "Is it large? Yes; quite.\n\n1. Growth was fast. "
    )
    assert spans(split_text(text, est, 12, 4)) == [
        ("Dr. Li visited the park in 2023.", 0, 32, 11),  # "Dr." and "1." end no sentence
        ("Its area is 278.5 square km!", 33, 61, 11),
        ("Is it large? Yes; quite.", 62, 86, 10),
        # Overlap: "Yes;" and "quite." (2 + 2 tokens) fill the budget of 4.
        ("Yes; quite.\n\n1. Growth was fast.", 75, 107, 12),
    ]


def test_mixed_chinese_english() -> None:
    text = "苏州工业园区 (SIP) was founded in 1994. 园区位于苏州市东部。It covers 278 km²!"
    chunks = split_text(text, est, 20, 0)
    assert [c.text for c in chunks] == [
        "苏州工业园区 (SIP) was founded in 1994.",
        "园区位于苏州市东部。It covers 278 km²!",
    ]


def test_bad_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="chunk_tokens is 0"):
        split_text("文本。", est, 0, 0)
    with pytest.raises(ConfigError, match="overlap_tokens is 10.*smaller than chunk_tokens"):
        split_text("文本。", est, 10, 10)
    with pytest.raises(ConfigError, match="overlap_tokens is -1"):
        split_text("文本。", est, 10, -1)


def utf8_bytes(s: str) -> int:
    return len(s.encode())


def newline_heavy(s: str) -> int:
    return est(s) + 10 * s.count("\n")


def check_invariants(
    text: str,
    chunks: list[Chunk],
    chunk_tokens: int,
    overlap: int,
    count: Callable[[str], int] = est,
) -> None:
    covered = bytearray(len(text))
    for i, c in enumerate(chunks):
        assert c.index == i
        assert text[c.start : c.end] == c.text
        assert c.text.strip() == c.text != ""
        assert c.n_tokens == count(c.text) <= chunk_tokens
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.start < b.start and a.end < b.end
        if overlap == 0:
            assert a.end <= b.start
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))


MIXED = st.text(
    alphabet=st.sampled_from(
        list("中文苏州园区の한abcXYZ019 \n\t\u3000。！？；…，、：,:.!?;”」）)_-")
    ),
    max_size=400,
)


# Three counters: the estimator, one that is not additive over sentences (UTF-8 bytes: a
# CJK character is 3), and one whose joined count is far above the sum of the parts.
@pytest.mark.parametrize(("count", "min_tokens"), [(est, 1), (utf8_bytes, 3), (newline_heavy, 1)])
@settings(max_examples=200, deadline=None)
@given(text=MIXED, size=st.integers(0, 40), data=st.data())
def test_offset_and_coverage_invariants(
    count: Callable[[str], int], min_tokens: int, text: str, size: int, data: st.DataObject
) -> None:
    chunk_tokens = min_tokens + size  # every single character fits: nothing is indivisible
    overlap = data.draw(st.integers(0, chunk_tokens - 1))
    chunks = split_text(text, count, chunk_tokens, overlap)
    check_invariants(text, chunks, chunk_tokens, overlap, count)


SENTENCES = [
    "园区位于苏州市东部。",
    "它是合作项目！",
    "面积是多少？",
    "总面积很大；",
    "大家都同意……",
    "他说：“发展很快。”",
    "好。",
    "这是一个稍微长一点的句子，用来测试。",
]


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(SENTENCES), st.sampled_from(["", "", "\n", "\n\n", " "])),
        min_size=1,
        max_size=30,
    ),
    chunk_tokens=st.integers(19, 60),
    data=st.data(),
)
def test_cuts_only_at_sentence_ends_and_overlap_is_whole_sentences(
    parts: list[tuple[str, str]], chunk_tokens: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, chunk_tokens - 1))
    text, starts, ends = "", set(), set()
    for sentence, sep in parts:
        starts.add(len(text))
        text += sentence
        ends.add(len(text))
        text += sep
    chunks = split_text(text, est, chunk_tokens, overlap)
    check_invariants(text, chunks, chunk_tokens, overlap)
    for c in chunks:
        assert c.start in starts and c.end in ends
    for a, b in zip(chunks, chunks[1:], strict=False):
        if b.start < a.end:  # the overlap: whole sentences, within budget (CJK: additive)
            assert est(text[b.start : a.end]) <= overlap
            assert b.start in starts and b.start > a.start


def test_sentence_end_regex_keeps_closers() -> None:
    chunks = split_text("他说：“好。”然后走了。「对！」她答。", est, 8, 0)  # 7, 5, 7 tokens
    assert all(not re.match(r"[”」）)]", c.text) for c in chunks)
    assert [c.text for c in chunks] == ["他说：“好。”", "然后走了。", "「对！」她答。"]
