"""Figures the reports and diagnostics return: built outside pyplot's figure manager.

A function that draws with :func:`matplotlib.pyplot.subplots` leaves the figure open in
pyplot, so a notebook shows it at the end of the cell *and* again as the cell's value.
:func:`new_figure` makes a :class:`matplotlib.figure.Figure` pyplot does not track: the
caller returns it, and the notebook shows it once, as the value. Importing pyplot here
only lets a notebook's inline back end register how figures are displayed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["new_figure"]


def new_figure(figsize: tuple[float, float], **kwargs: Any) -> Any:
    """A constrained-layout :class:`~matplotlib.figure.Figure` not registered with pyplot.

    Parameters
    ----------
    figsize : tuple of float
        Width and height in inches.
    **kwargs
        More :class:`~matplotlib.figure.Figure` arguments.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig = new_figure((4, 3))
    >>> fig.number if hasattr(fig, "number") else None, plt.get_fignums()
    (None, [])
    """
    import matplotlib.pyplot  # noqa: F401  (a notebook's inline back end: figure display)
    from matplotlib.figure import Figure

    kwargs.setdefault("layout", "constrained")
    return Figure(figsize=figsize, **kwargs)
