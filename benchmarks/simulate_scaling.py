"""Worker scaling of ``twinlab.simulate.run``: in process (1 or 2 threads), 1 and 2 Dask
workers, one run.

For each model class (analytic ``pk_1cmt_oral``, 6 doses QD, 97 times; turnover ODE
``pkpd_1cmt_oral_idr1_e0``, 28 daily doses, 169 times over 0-672 h) the same scenario is run
with ``out=`` in a fresh subprocess per mode, so each mode's peak RSS is its own, for both
table formats side by side: ``one_file`` (workers write their zarr regions themselves and
ship per-patient metrics back; the client builds ``patients.parquet``) and ``parts``
(``run(parts=True)``: workers also write their chunks' tables, nothing per patient comes
back), and ``parts_no_profiles`` (``run(parts=True, profiles=False)``: no profiles kept, so
no zarr store; on this VM, writing new memory or files is capped by the host, see
``memory_touch``):

- ``inproc``: no client, one chunk at a time (``threads=1``);
- ``t2``: no client, two chunks at once in threads (``threads=2``, the default on 2 cores);
- ``w1``, ``w2``: :func:`twinlab.cluster.dask_client` with 1 or 2 worker processes (TLS on
  loopback), peak RSS of every worker reported.

Each mode runs the scenario :data:`REPEATS` times in its process (and cluster), after a
one-chunk warm-up; its row is the best run (steady state, as a cluster serving many runs
sees it), and ``first_total_s`` / ``totals_s`` keep the first and every run: on this VM the
first large run also pays the first touch of new memory in fresh processes.

The scaling model of ``benchmarks/SIMULATE.md`` is fitted on ``inproc`` and ``w1`` and
predicts ``w2``; the JSON keeps the prediction, its error and the extrapolation to 64 and
1,000 cores. Output files are checked byte-identical across the modes.

Usage::

    python benchmarks/simulate_scaling.py [--quick] [--analytic 1000000] [--ode 100000]
        [--big] [--kinds analytic,ode] [--no-report] [--scratch DIR] [--out benchmarks/results]

``--big`` adds the bounded-memory run: 10^7 virtual patients x 28 daily doses (analytic,
daily observations), 2 workers, ``parts=True``, with the progress bar (needs ~5 GB in
``--scratch``).
Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Result layouts run side by side: one ``patients.parquet``; parts; parts without profiles
#: (``run(parts=True, profiles=False)``: no zarr store, the tables only)
TABLES = ("one_file", "parts", "parts_no_profiles")
#: Runs per mode in the same process (and cluster): the best is the mode's row (steady
#: state); the first (``first_total_s``) also pays this VM's first touch of new memory
REPEATS = 3

ONE = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
from simulate_scaling import scenario
from twinlab.simulate import run
sc = scenario({kind!r}, {n}, {chunk})
mode, out, parts, profiles = {mode!r}, {out!r}, {parts!r}, {profiles!r}

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

warm = scenario({kind!r}, min({chunk}, {n}), {chunk})
warm_out = out + "-warm"  # imports (zarr, codecs) and numba caches, in every process
runs = []

def timed(**kw):
    t0 = time.perf_counter()
    res = run(sc, out=out, progress={progress}, parts=parts, profiles=profiles,
              profile={report!r}, **kw)
    runs.append({{"wall_s": time.perf_counter() - t0, "simulate_s": res.timings["simulate_s"],
                 "total_s": res.timings["total_s"], "rows": res.run["sizes"]["patient_rows"]}})

if mode == "inproc" or mode.startswith("t"):  # one chunk at a time, or threads at once
    threads = 1 if mode == "inproc" else int(mode[1:])
    run(warm, out=warm_out, parts=parts, profiles=profiles, threads=threads)
    for _ in range({repeats}):
        timed(threads=threads)
    workers_rss = []
else:
    from twinlab.cluster import dask_client
    with dask_client(n_workers=int(mode[1:]), memory_limit=None) as client:
        run(warm, client=client, out=warm_out, parts=parts, profiles=profiles)
        for _ in range({repeats}):
            timed(client=client)
        workers_rss = sorted(client.run(rss).values())
best = min(runs, key=lambda r: r["total_s"])
print(json.dumps({{**best, "first_total_s": runs[0]["total_s"],
                  "totals_s": [r["total_s"] for r in runs], "client_peak_rss_mb": rss(),
                  "workers_peak_rss_mb": workers_rss}}))
"""


def memory_touch(mb: int = 256, idle_s: float = 5.0) -> dict[str, float]:
    """MB/s of writing ``mb`` of new memory: after ``idle_s`` of no use, and right after
    freeing the same amount (pages the kernel hands straight back).

    On this VM (Firecracker) memory left free for a few seconds is returned to the host, and
    touching it again costs a host page fault: ~200 MB/s against several GB/s for pages just
    freed. Every run here that writes new arrays or files pays it (SIMULATE.md).
    """
    import numpy as np

    def fill() -> float:
        t0 = time.perf_counter()
        a = np.empty(mb * 2**17)
        a.fill(1.0)
        t = time.perf_counter() - t0
        del a
        return mb / t

    time.sleep(idle_s)
    cold = fill()
    warm = fill()
    return {"after_idle_mb_s": cold, "just_freed_mb_s": warm, "mb": mb, "idle_s": idle_s}


