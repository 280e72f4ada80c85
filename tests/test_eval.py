"""`ragmix eval`: SQuAD loading, recall through the real pipeline, CMRC/SQuAD answer scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragmix.app.evaluation import (
    em_en,
    em_zh,
    f1_en,
    f1_zh,
    load_squad,
    mixed_segmentation,
    retrieval_metrics,
    run_retrieval_eval,
    score_answer,
)
from ragmix.core.errors import RagmixError
from ragmix.core.settings import load_settings

CONTEXTS = [
    "苏州工业园区成立于1994年，是中国和新加坡两国政府间的重要合作项目，总面积278平方公里。",
    "拙政园是苏州最大的古典园林，始建于明朝正德年间，与留园、颐和园、避暑山庄并称四大名园。",
    "碧螺春是产于太湖洞庭山的绿茶，条索纤细，卷曲成螺，茸毛披覆，银绿隐翠，香气浓郁。",
    "The Lumen X2 projector has a lamp life of 8000 hours and a brightness of 3200 lumens.",
    "Photosynthesis converts sunlight, water and carbon dioxide into glucose and oxygen in "
    "the chloroplasts of plant cells.",
]


def _qa(qid: str, question: str, answer: str, context: str) -> dict[str, object]:
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": answer, "answer_start": context.find(answer)}],
    }


def make_squad(path: Path) -> Path:
    """5 distinct contexts (one repeated in a second article), 6 questions, 1 unanswerable."""
    c = CONTEXTS
    paragraphs = [
        {
            "id": "P0",
            "context": c[0],
            "qas": [_qa("q0", "苏州工业园区是哪一年成立的？", "1994年", c[0])],
        },
        {"id": "P1", "context": c[1], "qas": [_qa("q1", "拙政园始建于哪个朝代？", "明朝", c[1])]},
        {"id": "P2", "context": c[2], "qas": [_qa("q2", "碧螺春产于哪里？", "太湖洞庭山", c[2])]},
        {
            "id": "P3",
            "context": c[3],
            "qas": [
                _qa("q3", "What is the lamp life of the Lumen X2 projector?", "8000 hours", c[3])
            ],
        },
        {
            "id": "P4",
            "context": c[4],
            "qas": [
                _qa(
                    "q4",
                    "What does photosynthesis convert into glucose?",
                    "sunlight, water and carbon dioxide",
                    c[4],
                )
            ],
        },
        # Same text as P0: one document; its question shares none of the corpus's letters, so
        # BM25 finds nothing: only the multilingual embedder finds it, across languages (third).
        {"id": "P5", "context": c[0], "qas": [_qa("q5", "鲸鱼吃什么？", "磷虾", c[0])]},
    ]
    data = {
        "version": "v1.0",
        "data": [
            {"id": "A0", "title": "t", "paragraphs": paragraphs[:5]},
            {"id": "A1", "title": "t", "paragraphs": paragraphs[5:]},
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_load_squad_dedupes_contexts_and_limits_questions(tmp_path: Path) -> None:
    squad = load_squad(make_squad(tmp_path / "s.json"))
    assert len(squad.contexts) == 5
    assert [q.context for q in squad.questions] == [0, 1, 2, 3, 4, 0]
    assert squad.questions[3].answers == ("8000 hours",)
    limited = load_squad(tmp_path / "s.json", limit=2)
    assert len(limited.questions) == 2 and len(limited.contexts) == 5


def test_retrieval_eval_through_the_real_pipeline(tmp_path: Path) -> None:
    settings = load_settings(store={"path": str(tmp_path / "unused-store")})
    progress: list[tuple[str, dict[str, object]]] = []
    result = run_retrieval_eval(
        make_squad(tmp_path / "s.json"),
        settings,
        progress=lambda event, **data: progress.append((event, data)),
    )
    assert list(result)[:7] == [
        "n_contexts",
        "n_questions",
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr",
        "seconds",
    ]
    assert (result["n_contexts"], result["n_questions"]) == (5, 6)
    assert result["recall@1"] == 0.8333 and result["recall@5"] == result["recall@10"] == 1.0
    assert result["mrr"] == 0.8889  # (5 + 1/3) / 6
    assert not (tmp_path / "unused-store").exists()  # the eval never touches the user's store
    assert ("ingest", {"stage": "ingest", "total": 5}) in progress
    assert sum(1 for e, d in progress if e == "questions" and d.get("advance")) == 6


def test_retrieval_metrics_dedupe_and_mrr() -> None:
    got = retrieval_metrics([["a", "b"], ["c", "a"], ["c"], []], ["a", "a", "b", "b"], ks=(1, 2))
    assert got == {"recall@1": 0.25, "recall@2": 0.5, "mrr": 0.375}


@pytest.mark.parametrize(
    ("content", "missing"),
    [
        ({"version": "1"}, '"data"'),
        ({"data": [{"title": "x"}]}, 'data[0] has no "paragraphs"'),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, 'data[0].paragraphs[0] has no "context"'),
        ({"data": [{"paragraphs": [{"context": "x"}]}]}, '"qas"'),
        ({"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "1"}]}]}]}, '"question"'),
    ],
)
def test_malformed_file_names_file_and_field(
    tmp_path: Path, content: dict[str, object], missing: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(RagmixError) as err:
        load_squad(path)
    assert str(path) in str(err.value) and missing in str(err.value)
    assert "SQuAD-format" in str(err.value)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("question,answer\n", encoding="utf-8")
    with pytest.raises(RagmixError, match="notes.json is not a SQuAD-format .*not UTF-8 JSON"):
        load_squad(tmp_path / "notes.json")
    with pytest.raises(RagmixError, match="nope.json does not exist"):
        load_squad(tmp_path / "nope.json")


def test_cmrc_mixed_segmentation() -> None:
    assert mixed_segmentation("光荣和ω-force") == ["光", "荣", "和", "ωforce"]
    assert mixed_segmentation("《战国无双3》") == ["战", "国", "无", "双", "3"]
    assert mixed_segmentation("GPT-4 模型", remove_punct=False) == ["gpt", "-", "4", "模", "型"]


@pytest.mark.parametrize(
    ("prediction", "answer", "em", "f1"),
    [
        ("光荣和ω-force", "光荣和ω-force", 1.0, 1.0),
        ("《光荣和ω-force》", "光荣和ω-force", 1.0, 1.0),  # punctuation ignored
        ("北京大学", "北京", 0.0, 2 / 3),  # lcs 2; p 2/4, r 2/2
        ("由光荣和ω-force开发", "光荣和ω-force", 0.0, 2 * (4 / 7) / (4 / 7 + 1)),
        ("上海", "北京", 0.0, 0.0),
        ("北京天安北京", "北京天安门", 0.0, 2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5)),  # substring
    ],
)
def test_cmrc_em_and_char_f1(prediction: str, answer: str, em: float, f1: float) -> None:
    assert em_zh(prediction, answer) == em
    assert f1_zh(prediction, answer) == pytest.approx(f1)


@pytest.mark.parametrize(
    ("prediction", "answer", "em", "f1"),
    [
        ("The Eiffel Tower!", "eiffel tower", 1.0, 1.0),
        ("the Eiffel Tower in Paris", "Eiffel Tower", 0.0, 2 / 3),
        ("tower eiffel", "Eiffel Tower", 0.0, 1.0),  # a bag of words: order does not count
        ("London", "Paris", 0.0, 0.0),
    ],
)
def test_squad_em_and_word_f1(prediction: str, answer: str, em: float, f1: float) -> None:
    assert em_en(prediction, answer) == em
    assert f1_en(prediction, answer) == pytest.approx(f1)


def test_score_answer_best_gold_and_language() -> None:
    assert score_answer("北京", ["北京大学", "北京"], "zh") == (1.0, 1.0)
    assert score_answer("Peking University", ["Peking"], "en") == (0.0, pytest.approx(2 / 3))
    assert score_answer("anything", [], "en") == (0.0, 0.0)


@pytest.mark.slow
def test_qa_eval_with_the_default_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from ragmix.app.evaluation import run_qa_eval

    settings = load_settings(store={"path": str(tmp_path / "unused-store")})
    result = run_qa_eval(make_squad(tmp_path / "s.json"), settings, limit=2)
    assert list(result) == ["n_questions", "doc_tokens", "strategies"]
    assert result["n_questions"] == 2 and result["doc_tokens"] is None
    auto = result["strategies"]["auto"]
    assert 0.0 <= auto["em"] <= auto["f1"] <= 1.0 and 0.0 <= auto["answer_in_sources"] <= 1.0
    assert auto["prompt_tokens"] > 0 and sum(auto["routes"].values()) == 2


@pytest.mark.slow
def test_qa_eval_on_long_documents_per_strategy(tmp_path: Path) -> None:
    """Contexts joined into documents of N model tokens, every question asked about its own
    document with each strategy; the CLI's --json and --details."""
    pytest.importorskip("llama_cpp")
    squad = make_squad(tmp_path / "s.json")
    details = tmp_path / "details.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "ragmix.cli.main", "eval", "qa", str(squad), "--doc-tokens", "120",
         "--per-doc", "2", "--limit", "2", "--strategies", "stuff,retrieve", "--details",
         str(details), "--json", "--store", str(tmp_path / "unused")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["n_questions"] == 2 and result["doc_tokens"] >= 120
    assert list(result["strategies"]) == ["stuff", "retrieve"]
    for name, r in result["strategies"].items():
        assert set(r) == {"em", "f1", "answer_in_sources", "prompt_tokens",
                          "first_token_s_p50", "seconds", "routes"}  # fmt: skip
        assert list(r["routes"]) == [name]  # a forced strategy is the route taken
    rows = [json.loads(line) for line in details.read_text(encoding="utf-8").splitlines()]
    assert [r["strategy"] for r in rows] == ["stuff", "stuff", "retrieve", "retrieve"]
    assert all(r["gold"] and "answer" in r for r in rows)
    # the long document is scored by where the gold answer is: its whole text is read
    stuffed = [r for r in rows if r["strategy"] == "stuff"]
    assert all(r["prompt_tokens"] >= 120 for r in stuffed)


