"""Model commands: ``twinlab dataset``, ``fit``, ``validate-fit`` and ``models``.

Thin wrappers of :mod:`twinlab.pkpd` and of the fit and validate stages of
:mod:`twinlab.pipeline.stages`; errors follow the root group's policy
(:mod:`twinlab.cli.errors`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["dataset", "fit", "models", "validate_fit"]


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
@click.option(
    "--seed",
    default=None,
    type=int,
    help="Random seed (default: the seed of the project's params.yaml).",
)
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
def fit(
    data_path: Path,
    model: str,
    out: Path,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
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
    import time

    from twinlab.pipeline.params import default_seed
    from twinlab.pipeline.run import record_stage
    from twinlab.pipeline.stages import fit_model
    from twinlab.pkpd.tables import format_parameter_table

    if seed is None:
        seed = default_seed()
    start = time.perf_counter()
    result = fit_model(
        model, data_path, out, draws=draws, tune=tune, chains=chains, seed=seed,
        sampler=sampler, target_accept=target_accept, low_rank=low_rank, progress=progress,
        register_as=register_as, models_root=root,
    )  # fmt: skip
    record_stage(result, seconds=time.perf_counter() - start)
    click.echo(format_parameter_table(result.value.parameter_table()))
    click.echo(result.message)
    if register_as:
        click.echo(
            f"registered {result.summary['registered']} (not served until "
            f"'twinlab validate-fit {out} --register {register_as} --root {root}' passes)"
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
    from twinlab.pipeline.stages import build_nonmem

    mapping = {}
    for item in covariates:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            raise click.BadParameter(f"expected NAME=SOURCE, got {item!r}", param_hint="-c")
        mapping[name] = source
    data = build_nonmem(
        timeline_dir, conc_code=conc_code, pd_code=pd_code, covariates=mapping or None, out=out
    )
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
@click.option(
    "--seed",
    default=None,
    type=int,
    help="VPC simulation seed (default: the seed of the project's params.yaml).",
)
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
def validate_fit(
    fit_dir: Path,
    max_rhat: float,
    max_rhat_individual: float,
    min_ess: float,
    max_divergences: int,
    pi_coverage: tuple[float, float],
    out: Path | None,
    seed: int | None,
    register_as: str | None,
    root: Path,
) -> None:
    """Gate a fit: R-hat, ESS, divergences and VPC coverage within bounds, or exit 1.

    FIT_DIR holds posterior.zarr (as written by 'twinlab fit'). A failed check names the
    parameter behind it and what usually fixes it.
    """
    from twinlab.pipeline.params import default_seed
    from twinlab.pipeline.stages import validate_fit as run_gate
    from twinlab.pkpd.gate import GateBounds

    bounds = GateBounds(
        max_rhat=max_rhat,
        max_rhat_individual=max_rhat_individual,
        min_ess=min_ess,
        max_divergences=max_divergences,
        pi_coverage=pi_coverage,
    )
    if seed is None:
        seed = default_seed()
    result = run_gate(
        fit_dir, bounds, seed=seed, out=out, register_as=register_as, models_root=root
    )
    click.echo(result.message)
    if result.failure:
        raise click.ClickException(result.failure)


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
def models_show(name: str, version: int | None, root: Path) -> None:
    """Print the model card of NAME, with the validation gate's result recorded for it."""
    from twinlab.pkpd.registry import model_card

    click.echo(json.dumps(model_card(name, version, root=root), indent=2))