def scenario(kind: str, n: int, chunk_size: int):
    """The benchmark's scenario: ``analytic``, ``ode`` or ``big`` (10^7 x 28 daily doses)."""
    import numpy as np

    from twinlab.simulate import Arm, Regimen, Scenario
    from twinlab.virtual import KnownPopulation

    rng = np.random.default_rng(0)
    pk = {
        "ka": 1.2 * rng.lognormal(0, 0.3, n),
        "cl": 4.0 * rng.lognormal(0, 0.3, n),
        "v": 40.0 * rng.lognormal(0, 0.2, n),
    }
    if kind == "analytic":
        pop = KnownPopulation("pk_1cmt_oral", pk)
        arms, times = [Arm("100 mg QD", Regimen(100.0, n_doses=6))], np.linspace(0, 144, 97)
    elif kind == "big":  # drawn chunk by chunk where the chunk runs: nothing large pickled
        pop = _big_population(n)
        arms, times = [Arm("100 mg QD", Regimen(100.0, n_doses=28))], np.arange(0.0, 673.0, 24.0)
    else:
        pd_par = {"e0": 8.0 * rng.lognormal(0, 0.1, n), "kout": 0.1, "imax": 0.8, "ic50": 1.0}
        pop = KnownPopulation("pkpd_1cmt_oral_idr1_e0", {**pk, **pd_par})
        arms, times = [Arm("100 mg QD", Regimen(100.0, n_doses=28))], np.arange(0.0, 673.0, 4.0)
    return Scenario(f"scaling-{kind}", pop, arms, times, seed=1, chunk_size=chunk_size,
                    threshold=1.0)  # fmt: skip


def _big_population(n: int):
    """10^7-scale virtual patients: weights resampled from 200 reference rows, log-normal BSV
    and allometric clearance/volume, drawn from each chunk's own random stream."""
    import numpy as np
    import pandas as pd

    from twinlab.pkpd import PopulationSpec
    from twinlab.virtual import VirtualCohort

    rng = np.random.default_rng(0)
    real = pd.DataFrame({"patient_id": [f"REF-{i:03d}" for i in range(200)],
                         "cov_weight_kg": rng.normal(75.0, 12.0, 200).clip(40, 140)})  # fmt: skip
    spec = PopulationSpec.from_dict({
        "model": "pk_1cmt_oral",
        "parameters": {"ka": {"guess": 1.2, "omega": 0.3}, "cl": {"guess": 4.0, "omega": 0.3},
                       "v": {"guess": 40.0, "omega": 0.2}},
        "covariates": [{"allometric": "WT"}],
    })  # fmt: skip
    return VirtualCohort(real, n, extra=spec)


def _hashes(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("patients.parquet", "arms.parquet", "patients", "result.zarr"):
        path = folder / name
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in files:
            if f.is_file():  # names and bytes: a parts folder hashes differently from one file
                h.update(str(f.relative_to(folder)).encode() + f.read_bytes())
    return h.hexdigest()


def one(kind: str, n: int, chunk: int, mode: str, scratch: Path, progress: bool = False,
        parts: bool = False, profiles: bool = True, repeats: int = REPEATS,
        report: bool = True):  # fmt: skip
    out = scratch / f"{kind}-{mode}{'-parts' if parts else ''}{'' if profiles else '-lean'}"
    code = ONE.format(bench=str(Path(__file__).parent), kind=kind, n=n, chunk=chunk, mode=mode,
                      out=str(out), progress=progress, parts=parts,
                      profiles=profiles, repeats=repeats, report=report)  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{kind} {mode} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update(kind=kind, n=n, chunk_size=chunk, mode=mode, parts=parts, profiles=profiles,
               report=report,
               files_sha256=_hashes(out))  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)  # the next mode's scratch space
    return row


def model(rows: dict[str, dict[str, Any]], n_chunks: int) -> dict[str, Any]:
    """Fit the scaling model on ``inproc`` and ``w1``; predict ``w2`` and many cores.

    ``T(W) = F + S + (P + o K) / W``: ``P`` the chunks' work in process (simulate, metrics,
    compress and write; ``simulate_s`` in process), ``S`` the client's serial tail (table,
    summaries, Parquet; ``total - simulate`` in process), ``F + o K`` what a cluster adds
    (scheduling, shipping metrics back, per task ``o``; ``w1 - inproc``), taken as serial
    (``F``: the client receives every chunk's metrics) but for the per-task part.
    """
    ip, w1 = rows["inproc"], rows["w1"]
    p = ip["simulate_s"]
    s = ip["total_s"] - ip["simulate_s"]
    extra = max(w1["total_s"] - ip["total_s"], 0.0)

    def predict(w: int) -> float:
        return s + extra + p / w

    out = {"P_s": p, "S_s": s, "cluster_extra_s": extra, "n_chunks": n_chunks,
           "predicted_w2_s": predict(2)}  # fmt: skip
    if "w2" in rows:
        out["measured_w2_s"] = rows["w2"]["total_s"]
        out["prediction_error"] = predict(2) / rows["w2"]["total_s"] - 1.0
        out["measured_speedup_w2_over_w1"] = w1["total_s"] / rows["w2"]["total_s"]
    for w in (64, 1000):
        out[f"predicted_{w}_cores_s"] = predict(w)
        out[f"predicted_speedup_{w}_cores"] = predict(1) / predict(w)
    out["amdahl_limit_speedup"] = predict(1) / (s + extra)
    return out


