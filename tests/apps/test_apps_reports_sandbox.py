"""An executed report (a notebook's HTML: whatever its cells printed) is served sandboxed,
in an origin of its own, running no script and loading nothing: it cannot use the viewer's
session on the dashboards or send what it shows elsewhere. Never framed, sniffed or cached
(a real ``twinlab serve``)."""

from __future__ import annotations

from apps_fixtures import USERS


def test_reports_are_sandboxed_and_not_cached(server):
    from apps_server import fetch, http_login

    url = server["url"]
    rita, _ = http_login(url, "rita", USERS["rita"][1])
    code, headers, body = fetch(url + "/reports/03_fit_report.html", rita)
    assert code == 200 and "Fit report" in body
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    sandbox = next(d.split() for d in csp if d.startswith("sandbox"))
    assert "allow-same-origin" not in sandbox  # an opaque origin: no cookies, no websocket
    assert "allow-scripts" not in sandbox  # what its cells printed runs nothing
    assert "default-src 'none'" in csp  # and loads nothing: no beacon of what it shows
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_no_page_of_the_dashboards_can_be_framed(server):
    """The pages act with the viewer's session: another site must not frame them
    (clickjacking), the login form included."""
    from apps_server import fetch, http_login

    url = server["url"]
    rita, _ = http_login(url, "rita", USERS["rita"][1])
    for path, cookies in (("/login", ""), ("/", rita), ("/whatif", rita), ("/reviewer", rita),
                          ("/patients", rita)):  # fmt: skip
        code, headers, _ = fetch(url + path, cookies)
        assert code == 200, path
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_a_report_opened_before_logging_in_leads_to_the_login_page(server):
    """A bookmarked report, or one opened after the session ended, goes to the login page
    and back (it went to ``/reports/login``: a 404)."""
    from urllib.parse import parse_qs, urljoin, urlsplit

    from apps_server import fetch

    report = server["url"] + "/reports/03_fit_report.html"
    code, headers, _ = fetch(report)
    assert code == 302
    target = urlsplit(urljoin(report, headers["Location"]))
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == ["/reports/03_fit_report.html"]
    assert fetch(urljoin(report, headers["Location"]))[0] == 200
