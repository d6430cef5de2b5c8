"""The ``twinlab`` command.

Every command has ``--help``. A user mistake (a missing file, an unknown
parameter, invalid data) ends with a one-line ``Error: ...`` and exit status 1
or 2, never a traceback; ``--debug`` shows the traceback when one is wanted.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from twinlab.config import ConfigError, paths

#: Exceptions that are the user's to fix, reported without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    ValueError,
    KeyError,
    PermissionError,
)


class _Group(click.Group):
    """A click group that turns user errors into clean ``Error:`` lines."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS + _late_user_errors() as err:
            if ctx.find_root().params.get("debug"):
                raise
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise click.ClickException(str(message)) from None


def _late_user_errors() -> tuple[type[BaseException], ...]:
    from twinlab.notebooks import NotebookError

    return (NotebookError,)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="twinlab")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(debug: bool, verbose: int) -> None:
    """twinlab: a workbench for clinical-trial digital twins."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
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
    from dataclasses import replace

    from twinlab.pipeline import GenerateParams, load_pipeline_params
    from twinlab.synth import generate_study

    section, file_seed = GenerateParams(), None
    if params_file is not None:
        every = load_pipeline_params(params_file)
        section, file_seed = every.section("generate"), every.seed
    config = section.synth_config(seed=file_seed)
    if n_patients is not None or seed is not None:
        overrides = {"n_patients": n_patients, "seed": seed}
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    study = section.study
    where = paths(params_file.parent if params_file is not None else None)
    out = out or where.raw / study
    truth = truth or where.truth / study
    manifest = generate_study(out, truth, config, overwrite=overwrite)
    files = manifest["files"] if isinstance(manifest, dict) else manifest.files
    from twinlab.audit import audit_stage

    audit_stage("generate", params=vars(config), inputs=[], outputs=[out, truth], seed=config.seed)
    click.echo(f"wrote {len(files)} source files to {out} (ground truth in {truth})")


@cli.group()
def notebook() -> None:
    """Inspect and run parameterized notebooks."""


@notebook.command("params")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def notebook_params(path: Path) -> None:
    """List the parameters a notebook declares, with types and defaults."""
    from twinlab.notebooks import notebook_parameters

    for p in notebook_parameters(path).values():
        click.echo(f"{p.name}: {p.type_name} = {p.default!r}")


@notebook.command("run")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-p",
    "--parameter",
    "parameters",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter; VALUE is read as YAML (5 -> int, 0.5 -> float, x -> str).",
)
@click.option(
    "-f",
    "--parameters-file",
    type=click.Path(exists=True, path_type=Path),
    help="YAML file of parameters.",
)
@click.option(
    "--out",
    "output_dir",
    default="reports",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the executed notebook and its HTML copy.",
)
@click.option("--name", help="File stem of the outputs (default: the notebook's).")
def notebook_run(
    path: Path,
    parameters: tuple[str, ...],
    parameters_file: Path | None,
    output_dir: Path,
    name: str | None,
) -> None:
    """Validate parameters and execute a notebook with Papermill."""
    from twinlab.notebooks import run_notebook

    values: dict[str, Any] = {}
    if parameters_file is not None:
        values.update(yaml.safe_load(parameters_file.read_text(encoding="utf-8")) or {})
    for item in parameters:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="-p")
        values[key] = yaml.safe_load(raw)
    out = run_notebook(path, parameters=values, output_dir=output_dir, name=name)
    click.echo(f"executed notebook: {out}")


@cli.group()
def keys() -> None:
    """Manage this workstation's secret keys (kept outside the repository)."""


@keys.command("init")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key folder (default ~/.config/twinlab/keys).",
)
def keys_init(folder: Path | None) -> None:
    """Create the de-identification and master keys if missing; print how to use them."""
    from twinlab.security.keyfiles import init_local_keys

    for env, file in init_local_keys(folder).items():
        click.echo(f"export {env}={file}")


def _ensure_key_env() -> dict[str, str]:
    """Environment with key files set: the caller's, else this workstation's (made if missing)."""
    from twinlab.security.keyfiles import init_local_keys

    env = dict(os.environ)
    audit_keys = ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY")
    if (
        not (env.get("TWINLAB_DEID_KEY") or env.get("TWINLAB_DEID_KEY_FILE"))
        or not (env.get("TWINLAB_MASTER_KEY") or env.get("TWINLAB_MASTER_KEY_FILE"))
        or not any(env.get(name) for name in audit_keys)
    ):
        for name, file in init_local_keys().items():
            env.setdefault(name, str(file))
    return env


