"""Run pipeline notebooks by hand, as ``twinlab run STAGE`` runs them after its stage.

Usage: ``python pipelines/run_notebook.py STAGE [STAGE ...]``

Each STAGE names a section of ``params.yaml`` holding the notebook's parameters
and a notebook ``notebooks/NN_<STAGE>.ipynb``. The parameters are validated
against the notebook's ``parameters`` cell before anything runs; the notebooks
then execute as Dask tasks and the executed notebooks and HTML copies land in
``reports/``. The logic lives in :func:`twinlab.pipeline.run.run_reports`.
"""

from __future__ import annotations

import sys

import click

from twinlab.config import ConfigError
from twinlab.notebooks import NotebookError
from twinlab.pipeline import load_pipeline_params
from twinlab.pipeline.run import run_reports


@click.command()
@click.argument("stages", nargs=-1, required=True)
def main(stages: tuple[str, ...]) -> None:
    """Execute the notebooks of STAGES with their params.yaml sections."""
    try:
        for out in run_reports(load_pipeline_params(), stages):
            click.echo(f"executed {out}")
    except (ConfigError, NotebookError) as err:
        raise click.ClickException(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
