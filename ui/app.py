"""The Gradio web page: upload, document list, scoped questions with streamed, sourced answers.

The only module that imports gradio. Callbacks are thin adapters over ``RagMix`` (the
methods of ``_Page``, named for what a person did): they read the inputs, call the library,
and render with ``ragmix.ui.render``; ``build_app`` lays the page out and wires them. Its
style and script are static files (``ui/static/page.css``, ``page.js``).

**One answer per tab at a time** (``ragmix.ui.runs``): while an answer runs, Send is Stop; a
question sent meanwhile stays in the box with a note beside it. The answer runs in a thread
under the core's stop flag, so Stop, a closed tab (``unload``) or Gradio closing the handler
ends it within a token or a prompt batch, keeps what was written (marked stopped) and gives
the model's place back. Answers that use the model pass the front desk's first-come,
first-served gate (``ragmix.app.desk``, shared with ``ragmix serve``), so several users see
"Waiting for the model" instead of interleaved tokens, while search-only questions never
queue; uploads and deletions share a queue of their own ("writer") because the embedded
store has one writer. Reading ahead is stoppable the same way, between two batches.

**Conversations** live in the browser's local storage (``gr.BrowserState``, sealed with a
key kept under the store), as data (``ragmix.ui.conversations``): a reload or a restart
shows them again, a list opens any, New and Delete manage them, and a language switch draws
them again in the other language. The "Language / 语言" switch relabels the page and sets
the language of every later message of its session (``_Languages``), over the browser's
``Accept-Language``; the router's reasons are shown as text under each badge in it.

Limits a browser or API client meets here: uploads over ``ui.upload_max_mb`` are refused by
Gradio; a file of another type reaches ``Desk.upload``, which refuses it as a line of the
per-file report; Gradio's own copy of an upload is deleted once it is stored; the store
folder is never served as a file; a question over ``Desk.max_question_chars`` is refused (the
box stops at that length too), and a shorter one that still leaves no room for document text
gets the router's ``BudgetError`` in the chat, in the page's language (by its code; see
``ragmix.ui.i18n.error_text``). An upload streams one display of its progress into the
report (``ragmix.ui.progress``).

Example:
    >>> from ragmix import RagMix
    >>> from ragmix.ui.app import launch
    >>> launch(RagMix.from_config(None), host="127.0.0.1", port=7860, auth=None)  # doctest: +SKIP

One room, though long: it is the only module that knows Gradio; the layout (``build_app``)
and the callbacks of one page (``_Page``) change together whenever a component does. Text,
HTML, progress, conversations and runs are rooms of their own beside it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from ragmix.app.api import RagMix
from ragmix.app.desk import Desk
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
from ragmix.ui import conversations as conv
from ragmix.ui import render
from ragmix.ui.i18n import Lang, error_text, pick_language, tr, translations
from ragmix.ui.progress import Background, UploadTracker
from ragmix.ui.runs import Runs, in_thread

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
#: Seconds between two views of an upload's progress (the seconds left count down).
UPLOAD_EVERY_S = 0.5
#: What the language switch relabels: each part of the page (in the order of the switch's
#: outputs) with its attributes and the words (``ui/i18n.py`` keys) they take.
RELABEL: dict[str, tuple[tuple[str, str], ...]] = {
    "title": (("value", "title"),),
    "subtitle": (("value", "subtitle"),),
    "files": (("label", "upload"),),
    "table": (("label", "documents"),),
    "scope": (("label", "scope"),),
    "mode": (("label", "mode"),),
    "pick": (("label", "delete_pick"),),
    "delete_btn": (("value", "delete"),),
    "refresh": (("value", "refresh"),),
    "warm_btn": (("value", "warm"),),
    "stop_warm": (("value", "stop_reading"),),
    "confirm_btn": (("value", "confirm"),),
    "cancel_btn": (("value", "cancel"),),
    "chatbot": (("label", "chat"),),
    "box": (("placeholder", "placeholder"), ("label", "question_label")),
    "send": (("value", "send"),),
    "stop": (("value", "stop"),),
    "clear": (("value", "clear"),),
    "drop": (("value", "delete_conversation"),),
    "convs": (("label", "conversations"),),
    "panel": (("value", "panel"),),
}

#: Answers in progress at once (waiting for the model counts); later ones wait in Gradio's
#: queue. Searches run side by side up to this number.
ANSWERS_AT_ONCE = 16

#: The page's style and script, served with it (``launch(css_paths=..., js=...)``). The
#: script runs once when the page loads and listens on the whole document, so bubbles
#: rendered later are covered: Copy buttons copy their ``value`` (the answer as plain text),
#: an opened source is scrolled into view, and screen readers get a message's text instead
#: of its HTML.
STATIC = Path(__file__).resolve().parent / "static"
CSS_FILE = STATIC / "page.css"
SCRIPT_FILE = STATIC / "page.js"

#: The chat's height: the window's less what sits below it (question box, buttons), and
#: never less than ``CHAT_MIN_HEIGHT`` pixels (phones: see page.css).
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


def _session(request: gr.Request | None) -> str:
    return (request.session_hash if request is not None else None) or ""


class _Page:
    """The page's callbacks: thin adapters over ``RagMix`` and the front desk, each named for
    what a person did. ``build_app`` lays the page out and wires them."""

    def __init__(self, rm: RagMix, desk: Desk) -> None:
        self.rm, self.desk = rm, desk
        self.ui = rm.settings.ui
        self.gate = desk.gate
        self.max_chars = desk.max_question_chars
        self.chosen = _Languages()
        self.runs = Runs()  # one answer or read-ahead per session, stoppable

    def lang_of(self, request: gr.Request | None) -> Lang:
        """The session's language: picked in the page, else the setting or the browser's."""
        picked = self.chosen.get(request.session_hash) if request is not None else None
        if picked is not None:
            return picked
        header = request.headers.get("accept-language") if request is not None else None
        return pick_language(self.ui.language, header)

    # -- documents -------------------------------------------------------------------------
    def hint(self, lang: Lang, docs: list[Any] | None = None) -> Any:
        """The empty chat's hint follows the state: upload first, or ask."""
        docs = self.desk.documents() if docs is None else docs
        return gr.update(placeholder=tr("ask_ready" if docs else "empty_chat", lang))

    def doc_views(
        self, lang: Lang, keep: list[str] | None = None, docs: list[Any] | None = None
    ) -> tuple[Any, Any, Any, Any]:
        docs = self.desk.documents() if docs is None else docs
        names = [d.name for d in docs]
        table = render.docs_table(docs, lang)
        scope = gr.update(choices=names, value=[n for n in (keep or []) if n in names])
        # Every name can be deleted on its own; the document goes with its last one.
        pick = gr.update(choices=sorted(n for d in docs for n in d.names), value=None)
        return table, scope, pick, self.hint(lang, docs)

    @_logged
    def list_docs(self, scope: list[str], request: gr.Request) -> tuple[Any, ...]:
        return self.doc_views(self.lang_of(request), scope)

    @_logged
    def ingest(
        self, files: list[dict[str, Any]] | None, scope: list[str], request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        """Store and index the uploads in a worker thread, streaming one display of their
        progress (a line per file, a bar, seconds left) into the report. Every file given is
        in the report, refused ones (type, size) with why."""
        lang = self.lang_of(request)
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

        job = Background(lambda report: self.desk.upload(pairs, progress=report, saved=saved))
        rest = (gr.skip(),) * 4  # the scope, the delete pick, the hint and the files
        for batch in job.batches(UPLOAD_EVERY_S):
            for at, event in batch:
                tracker.apply(event, at)
            left = tracker.seconds_left(time.monotonic())
            view = render.upload_progress(
                tracker.state, lang, fraction=tracker.fraction, left=left, shown=shown
            )
            # A document is listed as soon as it is stored, not when the last file is.
            done_one = any(isinstance(event, FileDone) for _, event in batch)
            table = render.docs_table(self.desk.documents(), lang) if done_one else gr.skip()
            yield (view, table, *rest)
        done = job.result()
        docs = self.desk.documents()
        # A duplicate is kept as another name of the stored document: that document's name.
        same_as = {alias: d.name for d in docs for alias in d.aliases}
        report = render.upload_report(
            done.uploads, done.statuses, done.failed, lang, same_as, done.files
        )
        yield (report, *self.doc_views(lang, scope, docs), None)

    @staticmethod
    def confirming(show: bool) -> tuple[Any, Any]:
        return gr.update(visible=show), gr.update(visible=show)

    @_logged
    def ask_delete(self, name: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete's first click: say what would go, and show Yes / Cancel."""
        lang = self.lang_of(request)
        if not name:
            return (render.note(tr("pick_first", lang)), *self.confirming(False))
        return (render.note(tr("confirm_delete", lang, name=name)), *self.confirming(True))

    @_logged
    def cancel_delete(self, name: str | None, request: gr.Request) -> tuple[Any, ...]:
        lang = self.lang_of(request)
        return (render.note(tr("delete_kept", lang, name=name or "")), *self.confirming(False))

    def other_pick(self) -> tuple[Any, Any]:
        """Another name picked: the confirmation was for the old one."""
        return self.confirming(False)

    @_logged
    def delete(self, name: str | None, scope: list[str], request: gr.Request) -> tuple[Any, ...]:
        """Delete's confirmed click (and the API's ``/delete``): take ``name`` off its
        document. Picking another name in between takes the confirmation back."""
        lang = self.lang_of(request)
        hide = self.confirming(False)
        if not name:
            return (render.note(tr("pick_first", lang)), *self.doc_views(lang, scope), *hide)
        try:
            done = self.desk.delete(name)
        except RagmixError as exc:
            text = error_text(str(exc), exc.code, exc.params, lang)
            return (render.note(text, bad=True), *self.doc_views(lang, scope), *hide)
        if done.document_removed:
            text = tr("deleted", lang, name=done.name)
        else:
            text = tr("name_removed", lang, name=done.name, rest=", ".join(done.remaining))
        return (render.note(text), *self.doc_views(lang, scope), *hide)

    # -- reading ahead ---------------------------------------------------------------------
    @_logged
    def warm(self, scope: list[str], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Read the ticked documents (else all) ahead, in the model's queue like a question,
        showing each batch read; "Stop reading" ends it between two batches."""
        lang, session = self.lang_of(request), _session(request)
        flag = self.runs.reserve(session)
        if flag is None:
            yield render.note(tr("answer_running", lang)), gr.skip(), gr.skip()
            return
        idle = (gr.update(visible=True), gr.update(visible=False))
        seen: list[tuple[str, Any]] = []
        try:
            running = (gr.update(visible=False), gr.update(visible=True))
            yield render.note(tr("waiting", lang)), *running
            turn = self.desk.turn("stuff")  # read as a whole-document answer reads
            for item in in_thread(
                lambda: self.desk.warm(scope or None),
                flag,
                poll_s=0.2,
                before=lambda: turn.wait(stopped=flag.is_set),
                after=turn.leave,
            ):
                if item is None:
                    continue
                seen.append(item)
                name, event = item
                if isinstance(event, Reading):  # one view per batch read
                    yield render.warm_progress(name, event, lang), gr.skip(), gr.skip()
        except RagmixError as exc:
            yield render.note(error_text(str(exc), exc.code, exc.params, lang), bad=True), *idle
            return
        finally:
            self.runs.release(session, flag)
        text = render.warm_report(list(warm_rows(seen)), lang)
        if flag.is_set():
            text = render.note(tr("warm_stopped", lang)) + text
        yield text or render.note(tr("no_docs", lang)), *idle

    @_logged
    def stop(self, request: gr.Request) -> None:
        """Stop: the session's answer or read-ahead ends within a token or a batch."""
        self.runs.stop(_session(request))

    # -- questions -------------------------------------------------------------------------
    def _buttons(self, running: bool) -> tuple[Any, Any]:
        """Send becomes Stop while an answer runs, and back."""
        return gr.update(visible=not running), gr.update(visible=running)

    @_logged
    def add_question(self, question: str, book: Any, request: gr.Request) -> tuple[Any, ...]:
        """Enter or Send: the question joins the conversation, unless an answer is running
        (then it stays in the box and the note under it says so: nothing is lost)."""
        question = (question or "").strip()
        lang, session = self.lang_of(request), _session(request)
        skip = gr.skip()
        if not question:
            return skip, skip, "", skip, skip, render.note(tr("empty_question", lang)), skip, skip
        if self.runs.reserve(session) is None:
            note = render.note(tr("answer_running", lang))
            return skip, skip, "", skip, skip, note, skip, skip
        book = conv.add_question(book, question)
        listed = gr.update(choices=conv.titles(book), value=book["current"])
        chat = render.chat_messages(conv.current(book)["turns"][:-1], lang)
        first = render.answer_html(AnswerState(), lang, status=tr("thinking", lang))
        chat += [
            {"role": "user", "content": render.user_html(question)},
            {"role": "assistant", "content": first},
        ]
        return "", chat, question, book, listed, "", *self._buttons(True)

    @_logged
    def answer(
        self, question: str, book: Any, scope: list[str], mode: str, request: gr.Request
    ) -> Iterator[tuple[Any, Any]]:
        """The answer to the conversation's last question, streamed into its bubble; kept in
        the browser's conversations when done or stopped."""
        if not question:  # add_question said why; leave the chat as it is
            yield gr.skip(), gr.skip()
            return
        lang, session = self.lang_of(request), _session(request)
        flag = self.runs.current(session)
        if flag is None:  # add_question reserved one; gone only if the tab closed meanwhile
            yield gr.skip(), gr.skip()
            return
        book = conv.valid(book)
        chat = render.chat_messages(conv.current(book)["turns"], lang)
        state = AnswerState()
        status = tr("thinking", lang)  # the page's own: until the answer says more

        def bubble(stopped: bool = False) -> list[dict[str, Any]]:
            chat[-1] = {
                "role": "assistant",
                "content": render.answer_html(state, lang, status, stopped=stopped),
            }
            return chat

        def done(stopped: bool = False) -> tuple[Any, Any]:
            return bubble(stopped), conv.finish(book, conv.record(state, stopped=stopped))

        try:
            if len(question) > self.max_chars:  # only an API client gets past the box's limit
                n, limit = len(question), self.max_chars
                state = state.apply(Failed(tr("too_long", lang, n=n, limit=limit)))
                yield done()
                return
            if not scope and not self.desk.scope(None):  # the page's words, not the CLI's
                state = state.apply(Failed(tr("no_docs_ask", lang)))
                yield done()
                return
            history = conv.history(book)  # the question's own turn has no answer yet
            # Search never touches the model: it does not queue behind someone else's answer.
            turn = self.desk.turn(mode)
            if not turn.ready():
                status = tr("waiting", lang)
                yield bubble(), gr.skip()
            events = in_thread(
                lambda: catch_errors(
                    self.desk.stream(question, docs=scope or None, mode=mode, history=history)
                ),
                flag,
                poll_s=STREAM_EVERY_S,
                before=lambda: turn.wait(stopped=flag.is_set),
                after=turn.leave,
            )
            last = time.perf_counter()
            for event in events:
                if event is not None:
                    status = tr("thinking", lang)  # the model's turn came
                    state = state.apply(event)
                if not state.done and time.perf_counter() - last >= STREAM_EVERY_S:
                    last = time.perf_counter()
                    yield bubble(), gr.skip()
            yield done(stopped=flag.is_set() and not state.done)
        finally:
            self.runs.release(session, flag)

    @_logged
    def answer_over(self, request: gr.Request) -> tuple[Any, Any]:
        """After an answer: Stop becomes Send again (not while another one runs)."""
        if self.runs.busy(_session(request)):
            return gr.skip(), gr.skip()
        return self._buttons(False)

    # -- conversations ---------------------------------------------------------------------
    def _shown(self, book: Any, lang: Lang) -> tuple[Any, Any, Any]:
        """The chat, the list of conversations and the book, for ``book``."""
        book = conv.valid(book)
        chat = render.chat_messages(conv.current(book)["turns"], lang)
        items = conv.titles(book)
        value = book["current"] if book["current"] in {i for _, i in items} else None
        return chat, gr.update(choices=items, value=value), book

    def _refuse_while_running(self, request: gr.Request) -> tuple[Any, ...] | None:
        if self.runs.busy(_session(request)):
            note = render.note(tr("answer_running", self.lang_of(request)))
            return gr.skip(), gr.skip(), gr.skip(), note
        return None

    @_logged
    def new_conversation(self, book: Any, request: gr.Request) -> tuple[Any, ...]:
        refused = self._refuse_while_running(request)
        if refused is not None:
            return refused
        return *self._shown(conv.start_new(book), self.lang_of(request)), ""

    @_logged
    def open_conversation(
        self, item: str | None, book: Any, request: gr.Request
    ) -> tuple[Any, ...]:
        refused = self._refuse_while_running(request)
        if refused is not None:
            return refused
        return *self._shown(conv.open_item(book, item), self.lang_of(request)), ""

    @_logged
    def delete_conversation(self, book: Any, request: gr.Request) -> tuple[Any, ...]:
        refused = self._refuse_while_running(request)
        if refused is not None:
            return refused
        book = conv.valid(book)
        return *self._shown(conv.delete(book, book["current"]), self.lang_of(request)), ""

    # -- the session -----------------------------------------------------------------------
    @_logged
    def start(self, book: Any, request: gr.Request) -> tuple[Any, ...]:
        """The page opened (or reloaded): its language, and the browser's conversations."""
        lang = self.lang_of(request)
        return (lang, *self._shown(book, lang))

    def end(self, request: gr.Request) -> None:
        """The tab closed: its answer stops (the model is free for the next person)."""
        session = _session(request)
        self.runs.stop(session)
        self.chosen.forget(session)

    @_logged
    def switch_language(self, picked: str, book: Any, request: gr.Request) -> tuple[Any, ...]:
        """Every label in ``picked``, and what is shown drawn again in it; the session's
        messages follow from now on."""
        lang: Lang = "zh" if picked == "zh" else "en"
        self.chosen.set(request.session_hash, lang)
        docs = self.desk.documents()
        book = conv.valid(book)
        chat = render.chat_messages(conv.current(book)["turns"], lang)
        placeholder = tr("ask_ready" if docs else "empty_chat", lang)
        shown: dict[str, dict[str, Any]] = {
            "table": {"value": render.docs_table(docs, lang)},
            "mode": {"choices": [(tr(f"mode_{m}", lang), m) for m in MODES]},
            "chatbot": {"value": chat, "placeholder": placeholder},
        }
        updates = []
        for name, words in RELABEL.items():
            attrs: dict[str, Any] = {attr: tr(key, lang) for attr, key in words}
            updates.append(gr.update(**attrs, **shown.get(name, {})))
        # The last report was in the other language, and the notes next to the delete button
        # and the question box: all three are emptied.
        return ("", "", "", *updates)


def _browser_secret(rm: RagMix) -> str:
    """The key the browser's conversations are sealed with, kept under the store so they
    open again after a restart (a new one is made once)."""
    path = rm.store.root / "ui-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = secrets.token_hex(16)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret, encoding="utf-8")
        return secret


def build_app(rm: RagMix, desk: Desk | None = None) -> gr.Blocks:
    """The page for one store; call ``launch`` (or ``.queue().launch()``) to serve it.

    Args:
        desk: the front desk to share (with ``ragmix serve`` in the same process); a new one
            for ``rm`` by default.
    """
    ui = rm.settings.ui
    i18n = gr.I18n(**translations())
    p = _Page(rm, desk or Desk(rm))

    def T(key: str) -> Any:
        # 'auto' leaves the translation to the browser; a fixed language is plain text.
        return i18n(key) if ui.language == "auto" else tr(key, ui.language)

    quiet: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden",
                             "api_visibility": "undocumented"}  # fmt: skip
    # delete_cache: Gradio's copies of uploads that never reached ``ingest`` (a closed tab)
    # are removed after an hour and when the server stops.
    with gr.Blocks(title="ragmix", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        pending = gr.State("")
        book = gr.BrowserState(
            conv.new_book(), storage_key="ragmix-conversations", secret=_browser_secret(rm)
        )
        with gr.Row(equal_height=False, elem_id="rm-main"):
            with gr.Column(scale=2, min_width=320, elem_id="rm-left"):
                title = gr.Markdown(T("title"), elem_classes="rm-title")
                subtitle = gr.Markdown(T("subtitle"), elem_classes="rm-subtitle")
                language = gr.Radio(
                    label=tr("language", "en"),
                    choices=[("English", "en"), ("中文", "zh")],
                    value=None,  # the session's language, set when the page loads
                    elem_id="rm-lang",
                )
                convs = gr.Radio(label=T("conversations"), choices=[], elem_id="rm-convs")
                # No file_types: a file of another type reaches the desk, which refuses it
                # in the per-file report in the page's language (Gradio's own refusal is an
                # English toast and leaves the box in an error state).
                files = gr.File(
                    label=T("upload"), file_count="multiple", height=170, elem_id="rm-upload"
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
                delete_note = gr.HTML(elem_id="rm-delete-note")
                warm_btn = gr.Button(T("warm"), size="sm", elem_id="rm-warm")
                stop_warm = gr.Button(
                    T("stop_reading"), size="sm", visible=False, elem_id="rm-stop-warm"
                )
                warm_note = gr.HTML(elem_id="rm-warm-note")
            with gr.Column(scale=3, min_width=300, elem_id="rm-right"):
                panel = gr.Button(T("panel"), size="sm", elem_id="rm-panel-toggle")
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
                        label=T("question_label"),
                        show_label=True,  # hidden on screen (page.css), read by screen readers
                        placeholder=T("placeholder"),
                        scale=6,
                        lines=1,
                        max_lines=6,
                        max_length=p.max_chars,
                        elem_id="rm-question",
                    )
                    send = gr.Button(
                        T("send"), variant="primary", scale=1, min_width=80, elem_id="rm-send"
                    )
                    stop = gr.Button(
                        T("stop"), variant="stop", scale=1, min_width=80, visible=False,
                        elem_id="rm-stop",
                    )  # fmt: skip
                ask_note = gr.HTML(elem_id="rm-ask-note")
                with gr.Row():
                    clear = gr.Button(T("clear"), size="sm", elem_id="rm-clear")
                    drop = gr.Button(T("delete_conversation"), size="sm", elem_id="rm-conv-delete")

        views = [table, scope, pick, chatbot]
        demo.load(p.list_docs, [scope], views, concurrency_limit=None)
        refresh.click(p.list_docs, [scope], views, **quiet)
        files.upload(
            p.ingest,
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
        delete_btn.click(p.ask_delete, [pick], [delete_note, *confirm_row], **quiet)
        cancel_btn.click(p.cancel_delete, [pick], [delete_note, *confirm_row], **quiet)
        pick.input(p.other_pick, None, confirm_row, **quiet)
        confirm_btn.click(
            p.delete,
            [pick, scope],
            [delete_note, *views, *confirm_row],
            concurrency_id="writer",
            concurrency_limit=1,
            show_progress_on=[delete_note],
        )
        warm_btn.click(
            p.warm,
            [scope],
            [warm_note, warm_btn, stop_warm],
            concurrency_id="answer",
            concurrency_limit=ANSWERS_AT_ONCE,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        stop_warm.click(p.stop, None, None, **quiet)
        # The Send button repeats Enter's events; the API lists only Enter's pair.
        for trigger, shown in ((box.submit, "public"), (send.click, "undocumented")):
            trigger(
                p.add_question,
                [box, book],
                [box, chatbot, pending, book, convs, ask_note, send, stop],
                concurrency_limit=None,
                show_progress="hidden",
                api_visibility=shown,
            ).then(
                p.answer,
                [pending, book, scope, mode],
                [chatbot, book],
                concurrency_id="answer",
                concurrency_limit=ANSWERS_AT_ONCE,
                show_progress="hidden",
                api_visibility=shown,
            ).then(p.answer_over, None, [send, stop], **quiet)
        stop.click(p.stop, None, None, **quiet)
        shown_conv = [chatbot, convs, book, ask_note]
        clear.click(p.new_conversation, [book], shown_conv, **quiet)
        drop.click(p.delete_conversation, [book], shown_conv, **quiet)
        convs.input(p.open_conversation, [convs, book], shown_conv, **quiet)
        # Phones: the documents and settings open below the chat (page.css).
        toggle = "() => { document.querySelector('#rm-main').classList.toggle('rm-panel-open'); }"
        panel.click(None, None, None, js=toggle)

        parts = {"title": title, "subtitle": subtitle, "files": files, "table": table,
                 "scope": scope, "mode": mode, "pick": pick, "delete_btn": delete_btn,
                 "refresh": refresh, "warm_btn": warm_btn, "stop_warm": stop_warm,
                 "confirm_btn": confirm_btn, "cancel_btn": cancel_btn, "chatbot": chatbot,
                 "box": box, "send": send, "stop": stop, "clear": clear, "drop": drop,
                 "convs": convs, "panel": panel}  # fmt: skip
        labelled = [report, delete_note, ask_note, *(parts[name] for name in RELABEL)]
        language.input(p.switch_language, [language, book], labelled, **quiet)
        demo.load(p.start, [book], [language, chatbot, convs, book], **quiet)
        demo.unload(p.end)
    demo.ragmix_i18n = i18n  # launch() hands it to Gradio
    demo.ragmix_page = p  # tests look at the model's line (``p.gate``)
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
        css_paths=[CSS_FILE],
        js=SCRIPT_FILE.read_text(encoding="utf-8"),
        # No web page of another site may upload, delete or ask, nor reach the page under a
        # name of its own (DNS rebinding): see ragmix.app.origins.
        app_kwargs={"middleware": [origin_guard(host, rm.settings.ui)]},
    )
    return demo
