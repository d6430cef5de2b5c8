"""What the executed reports (``notebooks/03``–``06``) show, built here so the notebooks stay
thin: a summary first (what was run, the key numbers, pass/fail with reasons), then figures,
then details; tables whole (never cut with "…") and with units in their headers.

Objects render as HTML in a notebook (``_repr_html_``) and as text elsewhere (``str``).

Examples
--------
>>> s = Summary("Fit", ran=["1-cmt oral, 8 subjects"], numbers=[("CL", 4.9, "L/h")],
...             checks=[Check("R-hat", True, "1.003 <= 1.01")])
>>> print(s)
Fit: PASS
- 1-cmt oral, 8 subjects
CL: 4.900 L/h
[pass] R-hat: 1.003 <= 1.01
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ENDPOINT_UNITS",
    "Check",
    "Summary",
    "Table",
    "bands_figure",
    "endpoint_units",
    "exposure_table",
    "fit_summary",
    "power_figure",
    "regimen_table",
    "sensitivity_summary",
    "simulate_summary",
    "sobol_figure",
    "sobol_warnings",
    "trial_summary",
    "trial_table",
    "whole",
]

#: units of the simulate stage's per-patient endpoints (doses in mg, concentrations in mg/L;
#: ``effect`` in the PD model's unit, given by the caller)
ENDPOINT_UNITS: dict[str, str] = {
    "auc": "mg·h/L",
    "auc_tau": "mg·h/L",
    "cmax": "mg/L",
    "ctrough": "mg/L",
    "tmax": "h",
    "t_above": "h",
    "effect_pcfb": "%",
}


def _fmt(value: Any, digits: int = 3, *, zeros: bool = False) -> str:
    """A cell's text: ``digits`` significant digits (``zeros``: trailing zeros kept, so
    1.0002 reads 1.000), thousands separated, whole numbers of 1,000 and more unrounded."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if abs(v) >= 1e3:
            return f"{v:,.0f}"
        return f"{v:#,.{digits}g}".rstrip(".") if zeros else f"{v:,.{digits}g}"
    return str(value)


@dataclass(frozen=True)
class Check:
    """One pass/fail line of a summary: ``passed`` ``None`` is informational."""

    name: str
    passed: bool | None
    reason: str

    @property
    def mark(self) -> str:
        """``pass``, ``FAIL`` or ``note``."""
        return {True: "pass", False: "FAIL", None: "note"}[self.passed]


@dataclass(frozen=True, repr=False)
class Summary:
    """The head of a report: what was run, the key numbers (label, value, unit) and the
    checks with their reasons; ``warnings`` are shown in bold under them."""

    title: str
    ran: Sequence[str] = ()
    numbers: Sequence[tuple[str, Any, str]] = ()
    checks: Sequence[Check] = ()
    warnings: Sequence[str] = ()

    @property
    def passed(self) -> bool:
        """Every check passed (informational ones aside)."""
        return all(c.passed is not False for c in self.checks)

    @property
    def verdict(self) -> str:
        """``PASS`` or ``FAIL: <the failed checks>``."""
        failed = [c.name for c in self.checks if c.passed is False]
        return "PASS" if not failed else "FAIL: " + ", ".join(failed)

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        lines = [f"{self.title}: {self.verdict}"]
        lines += [f"- {r}" for r in self.ran]
        lines += [f"{k}: {_fmt(v, 4, zeros=True)} {u}".rstrip() for k, v, u in self.numbers]
        lines += [f"[{c.mark}] {c.name}: {c.reason}" for c in self.checks]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        color = "#1a7f37" if self.passed else "#cf222e"
        out = [
            f"<div style='border-left:4px solid {color};padding:4px 10px'>",
            f"<h3 style='margin:2px 0'>{e(self.title)}: "
            f"<span style='color:{color}'>{e(self.verdict)}</span></h3>",
        ]
        if self.ran:
            out.append("<ul>" + "".join(f"<li>{e(r)}</li>" for r in self.ran) + "</ul>")
        if self.numbers:
            rows = "".join(
                f"<tr><td style='text-align:left'>{e(k)}</td>"
                f"<td style='text-align:right'>{e(_fmt(v, 4, zeros=True))}</td>"
                f"<td style='text-align:left'>{e(u)}</td></tr>"
                for k, v, u in self.numbers
            )
            out.append(
                f"<table><tr><th>key number</th><th>value</th><th>unit</th></tr>{rows}</table>"
            )
        if self.checks:
            marks = {"pass": "#1a7f37", "FAIL": "#cf222e", "note": "#57606a"}
            rows = "".join(
                f"<tr><td style='color:{marks[c.mark]};font-weight:bold'>{c.mark}</td>"
                f"<td style='text-align:left'>{e(c.name)}</td>"
                f"<td style='text-align:left'>{e(c.reason)}</td></tr>"
                for c in self.checks
            )
            out.append(f"<table><tr><th></th><th>check</th><th>why</th></tr>{rows}</table>")
        for w in self.warnings:
            out.append(f"<p style='color:#9a6700'><b>Warning:</b> {e(w)}</p>")
        out.append("</div>")
        return "\n".join(out)


