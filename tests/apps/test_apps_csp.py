"""The dashboards' content policy, in a real headless Chromium: every page of a real
``twinlab serve`` runs under ``default-src 'self'`` and scripts by hash only (no inline
script, ``eval`` or event handler of an injected fragment), with no policy violation; every
answer, errors and the login page included, carries it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from apps_fixtures import SIMULATE_REPORT, USERS
from apps_server import fetch, http_login
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from repo_helpers import CHROMIUM, CHROMIUM_ARGS

#: the logged-in user of each page, the text the page shows once its document has rendered
PAGES = {
    "/": ("rita", "twinlab"),
    "/whatif": ("ana", "signed in as"),
    "/cohort": ("sam", "signed in as"),
    "/patients": ("rita", "signed in as"),
    "/reviewer": ("rita", "signed in as"),
}


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests must run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in policy.split(";")) if d}


def _violations(page) -> list[str]:
    """Collect, on ``page``, every console message or page error about the policy."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security" in m.text else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    return seen


def _log_in(page, url: str, path: str, user: str) -> None:
    """Open ``path``, log in as ``user`` on the form it redirects to, land on ``path``."""
    page.goto(url + path)
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", USERS[user][1])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_runs_under_the_policy_without_a_violation(server, browser, path):
    user, text = PAGES[path]
    context = browser.new_context()
    page = context.new_page()
    seen = _violations(page)
    _log_in(page, server["url"], path, user)
    try:
        page.get_by_text(text).first.wait_for(timeout=60_000)
        if path != "/":  # the page's document came over its websocket, under the policy
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
            page.wait_for_timeout(2000)  # late models (plots, tables) render too
        rendered = True
    except PlaywrightTimeout:
        rendered = False
    context.close()
    assert not seen, "\n".join(seen)
    assert rendered


def test_a_script_injected_into_a_page_does_not_run(server, browser):
    """What the policy is for: markup that reaches a page (an inline event handler, an
    inline script) runs nothing."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server["url"] + "/login")
    ran = page.evaluate(
        """() => {
          window.hit = [];
          const img = document.createElement('img');
          img.setAttribute('onerror', 'window.hit.push("handler")');
          img.src = 'data:,';
          document.body.appendChild(img);
          const s = document.createElement('script');
          s.textContent = 'window.hit.push("inline")';
          document.body.appendChild(s);
          return new Promise(r => setTimeout(() => r(window.hit), 500));
        }"""
    )
    context.close()
    assert ran == []


def test_every_answer_carries_the_policy(server):
    cookies, _ = http_login(server["url"], "ana", USERS["ana"][1])
    autoload = "/whatif/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/whatif"
    routes = ["/", "/whatif", "/whatif/metadata", autoload, "/login", "/logout", "/nope"]
    answers = [fetch(server["url"] + r, cookies) for r in routes]
    answers += [fetch(server["url"] + r) for r in ("/login", "/whatif/autoload.js", "/nope")]
    for code, headers, _ in answers:
        policy = _directives(headers["Content-Security-Policy"] or "")
        assert policy["default-src"] == ["'self'"], code
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"]
        assert policy["form-action"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
        assert policy["connect-src"] == ["'self'", f"ws://127.0.0.1:{server['port']}"]
        assert "'unsafe-inline'" not in policy["script-src"]


def test_the_log_out_link_of_a_page_asks_then_logs_out(server, browser):
    """A page's "log out" link opens a button (the link alone, like any GET, changes
    nothing); its post logs out, under the policy."""
    context = browser.new_context()
    page = context.new_page()
    seen = _violations(page)
    page.goto(server["url"] + "/cohort")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", USERS["sam"][1])
    page.click("button[type=submit]")
    page.wait_for_url("**/cohort")
    page.get_by_text("log out").first.click(timeout=60_000)
    page.wait_for_url("**/logout")
    page.goto(server["url"] + "/")  # the GET logged nobody out
    assert page.url.rstrip("/") == server["url"]
    page.go_back()
    page.get_by_role("button", name="Log out").click()
    page.get_by_text("You are logged out").wait_for()
    page.goto(server["url"] + "/cohort")
    assert "/login" in page.url
    context.close()
    assert not seen, "\n".join(seen)


def test_an_executed_report_shows_its_figures_and_tables_loading_nothing(server, browser):
    """A report the pipeline executed opens for a reviewer with every figure and table,
    under its policy (no script, nothing loaded from anywhere) and without a violation: the
    page needs nothing from the network, so offline it reads the same."""
    context = browser.new_context()
    page = context.new_page()
    seen = _violations(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _log_in(page, server["url"], f"/reports/{SIMULATE_REPORT}", "rita")
    page.wait_for_load_state("load")
    shown = page.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth > 0)")
    tables = page.locator("table").count()
    context.close()
    assert shown and all(shown), shown
    assert tables > 0
    assert not seen, "\n".join(seen)
    assert [u for u in requests if not u.startswith((server["url"], "data:"))] == []
