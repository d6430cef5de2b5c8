"""Pipeline commands: ``twinlab run STAGE``, ``demo`` and ``reproduce``.

Thin wrappers of :func:`twinlab.pipeline.run_stage` (and the report notebooks of
:func:`twinlab.pipeline.run.run_reports`), :func:`twinlab.pipeline.demo.run_demo` and
:func:`twinlab.pipeline.reproduce.reproduce`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from twinlab.cli.stages import params_option, run_and_report
from twinlab.pipeline.reproduce import Tolerance
from twinlab.pipeline.run import DVC_STAGES, stage_names

__all__ = ["demo", "reproduce_command", "run"]


@click.command("run")
@click.argument("stage", type=click.Choice(stage_names()))
@params_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress of the fit and the simulation (default: the fit's live display in a "
    "terminal, lines in a log; none for the simulation).",
)
@click.option(
    "--reports/--no-reports",
    default=True,
    show_default=True,
    help="Also execute the stage's report notebooks (as dvc.yaml does).",
)
def run(stage: str, params_file: Path, progress: bool | None, reports: bool) -> None:
    """Run a pipeline STAGE from params.yaml: what its dvc.yaml stage runs.

    A dvc.yaml stage runs its library stages, then its report notebooks (harmonize:
    harmonize and harmonize_report; sensitivity: sensitivity, surrogate and
    sensitivity_report; ...); a library stage name (e.g. surrogate) runs that stage only.
    Each stage is audited and timed the same way (twinlab.pipeline.run_stage). What it
    writes is private to its owner (TWINLAB_FILE_MODE for a group), however DVC was started
    (run_stage and run_reports write under the private umask), and so are the roots of the
    project's DVC cache and local remotes.
    """
    from twinlab.pipeline import load_pipeline_params
    from twinlab.pipeline.guard import project_lock, terminate_cleanly
    from twinlab.pipeline.run import run_reports
    from twinlab.pipeline.stores import private_stores

    every = load_pipeline_params(params_file)  # a bad file stops here, before anything
    # one run at a time in the project; SIGTERM removes what is not yet published
    with terminate_cleanly(), project_lock(every.root, stage):
        private_stores(every.root)  # the DVC cache and remote of the project
        library, notebooks = DVC_STAGES.get(stage, ((stage,), ()))
        for name in library:
            options: dict[str, object] = {}
            if name == "fit":
                options["progress"] = progress
            elif name == "simulate":
                options["progress"] = bool(progress)
            run_and_report(name, every, **options)
        for out in run_reports(every, notebooks if reports else ()):
            click.echo(f"executed {out}")


@click.command()
@click.option("--force", "-f", is_flag=True, help="Re-run every stage (dvc repro -f).")
@click.argument("targets", nargs=-1)
def demo(force: bool, targets: tuple[str, ...]) -> None:
    """Run the whole pipeline on the bundled synthetic study (dvc repro).

    Stages run with this environment's Python on PATH, so the pipeline works
    without activating the virtual environment first.
    """
    from twinlab.pipeline.demo import run_demo

    done = run_demo(targets, force=force, echo=click.echo)
    if done.returncode != 0:
        raise click.ClickException(f"dvc repro failed with exit status {done.returncode}")
    click.echo(f"audit log {done.audit_log}: {done.check}")
    if not done.check.ok:
        raise click.ClickException(f"the audit log does not verify: {done.check}")
    click.echo("reports: " + ", ".join(f"{p.parent.name}/{p.name}" for p in done.metrics))
    for metric in done.metrics:
        click.echo(f"{metric.name}: {json.dumps(json.loads(metric.read_text()))}")


@click.command("reproduce")
@click.option(
    "--rev", default="HEAD", show_default=True, help="Commit, branch or tag to reproduce."
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The DVC project (inside a git repository); default: the one around the working folder.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the clean clone (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the clone (and the dvc repro log) afterwards.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Also write the report as JSON to this file ('-': standard output, instead of the table).",
)
@click.option(
    "--mcse-k",
    type=click.FloatRange(min=0, min_open=True),
    default=Tolerance.k_mcse,
    show_default=True,
    help="Monte Carlo standard errors a posterior mean may move between the record and the "
    "reproduction.",
)
@click.option(
    "--monte-carlo-stage",
    "monte_carlo_stages",
    multiple=True,
    default=Tolerance.monte_carlo_stages,
    show_default=True,
    help="A stage that samples (MCMC); its posterior is compared within Monte Carlo error "
    "and the stages after it are held to the gate. Repeat for several.",
)
@click.option(
    "--workspace",
    is_flag=True,
    help="Re-run nothing: check every input and output dvc.lock pins against the working "
    "tree's files, naming each that differs with its expected and actual md5.",
)
def reproduce_command(
    workspace: bool,
    rev: str,
    repo: Path | None,
    workdir: Path | None,
    keep: bool,
    json_path: Path | None,
    mcse_k: float,
    monte_carlo_stages: tuple[str, ...],
) -> None:
    """Re-execute a pinned commit's pipeline and compare every output with dvc.lock.

    With --workspace nothing runs: every input and output the working tree's dvc.lock
    pins is hashed and compared, and each that was changed after the pipeline ran (a raw
    file tampered with, a report edited by hand) is named with the md5 dvc.lock expects and
    the one it has; exit status 1 if any differs.

    A clean clone of the commit (without the working tree's uncommitted
    changes) runs 'dvc repro -f' against this repository's DVC cache. Each
    output of the commit's dvc.lock is classified first: bit-identical (the data
    stages, and everything after the fit when the posterior reproduces bit for
    bit), Monte Carlo (the fit's posterior: every posterior mean within K Monte
    Carlo standard errors, the gate still passed) or follows the fit (allowed to
    differ only when the posterior moved within its tolerance and the gate
    passed). It is then reported as identical, differs by design (encrypted with
    fresh nonces; with the master key the plaintexts are compared), within
    tolerance, differs (with the files, notebook cell, metric keys or posterior
    means that differ) or missing. Exit status 0 when every output reproduced as
    its class expects, 1 otherwise.
    """
    if repo is None:
        from twinlab.config import project_root

        repo = project_root()
    if workspace:
        _verify_workspace(repo)
    from twinlab.pipeline.reproduce import reproduce

    tolerance = Tolerance(monte_carlo_stages=monte_carlo_stages, k_mcse=mcse_k)
    report = reproduce(
        repo, rev=rev, workdir=workdir, keep=keep,
        progress=lambda s: click.echo(s, err=True), tolerance=tolerance,
    )  # fmt: skip
    if json_path is not None and str(json_path) == "-":
        click.echo(report.to_json())
    else:
        click.echo(str(report))
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(report.to_json() + "\n", encoding="utf-8")
            click.echo(f"report written to {json_path}", err=True)
    if report.clone:
        click.echo(f"clone kept at {report.clone}", err=True)
    sys.exit(0 if report.ok else 1)


def _verify_workspace(repo: Path) -> None:
    """``reproduce --workspace``: each pinned path that differs, one line each; exit 1 if any."""
    from twinlab.pipeline.verify import verify_workspace

    found = verify_workspace(repo)
    for mismatch in found:
        click.echo(str(mismatch))
    if found:
        raise click.ClickException(
            f"{len(found)} pinned path(s) differ from dvc.lock: they were changed after the "
            "pipeline ran (re-run it, or restore them: dvc checkout)"
        )
    click.echo(f"every input and output pinned in {repo / 'dvc.lock'} is as recorded")
    sys.exit(0)
