"""The twinlab command: help everywhere, clean errors for user mistakes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from twinlab.cli import cli

BIN = Path(sys.executable).parent


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_commands(cli)], ids=lambda p: " ".join(p) or "twinlab")
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert "Show this message and exit." in result.output


def test_unknown_notebook_parameter_is_a_one_line_error_not_a_traceback(scenario_notebook):
    proc = subprocess.run(
        [str(BIN / "twinlab"), "notebook", "run", str(scenario_notebook), "-p", "dos=3"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Error: " in proc.stderr and "did you mean 'dose'" in proc.stderr


def test_bad_synth_parameters_are_reported_cleanly(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\ngenerate:\n  n_patient: 5\n")
    result = CliRunner().invoke(cli, ["synth", "--params", str(params)])
    assert result.exit_code == 2
    assert "generate: unknown key 'n_patient' (did you mean 'n_patients'?)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_params_section_is_reported_cleanly(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\n")
    result = CliRunner().invoke(cli, ["synth", "--params", str(params)])
    assert result.exit_code == 2
    assert "has no section 'generate'" in result.output


def test_timeline_validate_names_the_bad_table_column_and_row(tmp_path):
    import pandas as pd
    from repo_helpers import make_cohort

    make_cohort(n_patients=3, seed=1).write(tmp_path / "ok")
    result = CliRunner().invoke(cli, ["timeline", "validate", str(tmp_path / "ok")])
    assert result.exit_code == 0 and "3 patients" in result.output
    patients = pd.read_parquet(tmp_path / "ok" / "patients.parquet")
    patients.loc[1, "sex"] = "X"
    patients.to_parquet(tmp_path / "ok" / "patients.parquet")
    result = CliRunner().invoke(cli, ["timeline", "validate", str(tmp_path / "ok")])
    assert result.exit_code == 2
    assert "patients.sex" in result.output and "row 1" in result.output


@pytest.mark.parametrize(("verbose", "level"), [(0, "warning"), (1, "info")])
def test_dask_logs_follow_the_cli_verbosity_in_every_process(verbose, level):
    """Without -v, Dask's INFO chatter (worker starts and stops, a shutdown race's traceback)
    stays out of a user's terminal, in the ``twinlab`` program and the processes it starts;
    called from Python (as here), the CLI leaves the caller's environment alone."""
    env = {k: v for k, v in os.environ.items() if k != "DASK_LOGGING__DISTRIBUTED"}
    code = (
        "import logging, os, subprocess, sys\n"
        "from twinlab.cli import main\n"
        f"sys.argv = ['twinlab'] + {['-v'] * verbose!r} + ['keys', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "child = 'import logging, distributed; print(logging.getLogger(\"distributed\").level)'\n"
        "out = subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)\n"
        "print(os.environ['DASK_LOGGING__DISTRIBUTED'], out.stdout.strip(), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stderr.split()[-2:] == [level, str(getattr(logging, level.upper()))], out.stderr
    # in process (CliRunner) the environment is untouched
    assert CliRunner().invoke(cli, ["-v"] * verbose + ["keys", "--help"]).exit_code == 0
    assert os.environ.get("DASK_LOGGING__DISTRIBUTED") == env.get("DASK_LOGGING__DISTRIBUTED")


def test_every_command_writes_private_files_whatever_the_umask(tmp_path, monkeypatch):
    """``twinlab synth`` (no umask of its own) under the usual ``022``: files ``0600``,
    folders ``0700``; the caller's umask is back after the command."""
    import stat

    previous = os.umask(0o022)
    try:
        out = CliRunner().invoke(
            cli, ["synth", "--out", str(tmp_path / "raw"), "--truth", str(tmp_path / "truth"),
                  "--n-patients", "2", "--seed", "3"],
        )  # fmt: skip
        after = os.umask(previous)
    finally:
        os.umask(previous)
    assert out.exit_code == 0, out.output
    assert after == 0o022
    made = [p for p in tmp_path.rglob("*")]
    assert made and {stat.S_IMODE(p.stat().st_mode) for p in made if p.is_file()} == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in made if p.is_dir()} == {0o700}
    monkeypatch.setenv("TWINLAB_FILE_MODE", "777")  # a bad setting: one line, nothing made
    bad = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path / "x"), "--n-patients", "2"])
    assert bad.exit_code == 2 and "TWINLAB_FILE_MODE" in bad.output
    assert not (tmp_path / "x").exists()


def _modes(folder: Path) -> tuple[set[int], set[int]]:
    """The permission bits of the files and of the folders under ``folder``."""
    import stat

    made = list(folder.rglob("*"))
    assert made, f"nothing under {folder}"
    files = {stat.S_IMODE(p.stat().st_mode) for p in made if p.is_file()}
    return files, {stat.S_IMODE(p.stat().st_mode) for p in made if p.is_dir()}


@pytest.mark.parametrize("how", ["command object", "run_stage"])
def test_a_stage_writes_private_files_without_the_group(how, tmp_path, monkeypatch):
    """``twinlab run`` has no umask of its own (the group sets it for every command), yet its
    command object called on its own, or the library stage from Python, writes ``0600`` /
    ``0700`` under the usual ``022``, and gives the caller's umask back."""
    import yaml

    from twinlab.pipeline import run_stage

    repo = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["generate"]["n_patients"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "logs" / "audit.jsonl"))
    previous = os.umask(0o022)
    try:
        if how == "command object":
            out = CliRunner().invoke(
                cli.commands["run"], ["generate", "--params", str(tmp_path / "params.yaml")]
            )
            assert out.exit_code == 0, out.output
        else:
            run_stage("generate", tmp_path / "params.yaml")
        after = os.umask(previous)
    finally:
        os.umask(previous)
    assert after == 0o022
    assert _modes(tmp_path / "data") == ({0o600}, {0o700})
    assert _modes(tmp_path / "logs") == ({0o600}, {0o700})
