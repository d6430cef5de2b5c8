"""The uncertain inputs of a sensitivity analysis: names, bounds and distributions.

A thin, validated wrapper around SALib's problem dictionary. PK parameters (clearance,
volume, rate constants) usually span orders of magnitude, so they are sampled log-uniformly
(``dist="logunif"``, SALib's own transform), which spreads samples evenly in log space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DISTRIBUTIONS", "Problem"]

DISTRIBUTIONS: dict[str, str] = {
    "unif": "uniform between (lower, upper)",
    "logunif": "log-uniform between (lower, upper), both > 0",
    "triang": "triangular (lower, upper, peak as a fraction of the width in [0, 1))",
    "norm": "normal (mean, sd)",
    "truncnorm": "truncated normal (lower, upper, mean, sd)",
    "lognorm": "log-normal (mean of ln x, sd of ln x)",
    "weibull": "Weibull (shape, scale[, location])",
}
_N_BOUNDS = {
    "unif": (2,),
    "logunif": (2,),
    "triang": (3,),
    "norm": (2,),
    "truncnorm": (4,),
    "lognorm": (2,),
    "weibull": (2, 3),
}


@dataclass(frozen=True)
class Problem:
    """Uncertain inputs for Sobol and Morris analyses (SALib's problem, validated).

    Parameters
    ----------
    names
        Input names: the columns of the sample DataFrames passed to the model function.
    bounds
        One tuple per input, read by its distribution (see :data:`DISTRIBUTIONS`); for the
        default uniform: ``(lower, upper)``.
    dists
        One distribution per input; default: all uniform.

    Examples
    --------
    >>> from twinlab.sensitivity import Problem
    >>> p = Problem.from_ranges({"cl": (2.0, 20.0), "f": (0.5, 1.0)}, log=["cl"])
    >>> p.dists
    ('logunif', 'unif')
    >>> p.to_salib()["bounds"]
    [[2.0, 20.0], [0.5, 1.0]]
    """

    names: tuple[str, ...]
    bounds: tuple[tuple[float, ...], ...]
    dists: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = (self.names,) if isinstance(self.names, str) else tuple(self.names)
        if not names:
            raise ValueError("a Problem needs at least one input name")
        bad = [n for n in names if not isinstance(n, str) or not n]
        if bad:
            raise ValueError(f"input names must be non-empty strings, got {bad!r}")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"input names repeat: {dup}")
        bounds = tuple(tuple(float(v) for v in b) for b in self.bounds)
        if len(bounds) != len(names):
            raise ValueError(f"{len(names)} names but {len(bounds)} bounds: give one per input")
        if self.dists is None:
            dists = None
        else:
            dists = (self.dists,) if isinstance(self.dists, str) else tuple(self.dists)
            if len(dists) != len(names):
                raise ValueError(f"{len(names)} names but {len(dists)} dists: give one per input")
        for name, b, dist in zip(names, bounds, dists or ("unif",) * len(names), strict=True):
            _check_bounds(name, b, dist)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "dists", dists)

    @classmethod
    def from_ranges(
        cls, ranges: Mapping[str, Sequence[float]], *, log: Sequence[str] = ()
    ) -> Problem:
        """Uniform inputs between ``(lower, upper)``; those named in ``log`` log-uniform."""
        log = [log] if isinstance(log, str) else list(log)
        unknown = sorted(set(log) - set(ranges))
        if unknown:
            raise ValueError(f"log names unknown input(s) {unknown}; inputs: {list(ranges)}")
        names = tuple(ranges)
        dists = tuple("logunif" if n in log else "unif" for n in names)
        return cls(names, tuple(tuple(ranges[n]) for n in names), dists if log else None)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Problem:
        """A Problem from a SALib problem dict or :meth:`to_dict` output."""
        missing = [k for k in ("names", "bounds") if k not in d]
        if missing:
            raise ValueError(f"a problem dict needs 'names' and 'bounds'; missing {missing}")
        return cls(tuple(d["names"]), tuple(tuple(b) for b in d["bounds"]), d.get("dists"))

    @property
    def num_vars(self) -> int:
        """Number of inputs."""
        return len(self.names)

    def to_salib(self) -> dict[str, Any]:
        """SALib's problem dict (``num_vars``, ``names``, ``bounds``, optional ``dists``)."""
        d: dict[str, Any] = {
            "num_vars": self.num_vars,
            "names": list(self.names),
            "bounds": [list(b) for b in self.bounds],
        }
        if self.dists is not None:
            d["dists"] = list(self.dists)
        return d

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (names, bounds, dists)."""
        return {
            "names": list(self.names),
            "bounds": [list(b) for b in self.bounds],
            "dists": list(self.dists or ("unif",) * self.num_vars),
        }


def _check_bounds(name: str, b: tuple[float, ...], dist: str) -> None:
    if dist not in DISTRIBUTIONS:
        allowed = ", ".join(f"{k} ({v})" for k, v in DISTRIBUTIONS.items())
        raise ValueError(f"input {name!r}: unknown distribution {dist!r}; allowed: {allowed}")
    if len(b) not in _N_BOUNDS[dist]:
        raise ValueError(
            f"input {name!r}: {dist} needs {' or '.join(map(str, _N_BOUNDS[dist]))} bound values "
            f"({DISTRIBUTIONS[dist]}), got {list(b)}"
        )
    if not all(math.isfinite(v) for v in b):
        raise ValueError(f"input {name!r}: bounds must be finite, got {list(b)}")
    if dist in ("unif", "logunif", "truncnorm") and not b[0] < b[1]:
        raise ValueError(f"input {name!r}: lower bound must be below upper, got {list(b)}")
    if dist == "logunif" and b[0] <= 0:
        raise ValueError(f"input {name!r}: log-uniform bounds must be > 0, got {list(b)}")
    if dist in ("norm", "lognorm") and b[1] <= 0:
        raise ValueError(f"input {name!r}: {dist} sd must be > 0, got {list(b)}")
    if dist == "truncnorm" and b[3] <= 0:
        raise ValueError(f"input {name!r}: truncnorm sd must be > 0, got {list(b)}")
    if dist == "triang" and not (b[0] < b[1] and 0 <= b[2] < 1):
        raise ValueError(
            f"input {name!r}: triang needs lower < upper and a peak fraction in [0, 1), "
            f"got {list(b)}"
        )
