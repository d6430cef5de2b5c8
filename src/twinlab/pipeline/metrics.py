"""The numbers worth comparing across experiments: what DVC's metrics files hold.

``dvc metrics show`` and ``dvc exp show`` make one column per number of every metrics
file, and warn ("failed to load some metrics") on lists and nulls. The stages write their
full results (configuration echoes, provenance, texts, lists) to JSON files beside their
outputs; the metrics files hold only flat numbers and booleans chosen here.

Examples
--------
>>> flat_numbers({"a": {"b": 1, "c": [1, 2], "d": None, "e": "x"}, "f": True})
{'a': {'b': 1}, 'f': True}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "flat_numbers",
    "gate_metrics",
    "power_curve_series",
    "sensitivity_metrics",
    "surrogate_metrics",
    "trial_metrics",
]

_ANALYSES = ("unadjusted", "ancova", "procova")


def flat_numbers(tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` with only its finite numbers and booleans (nested mappings kept, empty
    ones dropped): no lists, nulls, strings, NaN or infinities."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            inner = flat_numbers(value)
            if inner:
                out[str(key)] = inner
        elif isinstance(value, bool) or (
            isinstance(value, int | float) and math.isfinite(float(value))
        ):
            out[str(key)] = value
    return out


def gate_metrics(gate: Mapping[str, Any]) -> dict[str, Any]:
    """The validation gate's values, pass/fail per check and ``passed`` (the bounds are
    ``params.yaml``'s; the failures' hints are in the model card and the CLI's output).

    Parameters
    ----------
    gate : mapping
        :meth:`twinlab.pkpd.gate.GateResult.to_metrics`.
    """
    return flat_numbers({k: v for k, v in gate.items() if k not in ("bounds", "failures")})


def trial_metrics(trial: Mapping[str, Any]) -> dict[str, Any]:
    """Power and type I error per analysis and comparison, the realised variance reduction
    of the adjusted analyses, the prognostic score's held-out correlation and the patients
    PROCOVA saves per comparison.

    Parameters
    ----------
    trial : mapping
        The trial stage's full result (``results/trial/trial.json``).
    """
    out: dict[str, Any] = {}
    for analysis in _ANALYSES:
        block = trial.get(analysis) or {}
        keep = ["power", "type_i_error"]
        if analysis != "unadjusted":
            keep.append("variance_reduction")
        out[analysis] = {k: dict(block[k]) for k in keep if k in block}
    prognostic = trial.get("prognostic") or {}
    out["prognostic"] = {"heldout_rho": prognostic.get("heldout_rho")}
    comparisons = (prognostic.get("planning") or {}).get("comparisons") or {}
    out["prognostic"]["n_saved"] = {k: v.get("n_saved") for k, v in comparisons.items()}
    return flat_numbers(out)


def sensitivity_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    """Per output: the largest total-order index, the sum of first-order indices (1 for an
    additive model, less with interactions) and the widest confidence half-width; and the
    number of model evaluations. The indices themselves are in ``sobol.csv``.

    Parameters
    ----------
    result : mapping
        :meth:`twinlab.sensitivity.SobolResult.to_dict` (Morris results keep their
        ``mu_star`` maximum instead).
    """
    out: dict[str, Any] = {"n_evaluations": result.get("n_evaluations")}
    for output, per_param in (result.get("indices") or {}).items():
        rows = [v for v in per_param.values() if isinstance(v, Mapping)]
        if rows and "ST" in rows[0]:
            out[output] = {
                "ST_max": max(float(r["ST"]) for r in rows),
                "S1_sum": sum(float(r["S1"]) for r in rows),
                "conf_max": max(
                    max(float(r.get("S1_conf", 0.0)), float(r.get("ST_conf", 0.0))) for r in rows
                ),
            }
        elif rows and "mu_star" in rows[0]:
            out[output] = {"mu_star_max": max(float(r["mu_star"]) for r in rows)}
    return flat_numbers(out)


def surrogate_metrics(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Held-out R² and RMSE per output, the training and test sizes, and the version of
    the twin the surrogate is bound to.

    Parameters
    ----------
    meta : mapping
        ``{"kind", "binding", "error"}`` of the surrogate stage.
    """
    error = meta.get("error") or {}
    out: dict[str, Any] = {
        k: {m: v[m] for m in ("r2", "rmse") if m in v}
        for k, v in error.items()
        if isinstance(v, Mapping)
    }
    out.update({k: v for k, v in error.items() if not isinstance(v, Mapping)})
    out["twin_version"] = (meta.get("binding") or {}).get("version")
    return flat_numbers(out)


def power_curve_series(curve: Any) -> Any:
    """The power curve as DVC plots it: one row per total sample size and one column of
    simulated power per series ``"<analysis> <comparison>"`` (``dvc.yaml``'s top-level
    ``plots`` names these columns, one line each).

    Parameters
    ----------
    curve : pandas.DataFrame
        Long format: ``n_total``, ``comparison``, ``power`` and ``analysis``.

    Returns
    -------
    pandas.DataFrame
    """
    series = curve["analysis"].astype(str) + " " + curve["comparison"].astype(str)
    order = list(dict.fromkeys(series))
    wide = curve.assign(series=series).pivot(index="n_total", columns="series", values="power")
    return wide[order].reset_index().rename_axis(columns=None)
