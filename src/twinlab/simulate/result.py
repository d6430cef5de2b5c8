"""The result of a simulation: profiles (xarray/zarr), summaries (Parquet), DuckDB queries.

A result folder holds

- ``result.zarr``: the profiles, dims ``(draw, patient, arm, time)``, chunked along
  ``patient`` as the run was (``conc``; ``effect`` for PK/PD models; ``conc_obs`` /
  ``effect_obs`` with residual error; ``posterior_draw (draw, patient)``), each with a
  ``long_name`` and, where known, pint ``units`` (``time`` h, ``conc`` mg/L, ``effect`` as
  the population's specs declare it: :mod:`twinlab.simulate.units`);
- ``patients.parquet``: one row per (draw, patient, arm) with exposure metrics and PD
  endpoints, covariates and the pseudonymous ``source`` of the covariates; a run with
  ``parts=True`` writes the same table as ``patients/part-NNNNNN.parquet``, one per chunk
  (rows in chunk order), and the result's ``patients`` is then None (query the parts);
- ``arms.parquet``: per (draw, arm), ``n`` and mean / p05 / p50 / p95 of every metric;
- ``run.json``: the scenario, sizes and package versions (reproducible byte for byte);
- ``timings.json`` (wall times; not reproducible, keep out of DVC) and, with a Dask client,
  ``dask-report.html`` (self-contained).

:func:`twinlab.simulate.run` writes the folder beside its place and publishes it whole, in one
step: a reader never sees half of a result, nor a mix of two.
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

__all__ = ["FILES", "PARTS", "SimulationResult", "open_result", "patients_path", "read_patients"]

#: The files of a result folder that reproduce byte for byte.
FILES = ("result.zarr", "patients.parquet", "arms.parquet", "run.json")
#: The folder of the per-patient table's parts (``run(parts=True)``), for ``patients.parquet``.
PARTS = "patients"


def patients_path(folder: str | os.PathLike[str]) -> Path:
    """The per-patient table of result folder ``folder``: its folder of parts
    (``run(parts=True)``) when there is one, else ``patients.parquet``."""
    parts = Path(folder) / PARTS
    return parts if parts.is_dir() else Path(folder) / "patients.parquet"


#: The order of a one-file per-patient table (parts are chunk-major, draw-major within one).
ROW_ORDER = ["draw", "vpid", "arm"]


def read_patients(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The per-patient table at ``path`` (a ``patients.parquet`` file, a folder of parts, or
    a result folder holding either), as the one-file run's table: a table in parts is put in
    its order (draw, vpid, arm), so that what reads it gives the same results whichever
    way the run wrote it.

    Raises
    ------
    FileNotFoundError
        If there is no per-patient table at ``path``.
    """
    path = Path(path)
    if (path / "run.json").is_file():
        path = patients_path(path)  # a result folder
    if not path.exists():
        raise FileNotFoundError(f"no per-patient table at {path}: run the simulation first")
    if not path.is_dir():
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    wanted = None if columns is None else list(columns)
    keys = [] if wanted is None else [k for k in ROW_ORDER if k not in wanted]
    table = pd.read_parquet(path, columns=None if wanted is None else [*wanted, *keys])
    table = table.sort_values(ROW_ORDER, kind="stable", ignore_index=True)
    return table.drop(columns=keys) if keys else table


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """``frame`` (no index) as Parquet, dictionary-encoding only its text columns.

    pyarrow dictionary-encodes every column by default; the metric columns are unique
    floats, whose dictionary it builds and then abandons for plain encoding. Leaving them
    plain writes the per-patient table three times faster, and smaller (measured in
    ``benchmarks/SIMULATE.md``). Read back, the frame is the same.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    text = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_dictionary(f.type)
    ]
    pq.write_table(table, path, use_dictionary=text or False)


@dataclass
class SimulationResult:
    """Profiles, per-patient and per-arm summaries of one run.

    Attributes
    ----------
    dataset : xarray.Dataset or None
        Dims ``(draw, patient, arm, time)``; lazy (dask) when opened from a folder. None for
        a run that kept no profiles (``run(profiles=False)``).
    patients : pandas.DataFrame or None
        One row per (draw, patient, arm); see :mod:`twinlab.simulate.metrics`. None for a
        table written in parts (``run(parts=True)``): :meth:`query` reads them, or
        :meth:`patients_table` loads them.
    arms : pandas.DataFrame
        Per (draw, arm) summaries.
    run : dict
        The run record (``run.json``).
    path : Path or None
        The result folder, when written.
    timings : dict
        Wall times of this run (seconds); empty when reopened.
    """

    dataset: xr.Dataset | None
    patients: pd.DataFrame | None
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
        ValueError
            If the run kept no profiles.
        """
        if self.dataset is None:
            raise ValueError("this run kept no profiles (run(..., profiles=False)): no bands")
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

    def patients_table(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The per-patient table (``columns`` only, when given), from memory or from disk;
        a table in parts in the one-file table's order (:func:`read_patients`)."""
        if self.patients is not None:
            return self.patients if columns is None else self.patients[list(columns)]
        if self.path is None:
            raise ValueError("this result holds no per-patient table")
        return read_patients(patients_path(self.path), columns)

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` with DuckDB over the tables ``patients`` and ``arms``.

        Examples
        --------
        >>> result.query("SELECT arm, avg(auc) FROM patients GROUP BY arm")  # doctest: +SKIP
        """
        con = duckdb.connect()
        try:
            if self.path is not None:
                source = patients_path(self.path)
                pattern = source / "*.parquet" if source.is_dir() else source
                for table, file in (("patients", pattern), ("arms", self.path / "arms.parquet")):
                    file = str(file).replace("'", "''")
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
    in_parts = (path / PARTS).is_dir()
    record = json.loads((path / "run.json").read_text()) if (path / "run.json").is_file() else {}
    profiles = record.get("profiles", True)
    optional = {"patients.parquet"} if in_parts else set()
    if not profiles:
        optional.add("result.zarr")
    missing = [f for f in FILES if not (path / f).exists() and f not in optional]
    if missing:
        raise FileNotFoundError(f"{path} is not a simulation result: missing {missing}")
    return SimulationResult(
        dataset=xr.open_zarr(path / "result.zarr", consolidated=False) if profiles else None,
        patients=None if in_parts else pd.read_parquet(path / "patients.parquet"),
        arms=pd.read_parquet(path / "arms.parquet"),
        run=record,
        path=path,
    )
