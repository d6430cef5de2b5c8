"""A real ``twinlab serve`` on loopback, over plain HTTP and websockets (no browser): page
roles hold on every route of a page, refusals and queries are audited as the user, the login
form needs its XSRF token, cookies are HttpOnly/SameSite (and Secure over TLS), and logging
out revokes the session on the server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import pytest
from apps_fixtures import USERS
from apps_server import (
    fetch,
    http_login,
    http_logout,
    logout_form,
    serving,
    status,
    trust_https,
)
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from twinlab.apps.context import WARMUP_ACTOR

AUTOLOAD = "/{page}/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/{page}"


def _entries(server) -> list[dict]:
    lines = server["audit"].read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["action"] != "audit.checkpoint"]


def _token(server, cookies: str, page: str = "whatif") -> str:
    code, _, body = fetch(server["url"] + AUTOLOAD.format(page=page), cookies)
    assert code == 200, body
    return re.search(r'"token":"([^"]+)"', body).group(1)


def _websocket(server, page: str, cookies: str, token: str | None) -> int | str:
    """403 (or another refusal code) if the handshake is refused, else the first message's
    type (the server's ACK once a session document is open)."""

    async def go() -> int | str:
        headers = {"Origin": server["url"]}
        if cookies:
            headers["Cookie"] = cookies
        req = HTTPRequest(f"ws://127.0.0.1:{server['port']}/{page}/ws", headers=headers)
        try:
            conn = await websocket_connect(req, subprotocols=["bokeh", token or "none"])
        except HTTPClientError as exc:
            return exc.code
        msg = await conn.read_message()
        conn.close()
        return json.loads(msg)["msgtype"] if msg else "closed"

    return asyncio.run(go())


def test_a_stakeholder_is_refused_on_every_route_of_a_page_and_each_refusal_is_audited(server):
    cookies, _ = http_login(server["url"], "sam", USERS["sam"][1])
    token = _token(server, cookies)  # sam may open the what-if: a valid session token
    # the control: the page sam may open answers on every route, its websocket opens
    assert status(server["url"] + "/whatif", cookies) == 200
    assert _websocket(server, "whatif", cookies, token) == "ACK"
    before = sum(e["action"] == "dashboard.denied" for e in _entries(server))
    refused = 0
    for page in ("patients", "reviewer"):
        for route in (f"/{page}", AUTOLOAD.format(page=page), f"/{page}/metadata"):
            code, _, body = fetch(server["url"] + route, cookies)
            assert code == 403, (route, code)
            assert "Bokeh" not in body and "token" not in body  # no document, no session
            refused += 1
        assert _websocket(server, page, cookies, token) == 403  # before the handshake
        refused += 1
    denied = [e for e in _entries(server) if e["action"] == "dashboard.denied"][before:]
    assert len(denied) == refused
    assert {(e["actor"], e["params"]["role"]) for e in denied} == {("sam", "stakeholder")}
    assert {e["target"] for e in denied} == {"patients", "reviewer"}


def test_anonymous_requests_get_no_session_on_any_route(server):
    assert status(server["url"] + "/whatif") == 302  # the page: to the login form
    assert status(server["url"] + AUTOLOAD.format(page="whatif")) == 403
    assert status(server["url"] + "/whatif/metadata") == 403
    assert _websocket(server, "whatif", "", None) == 403


def test_entries_written_for_a_dashboard_user_carry_that_user(server):
    cookies, _ = http_login(server["url"], "sam", USERS["sam"][1])
    _token(server, cookies)  # opens a what-if document: a simulation and a query
    entries = _entries(server)
    # the simulation sam's answers rest on: run for sam, or by the server's own warm-up at
    # start (whose population and profiles the sessions of the same settings share)
    assert any(
        e["action"] == "simulate.run" and e["actor"] in ("sam", WARMUP_ACTOR) for e in entries
    )
    assert any(e["action"] == "dashboard.query" and e["actor"] == "sam" for e in entries)
    # nothing on behalf of a dashboard user is recorded as the server's account
    # (pat: the user test_apps_login_hardening adds, resets and removes on this shared server)
    assert {e["actor"] for e in entries} <= {*USERS, WARMUP_ACTOR, "pat"}


def test_the_login_form_needs_its_xsrf_token(server):
    code, headers, _ = fetch(
        server["url"] + "/login", data={"username": "ana", "password": USERS["ana"][1]}
    )
    assert code == 403
    assert not any(c.startswith("user=") for c in headers.get_all("Set-Cookie") or [])


def test_session_cookies_are_httponly_and_samesite_but_not_secure_over_http(server):
    _, set_cookies = http_login(server["url"], "ana", USERS["ana"][1])
    mine = {c.split("=", 1)[0]: c for c in set_cookies if not c.startswith("is_guest")}
    assert set(mine) == {"user", "id_token", "twinlab_session"}
    for cookie in mine.values():
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back


def test_logout_revokes_the_session_on_the_server(server):
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    assert status(server["url"] + "/whatif", cookies) == 200
    token = _token(server, cookies)

    async def open_then_logout() -> bool:
        """Whether a page's websocket opened before logging out is closed by the logout."""
        req = HTTPRequest(
            f"ws://127.0.0.1:{server['port']}/whatif/ws",
            headers={"Cookie": cookies, "Origin": server["url"]},
        )
        conn = await websocket_connect(req, subprotocols=["bokeh", _token(server, cookies)])
        assert json.loads(await conn.read_message())["msgtype"] == "ACK"
        assert await asyncio.to_thread(http_logout, server["url"], cookies) == 200
        while True:  # messages may still come; then the server closes the socket
            if await asyncio.wait_for(conn.read_message(), timeout=30) is None:
                return True

    assert asyncio.run(open_then_logout())
    # the same cookies, replayed after logging out (a copied cookie): no longer logged in
    code, headers, _ = fetch(server["url"] + "/whatif", cookies)
    assert code == 302 and "/login" in headers["Location"]
    assert status(server["url"] + AUTOLOAD.format(page="whatif"), cookies) == 403
    assert _websocket(server, "whatif", cookies, token) == 403
    logouts = [e for e in _entries(server) if e["action"] == "dashboard.logout"]
    assert logouts and logouts[-1]["actor"] == "ana"
    assert logouts[-1]["params"]["connections_closed"] == 1


def test_a_cross_site_get_or_a_post_without_the_sessions_token_logs_nobody_out(server):
    """``/logout`` was a GET: a link or an image of any site logged the user out (Lax
    cookies follow a top-level navigation). A GET shows a button; only its POST, with
    Tornado's XSRF token and the session's own logout token, logs out."""
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    with_xsrf, fields = logout_form(server["url"], cookies)
    assert set(fields) == {"_xsrf", "logout_token"}
    assert status(server["url"] + "/whatif", cookies) == 200  # the GET changed nothing
    other, _ = http_login(server["url"], "ana", USERS["ana"][1])  # another session's token
    _, other_fields = logout_form(server["url"], other)
    forged = [
        {"_xsrf": fields["_xsrf"]},
        {"_xsrf": fields["_xsrf"], "logout_token": other_fields["logout_token"]},
        {"logout_token": fields["logout_token"]},
    ]
    codes = [fetch(server["url"] + "/logout", with_xsrf, data=f)[0] for f in forged]
    assert codes == [403, 403, 403]
    assert status(server["url"] + "/whatif", cookies) == 200  # still logged in
    assert fetch(server["url"] + "/logout", with_xsrf, data=fields)[0] == 200
    assert status(server["url"] + "/whatif", cookies) == 302
    assert status(server["url"] + "/whatif", other) == 200  # the other session lives on


def test_a_new_password_closes_the_users_open_websockets(server, credentials):
    """A reset password (or a removed user) ended the sessions' HTTP requests, but their
    pages' websockets stayed open until they closed: they are closed now, and audited."""
    from twinlab.apps.auth import add_user

    add_user(credentials, "wes", "modeler", "wes-first-password")
    cookies, _ = http_login(server["url"], "wes", "wes-first-password")
    token = _token(server, cookies)

    async def open_then_reset() -> bool:
        req = HTTPRequest(
            f"ws://127.0.0.1:{server['port']}/whatif/ws",
            headers={"Cookie": cookies, "Origin": server["url"]},
        )
        conn = await websocket_connect(req, subprotocols=["bokeh", token])
        assert json.loads(await conn.read_message())["msgtype"] == "ACK"
        await asyncio.to_thread(add_user, credentials, "wes", "modeler", "wes-new-password")
        while True:  # messages may still come; then the server closes the socket
            if await asyncio.wait_for(conn.read_message(), timeout=60) is None:
                return True

    assert asyncio.run(open_then_reset())
    ended = [e for e in _entries(server) if e["action"] == "dashboard.session_ended"]
    assert ended and ended[-1]["actor"] == "wes"
    assert ended[-1]["params"]["connections_closed"] == 1


def _self_signed(folder) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def test_over_tls_the_session_cookies_are_secure(project, credentials, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    trust_https(monkeypatch, cert)
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with serving(project, credentials, tmp_path, args=args, scheme="https") as srv:
        cookies, set_cookies = http_login(srv["url"], "ana", USERS["ana"][1])
        assert status(srv["url"] + "/cohort", cookies) == 200
    mine = [c for c in set_cookies if c.split("=", 1)[0] in ("user", "id_token", "twinlab_session")]
    assert len(mine) == 3
    assert all("Secure" in c and "SameSite=Lax" in c and "HttpOnly" in c for c in mine)


@pytest.mark.parametrize("page", ["patients", "reviewer"])
def test_a_modeler_opens_every_route_of_the_patient_level_pages(server, page):
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    token = _token(server, cookies, page)
    assert _websocket(server, page, cookies, token) == "ACK"
