"""The page's pure parts, without a browser: one run per session and its Stop (with threads),
kept conversations, route reasons in Chinese, and answers' Markdown made safe."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from ragmix.core import cancel
from ragmix.core.events import Answer, AnswerState, Done, RouteDecided, Sources, Token
from ragmix.ui import conversations as conv
from ragmix.ui import render
from ragmix.ui.reasons import reason_text
from ragmix.ui.runs import Runs, in_thread


def test_one_run_per_session_and_stop_sets_its_flag() -> None:
    runs = Runs()
    a = runs.reserve("s1")
    assert a is not None and runs.reserve("s1") is None
    b = runs.reserve("s2")  # another tab is another session
    assert b is not None
    assert runs.stop("s1") and a.is_set() and not b.is_set()
    runs.release("s1", a)
    assert not runs.busy("s1") and runs.busy("s2")
    assert not runs.stop("nobody")


def _slow_words(n: int, every_s: float) -> Iterator[str]:
    """A producer that, like the model, looks at the current stop flag between items."""
    for i in range(n):
        flag = cancel.current()
        if flag is not None and flag.is_set():
            return
        time.sleep(every_s)
        yield f"w{i}"


def test_a_stopped_run_returns_at_once_keeps_what_came_and_frees_the_model() -> None:
    flag = cancel.StopFlag()
    freed = threading.Event()
    got: list[str] = []
    stream = in_thread(lambda: _slow_words(1000, 0.01), flag, poll_s=0.02, after=freed.set)
    t0 = None
    for item in stream:
        if item is not None:
            got.append(item)
        if len(got) == 5 and t0 is None:
            t0 = time.perf_counter()
            flag.set()
    assert t0 is not None and time.perf_counter() - t0 < 0.5
    assert got[:5] == ["w0", "w1", "w2", "w3", "w4"] and len(got) < 10
    assert freed.wait(2), "the worker never gave the model back"


def test_a_closed_consumer_stops_the_worker() -> None:
    flag = cancel.StopFlag()
    freed = threading.Event()
    stream = in_thread(lambda: _slow_words(1000, 0.01), flag, poll_s=0.02, after=freed.set)
    next(stream)
    stream.close()  # Gradio closes the handler of a closed tab
    assert flag.is_set() and freed.wait(2)


def test_waiting_for_the_model_can_be_stopped() -> None:
    flag = cancel.StopFlag()
    produced = []

    def never_ready() -> bool:
        while not flag.is_set():
            time.sleep(0.01)
        return False

    stream = in_thread(lambda: iter(produced.append(1) or ["x"]), flag, poll_s=0.02,
                       before=never_ready)  # fmt: skip
    threading.Timer(0.1, flag.set).start()
    assert [i for i in stream if i is not None] == [] and produced == []


def test_an_error_reaches_the_consumer() -> None:
    def boom() -> Iterator[str]:
        yield "a"
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        list(in_thread(boom, cancel.StopFlag(), poll_s=0.02))


def _answered(text: str = "Three years [1].") -> AnswerState:
    source = {"source": "guide.txt", "page": 2, "chunk": 0, "start": 0, "end": 9, "score": 0.9,
              "text": "three years", "kind": "passage", "pages": [2], "highlights": [],
              "support": None}  # fmt: skip
    tokens = {"scope": 10, "budget": 100, "prompt": 50, "completion": 4}
    answer = Answer(text, "retrieve", "retrieval chosen", tokens, [source])  # type: ignore[arg-type]
    return AnswerState.fold(
        [RouteDecided("retrieve", "retrieval chosen", tokens), Sources((source,)),  # type: ignore[arg-type]
         Token(text), Done(answer)]
    )  # fmt: skip


def test_a_kept_conversation_is_drawn_again_in_either_language() -> None:
    book = conv.add_question(conv.new_book(), "How long is the warranty?")
    book = conv.finish(book, conv.record(_answered()))
    book = conv.add_question(book, "And the battery?")  # cut off: no answer kept
    import json

    book = json.loads(json.dumps(book))  # what local storage gives back
    turns = conv.current(book)["turns"]
    en, zh = render.chat_messages(turns, "en"), render.chat_messages(turns, "zh")
    assert [m["role"] for m in en] == ["user", "assistant"] * 2
    assert "Three years" in en[1]["content"] and "guide.txt · p. 2" in en[1]["content"]
    assert "第 2 页" in zh[1]["content"] and "原因：已选择检索段落" in zh[1]["content"]
    assert "Stopped" in en[3]["content"] and "已停止" in zh[3]["content"]
    assert conv.history(book) == [("How long is the warranty?", "Three years [1].")]


def test_conversations_new_open_delete() -> None:
    book = conv.add_question(conv.new_book(), "first")
    first = book["current"]
    book = conv.start_new(book)
    assert conv.start_new(book) == book  # an empty one is reused
    book = conv.add_question(book, "second")
    assert [t for t, _ in conv.titles(book)] == ["second", "first"]
    book = conv.open_item(book, first)
    assert conv.current(book)["turns"][0]["question"] == "first"
    book = conv.delete(book, first)
    assert [t for t, _ in conv.titles(book)] == ["second"]
    assert conv.valid({"items": "junk"})["items"][0]["turns"] == []


def test_a_stopped_answer_says_so_in_its_copy_text() -> None:
    state = AnswerState().apply(Token("The warranty lasts"))
    html = render.answer_html(state, "en", stopped=True)
    assert "Stopped" in html and "(stopped before the end)" in html  # the Copy value


@pytest.mark.parametrize(
    ("reason", "route", "zh"),
    [
        ("whole document fits: 1,204 of 3,200 tokens", "stuff",
         "整篇文档放得下：1,204 / 3,200 词元"),
        ("retrieval chosen; 4 passages (bm25 + dense)", "retrieve",
         "已选择检索段落；4 个段落（关键词 + 语义检索）"),
        ("9,000 tokens exceed the 3,000-token budget: retrieving passages; 6 passages "
         "(bm25 only (the embedder does not read 'zh') + rerank)", "retrieve",
         "9,000 词元超出 3,000 词元的预算：检索段落；"
         "6 个段落（仅关键词检索（嵌入模型不读此语言），并重排）"),
        ("self-route: only 10% of the answer's own words are in the passages, so the whole "
         "most relevant document (900 of 3,000 tokens) was read", "stuff",
         "自动改读全文：回答自己的词只有 10% 出现在段落中，"
         "所以读了最相关的整篇文档（900 / 3,000 词元）"),
        ("a reason from a newer router", "retrieve", "从检索到的段落回答"),
        ("retrieval chosen; 3 passages (bm25 + dense); not in your documents: the best "
         "passage holds 20% of the question's key terms (under 50%) and its meaning "
         "similarity is 0.712 (under 0.800); the model was not asked", "retrieve",
         "已选择检索段落；3 个段落（关键词 + 语义检索）；文档中没有答案：最相关的段落只含问题"
         "关键词的 20%（低于 50%），语义相似度 0.712（低于 0.800）；没有调用模型"),
    ],
)  # fmt: skip
def test_route_reasons_in_chinese(reason: str, route: str, zh: str) -> None:
    assert reason_text(reason, route, "zh") == zh
    assert reason_text(reason, route, "en") == reason
    assert not re.search(r"[A-Za-z]{2,}", zh)


def test_answer_markdown_keeps_web_links_and_disarms_the_rest() -> None:
    out = render.answer_text(
        "See [the site](https://example.org/a?b=1) or [run](javascript:alert(1)) "
        "![pixel](http://tracker.example/p.png) <b>x</b>"
    )
    assert '<a href="https://example.org/a?b=1" target="_blank"' in out
    assert "javascript:" in out and 'href="javascript' not in out
    assert "<img" not in out and "&#91;pixel" in out and "&lt;b&gt;" in out


def test_the_verdict_is_a_badge_kept_with_the_conversation_and_said_in_the_copy() -> None:
    """Issue 25's contract on the page: a partly supported answer names what is missing, in
    the page's language, also once restored from local storage; its Copy text says so; the
    sources keep the numbers the answer cites them by, in the order the core gives."""
    import json
    from dataclasses import replace

    state = _answered("Three years [2], or 40 hours [1].")
    a = state.answer
    assert a is not None
    s1, s2 = dict(a.sources[0]), dict(a.sources[0])
    s1.update(n=2, source="warranty.txt"), s2.update(n=1, source="battery.txt")
    partial = replace(a, verdict="partial", unsupported=["40 hours"], sources=[s1, s2])
    state = replace(state, answer=partial)
    book = conv.finish(conv.add_question(conv.new_book(), "q"), conv.record(state))
    book = json.loads(json.dumps(book))
    turns = conv.current(book)["turns"]
    en = render.chat_messages(turns, "en")[1]["content"]
    zh = render.chat_messages(turns, "zh")[1]["content"]
    assert "Partly supported" in en and "Not found in the sources: 40 hours" in en
    assert "部分有文档依据" in zh and "来源中找不到：40 hours" in zh
    assert "[Partly supported by the documents; not found in the sources: 40 hours]" in en
    assert en.index('[2]</span> <b class="rm-file">warranty.txt') < en.index("[1]</span>")
    supported = replace(state, answer=replace(partial, verdict="supported", unsupported=[]))
    assert "Supported by your documents" in render.answer_html(supported, "en")
    assert "not found" not in render.plain_answer(supported, "en")
    unsupported = replace(state, answer=replace(partial, verdict="unsupported"))
    assert render.plain_answer(unsupported, "zh").count("文档不支持这个回答") == 1