@dataclass(frozen=True, repr=False)
class Table:
    """A whole table (no "…"), numbers rounded to ``digits`` significant digits and
    units in the column headers (``cmax (mg/L)``)."""

    frame: pd.DataFrame
    units: Mapping[str, str] = field(default_factory=dict)
    digits: int = 3
    caption: str = ""

    def labelled(self) -> pd.DataFrame:
        """The frame with formatted cells and ``name (unit)`` headers."""

        def head(c: Any) -> Any:
            if isinstance(c, tuple):
                return tuple(head(x) for x in c)
            u = self.units.get(str(c))
            return f"{c} ({u})" if u else c

        out = self.frame.copy()
        for c in out.columns:
            if pd.api.types.is_float_dtype(out[c]):
                out[c] = out[c].map(lambda v: _fmt(v, self.digits) if pd.notna(v) else "")
            elif not pd.api.types.is_numeric_dtype(out[c]):  # text or mixed: missing blank
                out[c] = out[c].astype(object).map(
                    lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                    else _fmt(v, self.digits)
                )  # fmt: skip
        out.columns = [head(c) for c in out.columns]
        if isinstance(self.frame.columns, pd.MultiIndex):
            out.columns = pd.MultiIndex.from_tuples(out.columns)
        return out

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        text = self.labelled().to_string(max_rows=None, max_cols=None, index=False)
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        body = self.labelled().to_html(max_rows=None, max_cols=None, border=0, index=False)
        cap = f"<p><b>{html.escape(self.caption)}</b></p>" if self.caption else ""
        return cap + body


# ---------------------------------------------------------------------------- report 03


def fit_summary(
    result: Any,
    gate: Any,
    *,
    units: Any = None,
    check: Mapping[str, Any] | None = None,
) -> Summary:
    """Report 03's summary: the model and data, the typical values with CV% and units,
    and every gate check (value, bound and, when it fails, what usually fixes it).

    Parameters
    ----------
    result : FitResult
    gate : twinlab.pkpd.gate.GateResult
        :func:`twinlab.pkpd.gate.validate` with ``params.yaml``'s bounds.
    units : FitUnits, optional
    check : mapping, optional
        A :func:`twinlab.pkpd.vpc.vpc` result, for its percentile coverage.
    """
    from twinlab.pkpd.diagnostics import parameter_table
    from twinlab.pkpd.fit_units import FitUnits

    units = units or FitUnits()
    a = result.arrays
    cens = np.asarray(a.obs_cens, dtype=bool)
    s = result.settings
    ran = [
        f"{result.spec.name}: {result.spec.model}, {a.n_subjects} subjects, {a.n_obs} samples "
        f"({int(cens.sum())} BLQ, handled by Beal's M3 likelihood)",
        f"{result.sampler}: {s.get('chains', '?')} chains × {s.get('draws', '?')} draws after "
        f"{s.get('tune', '?')} tuning steps, seed {s.get('seed', '?')}",
    ]
    table = parameter_table(result, units)
    numbers = []
    for p in result.spec.parameters:
        if p.name in table.index:
            row = table.loc[p.name]
            numbers.append((f"{p.name} (typical)", float(row["mean"]), str(row["unit"])))
        if f"cv_{p.name}" in table.index:
            numbers.append((f"{p.name} BSV", float(table.loc[f"cv_{p.name}", "mean"]), "CV%"))
    checks = [
        Check(
            c.name,
            bool(c.passed),
            f"{_fmt(c.value, 4)} (bound {c.bound})"
            + (f" at {c.parameter}" if c.parameter else "")
            + (f" – {c.hint}" if not c.passed and c.hint else ""),
        )
        for c in gate.checks
    ]
    if check is not None:
        checks.append(
            Check(
                "VPC percentiles",
                None,
                f"{check['coverage']:.0%} of observed percentiles inside their simulated "
                f"{check.get('ci', 0.95):.0%} interval (binned by {check['x_label']})",
            )
        )
    return Summary("Population PK fit", ran, numbers, checks)


