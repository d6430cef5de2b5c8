"""The modelling stages' building blocks and commands (the whole chain runs in test_pipeline)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.pipeline.scenario import regimen_arms, time_grid
from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.simulate.lineage import trace_virtual_patient
from twinlab.virtual import KnownPopulation


def test_time_grid_from_a_list_or_a_range_with_its_end_included():
    assert time_grid([0, 1.5, 3]).tolist() == [0.0, 1.5, 3.0]
    assert time_grid({"start": 0, "stop": 672, "step": 4}).size == 169
    assert time_grid({"stop": 10, "step": 4}).tolist() == [0.0, 4.0, 8.0]


@pytest.mark.parametrize(
    "spec, match",
    [({"start": 0, "stop": 5}, "step"), ({"stop": 5, "step": 0}, "step > 0"), ({"x": 1}, "give")],
)
def test_bad_time_grids_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        time_grid(spec)


def test_regimen_arms_share_defaults_and_read_dose_zero_as_placebo():
    arms = regimen_arms(
        {
            "Placebo": {"dose": 0},
            "T100": {"dose": 100},
            "T200 BID": {"dose": 100, "interval_h": 12},
        },
        {"interval_h": 24, "duration_h": 48},
    )
    assert [a.is_placebo for a in arms] == [True, False, False]
    assert arms[1].regimen.dose_times == [0.0, 24.0]
    assert arms[2].regimen.dose_times == [0.0, 12.0, 24.0, 36.0]


@pytest.mark.parametrize(
    "arms, match",
    [({}, "at least one arm"), ({"A": {"dose": 1, "often": 2}}, "unknown regimen fields")],
)
def test_bad_arms_are_refused_with_what_is_known(arms, match):
    with pytest.raises(ValueError, match=match):
        regimen_arms(arms)


def test_virtual_patient_lineage_names_its_covariates_and_draws(tmp_path):
    import pandas as pd

    covariates = pd.DataFrame({"WT": [60.0, 80.0, 100.0]})
    pop = KnownPopulation(
        "pk_1cmt_oral", {"ka": 1.0, "cl": [2.0, 3.0, 4.0], "v": 30.0}, covariates=covariates
    )
    scenario = Scenario("s", pop, [Arm("qd", Regimen(50.0, n_doses=2))], np.arange(0, 49.0), seed=3)
    run(scenario, out=tmp_path)
    trace = trace_virtual_patient("VP-2", tmp_path)
    assert trace["vpid"] == "VP-2" and trace["covariates"] == {"WT": 100.0}
    assert trace["source"] == "" and trace["posterior_draws"] == {0: -1}
    assert trace["seed"] == 3 and trace["population"]["model"] == "pk_1cmt_oral"
    with pytest.raises(KeyError, match="no virtual patient VP-7"):
        trace_virtual_patient(7, tmp_path)


@pytest.mark.parametrize("command", ["simulate", "sensitivity", "surrogate", "trial"])
def test_stage_commands_name_a_missing_section(command, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 1}))
    result = CliRunner().invoke(cli, [command, "--params", str(params)])
    assert result.exit_code == 2
    assert "has no" in result.output and "section" in result.output
    assert "Traceback" not in result.output


def test_a_stage_refuses_a_twin_that_has_not_passed_its_gate_in_one_line(tmp_path):
    from repo_helpers import prior_fit

    from twinlab.pkpd.registry import register

    register(prior_fit(), "twin", root=tmp_path / "models")  # fitted, never gated
    section = {
        "model": "twin",
        "models_root": "models",
        "timeline_dir": "data/harmonized/x",
        "n_patients": 10,
        "times": [0, 24],
        "arms": {"Placebo": {"dose": 0}},
        "out": "results/x",
    }  # a complete, valid section: the gate is what refuses it
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 1, "simulate": section}))
    result = CliRunner().invoke(cli, ["simulate", "--params", str(params), "--no-progress"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: model twin/1 has no validation gate result: it is not served")


def test_a_virtual_patient_needs_the_simulation_folder(tmp_path):
    result = CliRunner().invoke(cli, ["lineage", "VP-1", "--timeline", str(tmp_path)])
    assert result.exit_code == 2 and "--result" in result.output


def test_a_simulation_is_audited_with_its_scenario_and_sizes(tmp_path, monkeypatch):
    from twinlab.audit import verify

    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(log))
    pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": [2.0, 3.0], "v": 30.0})
    run(Scenario("audited", pop, [Arm("qd", Regimen(50.0))], np.arange(0, 25.0), seed=5))
    entry, checkpoint = [json.loads(line) for line in log.read_text().splitlines()]
    assert checkpoint["action"] == "audit.checkpoint"  # the head is signed
    assert entry["action"] == "simulate.run" and entry["target"] == "audited"
    assert entry["params"]["scenario"]["seed"] == 5
    assert entry["new"]["sizes"]["n_patients"] == 2
    assert verify(log).ok
