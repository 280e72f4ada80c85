"""No web page of another site may write into the store or read an answer: the rule as a
table. A real ``ragmix serve`` and a real page are asked over HTTP with the headers a browser
sends (a cross-site form, a same-origin page, a DNS-rebinding page, a script) in
tests/test_serve.py and tests/test_web_security.py, on the servers those modules start."""

from __future__ import annotations

import pytest

from ragmix.app.origins import Origins, exposure_warning

EVIL = "https://evil.example"


@pytest.mark.parametrize(
    ("listen", "method", "origin", "host", "allowed_origins", "allowed_hosts", "refused"),
    [
        # scripts (curl, SDKs) send no Origin: as before
        ("127.0.0.1", "POST", None, "127.0.0.1:8000", (), (), None),
        # the server's own page
        ("127.0.0.1", "POST", "http://127.0.0.1:8000", "127.0.0.1:8000", (), (), None),
        ("127.0.0.1", "POST", "http://localhost:8000", "localhost:8000", (), (), None),
        ("::1", "POST", "http://[::1]:8000", "[::1]:8000", (), (), None),
        # another site's form post, delete, question
        ("127.0.0.1", "POST", EVIL, "127.0.0.1:8000", (), (), "origin"),
        ("127.0.0.1", "DELETE", EVIL, "127.0.0.1:8000", (), (), "origin"),
        ("127.0.0.1", "POST", "null", "127.0.0.1:8000", (), (), "origin"),  # sandboxed frame
        # the same host on another port is another origin
        ("127.0.0.1", "POST", "http://127.0.0.1:9999", "127.0.0.1:8000", (), (), "origin"),
        # reads from another origin: the browser keeps the answer from that page
        ("127.0.0.1", "GET", EVIL, "127.0.0.1:8000", (), (), None),
        # allowed on purpose
        ("127.0.0.1", "POST", EVIL, "127.0.0.1:8000", (EVIL + "/",), (), None),
        ("127.0.0.1", "POST", EVIL, "127.0.0.1:8000", ("*",), (), None),
        # DNS rebinding: a foreign name that points at loopback, any method
        ("127.0.0.1", "GET", None, "evil.example:8000", (), (), "host"),
        ("127.0.0.1", "POST", "http://evil.example:8000", "evil.example:8000", (), (), "host"),
        ("127.0.0.1", "GET", None, "docs.lan:8000", (), ("docs.lan",), None),
        # a given address answers to itself; a wildcard one to any name unless a list says
        ("192.168.1.5", "GET", None, "192.168.1.5:8000", (), (), None),
        ("192.168.1.5", "GET", None, "evil.example", (), (), "host"),
        ("0.0.0.0", "POST", "http://box.lan:8000", "box.lan:8000", (), (), None),
        ("0.0.0.0", "GET", None, "evil.example", (), ("box.lan",), "host"),
        ("0.0.0.0", "POST", EVIL, "box.lan:8000", (), (), "origin"),
    ],
)
def test_which_requests_are_refused(
    listen: str,
    method: str,
    origin: str | None,
    host: str,
    allowed_origins: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    refused: str | None,
) -> None:
    origins = Origins(listen, allowed_origins, allowed_hosts)
    problem = origins.problem(method, origin, host, "server")
    if refused is None:
        assert problem is None
    elif refused == "host":
        assert problem is not None and "server.allowed_hosts" in problem
    else:
        assert problem is not None and "server.cors_origins" in problem and str(origin) in problem


def test_a_public_address_without_a_login_is_warned_about() -> None:
    assert exposure_warning("0.0.0.0", None, "a login", "--auth user:password") == (
        "listening on 0.0.0.0 without a login: anyone who can reach this machine can read and "
        "change your documents; set --auth user:password"
    )
    assert exposure_warning("0.0.0.0", "me:pw", "a login", "--auth") is None
    assert exposure_warning("localhost", None, "a login", "--auth") is None
