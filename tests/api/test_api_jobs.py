"""Simulation jobs: submitted over HTTP, run on a real Dask cluster, idempotent, cancellable,
persisted in SQLite across restarts, bounded."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from twinlab.api.jobs import IdempotencyConflict, JobManager, JobRequest, QueueFull

SCENARIO = {
    "scenario": "api_test",
    "model": "twin_test",
    "arms": {"Placebo": {"dose": 0}, "T50": {"dose": 50}},
    "regimen": {"interval_h": 24, "n_doses": 3, "route": "oral"},
    "n_patients": 12,
    "times": {"start": 0, "stop": 72, "step": 12},
    "seed": 3,
}


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_job_runs_on_dask_and_is_idempotent(api, audit_path):
    with api.http(headers=_auth(api.token("stakeholder-app"))) as http:
        key = {"Idempotency-Key": "order-42"}
        first = http.post("/v1/jobs", json=SCENARIO, headers=key)
        assert first.status_code == 201, first.text
        again = http.post("/v1/jobs", json=SCENARIO, headers=key)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        other = http.post("/v1/jobs", json={**SCENARIO, "seed": 4}, headers=key)
        assert other.status_code == 422
        job_id = first.json()["id"]
        deadline = time.monotonic() + 240
        while (job := http.get(f"/v1/jobs/{job_id}").json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["state"] == "done", job
        assert job["result"] == f"job-{job_id}"
        log = [json.loads(x) for x in audit_path.read_text().splitlines()]
        run = next(e for e in log if e["action"] == "api.job" and e["target"] == job["result"])
        assert run["actor"] == "stakeholder-app" and len(run["new"]["patients_sha256"]) == 64
        summary = http.get(f"/v1/results/{job['result']}/summary")
        assert summary.status_code in (200, 403)  # the disclosure rule may refuse 12 patients
    with api.http(headers=_auth(api.token("modeler-app"))) as http:
        assert http.get(f"/v1/jobs/{job_id}").status_code == 404  # another client's job
        assert http.get(f"/v1/results/job-{job_id}/patients").status_code == 404  # its result
    with api.http(headers=_auth(api.token("reviewer-app"))) as http:  # reviewers read all
        page = http.get(f"/v1/results/job-{job_id}/patients", params={"limit": 1000}).json()
    assert page["total"] == 12 * 2
    assert {r["arm"] for r in page["items"]} == {"Placebo", "T50"}
    done = pd.DataFrame(page["items"])
    assert (done.loc[done["arm"] == "T50", "auc"] > 0).all()


def test_queue_bounded_cancel_and_restart(api_settings, tmp_path):
    settings = api_settings.with_(results=tmp_path / "results", max_jobs=2)
    jobs = JobManager(settings)  # not started: nothing runs, state only
    req = JobRequest(**SCENARIO)
    a, created = jobs.submit("c1", req, "k1")
    assert created and a["state"] == "queued"
    with pytest.raises(IdempotencyConflict):
        jobs.submit("c1", JobRequest(**{**SCENARIO, "seed": 9}), "k1")
    assert jobs.submit("c2", req, "k1")[1]  # keys are per client
    with pytest.raises(QueueFull):
        jobs.submit("c3", req)
    assert jobs.cancel(a["id"], "c1")["state"] == "cancelled"
    assert jobs.cancel(a["id"], "someone-else") is None
    b, _ = jobs.submit("c3", req)
    jobs._set(b["id"], state="running")  # as if the service died while running it
    jobs.stop()
    again = JobManager(settings)  # a restart on the same SQLite file
    assert again.get(b["id"])["state"] == "running"
    assert again.recover() == 1
    assert again.get(b["id"])["state"] == "queued"
    assert again.get(a["id"])["state"] == "cancelled"
    again.stop()


def test_job_request_is_bounded():
    with pytest.raises(ValueError):
        JobRequest(**{**SCENARIO, "n_patients": 10**7})
    with pytest.raises(ValueError):
        JobRequest(**{**SCENARIO, "arms": {}})
    with pytest.raises(ValueError):
        JobRequest(**{**SCENARIO, "out": "/etc"})
    with pytest.raises(ValueError, match="profile values"):
        JobRequest(**{**SCENARIO, "n_patients": 20_000, "n_draws": 50,
                      "times": {"start": 0, "stop": 672, "step": 1}})  # fmt: skip
    with pytest.raises(ValueError, match="at most 5000 points"):
        JobRequest(**{**SCENARIO, "times": {"start": 0, "stop": 20_000, "step": 0.1}})
