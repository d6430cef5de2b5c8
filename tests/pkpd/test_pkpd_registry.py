"""Tests of the model registry and the ``twinlab models`` commands (no sampling: prior draws)."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from click.testing import CliRunner

from twinlab.pkpd.cli import models
from twinlab.pkpd.fit import FitResult, open_fit
from twinlab.pkpd.population import PopulationSpec, build_model, simulated_study
from twinlab.pkpd.registry import data_hash, list_models, load, register


@pytest.fixture(scope="module")
def result() -> FitResult:
    """A tiny seeded 'posterior' (prior draws, 2 chains x 25 draws) – no compilation."""
    spec = PopulationSpec.from_dict(
        {"model": "pk_1cmt_oral", "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0}}
    )
    arrays, _ = simulated_study(spec, {"ka": 1.0, "cl": 3.0, "v": 30.0}, n_subjects=4, seed=31)
    model, _ = build_model(spec, arrays)
    with model:
        prior = pm.sample_prior_predictive(draws=50, random_seed=31).prior
    post = xr.Dataset(
        {
            k: (("chain", "draw", *v.dims[2:]), v.values.reshape(2, 25, *v.shape[2:]))
            for k, v in prior.data_vars.items()
        }
    )
    post = post.assign_coords(
        {d: prior.coords[d] for d in prior.dims if d not in ("chain", "draw")}
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 25), bool))})
    idata = az.InferenceData(posterior=post, sample_stats=stats)
    return FitResult(
        spec,
        arrays,
        idata,
        "nutpie",
        {"total_s": 1.0},
        {"draws": 25, "tune": 0, "chains": 2, "seed": 31},
    )


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
    latest = load("theo", root=tmp_path / "models")
    assert latest.version == 2
    again = load("theo", 1, root=tmp_path / "models")
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
        load("m", 7, root=tmp_path)
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
    out = runner.invoke(models, ["list", "--root", str(tmp_path)])
    assert out.exit_code == 0 and "theo\t1\tpk_1cmt_oral" in out.output
    out = runner.invoke(models, ["list", "--root", str(tmp_path), "--json"])
    assert json.loads(out.output)[0]["version"] == 1
    out = runner.invoke(models, ["show", "theo", "--root", str(tmp_path)])
    assert out.exit_code == 0 and json.loads(out.output)["name"] == "theo"
    out = runner.invoke(models, ["show", "missing", "--root", str(tmp_path)])
    assert out.exit_code == 1 and "Error: no model 'missing'" in out.output
    assert "Traceback" not in out.output
