"""Where a virtual patient came from: its twin model, posterior draws and real patient."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from twinlab.simulate.result import patients_path

__all__ = ["trace_virtual_patient"]


def trace_virtual_patient(vpid: int | str, result_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The lineage of one virtual patient of a simulation result.

    Parameters
    ----------
    vpid : int or str
        The virtual patient id (``17`` or ``"VP-17"``).
    result_dir : path
        A folder written by :func:`twinlab.simulate.run` (``out=``).

    Returns
    -------
    dict
        ``vpid``; ``source`` – the pseudonymous id of the real patient whose covariates it
        carries (``""`` for synthetic covariates), to be traced further with
        :func:`twinlab.harmonize.lineage.trace_patient`; ``covariates``; ``posterior_draws``
        (the twin's draw behind each ``draw``); ``population`` (how the population was made:
        model name, version and data hash, criteria, method); ``scenario`` and ``seed``.

    Raises
    ------
    KeyError
        If the result holds no such virtual patient.
    """
    folder = Path(result_dir)
    text = str(vpid)
    number = int(text[3:] if text.upper().startswith("VP-") else text)
    patients = pd.read_parquet(patients_path(folder), filters=[("vpid", "==", number)])
    if patients.empty:
        raise KeyError(f"no virtual patient VP-{number} in {folder}")
    run = json.loads((folder / "run.json").read_text())
    metric_like = {"arm", "vpid", "draw", "posterior_draw", "source", "titrated"}
    first = patients.iloc[0]
    scenario = run.get("scenario", {})
    covariate_names = [
        c
        for c in patients.columns
        if c not in metric_like
        and patients.groupby("arm")[c].nunique().max() <= 1
        and c[:1].isupper()
    ]
    draws = patients.drop_duplicates("draw").sort_values("draw")
    return {
        "vpid": f"VP-{number}",
        "source": str(first["source"]),
        "covariates": {
            c: first[c].item() if hasattr(first[c], "item") else first[c] for c in covariate_names
        },
        "posterior_draws": dict(
            zip(draws["draw"].astype(int), draws["posterior_draw"].astype(int), strict=True)
        ),
        "population": scenario.get("population", run.get("population")),
        "scenario": scenario.get("name", run.get("name")),
        "seed": scenario.get("seed", run.get("seed")),
    }
