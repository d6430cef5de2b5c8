"""Dose selection: probability of target attainment and of safety events, by subgroup.

Works on the engine's ``patients`` table (one row per ``(draw, vpid, arm)``). Within one
posterior draw, the probability of target attainment (PTA) of an arm in a subgroup is the
share of its virtual patients whose exposure metric meets the target; each draw gives one
PTA, and the spread over draws is the uncertainty about the model's parameters (reported as
the mean and a central interval). Subgroups are categorical columns (genotype) or numeric
covariates cut at readable bin edges (``{"WT": [0, 60, 90, 200]}`` → ``[0, 60)``, …).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["recommend_regimen", "target_attainment"]

_OPS = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
}
ALL = "all"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _subgroups(
    table: pd.DataFrame, by: Sequence[str], bins: Mapping[str, Sequence[float]]
) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for col in by:
        if col not in table.columns:
            raise KeyError(
                f"subgroup column {col!r} not in the table; available: "
                f"{sorted(map(str, table.columns))}"
            )
        if col in bins:
            edges = [float(e) for e in bins[col]]
            if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValueError(f"bin edges of {col!r} must be increasing, got {list(bins[col])}")
            labels = [f"[{_fmt(a)}, {_fmt(b)})" for a, b in itertools.pairwise(edges)]
            cut = pd.cut(table[col].astype(float), edges, right=False, labels=labels)
            outside = cut.isna()
            if outside.any():
                bad = table.loc[outside, col]
                raise ValueError(
                    f"{int(outside.sum())} value(s) of {col!r} fall outside the bin edges "
                    f"{edges} (range {bad.min()}..{bad.max()}); widen them (inf is allowed)"
                )
            out[col] = pd.Categorical(cut.astype(str), categories=labels)
        else:
            values = table[col].astype(str)
            out[col] = pd.Categorical(values, categories=sorted(values.unique()))
    return out


def _per_draw(
    patients: pd.DataFrame,
    *,
    metric: str,
    target: float,
    direction: str,
    by: Sequence[str],
    bins: Mapping[str, Sequence[float]],
    safety_metric: str | None,
    safety_threshold: float | None,
    safety_direction: str,
    overall: bool,
) -> pd.DataFrame:
    """PTA and P(safety event) per (arm, subgroup, draw)."""
    for op, what in ((direction, "direction"), (safety_direction, "safety_direction")):
        if op not in _OPS:
            raise ValueError(f"{what} must be one of {list(_OPS)}, got {op!r}")
    needed = ["arm", metric] + ([safety_metric] if safety_metric else [])
    missing = [c for c in needed if c not in patients.columns]
    if missing:
        raise KeyError(
            f"column(s) {missing} not in the patients table; available: "
            f"{sorted(map(str, patients.columns))}"
        )
    if (safety_metric is None) != (safety_threshold is None):
        raise ValueError("give safety_metric and safety_threshold together")
    unknown = sorted(set(bins) - set(by))
    if unknown:
        raise ValueError(f"bins given for {unknown}, which are not in by={list(by)}")
    by = list(by)
    frame = _subgroups(patients, by, bins)
    arms = patients["arm"].astype(str)
    frame["arm"] = pd.Categorical(arms, categories=list(dict.fromkeys(arms)))
    frame["draw"] = patients["draw"].to_numpy() if "draw" in patients.columns else 0
    exposure = patients[metric].to_numpy(dtype=float)
    frame["attained"] = _OPS[direction](exposure, float(target))
    frame["missing"] = np.isnan(exposure)
    if safety_metric:
        value = patients[safety_metric].to_numpy(dtype=float)
        frame["event"] = _OPS[safety_direction](value, float(safety_threshold))
    else:
        frame["event"] = False
    frame["exposure"] = exposure
    for col in by:  # "all" sorts first, the subgroups follow in their own order
        frame[col] = frame[col].cat.set_categories([ALL, *frame[col].cat.categories])
    groups = []
    if overall or not by:
        whole = frame.copy()
        for col in by:
            whole[col] = pd.Categorical(
                [ALL] * len(whole), categories=frame[col].cat.categories, ordered=False
            )
        groups.append(whole)
    if by:
        groups.append(frame)
    table = pd.concat(groups, ignore_index=True)
    keys = ["arm", *by, "draw"]
    out = (
        table.groupby(keys, observed=True, sort=True)
        .agg(
            pta=("attained", "mean"),
            p_safety=("event", "mean"),
            n=("attained", "size"),
            n_missing=("missing", "sum"),
            exposure=("exposure", "mean"),
        )
        .reset_index()
    )
    out["arm"] = out["arm"].astype(str)
    for col in by:
        out[col] = out[col].astype(str)
    return out


def target_attainment(
    patients: pd.DataFrame,
    *,
    metric: str,
    target: float,
    direction: str = ">=",
    by: Sequence[str] = (),
    bins: Mapping[str, Sequence[float]] | None = None,
    safety_metric: str | None = None,
    safety_threshold: float | None = None,
    safety_direction: str = ">",
    interval: float = 0.9,
    overall: bool = True,
) -> pd.DataFrame:
    """Probability of target attainment and of a safety event per arm and subgroup.

    Parameters
    ----------
    patients
        One row per ``(draw, vpid, arm)``: ``arm``, ``draw`` (optional), the metrics and the
        subgroup columns.
    metric, target, direction
        Target attained when ``metric <direction> target`` (e.g. ``auc_tau >= 300``).
    by
        Subgroup columns (genotype as is; numeric ones listed in ``bins`` are binned).
    bins
        ``{column: edges}``, left-closed bins ``[a, b)``; ``inf`` allowed.
    safety_metric, safety_threshold, safety_direction
        Safety event when ``safety_metric <safety_direction> safety_threshold``
        (e.g. ``cmax > 12``).
    interval
        Central interval across posterior draws (0.9: 5th–95th percentiles).
    overall
        Also report every arm over the whole population (subgroup columns ``"all"``).

    Returns
    -------
    pandas.DataFrame
        One row per (arm, subgroup): ``pta_mean``, ``pta_lo``, ``pta_hi``,
        ``p_safety_mean``, ``p_safety_lo``, ``p_safety_hi``, ``exposure_mean``,
        ``n_patients`` and ``n_missing`` (per draw), ``n_draws``. Rows are in the order of
        the arms in the table, the ``"all"`` rows first.

    Notes
    -----
    A row whose ``metric`` is missing (the engine leaves interval metrics such as
    ``auc_tau`` NaN for placebo) counts as not attaining the target, and one whose safety
    metric is missing as having no event; ``n_missing`` says how many there were.

    Examples
    --------
    >>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "auc": [1, 2, 3, 4, 2, 4, 6, 8]})
    >>> target_attainment(t, metric="auc", target=4)[["arm", "pta_mean"]].to_dict("list")
    {'arm': ['a', 'b'], 'pta_mean': [0.25, 0.75]}
    """
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    by = [by] if isinstance(by, str) else list(by)
    per = _per_draw(
        patients, metric=metric, target=target, direction=direction, by=by, bins=bins or {},
        safety_metric=safety_metric, safety_threshold=safety_threshold,
        safety_direction=safety_direction, overall=overall,
    )  # fmt: skip
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    g = per.groupby(["arm", *by], sort=False)  # per is already in arm / subgroup order
    out = pd.DataFrame(
        {
            "pta_mean": g["pta"].mean(),
            "pta_lo": g["pta"].quantile(lo),
            "pta_hi": g["pta"].quantile(hi),
            "p_safety_mean": g["p_safety"].mean(),
            "p_safety_lo": g["p_safety"].quantile(lo),
            "p_safety_hi": g["p_safety"].quantile(hi),
            "exposure_mean": g["exposure"].mean(),
            "n_patients": g["n"].mean(),
            "n_missing": g["n_missing"].mean(),
            "n_draws": g["draw"].nunique(),
        }
    ).reset_index()
    return out


def recommend_regimen(
    patients: pd.DataFrame,
    *,
    metric: str,
    target: float,
    pta_goal: float = 0.9,
    safety_limit: float = 0.1,
    direction: str = ">=",
    by: Sequence[str] = (),
    bins: Mapping[str, Sequence[float]] | None = None,
    safety_metric: str | None = None,
    safety_threshold: float | None = None,
    safety_direction: str = ">",
    order: Sequence[str] | None = None,
    overall: bool = True,
) -> pd.DataFrame:
    """Per subgroup, the lowest-exposure regimen with PTA ≥ goal and P(safety) ≤ limit.

    The rule is applied to the PTA and safety probabilities averaged over posterior draws
    (``recommended``) and, separately, within each draw; ``probability`` is the share of
    draws whose own recommendation is the same regimen – how sure the recommendation is.

    Parameters
    ----------
    patients, metric, target, direction, by, bins, safety_metric, safety_threshold,
    safety_direction, overall
        As for :func:`target_attainment`.
    pta_goal
        Required probability of target attainment.
    safety_limit
        Highest acceptable probability of a safety event.
    order
        Arms from lowest to highest exposure (and only these are candidates); default: all
        arms, sorted by the mean of ``metric`` over the whole table.

    Returns
    -------
    pandas.DataFrame
        One row per subgroup: ``recommended`` (arm; missing when no arm qualifies),
        ``probability``, ``pta_mean``, ``p_safety_mean`` of the recommended arm, and
        ``share_<arm>`` / ``share_none``: the share of draws recommending each.
    """
    if not 0 < pta_goal <= 1 or not 0 <= safety_limit <= 1:
        raise ValueError("pta_goal must be in (0, 1] and safety_limit in [0, 1]")
    by = [by] if isinstance(by, str) else list(by)
    per = _per_draw(
        patients, metric=metric, target=target, direction=direction, by=by, bins=bins or {},
        safety_metric=safety_metric, safety_threshold=safety_threshold,
        safety_direction=safety_direction, overall=overall,
    )  # fmt: skip
    arms = list(dict.fromkeys(per["arm"]))
    if order is None:
        means = patients.groupby(patients["arm"].astype(str))[metric].mean()
        # no exposure at all (placebo: NaN or 0) sorts first
        order = sorted(arms, key=lambda a: (np.nan_to_num(means[a], nan=-np.inf), a))
    else:
        order = [str(a) for a in order]
        unknown = sorted(set(order) - set(arms))
        if unknown:
            raise KeyError(f"arm(s) {unknown} in order are not in the table; available: {arms}")
    rank = {a: i for i, a in enumerate(order)}
    per = per[per["arm"].isin(rank)].copy()
    per["rank"] = per["arm"].map(rank)
    per["ok"] = (per["pta"] >= pta_goal) & (per["p_safety"] <= safety_limit)

    def pick(frame: pd.DataFrame) -> str | None:
        ok = frame[frame["ok"]]
        return None if ok.empty else str(ok.sort_values("rank")["arm"].iloc[0])

    rows = []
    group_keys = by if by else [lambda _: ALL]
    for key, g in per.groupby(group_keys, sort=False):  # per is in subgroup order
        key = key if isinstance(key, tuple) else (key,)
        mean = g.groupby(["arm", "rank"], as_index=False)[["pta", "p_safety"]].mean()
        mean["ok"] = (mean["pta"] >= pta_goal) & (mean["p_safety"] <= safety_limit)
        choice = pick(mean)
        per_draw = [pick(d) for _, d in g.groupby("draw", sort=True)]
        n_draws = len(per_draw)
        row: dict[str, object] = dict(zip(by, key, strict=False))
        row["recommended"] = choice
        row["probability"] = sum(p == choice for p in per_draw) / n_draws
        chosen = mean[mean["arm"] == choice]
        row["pta_mean"] = float(chosen["pta"].iloc[0]) if len(chosen) else math.nan
        row["p_safety_mean"] = float(chosen["p_safety"].iloc[0]) if len(chosen) else math.nan
        for a in order:
            row[f"share_{a}"] = sum(p == a for p in per_draw) / n_draws
        row["share_none"] = sum(p is None for p in per_draw) / n_draws
        row["n_draws"] = n_draws
        rows.append(row)
    return pd.DataFrame(rows)
