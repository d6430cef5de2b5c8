"""Warfarin PK/PD turnover population fit benchmark: cold and warm wall time of full NUTS, ESS/s.

The fit: nlmixr2's ``warfarin`` (32 subjects, 251 concentrations ``cp`` and 232 prothrombin
complex activities ``pca`` in one ``dv`` column, one oral dose at time 0), model
``pkpd_1cmt_oral_idr1_e0``: 1-compartment oral PK with an absorption lag, driving a turnover
of PCA with Emax-type inhibition of its synthesis, ``dR/dt = kin (1 - C/(IC50 + C)) - kout R``,
``kin = E0 * kout``, ``R(0) = E0`` (Imax fixed at 1, Hill gamma 1). Log-normal BSV on ka, CL,
V, E0, kout, IC50 (non-centred); tlag without BSV; combined error on cp, additive on pca. The
turnover is solved on a 2 h grid (plus every observation time) by the loop-free exact-decay
solution (:func:`twinlab.pkpd.ode.decay_convolution`); its error against a fine (0.05 h) RK4
solution at the posterior-mean individual parameters is reported. nutpie (Numba back end),
4 chains x (1000 tune + 1000 draws) on all CPUs, once with the default diagonal mass matrix
(the baseline) and once with nutpie's diagonal plus low-rank one (``fit(low_rank=True)``).

Anchor: nlmixr2 SAEM 116 s; twinlab goal: full NUTS <= 116 s (DESIGN.md).

Three timings, each in its own fresh Python process unless said otherwise:

- ``cold_empty_cache``: first-ever run (empty PyTensor/Numba compile caches in a temporary
  folder: PyTensor's ``base_compiledir``, which holds its numba cache, and
  ``NUMBA_CACHE_DIR``): import, model build, Numba compilation and sampling;
- ``cold``: a new process with the compile caches warm (nutpie's compiled model comes from
  the disk cache, ``compiled_from_disk``);
- ``cold_no_model_cache`` (diagonal): the same with ``TWINLAB_MODEL_CACHE=0``, the baseline
  as before the compiled-model cache (model build, graph rewriting and wrapper code
  generation in every process); same seed, so ``same_draws`` compares the posterior draws;
- ``warm``: a second ``fit`` in the same process (compiled model reused): sampling only.

Beside them, ``gradient``: the CPU time of one log-density-and-gradient call of the compiled
model (nutpie's C entry point, minimum over repeats, calls of the two variants interleaved
in one process) with today's turnover solver (``decay_convolution``: a compiled first-order
recursion Op) and with the dense superposition it replaced (every step decayed to every
target, a ``(targets, targets, subjects)`` decay matrix; :func:`_dense_decay_convolution`),
and, as ``before``, also with the forcing (the concentration driving the turnover) queried
three times per step instead of two (the code before both changes); with the largest
difference of the log density and gradient between ``before`` and today's.

Wall time counts from before ``import twinlab.pkpd.fit`` (cold) or from the ``fit`` call
(warm). ESS/s is the minimum bulk ESS of the typical values over the warm fit's wall time.
Each run records the 1-minute load average before and after it and its CPU time (the
machine may be shared).

Usage::

    python benchmarks/fit_warfarin.py [--out benchmarks/results] [--skip-empty-cache] [--once]
    python benchmarks/fit_warfarin.py --gradient-only   # the gradient comparison alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

#: ../shared/data beside the checkout (twinlab is imported later, inside the timed runs)
DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pk" / "nlmixr2data" / "warfarin.csv"
)
#: the spec shared with the test (prior medians: round numbers, not the nlmixr2 estimates)
SPEC = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "pipelines" / "specs" / "warfarin_pkpd.yaml").read_text()
)
#: nlmixr2 SAEM estimates quoted in the brief (transit-compartment absorption, Emax estimated)
NLMIXR2 = {"cl": "0.134-0.14", "v": "7.4-8", "ic50": "0.9-1.2", "kout": "0.053", "e0": "96.6"}

CHILD = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from twinlab.pkpd.fit import fit
from twinlab.pkpd.population import PopulationSpec
spec = PopulationSpec.from_dict(json.loads(sys.argv[1]))
draws, tune, chains = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
low_rank = sys.argv[6] == "1"
r1 = fit(spec, sys.argv[2], draws=draws, tune=tune, chains=chains, seed=1, low_rank=low_rank)
cold = time.perf_counter() - t0
import hashlib
import numpy as np
post1 = r1.idata.posterior
draws_sha = hashlib.sha256(b"".join(
    np.ascontiguousarray(post1[k].values).tobytes() for k in sorted(post1.data_vars))).hexdigest()
t1 = time.perf_counter()
r2 = fit(spec, sys.argv[2], draws=draws, tune=tune, chains=chains, seed=2, low_rank=low_rank)
warm = time.perf_counter() - t1
s = r2.summary()
ess = min(v["ess_bulk"] for v in s["parameters"].values())
steps = r2.idata.sample_stats["n_steps"]

# accuracy of the 2 h grid: fine RK4 (0.05 h) of the same model at posterior-mean parameters
import numpy as np
from types import SimpleNamespace
from twinlab.pkpd.models import get_model, ode_grid
post = r2.idata.posterior
th = {p: post[p + "_i"].mean(("chain", "draw")).values for p in spec.structural.all_params
      if p + "_i" in post}
a = r2.arrays
ns = SimpleNamespace(**{k: getattr(a, k) for k in a.__dataclass_fields__ if k != "covariates"})
fast = get_model(spec.model).predict(np, th, ns, grid=ode_grid(a, max_step=spec.ode_max_step))
rk = {k: v for k, v in th.items() if k != "e0"}
rk["kin"] = th["e0"] * th["kout"]
fine = get_model("pkpd_1cmt_oral_idr1").predict(np, rk, ns, grid=ode_grid(a, max_step=0.05))
pd = np.asarray(a.obs_dvid) == 2
err = float(np.abs(fast["effect"] - fine["effect"])[pd].max())
print(json.dumps({
    "cold_s": cold, "compile_s": r1.timings["compile_s"], "cold_sample_s": r1.timings["sample_s"],
    "compiled_from_disk": r1.timings.get("compiled_from_disk"), "draws_sha256": draws_sha,
    "warm_s": warm, "warm_sample_s": r2.timings["sample_s"], "min_ess_bulk_typical": ess,
    "ess_per_s_warm": ess / warm, "max_rhat": s["max_rhat"], "min_ess_bulk_all": s["min_ess_bulk"],
    "divergences": s["divergences"], "mean_leapfrog_steps": float(steps.mean()),
    "sampler": r2.sampler, "grid_error_pca_max_abs": err,
    "estimates": {k: [v["mean"], v["hdi_low"], v["hdi_high"], v["r_hat"], v["ess_bulk"]]
                  for k, v in s["parameters"].items()},
    "omega": {k: [v["mean"], v["hdi_low"], v["hdi_high"]] for k, v in s["omega"].items()},
    "sigma": {k: [v["mean"], v["hdi_low"], v["hdi_high"]] for k, v in s["sigma"].items()},
}))
"""

