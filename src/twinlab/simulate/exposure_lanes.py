"""Exact exposure metrics of two-term sums, computed for many patients at once.

Every PK/PD model's PK is a sum of two exponentials (1-compartment oral, 2-compartment IV):
:func:`twinlab.simulate.exposure.exponential_exposure` sends those here. Patients who share
their dose times (the same lag) share the segments between events, so the metrics are
computed segment by segment for a block of patients, one patient per vector lane, in loops
that LLVM vectorises: the roots of ``C'``, the values there and the ``t_above`` crossings use
:func:`twinlab.simulate.vmath.vexp` and :func:`~twinlab.simulate.vmath.vlog`. Each monotone
piece of a segment is one pass over the block: its bracket, a start (the rise from Halley's
step at the segment start, the fall from where the slower term alone is at the level) and
two safeguarded Halley steps (those of :mod:`twinlab.simulate.exposure`), each lane frozen
once converged; the few lanes still open, or without a start inside their piece, go on
alone (from the log-linear interpolation) up to the scalar solver's 200 steps.

What the scalar path spent waiting on chains of dependent exponentials (~75 ns a crossing)
becomes throughput: the metrics of 10^5 patients x 6 doses in ~10 ms without a threshold
and ~37 ms with one, against ~37 and ~89 ms (``benchmarks/SIMULATE.md``).

**Results.** AUC, AUCtau, Ctrough and every value at a segment end are the scalar kernel's
bits (the same operations in the same order; the segment ends' exponentials still come from
the C library, once per patient and distinct segment length). A Cmax at a peak inside a
segment, its Tmax and ``t_above`` come from the vector ``exp``/``log``: within a few ULP of
the scalar path's (``t_above`` within 1e-12 h; a Tmax can move to another dosing interval
whose peak ties with it at steady state), and the same bits on every machine and whatever
the block or chunk (a patient's lane computes only from its own parameters). Tested in
``tests/simulate/test_simulate_exposure.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from twinlab.simulate.vmath import vexp, vlog

__all__ = ["lanes_exposure"]

_BLOCK = 256  # patients a block: its ~40 arrays of lanes stay in the L2 cache


@numba.njit(cache=True, nogil=True)
def _segments(
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_dur: np.ndarray,
    end_order: np.ndarray,
    marks: np.ndarray,
    t_end: float,
    lag: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The segments of :func:`twinlab.simulate.exposure._kernel`'s event walk for one lag.

    Returns ``(start, end, rate, bolus_end, bolus)``: segment ``k`` runs from ``start[k]`` to
    ``end[k]`` at infusion rate ``rate[k]``, after the boluses ``bolus[bolus_end[k-1] :
    bolus_end[k]]`` were added at its start, in dose order (the rate is updated in the
    kernel's order too, so every value is the kernel's bits).
    """
    n_d = dose_time.shape[0]
    n_k = marks.shape[0]
    cap = 2 * n_d + n_k + 2
    start = np.empty(cap)
    end = np.empty(cap)
    rates = np.empty(cap)
    bolus_end = np.empty(cap, dtype=np.int64)
    bolus = np.empty(n_d + 1)
    n_b = 0
    k = 0
    rate = 0.0
    i_s = 0
    i_e = 0
    while i_e < n_d and dose_dur[end_order[i_e]] <= 0.0:
        i_e += 1
    i_k = 0
    x = marks[0]
    if n_d > 0:
        x = min(x, dose_time[0] + lag)
    while True:
        while i_s < n_d and dose_time[i_s] + lag == x:
            if dose_dur[i_s] > 0.0:
                rate += dose_amt[i_s] / dose_dur[i_s]
            else:
                bolus[n_b] = dose_amt[i_s]
                n_b += 1
            i_s += 1
        while i_e < n_d and dose_time[end_order[i_e]] + dose_dur[end_order[i_e]] + lag == x:
            d = end_order[i_e]
            rate -= dose_amt[d] / dose_dur[d]
            i_e += 1
            while i_e < n_d and dose_dur[end_order[i_e]] <= 0.0:
                i_e += 1
        while i_k < n_k and marks[i_k] == x:
            i_k += 1
        if x >= t_end:
            break
        nxt = math.inf
        if i_s < n_d:
            nxt = dose_time[i_s] + lag
        if i_e < n_d:
            nxt = min(nxt, dose_time[end_order[i_e]] + dose_dur[end_order[i_e]] + lag)
        if i_k < n_k:
            nxt = min(nxt, marks[i_k])
        start[k] = x
        end[k] = nxt
        rates[k] = rate
        bolus_end[k] = n_b
        k += 1
        x = nxt
    return start[:k], end[:k], rates[:k], bolus_end[:k], bolus[:n_b]


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _sweep(
    a0: float,
    a1: float,
    r0: float,
    r1: float,
    kk: float,
    flo: float,
    x: float,
    a: float,
    c: float,
    dxo: float,
    dx: float,
) -> tuple[bool, float, float, float, float, float]:  # pragma: no cover - compiled
    """One safeguarded Halley step of :func:`twinlab.simulate.exposure._solve` on
    ``kk + a0 e^(-r0 s) + a1 e^(-r1 s)`` from ``x`` in the bracket ``[a, c]`` whose left end
    has the sign of ``flo``: ``(done, x, a, c, dx_old, dx)``.

    The scalar step's arithmetic but for the vector ``exp`` and a stopping test without
    divisions, written without early returns so that the block's loop stays branch-free.
    """
    t = a0 * vexp(-r0 * x)
    f = kk + t
    t *= r0
    d1 = 0.0 - t
    t *= r0
    d2 = 0.0 + t
    d3 = 0.0 - t * r0
    t = a1 * vexp(-r1 * x)
    f += t
    t *= r1
    d1 -= t
    t *= r1
    d2 += t
    d3 -= t * r1
    same = (f < 0.0) == (flo < 0.0)
    a2 = x if same else a
    c2 = c if same else x
    tol = 1e-15 * max(1.0, abs(x))
    den = 2.0 * d1 * d1 - f * d2
    step = 2.0 * f * d1 / den if den != 0.0 else math.inf
    xn = x - step
    bisect = not a2 < xn < c2 or abs(step) > 0.5 * abs(dxo)
    half = 0.5 * (c2 - a2)
    # Halley's predicted error |f2^2 / (4 f1^2) - f3 / (6 f1)| |step|^3 <= tol, without
    # its two divisions or pow(): |3 f2^2 - 2 f1 f3| |step|^3 <= 12 f1^2 tol
    k = abs(3.0 * d2 * d2 - 2.0 * d1 * d3)
    size = abs(step)
    close = (not bisect) and d1 != 0.0 and k * (size * size * size) <= 12.0 * d1 * d1 * tol
    xn = a2 + half if bisect else xn
    dxo2 = dx
    dx2 = half if bisect else step
    done = close or abs(xn - x) <= tol or c2 - a2 <= tol
    if f == 0.0:  # x is the root: nothing moves
        return True, x, a, c, dxo, dx
    return done, xn, a2, c2, dxo2, dx2


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _start(
    rising: bool,
    first: bool,
    fl: float,
    kk: float,
    a0: float,
    a1: float,
    r0: float,
    r1: float,
) -> float:  # pragma: no cover - compiled
    """The scalar two-term path's start for a crossing: Halley's step from the segment
    start for a rise from it, where the slower term alone is at the level for a fall; NaN
    for the rest (:func:`_secant`)."""
    b0 = -r0 * a0
    b1 = -r1 * a1
    slope = b0 + b1
    curv = -r0 * b0 - r1 * b1
    den = 2.0 * slope * slope - fl * curv
    halley = -2.0 * fl * slope / den if slope > 0.0 and den > 0.0 else math.nan
    slow_a = a0 if r0 < r1 else a1
    slow_r = r0 if r0 < r1 else r1
    alone = vlog(-slow_a / kk) / slow_r if slow_a > 0.0 and kk < 0.0 else math.nan
    x0 = math.nan
    if not rising:
        x0 = alone
    if rising and first and fl < 0.0:
        x0 = halley
    return x0


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _secant(
    lo: float, hi: float, fl: float, fh: float, threshold: float
) -> float:  # pragma: no cover - compiled
    """Where the level is crossed if ``log C`` were linear on ``[lo, hi]`` (exact for one
    exponential), else the midpoint: the start where :func:`_start` has none inside."""
    c_lo = fl + threshold
    c_hi = fh + threshold
    x0 = math.nan
    if c_lo > 0.0 and c_hi > 0.0 and threshold > 0.0 and c_lo != c_hi:
        x0 = lo + (hi - lo) * vlog(c_lo / threshold) / vlog(c_lo / c_hi)
    if not lo < x0 < hi:
        x0 = 0.5 * (lo + hi)
    return x0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _values(
    nb: int,
    x: float,
    nxt: float,
    h: float,
    threshold: float,
    q0b: np.ndarray,
    q1b: np.ndarray,
    k0: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    gain0: np.ndarray,
    gain1: np.ndarray,
    dec0: np.ndarray,
    dec1: np.ndarray,
    auc: np.ndarray,
    segs: np.ndarray,
    cmax: np.ndarray,
    tmax: np.ndarray,
    f0: np.ndarray,
    fmid: np.ndarray,
    f1: np.ndarray,
    vend: np.ndarray,
    mid: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """One segment ``[x, nxt]`` of a block's lanes: its AUC, the root of ``C'`` inside it,
    the values at its start, root and end, Cmax/Tmax so far, and what the crossings need."""
    for j in range(nb):
        q0 = q0b[j]
        q1 = q1b[j]
        kj = k0[j]
        aj0 = a0[j]
        aj1 = a1[j]
        v0 = kj
        v0 += aj0
        v0 += aj1
        seg = kj * h
        seg += aj0 * gain0[j] / q0
        seg += aj1 * gain1[j] / q1
        auc[j] += seg
        segs[j] = seg
        b0 = -q0 * aj0
        b1 = -q1 * aj1
        root = vlog(-b1 / b0) / (q1 - q0)  # NaN or out of (0, h) if none
        sign = b0 != 0.0 and b1 != 0.0 and (b0 > 0.0) != (b1 > 0.0) and q0 != q1
        has_root = sign and 0.0 < root < h
        sr = root if has_root else h
        vr = kj
        vr += aj0 * vexp(-q0 * sr)
        vr += aj1 * vexp(-q1 * sr)
        v1 = kj
        v1 += aj0 * dec0[j]
        v1 += aj1 * dec1[j]
        cm = cmax[j]
        tm = tmax[j]
        up = v0 > cm
        cm = v0 if up else cm
        tm = x if up else tm
        up = has_root and vr > cm
        cm = vr if up else cm
        tm = x + sr if up else tm
        up = v1 > cm
        cmax[j] = v1 if up else cm
        tmax[j] = nxt if up else tm
        f0[j] = v0 - threshold
        fmid[j] = (vr if has_root else v1) - threshold
        f1[j] = v1 - threshold
        vend[j] = v1
        mid[j] = sr


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _piece(
    nb: int,
    first: bool,
    h: float,
    threshold: float,
    r0: np.ndarray,
    r1: np.ndarray,
    k0: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    f0: np.ndarray,
    fmid: np.ndarray,
    f1: np.ndarray,
    mid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fl: np.ndarray,
    fh: np.ndarray,
    xs: np.ndarray,
    ba: np.ndarray,
    bc: np.ndarray,
    state: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """One piece of a segment for a block's lanes: its bracket, the levels at its ends and
    two Halley steps towards its crossing, in one branch-free pass.

    The first piece runs from the segment start to the root of ``C'`` (the whole segment
    without one), the second from the root to the end (empty without one); each is
    monotone, so it crosses the threshold at most once. ``state`` is 0 where the crossing is
    found (or there is none), 1 where it is still open in ``[ba, bc]`` from ``xs``, 2 where
    :func:`_start` has no start inside the piece; returns how many lanes are not 0.
    """
    left = 0
    for j in range(nb):
        m = mid[j]
        plo = 0.0 if first else m
        phi = m if first else h
        live = first or m < h
        pfl = (f0[j] if first else fmid[j]) if live else -1.0
        pfh = (fmid[j] if first else f1[j]) if live else -1.0
        lo[j] = plo
        hi[j] = phi
        fl[j] = pfl
        fh[j] = pfh
        kk = k0[j] - threshold
        q0 = r0[j]
        q1 = r1[j]
        b0 = a0[j]
        b1 = a1[j]
        x = _start(pfh > 0.0, first, pfl, kk, b0, b1, q0, q1)
        inside = plo < x < phi
        solve = (pfl > 0.0) != (pfh > 0.0)
        x = x if inside else 0.5 * (plo + phi)
        a = plo
        c = phi
        dxo = phi - plo
        dx = dxo
        done = not solve or not inside
        for _ in range(2):  # most crossings take two (scalar path: 1.74 on average)
            d, xn, an, cn, o, st = _sweep(b0, b1, q0, q1, kk, pfl, x, a, c, dxo, dx)
            x = x if done else xn
            a = a if done else an
            c = c if done else cn
            dxo = dxo if done else o
            dx = dx if done else st
            done = done or d
        xs[j] = x
        ba[j] = a
        bc[j] = c
        flag = 0 if done else 1
        flag = 2 if solve and not inside else flag
        state[j] = flag
        left += 1 if flag != 0 else 0
    return left


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rise_piece(
    nb, h, threshold, r0, r1, k0, a0, a1, f0, fmid, f1, mid, lo, hi, fl, fh, xs, ba, bc, state
):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """:func:`_piece` for the first piece: ``first`` a constant, so LLVM drops what only the
    second piece needs (and the other way round in :func:`_fall_piece`)."""
    return _piece(
        nb,
        True,
        h,
        threshold,
        r0,
        r1,
        k0,
        a0,
        a1,
        f0,
        fmid,
        f1,
        mid,
        lo,
        hi,
        fl,
        fh,
        xs,
        ba,
        bc,
        state,
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fall_piece(
    nb, h, threshold, r0, r1, k0, a0, a1, f0, fmid, f1, mid, lo, hi, fl, fh, xs, ba, bc, state
):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """:func:`_piece` for the second piece."""
    return _piece(
        nb,
        False,
        h,
        threshold,
        r0,
        r1,
        k0,
        a0,
        a1,
        f0,
        fmid,
        f1,
        mid,
        lo,
        hi,
        fl,
        fh,
        xs,
        ba,
        bc,
        state,
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cross(
    nb: int,
    h: float,
    threshold: float,
    r0: np.ndarray,
    r1: np.ndarray,
    k0: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    f0: np.ndarray,
    fmid: np.ndarray,
    f1: np.ndarray,
    mid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fl: np.ndarray,
    fh: np.ndarray,
    xs: np.ndarray,
    ba: np.ndarray,
    bc: np.ndarray,
    state: np.ndarray,
    above: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Add one segment's hours above ``threshold`` to ``above`` for a block's lanes (the
    work arrays ``lo`` to ``state`` have one row a piece)."""
    for piece in range(2):
        args = (
            nb, h, threshold, r0, r1, k0, a0, a1, f0, fmid, f1, mid, lo[piece], hi[piece],
            fl[piece], fh[piece], xs[piece], ba[piece], bc[piece], state[piece],
        )  # fmt: skip
        left = _rise_piece(*args) if piece == 0 else _fall_piece(*args)
        if left == 0:
            continue
        for j in range(nb):  # the few lanes left go on alone, up to the scalar path's 200 steps
            flag = state[piece, j]
            if flag == 0:
                continue
            x, a, c = xs[piece, j], ba[piece, j], bc[piece, j]
            if flag == 2:
                x = _secant(lo[piece, j], hi[piece, j], fl[piece, j], fh[piece, j], threshold)
            dxo = c - a
            dx = dxo
            kk = k0[j] - threshold
            for _ in range(200):
                d, x, a, c, dxo, dx = _sweep(a0[j], a1[j], r0[j], r1[j], kk, fl[piece, j], x, a,
                                             c, dxo, dx)  # fmt: skip
                if d:
                    break
            xs[piece, j] = x
    for j in range(nb):
        acc = above[j]
        for piece in range(2):
            pfl = fl[piece, j]
            pfh = fh[piece, j]
            r = xs[piece, j]
            add = 0.0
            if pfl > 0.0 and pfh > 0.0:
                add = hi[piece, j] - lo[piece, j]
            elif pfl > 0.0:
                add = r - lo[piece, j]
            elif pfh > 0.0:
                add = hi[piece, j] - r
            acc += add
        above[j] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _lanes(
    wc0: np.ndarray,
    wc1: np.ndarray,
    r0: np.ndarray,
    r1: np.ndarray,
    seg_start: np.ndarray,
    seg_end: np.ndarray,
    seg_rate: np.ndarray,
    bolus_end: np.ndarray,
    bolus: np.ndarray,
    t_start: float,
    win_lo: float,
    win_hi: float,
    threshold: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The metrics of ``n`` patients (``wc`` the weighted coefficients, ``r`` the rates) over
    the segments of :func:`_segments`, in blocks of :data:`_BLOCK` lanes."""
    n = wc0.shape[0]
    n_seg = seg_start.shape[0]
    window = win_lo <= win_hi
    crossings = threshold < math.inf
    B = _BLOCK
    s0 = np.empty(B)
    s1 = np.empty(B)
    dec0 = np.empty(B)
    dec1 = np.empty(B)
    gain0 = np.empty(B)
    gain1 = np.empty(B)
    auc = np.empty(B)
    auc_tau = np.empty(B)
    cmax = np.empty(B)
    tmax = np.empty(B)
    ctrough = np.empty(B)
    above = np.empty(B)
    k0 = np.empty(B)
    as0 = np.empty(B)  # the infusion's asymptote of each term, rate / rate constant
    as1 = np.empty(B)
    a0 = np.empty(B)
    a1 = np.empty(B)
    segs = np.empty(B)
    f0 = np.empty(B)
    fmid = np.empty(B)
    f1 = np.empty(B)
    vend = np.empty(B)
    mid = np.empty(B)
    # the two pieces of a segment (A before the root of C', B after it), one crossing each
    lo = np.empty((2, B))
    hi = np.empty((2, B))
    fl = np.empty((2, B))
    fh = np.empty((2, B))
    xs = np.empty((2, B))
    ba = np.empty((2, B))
    bc = np.empty((2, B))
    state = np.empty((2, B), dtype=np.int64)
    for b_lo in range(0, n, B):
        nb = min(B, n - b_lo)
        # the block's views: indexing them by the loop counter keeps every access contiguous
        # (an offset index makes numba wrap negative ones, and LLVM then gathers)
        q0b = r0[b_lo : b_lo + nb]
        q1b = r1[b_lo : b_lo + nb]
        w0b = wc0[b_lo : b_lo + nb]
        w1b = wc1[b_lo : b_lo + nb]
        for j in range(nb):
            s0[j] = 0.0
            s1[j] = 0.0
            auc[j] = 0.0
            auc_tau[j] = 0.0
            cmax[j] = -math.inf
            tmax[j] = t_start
            ctrough[j] = math.nan
            above[j] = 0.0
        h_last = math.nan
        i_b = 0
        for k in range(n_seg):
            x = seg_start[k]
            nxt = seg_end[k]
            rate = seg_rate[k]
            while i_b < bolus_end[k]:
                amt = bolus[i_b]
                for j in range(nb):
                    s0[j] += amt
                    s1[j] += amt
                i_b += 1
            h = nxt - x
            if h != h_last:
                for j in range(nb):
                    dec0[j] = math.exp(-q0b[j] * h)
                    dec1[j] = math.exp(-q1b[j] * h)
                    gain0[j] = -math.expm1(-q0b[j] * h)
                    gain1[j] = -math.expm1(-q1b[j] * h)
                h_last = h
            # every loop below is straight-line code over the lanes, so that LLVM vectorises it
            for j in range(nb):
                asym0 = rate / q0b[j]
                asym1 = rate / q1b[j]
                as0[j] = asym0
                as1[j] = asym1
                kj = 0.0
                kj += w0b[j] * asym0
                kj += w1b[j] * asym1
                k0[j] = kj
                a0[j] = w0b[j] * (s0[j] - asym0)
                a1[j] = w1b[j] * (s1[j] - asym1)
            if x >= t_start and h > 0.0:
                _values(
                    nb, x, nxt, h, threshold, q0b, q1b, k0, a0, a1, gain0, gain1, dec0, dec1,
                    auc, segs, cmax, tmax, f0, fmid, f1, vend, mid,
                )  # fmt: skip
                if window and x >= win_lo and nxt <= win_hi:
                    for j in range(nb):
                        auc_tau[j] += segs[j]
                if window and nxt == win_hi:
                    for j in range(nb):
                        ctrough[j] = vend[j]
                if crossings:
                    _cross(
                        nb, h, threshold, q0b, q1b, k0, a0, a1, f0, fmid, f1, mid,
                        lo, hi, fl, fh, xs, ba, bc, state, above,
                    )  # fmt: skip
            for j in range(nb):
                s0[j] = (s0[j] - as0[j]) * dec0[j] + as0[j]
                s1[j] = (s1[j] - as1[j]) * dec1[j] + as1[j]
        for j in range(nb):
            out[0, b_lo + j] = auc[j]
            out[1, b_lo + j] = auc_tau[j] if window else math.nan
            out[2, b_lo + j] = cmax[j]
            out[3, b_lo + j] = tmax[j]
            out[4, b_lo + j] = ctrough[j]
            out[5, b_lo + j] = above[j]


def lanes_exposure(
    coefs: np.ndarray,
    rates: np.ndarray,
    weight: np.ndarray,
    lag: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_dur: np.ndarray,
    end_order: np.ndarray,
    marks: np.ndarray,
    span: tuple[float, float],
    window: tuple[float, float],
    threshold: float,
) -> np.ndarray:
    """The ``(6, n)`` metrics of :func:`twinlab.simulate.exposure._kernel` for two terms.

    Patients are grouped by lag (each group shares its segments); arguments as the scalar
    kernel's, already validated by :func:`~twinlab.simulate.exposure.exponential_exposure`.
    """
    n = coefs.shape[0]
    out = np.empty((6, n))
    wc0 = weight * coefs[:, 0]
    wc1 = weight * coefs[:, 1]
    r0 = np.ascontiguousarray(rates[:, 0])
    r1 = np.ascontiguousarray(rates[:, 1])
    groups = [(lag[0], None)] if n == 0 or np.all(lag == lag[0]) else None
    if groups is None:
        values, inverse = np.unique(lag, return_inverse=True)
        groups = [(v, np.flatnonzero(inverse == g)) for g, v in enumerate(values)]
    for value, idx in groups:
        segs = _segments(dose_time, dose_amt, dose_dur, end_order, marks, span[1], float(value))
        if idx is None:
            _lanes(wc0, wc1, r0, r1, *segs, span[0], window[0], window[1], threshold, out)
        else:
            part = np.empty((6, idx.size))
            _lanes(
                wc0[idx], wc1[idx], r0[idx], r1[idx], *segs, span[0], window[0], window[1],
                threshold, part,
            )  # fmt: skip
            out[:, idx] = part
    return out
