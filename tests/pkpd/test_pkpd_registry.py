"""Tests of the model registry and the ``twinlab models`` commands (no sampling: prior draws)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from repo_helpers import prior_fit

from twinlab.cli import cli
from twinlab.pkpd.fit import FitResult, open_fit
from twinlab.pkpd.gate import GateBounds, GateResult, validate
from twinlab.pkpd.registry import (
    NotValidatedError,
    data_hash,
    find_version,
    list_models,
    load,
    model_card,
    posterior_hash,
    record_validation,
    register,
)

#: bounds a 2 x 25 draw prior-draw "posterior" meets (its own checks are the gate's tests')
LOOSE = GateBounds(max_rhat=1.5, max_rhat_individual=1.5, min_ess=5, pi_coverage=(0.0, 1.0))


@pytest.fixture(scope="module")
def result() -> FitResult:
    """A tiny seeded 'posterior' (prior draws, 2 chains x 25 draws) – no compilation."""
    return prior_fit()


def test_register_then_load_round_trips_and_versions_increment(tmp_path, result):
    csv = tmp_path / "data.csv"
    csv.write_text("ID,TIME\n1,0\n")
    first = register(
        result, "theo", root=tmp_path / "models", data=csv, validation={"recovery": True}
    )
    second = register(result, "theo", root=tmp_path / "models")
    assert (first.version, second.version) == (1, 2)
    for f in ("posterior.zarr", "spec.yaml", "data_hash", "diagnostics.json", "card.json"):
        assert (first.path / f).exists()
    card = json.loads((first.path / "card.json").read_text())
    assert {
        "name",
        "version",
        "data_hash",
        "spec",
        "summary",
        "validation",
        "twinlab_version",
    } <= set(card)
    assert "created" not in card  # the audit log records when; the card stays reproducible
    assert card["data_hash"] == data_hash(csv) == (first.path / "data_hash").read_text().strip()
    assert card["validation"] == {"recovery": True}
    latest = load("theo", root=tmp_path / "models", require_validated=False)
    assert latest.version == 2
    again = load("theo", 1, root=tmp_path / "models", require_validated=False)
    np.testing.assert_array_equal(
        again.result.idata.posterior["cl"].values, result.idata.posterior["cl"].values
    )
    np.testing.assert_array_equal(again.result.arrays.obs_dv, result.arrays.obs_dv)
    assert again.result.spec == result.spec
    assert [(r["name"], r["version"]) for r in list_models(tmp_path / "models")] == [
        ("theo", 1),
        ("theo", 2),
    ]


def test_load_unknown_name_or_version_raises_key_error(tmp_path, result):
    with pytest.raises(KeyError, match="no model"):
        load("nope", root=tmp_path)
    register(result, "m", root=tmp_path)
    with pytest.raises(KeyError, match="no version 7"):
        load("m", 7, root=tmp_path, require_validated=False)
    with pytest.raises(ValueError, match="invalid model name"):
        register(result, "../evil", root=tmp_path)


def test_fit_result_zarr_round_trip_keeps_summary(tmp_path, result):
    result.to_zarr(tmp_path / "p.zarr")
    back = open_fit(tmp_path / "p.zarr")
    assert back.summary()["parameters"] == result.summary()["parameters"]
    assert back.arrays.covariates.keys() == result.arrays.covariates.keys()


def test_models_cli_lists_and_shows_with_clean_errors(tmp_path, result):
    register(result, "theo", root=tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["models", "list", "--root", str(tmp_path)])
    assert out.exit_code == 0 and "theo\t1\tpk_1cmt_oral" in out.output
    assert out.output.rstrip().endswith("\tnot validated")
    out = runner.invoke(cli, ["models", "list", "--root", str(tmp_path), "--json"])
    assert json.loads(out.output)[0]["version"] == 1
    out = runner.invoke(cli, ["models", "show", "theo", "--root", str(tmp_path)])
    assert out.exit_code == 0 and json.loads(out.output)["name"] == "theo"
    out = runner.invoke(cli, ["models", "show", "missing", "--root", str(tmp_path)])
    assert out.exit_code == 2 and "Error: no model 'missing'" in out.output
    assert "Traceback" not in out.output


def test_an_unvalidated_version_is_refused_for_serving_but_opens_for_modelers(tmp_path, result):
    register(result, "twin", root=tmp_path)
    with pytest.raises(NotValidatedError, match="twin/1 has no validation gate result") as info:
        load("twin", root=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "require_validated=False" in message
    assert "twinlab validate-fit" in message
    assert isinstance(info.value, ValueError)  # the CLI's and the apps' one-line errors
    opened = load("twin", root=tmp_path, require_validated=False)
    assert opened.status == "not validated" and opened.gate is None


def test_a_recorded_gate_decides_whether_the_version_is_served(tmp_path, result):
    register(result, "twin", root=tmp_path)
    passed = validate(result, bounds=LOOSE)
    assert passed.passed
    card = record_validation(passed, "twin", 1, root=tmp_path)
    assert card["validation"]["gate"]["passed"] is True
    assert load("twin", root=tmp_path).status == "passed"
    assert model_card("twin", root=tmp_path)["validation"]["gate"] == passed.to_dict()
    # the version folder is never rewritten: the record lies beside it
    assert json.loads((tmp_path / "twin" / "1" / "card.json").read_text())["validation"] == {}
    assert (tmp_path / ".gate" / "twin" / "1.json").is_file()
    # re-gated with stricter bounds: the latest record decides
    strict = validate(result, bounds=GateBounds(max_rhat=1.0001, min_ess=10_000))
    record_validation(strict, "twin", root=tmp_path)
    with pytest.raises(NotValidatedError, match=r"failed its validation gate \(max_rhat") as info:
        load("twin", root=tmp_path)
    worst = strict.failures[0].parameter
    assert worst and worst in str(info.value)
    assert [r["validation"] for r in list_models(tmp_path)] == ["failed"]


def test_a_gate_given_at_registration_is_on_the_card(tmp_path, result):
    gate = validate(result, bounds=LOOSE)
    entry = register(result, "twin", root=tmp_path, validation=gate)
    assert entry.status == "passed" and entry.card["validation"]["gate"] == gate.to_dict()
    assert load("twin", root=tmp_path).gate == GateResult.from_dict(gate.to_dict())
    with pytest.raises(ValueError, match="not a gate result"):
        register(result, "twin", root=tmp_path, validation={"gate": {"passed": True}})


def test_a_record_of_a_former_fit_does_not_vouch_for_a_new_one(tmp_path, result):
    register(result, "twin", root=tmp_path)
    record_validation(validate(result, bounds=LOOSE), "twin", root=tmp_path)
    # the registry is rebuilt (as the pipeline's fit stage does) with another fit as version 1
    other = prior_fit(seed=32)
    shutil.rmtree(tmp_path / "twin")
    register(other, "twin", root=tmp_path)
    assert posterior_hash(other) != posterior_hash(result)
    with pytest.raises(NotValidatedError, match="no validation gate result"):
        load("twin", root=tmp_path)


def test_find_version_locates_the_registered_copy_of_a_fit_folder(tmp_path, result):
    other = prior_fit(seed=33)
    register(result, "twin", root=tmp_path / "models")
    register(other, "twin", root=tmp_path / "models")
    result.to_zarr(tmp_path / "fit" / "posterior.zarr")
    assert posterior_hash(open_fit(tmp_path / "fit" / "posterior.zarr")) == posterior_hash(result)
    assert find_version(tmp_path / "fit", "twin", root=tmp_path / "models") == 1
    assert find_version(other, "twin", root=tmp_path / "models") == 2
    with pytest.raises(KeyError, match=r"no version of .twin.*register it first"):
        find_version(prior_fit(seed=34), "twin", root=tmp_path / "models")


def test_models_show_prints_the_recorded_gate(tmp_path, result):
    register(result, "twin", root=tmp_path)
    record_validation(validate(result, bounds=LOOSE), "twin", root=tmp_path)
    out = CliRunner().invoke(cli, ["models", "show", "twin", "--root", str(tmp_path)])
    assert out.exit_code == 0, out.output
    card = json.loads(out.output)
    assert card["validation"]["gate"]["passed"] is True
    assert {c["name"] for c in card["validation"]["gate"]["checks"]} == {
        "max_rhat_population",
        "max_rhat_individual",
        "min_ess_bulk",
        "divergences",
        "vpc_pi_coverage",
    }
    out = CliRunner().invoke(cli, ["models", "list", "--root", str(tmp_path)])
    assert out.output.rstrip().endswith("\tpassed")
