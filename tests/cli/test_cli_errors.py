"""The ``twinlab`` command's one error policy, on its root group (issue 18)."""

from __future__ import annotations

import importlib.util

import click
import pytest
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.cli.errors import LAZY_COMMANDS, RootGroup


def _group() -> click.Group:
    """A root group with one command per kind of failure."""

    @click.group(cls=RootGroup)
    @click.option("--debug", is_flag=True)
    def root(debug: bool) -> None:
        del debug

    @root.group()
    def nested() -> None:
        """Errors in a subgroup's command follow the root's policy too."""

    @nested.command()
    def missing() -> None:
        raise FileNotFoundError("no such file: data/x.csv")

    @root.command()
    def unknown() -> None:
        raise KeyError("unknown model 'pk_9'")

    @root.command()
    def failed() -> None:
        raise click.ClickException("validation gate failed")

    @root.command()
    def bug() -> None:
        raise ZeroDivisionError("division by zero")

    return root


@pytest.mark.parametrize(
    "args, code, line",
    [
        (["nested", "missing"], 2, "Error: no such file: data/x.csv"),
        (["unknown"], 2, "Error: unknown model 'pk_9'"),  # KeyError's message, not its repr
        (["failed"], 1, "Error: validation gate failed"),
        (["bug"], 1, "Error: internal error (ZeroDivisionError: division by zero); run "
                     "'twinlab --debug ...' for the traceback and report it"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_failed_checks_and_bugs_1_each_in_one_line(args, code, line):
    result = CliRunner().invoke(_group(), args)
    assert result.exit_code == code
    assert result.output.strip().splitlines() == [line]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_of_a_user_error_and_of_a_bug():
    for args, kind in ((["nested", "missing"], FileNotFoundError), (["bug"], ZeroDivisionError)):
        result = CliRunner().invoke(_group(), ["--debug", *args])
        assert isinstance(result.exception, kind)


def test_a_user_error_goes_to_stderr(tmp_path):
    result = CliRunner().invoke(cli, ["timeline", "validate", str(tmp_path / "nope")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "does not exist" in result.stderr


def test_the_api_group_is_attached_lazily_when_its_package_is_there():
    assert set(LAZY_COMMANDS) == {"api", "serve"}
    listed = cli.list_commands(click.Context(cli))
    assert "serve" in listed
    if importlib.util.find_spec("twinlab.api") is None:
        assert "api" not in listed
        result = CliRunner().invoke(cli, ["api", "--help"])
        assert result.exit_code == 2 and "No such command 'api'" in result.output
    else:
        assert "api" in listed
        assert CliRunner().invoke(cli, ["api", "--help"]).exit_code == 0


def test_every_command_answers_help():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        if name == "api" and importlib.util.find_spec("twinlab.api.cli") is None:
            continue
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
