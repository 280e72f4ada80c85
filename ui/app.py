"""The Gradio web page: upload, document list, scoped questions with streamed, sourced answers.

The only module that imports gradio. Callbacks are thin adapters over ``RagMix``: they read
the inputs, call the library, and render with ``ragmix.ui.render``. Answers run side by side,
but those that use the model pass one at a time through the front desk's first-come,
first-served gate (``ragmix.app.desk``, shared with ``ragmix serve``'s rules), so several users
see "Waiting for the model" instead of interleaved tokens while search-only questions never
queue behind a long answer; uploads and deletions share a queue of their own ("writer")
because the embedded store has one writer.

The page's own script (``SCRIPT``) copies an answer as plain text, scrolls an opened source
into view and gives screen readers a message's text instead of its HTML. Delete asks before it
deletes; the "Language / 语言" switch relabels the page and sets the language of every later
message of its session (``_Languages``), over the browser's ``Accept-Language``.

Limits a browser or API client meets here: uploads over ``ui.upload_max_mb`` or of another
type are refused (by Gradio before sending, and again by ``Desk.upload``); Gradio's own copy
of an upload is deleted once it is stored; the store folder is never served as a file; a
question over ``Desk.max_question_chars`` is refused (the box stops at that length too), and a
shorter one that still leaves no room for document text gets the router's ``BudgetError``
in the chat, in the page's language (by its code; see ``ragmix.ui.i18n.error_text``). An upload
streams one display of its progress into the report (``ragmix.ui.progress``).

Example:
    >>> from ragmix import RagMix
    >>> from ragmix.ui.app import launch
    >>> launch(RagMix.from_config(None), host="127.0.0.1", port=7860, auth=None)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from ragmix.app.api import RagMix
from ragmix.app.desk import Desk, keeps_turn
from ragmix.app.origins import exposure_warning, origin_guard
from ragmix.app.uploads import Upload
from ragmix.core.errors import ConfigError, RagmixError
from ragmix.core.events import (
    AnswerState,
    Failed,
    FileDone,
    FilesFound,
    Reading,
    catch_errors,
    warm_rows,
)
from ragmix.qa.router import MODES
from ragmix.ui import render
from ragmix.ui.i18n import Lang, error_text, pick_language, tr, translations
from ragmix.ui.progress import Background, UploadTracker

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
#: Seconds between two views of an upload's progress (the seconds left count down).
UPLOAD_EVERY_S = 0.5
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
.rm-report .rm-wait { opacity: 0.6; }
.rm-report .rm-busy::marker { color: #4f46e5; }
.rm-upload-head { display: flex; align-items: center; gap: 8px; margin-bottom: 4px;
  font-size: 0.85em; font-variant-numeric: tabular-nums; }
.rm-upbar { flex: 1; height: 10px; accent-color: #4f46e5; }
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
.rm-source[open] .rm-snippet { display: none; }  /* the whole passage is shown below */
.rm-gap { display: block; height: 0.45em; }
.rm-passage { white-space: normal; margin-top: 4px; padding: 6px 8px; border-radius: 6px;
  background: var(--background-fill-secondary); }
.rm-source mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.rm-kind { font-size: 0.8em; padding: 0 6px; border-radius: 8px; background: #dcfce7; }
.rm-document .rm-kind { background: #e5e7eb; }
.rm-score meter { width: 48px; height: 8px; vertical-align: middle; }
.rm-warning { margin-top: 6px; padding: 4px 8px; border-radius: 6px; background: #fef3c7;
  color: #92400e; font-size: 0.9em; }
.rm-copy { font-size: 0.75em; padding: 0 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); }
.rm-copy:hover { background: var(--background-fill-secondary); }
/* The chat's floating label sat over the first bubble's badge once the chat scrolled: it
   takes its own line above the messages instead. */
#rm-chat > label, #rm-chat > .block-label, #rm-chat [data-testid="block-label"] {
  position: static !important; }
#rm-confirm-row { gap: 6px; }
/* Keyboard users see where they are. */
#rm-left button:focus-visible, #rm-chat button:focus-visible, #rm-send:focus-visible,
#rm-clear:focus-visible, .rm-source > summary:focus-visible, .rm-sources > summary:focus-visible,
input:focus-visible, textarea:focus-visible {
  outline: 2px solid #4f46e5 !important; outline-offset: 2px; }
"""

