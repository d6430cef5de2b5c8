"""The pipeline layer: typed ``params.yaml`` sections (:mod:`twinlab.pipeline.params`).

Every section of ``params.yaml`` that a stage reads has one frozen, typed class here; unknown
keys, wrong types and out-of-range values are refused when the file is loaded, with one line
saying where and what to write instead.
"""

from __future__ import annotations

from twinlab.pipeline.params import (
    DaskParams,
    GenerateParams,
    HarmonizeParams,
    PipelineParams,
    RegimenParams,
    SensitivityParams,
    SimulateParams,
    SurrogateParams,
    TimesParams,
    TrialParams,
    ValidateParams,
    load_pipeline_params,
    utc_offset,
)

__all__ = [
    "DaskParams",
    "GenerateParams",
    "HarmonizeParams",
    "PipelineParams",
    "RegimenParams",
    "SensitivityParams",
    "SimulateParams",
    "SurrogateParams",
    "TimesParams",
    "TrialParams",
    "ValidateParams",
    "load_pipeline_params",
    "utc_offset",
]
