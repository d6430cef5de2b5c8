"""The virtual patients of a scenario with their individual parameters, as the engine drew them.

A run's per-patient table (``patients.parquet``) holds covariates and outcomes, not the
individual parameters behind them. Chunk ``k`` of a run is a pure function of the scenario and
``k`` (:func:`twinlab.virtual.chunk_rng`), so those parameters are drawn again here exactly as
the engine drew them – no simulation – and, given the run's result, checked against it: what
reads them (the surrogate's training set) works on the very patients the simulate stage
simulated, and a result simulated from another population is refused.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from twinlab.simulate.result import patients_path, read_patients
from twinlab.virtual.base import chunk_rng

__all__ = ["scenario_patients"]


def scenario_patients(
    scenario: Any,
    n_patients: int | None = None,
    *,
    draw: int = 0,
    result: Any = None,
) -> pd.DataFrame:
    """The first ``n_patients`` virtual patients of ``scenario`` (all by default).

    Parameters
    ----------
    scenario : Scenario
        The scenario the engine ran (same population, seed and chunk size).
    n_patients : int, optional
        How many, from virtual patient 0 on.
    draw : int
        Which of the population's draws (rows of the engine's ``draw`` dimension).
    result : SimulationResult or path, optional
        The run of ``scenario``: each patient's id, source and covariates must equal its
        rows there.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``vpid``, ``posterior_draw``, ``source``, the covariates and
        the individual parameters (their names in ``attrs["parameters"]``).

    Raises
    ------
    ValueError
        ``n_patients`` or ``draw`` out of range, or ``result`` is not a run of ``scenario``.
    """
    n_total = int(scenario.population.n)
    n = n_total if n_patients is None else int(n_patients)
    if not 1 <= n <= n_total:
        raise ValueError(f"n_patients must be within 1..{n_total} (the scenario's), not {n}")
    frames, covariates = [], []
    for k in range(scenario.n_chunks):
        start, stop = scenario.chunk_bounds(k)
        if start >= n:
            break
        pc = scenario.population.chunk(start, stop, chunk_rng(scenario.seed, k))
        if not 0 <= draw < pc.draw.shape[0]:
            raise ValueError(f"draw must be within 0..{pc.draw.shape[0] - 1}, not {draw}")
        frame = pd.DataFrame(
            {"vpid": pc.vpid, "posterior_draw": int(pc.draw[draw]), "source": pc.source}
        )
        covariates = list(pc.covariates.columns)
        frame = pd.concat([frame, pc.covariates.reset_index(drop=True)], axis=1)
        for name, values in pc.params.items():
            frame[name] = np.asarray(values)[draw]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True).iloc[:n].reset_index(drop=True)
    table.attrs["parameters"] = list(pc.params)
    if result is not None:
        _check(table, result, draw, covariates)
    return table


def _check(table: pd.DataFrame, result: Any, draw: int, covariates: list[str]) -> None:
    """Refuse a ``result`` whose patients are not ``table``'s."""
    if isinstance(result, str | os.PathLike):
        from twinlab.config import resolve

        path = patients_path(resolve(result))
        if not path.exists():
            raise ValueError(f"{path.parent} is not a simulation result (no patients.parquet)")
        patients = read_patients(path)
        where = str(path.parent)
    else:
        patients, where = result.patients_table(), "the result"
    keys = ["vpid", "posterior_draw", "source", *covariates]
    missing = sorted(set(keys) - set(patients.columns))
    if missing:
        raise ValueError(f"{where} lacks the columns {missing}: not a run of this scenario")
    first_arm = patients["arm"].iloc[0]
    ran = patients[(patients["draw"] == draw) & (patients["arm"] == first_arm)]
    ran = ran.set_index("vpid").reindex(table["vpid"])
    ours = table.set_index("vpid")
    if not all(_equal(ran[c].to_numpy(), ours[c].to_numpy()) for c in keys if c != "vpid"):
        raise ValueError(
            f"{where} was not simulated from this scenario (its virtual patients differ): "
            "run the simulate stage again"
        )


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Element-wise equality, NaN equal to NaN in numeric columns."""
    try:
        return bool(np.array_equal(a.astype(float), b.astype(float), equal_nan=True))
    except (TypeError, ValueError):
        return bool(np.array_equal(a.astype(object), b.astype(object)))