#: Runs once when the page loads (``launch(js=...)``); listens on the whole document, so
#: bubbles rendered later are covered:
#: * ``.rm-copy`` buttons copy their ``value`` (the answer as plain text, with sources);
#: * an opened source is scrolled into view (it may open below the chat's visible area);
#: * Gradio labels each message with its raw content (our HTML) for screen readers; the
#:   label is replaced by the text a person reads (the plain answer, or the bubble's text).
SCRIPT = """
() => {
  if (window.__ragmix) return;
  window.__ragmix = true;
  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {  // no clipboard API (a page served over plain http on another host)
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      const done = document.execCommand("copy");
      area.remove();
      return done;
    }
  }
  document.addEventListener("click", async (event) => {
    const button = event.target.closest && event.target.closest(".rm-copy");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    if (await copy(button.value)) {
      const [label, done] = button.querySelectorAll("span");
      label.hidden = true;
      done.hidden = false;
      setTimeout(() => { label.hidden = false; done.hidden = true; }, 1500);
    }
  }, true);
  document.addEventListener("toggle", (event) => {
    const box = event.target;
    if (box instanceof HTMLDetailsElement && box.open && box.matches(".rm-source")) {
      box.scrollIntoView({ block: "nearest" });
    }
  }, true);
  const labelled = new WeakMap();
  function plain(el) {
    const raw = el.getAttribute("aria-label");
    if (!raw || labelled.get(el) === raw) return;
    const cut = raw.indexOf(": ");
    const template = document.createElement("template");  // inert: nothing loads or runs
    template.innerHTML = cut < 0 ? raw : raw.slice(cut + 2);
    const button = template.content.querySelector(".rm-copy");
    const text = button ? button.value : template.content.textContent;
    const label = (cut < 0 ? "" : raw.slice(0, cut + 2)) + text.trim();
    labelled.set(el, label);
    el.setAttribute("aria-label", label);
  }
  new MutationObserver(() => {
    document.querySelectorAll("#rm-chat [data-testid][aria-label]").forEach(plain);
  }).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"],
  });
}
"""

#: The chat's height: the window's less what sits below it (question box, buttons), and
#: never less than ``CHAT_MIN_HEIGHT`` pixels.
CHAT_HEIGHT = "calc(100vh - 190px)"
CHAT_MIN_HEIGHT = 360

#: Sessions whose language was picked in the page (a bound on memory if tabs never say
#: goodbye; each also leaves when its tab closes).
MAX_LANGUAGE_SESSIONS = 10_000


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


