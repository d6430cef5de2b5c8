"""The simulation engine: virtual patients through every arm, chunk by chunk, on Dask or not.

Chunk ``k`` holds patients ``[k * chunk_size, (k + 1) * chunk_size)``; everything random
about it (the population's draws, the residual error) comes from
:func:`twinlab.virtual.chunk_rng` ``(seed, k)``, so a chunk is a pure function of the scenario
and ``k``. With a :class:`distributed.Client` consecutive chunks are grouped into Dask tasks
by cost (:func:`_task_groups`); a task that writes profiles writes only its chunks' zarr
regions, so a task recomputed after a lost worker rewrites the same bytes, and returns only
per-patient metrics and ids. 1 or N workers give bit-identical files. In process, chunks
write their profiles straight into the run's arrays and the per-patient table is built once;
several chunks run at once in threads (``run(threads=...)``, default one per usable core: the
compiled kernels release the GIL), with the same bits as one by one; the default runs of one
process share one budget of chunk threads, the usable cores (:mod:`twinlab.simulate.budget`).

Back ends (chosen by measurement, ``benchmarks/SIMULATE.md``): linear models
(:data:`twinlab.simulate.kernels.KERNEL_MODELS`) use the compiled superposition of
:mod:`twinlab.simulate.kernels` and the indirect-response models
(:data:`twinlab.simulate.ode_kernels.ODE_KERNEL_MODELS`) the compiled RK4 / Simpson loop of
:mod:`twinlab.simulate.ode_kernels` (``"numba"``, same grid and scheme as the NumPy back end);
the others, and every model with ``backend="numpy"``, use :func:`twinlab.pkpd.predict`
(vectorized NumPy; the fixed-step RK4 of :mod:`twinlab.pkpd.ode` for ODE models), all from
the one model definition of :mod:`twinlab.pkpd.models`. ``backend="jax"`` runs both compiled
kernels as written in :mod:`twinlab.simulate.jax_kernels` (jit + vmap, float64; on a GPU when
JAX has one); the exposure metrics stay on the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twinlab.pkpd.dosing import Dose, expand_doses
from twinlab.pkpd.models import StructuralModel, ode_grid
from twinlab.pkpd.models import predict as pkpd_predict
from twinlab.pkpd.pd import sigmoid_emax
from twinlab.security.filemodes import staged_dir
from twinlab.simulate.budget import ChunkBudget, process_budget, usable_cores
from twinlab.simulate.exposure import arm_exposure
from twinlab.simulate.kernels import KERNEL_MODELS, exponential_terms, superpose_model
from twinlab.simulate.metrics import (
    EXPOSURE,
    PD,
    arm_summary,
    exposure_metrics,
    pd_endpoints,
    summary_row,
)
from twinlab.simulate.ode_kernels import ODE_KERNEL_MODELS, simulate_idr
from twinlab.simulate.regimens import Arm
from twinlab.simulate.result import PARTS, SimulationResult, write_parquet
from twinlab.simulate.scenario import Scenario
from twinlab.simulate.units import annotate, result_units
from twinlab.virtual.base import chunk_rng

__all__ = ["BACKENDS", "run", "simulate_chunk"]

#: Back ends: ``auto`` takes ``numba`` where the model allows it, else ``numpy``; ``jax`` runs
#: the same kernels in JAX (:mod:`twinlab.simulate.jax_kernels`, on a GPU where JAX has one).
BACKENDS = ("auto", "numba", "numpy", "jax")
_ODE_TEMP_ELEMENTS = 1 << 23  # ~64 MB per forcing temporary of the ODE models
_TASK_WORK = 1 << 25  # rows x steps per Dask task (~0.1-0.3 s of kernel)
#: pickled bytes of population a task may carry (a window; Dask warns past 10 MB a task)
_TASK_BYTES = 1 << 23
_VERSIONED = ("twinlab", "numpy", "pandas", "xarray", "zarr", "dask", "distributed", "numba",
              "pyarrow", "duckdb")  # fmt: skip

Progress = bool | Callable[[int, int], None]
_TARGET_LOCK = threading.Lock()  # adds arrays to an in-process run's target (chunk threads)


@dataclass(frozen=True)
class _Plan:
    """What a chunk task needs (pickled into the Dask graph)."""

    scenario: Scenario
    backend: str
    store: str | None
    parts: str | None = None  # folder of the per-chunk tables (``run(parts=True)``)
    profiles: bool = True  # False: profiles are computed for the metrics, then dropped


def _resolve_backend(model: StructuralModel, backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    compiled = model.name in KERNEL_MODELS or model.name in ODE_KERNEL_MODELS
    if backend in ("numba", "jax") and not compiled:
        raise ValueError(
            f"the compiled back end covers {sorted({*KERNEL_MODELS, *ODE_KERNEL_MODELS})}, "
            f"not {model.name!r}; use backend='numpy' or 'auto'"
        )
    if backend == "jax":
        try:
            import twinlab.simulate.jax_kernels  # noqa: F401
        except ImportError as exc:
            raise ValueError(str(exc)) from None
    if backend == "auto":
        return "numba" if compiled else "numpy"
    return backend


def _dose_arrays(arm: Arm, model: StructuralModel, t0: float, titrated: bool = False):
    """The arm's doses as :func:`~twinlab.pkpd.dosing.expand_doses` arrays (one row; the
    caller's own copies of ones expanded once per process)."""
    doses = _expanded_doses(arm, "ka" in model.params, t0, titrated)
    return replace(doses, **{f.name: getattr(doses, f.name).copy() for f in fields(doses)})


@functools.lru_cache(maxsize=256)
def _expanded_doses(arm: Arm, depot: bool, t0: float, titrated: bool):
    """Expanded once, not per chunk: expanding costs more than a chunk's share of a kernel."""
    if arm.regimen is None:
        doses = [Dose(time=t0, amt=0.0, route="oral" if depot else "iv")]
    else:
        doses = arm.regimen.doses(titrated=titrated)
    return expand_doses([doses], central_cmt=2 if depot else 1)


def _effect_emax(model: StructuralModel, theta: dict[str, np.ndarray], conc: np.ndarray):
    e = {n: theta.get(n, model.defaults.get(n)) for n in ("e0", "emax", "ec50", "gamma")}
    e = {n: np.asarray(v, dtype=float)[..., None] if np.ndim(v) else v for n, v in e.items()}
    return sigmoid_emax(np, conc, **e)


