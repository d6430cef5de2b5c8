"""Connections that ask nothing cannot take the service: a request head must come in time,
and one address holds a bounded share of the connections (a real server over TLS)."""

from __future__ import annotations

import socket
import ssl
import time

import uvicorn
from api_fixtures import serving

from twinlab.api import server
from twinlab.api.settings import ApiSettings


def _tls(served, *, timeout: float = 10) -> ssl.SSLSocket:
    port = int(served.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(served.ca))
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


def _closed(sock: ssl.SSLSocket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def _answer(sock: ssl.SSLSocket) -> bytes:
    """One whole response (head and its Content-Length of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return data


def test_idle_and_dripping_connections_are_closed(api_settings, api_secrets):
    settings = api_settings.with_(head_timeout_s=1.0, max_connections_per_address=None)
    with serving(settings, api_secrets, limit_concurrency=12) as served:
        idle = [_tls(served) for _ in range(12)]  # every connection the server takes
        drip = idle[0]
        drip.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(8):  # a header byte now and then, never the end of the head
            time.sleep(0.3)
            try:
                drip.sendall(b"X")
            except (ConnectionError, ssl.SSLError):
                break
        time.sleep(0.5)
        assert all(_closed(s) for s in idle)
        with served.http() as http:
            assert http.get("/healthz").status_code == 200
        for s in idle:
            s.close()


def test_a_request_under_way_and_keep_alive_are_not_cut(api_settings, api_secrets):
    settings = api_settings.with_(head_timeout_s=1.0, max_connections_per_address=None)
    with serving(settings, api_secrets) as served:
        token = served.token("modeler-app")
        body = b'{"delta": 1, "sd": 2, "n_total": 100}'
        sock = _tls(served)
        head = (
            f"POST /v1/trials/power HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode())
        for i in range(0, len(body), 8):  # the body slowly: the head came in time
            time.sleep(0.3)
            sock.sendall(body[i : i + 8])
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # a second request on the kept-alive connection, within the deadline
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        sock.close()


def test_one_address_holds_a_bounded_share_of_connections(api_settings, api_secrets):
    settings = api_settings.with_(max_connections_per_address=4)
    with serving(settings, api_secrets) as served:
        mine = [_tls(served, timeout=2) for _ in range(4)]
        extra = _tls(served, timeout=2)
        assert _closed(extra)  # over this address's share
        mine[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(mine[0]).startswith(b"HTTP/1.1 200")
        for s in mine:
            s.close()
        time.sleep(0.3)
        with served.http() as http:  # the share is given back as they close
            assert http.get("/healthz").status_code == 200
        extra.close()


def test_serve_guards_its_connections(tmp_path, monkeypatch):
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    settings = ApiSettings.for_project(tmp_path, key_dir=tmp_path / "keys")
    server.serve(settings, insecure_http=True)
    assert seen["http"].__name__.startswith("Guarded")
    assert seen["limit_concurrency"] == 200
