"""The apps: thin Panel viewers over :class:`~twinlab.apps.whatif.WhatIf` and the summaries.

Each page function returns a template for ``panel serve`` (see ``twinlab/apps/pages``);
each viewer can also be shown in a notebook (``WhatIfView(WhatIf(root=...), ctx)``).
Every answer a viewer computes is written to the audit log with the user and the
parameters (:func:`twinlab.apps.context.audit_query`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange
from bokeh.plotting import figure
from panel.viewable import Viewer

from twinlab.apps.context import AppContext, as_user, audit_query, current_context
from twinlab.apps.disclosure import ROUND_TO, suppress_counts
from twinlab.apps.summaries import (
    GROUPINGS,
    audit_entries,
    cohort_counts,
    conservation,
    quality_checks,
    run_lineage,
    studies,
)
from twinlab.apps.twin import registered_models
from twinlab.apps.whatif import WhatIf
from twinlab.audit.log import acting_as

__all__ = [
    "CohortView",
    "PatientsView",
    "ReviewerView",
    "WhatIfView",
    "attainment_bars",
    "band_overlay",
    "cohort_page",
    "patients_page",
    "reviewer_page",
    "whatif_page",
]

hv.extension("bokeh", logo=False)

PATIENTS_ENV = "TWINLAB_WHATIF_PATIENTS"

_CONTROLS = [
    "model",
    "scenario",
    "dose",
    "interval_h",
    "duration_days",
    "route",
    "weight_range",
    "crcl_range",
    "genotypes",
    "method",
    "n_patients",
    "target_trough",
    "safety_cmax",
    "urate_target",
    "trial_n",
    "alpha",
    "seed",
]
_PD = ["e0", "omega_e0", "kout", "imax", "ic50", "omega_ic50"]
_BAND_COLUMNS = ("day", "p05", "p25", "p50", "p75", "p95")


def band_overlay(df: pd.DataFrame, ylabel: str, title: str) -> hv.Overlay:
    """HoloViews percentile bands (5–95th, 25–75th, median) of a :meth:`WhatIf.bands` frame.

    For notebooks; the served explorer draws the same bands with :class:`_BandFigure`.
    """
    outer = hv.Area(df, "day", ["p05", "p95"], label="5–95th").opts(alpha=0.25)
    inner = hv.Area(df, "day", ["p25", "p75"], label="25–75th").opts(alpha=0.4)
    median = hv.Curve(df, "day", "p50", label="median").opts(line_width=2)
    return (outer * inner * median).opts(
        hv.opts.Overlay(
            title=title,
            xlabel="day",
            ylabel=ylabel,
            responsive=True,
            height=300,
            legend_position="top_right",
        )
    )


def attainment_bars(df: pd.DataFrame) -> hv.Bars:
    """HoloViews bars of a :meth:`WhatIf.attainment` frame (for notebooks)."""
    return hv.Bars(df, "criterion", ["fraction"]).opts(
        title="Target attainment and safety (virtual patients)",
        ylim=(0, 1),
        responsive=True,
        height=300,
        ylabel="fraction",
    )


class _BandFigure:
    """Bands drawn once with Bokeh; an update replaces the data of one ColumnDataSource.

    Measured on 10,000 patients: re-rendering HoloViews overlays through a stream cost
    ~60 ms of server time per plot and update, replacing a data source ~1 ms – the
    difference between missing and meeting the 300 ms slider-to-plot goal.
    """

    def __init__(self, ylabel: str, title: str) -> None:
        self.source = ColumnDataSource(data={c: [] for c in _BAND_COLUMNS})
        fig = figure(
            title=title,
            height=300,
            sizing_mode="stretch_width",
            x_axis_label="day",
            y_axis_label=ylabel,
            tools="pan,box_zoom,reset,save",
        )
        fig.varea("day", "p05", "p95", source=self.source, alpha=0.25, legend_label="5–95th")
        fig.varea(
            "day",
            "p25",
            "p75",
            source=self.source,
            alpha=0.45,
            color="#e4572e",
            legend_label="25–75th",
        )
        fig.line("day", "p50", source=self.source, line_width=2, legend_label="median")
        fig.legend.location = "top_right"
        self.figure = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")

    def update(self, df: pd.DataFrame) -> None:
        self.source.data = {c: df[c].to_numpy() for c in _BAND_COLUMNS}


class _BarFigure:
    """Attainment bars (Bokeh), updated through their data source."""

    def __init__(self) -> None:
        self.source = ColumnDataSource(data={"criterion": [], "fraction": []})
        self.figure = figure(
            title="Target attainment and safety (virtual patients)",
            height=300,
            sizing_mode="stretch_width",
            x_range=FactorRange(),
            y_range=(0, 1),
            y_axis_label="fraction",
            tools="save",
        )
        self.figure.vbar(x="criterion", top="fraction", width=0.6, source=self.source)
        self.pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")

    def update(self, df: pd.DataFrame) -> None:
        criteria = [str(c) for c in df["criterion"]]
        if list(self.figure.x_range.factors) != criteria:
            self.figure.x_range.factors = criteria
        self.source.data = {"criterion": criteria, "fraction": df["fraction"].to_numpy()}


def _table(df: pd.DataFrame, css: str = "") -> pn.pane.DataFrame:
    return pn.pane.DataFrame(
        df,
        index=False,
        float_format="{:.3g}".format,
        css_classes=[css] if css else [],
        sizing_mode="stretch_width",
    )


def _denied(ctx: AppContext, what: str) -> pn.viewable.Viewable:
    return pn.pane.Alert(
        f"User {ctx.user!r} (role {ctx.role!r}) may not {what}.", alert_type="danger"
    )


class WhatIfView(Viewer):
    """The what-if explorer: controls of a :class:`WhatIf`, its bands, attainment, power
    and provenance; every recomputation audited."""

    whatif = param.ClassSelector(class_=WhatIf)
    context = param.ClassSelector(class_=AppContext)

    def __init__(self, whatif: WhatIf, context: AppContext, **params: Any) -> None:
        super().__init__(whatif=whatif, context=context, **params)
        self._conc = _BandFigure("concentration (mg/L)", "Concentration–time")
        self._effect = _BandFigure("urate (mg/dL)", "PD response: serum urate")
        self._attain = _BarFigure()
        self._summary = pn.pane.Markdown(
            "", css_classes=["twinlab-summary"], sizing_mode="stretch_width"
        )
        self._power = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._by_genotype = pn.pane.DataFrame(
            None, index=False, float_format="{:.3f}".format, sizing_mode="stretch_width"
        )
        self._provenance = pn.pane.Markdown(
            "", css_classes=["twinlab-provenance"], sizing_mode="stretch_width"
        )
        self._error = pn.pane.Alert("", alert_type="warning", visible=False)
        self._plots = pn.Column(
            self._conc.pane, self._effect.pane, self._attain.pane, sizing_mode="stretch_width"
        )
        whatif.param.watch(self._update, [p for p in _CONTROLS + _PD if p != "scenario"])
        self._update()

    def controls(self) -> pn.viewable.Viewable:
        """The widgets: regimen, population, thresholds and trial; PD assumptions folded."""
        sliders = {
            "dose": {"type": pn.widgets.FloatSlider, "throttled": True},
            "duration_days": {"type": pn.widgets.IntSlider, "throttled": True},
            "n_patients": {"type": pn.widgets.IntSlider, "throttled": True},
            "weight_range": {"type": pn.widgets.RangeSlider, "throttled": True},
            "crcl_range": {"type": pn.widgets.RangeSlider, "throttled": True},
            "trial_n": {"type": pn.widgets.IntSlider, "throttled": True},
            "genotypes": pn.widgets.MultiChoice,
        }
        main = pn.Param(
            self.whatif,
            parameters=_CONTROLS,
            widgets=sliders,
            show_name=False,
            sizing_mode="stretch_width",
        )
        pd_card = pn.Card(
            pn.Param(self.whatif, parameters=_PD, show_name=False, sizing_mode="stretch_width"),
            title="PD assumptions",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        return pn.Column(main, pd_card, sizing_mode="stretch_width")

    @as_user
    def _update(self, *events: Any) -> None:
        w = self.whatif
        try:
            conc = w.bands("conc")
            effect = w.bands("effect")
            attain = w.attainment()
            by_gt = w.attainment(by="CYP2C9") if w.level_names("CYP2C9") else None
            power = w.power()
            exp = w.exposures().set_index("metric")
            prov = w.provenance()
        except ValueError as exc:
            self._error.object = f"**Cannot answer:** {exc}"
            self._error.visible = True
            audit_query(self.context, "whatif", {**w.query_params(), "error": str(exc)})
            return
        with pn.io.hold():  # one message to the browser for all the changes
            self._show(w, conc, effect, attain, by_gt, power, exp, prov)
        audit_query(
            self.context,
            "whatif",
            {
                **w.query_params(),
                "data_hash": prov["data_hash"],
                "changed": sorted({e.name for e in events}),
            },
        )

    def _show(
        self,
        w: WhatIf,
        conc: pd.DataFrame,
        effect: pd.DataFrame,
        attain: pd.DataFrame,
        by_gt: pd.DataFrame | None,
        power: dict[str, Any],
        exp: pd.DataFrame,
        prov: dict[str, Any],
    ) -> None:
        self._error.visible = False
        self._conc.update(conc)
        self._effect.update(effect)
        self._attain.update(attain)
        self._summary.object = (
            f"**{w.dose:g} mg every {w.interval_h:g} h** for {w.duration_days} days, "
            f"{prov['n_patients']:,} virtual patients · "
            f"median trough <span class='median-trough'>{exp.loc['ctrough', 'p50']:.4g}</span>"
            " mg/L · "
            f"median peak {exp.loc['cmax', 'p50']:.4g} mg/L · "
            f"median urate at end {exp.loc['effect_end', 'p50']:.3g} mg/dL"
        )
        self._power.object = (
            "#### Trial power (end-of-treatment urate vs placebo)\n"
            f"Effect {power['effect']:.3g} mg/dL, SD {power['sd']:.3g}; "
            f"{power['n_per_arm']} per arm, α = {power['alpha']:g}.\n\n"
            "| analysis | power | n per arm for 80 % |\n|---|---|---|\n"
            f"| unadjusted t test | {power['power']:.3f} | {power['n80']} |\n"
            f"| twin-adjusted (PROCOVA, ρ = {power['rho']:.2f}) | {power['power_procova']:.3f} | "
            f"{power['n80_procova']} |"
        )
        if by_gt is not None:
            wide = by_gt.pivot(index="group", columns="criterion", values="fraction")
            if w.min_cell is None:  # virtual counts per genotype mirror the real ones
                wide.insert(0, "n", by_gt.groupby("group")["n"].first())
            self._by_genotype.object = wide.reset_index().rename(columns={"group": "CYP2C9"})
        pop = prov["population"]
        about = "about " if "rounded_to" in pop["real"] else ""
        criteria = " and ".join(f"({c})" for c in pop["criteria"]) or "none"
        how = "resampled from" if pop["method"] == "resample" else "a Gaussian copula of"
        self._provenance.object = (
            "#### Provenance\n"
            f"model **{prov['model']}** ({prov['structural_model']}) · validation gate "
            f"**{prov['validation']}** · data hash "
            f"`{prov['data_hash']}` · seed **{prov['seed']}** · "
            f"posterior means of {prov['posterior_draws']} posterior draws\n\n"
            f"population drawn by **{pop['method']}**: covariates {how} "
            f"{about}**{pop['real']['eligible']}** eligible real patients "
            f"(of {about}{pop['real']['patients']} in `{prov['cohort']}`) · criteria: "
            f"`{criteria}` · "
            f"PD assumed from `{prov['pd_spec']}`\n\n"
            f"answer from the **{prov['method']}**: {prov['pk']}; PD: {prov['pd']}, "
            f"numerical error ≤ {prov['pd_error']:.2g} mg/dL (estimated from half the resolution); "
            f"computed in {prov['compute_s'] * 1000:.0f} ms (PK {prov['pk_cache']})"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._error,
            self._summary,
            self._plots,
            self._power,
            "#### Attainment by CYP2C9 genotype (fractions)",
            self._by_genotype,
            self._provenance,
            sizing_mode="stretch_width",
        )


@pn.cache(max_items=8)
def _load_patients(path: str, mtime: float) -> pd.DataFrame:
    return pd.read_parquet(path)


@pn.cache(max_items=8)
def _load_json(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


class CohortView(Viewer):
    """The harmonized cohort: counts by group (small cells suppressed for viewers without
    patient-level access) and its data-quality report."""

    study = param.Selector(default=None, objects=[])
    grouping = param.Selector(default="site", objects=list(GROUPINGS))
    context = param.ClassSelector(class_=AppContext)

    def __init__(self, context: AppContext, **params: Any) -> None:
        options = studies(context.root)
        super().__init__(context=context, **params)
        self.param.study.objects = options
        if options and self.study is None:
            self.study = options[0]

    def _folder(self) -> Path:
        return self.context.root / "data" / "harmonized" / str(self.study)

    @param.depends("study", "grouping")
    @as_user
    def _counts(self) -> pn.viewable.Viewable:
        if self.study is None:
            return pn.pane.Alert("No harmonized study under data/harmonized.", alert_type="info")
        file = self._folder() / "patients.parquet"
        patients = _load_patients(str(file), _mtime(file))
        suppress = not self.context.may("read_patient_level")
        counts = cohort_counts(
            patients, self.grouping, min_cell=self.context.min_cell, suppress=suppress
        )
        audit_query(
            self.context,
            "cohort",
            {"study": self.study, "grouping": self.grouping, "suppressed": suppress},
        )
        note = (
            f"Counts below {self.context.min_cell} are suppressed (shown as "
            f"'<{self.context.min_cell}'), the others rounded to a multiple of {ROUND_TO}."
            if suppress
            else "Counts are not suppressed (patient-level access)."
        )
        return pn.Column(f"### Patients by {self.grouping}", note, _table(counts, "cohort-counts"))

    @param.depends("study")
    @as_user
    def _quality(self) -> pn.viewable.Viewable:
        if self.study is None:
            return pn.Column()
        qfile, rfile = self._folder() / "quality.json", self._folder() / "report.json"
        suppress, k = not self.context.may("read_patient_level"), self.context.min_cell
        parts: list[Any] = []
        if qfile.is_file():
            quality = _load_json(str(qfile), _mtime(qfile))
            summary = quality.get("summary", {})
            checks = quality_checks(quality)
            if suppress:  # a failure count must not give a suppressed cell back
                checks = suppress_counts(
                    checks, ["checked", "failed"], k, {"failure_rate": "failed"}
                )
            parts += [f"### Data quality: **{summary.get('overall', '?')}**", _table(checks)]
        if rfile.is_file():
            report = _load_json(str(rfile), _mtime(rfile))
            records = conservation(report)
            if suppress:
                counts = ["records_in", "accepted", "quarantined", "duplicates"]
                records = suppress_counts(records, counts, k)
            parts += [
                "### Conservation (records in = accepted + quarantined)",
                _table(records),
            ]
        if not parts:
            return pn.pane.Alert("No quality report.", alert_type="info")
        return pn.Column(*parts)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.widgets.Select.from_param(self.param.study),
                pn.widgets.Select.from_param(self.param.grouping),
            ),
            self._counts,
            self._quality,
            sizing_mode="stretch_width",
        )


class PatientsView(Viewer):
    """Patient-level rows of the harmonized cohort (pseudonymous ids) – modelers, reviewers."""

    study = param.Selector(default=None, objects=[])
    context = param.ClassSelector(class_=AppContext)

    def __init__(self, context: AppContext, **params: Any) -> None:
        super().__init__(context=context, **params)
        self.param.study.objects = studies(context.root)
        if self.param.study.objects and self.study is None:
            self.study = self.param.study.objects[0]

    @param.depends("study")
    @as_user
    def _table(self) -> pn.viewable.Viewable:
        if not self.context.may("read_patient_level"):
            return _denied(self.context, "read patient-level data")
        if self.study is None:
            return pn.pane.Alert("No harmonized study under data/harmonized.", alert_type="info")
        file = self.context.root / "data" / "harmonized" / str(self.study) / "patients.parquet"
        patients = _load_patients(str(file), _mtime(file))
        cols = [c for c in patients.columns if c not in ("sources",)]
        audit_query(self.context, "patients", {"study": self.study, "rows": len(patients)})
        return pn.widgets.Tabulator(
            show_index=False,
            value=patients[cols],
            pagination="remote",
            page_size=25,
            disabled=True,
            sizing_mode="stretch_width",
            css_classes=["patient-rows"],
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.widgets.Select.from_param(self.param.study), self._table, sizing_mode="stretch_width"
        )


class ReviewerView(Viewer):
    """Runs, their parameters and lineage, registered models, and the audit trail."""

    context = param.ClassSelector(class_=AppContext)
    log_path = param.Selector(default=None, objects=[], doc="The audit log shown.")
    last = param.Integer(default=200, bounds=(10, 5000))

    def __init__(self, context: AppContext, **params: Any) -> None:
        from twinlab.audit.trail import AUDIT_LOG_ENV

        super().__init__(context=context, **params)
        # the project's log (pipeline runs) and this server's (dashboard queries), if other
        logs = [str(context.root / "logs" / "audit.jsonl")]
        if os.environ.get(AUDIT_LOG_ENV):
            logs.append(str(Path(os.environ[AUDIT_LOG_ENV]).resolve()))
        logs = list(dict.fromkeys(logs))
        self.param.log_path.objects = logs
        if self.log_path is None:
            self.log_path = next((f for f in logs if Path(f).is_file()), logs[0])

    @param.depends("last", "log_path")
    @as_user
    def _content(self) -> pn.viewable.Viewable:
        if not self.context.may("view_audit"):
            return _denied(self.context, "view the audit trail")
        from twinlab.audit.verify import verify

        entries = audit_entries(self.log_path, last=None)
        result = verify(self.log_path) if Path(self.log_path).is_file() else None
        status = ("no audit log at " + self.log_path) if result is None else str(result)
        models = pd.DataFrame(
            registered_models(self.context.root),
            columns=["model", "structural_model", "validation"],
        )
        audit_query(self.context, "reviewer", {"log": Path(self.log_path).name, "last": self.last})
        return pn.Column(
            f"### Audit log: `{self.log_path}`",
            f"Verification: **{status}**",
            "### Runs and lineage",
            pn.widgets.Tabulator(
                show_index=False,
                value=run_lineage(entries),
                disabled=True,
                page_size=10,
                pagination="local",
                sizing_mode="stretch_width",
            ),
            "### Registered models",
            _table(models),
            "### Audit trail (latest entries)",
            pn.widgets.Tabulator(
                show_index=False,
                value=entries.tail(self.last).drop(columns=["hash"]),
                disabled=True,
                page_size=20,
                pagination="local",
                sizing_mode="stretch_width",
                css_classes=["audit-trail"],
            ),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.widgets.Select.from_param(self.param.log_path, name="Audit log", width=500),
                pn.widgets.IntInput.from_param(self.param.last),
            ),
            self._content,
            sizing_mode="stretch_width",
        )


def _template(
    title: str, ctx: AppContext, main: Any, sidebar: Any = None
) -> pn.template.BaseTemplate:
    links = " · ".join(
        f"[{name}](./{page})"
        for page, name, action in (
            ("whatif", "What-if", "simulate"),
            ("cohort", "Cohort", "read_aggregate"),
            ("patients", "Patients", "read_patient_level"),
            ("reviewer", "Reviewer", "view_audit"),
        )
        if ctx.may(action)
    )
    header = pn.pane.Markdown(
        f"{links} · signed in as **{ctx.user}** ({ctx.role}) · [log out](./logout)",
        css_classes=["twinlab-user"],
    )
    template = pn.template.FastListTemplate(
        title=title,
        sidebar=[sidebar] if sidebar is not None else [],
        main=[header, main],
        sidebar_width=330,
    )
    return template


def whatif_page(**context: Any) -> pn.template.BaseTemplate:
    """The what-if explorer page (needs the ``simulate`` action).

    ``$TWINLAB_WHATIF_PATIENTS`` sets the initial number of virtual patients.
    """
    ctx = current_context(**context)
    if not ctx.may("simulate"):
        return _template("twinlab – what-if", ctx, _denied(ctx, "simulate"))
    try:
        n = int(os.environ.get(PATIENTS_ENV, "") or WhatIf.param.n_patients.default)
        # aggregate-only viewers: banded filters, small populations refused, counts rounded
        k = None if ctx.may("read_patient_level") else ctx.min_cell
        with acting_as(ctx.user):  # the cohort's data access is the user's
            view = WhatIfView(WhatIf(root=str(ctx.root), n_patients=n, min_cell=k), ctx)
    except ValueError as exc:
        return _template("twinlab – what-if", ctx, pn.pane.Alert(str(exc), alert_type="danger"))
    return _template("twinlab – what-if explorer", ctx, view, view.controls())


def cohort_page(**context: Any) -> pn.template.BaseTemplate:
    """The cohort dashboard page (aggregates; ``read_aggregate``)."""
    ctx = current_context(**context)
    if not ctx.may("read_aggregate"):
        return _template("twinlab – cohort", ctx, _denied(ctx, "read aggregates"))
    return _template("twinlab – cohort dashboard", ctx, CohortView(ctx))


def patients_page(**context: Any) -> pn.template.BaseTemplate:
    """Patient-level rows (``read_patient_level``: modelers and reviewers only)."""
    ctx = current_context(**context)
    return _template("twinlab – patients", ctx, PatientsView(ctx))


def reviewer_page(**context: Any) -> pn.template.BaseTemplate:
    """The reviewer view (``view_audit``)."""
    ctx = current_context(**context)
    return _template("twinlab – reviewer", ctx, ReviewerView(ctx))
