"""The model seam: packaged GGUF, prompt rendering, token counts, streaming, state cache, openai."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from ragmix.core.errors import ModelError
from ragmix.core.settings import LlmSettings
from ragmix.core.tokens import EstimateTokenCounter
from ragmix.models.llm import (
    LlamaCppChat,
    PromptStateCache,
    TokenCounter,
    gguf_token_counter,
    make_chat_model,
    make_renderer,
    make_token_counter,
    render_mixtral,
    resolve_gguf,
    set_state_cache,
)
from tests.servers import start_fake_model_server

SMOL = "packaged:SmolLM2-135M-Instruct"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- fast


def test_resolve_gguf_packaged() -> None:
    path = resolve_gguf(SMOL)
    assert path.is_file() and path.name.startswith("SmolLM2-135M-Instruct")


def test_resolve_gguf_missing_file_names_path_and_fix(tmp_path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelError) as err:
        resolve_gguf(str(missing))
    assert str(missing) in str(err.value)
    assert "llm.model_path" in str(err.value)


def test_resolve_gguf_unknown_packaged_model() -> None:
    with pytest.raises(ModelError, match="packaged:SmolLM2-135M-Instruct"):
        resolve_gguf("packaged:Nope-7B")


def test_mixtral_format_puts_system_into_first_user_turn() -> None:
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Why?"},
    ]
    assert render_mixtral(msgs) == "[INST] Be brief.\n\nHi [/INST] Hello.</s>[INST] Why? [/INST]"


def test_template_less_gguf_falls_back_to_mixtral() -> None:
    name, fn = make_renderer({"general.architecture": "llama"}, "<s>", "</s>", None)
    assert name == "mixtral"
    assert fn([{"role": "user", "content": "Q"}]) == "[INST] Q [/INST]"


def test_chat_format_setting_wins_and_unknown_is_config_error() -> None:
    from ragmix.core.errors import ConfigError

    meta = {"tokenizer.chat_template": "{{ messages[0]['content'] }}"}
    name, fn = make_renderer(meta, "", "", "chatml")
    assert name == "chatml" and fn([{"role": "user", "content": "Q"}]).startswith("<|im_start|>")
    with pytest.raises(ConfigError, match="no-such-format"):
        make_renderer(meta, "", "", "no-such-format")


def test_prompt_state_cache_lru_by_bytes_and_supersede() -> None:
    import numpy as np
    from llama_cpp.llama import LlamaState

    def state(n: int, nbytes: int) -> LlamaState:
        return LlamaState(np.zeros(64, np.intc), np.zeros((8, 10), np.single), n, b"x" * nbytes,
                          nbytes, 0)  # fmt: skip

    cache = PromptStateCache(capacity_bytes=4_000, min_tokens=4)
    doc_a, doc_b = list(range(100)), list(range(1000, 1100))
    cache[doc_a + [7, 7]] = state(102, 1000)
    cache[doc_a + [8, 8]] = state(102, 1000)  # same document: replaces the first
    assert len(cache.entries) == 1
    cache[doc_b] = state(100, 1000)
    assert len(cache.entries) == 2
    assert cache[doc_a + [9]].n_tokens == 102  # longest prefix: doc A's state
    cache[list(range(2000, 2100))] = state(100, 1000)  # over capacity: LRU (doc B) leaves
    assert doc_b[:4] not in cache and cache.cache_size <= 4_000
    with pytest.raises(KeyError):
        cache[[5000, 5001, 5002, 5003]]
    assert cache[doc_a + [9]].scores.shape == (1, 10)  # logits copy dropped


def test_openai_backend_closed_port_is_model_error_fast() -> None:
    port = _closed_port()
    settings = LlmSettings(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5)
    chat = make_chat_model(settings)
    start = time.perf_counter()
    with pytest.raises(ModelError) as err:
        chat.invoke("hello")
    assert time.perf_counter() - start < 5
    assert f"127.0.0.1:{port}" in str(err.value) and "llm.base_url" in str(err.value)
    with pytest.raises(ModelError):
        list(chat.stream("hello"))


def test_openai_token_counter_falls_back_to_estimate() -> None:
    settings = LlmSettings(backend="openai", base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    counter = make_token_counter(settings)
    assert isinstance(counter, TokenCounter)
    assert counter.name.startswith("estimate") and (counter.kind, counter.exact) == (
        "estimate",
        False,
    )
    assert counter.count("abcdef") == 2 and counter.count("中文") == 4


def test_openai_token_counter_uses_tokenizer_path() -> None:
    counter = make_token_counter(LlmSettings(backend="openai", tokenizer_path=SMOL))
    assert counter.name.startswith("gguf:SmolLM2")


def test_server_without_tokenize_is_probed_once_then_estimated(tmp_path: Path) -> None:
    """50 counts the way answering makes them (the counter factory is called per count):
    the server sees one probe per tokenize endpoint, then never again."""
    from ragmix import RagMix

    server = start_fake_model_server()
    try:
        rm = RagMix.from_config(
            None,
            store={"path": str(tmp_path / "s")},
            llm={"backend": "openai", "base_url": server.url, "timeout_s": 5},
        )
        texts = [f"第{i}段 paragraph number {i} of the report" for i in range(50)]
        counts = [rm._counter().count(t) for t in texts]
        counter = rm._counter()
        assert (counter.kind, counter.exact) == ("estimate", False)
        assert f"127.0.0.1:{server.port} has no tokenize endpoint" in counter.reason
        assert counts == [EstimateTokenCounter().count(t) for t in texts]
        assert server.hits("/tokenize") == 1 and server.hits("/extras/tokenize/count") == 1
        assert len(server.requests) == 2
        from ragmix.app.doctor import _tokens

        status, detail, fix = _tokens(rm)  # what `ragmix doctor` shows
        assert status == "warn" and detail.startswith("estimate: ") and "no tokenize" in detail
        assert "llm.tokenizer_path" in fix
    finally:
        server.stop()


def test_threads_resolving_one_server_counter_probe_it_once() -> None:
    server = start_fake_model_server(tokenize=True)
    try:
        settings = LlmSettings(backend="openai", base_url=server.url, timeout_s=5)
        start = threading.Barrier(8)
        got: list[tuple[object, int]] = []

        def count() -> None:
            start.wait()
            counter = make_token_counter(settings)
            got.append((counter, counter.count("three words here")))

        threads = [threading.Thread(target=count) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(got) == 8 and len({id(c) for c, _ in got}) == 1
        counter = got[0][0]
        assert (counter.kind, counter.exact) == ("server", True)  # type: ignore[attr-defined]
        assert [n for _, n in got] == [3] * 8
        assert server.hits("/tokenize") == 1 + 8  # one probe, then one request per count
    finally:
        server.stop()


def test_unreachable_server_is_estimated_then_probed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ragmix.core import tokens

    monkeypatch.setattr(tokens, "RETRY_DOWN_S", 0.5)
    port = _closed_port()
    settings = LlmSettings(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5)
    first = make_token_counter(settings)
    assert first.kind == "estimate" and "cannot reach" in first.reason  # type: ignore[attr-defined]
    server = start_fake_model_server(tokenize=True, port=port)
    try:
        assert make_token_counter(settings) is first and server.requests == []  # remembered
        time.sleep(0.6)
        again = make_token_counter(settings)
        assert (again.kind, again.exact, again.count("a b c")) == ("server", True, 3)
    finally:
        server.stop()


def test_gguf_token_counter_is_cached_and_exact() -> None:
    counter = gguf_token_counter(SMOL)
    assert counter is gguf_token_counter(str(resolve_gguf(SMOL)))
    assert (counter.kind, counter.exact) == ("gguf", True)
    assert make_token_counter(LlmSettings(model_path=SMOL)) is counter
    assert counter.count("") == 0 and counter.count("Hello world") == 2
    assert counter.count("今天天气很好") > counter.count("Hello")


def test_constructing_the_chat_model_loads_nothing() -> None:
    chat = make_chat_model(LlmSettings(model_path=SMOL, n_ctx=1024))
    assert isinstance(chat, LlamaCppChat) and chat.n_ctx == 1024
    from ragmix.models.engine import engine_for

    assert engine_for(chat.settings)._llama is None


# ----------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def chat() -> LlamaCppChat:
    return LlamaCppChat(
        settings=LlmSettings(n_ctx=4096, n_batch=1024, max_tokens=24, temperature=0.0)
    )


@pytest.mark.slow
def test_packaged_gguf_loads_with_settings(chat: LlamaCppChat) -> None:
    llama = chat.llama()
    assert llama.n_ctx() == 4096 == chat.n_ctx
    assert llama.n_batch == 1024
    assert llama.verbose is False
    assert chat._engine().states is not None  # state cache on by default
    assert chat.llama() is LlamaCppChat(settings=chat.settings.model_copy()).llama()


@pytest.mark.slow
def test_render_uses_smollm2_chatml_template(chat: LlamaCppChat) -> None:
    prompt = chat.render([SystemMessage("Be brief."), HumanMessage("Hi")])
    assert chat.chat_format == "gguf-template"
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.slow
def test_chat_format_mixtral_setting_on_real_gguf() -> None:
    chat = LlamaCppChat(settings=LlmSettings(n_ctx=1024, chat_format="mixtral"))
    assert chat.chat_format == "mixtral"
    assert chat.render([SystemMessage("S"), HumanMessage("Q")]) == "[INST] S\n\nQ [/INST]"


@pytest.mark.slow
def test_count_prompt_tokens_is_what_the_model_sees(chat: LlamaCppChat) -> None:
    msgs = [SystemMessage("Be brief."), HumanMessage("今天 the weather is 很好. Why?")]
    llama = chat.llama()
    expected = llama.tokenize(chat.render(msgs).encode(), add_bos=True, special=True)
    assert chat.count_prompt_tokens(msgs) == len(expected)
    msg = chat.invoke(msgs)
    assert msg.usage_metadata["input_tokens"] == len(expected)
    # The model really evaluated exactly those tokens first.
    assert list(llama._input_ids[: len(expected)]) == expected


@pytest.mark.slow
def test_stream_equals_invoke_with_usage_and_timing(chat: LlamaCppChat) -> None:
    msgs = [HumanMessage("Name three colours of the rainbow.")]
    full = chat.invoke(msgs)
    chunks = list(chat.stream(msgs))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 1
    assert "".join(texts) == full.content and full.content.strip()
    assert isinstance(full, AIMessage)
    usage = full.usage_metadata
    assert usage["input_tokens"] == chat.count_prompt_tokens(msgs)
    assert 0 < usage["output_tokens"] <= 24
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    meta = full.response_metadata
    assert 0 < meta["ttft_s"] <= meta["total_s"]
    assert meta["finish_reason"] in ("stop", "length")


@pytest.mark.slow
def test_output_token_count_matches_max_tokens_on_length(chat: LlamaCppChat) -> None:
    msg = chat.invoke([HumanMessage("Write a long story about a dog.")], max_tokens=5)
    assert msg.response_metadata["finish_reason"] == "length"
    assert msg.usage_metadata["output_tokens"] == 5


@pytest.mark.slow
def test_prompt_too_long_is_budget_error(chat: LlamaCppChat) -> None:
    from ragmix.core.errors import BudgetError

    with pytest.raises(BudgetError, match="llm.n_ctx"):
        chat.invoke([HumanMessage("word " * 5000)])


@pytest.mark.slow
def test_state_cache_restores_other_document(chat: LlamaCppChat) -> None:
    set_state_cache(chat, "prefix", 512)
    doc_a = " ".join(f"Alpha fact {i} is {i * 7}." for i in range(150))
    doc_b = " ".join(f"Beta fact {i} is {i * 3}." for i in range(150))

    def ask(doc: str, q: str) -> float:
        msg = chat.invoke([HumanMessage(f"{doc}\n\nQuestion: {q}")], max_tokens=4)
        return msg.response_metadata["ttft_s"]

    first = ask(doc_a, "What is fact 3?")
    ask(doc_b, "What is fact 4?")
    again = ask(doc_a, "What is fact 5?")
    cache = chat._engine().states
    assert len(cache.entries) == 2  # one state per document
    assert again < first / 3


# ----------------------------------------------------------------------------- stop and pace

QWEN = "packaged:Qwen2.5-Coder-0.5B-Instruct"


def _model_or_skip(model: str) -> str:
    if model == QWEN:
        import importlib.metadata as md

        from ragmix.models.assembled import ASSEMBLED

        try:
            md.distribution(ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"].parts[0].package)
        except md.PackageNotFoundError:
            pytest.skip("the Qwen2.5-Coder-0.5B-Instruct packages are not installed: make setup-zh")
    return model


def _ledger(n: int) -> list[SystemMessage | HumanMessage]:
    """A prompt of a few thousand tokens: the reading takes several of the model's batches."""
    text = "".join(
        f"Entry {i}: the crane on quay {i % 9} lifted {i * 7} crates of timber for the ship "
        f"Aurora {i % 13} before the evening tide.\n"
        for i in range(n)
    )
    return [
        SystemMessage("Answer from the ledger in one short sentence."),
        HumanMessage(f"{text}\nHow many crates did entry 12 lift?"),
    ]


