"""The parameter table a modeler reads first: every estimated quantity of a population fit.

:func:`parameter_table` lists typical values (natural scale), covariate effects,
between-subject variability (as the variance ω² of the log-normal eta and as
CV% = 100·sqrt(exp(ω²) − 1)), eta correlations, and residual errors, each with posterior
mean, SD, highest-density interval, rank-normalized R-hat and bulk ESS.
:func:`format_parameter_table` prints it (``twinlab fit`` does);
:meth:`twinlab.pkpd.fit.FitResult.parameter_table` is the same call on a fit.

Variance and CV% are monotone transforms of ω, computed draw by draw: their bulk ESS
(rank-based) equals ω's; their R-hat (the larger of the rank-normalized bulk and folded
R-hat) may differ from it in the third decimal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from twinlab.pkpd.fit import FitResult, _stats

__all__ = ["GROUPS", "format_parameter_table", "parameter_table"]

#: Row groups, in the order they are listed.
GROUPS = (
    "typical value",
    "covariate effect",
    "between-subject variability",
    "eta correlation",
    "residual error",
)
_COLUMNS = ["group", "quantity", "mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"]


def _row(name: str, group: str, quantity: str, da: Any, hdi_prob: float) -> dict[str, Any]:
    return {"name": name, "group": group, "quantity": quantity, **_stats(da, hdi_prob)}


def _elements(da: Any) -> list[tuple[str, Any]]:
    """``(suffix, scalar DataArray)`` for every element of a ``(chain, draw, ...)`` variable."""
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return [("", da)]
    out = []
    for idx in np.ndindex(*(da.sizes[d] for d in extra)):
        sel = dict(zip(extra, idx, strict=True))
        labels = [str(da[d].values[i]) if d in da.coords else str(i) for d, i in sel.items()]
        out.append((f"[{', '.join(labels)}]", da.isel(sel)))
    return out


def parameter_table(result: FitResult, *, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Every estimated quantity of a fit, one row each.

    Parameters
    ----------
    result : FitResult
        The fit.
    hdi_prob : float
        Probability of the highest-density intervals (0.94, ArviZ's default, as in
        :meth:`~twinlab.pkpd.fit.FitResult.summary`).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``name`` (``cl``, ``beta_cl_crcl``, ``omega2_cl``, ``cv_cl``,
        ``corr_ka_cl``, ``sigma_prop_conc``...), with columns ``group`` (one of
        :data:`GROUPS`), ``quantity`` (what the number is, and its scale), ``mean``,
        ``sd``, ``hdi_low``, ``hdi_high``, ``r_hat`` and ``ess_bulk``; ``attrs["hdi_prob"]``.

    Examples
    --------
    >>> table = parameter_table(result)  # doctest: +SKIP
    >>> table.loc["cv_cl", ["mean", "hdi_low", "hdi_high"]]  # doctest: +SKIP
    """
    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob must be between 0 and 1, not {hdi_prob}")
    post = result.idata.posterior
    spec = result.spec
    rows = []
    for p in spec.parameters:
        if not p.fixed and p.name in post:
            rows.append(_row(p.name, GROUPS[0], "natural scale", post[p.name], hdi_prob))
    for name in sorted(str(v) for v in post.data_vars if str(v).startswith("beta_")):
        for suffix, da in _elements(post[name]):
            rows.append(_row(name + suffix, GROUPS[1], "coefficient (log scale)", da, hdi_prob))
    random = [p.name for p in spec.parameters if p.omega is not None]
    omegas: dict[str, Any] = {}
    if "chol_eta_stds" in post:
        stds = post["chol_eta_stds"]
        last = stds.dims[-1]
        omegas = {r: stds.isel({last: k}) for k, r in enumerate(random)}
    else:
        omegas = {r: post[f"omega_{r}"] for r in random if f"omega_{r}" in post}
    for r, omega in omegas.items():
        variance = omega**2
        rows.append(_row(f"omega2_{r}", GROUPS[2], "variance ω² (log scale)", variance, hdi_prob))
        cv = 100.0 * np.sqrt(np.expm1(variance))
        rows.append(_row(f"cv_{r}", GROUPS[2], "CV% = 100·sqrt(exp(ω²)−1)", cv, hdi_prob))
    if "chol_eta_corr" in post:
        corr = post["chol_eta_corr"]
        d0, d1 = corr.dims[-2:]
        for i in range(len(random)):
            for j in range(i + 1, len(random)):
                da = corr.isel({d0: i, d1: j})
                name = f"corr_{random[i]}_{random[j]}"
                rows.append(_row(name, GROUPS[3], "correlation of the etas", da, hdi_prob))
    for err in spec.errors:
        for term in err.terms:
            if term in post:
                kind = "SD, DV units" if term.startswith("sigma_add") else "SD, fraction of IPRED"
                rows.append(_row(term, GROUPS[4], kind, post[term], hdi_prob))
    table = pd.DataFrame(rows, columns=["name", *_COLUMNS]).set_index("name")
    table.attrs["hdi_prob"] = hdi_prob
    return table


def format_parameter_table(table: pd.DataFrame) -> str:
    """``table`` (:func:`parameter_table`) as aligned text, grouped under headings.

    Examples
    --------
    >>> print(format_parameter_table(parameter_table(result)))  # doctest: +SKIP
    """
    prob = table.attrs.get("hdi_prob", 0.94)
    header = (
        f"{'parameter':<22} {'mean':>10} {'sd':>10}  {f'{prob:.0%} HDI':<23} "
        f"{'R-hat':>6} {'ESS bulk':>8}  quantity"
    )
    lines = [header, "-" * len(header)]
    for group in [g for g in GROUPS if g in set(table["group"])] + sorted(
        set(table["group"]) - set(GROUPS)
    ):
        lines.append(f"{group}:")
        for name, r in table[table["group"] == group].iterrows():
            hdi = f"[{r['hdi_low']:.4g}, {r['hdi_high']:.4g}]"
            rhat = "n/a" if np.isnan(r["r_hat"]) else f"{r['r_hat']:.3f}"
            lines.append(
                f"  {name:<20} {r['mean']:>10.4g} {r['sd']:>10.3g}  {hdi:<23} "
                f"{rhat:>6} {r['ess_bulk']:>8.0f}  {r['quantity']}"
            )
    return "\n".join(lines)
