"""The Python API and ``twinlab dataset`` build the same NONMEM data set (issue 18).

``pkpd.from_timeline(cohort, covariates={"CRCL": "cov_crcl_ml_min"})`` once returned CRCL as
NaN in every row (the derived column's name was taken as an event code) and only the command
derived CrCL and age and gave missing genotypes the level ``unknown``.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from repo_helpers import DRUG_CONC, make_cohort

from twinlab.cli import cli
from twinlab.pkpd import from_timeline
from twinlab.pkpd.covariates import cockcroft_gault
from twinlab.pkpd.dataset import NonmemDataError, read_nonmem, write_nonmem
from twinlab.timeline import Cohort

MAPPING = {"WT": "cov_weight_kg", "CRCL": "cov_crcl_ml_min", "AGE": "cov_age", "SMK": "cov_smoker"}


@pytest.fixture
def cohort() -> Cohort:
    base = make_cohort(n_patients=4, seed=3)
    patients = base.patients.assign(cov_creatinine_umol_l=[80.0, 95.0, 110.0, 70.0])
    patients.loc[2, "cov_smoker"] = None  # a text covariate missing for one patient
    return Cohort(patients, base.events, base.links)


def test_derived_covariates_and_the_unknown_level_from_the_python_api(cohort):
    data = from_timeline(cohort, conc_code=DRUG_CONC, covariates=MAPPING)
    first = data.frame.groupby("ID").first()
    patients = cohort.patients.set_index("patient_id")
    for pid_num, pid in data.ids.items():
        p = patients.loc[pid]
        age = p["index_date"].year - int(p["birth_year"])
        expected = cockcroft_gault(age, p["cov_weight_kg"], p["cov_creatinine_umol_l"],
                                   p["sex"] == "F")  # fmt: skip
        assert first.loc[pid_num, "AGE"] == age
        assert first.loc[pid_num, "CRCL"] == pytest.approx(float(expected))
    assert first["CRCL"].notna().all() and first["CRCL"].between(20, 250).all()
    assert set(data.codes["SMK"]) == {"no", "unknown", "yes"}  # sorted codes 0, 1, 2
    assert first["SMK"].notna().all()
    kept = from_timeline(cohort, conc_code=DRUG_CONC, covariates=MAPPING, missing_level=None)
    assert kept.frame.groupby("ID").first()["SMK"].isna().sum() == 1


def test_the_harmonized_exact_age_wins_over_the_year_difference(cohort):
    # de-identification publishes cov_age at the true index date; the year difference of the
    # birth year and the shifted index date is off by one for some patients, which one
    # depending on the key's date shift
    years = cohort.patients["index_date"].dt.year - cohort.patients["birth_year"].astype(int)
    exact = (years - np.array([1, 0, 1, 0])).astype(float)
    patients = cohort.patients.assign(cov_age=exact)
    data = from_timeline(Cohort(patients, cohort.events, cohort.links), conc_code=DRUG_CONC,
                         covariates=MAPPING)  # fmt: skip
    first = data.frame.groupby("ID").first()
    by_pid = patients.set_index("patient_id")
    for pid_num, pid in data.ids.items():
        p = by_pid.loc[pid]
        age = p["cov_age"]
        crcl = cockcroft_gault(age, p["cov_weight_kg"], p["cov_creatinine_umol_l"], p["sex"] == "F")
        assert first.loc[pid_num, "AGE"] == age
        assert first.loc[pid_num, "CRCL"] == pytest.approx(float(crcl))


def test_a_missing_cov_column_is_an_error_not_an_event_code(cohort):
    with pytest.raises(NonmemDataError, match=r"\['cov_height_cm'\] are not patient columns"):
        from_timeline(cohort, conc_code=DRUG_CONC, covariates={"HT": "cov_height_cm"})


def test_the_command_writes_what_the_api_builds(cohort, tmp_path):
    cohort.write(tmp_path / "timeline")
    out = tmp_path / "nonmem.csv"
    args = ["dataset", "--timeline", str(tmp_path / "timeline"), "--conc-code", DRUG_CONC,
            "--out", str(out)]  # fmt: skip
    for name, source in MAPPING.items():
        args += ["-c", f"{name}={source}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    api = from_timeline(Cohort.read(tmp_path / "timeline"), conc_code=DRUG_CONC, covariates=MAPPING)
    write_nonmem(api, tmp_path / "api.csv")
    assert out.read_bytes() == (tmp_path / "api.csv").read_bytes()
    assert not np.isnan(read_nonmem(out).frame["CRCL"]).any()


def test_the_data_set_is_private_whatever_the_umask(cohort, tmp_path):
    out = tmp_path / "new" / "nonmem.csv"
    stale = tmp_path / "stale.csv"
    stale.write_text("old")
    os.chmod(stale, 0o644)  # an earlier, readable file is rewritten
    data = from_timeline(cohort, conc_code=DRUG_CONC, covariates=MAPPING)
    previous = os.umask(0o022)
    try:
        for path in (out, stale):
            write_nonmem(data, path)
    finally:
        os.umask(previous)
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (out, stale, out.parent)}
    modes |= {p: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*.meta.json")}
    assert modes.pop(out.parent) == 0o700
    assert set(modes.values()) == {0o600}, modes
