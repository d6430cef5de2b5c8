"""Every configuration is checked up front (issue 15): params.yaml sections, model specs and
command options are refused with one line that says where and what to write, never run
with a typo and never a traceback."""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.config import ConfigError
from twinlab.pipeline import (
    HarmonizeParams,
    PipelineParams,
    SimulateParams,
    load_pipeline_params,
    utc_offset,
)
from twinlab.pipeline.scenario import regimen_arms
from twinlab.pkpd import PopulationSpec

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture(scope="module")
def repo_params() -> dict:
    return yaml.safe_load(REPO_PARAMS.read_text())


def _one_line_error(result) -> str:
    """The single ``Error:`` line of a failed command (no traceback, nothing else)."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ")
    return line


def _invoke(tmp_path: Path, params: dict | str, *args: str):
    file = tmp_path / "params.yaml"
    file.write_text(params if isinstance(params, str) else yaml.safe_dump(params))
    argv = [a.replace("PARAMS", str(file)) for a in args]
    return CliRunner().invoke(cli, argv)


def test_the_repositorys_params_load_cleanly_with_the_values_as_written(repo_params):
    every = load_pipeline_params(REPO_PARAMS)
    assert every.seed == repo_params["seed"]
    assert set(every.sections) == {
        "generate", "harmonize", "fit", "validate", "simulate", "sensitivity", "surrogate",
        "trial",
    }  # fmt: skip
    assert "simulate_report" in every.other  # notebook sections: checked by their notebook
    # checked, not converted: what the stages see is what params.yaml says
    for name, section in every.sections.items():
        values = section.to_dict()
        assert {k: values[k] for k in repo_params[name]} == repo_params[name], name
    bounds = every.section("validate").gate_bounds()
    assert (bounds.max_rhat, bounds.pi_coverage) == (1.01, (0.80, 0.99))
    sim = every.section("simulate")
    assert sim.arm_mappings()["T100"] == {"dose": 100}
    assert sim.cohort_params().criteria == "CRCL >= 30"
    assert every.dask.address is None and every.dask.n_workers == 2


def test_a_typod_arm_key_is_refused_not_simulated_as_placebo(tmp_path, repo_params):
    params = copy.deepcopy(repo_params)
    params["simulate"]["arms"]["T100"] = {"dose_mg": 100}
    line = _one_line_error(_invoke(tmp_path, params, "simulate", "--params", "PARAMS"))
    assert "simulate.arms.T100: unknown key 'dose_mg' (did you mean 'dose'?)" in line
    assert "known keys: dose, interval_h" in line
    # the library function refuses it too, instead of reading a missing dose as placebo
    with pytest.raises(ValueError, match=r"unknown regimen fields \['dose_mg'\]"):
        regimen_arms({"T100": {"dose_mg": 100}})


@pytest.mark.parametrize("command", ["simulate", "sensitivity", "surrogate", "trial"])
def test_an_unknown_key_anywhere_stops_every_stage_listing_the_known_ones(
    command, tmp_path, repo_params
):
    params = copy.deepcopy(repo_params)
    params["simulate"]["n_patinets"] = 10
    line = _one_line_error(_invoke(tmp_path, params, command, "--params", "PARAMS"))
    assert "simulate: unknown key 'n_patinets' (did you mean 'n_patients'?)" in line
    assert "known keys: timeline_dir, model, n_patients" in line


def test_a_params_file_that_is_not_yaml_is_one_line_with_its_place(tmp_path):
    broken = "seed: 1\nsimulate:\n  arms: {T100: {dose: 100}\n  out: x\n"
    for command in (["simulate", "--params", "PARAMS"], ["synth", "--params", "PARAMS"]):
        line = _one_line_error(_invoke(tmp_path, broken, *command))
        assert "is not valid YAML at line 4" in line


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("same_fact_hours", "a day", "harmonize.same_fact_hours: must be a number, got 'a day'"),
        ("same_fact_hours", -1, "harmonize.same_fact_hours: must be >= 0"),
        ("genes", 5, "harmonize.genes: must be a list of text"),
        ("site_utc_offsets", {"101": "EST"}, "'EST' is not a UTC offset; write a fixed offset"),
        ("site_utc_offsets", {"101": "+25:00"}, "'+25:00' is not a UTC offset"),
        ("sites", {}, "harmonize: unknown key 'sites'"),
    ],
)
def test_bad_harmonize_settings_stop_ingest_before_reading(
    tmp_path, repo_params, key, value, expected
):
    params = copy.deepcopy(repo_params)
    params["harmonize"][key] = value
    raw = tmp_path / "raw"
    raw.mkdir()
    out = tmp_path / "out"
    line = _one_line_error(
        _invoke(tmp_path, params, "ingest", str(raw), "--out", str(out), "--params", "PARAMS")
    )
    assert expected in line
    assert not out.exists()


def test_the_typed_sections_take_every_setting_of_the_library_configs():
    """A field added to SynthConfig or HarmonizeConfig must be added to its section too."""
    from dataclasses import fields

    from twinlab.harmonize import HarmonizeConfig
    from twinlab.pipeline import GenerateParams
    from twinlab.synth import SynthConfig

    paths = {"sources", "out", "raw_zone"}  # where the stage reads and writes
    assert {f.name for f in fields(HarmonizeConfig)} == set(HarmonizeParams.known_keys()) - paths
    assert {f.name for f in fields(SynthConfig)} == set(GenerateParams.known_keys()) - {"study"}
    flagged = HarmonizeParams.from_mapping({"implausible": "flag", "free_text": {"fhir": "scrub"}})
    assert flagged.harmonize_config().implausible == "flag"
    with pytest.raises(ConfigError, match=r"harmonize\.free_text\.fhir: must be one of 'scrub'"):
        HarmonizeParams.from_mapping({"free_text": {"fhir": "keep"}})


def test_the_age_reference_is_a_date():
    section = HarmonizeParams.from_mapping({"age_reference": "2026-12-01"})
    assert section.harmonize_config().age_reference == "2026-12-01"
    with pytest.raises(ConfigError, match=r"harmonize: age_reference '1/12/2026' is not a date"):
        HarmonizeParams.from_mapping({"age_reference": "1/12/2026"})
    with pytest.raises(ConfigError, match=r"harmonize\.age_reference: must be.*'2026-12-01'"):
        HarmonizeParams.from_mapping({"age_reference": dt.date(2026, 12, 1)})  # YAML, unquoted


@pytest.mark.parametrize(
    "given, expected",
    [("-05:00", "-05:00"), ("-0500", "-05:00"), ("+0530", "+05:30"), ("-08", "-08:00"),
     ("-5:00", "-05:00"), ("Z", "+00:00"), ("UTC", "+00:00")],
)  # fmt: skip
def test_site_offsets_are_normalized_to_the_form_the_harmonizer_reads(given, expected):
    assert utc_offset(given) == expected
    section = HarmonizeParams.from_mapping({"site_utc_offsets": {101: given}})
    assert section.harmonize_config().site_utc_offsets == {"101": expected}


@pytest.mark.parametrize("zone", ["EST", "America/New_York", "5", "-5:0", "-050", ""])
def test_zone_names_and_malformed_offsets_say_what_to_write(zone):
    with pytest.raises(ConfigError, match=r"write a fixed offset such as '-05:00'"):
        utc_offset(zone, where="harmonize.site_utc_offsets.101")


def test_negative_workers_are_refused_by_the_command_line(tmp_path):
    result = CliRunner().invoke(
        cli, ["ingest", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "-3"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "-3 is not in the range x>=0" in result.output


def test_more_workers_than_the_machine_can_start_are_refused(tmp_path, monkeypatch):
    # '--workers 99999999999' started worker processes until the system killed the command
    import twinlab.cli.data

    def never(*args, **kwargs):  # the stage must not start (and this test not fork a horde)
        raise AssertionError("the stage ran")

    monkeypatch.setattr(twinlab.cli.data, "run_stage", never)
    result = CliRunner().invoke(
        cli, ["ingest", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "99999999999"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "99999999999 worker processes for" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("simulate", "n_patients"), -3, "simulate.n_patients: must be >= 1, got -3"),
        (("simulate", "n_patients"), True, "simulate.n_patients: must be an integer"),
        (("simulate", "n_patients"), 1.5, "simulate.n_patients: must be an integer"),
        (("simulate", "method"), "copulla", "must be one of 'resample', 'copula', got 'copulla' "
         "(did you mean 'copula'?)"),
        (("simulate", "threshold_mg_l"), math.nan, "must be a finite number, got nan"),
        (("simulate", "times"), {"stop": 10}, "simulate.times.step: is required"),
        (("simulate", "arms"), {}, "simulate: arms: give at least one arm"),
        (("sensitivity", "ranges"), {"ka": [2.0, 1.0]}, "sensitivity: ranges.ka must be [low,"),
        (("sensitivity", "method"), "morris", "sensitivity: method morris needs trajectories"),
        (("simulate", "times"), {"start": 5, "stop": 1, "step": 1}, "simulate.times: stop must be"),
        (("surrogate", "doses"), [25, -50], "surrogate.doses[1]: must be > 0"),
        (("trial", "dose"), {"metric": "x", "target": 6, "direction": "=<"}, "did you mean"),
        (("trial", "procova", "planning"), "rho", "must be one of 'ancova', 'min_rho'"),
        (("validate", "max_rhat"), 0.9, "validate.max_rhat: must be >= 1"),
        (("dask", "n_workers"), 0, "dask.n_workers: must be >= 1"),
        (("dask", "address"), "scheduler:8786", "tls://scheduler:8786"),
        (("dask", "tls_ca_file"), "ca.pem", "dask: give tls_ca_file, tls_cert_file and tls_key"),
        (("seed",), "x", "seed must be an integer >= 0"),
    ],
)  # fmt: skip
def test_wrong_types_and_values_are_refused_naming_the_key(repo_params, path, value, expected):
    params = copy.deepcopy(repo_params)
    target = params
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        PipelineParams.from_mapping(params)
    message = str(err.value)
    assert message.startswith("params.yaml: ") and expected in message
    assert "\n" not in message


def test_a_stage_called_from_a_notebook_checks_its_mapping_too(repo_params):
    from twinlab.pipeline.scenario import scenario_from_params

    section = {**repo_params["simulate"], "arms": {"T100": {"dose_mg": 100}}}
    with pytest.raises(ConfigError, match="did you mean 'dose'"):
        scenario_from_params(section, seed=1)
    assert SimulateParams.from_mapping(repo_params["simulate"]).n_draws == 10


_SPEC = {
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": {"guess": 4.0}, "v": 40.0},
    "covariates": [{"parameter": "cl", "covariate": "WT", "reference": 70}],
    "errors": [{"endpoint": "conc", "kind": "combined"}],
}


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s["parameters"]["cl"].update(prior_sd=math.nan),
         "parameter cl: prior_sd must be a finite number > 0 (e.g. prior_sd: 1.0), got nan"),
        (lambda s: s["covariates"][0].update(reference=0),
         "covariate WT on cl: reference must be a finite number > 0 (e.g. reference: 70"),
        (lambda s: s["errors"][0].update(add_scale=-1),
         "residual error of conc: add_scale must be a finite number > 0"),
        (lambda s: s["parameters"].update(ka=-1.0), "parameter ka: guess must be a finite number"),
        (lambda s: s["parameters"].update(v=math.nan), "parameter v: guess must be a finite"),
        (lambda s: s["parameters"]["cl"].update(omega=0), "parameter cl: omega must be"),
        (lambda s: s["parameters"]["cl"].update(prior=1), "unknown field(s) ['prior']"),
        (lambda s: s["errors"][0].update(scale=1), "residual error: unknown field(s)"),
    ],
)  # fmt: skip
def test_model_specs_refuse_values_the_sampler_cannot_use_naming_the_field(
    tmp_path, edit, expected
):
    spec = copy.deepcopy(_SPEC)
    edit(spec)
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match=re.escape(expected)):
        PopulationSpec.from_yaml(file)


def test_a_categorical_covariate_keeps_level_zero_as_its_reference():
    spec = copy.deepcopy(_SPEC)
    spec["covariates"].append(
        {"parameter": "cl", "covariate": "CYP2C9", "kind": "categorical", "reference": 0}
    )
    assert PopulationSpec.from_dict(spec).covariates[1].reference == 0


def test_the_repositorys_model_specs_are_valid():
    files = sorted((REPO_PARAMS.parent / "pipelines" / "specs").glob("*.yaml"))
    assert files, "no model specs found under pipelines/specs"
    for file in files:
        spec = PopulationSpec.from_yaml(file)  # raises on any invalid field
        assert PopulationSpec.from_dict(spec.to_dict()) == spec, file.name


def test_the_demo_checks_params_before_running_any_stage(tmp_path, repo_params, monkeypatch):
    params = copy.deepcopy(repo_params)
    params["fit"]["draws"] = "many"
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("TWINLAB_ROOT", str(tmp_path))
    line = _one_line_error(CliRunner().invoke(cli, ["demo"]))
    assert "fit.draws: must be an integer, got 'many'" in line
    assert not (tmp_path / "logs").exists()  # dvc never ran


def test_the_fit_command_refuses_a_bad_spec_in_one_line_before_sampling(tmp_path):
    spec = copy.deepcopy(_SPEC)
    spec["errors"][0]["add_scale"] = -1
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "d.csv").write_text("ID,TIME,AMT,DV,EVID,MDV\n1,0,100,0,1,1\n1,1,0,2,0,0\n")
    args = ["fit", "--data", str(tmp_path / "d.csv"), "--model", str(tmp_path / "spec.yaml")]
    line = _one_line_error(CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "fit")]))
    assert "residual error of conc: add_scale must be a finite number > 0" in line
    assert not (tmp_path / "fit").exists()


def test_ingest_needs_no_seed_and_no_other_stages_section(tmp_path, monkeypatch):
    """``twinlab ingest --params`` reads the harmonize (and dask) sections only: a file
    without a seed, or with another stage's section unfinished, still serves it."""
    import base64

    monkeypatch.setenv("TWINLAB_DEID_KEY", base64.b64encode(b"d" * 32).decode())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "lb.csv").write_text(
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBTESTCD,LBTEST,LBSTRESN,LBSTRESU,LBDTC\n"
        "S,LB,S-1,1,GLUC,Glucose,5.1,mmol/L,2020-01-02\n"
    )
    params = {"harmonize": {"same_fact_hours": 1}, "simulate": {"n_patinets": 3}}
    out = tmp_path / "out"
    result = _invoke(tmp_path, params, "ingest", str(raw), "--out", str(out), "--params", "PARAMS")
    assert result.exit_code == 0, result.output
    assert (out / "events.parquet").is_file()
    # what ingest does read is still checked, in one line
    params["harmonize"]["same_fact_hours"] = "a day"
    line = _one_line_error(
        _invoke(tmp_path, params, "ingest", str(raw), "--out", str(tmp_path / "o2"), "--params",
                "PARAMS")
    )  # fmt: skip
    assert "harmonize.same_fact_hours: must be a number" in line
    # a seed that is given must still be one
    bad_seed = {"seed": "x", "harmonize": {}}
    line = _one_line_error(
        _invoke(tmp_path, bad_seed, "ingest", str(raw), "--out", str(tmp_path / "o3"), "--params",
                "PARAMS")
    )  # fmt: skip
    assert "seed must be an integer" in line


def test_every_other_stage_still_needs_the_seed(tmp_path):
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump({"harmonize": {}}))
    with pytest.raises(ConfigError, match="seed must be an integer"):
        load_pipeline_params(file)
    assert load_pipeline_params(file, sections=("harmonize",)).seed is None
