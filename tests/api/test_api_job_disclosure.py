"""The dashboards' disclosure rule on the populations of simulation jobs.

A stakeholder may simulate, and each job's results pass the at-least-k rule on their own;
without a rule across jobs, ``WT > 100`` and ``WT > 100.5`` (one real patient apart) would
both be answered and their summaries compared. The attacker here submits every population
the API allows; an oracle with patient-level access checks that no two answered jobs, one's
population inside the other's, differ by 1..k-1 real patients (as
``tests/apps/test_apps_disclosure.py`` checks the dashboards' filters)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from api_fixtures import serving

from twinlab.apps.disclosure import CRCL_BANDS, REFUSAL, WEIGHT_BANDS, band_criteria

K = 5
JOB = {"model": "twin_test", "arms": {"A": {"dose": 1}}, "n_patients": 5}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def quiet(api, tmp_path_factory) -> Iterator:
    """A server whose jobs stay queued (nothing runs), with room for an attacker's jobs."""
    from twinlab.api.jobs import JobManager

    assert api.settings.min_cell == K
    settings = api.settings.with_(
        results=tmp_path_factory.mktemp("disclosure") / "results",
        max_jobs=100_000,
        max_jobs_per_client=100_000,
    )
    jobs = JobManager(settings)
    jobs.start = lambda: None
    with serving(settings, api.secrets, jobs=jobs) as served:
        served.jobs = jobs
        yield served


@pytest.fixture(scope="module")
def real(quiet) -> pd.DataFrame:
    """The oracle's view: every real patient's covariates (patient-level access)."""
    from twinlab.pipeline.scenario import virtual_cohort_from_params

    jobs = quiet.jobs
    section = {**jobs._base_section(), "model": "twin_test", "n_patients": 1}
    vc = virtual_cohort_from_params(section, root=quiet.settings.project)
    names = {int(v): k for k, v in vc.describe()["covariates"]["codes"]["CYP2C9"].items()}
    out = vc.eligible[["WT", "CRCL", "CYP2C9"]].reset_index(drop=True)
    out["genotype"] = out["CYP2C9"].map(lambda c: names[int(c)])
    return out


def _members(real: pd.DataFrame, criteria: list[str]) -> frozenset[int]:
    """The real patients a list of criteria selects (evaluated by pandas, not twinlab)."""
    mask = np.ones(len(real), bool)
    for c in criteria:
        mask &= real.eval(c.replace("CYP2C9 in", "genotype in")).to_numpy()
    return frozenset(np.flatnonzero(mask).tolist())


def _submit(http, token: str, criteria: list[str]):
    return http.post("/v1/jobs", json={**JOB, "criteria": criteria}, headers=_auth(token))


def test_a_stakeholders_free_criteria_are_refused(quiet, real):
    token = quiet.token("stakeholder-app")
    free = [["WT > 100.5"], ["WT >= 100.5"], ["WT > 100"], ["WT >= 61 and WT < 100"],
            ["CRCL >= 90 or WT < 60"], ["AGE > 50"], ["WT >= 60", "WT < 100"],
            ['CYP2C9 in ["*1/*1"]', 'CYP2C9 in ["*1/*2"]'], ["CYP2C9 == 0"]]  # fmt: skip
    with quiet.http() as http:
        for criteria in free:
            r = _submit(http, token, criteria)
            assert r.status_code == 403, (criteria, r.text)
            assert "bands only" in r.json()["detail"]
        # a band population of fewer than k (or a small group besides a wider one): the
        # refusal says no count
        small = _submit(http, token, ["CRCL >= 120"])
        assert len(_members(real, ["CRCL >= 120"])) >= K  # the wider 'CRCL >= 90' has < k more
        assert 0 < len(_members(real, ["CRCL >= 90"])) - len(_members(real, ["CRCL >= 120"])) < K
        assert small.status_code == 403 and small.json()["detail"] == REFUSAL.format(k=K)
        assert not re.search(r"\d", small.json()["detail"].replace(str(K), ""))


def test_a_stakeholders_band_criteria_are_accepted(quiet):
    token = quiet.token("stakeholder-app")
    with quiet.http() as http:
        r = _submit(http, token, ["WT   >= 60 and WT < 100", 'CYP2C9 in ["*1/*2", "*1/*1"]'])
        assert r.status_code == 201, r.text
        assert r.json()["request"]["criteria"] == [  # queued as the bands checked
            "WT >= 60 and WT < 100",
            'CYP2C9 in ["*1/*1", "*1/*2"]',
        ]


def test_an_attacker_submitting_every_band_choice_cannot_single_anyone_out(quiet, real):
    from twinlab.api.job_population import PopulationRefused
    from twinlab.api.jobs import JobRequest

    token = quiet.token("stakeholder-app")
    genotypes = [*sorted(real["genotype"].unique()), "*2/*2"]  # one the cohort lacks
    choices = [[]] + [
        ["CYP2C9 in [" + ", ".join(f'"{g}"' for g in chosen) + "]"]
        for r in (1, 2, 3)
        for chosen in itertools.combinations(genotypes, r)
    ]
    spans = {
        cov: [band_criteria(cov, edges, i, j)
              for i in range(len(edges) - 1) for j in range(i, len(edges) - 1)]
        for cov, edges in (("WT", WEIGHT_BANDS), ("CRCL", CRCL_BANDS))
    }  # fmt: skip
    lattice = [w + c + g for w, c, g in itertools.product(spans["WT"], spans["CRCL"], choices)]
    answered: dict[frozenset[int], list[str]] = {}
    refusals = set()
    # every choice through the check the route makes (3,600 of them: HTTP would take ~25 s)
    checked = {}
    for criteria in lattice:
        try:
            job = quiet.jobs.banded(JobRequest(**JOB, criteria=criteria))
        except PopulationRefused as exc:
            assert exc.status == 403
            refusals.add(str(exc))
            checked[tuple(criteria)] = None
            continue
        checked[tuple(criteria)] = job.criteria
        answered.setdefault(_members(real, job.criteria), job.criteria)
    # and every weight x CrCL choice and every genotype choice over HTTP: the same answers
    over_http = [c for c in lattice if len(c) <= 1 or not c[-1].startswith("CYP2C9")]
    assert len(over_http) == 15 * 15 + len(choices) - 1
    with quiet.http() as http:
        for criteria in over_http:
            r = _submit(http, token, criteria)
            if checked[tuple(criteria)] is None:
                assert r.status_code == 403 and r.json()["detail"] == REFUSAL.format(k=K)
            else:
                assert r.status_code == 201, r.text
                assert r.json()["request"]["criteria"] == checked[tuple(criteria)]
    assert refusals == {REFUSAL.format(k=K)}  # says no count
    assert len(answered) >= 10 and len(answered) < len(lattice) / 5  # both reached
    # what the oracle knows: no answered population is small, nor differs by a small group
    # from another answered population that contains it (differencing)
    assert min(len(m) for m in answered) >= K
    for a, b in itertools.permutations(answered, 2):
        if a < b:
            assert len(b - a) >= K, (answered[a], answered[b], len(b - a))


def test_a_modelers_free_criteria_still_work(quiet):
    token = quiet.token("modeler-app")
    with quiet.http() as http:
        r = _submit(http, token, ["WT > 100.5", "CRCL >= 120"])
        assert r.status_code == 201, r.text
        assert r.json()["request"]["criteria"] == ["WT > 100.5", "CRCL >= 120"]
