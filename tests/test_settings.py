"""Settings layering: arguments > RAGMIX_* env > YAML profile > defaults; profiles load."""

from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import ragmix
from ragmix import ConfigError, load_settings
from ragmix.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_equal_the_default_profile() -> None:
    assert load_settings(ROOT / "configs" / "default.yaml") == load_settings()


def test_layering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("llm:\n  n_ctx: 4096\n  max_tokens: 300\nstore:\n  path: /from/yaml\n")
    s = load_settings(cfg)
    assert (s.llm.n_ctx, s.llm.max_tokens, str(s.store.path)) == (4096, 300, "/from/yaml")
    monkeypatch.setenv("RAGMIX_LLM__N_CTX", "2048")
    monkeypatch.setenv("RAGMIX_STORE", "/from/env")
    s = load_settings(cfg)
    assert (s.llm.n_ctx, s.llm.max_tokens, str(s.store.path)) == (2048, 300, "/from/env")
    s = load_settings(cfg, llm={"n_ctx": 1024}, store={"path": "/from/arg"})
    assert (s.llm.n_ctx, s.llm.max_tokens, str(s.store.path)) == (1024, 300, "/from/arg")
    assert s.llm.n_batch == 512  # untouched fields keep their defaults
    monkeypatch.setenv("RAGMIX_CONFIG", str(cfg))
    assert load_settings().llm.max_tokens == 300


def test_profiles_load() -> None:
    mixtral = load_settings(ROOT / "configs" / "chinese-mixtral.yaml")
    assert mixtral.llm.n_ctx == 32768 and mixtral.llm.n_gpu_layers == -1
    assert mixtral.embeddings.model == "BAAI/bge-m3" and mixtral.embeddings.languages == ["multi"]
    server = load_settings(ROOT / "configs" / "server.yaml")
    assert (server.store.mode, server.llm.backend, server.llm.n_ctx) == ("http", "openai", 32768)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("llm:\n  n_batch: 8\n", "llm.n_batch"),  # the LangChain default must not leak in
        ("llm:\n  n_ctx: 256\n", "llm.n_ctx"),
        ("store:\n  collection: a\n", "store.collection"),
        ("nonsense: 1\n", "nonsense"),
        ("- a list\n", "mapping"),
        ("llm: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert message in str(err.value)


def test_every_field_is_documented() -> None:
    def walk(model: type) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                missing += walk(ann)
            elif not field.description:
                missing.append(f"{model.__name__}.{name}")
        return missing

    assert walk(Settings) == []


def test_public_api_is_declared_once() -> None:
    for name in ragmix.__all__:
        assert getattr(ragmix, name) is not None
    public = {
        n
        for n in dir(ragmix)
        if not n.startswith("_")
        and n != "annotations"
        and not isinstance(getattr(ragmix, n), types.ModuleType)
    }
    assert public == set(ragmix.__all__) - set(ragmix._LAZY)  # the rest load on first use


def test_help_is_fast_and_loads_no_model() -> None:
    code = (
        "import sys, ragmix.cli.main; rc = ragmix.cli.main.main(['ingest', '--help']);"
        "heavy = [m for m in ('torch', 'llama_cpp', 'sentence_transformers', 'chromadb',"
        " 'gradio') if m in sys.modules]; print(heavy)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert time.perf_counter() - t0 < 5
    assert out.stdout.strip().endswith("[]")
    assert "--sync" in out.stdout


def test_the_loader_process_imports_only_what_loading_needs() -> None:
    """Every ingest waits for its loader process (ingest/guard.py) before the first file:
    it must not pay for the settings' pydantic-settings, LangChain or Chroma (~0.4 s)."""
    code = (
        "import sys; from ragmix.ingest.guard import _main; from ragmix.ingest import loaders;"
        "print([m for m in ('pydantic_settings', 'pydantic', 'langchain_core', 'chromadb',"
        " 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
