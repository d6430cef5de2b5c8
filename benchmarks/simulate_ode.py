"""ODE PK/PD simulation: turnover subjects per second, against the rxode2 anchor.

The model is ``pkpd_1cmt_oral_idr1_e0`` (1-cmt oral PK driving a turnover, inhibition of
kin; the demo twin's model), solved by :mod:`twinlab.pkpd` (RK4 grid, loop-free decay
convolution) through :func:`twinlab.simulate.run` with the NumPy back end. Two cases:

- ``single dose, 241 obs``: one dose, observations every 0.5 h over 120 h (the rxode2 anchor,
  DESIGN.md: 2,100–3,100 subjects/s per core);
- ``28 x QD, 169 obs``: the demo study's arm (28 daily doses, observations every 4 h).

Timed in this process and on 1 and 2 Dask workers. Usage::

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


def _scenario(n: int, case: str, chunk_size: int):
    from twinlab.cohort import KnownPopulation
    from twinlab.simulate import Arm, Regimen, Scenario

    rng = np.random.default_rng(0)
    pop = KnownPopulation(
        "pkpd_1cmt_oral_idr1_e0",
        {"ka": 1.0 * rng.lognormal(0, 0.3, n), "cl": 3.0 * rng.lognormal(0, 0.3, n),
         "v": 30.0 * rng.lognormal(0, 0.2, n), "e0": 8.5 * rng.lognormal(0, 0.1, n),
         "kout": 0.02, "imax": 0.9, "ic50": 1.0},
    )  # fmt: skip
    if case == "single":
        arm, times = Arm("100 mg", Regimen(100.0)), np.linspace(0, 120, 241)
    else:
        arm, times = Arm("100 mg QD", Regimen(100.0, duration_h=672)), np.arange(0, 673, 4.0)
    return Scenario(f"ode-{case}", pop, [arm], times, seed=1, chunk_size=chunk_size)


def _time(n: int, case: str, chunk_size: int, client: Any = None) -> float:
    from twinlab.simulate import run

    run(_scenario(2, case, 2), client=client)  # warm-up
    t0 = time.perf_counter()
    run(_scenario(n, case, chunk_size), client=client)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    sizes = {"single": 200 if args.quick else 1000, "qd28": 20 if args.quick else 60}
    rows = []
    from twinlab.cluster import dask_client

    for case, n in sizes.items():
        cs = max(1, n // 4)
        rows.append({"case": case, "workers": 0, "n": n, "s": _time(n, case, cs)})
    for workers in (1, 2):
        with dask_client(n_workers=workers, host="127.0.0.1", memory_limit=None) as client:
            for case, n in sizes.items():
                cs = max(1, n // 4)
                rows.append(
                    {"case": case, "workers": workers, "n": n, "s": _time(n, case, cs, client)}
                )
    for r in rows:
        r["subjects_per_s"] = r["n"] / r["s"]
        r["subjects_per_s_per_core"] = r["subjects_per_s"] / max(r["workers"], 1)
    print(
        f"\nODE turnover (pkpd_1cmt_oral_idr1_e0); "
        f"rxode2 anchor {ANCHOR[0]}-{ANCHOR[1]} subjects/s/core"
    )
    print(
        f"{'case':<8} {'workers':>7} {'subjects':>8} {'seconds':>8} "
        f"{'subjects/s':>11} {'per core':>9}"
    )
    for r in rows:
        w = "in-proc" if r["workers"] == 0 else str(r["workers"])
        print(f"{r['case']:<8} {w:>7} {r['n']:>8} {r['s']:>8.2f} {r['subjects_per_s']:>11.0f} "
              f"{r['subjects_per_s_per_core']:>9.0f}")  # fmt: skip
    result = {
        "benchmark": "simulate_ode",
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },
        "versions": {p: version(p) for p in ("numpy", "dask", "distributed")},
        "anchor_subjects_per_s_per_core": ANCHOR,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulate_ode.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
