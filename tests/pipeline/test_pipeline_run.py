"""One contract for every stage: run_stage audits and times it; ``twinlab run STAGE`` runs
what ``dvc.yaml`` runs, from ``params.yaml`` alone, with the outputs the commands wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.config import ConfigError
from twinlab.pipeline import derive_seed, load_pipeline_params, run_stage
from twinlab.pipeline.run import DVC_STAGES, STAGES

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_derived_seeds_are_distinct_per_stream_and_stable():
    streams = ["trial.history", "trial.history_noise", "trial.planning"]
    seeds = [derive_seed(20261126, s) for s in streams]
    assert len(set(seeds)) == 3 and 20261127 not in seeds
    assert seeds == [derive_seed(20261126, s) for s in streams]
    assert derive_seed(1, "trial.history") != derive_seed(2, "trial.history")


def test_every_dvc_stage_is_twinlab_run_of_a_known_stage():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(dvc) == set(DVC_STAGES)
    for name, body in dvc.items():
        assert body["cmd"] == f"twinlab run {name}", name
        library, reports = DVC_STAGES[name]
        assert set(library) <= set(STAGES)
        assert all(f"notebooks/{nb}" in " ".join(body["deps"]) or nb for nb in reports)
        assert "src/twinlab/pipeline" in body["deps"] and "src/twinlab/cli" in body["deps"]
    assert "src/twinlab/timeline" in dvc["harmonize"]["deps"]


def test_generate_through_run_stage_writes_what_the_library_writes_and_is_audited(project):
    from twinlab.synth import generate_study

    params = load_pipeline_params(project / "params.yaml")
    result = run_stage("generate", params)
    assert result.seconds > 0 and result.seed == params.seed
    config = params.section("generate").synth_config(seed=params.seed)
    generate_study(project / "lib" / "raw", project / "lib" / "truth", config)
    assert _files(project / "data" / "raw" / "demo") == _files(project / "lib" / "raw")
    assert _files(project / "data" / "truth" / "demo") == _files(project / "lib" / "truth")
    entries = [json.loads(x) for x in (project / "logs" / "audit.jsonl").read_text().splitlines()]
    (entry,) = [e for e in entries if e["action"] == "stage.run"]
    assert entry["target"] == "generate" and entry["new"]["seconds"] >= 0
    assert (project / "logs" / "runs" / entry["new"]["run_record"]).is_file()


def test_run_harmonize_writes_what_the_ingest_command_of_dvc_yaml_wrote(project, monkeypatch):
    runner = CliRunner()
    params = str(project / "params.yaml")
    assert runner.invoke(cli, ["run", "generate", "--params", params]).exit_code == 0
    result = runner.invoke(cli, ["run", "harmonize", "--params", params, "--no-reports"])
    assert result.exit_code == 0, result.output
    timeline = project / "data" / "harmonized" / "demo"
    new = _files(timeline)
    assert "events.parquet" in new and (project / "data" / "raw_zone" / "demo").is_dir()
    shutil.rmtree(timeline)
    # the command dvc.yaml ran before, from the project folder
    monkeypatch.chdir(project)
    where = ["--out", "data/harmonized/demo", "--raw-zone", "data/raw_zone/demo"]
    old = runner.invoke(cli, ["ingest", "data/raw/demo", *where, "--params", "params.yaml"])
    assert old.exit_code == 0, old.output
    assert _files(timeline) == new


def test_a_stage_without_what_it_needs_is_one_line_and_exit_2(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    del params["fit"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(cli, ["run", "validate", "--params", str(project / "params.yaml")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: params.yaml: validate: give fit_dir (or the fit section's out)"
    ]
    with pytest.raises(ConfigError, match="unknown stage 'fitt'"):
        run_stage("fitt", project / "params.yaml")


def test_the_fit_section_refuses_a_typo_with_the_known_keys(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["fit"]["conc_cod"] = "TWINURO"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        ConfigError, match=r"fit: unknown key 'conc_cod' \(did you mean 'conc_code'"
    ):
        load_pipeline_params(project / "params.yaml")


def test_the_fit_stage_names_the_keys_it_needs(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    del params["fit"]["conc_code"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(cli, ["run", "fit", "--params", str(project / "params.yaml")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: params.yaml: fit: this stage needs conc_code (known keys: ")
