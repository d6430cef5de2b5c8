"""Event-driven closed-form solutions of linear PK models, for both back ends.

The central concentration of every linear model (1–3 compartments, first-order absorption,
bolus, zero-order infusion, an effect compartment) is a sum over the modes ``m`` of its
exponential-sum solution, ``C(t) = sum_m a_m S_m(t)``, where

``S_m(t) = sum_{events e before t} w_e g_e(t)``, ``g_e = exp(-lambda_m (t - t_e))`` for a
*decaying* event (a bolus, a depot dose, the end of an infusion) and ``g_e = 1`` for a *step*
(the plateau of a running infusion).

Summing every dose for every observation costs observations x doses. Like the ADVAN routines
of NONMEM and Stan/Torsten's event solvers, :func:`decayed_sums` instead walks each subject's
events and query times in time order and carries the sums from one event to the next
(``S <- S exp(-lambda dt) + w``), so the cost grows with events + queries. It carries the
derivatives too: ``dS/dlambda`` (``D <- (D - dt S) exp(-lambda dt)``) and, for a dose lag
common to a subject's events, ``dS/dlag = lambda S_decaying``.

One compiled kernel (numba) serves both back ends: NumPy calls it directly (simulation), and
:func:`decayed_sums_op`, a PyTensor ``Op`` with a numba implementation for nutpie and a Python
one for PyTensor's other back ends, gives the fit exact values and gradients. A query exactly at an
event's time sees the event only when the table is ``inclusive`` (doses count for observations
strictly after them; ODE forcing at a step's start counts the dose given then).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numba
import numpy as np

__all__ = ["EventTable", "decayed_sums", "decayed_sums_op", "evaluate", "event_table"]


@dataclass(frozen=True, eq=False)
class EventTable:
    """Each subject's events and query times, sorted, in compressed-row form.

    Attributes
    ----------
    n_rows : int
        Number of subjects (rows).
    ev_start : numpy.ndarray
        ``(n_rows + 1,)`` offsets of each subject's events.
    ev_time, ev_weight : numpy.ndarray
        Event times (before any lag) and weights, sorted by time within a subject.
    ev_decays : numpy.ndarray
        ``True`` for a decaying event, ``False`` for a step.
    q_start : numpy.ndarray
        ``(n_rows + 1,)`` offsets of each subject's queries.
    q_time : numpy.ndarray
        Query times, sorted within a subject.
    q_out : numpy.ndarray
        Output position of each sorted query.
    q_subject : numpy.ndarray
        Subject of each output position.
    inclusive : bool
        Whether a query at an event's time sees the event.
    """

    n_rows: int
    ev_start: np.ndarray
    ev_time: np.ndarray
    ev_weight: np.ndarray
    ev_decays: np.ndarray
    q_start: np.ndarray
    q_time: np.ndarray
    q_out: np.ndarray
    q_subject: np.ndarray
    inclusive: bool

    @property
    def n_queries(self) -> int:
        """Number of query points (output rows)."""
        return len(self.q_out)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The static arrays in the kernel's argument order."""
        return (
            self.ev_start,
            self.ev_time,
            self.ev_weight,
            self.ev_decays,
            self.q_start,
            self.q_time,
            self.q_out,
        )


