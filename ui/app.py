"""The Gradio web page: upload, document list, scoped questions with streamed, sourced answers.

The only module that imports gradio. Callbacks are thin adapters over ``RagMix``: they read
the inputs, call the library, and render with ``ragmix.ui.render``. Answers run side by side,
but those that use the model pass one at a time through the front desk's first-come,
first-served gate (``ragmix.app.desk``, shared with ``ragmix serve``'s rules), so several users
see "Waiting for the model" instead of interleaved tokens while search-only questions never
queue behind a long answer; uploads and deletions share a queue of their own ("writer")
because the embedded store has one writer.

Limits a browser or API client meets here: uploads over ``ui.upload_max_mb`` or of another
type are refused (by Gradio before sending, and again by ``Desk.upload``); Gradio's own copy
of an upload is deleted once it is stored; the store folder is never served as a file; a
question over ``Desk.max_question_chars`` is refused (the box stops at that length too), and a
shorter one that still leaves no room for document text gets the router's ``BudgetError``
message in the chat.

Example:
    >>> from ragmix import RagMix
    >>> from ragmix.ui.app import launch
    >>> launch(RagMix.from_config(None), host="127.0.0.1", port=7860, auth=None)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from ragmix.app.api import RagMix
from ragmix.app.desk import Desk
from ragmix.core.errors import ConfigError, RagmixError
from ragmix.core.events import (
    AnswerState,
    Embedding,
    Failed,
    FileStarted,
    IngestEvent,
    IngestState,
    Reading,
    catch_errors,
    warm_rows,
)
from ragmix.qa.router import MODES
from ragmix.ui import render
from ragmix.ui.i18n import Lang, pick_language, tr, translations

logger = logging.getLogger(__name__)


def _logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler whose unexpected exception (a bug: ragmix's own errors are shown in
    the page) is logged with its traceback before Gradio shows its generic error."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception:
                logger.exception("the page's %s handler failed", fn.__name__)
                raise

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            logger.exception("the page's %s handler failed", fn.__name__)
            raise

    return call


#: Seconds between streamed chat updates; tokens in between are sent together.
STREAM_EVERY_S = 0.08
#: Seconds a waiting answer blocks before handing its thread back to Gradio (a closed tab
#: is noticed between two waits).
WAIT_SLICE_S = 1.0
#: Answers in progress at once (waiting for the model counts); later ones wait in Gradio's
#: queue. Searches run side by side up to this number.
ANSWERS_AT_ONCE = 16

CSS = """
#rm-left { gap: 10px; }
.rm-title h1, .rm-title p { font-size: 1.35em; font-weight: 700; margin: 0; }
.rm-subtitle p { opacity: 0.7; margin: 0; }
.rm-docs table { width: 100%; border-collapse: collapse; font-size: 0.9em; border: none; }
.rm-docs table, .rm-docs tr, .rm-docs th, .rm-docs td { border: none !important; }
.rm-docs table { margin-top: 22px; }
.rm-docs tbody td { border-top: 1px solid var(--border-color-primary) !important; }
.rm-docs th { text-align: left; font-weight: 600; opacity: 0.75; padding: 4px 6px; }
.rm-docs td { padding: 4px 6px; border-top: 1px solid var(--border-color-primary); }
.rm-docs td.num, .rm-docs th.num { text-align: right; font-variant-numeric: tabular-nums; }
.rm-docs .rm-empty { opacity: 0.6; padding: 8px 2px; }
.rm-doc { word-break: break-all; }
.rm-also { opacity: 0.7; font-size: 0.9em; }
.rm-report { margin: 0; padding-left: 1.1em; font-size: 0.9em; }
.rm-report .rm-ok::marker { color: #16a34a; }
.rm-report .rm-bad { color: #b91c1c; }
.rm-report .rm-note { color: #92400e; }
.rm-report .rm-file { font-weight: 600; word-break: break-all; }
.rm-meta { margin-top: 6px; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.rm-badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.8em;
  font-weight: 600; background: #e0e7ff; color: #3730a3; }
.rm-badge.rm-stuff { background: #dcfce7; color: #166534; }
.rm-badge.rm-search { background: #fef3c7; color: #92400e; }
.rm-timing { font-size: 0.75em; opacity: 0.6; }
.rm-sources { margin-top: 6px; font-size: 0.88em; }
.rm-sources > summary { cursor: pointer; font-weight: 600; opacity: 0.8; }
.rm-source { margin: 4px 0 4px 4px; padding: 4px 8px; border-left: 3px solid #c7d2fe; }
.rm-source > summary { cursor: pointer; }
.rm-num { opacity: 0.6; }
.rm-score { font-size: 0.85em; opacity: 0.55; margin-left: 4px; }
.rm-snippet { opacity: 0.75; }
.rm-passage { white-space: normal; margin-top: 4px; padding: 6px 8px; border-radius: 6px;
  background: var(--background-fill-secondary); }
.rm-source mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.rm-kind { font-size: 0.8em; padding: 0 6px; border-radius: 8px; background: #dcfce7; }
.rm-document .rm-kind { background: #e5e7eb; }
.rm-score meter { width: 48px; height: 8px; vertical-align: middle; }
.rm-warning { margin-top: 6px; padding: 4px 8px; border-radius: 6px; background: #fef3c7;
  color: #92400e; font-size: 0.9em; }
"""


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """'user:password' as Gradio's (user, password) pair; None for no login."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ConfigError(
            "ui.auth must look like 'user:password' (both parts non-empty); "
            "fix --auth or RAGMIX_UI__AUTH"
        )
    return user, password


class _Ingest:
    """Folds the pipeline's progress events (``IngestState``) and shows them on a
    ``gr.Progress``."""

    def __init__(self, progress: gr.Progress, lang: Lang) -> None:
        self.progress, self.lang = progress, lang
        self.state = IngestState()

    def __call__(self, event: IngestEvent) -> None:
        s = self.state = self.state.apply(event)
        if isinstance(event, FileStarted):
            self.progress(s.fraction, desc=tr("ingest_file", self.lang, name=s.name))
        elif isinstance(event, Embedding):
            text = tr(
                "ingest_embed", self.lang, name=s.name, done=s.file_embedded, total=s.file_chunks
            )
            self.progress(s.fraction, desc=text)


def build_app(rm: RagMix, desk: Desk | None = None) -> gr.Blocks:
    """The page for one store; call ``launch`` (or ``.queue().launch()``) to serve it.

    Args:
        desk: the front desk to share (with ``ragmix serve`` in the same process); a new one
            for ``rm`` by default.
    """
    ui = rm.settings.ui
    i18n = gr.I18n(**translations())
    desk = desk or Desk(rm)
    model_gate = desk.gate
    max_chars = desk.max_question_chars

    def T(key: str) -> Any:
        # 'auto' leaves the translation to the browser; a fixed language is plain text.
        return i18n(key) if ui.language == "auto" else tr(key, ui.language)

    def lang_of(request: gr.Request | None) -> Lang:
        header = request.headers.get("accept-language") if request is not None else None
        return pick_language(ui.language, header)

    # -- documents -------------------------------------------------------------------------
    def doc_views(lang: Lang, keep: list[str] | None = None) -> tuple[Any, Any, Any]:
        docs = rm.documents()
        names = [d.name for d in docs]
        table = render.docs_table(docs, lang)
        scope = gr.update(choices=names, value=[n for n in (keep or []) if n in names])
        # Every name can be deleted on its own; the document goes with its last one.
        pick = gr.update(choices=sorted(n for d in docs for n in d.names), value=None)
        return table, scope, pick

    @_logged
    def list_docs(scope: list[str], request: gr.Request) -> tuple[Any, Any, Any]:
        return doc_views(lang_of(request), scope)

    @_logged
    def ingest(
        files: list[dict[str, Any]] | None,
        scope: list[str],
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's injection idiom)
    ) -> tuple[Any, ...]:
        lang = lang_of(request)
        # preprocess=False: Gradio has checked the paths are its own uploads, and we keep the
        # browser's original file name (Gradio's own renaming drops characters).
        pairs = [
            (f["path"], f.get("orig_name") or f["path"].rsplit("/", 1)[-1]) for f in files or []
        ]
        track = _Ingest(progress, lang)
        done = desk.upload(pairs, progress=track)
        report = render.upload_report(done.uploads, done.statuses, done.failed, lang)
        return (report, *doc_views(lang, scope), None)

    @_logged
    def delete(name: str | None, scope: list[str], request: gr.Request) -> tuple[Any, ...]:
        lang = lang_of(request)
        if not name:
            return (render.note(tr("pick_first", lang)), *doc_views(lang, scope))
        try:
            done = desk.delete(name)
        except RagmixError as exc:
            return (render.note(str(exc), bad=True), *doc_views(lang, scope))
        if done.document_removed:
            text = tr("deleted", lang, name=done.name)
        else:
            text = tr("name_removed", lang, name=done.name, rest=", ".join(done.remaining))
        return (render.note(text), *doc_views(lang, scope))

    @_logged
    def warm(
        scope: list[str],
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's injection idiom)
    ) -> str:
        """Read the ticked documents (else all) ahead, in the model's queue like a question."""
        lang = lang_of(request)
        rows: list[dict[str, Any]] = []
        ticket = model_gate.join()
        try:
            while not model_gate.ready(ticket, WAIT_SLICE_S):
                progress(0, desc=tr("waiting", lang))

            def show(name: str, event: Reading) -> None:
                progress(event.read / max(event.total, 1), desc=tr("warm_reading", lang, name=name))

            rows = list(warm_rows(rm.warm(scope or None), show))
        except RagmixError as exc:
            return render.note(str(exc), bad=True)
        finally:
            model_gate.leave(ticket)
        return render.warm_report(rows, lang) or render.note(tr("no_docs", lang))

    # -- questions -------------------------------------------------------------------------
    @_logged
    def add_question(question: str, chat: list[dict[str, Any]], request: gr.Request) -> Any:
        question = (question or "").strip()
        lang = lang_of(request)
        if not question:
            gr.Info(tr("empty_question", lang))
            return gr.skip(), gr.skip(), ""
        # "Waiting for the model" only when the answer really queues (answer() says so).
        first = render.answer_html(AnswerState(), lang, status=tr("thinking", lang))
        chat = [
            *chat,
            {"role": "user", "content": render.user_html(question)},
            {"role": "assistant", "content": first},
        ]
        return "", chat, question

    @_logged
    def answer(
        question: str,
        history: list[list[str]],
        chat: list[dict[str, Any]],
        scope: list[str],
        mode: str,
        request: gr.Request,
    ) -> Iterator[tuple[Any, Any]]:
        if not question:  # add_question said why; leave the chat as it is
            yield gr.skip(), gr.skip()
            return
        lang = lang_of(request)
        chat = [*chat]
        state = AnswerState()
        status = tr("thinking", lang)  # the page's own: until the answer says more

        def bubble() -> list[dict[str, Any]]:
            chat[-1] = {"role": "assistant", "content": render.answer_html(state, lang, status)}
            return chat

        if len(question) > max_chars:  # only an API client gets past the box's max length
            state = state.apply(Failed(tr("too_long", lang, n=len(question), limit=max_chars)))
            yield bubble(), gr.skip()
            return
        if not scope and not rm.resolve_docs(None):  # the page's words, not the CLI's
            state = state.apply(Failed(tr("no_docs_ask", lang)))
            yield bubble(), gr.skip()
            return
        # Search never touches the model: it does not queue behind someone else's answer.
        ticket = model_gate.join() if desk.uses_model(mode) else None
        try:
            if ticket is not None and not model_gate.ready(ticket, 0):
                status = tr("waiting", lang)
                yield bubble(), gr.skip()
                while not model_gate.ready(ticket, WAIT_SLICE_S):
                    yield gr.skip(), gr.skip()
                status = tr("thinking", lang)
            yield bubble(), gr.skip()
            last = time.perf_counter()
            events = rm.stream(
                question, docs=scope or None, mode=mode, history=[(q, a) for q, a in history]
            )
            for event in catch_errors(events):
                state = state.apply(event)
                if not state.done and time.perf_counter() - last >= STREAM_EVERY_S:
                    last = time.perf_counter()
                    yield bubble(), gr.skip()
        finally:
            if ticket is not None:
                model_gate.leave(ticket)  # also when Gradio closes the generator (tab closed)
        if state.error is not None or state.route == "search" or not state.text:
            # A search turn (passages, no answer) or a failed one is not conversation: as
            # history it would be folded into the next question's rewrite.
            yield bubble(), gr.skip()
            return
        yield bubble(), [*history, [question, state.text]]

    # -- layout ----------------------------------------------------------------------------
    # delete_cache: Gradio's copies of uploads that never reached ``ingest`` (a closed tab)
    # are removed after an hour and when the server stops.
    with gr.Blocks(title="ragmix", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        history = gr.State([])
        pending = gr.State("")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320, elem_id="rm-left"):
                gr.Markdown(T("title"), elem_classes="rm-title")
                gr.Markdown(T("subtitle"), elem_classes="rm-subtitle")
                files = gr.File(
                    label=T("upload"),
                    file_count="multiple",
                    height=170,
                    file_types=list(rm.settings.ingest.extensions),
                    elem_id="rm-upload",
                )
                report = gr.HTML(elem_id="rm-report")
                table = gr.HTML(
                    elem_id="rm-docs",
                    elem_classes="rm-docs",
                    label=T("documents"),
                    show_label=True,
                    container=True,
                    padding=True,
                )
                scope = gr.CheckboxGroup(label=T("scope"), choices=[], elem_id="rm-scope")
                mode = gr.Radio(
                    label=T("mode"),
                    value=rm.settings.router.mode,
                    choices=[(T(f"mode_{m}"), m) for m in MODES],
                    elem_id="rm-mode",
                )
                with gr.Row():
                    pick = gr.Dropdown(
                        label=T("delete_pick"), choices=[], scale=3, elem_id="rm-pick"
                    )
                    with gr.Column(scale=1, min_width=90):
                        delete_btn = gr.Button(
                            T("delete"), variant="stop", size="md", elem_id="rm-delete"
                        )
                        refresh = gr.Button(T("refresh"), size="md", elem_id="rm-refresh")
                warm_btn = gr.Button(T("warm"), size="sm", elem_id="rm-warm")
            with gr.Column(scale=3, min_width=420):
                chatbot = gr.Chatbot(
                    label=T("chat"),
                    height=600,
                    elem_id="rm-chat",
                    placeholder=T("empty_chat"),
                    buttons=["copy"],
                    feedback_options=None,
                )
                with gr.Row():
                    box = gr.Textbox(
                        show_label=False,
                        placeholder=T("placeholder"),
                        scale=6,
                        lines=1,
                        max_lines=6,
                        max_length=max_chars,
                        elem_id="rm-question",
                    )
                    send = gr.Button(
                        T("send"), variant="primary", scale=1, min_width=80, elem_id="rm-send"
                    )
                clear = gr.Button(T("clear"), size="sm", elem_id="rm-clear")

        views = [table, scope, pick]
        demo.load(list_docs, [scope], views, concurrency_limit=None)
        refresh.click(
            list_docs, [scope], views, concurrency_limit=None, api_visibility="undocumented"
        )
        files.upload(
            ingest,
            [files, scope],
            [report, *views, files],
            preprocess=False,
            concurrency_id="writer",
            concurrency_limit=1,
            show_progress_on=[report],  # one progress display, not one per output
        )
        delete_btn.click(
            delete,
            [pick, scope],
            [report, *views],
            concurrency_id="writer",
            concurrency_limit=1,
            show_progress_on=[report],
        )
        warm_btn.click(
            warm,
            [scope],
            [report],
            show_progress_on=[report],
            concurrency_id="answer",
            concurrency_limit=ANSWERS_AT_ONCE,
            api_visibility="undocumented",
        )
        # The Send button repeats Enter's events; the API lists only Enter's pair.
        for trigger, shown in ((box.submit, "public"), (send.click, "undocumented")):
            trigger(
                add_question,
                [box, chatbot],
                [box, chatbot, pending],
                concurrency_limit=None,
                show_progress="hidden",
                api_visibility=shown,
            ).then(
                answer,
                [pending, history, chatbot, scope, mode],
                [chatbot, history],
                concurrency_id="answer",
                concurrency_limit=ANSWERS_AT_ONCE,
                show_progress="minimal",
                api_visibility=shown,
            )
        clear.click(
            lambda: ([], []),
            None,
            [chatbot, history],
            concurrency_limit=None,
            api_visibility="undocumented",
        )
    demo.ragmix_i18n = i18n  # launch() hands it to Gradio
    return demo


def launch(
    rm: RagMix,
    *,
    host: str,
    port: int,
    auth: str | None,
    open_browser: bool = False,
    block: bool = True,
) -> Any:
    """Serve the page for ``rm``'s store on ``host:port`` (loopback unless told otherwise).

    Args:
        rm: the store and models.
        host: listen address; '127.0.0.1' keeps the page private to this machine.
        port: listen port.
        auth: 'user:password' to require a login, or None.
        open_browser: open the page in the default browser.
        block: serve until interrupted; False returns at once (tests, notebooks).

    Returns:
        The running ``gradio.Blocks``; call ``.close()`` to stop it.

    Raises:
        ConfigError: ``auth`` is not 'user:password'.
    """
    credentials = parse_auth(auth)
    demo = build_app(rm)
    demo.queue(default_concurrency_limit=1)
    theme = gr.themes.Soft(
        primary_hue="indigo",
        font=["ui-sans-serif", "system-ui", "PingFang SC", "Microsoft YaHei", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "monospace"],
    )
    demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        inbrowser=open_browser,
        prevent_thread_lock=not block,
        max_file_size=int(rm.settings.ui.upload_max_mb * 1024 * 1024),
        # The store holds every document's text: never serve it as a static file.
        blocked_paths=[str(rm.store.root)],
        ssr_mode=False,
        show_error=True,
        quiet=not block,
        footer_links=[],
        i18n=demo.ragmix_i18n,  # type: ignore[attr-defined]
        theme=theme,
        css=CSS,
    )
    return demo
