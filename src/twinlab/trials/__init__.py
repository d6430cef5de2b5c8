"""Trial designs, endpoints, Monte Carlo power, PROCOVA and dose selection.

The public API, in one screen::

    from twinlab.trials import Design, simulate_trials, PrognosticModel
    design = Design.from_dict(params["trials"]["design"])
    result = simulate_trials(design, sim.patients, n_replicates=2000, seed=1, client=client)
    plan = plan_variance_reduction(design, planning_cohort, prognostic=model)  # out of sample
    result = simulate_trials(design, sim.patients, n_replicates=2000, seed=1,
                             prognostic=model, plan=plan)   # realised beside planned
    result.summary(); result.to_metrics()
    target_attainment(sim.patients, metric="auc_tau", target=300, by=["CYP2C9", "CRCL"],
                      bins={"CRCL": [0, 30, 60, float("inf")]},
                      safety_metric="cmax", safety_threshold=12.0)
    recommend_regimen(sim.patients, metric="auc_tau", target=300, pta_goal=0.9,
                      by=["CYP2C9"], safety_metric="cmax", safety_threshold=12.0)
"""

from __future__ import annotations

from twinlab.trials.analytic import (
    ancova_power,
    ancova_sample_size,
    multiple_r2,
    procova_power,
    procova_sample_size,
    procova_saving,
)
from twinlab.trials.design import (
    ANALYSES,
    ENDPOINT_KINDS,
    ArmSpec,
    Design,
    Endpoint,
    allocation,
    evaluate_criteria,
)
from twinlab.trials.dose import recommend_regimen, target_attainment
from twinlab.trials.ols import BatchedOLS, batched_ols, t_test
from twinlab.trials.planning import (
    PLAN_METHODS,
    expected_outcome,
    plan_variance_reduction,
    variance_reduction,
)
from twinlab.trials.prognostic import PrognosticModel
from twinlab.trials.simulation import (
    TrialPool,
    TrialResult,
    power_curve,
    prepare_pool,
    simulate_trials,
)

__all__ = [
    "ANALYSES",
    "ENDPOINT_KINDS",
    "PLAN_METHODS",
    "ArmSpec",
    "BatchedOLS",
    "Design",
    "Endpoint",
    "PrognosticModel",
    "TrialPool",
    "TrialResult",
    "allocation",
    "ancova_power",
    "ancova_sample_size",
    "batched_ols",
    "evaluate_criteria",
    "expected_outcome",
    "multiple_r2",
    "plan_variance_reduction",
    "power_curve",
    "prepare_pool",
    "procova_power",
    "procova_sample_size",
    "procova_saving",
    "recommend_regimen",
    "simulate_trials",
    "t_test",
    "target_attainment",
    "variance_reduction",
]