def event_table(
    ev_time: np.ndarray,
    ev_weight: np.ndarray,
    ev_decays: np.ndarray,
    q_subject: np.ndarray,
    q_time: np.ndarray,
    *,
    inclusive: bool = False,
) -> EventTable:
    """Build an :class:`EventTable` from padded per-subject events and flat queries.

    Parameters
    ----------
    ev_time, ev_weight, ev_decays : numpy.ndarray
        ``(n_rows, n_events)`` event times, weights (0 for padding, skipped) and kinds.
    q_subject, q_time : numpy.ndarray
        ``(n_queries,)`` subject index and time of each query, in output order.
    inclusive : bool
        Whether a query at an event's time sees the event.

    Returns
    -------
    EventTable
    """
    ev_time = np.asarray(ev_time, dtype=float)
    ev_weight = np.asarray(ev_weight, dtype=float)
    ev_decays = np.broadcast_to(np.asarray(ev_decays, dtype=bool), ev_time.shape)
    n_rows = ev_time.shape[0]
    keep = ev_weight != 0
    rows = np.broadcast_to(np.arange(n_rows)[:, None], ev_time.shape)[keep]
    order = np.lexsort((ev_time[keep], rows))
    counts = np.bincount(rows, minlength=n_rows)
    q_subject = np.asarray(q_subject, dtype=np.int64)
    q_time = np.asarray(q_time, dtype=float)
    q_order = np.lexsort((q_time, q_subject))
    q_counts = np.bincount(q_subject, minlength=n_rows) if q_subject.size else np.zeros(n_rows)
    if q_subject.size and (q_subject.min() < 0 or q_subject.max() >= n_rows):
        raise ValueError("query subjects must index the event rows")
    return EventTable(
        n_rows=n_rows,
        ev_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        ev_time=np.ascontiguousarray(ev_time[keep][order]),
        ev_weight=np.ascontiguousarray(ev_weight[keep][order]),
        ev_decays=np.ascontiguousarray(ev_decays[keep][order]),
        q_start=np.concatenate([[0], np.cumsum(q_counts)]).astype(np.int64),
        q_time=np.ascontiguousarray(q_time[q_order]),
        q_out=q_order.astype(np.int64),
        q_subject=q_subject,
        inclusive=bool(inclusive),
    )