def _simulate_arm(
    model: StructuralModel,
    theta: dict[str, np.ndarray],
    times: np.ndarray,
    arm: Arm,
    backend: str,
    out: dict[str, np.ndarray],
    titrated: bool = False,
    max_step: float | None = None,
    finite: np.ndarray | None = None,
    terms: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Write the endpoints of ``R`` parameter rows through ``arm`` into ``out[e]`` ``(R, T)``
    (ODE models: steps of at most ``max_step`` hours, default the fine ``MAX_STEP``), and
    into ``finite`` ``(R,)`` whether each row of ``out["conc"]`` is all finite (``terms``:
    :func:`_kernel_terms` of the rows, where the caller has them)."""
    n = next(iter(theta.values())).shape[0]
    doses = _dose_arrays(arm, model, float(times[0]), titrated)
    checked = False  # whether ``finite`` is written
    if backend in ("numba", "jax") and model.name in ODE_KERNEL_MODELS:
        simulate_idr(
            model.name, theta, times, doses.time[0], doses.amt[0], doses.duration[0],
            doses.cmt[0], out_conc=out["conc"], out_effect=out["effect"], max_step=max_step,
            backend=backend,
        )  # fmt: skip
    elif backend in ("numba", "jax"):
        conc = out["conc"]
        if arm.regimen is None:
            conc[...] = 0.0
            if finite is not None:
                finite[...] = True
        else:  # the kernel checks the values as it writes them: no second pass over them
            superpose_model(
                model.name, theta, times, doses.time[0], doses.amt[0], doses.duration[0],
                depot=arm.regimen.route == "oral", out=conc, backend=backend, finite=finite,
                terms=terms,
            )  # fmt: skip
        checked = True
        if "effect" in model.endpoints:
            out["effect"][...] = _effect_emax(model, theta, conc)
    else:
        _predict_arm(model, theta, times, doses, out, n, max_step)
    if finite is not None and not checked:
        finite[...] = np.isfinite(out["conc"]).all(axis=-1)


def _predict_arm(
    model: StructuralModel,
    theta: dict[str, np.ndarray],
    times: np.ndarray,
    doses: Any,
    out: dict[str, np.ndarray],
    n: int,
    max_step: float | None,
) -> None:
    """:func:`_simulate_arm` by :func:`twinlab.pkpd.predict` (the NumPy back end)."""
    n_t, width = times.size, doses.time.shape[1]
    columns = {
        f"dose_{f}": np.broadcast_to(getattr(doses, f), (n, width))
        for f in ("time", "amt", "rate", "duration", "cmt")
    }
    arrays = SimpleNamespace(
        n_subjects=n, obs_subject=np.repeat(np.arange(n), n_t), obs_time=np.tile(times, n),
        **columns,
    )  # fmt: skip
    chunk_obs = 16384
    if model.kind == "ode":
        one = SimpleNamespace(obs_time=times, **{k: v[:1] for k, v in columns.items()})
        n_steps = ode_grid(one, max_step=max_step).size
        chunk_obs = max(1, _ODE_TEMP_ELEMENTS // (width * n_steps)) * n_t
    res = pkpd_predict(model, theta, arrays, chunk_obs=chunk_obs, max_step=max_step)
    for e in model.endpoints:
        out[e][...] = res[e].reshape(n, n_t)


def _exact_metrics(
    model: StructuralModel,
    theta: dict[str, np.ndarray],
    times: np.ndarray,
    arm: Arm,
    titrated: np.ndarray,
    threshold: float | None,
    terms: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Grid-independent exposure metrics (:mod:`twinlab.simulate.exposure`) of every row
    (``terms``: :func:`_kernel_terms` of all rows, where the caller has them)."""
    if not titrated.any():  # every row on the regimen's doses: no subsets to copy
        doses = _dose_arrays(arm, model, float(times[0]))
        return arm_exposure(
            model, theta, times, arm.regimen, doses.time[0], doses.amt[0], doses.duration[0],
            threshold, terms,
        )  # fmt: skip
    n = titrated.size
    out = {name: np.empty(n) for name in EXPOSURE}
    for tit in (False, True):
        rows = titrated if tit else ~titrated
        if not rows.any():
            continue
        doses = _dose_arrays(arm, model, float(times[0]), tit)
        sub = {name: v[rows] for name, v in theta.items()}
        m = arm_exposure(
            model, sub, times, arm.regimen, doses.time[0], doses.amt[0], doses.duration[0],
            threshold,
        )  # fmt: skip
        for name in EXPOSURE:
            out[name][rows] = m[name]
    return out


def _kernel_terms(
    model: StructuralModel, theta: dict[str, np.ndarray], arm: Arm, backend: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The exponential terms the compiled kernel and the exact metrics both take for a dosed
    arm of a linear model (computed once for the two), else None."""
    if backend not in ("numba", "jax") or model.name not in KERNEL_MODELS or arm.regimen is None:
        return None
    return exponential_terms(model.name, theta, depot=arm.regimen.route == "oral")


def _residual(
    values: np.ndarray, sigma: dict[str, np.ndarray], endpoint: str, rng: np.random.Generator
) -> np.ndarray | None:
    """``values + N(0, add^2 + (prop * values)^2)`` (draw axis first), or None without error."""
    add, prop = sigma.get(f"add_{endpoint}"), sigma.get(f"prop_{endpoint}")
    if add is None and prop is None:
        return None
    shape = (-1,) + (1,) * (values.ndim - 1)
    var = np.zeros_like(values)
    if add is not None:
        var = var + np.asarray(add, dtype=float).reshape(shape) ** 2
    if prop is not None:
        var = var + (np.asarray(prop, dtype=float).reshape(shape) * values) ** 2
    return values + np.sqrt(var) * rng.standard_normal(values.shape)


def _arm_rows(arr: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows ``(n_draws * n, T)`` of arm ``a`` of ``arr`` ``(n_draws, n, n_arms, T)`` to write.

    A view where the layout allows one (one draw, or a chunk's own array), else a scratch
    array to copy back (the second value: the arm's ``(n_draws, n, T)`` view).
    """
    sub = arr[:, :, a, :]
    rows = sub.reshape(-1, sub.shape[-1])  # a copy for several draws in a slice of the run's
    return rows, (None if np.may_share_memory(rows, arr) else sub)


def _simulate_parts(
    plan: _Plan,
    k: int,
    target: dict[str, np.ndarray] | None = None,
    metric_target: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Chunk ``k`` as arrays: profiles, metrics ``(n_draws, n, n_arms)`` and patient columns.

    With ``target`` (the run's ``(n_draws, N, n_arms, T)`` arrays, in this process) the
    profiles are written straight into its patient slice, and residual-error arrays are
    added to it on first use; with ``metric_target`` (the run's ``(n_draws, N, n_arms)``
    metric arrays, :func:`_metric_arrays`) the metrics likewise.
    """
    sc = plan.scenario
    model, times = sc.model, np.asarray(sc.times)
    start, stop = sc.chunk_bounds(k)
    rng = chunk_rng(sc.seed, k)
    pc = sc.population.chunk(start, stop, rng)
    n, n_draws, n_arms = pc.n, pc.n_draws, len(sc.arms)
    theta = {
        name: np.ascontiguousarray(v, dtype=float).reshape(-1)
        for name, v in pc.params.items()
        if name in model.all_params
    }
    for col in pc.covariates.columns:
        taken = ("arm", "vpid", "draw", "posterior_draw", "source", "titrated", *EXPOSURE)
        if col in taken or ("effect" in model.endpoints and col in PD):
            raise ValueError(f"covariate {col!r} clashes with a result column")
    shape = (n_draws, n, n_arms, times.size)
    if target is None:
        arrays = {e: np.empty(shape) for e in model.endpoints}
    else:
        arrays = {e: target[e][:, start:stop] for e in model.endpoints}
    metrics: dict[str, np.ndarray] = {}
    if metric_target is not None:  # the same names in the same order as set below
        metrics = {name: value[:, start:stop] for name, value in metric_target.items()}
    for a, arm in enumerate(sc.arms):
        rows = {e: _arm_rows(arrays[e], a) for e in arrays}
        views = {e: r[0] for e, r in rows.items()}
        finite = np.empty(n_draws * n, dtype=bool)  # rows of views["conc"] all finite
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # checked below
            terms = _kernel_terms(model, theta, arm, plan.backend)
            _simulate_arm(model, theta, times, arm, plan.backend, views, max_step=sc.ode_max_step,
                          finite=finite, terms=terms)  # fmt: skip
        titrated = np.zeros(n_draws * n, dtype=bool)
        tit = None if arm.regimen is None else arm.regimen.titration
        if tit is not None:
            j = int(np.flatnonzero(times == tit.at_h)[0])
            titrated = views["conc"][:, j] < tit.trough_below
            if titrated.any():
                sub = {name: v[titrated] for name, v in theta.items()}
                tmp = {e: np.empty((int(titrated.sum()), times.size)) for e in views}
                tmp_finite = np.empty(len(tmp["conc"]), dtype=bool)
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    _simulate_arm(model, sub, times, arm, plan.backend, tmp, titrated=True,
                                  max_step=sc.ode_max_step, finite=tmp_finite)  # fmt: skip
                for e, view in views.items():
                    view[titrated] = tmp[e]
                finite[titrated] = tmp_finite
        for scratch, back in rows.values():
            if back is not None:
                back[...] = scratch.reshape(back.shape)
        metrics.setdefault("titrated", np.zeros((n_draws, n, n_arms), dtype=bool))[:, :, a] = (
            titrated.reshape(n_draws, n)
        )
        conc_arm = arrays["conc"][:, :, a, :]
        if arm.regimen is None:
            m = exposure_metrics(conc_arm, times, None, sc.threshold)
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # checked below
                m = _exact_metrics(model, theta, times, arm, titrated, sc.threshold, terms)
            m = {name: value.reshape(n_draws, n) for name, value in m.items()}
        bad = ~np.isfinite(m["auc"]) | ~finite.reshape(n_draws, n)
        if bad.any():
            d, i = np.argwhere(bad)[0]
            raise ValueError(
                f"arm {arm.name!r}: non-finite concentrations for {int(bad.sum())} patient "
                f"draw(s), e.g. virtual patient {int(pc.vpid[i])} (draw {int(d)}) with "
                f"{ {name: float(v[d * n + i]) for name, v in theta.items()} }; the analytic "
                "solutions are singular when two rates coincide (e.g. ka == cl / v)"
            )
        if "effect" in model.endpoints:
            m.update(pd_endpoints(arrays["effect"][:, :, a, :]))
        for name, value in m.items():
            metrics.setdefault(name, np.empty((n_draws, n, n_arms)))[:, :, a] = value
    if sc.residual and plan.profiles:  # observations of profiles nobody keeps: not drawn
        for e in model.endpoints:
            if not ({f"add_{e}", f"prop_{e}"} & set(pc.sigma)):
                continue
            obs = _residual(arrays[e], pc.sigma, e, rng)
            if target is None:
                arrays[f"{e}_obs"] = obs
            else:
                with _TARGET_LOCK:  # chunks in threads: the first one adds the array
                    if f"{e}_obs" not in target:
                        target[f"{e}_obs"] = np.empty_like(target[e])
                target[f"{e}_obs"][:, start:stop] = obs
    return {
        "k": k,
        "start": start,
        "stop": stop,
        "metrics": metrics,
        "vpid": pc.vpid,
        "source": pc.source,
        "covariates": pc.covariates,
        "posterior_draw": np.asarray(pc.draw),
        "arrays": None if target is not None else arrays,
    }


def _metric_arrays(sc: Scenario) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The run's metric arrays ``(n_draws, N, n_arms)`` for the chunks to write into, in the
    order :func:`_simulate_parts` sets them, and the ``(k, rows)`` block whose rows are the
    float ones (the table's columns, without copying them again: :func:`_table`)."""
    shape = (int(sc.population.n_draws), int(sc.population.n), len(sc.arms))
    names = [*EXPOSURE, *(PD if "effect" in sc.model.endpoints else ())]
    block = np.empty((len(names), *shape))
    arrays = {"titrated": np.zeros(shape, dtype=bool), **dict(zip(names, block, strict=True))}
    return arrays, block.reshape(len(names), -1)


def _labels(names: list[str], codes: np.ndarray | None, n: int = 0) -> Any:
    """The column ``names[codes]`` (code -1: missing) with the type pandas gives strings,
    decoded by Arrow from a dictionary: a tenth of the time of converting an object array.

    ``codes=None``: ``n`` rows of ``names[0]``, built as Arrow's offsets and bytes (without
    the gather of a decoding), the same column.
    """
    dtype = pd.Series(names[:1] or [""]).dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        index = np.zeros(n, dtype=np.intp) if codes is None else codes
        return np.asarray([*names, None], dtype=object)[index]
    import pyarrow as pa

    if codes is None:
        word = names[0].encode()
        offsets = np.arange(n + 1, dtype=np.int64) * len(word)
        data = np.frombuffer(word * n, dtype=np.uint8)
        column = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
        return pd.array(column, dtype=dtype)
    words = pa.array(names, pa.large_string())
    missing = codes < 0
    index = pa.array(np.where(missing, 0, codes), pa.int64(), mask=missing)
    decoded = pa.DictionaryArray.from_arrays(index, words).cast(words.type)
    return pd.array(decoded, dtype=dtype)


def _factorize(values: np.ndarray) -> tuple[np.ndarray | None, list[Any]]:
    """``pandas.factorize`` of an object array, as codes and names; codes None where every
    value is the same string (a population without real patients' sources: "" throughout),
    found by a comparison, a quarter of the time of hashing."""
    first = values[0] if len(values) else None
    if isinstance(first, str) and bool((values == first).all()):
        return None, [first]
    codes, names = pd.factorize(values)
    return codes, list(names)


def _table(
    sc: Scenario,
    vpid: np.ndarray,
    source: np.ndarray,
    covariates: pd.DataFrame | None,
    posterior_draw: np.ndarray,
    metrics: dict[str, np.ndarray],
    block: np.ndarray | None = None,
) -> pd.DataFrame:
    """The per-patient table, one row per (draw, patient, arm), built once from whole arrays.

    Rows in (draw, patient, arm) order; sorted by (draw, vpid) when the patients' ids are not
    already in order. ``covariates`` None: none. ``block``: the ``(k, rows)`` array whose
    rows are the last ``k`` metrics (:func:`_metric_arrays`), the table's columns as they
    are (pandas would copy separate arrays into such a block).
    """
    n_draws, n, n_arms = next(iter(metrics.values())).shape
    rows = n_draws * n * n_arms

    def per_patient(values: np.ndarray) -> np.ndarray:  # (n,) -> one value a row
        if n_draws == 1 and n_arms == 1:
            return values  # the frame copies its columns
        return np.tile(np.repeat(values, n_arms), n_draws)

    names = [arm.name for arm in sc.arms]
    src_code, src_names = _factorize(source)
    table = {
        "arm": _labels(names, None if n_arms == 1 else np.tile(np.arange(n_arms), n_draws * n),
                       rows),
        "vpid": per_patient(vpid),
        "draw": np.repeat(np.arange(n_draws, dtype=np.int64), n * n_arms),
        "posterior_draw": np.repeat(np.asarray(posterior_draw, dtype=np.int64).reshape(-1),
                                    n_arms),
        "source": _labels(src_names, None if src_code is None else per_patient(src_code), rows),
    }  # fmt: skip
    if covariates is not None:
        for col in covariates.columns:
            table[col] = per_patient(covariates[col].to_numpy())
    metric_names = list(metrics)
    in_block = metric_names[len(metric_names) - len(block) :] if block is not None else []
    table.update({m: metrics[m].ravel() for m in metric_names if m not in in_block})
    patients = pd.DataFrame(table)
    if in_block:
        floats = pd.DataFrame(block.T, columns=in_block, copy=False)
        patients = pd.concat([patients, floats], axis=1)
    if n > 1 and not bool(np.all(vpid[1:] >= vpid[:-1])):
        patients = patients.sort_values(["draw", "vpid"], kind="stable").reset_index(drop=True)
    return patients


def simulate_chunk(plan: _Plan, k: int) -> dict[str, Any]:
    """Simulate chunk ``k``: a pure function of the plan and ``k`` (a Dask task).

    Returns
    -------
    dict
        ``k``, ``patients`` (DataFrame) and ``arrays`` (endpoint arrays
        ``(n_draws, n, n_arms, T)``, or None when written to ``plan.store``).
    """
    part = _simulate_parts(plan, k)
    patients, pdraw = _chunk_table(plan, part)
    if plan.store is not None:
        _write_region(plan.store, part["arrays"], part["posterior_draw"], part["start"],
                      part["stop"])  # fmt: skip
        return {"k": k, "patients": patients, "arrays": None, "posterior_draw": None}
    return {"k": k, "patients": patients, "arrays": part["arrays"], "posterior_draw": pdraw}


def _store_part(plan: _Plan, part: dict[str, Any]) -> dict[str, Any]:
    """Write what the plan's stores take of a chunk's part; return what is left to ship.

    With a zarr store the profiles go to their region; with ``plan.parts`` the chunk's
    per-patient table goes to its own Parquet file, and only the chunk's bounds come back.
    Without profiles (``run(profiles=False)``) the chunk's profiles are dropped here.
    """
    if not plan.profiles:
        part["arrays"] = None
    if plan.store is not None:
        _write_region(plan.store, part["arrays"], part["posterior_draw"], part["start"],
                      part["stop"])  # fmt: skip
        part["arrays"] = None
    if plan.parts is not None:
        table, _ = _chunk_table(plan, part)
        write_parquet(table, Path(plan.parts) / _part_name(part["k"]))
        part = {"k": part["k"], "start": part["start"], "stop": part["stop"],
                "posterior_draw": part["posterior_draw"], "arrays": part["arrays"]}  # fmt: skip
    return part


def _chunk_table(plan: _Plan, part: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """A chunk's per-patient table, and its posterior draw per (draw, patient)."""
    draw = part["posterior_draw"]
    pdraw = np.broadcast_to(draw[:, None], (draw.size, part["stop"] - part["start"]))
    table = _table(plan.scenario, part["vpid"], part["source"], part["covariates"], pdraw,
                   part["metrics"])  # fmt: skip
    return table, pdraw


def _part_name(k: int) -> str:
    return f"part-{k:06d}.parquet"


def _chunk_task(plan: _Plan, ks: tuple[int, ...]) -> list[dict[str, Any]]:
    """A Dask task: chunks ``ks``' parts, written to the stores there are (:func:`_store_part`)."""
    return [_store_part(plan, _simulate_parts(plan, k)) for k in ks]


def _windowed(plan: _Plan, ks: tuple[int, ...]) -> _Plan:
    """``plan`` with its population cut to chunks ``ks`` (consecutive): what their task ships."""
    sc = plan.scenario
    start, stop = sc.chunk_bounds(ks[0])[0], sc.chunk_bounds(ks[-1])[1]
    window = sc.population.window(start, stop)
    return replace(plan, scenario=replace(sc, population=window))


def _task_groups(sc: Scenario, n_workers: int, chunk_bytes: int = 0) -> list[tuple[int, ...]]:
    """Consecutive chunks grouped into Dask tasks, large first and small last.

    A chunk's cost is its patient-draw-arm rows times the steps each costs (output times;
    for ODE models also the integration grid). A task holds at most :data:`_TASK_WORK` of it
    and, like OpenMP's guided schedule, half a worker's share of the chunks still to group
    (``ceil(left / (2 * n_workers))``): early tasks are worth their scheduling and shipping,
    the last ones are single chunks, so the workers finish together instead of one waiting
    on another's last large task. Tasks run in the order submitted. The chunks themselves
    (and so the random streams and the results) do not change. ``chunk_bytes``: what one
    chunk's window of the population weighs pickled; a task carries at most
    :data:`_TASK_BYTES` of them.
    """
    from twinlab.pkpd.ode import MAX_STEP

    n = sc.n_chunks
    times = np.asarray(sc.times, dtype=float)
    steps = times.size
    if sc.model.kind == "ode" and times.size > 1:
        steps += int((times[-1] - times[0]) / (sc.ode_max_step or MAX_STEP))
    start, stop = sc.chunk_bounds(0)
    cost = (stop - start) * int(sc.population.n_draws) * len(sc.arms) * max(steps, 1)
    cap = max(1, min(_TASK_WORK // max(cost, 1), _TASK_BYTES // max(chunk_bytes, 1)))
    share = 2 * max(n_workers, 1)
    groups: list[tuple[int, ...]] = []
    k = 0
    while k < n:
        size = max(1, min(cap, -(-(n - k) // share)))
        groups.append(tuple(range(k, min(n, k + size))))
        k += size
    return groups


# ------------------------------------------------------------------------------ storage


def _dataset(
    sc: Scenario, data: dict[str, Any], patient: np.ndarray, posterior_draw: Any
) -> xr.Dataset:
    dims = ("draw", "patient", "arm", "time")
    variables = {name: (dims, value) for name, value in data.items()}
    variables["posterior_draw"] = (("draw", "patient"), posterior_draw)  # one merge, not two
    ds = xr.Dataset(
        variables,
        coords={
            "draw": np.arange(int(sc.population.n_draws), dtype=np.int64),
            "patient": patient,
            "arm": np.array([a.name for a in sc.arms], dtype=object),
            "time": np.asarray(sc.times, dtype=float),
        },
    )
    return annotate(ds, result_units(sc.population, sc.model.endpoints))


def _endpoint_names(sc: Scenario, sigma: dict[str, Any]) -> list[str]:
    names = list(sc.model.endpoints)
    if sc.residual:
        names += [f"{e}_obs" for e in sc.model.endpoints if {f"add_{e}", f"prop_{e}"} & set(sigma)]
    return names


def _init_store(sc: Scenario, store: Path) -> None:
    """Write the zarr metadata and coordinates; chunks come later, region by region."""
    import dask.array as da
    from zarr.codecs import BloscCodec

    probe = sc.population.chunk(0, 1, chunk_rng(sc.seed, 0))
    n, nd, na, nt = int(sc.population.n), int(sc.population.n_draws), len(sc.arms), len(sc.times)
    cs = min(int(sc.chunk_size), n)
    data = {
        e: da.zeros((nd, n, na, nt), chunks=(nd, cs, na, nt))
        for e in _endpoint_names(sc, probe.sigma)
    }
    pdraw = da.zeros((nd, n), chunks=(nd, cs), dtype=np.int64)
    ds = _dataset(sc, data, np.arange(n, dtype=np.int64), pdraw)
    # Blosc lz4 + byte shuffle: measured ~2.5x faster than zarr's default zstd on these
    # profiles and compresses better (benchmarks/SIMULATE.md)
    codec = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    encoding = {e: {"compressors": (codec,)} for e in data}
    ds.to_zarr(store, mode="w", compute=False, consolidated=False, encoding=encoding)


def _write_region(
    store: str, arrays: dict[str, np.ndarray], posterior_draw: np.ndarray, start: int, stop: int
) -> None:
    dims = ("draw", "patient", "arm", "time")
    ds = xr.Dataset({name: (dims, value) for name, value in arrays.items()})
    ds["posterior_draw"] = (
        ("draw", "patient"),
        np.broadcast_to(posterior_draw[:, None], (posterior_draw.size, stop - start)),
    )
    ds.to_zarr(store, region={"patient": slice(start, stop)}, consolidated=False)


@functools.cache
def _versions_cached() -> tuple[tuple[str, str], ...]:
    out = {"python": sys.version.split()[0]}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return tuple(out.items())


def _versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on (looked up once)."""
    return dict(_versions_cached())


def _jsonable(obj: Any) -> Any:
    """NumPy scalars and arrays as Python values; anything else unknown as its ``str``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


#: What zarr's local store leaves of a chunk whose writer died mid-write (a killed Dask worker):
#: its temporary file, ``<chunk>.<uuid hex>.partial``
_DEAD_WRITE = re.compile(r"\.[0-9a-f]{32}\.partial$")


def _drop_dead_writes(store: Path) -> None:
    """Remove the temporary files of chunk writes that never finished from ``store``, once
    every chunk is written: the task of a killed worker ran again elsewhere and wrote its
    chunks whole, and a result holds the same files whatever its workers went through."""
    for path in store.rglob("*.partial"):
        if _DEAD_WRITE.search(path.name):
            path.unlink(missing_ok=True)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


# ---------------------------------------------------------------------------------- run


class _ProgressBar:
    """A one-line progress bar with the elapsed time and an ETA, on stderr."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (total - done) if done else float("nan")
        fill = int(self.width * done / max(total, 1))
        bar = "#" * fill + "." * (self.width - fill)
        print(
            f"\rsimulate [{bar}] {done}/{total} chunks, {elapsed:.1f} s, ETA {eta:.1f} s",
            end="\n" if done == total else "", file=sys.stderr, flush=True,
        )  # fmt: skip


def _report(progress: Progress) -> Callable[[int, int], None] | None:
    if callable(progress):
        return progress
    if progress:
        return _ProgressBar()
    return None


def _in_dask_worker() -> bool:
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _threads(threads: int | None, n_chunks: int) -> int:
    """Chunks simulated at once in this process: ``threads``, or the cores this process may
    use (one inside a Dask task: the worker's threads are the cluster's to share); never
    more than the chunks."""
    if threads is None and _in_dask_worker():
        threads = 1
    if threads is None:
        threads = usable_cores()
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"run(threads=...) must be an integer >= 1 or None, not {threads!r}")
    return max(1, min(int(threads), n_chunks))


def _shared_budget(threads: int | None) -> ChunkBudget | None:
    """The process's chunk budget for a run with the default ``threads`` (none inside a
    Dask task, nor for a number given: the caller's to share)."""
    return process_budget() if threads is None and not _in_dask_worker() else None


def _run_serial(
    plan: _Plan,
    callback: Callable[[int, int], None] | None,
    target: dict[str, np.ndarray] | None,
    threads: int = 1,
    budget: ChunkBudget | None = None,
    metric_target: dict[str, np.ndarray] | None = None,
):
    """Chunks in this process, in order: one by one, or ``threads`` at a time.

    The compiled kernels release the GIL, and every chunk writes its own slice of ``target``,
    its own zarr region and Parquet part, so chunks run in threads unchanged; at most
    ``2 * threads`` are in flight, and they are handed on in chunk order (the same bits
    whatever ``threads``). With a ``budget``, each chunk is simulated and stored holding one
    of its slots (the runs sharing it never run more chunks at once than it has slots).
    """
    n = plan.scenario.n_chunks

    def one(k: int) -> dict[str, Any]:
        with budget.slot() if budget is not None else contextlib.nullcontext():
            return _store_part(plan, _simulate_parts(plan, k, target, metric_target))

    if threads <= 1:
        for k in range(n):
            yield one(k)
            if callback:
                callback(k + 1, n)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="twinlab-chunk") as pool:
        ahead = min(n, 2 * threads)  # the next chunk to submit
        pending = deque(pool.submit(one, k) for k in range(ahead))
        try:
            for k in range(n):
                part = pending.popleft().result()
                if ahead < n:
                    pending.append(pool.submit(one, ahead))
                    ahead += 1
                yield part
                if callback:
                    callback(k + 1, n)
        finally:  # an error (or a consumer that stops): start nothing more, wait for the rest
            for future in pending:
                future.cancel()


def _run_dask(plan: _Plan, client: Any, callback: Callable[[int, int], None] | None):
    from distributed import as_completed

    sc = plan.scenario
    n = sc.n_chunks
    n_workers = len(client.scheduler_info().get("workers", {}))
    token = uuid.uuid4().hex[:12]  # names the tasks only; results do not depend on it
    if hasattr(sc.population, "window"):
        # values per patient: each task carries its own patients' only
        chunk_bytes = len(pickle.dumps(sc.population.window(*sc.chunk_bounds(0)), protocol=5))
        groups = _task_groups(sc, n_workers, chunk_bytes)
        plans = [_windowed(plan, ks) for ks in groups]
    else:
        # the plan on every worker up front: a task's one dependency held by a single worker
        # would draw every task to it (data locality) and leave the others to steal work late
        groups = _task_groups(sc, n_workers)
        plans = client.scatter([plan], broadcast=True, hash=False) * len(groups)
    futures = [
        client.submit(_chunk_task, p, ks, key=f"twinlab-simulate-{token}-{ks[0]}")
        for p, ks in zip(plans, groups, strict=True)
    ]
    del plans
    done = 0
    # the run's own client's loop, not the process's default client's: a future that is
    # lost after completing (its worker died) is waited on again by .result() on this loop
    for future in as_completed(futures, loop=client.loop):
        parts = future.result()
        future.release()
        for part in parts:
            done += 1
            if callback:
                callback(done, n)
            yield part


class _Assembly:
    """The run's per-patient arrays, filled chunk by chunk in any order (no concatenation)."""

    def __init__(
        self,
        sc: Scenario,
        target: dict[str, np.ndarray] | None,
        metrics: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.sc = sc
        self.n = int(sc.population.n)
        self.target = target
        # the chunks' metrics written in place (_metric_arrays), or copied here by add
        self.metrics: dict[str, np.ndarray] = {} if metrics is None else metrics[0]
        self.block = None if metrics is None else metrics[1]
        self.vpid: np.ndarray | None = None
        self.source: np.ndarray | None = None
        self.pdraw: np.ndarray | None = None
        self.covariates: dict[int, pd.DataFrame] = {}

    def add(self, part: dict[str, Any]) -> None:
        if "metrics" not in part:  # table and profiles written by the task (run(parts=True))
            return
        lo, hi = part["start"], part["stop"]
        for name, value in part["metrics"].items():
            if name not in self.metrics:
                shape = (value.shape[0], self.n, value.shape[2])
                self.metrics[name] = np.empty(shape, dtype=value.dtype)
            if not np.may_share_memory(self.metrics[name], value):  # not written in place
                self.metrics[name][:, lo:hi] = value
        if self.vpid is None:
            self.vpid = np.empty(self.n, dtype=part["vpid"].dtype)
            self.source = np.empty(self.n, dtype=object)
            self.pdraw = np.empty((part["posterior_draw"].size, self.n), dtype=np.int64)
        self.vpid[lo:hi] = part["vpid"]
        self.source[lo:hi] = part["source"]
        self.pdraw[:, lo:hi] = part["posterior_draw"][:, None]
        self.covariates[part["k"]] = part["covariates"]
        if part["arrays"] is not None:  # profiles shipped back by a worker
            if self.target is None:
                self.target = {}
            for e, value in part["arrays"].items():
                if e not in self.target:
                    nd, _, na, nt = value.shape
                    self.target[e] = np.empty((nd, self.n, na, nt))
                self.target[e][:, lo:hi] = value

    def patients(self) -> pd.DataFrame:
        covs = [self.covariates[k] for k in sorted(self.covariates)]
        if not any(len(c.columns) for c in covs):
            cov = None  # nothing to concatenate
        else:
            cov = covs[0] if len(covs) == 1 else pd.concat(covs, ignore_index=True)
        return _table(self.sc, self.vpid, self.source, cov, self.pdraw, self.metrics,
                      self.block)  # fmt: skip

    def summary(self, arms: list[str]) -> pd.DataFrame | None:
        """:func:`_summary` of :meth:`patients`, from the run's arrays instead of the table.

        The table's (draw, arm) group holds the rows ``[d, :, a]`` of the arrays, in patient
        order, so :func:`summary_row` gets the same values in the same order: the same
        numbers, without grouping (and copying) the table. None where the table's rows are
        in another order (ids not ascending: :func:`_table` sorts them) or a covariate has
        a metric's name (it would be summarised with them).
        """
        vpid = self.vpid
        if self.n > 1 and not bool(np.all(vpid[1:] >= vpid[:-1])):
            return None
        covariates = {c for frame in self.covariates.values() for c in frame.columns}
        names = [m for m in (*EXPOSURE, *PD) if m in self.metrics or m in covariates]
        if any(m not in self.metrics for m in names):
            return None
        titrated = self.metrics["titrated"]
        n_draws, n, _ = titrated.shape
        rows = []
        for d in range(n_draws):
            for a, arm in enumerate(arms):
                # contiguous values (copies where arms interleave: the quantiles may reorder
                # those) in patient order, as the table's group has them
                values = {m: self.metrics[m][d, :, a] for m in names}
                copies = not all(v.flags.c_contiguous for v in values.values())
                if copies:
                    values = {m: v.copy() for m, v in values.items()}
                row = summary_row(d, arm, values, scratch=copies)
                row["n"] = n
                row["titrated_frac"] = np.count_nonzero(titrated[d, :, a]) / n
                rows.append(row)
        return pd.DataFrame(rows)


def _summary(patients: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Per (draw, arm) summaries of a per-patient table, with the fraction titrated."""
    metrics = [m for m in (*EXPOSURE, *PD) if m in patients.columns]
    return _with_titrated(arm_summary(patients, metrics, arms), patients)


def _with_titrated(summary: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    frac = table.groupby(["draw", "arm"], sort=False, observed=True)["titrated"].mean()
    keys = list(zip(summary["draw"], summary["arm"], strict=True))
    summary["titrated_frac"] = frac.loc[keys].to_numpy()
    return summary


def _summary_from_parts(folder: Path, arms: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """:func:`_summary` of the table in Parquet parts, read column by column.

    The rows of each (draw, arm) group are found once (a stable sort of a group code), then
    each metric column is read and summarised group by group, one column per core at a time:
    ~16 + 16 per core bytes per row at the peak (the code and the sort order; per column its
    values and one group's), whatever the number of metrics and covariates. A group's rows
    keep their patient order, as in the one-file table, so the summaries are the same
    numbers (:func:`summary_row` for both).
    """
    import pyarrow.dataset as pads

    fmt = pads.ParquetFileFormat(read_options={"dictionary_columns": ["arm"]})
    data = pads.dataset(folder, format=fmt)
    columns = list(data.schema.names)
    index = {a: i for i, a in enumerate(arms)}
    codes = []
    for batch in data.to_batches(columns=["draw", "arm"]):
        arm = batch.column(1)
        lookup = np.array([index[str(a)] for a in arm.dictionary.to_pylist()], dtype=np.int64)
        arm_code = lookup[arm.indices.to_numpy(zero_copy_only=False)]
        codes.append(batch.column(0).to_numpy() * len(arms) + arm_code)
    code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    del codes
    order = np.argsort(code, kind="stable")  # each group's rows in table (patient) order
    counts = np.bincount(code, minlength=0)
    del code
    starts = np.cumsum(counts) - counts
    groups = [(g, int(starts[g]), int(starts[g] + c)) for g, c in enumerate(counts) if c]

    def column(name: str) -> list[dict[str, object]]:
        """One column's statistics, group by group."""
        values = data.to_table(columns=[name]).column(0).to_numpy(zero_copy_only=False)
        out = []
        for _, lo, hi in groups:
            x = values[order[lo:hi]]  # a copy: the quantiles may reorder it
            if name == "titrated":
                out.append({"titrated_frac": float(x.mean())})
                continue
            stats = summary_row(0, "", {name: x.astype(float, copy=False)}, scratch=True)
            out.append({k: v for k, v in stats.items() if k not in ("draw", "arm", "n")})
        return out

    rows = {}
    for g, lo, hi in groups:
        rows[g] = summary_row(g // len(arms), arms[g % len(arms)], {})
        rows[g]["n"] = hi - lo
    names = [*(m for m in (*EXPOSURE, *PD) if m in columns), "titrated"]
    # columns in parallel (Arrow's reads and NumPy's gathers and partitions release the
    # GIL); results go in in column order, so the table is the same whatever the threads
    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1)) as pool:
        for stats in pool.map(column, names):
            for (g, _, _), s in zip(groups, stats, strict=True):
                rows[g].update(s)
    return pd.DataFrame([rows[g] for g, _, _ in groups]), columns


def run(
    scenario: Scenario,
    *,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: Progress = False,
    backend: str = "auto",
    profile: bool = True,
    parts: bool = False,
    profiles: bool = True,
    threads: int | None = None,
) -> SimulationResult:
    """Simulate every virtual patient of ``scenario`` through every arm.

    Parameters
    ----------
    scenario : Scenario
        Population, arms, times, seed, chunk size.
    client : distributed.Client, optional
        Run each chunk as a Dask task on this client (default: in this process, chunk by
        chunk). Results are bit-identical whatever the number of workers.
    out : path, optional
        Folder to write ``result.zarr``, ``patients.parquet``, ``arms.parquet``, ``run.json``
        (and ``timings.json``; ``dask-report.html`` with a client). With ``out`` the profiles
        are written chunk by chunk and reopened lazily, so no run needs them all in memory;
        without it they are kept in memory. The run is written into a new folder beside
        ``out`` that replaces it whole, in one step, once complete: a run that fails or is
        stopped leaves ``out`` as it was, and nothing of a previous result survives a new one.
    progress : bool or callable
        True: Dask's progress bar with a client, a line on stderr without; a callable gets
        ``(chunks_done, n_chunks)`` after each chunk.
    backend : str
        ``"auto"`` (compiled kernels for linear and indirect-response models, else NumPy),
        ``"numba"``, ``"numpy"`` or ``"jax"`` (the same kernels in JAX, float64, on the device
        JAX finds: a GPU with ``jax[cuda12]``; needs the ``jax`` package; the exposure metrics
        stay on the CPU).
    profile : bool
        With ``out``, also write ``timings.json`` and (with a client) ``dask-report.html``,
        Dask's performance report, self-contained (it loads nothing from the network).
        Wall times never reproduce: pass False for a folder that DVC tracks whole (the
        timings stay on the returned result).
    parts : bool
        With ``out``, the per-patient table is written by whoever simulates a chunk (a Dask
        worker, or this process), one Parquet file per chunk, ``patients/part-NNNNNN.parquet``,
        instead of one ``patients.parquet`` assembled here: nothing per patient is held or
        shipped back, so memory stays bounded for 10^7 patients and more. Rows are in chunk
        order, then (draw, patient, arm). ``arms.parquet`` is computed from the parts, column
        by column (one per core at a time), and equals the one-file run's. The result's
        ``patients`` is None: read the parts with :meth:`SimulationResult.query` (DuckDB) or
        ``pandas.read_parquet(out / "patients")``.
    profiles : bool
        False: keep no profiles (no ``result.zarr``; the result's ``dataset`` is None). Each
        chunk's profiles are still computed for the metrics that need them (placebo arms,
        titration, PD endpoints) and dropped at once, and residual-error observations are
        not drawn. For large runs that need only the per-patient and per-arm tables: a
        million patients x 97 times is ~0.8 GB of profiles. ``run.json`` records
        ``"profiles": false``.
    threads : int, optional
        Without a client, how many chunks to simulate at once in this process (threads: the
        compiled kernels release the GIL). Default: the cores this process may use (one when
        ``run`` is itself called in a Dask task), at most the number of chunks, with every
        other default run of the process sharing those cores (at most that many chunks at
        once in all of them: :mod:`twinlab.simulate.budget`). The results are the same bits
        whatever the number; each thread holds one chunk's working arrays. With a client,
        each Dask worker's own threads decide.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        For a scenario the population or model cannot run, or an unknown back end.

    Examples
    --------
    >>> from twinlab.virtual import KnownPopulation
    >>> from twinlab.simulate import Arm, Regimen, Scenario, run
    >>> pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": [2.0, 4.0], "v": 30.0})
    >>> sc = Scenario("demo", pop, [Arm("qd", Regimen(100.0, n_doses=3))], [0, 24, 48, 72], seed=1)
    >>> res = run(sc)
    >>> res.dataset["conc"].sizes["patient"], list(res.patients["arm"].unique())
    (2, ['qd'])
    """
    if not isinstance(scenario, Scenario):
        raise ValueError(f"run needs a Scenario, not {type(scenario).__name__}")
    if parts and out is None:
        raise ValueError("run(parts=True) writes the table's parts to a folder: give out=")
    scenario.check()
    plan_backend = _resolve_backend(scenario.model, backend)
    n_threads = _threads(threads, scenario.n_chunks)
    t_start = time.perf_counter()
    final = None if out is None else Path(out)
    # written beside, published whole in one step: a failed or stopped run leaves `out` as it was
    with contextlib.nullcontext() if final is None else staged_dir(final) as folder:
        store = None
        if folder is not None:
            if profiles:
                store = folder / "result.zarr"
                _init_store(scenario, store)
            if parts:
                (folder / PARTS).mkdir()
        plan = _Plan(scenario, plan_backend, None if store is None else str(store),
                     str(folder / PARTS) if parts else None, profiles)  # fmt: skip
        target = None
        if profiles and store is None and client is None:  # profiles in place, chunk by chunk
            shape = (int(scenario.population.n_draws), int(scenario.population.n),
                     len(scenario.arms), len(scenario.times))  # fmt: skip
            target = {e: np.empty(shape) for e in scenario.model.endpoints}
        # metrics in place, chunk by chunk, for the one table assembled here
        metrics = _metric_arrays(scenario) if client is None and not parts else None
        assembly = _Assembly(scenario, target, metrics)
        callback = _report(progress)
        if client is None:
            chunks = _run_serial(plan, callback, target, n_threads, _shared_budget(threads),
                                 None if metrics is None else metrics[0])  # fmt: skip
        else:
            chunks = _run_dask(plan, client, callback)
        if client is not None and folder is not None and profile:
            from twinlab.cluster import performance_report

            with performance_report(folder / "dask-report.html"):
                for part in chunks:
                    assembly.add(part)
        else:
            for part in chunks:
                assembly.add(part)
        if store is not None:
            _drop_dead_writes(store)
        t_sim = time.perf_counter()
        names = [a.name for a in scenario.arms]
        if parts:
            patients = None
            arms, columns = _summary_from_parts(folder / PARTS, names)
            n_rows = int(arms["n"].sum())
        else:
            patients = assembly.patients()
            arms = assembly.summary(names)
            if arms is None:
                arms = _summary(patients, names)
            columns, n_rows = patients.columns, len(patients)
        n_patients = int(scenario.population.n)
        record = {
            "scenario": json.loads(json.dumps(scenario.to_dict(), default=_jsonable)),
            "backend": plan_backend,
            "sizes": {
                "n_patients": n_patients,
                "n_draws": int(scenario.population.n_draws),
                "n_arms": len(scenario.arms),
                "n_times": len(scenario.times),
                "n_chunks": scenario.n_chunks,
                "patient_rows": n_rows,
            },
            "endpoints": sorted(set(columns) & {*EXPOSURE, *PD}),
            "versions": _versions(),
        }
        if parts:  # only then: a one-file run's record stays byte for byte as it was
            record["patients"] = f"{PARTS}/"
        if not profiles:  # likewise
            record["profiles"] = False
        timings = {"simulate_s": t_sim - t_start}
        if folder is not None:
            if patients is not None:
                write_parquet(patients, folder / "patients.parquet")
            write_parquet(arms, folder / "arms.parquet")
            _write_json(folder / "run.json", record)
            timings["total_s"] = time.perf_counter() - t_start
            if profile:
                _write_json(folder / "timings.json", timings)
        else:
            timings["total_s"] = time.perf_counter() - t_start
        from twinlab.audit import audit_event

        # every simulation is on record when an audit log is active (no-op otherwise), before
        # its folder is published: a run that cannot be audited publishes nothing
        audit_event(
            "simulate.run",
            scenario.name,
            params={"scenario": record["scenario"], "backend": plan_backend},
            new={"sizes": record["sizes"], "out": None if final is None else str(final)},
        )
    if not profiles:
        dataset = None
    elif store is None:
        patient = np.arange(n_patients, dtype=np.int64)
        dataset = _dataset(scenario, assembly.target, patient, assembly.pdraw)
    else:
        dataset = xr.open_zarr(final / "result.zarr", consolidated=False)
    return SimulationResult(dataset, patients, arms, record, final, timings)