@cli.command()
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
    from dataclasses import replace

    from twinlab.harmonize import harmonize
    from twinlab.pipeline import DaskParams, HarmonizeParams, load_pipeline_params

    section, dask = HarmonizeParams(), DaskParams()
    if params_file is not None:
        every = load_pipeline_params(params_file)
        section, dask = every.section("harmonize"), every.dask
    config = section.harmonize_config()
    zone = raw_zone or out.with_name(out.name + ".rawzone")
    if workers > 0:
        # a local cluster of its own (TLS with throwaway certificates, loopback dashboard)
        with replace(dask, address=None).client(n_workers=workers) as client:
            result = harmonize(sources, out_dir=out, raw_zone=zone, config=config, client=client)
    else:
        result = harmonize(sources, out_dir=out, raw_zone=zone, config=config)
    totals, timeline = result.report["totals"], result.report["timeline"]
    click.echo(
        f"{len(result.report['files'])} files: {totals['records_in']} records in, "
        f"{totals['accepted']} accepted, {totals['quarantined']} quarantined, "
        f"{totals.get('duplicates', 0)} exact duplicates read once, "
        f"{totals.get('events_quarantined', 0)} events quarantined; "
        f"{timeline['patients']} patients, {timeline['events']} events -> {out}"
    )
    click.echo(f"data quality: {result.quality['summary']['overall']}; raw zone: {zone}")
    if result.phi_findings:
        for finding in result.phi_findings[:20]:
            click.echo(f"PHI: {finding.file} {finding.location} ({finding.kind})", err=True)
        raise click.ClickException(
            f"{len(result.phi_findings)} identifiers from the inputs found in the outputs; "
            f"nothing was published ({out} and {zone} are as they were)"
        )


@cli.command()
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


@cli.group()
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


@cli.command()
@click.option("--force", "-f", is_flag=True, help="Re-run every stage (dvc repro -f).")
@click.argument("targets", nargs=-1)
def demo(force: bool, targets: tuple[str, ...]) -> None:
    """Run the whole pipeline on the bundled synthetic study (dvc repro).

    Stages run with this environment's Python on PATH, so the pipeline works
    without activating the virtual environment first.
    """
    from twinlab.pipeline import load_pipeline_params

    root = paths().root
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"no dvc.yaml in {root}: run this inside a twinlab project")
    load_pipeline_params(root / "params.yaml")  # every section checked before any stage runs
    env = _ensure_key_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("TWINLAB_AUDIT_LOG", str(root / "logs" / "audit.jsonl"))
    cmd = [sys.executable, "-m", "dvc", "repro", *(["-f"] if force else []), *targets]
    click.echo("$ " + " ".join(["dvc", *cmd[3:]]))
    result = subprocess.run(cmd, cwd=root, env=env, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"dvc repro failed with exit status {result.returncode}")
    check = _seal_and_verify(env)
    click.echo(f"audit log {env['TWINLAB_AUDIT_LOG']}: {check}")
    if not check.ok:
        raise click.ClickException(f"the audit log does not verify: {check}")
    metrics = sorted((root / "reports").glob("*.json"))
    click.echo("reports: " + ", ".join(str(p.relative_to(root)) for p in metrics))
    for metric in metrics:
        click.echo(f"{metric.name}: {json.dumps(json.loads(metric.read_text()))}")


def _seal_and_verify(env: dict[str, str]) -> Any:
    """Checkpoint the end of a run in the audit log ``env`` names and verify the log.

    The audit settings of ``env`` (key, anchor) become this process's, as for the stages.
    """
    from twinlab.audit import AuditLog, verify
    from twinlab.audit.log import ANCHOR_ENV

    os.environ.update({k: v for k, v in env.items() if k.startswith("TWINLAB_AUDIT")})
    log = AuditLog(env["TWINLAB_AUDIT_LOG"], anchor=env.get(ANCHOR_ENV) or None)
    if log.path.exists():
        log.seal()
    return verify(log.path, anchor=log.anchor)


def _attach_groups() -> None:
    from twinlab.apps.cli import serve
    from twinlab.audit.cli import audit
    from twinlab.audit.reproduce import reproduce_command
    from twinlab.pkpd.cli import dataset, fit, models, validate_fit
    from twinlab.security.cli import keys_export, keys_import, keys_rotate
    from twinlab.stage_commands import sensitivity, simulate, surrogate, trial

    cli.add_command(audit)
    cli.add_command(reproduce_command)
    cli.add_command(dataset)
    cli.add_command(fit)
    cli.add_command(validate_fit)
    cli.add_command(models)
    for command in (simulate, sensitivity, surrogate, trial, serve):
        cli.add_command(command)
    for command in (keys_export, keys_import, keys_rotate):
        keys.add_command(command)


_attach_groups()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="twinlab")


if __name__ == "__main__":  # pragma: no cover
    main()
