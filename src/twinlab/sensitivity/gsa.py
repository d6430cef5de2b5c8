"""Global sensitivity analysis: Sobol indices and Morris screening, with SALib.

Sampling uses SALib's Sobol'-sequence (Saltelli) and Morris samplers with the seed given;
the model is evaluated through :func:`twinlab.sensitivity.sweep` (so a Dask client spreads
it over workers, with results identical to the serial run); SALib's ``analyze`` functions
compute the indices and their bootstrap confidence intervals. Any simulated output works: the
model function maps a DataFrame of parameter rows to one or more output columns.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from twinlab.sensitivity.problem import Problem
from twinlab.sensitivity.sweep import SweepFunction, sweep

__all__ = ["MorrisResult", "SobolResult", "morris", "sobol"]


def _as_problem(problem: Problem | Mapping[str, Any]) -> Problem:
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, Mapping):
        return Problem.from_dict(problem)
    raise ValueError(f"problem must be a Problem or a SALib problem dict, not {type(problem)}")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _analysis_seed(seed: int) -> int:
    """A positive seed for SALib's bootstrap, derived from ``seed``.

    SALib's Sobol analysis ignores a seed of 0 (``if seed:``) and then draws from NumPy's
    global state; deriving a non-zero seed keeps every seed reproducible.
    """
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]) + 1


def _outputs(y: pd.DataFrame, outputs: Sequence[str] | str | None) -> list[str]:
    if outputs is None:
        names = [c for c in y.columns if pd.api.types.is_numeric_dtype(y[c])]
        if not names:
            raise ValueError(f"the model returned no numeric output column: {list(y.columns)}")
    else:
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        missing = [n for n in names if n not in y.columns]
        if missing:
            raise ValueError(f"unknown output(s) {missing}; the model returned {list(y.columns)}")
        bad = [n for n in names if not pd.api.types.is_numeric_dtype(y[n])]
        if bad:
            raise ValueError(f"output(s) {bad} are not numeric")
    for name in names:
        values = y[name].to_numpy(dtype=float)
        n_bad = int((~np.isfinite(values)).sum())
        if n_bad:
            raise ValueError(
                f"output {name!r} has {n_bad} non-finite value(s) (NaN/inf) of {len(values)}: "
                "sensitivity indices need a finite output for every sample"
            )
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _nested(frame: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> dict:
    out: dict[str, Any] = {}
    for row in frame.itertuples(index=False):
        d = row._asdict()
        node = out
        for k in keys[:-1]:
            node = node.setdefault(str(d[k]), {})
        node[str(d[keys[-1]])] = {v: _jsonable(d[v]) for v in values}
    return out


@dataclass(frozen=True)
class SobolResult:
    """Sobol first- and total-order indices (and optionally second order), per output.

    Attributes
    ----------
    indices
        Tidy table: ``output, parameter, S1, S1_conf, ST, ST_conf`` (``*_conf``: half-width
        of the bootstrap confidence interval at ``conf_level``).
    second_order
        ``output, parameter_1, parameter_2, S2, S2_conf`` or ``None``.
    samples, outputs
        The evaluated design (one row per model run) and the model outputs.
    problem, n, seed, conf_level, calc_second_order
        How it was computed.
    """

    indices: pd.DataFrame
    second_order: pd.DataFrame | None
    samples: pd.DataFrame = field(repr=False)
    outputs: pd.DataFrame = field(repr=False)
    problem: Problem
    n: int
    seed: int
    conf_level: float
    calc_second_order: bool

    @property
    def output_names(self) -> list[str]:
        """The analysed outputs, in order."""
        return list(dict.fromkeys(self.indices["output"]))

    def to_frame(self) -> pd.DataFrame:
        """The tidy index table (a copy)."""
        return self.indices.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for DVC metrics: ``indices[output][parameter][S1|ST|...]``."""
        d: dict[str, Any] = {
            "method": "sobol",
            "n": self.n,
            "n_evaluations": len(self.samples),
            "seed": self.seed,
            "conf_level": self.conf_level,
            "problem": self.problem.to_dict(),
            "indices": _nested(
                self.indices, ["output", "parameter"], ["S1", "S1_conf", "ST", "ST_conf"]
            ),
        }
        if self.second_order is not None:
            d["second_order"] = _nested(
                self.second_order, ["output", "parameter_1", "parameter_2"], ["S2", "S2_conf"]
            )
        return d

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """:meth:`to_dict` as JSON text (NaN as ``null``), also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text


@dataclass(frozen=True)
class MorrisResult:
    """Morris elementary-effect screening, per output.

    Attributes
    ----------
    indices
        Tidy table: ``output, parameter, mu, mu_star, sigma, mu_star_conf``. Elementary
        effects are output changes per unit of the input's range in the unit hypercube (SALib's
        convention), so for ``y = sum(c_i x_i)`` with uniform inputs ``mu_star = |c_i| *
        (upper_i - lower_i)``.
    samples, outputs
        The evaluated trajectories and the model outputs.
    problem, trajectories, levels, seed, conf_level
        How it was computed.
    """

    indices: pd.DataFrame
    samples: pd.DataFrame = field(repr=False)
    outputs: pd.DataFrame = field(repr=False)
    problem: Problem
    trajectories: int
    levels: int
    seed: int
    conf_level: float

    @property
    def output_names(self) -> list[str]:
        """The analysed outputs, in order."""
        return list(dict.fromkeys(self.indices["output"]))

    def ranking(self, output: str | None = None) -> list[str]:
        """Parameters by decreasing ``mu_star`` for one output (the only one by default)."""
        output = _pick_output(self.output_names, output)
        rows = self.indices[self.indices["output"] == output]
        return list(rows.sort_values("mu_star", ascending=False, kind="stable")["parameter"])

    def to_frame(self) -> pd.DataFrame:
        """The tidy index table (a copy)."""
        return self.indices.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for DVC metrics: ``indices[output][parameter][mu_star|...]``."""
        return {
            "method": "morris",
            "trajectories": self.trajectories,
            "levels": self.levels,
            "n_evaluations": len(self.samples),
            "seed": self.seed,
            "conf_level": self.conf_level,
            "problem": self.problem.to_dict(),
            "indices": _nested(
                self.indices, ["output", "parameter"], ["mu", "mu_star", "sigma", "mu_star_conf"]
            ),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """:meth:`to_dict` as JSON text (NaN as ``null``), also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text


def _pick_output(names: list[str], output: str | None) -> str:
    if output is None:
        if len(names) != 1:
            raise ValueError(f"several outputs were analysed, name one of {names}")
        return names[0]
    if output not in names:
        raise ValueError(f"unknown output {output!r}; analysed outputs: {names}")
    return output


def _check_conf(conf_level: float, num_resamples: int) -> None:
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    if num_resamples < 2:
        raise ValueError(f"num_resamples must be at least 2, got {num_resamples}")


def sobol(
    func: SweepFunction,
    problem: Problem | Mapping[str, Any],
    n: int,
    *,
    seed: int,
    client: Any = None,
    outputs: Sequence[str] | str | None = None,
    calc_second_order: bool = False,
    chunk_size: int = 4096,
    num_resamples: int = 100,
    conf_level: float = 0.95,
) -> SobolResult:
    """Sobol first- and total-order indices of every output of ``func``.

    Parameters
    ----------
    func
        Maps a DataFrame with one column per input of ``problem`` to outputs (see
        :func:`~twinlab.sensitivity.sweep`); vectorize it over rows for speed.
    problem
        The uncertain inputs.
    n
        Base sample size, a power of two (the Sobol' sequence's balance properties hold only
        then). The model runs ``n * (d + 2)`` times (``n * (2d + 2)`` with second order).
    seed
        Seeds the scrambled Sobol' sequence and the bootstrap of the confidence intervals.
    client
        A :class:`distributed.Client` to evaluate the model on, or ``None``.
    outputs
        Outputs to analyse; default: every numeric column ``func`` returns.
    calc_second_order
        Also compute second-order indices.
    chunk_size
        Rows per model call / Dask task.
    num_resamples, conf_level
        Bootstrap of the confidence intervals.

    Returns
    -------
    SobolResult

    Examples
    --------
    >>> from twinlab.sensitivity import Problem, sobol
    >>> p = Problem.from_ranges({"a": (0, 1), "b": (0, 1)})
    >>> r = sobol(lambda x: 4 * x["a"] + x["b"], p, 1024, seed=1)
    >>> r.to_frame().round(2)[["parameter", "S1", "ST"]]
      parameter    S1    ST
    0         a  0.94  0.94
    1         b  0.06  0.06
    """
    problem = _as_problem(problem)
    seed = _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2 or n & (n - 1):
        raise ValueError(f"n must be a power of two >= 2 (e.g. 1024, 4096), got {n!r}")
    _check_conf(conf_level, num_resamples)
    salib = problem.to_salib()
    x = sobol_sample.sample(
        salib, int(n), calc_second_order=calc_second_order, scramble=True, seed=seed
    )
    samples = pd.DataFrame(x, columns=list(problem.names))
    y = sweep(func, samples, client=client, chunk_size=chunk_size)
    names = _outputs(y, outputs)
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for name in names:
        values = y[name].to_numpy(dtype=float)
        if np.ptp(values) == 0:
            warnings.warn(
                f"output {name!r} is constant over the samples: its Sobol indices are undefined "
                "(NaN)",
                UserWarning,
                stacklevel=2,
            )
            nan = np.full(problem.num_vars, np.nan)
            si = {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
            if calc_second_order:
                full = np.full((problem.num_vars,) * 2, np.nan)
                si |= {"S2": full, "S2_conf": full}
        else:
            si = sobol_analyze.analyze(
                salib,
                values,
                calc_second_order=calc_second_order,
                num_resamples=num_resamples,
                conf_level=conf_level,
                seed=_analysis_seed(seed),
            )
        for i, p in enumerate(problem.names):
            rows.append(
                {"output": name, "parameter": p}
                | {k: float(si[k][i]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
            )
        if calc_second_order:
            for i in range(problem.num_vars):
                for j in range(i + 1, problem.num_vars):
                    pairs.append(
                        {
                            "output": name,
                            "parameter_1": problem.names[i],
                            "parameter_2": problem.names[j],
                            "S2": float(si["S2"][i, j]),
                            "S2_conf": float(si["S2_conf"][i, j]),
                        }
                    )
    return SobolResult(
        indices=pd.DataFrame(rows),
        second_order=pd.DataFrame(pairs) if calc_second_order else None,
        samples=samples,
        outputs=y,
        problem=problem,
        n=int(n),
        seed=seed,
        conf_level=conf_level,
        calc_second_order=calc_second_order,
    )


def morris(
    func: SweepFunction,
    problem: Problem | Mapping[str, Any],
    trajectories: int,
    *,
    levels: int = 4,
    seed: int,
    client: Any = None,
    outputs: Sequence[str] | str | None = None,
    chunk_size: int = 4096,
    num_resamples: int = 100,
    conf_level: float = 0.95,
) -> MorrisResult:
    """Morris screening (mean absolute elementary effect ``mu_star`` and ``sigma``).

    Parameters
    ----------
    func
        Maps a DataFrame with one column per input of ``problem`` to outputs.
    problem
        The uncertain inputs.
    trajectories
        Number of one-at-a-time trajectories (``>= 2``); the model runs
        ``trajectories * (d + 1)`` times.
    levels
        Grid levels per input (even, ``>= 2``).
    seed
        Seeds the trajectories and the bootstrap of ``mu_star_conf``.
    client, outputs, chunk_size, num_resamples, conf_level
        As in :func:`sobol`.

    Returns
    -------
    MorrisResult

    Examples
    --------
    >>> from twinlab.sensitivity import Problem, morris
    >>> p = Problem.from_ranges({"a": (0, 2), "b": (0, 1)})
    >>> morris(lambda x: 3 * x["a"] - x["b"], p, 10, seed=1).ranking()
    ['a', 'b']
    """
    problem = _as_problem(problem)
    seed = _check_seed(seed)
    if isinstance(trajectories, bool) or not isinstance(trajectories, int | np.integer):
        raise ValueError(f"trajectories must be an integer >= 2, got {trajectories!r}")
    if trajectories < 2:
        raise ValueError(f"trajectories must be an integer >= 2, got {trajectories}")
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer):
        raise ValueError(f"levels must be an even integer >= 2, got {levels!r}")
    if levels < 2 or levels % 2:
        raise ValueError(f"levels must be an even integer >= 2, got {levels}")
    _check_conf(conf_level, num_resamples)
    salib = problem.to_salib()
    x = morris_sample.sample(salib, int(trajectories), num_levels=int(levels), seed=seed)
    samples = pd.DataFrame(x, columns=list(problem.names))
    y = sweep(func, samples, client=client, chunk_size=chunk_size)
    names = _outputs(y, outputs)
    rows: list[dict[str, Any]] = []
    for name in names:
        si = morris_analyze.analyze(
            salib,
            x,
            y[name].to_numpy(dtype=float),
            num_resamples=num_resamples,
            conf_level=conf_level,
            num_levels=int(levels),
            seed=_analysis_seed(seed),
        )
        for i, p in enumerate(problem.names):
            rows.append(
                {"output": name, "parameter": p}
                | {k: float(si[k][i]) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}
            )
    return MorrisResult(
        indices=pd.DataFrame(rows),
        samples=samples,
        outputs=y,
        problem=problem,
        trajectories=int(trajectories),
        levels=int(levels),
        seed=seed,
        conf_level=conf_level,
    )
