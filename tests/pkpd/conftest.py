"""Shared fixtures of the pkpd tests: one tiny real fit (8 subjects, 2 x (100 + 100) draws).

The study is written as a NONMEM CSV with a spec YAML, and the fit is made from those files,
so ``twinlab fit`` on the same files in the same process reuses the compiled model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinlab.pkpd.dataset import read_nonmem
from twinlab.pkpd.fit import FitResult, fit
from twinlab.pkpd.population import PopulationSpec, simulated_study

TINY_SPEC = {
    "name": "tiny",
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0},
    "covariates": [
        {
            "parameter": "cl",
            "covariate": "CRCL",
            "kind": "power",
            "reference": 100,
            "exponent": 0.5,
            "estimate": True,
        }
    ],
    "errors": ["combined"],
}
TINY_TRUTH = {"ka": 1.2, "cl": 3.0, "v": 30.0, "beta_cl_crcl": 0.5}
#: what the tiny fit's sampler is given
TINY_SETTINGS = {"draws": 100, "tune": 100, "chains": 2, "seed": 5, "target_accept": 0.9}


def write_study(folder: Path, n_subjects: int = 8, seed: int = 3) -> tuple[Path, Path]:
    """A simulated single-dose study as ``study.csv`` (NONMEM) and its spec ``tiny.yaml``."""
    spec = PopulationSpec.from_dict(TINY_SPEC)
    crcl = np.random.default_rng(seed).uniform(40, 140, n_subjects).round(1)
    arrays, _ = simulated_study(
        spec, TINY_TRUTH, n_subjects=n_subjects, seed=seed, covariates={"CRCL": crcl}
    )
    rows = []
    for k, sid in enumerate(arrays.subject_ids):
        rows.append((sid, 0.0, ".", float(arrays.dose_amt[k, 0]), 1, 1, 1, crcl[k]))
        for i in np.flatnonzero(arrays.obs_subject == k):
            rows.append((sid, arrays.obs_time[i], arrays.obs_dv[i], 0.0, 0, 2, 0, crcl[k]))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "study.csv"
    columns = ["ID", "TIME", "DV", "AMT", "EVID", "CMT", "MDV", "CRCL"]
    pd.DataFrame(rows, columns=columns).to_csv(csv, index=False)
    spec_path = folder / "tiny.yaml"
    spec.to_yaml(spec_path)
    return csv, spec_path


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(study.csv, tiny.yaml)``."""
    return write_study(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_fit(tiny_study: tuple[Path, Path]) -> FitResult:
    """The real nutpie fit of the tiny study (compiled once per session)."""
    csv, spec_path = tiny_study
    return fit(
        PopulationSpec.from_yaml(spec_path), read_nonmem(csv), progress=False, **TINY_SETTINGS
    )
