"""Script detection and BM25 tokens, with the real jieba."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragmix.core.text import (
    STOPWORDS,
    cjk_bigrams,
    cjk_ratio,
    detect_language,
    is_cjk,
    lexical_tokens,
)


@pytest.mark.parametrize(
    ("ch", "expected"),
    [
        ("苏", True),
        ("〇", True),
        ("𠀀", True),  # Han extension B, outside the BMP
        ("の", True),
        ("한", True),
        ("，", False),  # CJK punctuation is not a letter
        ("。", False),
        ("Ａ", False),
        ("a", False),
        ("1", False),
        ("", False),
        ("苏州", False),  # one character only
    ],
)
def test_is_cjk(ch: str, expected: bool) -> None:
    assert is_cjk(ch) is expected


def test_cjk_ratio_counts_letters_only() -> None:
    assert cjk_ratio("苏州abc") == pytest.approx(2 / 5)
    assert cjk_ratio("苏州，2023年！") == 1.0
    assert cjk_ratio("revenue 2023") == 0.0
    assert cjk_ratio("123 !?") == 0.0
    assert cjk_ratio("") == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这家公司2023年的营收是多少?", "zh"),
        ("What is the revenue?", "en"),
        ("What does 苏州工业园区 mean", "en"),  # English frame around a Chinese name
        ("Who is 马云?", "en"),
        ("请解释 attention mechanism 的原理", "zh"),  # Chinese frame around English terms
        ("GPT-4的上下文长度是多少？", "zh"),
        ("苏州工业园区", "zh"),
        ("2023", "en"),  # no letters at all
        ("", "en"),
        ("苏州工业园区（SIP）是中国和新加坡两国政府间的重要合作项目，the park of the year。", "zh"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_lexical_tokens_chinese_question() -> None:
    # jieba words of each CJK run, then that run's character bigrams.
    assert lexical_tokens("这家公司2023年的营收是多少?") == [
        "这家",
        "公司",
        "这家",
        "家公",
        "公司",
        "2023",
        "年",
        "营收",
        "多少",
        "年的",
        "的营",
        "营收",
        "收是",
        "是多",
        "多少",
    ]


def test_lexical_tokens_english_lowercased_without_stopwords() -> None:
    assert lexical_tokens("What is the Revenue of GPT-4 in 2023?") == [
        "revenue",
        "gpt",
        "4",
        "2023",
    ]


def test_lexical_tokens_bigrams_match_parts_of_words() -> None:
    # jieba keeps the name whole; the bigrams let "园区" alone match it, at index and query time.
    assert lexical_tokens("苏州工业园区") == [
        "苏州工业园区",
        "苏州",
        "州工",
        "工业",
        "业园",
        "园区",
    ]
    assert "园区" in lexical_tokens("园区")
    assert lexical_tokens("苏") == ["苏"]  # a one-letter run has no bigram


def test_cjk_bigrams() -> None:
    assert cjk_bigrams("工业园区") == ["工业", "业园", "园区"]
    assert cjk_bigrams("苏") == []
    assert cjk_bigrams("") == []


def test_lexical_tokens_drop_punctuation_whitespace_and_stopwords() -> None:
    tokens = lexical_tokens("园区的面积，是 278 平方公里。\n\n  ！？…… the AND")
    assert not set(tokens) & STOPWORDS
    assert all(t.strip() and t.isalnum() for t in tokens)
    assert "278" in tokens


def test_lexical_tokens_full_width_forms_normalised() -> None:
    assert lexical_tokens("ＧＰＴ４　２０２３") == ["gpt4", "2023"]


def test_lexical_tokens_deterministic_and_empty() -> None:
    text = "苏州工业园区成立于1994年，总面积为278平方公里。The park is in Suzhou."
    assert lexical_tokens(text) == lexical_tokens(text)
    assert lexical_tokens("") == []
    assert lexical_tokens(" ，。!? ") == []


def test_import_is_cheap_and_jieba_is_silent() -> None:
    code = (
        "import sys, ragmix.core.text as t\n"
        "assert 'jieba' not in sys.modules, 'jieba imported at module import time'\n"
        "print(t.lexical_tokens('苏州工业园区'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert "苏州" in out.stdout
    assert out.stderr == ""  # no "Building prefix dict ..." / "Loading model cost ..."