# ---------------------------------------------------------------------------- report 04


def _times(times: Sequence[float], unit: str = "h") -> str:
    t = np.asarray(times, dtype=float)
    if len(t) > 2 and np.allclose(np.diff(t), t[1] - t[0]):
        return f"{t[0]:g}–{t[-1]:g} {unit} every {t[1] - t[0]:g} {unit} ({len(t)} time points)"
    return f"{len(t)} time points from {t.min():g} to {t.max():g} {unit}"


def regimen_table(run: Mapping[str, Any]) -> Table:
    """One row per arm of a simulate ``run.json``: dose, route, interval, number of doses,
    duration."""
    rows = []
    for arm in run["scenario"]["arms"]:
        r = arm.get("regimen") or {}
        rows.append(
            {
                "arm": arm["name"],
                "dose": r.get("dose", 0.0),
                "route": r.get("route", "placebo"),
                "interval": r.get("interval_h", np.nan),
                "doses": r.get("n_doses", 0),
                "duration": r.get("duration_h", np.nan),
                "loading dose": r.get("loading_dose") or np.nan,
            }
        )
    units = {"dose": "mg", "interval": "h", "duration": "h", "loading dose": "mg"}
    return Table(pd.DataFrame(rows), units, caption="Regimens simulated")


def simulate_summary(
    run: Mapping[str, Any], patients: pd.DataFrame, *, effect_unit: str = ""
) -> Summary:
    """Report 04's summary: model, cohort, arms, times and the median endpoints by arm."""
    sc = run["scenario"]
    sizes = run.get("sizes", {})
    pop = sc.get("population", {})
    ran = [
        f"model {sc['model']} ({run.get('backend', '?')} back end), scenario {sc['name']}, "
        f"seed {sc.get('seed')}",
        f"{sizes.get('n_patients', '?')} virtual patients × {sizes.get('n_draws', '?')} "
        f"posterior draws × {sizes.get('n_arms', len(sc['arms']))} arms "
        f"({sizes.get('patient_rows', '?')} patient rows)",
        f"times: {_times(sc['times'])}; residual error {'on' if sc.get('residual') else 'off'}",
    ]
    if pop.get("covariates", {}).get("map"):
        ran.append(
            "covariates resampled from the harmonized cohort: "
            + ", ".join(pop["covariates"]["map"])
        )
    numbers = []
    med = patients.groupby("arm", sort=False)[["cmax", "effect_end"]].median()
    for arm, row in med.iterrows():
        numbers.append((f"{arm}: median Cmax", float(row["cmax"]), ENDPOINT_UNITS["cmax"]))
        numbers.append((f"{arm}: median urate at end", float(row["effect_end"]), effect_unit))
    missing = int(patients[["cmax", "effect_end"]].isna().sum().sum())
    checks = [
        Check(
            "every patient simulated",
            missing == 0,
            "no missing endpoint" if missing == 0 else f"{missing} missing endpoint values",
        )
    ]
    return Summary("Virtual cohort simulation", ran, numbers, checks)


# ---------------------------------------------------------------------------- report 05


