"""The result of a simulation: profiles (xarray/zarr), summaries (Parquet), DuckDB queries.

A result folder holds

- ``result.zarr``: the profiles, dims ``(draw, patient, arm, time)``, chunked along
  ``patient`` as the run was (``conc``; ``effect`` for PK/PD models; ``conc_obs`` /
  ``effect_obs`` with residual error; ``posterior_draw (draw, patient)``), each with a
  ``long_name`` and, where known, pint ``units`` (``time`` h, ``conc`` mg/L, ``effect`` as
  the population's specs declare it: :mod:`twinlab.simulate.units`);
- ``patients.parquet``: one row per (draw, patient, arm) with exposure metrics and PD
  endpoints, covariates and the pseudonymous ``source`` of the covariates;
- ``arms.parquet``: per (draw, arm), ``n`` and mean / p05 / p50 / p95 of every metric;
- ``run.json``: the scenario, sizes and package versions (reproducible byte for byte);
- ``timings.json`` (wall times; not reproducible, keep out of DVC) and, with a Dask client,
  ``dask-report.html``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import xarray as xr

from twinlab.config import resolve

__all__ = ["FILES", "SimulationResult", "open_result"]

#: The files of a result folder that reproduce byte for byte.
FILES = ("result.zarr", "patients.parquet", "arms.parquet", "run.json")


@dataclass
class SimulationResult:
    """Profiles, per-patient and per-arm summaries of one run.

    Attributes
    ----------
    dataset : xarray.Dataset
        Dims ``(draw, patient, arm, time)``; lazy (dask) when opened from a folder.
    patients : pandas.DataFrame
        One row per (draw, patient, arm); see :mod:`twinlab.simulate.metrics`.
    arms : pandas.DataFrame
        Per (draw, arm) summaries.
    run : dict
        The run record (``run.json``).
    path : Path or None
        The result folder, when written.
    timings : dict
        Wall times of this run (seconds); empty when reopened.
    """

    dataset: xr.Dataset
    patients: pd.DataFrame
    arms: pd.DataFrame
    run: dict[str, Any]
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def bands(self, endpoint: str = "conc", q: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.DataArray:
        """Quantiles over draws and patients of ``endpoint``, dims ``(quantile, arm, time)``.

        Raises
        ------
        KeyError
            If the dataset has no such endpoint.
        """
        if endpoint not in self.dataset.data_vars or "time" not in self.dataset[endpoint].dims:
            known = [v for v in self.dataset.data_vars if "time" in self.dataset[v].dims]
            raise KeyError(f"no endpoint {endpoint!r} in this result (have {known})")
        q = [float(x) for x in np.atleast_1d(q)]
        if not all(0.0 <= x <= 1.0 for x in q):
            raise ValueError(f"quantiles must lie in [0, 1], not {q}")
        da = self.dataset[endpoint]
        if da.chunks is not None:
            per_time = da.sizes["draw"] * da.sizes["patient"] * da.sizes["arm"] * 8
            step = max(1, int(256e6 // max(per_time, 1)))
            da = da.chunk({"draw": -1, "patient": -1, "arm": -1, "time": step})
        return (
            da.quantile(q, dim=("draw", "patient")).transpose("quantile", "arm", "time").compute()
        )

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` with DuckDB over the tables ``patients`` and ``arms``.

        Examples
        --------
        >>> result.query("SELECT arm, avg(auc) FROM patients GROUP BY arm")  # doctest: +SKIP
        """
        con = duckdb.connect()
        try:
            if self.path is not None:
                for table in ("patients", "arms"):
                    file = str(self.path / f"{table}.parquet").replace("'", "''")
                    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{file}')")
            else:
                con.register("patients", self.patients)
                con.register("arms", self.arms)
            return con.execute(sql).df()
        finally:
            con.close()


def open_result(path: str | os.PathLike[str]) -> SimulationResult:
    """Reopen a result folder written by :func:`twinlab.simulate.run` (profiles stay lazy).

    Raises
    ------
    FileNotFoundError
        If ``path`` lacks one of the result files.
    """
    path = resolve(path)  # from the project root: the same from notebooks/
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(f"{path} is not a simulation result: missing {missing}")
    return SimulationResult(
        dataset=xr.open_zarr(path / "result.zarr", consolidated=False),
        patients=pd.read_parquet(path / "patients.parquet"),
        arms=pd.read_parquet(path / "arms.parquet"),
        run=json.loads((path / "run.json").read_text()),
        path=path,
    )
