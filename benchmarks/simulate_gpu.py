"""The JAX back end against the numba kernels, side by side in one run (for a GPU).

Measures subject-timepoints per second of

1. the analytic kernel (``pk_1cmt_oral``, 6 doses QD, 97 times; DESIGN.md "Numbers to
   reach"): numba (``twinlab.simulate.superpose_model``, one CPU core) against JAX
   (``backend="jax"``) on whatever device JAX finds, both as called from NumPy (host arrays in
   and out) and device-resident (arrays already on the device, ``block_until_ready``: what the
   device itself sustains);
2. the turnover kernel (``pkpd_1cmt_oral_idr1_e0``, the demo twin's model, 28 daily doses, 169
   times over 0-672 h): numba (``simulate_idr``) against JAX, host arrays in and out;

checks the two agree (float64, largest relative difference) and records the device. On a
machine without a GPU JAX runs on the CPU (the JAX rows then say ``cpu``); install
``jax[cuda12]`` on a GPU machine.

Usage::

    python benchmarks/simulate_gpu.py [--quick] [--scale 10] [--out benchmarks/results]

``--scale`` multiplies the JAX sizes (a GPU wants ~10^6 patients per call to fill it). Nothing
here is asserted by the test suite. See ``benchmarks/SIMULATE.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from simulate_analytic import DOSE_TIMES as DOSES  # the analytic benchmark's design
from simulate_analytic import TIMES, _theta

REPO = Path(__file__).resolve().parents[1]
ODE_TIMES = np.arange(0.0, 673.0, 4.0)
ODE_DOSES = np.arange(28) * 24.0


def _idr_theta(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {**_theta(n, seed), "e0": 8.0 * rng.lognormal(0, 0.1, n), "kout": 0.1,
            "imax": 0.8, "ic50": 1.0 * rng.lognormal(0, 0.3, n)}  # fmt: skip


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: compilation, caches, device transfer of constants
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6 * np.abs(b).max())))


def analytic(n_cpu: int, n_dev: int, repeat: int) -> tuple[list[dict[str, Any]], float]:
    import jax.numpy as jnp

    from twinlab.simulate import superpose_model
    from twinlab.simulate.jax_kernels import _superpose
    from twinlab.simulate.kernels import exponential_terms

    amt, dur = np.full(DOSES.size, 100.0), np.zeros(DOSES.size)

    def call(theta: dict[str, np.ndarray], backend: str) -> np.ndarray:
        return superpose_model("pk_1cmt_oral", theta, TIMES, DOSES, amt, dur, depot=True,
                               backend=backend)  # fmt: skip

    small = _theta(2_000, 1)
    rel = _rel(call(small, "jax"), call(small, "numba"))
    rows = []
    th_cpu, th_dev = _theta(n_cpu), _theta(n_dev)
    t = _best(lambda: call(th_cpu, "numba"), repeat)
    rows.append({"kernel": "analytic", "backend": "numba (1 core)", "n": n_cpu, "s": t})
    t = _best(lambda: call(th_dev, "jax"), repeat)
    rows.append({"kernel": "analytic", "backend": "jax, host arrays", "n": n_dev, "s": t})
    coefs, rates = exponential_terms("pk_1cmt_oral", th_dev, depot=True)
    args = [jnp.asarray(x) for x in (coefs, rates, np.ones(n_dev), np.zeros(n_dev), TIMES,
                                     DOSES, amt, dur)]  # fmt: skip
    t = _best(lambda: _superpose(*args).block_until_ready(), repeat)
    rows.append({"kernel": "analytic", "backend": "jax, device-resident", "n": n_dev, "s": t})
    for r in rows:
        r["subject_timepoints_per_s"] = r["n"] * TIMES.size / r["s"]
    return rows, rel


def turnover(n_cpu: int, n_dev: int, repeat: int) -> tuple[list[dict[str, Any]], float]:
    from twinlab.simulate.ode_kernels import simulate_idr

    model, amt = "pkpd_1cmt_oral_idr1_e0", np.full(ODE_DOSES.size, 100.0)

    def call(theta: dict[str, np.ndarray], backend: str):
        return simulate_idr(model, theta, ODE_TIMES, ODE_DOSES, amt, backend=backend)

    small = _idr_theta(200, 1)
    rel = max(_rel(a, b) for a, b in zip(call(small, "jax"), call(small, "numba"), strict=True))
    rows = []
    th_cpu, th_dev = _idr_theta(n_cpu), _idr_theta(n_dev)
    t = _best(lambda: call(th_cpu, "numba"), repeat)
    rows.append({"kernel": "turnover 28 d", "backend": "numba (1 core)", "n": n_cpu, "s": t})
    t = _best(lambda: call(th_dev, "jax"), repeat)
    rows.append({"kernel": "turnover 28 d", "backend": "jax, host arrays", "n": n_dev, "s": t})
    for r in rows:
        r["subject_timepoints_per_s"] = r["n"] * ODE_TIMES.size / r["s"]
        r["subjects_per_s"] = r["n"] / r["s"]
    return rows, rel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (< 1 min on a CPU)")
    ap.add_argument("--scale", type=int, default=1, help="multiply the JAX sizes")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    import jax

    from twinlab.simulate.jax_kernels import device_kind

    n_a = 20_000 if args.quick else 200_000
    n_o = 500 if args.quick else 4_000
    repeat = 2 if args.quick else 3
    rows_a, rel_a = analytic(n_a, n_a * args.scale, repeat)
    rows_o, rel_o = turnover(n_o, n_o * args.scale, repeat)
    rows = rows_a + rows_o
    device = {"platform": device_kind(), "devices": [str(d) for d in jax.devices()]}
    print(f"JAX on {device['platform']}: {device['devices']}")
    print(f"largest relative difference JAX vs numba: analytic {rel_a:.1e}, turnover {rel_o:.1e}")
    print(f"{'kernel':<14} {'back end':<22} {'patients':>9} {'s':>8} {'M subj-tp/s':>12}")
    for r in rows:
        print(f"{r['kernel']:<14} {r['backend']:<22} {r['n']:>9} {r['s']:>8.3f} "
              f"{r['subject_timepoints_per_s'] / 1e6:>12.2f}")  # fmt: skip
    result = {
        "benchmark": "simulate_gpu",
        "quick": args.quick,
        "scale": args.scale,
        "device": device,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },
        "versions": {p: version(p) for p in ("numpy", "numba", "jax", "jaxlib")},
        "max_rel_diff_jax_vs_numba": {"analytic": rel_a, "turnover": rel_o},
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "simulate_gpu.json" if device["platform"] == "gpu" else "simulate_gpu_cpu.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
