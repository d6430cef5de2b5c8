"""What the simulation engine needs from a virtual population: the shared contract.

A population is generated chunk by chunk, each chunk from its own random stream, so any
size fits in memory and the result does not depend on how chunks are spread over Dask
workers. The engine derives the stream of chunk ``k`` from ``(seed, k)`` with
:func:`chunk_rng` and calls :meth:`Population.chunk` with it; everything random about a
virtual patient (covariates, posterior draw, between-subject variability) comes from it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["KnownPopulation", "PatientChunk", "Population", "chunk_rng"]


def chunk_rng(seed: int, chunk_index: int) -> np.random.Generator:
    """The random stream of chunk ``chunk_index`` of a run seeded with ``seed``.

    Derived from ``(seed, chunk_index)`` only – never from the worker or the time – so
    1 or N workers give bit-identical results.

    Examples
    --------
    >>> float(chunk_rng(1, 0).random()) == float(chunk_rng(1, 0).random())
    True
    >>> float(chunk_rng(1, 0).random()) == float(chunk_rng(1, 1).random())
    False
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(chunk_index),)))


@dataclass(frozen=True)
class PatientChunk:
    """Virtual patients ``start .. stop - 1`` with their individual parameters.

    Attributes
    ----------
    vpid : numpy.ndarray
        Global virtual-patient ids, int64, shape ``(n,)`` (``start .. stop - 1``).
    params : dict of str to numpy.ndarray
        Individual structural-model parameters, each shape ``(n_draws, n)``: row ``d`` uses
        posterior draw ``draw[d]`` for the population parameters; a patient keeps its
        covariates and between-subject deviations (etas) across draws.
    covariates : pandas.DataFrame
        Baseline covariates, one row per patient in ``vpid`` order (model names such as
        ``WT``, ``CRCL``, ``CYP2C9``, plus ``AGE``, ``SEX`` where known).
    draw : numpy.ndarray
        Posterior draw index of each row of ``params``, int64, shape ``(n_draws,)``
        (``-1``: no posterior, e.g. known parameters).
    source : numpy.ndarray
        For lineage: the pseudonymous id of the real patient whose covariates each virtual
        patient carries (object array of str; ``""`` where the covariates are synthetic).
    sigma : dict of str to numpy.ndarray
        Residual-error SDs per draw (``add_<endpoint>``, ``prop_<endpoint>``), shape
        ``(n_draws,)``; empty when the population has no residual error.
    """

    vpid: np.ndarray
    params: dict[str, np.ndarray]
    covariates: pd.DataFrame
    draw: np.ndarray
    source: np.ndarray
    sigma: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.vpid.shape[0]
        for name, value in self.params.items():
            if value.ndim != 2 or value.shape != (self.draw.shape[0], n):
                raise ValueError(
                    f"parameter {name!r} has shape {value.shape}, expected "
                    f"(n_draws={self.draw.shape[0]}, n={n})"
                )
        if len(self.covariates) != n or self.source.shape != (n,):
            raise ValueError("covariates and source must have one row per virtual patient")

    @property
    def n(self) -> int:
        """Number of virtual patients."""
        return int(self.vpid.shape[0])

    @property
    def n_draws(self) -> int:
        """Number of posterior draws per patient."""
        return int(self.draw.shape[0])


@runtime_checkable
class Population(Protocol):
    """A virtual population the engine can simulate, chunk by chunk.

    Attributes
    ----------
    n : int
        Number of virtual patients.
    n_draws : int
        Posterior draws per patient (1 without parameter uncertainty).
    model : str
        Name of the structural model (:func:`twinlab.pkpd.get_model`) the parameters are for.
    units : mapping of str to str
        Optional (read with ``getattr``): unit of each endpoint the contract does not fix,
        e.g. ``{"effect": "mg/dL"}`` (:mod:`twinlab.simulate.units`).

    Notes
    -----
    A population holding values per patient (not drawn from the chunk's stream) should also
    offer ``window(start, stop)``: a population with the same ``n`` and the same chunks for
    patients ``start .. stop - 1``, holding only their values. On Dask, each task then
    carries the window of its own chunks (:meth:`KnownPopulation.window`); without it, the
    population is sent once to every worker.
    """

    n: int
    n_draws: int
    model: str

    def chunk(self, start: int, stop: int, rng: np.random.Generator) -> PatientChunk:
        """Patients ``start .. stop - 1``, drawn from ``rng`` (the chunk's own stream)."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for run records (model name/version, data hash, method,
        criteria, sizes) – no patient-level values."""
        ...


