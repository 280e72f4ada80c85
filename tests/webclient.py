"""Loopback users of the web page, for the load test and ``benchmarks/bench_load.py``.

Each user is its own ``gradio_client.Client`` (its own session, as a browser tab is) and sends
what the page sends when Enter is pressed: ``/add_question`` (the question bubble and the
"waiting" bubble), then ``/answer`` (the streamed answer, returned here when final). The
answer bubble's HTML is parsed back into sources and passages, so a test can check that every
user got the answer to its own question.

Only loopback addresses are used: ``start_ui`` runs ``ragmix ui`` with its default host.

Example:
    >>> docs = make_device_docs(tmp_path / "docs", 8)                  # doctest: +SKIP
    >>> proc, url = start_ui(store, port)                               # doctest: +SKIP
    >>> replies = run_users(url, [Job(d, "search") for d in docs])     # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RAGMIX = Path(sys.executable).with_name("ragmix")

#: Made-up device names; each document and question is about exactly one of them.
NAMES = [
    "Kestrel", "Marlin", "Osprey", "Puffin", "Heron", "Falcon", "Gannet", "Plover",
    "Curlew", "Dunlin", "Avocet", "Bittern", "Egret", "Godwit", "Lapwing", "Merlin",
    "Nightjar", "Oriole", "Pipit", "Redstart", "Siskin", "Tern", "Wagtail", "Wren",
]  # fmt: skip


@dataclass(frozen=True)
class DeviceDoc:
    """One small document with a fact nobody else has, and the question that finds it."""

    name: str  # file name, as the page lists it
    device: str
    code: str
    question: str


@dataclass(frozen=True)
class Job:
    """What one user asks: the question of ``doc``, in ``mode``, scoped or not."""

    doc: DeviceDoc
    mode: str = "search"
    scoped: bool = False


@dataclass
class Reply:
    """What one user saw. ``error`` is set when the request failed or never finished."""

    job: Job
    seconds: float = 0.0
    started: float = 0.0  # time.monotonic() when the question was sent
    asked: str = ""  # the question the user's own chat shows
    turns: int = 0  # messages in the user's chat after the answer
    badge: str = ""
    answer: str = ""
    sources: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)
    waited: bool = False  # the answer showed "Waiting for the model" before it began
    error: str | None = None

    def problems(self) -> list[str]:
        """Why this reply is not the answer to its own question (empty when it is)."""
        doc, out = self.job.doc, []
        if self.error:
            return [f"error: {self.error}"]
        if self.asked != doc.question:
            out.append(f"chat shows another question: {self.asked!r}")
        if self.turns != 2:
            out.append(f"chat has {self.turns} messages, not 2")
        if not self.sources:
            out.append("no sources")
        elif self.job.scoped and set(self.sources) != {doc.name}:
            out.append(f"sources outside its scope: {self.sources}")
        elif self.sources[0] != doc.name:
            out.append(f"first source is {self.sources[0]}, not {doc.name}")
        elif doc.code not in self.passages[0]:
            out.append(f"first passage lacks {doc.code}")
        others = [c for c in _codes(self.passages) if c != doc.code]
        if self.job.scoped and others:
            out.append(f"passages carry other users' codes {others}")
        return out


def _codes(passages: list[str]) -> list[str]:
    return re.findall(r"\b[A-Z]{2}\d{4}-\d{2}\b", " ".join(passages))


def make_device_docs(folder: Path, n: int) -> list[DeviceDoc]:
    """``n`` short service sheets, each with its own device name and access code."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for i in range(n):
        device = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f"-{i // len(NAMES)}")
        code = f"{device[:2].upper()}{1000 + 37 * i:04d}-{i % 100:02d}"
        name = f"{device.lower()}-sheet.txt"
        (folder / name).write_text(
            f"Service sheet of the {device} pump.\n\n"
            f"The {device} pump opens with access code {code}. "
            f"Only the night shift may reset the {device}.\n",
            encoding="utf-8",
        )
        docs.append(DeviceDoc(name, device, code, f"What is the access code of the {device} pump?"))
    return docs


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(
    store: Path, port: int, *extra: str, env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``ragmix ui --store STORE --port PORT`` (no --host: its default), ready to answer."""
    return start_ragmix("ui", store, port, "gradio_api/info", *extra, env=env, log=log)


def start_serve(
    store: Path, port: int, *extra: str, env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``ragmix serve --store STORE --port PORT`` (no --host: its default), ready to answer;
    returns the process and the base URL (``.../v1`` is the OpenAI base URL)."""
    proc, url = start_ragmix("serve", store, port, "health", *extra, env=env, log=log)
    return proc, url.rstrip("/")


def start_ragmix(
    command: str,
    store: Path,
    port: int,
    ready: str,
    *extra: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``ragmix COMMAND --store STORE --port PORT ...``, once ``GET /READY`` answers."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (kept by the child)
    proc = subprocess.Popen(
        [str(RAGMIX), command, "--store", str(store), "--port", str(port), *extra],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`ragmix {command}` exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url + ready, timeout=2):
                return proc, url
        except urllib.error.HTTPError:
            return proc, url  # it answers (a login may be required)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"`ragmix {command}` did not answer on {url} within 120 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net, Linux)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port or len(addr) != width:
                continue
            raw = bytes.fromhex(addr)
            # /proc prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if width == 8 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


# --------------------------------------------------------------------------- the users


def parse_bubble(content: Any) -> dict[str, Any]:
    """Badge, answer text, source file names and passages of an answer bubble's HTML."""
    if isinstance(content, list):  # Gradio's message format: [{"type": "text", "text": ...}]
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = str(content)
    sources = [
        html.unescape(m).split(" · ")[0] for m in re.findall(r'<b class="rm-file">(.*?)</b>', text)
    ]
    passages = [
        html.unescape(re.sub(r"<[^>]+>", "", m.replace("<br>", "\n")))  # <mark>s dropped
        for m in re.findall(r'<div class="rm-passage">(.*?)</div>', text, re.S)
    ]
    badge = re.search(r'<span class="rm-badge[^"]*"[^>]*>(.*?)</span>', text)
    body = text.split('<div class="rm-meta">')[0]
    return {
        "badge": html.unescape(badge.group(1)) if badge else "",
        "answer": html.unescape(re.sub(r"<[^>]+>", "", body)).strip(),
        "sources": sources,
        "passages": passages,
    }


def _content(message: Any) -> Any:
    return message.get("content") if isinstance(message, dict) else message


def ask(
    url: str,
    job: Job,
    *,
    auth: tuple[str, str] | None = None,
    start: threading.Barrier | None = None,
) -> Reply:
    """One user: open a session, ask ``job``'s question, wait for the final answer."""
    from gradio_client import Client

    reply = Reply(job)
    try:
        client = Client(url, auth=auth, verbose=False, download_files=False)
        client.predict([], api_name="/list_docs")  # as the page does on load: fills the scope
        if start is not None:
            start.wait(timeout=120)
        t0 = time.perf_counter()
        reply.started = time.monotonic()
        # The API's view of the page: add_question(question, book) returns (box, chat, book,
        # conversations list, note); the question waits in the session's own state, and
        # answer(book, scope, mode) streams (chat, book).
        added = client.predict(job.doc.question, None, api_name="/add_question")
        book = added[2]
        scope = [job.doc.name] if job.scoped else []
        answering = client.submit(book, scope, job.mode, api_name="/answer")
        chat = _chat(answering.result(timeout=600))
        reply.seconds = time.perf_counter() - t0
        steps = [_chat(o) for o in answering.outputs()[:-1]]  # each streamed state before the last
        reply.waited = any("Waiting for the model" in str(_content(c[-1])) for c in steps)
        client.close()
    except Exception as exc:  # every failure is a finding, reported with the others
        reply.error = f"{type(exc).__name__}: {exc}"
        return reply
    reply.asked = parse_bubble(_content(chat[0]))["answer"] if chat else ""
    reply.turns = len(chat)
    for key, value in parse_bubble(_content(chat[-1])).items():
        setattr(reply, key, value)
    return reply


def _chat(out: Any) -> Any:
    """The chat of an /answer output (a tuple when the API also returns other outputs)."""
    return out[0] if isinstance(out, tuple) else out


def run_users(
    url: str, jobs: list[Job], *, auth: tuple[str, str] | None = None, timeout_s: float = 600
) -> list[Reply]:
    """All ``jobs`` at once, one thread per user, released together; replies in job order."""
    start = threading.Barrier(len(jobs))
    replies: list[Reply | None] = [None] * len(jobs)

    def user(i: int) -> None:
        replies[i] = ask(url, jobs[i], auth=auth, start=start)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    late = f"no reply within {timeout_s:.0f} s"
    return [r or Reply(j, error=late) for r, j in zip(replies, jobs, strict=True)]


# --------------------------------------------------------------------------- raw HTTP


def http_get(url: str, path: str, timeout: float = 10) -> tuple[int, bytes]:
    """``GET url + path`` with the path sent exactly as given (no ``..`` folding)."""
    req = urllib.request.Request(url.rstrip("/") + path)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def http_upload(url: str, filename: str, data: bytes) -> tuple[int, Any]:
    """POST one file to Gradio's upload route, as the page does; (status, JSON or text)."""
    import json
    import uuid

    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url.rstrip("/") + "/gradio_api/upload",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")


def http_call(
    url: str, api_name: str, data: list[Any], session: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Run one event through Gradio's queue as the page does (join, then read the event
    stream); returns the final message: ``{"success": bool, "output": {...}}``. Events of
    one ``session`` share its state, as those of one browser tab do."""
    import json
    import uuid

    config = json.loads(http_get(url, "/config")[1])
    index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api_name)
    session = session or uuid.uuid4().hex[:12]
    body = json.dumps({"data": data, "fn_index": index, "session_hash": session}).encode()
    req = urllib.request.Request(
        url.rstrip("/") + "/gradio_api/queue/join", body, {"Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=timeout).read()
    stream = f"{url.rstrip('/')}/gradio_api/queue/data?session_hash={session}"
    with urllib.request.urlopen(stream, timeout=timeout) as r:
        for raw in r:
            line = raw.decode("utf-8").strip()
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return dict(msg)
    raise RuntimeError(f"{api_name}: the event stream ended without a result")
