"""The router's reasons (English sentences for people, ``ragmix.qa.router``) in the page's
language, shown as text under an answer's badge.

The router writes its reasons in English for the CLI and ``--json``; the page matches each
known sentence and says it again in Chinese with the same numbers. A reason it does not
know (a newer router) is shown in Chinese by its route alone, never as stray English.

Example:
    >>> reason_text("whole document fits: 1,204 of 3,200 tokens", "stuff", "zh")
    '整篇文档放得下：1,204 / 3,200 词元'
"""

from __future__ import annotations

import re

from ragmix.ui.i18n import Lang

_N = r"([\d,]+)"

#: (pattern of the router's sentence, its Chinese form with the pattern's groups).
_PATTERNS: list[tuple[str, str]] = [
    (r"search only: passages, no model", "仅搜索：列出段落，不使用模型"),
    (r"no document text in scope", "范围内没有文档文本"),
    (r"retrieval chosen", "已选择检索段落"),
    (r"read ahead", "预读"),
    (rf"whole (?:document|(\d+) documents) chosen: {_N} of {_N} tokens",
     "已选择整篇{docs}：{2} / {3} 词元"),
    (rf"whole (?:document|(\d+) documents) asked for, but {_N} tokens exceed the {_N}-token "
     r"budget: retrieving passages instead",
     "要求整篇{docs}，但 {2} 词元超出 {3} 词元的预算：改为检索段落"),
    (rf"{_N} tokens fit the {_N}-token budget, but this model answers better from passages "
     rf"beyond {_N} tokens \(router\.stuff_max_tokens\): retrieving passages",
     "{1} 词元放得下 {2} 词元的预算，但超过 {3} 词元时此模型从段落回答更好：检索段落"),
    (rf"whole (?:document|(\d+) documents) fits: {_N} of {_N} tokens",
     "整篇{docs}放得下：{2} / {3} 词元"),
    (rf"global question and {_N} tokens exceed the {_N}-token budget: summarising the "
     r"document part by part, then combining",
     "全局性问题，{1} 词元超出 {2} 词元的预算：逐部分总结文档，再合并"),
    (rf"global question and {_N} tokens exceed the {_N}-token budget, but the {_N}-token "
     r"context is too small to summarise part by part: retrieving passages",
     "全局性问题，{1} 词元超出 {2} 词元的预算，且 {3} 词元的上下文太小无法逐部分总结：检索段落"),
    (rf"{_N} tokens exceed the {_N}-token budget: retrieving passages",
     "{1} 词元超出 {2} 词元的预算：检索段落"),
    (rf"whole document prompt is {_N} tokens, over the {_N} limit: retrieving passages",
     "整篇文档的提示有 {1} 词元，超过 {2} 的上限：检索段落"),
]  # fmt: skip

_SELF_ROUTE = re.compile(
    rf"^self-route: (.*), so the whole most relevant document \({_N} of {_N} tokens\) was read$"
)
_DOUBTS: list[tuple[str, str]] = [
    (r"the answer from the passages was empty", "从段落得到的回答为空"),
    (r"the answer says the passages do not hold it", "回答说段落中没有答案"),
    (r"the answer from the passages repeats itself", "从段落得到的回答在重复"),
    (
        r"only (\d+%) of the answer's own words are in the passages",
        "回答自己的词只有 {1} 出现在段落中",
    ),
]
_NOTES = {
    "bm25 + dense": "关键词 + 语义检索",
    "bm25 only": "仅关键词检索",
}

#: Said of a route when its reason is not known here.
_BY_ROUTE = {
    "stuff": "读了整篇文档",
    "retrieve": "从检索到的段落回答",
    "map_reduce": "逐部分总结后合并",
    "search": "仅搜索：列出段落，不使用模型",
}


def _fill(template: str, match: re.Match[str]) -> str:
    groups = match.groups()
    docs = f" {groups[0]} 份文档" if groups and groups[0] and "{docs}" in template else "文档"
    out = template.replace("{docs}", docs)
    for i, g in enumerate(groups, 1):
        out = out.replace("{" + str(i) + "}", g or "")
    return out


def _one(text: str, table: list[tuple[str, str]]) -> str | None:
    for pattern, zh in table:
        m = re.fullmatch(pattern, text)
        if m:
            return _fill(zh, m)
    return None


def _note(note: str) -> str:
    base = note.removesuffix(" + rerank")
    words = _NOTES.get(base) or (
        "仅关键词检索（嵌入模型不读此语言）" if base.startswith("bm25 only") else "检索"
    )
    return words + ("，并重排" if note.endswith(" + rerank") else "")


_PASSAGES_PART = re.compile(rf"^{_N} passages \((.*)\)$")
_NOT_IN_DOCS = re.compile(
    r"^not in your documents: the best passage holds (\d+%) of the question's key terms "
    r"\(under (\d+%)\)(?: and its meaning similarity is ([\d.]+) \(under ([\d.]+)\)"
    r"| \(meaning not measured: the embedder does not read the question\))?$"
)


def _part(text: str, route: str | None) -> str | None:
    """One ``; ``-separated part of a reason in Chinese, or None when it is not known."""
    m = _PASSAGES_PART.match(text)
    if m:
        return f"{m.group(1)} 个段落（{_note(m.group(2))}）"
    if text == "the model was not asked":
        return "没有调用模型"
    m = _NOT_IN_DOCS.match(text)
    if m:
        out = f"文档中没有答案：最相关的段落只含问题关键词的 {m.group(1)}（低于 {m.group(2)}）"
        if m.group(3):
            out += f"，语义相似度 {m.group(3)}（低于 {m.group(4)}）"
        elif text.endswith("does not read the question)"):
            out += "（嵌入模型不读此语言，未比较语义）"
        return out
    m = _SELF_ROUTE.match(text)
    if m:
        why = _one(m.group(1), _DOUBTS) or "从段落得到的回答不可信"
        return f"自动改读全文：{why}，所以读了最相关的整篇文档（{m.group(2)} / {m.group(3)} 词元）"
    return _one(text, _PATTERNS)


def reason_text(reason: str, route: str | None, lang: Lang) -> str:
    """``reason`` in ``lang`` (English: as the router wrote it)."""
    if lang == "en" or not reason:
        return reason
    parts = [_part(p, route) for p in reason.split("; ")]
    known = [p for p in parts if p]
    if not known or parts[0] is None:  # a newer router's words: say what the route does
        return _BY_ROUTE.get(route or "", "已选择回答方式")
    return "；".join(known)
