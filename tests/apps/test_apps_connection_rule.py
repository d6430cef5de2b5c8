"""One per-address connection rule for both servers: the dashboards' Tornado server
(:class:`twinlab.apps.connections.GuardedHTTPServer`) and the results API's uvicorn protocol
(:func:`twinlab.api.connections.guarded_protocol`) count with the same
:class:`~twinlab.api.throttle.ConnectionCounter`, so a peer that is not an IP address (a unix
socket's) is capped by both, under one key (real servers on unix sockets, raw sockets)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import uvicorn
from test_apps_connections import _capped_once, _closed

from twinlab.api.connections import guarded_protocol
from twinlab.api.throttle import NON_IP_PEER, ConnectionCounter, address_key
from twinlab.apps.connections import GuardedHTTPServer

CAP = 2


@contextmanager
def _tornado(path: Path) -> Iterator[None]:
    """The dashboards' server class (cap :data:`CAP`) on the unix socket ``path``."""
    import tornado.web
    from tornado.netutil import bind_unix_socket

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    capped = type("Capped", (GuardedHTTPServer,), {"per_address": CAP, "exempt": ()})
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        server = capped(tornado.web.Application([("/", Hello)]))
        server.add_socket(bind_unix_socket(str(path)))
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the Tornado server did not start"
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


async def _hello(scope: dict, receive: Callable, send: Callable) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _uvicorn(path: Path) -> Iterator[None]:
    """The results API's connection protocol (cap :data:`CAP`) on the unix socket ``path``."""
    config = uvicorn.Config(
        _hello,
        uds=str(path),
        log_level="warning",
        http=guarded_protocol(head_timeout_s=30.0, per_address=CAP),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


SERVERS: dict[str, Callable[[Path], AbstractContextManager[None]]] = {
    "dashboards (tornado)": _tornado,
    "results api (uvicorn)": _uvicorn,
}


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    return sock


def _answered(path: Path, tries: int = 50) -> bool:
    """Whether a new connection is answered ``200`` within ``tries`` (a closed connection's
    slot is freed a moment after the client sees it close)."""
    for _ in range(tries):
        with _connect(path) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            try:
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return True
            except ConnectionError:
                pass
        time.sleep(0.1)
    return False


def _over_the_cap(path: Path) -> bool:
    """Hold :data:`CAP` connections (heads under way), then open one more: whether that one
    is closed at once while the others stay open."""
    held = [_connect(path) for _ in range(CAP)]
    for sock in held:
        sock.sendall(b"GET")
    time.sleep(0.2)  # each admitted before the next one opens
    extra = _connect(path)  # another client of the socket: the same (non-IP) peer
    try:
        return _closed(extra, wait=2.0) and not any(_closed(s, wait=0.05) for s in held)
    finally:
        for sock in [*held, extra]:
            sock.close()


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_unix_socket_peers_are_capped_under_one_key_by_both_servers(server, tmp_path):
    path = tmp_path / "s.sock"
    with SERVERS[server](path):
        assert _answered(path)
        capped = _capped_once(_over_the_cap, _answered, path)
        assert capped, f"{server}: unix socket not capped"
        assert _answered(path)  # the slots are given back as they close


def test_the_one_rule_of_connection_keys():
    counter = ConnectionCounter(1, exempt=["10.0.0.0/8", "2001:db8:9::/48"])
    assert counter.key("192.0.2.7") == counter.key("::ffff:192.0.2.7") == "192.0.2.7"
    assert counter.key("2001:db8:1:2::1") == counter.key("2001:db8:1:2:ffff::9")
    assert counter.key("2001:db8:1:2::1") == address_key("2001:db8:1:2::1")
    # trusted proxies (an IPv4-mapped one too) are not counted
    assert counter.key("10.1.2.3") is counter.key("::ffff:10.1.2.3") is None
    assert counter.key("2001:db8:9:1::5") is None
    # every peer that is not an IP address shares one key: none escapes the cap
    assert {counter.key(h) for h in ("", "/run/twinlab.sock", "testclient")} == {NON_IP_PEER}
    assert counter.admit("") and not counter.admit("/run/twinlab.sock")
    counter.release("")
    assert counter.open("") == 0 and counter.admit("/run/twinlab.sock")
    assert ConnectionCounter(None).key("") is None  # no cap: nothing counted


def test_a_bad_trusted_proxy_is_a_one_line_error():
    with pytest.raises(ValueError, match="'proxy' is not an IP address or network"):
        ConnectionCounter(4, exempt=["proxy"])