def test_long_documents_join_contexts_and_spread_questions(tmp_path: Path) -> None:
    from ragmix.app.evaluation import long_documents

    squad = load_squad(make_squad(tmp_path / "s.json"))
    docs = long_documents(squad, len, doc_tokens=150, n_docs=5, per_doc=1)
    assert docs and all(d.tokens >= 150 for d in docs[:-1])
    joined = "\n\n".join(d.text for d in docs)
    for d in docs:
        assert all(squad.contexts[q.context] in d.text for q in d.questions)
    assert squad.contexts[0] in joined
    with pytest.raises(RagmixError, match="too few contexts"):
        long_documents(squad, len, doc_tokens=10**9, n_docs=1, per_doc=1)


def test_calibrate_proposes_the_longest_length_where_whole_reading_holds() -> None:
    from ragmix.app.evaluation import calibrate

    def r(n: int, stuff: float, retrieve: float) -> dict[str, object]:
        return {
            "doc_tokens": n,
            "strategies": {"stuff": {"f1": stuff}, "retrieve": {"f1": retrieve}},
        }

    assert (
        calibrate([r(2000, 0.5, 0.4), r(8000, 0.45, 0.44), r(16000, 0.3, 0.42)])["stuff_max_tokens"]
        == 8000
    )
    assert calibrate([r(2000, 0.5, 0.4), r(16000, 0.5, 0.4)])["stuff_max_tokens"] is None
    assert calibrate([r(2000, 0.2, 0.4)])["stuff_max_tokens"] == 0
    # a loss at a short length is not undone by a win at a longer one
    assert calibrate([r(2000, 0.2, 0.4), r(8000, 0.5, 0.4)])["stuff_max_tokens"] == 0
    with pytest.raises(RagmixError, match="calibration needs"):
        calibrate([{"doc_tokens": None, "strategies": {"auto": {"f1": 0.3}}}])


@pytest.mark.slow
def test_each_strategy_starts_cold(tmp_path: Path) -> None:
    """`eval qa` forgets what the strategy before read (disk states, RAM states, the live KV
    cache): otherwise a whole-document read by auto makes stuff's seconds look free."""
    pytest.importorskip("llama_cpp")
    from ragmix import RagMix
    from ragmix.app.evaluation import _start_cold

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("The warranty lasts two years from the day of purchase. " * 40)
    rm = RagMix.from_config(None, store={"path": str(tmp_path / "s")}, llm={"max_tokens": 16})
    rm.ingest(docs)
    rm.ask("How long is the warranty?", mode="stuff")
    engine = rm.chat_model()._engine()  # type: ignore[attr-defined]
    assert rm.states_dir is not None and list(rm.states_dir.rglob("*.kv"))
    assert engine.states is not None and engine.states.entries
    assert engine.llama().n_tokens > 256
    _start_cold(rm)
    assert not list(rm.states_dir.rglob("*.kv"))
    assert engine.states is not None and not engine.states.entries
    assert engine.llama().n_tokens == 0
    assert rm.ask("How long is the warranty?", mode="stuff").route == "stuff"  # still answers