def sobol_warnings(indices: pd.DataFrame) -> list[str]:
    """A sentence per Sobol index outside [0, 1] beyond its confidence half-width (a
    negative one is within it when the parameter does not matter): Monte Carlo error of
    the estimator, which a larger base sample (``sensitivity.n``) reduces."""
    out = []
    for kind in ("S1", "ST"):
        if kind not in indices:
            continue
        conf = indices.get(f"{kind}_conf", pd.Series(0.0, index=indices.index)).fillna(0.0)
        for i in np.flatnonzero((indices[kind] > 1.0) | (indices[kind] + conf < 0.0)):
            r = indices.iloc[i]
            out.append(
                f"{kind} of {r['parameter']} on {r['output']} is {r[kind]:.3f} "
                f"(± {conf.iloc[i]:.3f}), outside [0, 1]: Monte Carlo error of the estimator; "
                "raise sensitivity.n for a tighter estimate"
            )
    return out


def sobol_figure(indices: pd.DataFrame) -> Any:
    """S1 and ST with confidence bars per output; the axis covers every index and its bar
    (nothing clipped), with the line at 1 and indices above it marked."""
    from twinlab.figures import new_figure

    outputs = list(dict.fromkeys(indices["output"]))
    top = float(
        np.nanmax(
            np.r_[
                indices[["S1", "ST"]].to_numpy().ravel()
                + indices[["S1_conf", "ST_conf"]].fillna(0).to_numpy().ravel(),
                1.0,
            ]
        )
    )
    low = float(
        min(
            0.0,
            np.nanmin(
                indices[["S1", "ST"]].to_numpy()
                - indices[["S1_conf", "ST_conf"]].fillna(0).to_numpy()
            ),
        )
    )
    fig = new_figure((3.8 * len(outputs), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(outputs), sharey=True))
    for ax, output in zip(axes, outputs, strict=True):
        d = indices[indices["output"] == output].reset_index(drop=True)
        x = np.arange(len(d))
        for k, (kind, color) in enumerate((("S1", "tab:blue"), ("ST", "tab:orange"))):
            ax.bar(x + (k - 0.5) * 0.4, d[kind], 0.4, yerr=d[f"{kind}_conf"], capsize=2,
                   color=color, label="first order S1" if kind == "S1" else "total ST")  # fmt: skip
            for i in np.flatnonzero(d[kind] > 1.0):
                ax.annotate(f"{d[kind][i]:.3f}", (x[i] + (k - 0.5) * 0.4, d[kind][i]),
                            ha="center", va="bottom", fontsize=7, color="tab:red")  # fmt: skip
        ax.axhline(1.0, color="tab:red", ls=":", lw=1)
        ax.set_xticks(x, d["parameter"], rotation=45)
        ax.set_title(output, fontsize=9)
        ax.set_ylim(low - 0.02, top * 1.08)
    axes[0].set_ylabel("Sobol index (share of output variance)")
    axes[0].legend(fontsize=7, frameon=False)
    return fig


def sensitivity_summary(
    indices: pd.DataFrame, details: Mapping[str, Any] | None, surrogate: Any
) -> Summary:
    """Report 05's summary: the design of the analysis, the leading parameter of each
    output, the indices' range check and the surrogate's held-out accuracy and binding."""
    details = details or {}
    problem = details.get("problem", {})
    ran = [
        f"Sobol indices (SALib, Saltelli sampling): base sample n = {details.get('n', '?')}, "
        f"{details.get('n_evaluations', '?')} model evaluations, seed {details.get('seed', '?')}",
    ]
    if problem.get("names"):
        ranges = ", ".join(
            f"{n} {lo:g}–{hi:g}"
            for n, (lo, hi) in zip(problem["names"], problem["bounds"], strict=True)
        )
        ran.append(f"parameter ranges: {ranges}")
    numbers = []
    for output, d in indices.groupby("output", sort=False):
        top = d.loc[d["ST"].idxmax()]
        numbers.append(
            (f"{output}: largest total index ({top['parameter']})", float(top["ST"]), "")
        )
    warns = sobol_warnings(indices)
    checks = [
        Check(
            "indices in [0, 1]",
            None if warns else True,
            "every index within [0, 1] up to its confidence interval"
            if not warns
            else f"{len(warns)} index(es) outside [0, 1] (see the warnings): shown, not clipped",
        )
    ]
    if surrogate is not None:
        r2 = {k: v["r2"] for k, v in surrogate.error.items() if isinstance(v, dict) and "r2" in v}
        worst = min(r2, key=r2.get) if r2 else None
        if worst is not None:
            checks.append(
                Check(
                    "surrogate accuracy",
                    r2[worst] >= 0.95,
                    f"held-out R² ≥ {r2[worst]:.4f} on every output (lowest: {worst}; "
                    "needs ≥ 0.95 to answer in place of the engine)",
                )
            )
        b = surrogate.binding
        ran.append(
            f"surrogate ({surrogate.kind}) bound to twin {b.get('model')} v{b.get('version')} "
            f"(data hash {b.get('data_hash', '')})"
        )
    return Summary("Global sensitivity and surrogate", ran, numbers, checks, warns)


