"""A real ``twinlab serve`` on loopback for the apps' tests, and plain-HTTP clients of it
(a login through the form with its XSRF token, requests with and without redirects)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, cookies: str = "", data: Mapping[str, str] | None = None):
    """``(status, headers, body)`` of one request, redirects not followed."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Cookie": cookies} if cookies else {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode("utf-8", "replace")


def status(url: str, cookies: str = "") -> int:
    return fetch(url, cookies)[0]


def http_login(url: str, user: str, password: str) -> tuple[str, list[str]]:
    """Log in through the form (with its XSRF token): the ``Cookie`` header to send after,
    and the ``Set-Cookie`` headers of the login answer."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    with opener.open(url + "/login", timeout=30) as resp:
        form = resp.read().decode()
    token = re.search(r'name="_xsrf" value="([^"]+)"', form)
    assert token, "the login form carries no XSRF token"
    data = {"username": user, "password": password, "_xsrf": token.group(1)}
    try:
        resp = opener.open(url + "/login", urllib.parse.urlencode(data).encode(), timeout=30)
    except urllib.error.HTTPError as exc:  # the 302 after a login
        resp = exc
    set_cookies = resp.headers.get_all("Set-Cookie") or []
    return "; ".join(f"{c.name}={c.value}" for c in jar), set_cookies


def trust_https(monkeypatch: pytest.MonkeyPatch, cert: Path) -> None:
    """Let this module's ``urllib`` clients trust ``cert`` (a self-signed server's, any
    host name) for the rest of the test."""
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    https = urllib.request.HTTPSHandler(context=context)
    real_build = urllib.request.build_opener
    monkeypatch.setattr(
        urllib.request, "build_opener", lambda *handlers: real_build(https, *handlers)
    )


@contextmanager
def serving(
    project: Path,
    credentials: Path,
    logs: Path,
    *,
    args: list[str] | None = None,
    scheme: str = "http",
    patients: int = 200,
    env: Mapping[str, str] | None = None,
) -> Iterator[dict]:
    """``twinlab serve`` (with ``args``, ``env`` added to its environment) on a free
    loopback port, its own audit log in ``logs``; ``urllib`` must be able to reach
    ``scheme`` (a TLS test trusts its CA)."""
    port = free_port()
    env = {
        **os.environ,
        "TWINLAB_AUDIT_LOG": str(logs / "audit.jsonl"),
        "TWINLAB_COOKIE_SECRET": "test-cookie-secret-" + "x" * 32,
        "TWINLAB_WHATIF_PATIENTS": str(patients),
        **(env or {}),
    }
    out = (logs / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "twinlab.cli", "serve", "--root", str(project),
         "--auth", str(credentials), "--port", str(port), "--min-cell", "5", *(args or [])],
        env=env, stdout=out, stderr=subprocess.STDOUT, cwd=logs,
    )  # fmt: skip
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"twinlab serve exited: {(logs / 'server.log').read_text()}")
            try:
                if status(url + "/whatif") == 302:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"twinlab serve did not start: {(logs / 'server.log').read_text()}")
        yield {
            "url": url,
            "port": port,
            "pid": proc.pid,
            "audit": logs / "audit.jsonl",
            "log": logs / "server.log",
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def logout_form(url: str, cookies: str) -> tuple[str, dict[str, str]]:
    """Open the logout page with ``cookies``: the ``Cookie`` header to post it with (the
    XSRF cookie added) and its form's fields (``_xsrf``, ``logout_token``)."""
    code, headers, body = fetch(url + "/logout", cookies)
    assert code == 200, body
    fields = dict(re.findall(r'name="(_xsrf|logout_token)" value="([^"]+)"', body))
    xsrf = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or [] if "_xsrf=" in c]
    return "; ".join([cookies, *xsrf]), fields


def http_logout(url: str, cookies: str) -> int:
    """Log out as the logout page's button does (a POST with both tokens): its status."""
    with_xsrf, fields = logout_form(url, cookies)
    return fetch(url + "/logout", with_xsrf, data=fields)[0]
