"""The validation gate: checks, the parameter behind a failure, hints, and the gate deciding
what the registry serves (library and ``twinlab fit`` / ``validate-fit`` / ``models``)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import arviz as az
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.pkpd import diagnostics as dg
from twinlab.pkpd.fit import FitResult
from twinlab.pkpd.gate import HINTS, GateBounds, GateResult, validate
from twinlab.pkpd.registry import NotValidatedError, list_models, load

CHECKS = [
    "max_rhat_population",
    "max_rhat_individual",
    "min_ess_bulk",
    "divergences",
    "vpc_pi_coverage",
]
#: bounds the tiny fit (2 x 100 draws after 100 warm-up) meets on any machine: its short
#: warm-up may leave a divergence or two, depending on the CPU's floating point
LOOSE = GateBounds(max_rhat=1.2, max_rhat_individual=1.2, min_ess=20, max_divergences=5)
LOOSE_ARGS = [
    *("--max-rhat", "1.2", "--max-rhat-individual", "1.2"),
    *("--min-ess", "20", "--max-divergences", "5"),
]


def _with(result: FitResult, posterior=None, sample_stats=None) -> FitResult:
    """``result`` with its posterior or sampling statistics replaced."""
    idata = az.InferenceData(
        posterior=result.idata.posterior if posterior is None else posterior,
        sample_stats=result.idata.sample_stats if sample_stats is None else sample_stats,
    )
    return FitResult(result.spec, result.arrays, idata, result.sampler, {}, result.settings)


def _rhat(result: FitResult, name: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(az.rhat(result.idata.posterior[name])[name].max())


def test_every_check_has_its_value_bound_and_the_parameter_behind_it(tiny_fit):
    gate = validate(tiny_fit)
    assert [c.name for c in gate.checks] == CHECKS
    conv = dg.convergence(tiny_fit)
    by_name = {c.name: c for c in gate.checks}
    for name in ("max_rhat_population", "max_rhat_individual", "min_ess_bulk", "divergences"):
        assert by_name[name].value == pytest.approx(conv[name])
    assert by_name["vpc_pi_coverage"].value == dg.vpc(tiny_fit, n_sim=200, seed=0)["pi_coverage"]
    assert by_name["max_rhat_population"].bound == "<= 1.01"
    assert by_name["vpc_pi_coverage"].bound == "in [0.8, 0.99]"
    # the parameter named is the one whose R-hat is the population maximum (ArviZ, per variable)
    population = [
        str(v)
        for v in tiny_fit.idata.posterior.data_vars
        if str(v).startswith(("log_", "omega_", "beta_", "sigma_")) and not str(v).endswith("__")
    ]
    worst = max(population, key=lambda v: _rhat(tiny_fit, v))
    assert by_name["max_rhat_population"].parameter == worst
    assert by_name["max_rhat_individual"].parameter.startswith("z_")
    assert "[subject=" in by_name["max_rhat_individual"].parameter
    for check in gate.checks:
        assert (check.hint is None) == check.passed


def test_chains_that_disagree_on_an_effect_fail_the_gate_naming_it(tiny_fit):
    post = tiny_fit.idata.posterior.copy(deep=True)
    beta = post["beta_cl_crcl"].values
    beta[1] += 5 * beta.std()  # the second chain sits elsewhere
    gate = validate(_with(tiny_fit, posterior=post), bounds=LOOSE)
    assert not gate.passed
    failed = gate.failures[0]
    assert (failed.name, failed.parameter) == ("max_rhat_population", "beta_cl_crcl")
    assert failed.value > 1.5 and failed.hint == HINTS["max_rhat_population"]
    assert "more tune and draws" in failed.hint
    assert gate.describe().startswith("failed: max_rhat_population ")
    assert "at beta_cl_crcl" in gate.describe()
    text = str(gate)
    assert "FAIL  max_rhat_population" in text and "fix: chains disagree" in text
    assert gate.to_metrics()["failures"]["max_rhat_population"] == {
        "parameter": "beta_cl_crcl",
        "hint": failed.hint,
    }


def test_divergences_and_a_single_chain_fail_with_what_fixes_them(tiny_fit):
    stats = tiny_fit.idata.sample_stats.copy(deep=True)
    stats["diverging"].values[:] = False
    stats["diverging"].values[0, :3] = True
    strict = dataclasses.replace(LOOSE, max_divergences=0)
    gate = validate(_with(tiny_fit, sample_stats=stats), bounds=strict)
    (failed,) = gate.failures
    assert (failed.name, failed.value) == ("divergences", 3.0)
    assert "plot_pair" in failed.hint and "reparameterise" in failed.hint
    one = tiny_fit.idata.posterior.isel(chain=[0])
    single = validate(
        _with(tiny_fit, one, tiny_fit.idata.sample_stats.isel(chain=[0])), bounds=LOOSE
    )
    rhat = {c.name: c for c in single.failures}["max_rhat_population"]
    assert rhat.value is None and "at least 2 chains" in rhat.hint


def test_a_gate_within_its_bounds_passes_and_keeps_the_pipeline_metric_format(tiny_fit):
    gate = validate(tiny_fit, bounds=LOOSE)
    assert gate.passed and gate.failures == () and gate.describe() == "passed"
    metrics = json.loads(json.dumps(gate.to_metrics()))  # JSON-ready
    assert {
        "max_rhat_population",
        "max_rhat_individual",
        "min_ess_bulk",
        "divergences",
        "vpc_pi_coverage",
        "vpc_percentile_coverage",
        "bounds",
        "gates",
        "passed",
    } <= set(metrics)
    assert metrics["gates"] == dict.fromkeys(CHECKS, True) and metrics["failures"] == {}
    assert metrics["bounds"]["vpc_pi_coverage"] == [0.8, 0.99]
    assert GateResult.from_dict(json.loads(json.dumps(gate.to_dict()))) == gate
    assert validate(tiny_fit, bounds=LOOSE) == gate  # deterministic


def test_bounds_come_from_the_params_yaml_validate_section():
    params = yaml.safe_load(open("params.yaml"))["validate"]
    assert GateBounds.from_params(params) == GateBounds()  # the CLI's defaults are the demo's
    assert GateBounds.from_params({"max_rhat": 1.02}).max_rhat == 1.02
    with pytest.raises(ValueError, match="pi_coverage"):
        GateBounds(pi_coverage=(0.9, 0.8))
    with pytest.raises(ValueError, match="not a gate result"):
        GateResult.from_dict({"passed": True})


def test_the_gate_decides_what_the_cli_registers_as_served(tiny_study, tiny_fit, tmp_path):
    csv, spec = tiny_study
    out, root = tmp_path / "fit", tmp_path / "models"
    runner = CliRunner()
    settings = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "5"]
    settings += ["--target-accept", "0.9"]
    res = runner.invoke(
        cli,
        [
            "fit",
            *("--data", str(csv), "--model", str(spec), "--out", str(out)),
            *settings,
            *("--register", "tiny", "--root", str(root)),
        ],
    )
    assert res.exit_code == 0, res.output
    # every estimated quantity is printed, not only ka/CL/V
    for row in ("ka", "beta_cl_crcl", "omega2_cl", "cv_cl", "sigma_prop_conc", "94% HDI"):
        assert row in res.output
    assert "[fit] sampling 2 chains x (100 warm-up + 100 draws)" in res.output  # a log
    assert "registered tiny/1" in res.output and "not served until" in res.output
    with pytest.raises(NotValidatedError, match="tiny/1 has no validation gate result"):
        load("tiny", root=root)

    res = runner.invoke(
        cli,
        [
            "validate-fit",
            str(out),
            *LOOSE_ARGS,
            *("--register", "tiny", "--root", str(root)),
            *("--out", str(tmp_path / "validate.json")),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "recorded with tiny/1" in res.output and ": served" in res.output
    assert json.loads((tmp_path / "validate.json").read_text())["passed"] is True
    served = load("tiny", root=root)
    assert served.status == "passed"
    np.testing.assert_array_equal(
        served.result.idata.posterior["cl"].values, tiny_fit.idata.posterior["cl"].values
    )  # same seed, same draws: the CLI's fit is the fixture's

    # the demo's default bounds: the tiny fit fails, names the parameter, and is withdrawn
    res = runner.invoke(cli, ["validate-fit", str(out), "--register", "tiny", "--root", str(root)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    worst = validate(tiny_fit).failures[0]
    error = next(line for line in res.output.splitlines() if line.startswith("Error:"))
    assert error.startswith(f"Error: validation gate failed: {worst.name} ")
    assert f"at {worst.parameter}" in error and "fix: " in res.output
    assert [r["validation"] for r in list_models(root)] == ["failed"]
    with pytest.raises(NotValidatedError, match=f"failed its validation gate .*{worst.parameter}"):
        load("tiny", root=root)
    assert load("tiny", root=root, require_validated=False).status == "failed"
    card = json.loads(runner.invoke(cli, ["models", "show", "tiny", "--root", str(root)]).output)
    assert card["validation"]["gate"]["passed"] is False


def test_validate_fit_refuses_a_fit_that_is_not_registered_in_one_line(tiny_fit, tmp_path):
    tiny_fit.to_zarr(tmp_path / "fit" / "posterior.zarr")
    res = CliRunner().invoke(
        cli, ["validate-fit", str(tmp_path / "fit"), "--register", "nope", "--root", str(tmp_path)]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip() == (
        f"Error: no version of 'nope' under {tmp_path} holds this fit (0 registered): "
        "register it first (twinlab fit --register nope)"
    )