def _readings(chunks: list[Any]) -> list[dict[str, Any]]:
    return [r for c in chunks for r in c.response_metadata.get("ragmix_reading", [])]


@pytest.mark.slow
@pytest.mark.parametrize("model", [SMOL, QWEN])
def test_stop_while_a_long_prompt_is_read_frees_the_model_at_once_and_the_cache_stays_sound(
    model: str,
) -> None:
    """Issue 27: Stop while the model reads a long prompt gives the model back within 2 s
    (llama.cpp checks the stop after each node of its graph, not at its next 512-token
    batch: 5-21 s before on this machine); the batches read before the stop are reused by the
    next question, whose answer is the one a clean read gives."""
    from ragmix.core.cancel import StopFlag, stoppable

    settings = LlmSettings(model_path=_model_or_skip(model), n_ctx=8192, max_tokens=16,
                           temperature=0.0, state_cache_mb=0)  # fmt: skip
    chat = LlamaCppChat(settings=settings)
    engine, llama = chat._engine(), chat.llama()
    assert engine.abort_mode == "native"
    messages = _ledger(55 if model == QWEN else 80)
    assert chat.count_prompt_tokens(messages) > 3 * 512
    llama.reset()
    flag, chunks = StopFlag(), []

    def run() -> None:
        with stoppable(flag):
            chunks.extend(chat.stream(messages))

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 600
    while not any(r["read"] >= 512 for r in _readings(chunks)):
        assert time.monotonic() < deadline and worker.is_alive(), chunks
        time.sleep(0.02)
    time.sleep(0.3)  # well into the next batch
    t0 = time.monotonic()
    flag.set()
    assert engine.lock.acquire(timeout=2.0), "the model was not given back within 2 s"
    freed = time.monotonic() - t0
    engine.lock.release()
    worker.join(10)
    print(f"{model}: the model was given back {freed:.2f} s after Stop")
    finish = [c.response_metadata["finish_reason"] for c in chunks
              if "finish_reason" in c.response_metadata]  # fmt: skip
    assert finish == ["abandoned"]
    kept = llama.n_tokens
    assert kept >= 512 and kept % 512 == 0  # the batches read before the stop

    # The next question reads on from those batches, and answers as a clean read does.
    on = list(chat.stream(messages))
    assert _readings(on)[0]["read"] == kept
    llama.reset()
    clean = list(chat.stream(messages))
    assert _readings(clean)[0]["read"] == 0
    text = "".join(str(c.content) for c in on)
    assert text and text == "".join(str(c.content) for c in clean)


