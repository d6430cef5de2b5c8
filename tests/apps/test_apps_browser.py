"""End to end: a real ``twinlab serve`` (panel serve) process and headless Debian Chromium
driven by Playwright – log in, move the dose slider, see the plot change; a wrong password
is refused; a stakeholder cannot reach patient-level views; every query is audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from apps_fixtures import USERS
from apps_server import status
from repo_helpers import CHROMIUM, CHROMIUM_ARGS, remote_loads

ARGS = list(CHROMIUM_ARGS)
# the bands' data sources in the page: (number of points, max of the median)
BANDS_JS = """() => {
  const out = [];
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'ColumnDataSource' && m.data.p50 !== undefined)
        out.push([m.data.p50.length, Math.max(...m.data.p50)]);
  return out;
}"""


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package "
            "(or set TWINLAB_CHROMIUM) – the browser tests must run"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _login(browser, url: str, user: str, password: str, page_path: str = "/whatif"):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url + page_path)
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    return page


def test_no_page_without_login(server):
    for path in ("/whatif", "/cohort", "/patients", "/reviewer"):
        assert status(server["url"] + path) == 302


def test_a_wrong_password_is_refused(server, browser):
    page = _login(browser, server["url"], "ana", "not-her-password")
    assert "error=" in page.url
    assert "Invalid username or password" in page.content()
    page.goto(server["url"] + "/whatif")
    assert "/login" in page.url  # still not in
    page.context.close()


def test_modeler_moves_the_dose_slider_and_the_plot_follows(server, browser, tmp_path):
    from playwright.sync_api import expect

    page = _login(browser, server["url"], "ana", USERS["ana"][1])
    page.wait_for_url("**/whatif")
    summary = page.locator(".median-trough")
    expect(summary).to_be_visible(timeout=60_000)
    before_text = summary.inner_text()
    before = dict(page.evaluate(BANDS_JS))
    provenance = page.locator(".twinlab-provenance")  # model, data hash, seed on screen
    expect(provenance).to_contain_text("twin_test/1")
    expect(provenance).to_contain_text("seed")
    expect(provenance).to_contain_text("data hash")
    # how the population was drawn (VirtualCohort.describe): method, eligible real patients
    expect(provenance).to_contain_text("covariates resampled from")
    expect(provenance).to_contain_text("40 eligible real patients")
    expect(provenance).to_contain_text("specs/pd_assumed.yaml")

    handle = page.locator(".noUi-handle").first  # the first slider is the dose
    handle.focus()
    page.keyboard.press("ArrowRight")  # 100 -> 110 mg
    expect(summary).not_to_have_text(before_text, timeout=30_000)
    expect(page.get_by_text("110 mg oral every 24 h")).to_be_visible()
    # the concentrations come first, the other answers in a second message: all of them
    expect(page.locator(".twinlab-updating")).not_to_contain_text("follow", timeout=30_000)
    assert "dose=110" in page.url  # the settings live in the URL: a bookmark keeps them
    page.wait_for_function(
        f"({BANDS_JS})().length > 0 && ({BANDS_JS})()"
        f".some(([n, m]) => n === {max(before)} && m !== {before[max(before)]})"
    )
    after = dict(page.evaluate(BANDS_JS))
    # linear PK: the plotted median concentration scales exactly with the dose
    n_conc = max(before)
    assert after[n_conc] == pytest.approx(before[n_conc] * 1.1, rel=1e-9)
    shot = tmp_path / "whatif.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # modelers see the modeler's settings, with plain labels
    expect(page.get_by_text("Model and sampling (modelers)")).to_be_visible()
    # a question the twin cannot answer (nobody weighs 200 kg): the old plots go away
    refusal, results = page.locator(".twinlab-refusal"), page.locator(".twinlab-results")
    weight_low = page.locator(".noUi-handle").nth(2)  # dose, duration, weight (low, high)
    weight_low.focus()
    page.keyboard.press("End")
    expect(refusal).to_contain_text("Cannot answer", timeout=30_000)
    expect(results).to_be_hidden()
    weight_low.focus()
    page.keyboard.press("Home")
    expect(results).to_be_visible(timeout=30_000)
    expect(refusal).to_be_hidden()
    page.context.close()

    entries = [json.loads(line) for line in server["audit"].read_text().splitlines()]
    queries = [
        e
        for e in entries
        if e["action"] == "dashboard.query" and e["target"] == "whatif" and e["actor"] == "ana"
    ]
    assert {q["params"]["dose"] for q in queries} >= {100.0, 110.0}
    assert all(q["params"]["user"] == "ana" and q["params"]["role"] == "modeler" for q in queries)


def test_stakeholder_sees_aggregates_but_no_patient_level_views(server, browser, project):
    page = _login(browser, server["url"], "sam", USERS["sam"][1], "/cohort")
    page.wait_for_url("**/cohort")
    assert page.goto(server["url"] + "/patients").status == 403
    assert page.goto(server["url"] + "/reviewer").status == 403
    page.goto(server["url"] + "/cohort")
    table = page.locator(".cohort-counts")
    table.first.wait_for(timeout=60_000)
    page.get_by_text("are suppressed").first.wait_for()
    page.get_by_text("<5").first.wait_for()  # the small cells are hidden
    # the quality table does not give the suppressed count back (one patient without a sex)
    row = page.locator("tr", has_text="patients.sex")
    row.first.wait_for(timeout=30_000)
    cells = [c.strip() for c in row.first.locator("td").all_inner_texts()]
    assert "<5" in cells and "1" not in cells and "0.025" not in cells
    import pandas as pd

    ids = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    assert page.get_by_text(ids["patient_id"].iloc[0]).count() == 0
    assert not any(pid in page.content() for pid in ids["patient_id"])
    page.context.close()
    entries = [json.loads(line) for line in server["audit"].read_text().splitlines()]
    assert any(
        e["actor"] == "sam" and e["target"] == "cohort" and e["params"]["suppressed"] is True
        for e in entries
    )
    denied = {
        e["target"] for e in entries if e["action"] == "dashboard.denied" and e["actor"] == "sam"
    }
    assert denied == {"patients", "reviewer"}


def test_reviewer_reaches_patient_rows_and_the_audit_trail(server, browser, project):
    page = _login(browser, server["url"], "rita", USERS["rita"][1], "/patients")
    page.wait_for_url("**/patients")
    first_id = str(pd_first_id(project))
    page.get_by_text(first_id).first.wait_for(timeout=60_000)
    # readable columns with units, no bookkeeping columns
    headers = page.locator(".patient-rows .tabulator-col-title").all_inner_texts()
    assert "Weight (kg)" in headers and "Creatinine clearance (mL/min, Cockcroft–Gault)" in headers
    assert not any("schema_version" in h or h.startswith("cov_") for h in headers)
    response = page.goto(server["url"] + "/reviewer")
    assert response.status == 200
    page.get_by_text("Verification").first.wait_for(timeout=60_000)
    page.get_by_text("dashboard.query").first.wait_for(timeout=30_000)
    assert page.locator(".gate-status").first.inner_text() == "PASSED"
    link = page.locator(".report-links a", has_text="03 fit report")
    assert link.get_attribute("href") == "./reports/03_fit_report.html"
    page.context.close()


def pd_first_id(project: Path) -> str:
    import pandas as pd

    ids = pd.read_parquet(project / "data" / "harmonized" / "demo" / "patients.parquet")
    return sorted(ids["patient_id"])[0]


def test_stakeholder_what_if_shows_rounded_counts_only(server, browser):
    from playwright.sync_api import expect

    page = _login(browser, server["url"], "sam", USERS["sam"][1])
    page.wait_for_url("**/whatif")
    provenance = page.locator(".twinlab-provenance")
    expect(provenance).to_contain_text("about 40 eligible real patients", timeout=60_000)
    expect(provenance).to_contain_text("of about 40 in")
    page.context.close()


def test_stakeholder_explorer_plain_within_the_fitted_range_with_take_aways(server, browser):
    """No modeler controls, plain labels, only the fitted route, a dose outside the fitted
    range refused (from a bookmarked URL), downloads of the tables and the scenario report."""
    from playwright.sync_api import expect

    page = _login(browser, server["url"], "sam", USERS["sam"][1], "/whatif?dose=300")
    page.wait_for_url("**/whatif**")
    refusal = page.locator(".twinlab-refusal")
    expect(refusal).to_contain_text("outside the doses the twin was fitted on", timeout=60_000)
    expect(refusal).to_contain_text("100–200 mg")
    expect(page.locator(".twinlab-results")).to_be_hidden()
    page.goto(server["url"] + "/whatif?dose=150")
    summary = page.locator(".twinlab-summary")
    expect(summary).to_contain_text("150 mg oral every 24 h", timeout=60_000)
    expect(page.locator(".twinlab-fitted")).to_contain_text("oral 100–200 mg")
    for label in ("Dose (mg)", "Dosing interval", "Creatinine clearance (mL/min)"):
        expect(page.get_by_text(label).first).to_be_visible()
    content = page.content()
    for hidden in ("Random seed", "Covariates drawn by", "PD assumptions", "Crcl range"):
        assert hidden not in content
    route = page.locator("select").nth(2)  # preset, interval, route
    assert route.locator("option").all_inner_texts() == ["oral"]  # no IV: oral data only
    power = page.locator(".twinlab-power")
    expect(power).to_contain_text("ANCOVA on CRCL")
    expect(power).to_contain_text("10% dropout")
    with page.expect_download() as got:
        page.get_by_role("button", name="Concentration bands (CSV)").click()
    csv = Path(got.value.path()).read_text()
    assert csv.splitlines()[0] == "time_h,day,p05,p25,p50,p75,p95"
    with page.expect_download() as got:
        page.get_by_role("button", name="One-page scenario report").click()
    report = Path(got.value.path()).read_text()
    assert "twin_test/1" in report and "Dose (mg)" in report and "data:image/png;base64" in report
    assert remote_loads(report) == []  # opens offline, as it is handed on
    page.context.close()


def test_landing_refusal_and_reports_pages(server):
    """twinlab's landing page lists a role's pages only; a refusal says what to ask for;
    the executed reports are served to reviewers, not to stakeholders."""
    from apps_server import fetch, http_login

    url = server["url"]
    sam, _ = http_login(url, "sam", USERS["sam"][1])
    code, _, body = fetch(url + "/", sam)
    assert code == 200 and 'href="/whatif"' in body and 'href="/cohort"' in body
    assert 'href="/patients"' not in body and 'href="/reviewer"' not in body
    code, _, body = fetch(url + "/patients", sam)
    assert code == 403 and "Not available to your role" in body
    assert "read_patient_level" in body and "ask your twinlab administrator" in body
    assert fetch(url + "/reports/03_fit_report.html", sam)[0] == 403
    rita, _ = http_login(url, "rita", USERS["rita"][1])
    code, _, body = fetch(url + "/", rita)
    assert all(f'href="/{p}"' in body for p in ("whatif", "cohort", "patients", "reviewer"))
    code, _, body = fetch(url + "/reports/03_fit_report.html", rita)
    assert code == 200 and "Fit report" in body
    assert fetch(url + "/reports/../params.yaml", rita)[0] == 404