GRADIENT = r"""
import ctypes, json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
sys.path.insert(0, sys.argv[3])
from fit_warfarin import _dense_decay_convolution
from twinlab.pkpd import models
from twinlab.pkpd.fit import load_data
from twinlab.pkpd.nutpie_compile import compile_pymc_model
from twinlab.pkpd.population import PopulationSpec, build_model
spec = PopulationSpec.from_dict(json.loads(sys.argv[1]))
arrays = load_data(sys.argv[2], spec.model)
compiled = {}
solver, forcing = models.decay_convolution, models._forcing
three_point = lambda xp, groups_at, stages, continuous=False: forcing(xp, groups_at, stages)
variants = {"before": (_dense_decay_convolution, three_point),
            "dense": (_dense_decay_convolution, forcing), "recurrence": (solver, forcing)}
for name, (models.decay_convolution, models._forcing) in variants.items():
    compiled[name] = compile_pymc_model(build_model(spec, arrays)[0], jitter_rvs=set(),
                                        disk_cache=False)
c0 = compiled["before"]
x = np.asarray(c0.initial_point_func(0), float)
x = x + np.random.default_rng(0).uniform(-0.1, 0.1, x.size)
dbl = ctypes.POINTER(ctypes.c_double)

def call(c, n):
    out, logp = np.zeros_like(x), np.zeros(())
    args = (x.size, x.ctypes.data_as(dbl), out.ctypes.data_as(dbl), logp.ctypes.data_as(dbl),
            c.user_data.ctypes.data_as(ctypes.c_void_p))
    t = time.thread_time()
    for _ in range(n):
        c.compiled_logp_func.ctypes(*args)
    return (time.thread_time() - t) / n, float(logp), out

best = {k: float("inf") for k in compiled}
for _ in range(7):
    for k, c in compiled.items():
        best[k] = min(best[k], call(c, 300)[0])
(_, l0, g0), _, (_, l1, g1) = (call(c, 1) for c in compiled.values())
print(json.dumps({"cpu_ms_per_gradient": {k: v * 1e3 for k, v in best.items()},
                  "n_dim": int(x.size), "max_abs_diff_logp": abs(l0 - l1),
                  "max_abs_diff_gradient": float(np.abs(g0 - g1).max())}))
"""


