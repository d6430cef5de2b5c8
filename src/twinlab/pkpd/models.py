"""Structural PK/PD models, each defined once and evaluated by NumPy or PyTensor.

A model's ``predict(xp, theta, arrays)`` is array code written against an array module ``xp``
(``numpy`` or ``pytensor.tensor``) that uses only operations both offer, so the fitting back end
(PyTensor, for gradients) and the simulator (NumPy) evaluate the same definition.

Linear models are solved analytically by superposition over the padded dose arrays: the
response of every dose is a sum of exponentials ``sum_i a_i exp(-lambda_i (t - t_dose))`` (the
eigenvalues ``lambda_i`` of the 2- and 3-compartment systems come from the micro-constants; the
3-compartment cubic is solved with Viète's trigonometric formula), a dose counts for
observations strictly after it, and first-order absorption or an effect compartment is the same
exponential-sum transform. Nonlinear models (Michaelis–Menten elimination, indirect response)
integrate their ODE with the fixed-step RK4 of :mod:`twinlab.pkpd.ode`, driven by the analytic
depot or plasma profile.

Dose routing follows NONMEM: in oral models ``CMT 1`` is the depot (first-order absorption,
bioavailability ``f``, lag ``tlag``) and any other compartment is the central one (bolus, or a
zero-order infusion when ``dose_duration > 0``); in IV models every dose enters the central
compartment. ``RATE`` on a depot dose is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from twinlab.pkpd.events import EventTable, event_table
from twinlab.pkpd.events import evaluate as decayed_evaluate
from twinlab.pkpd.ode import decay_convolution, rk4, step_times, time_grid
from twinlab.pkpd.pd import hill, idr_rhs, sigmoid_emax

__all__ = [
    "MODELS",
    "StructuralModel",
    "disposition_exponentials",
    "get_model",
    "model_names",
    "ode_grid",
    "predict",
    "through_first_order",
]

Predict = Callable[..., dict[str, Any]]

_ORAL_DEFAULTS = MappingProxyType({"f": 1.0, "tlag": 0.0})
_DOSE_FIELDS = ("dose_time", "dose_amt", "dose_rate", "dose_duration", "dose_cmt")


@dataclass(frozen=True)
class StructuralModel:
    """A structural PK/PD model declared once for both back ends.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"pk_1cmt_oral"``.
    params : tuple of str
        Required individual parameters (lower-case, e.g. ``("ka", "cl", "v")``).
    endpoints : tuple of str
        Names of the predicted endpoints, e.g. ``("conc",)`` or ``("conc", "effect")``.
    kind : str
        ``"analytic"`` or ``"ode"``.
    predict : callable
        ``predict(xp, theta, arrays, *, grid=None) -> {endpoint: array (n_obs,)}`` with
        ``theta[name]`` of shape ``(n_subjects,)`` (or a scalar) and ``arrays`` holding the
        ``PopulationArrays`` fields; ``grid`` fixes the ODE time grid (ODE models only).
    defaults : mapping
        Optional parameters and the value used when ``theta`` omits them (``f=1, tlag=0``).
    description : str
        One line for humans.
    """

    name: str
    params: tuple[str, ...]
    endpoints: tuple[str, ...]
    kind: str
    predict: Predict = field(repr=False)
    defaults: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""

    @property
    def all_params(self) -> tuple[str, ...]:
        """Required parameters followed by the optional ones."""
        return self.params + tuple(k for k in self.defaults if k not in self.params)


# --------------------------------------------------------------------------- helpers


def _static(x: Any) -> np.ndarray | None:
    """The concrete value of a NumPy array or PyTensor constant, else ``None``."""
    if isinstance(x, np.ndarray | np.generic | int | float):
        return np.asarray(x)
    data = getattr(x, "data", None)
    if isinstance(data, np.ndarray) and type(x).__name__.endswith("Constant"):
        return data
    return None


def _param(theta: Mapping[str, Any], name: str, defaults: Mapping[str, float]) -> Any:
    if name in theta:
        return theta[name]
    if name in defaults:
        return defaults[name]
    raise KeyError(f"parameter {name!r} missing from theta (have {sorted(theta)})")


def _rows(x: Any, rows: Any) -> Any:
    """Values at ``rows`` (all of them for ``None``; scalars pass through)."""
    if isinstance(x, int | float) or getattr(x, "ndim", 0) == 0:
        return x
    return x if rows is None else x[rows]


def _is_literal(x: Any, value: float) -> bool:
    return isinstance(x, int | float) and float(x) == value


@dataclass(frozen=True)
class _DoseInfo:
    """What the dose records hold, when known statically (``True`` when unknown)."""

    depot: bool
    central: bool
    infusion: bool
    bolus: bool


def _dose_info(arrays: Any, oral: bool) -> _DoseInfo:
    amt, dur, cmt = (_static(getattr(arrays, f)) for f in ("dose_amt", "dose_duration", "dose_cmt"))
    if amt is None or dur is None or cmt is None:
        return _DoseInfo(True, True, True, True)
    given = amt != 0
    depot = given & (cmt == 1) if oral else np.zeros_like(given)
    central = given & ~depot
    return _DoseInfo(
        depot=bool(depot.any()),
        central=bool(central.any()),
        infusion=bool((central & (dur > 0)).any()),
        bolus=bool((central & (dur <= 0)).any()),
    )


@dataclass(frozen=True, eq=False)
class _Doses:
    """The events of one exponential-sum group: a static table, and per-subject values.

    ``lag`` delays every event of a subject (a depot lag, or ``None``); ``scale`` multiplies the
    group's response (bioavailability, or ``None``).
    """

    table: EventTable
    lag: Any = None
    scale: Any = None


def _queries(arrays: Any, times: Any) -> tuple[np.ndarray, np.ndarray]:
    """Subjects and times of the query points: the observations (``times is None``) or a grid
    of times shared by every subject, subject by subject (output ``(n_subjects, n_times)``)."""
    if times is None:
        subject, time = _static(arrays.obs_subject), _static(arrays.obs_time)
        if subject is None or time is None:
            raise ValueError("the linear models need concrete observation times and subjects")
        return np.asarray(subject), np.asarray(time, dtype=float)
    times = np.asarray(times, dtype=float)
    n = _n_rows(arrays)
    return np.repeat(np.arange(n), times.size), np.tile(times, n)


def _n_rows(arrays: Any) -> int:
    time = _static(arrays.dose_time)
    if time is None:
        raise ValueError("the linear models need concrete dose arrays")
    return int(time.shape[0])


def _dose_arrays(arrays: Any) -> tuple[np.ndarray, ...]:
    fields = [_static(getattr(arrays, f)) for f in ("dose_time", "dose_amt", "dose_duration")]
    cmt = _static(arrays.dose_cmt)
    if any(x is None for x in fields) or cmt is None:
        raise ValueError("the linear models need concrete dose arrays (dose_time, dose_amt, ...)")
    time, amt, dur = (np.asarray(x, dtype=float) for x in fields)
    return time, amt, dur, np.asarray(cmt)


def through_first_order(coefs: list[Any], rates: list[Any], k: Any) -> tuple[list[Any], list[Any]]:
    """Pass an exponential-sum response through a first-order compartment with rate ``k``.

    ``sum_i c_i exp(-l_i t)`` becomes ``sum_i c_i k/(k - l_i) (exp(-l_i t) - exp(-k t))``: this is
    first-order absorption (k = ka) and the effect compartment (k = ke0) alike.
    """
    new = [c * k / (k - lam) for c, lam in zip(coefs, rates, strict=True)]
    total = new[0]
    for c in new[1:]:
        total = total + c
    return [*new, -total], [*rates, k]


def _at(x: Any, idx: np.ndarray) -> Any:
    """``x`` at the query subjects ``idx`` (scalars pass through)."""
    return x if isinstance(x, int | float) or getattr(x, "ndim", 0) == 0 else x[idx]


def _per_row(xp: ModuleType, x: Any, n: int) -> Any:
    return x if getattr(x, "ndim", 0) == 1 else xp.zeros(n) + x


def _evaluate(xp: ModuleType, groups: list[tuple[list, list, _Doses]]) -> Any:
    """``sum_groups scale sum_m a_m S_m`` at the groups' query points (event-driven).

    Every group shares the query points of its table; the result has one value per query.
    """
    total = None
    for coefs, rates, doses in groups:
        table = doses.table
        n, at = table.n_rows, table.q_subject
        lam = xp.stack([_per_row(xp, r, n) for r in rates], axis=1)
        lag = None if doses.lag is None else _per_row(xp, doses.lag, n)
        s = decayed_evaluate(xp, lam, lag, table)
        n_times = table.n_queries // n if n else 0
        if (
            n
            and n * n_times == table.n_queries
            and np.array_equal(at, np.repeat(np.arange(n), n_times))
        ):
            # every subject asks the same number of points in turn (an ODE model's grid):
            # broadcast the per-subject coefficients instead of gathering one per point
            s = s.reshape((n, n_times, len(rates)))
            cols = [(_col(a), s[:, :, m]) for m, a in enumerate(coefs)]
            scale = None if doses.scale is None else _col(doses.scale)
        else:
            cols = [(_at(a, at), s[:, m]) for m, a in enumerate(coefs)]
            scale = None if doses.scale is None else _at(doses.scale, at)
        part = None
        for a, sm in cols:
            part = a * sm if part is None else part + a * sm
        if scale is not None:
            part = part * scale
        part = part.reshape((-1,))
        total = part if total is None else total + part
    return total


def _col(x: Any) -> Any:
    """Per-subject values as a column ``(n, 1)`` (scalars pass through)."""
    return x if isinstance(x, int | float) or getattr(x, "ndim", 0) == 0 else x[:, None]


# ------------------------------------------------------------------ linear disposition


def disposition_exponentials(xp: ModuleType, n_cmt: int, p: Mapping[str, Any]) -> tuple[list, list]:
    """Unit-bolus central concentration ``sum_i A_i exp(-lambda_i t)`` of 1–3 compartments.

    Shared by this module's analytic models and the compiled kernels of
    :mod:`twinlab.simulate.kernels`, so both use the same closed forms.

    Parameters
    ----------
    xp : module
        The array module (NumPy or PyTensor).
    n_cmt : int
        Compartments (1, 2 or 3).
    p : mapping
        ``cl`` and ``v`` (and ``q``, ``v2``; ``q3``, ``v3``), scalars or per subject.

    Returns
    -------
    coefs, rates : list
        The ``A_i`` and ``lambda_i``.
    """
    v = p["v"]
    k10 = p["cl"] / v
    if n_cmt == 1:
        return [1.0 / v], [k10]
    k12 = p["q"] / v
    k21 = p["q"] / p["v2"]
    if n_cmt == 2:
        s = k10 + k12 + k21
        alpha = 0.5 * (s + xp.sqrt(s * s - 4.0 * k10 * k21))
        lam = [alpha, k10 * k21 / alpha]  # beta from the product: no cancellation
        peripheral = [k21]
    else:
        k13 = p["q3"] / v
        k31 = p["q3"] / p["v3"]
        a2 = k10 + k12 + k13 + k21 + k31
        a1 = k10 * k21 + k10 * k31 + k21 * k31 + k12 * k31 + k13 * k21
        a0 = k10 * k21 * k31
        # lambda^3 - a2 lambda^2 + a1 lambda - a0 = 0; lambda = x + a2/3 gives x^3 + px + q = 0
        pp = a1 - a2 * a2 / 3.0
        qq = -2.0 * a2**3 / 27.0 + a1 * a2 / 3.0 - a0
        r = xp.sqrt(-pp / 3.0)
        arg = (1.5 * qq / pp) * xp.sqrt(-3.0 / pp)
        phi = xp.arccos(xp.minimum(xp.maximum(arg, -1.0), 1.0)) / 3.0
        l0 = a2 / 3.0 + 2.0 * r * xp.cos(phi)
        l1 = a2 / 3.0 + 2.0 * r * xp.cos(phi - 2.0 * math.pi / 3.0)
        lam = [l0, l1, a0 / (l0 * l1)]  # smallest root from the product: no cancellation
        peripheral = [k21, k31]
    coefs = []
    for i, li in enumerate(lam):
        num = 1.0
        for kj in peripheral:
            num = num * (kj - li)
        den = v
        for m, lm in enumerate(lam):
            if m != i:
                den = den * (lm - li)
        coefs.append(num / den)
    return coefs, lam


def _linear_groups(
    xp: ModuleType,
    n_cmt: int,
    oral: bool,
    p: Mapping[str, Any],
    arrays: Any,
    times: Any = None,
    *,
    inclusive: bool = False,
) -> list[tuple[list, list, _Doses]]:
    """Exponential-sum groups giving the central concentration at the query points.

    ``p`` holds per-subject values ``(n_subjects,)`` (or scalars); the query points are the
    observations (``times=None``) or the grid ``times`` for every subject.
    """
    info = _dose_info(arrays, oral)
    q_subject, q_time = _queries(arrays, times)
    time, amt, dur, cmt = _dose_arrays(arrays)
    coefs, rates = disposition_exponentials(xp, n_cmt, p)

    def table(ev_time: Any, weight: Any, decays: Any) -> EventTable:
        return event_table(ev_time, weight, decays, q_subject, q_time, inclusive=inclusive)

    groups = []
    depot = (cmt == 1) & (amt != 0) if oral else np.zeros(amt.shape, dtype=bool)
    if oral and (info.depot or not info.central):
        groups.append(
            (*through_first_order(coefs, rates, p["ka"]), _depot(p, table(time, amt * depot, True)))
        )
    if not info.central and groups:
        return groups
    central = np.where(depot, 0.0, amt)
    if info.bolus or not info.infusion:
        groups.append((coefs, rates, _Doses(table(time, np.where(dur > 0, 0.0, central), True))))
    if info.infusion:
        rate = np.where(dur > 0, central / np.where(dur > 0, dur, 1.0), 0.0)
        # R sum_i A_i/l_i (exp(-l_i max(t - dur, 0)) - exp(-l_i t)) after the start: a step
        # up and a decaying -R at the start, a step down and a decaying +R at the end
        ev_time = np.concatenate([time, time, time + dur, time + dur], axis=1)
        weight = np.concatenate([rate, -rate, -rate, rate], axis=1)
        decays = np.concatenate([np.zeros_like(rate), np.ones_like(rate)] * 2, axis=1) > 0
        scaled = [a / lam for a, lam in zip(coefs, rates, strict=True)]
        groups.append((scaled, rates, _Doses(table(ev_time, weight, decays))))
    return groups


def _depot(p: Mapping[str, Any], table: EventTable) -> _Doses:
    """Depot doses: delayed by ``tlag``, scaled by ``f`` (when they are not 0 and 1)."""
    lag = None if _is_literal(p["tlag"], 0.0) else p["tlag"]
    scale = None if _is_literal(p["f"], 1.0) else p["f"]
    return _Doses(table, lag=lag, scale=scale)


def _gather(
    theta: Mapping[str, Any],
    names: tuple[str, ...],
    defaults: Mapping[str, float],
    rows: Any = None,
) -> dict[str, Any]:
    return {n: _rows(_param(theta, n, defaults), rows) for n in names}


def _conc_at_obs(
    xp: ModuleType,
    n_cmt: int,
    oral: bool,
    names: tuple[str, ...],
    defaults: Mapping[str, float],
    theta: Mapping[str, Any],
    arrays: Any,
) -> tuple[Any, list]:
    p = _gather(theta, names, defaults)
    groups = _linear_groups(xp, n_cmt, oral, p, arrays)
    return _evaluate(xp, groups), groups


def _linear_names(n_cmt: int, oral: bool) -> tuple[str, ...]:
    names = ("ka",) if oral else ()
    names += ("cl", "v")
    if n_cmt >= 2:
        names += ("q", "v2")
    if n_cmt >= 3:
        names += ("q3", "v3")
    return names


def _make_linear(n_cmt: int, oral: bool) -> StructuralModel:
    names = _linear_names(n_cmt, oral)
    defaults = _ORAL_DEFAULTS if oral else MappingProxyType({})
    all_names = names + tuple(defaults)

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        conc, _ = _conc_at_obs(xp, n_cmt, oral, all_names, defaults, theta, arrays)
        return {"conc": conc}

    route = "first-order absorption" if oral else "IV bolus / zero-order infusion"
    return StructuralModel(
        name=f"pk_{n_cmt}cmt_{'oral' if oral else 'iv'}",
        params=names,
        endpoints=("conc",),
        kind="analytic",
        predict=predict,
        defaults=defaults,
        description=f"linear {n_cmt}-compartment PK, {route} (analytic superposition)",
    )


# ------------------------------------------------------------------------ PD, analytic

_PK1 = _linear_names(1, True)


def _make_emax() -> StructuralModel:
    defaults = MappingProxyType({**_ORAL_DEFAULTS, "gamma": 1.0})
    pk_names = (*_PK1, "f", "tlag")

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        conc, _ = _conc_at_obs(xp, 1, True, pk_names, defaults, theta, arrays)
        e = {n: _param(theta, n, defaults) for n in ("e0", "emax", "ec50", "gamma")}
        s = arrays.obs_subject
        e = {n: v if getattr(v, "ndim", 0) == 0 else v[s] for n, v in e.items()}
        return {"conc": conc, "effect": sigmoid_emax(xp, conc, **e)}

    return StructuralModel(
        "pkpd_1cmt_oral_emax",
        (*_PK1, "e0", "emax", "ec50"),
        ("conc", "effect"),
        "analytic",
        predict,
        defaults,
        "1-cmt oral PK with a direct sigmoid Emax on the concentration",
    )


def _make_effect_cmt() -> StructuralModel:
    defaults = MappingProxyType({**_ORAL_DEFAULTS, "gamma": 1.0})
    pk_names = (*_PK1, "f", "tlag")

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        if _dose_info(arrays, True).infusion:
            raise NotImplementedError("the effect-compartment model takes no infusions")
        conc, groups = _conc_at_obs(xp, 1, True, pk_names, defaults, theta, arrays)
        s = arrays.obs_subject
        ke0 = _param(theta, "ke0", defaults)
        ce = _evaluate(xp, [(*through_first_order(c, r, ke0), doses) for c, r, doses in groups])
        e = {n: _param(theta, n, defaults) for n in ("e0", "emax", "ec50", "gamma")}
        e = {n: v if getattr(v, "ndim", 0) == 0 else v[s] for n, v in e.items()}
        return {"conc": conc, "effect": sigmoid_emax(xp, ce, **e)}

    return StructuralModel(
        "pkpd_1cmt_oral_effect_cmt",
        (*_PK1, "ke0", "e0", "emax", "ec50"),
        ("conc", "effect"),
        "analytic",
        predict,
        defaults,
        "1-cmt oral PK, effect compartment (ke0) with a sigmoid Emax on Ce (analytic)",
    )


# ----------------------------------------------------------------------------- ODE models


def ode_grid(arrays: Any, *, max_step: float | None = None) -> np.ndarray:
    """The RK4 grid of an ODE model: every observation, dose and infusion-end time, refined.

    Parameters
    ----------
    arrays : PopulationArrays-like
        Needs concrete ``obs_time``, ``dose_time``, ``dose_amt``, ``dose_duration``.
    max_step : float, optional
        Largest step in hours (default :data:`twinlab.pkpd.ode.MAX_STEP`).
    """
    fields = [
        _static(getattr(arrays, f)) for f in ("obs_time", "dose_time", "dose_amt", "dose_duration")
    ]
    if any(x is None for x in fields):
        raise ValueError("ODE models need concrete observation and dose times (or grid=)")
    obs, td, amt, dur = fields
    given = amt != 0
    points = np.concatenate([obs.ravel(), td[given], (td + dur)[given & (dur > 0)]])
    return time_grid(points) if max_step is None else time_grid(points, max_step=max_step)


def _ode_setup(arrays: Any, grid: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    grid = ode_grid(arrays) if grid is None else np.asarray(grid, dtype=float)
    obs = _static(arrays.obs_time)
    if obs is None:
        raise ValueError("ODE models need concrete observation times")
    idx = np.clip(np.searchsorted(grid, obs), 0, len(grid) - 1)
    if not np.allclose(grid[idx], obs, rtol=0, atol=1e-9):
        raise ValueError("every observation time must be a point of the ODE grid")
    return grid, idx, step_times(grid)


def _forcing(
    xp: ModuleType, groups_at: Callable[..., list], stages: tuple, *, continuous: bool = False
) -> tuple[Any, Any, Any]:
    """An analytic input at the steps' starts (right limit), midpoints and ends (left limit).

    A ``continuous`` input (a central concentration with no bolus into the central
    compartment: depot doses and infusions change its slope, not its value) is the same at a
    step's end as at the next step's start, so it is evaluated once per grid point: two
    queries per step instead of three.
    """
    _, t0, tm, t1 = stages
    if continuous and len(t0):
        points = np.append(t0, t1[-1])
        at_points = _evaluate(xp, groups_at(points, inclusive=True)).reshape((-1, len(points))).T
        mid = _evaluate(xp, groups_at(tm, inclusive=False)).reshape((-1, len(tm))).T
        return at_points[:-1], mid, at_points[1:]
    return tuple(
        _evaluate(xp, groups_at(t, inclusive=inc)).reshape((-1, len(t))).T
        for t, inc in ((t0, True), (tm, False), (t1, False))
    )


def _subject_params(
    theta: Mapping[str, Any], names: tuple[str, ...], defaults: Mapping[str, float]
) -> list[Any]:
    return [_param(theta, n, defaults) for n in names]


def _make_mm() -> StructuralModel:
    names = ("ka", "v", "vm", "km")
    defaults = _ORAL_DEFAULTS

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        info = _dose_info(arrays, True)
        if info.central:
            raise NotImplementedError("the Michaelis-Menten model takes depot (CMT 1) doses only")
        grid, idx, stages = _ode_setup(arrays, grid)
        p = _gather(theta, ("ka", "f", "tlag"), defaults)
        time, amt, _, _ = _dose_arrays(arrays)

        def groups_at(times: Any, inclusive: bool) -> list:
            q_subject, q_time = _queries(arrays, times)
            tab = event_table(time, amt, True, q_subject, q_time, inclusive=inclusive)
            return [([p["ka"]], [p["ka"]], _depot(p, tab))]

        u = _forcing(xp, groups_at, stages)
        v, vm, km = _subject_params(theta, ("v", "vm", "km"), defaults)

        def rhs(a: Any, inflow: Any, v: Any, vm: Any, km: Any) -> Any:
            c = a / v
            return inflow - vm * c / (km + c)

        def decay(a: Any, inflow: Any, v: Any, vm: Any, km: Any) -> Any:
            return vm / (v * km + xp.maximum(a, 0.0))

        traj = rk4(xp, rhs, 0.0 * u[0][0], stages[0], *u, params=(v, vm, km), decay=decay)
        s = arrays.obs_subject
        return {"conc": traj[idx, s] / (v if getattr(v, "ndim", 0) == 0 else v[s])}

    return StructuralModel(
        "pk_1cmt_oral_mm",
        names,
        ("conc",),
        "ode",
        predict,
        defaults,
        "1-cmt oral PK with Michaelis-Menten elimination vm*C/(km + C) (integrating-factor RK4)",
    )


def _make_idr(kind: int) -> StructuralModel:
    drug = ("imax", "ic50") if kind in (1, 2) else ("emax", "ec50")
    pk_names = (*_PK1, "f", "tlag")
    defaults = MappingProxyType({**_ORAL_DEFAULTS, "gamma": 1.0})

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        conc, _ = _conc_at_obs(xp, 1, True, pk_names, defaults, theta, arrays)
        grid, idx, stages = _ode_setup(arrays, grid)
        p = _gather(theta, pk_names, defaults)

        def groups_at(times: Any, inclusive: bool) -> list:
            return _linear_groups(xp, 1, True, p, arrays, times, inclusive=inclusive)

        u = _forcing(xp, groups_at, stages, continuous=not _dose_info(arrays, True).bolus)
        kin, kout, dmax, c50, gamma = _subject_params(
            theta, ("kin", "kout", *drug, "gamma"), defaults
        )
        r0 = kin / kout + 0.0 * u[0][0]
        traj = rk4(xp, idr_rhs(xp, kind), r0, stages[0], *u, params=(kin, kout, dmax, c50, gamma))
        return {"conc": conc, "effect": traj[idx, arrays.obs_subject]}

    return StructuralModel(
        f"pkpd_1cmt_oral_idr{kind}",
        (*_PK1, "kin", "kout", *drug),
        ("conc", "effect"),
        "ode",
        predict,
        defaults,
        f"1-cmt oral PK driving indirect response {kind} (RK4), R(0) = kin/kout",
    )


def _make_turnover(kind: int) -> StructuralModel:
    """Indirect response on kin (I or III) with baseline ``e0``, solved without a time loop.

    ``dR/dt = kin (1 -/+ D(C)) - kout R`` with ``kin = e0 * kout`` and ``R(0) = e0`` is linear in
    ``R``, so ``R(t) = e0 -/+ kin * int_0^t D(C(s)) exp(-kout (t - s)) ds`` with ``D`` the drug
    term (``imax`` or ``emax`` times the Hill occupancy); the integral comes from
    :func:`twinlab.pkpd.ode.decay_convolution` on the ODE grid (Simpson per step, exact decay).
    It is the model of ``pkpd_1cmt_oral_idr{kind}`` parametrized by the baseline, as nlmixr2
    and most turnover analyses do: the pre-dose response identifies ``e0`` directly, so its
    posterior is nearly independent of ``kout`` (``log kin`` and ``log kout`` are strongly
    correlated), which NUTS samples far better; and with no scan the gradient is cheap and the
    model compiles fast.
    """
    if kind not in (1, 3):
        raise ValueError("the loop-free turnover solution needs a drug effect on kin (1 or 3)")
    drug = ("imax", "ic50") if kind == 1 else ("emax", "ec50")
    sign = -1.0 if kind == 1 else 1.0
    pk_names = (*_PK1, "f", "tlag")
    defaults = MappingProxyType({**_ORAL_DEFAULTS, "gamma": 1.0})

    def predict(xp: ModuleType, theta: Mapping[str, Any], arrays: Any, *, grid: Any = None):
        conc, _ = _conc_at_obs(xp, 1, True, pk_names, defaults, theta, arrays)
        grid, idx, stages = _ode_setup(arrays, grid)
        p = _gather(theta, pk_names, defaults)

        def groups_at(times: Any, inclusive: bool) -> list:
            return _linear_groups(xp, 1, True, p, arrays, times, inclusive=inclusive)

        u = _forcing(xp, groups_at, stages, continuous=not _dose_info(arrays, True).bolus)
        e0, kout, dmax, c50, gamma = _subject_params(
            theta, ("e0", "kout", *drug, "gamma"), defaults
        )
        if _is_literal(gamma, 1.0):
            occupancy = [xp.maximum(c, 0.0) / (c50 + xp.maximum(c, 0.0)) for c in u]
        else:
            occupancy = [hill(xp, c, c50, gamma) for c in u]
        targets, pos = np.unique(idx, return_inverse=True)
        integral = decay_convolution(xp, kout, grid, *occupancy, targets)
        s = arrays.obs_subject
        response = e0 + (sign * dmax * e0 * kout) * integral  # (n_targets, n_subjects)
        return {"conc": conc, "effect": response[pos, s]}

    name = "inhibition" if kind == 1 else "stimulation"
    return StructuralModel(
        f"pkpd_1cmt_oral_idr{kind}_e0",
        (*_PK1, "e0", "kout", *drug),
        ("conc", "effect"),
        "ode",
        predict,
        defaults,
        f"1-cmt oral PK driving a turnover ({name} of kin = e0*kout), R(0) = e0 (no time loop)",
    )


# ------------------------------------------------------------------------------ registry


def _build_registry() -> dict[str, StructuralModel]:
    models = [_make_linear(n, oral) for n in (1, 2, 3) for oral in (True, False)]
    models += [_make_mm(), _make_emax(), _make_effect_cmt()]
    models += [_make_idr(k) for k in (1, 2, 3, 4)]
    models += [_make_turnover(k) for k in (1, 3)]
    return {m.name: m for m in models}


#: Every registered structural model by name (read-only).
MODELS: Mapping[str, StructuralModel] = MappingProxyType(_build_registry())


def model_names() -> tuple[str, ...]:
    """Names of the registered structural models."""
    return tuple(MODELS)


def get_model(name: str) -> StructuralModel:
    """The registered structural model called ``name``.

    Examples
    --------
    >>> get_model("pk_1cmt_oral").params
    ('ka', 'cl', 'v')
    """
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def predict(
    model: StructuralModel | str,
    theta: Mapping[str, Any],
    arrays: Any,
    *,
    chunk_obs: int = 16384,
    max_step: float | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate ``model`` with the NumPy back end, in chunks of whole subjects.

    Parameters
    ----------
    model : StructuralModel or str
        The model or its registry name.
    theta : mapping of str to array
        Individual parameters, shape ``(n_subjects,)`` or scalar.
    arrays : PopulationArrays-like
        Observation and padded dose arrays (``obs_subject``, ``obs_time``, ``dose_*``).
    chunk_obs : int
        About how many observations to evaluate at once (keeps temporaries in cache).
    max_step : float, optional
        Largest RK4 step in hours of an ODE model (default :data:`twinlab.pkpd.ode.MAX_STEP`).

    Returns
    -------
    dict of str to numpy.ndarray
        One ``(n_obs,)`` array per endpoint, in the order of the observations.
    """
    model = get_model(model) if isinstance(model, str) else model
    theta = {k: np.asarray(v, dtype=float) for k, v in theta.items()}
    subj = np.asarray(arrays.obs_subject)
    n_obs = subj.size
    n_subjects = int(getattr(arrays, "n_subjects", 0) or np.asarray(arrays.dose_time).shape[0])
    grid = ode_grid(arrays, max_step=max_step) if model.kind == "ode" else None
    order = None if np.all(subj[1:] >= subj[:-1]) else np.argsort(subj, kind="stable")
    sorted_subj = subj if order is None else subj[order]
    ends = np.searchsorted(sorted_subj, np.arange(n_subjects), side="right")
    out = {e: np.empty(n_obs) for e in model.endpoints}
    s0, lo = 0, 0
    while s0 < n_subjects:
        s1 = max(int(np.searchsorted(ends, lo + chunk_obs, side="right")), s0 + 1)
        s1 = min(s1, n_subjects)
        hi = int(ends[s1 - 1])
        sel = slice(lo, hi) if order is None else order[lo:hi]
        chunk = SimpleNamespace(
            n_subjects=s1 - s0,
            obs_subject=subj[sel] - s0,
            obs_time=np.asarray(arrays.obs_time, dtype=float)[sel],
            **{f: np.asarray(getattr(arrays, f))[s0:s1] for f in _DOSE_FIELDS},
        )
        th = {k: v if v.ndim == 0 else v[s0:s1] for k, v in theta.items()}
        if hi > lo:
            res = model.predict(np, th, chunk, grid=grid)
            for e in model.endpoints:
                out[e][sel] = res[e]
        s0, lo = s1, hi
    return out
