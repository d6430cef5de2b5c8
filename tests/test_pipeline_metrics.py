"""DVC metrics hold only comparable numbers; dvc.yaml's power plot names the series written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twinlab.pipeline.metrics import (
    flat_numbers,
    gate_metrics,
    power_curve_series,
    sensitivity_metrics,
    surrogate_metrics,
    trial_metrics,
)
from twinlab.sensitivity import Problem, sobol

ROOT = Path(__file__).resolve().parents[1]


def _leaves(tree, prefix=""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _assert_dvc_loadable(metrics):
    leaves = dict(_leaves(metrics))
    assert leaves, "empty metrics"
    for name, value in leaves.items():
        assert isinstance(value, bool | int | float), (name, value)
        assert math.isfinite(value), name
    return leaves


def test_flat_numbers_drops_what_dvc_cannot_tabulate():
    tree = {"a": [1, 2], "b": None, "c": "text", "d": {"e": float("nan"), "f": 2.5}, "g": {}}
    assert flat_numbers(tree | {"h": False}) == {"d": {"f": 2.5}, "h": False}


def test_sensitivity_metrics_of_an_additive_model_have_its_known_indices():
    # y = 2 x1 + x2 with independent uniforms: S1 = ST = (0.8, 0.2), sum of S1 = 1
    def linear(d: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": 2 * d["x1"].to_numpy() + d["x2"].to_numpy()})

    result = sobol(linear, Problem.from_ranges({"x1": (0, 1), "x2": (0, 1)}), 2**10, seed=1)
    metrics = sensitivity_metrics(result.to_dict())
    leaves = _assert_dvc_loadable(metrics)
    assert set(leaves) == {"n_evaluations", "y.ST_max", "y.S1_sum", "y.conf_max"}
    assert metrics["y"]["ST_max"] == pytest.approx(0.8, abs=0.03)
    assert metrics["y"]["S1_sum"] == pytest.approx(1.0, abs=0.03)
    assert metrics["n_evaluations"] == 2**10 * 4


def test_trial_surrogate_and_gate_metrics_are_a_handful_of_numbers():
    by_comp = {"T25": 0.8, "T50": 0.9}
    trial = {
        "design": {"arms": ["Placebo", "T25"], "draw": None, "name": "x"},
        "n_replicates": 100,
        **{
            a: {
                "power": by_comp,
                "type_i_error": by_comp,
                "variance_ratio": by_comp,
                "variance_reduction": by_comp,
            }
            for a in ("unadjusted", "ancova", "procova")
        },
        "prognostic": {
            "heldout_rho": 0.5,
            "planning": {"comparisons": {"T25": {"n_saved": 6.4, "rho_control": 0.4}}},
            "prognostic": {"features": ["WT"], "data_hash": "abc"},
        },
        "dose": {"all": {"regimen": None, "probability": 1.0}},
    }
    leaves = _assert_dvc_loadable(trial_metrics(trial))
    assert len(leaves) == 2 * 6 + 2 * 2 + 2
    assert leaves["procova.variance_reduction.T50"] == 0.9
    assert (
        leaves["prognostic.n_saved.T25"] == 6.4
        and "unadjusted.variance_reduction.T25" not in leaves
    )

    meta = {
        "kind": "gp",
        "binding": {"model": "m", "version": 3, "data_hash": "abc"},
        "error": {"cmax": {"r2": 0.99, "rmse": 0.1, "mae": 0.05}, "n_train": 8, "n_test": 2},
    }
    assert _assert_dvc_loadable(surrogate_metrics(meta)) == {
        "cmax.r2": 0.99, "cmax.rmse": 0.1, "n_train": 8, "n_test": 2, "twin_version": 3,
    }  # fmt: skip

    gate = {
        "max_rhat_population": 1.002,
        "vpc_pi_coverage": None,
        "bounds": {"vpc_pi_coverage": [0.8, 0.99]},
        "gates": {"max_rhat_population": True},
        "passed": True,
        "failures": {"x": {"parameter": "cl", "hint": "reparameterize"}},
    }
    assert _assert_dvc_loadable(gate_metrics(gate)) == {
        "max_rhat_population": 1.002, "gates.max_rhat_population": True, "passed": True,
    }  # fmt: skip


def test_power_curve_series_are_the_columns_dvc_yaml_plots():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["trial"]
    design = params["design"]
    comparisons = [a for a in design["arms"] if a != design["control"]]
    analyses = ["unadjusted", "ancova", "procova"]  # the trial stage's order
    rng = np.random.default_rng(0)
    curve = pd.DataFrame(
        [
            {"n_total": n, "comparison": c, "power": rng.uniform(), "analysis": a}
            for a in analyses
            for n in params["n_values"]
            for c in comparisons
        ]
    )
    wide = power_curve_series(curve)
    assert list(wide["n_total"]) == params["n_values"]
    row = curve[(curve["analysis"] == "ancova") & (curve["n_total"] == 30)]
    assert wide.set_index("n_total").loc[30, f"ancova {comparisons[0]}"] == pytest.approx(
        row[row["comparison"] == comparisons[0]]["power"].item()
    )
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    (plot,) = [p["power_curve"] for p in plots if "power_curve" in p]
    assert plot["x"] == "n_total"
    assert plot["y"][params["plots_path"]] == list(wide.columns[1:])


def test_committed_metrics_are_the_ones_dvc_lock_pins():
    """The metrics and plots kept in git (``cache: false``) hash to what dvc.lock records for
    them: a reviewer reading reports/*.json reads the pinned run's numbers."""
    import hashlib
    import subprocess

    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    tracked = set(
        subprocess.run(
            ["git", "ls-files", "reports"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    pinned = {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] in tracked
    }
    assert pinned, "no git-tracked output in dvc.lock"
    got = {p: hashlib.md5((ROOT / p).read_bytes()).hexdigest() for p in pinned}
    assert got == pinned
