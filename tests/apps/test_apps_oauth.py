"""``twinlab serve --oauth-provider`` against a local OAuth provider (Panel's ``generic``
provider, :mod:`oauth_provider`; nothing leaves the machine), over plain HTTP and
websockets: logging out needs a POST with the session's token, as with passwords, and a
removed user's (or a changed role's) open websockets are closed."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from apps_server import _NoRedirect, fetch, http_logout, logout_form, serving, status
from oauth_provider import oauth_provider
from test_apps_routes import _entries, _token
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from twinlab.apps.auth import add_user, load_credentials


@pytest.fixture(scope="module")
def oauth(project, tmp_path_factory) -> Iterator[dict]:
    """One ``twinlab serve --oauth-provider generic`` for the module, its own credentials
    file (OAuth-only users, whom the tests remove or give another role) and audit log."""
    credentials = tmp_path_factory.mktemp("oauth-home") / "users.json"
    for name in ("olga", "otto", "uma"):
        add_user(credentials, name, "modeler", None)
    with oauth_provider() as (provider, env):
        logs = tmp_path_factory.mktemp("oauth-server")
        args = ["--oauth-provider", "generic"]
        with serving(project, credentials, logs, args=args, env=env) as srv:
            yield {**srv, "provider": provider, "credentials": credentials}


def oauth_login(server: dict, user: str) -> str:
    """Log ``user`` in through the provider as a browser does (the login redirects to the
    provider, which sends the browser back with a code and the state): the ``Cookie``
    header to send after."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)

    def redirected(url: str) -> str:
        try:
            opener.open(url, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 302, exc.read()
            return exc.headers["Location"]
        pytest.fail(f"{url} did not redirect")

    to_provider = redirected(server["url"] + "/login")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(to_provider).query)["state"][0]
    code = server["provider"].code_for(user)
    query = urllib.parse.urlencode({"code": code, "state": state})
    redirected(f"{server['url']}/login?{query}")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _write_users(path: Path, users: dict) -> None:
    """Replace the credentials file (mode 0600) by ``users``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(users, fh)
    os.replace(tmp, path)


async def _open_socket(server: dict, cookies: str):
    """A websocket of the what-if page, opened with ``cookies`` (after the server's ACK)."""
    token = await asyncio.to_thread(_token, server, cookies)
    req = HTTPRequest(
        f"ws://127.0.0.1:{server['port']}/whatif/ws",
        headers={"Cookie": cookies, "Origin": server["url"]},
    )
    conn = await websocket_connect(req, subprotocols=["bokeh", token])
    assert json.loads(await conn.read_message())["msgtype"] == "ACK"
    return conn


async def _closed(conn) -> bool:
    """Wait (generously) until the server closes ``conn``."""
    while True:  # messages may still come; then the server closes the socket
        if await asyncio.wait_for(conn.read_message(), timeout=60) is None:
            return True


def test_an_oauth_logout_needs_a_post_with_the_sessions_token(oauth):
    """Panel's OAuth ``/logout`` logged out on a GET: a link or an image of any site logged
    the user out (``SameSite=Lax`` cookies follow a top-level navigation). A GET shows the
    button now; only its POST, with the session's token, logs out: the cookies cleared, the
    session closed on the server (a copied cookie no longer works), its websockets closed,
    audited."""
    cookies = oauth_login(oauth, "olga")
    assert status(oauth["url"] + "/whatif", cookies) == 200
    code, headers, _ = fetch(oauth["url"] + "/logout", cookies)
    assert code == 200
    cleared = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("user=")]
    assert not cleared, cleared  # the GET cleared no cookie
    with_xsrf, fields = logout_form(oauth["url"], cookies)
    assert set(fields) == {"_xsrf", "logout_token"}
    forged = fetch(oauth["url"] + "/logout", with_xsrf, data={"_xsrf": fields["_xsrf"]})
    assert forged[0] == 403
    assert status(oauth["url"] + "/whatif", cookies) == 200  # still logged in

    async def open_then_logout() -> bool:
        conn = await _open_socket(oauth, cookies)
        assert await asyncio.to_thread(http_logout, oauth["url"], cookies) == 200
        return await _closed(conn)

    assert asyncio.run(open_then_logout())
    code, headers, _ = fetch(oauth["url"] + "/whatif", cookies)  # a copied cookie
    assert code == 302 and "/login" in headers["Location"]
    logouts = [e for e in _entries(oauth) if e["action"] == "dashboard.logout"]
    assert logouts and logouts[-1]["actor"] == "olga"
    assert logouts[-1]["params"]["connections_closed"] == 1
    # and the OAuth login still works after
    assert status(oauth["url"] + "/whatif", oauth_login(oauth, "olga")) == 200


@pytest.mark.parametrize("change", ["role", "removed"])
def test_a_new_role_or_a_removed_oauth_user_closes_the_open_websockets(oauth, change):
    """Removing an OAuth user, or changing their role, refused their next HTTP request, but
    their pages' websockets stayed open: they are closed now, and audited."""
    user = {"role": "otto", "removed": "uma"}[change]
    cookies = oauth_login(oauth, user)
    file = oauth["credentials"]

    def edit() -> None:
        users = load_credentials(file)
        if change == "role":
            users[user]["role"] = "stakeholder"
        else:
            del users[user]
        _write_users(file, users)

    async def open_then_edit() -> bool:
        conn = await _open_socket(oauth, cookies)
        await asyncio.to_thread(edit)
        return await _closed(conn)

    assert asyncio.run(open_then_edit())
    ended = [e for e in _entries(oauth) if e["action"] == "dashboard.session_ended"]
    assert ended and ended[-1]["actor"] == user
    assert ended[-1]["params"]["connections_closed"] == 1
    assert status(oauth["url"] + "/whatif", cookies) in (302, 403)


def test_an_oauth_user_without_a_role_is_refused_not_sent_round_in_a_loop(oauth):
    """Someone the provider knows and the credentials file does not gets no session: the
    pages answer twinlab's refusal page (not a redirect to a login that would send them
    back), and the logout page shows them logged out."""
    cookies = oauth_login(oauth, "stranger")
    code, _, body = fetch(oauth["url"] + "/whatif", cookies)
    assert code == 403 and "stranger" in body
    assert "logged out" in fetch(oauth["url"] + "/logout", cookies)[2]
