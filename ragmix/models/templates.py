"""Prompt rendering: LangChain messages as role/content dicts, and a chat model's template
(the GGUF's own, else Mixtral ``[INST]``), so a prompt is one string counted exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.messages import BaseMessage

from ragmix.core.errors import ConfigError

Messages = list[dict[str, str]]


def render_mixtral(messages: Messages) -> str:
    """Mixtral-Instruct format; system text goes into the first user turn.

    No leading ``<s>``: the tokenizer adds BOS itself.
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"] or [{"role": "user", "content": ""}]
    out = []
    for m in turns:
        if m["role"] == "assistant":
            out.append(f" {m['content']}</s>")
        else:
            text = m["content"]
            if system:
                text, system = f"{system}\n\n{text}" if text else system, ""
            out.append(f"[INST] {text} [/INST]")
    return "".join(out)


def make_renderer(
    metadata: dict[str, str], bos: str, eos: str, chat_format: str | None
) -> tuple[str, Callable[[Messages], str]]:
    """Choose how messages become a prompt string.

    Order: the ``chat_format`` setting ('mixtral', or a llama-cpp-python format name such as
    'chatml'); else the GGUF's ``tokenizer.chat_template``; else Mixtral.

    Returns:
        (name of the format, function from role/content dicts to the prompt string).
    """
    from llama_cpp import llama_chat_format as lcf

    if chat_format in (None, "gguf") and metadata.get("tokenizer.chat_template"):
        formatter = lcf.Jinja2ChatFormatter(metadata["tokenizer.chat_template"], eos, bos)
        return "gguf-template", lambda msgs: formatter(messages=msgs).prompt
    if chat_format in (None, "gguf", "mixtral"):
        return "mixtral", render_mixtral
    for attr in {chat_format, chat_format.replace("-", "_"), chat_format.replace("-", "")}:
        fn = getattr(lcf, f"format_{attr}", None)
        if callable(fn):
            return chat_format, lambda msgs, fn=fn: fn(messages=msgs).prompt
    raise ConfigError(
        f"llm.chat_format {chat_format!r} is unknown; use 'mixtral', a llama-cpp-python format "
        "such as 'chatml' or 'llama-2', or leave it empty to use the GGUF's template"
    )


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_dicts(messages: Sequence[BaseMessage]) -> Messages:
    """LangChain messages as role/content dicts for chat templates."""
    out = []
    for m in messages:
        role = getattr(m, "role", None) if m.type == "chat" else _ROLES.get(m.type, "user")
        content = m.content if isinstance(m.content, str) else str(m.text)
        out.append({"role": role or "user", "content": content})
    return out