@pytest.mark.slow
def test_the_reading_estimate_comes_from_this_models_measured_pace() -> None:
    """Issue 27: the reading bar's seconds left come from how fast this model read in this
    process (the engine's ``Pace``), updated after each batch: the first report of a read
    already has an estimate once the model has read before, and the estimate is near the
    time the reading then took."""
    chat = LlamaCppChat(settings=LlmSettings(model_path=SMOL, n_ctx=8192, max_tokens=16,
                                             temperature=0.0, state_cache_mb=0))  # fmt: skip
    engine, llama = chat._engine(), chat.llama()
    engine.pace = type(engine.pace)()  # this test's measures only
    llama.reset()
    first = _readings(list(chat.stream(_ledger(60))))
    assert first[0]["seconds_left"] is None  # nothing measured yet
    assert all(r["seconds_left"] is not None for r in first[1:])
    after = engine.pace.coefficients()
    assert after is not None and after[0] > 0
    llama.reset()
    t0 = time.monotonic()
    chunks = list(chat.stream(_ledger(80)))
    took = time.monotonic() - t0
    start = _readings(chunks)[0]
    assert start["read"] == 0 and start["seconds_left"] is not None
    print(f"estimated {start['seconds_left']} s, read in {took:.1f} s")
    assert start["seconds_left"] / 3 <= took <= start["seconds_left"] * 3
    assert engine.pace.coefficients() != after  # updated as it read
