"""Analytic multiple-dose simulation: subject-timepoints per second, back ends and workers.

Measures, in one run and side by side (linear 1-cmt oral PK, 6 doses QD, 97 times, as in
DESIGN.md "Numbers to reach"):

1. the structural model alone, in this process: ``twinlab.pkpd.predict`` (the NumPy back
   end, vectorized superposition; the baseline) against the compiled kernel
   ``twinlab.simulate.superpose_model`` (numba), checking they agree;
2. the kernel in 1 and 2 Dask worker processes (one task per worker, each on its own patients;
   wall time seen by the client);
3. the whole engine ``twinlab.simulate.run`` (kernel + exposure metrics + per-patient table,
   no files; ``threshold=1.0``) in this process and on 1 and 2 workers, and in process
   with one thread without a threshold (no ``t_above`` crossings to solve);
4. peak memory of a run of ``--mem-patients`` patients x 3 arms written to zarr/Parquet (in a
   fresh subprocess), per million patients.

Usage::

    python benchmarks/simulate_analytic.py [--quick] [--out benchmarks/results]

Nothing here is asserted by the test suite. See ``benchmarks/SIMULATE.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL = 50e6  # subject-timepoints/s on 2 cores
TIMES = np.linspace(0.0, 144.0, 97)
DOSE_TIMES = np.arange(6) * 24.0


def _theta(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "ka": 1.2 * rng.lognormal(0, 0.3, n),
        "cl": 4.0 * rng.lognormal(0, 0.3, n),
        "v": 40.0 * rng.lognormal(0, 0.2, n),
    }


def numpy_backend(theta: dict[str, np.ndarray]) -> np.ndarray:
    """``twinlab.pkpd.predict`` on one shared schedule (as the engine's NumPy path)."""
    from twinlab.pkpd import expand_doses, oral, predict

    n, t = theta["cl"].size, TIMES.size
    d = expand_doses([[oral(100.0, time=float(x)) for x in DOSE_TIMES]])
    w = d.time.shape[1]
    arrays = SimpleNamespace(
        n_subjects=n,
        obs_subject=np.repeat(np.arange(n), t),
        obs_time=np.tile(TIMES, n),
        **{
            f"dose_{f}": np.broadcast_to(getattr(d, f), (n, w))
            for f in ("time", "amt", "rate", "duration", "cmt")
        },
    )
    return predict("pk_1cmt_oral", theta, arrays)["conc"].reshape(n, t)


def kernel_backend(theta: dict[str, np.ndarray]) -> np.ndarray:
    from twinlab.simulate import superpose_model

    amt = np.full(DOSE_TIMES.size, 100.0)
    return superpose_model(
        "pk_1cmt_oral", theta, TIMES, DOSE_TIMES, amt, np.zeros_like(amt), depot=True
    )


def _best(fn, *args, repeat: int) -> float:
    fn(*args)  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def _kernel_task(n: int, seed: int, repeat: int) -> float:
    """Best wall time of the kernel on ``n`` patients, inside a worker."""
    return _best(kernel_backend, _theta(n, seed), repeat=repeat)


def _scenario(n: int, chunk_size: int, threshold: float | None = 1.0):
    from twinlab.simulate import Arm, Regimen, Scenario
    from twinlab.virtual import KnownPopulation

    pop = KnownPopulation("pk_1cmt_oral", _theta(n))
    arms = [Arm("100 mg QD", Regimen(100.0, n_doses=6))]
    return Scenario("bench", pop, arms, TIMES, seed=1, chunk_size=chunk_size, threshold=threshold)


def _kernel_threads(theta: dict[str, np.ndarray], threads: int) -> None:
    """The kernel on ``threads`` equal shares of the patients at once (it releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    n = next(iter(theta.values())).size
    cuts = np.linspace(0, n, threads + 1).astype(int)
    shares = [{k: v[a:b] for k, v in theta.items()} for a, b in itertools.pairwise(cuts)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(kernel_backend, shares))


def _engine(
    n: int,
    chunk_size: int,
    client: Any = None,
    backend: str = "auto",
    repeat: int = 3,
    threads: int | None = None,
    threshold: float | None = 1.0,
) -> float:
    """Best wall time of ``run()`` over ``repeat`` runs (after a small warm-up run), the
    kernel's protocol: on this VM memory first touched since it was last freed runs at
    ~200 MB/s (see SIMULATE.md), which a single run would mostly measure. ``threshold``
    None: no ``t_above`` (no threshold crossings to solve)."""
    from twinlab.simulate import run

    sc = _scenario(n, chunk_size, threshold)
    kw = {} if client is not None else {"threads": threads}
    warm = _scenario(min(n, chunk_size), chunk_size, threshold)
    run(warm, client=client, backend=backend, **kw)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(sc, client=client, backend=backend, **kw)
        times.append(time.perf_counter() - t0)
    return min(times)


MEM_SCRIPT = """
import json, os, resource, sys, tempfile, time
sys.path.insert(0, {bench!r})
from simulate_analytic import _theta, TIMES
from twinlab.virtual import KnownPopulation
from twinlab.simulate import Arm, Regimen, Scenario, run
n = {n}
pop = KnownPopulation("pk_1cmt_oral", _theta(n))
arms = [Arm("placebo"), Arm("100 mg QD", Regimen(100.0, n_doses=6)),
        Arm("200 mg QD", Regimen(200.0, n_doses=6))]
sc = Scenario("mem", pop, arms, TIMES, seed=1, chunk_size=10_000, threshold=1.0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    res = run(sc, out=d)
    wall = time.perf_counter() - t0
    zsize = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs
                if "result.zarr" in r)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_rss_mb": peak / 1024, "rss_before_run_mb": base / 1024, "wall_s": wall,
                  "rows": len(res.patients), "simulate_s": res.timings["simulate_s"],
                  "zarr_mb": zsize / 2**20}}))
