"""``twinlab notebook params | run``: parameterized notebooks (:mod:`twinlab.notebooks`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

__all__ = ["notebook"]


@click.group()
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
