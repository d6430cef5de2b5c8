"""Virtual populations: covariates from the real cohort × posterior draws × variability."""

from __future__ import annotations

from twinlab.pkpd.criteria import Criteria
from twinlab.virtual.base import KnownPopulation, PatientChunk, Population, chunk_rng
from twinlab.virtual.covariates import (
    DEFAULT_COVARIATE_MAP,
    GaussianCopula,
    model_covariates,
)
from twinlab.virtual.parameters import ParameterModel
from twinlab.virtual.virtual import VirtualCohort, from_cohort

__all__ = [
    "DEFAULT_COVARIATE_MAP",
    "Criteria",
    "GaussianCopula",
    "KnownPopulation",
    "ParameterModel",
    "PatientChunk",
    "Population",
    "VirtualCohort",
    "chunk_rng",
    "from_cohort",
    "model_covariates",
]
