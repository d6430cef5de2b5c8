"""The apps' test project: a registered twin with known parameters, a harmonized cohort
(whose patients carry the twin's covariates) with its quality report, an assumed PD spec, and
users (imported by the tests; a unique module name, so it never clashes with another
folder's ``conftest``)."""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr
import yaml
from repo_helpers import make_cohort, write_notebook

from twinlab.notebooks import run_notebook
from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.gate import GateBounds, validate
from twinlab.pkpd.population import PopulationSpec, simulated_study
from twinlab.pkpd.registry import register
from twinlab.timeline import Cohort

#: a report executed as the pipeline executes its notebooks (a figure, a table)
SIMULATE_REPORT = "04_simulate_report.html"

#: the twin's true population values (the posterior is a tight cloud around them)
TRUTH = {
    "ka": 1.0,
    "cl": 4.0,
    "v": 40.0,
    "omega_ka": 0.3,
    "omega_cl": 0.3,
    "omega_v": 0.2,
    "beta_cl_crcl": 0.5,
    "beta_cl_cyp2c9_1": -0.4,
    "beta_cl_cyp2c9_2": -0.7,
    "sigma_add_conc": 0.1,  # simulated_study's default residual errors
    "sigma_prop_conc": 0.1,
}
#: the validation gate the registered twin passes: the default bounds but for R-hat and ESS,
#: loosened to what 2 x 40 independent draws reach (as the pipeline tests' small parameters do)
GATE = GateBounds(max_rhat=1.1, min_ess=20)
SPEC = {
    "name": "twin_test",
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": 4.0, "v": 40.0},
    "covariates": [
        {"allometric": "WT"},
        {
            "parameter": "cl",
            "covariate": "CRCL",
            "kind": "power",
            "reference": 100,
            "exponent": 0.5,
            "estimate": True,
        },
        {"parameter": "cl", "covariate": "CYP2C9", "kind": "categorical", "reference": 0},
    ],
    "errors": ["combined"],
}
#: the assumed PD (not part of the twin): the what-if's defaults come from it
PD_SPEC = {
    "name": "twin_test_pd",
    "model": "pkpd_1cmt_oral_idr1_e0",
    "parameters": {
        "ka": {"guess": 1.0, "omega": 0.3},
        "cl": {"guess": 4.0, "omega": 0.3},
        "v": {"guess": 40.0, "omega": 0.2},
        "e0": {"guess": 8.0, "omega": 0.15},
        "kout": {"guess": 0.02, "omega": None},
        "imax": {"guess": 0.9, "omega": None},
        "ic50": {"guess": 1.0, "omega": 0.3},
    },
    "covariates": [
        {"parameter": "e0", "covariate": "CRCL", "kind": "power", "reference": 100,
         "exponent": -0.25},
    ],
    "errors": [{"endpoint": "effect", "kind": "combined"}],
}  # fmt: skip
#: genotypes of the cohort's patients, in turn
GENOTYPES = ("*1/*1", "*1/*1", "*1/*2", "*1/*3")
USERS = {
    "ana": ("modeler", "ana-password-1"),
    "rita": ("reviewer", "rita-password-1"),
    "sam": ("stakeholder", "sam-password-1"),
}


def known_fit(n_subjects: int = 24, draws: int = 40, seed: int = 7) -> FitResult:
    """A fit whose posterior is a tight cloud (1 % SD) around :data:`TRUTH` – no sampling."""
    spec = PopulationSpec.from_dict(SPEC)
    rng = np.random.default_rng(seed)
    covariates = {
        "WT": rng.uniform(50, 110, n_subjects).round(1),
        "CRCL": rng.uniform(40, 140, n_subjects).round(1),
        "CYP2C9": np.tile([0.0, 0.0, 1.0, 2.0], n_subjects // 4),
    }
    arrays, _ = simulated_study(  # the demo's doses: oral 100 and 200 mg
        spec, TRUTH, n_subjects=n_subjects, seed=seed, covariates=covariates, dose=[100.0, 200.0]
    )
    post = {
        k: (("chain", "draw"), v * (1 + 0.01 * rng.standard_normal((2, draws))))
        for k, v in TRUTH.items()
    }
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, draws), bool))})
    idata = az.InferenceData(posterior=xr.Dataset(post), sample_stats=stats)
    return FitResult(
        spec,
        arrays,
        idata,
        "nutpie",
        {"total_s": 0.0},
        {"draws": draws, "tune": 0, "chains": 2, "seed": seed},
    )


def study_cohort(n_patients: int = 40, seed: int = 3) -> Cohort:
    """:func:`repo_helpers.make_cohort` whose patients carry the twin's covariates.

    Weights spread evenly over 50–110 kg, serum creatinine over 60–160 µmol/L (creatinine
    clearance from Cockcroft–Gault) and CYP2C9 genotypes :data:`GENOTYPES` in turn.
    """
    cohort = make_cohort(n_patients=n_patients, seed=seed)
    rng = np.random.default_rng(seed)
    patients = cohort.patients.copy()
    patients["cov_weight_kg"] = rng.permutation(np.linspace(50.0, 110.0, n_patients)).round(1)
    patients["cov_creatinine_umol_l"] = rng.uniform(60.0, 160.0, n_patients).round(1)
    patients["cov_cyp2c9"] = [GENOTYPES[i % len(GENOTYPES)] for i in range(n_patients)]
    return Cohort(patients, cohort.events, cohort.links)


