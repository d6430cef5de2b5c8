"""Data commands: ``twinlab synth``, ``ingest``, ``lineage`` and ``timeline``.

Thin wrappers of :mod:`twinlab.synth`, :mod:`twinlab.harmonize` and :mod:`twinlab.timeline`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from twinlab.cli.stages import run_and_report
from twinlab.pipeline.run import run_stage

__all__ = ["ingest", "lineage", "synth", "timeline"]


@click.command()
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="params.yaml to read the 'generate' section and 'seed' from.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Folder for the raw sources.")
@click.option("--truth", type=click.Path(path_type=Path), help="Folder for the ground truth.")
@click.option("--n-patients", type=int, help="Number of patients (overrides params).")
@click.option("--seed", type=int, help="Random seed (overrides params).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier generation in the folders.")
def synth(
    params_file: Path | None,
    out: Path | None,
    truth: Path | None,
    n_patients: int | None,
    seed: int | None,
    overwrite: bool,
) -> None:
    """Generate the demo study's raw sources (FHIR, SDTM XPT, VCF, wearables)."""
    from twinlab.pipeline import load_pipeline_params

    every = load_pipeline_params(params_file) if params_file is not None else None
    root = params_file.parent if params_file is not None else None
    options = {"out": out, "truth": truth, "n_patients": n_patients, "seed": seed}
    run_and_report("generate", every, root=root, overwrite=overwrite, **options)


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the de-identified timeline and reports.",
)
@click.option(
    "--raw-zone",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for encrypted identified material (default: OUT.rawzone beside OUT).",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="params.yaml whose 'harmonize' section configures the study.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    callback=lambda ctx, param, value: _few_workers(value),
    help="Read files on a local Dask cluster (TLS, loopback) of this many workers (0: in process).",
)
def ingest(
    sources: tuple[Path, ...],
    out: Path,
    raw_zone: Path | None,
    params_file: Path | None,
    workers: int,
) -> None:
    """Read any mix of FHIR, SDTM, ODM, VCF and wearable files into a de-identified timeline.

    Writes patients/events/links.parquet, quarantine.parquet, report.json and
    quality.json to OUT; the crosswalk, persons and raw quarantined records go
    encrypted to the raw zone. Keys come from TWINLAB_DEID_KEY(_FILE) and
    TWINLAB_MASTER_KEY(_FILE); see 'twinlab keys init'.
    """
    from twinlab.pipeline import load_pipeline_params

    # ingest draws nothing: only the sections it reads are checked (no seed needed)
    every = (
        load_pipeline_params(params_file, sections=INGEST_SECTIONS)
        if params_file is not None
        else None
    )
    result = run_stage(
        "harmonize", every, Path.cwd(), sources=sources, out=out, raw_zone=raw_zone,
        workers=workers,
    )  # fmt: skip
    click.echo(result.message)
    if result.failure:
        for finding in result.value.phi_findings[:20]:
            click.echo(f"PHI: {finding.file} {finding.location} ({finding.kind})", err=True)
        raise click.ClickException(result.failure)


#: The ``params.yaml`` sections ``twinlab ingest`` reads (the study's harmonize settings, and
#: where Dask computes when ``--workers`` is given); no other section, and no seed, is needed.
INGEST_SECTIONS = ("harmonize", "dask")


def _few_workers(value: int) -> int:
    """``value`` if this machine can start that many worker processes (4 per CPU at most).

    Raises
    ------
    click.BadParameter
        For more (a typo such as ``--workers 20000`` started processes until the system
        killed the command).
    """
    cpus = os.cpu_count() or 1
    if value > 4 * cpus:
        raise click.BadParameter(f"{value} worker processes for {cpus} CPUs: at most {4 * cpus}")
    return value


@click.command()
@click.argument("identifier")
@click.option(
    "--timeline",
    "timeline_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The harmonized folder (patients/events/links.parquet).",
)
@click.option(
    "--raw-zone",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Its encrypted raw zone (default: TIMELINE.rawzone).",
)
@click.option(
    "--sources",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The ingested source folder: also re-read and show the source record.",
)
@click.option(
    "--result",
    "result_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A simulation result folder, for virtual patients (VP-...).",
)
@click.option(
    "--role",
    default=lambda: os.environ.get("TWINLAB_ROLE", "reviewer"),
    show_default="$TWINLAB_ROLE or reviewer",
    help="Your role; tracing needs read_patient_level.",
)
def lineage(
    identifier: str,
    timeline_dir: Path,
    raw_zone: Path | None,
    sources: Path | None,
    result_dir: Path | None,
    role: str,
) -> None:
    """Trace an event id (ev-...), a patient id (P-...), a quarantined record (rec-...) or a
    virtual patient (VP-..., with --result) back to its source records."""
    from twinlab.harmonize.lineage import source_record, trace_event, trace_patient

    zone = raw_zone or timeline_dir.with_name(timeline_dir.name + ".rawzone")
    if identifier.upper().startswith("VP-"):
        from twinlab.security import is_allowed
        from twinlab.simulate.lineage import trace_virtual_patient

        if result_dir is None:
            raise click.UsageError("a virtual patient needs --result (the simulation folder)")
        if not is_allowed(role, "read_patient_level"):
            raise click.ClickException(f"role {role!r} may not read patient-level lineage")
        trace = trace_virtual_patient(identifier, result_dir)
        click.echo(json.dumps(trace, indent=2, default=str))
        identifier = trace["source"]
        if not identifier:
            click.echo("synthetic covariates (copula): no real patient behind them")
            return
        click.echo(f"covariates from real patient {identifier}:")
    if identifier.startswith("rec-"):  # a quarantined record: pointer and raw record
        from twinlab.harmonize.lineage import trace_quarantine

        for key, value in trace_quarantine(
            identifier, timeline_dir=timeline_dir, raw_zone=zone, role=role
        ).items():
            click.echo(f"{key:>14}: {value}")
        return
    if identifier.startswith("P-"):
        table = trace_patient(identifier, timeline_dir=timeline_dir, raw_zone=zone, role=role)
        click.echo(table.to_string(index=False))
        return
    trace = trace_event(identifier, timeline_dir=timeline_dir, raw_zone=zone, role=role)
    for key, value in trace.items():
        click.echo(f"{key:>14}: {value}")
    if sources is not None:
        record = source_record(trace, sources)
        click.echo("source record as read:")
        for key, value in record.items():
            click.echo(f"{key:>14}: {value}")


@click.group()
def timeline() -> None:
    """Check and upgrade harmonized timeline folders (patients/events/links Parquet)."""


@timeline.command("validate")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def timeline_validate(path: Path) -> None:
    """Validate a timeline folder: schemas, row checks and cross-table keys."""
    from twinlab.timeline import Cohort

    cohort = Cohort.read(path)
    click.echo(f"valid: {cohort!r}")


@timeline.command("migrate")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the tables at the current schema version.",
)
def timeline_migrate(path: Path, out: Path) -> None:
    """Read a timeline folder of any known schema version; write it at the current one."""
    from twinlab.timeline import CURRENT_VERSION, Cohort

    Cohort.read(path).write(out)
    click.echo(f"wrote schema {CURRENT_VERSION} tables to {out}")