@dataclass(frozen=True)
class KnownPopulation:
    """Patients with given individual parameters: no randomness, for checks and what-ifs.

    Parameters
    ----------
    model : str
        Structural model name.
    params : mapping of str to array-like
        One value per patient (shape ``(n,)``) or one for all (scalar), per parameter.
    n : int
        Number of patients (taken from the arrays when omitted).
    covariates : pandas.DataFrame, optional
        One row per patient.
    units : mapping of str to str, optional
        Unit of an endpoint other than the contract's (``{"effect": "mg/dL"}``): the
        simulation results' ``units`` attributes (:mod:`twinlab.simulate.units`).

    Examples
    --------
    >>> pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": [2.0, 4.0], "v": 30.0})
    >>> pop.chunk(1, 2, chunk_rng(0, 0)).params["cl"].tolist()
    [[4.0]]
    """

    model: str
    params: Mapping[str, Any]
    n: int = 0
    covariates: pd.DataFrame | None = None
    n_draws: int = 1
    units: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = {np.size(v) for v in self.params.values() if np.ndim(v) > 0}
        if len(sizes) > 1:
            raise ValueError(f"parameter arrays differ in length: {sorted(sizes)}")
        n = self.n or (sizes.pop() if sizes else 1)
        object.__setattr__(self, "n", int(n))

    def chunk(self, start: int, stop: int, rng: np.random.Generator) -> PatientChunk:
        """Patients ``start .. stop - 1`` (``rng`` is unused: nothing here is random)."""
        return _known_chunk(self.params, self.covariates, self.n, 0, start, stop)

    def window(self, start: int, stop: int) -> Population:
        """Patients ``start .. stop - 1`` only, numbered as here: the same chunks in that
        range, holding only their values.

        A Dask task of :func:`twinlab.simulate.run` carries the window of its chunks instead
        of every patient's parameters (nothing large pickled per task).

        Examples
        --------
        >>> pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": [2.0, 4.0, 6.0], "v": 30.0})
        >>> w = pop.window(1, 3)
        >>> w.n, w.chunk(2, 3, chunk_rng(0, 0)).params["cl"].tolist()
        (3, [[6.0]])
        """
        return _KnownWindow.of(self, start, stop)

    def describe(self) -> dict[str, Any]:
        """Model name and size (the parameter values are the caller's)."""
        return {"kind": "known", "model": self.model, "n": self.n}


def _rows_of(start: int, stop: int, first: int, rows: int) -> tuple[int, int]:
    """Rows of patients ``start .. stop - 1`` in values held for ``rows`` patients from
    patient ``first`` on; IndexError when any lies outside them."""
    lo, hi = int(start) - first, int(stop) - first
    if lo < 0 or hi > rows or lo > hi:
        raise IndexError(f"patients {start}..{stop - 1} are outside {first}..{first + rows - 1}")
    return lo, hi


def _known_chunk(
    params: Mapping[str, Any],
    covariates: pd.DataFrame | None,
    rows: int,
    first: int,
    start: int,
    stop: int,
) -> PatientChunk:
    """Patients ``start .. stop - 1`` of given values held from patient ``first`` on
    (``rows`` of them; a scalar is every patient's)."""
    lo, hi = _rows_of(start, stop, first, rows)
    params = {
        k: np.broadcast_to(np.asarray(v, dtype=float), (rows,))[lo:hi][None, :].copy()
        for k, v in params.items()
    }
    if covariates is not None:
        cov = covariates.iloc[lo:hi].reset_index(drop=True)
    else:
        cov = pd.DataFrame(index=range(hi - lo))
    return PatientChunk(
        vpid=np.arange(start, stop, dtype=np.int64),
        params=params,
        covariates=cov,
        draw=np.full(1, -1, dtype=np.int64),
        source=_no_sources(hi - lo),
    )


@functools.lru_cache(maxsize=8)
def _no_sources(n: int) -> np.ndarray:
    """``n`` empty sources (known patients carry no real patient's covariates), read-only:
    filled once per chunk size, not per chunk (an object array costs a reference a value)."""
    out = np.full(n, "", dtype=object)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class _KnownWindow:
    """Patients ``first .. first + rows - 1`` of a :class:`KnownPopulation`, numbered as
    there (:meth:`KnownPopulation.window`): the same chunks, only their values."""

    model: str
    n: int
    n_draws: int
    units: Mapping[str, str]
    first: int
    rows: int
    params: Mapping[str, Any]
    covariates: pd.DataFrame | None

    @classmethod
    def of(cls, pop: KnownPopulation | _KnownWindow, start: int, stop: int) -> _KnownWindow:
        first, rows = (pop.first, pop.rows) if isinstance(pop, _KnownWindow) else (0, pop.n)
        lo, hi = _rows_of(start, stop, first, rows)
        params = {  # copies: a view would pickle with its whole base
            k: v if np.size(v) == 1 else np.asarray(v, dtype=float)[lo:hi].copy()
            for k, v in pop.params.items()
        }
        cov = None if pop.covariates is None else pop.covariates.iloc[lo:hi].copy()
        return cls(pop.model, pop.n, pop.n_draws, pop.units, int(start), hi - lo, params, cov)

    def chunk(self, start: int, stop: int, rng: np.random.Generator) -> PatientChunk:
        """Patients ``start .. stop - 1``, inside the window (``rng`` is unused)."""
        return _known_chunk(self.params, self.covariates, self.rows, self.first, start, stop)

    def window(self, start: int, stop: int) -> _KnownWindow:
        """A narrower window (patients ``start .. stop - 1``, inside this one)."""
        return _KnownWindow.of(self, start, stop)

    def describe(self) -> dict[str, Any]:
        """As the whole population's (the window is how it travels, not what it is)."""
        return {"kind": "known", "model": self.model, "n": self.n}
