"""Found by attacking a real ``twinlab serve``: authenticated answers are never cached, over
TLS every answer carries HSTS, none names the server's version, and no answer lets another
origin read it with the user's cookies (Bokeh's ``autoload.js`` echoed any ``Origin`` with
credentials allowed)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest
from apps_fixtures import USERS
from apps_server import fetch, http_login, serving, trust_https
from repo_helpers import tls_handshake
from test_apps_routes import _self_signed

CBC = ("ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA")


def test_authenticated_answers_are_not_cached_and_no_answer_names_the_server(server):
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    autoload = "/whatif/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/whatif"
    for route in ("/", "/whatif", "/whatif/metadata", autoload, "/login"):
        code, headers, _ = fetch(server["url"] + route, cookies)
        assert code == 200, route
        assert "no-store" in (headers["Cache-Control"] or ""), route
        assert headers["Server"] is None, route  # Tornado's names its version
    for route in ("/nope", "/static/nope.js", "/whatif/autoload.js"):  # errors too
        code, headers, _ = fetch(server["url"] + route)
        assert code in (400, 403, 404) and headers["Server"] is None, route


def test_over_tls_hsts_on_every_answer_and_aead_suites_only(
    project, credentials, tmp_path, monkeypatch
):
    """HSTS on every answer; the results API's TLS 1.2 suites (forward secrecy and AEAD):
    Bokeh's context offered CBC suites too."""
    cert, key = _self_signed(tmp_path)
    trust_https(monkeypatch, cert)
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    v12 = ssl.TLSVersion.TLSv1_2
    with serving(project, credentials, tmp_path, args=args, scheme="https") as srv:
        cookies, _ = http_login(srv["url"], "ana", USERS["ana"][1])
        answers = [fetch(srv["url"] + p, cookies) for p in ("/", "/login", "/whatif", "/nope")]
        gcm = tls_handshake(srv["port"], "ECDHE-ECDSA-AES128-GCM-SHA256", v12)
        cbc = {c: tls_handshake(srv["port"], c, v12) for c in CBC}
        old = tls_handshake(srv["port"], "ALL", ssl.TLSVersion.TLSv1_1)
    assert [a[0] for a in answers] == [200, 200, 200, 404]
    for _, headers, _ in answers:
        assert (headers["Strict-Transport-Security"] or "").startswith("max-age=")
    assert gcm == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert cbc == dict.fromkeys(CBC) and old is None


def test_no_other_origin_may_read_a_session_token(server):
    """Bokeh's ``autoload.js`` echoed any ``Origin`` with credentials allowed: a page of
    another origin (another port or host of the same site, whose requests carry the
    SameSite cookies) could read the logged-in user's session token."""
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    route = "/whatif/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/whatif"
    request = urllib.request.Request(
        server["url"] + route, headers={"Cookie": cookies, "Origin": "http://127.0.0.1:1"}
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        headers, body = resp.headers, resp.read().decode()
    assert '"token":' in body  # the answer does carry the session token
    assert not [k for k in headers if k.lower().startswith("access-control-")], dict(headers)
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:1"])
def test_no_cors_preflight_and_no_uncaught_error(server, origin):
    """``OPTIONS`` of ``autoload.js`` echoed the ``Origin`` (and, without one, failed with
    an uncaught error: a 500 and a traceback in the server's log)."""
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    headers = {"Cookie": cookies, **({"Origin": origin} if origin else {})}
    request = urllib.request.Request(
        server["url"] + "/whatif/autoload.js?bokeh-autoload-element=x",
        method="OPTIONS",
        headers=headers,
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=60)
    assert answer.value.code == 405
    assert not [k for k in answer.value.headers if k.lower().startswith("access-control-")]
    assert "Uncaught exception OPTIONS" not in server["log"].read_text()