def _dense_decay_convolution(
    xp: Any, k: Any, grid: Any, g_start: Any, g_mid: Any, g_end: Any, targets: Any
) -> Any:
    """The turnover integral as before the recursion Op (the gradient comparison's baseline).

    Each step's Simpson integral is decayed to the end of its segment, summed per target, and
    the targets' sums are combined through a dense ``(targets, targets, subjects)`` decay
    matrix: ``O(n_steps + n_targets**2)`` per subject.
    """
    import numpy as np

    grid = np.asarray(grid, dtype=float)
    targets = np.asarray(targets, dtype=np.int64)
    h = np.diff(grid)
    n_used = int(targets[-1])
    seg = np.searchsorted(targets, np.arange(1, n_used + 1))
    hk = h[:n_used, None]
    to_target = (grid[targets[seg]] - grid[1 : n_used + 1])[:, None]
    step_int = (hk / 6.0) * (
        g_start[:n_used] * xp.exp(-k * hk)
        + 4.0 * g_mid[:n_used] * xp.exp(-k * (0.5 * hk))
        + g_end[:n_used]
    )
    member = (seg[None, :] == np.arange(targets.size)[:, None]).astype(float)
    segment = xp.dot(member, step_int * xp.exp(-k * to_target))
    tt = grid[targets]
    lag = np.maximum(tt[:, None] - tt[None, :], 0.0)
    lower = np.tril(np.ones((targets.size, targets.size)))
    decay = xp.exp(-k * lag[:, :, None]) * lower[:, :, None]
    return xp.sum(decay * segment[None, :, :], axis=1)


def _gradient() -> dict:
    """CPU time per log density and gradient, dense superposition vs the recursion Op."""
    argv = [sys.executable, "-c", GRADIENT, json.dumps(SPEC), str(DATA)]
    argv.append(str(Path(__file__).resolve().parent))
    load_before = round(os.getloadavg()[0], 2)
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_1min"] = [load_before, round(os.getloadavg()[0], 2)]
    return result


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _run(env: dict[str, str], draws: int, tune: int, chains: int, low_rank: bool) -> dict:
    """Run the child fit in a fresh process and return its JSON line (with the 1-minute load
    average before and after, and the process's CPU time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = round(os.getloadavg()[0], 2)
    busy_before = _busy_cpu_s()
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            json.dumps(SPEC),
            str(DATA),
            str(draws),
            str(tune),
            str(chains),
            "1" if low_rank else "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    busy = _busy_cpu_s() - busy_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["load_1min_before"] = load_before
    result["load_1min_after"] = round(os.getloadavg()[0], 2)
    result["process_cpu_s"] = cpu
    # CPU other processes used meanwhile, as a share of all cores (the load average also
    # counts this benchmark's own threads)
    result["others_cpu_share"] = max(busy - cpu, 0.0) / (wall * (os.cpu_count() or 1))
    return result


def main() -> None:
    """Run the benchmark and write ``fit_warfarin.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--skip-empty-cache", action="store_true", help="no empty-cache run")
    parser.add_argument("--once", action="store_true", help="one warm-cache process, not two")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument(
        "--gradient-only", action="store_true", help="only the gradient cost comparison"
    )
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"no data at {DATA}")
    gradient = _gradient()
    if args.gradient_only:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fit_warfarin_gradient.json").write_text(json.dumps(gradient, indent=2))
        print(json.dumps(gradient, indent=2))
        return
    env = dict(os.environ)
    settings = (args.draws, args.tune, args.chains)
    first = None
    if not args.skip_empty_cache:
        with tempfile.TemporaryDirectory() as tmp:
            empty = {
                **env,
                # base_compiledir, not compiledir: PyTensor's numba cache is <base>/numba
                "PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor",
                "NUMBA_CACHE_DIR": f"{tmp}/numba",
            }
            first = _run(empty, *settings, False)
    # the default diagonal mass matrix (the baseline) and the low-rank one, side by side
    runs = {}
    for name, low_rank in (("diagonal", False), ("low_rank", True)):
        runs[name] = _run(env, *settings, low_rank)  # populates the caches if they were empty
        if not args.once:
            runs[name] = _run(env, *settings, low_rank)
        if name == "diagonal":
            baseline = _run({**env, "TWINLAB_MODEL_CACHE": "0"}, *settings, low_rank)
    runs["diagonal"]["same_draws_as_no_model_cache"] = (
        runs["diagonal"]["draws_sha256"] == baseline["draws_sha256"]
    )
    result = {
        "cold_empty_cache_s": None if first is None else first["cold_s"],
        "compile_empty_cache_s": None if first is None else first["compile_s"],
        "load_empty_cache": None
        if first is None
        else [first["load_1min_before"], first["load_1min_after"]],
        "others_cpu_share_empty_cache": None if first is None else first["others_cpu_share"],
        **runs,
        "cold_no_model_cache": {
            k: baseline[k]
            for k in (
                "cold_s",
                "compile_s",
                "cold_sample_s",
                "load_1min_before",
                "load_1min_after",
                "others_cpu_share",
            )
        },
        "gradient": gradient,
        "settings": {"draws": args.draws, "tune": args.tune, "chains": args.chains},
        "spec": SPEC,
        "nlmixr2_saem": NLMIXR2,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "git": subprocess.run(
                [
                    "git",
                    "-C",
                    str(Path(__file__).resolve().parents[1]),
                    "describe",
                    "--always",
                    "--dirty",
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_warfarin.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