def write_project(root: Path) -> Path:
    """A project folder: params.yaml (where the simulate stage finds the cohort and the PD
    spec), a registered twin, a harmonized study, the PD spec."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "seed": 1,
                # a whole params.yaml, as the pipeline checks it (twinlab.pipeline.params)
                "simulate": {
                    "timeline_dir": "data/harmonized/demo",
                    "pd_spec": "specs/pd_assumed.yaml",
                    "model": "twin_test",
                    "n_patients": 40,
                    "n_draws": 10,
                    "times": {"start": 0, "stop": 96, "step": 8},
                    "regimen": {"interval_h": 24, "duration_h": 96},
                    "arms": {"Placebo": {"dose": 0}, "T100": {"dose": 100}},
                    "out": "results/demo",
                },
                # the trial stage's design, as the demo's: the what-if's power follows it
                "trial": {
                    "patients": "results/demo/patients.parquet",
                    "n_replicates": 20,
                    "n_values": [30, 60],
                    "dose": {"metric": "effect_end", "target": 6.0, "direction": "<="},
                    "out": "results/trial",
                    "metrics_path": "reports/trial.json",
                    "design": {
                        "arms": {"Placebo": 1, "T100": 1},
                        "n_total": 60,
                        "endpoint": {"kind": "continuous", "column": "effect_end"},
                        "analysis": "ancova",
                        "covariates": ["CRCL"],
                        "outcome_sd": 0.3,
                        "dropout": 0.1,
                    },
                    "procova": {"features": ["CRCL", "WT"], "kind": "linear"},
                },
            }
        )
    )
    (root / "specs").mkdir()
    (root / "specs" / "pd_assumed.yaml").write_text(yaml.safe_dump(PD_SPEC, sort_keys=False))
    data = root / "data" / "nonmem" / "twin.csv"
    data.parent.mkdir(parents=True)
    data.write_text("ID,TIME,DV\n1,0,0\n")
    (data.parent / "twin.csv.meta.json").write_text(
        json.dumps({"codes": {"CYP2C9": {"*1/*1": 0, "*1/*2": 1, "*1/*3": 2}}})
    )
    twin = known_fit()
    gate = validate(twin, bounds=GATE)
    assert gate.passed, str(gate)  # the apps serve only a version whose gate passed
    register(twin, "twin_test", root=root / "models", data=data, diagnostics={}, validation=gate)
    study = root / "data" / "harmonized" / "demo"
    study_cohort().write(study)
    (study / "quality.json").write_text(
        json.dumps(
            {
                "summary": {"overall": "pass"},
                "checks": [
                    {
                        "category": "conformance",
                        "check": "records.parsed",
                        "checked": 100,
                        "failed": 0,
                        "failure_rate": 0.0,
                        "threshold": 0.05,
                        "status": "pass",
                        "description": "records accepted",
                    },
                    {  # one patient without a sex: a count that must not be shown as 1
                        "category": "completeness",
                        "check": "patients.sex",
                        "checked": 40,
                        "failed": 1,
                        "failure_rate": 0.025,
                        "threshold": 0.05,
                        "status": "pass",
                        "description": "patients with a sex",
                    },
                ],
            }
        )
    )
    reports = root / "reports"  # an executed report and the validation gate's metrics
    reports.mkdir()
    (reports / "03_fit_report.html").write_text("<html><body><h1>Fit report</h1></body></html>")
    _executed_report(root / "report.ipynb", reports)
    (reports / "validate.json").write_text(
        json.dumps(
            {
                "passed": True,  # values and pass/fail only, as the validate stage writes
                "gates": {"divergences": True, "min_ess_bulk": True},
                "divergences": 0,
                "min_ess_bulk": 75.5,
            }
        )
    )
    (study / "report.json").write_text(
        json.dumps(
            {
                "files": [
                    {"format": "fhir", "records_in": 10, "accepted": 9, "quarantined": 1},
                    {"format": "sdtm", "records_in": 5, "accepted": 5, "quarantined": 0},
                ]
            }
        )
    )
    return root


def _executed_report(notebook: Path, reports: Path) -> None:
    """:data:`SIMULATE_REPORT`: a notebook with a figure and a table, executed and written
    by :func:`twinlab.notebooks.run_notebook`, as the pipeline's report stages do."""
    write_notebook(
        notebook,
        "dose = 100.0",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "import pandas as pd\n%matplotlib inline",
        "plt.plot([0, 24, 48], [0.0, dose / 40, dose / 80])\nplt.xlabel('Time (h)')\n"
        "plt.ylabel('Concentration (mg/L)')\nplt.show()",
        "pd.DataFrame({'arm': ['placebo', '100 mg QD'], 'n': [50, 50]})",
    )
    run_notebook(notebook, output_dir=reports, name=Path(SIMULATE_REPORT).stem)