# ---------------------------------------------------------------------------- report 06


def trial_summary(details: Mapping[str, Any], *, effect_unit: str = "") -> Summary:
    """Report 06's summary: the design, power and type I error by analysis, PROCOVA's
    planned and realised variance reduction, and the recommended regimen per group."""
    design = details.get("design", {})
    n_rep = int(details.get("n_replicates", 0))
    alpha = float(design.get("alpha", 0.05))
    arms = design.get("arms", {})
    if isinstance(arms, Mapping):
        arms = [{"name": k, "ratio": v} for k, v in arms.items()]
    arm_text = (
        ":".join(f"{a.get('ratio', 1):g}" if isinstance(a, Mapping) else "1" for a in arms)
        + " "
        + "/".join(str(a.get("name")) if isinstance(a, Mapping) else str(a) for a in arms)
    )
    ran = [
        f"{design.get('name', 'design')}: {design.get('n_total', '?')} randomized ({arm_text}), "
        f"control {design.get('control')}, {design.get('analysis')} analysis, α = {alpha:g} "
        f"({design.get('sided', 2)}-sided), dropout {design.get('dropout', 0):.0%}",
        f"{n_rep:,} simulated trials per analysis, each under the alternative and the null",
    ]
    numbers = []
    checks = []
    # Monte Carlo SE of a rejection rate at alpha: 3 SE is the tolerance of the check
    tol = 3 * math.sqrt(alpha * (1 - alpha) / max(n_rep, 1))
    for analysis in ("unadjusted", "ancova", "procova"):
        block = details.get(analysis)
        if not block:
            continue
        for comp, power in block.get("power", {}).items():
            numbers.append((f"power {comp}, {analysis}", float(power), ""))
        worst = max(block.get("type_i_error", {}).values(), default=float("nan"))
        checks.append(
            Check(
                f"type I error, {analysis}",
                bool(worst <= alpha + tol),
                f"largest {worst:.4f} against α = {alpha:g} (Monte Carlo tolerance {tol:.4f})",
            )
        )
    plan = (details.get("prognostic") or {}).get("planning", {}).get("comparisons", {})
    for comp, p in plan.items():
        realised = (details.get("procova") or {}).get("variance_reduction", {}).get(comp)
        numbers.append(
            (f"PROCOVA planned variance reduction {comp}", float(p["variance_reduction"]), "")
        )
        if realised is not None:
            numbers.append((f"PROCOVA realised variance reduction {comp}", float(realised), ""))
        numbers.append(
            (f"patients saved {comp}", float(p.get("n_saved", float("nan"))), "patients")
        )
    for group, rec in (details.get("dose") or {}).items():
        regimen = rec.get("regimen")
        checks.append(
            Check(
                f"dose for {group}",
                None if regimen else False,
                f"{regimen} (probability of target {rec['probability']:.0%})"
                if regimen
                else "no regimen meets the target attainment and safety limits",
            )
        )
    return Summary("Trial design", ran, numbers, checks)


def whole(frame: pd.DataFrame, units: Mapping[str, str] | None = None, **kw: Any) -> Table:
    """:class:`Table` shorthand."""
    return Table(frame, dict(units or {}), **kw)


def endpoint_units(columns: Iterable[str], effect_unit: str = "") -> dict[str, str]:
    """Units of simulate endpoint columns (``effect_*`` in ``effect_unit``)."""
    out = {}
    for c in columns:
        if c in ENDPOINT_UNITS:
            out[c] = ENDPOINT_UNITS[c]
        elif c.startswith("effect") and effect_unit:
            out[c] = effect_unit
    return out


