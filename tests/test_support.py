"""Finding where an answer comes from in a long text (``ragmix.qa.support``)."""

from __future__ import annotations

import random

import pytest

from benchmarks.common import make_text
from ragmix.qa.support import coverage, find_support, highlight, pages_of

FACT = "青石镇的钟楼建于一八七二年，由当地商会出资修建，钟面直径两米四。"
WARRANTY = (
    "The Lumen X2 carries a two-year warranty covering manufacturing defects; damage from "
    "limescale is not covered."
)


def _report(fact: str, lang: str, at: float, seed: int = 3) -> tuple[str, int]:
    """A ~30,000-character text with ``fact`` at fraction ``at``; returns it and the offset."""
    filler = make_text(random.Random(seed), 30_000, lang)
    cut = filler.find("\n\n", int(len(filler) * at))
    text = filler[:cut] + "\n\n" + fact + "\n\n" + filler[cut + 2 :]
    return text, cut + 2


@pytest.mark.parametrize("at", [0.02, 0.5, 0.97])
def test_the_supporting_passage_is_where_the_answer_is_not_the_documents_start(at: float) -> None:
    text, where = _report(FACT, "zh", at)
    found = find_support("钟楼建于一八七二年，由商会出资。", text, question="钟楼是哪一年建的？")
    assert found.spans, "nothing found"
    best = found.spans[0]
    assert best.start <= where and where + len("钟楼建于一八七二年") <= best.end
    assert best.end - best.start <= 400
    marked = [text[best.start + a : best.start + b] for a, b in best.highlights]
    assert "一八七二年" in "".join(marked) and "商会出资" in "".join(marked)
    assert found.coverage > 0.8


def test_english_answer_in_a_long_english_text() -> None:
    text, where = _report(WARRANTY, "en", 0.6)
    found = find_support("It has a two-year warranty against manufacturing defects.", text)
    best = found.spans[0]
    assert best.start <= where < best.end
    assert "two-year" in text[best.start : best.end]


def test_an_answer_in_two_places_gets_two_passages() -> None:
    filler = make_text(random.Random(5), 20_000, "zh")
    a, b = len(filler) // 4, 3 * len(filler) // 4
    text = (
        filler[:a] + "。江南公司的营业收入为十八亿元。" + filler[a:b]
        + "。江南公司的研发投入为两亿三千万元。" + filler[b:]
    )  # fmt: skip
    found = find_support(
        "营业收入十八亿元，研发投入两亿三千万元。", text, question="收入和研发投入？"
    )
    shown = [text[s.start : s.end] for s in found.spans]
    assert any("十八亿元" in s for s in shown) and any("两亿三千万元" in s for s in shown)


def test_a_made_up_answer_has_no_support_and_low_coverage() -> None:
    text, _ = _report(FACT, "zh", 0.5)
    found = find_support("Paris is the capital of France.", text)
    assert found.spans == [] and found.coverage == 0.0
    share, n = coverage("钟楼由英国建筑师于一九零五年设计", [FACT], "钟楼是哪一年建的？")
    assert n >= 4 and share < 0.35
    share, n = coverage("钟楼建于一八七二年", [FACT], "钟楼是哪一年建的？")
    assert share == 1.0


def test_empty_answers_and_texts() -> None:
    assert find_support("", FACT).spans == []
    assert find_support("钟楼", "").spans == []
    assert highlight("", FACT) == ((), 0.0)


def test_full_width_digits_and_letters_match_ascii() -> None:
    marks, share = highlight("营收１８亿元，ＧＰＵ", "营收18亿元，采购GPU。")
    assert share == 1.0
    assert [("营收18亿元，采购GPU。")[a:b] for a, b in marks] == ["营收18亿元", "GPU"]


def test_pages_of_a_span_across_page_breaks() -> None:
    starts = [0, 100, 250]
    assert pages_of(starts, 0, 10) == [1]
    assert pages_of(starts, 95, 105) == [1, 2]
    assert pages_of(starts, 100, 250) == [2]  # ends right before page 3
    assert pages_of(starts, 240, 900) == [2, 3]
    assert pages_of(None, 0, 10) == [] and pages_of([], 0, 10) == []
