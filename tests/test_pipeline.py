"""The DVC pipeline end to end, in a temporary copy of the repository."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from repo_helpers import copy_project

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Fixed test keys (never used for real data), so runs are reproducible and isolated.
TEST_KEYS = {
    "TWINLAB_DEID_KEY": base64.b64encode(b"twinlab-test-deid-key-0123456789").decode(),
    "TWINLAB_MASTER_KEY": base64.b64encode(b"twinlab-test-master-key-01234567").decode(),
}
#: Outputs encrypted with fresh random nonces: same content, different bytes on every run.
ENCRYPTED_OUTS = {"data/raw_zone/demo"}


def _run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **TEST_KEYS}
    env["PYTHONPATH"] = str(cwd / "src")  # the copy's code, not the editable install's
    env.pop("TWINLAB_DASK_ADDRESS", None)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _outs_hashes(repo: Path) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] not in ENCRYPTED_OUTS
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh git repository holding this working tree's files, with tiny parameters."""
    dest = copy_project(ROOT, tmp_path_factory.mktemp("clone") / "twinlab")
    remote = dest.parent / "remote"
    _run(["git", "init", "-q"], dest)
    _run(["git", "add", "-A"], dest)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], dest)
    _run([str(BIN / "dvc"), "remote", "modify", "--local", "local", "url", str(remote)], dest)
    _run([str(BIN / "twinlab"), "demo"], dest)
    # again with the compile caches warm: a model compiled for the first time on a machine
    # draws differently from one loaded from the caches (tests/pipeline/test_pipeline_reproduce
    # says more), and the forced re-run below must compare like with like
    _run([str(BIN / "twinlab"), "demo", "--force"], dest)
    return dest


def test_repro_runs_every_stage_and_writes_reports(repo):
    assert (repo / "data" / "raw" / "demo" / "manifest.json").is_file()
    assert (repo / "data" / "truth" / "demo" / "parameters.json").is_file()
    assert (repo / "reports" / "01_sources_overview.html").is_file()
    metrics = json.loads((repo / "reports" / "sources_overview.json").read_text())
    assert metrics["subjects_screened"] == 12
    assert metrics["files_not_intact"] == 0
    harmonized = json.loads((repo / "reports" / "harmonize.json").read_text())
    assert harmonized["patients"] == 12
    assert harmonized["reconciles"] is True
    assert harmonized["phi_findings"] == 0
    assert (repo / "reports" / "02_harmonize_report.html").is_file()
    summary = json.loads((repo / "models" / "twinurostat_pk" / "fit" / "summary.json").read_text())
    assert set(summary["parameters"]) == {"ka", "cl", "v"}
    assert (repo / "models" / "twinurostat_pk" / "1" / "card.json").is_file()
    assert json.loads((repo / "reports" / "validate.json").read_text())["passed"] is True
    assert (repo / "reports" / "03_fit_report.html").is_file()


def test_simulation_sensitivity_surrogate_and_trial_stages_ran(repo):
    import pandas as pd

    from twinlab.simulate import open_result
    from twinlab.surrogate import Surrogate, model_binding

    result = open_result(repo / "results" / "demo")
    assert dict(result.dataset.sizes) == {"draw": 2, "patient": 20, "arm": 6, "time": 29}
    assert set(result.patients["arm"]) == {"Placebo", "T25", "T50", "T100", "T200", "T400"}
    # every virtual patient carries a real patient's covariates: lineage to the cohort
    lineage = pd.read_parquet(repo / "results" / "demo" / "lineage.parquet")
    real = set(
        pd.read_parquet(repo / "data" / "harmonized" / "demo" / "patients.parquet")["patient_id"]
    )
    assert len(lineage) == 20 and set(lineage["source"]) <= real
    sensitivity = json.loads((repo / "reports" / "sensitivity.json").read_text())
    assert sensitivity and (repo / "results" / "sensitivity" / "sobol.csv").is_file()
    card = json.loads((repo / "models" / "twinurostat_pk" / "1" / "card.json").read_text())
    surrogate = Surrogate.load(
        repo / "models" / "twinurostat_pk_surrogate", expect=model_binding(card)
    )
    assert set(surrogate.error) >= {"n_train", "n_test"}
    trial = json.loads((repo / "reports" / "trial.json").read_text())
    for analysis in ("unadjusted", "ancova", "procova"):
        assert (
            set(trial[analysis]["power"]) == set(trial[analysis]["type_i_error"]) == {"T25", "T50"}
        )
    assert 0 < trial["prognostic"]["heldout_rho"] < 1
    assert (repo / "reports" / "power_curve.csv").is_file()
    for nb in ("04_simulate_report", "05_sensitivity_report", "06_trial_report"):
        assert (repo / "reports" / f"{nb}.html").is_file()


