"""Real servers on loopback for the server-mode tests: `chroma run` and `python -m
llama_cpp.server` (with the packaged SmolLM2 GGUF), plus a socket that accepts connections
and never answers (a hung server). Each ``start_*`` returns a ``Server`` whose ``stop()``
terminates the process; the fixtures in tests/test_server.py call it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        """SIGSTOP: the process keeps its socket but answers nothing (a stuck server)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server not up after {timeout} s: {log.read_text()[-2000:]}")


def start_chroma(path: Path) -> Server:
    port = free_port()
    log = path.parent / f"chroma-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "chroma"),
                "run",
                "--path",
                str(path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log, 60)
    return Server(port, proc, log)


def start_llama_server(log_dir: Path, n_ctx: int = 8192) -> Server:
    from ragmix.models.llm import resolve_gguf

    port = free_port()
    log = log_dir / f"llama-server-{port}.log"
    gguf = resolve_gguf("packaged:SmolLM2-135M-Instruct")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--model_alias",
                "smollm2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(n_ctx),
                "--n_threads",
                "2",
                "--seed",
                "42",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait(f"http://127.0.0.1:{port}/v1/models", proc, log, 120)
    return Server(port, proc, log)


def llama_cpp_server_binary() -> str | None:
    """llama.cpp's own ``llama-server``: ``$RAGMIX_LLAMA_SERVER``, else the one ``make
    llama-server`` built into ``~/.cache/ragmix-wheels/llama-server-*/``, else on PATH, else
    None (it is not a Python package: docs/scaling.md says how to get it)."""
    import shutil

    built = sorted(
        (Path.home() / ".cache" / "ragmix-wheels").glob("llama-server-*/llama-server"),
        key=lambda p: p.stat().st_mtime,
    )
    return (
        os.environ.get("RAGMIX_LLAMA_SERVER")
        or (str(built[-1]) if built else None)
        or shutil.which("llama-server")
    )


def launch_llama_cpp_server(
    log_dir: Path,
    *args: str,
    model: str = "packaged:SmolLM2-135M-Instruct",
    alias: str = "smollm2",
) -> Server:
    """llama.cpp's ``llama-server`` with ``model`` (seed 42) on a free loopback port, plus
    ``args`` (context, slots, threads...), once ``/health`` answers; its log is appended to
    ``log_dir/llama-cpp-server-<port>.log``."""
    from ragmix.models.llm import resolve_gguf

    binary = llama_cpp_server_binary()
    assert binary, "no llama-server binary"
    port = free_port()
    log = log_dir / f"llama-cpp-server-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "-m", str(resolve_gguf(model)), "--alias", alias, "--host", "127.0.0.1",
             "--port", str(port), "--seed", "42", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    _wait(f"http://127.0.0.1:{port}/health", proc, log, 120)
    return Server(port, proc, log)


def start_llama_cpp_server(log_dir: Path, slot_dir: Path, n_ctx: int = 4096) -> Server:
    """``llama-server`` with the packaged SmolLM2, one slot, slots saved to ``slot_dir``."""
    return launch_llama_cpp_server(
        log_dir, "-c", str(n_ctx), "-np", "1", "-t", "1",
        "--slot-save-path", f"{slot_dir}/", "--cache-ram", "0",
    )  # fmt: skip


def start_hung() -> Server:
    """Accepts TCP connections and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            held.append(conn)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    return Server(int(sock.getsockname()[1]), _threads=[t])


@dataclass
class FakeModelServer:
    """An OpenAI-compatible model server in this process, on loopback, that records every
    request: ``GET /v1/models`` answers; ``POST /tokenize`` (llama.cpp's shape: one token per
    whitespace-separated word) only when started with ``tokenize=True``; anything else 404.
    Call ``stop()`` when done."""

    port: int
    requests: list[tuple[str, str]]
    _server: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def hits(self, path: str) -> int:
        return sum(1 for _method, p in self.requests if p == path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_fake_model_server(*, tokenize: bool = False, port: int = 0) -> FakeModelServer:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
            with lock:
                seen.append(("GET", self.path))
            if self.path == "/v1/models":
                self._reply(200, {"data": [{"id": "fake"}]})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with lock:
                seen.append(("POST", self.path))
            if tokenize and self.path == "/tokenize" and "content" in body:
                self._reply(200, {"tokens": list(range(len(body["content"].split())))})
            else:
                self._reply(404, {"error": "not found"})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return FakeModelServer(int(server.server_address[1]), seen, server)
