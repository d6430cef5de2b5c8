"""What a what-if user takes away: tables as CSV, figures as PNG, a one-page scenario report.

No Panel here: :func:`answer_tables` gathers the answers of a :class:`~twinlab.apps.whatif.WhatIf`
as the tables shown on screen (the figures' data included), :func:`figures_png` draws the
figures with Matplotlib (static, printable), and :func:`scenario_report` writes one
self-contained HTML page (parameters, model version, fitted range, key numbers, figures;
print it to PDF from the browser) – the viewers in :mod:`twinlab.apps.views` offer them as
downloads.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

__all__ = [
    "TABLES",
    "answer_tables",
    "figures_png",
    "power_table",
    "scenario_report",
    "settings_table",
    "to_csv",
]

#: table name -> what it holds (file names and report headings).
TABLES = {
    "concentration_bands": "Concentration percentiles over time (mg/L)",
    "urate_bands": "Serum urate percentiles over time (mg/dL)",
    "attainment": "Target attainment and safety (fractions, 95 % Wilson interval)",
    "attainment_by_genotype": "Attainment by CYP2C9 genotype (fractions)",
    "exposure": "Exposure and response summary",
    "power": "Trial power by analysis",
}


def answer_tables(
    w: Any, power: Mapping[str, Any] | None = None, by_genotype: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """The what-if's answers as the tables a user downloads (keys of :data:`TABLES`).

    Parameters
    ----------
    w : WhatIf
        The what-if state (its current answers).
    power : mapping, optional
        :meth:`WhatIf.power` (computed when omitted).
    by_genotype : pandas.DataFrame, optional
        The genotype table as shown (with disclosure control, without counts); default: none.
    """
    power = dict(power) if power is not None else w.power()
    tables = {
        "concentration_bands": w.bands("conc"),
        "urate_bands": w.bands("effect"),
        "attainment": w.attainment(),
        "exposure": w.exposures(),
        "power": power_table(power),
    }
    if by_genotype is not None:
        tables["attainment_by_genotype"] = by_genotype
    return tables


def power_table(power: Mapping[str, Any]) -> pd.DataFrame:
    """One row per analysis: power at the chosen size and patients per arm for 80 %."""
    covs = ", ".join(power.get("covariates") or []) or "none"
    rows = [
        ("unadjusted (difference of means)", "unadjusted"),
        (f"ANCOVA on {covs} (the trial stage's analysis)", "ancova"),
        ("PROCOVA (ANCOVA + the twin's prognostic score)", "procova"),
    ]
    return pd.DataFrame(
        [
            {
                "analysis": name,
                "power": power.get(f"power_{key}"),
                "n_per_arm_for_80pct": power.get(f"n80_{key}"),
                "n_per_arm": power.get("n_per_arm"),
                "effect_mg_dl": power.get("effect"),
                "sd_mg_dl": power.get("sd"),
                "dropout": power.get("dropout"),
                "alpha": power.get("alpha"),
            }
            for name, key in rows
        ]
    )


#: a cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM``)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _inert(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, prefixed with ``'`` so it is
    shown as text (OWASP's CSV injection advice); numbers, and text that is a number such as
    ``-1.5``, are kept."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def to_csv(df: pd.DataFrame) -> io.StringIO:
    """``df`` as CSV text (no index), ready for a download; text cells and column names that
    a spreadsheet would run as formulas are made inert (:func:`_inert`).

    Examples
    --------
    >>> to_csv(pd.DataFrame({"arm": ["=1+1", "A"], "dose": [-1.5, 2]})).read().splitlines()
    ['arm,dose', "'=1+1,-1.5", 'A,2.0']
    """
    safe = df.rename(columns=lambda c: _inert(c) if isinstance(c, str) else c)
    for i, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            safe.isetitem(i, safe.iloc[:, i].map(_inert))
    buf = io.StringIO()
    # CRLF (RFC 4180) ends the rows: a field holding a lone CR is then quoted, not split
    # into a new row whose first cell a spreadsheet would read afresh
    safe.to_csv(buf, index=False, lineterminator="\r\n")
    buf.seek(0)
    return buf


def settings_table(values: Mapping[str, Any], labels: Mapping[str, str]) -> pd.DataFrame:
    """The settings a user chose, with their plain labels (``setting``, ``value``)."""
    rows = []
    for name, label in labels.items():
        if name not in values:
            continue
        v = values[name]
        if isinstance(v, list | tuple):
            v = ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) or "all"
        elif isinstance(v, float):
            v = f"{v:g}"
        rows.append({"setting": label, "value": str(v)})
    return pd.DataFrame(rows, columns=["setting", "value"])


def _bands_axes(ax: Any, df: pd.DataFrame, ylabel: str, title: str) -> None:
    ax.fill_between(
        df["day"], df["p05"], df["p95"], alpha=0.25, color="C0", label="5th–95th percentile"
    )
    ax.fill_between(
        df["day"], df["p25"], df["p75"], alpha=0.45, color="#e4572e", label="25th–75th percentile"
    )
    ax.plot(df["day"], df["p50"], color="C0", lw=2, label="median")
    ax.set(xlabel="time since first dose (days)", ylabel=ylabel, title=title)
    ax.legend(loc="upper right", fontsize=8)


def figures_png(tables: Mapping[str, pd.DataFrame], *, dpi: int = 110) -> bytes:
    """The explorer's three figures (concentration, urate, attainment) as one PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    _bands_axes(a, tables["concentration_bands"], "concentration (mg/L)", "Concentration–time")
    _bands_axes(b, tables["urate_bands"], "serum urate (mg/dL)", "Serum urate")
    att = tables["attainment"]
    lo = att["fraction"] - att["ci_low"]
    hi = att["ci_high"] - att["fraction"]
    c.bar(range(len(att)), att["fraction"], yerr=[lo, hi], color="C0", capsize=4)
    c.set_xticks(range(len(att)), [str(x) for x in att["criterion"]], rotation=12, fontsize=8)
    c.set(ylim=(0, 1), ylabel="share of virtual patients", title="Targets and safety")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda x: f"{x:.3g}", border=0, na_rep="–")


