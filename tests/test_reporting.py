"""What the reports show: summaries with reasons, whole tables with units, unclipped indices."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

from twinlab.notebooks import validate_parameters
from twinlab.reporting import (
    Check,
    Summary,
    Table,
    regimen_table,
    sobol_figure,
    sobol_warnings,
    trial_summary,
    trial_table,
)

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def test_summary_says_pass_or_which_checks_failed_and_why():
    checks = [Check("R-hat", True, "1.003 (bound <= 1.01)"), Check("note", None, "x")]
    ok = Summary("Fit", ran=["a model"], numbers=[("CL", 4.93, "L/h")], checks=checks)
    assert ok.passed and ok.verdict == "PASS"
    bad = Summary("Fit", checks=[Check("ESS", False, "80 (bound >= 100) – run longer chains")])
    assert not bad.passed and bad.verdict == "FAIL: ESS"
    html = bad._repr_html_()
    assert "FAIL: ESS" in html and "run longer chains" in html
    assert "CL: 4.930 L/h" in str(ok) and repr(ok) == str(ok)


def test_tables_are_whole_with_units_in_headers():
    frame = pd.DataFrame(np.arange(100 * 30, dtype=float).reshape(100, 30) / 7)
    frame.columns = [f"c{i}" for i in range(30)]
    table = Table(frame, {"c0": "mg/L", "c29": "h"}, digits=3)
    html = table._repr_html_()
    assert "…" not in html and "..." not in html
    assert "c0 (mg/L)" in html and "c29 (h)" in html and html.count("<tr") == 101
    assert table.labelled().iloc[1, 0] == "4.29"  # 30 / 7 to three significant digits
    mixed = Table(pd.DataFrame({"hint": [None, "raise n"], "value": [1.0031, None]}), digits=4)
    assert mixed.labelled().to_dict("list") == {"hint": ["", "raise n"], "value": ["1.003", ""]}


def _indices(st_cl: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "output": ["auc", "auc", "cmax", "cmax"],
            "parameter": ["cl", "v", "cl", "v"],
            "S1": [1.1, 0.0, 0.3, 0.6],
            "S1_conf": [0.05, 0.01, 0.05, 0.05],
            "ST": [st_cl, 0.001, 0.35, 0.62],
            "ST_conf": [0.05, 0.01, 0.05, 0.05],
        }
    )


def test_a_sobol_index_above_one_is_drawn_whole_and_warned_about():
    indices = _indices(1.18)
    warnings = sobol_warnings(indices)
    assert len(warnings) == 2 and "ST of cl on auc is 1.180" in warnings[1]
    assert "raise sensitivity.n" in warnings[0]
    fig = sobol_figure(indices)
    top = fig.axes[0].get_ylim()[1]
    assert top >= 1.18 + 0.05  # the index and its interval are inside the axis
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "1.180" in labels and "1.100" in labels
    assert sobol_warnings(_indices(0.9).assign(S1=[0.85, 0.0, 0.3, 0.6])) == []


def test_trial_summary_checks_type_i_error_against_alpha():
    block = {"power": {"T25": 0.8}, "type_i_error": {"T25": 0.051},
             "variance_reduction": {"T25": 0.1}}  # fmt: skip
    details = {
        "design": {
            "name": "d",
            "n_total": 60,
            "arms": [{"name": "P", "ratio": 1.0}, {"name": "T25", "ratio": 1.0}],
            "control": "P",
            "alpha": 0.05,
        },
        "n_replicates": 2000,
        "ancova": block,
        "procova": {**block, "type_i_error": {"T25": 0.09}},
        "dose": {"all": {"regimen": None, "probability": 0.5}},
    }
    summary = trial_summary(details)
    assert summary.verdict == "FAIL: type I error, procova, dose for all"
    assert "60 randomized (1:1 P/T25)" in summary.ran[0]
    assert list(trial_table(details).frame["analysis"]) == ["ancova", "procova"]


def test_regimen_table_has_one_row_per_arm_with_units():
    regimen = {"dose": 25.0, "interval_h": 24.0, "n_doses": 28, "duration_h": 672.0,
               "route": "oral"}  # fmt: skip
    run = {"scenario": {"arms": [{"name": "Placebo", "regimen": None},
                                 {"name": "T25", "regimen": regimen}]}}  # fmt: skip
    table = regimen_table(run)
    assert list(table.frame["arm"]) == ["Placebo", "T25"]
    assert "dose (mg)" in table.labelled().columns and "interval (h)" in table.labelled().columns


@pytest.mark.parametrize(
    ("notebook", "section"),
    [
        ("03_fit_report", "fit_report"),
        ("04_simulate_report", "simulate_report"),
        ("05_sensitivity_report", "sensitivity_report"),
        ("06_trial_report", "trial_report"),
    ],
)
def test_report_notebooks_accept_their_params_yaml_sections(notebook, section):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert (
        validate_parameters(ROOT / "notebooks" / f"{notebook}.ipynb", params.get(section) or {})
        is None
    )


@pytest.mark.parametrize(
    "module",
    ["twinlab.reporting", "twinlab.figures", "twinlab.pipeline.metrics", "twinlab.pkpd.fit_units"],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
