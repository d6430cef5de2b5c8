"""``twinlab simulate | sensitivity | surrogate | trial``: one library stage each.

Each reads ``params.yaml`` (every section checked before anything runs) and runs its stage
through :func:`twinlab.pipeline.run_stage`, as ``twinlab run STAGE`` does.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["params_option", "run_and_report", "sensitivity", "simulate", "surrogate", "trial"]

params_option = click.option(
    "--params",
    "params_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default="params.yaml",
    show_default=True,
    help="The pipeline's parameters file; paths in it are relative to its folder.",
)


def run_and_report(name: str, params: object, **options: object) -> None:
    """Run the library stage ``name``, print its line; a failed check exits 1."""
    from twinlab.pipeline import run_stage

    result = run_stage(name, params, **options)
    if result.message:
        click.echo(result.message)
    if result.failure:
        raise click.ClickException(result.failure)


@click.command()
@params_option
@click.option("--progress/--no-progress", default=True, help="Show the chunks' progress.")
def simulate(params_file: Path, progress: bool) -> None:
    """Simulate the virtual cohort through the arms of params.yaml's 'simulate' section."""
    run_and_report("simulate", params_file, progress=progress)


@click.command()
@params_option
def sensitivity(params_file: Path) -> None:
    """Global sensitivity (Sobol or Morris) of simulated outputs ('sensitivity' section)."""
    run_and_report("sensitivity", params_file)


@click.command()
@params_option
def surrogate(params_file: Path) -> None:
    """Train the surrogate of the twin's outputs ('surrogate' section, on the simulate stage's
    patients)."""
    run_and_report("surrogate", params_file)


@click.command()
@params_option
def trial(params_file: Path) -> None:
    """Trial operating characteristics, PROCOVA and dose selection ('trial' section)."""
    run_and_report("trial", params_file)
