"""``twinlab simulate | sensitivity | surrogate | trial``: the modelling stages' commands.

Each reads its section of ``params.yaml`` (and the shared ``seed`` and ``dask``), checked by
its typed class (:func:`twinlab.pipeline.load_pipeline_params`: every section of the file is
checked before anything runs), and calls the function of :mod:`twinlab.stages` that a
notebook would call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["sensitivity", "simulate", "surrogate", "trial"]

_params_option = click.option(
    "--params",
    "params_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default="params.yaml",
    show_default=True,
    help="The pipeline's parameters file; paths in it are relative to its folder.",
)


def _load(params_file: Path, *sections: str) -> tuple[Any, ...]:
    """The checked parameters (every typed section of the file) and the named sections."""
    from twinlab.pipeline import load_pipeline_params

    every = load_pipeline_params(params_file)
    return (every, *(every.section(name) for name in sections))


@click.command()
@_params_option
@click.option("--progress/--no-progress", default=True, help="Show the chunks' progress.")
def simulate(params_file: Path, progress: bool) -> None:
    """Simulate the virtual cohort through the arms of params.yaml's 'simulate' section."""
    from twinlab.stages import simulate_stage

    every, section = _load(params_file, "simulate")
    result = simulate_stage(
        section, seed=every.seed, root=every.root, dask=every.dask, progress=progress
    )
    sizes = dict(result.dataset.sizes)
    click.echo(f"simulated {sizes} into {section.out}")


@click.command()
@_params_option
def sensitivity(params_file: Path) -> None:
    """Global sensitivity (Sobol or Morris) of simulated outputs ('sensitivity' section)."""
    from twinlab.stages import sensitivity_stage

    every, section = _load(params_file, "sensitivity")
    sensitivity_stage(section, seed=every.seed, root=every.root, dask=every.dask)
    click.echo(f"sensitivity indices in {section.out} and {section.metrics_path}")


@click.command()
@_params_option
def surrogate(params_file: Path) -> None:
    """Train the what-if emulator of the twin ('surrogate' section, cohort of 'simulate')."""
    from twinlab.stages import surrogate_stage

    every, section, sim = _load(params_file, "surrogate", "simulate")
    result = surrogate_stage(section, sim, seed=every.seed, root=every.root, dask=every.dask)
    worst = min(v["r2"] for k, v in result.error.items() if isinstance(v, dict))
    click.echo(f"surrogate in {section.out} (held-out R2 >= {worst:.4f})")


@click.command()
@_params_option
def trial(params_file: Path) -> None:
    """Trial operating characteristics, PROCOVA and dose selection ('trial' section)."""
    from twinlab.stages import trial_stage

    every, section, sim = _load(params_file, "trial", "simulate")
    trial_stage(section, sim, seed=every.seed, root=every.root, dask=every.dask)
    click.echo(f"trial results in {section.out} and {section.metrics_path}")