def _modes(
    kind: str,
    n: int,
    chunk: int,
    scratch: Path,
    parts: bool,
    profiles: bool = True,
    report: bool = True,
) -> dict[str, Any]:
    """In process, 1 and 2 workers for one table format; the scaling model fitted on them."""
    rows = {}
    label = ("parts" if parts else "one file") + ("" if profiles else ", no profiles")
    for mode in ("inproc", "t2", "w1", "w2"):
        t0 = time.perf_counter()
        rows[mode] = one(
            kind, n, chunk, mode, scratch, parts=parts, profiles=profiles, report=report
        )
        print(f"{kind:<8} {label:<8} {mode:<6} n={n:>9,} total {rows[mode]['total_s']:7.2f} s "
              f"(first {rows[mode]['first_total_s']:6.2f} s) "
              f"(chunks {rows[mode]['simulate_s']:6.2f} s) client RSS "
              f"{rows[mode]['client_peak_rss_mb']:6.0f} MB workers "
              f"{[round(x) for x in rows[mode]['workers_peak_rss_mb']]} MB "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)  # fmt: skip
    identical = len({r["files_sha256"] for r in rows.values()}) == 1
    fit = model(rows, -(-n // chunk))
    print(f"{kind} ({label}): files identical across modes: {identical}; w2/w1 speed-up "
          f"{fit['measured_speedup_w2_over_w1']:.2f}; model predicts w2 "
          f"{fit['predicted_w2_s']:.2f} s ({fit['prediction_error']:+.0%}); "
          f"64 cores {fit['predicted_64_cores_s']:.2f} s, 1,000 cores "
          f"{fit['predicted_1000_cores_s']:.2f} s", flush=True)  # fmt: skip
    return {"rows": rows, "identical_files": identical, "model": fit}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10^5 / 10^4 patients (~1 min)")
    ap.add_argument("--analytic", type=int, default=None)
    ap.add_argument("--ode", type=int, default=None)
    ap.add_argument("--big", action="store_true", help="also 10^7 x 28 daily doses")
    ap.add_argument(
        "--kinds", default="analytic,ode", help="model classes to run (others kept from the file)"
    )
    ap.add_argument("--scratch", default=None, help="folder for the result stores")
    ap.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="run(profile=False): no timings.json, no Dask performance report "
        "(~0.6 s of the client's time a run); writes *_no_report.json",
    )
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    sizes = {"analytic": args.analytic or (100_000 if args.quick else 1_000_000),
             "ode": args.ode or (10_000 if args.quick else 100_000)}  # fmt: skip
    chunks = {"analytic": 20_000, "ode": 2_500, "big": 50_000}
    result: dict[str, Any] = {"benchmark": "simulate_scaling", "quick": args.quick,
                              "machine": {"platform": platform.platform(),
                                          "cpus": os.cpu_count(),
                                          "load_avg_at_start": os.getloadavg(),
                                          "memory_touch": memory_touch()}}  # fmt: skip
    print(f"memory touch: {result['machine']['memory_touch']}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        scratch = Path(tmp)
        for kind, n in sizes.items():
            if kind not in args.kinds.split(","):
                continue
            result[kind] = {}
            for table in TABLES:
                result[kind][table] = _modes(kind, n, chunks[kind], scratch, table != "one_file",
                                             table != "parts_no_profiles",
                                             report=args.report)  # fmt: skip
        if args.big:
            row = one(
                "big",
                10_000_000,
                chunks["big"],
                "w2",
                scratch,
                progress=True,
                parts=True,
                repeats=1,
            )
            print(f"big: 10^7 x 28 daily doses on 2 workers: {row['total_s']:.0f} s, client "
                  f"peak RSS {row['client_peak_rss_mb']:.0f} MB, workers "
                  f"{row['workers_peak_rss_mb']} MB", flush=True)  # fmt: skip
            result["big"] = row
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "simulate_scaling_quick.json" if args.quick else "simulate_scaling.json"
    if not args.report:
        name = name.replace(".json", "_no_report.json")
    previous = out / name
    if previous.is_file():  # keep the model classes not run this time
        old = json.loads(previous.read_text())
        for kind in sizes:
            if kind not in result and kind in old:
                result[kind] = old[kind]
    (out / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
