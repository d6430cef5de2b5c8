"""Theophylline population fit benchmark: cold and warm wall time of a full NUTS fit, ESS/s.

The fit: ``theo_sd`` (12 subjects, 132 concentrations), 1-compartment oral model, log-normal
BSV on ka, CL and V (non-centred), additive error, nutpie, 4 chains x (1000 tune + 1000 draws).
Anchor: nlmixr2 SAEM 2–7 s; twinlab goal ≤ 15 s cold on 2 cores (DESIGN.md).

Three timings, each in its own fresh Python process unless said otherwise:

- ``cold_empty_cache``: first-ever run (empty PyTensor/Numba compile caches in a temporary
  folder: PyTensor's ``base_compiledir``, which holds its numba cache, and
  ``NUMBA_CACHE_DIR``): import, model build, Numba compilation and sampling;
- ``cold``: a new process with the compile caches warm (what a user sees on the second day):
  nutpie's compiled model comes from the disk cache (``timings["compiled_from_disk"]``);
- ``cold_no_model_cache``: the same with ``TWINLAB_MODEL_CACHE=0`` (the baseline, as before
  the compiled-model cache: PyMC model build, PyTensor graph rewriting and Numba code
  generation of nutpie's wrappers in every process; PyTensor's own Numba cache still warm),
  run right after ``cold``; both fits use seed 1 and must give the same draws
  (``same_draws``: the SHA-256 of the posterior draws);
- ``warm``: a second ``fit`` in the same process (compiled model reused): sampling only.

Wall time counts from before ``import twinlab.pkpd.fit`` (cold) or from the ``fit`` call
(warm). ESS/s is the minimum bulk ESS of ka, CL, V over the warm sampling time. Each run
records the 1-minute load average before and after it and its CPU time (the machine may be
shared). Beside it, R's ``nlme`` on the same data (``fit_theophylline_nlme.R``: ``SSfol``,
diagonal random effects, additive error): wall time of the ``Rscript`` process and of
``nlme()``, and its estimates.

Usage::

    python benchmarks/fit_theophylline.py [--out benchmarks/results] [--skip-empty-cache]
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

#: ../shared/data beside the checkout (twinlab is imported later, inside the timed runs)
DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pk" / "nlmixr2data" / "theo_sd.csv"
)
SPEC = {
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0},
    "errors": "additive",
}

CHILD = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from twinlab.pkpd.fit import fit
from twinlab.pkpd.population import PopulationSpec
spec = PopulationSpec.from_dict(json.loads(sys.argv[1]))
r1 = fit(spec, sys.argv[2], draws=1000, tune=1000, chains=4, seed=1)
cold = time.perf_counter() - t0
import hashlib
import numpy as np
post = r1.idata.posterior
draws_sha = hashlib.sha256(b"".join(
    np.ascontiguousarray(post[k].values).tobytes() for k in sorted(post.data_vars))).hexdigest()
t1 = time.perf_counter()
r2 = fit(spec, sys.argv[2], draws=1000, tune=1000, chains=4, seed=2)
warm = time.perf_counter() - t1
s = r2.summary()
ess = min(s["parameters"][k]["ess_bulk"] for k in ("ka", "cl", "v"))
print(json.dumps({
    "cold_s": cold, "compile_s": r1.timings["compile_s"], "cold_sample_s": r1.timings["sample_s"],
    "compiled_from_disk": r1.timings.get("compiled_from_disk"), "draws_sha256": draws_sha,
    "warm_s": warm, "warm_sample_s": r2.timings["sample_s"], "min_ess_bulk_typical": ess,
    "ess_per_s_warm": ess / warm, "max_rhat": s["max_rhat"], "divergences": s["divergences"],
    "sampler": r2.sampler,
    "estimates": {k: [v["mean"], v["hdi_low"], v["hdi_high"]] for k, v in s["parameters"].items()},
}))
"""


NLME = Path(__file__).resolve().parent / "fit_theophylline_nlme.R"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _run_argv(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """The last stdout line (JSON) of ``argv``, with load average before / after and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = _load()
    busy_before = _busy_cpu_s()
    t0 = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    busy = _busy_cpu_s() - busy_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(
        {
            "load_1min_before": load_before,
            "load_1min_after": _load(),
            "process_cpu_s": cpu,
            # CPU other processes used meanwhile, as a share of all cores (the load average
            # also counts this benchmark's own threads)
            "others_cpu_share": max(busy - cpu, 0.0) / (wall * (os.cpu_count() or 1)),
        }
    )
    return result


def _run(env: dict[str, str]) -> dict:
    return _run_argv([sys.executable, "-c", CHILD, json.dumps(SPEC), str(DATA)], env)


def _run_nlme() -> dict | None:
    t0 = time.perf_counter()
    try:
        result = _run_argv(["Rscript", str(NLME), str(DATA)])
    except (OSError, subprocess.CalledProcessError) as err:
        return {"error": str(err)}
    result["process_wall_s"] = time.perf_counter() - t0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--skip-empty-cache", action="store_true", help="no empty-cache run")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"no data at {DATA}")
    env = dict(os.environ)
    first = {"cold_s": None, "compile_s": None, "load_1min_before": None}
    first.update({"load_1min_after": None, "others_cpu_share": None})
    with tempfile.TemporaryDirectory() as tmp:
        empty = {
            **env,
            # base_compiledir, not compiledir: PyTensor's numba cache is <base>/numba
            "PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor",
            "NUMBA_CACHE_DIR": f"{tmp}/numba",
        }
        if not args.skip_empty_cache:
            first = _run(empty)
    fill = _run(env)  # populates the usual caches if they were empty
    again = _run(env)
    baseline = _run({**env, "TWINLAB_MODEL_CACHE": "0"})
    nlme = _run_nlme()
    result = {
        "cold_empty_cache_s": first["cold_s"],
        "compile_empty_cache_s": first["compile_s"],
        "load_empty_cache": [first["load_1min_before"], first["load_1min_after"]],
        "fill_caches_cold_s": fill["cold_s"],
        "load_fill_caches": [fill["load_1min_before"], fill["load_1min_after"]],
        "cold_sample_s": again["cold_sample_s"],
        "load": [again["load_1min_before"], again["load_1min_after"]],
        "others_cpu_share": again["others_cpu_share"],
        "others_cpu_share_empty_cache": first["others_cpu_share"],
        "process_cpu_s": again["process_cpu_s"],
        "cold_s": again["cold_s"],
        "compile_s": again["compile_s"],
        "compiled_from_disk": again["compiled_from_disk"],
        "cold_no_model_cache_s": baseline["cold_s"],
        "compile_no_model_cache_s": baseline["compile_s"],
        "load_no_model_cache": [baseline["load_1min_before"], baseline["load_1min_after"]],
        "others_cpu_share_no_model_cache": baseline["others_cpu_share"],
        "process_cpu_s_no_model_cache": baseline["process_cpu_s"],
        "same_draws": again["draws_sha256"] == baseline["draws_sha256"],
        "warm_s": again["warm_s"],
        "ess_per_s_warm": again["ess_per_s_warm"],
        "min_ess_bulk_typical": again["min_ess_bulk_typical"],
        "max_rhat": again["max_rhat"],
        "divergences": again["divergences"],
        "sampler": again["sampler"],
        "estimates": again["estimates"],
        "nlme": nlme,
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
    (args.out / "fit_theophylline.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
