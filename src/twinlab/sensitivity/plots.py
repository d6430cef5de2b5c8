"""HoloViews plots of sensitivity results: Sobol bars with confidence intervals, Morris map.

The plots are HoloViews objects, so they render with the bokeh backend in Panel apps and with
bokeh or matplotlib in notebooks (``hv.render(obj, backend=...)`` or just displaying them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from twinlab.sensitivity.gsa import MorrisResult, SobolResult, _pick_output

if TYPE_CHECKING:
    import holoviews as hv

__all__ = ["plot_morris", "plot_sobol"]


def _holoviews() -> Any:
    """HoloViews, with its bokeh backend loaded if no backend is (styling options need one).

    Imported lazily: Dask workers that import this package for sweeps never need it.
    """
    import holoviews as hv

    if not hv.Store.renderers:
        current = hv.Store.current_backend
        import holoviews.plotting.bokeh

        hv.Store.set_current_backend(current if current in hv.Store.renderers else "bokeh")
    return hv


def _outputs(names: list[str], output: str | None) -> list[str]:
    return names if output is None else [_pick_output(names, output)]


def plot_sobol(result: SobolResult, output: str | None = None) -> hv.Layout:
    """Bar charts of first-order (S1) and total-order (ST) indices with their CIs.

    Parameters
    ----------
    result
        From :func:`~twinlab.sensitivity.sobol`.
    output
        One output to plot; default: all, two panels (S1 | ST) per output.

    Returns
    -------
    holoviews.Layout
    """
    if not isinstance(result, SobolResult):
        raise ValueError(f"plot_sobol needs a SobolResult, not {type(result).__name__}")
    hv = _holoviews()
    panels = []
    for name in _outputs(result.output_names, output):
        rows = result.indices[result.indices["output"] == name]
        for index, label, color in (
            ("S1", "first order S1", "#1f77b4"),
            ("ST", "total order ST", "#ff7f0e"),
        ):
            data = pd.DataFrame(
                {"parameter": rows["parameter"], index: rows[index], "ci": rows[f"{index}_conf"]}
            )
            bars = hv.Bars(data, "parameter", hv.Dimension(index, label=label))
            errors = hv.ErrorBars(data, "parameter", [index, "ci"])
            panels.append(
                (bars.opts(color=color) * errors).opts(title=f"{name}: {label}", ylim=(0, None))
            )
    return hv.Layout(panels).cols(2)


def plot_morris(result: MorrisResult, output: str | None = None) -> hv.Layout:
    """Morris map: ``sigma`` against ``mu_star`` per parameter, with ``mu_star``'s CI.

    Parameters far right are influential; high ``sigma`` relative to ``mu_star`` flags
    non-linear effects or interactions.

    Parameters
    ----------
    result
        From :func:`~twinlab.sensitivity.morris`.
    output
        One output to plot; default: all, one panel per output.

    Returns
    -------
    holoviews.Layout
    """
    if not isinstance(result, MorrisResult):
        raise ValueError(f"plot_morris needs a MorrisResult, not {type(result).__name__}")
    hv = _holoviews()
    panels = []
    for name in _outputs(result.output_names, output):
        rows = result.indices[result.indices["output"] == name]
        data = rows[["parameter", "mu_star", "sigma", "mu_star_conf"]].reset_index(drop=True)
        mu_star = hv.Dimension("mu_star", label="μ* (mean |elementary effect|)")
        sigma = hv.Dimension("sigma", label="σ (sd of elementary effects)")
        points = hv.Scatter(data, mu_star, [sigma, "parameter"]).opts(color="#1f77b4")
        errors = hv.ErrorBars(data, mu_star, [sigma, "mu_star_conf"], horizontal=True)
        labels = hv.Labels(data, [mu_star, sigma], "parameter").opts(yoffset=0.0)
        panels.append((points * errors * labels).opts(title=f"{name}: Morris screening"))
    return hv.Layout(panels).cols(2)