#: Not cached on disk (``cache=True``): the fit compiles these kernels into its model, and
#: LLVM optimizes a kernel it compiles with the model otherwise than one Numba loads as
#: machine code from its cache, so a first fit on a machine drew other last bits, and other
#: chains, than a fit after anything had compiled them (measured on the demo fit: the same
#: data gave two posteriors, depending on this cache alone). Compiled afresh in each process
#: (~1.5 s), the model's arithmetic no longer depends on what ran before; the model itself is
#: cached whole (:mod:`twinlab.pkpd.nutpie_compile`).
@numba.njit(nogil=True)
def _kernel(
    lam: np.ndarray,
    lag: np.ndarray,
    ev_start: np.ndarray,
    ev_time: np.ndarray,
    ev_weight: np.ndarray,
    ev_decays: np.ndarray,
    q_start: np.ndarray,
    q_time: np.ndarray,
    q_out: np.ndarray,
    inclusive: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n_rows, n_modes = lam.shape
    n_out = q_out.shape[0]
    total = np.zeros((n_out, n_modes))
    d_lam = np.zeros((n_out, n_modes))
    decaying = np.zeros((n_out, n_modes))
    s = np.zeros(n_modes)
    d = np.zeros(n_modes)
    for r in range(n_rows):
        s[:] = 0.0
        d[:] = 0.0
        plateau = 0.0
        started = False
        t_cur = 0.0
        lag_r = lag[r]
        j = ev_start[r]
        j_end = ev_start[r + 1]
        for qi in range(q_start[r], q_start[r + 1]):
            t = q_time[qi]
            # every event before the query (at it too, when inclusive), in time order
            while j < j_end:
                rel = (t - ev_time[j]) - lag_r
                if not (rel > 0.0 or (inclusive and rel == 0.0)):
                    break
                te = ev_time[j] + lag_r
                if started:
                    dt = te - t_cur
                    if dt > 0.0:
                        for m in range(n_modes):
                            f = np.exp(-lam[r, m] * dt)
                            d[m] = f * (d[m] - dt * s[m])
                            s[m] = f * s[m]
                        t_cur = te
                else:
                    started = True
                    t_cur = te
                if ev_decays[j]:
                    for m in range(n_modes):
                        s[m] += ev_weight[j]
                else:
                    plateau += ev_weight[j]
                j += 1
            o = q_out[qi]
            if not started:
                continue
            dt = t - t_cur
            for m in range(n_modes):
                if dt > 0.0:
                    f = np.exp(-lam[r, m] * dt)
                    sm = f * s[m]
                    dm = f * (d[m] - dt * s[m])
                else:
                    sm = s[m]
                    dm = d[m]
                total[o, m] = sm + plateau
                d_lam[o, m] = dm
                decaying[o, m] = sm
    return total, d_lam, decaying


def _as_rows(lam: Any, lag: Any, table: EventTable) -> tuple[np.ndarray, np.ndarray]:
    lam = np.ascontiguousarray(lam, dtype=float)
    if lam.ndim != 2 or lam.shape[0] != table.n_rows:
        raise ValueError(f"rates must be (n_rows={table.n_rows}, n_modes), got {lam.shape}")
    if lag is None:
        lag = np.zeros(table.n_rows)
    lag = np.ascontiguousarray(np.broadcast_to(np.asarray(lag, dtype=float), (table.n_rows,)))
    return lam, lag


def decayed_sums(
    lam: np.ndarray, lag: np.ndarray | None, table: EventTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``S_m`` at every query, with ``dS/dlambda`` and the decaying part of ``S``.

    Parameters
    ----------
    lam : numpy.ndarray
        ``(n_rows, n_modes)`` rate of each mode of each subject (1/h).
    lag : numpy.ndarray or None
        ``(n_rows,)`` delay added to every event time of a subject (a dose lag), or ``None``.
    table : EventTable
        Events and queries.

    Returns
    -------
    total, d_lam, decaying : numpy.ndarray
        ``(n_queries, n_modes)`` each, in output order: the sums, their derivative with respect
        to the mode's rate, and the part of the sums from decaying events (``dS/dlag`` is
        ``lambda * decaying``).

    Examples
    --------
    >>> tab = event_table([[0.0, 12.0]], [[100.0, 100.0]], True, [0, 0], [6.0, 18.0])
    >>> s, _, _ = decayed_sums(np.array([[0.1]]), None, tab)
    >>> bool(np.isclose(s[1, 0], 100 * np.exp(-1.8) + 100 * np.exp(-0.6)))
    True
    """
    lam, lag = _as_rows(lam, lag, table)
    return _kernel(lam, lag, *table.arrays(), table.inclusive)


@numba.njit(nogil=True)  # not cached on disk: see _kernel
def _grad_kernel(
    g: np.ndarray, d_lam: np.ndarray, decaying: np.ndarray, lam: np.ndarray, q_subject: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Gradients of ``sum(g * S)`` with respect to ``lam`` and ``lag``, summed per subject."""
    n_rows, n_modes = lam.shape
    g_lam = np.zeros((n_rows, n_modes))
    g_lag = np.zeros(n_rows)
    for q in range(q_subject.shape[0]):
        r = q_subject[q]
        for m in range(n_modes):
            g_lam[r, m] += g[q, m] * d_lam[q, m]
            g_lag[r] += g[q, m] * decaying[q, m] * lam[r, m]
    return g_lam, g_lag


def _kernel_version() -> int:
    """A salt for PyTensor's numba cache key: changes whenever a kernel's source does."""
    import hashlib
    import inspect

    text = inspect.getsource(_kernel.py_func) + inspect.getsource(_grad_kernel.py_func)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def _pytensor_ops() -> tuple[type, type]:
    """The ``Op`` classes of :func:`decayed_sums_op` (PyTensor is imported on first use).

    The static table travels as constant inputs, so PyTensor's numba back end can cache the
    compiled graph on disk (keyed by the constants' hashes and the kernels' source): a second
    fit of the same model and data skips most of the compilation.
    """
    import pytensor.tensor as pt
    from pytensor.gradient import disconnected_type
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    version = _kernel_version()

    class DecayedSumsGrad(Op):
        """Per-subject gradients of :func:`decayed_sums` (the ``L_op`` of the forward ``Op``)."""

        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            g, d_lam, decaying, lam, q_subject = (pt.as_tensor_variable(x) for x in inputs)
            return Apply(self, [g, d_lam, decaying, lam, q_subject], [lam.type(), pt.dvector()])

        def perform(self, node: Any, inputs: list, output_storage: list) -> None:
            for store, value in zip(output_storage, _grad_kernel(*inputs), strict=True):
                store[0] = value

    class DecayedSums(Op):
        """:func:`decayed_sums` of ``lam (R, M)`` and ``lag (R,)``; the table comes as inputs."""

        __props__ = ("inclusive",)

        def __init__(self, inclusive: bool) -> None:
            self.inclusive = bool(inclusive)

        def make_node(self, lam: Any, lag: Any, *static: Any) -> Apply:
            lam = pt.as_tensor_variable(lam, dtype="float64")
            lag = pt.as_tensor_variable(lag, dtype="float64")
            inputs = [lam, lag, *(pt.as_tensor_variable(x) for x in static)]
            return Apply(self, inputs, [pt.dmatrix() for _ in range(3)])

        def perform(self, node: Any, inputs: list, output_storage: list) -> None:
            values = _kernel(*inputs[:9], self.inclusive)
            for store, value in zip(output_storage, values, strict=True):
                store[0] = value

        def infer_shape(self, fgraph: Any, node: Any, shapes: list) -> list:
            return [(shapes[8][0], shapes[0][1])] * 3

        def connection_pattern(self, node: Any) -> list:
            return [[True, False, False]] * 2 + [[False, False, False]] * (len(node.inputs) - 2)

        def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
            lam, q_subject = inputs[0], inputs[9]
            _, d_lam, decaying = outputs
            g_lam, g_lag = DecayedSumsGrad()(output_grads[0], d_lam, decaying, lam, q_subject)
            return [g_lam, g_lag] + [disconnected_type() for _ in inputs[2:]]

    @register_funcify_default_op_cache_key(DecayedSums)
    def _funcify_sums(op: DecayedSums, node: Any = None, **kwargs: Any) -> Any:
        inclusive = op.inclusive

        @numba.njit
        def decayed_sums_numba(lam, lag, e0, e1, e2, e3, q0, q1, q2, q3):  # pragma: no cover
            return _kernel(lam, lag, e0, e1, e2, e3, q0, q1, q2, inclusive)

        return decayed_sums_numba, version

    @register_funcify_default_op_cache_key(DecayedSumsGrad)
    def _funcify_grad(op: DecayedSumsGrad, node: Any = None, **kwargs: Any) -> Any:
        @numba.njit
        def decayed_sums_grad_numba(g, d_lam, decaying, lam, q_subject):  # pragma: no cover
            return _grad_kernel(g, d_lam, decaying, lam, q_subject)

        return decayed_sums_grad_numba, version

    return DecayedSums, DecayedSumsGrad


_OPS: tuple[type, type] | None = None


def decayed_sums_op(lam: Any, lag: Any, table: EventTable) -> Any:
    """:func:`decayed_sums` as a PyTensor expression, with an exact gradient.

    Parameters
    ----------
    lam, lag : pytensor.tensor.TensorVariable
        ``(n_rows, n_modes)`` rates and ``(n_rows,)`` lags, as in :func:`decayed_sums`.
    table : EventTable
        Events and queries (constants of the graph).

    Returns
    -------
    list of pytensor.tensor.TensorVariable
        ``total``, ``d_lam`` and ``decaying``; only ``total`` is differentiable (its gradient
        comes from the other two through a compiled per-subject reduction).
    """
    global _OPS
    if _OPS is None:
        _OPS = _pytensor_ops()
    return _OPS[0](table.inclusive)(lam, lag, *table.arrays(), table.q_subject)


def evaluate(xp: ModuleType, lam: Any, lag: Any, table: EventTable) -> Any:
    """``S`` of :func:`decayed_sums` with the array module ``xp`` (NumPy or PyTensor)."""
    if xp is np:
        return decayed_sums(lam, lag, table)[0]
    if lag is None:
        lag = xp.zeros(table.n_rows)
    return decayed_sums_op(lam, lag, table)[0]
