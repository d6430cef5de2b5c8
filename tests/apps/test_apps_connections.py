"""Connections that ask nothing cannot hold the dashboards' server (slowloris): a request
head must come in time, and one address holds a bounded number of connections (a real
``twinlab serve`` on loopback, raw sockets)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from apps_server import serving, trust_https
from click.testing import CliRunner

from twinlab.apps.connections import (
    EXEMPT_ENV,
    HEAD_TIMEOUT_ENV,
    PER_ADDRESS_ENV,
    limits_from_env,
)
from twinlab.apps.serving import serve_command
from twinlab.cli.apps import serve

HEAD_S = 1.5
CAP = 3


@pytest.fixture(scope="module")
def guarded(project, credentials, tmp_path_factory) -> Iterator[dict]:
    """A served dashboard with a short head deadline and a small per-address cap."""
    args = ["--head-timeout", str(HEAD_S), "--max-connections-per-address", str(CAP)]
    with serving(project, credentials, tmp_path_factory.mktemp("guarded"), args=args) as srv:
        yield srv


def _connect(srv: dict) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv["port"]), timeout=10)


def _closed(sock: socket.socket, wait: float = 5.0) -> bool:
    """Whether the server closes ``sock`` within ``wait`` seconds (without answering)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def _open(sock: socket.socket) -> bool:
    """Whether ``sock`` is still open now (nothing to read, no end of stream)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True
    except ConnectionError:
        return False


def _answer(srv: dict) -> bytes:
    """The answer to a whole request on a new connection, read to its end (so the server
    is done with the connection); ``b""`` if the connection is closed unanswered."""
    with _connect(srv) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionError:
            return b""
        return answer


def _answered(srv: dict, tries: int = 50) -> bool:
    """Whether a new connection is answered, within ``tries`` (a closed connection's slot
    is freed when the server's loop for it ends, a moment after the client sees it close)."""
    for _ in range(tries):
        if _answer(srv).startswith(b"HTTP/1.1 200"):
            return True
        time.sleep(0.1)
    return False


def test_idle_and_dripping_connections_are_closed_after_the_head_deadline(guarded):
    idle = _connect(guarded)  # sends nothing
    partial = _connect(guarded)
    partial.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends its head
    drip = _connect(guarded)
    drip.sendall(b"GET /login HTTP/1.1\r\n")
    for _ in range(int(4 * HEAD_S / 0.25)):  # a header byte now and then, for 4 deadlines
        time.sleep(0.25)
        try:
            drip.sendall(b"X")
        except ConnectionError:
            break
    assert _closed(idle) and _closed(partial) and _closed(drip)
    assert _answered(guarded)
    for s in (idle, partial, drip):
        s.close()


def _over_the_cap(srv: dict) -> bool:
    """Open ``CAP`` connections with heads under way, then one more: whether that one is
    closed at once while the others stay open (waiting for their heads)."""
    held = [_connect(srv) for _ in range(CAP)]
    for s in held:
        s.sendall(b"GET")
    extra = _connect(srv)
    try:
        return _closed(extra, wait=HEAD_S / 2) and all(_open(s) for s in held)
    finally:
        for s in [*held, extra]:
            s.close()


def _capped_once(
    over_the_cap: Callable[[Any], bool], answered: Callable[[Any], bool], srv: Any, tries: int = 8
) -> bool:
    """Whether one of ``tries`` of ``over_the_cap`` sees the cap: a try may meet a slot not
    yet freed (the connections of the try before, which the server is still closing on a
    loaded machine), so each retry first waits for the server to answer again, then for it
    to let go of that connection too."""
    for i in range(tries):
        if over_the_cap(srv):
            return True
        answered(srv)  # the server is serving again...
        time.sleep(0.25 * (i + 1))  # ...and has let go of that last connection too
    return False


def test_one_address_holds_a_bounded_number_of_connections(guarded):
    assert _answered(guarded)  # the slots of earlier connections are free
    assert _capped_once(_over_the_cap, _answered, guarded)
    assert _answered(guarded)  # the held ones closed, their slots are free again


def test_the_limits_are_on_by_default_and_bad_values_are_one_line_errors(project, credentials):
    env = {"TWINLAB_AUDIT_KEY": "a2V5", "TWINLAB_COOKIE_SECRET": "c" * 32}
    _, served = serve_command(root=project, credentials=credentials, env=env)
    assert limits_from_env(served) == (10.0, 64, ())
    assert float(served[HEAD_TIMEOUT_ENV]) == 10.0 and served[PER_ADDRESS_ENV] == "64"
    _, served = serve_command(
        root=project,
        credentials=credentials,
        env=env,
        max_connections_per_address=0,
        trusted_proxies=["10.0.0.0/8"],
    )
    assert limits_from_env(served) == (10.0, None, ("10.0.0.0/8",))
    assert served[EXEMPT_ENV] == "10.0.0.0/8"
    with pytest.raises(ValueError, match="not an IP address"):
        serve_command(root=project, credentials=credentials, env=env, trusted_proxies=["proxy"])
    runner = CliRunner()
    base = ["--root", str(project), "--auth", str(credentials), "--dry-run"]
    for bad in (
        ["--head-timeout", "0"],
        ["--max-connections-per-address", "-1"],
        ["--trusted-proxy", "not-an-ip"],
    ):
        res = runner.invoke(serve, [*base, *bad], env=env)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output


def test_over_tls_a_handshake_that_never_ends_is_closed(
    project, credentials, tmp_path, monkeypatch
):
    """The head deadline counts from the connection: a TLS handshake is part of it."""
    from test_apps_routes import _self_signed

    cert, key = _self_signed(tmp_path)
    trust_https(monkeypatch, cert)
    args = ["--tls-cert", str(cert), "--tls-key", str(key), "--head-timeout", str(HEAD_S)]
    with serving(project, credentials, tmp_path, args=args, scheme="https") as srv:
        silent = _connect(srv)  # no ClientHello at all
        partial = _connect(srv)
        partial.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, never ended
        assert _closed(silent) and _closed(partial)
        silent.close()
        partial.close()