def trial_table(details: Mapping[str, Any]) -> Table:
    """Power, type I error and variance reduction (realised, planned) per analysis and
    comparison, one row each."""
    rows = []
    for analysis in ("unadjusted", "ancova", "procova"):
        block = details.get(analysis) or {}
        for comp in block.get("power", {}):
            row = {"analysis": analysis, "comparison": comp}
            for key in ("power", "type_i_error", "variance_reduction",
                        "variance_reduction_mc_se", "planned_variance_reduction"):  # fmt: skip
                row[key.replace("_", " ")] = (block.get(key) or {}).get(comp, np.nan)
            rows.append(row)
    return Table(pd.DataFrame(rows), caption="Operating characteristics by analysis")


def exposure_table(
    patients: pd.DataFrame, columns: Sequence[str], *, effect_unit: str = ""
) -> Table:
    """Median over virtual patients per arm and draw, summarised across posterior draws
    (median and 90 % interval): one row per arm and endpoint, with its unit."""
    per_draw = patients.groupby(["arm", "draw"], sort=False)[list(columns)].median()
    rows = []
    units = endpoint_units(columns, effect_unit)
    for arm, d in per_draw.groupby(level="arm", sort=False):
        for c in columns:
            lo, med, hi = np.nanquantile(d[c].to_numpy(dtype=float), [0.05, 0.5, 0.95])
            rows.append({"arm": arm, "endpoint": c, "unit": units.get(c, ""),
                         "median": med, "5%": lo, "95%": hi})  # fmt: skip
    return Table(
        pd.DataFrame(rows),
        caption="Median over virtual patients; 90 % interval of that median across posterior draws",
    )


def bands_figure(result: Any, *, effect_unit: str = "", threshold: float | None = None) -> Any:
    """Concentration and effect over time by arm: median and 5th–95th percentile bands of
    the virtual patients over all draws (days on the axis)."""
    from twinlab.figures import new_figure

    fig = new_figure((12, 4))
    axes = fig.subplots(1, 2)
    conc_unit = result.dataset["conc"].attrs.get("units", "mg/L")
    for ax, endpoint, label in zip(
        axes,
        ("conc", "effect"),
        (f"concentration ({conc_unit})", f"effect ({effect_unit})"),
        strict=True,
    ):
        bands = result.bands(endpoint)
        for arm in bands["arm"].values:
            b = bands.sel(arm=arm)
            days = b["time"] / 24
            (line,) = ax.plot(days, b.sel(quantile=0.5), label=str(arm))
            ax.fill_between(days, b.sel(quantile=0.05), b.sel(quantile=0.95), alpha=0.15,
                            color=line.get_color())  # fmt: skip
        ax.set_xlabel("time since first dose (day)")
        ax.set_ylabel(label if effect_unit or endpoint == "conc" else "effect")
    if threshold is not None:
        axes[1].axhline(threshold, color="k", ls=":", lw=1, label=f"target {threshold:g}")
    axes[1].legend(ncol=2, fontsize=8, title="arm (median, 5th–95th percentile)")
    return fig


def power_figure(curve: pd.DataFrame, *, goal: float = 0.8) -> Any:
    """Power against total sample size: simulated (points, ±2 Monte Carlo SE) and analytic
    (lines), one colour per comparison and one line style per analysis."""
    from twinlab.figures import new_figure

    fig = new_figure((7.5, 4.2))
    ax = fig.subplots()
    styles = {"unadjusted": ":", "ancova": "--", "procova": "-"}
    colors = {}
    for (analysis, comparison), d in curve.groupby(["analysis", "comparison"], sort=False):
        color = colors.setdefault(comparison, f"C{len(colors)}")
        ax.plot(d["n_total"], d["analytic_power"], ls=styles.get(analysis, "-"), color=color,
                label=f"{comparison} · {analysis}")  # fmt: skip
        ax.errorbar(d["n_total"], d["power"], yerr=2 * d["power_mc_se"], fmt="o", ms=3,
                    color=color)  # fmt: skip
    ax.axhline(goal, color="k", ls=":", lw=1)
    ax.set(xlabel="randomized participants (total)", ylabel="power", ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=2, title="comparison · analysis (lines analytic, points simulated)",
              title_fontsize=7)  # fmt: skip
    return fig
