"""Run pipeline notebooks as DVC stages.

Usage: ``python pipelines/run_notebook.py STAGE [STAGE ...]``

Each STAGE names a section of ``params.yaml`` holding the notebook's parameters
and a notebook ``notebooks/NN_<STAGE>.ipynb``. The parameters are validated
against the notebook's ``parameters`` cell before anything runs; the notebooks
then execute as Dask tasks – on a local cluster, or on the scheduler named in
``params.yaml``'s ``dask.address`` or ``$TWINLAB_DASK_ADDRESS`` (local clusters speak TLS
with throwaway certificates; see :class:`twinlab.pipeline.DaskParams`) – and the executed
notebooks and HTML copies land in ``reports/``. The logic lives in
:mod:`twinlab.notebooks`; this script only maps stages to notebooks.
"""

from __future__ import annotations

import sys

import click

from twinlab.config import ConfigError, load_params, paths
from twinlab.notebooks import NotebookError, NotebookJob, run_notebooks
from twinlab.pipeline import load_pipeline_params


def stage_job(stage: str) -> NotebookJob:
    """The notebook job of one pipeline stage."""
    where = paths()
    found = sorted(where.notebooks.glob(f"[0-9][0-9]_{stage}.ipynb"))
    if len(found) != 1:
        raise ConfigError(
            f"stage {stage!r} needs exactly one notebook notebooks/NN_{stage}.ipynb, "
            f"found {len(found)}"
        )
    return NotebookJob(
        notebook=str(found[0]),
        name=found[0].stem,
        parameters=load_params(stage),
        output_dir=str(where.reports),
        cwd=str(where.root),
    )


@click.command()
@click.argument("stages", nargs=-1, required=True)
def main(stages: tuple[str, ...]) -> None:
    """Execute the notebooks of STAGES with their params.yaml sections."""
    try:
        every = load_pipeline_params()  # the whole file checked before anything runs
        jobs = [stage_job(stage) for stage in stages]
        dask = every.dask
        with dask.client(every.root, n_workers=min(len(jobs), dask.n_workers)) as client:
            for out in run_notebooks(jobs, client=client):
                click.echo(f"executed {out}")
    except (ConfigError, NotebookError) as err:
        raise click.ClickException(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
