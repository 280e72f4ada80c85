"""Which browser requests ``ragmix serve`` and the page take: no web page on another site may
write into the store or read an answer.

Two attacks, two checks (a pure function here; ``OriginGuard`` applies it to every request
of an ASGI app):

* **Cross-site requests.** A page on any site can make the user's browser POST a multipart
  form to ``http://127.0.0.1:8000/v1/documents`` without a preflight. Browsers put the page's
  ``Origin`` on every POST (and on cross-origin requests of any method), so a request that
  changes something or asks for an answer is refused when its ``Origin`` is neither the
  server's own (the ``Host`` it was sent to) nor in the allow-list. Requests without an
  ``Origin`` (curl, the ``openai`` SDK, ``ragmix``'s own clients) are not from a web page and
  pass, as do ``GET``/``HEAD`` from another origin (the browser keeps their answer from it).
* **DNS rebinding.** A site can point its own name at ``127.0.0.1`` and then read from the
  server as "same origin". Its requests still carry its name in ``Host``: a server listening
  on loopback answers only to ``localhost``, ``127.0.0.1``, ``[::1]`` and the allowed hosts;
  one listening on a given address also to that address. On a wildcard address (``0.0.0.0``)
  any name may reach it, so only an allow-list restricts ``Host`` there.

``--api-key`` and the page's login are checked as before, on top of this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind
#: Methods a browser lets a page send cross-origin whose answer it keeps from that page.
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    """Whether a listen address keeps a server private to this machine.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    return _hostname(host) in LOOPBACK_NAMES


def exposure_warning(host: str, protection: str | None, what: str, fix: str) -> str | None:
    """The warning for a server listening beyond this machine with no ``what`` (an API key, a
    login), or None when it is on loopback or has one. ``ragmix serve`` and the page both log
    it when they start.

    Example:
        >>> exposure_warning("0.0.0.0", None, "a login", "--auth user:password")[:42]
        'listening on 0.0.0.0 without a login: anyo'
        >>> exposure_warning("127.0.0.1", None, "a login", "--auth") is None
        True
    """
    if is_loopback(host) or protection:
        return None
    return (
        f"listening on {host} without {what}: anyone who can reach this machine can read and "
        f"change your documents; set {fix}"
    )


def _hostname(host_header: str) -> str:
    """``'Example.COM:8000'`` -> ``'example.com'``; ``'[::1]:80'`` -> ``'::1'``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


@dataclass(frozen=True)
class Origins:
    """What one server accepts.

    Attributes:
        listen: the address it listens on ('127.0.0.1', '0.0.0.0', a name).
        allowed_origins: browser origins besides its own that may write and ask, such as
            ``https://chat.example.org`` (``*`` allows every origin).
        allowed_hosts: host names besides the loopback ones it answers to (``*``: any).
    """

    listen: str
    allowed_origins: Sequence[str] = ()
    allowed_hosts: Sequence[str] = ()

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a request sent to ``Host: host_header`` is for this server.

        Example:
            >>> o = Origins("127.0.0.1")
            >>> o.host_allowed("localhost:8000"), o.host_allowed("evil.example:8000")
            (True, False)
            >>> Origins("0.0.0.0").host_allowed("my-box.lan:8000")
            True
        """
        if not host_header:  # HTTP/1.0 without Host: not a browser
            return True
        name = _hostname(host_header)
        allowed = {h.lower() for h in self.allowed_hosts}
        if "*" in allowed or name in allowed or name in LOOPBACK_NAMES:
            return True
        listen = _hostname(self.listen)
        if listen in WILDCARD_ADDRESSES:
            return not allowed  # any name reaches a wildcard address unless a list says
        return name == listen

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """Whether a page at ``origin`` may write or ask (its own origin, or allowed).

        Example:
            >>> o = Origins("127.0.0.1")
            >>> o.origin_allowed(None, "127.0.0.1:8000")   # curl, SDKs
            True
            >>> o.origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
            True
            >>> o.origin_allowed("https://evil.example", "127.0.0.1:8000")
            False
        """
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        allowed = {o.strip().rstrip("/").lower() for o in self.allowed_origins}
        if "*" in allowed or origin in allowed:
            return True
        if origin == "null" or not host_header:  # sandboxed frames, file:// pages
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host_header.strip().lower()

    def problem(
        self, method: str, origin: str | None, host_header: str | None, what: str
    ) -> str | None:
        """Why a request is refused (a message saying how to allow it), or None.

        ``what`` names the setting that holds the allow-lists ('server' or 'ui').
        """
        if not self.host_allowed(host_header):
            return (
                f"this server does not answer to the host name {host_header!r} (a web page "
                "may be pointing its own name at it); use http://127.0.0.1 or "
                f"http://localhost, or add the name to {what}.allowed_hosts"
            )
        if method.upper() not in READ_METHODS and not self.origin_allowed(origin, host_header):
            return (
                f"requests from the web page at {origin} are refused: only this server's own "
                f"pages may change documents or ask; to allow that site, add {origin} to "
                f"{what}.{'cors_origins' if what == 'server' else 'allowed_origins'}"
            )
        return None


class OriginGuard:
    """ASGI middleware refusing what ``Origins.problem`` finds with a 403 JSON error.

    Args:
        app: the wrapped app.
        origins: what it accepts.
        what: the settings section of its allow-lists, for the message.
        body: turns the message into the JSON body of the refusal.
        exempt: paths that are never refused (a health check).
    """

    def __init__(
        self,
        app: ASGIApp,
        origins: Origins,
        what: str,
        body: Callable[[str], dict[str, Any]] | None = None,
        exempt: Iterable[str] = (),
    ) -> None:
        self.app, self.origins, self.what = app, origins, what
        self.exempt = frozenset(exempt)
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers") or []}

        def header(name: bytes) -> str | None:
            value = headers.get(name)
            return value.decode("latin-1") if value is not None else None

        # A websocket handshake is a GET any page may open: its origin is checked too.
        method = "POST" if scope["type"] == "websocket" else scope.get("method", "GET")
        problem = self.origins.problem(method, header(b"origin"), header(b"host"), self.what)
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        payload = self.body(problem) if self.body is not None else {"error": problem}
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


def origin_guard(host: str, ui: Any) -> Any:
    """``OriginGuard`` as a Starlette ``Middleware`` entry for the page (``ui`` is its
    ``UiSettings``), for ``gradio``'s ``launch(app_kwargs={"middleware": [...]})``."""
    from starlette.middleware import Middleware

    origins = Origins(host, ui.allowed_origins, ui.allowed_hosts)
    return Middleware(OriginGuard, origins=origins, what="ui")
