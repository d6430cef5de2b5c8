"""ODE PK/PD simulation: turnover subjects per second, NumPy back end vs compiled kernel.

The model is ``pkpd_1cmt_oral_idr1_e0`` (1-cmt oral PK driving a turnover, inhibition of
kin; the demo twin's model), run through :func:`twinlab.simulate.run` with both back ends in
the same run:

- ``numpy`` (the baseline): :func:`twinlab.pkpd.predict` (RK4 grid of 0.05 h, loop-free
  decay convolution, vectorized NumPy);
- ``numba``: :mod:`twinlab.simulate.ode_kernels` (same grid and scheme, compiled per-patient
  loop; what ``backend="auto"`` picks).

Two cases:

- ``single``: one dose, 241 observations every 0.5 h over 120 h (the rxode2 anchor,
  DESIGN.md: 2,100–3,100 subjects/s per core);
- ``qd28``: the demo study's arm (28 daily doses, observations every 4 h: 169 obs).

Each engine case is timed in this process and on 1 and 2 Dask workers, after an untimed
warm-up; the compiled kernel alone is also timed (best of 3) for the turnover and for the RK4
model ``pkpd_1cmt_oral_idr1`` (``kin = e0 * kout``). The largest relative difference between
the two back ends on the baseline's patients is recorded. Usage::

    python benchmarks/simulate_ode.py [--quick] [--out benchmarks/results]
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

REPO = Path(__file__).resolve().parents[1]
ANCHOR = (2100, 3100)  # rxode2 subjects/s per core
MODEL = "pkpd_1cmt_oral_idr1_e0"


def _params(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"ka": 1.0 * rng.lognormal(0, 0.3, n), "cl": 3.0 * rng.lognormal(0, 0.3, n),
            "v": 30.0 * rng.lognormal(0, 0.2, n), "e0": 8.5 * rng.lognormal(0, 0.1, n),
            "kout": 0.02, "imax": 0.9, "ic50": 1.0}  # fmt: skip


def _design(case: str) -> tuple[Any, np.ndarray]:
    from twinlab.simulate import Regimen

    if case == "single":
        return Regimen(100.0), np.linspace(0, 120, 241)
    return Regimen(100.0, duration_h=672), np.arange(0, 673, 4.0)


def _scenario(n: int, case: str, chunk_size: int):
    from twinlab.simulate import Arm, Scenario
    from twinlab.virtual import KnownPopulation

    regimen, times = _design(case)
    pop = KnownPopulation(MODEL, _params(n))
    return Scenario(f"ode-{case}", pop, [Arm("100 mg", regimen)], times, seed=1,
                    chunk_size=chunk_size)  # fmt: skip


def _time(n: int, case: str, backend: str, client: Any = None) -> float:
    from twinlab.simulate import run

    run(_scenario(2, case, 2), client=client, backend=backend)  # warm-up (compile / load)
    t0 = time.perf_counter()
    run(_scenario(n, case, max(1, n // 4)), client=client, backend=backend)
    return time.perf_counter() - t0


def _agreement(n: int, case: str) -> float:
    """Largest relative difference (conc and effect) between the back ends."""
    from twinlab.simulate import run

    sc = _scenario(n, case, max(1, n // 4))
    a, b = run(sc, backend="numba").dataset, run(sc, backend="numpy").dataset
    worst = 0.0
    for e in ("conc", "effect"):
        x, y = a[e].values, b[e].values
        worst = max(worst, float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12))))
    return worst


def _kernel(n: int, case: str, model: str) -> float:
    from twinlab.simulate.ode_kernels import simulate_idr

    regimen, times = _design(case)
    doses = regimen.dose_times
    theta = _params(n)
    if model != MODEL:
        theta["kin"] = theta.pop("e0") * theta["kout"]
    args = (model, theta, times, doses, np.full(len(doses), 100.0))
    simulate_idr(*args)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        simulate_idr(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    sizes = {
        "numpy": {"single": 200 if args.quick else 1000, "qd28": 20 if args.quick else 60},
        "numba": {"single": 2000 if args.quick else 40000, "qd28": 400 if args.quick else 8000},
    }
    load_start = os.getloadavg()
    rows = []
    from twinlab.cluster import dask_client

    for case in ("single", "qd28"):
        for model in (MODEL, "pkpd_1cmt_oral_idr1"):
            n = sizes["numba"][case]
            rows.append({"case": case, "what": f"kernel {model}", "backend": "numba",
                         "workers": 0, "n": n, "s": _kernel(n, case, model)})  # fmt: skip
    for backend in ("numpy", "numba"):
        for case, n in sizes[backend].items():
            rows.append({"case": case, "what": "run()", "backend": backend, "workers": 0,
                         "n": n, "s": _time(n, case, backend)})  # fmt: skip
    for workers in (1, 2):
        with dask_client(n_workers=workers, host="127.0.0.1", memory_limit=None) as client:
            for backend in ("numpy", "numba"):
                for case, n in sizes[backend].items():
                    rows.append({"case": case, "what": "run()", "backend": backend,
                                 "workers": workers, "n": n,
                                 "s": _time(n, case, backend, client)})  # fmt: skip
    agreement = {case: _agreement(sizes["numpy"][case], case) for case in ("single", "qd28")}
    for r in rows:
        r["subjects_per_s"] = r["n"] / r["s"]
        r["subjects_per_s_per_core"] = r["subjects_per_s"] / max(r["workers"], 1)
    print(f"\nODE turnover ({MODEL}); rxode2 anchor {ANCHOR[0]}-{ANCHOR[1]} subjects/s/core")
    print(f"{'case':<7} {'what':<36} {'backend':<7} {'workers':>7} {'subjects':>8} "
          f"{'seconds':>8} {'subjects/s':>11} {'per core':>9}")  # fmt: skip
    for r in rows:
        w = "in-proc" if r["workers"] == 0 else str(r["workers"])
        print(f"{r['case']:<7} {r['what']:<36} {r['backend']:<7} {w:>7} {r['n']:>8} "
              f"{r['s']:>8.2f} {r['subjects_per_s']:>11.0f} "
              f"{r['subjects_per_s_per_core']:>9.0f}")  # fmt: skip
    print("largest relative difference numba vs numpy:", agreement)
    # issue 20's goal: run() in process >= 60 % of the kernel's throughput
    ratio = {}
    for case in ("single", "qd28"):
        kern = next(r for r in rows if r["case"] == case and r["what"] == f"kernel {MODEL}")
        eng = next(r for r in rows if r["case"] == case and r["what"] == "run()"
                   and r["backend"] == "numba" and r["workers"] == 0)  # fmt: skip
        ratio[case] = eng["subjects_per_s"] / kern["subjects_per_s"]
    print("run() in process / kernel throughput (goal >= 0.6):",
          {k: round(v, 2) for k, v in ratio.items()})  # fmt: skip
    result = {
        "benchmark": "simulate_ode",
        "model": MODEL,
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "shared": "2-core development machine shared with other engineers' jobs",
            "load_avg_at_start": load_start,
            "load_avg_at_end": os.getloadavg(),
        },
        "versions": {p: version(p) for p in ("numpy", "numba", "dask", "distributed")},
        "anchor_subjects_per_s_per_core": ANCHOR,
        "max_rel_diff_numba_vs_numpy": agreement,
        "run_over_kernel_throughput": ratio,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulate_ode.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
