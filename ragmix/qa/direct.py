"""The answer first: a Chinese answer is shown without the model's restatement of the question.

A small model answers "翟楼与叶某口头约定的每天工资是多少？" with
"根据案情，翟楼与叶某口头约定的每天工资为220元。": the reader has to find "220元" at the end of
their own question, and token-F1 against the text's answer falls to 0.17. Asked for the bare
answer instead (``answer.style: concise``), the 0.5B model picks the wrong span more often
(CMRC trial F1 0.564 -> 0.395). So the model writes its full sentence, and what is shown
starts where the answer does:

* a lead-in "根据…，" / "依据…：" and leading citations ("[1] ") are dropped;
* then the longest beginning that only restates the question (each character in a two-character
  piece of the question, or a joining character) is dropped, **up to a joining character**
  (为 是 在 于 有 ， ：), so an answer whose own name starts with the question's words
  ("中国（南京）国际象棋特级大师邀请赛" for "中国（南京）国际象棋超级大赛的原名是什么？") is
  kept whole.

Nothing after the first character the question does not hold is touched, an answer that is
all restatement is shown as written, and so is one to a question that asks for several things
("营业收入和研发投入是多少？": each part of the answer keeps its label). It works on the stream
(:class:`DirectLead` holds back only the beginning it may drop), so the page and the CLI show
the same text as the JSON.

Measured (``answer.style: direct`` vs ``full``, the same answers): the long-document set
``benchmarks/data/longdocs`` (18 questions, retrieval) F1 0.226 -> 0.452; CMRC 2018 trial
(12 questions, whole reading) 0.564 -> 0.590.

Example:
    >>> lead("根据案情，翟楼与叶某约定的每天工资为220元。", "翟楼与叶某约定的每天工资是多少？")
    '220元。'
    >>> lead("中国（南京）国际象棋特级大师邀请赛", "中国（南京）国际象棋超级大赛的原名是？")
    '中国（南京）国际象棋特级大师邀请赛'
"""

from __future__ import annotations

import re

from ragmix.core.text import detect_language

__all__ = ["DirectLead", "for_question", "lead"]

# Characters that join a restated subject to its answer ("…工资为220元", "…位于泰国").
_JOIN = frozenset("，,：:为是在于有")
# ...and those that may sit inside a restatement without ending it.
_INSIDE = _JOIN | frozenset("的了 \t\n")
_LEAD_IN = re.compile(r"(?:根据|依据|按照|据)[^，,。：:\n]{0,30}[，,：:]\s*")
_CITATIONS = re.compile(r"\s*(?:[\[【]\d+[\]】]\s*)+")
_LEAD_WORDS = ("根据", "依据", "按照", "据")
# A question that asks for several things: an answer that names each is kept so.
_SEVERAL = re.compile(r"[和与及、]|以及|分别")
_OPEN_CITATION = re.compile(r"\s*(?:[\[【]\d*)?")
# A lead-in is at most this long; past it, nothing is held back for one.
_LEAD_IN_MAX = 34


def _covered(text: str, i: int, question: str) -> bool:
    """Whether ``text[i]`` restates the question: a joining character, or one of a
    two-character piece (with the next or the previous character) that the question holds."""
    return (
        text[i] in _INSIDE
        or (i + 1 < len(text) and text[i : i + 2] in question)
        or (i > 0 and text[i - 1 : i + 1] in question)
    )


def _cut(text: str, question: str, final: bool) -> int | None:
    """Where the shown answer starts in ``text``, or None while that cannot be known yet
    (more text may extend the restatement or complete a lead-in)."""
    start = 0
    m = _CITATIONS.match(text)
    if m:
        start = m.end()
    if not final and _OPEN_CITATION.fullmatch(text, start):
        return None
    if text.startswith(_LEAD_WORDS, start):
        m = _LEAD_IN.match(text, start)
        if m:
            start = m.end()
        elif not final and len(text) - start < _LEAD_IN_MAX:
            return None
    if not final and any(w.startswith(text[start:]) for w in _LEAD_WORDS if text[start:]):
        return None  # "根" may become "根据…，"
    if _SEVERAL.search(question.rsplit("的", 1)[-1]):  # "营业收入和研发投入": keep each label
        return start
    cut, i = start, start
    while i < len(text):
        if not _covered(text, i, question):
            break
        if text[i] in _JOIN:
            cut = i + 1
        i += 1
    else:
        if not final:
            return None
        if not text[cut:].strip():  # all restatement: shown as written
            return 0
    # the last character may pair with the next one: wait for it
    if not final and i == len(text) - 1:
        return None
    return cut


def lead(answer: str, question: str) -> str:
    """``answer`` from where it stops restating ``question`` (see the module docstring)."""
    cut = _cut(answer, question, final=True) or 0
    return answer[cut:].lstrip() if answer[cut:].strip() else answer


class DirectLead:
    """:func:`lead` on a stream of text pieces: ``feed`` returns what can be shown now,
    ``finish`` the rest.

    Example:
        >>> d = DirectLead("立案前在线调解的期限为多少日？")
        >>> [d.feed(p) for p in ["根据第十七条，", "立案前在线", "调解期限为", "三十", "日。"]]
        ['', '', '', '三十', '日。']
        >>> d.finish()
        ''
    """

    def __init__(self, question: str) -> None:
        self.question = question
        self.held = ""
        self.open = False  # the beginning is decided: everything passes through

    def feed(self, piece: str) -> str:
        if self.open:
            return piece
        self.held += piece
        cut = _cut(self.held, self.question, final=False)
        if cut is None:
            return ""
        self.open = True
        out = self.held[cut:].lstrip()
        self.held = ""
        return out

    def finish(self) -> str:
        if self.open:
            return ""
        self.open = True
        out = lead(self.held, self.question)
        self.held = ""
        return out


def for_question(style: str, question: str, global_question: bool) -> DirectLead | None:
    """The filter an answer to ``question`` is shown through: for a Chinese fact question under
    ``answer.style: direct``; None (shown as written) otherwise, and for a summary."""
    if style != "direct" or not question or global_question:
        return None
    return DirectLead(question) if detect_language(question) == "zh" else None
