"""Found by attacking a real ``twinlab serve``: the login never sends a user off site after
logging in (``next=///evil.example`` passed Panel's check and browsers read it as
``http://evil.example``), and the login page shows no text taken from its URL (a phishing
message under the product's name)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from apps_fixtures import USERS
from apps_server import fetch


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _login_with_next(url: str, next_url: str) -> str | None:
    """Open the login form with ``next``, log in as ana: the ``Location`` of the answer
    (``None``: the form refused ``next``)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    query = urllib.parse.urlencode({"next": next_url})
    try:
        with opener.open(f"{url}/login?{query}", timeout=30) as resp:
            form = resp.read().decode()
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        return None
    token = re.search(r'name="_xsrf" value="([^"]+)"', form).group(1)
    data = {"username": "ana", "password": USERS["ana"][1], "_xsrf": token}
    try:
        resp = opener.open(url + "/login", urllib.parse.urlencode(data).encode(), timeout=30)
    except urllib.error.HTTPError as exc:  # the 302 after a login
        resp = exc
    assert resp.status == 302
    return resp.headers["Location"]


def _same_site(location: str) -> bool:
    """Whether a browser following ``location`` stays on the server's own origin."""
    return (
        location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and ("\\" not in location)
    )


@pytest.mark.parametrize(
    "next_url", ["///evil.example", "////evil.example/x", "/%2F/evil.example", "/\t/evil.example"]
)
def test_logging_in_never_redirects_off_site(server, next_url):
    location = _login_with_next(server["url"], next_url)
    assert location is None or _same_site(location), location


def test_logging_in_keeps_a_same_site_next_page(server):
    assert _login_with_next(server["url"], "/cohort") == "/cohort"


def test_a_failed_login_keeps_the_page_asked_for(server):
    """A mistyped password sent the user to the home page after the next try: the form
    shown again had forgotten ``next``."""
    url = server["url"]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    with opener.open(f"{url}/login?next=/cohort", timeout=30) as resp:
        form = resp.read().decode()
    token = re.search(r'name="_xsrf" value="([^"]+)"', form).group(1)
    data = {"username": "ana", "password": "not her password", "_xsrf": token}
    try:
        resp = opener.open(url + "/login", urllib.parse.urlencode(data).encode(), timeout=30)
    except urllib.error.HTTPError as exc:
        resp = exc
    assert resp.status == 302
    location = resp.headers["Location"]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query) == {
        "error": ["1"],
        "next": ["/cohort"],
    }
    assert _login_with_next(url, "/cohort") == "/cohort"


@pytest.mark.parametrize("page", ["/login", "/logout"])
def test_the_login_and_logout_pages_load_nothing_from_another_site(server, page):
    """Panel's templates load its logo from its CDN: a request to a third party each time
    someone opens them (and a broken image without internet)."""
    code, _, body = fetch(server["url"] + page)
    assert code == 200
    sources = re.findall(r'(?:src|href)="([^"]*)"', body)
    assert sources and not [s for s in sources if re.match(r"(?:https?:)?//", s)], sources


def test_the_login_page_says_twinlab_and_what_the_server_is(server):
    """It showed Panel's logo and "Login to access your application"."""
    code, _, body = fetch(server["url"] + "/login")
    assert code == 200
    assert "<title>twinlab | Log in</title>" in body and "<h1>twinlab</h1>" in body
    assert "clinical-trial digital twin dashboards" in body
    assert "Panel" not in body and "logo_stacked" not in body


def test_the_login_page_shows_no_text_from_its_url(server):
    spoof = "Your account is locked. Call 555-0100 to unlock it"
    code, _, body = fetch(server["url"] + "/login?" + urllib.parse.urlencode({"error": spoof}))
    assert code == 200 and "555-0100" not in body
    assert "Invalid username or password" in body  # a failed login is still said


def test_a_new_password_or_a_removed_user_ends_the_open_sessions(server, credentials):
    """A stolen password is reset, or the user removed: the sessions opened before (the
    attacker's among them) end at once, as a re-keyed API client's tokens do."""
    import json

    from apps_server import http_login, status

    from twinlab.apps.auth import add_user

    add_user(credentials, "pat", "modeler", "pat-first-password")
    before, _ = http_login(server["url"], "pat", "pat-first-password")
    assert status(server["url"] + "/", before) == 200
    add_user(credentials, "pat", "modeler", "pat-second-password")  # the reset
    assert status(server["url"] + "/", before) == 302  # to the login form
    after, _ = http_login(server["url"], "pat", "pat-second-password")
    assert status(server["url"] + "/", after) == 200
    users = json.loads(credentials.read_text())
    del users["pat"]  # removed by hand from the (private) file
    credentials.write_text(json.dumps(users))
    assert status(server["url"] + "/", after) == 302


def test_panels_next_url_check_refuses_off_site_urls_for_the_oauth_login_too():
    """``twinlab serve --oauth-provider`` logs in through Panel's handlers, which check
    ``next`` with Panel's function: the server's setup makes it refuse ``///host``."""
    import panel.auth
    from tornado.web import HTTPError

    from twinlab.apps.guard import install_next_url_check

    install_next_url_check()
    for bad in ("///evil.example", "////evil.example", "/\\evil.example", "https://evil.example"):
        with pytest.raises(HTTPError) as refused:
            panel.auth._validate_next_url(bad)
        assert refused.value.status_code == 400
    assert panel.auth._validate_next_url("/cohort") == "/cohort"


def test_a_request_body_of_megabytes_is_refused_before_it_is_read(server):
    """Tornado buffers bodies of up to 100 MB: anyone, logged in or not, could make the
    server hold 64 connections x 100 MB through the login form. A body over the cap is
    refused on its head, without waiting for (or reading) it."""
    import socket

    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        sock.sendall(head + b"username=ana&password=")
        sock.settimeout(5)
        try:
            answer = sock.recv(4096)
        except ConnectionError:
            answer = b""
        except TimeoutError:
            pytest.fail("the server waits for a 50 MB login body")
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"413"), answer[:100]
    assert fetch(server["url"] + "/login")[0] == 200  # and goes on serving
