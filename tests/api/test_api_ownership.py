"""Job results belong to the client that submitted them: others are told the run does not
exist (and the refusal is audited); pipeline runs are published; reviewers read every job."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest
from api_fixtures import serving

from twinlab.api.jobs import JobManager, JobRequest


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def owned(api, tmp_path) -> Iterator:
    """A server over results ``demo``, a job result of the stakeholder's, one of the
    modeler's, and one whose job row is lost (no owner known)."""
    settings = api.settings.with_(results=tmp_path / "results")
    demo = api.settings.results / "demo"
    shutil.copytree(demo, settings.results / "demo")
    jobs = JobManager(settings)
    jobs.start = lambda: None  # never started: nothing runs, the results are put in place
    runs = {}
    for client in ("stakeholder-app", "modeler-app"):
        job, _ = jobs.submit(client, JobRequest(arms={"A": None}))
        shutil.copytree(demo, settings.jobs_dir / "jobs" / job["id"])
        runs[client] = f"job-{job['id']}"
    orphan = uuid.uuid4().hex
    shutil.copytree(demo, settings.jobs_dir / "jobs" / orphan)
    runs["orphan"] = f"job-{orphan}"
    with serving(settings, api.secrets, jobs=jobs) as served:
        yield served, runs


def _listed(served, client: str) -> set[str]:
    with served.http(headers=_auth(served.token(client))) as http:
        return {r["run"] for r in http.get("/v1/results").json()}


def test_listing_shows_published_runs_and_own_jobs(owned):
    served, runs = owned
    assert _listed(served, "stakeholder-app") == {"demo", runs["stakeholder-app"]}
    assert _listed(served, "modeler-app") == {"demo", runs["modeler-app"]}
    assert _listed(served, "reviewer-app") == {"demo", *runs.values()}
    with served.http(headers=_auth(served.token("modeler-app"))) as http:
        lineage = http.get("/v1/models/twin_test/versions/1/lineage").json()
    assert set(lineage["simulations"]) == {"demo", runs["modeler-app"]}


def test_another_clients_job_is_not_found_and_audited(owned, audit_path):
    served, runs = owned
    theirs = runs["stakeholder-app"]
    with served.http(headers=_auth(served.token("modeler-app"))) as http:
        assert http.get(f"/v1/results/{runs['modeler-app']}/patients").status_code == 200
        missing = http.get(f"/v1/results/job-{uuid.uuid4().hex}/patients")
        for run in (theirs, runs["orphan"]):
            for path in ("patients", "summary", "arms"):
                r = http.get(f"/v1/results/{run}/{path}")
                assert r.status_code == missing.status_code == 404, (run, path, r.text)
                assert r.json()["detail"] == f"no run {run!r}"
        dose = {"run": theirs, "metric": "auc", "target": 1.0}
        assert http.post("/v1/trials/dose", json=dose).status_code == 404
        scores = {"run": theirs, "control_arm": "T100", "subjects": [{"subject": "P-A"}]}
        assert http.post("/v1/prognostic-scores", json=scores).status_code == 404
    entries = [json.loads(line) for line in audit_path.read_text().splitlines()]
    denied = [e for e in entries if e["target"] == f"/v1/results/{theirs}/patients"]
    assert [(e["action"], e["new"]["status"], e["actor"]) for e in denied] == [
        ("api.denied", 404, "modeler-app")
    ]
    assert "another client's job" in denied[0]["params"]["refusal"]


def test_owner_and_reviewer_read_a_job(owned):
    served, runs = owned
    with served.http(headers=_auth(served.token("stakeholder-app"))) as http:
        assert http.get(f"/v1/results/{runs['stakeholder-app']}/arms").status_code == 200
        assert http.get(f"/v1/results/{runs['modeler-app']}/arms").status_code == 404
    with served.http(headers=_auth(served.token("reviewer-app"))) as http:
        for run in runs.values():
            r = http.get(f"/v1/results/{run}/patients", params={"limit": 1})
            assert r.status_code == 200 and r.json()["total"] > 0, (run, r.text)


def test_reading_every_job_is_a_scope_a_narrowed_reviewer_token_lacks(owned):
    """Reading others' jobs is the access matrix's ``read_all_jobs``, granted like any
    action: a reviewer's token asked for patient-level reads alone sees only published runs."""
    served, runs = owned
    narrow = served.token("reviewer-app", scope="read_patient_level")
    with served.http(headers=_auth(narrow)) as http:
        assert http.get("/v1/results/demo/patients", params={"limit": 1}).status_code == 200
        for run in runs.values():
            assert http.get(f"/v1/results/{run}/patients").status_code == 404, run
    wide = served.token("reviewer-app", scope="read_patient_level read_all_jobs")
    with served.http(headers=_auth(wide)) as http:
        for run in runs.values():
            assert http.get(f"/v1/results/{run}/patients").status_code == 200, run
