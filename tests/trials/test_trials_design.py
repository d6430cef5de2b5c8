"""Designs: dict round trip, validation messages, allocation, inclusion criteria."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest
from conftest import potential_outcomes

import twinlab.trials.analytic
import twinlab.trials.design
import twinlab.trials.dose
import twinlab.trials.ols
import twinlab.trials.prognostic
from twinlab.trials import ArmSpec, Design, Endpoint, evaluate_criteria, simulate_trials

BASE = {
    "arms": [{"name": "placebo", "ratio": 1}, {"name": "100 mg", "ratio": 2}],
    "n_total": 90,
    "endpoint": {"kind": "change", "column": "effect_end", "baseline": "effect_baseline",
                 "better": "lower"},
    "alpha": 0.025,
    "sided": 1,
    "dropout": 0.1,
    "outcome_sd": 0.5,
    "inclusion": ["WT >= 50", "CRCL > 30 and CYP2C9 in ['*1/*1', '*1/*2']"],
    "success_delta": 0.5,
    "enrolment_per_month": 15,
    "followup_months": 1,
}  # fmt: skip


def test_design_round_trips_through_a_json_dict():
    design = Design.from_dict(BASE)
    data = json.loads(json.dumps(design.to_dict()))
    assert Design.from_dict(data) == design
    assert design.arm_sizes == {"placebo": 30, "100 mg": 60}
    assert design.covariates == ("effect_baseline",)
    assert design.comparisons == ["100 mg"]
    assert design.duration_months == pytest.approx(90 / 15 + 1)


def test_arms_can_be_names_a_mapping_or_specs():
    by_name = Design(arms=["a", "b"], n_total=10, endpoint=Endpoint("continuous", "y"))
    by_map = Design.from_dict({"arms": {"a": 1, "b": 1}, "n_total": 10,
                               "endpoint": {"kind": "continuous", "column": "y"}})  # fmt: skip
    by_spec = Design(arms=(ArmSpec("a"), ArmSpec("b")), n_total=10,
                     endpoint=Endpoint("continuous", "y"))  # fmt: skip
    assert by_name == by_map == by_spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"analysis": "bayes"}, "analysis must be one of"),
        ({"typo": 1}, "unknown design key"),
        ({"control": "nope"}, "control arm 'nope'"),
        ({"n_total": 3}, "at least 2 participants"),
        ({"n_total": 10.5}, "n_total must be an integer"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"alpha": "five percent"}, "alpha must be a number"),
        ({"n_total": None}, "n_total must be a number"),
        ({"dropout": [0.1]}, "dropout must be a number"),
        ({"draw": 1.5}, "draw must be an integer"),
        ({"replace": "yes"}, "replace must be true or false"),
        ({"sided": 3}, "sided must be one of"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"arms": ["only"]}, "at least two arms"),
        ({"arms": {"a": 1, "b": -1}}, "must be > 0"),
        ({"endpoint": {"kind": "change", "column": "y"}}, "needs baseline"),
        ({"endpoint": {"kind": "continuous", "column": "y", "baseline": "b"}}, "no baseline"),
        (
            {"endpoint": {"kind": "safety", "column": "cmax", "baseline": "b", "threshold": 1}},
            "no baseline",
        ),
        ({"endpoint": {"kind": "continuous", "column": "y", "fill": "x"}}, "fill must be a finite"),
        ({"endpoint": {"kind": "responder", "column": "y"}}, "needs a finite threshold"),
        (
            {"endpoint": {"kind": "responder", "column": "y", "threshold": "high"}},
            "needs a finite threshold",
        ),
        ({"endpoint": {"kind": "slope", "column": "y"}}, "endpoint kind must be one of"),
        ({"endpoint": {"kind": "continuous", "column": "y", "colour": 1}}, "unknown endpoint"),
        ({"analysis": "difference", "covariates": ["WT"]}, "takes no covariates"),
        ({"inclusion": ["__import__('os').system('ls')"]}, "uses Call"),
        ({"inclusion": ["WT >="]}, "not a valid expression"),
        ({"multiplicity": "holm"}, "multiplicity must be one of"),
        ({"success_delta": -1}, "success_delta must be >= 0"),
    ],
)
def test_invalid_designs_fail_with_a_message_naming_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        Design.from_dict({**BASE, **change})


def test_default_endpoint_is_the_engines_change_from_baseline():
    d = Design(arms=["placebo", "100 mg QD"], n_total=20)
    assert d.endpoint.columns() == ["effect_end", "effect_baseline"]
    assert d.covariates == ("effect_baseline",)
    assert d.replace_with(analysis="difference").covariates == ()


def test_allocation_follows_the_ratio_with_largest_remainders():
    d = Design.from_dict({**BASE, "arms": {"p": 1, "low": 1, "high": 1}, "n_total": 100})
    assert d.arm_sizes == {"p": 34, "low": 33, "high": 33}
    assert d.comparisons == ["low", "high"]
    assert Design.from_dict({**d.to_dict(), "multiplicity": "bonferroni"}).test_alpha == 0.0125


def test_inclusion_criteria_select_the_rows_they_describe():
    t = pd.DataFrame({"WT": [40.0, 60, 80, 100], "G": ["*1/*1", "*2/*2", "*1/*1", "*1/*2"]})
    mask = evaluate_criteria(t, ["WT >= 50", "G in ['*1/*1', '*1/*2']"])
    assert mask.tolist() == [False, False, True, True]
    assert evaluate_criteria(t, ["not (WT < 70) or WT * 2 == 80"]).tolist() == [
        True, False, True, True,
    ]  # fmt: skip
    with pytest.raises(KeyError, match="unknown column"):
        evaluate_criteria(t, ["CRCL > 30"])


def test_simulation_input_errors_are_clear():
    table = potential_outcomes(200, seed=0)
    design = Design(arms=["placebo", "active"], n_total=40, endpoint=Endpoint("continuous", "y"))
    with pytest.raises(KeyError, match="arm\\(s\\) \\['ghost'\\] not in the outcomes"):
        simulate_trials(design.replace_with(arms=["placebo", "ghost"]), table,
                        n_replicates=10, seed=1)  # fmt: skip
    with pytest.raises(KeyError, match="column\\(s\\) \\['nope'\\]"):
        simulate_trials(design.replace_with(endpoint={"kind": "continuous", "column": "nope"}),
                        table, n_replicates=10, seed=1)  # fmt: skip
    with pytest.raises(ValueError, match="needs prognostic="):
        simulate_trials(design.replace_with(analysis="procova"), table, n_replicates=10, seed=1)
    with pytest.raises(ValueError, match="set replace=True"):
        simulate_trials(design.replace_with(n_total=400), table, n_replicates=10, seed=1)
    with pytest.raises(ValueError, match="no virtual patient meets"):
        simulate_trials(design.replace_with(inclusion=["WT > 1000"]), table,
                        n_replicates=10, seed=1)  # fmt: skip
    with pytest.raises(KeyError, match="unknown column"):
        simulate_trials(design.replace_with(inclusion=["CRCL > 1"]), table,
                        n_replicates=10, seed=1)  # fmt: skip
    # with replacement a small population still serves a large trial
    big = simulate_trials(design.replace_with(n_total=400, replace=True), table,
                          n_replicates=10, seed=1)  # fmt: skip
    assert np.isfinite(big.replicates["estimate"]).all()


@pytest.mark.parametrize(
    "module",
    [
        twinlab.trials.analytic,
        twinlab.trials.design,
        twinlab.trials.dose,
        twinlab.trials.ols,
        twinlab.trials.prognostic,
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
