"""Downstream reads upstream: the simulate stage simulates the trial stage's PROCOVA cohorts
and the surrogate's training patients are the simulated ones (issue 18)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from twinlab.config import ConfigError
from twinlab.pipeline import derive_seed
from twinlab.pipeline.params import PipelineParams, SimulateParams
from twinlab.pipeline.scenario import scenario_from_params
from twinlab.pipeline.stages import _read_held_out, simulate_stage
from twinlab.simulate import run

HERE = Path(__file__).resolve().parents[1]
SIMULATE = {
    "model": "twin_test", "models_root": "models", "timeline_dir": "data/harmonized/demo",
    "pd_spec": "specs/pd_assumed.yaml", "n_patients": 12, "n_draws": 2, "chunk_size": 5,
    "times": {"start": 0, "stop": 96, "step": 8}, "regimen": {"interval_h": 24, "duration_h": 96},
    "arms": {"P": {"dose": 0}, "T": {"dose": 100}}, "out": "results/x",
    "held_out": {"history": {"n_patients": 9, "arms": ["P"]},
                 "planning": {"n_patients": 7, "arms": ["P", "T"]}},
}  # fmt: skip


def test_held_out_arms_must_be_arms_of_the_section():
    bad = {**SIMULATE, "held_out": {"history": {"n_patients": 3, "arms": ["X"]}}}
    with pytest.raises(ConfigError, match=r"held_out.history.arms: \['X'\] are not arms"):
        SimulateParams.from_mapping(bad)


def test_the_trial_stage_names_a_missing_held_out_cohort(tmp_path):
    sim = SimulateParams.from_mapping({**SIMULATE, "held_out": None})
    with pytest.raises(ConfigError, match=r"simulate.held_out.history must simulate the arm"):
        _read_held_out(sim, "history", ["P"], tmp_path)
    sim = SimulateParams.from_mapping(SIMULATE)
    with pytest.raises(ConfigError, match="run the simulate stage first"):
        _read_held_out(sim, "planning", ["P", "T"], tmp_path)


@pytest.mark.slow
def test_the_simulate_stage_writes_the_cohorts_the_trial_stage_drew_before(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "apps_fixtures", HERE / "apps" / "apps_fixtures.py"
    )
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    root = fixtures.write_project(tmp_path / "study")
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    params = PipelineParams.from_mapping(
        {"seed": 5, "dask": {"n_workers": 1}, "simulate": SIMULATE}, file=root / "params.yaml"
    )
    simulate_stage(params, root)
    sim = params.section("simulate")
    history = _read_held_out(sim, "history", ["P"], root)
    planning = _read_held_out(sim, "planning", ["P", "T"], root)
    assert history["vpid"].nunique() == 9 and set(history["arm"]) == {"P"}
    assert planning["vpid"].nunique() == 7 and set(planning["arm"]) == {"P", "T"}
    # what the trial stage simulated itself before: the same seed stream, the same table
    before = replace(sim, scenario="history", n_patients=9, n_draws=1, arms={"P": None},
                     held_out=None)  # fmt: skip
    drawn = run(scenario_from_params(before, seed=derive_seed(5, "trial.history"), root=root))
    pd.testing.assert_frame_equal(history, drawn.patients)
