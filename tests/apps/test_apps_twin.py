"""The what-if's project defaults come from params.yaml through the pipeline's one parser
(twinlab.pipeline.params), not a reading of its own (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twinlab.apps.twin import project_defaults
from twinlab.apps.whatif import WhatIf
from twinlab.config import ConfigError
from twinlab.pipeline.params import load_pipeline_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("which", ["fixture", "repository"])
def test_defaults_are_the_checked_sections_values(project, which):
    root = project if which == "fixture" else ROOT
    params = load_pipeline_params(root / "params.yaml")
    simulate, trial = params.section("simulate"), params.section("trial")
    assert project_defaults(root) == {
        "cohort": simulate.timeline_dir,
        "pd_spec": simulate.pd_spec,
        "seed": params.seed,
        "n_draws": simulate.n_draws,
        "design": trial.design,
        "procova": trial.procova.to_dict(),
    }


def test_a_params_yaml_the_pipeline_refuses_is_refused_with_the_same_line(project, tmp_path):
    data = yaml.safe_load((project / "params.yaml").read_text())
    data["simulate"]["n_draw"] = 10  # typo of n_draws
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as pipeline:
        load_pipeline_params(tmp_path / "params.yaml")
    assert "unknown key 'n_draw' (did you mean 'n_draws'?)" in str(pipeline.value)
    with pytest.raises(ConfigError) as defaults:
        project_defaults(tmp_path)
    assert str(defaults.value) == str(pipeline.value)
    assert "\n" not in str(defaults.value)


def test_without_params_yaml_the_only_harmonized_study_is_the_cohort(tmp_path):
    assert project_defaults(tmp_path) == {
        "cohort": None, "pd_spec": None, "seed": None, "n_draws": None, "design": {},
        "procova": {},
    }  # fmt: skip
    study = tmp_path / "data" / "harmonized" / "s1"
    study.mkdir(parents=True)
    (study / "patients.parquet").write_bytes(b"")
    assert project_defaults(tmp_path)["cohort"] == "data/harmonized/s1"
    (tmp_path / "data" / "harmonized" / "s2").mkdir()
    (tmp_path / "data" / "harmonized" / "s2" / "patients.parquet").write_bytes(b"")
    assert project_defaults(tmp_path)["cohort"] is None  # two studies: the user chooses
    (tmp_path / "params.yaml").write_text("seed: 3\n")
    assert project_defaults(tmp_path)["seed"] == 3


def test_the_what_if_starts_from_the_simulate_and_trial_sections(project):
    w = WhatIf(root=str(project), n_patients=100)
    params = load_pipeline_params(project / "params.yaml")
    simulate, trial = params.section("simulate"), params.section("trial")
    assert (w.cohort, w.pd_spec, w.seed, w.n_draws) == (
        simulate.timeline_dir, simulate.pd_spec, params.seed, simulate.n_draws,
    )  # fmt: skip
    assert (w.outcome_sd, w.dropout) == (trial.design["outcome_sd"], trial.design["dropout"])
