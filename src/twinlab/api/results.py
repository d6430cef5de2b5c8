"""Reads of simulation results for the API: runs, pages of patients, arms, aggregates.

A run is a folder written by the ``simulate`` stage (or a job) holding ``run.json``,
``patients.parquet`` and ``arms.parquet`` (:mod:`twinlab.simulate.result`); runs are named by
their folder under the results root, job results ``job-<id>``. Pages and filters are DuckDB
queries over the Parquet files (nothing is loaded whole); column names are checked against
the file's schema and values are bound as parameters.

Aggregate-only callers (:meth:`~twinlab.api.tokens.Principal.aggregate_only`) get arm
summaries of a population chosen by weight and CrCL bands and CYP2C9 codes under the
dashboards' disclosure rule (:mod:`twinlab.apps.disclosure`): the real patients behind the
virtual ones (their pseudonymous ``source``) are counted per cell, a population with fewer
than ``k`` of them, or one a wider choice differs from by 1 to ``k - 1``, is refused, and the
counts shown are suppressed or rounded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twinlab.apps.disclosure import (
    CRCL_BANDS,
    REFUSAL,
    WEIGHT_BANDS,
    CellCounts,
    band_span,
    shown,
)

__all__ = [
    "DisclosureRefused",
    "PatientsPage",
    "arms_table",
    "job_id",
    "list_runs",
    "patients_page",
    "population_summary",
    "run_dir",
]

_RUN_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
#: per-patient columns never aggregated as metrics
_ID_COLUMNS = ("arm", "vpid", "draw", "posterior_draw", "source", "titrated")
_METRICS = (
    "auc",
    "auc_tau",
    "cmax",
    "tmax",
    "ctrough",
    "t_above",
    "effect_end",
    "effect_cfb",
    "effect_pcfb",
)


class DisclosureRefused(ValueError):
    """An aggregate-only caller asked for a population the disclosure rule does not answer."""


def patients_path(folder: Path) -> Path:
    """A run's per-patient table: ``patients.parquet``, or the folder of its parts."""
    from twinlab.simulate.result import patients_path

    return patients_path(folder)


