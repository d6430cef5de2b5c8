"""What the service writes is private whatever its umask: a job's state (SQLite) and every
file of its result (patient-level rows), even in a results folder made earlier with loose
modes by hand."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from api_fixtures import make_jobs, serving

JOB = {
    "scenario": "private",
    "model": "twin_test",
    "arms": {"T50": {"dose": 50}},
    "regimen": {"interval_h": 24, "n_doses": 2, "route": "oral"},
    "n_patients": 6,
    "times": {"start": 0, "stop": 48, "step": 12},
}


def _loose(root: Path) -> list[str]:
    """Files and folders under ``root`` that group or others may read, write or enter."""
    out = []
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            out.append(f"{path.relative_to(root)} {stat.S_IMODE(path.stat().st_mode):o}")
    return out


def test_job_state_and_results_are_private_under_a_loose_umask(api, tmp_path, monkeypatch):
    monkeypatch.delenv("TWINLAB_FILE_MODE", raising=False)
    results = tmp_path / "results"
    (results / "api" / "jobs").mkdir(parents=True)
    for folder in (results / "api", results / "api" / "jobs"):  # made by hand, open to all
        folder.chmod(0o755)
    settings = api.settings.with_(results=results)
    previous = os.umask(0o022)  # a service started from a usual shell
    try:
        with serving(settings, api.secrets, jobs=make_jobs(settings)) as served:
            with served.http(
                headers={"Authorization": f"Bearer {served.token('modeler-app')}"}
            ) as http:
                r = http.post("/v1/jobs", json=JOB)
                assert r.status_code == 201, r.text
                job_id = r.json()["id"]
                deadline = time.monotonic() + 240
                while (job := http.get(f"/v1/jobs/{job_id}").json())["state"] in (
                    "queued",
                    "running",
                ):
                    assert time.monotonic() < deadline, job
                    time.sleep(0.5)
                assert job["state"] == "done", job
                page = http.get(f"/v1/results/job-{job_id}/patients")
                assert page.status_code == 200 and page.json()["total"] == 6
    finally:
        os.umask(previous)
    written = results / "api"
    assert (written / "jobs.sqlite").is_file()
    assert (written / "jobs" / job_id / "patients.parquet").is_file()
    assert _loose(written) == []