def test_validation_gate_fails_on_a_fit_outside_its_bounds(repo):
    proc = subprocess.run(
        [str(BIN / "twinlab"), "validate-fit", "models/twinurostat_pk/fit", "--max-rhat", "0.5"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "validation gate failed: max_rhat" in proc.stderr and "Traceback" not in proc.stderr


def test_every_stage_and_notebook_run_is_in_an_intact_audit_log(repo):
    from twinlab.audit import verify

    log = repo / "logs" / "audit.jsonl"
    assert verify(log).ok
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    stages = {e["target"] for e in entries if e["action"] == "stage.run"}
    assert {"generate", "harmonize", "simulate", "sensitivity", "surrogate", "trial"} <= stages
    notebooks = {Path(e["target"]).name for e in entries if e["action"] == "notebook.run"}
    assert {"01_sources_overview.ipynb", "02_harmonize_report.ipynb"} <= notebooks
    actions = {e["action"] for e in entries}
    # fits and AI-made predictions carry their model and inputs
    assert {"data.access", "model.fit", "model.register", "prognostic.predict"} <= actions
    record = next(e for e in entries if e["target"] == "harmonize")["new"]
    assert (repo / "logs" / "runs" / record["run_record"]).is_file()
    # no key material in any file the pipeline wrote
    secrets = [base64.b64decode(v) for v in TEST_KEYS.values()] + [
        v.encode() for v in TEST_KEYS.values()
    ]
    for file in [*repo.rglob("*.json*"), *repo.rglob("*.ipynb"), *repo.rglob("*.html")]:
        data = file.read_bytes()
        assert not any(s in data for s in secrets), file
    status = _run([str(BIN / "dvc"), "status"], repo)
    assert "up to date" in status


def test_forced_repro_reproduces_identical_outputs(repo):
    before = _outs_hashes(repo)
    _run([str(BIN / "dvc"), "repro", "-f"], repo)
    assert _outs_hashes(repo) == before


def test_the_dvc_cache_remote_and_stage_outputs_are_private(repo):
    """DVC copies every output into its cache (files 0444 whatever the umask) and remote:
    their roots are 0700, and what the stages and DVC wrote under data/ is the owner's only."""
    import stat

    for store in (repo / ".dvc" / "cache", repo.parent / "remote"):
        assert stat.S_IMODE(store.stat().st_mode) == 0o700, store
    tracked = set(_run(["git", "ls-files", "data"], repo).split())
    opened = [
        p.relative_to(repo).as_posix()
        for p in (repo / "data").rglob("*")
        if p.is_file() and p.stat().st_mode & 0o077
    ]
    assert [p for p in opened if p not in tracked] == []


def test_push_and_pull_round_trip_through_the_local_remote(repo):
    before = _outs_hashes(repo)
    _run([str(BIN / "dvc"), "push"], repo)
    assert oct((repo.parent / "remote").stat().st_mode & 0o777) == oct(0o700)
    for out in ("data/raw/demo", "data/truth/demo", "reports/01_sources_overview.ipynb"):
        target = repo / out
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    _run([str(BIN / "dvc"), "pull"], repo)
    assert (repo / "data" / "raw" / "demo" / "manifest.json").is_file()
    assert "up to date" in _run([str(BIN / "dvc"), "status"], repo)
    assert _outs_hashes(repo) == before
