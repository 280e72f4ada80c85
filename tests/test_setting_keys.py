"""A misspelt setting stops the command with its name, where it was and the closest valid key
(a profile key or a ``RAGMIX_*`` variable), and ``ragmix doctor`` reports it; every shipped
profile still loads, by path and by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragmix import ConfigError, load_settings
from ragmix.core.paths import resolve_profile, shipped_profiles
from ragmix.core.settings import unknown_keys

ROOT = Path(__file__).resolve().parent.parent
RAGMIX = Path(sys.executable).with_name("ragmix")


@pytest.mark.parametrize(
    ("data", "found"),
    [
        ({"llm": {"n_ctx": 4096}}, []),
        ({"llm": {"n_ctxx": 4096}}, [("llm.n_ctxx", "llm.n_ctx")]),
        ({"embeddings": {"modle": "x"}}, [("embeddings.modle", "embeddings.model")]),
        ({"embedings": {"backend": "openai"}}, [("embedings", "embeddings")]),
        ({"llm": {"chunk_tokens": 300}}, [("llm.chunk_tokens", "chunking.chunk_tokens")]),
        ({"llm": {"zzz": 1}}, [("llm.zzz", None)]),
        ({"store": {"headers": {"X-Any": "ok"}}}, []),  # a mapping setting takes any key
        ({"llm": None}, []),
    ],
)
def test_unknown_keys(data: dict[str, object], found: list[tuple[str, str | None]]) -> None:
    assert unknown_keys(data) == found


def test_a_misspelt_profile_key_stops_with_its_name_file_and_the_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("embeddings:\n  modle: x\nllm:\n  n_ctxx: 32768\n  zzz: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(err.value).startswith(
        f"unknown setting embeddings.modle in config file {cfg}; did you mean "
        f"embeddings.model?; unknown setting llm.n_ctxx in config file {cfg}; did you mean "
        f"llm.n_ctx?; unknown setting llm.zzz in config file {cfg}; the keys of llm are "
        "backend, "
    )


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ("RAGMIX_LLM__N_CTXX", "environment variable RAGMIX_LLM__N_CTXX names no setting "
         "(llm.n_ctxx); did you mean RAGMIX_LLM__N_CTX?"),
        ("RAGMIX_EMBEDING__MODEL", "environment variable RAGMIX_EMBEDING__MODEL names no "
         "setting (embeding); did you mean RAGMIX_EMBEDDINGS__MODEL?"),
        ("RAGMIX_N_CTX", "environment variable RAGMIX_N_CTX names no setting; did you mean "
         "RAGMIX_LLM__N_CTX?"),
    ],
)  # fmt: skip
def test_a_misspelt_variable_stops_with_its_name(
    monkeypatch: pytest.MonkeyPatch, var: str, message: str
) -> None:
    monkeypatch.setenv(var, "4096")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == message


def test_ragmix_variables_that_are_no_settings_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RAGMIX_API_KEY", "RAGMIX_MODEL_CACHE", "RAGMIX_CRASH_AFTER", "RAGMIX_STORE"):
        monkeypatch.setenv(var, "x" if var != "RAGMIX_CRASH_AFTER" else "0")
    monkeypatch.setenv("RAGMIX_LLM__N_CTX", "4096")
    assert load_settings().llm.n_ctx == 4096


def test_every_shipped_profile_loads_by_path_and_by_name() -> None:
    shipped = shipped_profiles()
    assert set(shipped) == {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    assert len(shipped) >= 4
    for name, path in shipped.items():
        assert load_settings(path) == load_settings(name), name
    assert resolve_profile("zh-small") == shipped["zh-small"]
    # the checkout's path works from any folder; an existing file wins over a name
    assert resolve_profile("configs/zh-small.yaml").resolve() == shipped["zh-small"].resolve()
    with pytest.raises(ConfigError, match="shipped profile .*zh-small.*ragmix config list"):
        load_settings("zh-smal")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RAGMIX), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, cwd="/",
    )  # fmt: skip


def test_doctor_reports_a_misspelt_key(tmp_path: Path) -> None:
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("llm:\n  n_ctxx: 32768\n", encoding="utf-8")
    out = _cli("doctor", "--no-model", "--json", "--config", str(cfg), "--store", str(tmp_path))
    assert out.returncode == 1, out.stderr
    checks = json.loads(out.stdout)
    assert [c["name"] for c in checks] == ["settings"]
    assert checks[0]["status"] == "fail"
    detail = checks[0]["detail"]
    assert "unknown setting llm.n_ctxx" in detail and "llm.n_ctx?" in detail
    listed = _cli("config", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["name"] for r in json.loads(listed.stdout)} >= {"default", "zh-small", "server"}
