"""The ``twinlab`` command: one click group, every command a thin wrapper of a library call.

The commands live in modules named by what they hold: :mod:`~twinlab.cli.data` (synth,
ingest, lineage, timeline), :mod:`~twinlab.cli.model` (dataset, fit, validate-fit, models),
:mod:`~twinlab.cli.pipeline` (run, demo, reproduce and the modelling stages),
:mod:`~twinlab.cli.notebook`, :mod:`~twinlab.cli.keys`, :mod:`~twinlab.cli.audit` and
:mod:`~twinlab.cli.apps` (serve, imported when called). The ``api`` group of
:mod:`twinlab.api.cli` is attached lazily when that package is installed.

One error policy, on the root group (:class:`~twinlab.cli.errors.RootGroup`): a user
mistake (a missing file, an unknown parameter, invalid data) ends with one ``Error: ...``
line on stderr and exit status 2; a check that ran and failed (the validation gate, an
audit log that does not verify) exits 1; anything else is a bug, reported in one line
(exit 1) unless ``--debug`` asks for the traceback.

Private by default: every command creates its files ``0600`` and its folders ``0700``
(``$TWINLAB_FILE_MODE`` for a group; :func:`twinlab.security.filemodes.private_umask`),
whatever the caller's umask; the umask is restored when the command ends. This group is the
one place the commands set it; a command object called on its own (``cli.commands["run"]``)
skips the group, but every stage still writes privately: :func:`twinlab.pipeline.run_stage`
and :func:`twinlab.pipeline.run.run_reports` set it themselves.
"""

from __future__ import annotations

import logging
import os

import click

from twinlab.cli.errors import USER_ERRORS, RootGroup, UserError

__all__ = ["USER_ERRORS", "UserError", "cli", "main"]


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="twinlab")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """twinlab: a workbench for clinical-trial digital twins."""
    from twinlab.security.filemodes import private_umask

    ctx.with_resource(private_umask())  # outputs (patient-level data) private, all commands
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if _PROGRAM["entry"]:
        _quiet_dask(level)


#: whether the CLI runs as the ``twinlab`` program (not called from Python, as in tests)
_PROGRAM = {"entry": False}


def _quiet_dask(level: int) -> None:
    """Dask's loggers at the CLI's level, in this process and in those it starts.

    Dask's own loggers default to INFO: every worker start and stop and, at a cluster's
    close, a shutdown race's "Batched Comm Closed" with its traceback. Dask reads
    ``DASK_LOGGING__DISTRIBUTED`` when first imported, here and in the stages and worker
    processes, which inherit the environment. Only the ``twinlab`` program sets it: called
    from Python, the CLI leaves the caller's environment alone.
    """
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", logging.getLevelName(level).lower())


def _attach() -> None:
    from twinlab.cli import audit, data, keys, model, notebook, pipeline, stages

    for command in (
        data.synth,
        data.ingest,
        data.lineage,
        data.timeline,
        model.dataset,
        model.fit,
        model.validate_fit,
        model.models,
        stages.simulate,
        stages.sensitivity,
        stages.surrogate,
        stages.trial,
        pipeline.run,
        pipeline.demo,
        pipeline.reproduce_command,
        notebook.notebook,
        keys.keys,
        audit.audit,
    ):
        cli.add_command(command)


_attach()


def main() -> None:
    """Console-script entry point."""
    _PROGRAM["entry"] = True
    cli(prog_name="twinlab")
