"""The apps: thin Panel viewers over :class:`~twinlab.apps.whatif.WhatIf` and the summaries.

Each page function returns a template for ``panel serve`` (see ``twinlab/apps/pages``);
each viewer can also be shown in a notebook (``WhatIfView(WhatIf(root=...), ctx)``).
Every answer a viewer computes is written to the audit log with the user and the
parameters (:func:`twinlab.apps.context.audit_query`).
"""

from __future__ import annotations

import io
import json
import os
import re
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
    gate_records,
    gate_status,
    quality_checks,
    readable_patients,
    run_lineage,
    run_parameters,
    studies,
)
from twinlab.apps.takeaways import (
    TABLES,
    figures_png,
    power_table,
    scenario_report,
    settings_table,
    to_csv,
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

#: controls every user of the explorer sees (regimen, population, targets, trial size)
_CONTROLS = [
    "scenario",
    "dose",
    "interval_h",
    "duration_days",
    "route",
    "weight_range",
    "crcl_range",
    "genotypes",
    "n_patients",
    "target_trough",
    "safety_cmax",
    "urate_target",
    "trial_n",
]
#: modeler controls (the model, how patients and trials are drawn), not shown to stakeholders
_MODELER = ["model", "method", "n_draws", "seed", "alpha", "outcome_sd", "dropout"]
_PD = ["e0", "omega_e0", "kout", "imax", "ic50", "omega_ic50"]
#: parameter -> (label with units, tooltip: what it means and what is assumed)
LABELS: dict[str, tuple[str, str]] = {
    "scenario": ("Preset regimen", "Fills in dose and interval; any change makes it 'custom'."),
    "dose": ("Dose (mg)", "Amount per dose. The twin was fitted on the doses shown above."),
    "interval_h": (
        "Dosing interval",
        "Time between doses. The twin was fitted on the interval shown above; others are "
        "extrapolations.",
    ),
    "duration_days": ("Treatment duration (days)", "Doses are given over this many days."),
    "route": ("Route", "Only routes present in the fitted data are offered to stakeholders."),
    "weight_range": (
        "Body weight (kg)",
        "Virtual patients are drawn from real patients in this range.",
    ),
    "crcl_range": (
        "Creatinine clearance (mL/min)",
        "Cockcroft–Gault creatinine clearance of the real patients drawn.",
    ),
    "genotypes": ("CYP2C9 genotypes", "Empty: every genotype."),
    "n_patients": (
        "Virtual patients",
        "More patients: smoother bands, slower answers; the same patients are kept.",
    ),
    "target_trough": (
        "Efficacy target: trough at least (mg/L)",
        "Share of patients whose concentration before the last dose reaches this.",
    ),
    "safety_cmax": (
        "Safety limit: peak above (mg/L)",
        "Share of patients whose peak concentration exceeds this.",
    ),
    "urate_target": (
        "Response target: urate below (mg/dL)",
        "Share of patients whose serum urate at the end of treatment is below this.",
    ),
    "trial_n": (
        "Trial size: patients per arm",
        "Randomized per arm; the trial design (analysis, measurement error, dropout) is the "
        "trial stage's.",
    ),
    "model": ("Twin model (version)", "Only versions whose validation gate passed."),
    "method": (
        "Covariates drawn by",
        "resample: real patients' covariates; copula: synthetic rows keeping their correlations.",
    ),
    "n_draws": (
        "Posterior draws",
        "Patients are spread over this many draws of the twin's posterior (parameter "
        "uncertainty in the bands).",
    ),
    "seed": ("Random seed", "Default: the pipeline's seed in params.yaml."),
    "alpha": ("Significance level α", "Of the trial's test (two-sided unless the design says)."),
    "outcome_sd": (
        "Outcome measurement SD (mg/dL)",
        "Measurement and day-to-day variation of urate (trial stage's design).",
    ),
    "dropout": ("Dropout (share)", "Randomized patients without an outcome; completers analysed."),
    "e0": ("Baseline urate, typical (mg/dL)", "Assumed, not fitted (PD spec)."),
    "omega_e0": ("Baseline urate variability (log SD)", "Between-patient variability; assumed."),
    "kout": ("Urate turnover rate (1/h)", "Assumed; turnover half-life is ln 2 / kout."),
    "imax": ("Maximal inhibition (fraction)", "Largest share of urate production inhibited."),
    "ic50": ("IC50, typical (mg/L)", "Concentration giving half the maximal inhibition."),
    "omega_ic50": ("IC50 variability (log SD)", "Between-patient variability; assumed."),
}
#: interval choices as people say them
_INTERVALS = {
    "every 6 h (4× daily)": 6.0,
    "every 8 h (3× daily)": 8.0,
    "every 12 h (twice daily)": 12.0,
    "every 24 h (once daily)": 24.0,
    "every 48 h (every other day)": 48.0,
}
#: download labels of the answer tables (twinlab.apps.takeaways.TABLES)
_SHORT = {
    "concentration_bands": "Concentration bands",
    "urate_bands": "Urate bands",
    "attainment": "Attainment",
    "attainment_by_genotype": "By genotype",
    "exposure": "Exposure summary",
    "power": "Trial power",
}
#: what a stakeholder's URL may set (the bookmarkable state); modelers also the modeler's
_URL_STAKEHOLDER = [p for p in _CONTROLS if p != "scenario"]
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
            x_axis_label="time since first dose (days)",
            y_axis_label=ylabel,
            tools="pan,box_zoom,reset,save",
        )
        fig.varea(
            "day", "p05", "p95", source=self.source, alpha=0.25, legend_label="5th–95th percentile"
        )
        fig.varea(
            "day",
            "p25",
            "p75",
            source=self.source,
            alpha=0.45,
            color="#e4572e",
            legend_label="25th–75th percentile",
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


#: trial-table columns in inclusion criteria, as people say them
_CRITERION_WORDS = {
    "effect_baseline": "baseline urate (mg/dL)",
    "effect_end": "urate at end (mg/dL)",
    "CRCL": "creatinine clearance (mL/min)",
    "WT": "body weight (kg)",
}


def _plain_criterion(criterion: str) -> str:
    """``effect_baseline >= 7`` as ``baseline urate (mg/dL) ≥ 7``."""
    text = re.sub(
        r"\b(" + "|".join(_CRITERION_WORDS) + r")\b",
        lambda m: _CRITERION_WORDS[m.group(1)],
        criterion,
    )
    return text.replace(">=", "≥").replace("<=", "≤").replace("==", "=")


def _table(df: pd.DataFrame, css: str = "") -> pn.pane.DataFrame:
    return pn.pane.DataFrame(
        df,
        index=False,
        float_format="{:.3g}".format,
        # labels and text read from the left, headers above their values
        stylesheets=["table th, table td { text-align: left !important; }"],
        css_classes=[css] if css else [],
        sizing_mode="stretch_width",
    )


def _denied(ctx: AppContext, what: str) -> pn.viewable.Viewable:
    return pn.pane.Alert(
        f"User {ctx.user!r} (role {ctx.role!r}) may not {what}.", alert_type="danger"
    )


def _serving() -> bool:
    """Whether this runs in a served session (messages go to a browser over a websocket)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def _modeler(ctx: AppContext) -> bool:
    """Whether the user sees the modeler's controls and may extrapolate (with a warning)."""
    return ctx.may("fit_model")


class WhatIfView(Viewer):
    """The what-if explorer: controls of a :class:`WhatIf`, its bands, attainment, power
    and provenance, downloads of every answer; every recomputation audited.

    Stakeholders see plain controls within what the twin was fitted on (the ``WhatIf`` is
    created with ``extrapolation="refuse"``); modelers also see the model, sampling and
    PD settings and may go outside the fitted range with a visible warning.
    """

    whatif = param.ClassSelector(class_=WhatIf)
    context = param.ClassSelector(class_=AppContext)

    def __init__(self, whatif: WhatIf, context: AppContext, **params: Any) -> None:
        super().__init__(whatif=whatif, context=context, **params)
        self._conc = _BandFigure("concentration (mg/L)", "Concentration–time")
        self._effect = _BandFigure("serum urate (mg/dL)", "Response: serum urate")
        self._attain = _BarFigure()
        self._summary = pn.pane.Markdown(
            "", css_classes=["twinlab-summary"], sizing_mode="stretch_width"
        )
        self._power = pn.pane.Markdown(
            "", css_classes=["twinlab-power"], sizing_mode="stretch_width"
        )
        self._by_genotype = pn.pane.DataFrame(
            None, index=False, float_format="{:.3f}".format, sizing_mode="stretch_width"
        )
        self._provenance = pn.pane.Markdown(
            "", css_classes=["twinlab-provenance"], sizing_mode="stretch_width"
        )
        self._by_genotype_note = pn.pane.Markdown(
            "", sizing_mode="stretch_width", css_classes=["twinlab-genotype-note"]
        )
        self._error = pn.pane.Alert(
            "", alert_type="warning", visible=False, css_classes=["twinlab-refusal"]
        )
        self._extrapolating = pn.pane.Alert(
            "", alert_type="danger", visible=False, css_classes=["twinlab-extrapolation"]
        )
        self._fitted = pn.pane.Markdown("", css_classes=["twinlab-fitted"])
        self._tables: dict[str, pd.DataFrame] = {}
        self._params: list[pn.Param] = []
        self._power_numbers: dict[str, Any] = {}
        self._plots = pn.Column(
            self._conc.pane, self._effect.pane, self._attain.pane, sizing_mode="stretch_width"
        )
        #: said between the two messages of a served move (:meth:`_update`); a line of text,
        #: not loading spinners over the panes (measured: their relayout in the browser cost
        #: more than the answers)
        self._updating = pn.pane.Markdown(
            "", css_classes=["twinlab-updating"], sizing_mode="stretch_width", margin=(0, 10)
        )
        self._results = pn.Column(
            self._updating,
            self._summary,
            self._plots,
            self._power,
            self._by_genotype_note,
            self._by_genotype,
            self._downloads(),
            self._provenance,
            css_classes=["twinlab-results"],
            sizing_mode="stretch_width",
        )
        self._generation = 0  # settings changes seen
        self._answered = 0  # the change the shown answers (and self._tables) are for
        names = _CONTROLS + (_MODELER + _PD if _modeler(context) else [])
        whatif.param.watch(self._update, [p for p in names if p != "scenario"])
        self._update()

    # -- controls ------------------------------------------------------------------
    def _widgets(self, names: list[str]) -> dict[str, Any]:
        fit = self.whatif.fitted()
        sliders = {
            "dose": pn.widgets.FloatSlider,
            "duration_days": pn.widgets.IntSlider,
            "n_patients": pn.widgets.IntSlider,
            "weight_range": pn.widgets.RangeSlider,
            "crcl_range": pn.widgets.RangeSlider,
            "trial_n": pn.widgets.IntSlider,
        }
        out: dict[str, Any] = {}
        for name in names:
            label, tip = LABELS.get(name, (name, ""))
            spec: dict[str, Any] = {"name": label, "description": tip}
            if name in sliders:
                spec.update(type=sliders[name], throttled=True)
            if name == "genotypes":
                spec["type"] = pn.widgets.MultiChoice
            if name == "interval_h":
                spec.update(type=pn.widgets.Select, options=_INTERVALS)
            if name == "dose" and self.whatif.extrapolation == "refuse" and fit.doses:
                spec["end"] = max(fit.dose_span[1], 10.0)  # no slider beyond the fitted doses
            out[name] = spec
        return out

    def _control_list(self, names: list[str]) -> pn.Column:
        """Widgets of ``names`` with their plain labels; the tooltip as the widget's
        description, or an info icon beside widgets that have none (sliders)."""
        specs = {k: dict(v) for k, v in self._widgets(names).items()}
        tips = {k: v.pop("description") for k, v in specs.items()}
        pane = pn.Param(self.whatif, parameters=names, widgets=specs, show_name=False)
        self._params.append(pane)  # keeps the widgets linked to the what-if
        items: list[Any] = []
        for name in names:
            widget = pane._widgets[name]
            if "description" in widget.param:
                widget.description = tips[name]
                items.append(widget)
            else:  # sliders have no description: an info icon beside them
                widget.param.update(sizing_mode="fixed", width=260)
                icon = pn.widgets.TooltipIcon(value=tips[name], margin=(18, 0, 0, 0), width=24)
                items.append(pn.Row(widget, icon, sizing_mode="stretch_width"))
        return pn.Column(*items, sizing_mode="stretch_width", margin=0)

    def controls(self) -> pn.viewable.Viewable:
        """The widgets: regimen, population, targets and trial; the modeler's settings and
        the PD assumptions (folded) for modelers only."""
        parts: list[Any] = [self._fitted, self._control_list(_CONTROLS)]
        if _modeler(self.context):
            for title, names in (
                ("Model and sampling (modelers)", _MODELER),
                ("PD assumptions (not fitted)", _PD),
            ):
                parts.append(self._folded(title, names))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _folded(self, title: str, names: list[str]) -> pn.Card:
        """A collapsed card whose widgets are built when it is first opened (the page
        loads with fewer widgets to build, send and render)."""
        card = pn.Card(title=title, collapsed=True, sizing_mode="stretch_width")

        def fill(event: Any) -> None:
            if not event.new and not card.objects:
                card.append(self._control_list(names))

        card.param.watch(fill, "collapsed")
        return card

    @staticmethod
    def url_parameters_for(ctx: AppContext) -> list[str]:
        """The settings a bookmark keeps for this user (the controls they see)."""
        extra = _MODELER + _PD if _modeler(ctx) else []
        return _URL_STAKEHOLDER + [p for p in extra if p != "model"]

    # -- take-aways ------------------------------------------------------------------
    def _downloads(self) -> pn.viewable.Viewable:
        def csv(name: str):
            return lambda: self._table_csv(name)

        files = [
            (csv(name), f"whatif_{name}.csv", f"{_SHORT[name]} (CSV)", "light", 210)
            for name in TABLES
        ]
        files += [
            (self._figures_png, "whatif_figures.png", "Figures (PNG)", "light", 210),
            (
                self._report_html,
                "whatif_scenario_report.html",
                "One-page scenario report (HTML, printable to PDF)",
                "primary",
                380,
            ),
        ]
        buttons = [
            pn.widgets.FileDownload(
                callback=callback, filename=filename, label=label, button_type=kind, width=width
            )
            for callback, filename, label, kind, width in files
        ]
        return pn.Column(
            "#### Take-aways",
            "Every table and the data behind every figure as CSV; the figures as PNG (or a "
            "figure's own save tool); a one-page report of this scenario. The address bar "
            "holds the settings: bookmark it to come back to this scenario.",
            pn.FlexBox(*buttons),
            sizing_mode="stretch_width",
        )

    @as_user
    def _table_csv(self, name: str) -> io.StringIO:
        self._settle()
        audit_query(self.context, "whatif.download", {"table": name})
        return to_csv(self._tables.get(name, pd.DataFrame()))

    @as_user
    def _figures_png(self) -> io.BytesIO:
        self._settle()
        audit_query(self.context, "whatif.download", {"table": "figures.png"})
        return io.BytesIO(figures_png(self._tables))

    def settings(self) -> pd.DataFrame:
        """The scenario's settings with their labels (what the user could set)."""
        w = self.whatif
        names = ["model", *_CONTROLS] + (_MODELER + _PD if _modeler(self.context) else ["seed"])
        labels = {n: LABELS[n][0] for n in dict.fromkeys(names) if n in LABELS}
        values = w.query_params()
        values["interval_h"] = next(
            (k for k, v in _INTERVALS.items() if v == w.interval_h), w.interval_h
        )
        return settings_table(values, labels)

    @as_user
    def _report_html(self) -> io.StringIO:
        self._settle()
        w = self.whatif
        audit_query(self.context, "whatif.report", w.query_params())
        text = scenario_report(
            settings=self.settings(),
            provenance=w.provenance(),
            fitted=w.fitted().describe(),
            warnings=w.outside_fitted_range(),
            summary=self._headline(w),
            tables=self._tables,
            user=self.context.user,
        )
        return io.StringIO(text)

    @staticmethod
    def _headline(w: WhatIf) -> str:
        every = next(
            (k for k, v in _INTERVALS.items() if v == w.interval_h), f"every {w.interval_h:g} h"
        )
        return f"{w.dose:g} mg {w.route} {every} for {w.duration_days} days"

    # -- answers ---------------------------------------------------------------------
    @as_user
    def _update(self, *events: Any) -> None:
        """Answer a change of settings.

        Served, for a linear-PK twin and a move that keeps the results shown, in two
        messages: the concentration bands first (the cached unit-dose profiles times the
        dose, no PD needed: ~5 ms), the other answers (urate by the engine, attainment,
        power, exposures, provenance; a line says they follow) in a callback right
        after that message is sent. Otherwise (a notebook, a refusal, a new population)
        everything at once. Each answer shown has its audit entry, written after the
        answers are sent (:meth:`_audit`).
        """
        w = self.whatif
        fit = w.fitted()
        self._fitted.object = (
            f"**Fitted on:** {fit.describe()}, {fit.n_subjects} subjects. "
            "Answers outside this are extrapolations"
            + (" and are refused here." if w.extrapolation == "refuse" else ".")
        )
        changed = sorted({e.name for e in events})
        self._generation += 1
        if not (events and _serving() and w.linear and self._results.visible):
            self._answer(changed)
            return
        try:
            conc = w.bands("conc")
            outside = w.outside_fitted_range()
        except ValueError:
            self._answer(changed)  # the refusal, at once
            return
        with pn.io.hold():  # the concentration bands in the first message
            self._extrapolation_warning(outside, fit.describe())
            self._conc.update(conc)
            self._updating.object = (
                "*Concentrations updated; urate, attainment and trial power follow…*"
            )
        generation, asked = self._generation, w.query_params()
        pn.state.execute(lambda: self._rest(changed, generation, asked), schedule=True)

    @as_user
    def _rest(self, changed: list[str], generation: int, asked: dict[str, Any]) -> None:
        """The second message of a served move (:meth:`_update`); a move made meanwhile
        answers for itself, this one's concentration bands are audited as superseded."""
        if generation != self._generation:
            self._audit({**asked, "data_hash": self.whatif.twin.data_hash,
                         "changed": changed, "superseded": True})  # fmt: skip
            return
        if self._answered != generation:  # not already settled by a download
            self._answer(changed)

    def _settle(self) -> None:
        """Answer the current settings now if their second message is still to come, so that
        a download or report never pairs these settings with the previous tables."""
        if self._answered != self._generation:
            self._answer(["download"])

    def _answer(self, changed: list[str]) -> None:
        w = self.whatif
        self._answered = self._generation
        try:
            conc = w.bands("conc")
            effect = w.bands("effect")
            attain = w.attainment()
            by_gt = w.attainment(by="CYP2C9") if w.level_names("CYP2C9") else None
            power = w.power()
            exp = w.exposures()
            prov = w.provenance()
        except ValueError as exc:
            # the previous answers are not this question's: hide them with the refusal
            with pn.io.hold():
                self._error.object = (
                    f"**Cannot answer:** {exc}\n\nThe previous results are hidden: they were "
                    "for other settings."
                )
                self._error.visible = True
                self._extrapolating.visible = False
                self._results.visible = False
                self._loaded()
            self._tables = {}
            self._audit({**w.query_params(), "error": str(exc)})
            return
        with pn.io.hold():  # one message to the browser for all the changes
            self._show(w, conc, effect, attain, by_gt, power, exp, prov)
            self._loaded()
        self._audit({**w.query_params(), "data_hash": prov["data_hash"], "changed": changed})

    def _loaded(self) -> None:
        if self._updating.object:
            self._updating.object = ""

    def _audit(self, params: dict[str, Any]) -> None:
        """The ``dashboard.query`` entry of an answer: served, written in a callback after
        the answer's message has gone to the browser (the signed, fsync-ed write no longer
        delays the plot); at once otherwise. Entries keep their order (one document lock)."""
        if _serving():
            pn.state.execute(lambda: audit_query(self.context, "whatif", params), schedule=True)
        else:
            audit_query(self.context, "whatif", params)

    def _extrapolation_warning(self, outside: list[str], fitted: str) -> None:
        self._extrapolating.object = (
            "**Extrapolation:** " + "; ".join(outside) + f". The twin was fitted on "
            f"{fitted}: these answers rest on the model's assumptions alone."
        )
        self._extrapolating.visible = bool(outside)

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
        self._results.visible = True
        self._extrapolation_warning(prov["outside_fitted_range"], prov["fitted"])
        self._conc.update(conc)
        self._effect.update(effect)
        self._attain.update(attain)
        e = exp.set_index("metric")
        self._summary.object = (
            f"**{self._headline(w)}**, {prov['n_patients']:,} virtual patients over "
            f"{prov['n_draws']} posterior draws · "
            f"median trough <span class='median-trough'>{e.loc['ctrough', 'p50']:.4g}</span>"
            " mg/L · "
            f"median peak {e.loc['cmax', 'p50']:.4g} mg/L · "
            f"median urate at end {e.loc['effect_end', 'p50']:.3g} mg/dL"
        )
        covs = ", ".join(power["covariates"]) or "no covariate"
        design = (
            f"{power['n_per_arm']} randomized per arm, {power['dropout']:.0%} dropout "
            f"(≈ {power['n_completers']:.0f} completers), measurement SD "
            f"{power['outcome_sd']:g} mg/dL, α = {power['alpha']:g} ({power['sided']}-sided)"
        )
        if power["inclusion"]:
            plain = [_plain_criterion(c) for c in power["inclusion"]]
            design += ", inclusion: " + " and ".join(plain)

        def n80(key: str) -> str:
            v = power[f"n80_{key}"]
            return "–" if v is None else f"{v:,}"

        self._power.object = (
            "#### Trial power: urate at end of treatment, this regimen vs placebo\n"
            f"Effect {power['effect']:.3g} mg/dL, SD {power['sd']:.3g} mg/dL; {design}. "
            "Planned as the trial stage plans it (pooled ANCOVA residual variance, "
            "out of sample).\n\n"
            "| analysis | power | patients per arm for 80 % |\n|---|---|---|\n"
            f"| unadjusted (difference of means) | {power['power_unadjusted']:.3f} | "
            f"{n80('unadjusted')} |\n"
            f"| ANCOVA on {covs} (trial stage's analysis) | {power['power_ancova']:.3f} | "
            f"{n80('ancova')} |\n"
            f"| PROCOVA: + twin's prognostic score (R² = {power['variance_reduction']:.2f}) | "
            f"{power['power_procova']:.3f} | {n80('procova')} |"
        )
        shown_gt = None
        if by_gt is not None:
            wide = by_gt.pivot(index="group", columns="criterion", values="fraction")
            if w.min_cell is None:  # virtual counts per genotype mirror the real ones
                wide.insert(0, "n", by_gt.groupby("group")["n"].first())
            shown_gt = wide.reset_index().rename(columns={"group": "CYP2C9"})
            shown_gt.columns.name = None
            self._by_genotype.object = shown_gt
        hidden = shown_gt is None or shown_gt.empty
        # an empty table would leave its lone "CYP2C9" column header under the note
        self._by_genotype.visible = not hidden
        self._by_genotype_note.object = "#### Attainment by CYP2C9 genotype (fractions)\n" + (
            "Share of each genotype's virtual patients meeting each target."
            if not hidden
            else "Not shown: no genotype group is large enough to show on its own without "
            f"singling out patients (fewer than {w.min_cell} real patients, or fewer beside "
            "another group)."
            if by_gt is not None and w.min_cell is not None
            else "Not available for this population."
        )
        self._power_numbers = power
        self._tables = {
            "concentration_bands": conc,
            "urate_bands": effect,
            "attainment": attain,
            "exposure": exp,
            "power": power_table(power),
            **({"attainment_by_genotype": shown_gt} if shown_gt is not None else {}),
        }
        pop = prov["population"]
        about = "about " if "rounded_to" in pop["real"] else ""
        criteria = " and ".join(f"({c})" for c in pop["criteria"]) or "none"
        how = "resampled from" if pop["method"] == "resample" else "a Gaussian copula of"
        self._provenance.object = (
            "#### Provenance\n"
            f"model **{prov['model']}** ({prov['structural_model']}) · validation gate "
            f"**{prov['validation']}** · data hash "
            f"`{prov['data_hash'][:16]}…` · seed **{prov['seed']}** · "
            f"patients spread over **{prov['n_draws']}** of the twin's "
            f"{prov['posterior_draws']} posterior draws (parameter uncertainty in the bands)\n\n"
            f"population: covariates {how} "
            f"{about}**{pop['real']['eligible']}** eligible real patients "
            f"(of {about}{pop['real']['patients']} in `{prov['cohort']}`) · criteria: "
            f"`{criteria}` · "
            f"PD assumed (not fitted) from `{prov['pd_spec']}`\n\n"
            f"computed by the **simulation engine**: {prov['pk']}; PD: {prov['pd']}, "
            f"numerical error ≤ {prov['pd_error']:.2g} mg/dL (estimated from half the resolution); "
            f"exposure metrics exact (twinlab.simulate.exposure); "
            + (
                f"computed in {prov['compute_s'] * 1000:.0f} ms (PK {prov['pk_cache']})"
                if prov["answers"] == "computed"
                else f"answers cached (computed in {prov['compute_s'] * 1000:.0f} ms)"
            )
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._error,
            self._extrapolating,
            self._results,
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
        audit_query(self.context, "patients", {"study": self.study, "rows": len(patients)})
        return pn.widgets.Tabulator(
            show_index=False,
            value=readable_patients(patients),
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
        ).rename(
            columns={
                "model": "model (name/version)",
                "structural_model": "structural model",
                "validation": "validation gate",
            }
        )
        audit_query(self.context, "reviewer", {"log": Path(self.log_path).name, "last": self.last})
        return pn.Column(
            *self._gate(),
            *self._reports(),
            "### Registered models",
            _table(models, "registered-models"),
            "### Parameters of each stage's latest run",
            pn.widgets.Tabulator(
                show_index=False,
                value=run_parameters(entries),
                disabled=True,
                groupby=["stage"],
                page_size=25,
                pagination="local",
                sizing_mode="stretch_width",
                css_classes=["run-parameters"],
            ),
            f"### Audit log: `{self.log_path}`",
            f"Verification: **{status}**",
            "### Runs and lineage",
            pn.widgets.Tabulator(
                show_index=False,
                value=run_lineage(entries).drop(columns=["params"]),
                disabled=True,
                page_size=10,
                pagination="local",
                sizing_mode="stretch_width",
            ),
            "### Audit trail (latest entries, newest first)",
            pn.widgets.Tabulator(
                show_index=False,
                value=entries.tail(self.last).drop(columns=["hash"]).iloc[::-1],
                disabled=True,
                page_size=20,
                pagination="local",
                sizing_mode="stretch_width",
                css_classes=["audit-trail"],
            ),
            sizing_mode="stretch_width",
        )

    def _gate(self) -> list[Any]:
        """The validation gate of each registered model's latest version, as the validate
        stage recorded it with its bounds (``models/.gate/<name>/<version>.json``)."""
        records = gate_records(self.context.root)
        if not records:
            return ["### Validation gate", "No registered model under `models/`: run the "
                    "pipeline's fit and validate stages."]  # fmt: skip
        out: list[Any] = []
        for label, gate in records:
            passed, checks = gate_status(gate)
            verdict = {True: "PASSED", False: "FAILED", None: "not validated"}[passed]
            out += [
                f"### Validation gate of {label}: <span class='gate-status'>{verdict}</span>",
                _table(checks, "gate-checks")
                if len(checks)
                else "No gate result recorded: run the pipeline's validate stage.",
            ]
        return out

    def _reports(self) -> list[Any]:
        """Links to the executed pipeline reports (served at ``/reports/<name>``)."""
        folder = self.context.root / "reports"
        files = sorted(folder.glob("*.html")) if folder.is_dir() else []
        if not files:
            return ["### Reports", "No executed report under `reports/` yet."]
        links = (
            "<ul>"
            + "".join(
                f'<li><a href="./reports/{f.name}" target="_blank">'
                f"{f.stem.replace('_', ' ')}</a></li>"
                for f in files
            )
            + "</ul>"
        )
        return ["### Executed reports", pn.pane.Markdown(links, css_classes=["report-links"])]

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
        f"[Home](./) · {links} · signed in as **{ctx.user}** ({ctx.role}) · [log out](./logout)",
        css_classes=["twinlab-user"],
    )
    template = pn.template.BootstrapTemplate(
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
        # stakeholders: answers only within what the twin was fitted on
        mode = "warn" if _modeler(ctx) else "refuse"
        with acting_as(ctx.user):  # the cohort's data access is the user's
            whatif = WhatIf(root=str(ctx.root), n_patients=n, min_cell=k, extrapolation=mode)
            if pn.state.location is not None:  # the settings live in the URL: bookmarkable
                pn.state.location.sync(whatif, WhatIfView.url_parameters_for(ctx))
            view = WhatIfView(whatif, ctx)
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
