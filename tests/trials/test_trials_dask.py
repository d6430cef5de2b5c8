"""Replicate batches as Dask tasks: 1 or 2 worker processes give the in-process result."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import prognostic_outcomes

from twinlab.cluster import dask_client
from twinlab.trials import Design, PrognosticModel, power_curve, simulate_trials


@pytest.mark.slow
def test_one_or_two_workers_give_the_in_process_result():
    history = prognostic_outcomes(1000, seed=50)
    model = PrognosticModel.train(
        history[history["arm"] == "control"], ["x1", "x2"], "y", kind="linear"
    )
    trial = prognostic_outcomes(2000, effect=0.3, seed=51)
    design = Design.from_dict(
        {
            "arms": ["control", "drug"],
            "n_total": 80,
            "endpoint": {"kind": "continuous", "column": "y"},
            "analysis": "procova",
            "dropout": 0.1,
            "outcome_sd": 0.2,
        }
    )
    kwargs = {"n_replicates": 600, "seed": 17, "prognostic": model, "batch_size": 100}
    here = simulate_trials(design, trial, **kwargs)
    curve_here = power_curve(design, trial, [40, 80], **kwargs)
    for workers in (1, 2):
        with dask_client(n_workers=workers, threads_per_worker=1) as client:
            there = simulate_trials(design, trial, client=client, **kwargs)
            pd.testing.assert_frame_equal(there.replicates, here.replicates)
            assert there.to_metrics() == here.to_metrics()
            curve = power_curve(design, trial, [40, 80], client=client, **kwargs)
            pd.testing.assert_frame_equal(curve, curve_here)
