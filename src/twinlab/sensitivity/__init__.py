"""Parameter sweeps and global sensitivity analysis (Sobol, Morris) on any simulated output.

>>> from twinlab.sensitivity import Problem, grid, morris, sobol, sweep
"""

from twinlab.sensitivity.gsa import MorrisResult, SobolResult, morris, sobol
from twinlab.sensitivity.plots import plot_morris, plot_sobol
from twinlab.sensitivity.problem import DISTRIBUTIONS, Problem
from twinlab.sensitivity.sweep import RowWise, SweepFunction, grid, rowwise, sweep

__all__ = [
    "DISTRIBUTIONS",
    "MorrisResult",
    "Problem",
    "RowWise",
    "SobolResult",
    "SweepFunction",
    "grid",
    "morris",
    "plot_morris",
    "plot_sobol",
    "rowwise",
    "sobol",
    "sweep",
]
