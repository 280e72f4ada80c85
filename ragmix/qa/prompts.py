"""Prompts, in Chinese for Chinese questions and English otherwise.

Order is instructions, then documents, then history, then the question. The documents sit in
the system message, so every follow-up about the same document shares the whole
instructions+document prefix, and llama.cpp reuses its KV cache instead of re-reading the
document (LongBench's Chinese prompts use the same order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ragmix.core.schema import Passage


@dataclass(frozen=True)
class Lang:
    stuff: str
    retrieve: str
    doc_header: str
    passage_header: str
    question: str
    not_found: str
    no_passages: str
    map_part: str
    reduce: str
    rewrite: str
    concise: str
    abstained: str


ZH = Lang(
    stuff=(
        "你是一个严谨的文档问答助手。请只根据下面给出的文档内容，用中文回答用户的问题。"
        "如果文档中没有答案，请直接回答“无法回答：文档中没有相关信息”，不要编造，"
        "也不要把文档中其他事件、其他对象的数字、日期或地点当作答案。"
    ),
    retrieve=(
        "你是一个严谨的文档问答助手。请只根据下面编号的段落，用中文回答用户的问题，"
        "并在句末用 [1]、[2] 这样的编号注明依据的段落。"
        "如果这些段落中没有答案，请直接回答“无法回答：段落中没有相关信息”，不要编造，"
        "也不要把段落中其他事件、其他对象的数字、日期或地点当作答案。"
    ),
    doc_header="文档：{name}",
    passage_header="[{n}] {source}{page}",
    question="问题：{question}",
    not_found="无法回答",
    no_passages="在所选文档中没有找到与问题相关的内容。",
    map_part="下面是文档《{name}》的第 {i}/{n} 部分。请用中文概括这一部分的要点，不超过 200 字。",
    reduce="下面是同一文档各部分的要点。请据此用中文回答用户的问题。",
    rewrite=(
        "根据对话历史，把最后一个问题改写成一个不依赖上下文、可以独立理解的问题。只输出改写后的问题。"
    ),
    concise="直接给出答案本身（一个词、数字、名称或短语），不要复述问题，不要解释。",
    abstained=(
        "你的文档中没有与这个问题相关的内容：最接近的段落只包含问题关键词的 {terms:.0%}，"
        "因此没有调用模型作答（以免编造）。下面是最接近的段落，供你核对。"
    ),
)

EN = Lang(
    stuff=(
        "You are a careful document assistant. Answer the user's question using only the "
        'document below. If the document does not contain the answer, reply "Unanswerable: '
        'the document does not say." Do not invent facts, and do not give a number, date or '
        "place that the document states about something else."
    ),
    retrieve=(
        "You are a careful document assistant. Answer the user's question using only the "
        "numbered passages below, and cite them as [1], [2]. If the passages do not contain the "
        'answer, reply "Unanswerable: the passages do not say." Do not invent facts, and do '
        "not give a number, date or place that a passage states about something else."
    ),
    doc_header="Document: {name}",
    passage_header="[{n}] {source}{page}",
    question="Question: {question}",
    not_found="Unanswerable",
    no_passages="No passage in the selected documents matches the question.",
    map_part='Below is part {i}/{n} of the document "{name}". Summarise its key points in '
    "at most 120 words.",
    reduce="Below are the key points of each part of one document. Use them to answer the "
    "user's question.",
    rewrite="Rewrite the last question as a standalone question that can be understood "
    "without the conversation. Output only the rewritten question.",
    concise="Give only the answer itself (a word, number, name or short phrase); do not "
    "restate the question or explain.",
    abstained="Not in your documents: the closest passage holds only {terms:.0%} of the "
    "question's key terms, so the model was not asked (it would have invented an answer). The "
    "closest passages are below for you to check.",
)

_UNANSWERABLE = (
    "无法回答",
    "没有相关信息",
    "unanswerable",
    "does not say",
    "do not contain",
    "does not contain",
    "not mentioned",
    "未提及",
    "没有提到",
)


def lang_for(code: str) -> Lang:
    return ZH if code == "zh" else EN


def says_unanswerable(answer: str) -> bool:
    """Whether an answer declares that its context lacks the answer (for self-routing)."""
    low = answer.lower()
    return any(marker in low for marker in _UNANSWERABLE)


def _page(p: Passage, lang: Lang) -> str:
    if p.page is None:
        return ""
    return f"，第 {p.page} 页" if lang is ZH else f", page {p.page}"


def document_block(name: str, text: str, lang: Lang) -> str:
    return f"{lang.doc_header.format(name=name)}\n{text}"


def passages_block(passages: Sequence[Passage], lang: Lang) -> str:
    return "\n\n".join(
        f"{lang.passage_header.format(n=i, source=p.source, page=_page(p, lang))}\n{p.text}"
        for i, p in enumerate(passages, 1)
    )


def history_messages(history: Sequence[tuple[str, str]]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for q, a in history:
        out += [HumanMessage(q), AIMessage(a)]
    return out


def _ask(question: str, lang: Lang, concise: bool) -> HumanMessage:
    """The question; with ``concise``, the bare-answer instruction after it (after the
    document, so the document's kept read state is shared by both styles)."""
    text = lang.question.format(question=question)
    return HumanMessage(f"{text}\n{lang.concise}" if concise else text)


def stuff_messages(
    docs: Sequence[tuple[str, str]],
    question: str,
    history: Sequence[tuple[str, str]],
    lang: Lang,
    concise: bool = False,
) -> list[BaseMessage]:
    body = "\n\n".join(document_block(n, t, lang) for n, t in docs)
    return [
        SystemMessage(f"{lang.stuff}\n\n{body}"),
        *history_messages(history),
        _ask(question, lang, concise),
    ]


def retrieve_messages(
    passages: Sequence[Passage],
    question: str,
    history: Sequence[tuple[str, str]],
    lang: Lang,
    concise: bool = False,
) -> list[BaseMessage]:
    return [
        SystemMessage(f"{lang.retrieve}\n\n{passages_block(passages, lang)}"),
        *history_messages(history),
        _ask(question, lang, concise),
    ]


def map_messages(name: str, part: str, i: int, n: int, lang: Lang) -> list[BaseMessage]:
    return [
        SystemMessage(f"{lang.map_part.format(name=name, i=i, n=n)}\n\n{part}"),
        HumanMessage(lang.map_part.format(name=name, i=i, n=n)),
    ]


def reduce_messages(notes: Sequence[str], question: str, lang: Lang) -> list[BaseMessage]:
    body = "\n\n".join(f"({i}) {n}" for i, n in enumerate(notes, 1))
    return [
        SystemMessage(f"{lang.reduce}\n\n{body}"),
        HumanMessage(lang.question.format(question=question)),
    ]


def rewrite_messages(
    history: Sequence[tuple[str, str]], question: str, lang: Lang
) -> list[BaseMessage]:
    return [
        SystemMessage(lang.rewrite),
        *history_messages(history),
        HumanMessage(lang.question.format(question=question)),
    ]
