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

__all__ = ["fit", "models"]

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
    "--register",
    "register_as",
    default=None,
    help="Also register the fit under this name in the registry --root.",
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
    register_as: str | None,
    root: Path,
) -> None:
    """Fit a Bayesian population model to a NONMEM data set with NUTS."""
    from twinlab.pkpd.dataset import read_nonmem
    from twinlab.pkpd.fit import fit as run_fit

    spec = _spec(model)
    data = read_nonmem(data_path)
    result = run_fit(spec, data, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler)
    out.mkdir(parents=True, exist_ok=True)
    result.to_zarr(out / "posterior.zarr")
    spec.to_yaml(out / "spec.yaml")
    summary = result.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, s in summary["parameters"].items():
        click.echo(f"{name:>8} {s['mean']:10.4g}  [{s['hdi_low']:.4g}, {s['hdi_high']:.4g}]")
    click.echo(
        f"max R-hat {summary['max_rhat']:.3f}, min bulk ESS {summary['min_ess_bulk']:.0f}, "
        f"{summary['divergences']} divergences, {summary['timings']['total_s']:.1f} s "
        f"({summary['sampler']}) -> {out}"
    )
    if register_as:
        from twinlab.pkpd.registry import register

        entry = register(result, register_as, root=root, data=data_path)
        click.echo(f"registered {entry.name} version {entry.version} at {entry.path}")


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
            f"{(r['data_hash'] or '')[:12]}"
        )


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
    """Print the model card of NAME."""
    from twinlab.pkpd.registry import _check_name, _versions

    folder = root / _check_name(name)
    versions = _versions(folder)
    if not versions:
        raise KeyError(f"no model {name!r} under {root}")
    v = versions[-1] if version is None else version
    card = folder / str(v) / "card.json"
    if not card.is_file():
        raise KeyError(f"model {name!r} has no version {v} (have {versions})")
    click.echo(card.read_text())