"""


def memory(n: int) -> dict[str, float]:
    code = MEM_SCRIPT.format(bench=str(Path(__file__).parent), n=n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (< 1 min)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--mem-patients", type=int, default=None)
    args = ap.parse_args()
    n_kernel = 50_000 if args.quick else 200_000
    n_numpy = 5_000 if args.quick else 20_000
    n_engine = 20_000 if args.quick else 100_000
    n_mem = args.mem_patients or (100_000 if args.quick else 1_000_000)
    repeat = 3 if args.quick else 5
    tp = TIMES.size
    rows: list[dict[str, Any]] = []

    theta = _theta(n_numpy)
    ref, fast = numpy_backend(theta), kernel_backend(theta)
    rel = float(np.max(np.abs(fast - ref) / np.maximum(np.abs(ref), 1e-12 * ref.max())))
    t = _best(numpy_backend, theta, repeat=max(1, repeat // 2))
    rows.append(
        {"what": "NumPy back end (twinlab.pkpd.predict)", "workers": 1, "n": n_numpy, "s": t}
    )
    t = _best(kernel_backend, _theta(n_kernel), repeat=repeat)
    rows.append({"what": "compiled kernel (numba)", "workers": 1, "n": n_kernel, "s": t})
    t = _best(_kernel_threads, _theta(n_kernel), 2, repeat=repeat)
    rows.append({"what": "compiled kernel (numba), 2 threads", "workers": 0, "threads": 2,
                 "n": n_kernel, "s": t})  # fmt: skip

    from distributed import wait

    from twinlab.cluster import dask_client

    for workers in (1, 2):
        with dask_client(n_workers=workers, host="127.0.0.1", memory_limit=None) as client:
            # warm each worker (imports, numba cache load), then time all at once
            wait([client.submit(_kernel_task, 100, i, 1, pure=False, workers=[w])
                  for i, w in enumerate(client.scheduler_info()["workers"])])  # fmt: skip
            t0 = time.perf_counter()
            futs = [client.submit(_kernel_task, n_kernel, i, repeat, pure=False, workers=[w])
                    for i, w in enumerate(client.scheduler_info()["workers"])]  # fmt: skip
            inner = client.gather(futs)
            wall = time.perf_counter() - t0
            what = "compiled kernel (numba), best pass per worker"
            rows.append(
                {"what": what, "workers": workers, "n": n_kernel * workers, "s": max(inner),
                 "wall_incl_repeats_s": wall}
            )  # fmt: skip
            t = _engine(n_engine, 10_000, client=client)
            what = "engine run() (kernel + metrics + table)"
            rows.append({"what": what, "workers": workers, "n": n_engine, "s": t})
    for threads in (1, 2):
        t = _engine(n_engine, 10_000, threads=threads)
        rows.append({"what": "engine run() (kernel + metrics + table)", "workers": 0,
                     "threads": threads, "n": n_engine, "s": t})  # fmt: skip
    t = _engine(n_engine, 10_000, threads=1, threshold=None)
    rows.append({"what": "engine run(), no threshold (no t_above)", "workers": 0, "threads": 1,
                 "n": n_engine, "s": t})  # fmt: skip
    t = _engine(n_numpy, 10_000, backend="numpy", repeat=1, threads=1)
    rows.append({"what": "engine run(backend='numpy')", "workers": 0, "threads": 1,
                 "n": n_numpy, "s": t})  # fmt: skip
    for r in rows:
        r["subject_timepoints_per_s"] = r["n"] * tp / r["s"]

    def rate(what: str, **where: int) -> float:
        row = next(
            r for r in rows if r["what"] == what and all(r.get(k) == v for k, v in where.items())
        )
        return row["subject_timepoints_per_s"]

    kernel = rate("compiled kernel (numba)")
    engine = "engine run() (kernel + metrics + table)"
    ratio = rate(engine, workers=0, threads=1) / kernel
    ratio2 = rate(engine, workers=0, threads=2) / rate("compiled kernel (numba), 2 threads")
    ratio_plain = rate("engine run(), no threshold (no t_above)") / kernel
    mem = memory(n_mem)
    mem["patients"] = n_mem
    mem["arms"] = 3
    mem["peak_rss_mb_per_million_patients"] = mem["peak_rss_mb"] * 1e6 / n_mem

    print(
        f"\nanalytic multiple dose (pk_1cmt_oral, 6 doses, {tp} times); "
        f"goal {GOAL / 1e6:.0f}M/s on 2 cores"
    )
    print(f"kernel vs NumPy back end: max relative difference {rel:.2e}")
    print(f"{'what':<48} {'workers':>7} {'patients':>9} {'seconds':>8} {'M subj-tp/s':>12}")
    for r in rows:
        w = f"{r['threads']} thr" if r["workers"] == 0 else str(r["workers"])
        print(
            f"{r['what']:<48} {w:>7} {r['n']:>9} {r['s']:>8.3f} "
            f"{r['subject_timepoints_per_s'] / 1e6:>12.1f}"
        )
    print(f"run() in process / kernel throughput, 1 thread each: {ratio:.2f} (goal >= 0.6)")
    print(f"run() in process / kernel throughput, 2 threads each: {ratio2:.2f}")
    print(f"run() in process without a threshold / kernel throughput: {ratio_plain:.2f}")
    print(
        f"memory: {n_mem} patients x 3 arms to zarr/Parquet: "
        f"peak RSS {mem['peak_rss_mb']:.0f} MB; {mem['wall_s']:.1f} s "
        f"({mem['simulate_s']:.1f} s in chunks); zarr {mem['zarr_mb']:.0f} MB"
    )
    result = {
        "benchmark": "simulate_analytic",
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },
        "versions": {p: version(p) for p in ("numpy", "numba", "dask", "distributed")},
        "times": TIMES.size,
        "doses": DOSE_TIMES.size,
        "kernel_vs_numpy_max_rel_diff": rel,
        "run_over_kernel_throughput": ratio,
        "run_over_kernel_throughput_2_threads": ratio2,
        "run_over_kernel_throughput_no_threshold": ratio_plain,
        "rows": rows,
        "memory": mem,
        "goal_subject_timepoints_per_s": GOAL,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulate_analytic.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