class _Languages:
    """The language each session picked with the page's switch (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: OrderedDict[str, Lang] = OrderedDict()

    def get(self, session: str | None) -> Lang | None:
        with self._lock:
            return self._by_session.get(session) if session else None

    def set(self, session: str | None, lang: Lang) -> None:
        if not session:
            return
        with self._lock:
            self._by_session[session] = lang
            self._by_session.move_to_end(session)
            while len(self._by_session) > MAX_LANGUAGE_SESSIONS:
                self._by_session.popitem(last=False)

    def forget(self, session: str | None) -> None:
        with self._lock:
            self._by_session.pop(session or "", None)


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

    chosen = _Languages()

    def lang_of(request: gr.Request | None) -> Lang:
        """The session's language: picked in the page, else the setting or the browser's."""
        picked = chosen.get(request.session_hash) if request is not None else None
        if picked is not None:
            return picked
        header = request.headers.get("accept-language") if request is not None else None
        return pick_language(ui.language, header)

    # -- documents -------------------------------------------------------------------------
    def doc_views(
        lang: Lang, keep: list[str] | None = None, docs: list[Any] | None = None
    ) -> tuple[Any, Any, Any]:
        docs = rm.documents() if docs is None else docs
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
        files: list[dict[str, Any]] | None, scope: list[str], request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        """Store and index the uploads in a worker thread, streaming one display of their
        progress (a line per file, a bar, seconds left) into the report."""
        lang = lang_of(request)
        # preprocess=False: Gradio has checked the paths are its own uploads, and we keep the
        # browser's original file name (Gradio's own renaming drops characters).
        pairs = [
            (f["path"], f.get("orig_name") or f["path"].rsplit("/", 1)[-1]) for f in files or []
        ]
        tracker, shown = UploadTracker(), {}
        tracker.apply(FilesFound(len(pairs), tuple(name for _, name in pairs)), time.monotonic())

        def saved(uploads: Sequence[Upload]) -> None:  # in the worker, before the pipeline
            shown.update({u.name: u.original for u in uploads if u.stored})
            tracker.sizes = {u.name: u.stored.stat().st_size for u in uploads if u.stored}

        job = Background(lambda report: desk.upload(pairs, progress=report, saved=saved))
        rest = (gr.skip(),) * 3  # the scope, the delete pick and the files: at the end
        for batch in job.batches(UPLOAD_EVERY_S):
            for at, event in batch:
                tracker.apply(event, at)
            left = tracker.seconds_left(time.monotonic())
            view = render.upload_progress(
                tracker.state, lang, fraction=tracker.fraction, left=left, shown=shown
            )
            # A document is listed as soon as it is stored, not when the last file is.
            done_one = any(isinstance(event, FileDone) for _, event in batch)
            table = render.docs_table(rm.documents(), lang) if done_one else gr.skip()
            yield (view, table, *rest)
        done = job.result()
        docs = rm.documents()
        # A duplicate is kept as another name of the stored document: that document's name.
        same_as = {alias: d.name for d in docs for alias in d.aliases}
        report = render.upload_report(
            done.uploads, done.statuses, done.failed, lang, same_as, done.files
        )
        yield (report, *doc_views(lang, scope, docs), None)

    def confirming(show: bool) -> tuple[Any, Any]:
        return gr.update(visible=show), gr.update(visible=show)

    @_logged
    def ask_delete(name: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete's first click: say what would go, and show Yes / Cancel."""
        lang = lang_of(request)
        if not name:
            return (render.note(tr("pick_first", lang)), *confirming(False))
        return (render.note(tr("confirm_delete", lang, name=name)), *confirming(True))

    @_logged
    def cancel_delete(name: str | None, request: gr.Request) -> tuple[Any, ...]:
        lang = lang_of(request)
        return (render.note(tr("delete_kept", lang, name=name or "")), *confirming(False))

    @_logged
    def delete(name: str | None, scope: list[str], request: gr.Request) -> tuple[Any, ...]:
        """Delete's confirmed click (and the API's ``/delete``): take ``name`` off its
        document. Picking another name in between takes the confirmation back."""
        lang = lang_of(request)
        hide = confirming(False)
        if not name:
            return (render.note(tr("pick_first", lang)), *doc_views(lang, scope), *hide)
        try:
            done = desk.delete(name)
        except RagmixError as exc:
            text = error_text(str(exc), exc.code, exc.params, lang)
            return (render.note(text, bad=True), *doc_views(lang, scope), *hide)
        if done.document_removed:
            text = tr("deleted", lang, name=done.name)
        else:
            text = tr("name_removed", lang, name=done.name, rest=", ".join(done.remaining))
        return (render.note(text), *doc_views(lang, scope), *hide)

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
            return render.note(error_text(str(exc), exc.code, exc.params, lang), bad=True)
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
        if not keeps_turn(state):  # search, failed and empty turns (ragmix chat's rule too)
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
                title = gr.Markdown(T("title"), elem_classes="rm-title")
                subtitle = gr.Markdown(T("subtitle"), elem_classes="rm-subtitle")
                language = gr.Radio(
                    label=tr("language", "en"),
                    choices=[("English", "en"), ("中文", "zh")],
                    value=None,  # the session's language, set when the page loads
                    elem_id="rm-lang",
                )
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
                with gr.Row(elem_id="rm-confirm-row"):
                    confirm_btn = gr.Button(
                        T("confirm"), variant="stop", size="sm", visible=False, elem_id="rm-confirm"
                    )
                    cancel_btn = gr.Button(
                        T("cancel"), size="sm", visible=False, elem_id="rm-cancel"
                    )
                warm_btn = gr.Button(T("warm"), size="sm", elem_id="rm-warm")
            with gr.Column(scale=3, min_width=420):
                chatbot = gr.Chatbot(
                    label=T("chat"),
                    # The window's height less the question box and buttons below it.
                    height=CHAT_HEIGHT,
                    min_height=CHAT_MIN_HEIGHT,
                    elem_id="rm-chat",
                    placeholder=T("empty_chat"),
                    # No Gradio copy button: it copies the bubble's HTML; each answer has
                    # its own (``render.copy_button``), copying plain text.
                    buttons=[],
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
            # The handler streams its own display into the report (``render.upload_progress``):
            # no Gradio overlay on it, nor on the table, scope, mode or delete boxes.
            show_progress_on=[report],
            show_progress="hidden",
        )
        confirm_row = [confirm_btn, cancel_btn]
        delete_btn.click(
            ask_delete,
            [pick],
            [report, *confirm_row],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        cancel_btn.click(
            cancel_delete,
            [pick],
            [report, *confirm_row],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        pick.input(  # another name picked: the confirmation was for the old one
            lambda: confirming(False),
            None,
            confirm_row,
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        confirm_btn.click(
            delete,
            [pick, scope],
            [report, *views, *confirm_row],
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

        # -- the language switch -----------------------------------------------------------
        def switch_language(picked: str, request: gr.Request) -> tuple[Any, ...]:
            """Every label in ``picked``; the session's messages follow from now on."""
            lang: Lang = "zh" if picked == "zh" else "en"
            chosen.set(request.session_hash, lang)
            return (
                "",  # the last report was in the other language
                gr.update(value=tr("title", lang)),
                gr.update(value=tr("subtitle", lang)),
                gr.update(label=tr("upload", lang)),
                gr.update(
                    value=render.docs_table(rm.documents(), lang), label=tr("documents", lang)
                ),
                gr.update(label=tr("scope", lang)),
                gr.update(
                    label=tr("mode", lang), choices=[(tr(f"mode_{m}", lang), m) for m in MODES]
                ),
                gr.update(label=tr("delete_pick", lang)),
                gr.update(value=tr("delete", lang)),
                gr.update(value=tr("refresh", lang)),
                gr.update(value=tr("warm", lang)),
                gr.update(value=tr("confirm", lang)),
                gr.update(value=tr("cancel", lang)),
                gr.update(label=tr("chat", lang), placeholder=tr("empty_chat", lang)),
                gr.update(placeholder=tr("placeholder", lang)),
                gr.update(value=tr("send", lang)),
                gr.update(value=tr("clear", lang)),
            )

        labelled = [report, title, subtitle, files, table, scope, mode, pick, delete_btn, refresh,
                    warm_btn, confirm_btn, cancel_btn, chatbot, box, send, clear]  # fmt: skip
        language.input(
            _logged(switch_language),
            [language],
            labelled,
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="undocumented",
        )

        def session_language(request: gr.Request) -> str:
            return lang_of(request)

        def forget_language(request: gr.Request) -> None:
            chosen.forget(request.session_hash)

        demo.load(
            session_language,
            None,
            [language],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        demo.unload(forget_language)
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
    warning = exposure_warning(host, auth, "a login", "--auth user:password (ui.auth)")
    if warning:
        logger.warning("%s", warning)
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
        js=SCRIPT,
        # No web page of another site may upload, delete or ask, nor reach the page under a
        # name of its own (DNS rebinding): see ragmix.app.origins.
        app_kwargs={"middleware": [origin_guard(host, rm.settings.ui)]},
    )
    return demo
