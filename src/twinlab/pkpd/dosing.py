"""Dosing events: oral, IV bolus and infusion doses, ADDL/II repeats and steady state.

A :class:`Dose` is one dosing record as NONMEM knows it (``TIME AMT RATE CMT ADDL II SS``);
:func:`expand_doses` turns the records of every subject into the padded dose arrays that the
structural models superpose (see ``PopulationArrays`` in :mod:`twinlab.pkpd.dataset`).

Compartment numbers follow the NONMEM ADVAN convention: an extravascular dose (oral, sc, im)
goes into the depot, ``CMT 1``; an intravascular dose (bolus or infusion) goes into the central
compartment, ``CMT 2`` when the model has a depot (``central_cmt=2``, the default) or ``CMT 1``
for IV-only models (``central_cmt=1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROUTES",
    "Dose",
    "DoseArrays",
    "expand_doses",
    "infusion",
    "iv_bolus",
    "oral",
    "regimen",
    "ss_doses_needed",
]

#: Accepted routes; ``oral``, ``sc`` and ``im`` are absorbed first-order from the depot,
#: ``iv`` is a bolus (or an infusion when a rate or duration is given).
ROUTES: tuple[str, ...] = ("oral", "sc", "im", "iv")
_EXTRAVASCULAR = frozenset({"oral", "sc", "im"})


@dataclass(frozen=True)
class Dose:
    """One dosing record.

    Parameters
    ----------
    time : float
        Hours (of the first dose when ``addl > 0``).
    amt : float
        Amount in mg (0 is allowed, e.g. placebo).
    route : str
        One of :data:`ROUTES`.
    rate : float
        Infusion rate in mg/h; 0 for a bolus or an extravascular dose.
    duration : float
        Infusion duration in hours; give ``rate`` or ``duration`` (the other is derived).
    addl : int
        Additional doses after this one, every ``ii`` hours (NONMEM ``ADDL``).
    ii : float
        Interdose interval in hours (NONMEM ``II``); needed by ``addl`` and ``ss``.
    ss : bool
        Steady state (NONMEM ``SS=1``): the system is at steady state of ``amt`` every ``ii``
        hours when this dose is given.
    cmt : int, optional
        Compartment; by default 1 for extravascular routes and the central compartment of
        :func:`expand_doses` for ``iv``.

    Raises
    ------
    ValueError
        For negative amounts, rates, durations or counts, an unknown route, an infusion of an
        oral dose, inconsistent ``rate`` / ``duration``, or ``addl`` / ``ss`` without ``ii``.
    """

    time: float
    amt: float
    route: str = "oral"
    rate: float = 0.0
    duration: float = 0.0
    addl: int = 0
    ii: float = 0.0
    ss: bool = False
    cmt: int | None = None

    def __post_init__(self) -> None:
        route = str(self.route).lower()
        if route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}, not {self.route!r}")
        object.__setattr__(self, "route", route)
        for name in ("time", "amt", "rate", "duration", "ii"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"Dose.{name} must be finite, not {value}")
            object.__setattr__(self, name, value)
        for name in ("amt", "rate", "duration", "ii"):
            if getattr(self, name) < 0:
                raise ValueError(f"Dose.{name} must be >= 0, not {getattr(self, name)}")
        if int(self.addl) != self.addl or self.addl < 0:
            raise ValueError(f"Dose.addl must be a non-negative integer, not {self.addl}")
        object.__setattr__(self, "addl", int(self.addl))
        object.__setattr__(self, "ss", bool(self.ss))
        if (self.addl > 0 or self.ss) and self.ii <= 0:
            raise ValueError("Dose.ii must be > 0 with addl > 0 or ss=True")
        if (self.rate > 0 or self.duration > 0) and route in _EXTRAVASCULAR:
            raise ValueError(f"a {route} dose cannot have a rate or duration; use route='iv'")
        if self.rate > 0 and self.duration > 0:
            if not math.isclose(self.amt / self.rate, self.duration, rel_tol=1e-9):
                raise ValueError(
                    f"rate {self.rate} and duration {self.duration} disagree for amt {self.amt}"
                )
        elif self.duration > 0:
            object.__setattr__(self, "rate", self.amt / self.duration)
        elif self.rate > 0:
            object.__setattr__(self, "duration", self.amt / self.rate)
        if self.cmt is not None and (int(self.cmt) != self.cmt or self.cmt < 1):
            raise ValueError(f"Dose.cmt must be an integer >= 1, not {self.cmt}")

    @property
    def is_infusion(self) -> bool:
        """True for a zero-order input (``rate > 0``)."""
        return self.rate > 0

    def compartment(self, *, central_cmt: int = 2) -> int:
        """Return the dose compartment (``cmt`` if set, else by route)."""
        if self.cmt is not None:
            return int(self.cmt)
        return 1 if self.route in _EXTRAVASCULAR else central_cmt


def oral(
    amt: float, *, time: float = 0.0, addl: int = 0, ii: float = 0.0, ss: bool = False
) -> Dose:
    """Return an oral dose into the depot (lag time and bioavailability belong to the model).

    Examples
    --------
    >>> oral(320.0, time=0.0).route
    'oral'
    """
    return Dose(time=time, amt=amt, route="oral", addl=addl, ii=ii, ss=ss)


def iv_bolus(
    amt: float, *, time: float = 0.0, addl: int = 0, ii: float = 0.0, ss: bool = False
) -> Dose:
    """Return an intravenous bolus into the central compartment."""
    return Dose(time=time, amt=amt, route="iv", addl=addl, ii=ii, ss=ss)


def infusion(
    amt: float,
    *,
    rate: float | None = None,
    duration: float | None = None,
    time: float = 0.0,
    addl: int = 0,
    ii: float = 0.0,
    ss: bool = False,
) -> Dose:
    """Return a zero-order intravenous infusion, given by ``rate`` (mg/h) or ``duration`` (h).

    Examples
    --------
    >>> infusion(500.0, duration=0.5).rate
    1000.0
    """
    if (rate is None) == (duration is None):
        raise ValueError("infusion needs exactly one of rate= or duration=")
    if (rate is not None and rate <= 0) or (duration is not None and duration <= 0):
        raise ValueError("infusion rate and duration must be > 0")
    return Dose(
        time=time,
        amt=amt,
        route="iv",
        rate=rate or 0.0,
        duration=duration or 0.0,
        addl=addl,
        ii=ii,
        ss=ss,
    )


def regimen(
    amt: float,
    *,
    every: float,
    n: int,
    start: float = 0.0,
    route: str = "oral",
    duration: float | None = None,
    loading: float | None = None,
) -> list[Dose]:
    """Return ``n`` doses of ``amt`` every ``every`` hours from ``start``, one record each.

    Parameters
    ----------
    amt : float
        Maintenance dose (mg).
    every : float
        Dosing interval in hours (e.g. 24 for QD, 12 for BID).
    n : int
        Number of doses, the loading dose included.
    start : float
        Time of the first dose (hours).
    route : str
        One of :data:`ROUTES`.
    duration : float, optional
        Infusion duration (hours) for ``route="iv"``; None for a bolus.
    loading : float, optional
        Amount of the first dose when it differs from ``amt``.

    Returns
    -------
    list of Dose

    Examples
    --------
    >>> [d.amt for d in regimen(100.0, every=12, n=3, loading=200.0)]
    [200.0, 100.0, 100.0]
    """
    if int(n) != n or n < 1:
        raise ValueError(f"regimen needs n >= 1 doses, not {n}")
    if not every > 0:
        raise ValueError(f"regimen needs every > 0 hours, not {every}")
    doses = []
    for k in range(int(n)):
        dose_amt = loading if (k == 0 and loading is not None) else amt
        doses.append(
            Dose(
                time=start + k * every,
                amt=dose_amt,
                route=route,
                duration=duration or 0.0,
            )
        )
    return doses


def ss_doses_needed(*, ii: float, half_life: float, tol: float = 1e-9) -> int:
    """Return how many doses before a steady-state dose make its history exact within ``tol``.

    With doses every ``ii`` hours, the doses given more than ``n`` intervals before contribute
    ``exp(-k (n + 1) ii) = 2 ** (-(n + 1) ii / half_life)`` of the steady-state level of each
    exponential phase whose half-life is at most ``half_life`` (``k = ln 2 / half_life``), at
    any time after the steady-state dose; so ``n = ceil(log2(1 / tol) * half_life / ii) - 1``.

    The bound holds per exponential phase. Where phases nearly cancel (just after an oral
    dose, absorption against elimination) the relative error of the concentration is larger
    by the ratio of the phase level to the concentration; the default ``tol = 1e-9`` (30
    half-lives of history) keeps concentrations within 1e-6 unless that ratio exceeds 1000.

    Parameters
    ----------
    ii : float
        Dosing interval (hours).
    half_life : float
        The longest half-life of the model (terminal phase, or absorption if flip-flop).
    tol : float
        Relative contribution left out, per exponential phase.

    Returns
    -------
    int
    """
    if not ii > 0 or not half_life > 0 or not 0 < tol < 1:
        raise ValueError("ss_doses_needed needs ii > 0, half_life > 0 and 0 < tol < 1")
    return max(math.ceil(math.log2(1.0 / tol) * half_life / ii) - 1, 0)


@dataclass(frozen=True)
class DoseArrays:
    """Padded dose arrays, shape ``(n_subjects, max_doses)``, sorted by time per subject.

    ``count`` (shape ``(n_subjects,)``) is the number of real doses of each subject; they fill
    the first ``count`` columns. Padding has ``amt == 0``, ``time == 0``,
    ``rate == duration == 0`` and ``cmt == 1``, so it adds nothing to a superposition. ``ss``
    marks doses that come from a steady-state record (the record itself and the history
    generated before it): they are ordinary doses, already expanded, and must be superposed
    like the others.
    """

    time: np.ndarray
    amt: np.ndarray
    rate: np.ndarray
    duration: np.ndarray
    cmt: np.ndarray
    ss: np.ndarray
    count: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """True for real doses, false for padding (real doses come first in each row)."""
        return np.arange(self.time.shape[1]) < self.count[:, None]


def _expand_table(
    subject: np.ndarray,
    time: np.ndarray,
    amt: np.ndarray,
    rate: np.ndarray,
    cmt: np.ndarray,
    addl: np.ndarray,
    ii: np.ndarray,
    ss: np.ndarray,
    *,
    n_subjects: int,
    ss_half_life: float | None,
    ss_tol: float,
) -> DoseArrays:
    """Vectorized expansion of dose records given as columns (``subject`` is 0-based)."""
    subject = np.asarray(subject, dtype=np.int64)
    time, amt, rate = (np.asarray(a, dtype=float) for a in (time, amt, rate))
    cmt, addl = np.asarray(cmt, dtype=np.int64), np.asarray(addl, dtype=np.int64)
    ii, ss = np.asarray(ii, dtype=float), np.asarray(ss, dtype=bool)
    n_past = np.zeros(len(subject), dtype=np.int64)
    if ss.any():
        if ss_half_life is None:
            raise ValueError(
                "steady-state doses (SS=1) need ss_half_life=, the longest half-life of the "
                "model in hours, to generate the dosing history that reaches steady state"
            )
        n_past[ss] = [ss_doses_needed(ii=v, half_life=ss_half_life, tol=ss_tol) for v in ii[ss]]
    count = n_past + 1 + addl
    rec = np.repeat(np.arange(len(subject)), count)
    # k runs from -n_past (oldest history dose) to addl for each record
    starts = np.cumsum(count) - count
    k = np.arange(len(rec)) - np.repeat(starts, count) - np.repeat(n_past, count)
    t = time[rec] + k * ii[rec]
    subj = subject[rec]
    order = np.lexsort((t, subj))
    rec, t, subj = rec[order], t[order], subj[order]
    per_subject = np.bincount(subj, minlength=n_subjects)
    width = int(per_subject.max()) if len(per_subject) else 0
    pos = np.arange(len(rec)) - np.repeat(np.cumsum(per_subject) - per_subject, per_subject)
    out = {
        "time": np.zeros((n_subjects, width)),
        "amt": np.zeros((n_subjects, width)),
        "rate": np.zeros((n_subjects, width)),
        "duration": np.zeros((n_subjects, width)),
        "cmt": np.ones((n_subjects, width), dtype=np.int64),
        "ss": np.zeros((n_subjects, width), dtype=bool),
    }
    out["time"][subj, pos] = t
    out["amt"][subj, pos] = amt[rec]
    out["rate"][subj, pos] = rate[rec]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["duration"][subj, pos] = np.where(rate[rec] > 0, amt[rec] / rate[rec], 0.0)
    out["cmt"][subj, pos] = cmt[rec]
    out["ss"][subj, pos] = ss[rec]
    return DoseArrays(**out, count=per_subject.astype(np.int64))


def expand_doses(
    doses: Sequence[Sequence[Dose]],
    *,
    central_cmt: int = 2,
    ss_half_life: float | None = None,
    ss_tol: float = 1e-9,
) -> DoseArrays:
    """Expand each subject's dose records into padded arrays of single doses.

    ``ADDL``/``II`` repeats become explicit doses; a steady-state dose (``ss=True``) gets
    :func:`ss_doses_needed` earlier doses (at negative times relative to it), so the superposed
    profile after it equals steady state within ``ss_tol`` per exponential phase (within 1e-6
    of the concentration with the default, see :func:`ss_doses_needed`). As with NONMEM
    ``SS=1``, the steady state replaces, rather than adds to, what earlier records left: do not
    combine an ``ss`` record with doses before it.

    Parameters
    ----------
    doses : sequence of sequences of Dose
        One sequence per subject (may be empty).
    central_cmt : int
        Compartment of IV doses without ``cmt``: 2 for models with a depot, 1 for IV models.
    ss_half_life : float, optional
        The longest half-life of the model (hours); required when a dose has ``ss=True``.
    ss_tol : float
        Relative steady-state accuracy per exponential phase.

    Returns
    -------
    DoseArrays

    Examples
    --------
    >>> arrays = expand_doses([[oral(100.0, addl=2, ii=12)], [iv_bolus(50.0)]], central_cmt=2)
    >>> arrays.time.tolist()
    [[0.0, 12.0, 24.0], [0.0, 0.0, 0.0]]
    >>> arrays.cmt[1, 0]
    np.int64(2)
    """
    rows = [(i, d) for i, subject in enumerate(doses) for d in subject]
    return _expand_table(
        np.array([i for i, _ in rows], dtype=np.int64),
        np.array([d.time for _, d in rows], dtype=float),
        np.array([d.amt for _, d in rows], dtype=float),
        np.array([d.rate for _, d in rows], dtype=float),
        np.array([d.compartment(central_cmt=central_cmt) for _, d in rows], dtype=np.int64),
        np.array([d.addl for _, d in rows], dtype=np.int64),
        np.array([d.ii for _, d in rows], dtype=float),
        np.array([d.ss for _, d in rows], dtype=bool),
        n_subjects=len(doses),
        ss_half_life=ss_half_life,
        ss_tol=ss_tol,
    )
