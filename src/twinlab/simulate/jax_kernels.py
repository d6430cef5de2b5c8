"""The simulation kernels once more in JAX (``jit`` + ``vmap``, float64): the GPU back end.

Two kernels, each written for one patient and mapped over the patients with ``jax.vmap``, then
compiled with ``jax.jit`` for whatever device JAX finds (CPU in CI, a GPU where one is
installed: ``pip install 'jax[cuda12]'``):

- :func:`superpose_jax`: the linear models' concentration ``w_p sum_i c_pi sum_d amt_d
  g_i(t - t_d - lag_p)`` summed dose by dose (``lax.scan`` over the doses), every time point
  at once. The numba kernel (:mod:`twinlab.simulate.kernels`) walks the grid with a
  recurrence instead, which is cheaper per patient on a CPU core but sequential in time; on a
  GPU the direct sum keeps every thread busy;
- :func:`simulate_idr_jax`: the indirect-response models of
  :mod:`twinlab.simulate.ode_kernels` on the same grid with the same scheme (exact 1-cmt oral
  PK between grid points, RK4 as an affine map per step for ``idr1`` … ``idr4``, Simpson
  plus exact decay for the ``_e0`` turnover form), ``lax.scan`` over the grid steps. The
  host-side preparation (grid, step groups, central doses) is the numba path's own
  (:func:`twinlab.simulate.ode_kernels.idr_inputs`); lagged depot doses that land inside a
  step are added exactly at their time, as there.

Both agree with the numba kernels to rounding (the tests require 1e-10 relative, float64).
JAX computes in float64 only with ``jax_enable_x64``; importing this module turns it on for
the process (the kernels would otherwise silently run in float32).

Why JAX: one definition runs on CPU and on any accelerator XLA supports, is tested on CPU in
CI, and needs no CUDA toolchain to write; numba's CUDA target would need a separate kernel
per device family and a GPU to test. See ``benchmarks/simulate_gpu.py`` for the comparison
with the numba kernels on a GPU.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError as exc:  # pragma: no cover - jax is in the dev extras
    raise ImportError(
        "backend='jax' needs JAX: pip install 'jax[cpu]' (or 'jax[cuda12]' for a GPU)"
    ) from exc

jax.config.update("jax_enable_x64", True)

__all__ = ["device_kind", "simulate_idr_jax", "superpose_jax"]

_BLOCK_ELEMENTS = 1 << 24  # patients x time points per compiled call (bounded device memory)


def device_kind() -> str:
    """The platform JAX computes on (``"cpu"``, ``"gpu"``, ...)."""
    return jax.default_backend()


# ------------------------------------------------------------------------------ analytic


@jax.jit
def _superpose(coefs, rates, weight, lag, times, dose_time, dose_amt, dose_dur):
    def one(c, lam, w, lg):
        def add_dose(acc, dose):
            td, amt, dur = dose
            s = (times - (td + lg))[:, None]  # (T, 1): time since the dose
            given = s > 0.0  # a dose counts strictly after it is given
            sp = jnp.where(given, s, 0.0)
            bolus = amt * jnp.exp(-lam * sp)
            # infusion: R / lam exp(-lam (s - b)) (1 - exp(-lam b)), b the part given by s
            b = jnp.minimum(sp, dur)
            rate = amt / jnp.where(dur > 0.0, dur, 1.0)
            infusion = -rate / lam * jnp.exp(-lam * (sp - b)) * jnp.expm1(-lam * b)
            term = jnp.where(given, jnp.where(dur > 0.0, infusion, bolus), 0.0)
            return acc + term, None

        acc = jnp.zeros((times.shape[0], lam.shape[0]))
        acc, _ = lax.scan(add_dose, acc, (dose_time, dose_amt, dose_dur))
        return w * (acc @ c)

    return jax.vmap(one)(coefs, rates, weight, lag)


def superpose_jax(
    coefs: np.ndarray,
    rates: np.ndarray,
    times: np.ndarray,
    dose_time: np.ndarray,
    dose_amt: np.ndarray,
    dose_duration: np.ndarray,
    weight: np.ndarray,
    lag: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`twinlab.simulate.superpose` in JAX (same arguments, already validated).

    Patients go to the device in blocks of at most ``2**24`` patient-time points.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, T)`` (``out`` when given).
    """
    n, t = coefs.shape[0], times.shape[0]
    if out is None:
        out = np.empty((n, t))
    block = max(1, _BLOCK_ELEMENTS // max(t * coefs.shape[1], 1))
    shared = [jnp.asarray(x, dtype=jnp.float64) for x in (times, dose_time, dose_amt,
                                                          dose_duration)]  # fmt: skip
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        res = _superpose(
            jnp.asarray(coefs[lo:hi]), jnp.asarray(rates[lo:hi]), jnp.asarray(weight[lo:hi]),
            jnp.asarray(lag[lo:hi]), *shared,
        )  # fmt: skip
        out[lo:hi] = np.asarray(res)
    return out


# ------------------------------------------------------------------------------ turnover


def _occupancy(c, c50, c50g, gamma):
    """``c**gamma / (c50**gamma + c**gamma)``, 0 for ``c <= 0`` (as the numba kernel)."""
    pos = c > 0.0
    cs = jnp.where(pos, c, 1.0)
    cg = jnp.where(gamma == 1.0, cs, jnp.exp(gamma * jnp.log(cs)))
    den = jnp.where(gamma == 1.0, c50 + cs, c50g + cg)
    return jnp.where(pos, cg / den, 0.0)


@partial(jax.jit, static_argnames=("turnover", "k_start", "k_step"))
def _idr(par, shared, *, turnover: bool, k_start: int, k_step: int):
    grid, h, step_index, reps = shared["grid"], shared["h"], shared["step_index"], shared["reps"]
    inf_rate, bolus_at, slot = shared["inf_rate"], shared["bolus_at"], shared["slot"]
    depot_time, depot_amt = shared["depot_time"], shared["depot_amt"]
    n_d = depot_time.shape[0]
    n_slots = shared["n_slots"].shape[0]

    def one(p):
        ka, k, cp, v = p["ka"], p["k"], p["coef"], p["v"]
        c50, gamma = p["c50"], p["gamma"]
        c50g = jnp.exp(gamma * jnp.log(c50))
        kin, kout, s_in, s_out = p["kin"], p["kout"], p["s_in"], p["s_out"]
        lag, fp, r0, scale = p["tlag"], p["f"], p["r0"], p["scale"]
        hs = jnp.stack([reps, 0.5 * reps])  # (2, U): full and half steps
        eka, ek = jnp.exp(-ka * hs), jnp.exp(-k * hs)
        ik, eko = -jnp.expm1(-k * hs) / k, jnp.exp(-kout * hs)
        vinv = 1.0 / v

        def depot(nd):
            i = jnp.minimum(nd, max(n_d - 1, 0))
            return depot_time[i] + lag, fp * depot_amt[i]

        def step(carry, x):
            ad, ac, r, integral, nd, out_c, out_e = carry
            t, t1, hj, u, rin, bol, sl = x
            # pre-dose (left-limit) values at this grid point
            valid = sl >= 0
            at = jnp.maximum(sl, 0)
            out_c = out_c.at[at].set(jnp.where(valid, ac / v, out_c[at]))
            eff = scale * integral + r0 if turnover else r
            out_e = out_e.at[at].set(jnp.where(valid, eff, out_e[at]))
            # doses at t (right limit); depot doses due by t are decayed to t
            ac = ac + bol
            for _ in range(k_start):
                tau, dose = depot(nd)
                due = (nd < n_d) & (tau <= t)
                s = jnp.where(due, t - tau, 0.0)
                xa = jnp.exp(-ka * s)
                ad = ad + jnp.where(due, dose * xa, 0.0)
                ac = ac + jnp.where(due, dose * cp * (jnp.exp(-k * s) - xa), 0.0)
                nd = nd + due
            ekm, ek1, ekam, eka1 = ek[1, u], ek[0, u], eka[1, u], eka[0, u]
            ac_m = ac * ekm + ad * cp * (ekm - ekam) + rin * ik[1, u]
            ac_1 = ac * ek1 + ad * cp * (ek1 - eka1) + rin * ik[0, u]
            ad_1 = ad * eka1
            tm = t + 0.5 * hj
            for _ in range(k_step):  # lagged depot doses inside the step
                tau, dose = depot(nd)
                due = (nd < n_d) & (tau < t1)
                before_m = due & (tau < tm)
                sm = jnp.where(before_m, tm - tau, 0.0)
                ac_m = ac_m + jnp.where(
                    before_m, dose * cp * (jnp.exp(-k * sm) - jnp.exp(-ka * sm)), 0.0
                )
                s1 = jnp.where(due, t1 - tau, 0.0)
                xa = jnp.exp(-ka * s1)
                ad_1 = ad_1 + jnp.where(due, dose * xa, 0.0)
                ac_1 = ac_1 + jnp.where(due, dose * cp * (jnp.exp(-k * s1) - xa), 0.0)
                nd = nd + due
            f0 = _occupancy(ac * vinv, c50, c50g, gamma)
            fm = _occupancy(ac_m * vinv, c50, c50g, gamma)
            f1 = _occupancy(ac_1 * vinv, c50, c50g, gamma)
            if turnover:
                integral = integral * eko[0, u] + (hj / 6.0) * (
                    f0 * eko[0, u] + 4.0 * fm * eko[1, u] + f1
                )
            else:  # one RK4 step of dR/dt = a - b R as the affine map R <- P R + Q
                a0, b0 = kin * (1.0 + s_in * f0), kout * (1.0 + s_out * f0)
                am, bm = kin * (1.0 + s_in * fm), kout * (1.0 + s_out * fm)
                a1, b1 = kin * (1.0 + s_in * f1), kout * (1.0 + s_out * f1)
                half = 0.5 * hj
                p2 = am - bm * (half * a0)
                q2 = -bm * (1.0 - half * b0)
                p3 = am - bm * (half * p2)
                q3 = -bm * (1.0 + half * q2)
                p4 = a1 - b1 * (hj * p3)
                q4 = -b1 * (1.0 + hj * q3)
                w = hj / 6.0
                r = (1.0 + w * (-b0 + 2.0 * q2 + 2.0 * q3 + q4)) * r + w * (
                    a0 + 2.0 * p2 + 2.0 * p3 + p4
                )
            return (ad_1, ac_1, r, integral, nd, out_c, out_e), None

        zero = jnp.zeros(())
        init = (zero, zero, r0, zero, jnp.zeros((), dtype=jnp.int64), jnp.zeros(n_slots),
                jnp.zeros(n_slots))  # fmt: skip
        xs = (grid[:-1], grid[1:], h, step_index, inf_rate, bolus_at[:-1], slot[:-1])
        carry, _ = lax.scan(step, init, xs)
        _, ac, r, integral, _, out_c, out_e = carry
        # the last grid point: its pre-dose values
        last = jnp.maximum(slot[-1], 0)
        out_c = out_c.at[last].set(jnp.where(slot[-1] >= 0, ac / v, out_c[last]))
        eff = scale * integral + r0 if turnover else r
        out_e = out_e.at[last].set(jnp.where(slot[-1] >= 0, eff, out_e[last]))
        return out_c, out_e

    return jax.vmap(one)(par)


def _doses_per_step(grid: np.ndarray, depot_time: np.ndarray, lag: np.ndarray) -> tuple[int, int]:
    """Most depot doses any patient gets at one grid point and inside one step."""
    if depot_time.size == 0:
        return 0, 0
    tau = depot_time[None, :] + lag[:, None]  # (n, D)
    j = np.searchsorted(grid, tau, side="left")  # first grid point >= tau
    on_point = (j < grid.size) & (grid[np.minimum(j, grid.size - 1)] == tau)
    start_j = np.where(on_point | (j == 0), j, -1)
    inside_j = np.where(on_point | (j == 0), -1, j - 1)
    rows = np.broadcast_to(np.arange(tau.shape[0])[:, None], tau.shape)

    def most(keys: np.ndarray) -> int:
        ok = keys >= 0
        if not ok.any():
            return 0
        _, counts = np.unique(rows[ok] * (grid.size + 1) + keys[ok], return_counts=True)
        return int(counts.max())

    return most(start_j), most(inside_j)


def simulate_idr_jax(inputs: Any, out_conc: np.ndarray, out_effect: np.ndarray) -> None:
    """Write the concentration and response of the prepared patients into ``out_*`` ``(n, T)``.

    ``inputs`` is what :func:`twinlab.simulate.ode_kernels.idr_inputs` prepares for the numba
    kernel (per-patient parameters, the grid, its step groups and the doses); patients go to
    the device in blocks of at most ``2**24`` patient-grid points.
    """
    grid = inputs.grid
    obs = inputs.obs_grid
    uniq, inverse = np.unique(obs, return_inverse=True)
    slot = np.full(grid.size, -1, dtype=np.int64)
    slot[uniq] = np.arange(uniq.size)
    reps = np.concatenate([inputs.reps, [0.0]]) if inputs.reps.size == 0 else inputs.reps
    shared = {
        "grid": grid,
        "h": inputs.h,
        "step_index": inputs.step_index,
        "reps": reps,
        "inf_rate": inputs.inf_rate,
        "bolus_at": inputs.bolus_at,
        "slot": slot,
        "depot_time": inputs.depot_time,
        "depot_amt": inputs.depot_amt,
        "n_slots": np.zeros(uniq.size),
    }
    shared = {k: jnp.asarray(v) for k, v in shared.items()}
    par = inputs.params
    n = par["ka"].shape[0]
    k_start, k_step = _doses_per_step(grid, inputs.depot_time, par["tlag"])
    block = max(1, _BLOCK_ELEMENTS // max(grid.size, 1))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sub = {name: jnp.asarray(v[lo:hi]) for name, v in par.items()}
        conc, effect = _idr(sub, shared, turnover=inputs.turnover, k_start=k_start,
                            k_step=k_step)  # fmt: skip
        out_conc[lo:hi] = np.asarray(conc)[:, inverse]
        out_effect[lo:hi] = np.asarray(effect)[:, inverse]
