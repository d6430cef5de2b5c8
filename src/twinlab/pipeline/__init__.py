"""The pipeline layer: typed ``params.yaml`` sections (:mod:`twinlab.pipeline.params`), the
stages (:mod:`twinlab.pipeline.stages`, ``stage(params, root) -> StageResult``), the one
runner that audits and times them (:func:`run_stage`), the scenario building blocks
(:mod:`twinlab.pipeline.scenario`), DVC metrics (:mod:`twinlab.pipeline.metrics`) and
``twinlab reproduce`` (:mod:`twinlab.pipeline.reproduce`).

Every section of ``params.yaml`` that a stage reads has one frozen, typed class here; unknown
keys, wrong types and out-of-range values are refused when the file is loaded, with one line
saying where and what to write instead.
"""

from __future__ import annotations

from twinlab.pipeline.params import (
    DaskParams,
    FitParams,
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
from twinlab.pipeline.run import (
    DVC_STAGES,
    STAGES,
    StageResult,
    derive_seed,
    run_stage,
    stage_names,
)

__all__ = [
    "DVC_STAGES",
    "STAGES",
    "DaskParams",
    "FitParams",
    "GenerateParams",
    "HarmonizeParams",
    "PipelineParams",
    "RegimenParams",
    "SensitivityParams",
    "SimulateParams",
    "StageResult",
    "SurrogateParams",
    "TimesParams",
    "TrialParams",
    "ValidateParams",
    "derive_seed",
    "load_pipeline_params",
    "run_stage",
    "stage_names",
    "utc_offset",
]
