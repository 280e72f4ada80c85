"""Rules that had two homes and now have one: which chat turns are kept as history (the page
and ``ragmix chat``), and how a path a person wrote is expanded (every user path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragmix.app.desk import Desk, keeps_turn
from ragmix.core.errors import ModelError
from ragmix.core.events import AnswerState, Failed, RouteDecided, Token, Tokens
from ragmix.core.paths import user_path

TOKENS: Tokens = {"scope": 100, "budget": 900, "prompt": 120, "completion": 4}


@pytest.mark.parametrize(
    ("events", "kept"),
    [
        ([RouteDecided("stuff", "fits", TOKENS), Token("Two years.")], True),
        ([RouteDecided("retrieve", "over budget", TOKENS), Token("Two years.")], True),
        ([RouteDecided("search", "search only", TOKENS)], False),  # passages, no answer
        ([RouteDecided("stuff", "fits", TOKENS), Token("  ")], False),  # empty
        ([RouteDecided("stuff", "fits", TOKENS), Token("Two"), Failed("model died")], False),
    ],
)
def test_which_turns_join_the_history(events: list[object], kept: bool) -> None:
    assert keeps_turn(AnswerState.fold(events)) is kept  # type: ignore[arg-type]


def test_chat_and_the_page_share_the_rule() -> None:
    root = Path(__file__).resolve().parent.parent
    # ragmix chat goes through the desk's door; the page's conversations apply the rule itself
    assert "desk.remember(history, question, state)" in (root / "ragmix/cli/main.py").read_text(
        encoding="utf-8"
    )
    text = (root / "ui/conversations.py").read_text(encoding="utf-8")
    assert "if keeps_turn(state)" in text or "if not keeps_turn(state)" in text
    history: list[tuple[str, str]] = []
    answered = AnswerState.fold([RouteDecided("stuff", "fits", TOKENS), Token("Two years.")])
    searched = AnswerState.fold([RouteDecided("search", "search only", TOKENS)])
    Desk.remember(history, "How long?", answered)
    Desk.remember(history, "warranty", searched)
    assert history == [("How long?", "Two years.")]


def test_user_paths_expand_home_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCS_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_path("$DOCS_HOME/a.gguf") == tmp_path / "a.gguf"
    assert user_path("~/m.gguf") == tmp_path / "home" / "m.gguf"
    # the model file, the store and the model cache all go through it
    from ragmix.models.assembled import cache_dir
    from ragmix.models.llm import resolve_gguf
    from ragmix.store.stores import resolve_root

    with pytest.raises(ModelError, match=f"model file {tmp_path}/missing.gguf does not exist"):
        resolve_gguf("${DOCS_HOME}/missing.gguf")
    assert resolve_root("$DOCS_HOME/store") == tmp_path / "store"
    monkeypatch.setenv("RAGMIX_MODEL_CACHE", "~/cache")
    assert cache_dir() == tmp_path / "home" / "cache"