def scenario_report(
    *,
    settings: pd.DataFrame,
    provenance: Mapping[str, Any],
    fitted: str,
    warnings: list[str],
    summary: str,
    tables: Mapping[str, pd.DataFrame],
    user: str,
) -> str:
    """A one-page, self-contained HTML report of a scenario (print to PDF from the browser).

    Parameters
    ----------
    settings
        :func:`settings_table` of the scenario.
    provenance
        :meth:`WhatIf.provenance` (model version, data hash, seed, draws, validation).
    fitted
        What the twin was fitted on (:meth:`twinlab.apps.twin.FittedRange.describe`).
    warnings
        Extrapolation warnings shown with the answers (empty: none).
    summary
        The key numbers, one line of plain text.
    tables
        :func:`answer_tables`.
    user
        Who produced it.
    """
    png = base64.b64encode(figures_png(tables, dpi=90)).decode("ascii")
    esc = html.escape
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    warn = "".join(f"<p class='warn'>⚠ {esc(w)}</p>" for w in warnings)
    prov = pd.DataFrame(
        [
            ("twin model", f"{provenance['model']} ({provenance['structural_model']})"),
            ("validation gate", provenance["validation"]),
            ("fitted on", fitted),
            ("data hash", str(provenance["data_hash"])[:16] + "…"),
            ("seed", provenance["seed"]),
            (
                "posterior draws",
                f"{provenance['n_draws']} of {provenance['posterior_draws']} "
                "(patients spread over them)",
            ),
            ("virtual patients", f"{provenance['n_patients']:,}"),
            ("PD", "assumed, not fitted: " + str(provenance["pd_spec"])),
        ],
        columns=["item", "value"],
    )
    sections = [
        f"<h2>Settings</h2>{_html_table(settings)}",
        "<h2>Trial power</h2>"
        + _html_table(
            tables["power"]
            .iloc[:, :3]
            .rename(columns={"n_per_arm_for_80pct": "patients per arm for 80 %"})
        ),
        f"<h2>Exposure and response</h2>{_html_table(tables['exposure'])}",
        f"<h2>Model and provenance</h2>{_html_table(prov)}",
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>twinlab scenario report</title>
<style>
body {{ font: 11px/1.35 system-ui, sans-serif; margin: 14mm; color: #222; }}
h1 {{ font-size: 17px; margin: 0 0 4px; }} h2 {{ font-size: 13px; margin: 10px 0 3px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 1px 8px 1px 0; text-align: left; }}
th {{ border-bottom: 1px solid #999; }} .warn {{ color: #9a3412; font-weight: 600; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 0 18px; }}
img {{ width: 100%; }} .meta {{ color: #555; }}
@page {{ size: A4 landscape; margin: 10mm; }}
</style></head><body>
<h1>What-if scenario: {esc(summary)}</h1>
<p class="meta">{esc(when)} · by {esc(user)} · twin {esc(str(provenance["model"]))} ·
virtual patients, not trial results</p>
{warn}
<img alt="concentration, urate and attainment" src="data:image/png;base64,{png}">
<div class="grid">{"".join(f"<div>{s}</div>" for s in sections)}</div>
</body></html>
"""
