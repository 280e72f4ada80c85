"""Interface text in English and Chinese, and how a session's language is chosen.

Static labels go to Gradio's ``gr.I18n`` (translated in the browser from its own language)
when ``ui.language`` is 'auto'; text made by callbacks (badges, ingest reports) is picked
from the request's ``Accept-Language`` header with ``pick_language``. The page's own
"Language / 语言" switch overrides both for its session: the callbacks relabel every
component with ``tr`` and answer in the chosen language from then on.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {"en": "ragmix · ask your documents", "zh": "ragmix · 文档问答"},
    "subtitle": {
        "en": "Private, local question answering over long documents.",
        "zh": "本地、私密的长文档问答。",
    },
    "documents": {"en": "Documents", "zh": "文档"},
    "upload": {
        "en": "Drop PDF, Word, text or HTML files here",
        "zh": "将 PDF、Word、文本或 HTML 文件拖放到这里",
    },
    "scope": {"en": "Ask about (none ticked: all)", "zh": "提问范围（不勾选：全部）"},
    "delete_pick": {"en": "Document to delete", "zh": "要删除的文档"},
    "delete": {"en": "Delete", "zh": "删除"},
    "refresh": {"en": "Refresh", "zh": "刷新"},
    "warm": {
        "en": "Read ahead (ticked documents, else all): faster first answers",
        "zh": "预读（勾选的文档，未勾选则全部）：首次回答更快",
    },
    "mode": {"en": "Answer mode", "zh": "回答方式"},
    "mode_auto": {"en": "Auto", "zh": "自动"},
    "mode_stuff": {"en": "Whole document", "zh": "整篇文档"},
    "mode_retrieve": {"en": "Retrieve", "zh": "检索段落"},
    "mode_search": {"en": "Search only", "zh": "仅搜索"},
    "chat": {"en": "Conversation", "zh": "对话"},
    "question": {"en": "Your question", "zh": "你的问题"},
    "placeholder": {
        "en": "Ask a question about your documents…",
        "zh": "就你的文档提一个问题……",
    },
    "send": {"en": "Send", "zh": "发送"},
    "clear": {"en": "New conversation", "zh": "新对话"},
    "confirm": {"en": "Yes, delete", "zh": "确认删除"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "language": {"en": "Language / 语言", "zh": "Language / 语言"},
    "empty_chat": {
        "en": "Upload documents on the left, then ask a question.",
        "zh": "先在左侧上传文档，然后提问。",
    },
    # -- dynamic text (callbacks) ---------------------------------------------------------
    "col_doc": {"en": "Document", "zh": "文档"},
    "col_pages": {"en": "Pages", "zh": "页数"},
    "col_chunks": {"en": "Chunks", "zh": "段落"},
    "col_tokens": {"en": "Tokens", "zh": "词元"},
    "no_docs": {"en": "No documents yet.", "zh": "还没有文档。"},
    "waiting": {
        "en": "Waiting for the model (another question is being answered)…",
        "zh": "正在排队等待模型（正在回答其他问题）……",
    },
    "thinking": {"en": "Reading…", "zh": "正在阅读……"},
    "no_docs_ask": {
        "en": "there are no documents yet: upload files with the box on the left, then ask",
        "zh": "还没有文档：请先用左侧的上传框上传文件，再提问。",
    },
    "empty_question": {
        "en": "Type a question first.",
        "zh": "请先输入问题。",
    },
    "reading": {
        "en": "Reading the documents: {read} of {total} tokens",
        "zh": "正在阅读文档：{read} / {total} 词元",
    },
    "reading_left": {"en": " · about {s} s left", "zh": " · 约剩 {s} 秒"},
    "reading_restored": {
        "en": " ({n} read before, loaded from disk)",
        "zh": "（其中 {n} 词元此前已读过，从磁盘载入）",
    },
    "badge_stuff": {
        "en": "Whole document · {scope} / {budget} tokens",
        "zh": "整篇文档 · {scope} / {budget} 词元",
    },
    "badge_retrieve": {"en": "Retrieved · {n} passages", "zh": "检索 · {n} 个段落"},
    "badge_search": {"en": "Search only · {n} passages", "zh": "仅搜索 · {n} 个段落"},
    "badge_map_reduce": {
        "en": "Part by part · {scope} tokens",
        "zh": "分段阅读 · {scope} 词元",
    },
    "badge_restart": {"en": "re-read the whole document", "zh": "改为阅读整篇文档"},
    "sources": {"en": "Sources ({n})", "zh": "来源（{n}）"},
    "sources_plain": {"en": "Sources:", "zh": "来源："},
    "copy": {"en": "Copy", "zh": "复制"},
    "copy_title": {
        "en": "Copy the answer and its sources as plain text",
        "zh": "以纯文本复制回答及其来源",
    },
    "copied": {"en": "Copied", "zh": "已复制"},
    "page": {"en": "p. {page}", "zh": "第 {page} 页"},
    "whole": {"en": "whole document", "zh": "全文"},
    "pages": {"en": "pp. {first}–{last}", "zh": "第 {first}–{last} 页"},
    "supports": {"en": "supports the answer", "zh": "答案出处"},
    "whole_no_support": {
        "en": "read whole; no passage holds the answer's words",
        "zh": "已通读全文；没有段落包含答案中的词语",
    },
    "holds": {"en": "holds {pct} of the answer's words", "zh": "包含答案中 {pct} 的词语"},
    "relevance": {"en": "relevance {pct}", "zh": "相关度 {pct}"},
    "model_language": {
        "en": "The answering model does not read this language well: the answer may be wrong.",
        "zh": "注意：当前的回答模型不擅长中文，这个回答可能有误。请改用能读中文的模型"
        "（make setup-zh 后使用 configs/zh-small.yaml，或 Chinese-Mixtral）。",
    },
    "score": {"en": "score {score}", "zh": "得分 {score}"},
    "no_passages": {"en": "No matching passages.", "zh": "没有找到匹配的段落。"},
    "timing": {
        "en": "{prompt} prompt · {completion} answer tokens · {seconds} s",
        "zh": "提示 {prompt} · 回答 {completion} 词元 · {seconds} 秒",
    },
    "error": {"en": "Could not answer: {error}", "zh": "无法回答：{error}"},
    "too_long": {
        "en": "the question is {n:,} characters long; this page accepts at most {limit:,}",
        "zh": "问题长 {n:,} 个字符；本页面最多接受 {limit:,} 个字符",
    },
    "st_ingested": {"en": "added", "zh": "已添加"},
    "st_unchanged": {"en": "already stored, unchanged", "zh": "已存在，未改变"},
    "st_duplicate": {
        "en": "same content as a stored document; not added again",
        "zh": "内容与已存文档相同，未重复添加",
    },
    "st_duplicate_of": {
        "en": "same content as {name}; not added again (kept as another name of it)",
        "zh": "内容与已存文档 {name} 相同，未重复添加（作为它的另一个名称保留）",
    },
    "st_renamed": {"en": "same content under a new name", "zh": "内容相同，名称已更新"},
    "st_failed": {"en": "failed: {error}", "zh": "失败：{error}"},
    "st_rejected": {"en": "refused: {error}", "zh": "拒绝：{error}"},
    "st_stored_as": {"en": "stored as {name}", "zh": "保存为 {name}"},
    "rej_ext": {
        "en": "type {ext} is not accepted (allowed: {allowed})",
        "zh": "不支持的类型 {ext}（允许：{allowed}）",
    },
    "rej_size": {
        "en": "{mb:.1f} MB is over the {limit:g} MB upload limit",
        "zh": "{mb:.1f} MB 超过上传上限 {limit:g} MB",
    },
    "rej_name": {"en": "the file name is empty or hidden", "zh": "文件名为空或是隐藏文件"},
    "deleted": {"en": "Deleted {name}.", "zh": "已删除 {name}。"},
    "name_removed": {
        "en": "Removed the name {name}; the document stays as {rest}.",
        "zh": "已移除名称 {name}；文档仍以 {rest} 保留。",
    },
    "also_named": {"en": "also: {names}", "zh": "又名：{names}"},
    "pick_first": {"en": "Choose a document first.", "zh": "请先选择文档。"},
    "confirm_delete": {
        "en": "Delete {name}? Click “Yes, delete” to remove it, or Cancel to keep it.",
        "zh": "删除 {name}？点击“确认删除”将其删除，点击“取消”保留。",
    },
    "delete_kept": {
        "en": "Kept {name}; nothing was deleted.",
        "zh": "已保留 {name}，未删除任何内容。",
    },
    "ingest_file": {"en": "Reading {name}", "zh": "正在读取 {name}"},
    "ingest_embed": {
        "en": "Indexing {name}: {done} / {total} chunks",
        "zh": "正在索引 {name}：{done} / {total} 段",
    },
    "warm_reading": {"en": "Reading {name} ahead…", "zh": "正在预读 {name}……"},
    "warm_done": {
        "en": "read ahead: {tokens} tokens in {seconds} s; its first question starts at once",
        "zh": "已预读：{tokens} 词元，用时 {seconds} 秒；首个问题将立即开始回答",
    },
    "warm_kept": {
        "en": "already read ahead; nothing to do",
        "zh": "此前已预读，无需重复",
    },
    "warm_skip": {"en": "not read ahead: {error}", "zh": "未预读：{error}"},
}

#: The keys ``gr.I18n`` serves to the browser (the static labels).
STATIC_KEYS = [
    "title", "subtitle", "documents", "upload", "scope", "delete_pick", "delete", "refresh", "warm",
    "mode", "mode_auto", "mode_stuff", "mode_retrieve", "mode_search", "chat", "question",
    "placeholder", "send", "clear", "empty_chat", "confirm", "cancel", "language",
]  # fmt: skip


def tr(key: str, lang: Lang, **fmt: object) -> str:
    """The text for ``key`` in ``lang``, formatted with ``fmt``."""
    text = TEXTS[key][lang]
    return text.format(**fmt) if fmt else text


def pick_language(setting: str, accept_language: str | None) -> Lang:
    """'zh' or 'en': the setting when fixed, else the browser's first zh/en preference.

    Example:
        >>> pick_language("auto", "zh-CN,zh;q=0.9,en;q=0.8")
        'zh'
    """
    if setting in ("zh", "en"):
        return setting  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def translations() -> dict[str, dict[str, str]]:
    """Per-locale dictionaries for ``gr.I18n`` (browsers report zh-CN, zh-TW, ... as well)."""
    en = {k: TEXTS[k]["en"] for k in STATIC_KEYS}
    zh = {k: TEXTS[k]["zh"] for k in STATIC_KEYS}
    return {"en": en, "zh": zh, "zh-CN": zh, "zh-TW": zh, "zh-HK": zh}
