"""A real ``twinlab serve`` behind a trusted proxy (``--trusted-proxy 127.0.0.1``): its
``X-Forwarded-Proto: https`` makes the cookies ``Secure`` (from anyone else the header is
ignored), its ``X-Forwarded-For`` is the client address the login throttle counts, and one
address spraying one password over many user names is answered ``429`` (audited) while
other addresses log in."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from apps_fixtures import USERS
from apps_server import serving


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post_login(url: str, user: str, password: str, headers: dict[str, str]):
    """``(status, headers)`` of one login through the form, with ``headers`` on both
    requests (the form's XSRF token and cookie taken from its page)."""
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(urllib.request.Request(url + "/login", headers=headers), timeout=60) as r:
        form, set_cookies = r.read().decode(), r.headers.get_all("Set-Cookie") or []
    cookie = next(c.split(";", 1)[0] for c in set_cookies if c.startswith("_xsrf="))
    token = re.search(r'name="_xsrf" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": token})
    req = urllib.request.Request(
        url + "/login", data=data.encode(), headers={**headers, "Cookie": cookie}
    )
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def _mine(headers) -> dict[str, str]:
    cookies = headers.get_all("Set-Cookie") or []
    return {c.split("=", 1)[0]: c for c in cookies if c.split("=", 1)[0] in {"user", "id_token"}}


@pytest.fixture(scope="module")
def proxied(project, credentials, tmp_path_factory) -> Iterator[dict]:
    args = ["--trusted-proxy", "127.0.0.1"]
    with serving(project, credentials, tmp_path_factory.mktemp("proxied"), args=args) as srv:
        yield srv


def test_a_trusted_proxys_https_makes_the_cookies_secure(proxied):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}
    code, headers = _post_login(proxied["url"], "ana", USERS["ana"][1], https)
    assert code == 302 and len(_mine(headers)) == 2
    assert all("Secure" in c for c in _mine(headers).values())
    assert (headers["Strict-Transport-Security"] or "").startswith("max-age=")


def test_an_untrusted_peers_forwarded_proto_is_ignored(server):
    https = {"X-Forwarded-Proto": "https"}
    code, headers = _post_login(server["url"], "ana", USERS["ana"][1], https)
    assert code == 302 and len(_mine(headers)) == 2
    assert not any("Secure" in c for c in _mine(headers).values())
    assert headers["Strict-Transport-Security"] is None


def test_one_address_spraying_user_names_gets_429_and_others_log_in(proxied):
    """One wrong password for each of many names never reaches a name's own delay; the
    address's budget across names does: ``429`` with ``Retry-After``, even for a right
    password, audited once; a client at another address logs in."""
    sprayer = {"X-Forwarded-For": "203.0.113.7"}
    answers, retry = [], 0
    for i in range(60):
        code, headers = _post_login(proxied["url"], f"user{i}", "Winter2026!", sprayer)
        answers.append(code)
        if code == 429:
            retry = int(headers["Retry-After"])
            if retry >= 8:
                break
            time.sleep(retry)  # wait it out: the next failure doubles the delay
    assert answers[:20] == [302] * 20  # free failures: back to the form
    assert retry >= 8, answers
    code, headers = _post_login(proxied["url"], "rita", USERS["rita"][1], sprayer)
    assert code == 429 and int(headers["Retry-After"]) >= 1
    elsewhere = {"X-Forwarded-For": "203.0.113.8"}
    code, headers = _post_login(proxied["url"], "rita", USERS["rita"][1], elsewhere)
    assert code == 302 and _mine(headers)
    lines = proxied["audit"].read_text().splitlines()
    spray = [e for e in map(json.loads, lines) if e["action"] == "dashboard.throttled_address"]
    assert len(spray) == 1 and spray[0]["params"]["client"] == "203.0.113.7"