def read_patients(folder: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A run's per-patient table (``columns`` only), in the one-file order whichever way the
    run wrote it (:func:`twinlab.simulate.read_patients`)."""
    from twinlab.simulate.result import read_patients

    return read_patients(folder, columns)


def _is_run(folder: Path) -> bool:
    return (folder / "run.json").is_file() and patients_path(folder).exists()


def _runs(results: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if results.is_dir():
        for folder in sorted(results.iterdir()):
            if _is_run(folder):
                out[folder.name] = folder
        jobs = results / "api" / "jobs"
        if jobs.is_dir():
            for folder in sorted(jobs.iterdir()):
                if _is_run(folder):
                    out[f"job-{folder.name}"] = folder
    return out


def job_id(results: Path, run: str) -> str | None:
    """The job whose result run ``run`` is (``job-<id>``), or ``None`` for a pipeline run.

    Examples
    --------
    >>> job_id(Path("/nonexistent"), "demo") is None
    True
    """
    if not run.startswith("job-"):
        return None
    job = run[4:]
    if job in ("", ".", "..") or "/" in job or not _is_run(results / "api" / "jobs" / job):
        return None
    return job


def list_runs(results: Path) -> list[dict[str, Any]]:
    """Every run: name, scenario, model (name/version of the twin), arms, sizes."""
    out = []
    for name, folder in _runs(results).items():
        run = json.loads((folder / "run.json").read_text())
        scenario = run.get("scenario", {})
        fit = (scenario.get("population") or {}).get("fit") or {}
        out.append(
            {
                "run": name,
                "scenario": scenario.get("name"),
                "model": fit.get("name"),
                "model_version": fit.get("version"),
                "arms": [a.get("name") for a in scenario.get("arms", [])],
                "sizes": run.get("sizes", {}),
            }
        )
    return out


def run_dir(results: Path, run: str) -> Path:
    """The folder of run ``run`` (``KeyError`` if there is none)."""
    if not _RUN_OK.match(run):
        raise KeyError(f"no run {run!r}")
    runs = _runs(results)
    if run not in runs:
        raise KeyError(f"no run {run!r}")
    return runs[run]


@dataclass
class PatientsPage:
    """One page of per-patient rows and the number of rows the filter selects."""

    total: int
    table: pa.Table


def _columns(folder: Path) -> list[str]:
    """The columns of a run's per-patient table (one file, or its parts)."""
    return list(pq.ParquetDataset(patients_path(folder)).schema.names)


def patients_page(
    folder: Path,
    *,
    arm: str | None = None,
    draw: int | None = None,
    vpid_min: int | None = None,
    vpid_max: int | None = None,
    columns: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> PatientsPage:
    """Rows of ``patients.parquet`` ordered by (draw, vpid, arm), filtered and paged.

    Raises
    ------
    ValueError
        For a column the file does not have.
    """
    have = _columns(folder)
    cols = columns or have
    unknown = [c for c in cols if c not in have]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; have {have}")
    where, args = [], []
    for sql, value in (
        ("arm = ?", arm),
        ("draw = ?", draw),
        ("vpid >= ?", vpid_min),
        ("vpid <= ?", vpid_max),
    ):
        if value is not None:
            where.append(sql)
            args.append(value)
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    source = patients_path(folder)
    file = str(source / "*.parquet" if source.is_dir() else source).replace("'", "''")
    src = f"read_parquet('{file}')"
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
    con = duckdb.connect()
    try:
        total = con.sql(f"SELECT count(*) FROM {src} {cond}", params=args).fetchall()[0][0]
        table = con.sql(
            f"SELECT {quoted} FROM {src} {cond} ORDER BY draw, vpid, arm LIMIT ? OFFSET ?",
            params=[*args, int(limit), int(offset)],
        ).to_arrow_table()
    finally:
        con.close()
    return PatientsPage(int(total), table)


def arms_table(folder: Path) -> pd.DataFrame:
    """``arms.parquet``: per (draw, arm) ``n`` and mean / p05 / p50 / p95 of each metric."""
    return pd.read_parquet(folder / "arms.parquet")


def _band(edges: tuple[float, ...], lo: float | None, hi: float | None) -> tuple[int, int]:
    lo = edges[0] if lo is None else lo
    hi = edges[-1] if hi is None else hi
    if hi < lo:
        raise ValueError(f"empty range [{lo}, {hi}]")
    return band_span(edges, lo, hi)


def population_summary(
    folder: Path,
    *,
    weight: tuple[float | None, float | None] = (None, None),
    crcl: tuple[float | None, float | None] = (None, None),
    cyp2c9: list[float] | None = None,
    metrics: list[str] | None = None,
    k: int = 5,
    aggregate_only: bool = True,
) -> dict[str, Any]:
    """Per-arm summaries (mean, p05, p50, p95 over draws and virtual patients) of the virtual
    patients whose covariates fall in the chosen bands.

    For ``aggregate_only`` callers the ranges widen to band edges and the disclosure rule is
    applied to the real patients behind them (see the module docstring); counts are given
    as :func:`twinlab.apps.disclosure.shown` strings.

    Raises
    ------
    DisclosureRefused
        If the rule does not answer this population.
    ValueError
        For an unknown metric or an empty range.
    """
    have = _columns(folder)
    metrics = list(dict.fromkeys(metrics or [m for m in _METRICS if m in have]))
    # aggregate-only callers get outcomes only: a covariate's p05/p95 over a small cell is
    # close to one real patient's value
    allowed = [m for m in have if m not in _ID_COLUMNS and (m in _METRICS or not aggregate_only)]
    unknown = [m for m in metrics if m not in allowed]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; have {allowed}")
    covs = [c for c in ("WT", "CRCL", "CYP2C9") if c in have]
    columns = list(dict.fromkeys(["arm", "vpid", "source", *covs, *metrics]))
    table = read_patients(folder, columns)
    w = _band(WEIGHT_BANDS, *weight) if aggregate_only else None
    c = _band(CRCL_BANDS, *crcl) if aggregate_only else None
    mask = np.ones(len(table), dtype=bool)
    if "WT" in table:
        lo, hi = (WEIGHT_BANDS[w[0]], WEIGHT_BANDS[w[1] + 1]) if w else weight
        mask &= _within(table["WT"], lo, hi, open_ends=bool(w), edges=WEIGHT_BANDS)
    if "CRCL" in table:
        lo, hi = (CRCL_BANDS[c[0]], CRCL_BANDS[c[1] + 1]) if c else crcl
        mask &= _within(table["CRCL"], lo, hi, open_ends=bool(c), edges=CRCL_BANDS)
    if cyp2c9 and "CYP2C9" in table:
        mask &= table["CYP2C9"].isin([float(x) for x in cyp2c9]).to_numpy()
    chosen = table[mask]
    real = chosen.loc[chosen["source"].astype(str) != "", "source"].nunique()
    if aggregate_only:
        reals = table[table["source"].astype(str) != ""].drop_duplicates("source")
        if len(reals):
            levels = sorted(reals["CYP2C9"].dropna().unique()) if "CYP2C9" in reals else []
            cells = CellCounts(
                reals["WT"].to_numpy() if "WT" in reals else None,
                reals["CRCL"].to_numpy() if "CRCL" in reals else None,
                reals["CYP2C9"].to_numpy() if "CYP2C9" in reals else None,
                levels,
            )
            if not cells.answerable(w, c, cells.mask(cyp2c9 or []), k):
                raise DisclosureRefused(REFUSAL.format(k=k))
    arms = []
    for arm, group in chosen.groupby("arm", sort=True):
        stats = {}
        for m in metrics:
            v = group[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            stats[m] = (
                {
                    "mean": float(v.mean()),
                    **{f"p{q:02d}": float(np.percentile(v, q)) for q in (5, 50, 95)},
                }
                if v.size
                else None
            )
        n_virtual = int(group["vpid"].nunique())
        arms.append(
            {
                "arm": str(arm),
                "n_virtual": shown(n_virtual, k) if aggregate_only else str(n_virtual),
                "metrics": stats,
            }
        )
    return {
        "n_real_patients": shown(int(real), k) if aggregate_only else str(int(real)),
        "weight_range": [WEIGHT_BANDS[w[0]], WEIGHT_BANDS[w[1] + 1]] if w else list(weight),
        "crcl_range": [CRCL_BANDS[c[0]], CRCL_BANDS[c[1] + 1]] if c else list(crcl),
        "cyp2c9": [float(x) for x in cyp2c9 or []],
        "arms": arms,
    }


def _within(
    x: pd.Series, lo: float | None, hi: float | None, *, open_ends: bool, edges: tuple
) -> np.ndarray:
    """``lo <= x < hi`` (band edges: the outer bands open-ended, as the dashboards' criteria)."""
    v = x.to_numpy(dtype=float)
    out = np.ones(len(v), dtype=bool)
    if lo is not None and not (open_ends and lo == edges[0]):
        out &= v >= lo
    if hi is not None and not (open_ends and hi == edges[-1]):
        out &= v < hi if open_ends else v <= hi
    return out
