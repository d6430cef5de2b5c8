"""Command-line entry points of :mod:`twinlab.pkpd`: ``twinlab fit`` and ``twinlab models``.

``fit`` and the ``models`` group are plain click objects, attached to the main ``twinlab``
command. User mistakes (a missing or invalid file, an unknown model or version) end with a
one-line ``Error: ...`` and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

__all__ = ["dataset", "fit", "models", "validate_fit"]

_USER_ERRORS = (
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    ValueError,
    KeyError,
    TypeError,
)


def _clean_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into ``click.ClickException`` (a one-line ``Error:``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _USER_ERRORS as err:
            ctx = click.get_current_context(silent=True)
            if ctx is not None and ctx.find_root().params.get("debug"):
                raise
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise click.ClickException(str(message)) from None

    return wrapper


def _spec(model: str) -> Any:
    from twinlab.pkpd.models import model_names
    from twinlab.pkpd.population import PopulationSpec

    path = Path(model)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no spec file {path}")
        return PopulationSpec.from_yaml(path)
    if model not in model_names():
        raise KeyError(
            f"unknown model {model!r}: give a spec YAML file or one of {', '.join(model_names())}"
        )
    return PopulationSpec.default(model)


@click.command("fit")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="NONMEM-style CSV data set.",
)
@click.option("--model", required=True, help="Structural model name or a population spec YAML.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (posterior.zarr, summary.json, spec.yaml).",
)
@click.option("--draws", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--tune", default=1000, show_default=True, type=click.IntRange(0))
@click.option("--chains", default=4, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=20240611, show_default=True, type=int)
@click.option(
    "--sampler", default="nutpie", show_default=True, type=click.Choice(["nutpie", "pymc"])
)
@click.option(
    "--target-accept",
    default=0.8,
    show_default=True,
    type=click.FloatRange(0.5, 1.0, min_open=False, max_open=True),
    help="NUTS target acceptance: raise it (0.9, 0.95) when the fit reports divergences.",
)
@click.option(
    "--low-rank",
    is_flag=True,
    help="nutpie: a diagonal plus low-rank mass matrix (follows posterior correlations).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Sampling progress: live in a terminal, a line every 10 s in a log (default); "
    "--no-progress: silent.",
)
@click.option(
    "--register",
    "register_as",
    default=None,
    help="Also register the fit under this name in the registry --root (served once "
    "'twinlab validate-fit --register' records a gate that passed).",
)
@click.option(
    "--root",
    default="models",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Registry root.",
)
@_clean_errors
def fit(
    data_path: Path,
    model: str,
    out: Path,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    sampler: str,
    target_accept: float,
    low_rank: bool,
    progress: bool | None,
    register_as: str | None,
    root: Path,
) -> None:
    """Fit a Bayesian population model to a NONMEM data set with NUTS.

    Prints every estimated quantity: typical values, covariate effects, between-subject
    variability (variance and CV%), residual errors, with intervals, R-hat and bulk ESS.
    """
    from twinlab.pkpd.dataset import read_nonmem
    from twinlab.pkpd.fit import fit as run_fit

    spec = _spec(model)
    data = read_nonmem(data_path, model=spec.model)
    result = run_fit(
        spec,
        data,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
        low_rank=low_rank,
        progress=progress,
    )
    out.mkdir(parents=True, exist_ok=True)
    result.to_zarr(out / "posterior.zarr")
    spec.to_yaml(out / "spec.yaml")
    summary = result.summary()
    timings = result.timings  # run metadata: the audit log's, not the (reproducible) output
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    from twinlab.pkpd.tables import format_parameter_table

    click.echo(format_parameter_table(result.parameter_table()))
    click.echo(
        f"max R-hat {summary['max_rhat']:.3f}, min bulk ESS {summary['min_ess_bulk']:.0f}, "
        f"{summary['divergences']} divergences, {timings['total_s']:.1f} s "
        f"({summary['sampler']}) -> {out}"
    )
    from twinlab.audit import audit_stage

    audit_stage(
        "fit",
        params={
            "model": model,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "sampler": sampler,
            "target_accept": target_accept,
        },
        inputs=[data_path],
        outputs=[out],
        seed=seed,
        summary={
            "max_rhat": summary["max_rhat"],
            "divergences": summary["divergences"],
            "timings": {k: round(float(v), 2) for k, v in timings.items()},
        },
    )
    if register_as:
        from twinlab.pkpd.registry import register

        entry = register(result, register_as, root=root, data=data_path)
        click.echo(
            f"registered {entry.label} at {entry.path} (not served until "
            f"'twinlab validate-fit {out} --register {entry.name} --root {root}' passes)"
        )


@click.command("dataset")
@click.option(
    "--timeline",
    "timeline_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Harmonized timeline folder.",
)
@click.option("--conc-code", required=True, help="Event code of the drug concentrations.")
@click.option("--pd-code", default=None, help="Event code of a PD endpoint (DVID 2).")
@click.option(
    "-c",
    "--covariate",
    "covariates",
    multiple=True,
    metavar="NAME=SOURCE",
    help="A covariate column: a cov_* column of patients, 'sex', or an event code. "
    "Derived cov_age and cov_crcl_ml_min are available too.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="NONMEM-style CSV to write.",
)
@_clean_errors
def dataset(
    timeline_dir: Path,
    conc_code: str,
    pd_code: str | None,
    covariates: tuple[str, ...],
    out: Path,
) -> None:
    """Build a NONMEM-style data set from a harmonized timeline.

    Text covariates (e.g. a genotype) missing for some patients get their own
    level 'unknown', so no subject is dropped for a missing covariate.
    """
    from twinlab.pkpd.covariates import add_derived_covariates
    from twinlab.pkpd.dataset import from_timeline, write_nonmem
    from twinlab.timeline import Cohort

    mapping = {}
    for item in covariates:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            raise click.BadParameter(f"expected NAME=SOURCE, got {item!r}", param_hint="-c")
        mapping[name] = source
    cohort = Cohort.read(timeline_dir)
    patients = add_derived_covariates(cohort.patients)
    for source in mapping.values():
        if source in patients and not pd.api.types.is_numeric_dtype(patients[source]):
            patients[source] = patients[source].fillna("unknown")
    cohort = Cohort(patients, cohort.events, cohort.links)
    data = from_timeline(cohort, conc_code=conc_code, pd_code=pd_code, covariates=mapping or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_nonmem(data, out)
    frame = data.frame
    click.echo(
        f"{frame['ID'].nunique()} subjects, {int((frame['EVID'] == 1).sum())} doses, "
        f"{int((frame['EVID'] == 0).sum())} observations -> {out}"
    )


@click.command("validate-fit")
@click.argument("fit_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--max-rhat",
    default=1.01,
    show_default=True,
    type=float,
    help="Bound on R-hat of the population parameters (typical values, omegas, effects, "
    "residual errors).",
)
@click.option(
    "--max-rhat-individual",
    default=1.05,
    show_default=True,
    type=float,
    help="Bound on R-hat of the individual (standardized) random effects.",
)
@click.option("--min-ess", default=100.0, show_default=True, type=float, help="Bulk ESS floor.")
@click.option("--max-divergences", default=0, show_default=True, type=click.IntRange(0))
@click.option(
    "--pi-coverage",
    nargs=2,
    default=(0.80, 0.99),
    show_default=True,
    type=float,
    help="Bounds on the share of observations inside the VPC's 90% prediction interval.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the gate's metrics as JSON (a DVC metric).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="VPC simulation seed.")
@click.option(
    "--register",
    "register_as",
    default=None,
    metavar="NAME",
    help="Record the result with the registered version of NAME that holds this fit "
    "(under --root): only a version that passed is served.",
)
@click.option(
    "--root",
    default="models",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Registry root (with --register).",
)
@_clean_errors
def validate_fit(
    fit_dir: Path,
    max_rhat: float,
    max_rhat_individual: float,
    min_ess: float,
    max_divergences: int,
    pi_coverage: tuple[float, float],
    out: Path | None,
    seed: int,
    register_as: str | None,
    root: Path,
) -> None:
    """Gate a fit: R-hat, ESS, divergences and VPC coverage within bounds, or exit 1.

    FIT_DIR holds posterior.zarr (as written by 'twinlab fit'). A failed check names the
    parameter behind it and what usually fixes it.
    """
    from twinlab.audit import audit_event
    from twinlab.pkpd.fit import open_fit
    from twinlab.pkpd.gate import GateBounds, validate
    from twinlab.pkpd.registry import find_version, record_validation

    bounds = GateBounds(
        max_rhat=max_rhat,
        max_rhat_individual=max_rhat_individual,
        min_ess=min_ess,
        max_divergences=max_divergences,
        pi_coverage=pi_coverage,
    )
    result = open_fit(fit_dir / "posterior.zarr")
    version = find_version(result, register_as, root=root) if register_as else None
    gate = validate(result, bounds=bounds, seed=seed)
    metrics = gate.to_metrics()
    if out is not None:
        from twinlab.pipeline.metrics import gate_metrics

        # a DVC metric: values and pass/fail only (bounds are params.yaml's, the failures'
        # hints are printed below and recorded with the version)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(gate_metrics(metrics), indent=2, sort_keys=True) + "\n")
    audit_event("model.validate", fit_dir, params=metrics["bounds"], new=metrics)
    click.echo(str(gate))
    if register_as:
        record_validation(gate, register_as, version, root=root)
        served = "served" if gate.passed else "NOT served"
        click.echo(f"recorded with {register_as}/{version} under {root}: {served}")
    if not gate.passed:
        raise click.ClickException(f"validation gate {gate.describe()}")


@click.group("models")
def models() -> None:
    """Registered population models."""


@models.command("list")
@click.option(
    "--root",
    default="models",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Registry root.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_clean_errors
def models_list(root: Path, as_json: bool) -> None:
    """List every registered model version."""
    from twinlab.pkpd.registry import list_models

    rows = list_models(root)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no models under {root}")
    for r in rows:
        click.echo(
            f"{r['name']}\t{r['version']}\t{r['model']}\t{r['created']}\t"
            f"{(r['data_hash'] or '')[:12]}\t{r['validation']}"
        )


@models.command("catalog")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--markdown", is_flag=True, help="Print the Markdown table of the docs.")
@_clean_errors
def models_catalog(as_json: bool, markdown: bool) -> None:
    """List the structural models: parameters, optional ones, endpoints, dosing convention."""
    from twinlab.pkpd.catalog import catalog, catalog_markdown

    if as_json:
        click.echo(json.dumps(catalog(), indent=2))
        return
    if markdown:
        click.echo(catalog_markdown(), nl=False)
        return
    for r in catalog():
        optional = " ".join(f"{k}={v:g}" for k, v in r["optional"].items())
        click.echo(
            f"{r['name']:<28} {r['kind']:<9} {' '.join(r['parameters']):<40} "
            f"{optional or '-':<16} {','.join(r['endpoints'])}"
        )
        click.echo(f"{'':<28} {r['description']}; {r['dosing']}")


@models.command("show")
@click.argument("name")
@click.option("--version", "version", default=None, type=int, help="Default: the latest.")
@click.option(
    "--root",
    default="models",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Registry root.",
)
@_clean_errors
def models_show(name: str, version: int | None, root: Path) -> None:
    """Print the model card of NAME, with the validation gate's result recorded for it."""
    from twinlab.pkpd.registry import model_card

    click.echo(json.dumps(model_card(name, version, root=root), indent=2))
